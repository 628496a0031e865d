//! The relay room: bridging, transcoding, drop reasons, latching, prompts and DTMF of [`Relay`].

use std::time::Instant;

use super::*;
use crate::media::codec::g711;
use crate::media::dtmf::DtmfDigit;
use crate::media::relay::{Action, DropReason, RelayEvent, Transmit};

#[test]
fn hold_then_bridge_keeps_caller_stream_continuous() {
    let t0 = Instant::now();
    let mut relay = relay();
    relay.play_hold(t0, prompt(8000));
    let mut buf = [0u8; 1500];
    let mut caller_rx = Vec::new();
    for i in 0..5u32 {
        let now = t0 + 20 * MS * i;
        assert_eq!(relay.poll_timeout(), Some(now));
        let tx = relay.poll_transmit(now, &mut buf).unwrap();
        assert_eq!(tx.leg, Leg::Caller);
        assert_eq!(tx.destination, addr(5000));
        caller_rx.push(fields(&buf[..tx.len]));
        assert!(relay.poll_transmit(now, &mut buf).is_none());
    }
    relay.bridge();
    assert_eq!(relay.poll_timeout(), None);
    // The agent talks (PCMA); 10 ms after the last hold frame.
    for i in 0..3u16 {
        let now = t0 + 90 * MS + 20 * MS * u32::from(i);
        let mut p = packet(8, 300 + i, 9_999 + 160 * u32::from(i), 0xBEEF, 0xAA);
        match relay.handle_inbound(now, Leg::Agent, addr(6000), &mut p) {
            Action::Forward(tx) => {
                assert_eq!(tx, Transmit { leg: Leg::Caller, destination: addr(5000), len: 172 });
                assert_eq!(RtpHeader::parse(&p).unwrap().payload(), &[0x80; 160][..]);
                caller_rx.push(fields(&p));
            }
            other => panic!("{other:?}"),
        }
    }
    let seqs: Vec<u16> = caller_rx.iter().map(|f| f.1).collect();
    assert_eq!(seqs, (1000..1008).collect::<Vec<_>>());
    let tss: Vec<u32> = caller_rx.iter().map(|f| f.2).collect();
    // The agent's first packet came 10 ms after the last hold frame, which lasts 20 ms: the
    // jump is one frame (160), not 80, so the two sources do not overlap.
    assert_eq!(tss, [50_000, 50_160, 50_320, 50_480, 50_640, 50_800, 50_960, 51_120]);
    let markers: Vec<bool> = caller_rx.iter().map(|f| f.3).collect();
    assert_eq!(markers, [true, false, false, false, false, true, false, false]);
    assert!(caller_rx.iter().all(|f| f.0 == 0xCA11 && f.4 == 0));
    // Back to hold: still continuous, marker again.
    let now = t0 + 200 * MS;
    relay.unbridge_and_hold(now);
    let tx = relay.poll_transmit(now, &mut buf).unwrap();
    let f = fields(&buf[..tx.len]);
    assert_eq!((f.0, f.1, f.2, f.3), (0xCA11, 1008, 51_120 + 8 * 70, true));
    let stats = relay.stats(Leg::Caller);
    assert_eq!(stats.packets_sent, 9);
    assert_eq!(relay.stats(Leg::Agent).packets_received, 3);
}

#[test]
fn transcodes_and_maps_payload_types_both_ways() {
    let t0 = Instant::now();
    let mut relay = relay();
    relay.bridge();
    // Caller PCMU -> agent PCMA.
    let mut p = packet(0, 1, 0, 0x1111, 0xFF);
    let Action::Forward(tx) = relay.handle_inbound(t0, Leg::Caller, addr(5000), &mut p) else { panic!() };
    assert_eq!((tx.leg, tx.destination), (Leg::Agent, addr(6000)));
    let h = RtpHeader::parse(&p).unwrap();
    assert_eq!((h.payload_type(), h.ssrc(), h.sequence_number()), (8, 0xA6E7, 65530));
    assert_eq!(h.payload(), &[0xD5; 160][..]);
    // Telephone-event 101 on caller leg -> 96 on agent leg, payload untouched.
    let mut p = packet(101, 2, 0, 0x1111, 0x05);
    assert!(matches!(relay.handle_inbound(t0 + 20 * MS, Leg::Caller, addr(5000), &mut p), Action::Forward(_)));
    let h = RtpHeader::parse(&p).unwrap();
    assert_eq!(h.payload_type(), 96);
    assert_eq!(h.payload()[0], 0x05);
    assert_eq!(h.sequence_number(), 65531);
    // Same codec both sides: payload untouched, PT remapped.
    relay.set_remote(Leg::Agent, remote(6000, Codec::Pcmu, 0, None));
    let mut p = packet(0, 3, 320, 0x1111, 0x12);
    assert!(matches!(relay.handle_inbound(t0 + 40 * MS, Leg::Caller, addr(5000), &mut p), Action::Forward(_)));
    assert_eq!(RtpHeader::parse(&p).unwrap().payload(), &[0x12; 160][..]);
    // Agent did not negotiate telephone-event any more.
    let mut p = packet(101, 4, 320, 0x1111, 0);
    assert_eq!(
        relay.handle_inbound(t0 + 60 * MS, Leg::Caller, addr(5000), &mut p),
        Action::Drop(DropReason::TelephoneEventUnsupported)
    );
}

