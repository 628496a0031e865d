//! Shell tests: real UDP on 127.0.0.1 through a `CallMedia`, port pool exhaustion and release.

use std::net::Ipv4Addr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::timeout;

use super::rtp::{write_fixed_header, RtpHeader};
use super::*;

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
