//! A test RTP endpoint standing in for a phone's media stack: it binds a UDP port on 127.0.0.1,
//! learns where to send from the first packet the switch sends it (as a NAT'ed phone would be
//! latched), then sends 20 ms PCMU packets whose payload carries a tag and a counter. On receive it
//! counts the peer's tagged packets separately from other audio (hold music), so a test can compute
//! loss end to end through the relay.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, Default, Clone)]
pub struct RtpCounts {
    /// Packets this endpoint sent.
    pub sent: u32,
    /// Tagged packets received from the far endpoint, and the first/last counters among them.
    pub received_tagged: u32,
    pub first_counter: Option<u32>,
    pub last_counter: Option<u32>,
    /// Untagged packets received (hold audio from the switch).
    pub received_other: u32,
    pub ssrcs_seen: Vec<u32>,
    /// Sequence-number steps between consecutive received packets that were not +1.
    pub seq_discontinuities: u32,
    /// Payload types of the received packets, each listed once.
    pub payload_types_seen: Vec<u8>,
}

pub struct RtpPeer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    counts: Arc<Mutex<RtpCounts>>,
    thread: Option<JoinHandle<()>>,
}

impl RtpPeer {
    /// `my_tag` marks this endpoint's packets; `peer_tag` is what the far endpoint sends.
    pub fn start(my_tag: u32, peer_tag: u32, limit: Duration) -> RtpPeer {
        RtpPeer::start_with_payload_type(my_tag, peer_tag, limit, 0)
    }

    /// As [`RtpPeer::start`], sending payload type `pt` (0 PCMU, 8 PCMA).
    pub fn start_with_payload_type(my_tag: u32, peer_tag: u32, limit: Duration, pt: u8) -> RtpPeer {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind rtp");
        let port = sock.local_addr().expect("addr").port();
        sock.set_read_timeout(Some(Duration::from_millis(5))).expect("timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Mutex::new(RtpCounts::default()));
        let (s2, c2) = (stop.clone(), counts.clone());
        let thread = std::thread::spawn(move || run(sock, my_tag, peer_tag, pt, s2, c2, limit));
        RtpPeer { port, stop, counts, thread: Some(thread) }
    }
    pub fn counts(&self) -> RtpCounts {
        self.counts.lock().expect("lock").clone()
    }
    pub fn stop(&mut self) -> RtpCounts {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.counts()
    }
}

impl Drop for RtpPeer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(
    sock: UdpSocket,
    my_tag: u32,
    peer_tag: u32,
    pt: u8,
    stop: Arc<AtomicBool>,
    counts: Arc<Mutex<RtpCounts>>,
    limit: Duration,
) {
    let started = Instant::now();
    let mut dest: Option<SocketAddr> = None;
    let mut next_send = Instant::now();
    let mut counter: u32 = 0;
    let mut buf = [0u8; 2048];
    let ssrc: u32 = 0x1000_0000 | my_tag;
    let mut last_seq: Option<u16> = None;
    while !stop.load(Ordering::SeqCst) && started.elapsed() < limit {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            if n >= 12 && buf[0] >> 6 == 2 && (buf[1] & 0x7f) < 72 {
                dest.get_or_insert(from);
                let seq = u16::from_be_bytes([buf[2], buf[3]]);
                let rssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
                let mut c = counts.lock().expect("lock");
                if let Some(prev) = last_seq {
                    if seq != prev.wrapping_add(1) {
                        c.seq_discontinuities += 1;
                    }
                }
                last_seq = Some(seq);
                let rpt = buf[1] & 0x7f;
                if !c.payload_types_seen.contains(&rpt) {
                    c.payload_types_seen.push(rpt);
                }
                if !c.ssrcs_seen.contains(&rssrc) {
                    c.ssrcs_seen.push(rssrc);
                }
                let payload = &buf[12..n];
                if payload.len() >= 8
                    && u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) == peer_tag
                {
                    let k = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
                    c.received_tagged += 1;
                    c.first_counter.get_or_insert(k);
                    c.last_counter = Some(k);
                } else {
                    c.received_other += 1;
                }
            }
        }
        if let Some(to) = dest {
            let now = Instant::now();
            while next_send <= now {
                let mut pkt = [0xffu8; 172];
                pkt[0] = 0x80;
                pkt[1] = pt;
                pkt[2..4].copy_from_slice(&(counter as u16).to_be_bytes());
                pkt[4..8].copy_from_slice(&counter.wrapping_mul(160).to_be_bytes());
                pkt[8..12].copy_from_slice(&ssrc.to_be_bytes());
                pkt[12..16].copy_from_slice(&my_tag.to_be_bytes());
                pkt[16..20].copy_from_slice(&counter.to_be_bytes());
                if sock.send_to(&pkt, to).is_ok() {
                    counts.lock().expect("lock").sent += 1;
                }
                counter += 1;
                next_send += Duration::from_millis(20);
                if next_send + Duration::from_millis(200) < now {
                    // Far behind (machine busy): resume pacing rather than bursting.
                    next_send = now;
                }
            }
        } else {
            next_send = Instant::now();
        }
    }
}