#[test]
fn drops_with_reasons() {
    let t0 = Instant::now();
    let mut relay = relay();
    let mut p = packet(0, 1, 0, 1, 0);
    assert_eq!(relay.handle_inbound(t0, Leg::Caller, addr(5000), &mut p), Action::Drop(DropReason::NotBridged));
    relay.bridge();
    let mut junk = *b"hello world, not rtp";
    assert_eq!(relay.handle_inbound(t0, Leg::Caller, addr(5000), &mut junk), Action::Drop(DropReason::NotRtp));
    let mut rtcp = [0x80, 201, 0, 1, 0, 0, 0, 1];
    assert_eq!(relay.handle_inbound(t0, Leg::Caller, addr(5000), &mut rtcp), Action::Drop(DropReason::Rtcp));
    let mut p = packet(18, 1, 0, 1, 0);
    assert_eq!(relay.handle_inbound(t0, Leg::Caller, addr(5000), &mut p), Action::Drop(DropReason::UnknownPayloadType));
    let mut p = packet(0, 1, 0, 1, 0);
    assert_eq!(relay.handle_inbound(t0, Leg::Caller, addr(5999), &mut p), Action::Drop(DropReason::WrongSource));
    assert_eq!(relay.handle_rtcp(Leg::Agent), DropReason::Rtcp);
    let caller = relay.stats(Leg::Caller);
    assert_eq!(caller.packets_received, 5);
    assert_eq!(caller.packets_dropped, 5);
    assert_eq!(caller.rtcp_received, 1);
    assert_eq!(relay.stats(Leg::Agent).rtcp_received, 1);

    let mut unset = Relay::new(LegOutput::new(1, 0, 0), LegOutput::new(2, 0, 0));
    unset.bridge();
    let mut p = packet(0, 1, 0, 1, 0);
    assert_eq!(unset.handle_inbound(t0, Leg::Caller, addr(5000), &mut p), Action::Drop(DropReason::NoRemote));
}

#[test]
fn latches_to_nat_source_and_rejects_others() {
    let t0 = Instant::now();
    let mut relay = relay();
    relay.bridge();
    let nat = SocketAddr::from(([203, 0, 113, 7], 40_123));
    // Junk payload type does not latch.
    let mut p = packet(18, 1, 0, 5, 0);
    relay.handle_inbound(t0, Leg::Agent, nat, &mut p);
    assert_eq!(relay.latched_address(Leg::Agent), None);
    // First real packet from the NAT address latches; media to the agent goes there.
    let mut p = packet(8, 1, 0, 5, 0xD5);
    assert!(matches!(relay.handle_inbound(t0, Leg::Agent, nat, &mut p), Action::Forward(_)));
    assert_eq!(relay.latched_address(Leg::Agent), Some(nat));
    assert_eq!(relay.destination(Leg::Agent), Some(nat));
    let mut p = packet(0, 1, 0, 9, 0xFF);
    let Action::Forward(tx) = relay.handle_inbound(t0, Leg::Caller, addr(5000), &mut p) else { panic!() };
    assert_eq!(tx.destination, nat);
    // Another source is rejected while latched.
    let intruder = SocketAddr::from(([198, 51, 100, 1], 9));
    let mut p = packet(8, 2, 160, 5, 0xD5);
    assert_eq!(relay.handle_inbound(t0, Leg::Agent, intruder, &mut p), Action::Drop(DropReason::WrongSource));
    // The signalled address itself always re-latches.
    let mut p = packet(8, 3, 320, 5, 0xD5);
    assert!(matches!(relay.handle_inbound(t0, Leg::Agent, addr(6000), &mut p), Action::Forward(_)));
    assert_eq!(relay.latched_address(Leg::Agent), Some(addr(6000)));
    // New SDP with a new address clears the latch.
    relay.set_remote(Leg::Agent, remote(6002, Codec::Pcma, 8, None));
    assert_eq!(relay.latched_address(Leg::Agent), None);
    assert_eq!(relay.destination(Leg::Agent), Some(addr(6002)));
}

