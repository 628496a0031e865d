//! The stream room: re-stamping continuity of [`LegOutput`] across source switches.

use std::time::{Duration, Instant};

use super::*;
use crate::media::rtp::RtpHeaderMut;
use crate::media::stream::{LegOutput, StreamSource};

#[test]
fn leg_output_continuity_across_switch() {
    let t0 = Instant::now();
    let mut out = LegOutput::new(7, 100, 1000);
    let mut stamped = Vec::new();
    for i in 0..3u16 {
        let mut p = packet(0, 9000 + i, 555 + 160 * u32::from(i), 1, 0);
        let mut h = RtpHeaderMut::parse(&mut p).unwrap();
        out.stamp(t0 + 20 * MS * u32::from(i), StreamSource::Player { instance: 1 }, &mut h);
        stamped.push(fields(&p));
    }
    // Peer starts 30 ms after the last hold packet with unrelated numbering.
    for i in 0..2u16 {
        let mut p = packet(0, 40000 + i, 7_000_000 + 160 * u32::from(i), 99, 0);
        let mut h = RtpHeaderMut::parse(&mut p).unwrap();
        out.stamp(t0 + 70 * MS + 20 * MS * u32::from(i), StreamSource::Peer { ssrc: 99 }, &mut h);
        stamped.push(fields(&p));
    }
    let seqs: Vec<u16> = stamped.iter().map(|f| f.1).collect();
    assert_eq!(seqs, [100, 101, 102, 103, 104]);
    let tss: Vec<u32> = stamped.iter().map(|f| f.2).collect();
    assert_eq!(tss, [1000, 1160, 1320, 1320 + 240, 1320 + 240 + 160]);
    let markers: Vec<bool> = stamped.iter().map(|f| f.3).collect();
    assert_eq!(markers, [true, false, false, true, false]);
    assert!(stamped.iter().all(|f| f.0 == 7));
}

#[test]
fn leg_output_switch_jump_is_wall_clock_but_at_least_one_packet() {
    let t0 = Instant::now();
    let mut out = LegOutput::new(7, 0, 0);
    let mut stamp = |source: StreamSource, at: Duration, samples: usize| {
        let mut p = packet(0, 1, 0, 1, 0);
        p.truncate(12 + samples);
        let mut h = RtpHeaderMut::parse(&mut p).unwrap();
        out.stamp(t0 + at, source, &mut h);
        fields(&p).2
    };
    assert_eq!(stamp(StreamSource::Player { instance: 1 }, Duration::ZERO, 160), 0);
    // 5 ms later another source starts: still one 160-sample frame later.
    assert_eq!(stamp(StreamSource::Peer { ssrc: 1 }, 5 * MS, 80), 160);
    // 2 s of silence, then a new source: the wall-clock gap.
    assert_eq!(stamp(StreamSource::Peer { ssrc: 2 }, 2005 * MS, 160), 160 + 16_000);
}

#[test]
fn leg_output_keeps_reordered_packets_in_place_and_wraps() {
    let t0 = Instant::now();
    let mut out = LegOutput::new(7, 65535, u32::MAX);
    let mut stamp = |seq: u16, at: Duration| {
        let mut p = packet(0, seq, u32::from(seq) * 160, 1, 0);
        let mut h = RtpHeaderMut::parse(&mut p).unwrap();
        out.stamp(t0 + at, StreamSource::Peer { ssrc: 1 }, &mut h);
        fields(&p).1
    };
    assert_eq!(stamp(10, MS), 65535);
    assert_eq!(stamp(12, 2 * MS), 1);
    assert_eq!(stamp(11, 3 * MS), 0); // late packet keeps its relative position
    assert_eq!(out.next_sequence_number(), 2);
}
