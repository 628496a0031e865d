//! Shell tests: real UDP on 127.0.0.1 through a `CallMedia`, port pool exhaustion and release.

use std::net::Ipv4Addr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::timeout;

use crate::media::rtp::{write_fixed_header, RtpHeader};
use crate::media::*;

const WAIT: Duration = Duration::from_secs(5);

fn localhost() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

async fn recv(socket: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 2048];
    let (len, from) = timeout(WAIT, socket.recv_from(&mut buf)).await.expect("no packet within 5 s").unwrap();
    (buf[..len].to_vec(), from)
}

fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: u8) -> Vec<u8> {
    let mut p = vec![payload; 12 + 160];
    write_fixed_header(&mut p, false, pt, seq, ts, ssrc).unwrap();
    p
}

struct Seen {
    ssrc: u32,
    seq: u16,
    marker: bool,
    pt: u8,
    first_byte: u8,
}

fn seen(p: &[u8]) -> Seen {
    let h = RtpHeader::parse(p).unwrap();
    Seen {
        ssrc: h.ssrc(),
        seq: h.sequence_number(),
        marker: h.marker(),
        pt: h.payload_type(),
        first_byte: h.payload()[0],
    }
}

#[tokio::test]
async fn bridged_call_relays_real_udp_with_continuity_from_hold() {
    let engine = MediaEngine::new(localhost(), 31000..=31099).unwrap();
    let call = engine.allocate_call().await.unwrap();
    assert_eq!(call.caller_port() % 2, 0);
    assert_eq!(call.agent_port() % 2, 0);
    assert_ne!(call.caller_port(), call.agent_port());
    let caller = UdpSocket::bind((localhost(), 0)).await.unwrap();
    let agent = UdpSocket::bind((localhost(), 0)).await.unwrap();
    let caller_media = SocketAddr::new(localhost(), call.caller_port());
    let agent_media = SocketAddr::new(localhost(), call.agent_port());
    call.set_caller_remote(caller.local_addr().unwrap(), Codec::Pcmu, 0, Some(101)).unwrap();
    call.set_agent_remote(agent.local_addr().unwrap(), Codec::Pcma, 8, Some(101)).unwrap();
    call.play_hold(Arc::new(Prompt::from_ulaw("test", vec![0x55; 8000]))).unwrap();

    let mut at_caller = Vec::new();
    for _ in 0..5 {
        let (p, from) = recv(&caller).await;
        assert_eq!(from, caller_media, "symmetric RTP: sent from the advertised port");
        at_caller.push(seen(&p));
    }
    call.bridge().unwrap();
    call.stats().await.unwrap(); // barrier: bridged, no hold audio after this point

    // Caller -> agent, PCMU transcoded to PCMA.
    for i in 0..10u16 {
        let p = packet(0, 700 + i, 160 * u32::from(i), 0xC0FFEE, 0xFF);
        caller.send_to(&p, caller_media).await.unwrap();
    }
    let mut at_agent = Vec::new();
    for _ in 0..10 {
        let (p, from) = recv(&agent).await;
        assert_eq!(from, agent_media);
        at_agent.push(seen(&p));
    }
    assert!(at_agent.iter().all(|s| s.pt == 8 && s.first_byte == 0xD5));
    assert!(at_agent.iter().all(|s| s.ssrc == at_agent[0].ssrc && s.ssrc != 0xC0FFEE));
    for pair in at_agent.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq.wrapping_add(1));
    }

    // Agent -> caller, PCMA transcoded to PCMU, continuing the hold stream.
    for i in 0..10u16 {
        let p = packet(8, 9 + i, 160 * u32::from(i), 0xA6E, 0xAA);
        agent.send_to(&p, agent_media).await.unwrap();
    }
    let mut relayed = 0;
    for _ in 0..200 {
        let (p, _) = recv(&caller).await;
        let s = seen(&p);
        if s.first_byte == 0x80 {
            relayed += 1;
        }
        at_caller.push(s);
        if relayed == 10 {
            break;
        }
    }
    assert_eq!(relayed, 10);
    let first_relayed = at_caller.iter().position(|s| s.first_byte == 0x80).unwrap();
    assert!(first_relayed >= 5);
    assert!(at_caller[first_relayed].marker);
    assert!(at_caller.iter().all(|s| s.ssrc == at_caller[0].ssrc && s.pt == 0));
    for pair in at_caller.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq.wrapping_add(1), "gap-free sequence");
    }

    let stats = call.stats().await.unwrap();
    assert_eq!(stats.caller.packets_received, 10);
    assert_eq!(stats.agent.packets_received, 10);
    assert_eq!(stats.agent.packets_sent, 10);
    assert_eq!(stats.caller.packets_sent, at_caller.len() as u64);
    assert_eq!(stats.caller.packets_dropped + stats.agent.packets_dropped, 0);

    // RTCP on port+1 is counted and terminated.
    let rtcp = [0x80, 201, 0, 1, 0, 0, 0, 1];
    caller.send_to(&rtcp, SocketAddr::new(localhost(), call.caller_port() + 1)).await.unwrap();
    let mut counted = false;
    for _ in 0..500 {
        if call.stats().await.unwrap().caller.rtcp_received == 1 {
            counted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(counted);

    call.close().await;
    assert!(call.is_closed());
    assert!(matches!(call.bridge(), Err(MediaError::Closed)));
    assert!(matches!(call.stats().await, Err(MediaError::Closed)));
    call.close().await; // idempotent
}

#[tokio::test]
async fn ports_are_exhausted_cleanly_and_returned_on_close_and_drop() {
    // Two even pairs: exactly one call.
    let engine = MediaEngine::new(localhost(), 31500..=31503).unwrap();
    assert_eq!(engine.free_port_pairs(), 2);
    let call = engine.allocate_call().await.unwrap();
    assert_eq!(engine.free_port_pairs(), 0);
    let error = engine.allocate_call().await.unwrap_err();
    assert!(matches!(error, MediaError::PortsExhausted { .. }));
    assert_eq!(error.status_code(), 503);
    call.close().await;
    assert_eq!(engine.free_port_pairs(), 2);

    let call = engine.allocate_call().await.unwrap();
    let clone = call.clone();
    drop(call);
    clone.bridge().unwrap(); // a clone keeps the call alive
    drop(clone);
    let mut returned = false;
    for _ in 0..500 {
        if engine.free_port_pairs() == 2 {
            returned = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(returned, "ports return when the last handle is dropped");
    let call = engine.allocate_call().await.unwrap();
    call.close().await;
}

#[test]
fn rejects_ranges_without_two_pairs() {
    assert!(matches!(MediaEngine::new(localhost(), 40000..=40002), Err(MediaError::InvalidPortRange { .. })));
    assert!(MediaEngine::new(localhost(), 40000..=40003).is_ok());
}

#[test]
fn codec_mapping() {
    assert_eq!(Codec::from_encoding_name("pcmu"), Some(Codec::Pcmu));
    assert_eq!(Codec::from_encoding_name("PCMA"), Some(Codec::Pcma));
    assert_eq!(Codec::from_encoding_name("opus"), None);
    assert_eq!(Codec::Pcma.static_payload_type(), 8);
}

/// Records metrics into atomics keyed by `name{label=value,...}`.
#[derive(Default)]
struct TestRecorder {
    values: std::sync::Mutex<std::collections::HashMap<String, Arc<std::sync::atomic::AtomicU64>>>,
}

impl TestRecorder {
    fn handle(&self, key: &metrics::Key) -> Arc<std::sync::atomic::AtomicU64> {
        let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        let mut values = self.values.lock().unwrap();
        Arc::clone(values.entry(name).or_default())
    }

    fn counter(&self, name: &str) -> u64 {
        let values = self.values.lock().unwrap();
        values.get(name).map_or(0, |v| v.load(std::sync::atomic::Ordering::SeqCst))
    }

    fn gauge(&self, name: &str) -> f64 {
        f64::from_bits(self.counter(name))
    }
}

impl metrics::Recorder for TestRecorder {
    fn describe_counter(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_gauge(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn describe_histogram(&self, _: metrics::KeyName, _: Option<metrics::Unit>, _: metrics::SharedString) {}
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::from_arc(self.handle(key))
    }
    fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::from_arc(self.handle(key))
    }
    fn register_histogram(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

#[test]
fn emits_relay_drop_and_session_metrics() {
    let recorder = TestRecorder::default();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let engine = MediaEngine::new(localhost(), 31200..=31299).unwrap();
            let call = engine.allocate_call().await.unwrap();
            assert_eq!(recorder.gauge("meritline_media_sessions_active{}"), 1.0);
            let caller = UdpSocket::bind((localhost(), 0)).await.unwrap();
            let agent = UdpSocket::bind((localhost(), 0)).await.unwrap();
            call.set_caller_remote(caller.local_addr().unwrap(), Codec::Pcmu, 0, None).unwrap();
            call.set_agent_remote(agent.local_addr().unwrap(), Codec::Pcmu, 0, None).unwrap();
            call.bridge().unwrap();
            let caller_media = SocketAddr::new(localhost(), call.caller_port());
            caller.send_to(b"not an rtp packet", caller_media).await.unwrap();
            for i in 0..3u16 {
                let p = packet(0, i, 160 * u32::from(i), 1, 0xFF);
                caller.send_to(&p, caller_media).await.unwrap();
            }
            for _ in 0..3 {
                recv(&agent).await;
            }
            let stats = call.stats().await.unwrap();
            assert_eq!(stats.caller.packets_received, 4);
            assert_eq!(stats.caller.packets_dropped, 1);
            assert_eq!(recorder.counter("meritline_rtp_packets_relayed_total{}"), 3);
            assert_eq!(recorder.counter("meritline_rtp_packets_dropped_total{reason=not_rtp}"), 1);
            call.close().await;
            assert_eq!(recorder.gauge("meritline_media_sessions_active{}"), 0.0);
        })
    });
}

fn telephone_event(seq: u16, ts: u32, ssrc: u32, marker: bool, event: u8, end: bool, duration: u16) -> Vec<u8> {
    let mut p = vec![0u8; 16];
    write_fixed_header(&mut p, marker, 101, seq, ts, ssrc).unwrap();
    let [hi, lo] = duration.to_be_bytes();
    p[12..].copy_from_slice(&[event, if end { 0x80 } else { 0 } | 10, hi, lo]);
    p
}

/// One key press as phones send it: a start packet (marker), two updates, the end packet 3 times.
async fn press_key(socket: &UdpSocket, to: SocketAddr, first_seq: u16, ts: u32, event: u8) {
    let packets = [
        telephone_event(first_seq, ts, 0xD7, true, event, false, 0),
        telephone_event(first_seq + 1, ts, 0xD7, false, event, false, 160),
        telephone_event(first_seq + 2, ts, 0xD7, false, event, false, 320),
        telephone_event(first_seq + 3, ts, 0xD7, false, event, true, 480),
        telephone_event(first_seq + 4, ts, 0xD7, false, event, true, 480),
        telephone_event(first_seq + 5, ts, 0xD7, false, event, true, 480),
    ];
    for p in packets {
        socket.send_to(&p, to).await.unwrap();
    }
}

async fn next_event(events: &mut mpsc::UnboundedReceiver<MediaEvent>) -> MediaEvent {
    timeout(WAIT, events.recv()).await.expect("no media event within 5 s").expect("events channel open")
}

/// Waits (bounded) until the call's task has taken in `packets` datagrams from the caller.
async fn wait_caller_received(call: &CallMedia, packets: u64) {
    for _ in 0..500 {
        if call.stats().await.unwrap().caller.packets_received >= packets {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the media task did not receive {packets} caller packets");
}

#[tokio::test]
async fn survey_flow_reports_each_digit_once_and_the_prompt_end() {
    let engine = MediaEngine::new(localhost(), 31300..=31399).unwrap();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let call = engine.allocate_call_with_events(events_tx, 42).await.unwrap();
    let caller = UdpSocket::bind((localhost(), 0)).await.unwrap();
    let agent = UdpSocket::bind((localhost(), 0)).await.unwrap();
    let caller_media = SocketAddr::new(localhost(), call.caller_port());
    let agent_media = SocketAddr::new(localhost(), call.agent_port());
    call.set_caller_remote(caller.local_addr().unwrap(), Codec::Pcmu, 0, Some(101)).unwrap();
    call.set_agent_remote(agent.local_addr().unwrap(), Codec::Pcma, 8, Some(100)).unwrap();

    // Bridged: the caller's key press reaches the agent (PT 101 -> 100) and is reported once.
    call.bridge().unwrap();
    press_key(&caller, caller_media, 10, 8000, 7).await;
    let mut at_agent = Vec::new();
    for _ in 0..6 {
        let (p, _) = recv(&agent).await;
        at_agent.push(seen(&p));
    }
    assert!(at_agent.iter().all(|s| s.pt == 100 && s.first_byte == 7));
    assert_eq!(next_event(&mut events).await, MediaEvent::Dtmf { call_tag: 42, digit: '7', duration_ms: 60 });

    // The agent hangs up; the caller stays for the survey prompt (200 ms).
    call.unbridge().unwrap();
    let prompt = Arc::new(Prompt::from_ulaw("survey", vec![0x55; 1600]));
    let started = std::time::Instant::now();
    let playback_id = call.play_prompt(prompt).unwrap();
    assert_eq!(playback_id, 1);
    // The caller answers during the prompt; the agent's late packets go nowhere.
    press_key(&caller, caller_media, 20, 16_000, 11).await;
    agent.send_to(&packet(8, 1, 0, 0xA6E, 0xAA), agent_media).await.unwrap();

    let mut got = vec![next_event(&mut events).await, next_event(&mut events).await];
    let finished_after = started.elapsed();
    got.sort_by_key(|e| matches!(e, MediaEvent::PromptFinished { .. }));
    assert_eq!(
        got,
        [
            MediaEvent::Dtmf { call_tag: 42, digit: '#', duration_ms: 60 },
            MediaEvent::PromptFinished { call_tag: 42, playback_id: 1 },
        ]
    );
    assert!(finished_after >= Duration::from_millis(200), "prompt end reported after {finished_after:?}");

    // What the caller heard: the prompt once, then comfort silence, as one continuous stream.
    let mut at_caller = Vec::new();
    for _ in 0..200 {
        let (p, from) = recv(&caller).await;
        assert_eq!(from, caller_media);
        at_caller.push(seen(&p));
        if at_caller.last().unwrap().first_byte == 0xFF {
            break;
        }
    }
    let prompt_frames = at_caller.iter().take_while(|s| s.first_byte == 0x55).count();
    assert!((1..=10).contains(&prompt_frames), "{prompt_frames} prompt frames");
    assert_eq!(prompt_frames + 1, at_caller.len(), "silence follows the prompt");
    assert!(at_caller[0].marker);
    assert!(at_caller.iter().all(|s| s.ssrc == at_caller[0].ssrc && s.pt == 0));
    for pair in at_caller.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq.wrapping_add(1), "gap-free sequence");
    }

    // No duplicates, even after the lost-end timeout would have passed.
    wait_caller_received(&call, 12).await;
    tokio::time::sleep(dtmf::LOST_END_TIMEOUT + Duration::from_millis(100)).await;
    let stats = call.stats().await.unwrap();
    assert!(events.try_recv().is_err(), "exactly one event per key press");
    assert_eq!(stats.agent.packets_sent, 6, "nothing reached the agent after unbridge");
    assert_eq!(stats.agent.packets_dropped, 1);

    call.stop_audio().unwrap();
    call.close().await;
    assert!(matches!(call.play_prompt(Arc::new(Prompt::from_ulaw("x", vec![0; 160]))), Err(MediaError::Closed)));
}

#[tokio::test]
async fn allocate_call_without_events_still_plays_prompts() {
    let engine = MediaEngine::new(localhost(), 31400..=31403).unwrap();
    let call = engine.allocate_call().await.unwrap();
    let caller = UdpSocket::bind((localhost(), 0)).await.unwrap();
    call.set_caller_remote(caller.local_addr().unwrap(), Codec::Pcma, 8, Some(101)).unwrap();
    assert_eq!(call.play_prompt(Arc::new(Prompt::from_ulaw("p", vec![0xFF; 160]))).unwrap(), 1);
    let (p, _) = recv(&caller).await;
    let s = seen(&p);
    assert_eq!((s.pt, s.first_byte), (8, 0xD5));
    assert_eq!(call.clone().play_prompt(Arc::new(Prompt::from_ulaw("p", vec![0; 160]))).unwrap(), 2);
    call.close().await;
}

#[tokio::test]
async fn sipp_dtmf_captures_replayed_over_udp_give_one_event_per_key() {
    let engine = MediaEngine::new(localhost(), 31410..=31419).unwrap();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let call = engine.allocate_call_with_events(events_tx, 7).await.unwrap();
    let caller = UdpSocket::bind((localhost(), 0)).await.unwrap();
    let caller_media = SocketAddr::new(localhost(), call.caller_port());
    call.set_caller_remote(caller.local_addr().unwrap(), Codec::Pcmu, 0, Some(101)).unwrap();
    call.play_hold(Arc::new(Prompt::from_ulaw("hold", vec![0x55; 8000]))).unwrap();
    // As SIPp's play_pcap_audio sends them: byte for byte (one SSRC; '5' twice repeats its
    // timestamp), paced as captured (20 ms apart, the 3 end packets back to back).
    let mut sent = 0;
    for name in ["5", "5", "pound", "1"] {
        let path = format!("/usr/share/sip-tester/dtmf_2833_{name}.pcap");
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e} (install sip-tester)"));
        let mut previous = Duration::ZERO;
        for (at, packet) in dtmf::tests::pcap_rtp_packets(&bytes) {
            tokio::time::sleep(at.saturating_sub(previous)).await;
            previous = at;
            caller.send_to(&packet, caller_media).await.unwrap();
            sent += 1;
        }
    }
    let mut digits = Vec::new();
    for _ in 0..4 {
        match next_event(&mut events).await {
            MediaEvent::Dtmf { call_tag: 7, digit, duration_ms: 280 } => digits.push(digit),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(digits, ['5', '5', '#', '1']);
    wait_caller_received(&call, sent).await;
    tokio::time::sleep(dtmf::LOST_END_TIMEOUT + Duration::from_millis(100)).await;
    call.stats().await.unwrap();
    assert!(events.try_recv().is_err(), "exactly one event per key press");
    call.close().await;
}