#[test]
fn without_latching_accepts_any_source_and_sends_to_signalled_address() {
    let t0 = Instant::now();
    let mut relay = relay();
    relay.bridge();
    relay.set_latching(Leg::Caller, false);
    for port in [7000, 7002] {
        let mut p = packet(0, 1, 0, 9, 0xFF);
        let from = SocketAddr::from(([192, 0, 2, 1], port));
        assert!(matches!(relay.handle_inbound(t0, Leg::Caller, from, &mut p), Action::Forward(_)));
    }
    assert_eq!(relay.latched_address(Leg::Caller), None);
    let mut p = packet(8, 1, 0, 5, 0xD5);
    let Action::Forward(tx) = relay.handle_inbound(t0, Leg::Agent, addr(6000), &mut p) else { panic!() };
    assert_eq!(tx.destination, addr(5000));
    // The agent leg still latches.
    assert_eq!(relay.latched_address(Leg::Agent), Some(addr(6000)));
}

#[test]
fn hold_before_caller_address_keeps_pace_and_uses_negotiated_codec() {
    let t0 = Instant::now();
    let mut relay = Relay::new(LegOutput::new(1, 0, 0), LegOutput::new(2, 0, 0));
    relay.play_hold(t0, prompt(8000));
    let mut buf = [0u8; 512];
    assert_eq!(relay.poll_transmit(t0, &mut buf), None);
    assert_eq!(relay.poll_timeout(), Some(t0 + 20 * MS));
    relay.set_remote(Leg::Caller, remote(5000, Codec::Pcma, 8, None));
    let tx = relay.poll_transmit(t0 + 20 * MS, &mut buf).unwrap();
    let f = fields(&buf[..tx.len]);
    assert_eq!((f.1, f.4), (0, 8));
    assert_eq!(buf[12], g711::ULAW_TO_ALAW[160]);
}

fn te_packet(seq: u16, ts: u32, ssrc: u32, event: u8, end: bool, duration: u16) -> Vec<u8> {
    let mut p = vec![0u8; 16];
    write_fixed_header(&mut p, false, 101, seq, ts, ssrc).unwrap();
    let [hi, lo] = duration.to_be_bytes();
    p[12..].copy_from_slice(&[event, if end { 0x80 } else { 0 } | 10, hi, lo]);
    p
}

fn events(relay: &mut Relay) -> Vec<RelayEvent> {
    std::iter::from_fn(|| relay.poll_event()).collect()
}

/// A packet the caller received: when, its header fields, its first payload byte.
type Received = (Instant, (u32, u16, u32, bool, u8), u8);

/// Runs the core in virtual time from `from` to `until` (inclusive), waking at every timeout,
/// and returns what the caller received (with the send instant) and the events.
fn run_until(relay: &mut Relay, from: Instant, until: Instant) -> (Vec<Received>, Vec<(Instant, RelayEvent)>) {
    let mut buf = [0u8; 512];
    let mut sent = Vec::new();
    let mut seen_events = Vec::new();
    let mut now = from;
    for _ in 0..10_000 {
        relay.handle_timeout(now);
        while let Some(tx) = relay.poll_transmit(now, &mut buf) {
            assert_eq!(tx.leg, Leg::Caller);
            sent.push((now, fields(&buf[..tx.len]), buf[12]));
        }
        seen_events.extend(std::iter::from_fn(|| relay.poll_event()).map(|e| (now, e)));
        match relay.poll_timeout() {
            Some(next) if next <= until => now = next.max(now),
            _ => break,
        }
    }
    (sent, seen_events)
}

#[test]
fn caller_stream_continuous_across_hold_bridge_unbridge_prompt() {
    let t0 = Instant::now();
    let mut relay = relay();
    relay.play_hold(t0, prompt(8000));
    let (mut caller_rx, evs) = run_until(&mut relay, t0, t0 + 40 * MS);
    assert_eq!(caller_rx.len(), 3);
    assert!(evs.is_empty());
    relay.bridge();
    for i in 0..3u16 {
        let now = t0 + 60 * MS + 20 * MS * u32::from(i);
        let mut p = packet(8, 300 + i, 9_999 + 160 * u32::from(i), 0xBEEF, 0xAA);
        let Action::Forward(tx) = relay.handle_inbound(now, Leg::Agent, addr(6000), &mut p) else { panic!() };
        assert_eq!(tx.leg, Leg::Caller);
        caller_rx.push((now, fields(&p), p[12]));
    }
    // The agent hangs up: the caller stays, the agent's address is forgotten.
    relay.unbridge();
    assert!(!relay.is_bridged());
    assert_eq!(relay.remote(Leg::Agent), None);
    assert_eq!(relay.destination(Leg::Agent), None);
    assert_eq!(relay.poll_timeout(), None, "no audio to the caller until a prompt");
    let mut p = packet(8, 303, 10_479, 0xBEEF, 0xAA);
    let late = t0 + 120 * MS;
    assert_eq!(relay.handle_inbound(late, Leg::Agent, addr(6000), &mut p), Action::Drop(DropReason::NoRemote));
    let mut p = packet(0, 1, 0, 0x1111, 0xFF);
    assert_eq!(relay.handle_inbound(late, Leg::Caller, addr(5000), &mut p), Action::Drop(DropReason::NotBridged));

    // The survey prompt: 400 samples = 3 frames (50 ms), then comfort silence.
    let start = t0 + 150 * MS;
    relay.play_prompt(start, prompt(400), 7);
    assert!(relay.is_playing_prompt() && !relay.is_holding());
    assert_eq!(relay.poll_timeout(), Some(start));
    let (prompt_rx, evs) = run_until(&mut relay, start, start + 100 * MS);
    assert_eq!(evs, [(start + 60 * MS, RelayEvent::PromptFinished { playback_id: 7 })]);
    assert_eq!(prompt_rx.len(), 6);
    assert_eq!(prompt_rx.iter().map(|r| r.2).collect::<Vec<_>>(), [0, 160, 69, 0xFF, 0xFF, 0xFF]);
    caller_rx.extend(prompt_rx);

    let seqs: Vec<u16> = caller_rx.iter().map(|r| r.1 .1).collect();
    assert_eq!(seqs, (1000..1012).collect::<Vec<_>>());
    let tss: Vec<u32> = caller_rx.iter().map(|r| r.1 .2).collect();
    // Hold, then the agent 20 ms later, then 50 ms of nothing before the prompt (400 units).
    let prompt_ts = 50_800 + 400;
    let expected: Vec<u32> = [50_000, 50_160, 50_320, 50_480, 50_640, 50_800]
        .into_iter()
        .chain((0..6).map(|i| prompt_ts + 160 * i))
        .collect();
    assert_eq!(tss, expected);
    let markers: Vec<bool> = caller_rx.iter().map(|r| r.1 .3).collect();
    assert_eq!(markers, [true, false, false, true, false, false, true, false, false, false, false, false]);
    assert!(caller_rx.iter().all(|r| r.1 .0 == 0xCA11 && r.1 .4 == 0));
    // Timed exactly: frame n of the prompt at start + n * 20 ms.
    assert!(caller_rx[6..].iter().enumerate().all(|(n, r)| r.0 == start + 20 * MS * n as u32));

    // The finished prompt is reported once; stop_audio ends the silence.
    let (_, evs) = run_until(&mut relay, start + 120 * MS, start + 200 * MS);
    assert!(evs.is_empty());
    relay.stop_audio();
    assert_eq!(relay.poll_timeout(), None);
    let mut buf = [0u8; 512];
    assert_eq!(relay.poll_transmit(start + 500 * MS, &mut buf), None);
}

#[test]
fn replaced_or_stopped_prompt_is_not_reported_finished() {
    let t0 = Instant::now();
    let mut relay = relay();
    relay.play_prompt(t0, prompt(1600), 1);
    run_until(&mut relay, t0, t0 + 100 * MS);
    // Barge-in: the next prompt replaces the first before its end (200 ms).
    relay.play_prompt(t0 + 110 * MS, prompt(160), 2);
    let (rx, evs) = run_until(&mut relay, t0 + 110 * MS, t0 + 400 * MS);
    assert_eq!(evs, [(t0 + 130 * MS, RelayEvent::PromptFinished { playback_id: 2 })]);
    assert!(rx[0].1 .3, "marker on the new prompt's first frame");
    relay.play_prompt(t0 + 500 * MS, prompt(160), 3);
    relay.stop_audio();
    let (rx, evs) = run_until(&mut relay, t0 + 500 * MS, t0 + 900 * MS);
    assert!(rx.is_empty() && evs.is_empty());
    // Hold replaces a prompt too; bridging ends it.
    relay.play_prompt(t0 + 1000 * MS, prompt(160), 4);
    relay.play_hold(t0 + 1005 * MS, prompt(8000));
    assert!(relay.is_holding());
    let (_, evs) = run_until(&mut relay, t0 + 1005 * MS, t0 + 1100 * MS);
    assert!(evs.is_empty());
    relay.play_prompt(t0 + 1200 * MS, prompt(160), 5);
    relay.bridge();
    let (_, evs) = run_until(&mut relay, t0 + 1200 * MS, t0 + 1300 * MS);
    assert!(evs.is_empty());
}

#[test]
fn caller_dtmf_detected_while_bridged_and_forwarded_with_payload_type_mapping() {
    let t0 = Instant::now();
    let mut relay = relay();
    relay.bridge();
    let mut forwarded = Vec::new();
    let mut send = |relay: &mut Relay, at: u32, seq: u16, end: bool, duration: u16| {
        let mut p = te_packet(seq, 48_000, 0x1111, 5, end, duration);
        match relay.handle_inbound(t0 + MS * at, Leg::Caller, addr(5000), &mut p) {
            Action::Forward(tx) => {
                assert_eq!((tx.leg, tx.destination, tx.len), (Leg::Agent, addr(6000), 16));
                let h = RtpHeader::parse(&p).unwrap();
                forwarded.push((h.payload_type(), h.ssrc(), h.payload().to_vec()));
            }
            other => panic!("{other:?}"),
        }
    };
    send(&mut relay, 0, 10, false, 0);
    send(&mut relay, 20, 11, false, 160);
    assert!(events(&mut relay).is_empty());
    for seq in 12..15 {
        send(&mut relay, 40, seq, true, 320);
    }
    assert_eq!(events(&mut relay), [RelayEvent::Dtmf(DtmfDigit { digit: '5', duration_ms: 40 })]);
    assert_eq!(forwarded.len(), 5);
    assert!(forwarded.iter().all(|(pt, ssrc, _)| *pt == 96 && *ssrc == 0xA6E7));
    assert_eq!(forwarded[4].2, [5, 0x8a, 1, 64]);
    // Agent-leg DTMF is relayed but not reported (the survey listens to the caller only).
    let mut p = te_packet(1, 100, 0xBEEF, 1, true, 800);
    p[1] = 96;
    assert!(matches!(relay.handle_inbound(t0, Leg::Agent, addr(6000), &mut p), Action::Forward(_)));
    // A spoofed source is neither relayed nor detected.
    let mut p = te_packet(20, 96_000, 0x1111, 2, true, 800);
    let spoof = SocketAddr::from(([192, 0, 2, 9], 4000));
    assert_eq!(relay.handle_inbound(t0, Leg::Caller, spoof, &mut p), Action::Drop(DropReason::WrongSource));
    assert!(events(&mut relay).is_empty());
}

#[test]
fn caller_dtmf_detected_on_hold_and_reported_after_lost_end_timeout() {
    let t0 = Instant::now();
    let mut relay = relay();
    relay.play_hold(t0, prompt(8000));
    // Not bridged: dropped, but detected. The end packets never come.
    for (i, duration) in [0u16, 160, 320].into_iter().enumerate() {
        let mut p = te_packet(i as u16, 1000, 0x1111, 11, false, duration);
        let now = t0 + 20 * MS * i as u32;
        assert_eq!(relay.handle_inbound(now, Leg::Caller, addr(5000), &mut p), Action::Drop(DropReason::NotBridged));
    }
    let due = t0 + 40 * MS + crate::media::dtmf::LOST_END_TIMEOUT;
    let (_, evs) = run_until(&mut relay, t0, due + 100 * MS);
    assert_eq!(evs, [(due, RelayEvent::Dtmf(DtmfDigit { digit: '#', duration_ms: 40 }))]);
    // A caller without negotiated telephone-event: PT 101 is unknown, nothing detected.
    relay.set_remote(Leg::Caller, remote(5000, Codec::Pcmu, 0, None));
    let mut p = te_packet(9, 5000, 0x1111, 1, true, 800);
    assert_eq!(
        relay.handle_inbound(due, Leg::Caller, addr(5000), &mut p),
        Action::Drop(DropReason::UnknownPayloadType)
    );
    assert!(events(&mut relay).is_empty());
}
