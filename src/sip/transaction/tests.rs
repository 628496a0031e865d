//! Unit tests for the transaction layer in virtual time: exact retransmission schedules, timeouts,
//! absorption of retransmissions, ACK generation, CANCEL on both sides, TCP behaviour, RFC 6026
//! Accepted handling and rport/received response routing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::sip::message::SipMessage;

pub(super) const UAC_ADDR: &str = "127.0.0.1:5060";
pub(super) const UAS_ADDR: &str = "127.0.0.1:5070";

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(super) fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// Fields shared by a request and the responses to it.
#[derive(Clone)]
pub(super) struct Fields {
    pub method: &'static str,
    pub branch: String,
    pub call_id: String,
    pub cseq: u32,
    pub from_tag: String,
    pub to_tag: Option<String>,
    pub transport: Transport,
    pub rport: bool,
}

impl Fields {
    pub fn new(method: &'static str, branch: &str, call_id: &str) -> Self {
        Fields {
            method,
            branch: format!("z9hG4bK{branch}"),
            call_id: call_id.to_owned(),
            cseq: 1,
            from_tag: "uac1".to_owned(),
            to_tag: None,
            transport: Transport::Udp,
            rport: false,
        }
    }

    fn via(&self) -> String {
        format!(
            "Via: SIP/2.0/{} 127.0.0.1:5060;branch={}{}\r\n",
            self.transport.via_token(),
            self.branch,
            if self.rport { ";rport" } else { "" }
        )
    }

    fn to(&self) -> String {
        match &self.to_tag {
            Some(t) => format!("To: <sip:bob@127.0.0.1>;tag={t}\r\n"),
            None => "To: <sip:bob@127.0.0.1>\r\n".to_owned(),
        }
    }

    pub fn request(&self) -> SipMessage {
        let text = format!(
            "{m} sip:bob@127.0.0.1:5070 SIP/2.0\r\n{via}Max-Forwards: 70\r\n\
             From: <sip:alice@127.0.0.1>;tag={ft}\r\n{to}Call-ID: {cid}\r\nCSeq: {n} {m}\r\n\
             Contact: <sip:alice@127.0.0.1:5060>\r\nContent-Length: 0\r\n\r\n",
            m = self.method,
            via = self.via(),
            ft = self.from_tag,
            to = self.to(),
            cid = self.call_id,
            n = self.cseq,
        );
        parse(&text)
    }

    pub fn response(&self, code: u16, to_tag: Option<&str>) -> SipMessage {
        let mut f = self.clone();
        if let Some(t) = to_tag {
            f.to_tag = Some(t.to_owned());
        }
        let text = format!(
            "SIP/2.0 {code} Whatever\r\n{via}From: <sip:alice@127.0.0.1>;tag={ft}\r\n{to}\
             Call-ID: {cid}\r\nCSeq: {n} {m}\r\nContact: <sip:bob@127.0.0.1:5070>\r\n\
             Content-Length: 0\r\n\r\n",
            via = f.via(),
            ft = f.from_tag,
            to = f.to(),
            cid = f.call_id,
            n = f.cseq,
            m = f.method,
        );
        parse(&text)
    }
}

pub(super) fn parse(text: &str) -> SipMessage {
    SipMessage::parse(Bytes::from(text.to_owned())).expect("test message parses")
}

fn transmits(layer: &mut TransactionLayer) -> Vec<Transmit> {
    std::iter::from_fn(|| layer.poll_transmit()).collect()
}

fn events(layer: &mut TransactionLayer) -> Vec<TxEvent> {
    std::iter::from_fn(|| layer.poll_event()).collect()
}

fn first_line(t: &Transmit) -> String {
    let s = String::from_utf8_lossy(&t.payload);
    s.lines().next().unwrap_or_default().to_owned()
}

fn payload_text(t: &Transmit) -> String {
    String::from_utf8_lossy(&t.payload).into_owned()
}

/// Runs timers until nothing is scheduled (bounded), returning (offset, transmit) pairs and events.
type Timed<T> = Vec<(Duration, T)>;

fn run_timers(layer: &mut TransactionLayer, start: Instant) -> (Timed<Transmit>, Timed<TxEvent>) {
    let mut sent = Vec::new();
    let mut evs = Vec::new();
    for _ in 0..1000 {
        let Some(at) = layer.poll_timeout() else {
            break;
        };
        layer.handle_timeout(at);
        for t in transmits(layer) {
            sent.push((at - start, t));
        }
        for e in events(layer) {
            evs.push((at - start, e));
        }
    }
    (sent, evs)
}

#[test]
fn client_invite_udp_timer_a_schedule_and_timer_b() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let invite = Fields::new("INVITE", "a1", "call-a");
    let tx = layer.send_request(t0, invite.request(), addr(UAS_ADDR), Transport::Udp).unwrap();
    assert_eq!(transmits(&mut layer).len(), 1);
    assert_eq!(layer.state(tx), Some(TxState::Calling));
    let (sent, evs) = run_timers(&mut layer, t0);
    let offsets: Vec<u64> = sent.iter().map(|(d, _)| d.as_millis() as u64).collect();
    assert_eq!(offsets, vec![500, 1500, 3500, 7500, 15500, 31500]);
    assert!(sent.iter().all(|(_, t)| first_line(t).starts_with("INVITE ")));
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0].0, ms(32_000));
    assert!(matches!(evs[0].1, TxEvent::Timeout { tx: t } if t == tx));
    assert!(matches!(evs[1].1, TxEvent::Terminated { tx: t } if t == tx));
    assert!(layer.is_empty());
}

#[test]
fn client_non_invite_timer_e_capped_and_timer_f() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let bye = Fields::new("BYE", "e1", "call-e");
    let tx = layer.send_request(t0, bye.request(), addr(UAS_ADDR), Transport::Udp).unwrap();
    transmits(&mut layer);
    let (sent, evs) = run_timers(&mut layer, t0);
    let offsets: Vec<u64> = sent.iter().map(|(d, _)| d.as_millis() as u64).collect();
    assert_eq!(offsets, vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    assert_eq!(evs[0].0, ms(32_000));
    assert!(matches!(evs[0].1, TxEvent::Timeout { tx: t } if t == tx));
    assert!(layer.is_empty());
}

#[test]
fn client_non_invite_proceeding_retransmits_at_t2_and_timer_k() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let bye = Fields::new("OPTIONS", "e2", "call-e2");
    let tx = layer.send_request(t0, bye.request(), addr(UAS_ADDR), Transport::Udp).unwrap();
    transmits(&mut layer);
    layer.handle_timeout(t0 + ms(500)); // first retransmission, next due at 1500
    assert_eq!(transmits(&mut layer).len(), 1);
    layer.handle_incoming(t0 + ms(600), bye.response(100, None), addr(UAS_ADDR), Transport::Udp);
    assert_eq!(layer.state(tx), Some(TxState::Proceeding));
    assert!(matches!(events(&mut layer)[..], [TxEvent::Response { .. }]));
    // Already scheduled at 1500; after that the interval is T2.
    layer.handle_timeout(t0 + ms(1500));
    assert_eq!(transmits(&mut layer).len(), 1);
    assert_eq!(layer.poll_timeout(), Some(t0 + ms(5500)));
    let now = t0 + ms(2000);
    layer.handle_incoming(now, bye.response(200, Some("x")), addr(UAS_ADDR), Transport::Udp);
    assert_eq!(layer.state(tx), Some(TxState::Completed));
    // Retransmitted final is absorbed.
    layer.handle_incoming(now, bye.response(200, Some("x")), addr(UAS_ADDR), Transport::Udp);
    let evs = events(&mut layer);
    assert_eq!(evs.len(), 1);
    assert_eq!(layer.poll_timeout(), Some(now + ms(5000)));
    layer.handle_timeout(now + ms(5000));
    assert!(transmits(&mut layer).is_empty());
    assert!(matches!(events(&mut layer)[..], [TxEvent::Terminated { tx: t }] if t == tx));
    assert!(layer.is_empty());
}

#[test]
fn client_invite_non_2xx_generates_ack_and_timer_d() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let invite = Fields::new("INVITE", "d1", "call-d");
    let tx = layer.send_request(t0, invite.request(), addr(UAS_ADDR), Transport::Udp).unwrap();
    transmits(&mut layer);
    layer.handle_incoming(t0 + ms(100), invite.response(180, Some("uas9")), addr(UAS_ADDR), Transport::Udp);
    let now = t0 + ms(200);
    layer.handle_incoming(now, invite.response(486, Some("uas9")), addr(UAS_ADDR), Transport::Udp);
    let sent = transmits(&mut layer);
    assert_eq!(sent.len(), 1);
    let ack = SipMessage::parse(sent[0].payload.clone()).unwrap();
    assert_eq!(first_line(&sent[0]), "ACK sip:bob@127.0.0.1:5070 SIP/2.0");
    let text = payload_text(&sent[0]);
    assert!(text.contains("branch=z9hG4bKd1"), "{text}");
    assert!(text.contains("tag=uas9"), "{text}");
    assert_eq!(ack.cseq().unwrap().seq, 1);
    let evs = events(&mut layer);
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert_eq!(layer.state(tx), Some(TxState::Completed));
    // Retransmitted 486: ACK re-sent, not reported.
    layer.handle_incoming(now, invite.response(486, Some("uas9")), addr(UAS_ADDR), Transport::Udp);
    let sent = transmits(&mut layer);
    assert_eq!(sent.len(), 1);
    assert!(first_line(&sent[0]).starts_with("ACK "));
    assert!(events(&mut layer).is_empty());
    assert_eq!(layer.poll_timeout(), Some(now + ms(32_000)));
    layer.handle_timeout(now + ms(32_000));
    assert!(matches!(events(&mut layer)[..], [TxEvent::Terminated { tx: t }] if t == tx));
    assert!(layer.is_empty());
}

#[test]
fn client_invite_2xx_accepted_absorbs_retransmissions_and_reacks() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let invite = Fields::new("INVITE", "m1", "call-m");
    let tx = layer.send_request(t0, invite.request(), addr(UAS_ADDR), Transport::Udp).unwrap();
    transmits(&mut layer);
    let ok = invite.response(200, Some("b1"));
    layer.handle_incoming(t0 + ms(50), ok.clone(), addr(UAS_ADDR), Transport::Udp);
    assert_eq!(layer.state(tx), Some(TxState::Accepted));
    assert!(matches!(events(&mut layer)[..], [TxEvent::Response { .. }]));
    let mut ack_fields = invite.clone();
    ack_fields.method = "ACK";
    ack_fields.branch = "z9hG4bKack1".to_owned();
    ack_fields.to_tag = Some("b1".to_owned());
    layer.send_ack_for_2xx(tx, &ack_fields.request(), addr(UAS_ADDR), Transport::Udp);
    assert_eq!(transmits(&mut layer).len(), 1);
    // The 2xx is retransmitted: re-ACKed by the layer, not reported again.
    layer.handle_incoming(t0 + ms(550), ok, addr(UAS_ADDR), Transport::Udp);
    let sent = transmits(&mut layer);
    assert_eq!(sent.len(), 1);
    assert!(payload_text(&sent[0]).contains("z9hG4bKack1"));
    assert!(events(&mut layer).is_empty());
    // A 2xx from another fork is reported.
    layer.handle_incoming(t0 + ms(600), invite.response(200, Some("b2")), addr(UAS_ADDR), Transport::Udp);
    assert!(matches!(events(&mut layer)[..], [TxEvent::Response { .. }]));
    // Timer M ends it.
    assert_eq!(layer.poll_timeout(), Some(t0 + ms(50) + ms(32_000)));
    layer.handle_timeout(t0 + ms(32_050));
    assert!(matches!(events(&mut layer)[..], [TxEvent::Terminated { .. }]));
    assert!(layer.is_empty());
}

#[test]
fn server_invite_sends_100_absorbs_retransmission_and_timer_g_h() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let invite = Fields::new("INVITE", "s1", "call-s");
    layer.handle_incoming(t0, invite.request(), addr(UAC_ADDR), Transport::Udp);
    let sent = transmits(&mut layer);
    assert_eq!(sent.len(), 1);
    assert!(first_line(&sent[0]).starts_with("SIP/2.0 100"));
    assert_eq!(sent[0].dest, addr(UAC_ADDR));
    let evs = events(&mut layer);
    let tx = match &evs[..] {
        [TxEvent::Request { tx, .. }] => *tx,
        other => panic!("unexpected {other:?}"),
    };
    // Retransmission: 100 re-sent, nothing new for the TU.
    layer.handle_incoming(t0 + ms(500), invite.request(), addr(UAC_ADDR), Transport::Udp);
    let sent = transmits(&mut layer);
    assert_eq!(sent.len(), 1);
    assert!(first_line(&sent[0]).starts_with("SIP/2.0 100"));
    assert!(events(&mut layer).is_empty());
    // A 180 replaces the 100 as the response re-sent on retransmission.
    layer.send_response(t0 + ms(600), tx, invite.response(180, Some("u1"))).unwrap();
    transmits(&mut layer);
    layer.handle_incoming(t0 + ms(700), invite.request(), addr(UAC_ADDR), Transport::Udp);
    assert!(first_line(&transmits(&mut layer)[0]).starts_with("SIP/2.0 180"));
    let start = t0 + ms(1000);
    layer.send_response(start, tx, invite.response(486, Some("u1"))).unwrap();
    assert_eq!(transmits(&mut layer).len(), 1);
    assert_eq!(layer.state(tx), Some(TxState::Completed));
    let (sent, evs) = run_timers(&mut layer, start);
    let offsets: Vec<u64> = sent.iter().map(|(d, _)| d.as_millis() as u64).collect();
    assert_eq!(offsets, vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    assert!(sent.iter().all(|(_, t)| first_line(t).starts_with("SIP/2.0 486")));
    assert_eq!(evs[0].0, ms(32_000));
    assert!(matches!(evs[0].1, TxEvent::Timeout { tx: t } if t == tx));
    assert!(matches!(evs[1].1, TxEvent::Terminated { tx: t } if t == tx));
    assert!(layer.is_empty());
}

#[test]
fn server_invite_absorbs_ack_for_non_2xx_and_timer_i() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let invite = Fields::new("INVITE", "s2", "call-s2");
    layer.handle_incoming(t0, invite.request(), addr(UAC_ADDR), Transport::Udp);
    let tx = match &events(&mut layer)[..] {
        [TxEvent::Request { tx, .. }] => *tx,
        other => panic!("unexpected {other:?}"),
    };
    layer.send_response(t0, tx, invite.response(404, Some("u2"))).unwrap();
    transmits(&mut layer);
    let mut ack = invite.clone();
    ack.method = "ACK";
    ack.to_tag = Some("u2".to_owned());
    let now = t0 + ms(100);
    layer.handle_incoming(now, ack.request(), addr(UAC_ADDR), Transport::Udp);
    assert_eq!(layer.state(tx), Some(TxState::Confirmed));
    layer.handle_incoming(now, ack.request(), addr(UAC_ADDR), Transport::Udp);
    assert!(events(&mut layer).is_empty(), "ACKs are absorbed");
    assert!(transmits(&mut layer).is_empty());
    assert_eq!(layer.poll_timeout(), Some(now + ms(5000)));
    layer.handle_timeout(now + ms(5000));
    assert!(transmits(&mut layer).is_empty(), "no G retransmission after ACK");
    assert!(matches!(events(&mut layer)[..], [TxEvent::Terminated { tx: t }] if t == tx));
    assert!(layer.is_empty());
}

#[test]
fn server_invite_2xx_retransmitted_until_ack_then_timer_l() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let invite = Fields::new("INVITE", "l1", "call-l");
    layer.handle_incoming(t0, invite.request(), addr(UAC_ADDR), Transport::Udp);
    let tx = match &events(&mut layer)[..] {
        [TxEvent::Request { tx, .. }] => *tx,
        other => panic!("unexpected {other:?}"),
    };
    layer.send_response(t0, tx, invite.response(200, Some("u3"))).unwrap();
    transmits(&mut layer);
    assert_eq!(layer.state(tx), Some(TxState::Accepted));
    // INVITE retransmission in Accepted is absorbed silently.
    layer.handle_incoming(t0 + ms(10), invite.request(), addr(UAC_ADDR), Transport::Udp);
    assert!(transmits(&mut layer).is_empty());
    assert!(events(&mut layer).is_empty());
    layer.handle_timeout(t0 + ms(500));
    layer.handle_timeout(t0 + ms(1500));
    let sent = transmits(&mut layer);
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|t| first_line(t).starts_with("SIP/2.0 200")));
    // ACK for the 2xx: its own branch.
    let mut ack = invite.clone();
    ack.method = "ACK";
    ack.branch = "z9hG4bKother".to_owned();
    ack.to_tag = Some("u3".to_owned());
    layer.handle_incoming(t0 + ms(1600), ack.request(), addr(UAC_ADDR), Transport::Udp);
    let evs = events(&mut layer);
    assert!(matches!(&evs[..], [TxEvent::AckFor2xx { invite_tx, .. }] if *invite_tx == tx));
    layer.handle_incoming(t0 + ms(1700), ack.request(), addr(UAC_ADDR), Transport::Udp);
    assert!(events(&mut layer).is_empty(), "duplicate ACK absorbed");
    let (sent, evs) = run_timers(&mut layer, t0);
    assert!(sent.is_empty(), "no 2xx retransmission after the ACK");
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].0, ms(32_000));
    assert!(matches!(evs[0].1, TxEvent::Terminated { tx: t } if t == tx));
    // After the transaction is gone an ACK is stray.
    layer.handle_incoming(t0 + ms(40_000), ack.request(), addr(UAC_ADDR), Transport::Udp);
    assert!(matches!(events(&mut layer)[..], [TxEvent::StrayAck { .. }]));
}

#[test]
fn server_invite_2xx_without_ack_reports_ack_timeout() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let invite = Fields::new("INVITE", "l2", "call-l2");
    layer.handle_incoming(t0, invite.request(), addr(UAC_ADDR), Transport::Udp);
    let tx = match &events(&mut layer)[..] {
        [TxEvent::Request { tx, .. }] => *tx,
        other => panic!("unexpected {other:?}"),
    };
    layer.send_response(t0, tx, invite.response(200, Some("u4"))).unwrap();
    transmits(&mut layer);
    let (sent, evs) = run_timers(&mut layer, t0);
    let offsets: Vec<u64> = sent.iter().map(|(d, _)| d.as_millis() as u64).collect();
    assert_eq!(offsets, vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    assert!(matches!(evs[0].1, TxEvent::AckTimeout { tx: t } if t == tx));
    assert!(matches!(evs[1].1, TxEvent::Terminated { tx: t } if t == tx));
}

#[test]
fn server_non_invite_absorbs_and_resends_final_then_timer_j() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let bye = Fields::new("BYE", "j1", "call-j");
    layer.handle_incoming(t0, bye.request(), addr(UAC_ADDR), Transport::Udp);
    assert!(transmits(&mut layer).is_empty(), "no automatic 100 for non-INVITE");
    let tx = match &events(&mut layer)[..] {
        [TxEvent::Request { tx, .. }] => *tx,
        other => panic!("unexpected {other:?}"),
    };
    layer.handle_incoming(t0 + ms(500), bye.request(), addr(UAC_ADDR), Transport::Udp);
    assert!(transmits(&mut layer).is_empty(), "Trying absorbs silently");
    assert!(events(&mut layer).is_empty());
    layer.send_response(t0 + ms(600), tx, bye.response(200, Some("t"))).unwrap();
    assert_eq!(transmits(&mut layer).len(), 1);
    layer.handle_incoming(t0 + ms(1000), bye.request(), addr(UAC_ADDR), Transport::Udp);
    let sent = transmits(&mut layer);
    assert_eq!(sent.len(), 1);
    assert!(first_line(&sent[0]).starts_with("SIP/2.0 200"));
    assert!(events(&mut layer).is_empty());
    assert_eq!(layer.send_response(t0 + ms(1000), tx, bye.response(200, Some("t"))), Err(TxError::InvalidState));
    assert_eq!(layer.poll_timeout(), Some(t0 + ms(600) + ms(32_000)));
    layer.handle_timeout(t0 + ms(32_600));
    assert!(matches!(events(&mut layer)[..], [TxEvent::Terminated { tx: t }] if t == tx));
    assert!(layer.is_empty());
}

#[test]
fn tcp_has_no_retransmissions_and_no_wait_states() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let mut invite = Fields::new("INVITE", "t1", "call-t");
    invite.transport = Transport::Tcp;
    let tx = layer.send_request(t0, invite.request(), addr(UAS_ADDR), Transport::Tcp).unwrap();
    transmits(&mut layer);
    assert_eq!(layer.poll_timeout(), Some(t0 + ms(32_000)), "only Timer B");
    layer.handle_incoming(t0, invite.response(486, Some("x")), addr(UAS_ADDR), Transport::Tcp);
    assert_eq!(transmits(&mut layer).len(), 1, "the ACK");
    let evs = events(&mut layer);
    assert!(matches!(&evs[..], [TxEvent::Response { .. }, TxEvent::Terminated { tx: t }] if *t == tx));
    assert!(layer.is_empty(), "Timer D is zero on TCP");

    // Non-INVITE over TCP times out after F without any retransmission.
    let mut bye = Fields::new("BYE", "t2", "call-t");
    bye.transport = Transport::Tcp;
    layer.send_request(t0, bye.request(), addr(UAS_ADDR), Transport::Tcp).unwrap();
    transmits(&mut layer);
    let (sent, evs) = run_timers(&mut layer, t0);
    assert!(sent.is_empty());
    assert_eq!(evs[0].0, ms(32_000));
    assert!(matches!(evs[0].1, TxEvent::Timeout { .. }));

    // Server side: final non-2xx to INVITE has no G; ACK ends it at once (I = 0).
    let mut inv2 = Fields::new("INVITE", "t3", "call-t3");
    inv2.transport = Transport::Tcp;
    layer.handle_incoming(t0, inv2.request(), addr(UAC_ADDR), Transport::Tcp);
    let stx = match &events(&mut layer)[..] {
        [TxEvent::Request { tx, .. }] => *tx,
        other => panic!("unexpected {other:?}"),
    };
    transmits(&mut layer);
    layer.send_response(t0, stx, inv2.response(480, Some("y"))).unwrap();
    transmits(&mut layer);
    assert_eq!(layer.poll_timeout(), Some(t0 + ms(32_000)), "only Timer H");
    let mut ack = inv2.clone();
    ack.method = "ACK";
    ack.to_tag = Some("y".to_owned());
    layer.handle_incoming(t0, ack.request(), addr(UAC_ADDR), Transport::Tcp);
    assert!(matches!(events(&mut layer)[..], [TxEvent::Terminated { tx: t }] if t == stx));
    assert!(layer.is_empty());
}

#[test]
fn server_cancel_matches_invite_answers_200_and_reports() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let invite = Fields::new("INVITE", "c1", "call-c");
    layer.handle_incoming(t0, invite.request(), addr(UAC_ADDR), Transport::Udp);
    let tx = match &events(&mut layer)[..] {
        [TxEvent::Request { tx, .. }] => *tx,
        other => panic!("unexpected {other:?}"),
    };
    transmits(&mut layer);
    let mut cancel = invite.clone();
    cancel.method = "CANCEL";
    layer.handle_incoming(t0 + ms(10), cancel.request(), addr(UAC_ADDR), Transport::Udp);
    let sent = transmits(&mut layer);
    assert_eq!(sent.len(), 1);
    assert!(first_line(&sent[0]).starts_with("SIP/2.0 200"));
    assert!(payload_text(&sent[0]).contains("CSeq: 1 CANCEL"));
    assert!(!payload_text(&sent[0]).contains("tag=z"), "no To tag sent yet");
    let evs = events(&mut layer);
    assert!(matches!(&evs[..], [TxEvent::CancelReceived { invite_tx, .. }] if *invite_tx == tx));
    // A retransmitted CANCEL gets the 200 again without a second report.
    layer.handle_incoming(t0 + ms(20), cancel.request(), addr(UAC_ADDR), Transport::Udp);
    assert_eq!(transmits(&mut layer).len(), 1);
    assert!(events(&mut layer).is_empty());
    layer.send_response(t0 + ms(30), tx, invite.response(487, Some("z"))).unwrap();
    assert!(first_line(&transmits(&mut layer)[0]).starts_with("SIP/2.0 487"));
    assert_eq!(layer.state(tx), Some(TxState::Completed));
    // The ACK for the 487 is absorbed, not reported.
    let mut ack = invite.clone();
    ack.method = "ACK";
    ack.to_tag = Some("z".to_owned());
    layer.handle_incoming(t0 + ms(40), ack.request(), addr(UAC_ADDR), Transport::Udp);
    assert!(events(&mut layer).is_empty());
    assert_eq!(layer.state(tx), Some(TxState::Confirmed));

    // A CANCEL after a tagged provisional: the 200 carries the same To tag, no report
    // once the INVITE is no longer Proceeding.
    let invite2 = Fields::new("INVITE", "c2", "call-c2");
    layer.handle_incoming(t0, invite2.request(), addr(UAC_ADDR), Transport::Udp);
    let tx2 = match &events(&mut layer)[..] {
        [TxEvent::Request { tx, .. }] => *tx,
        other => panic!("unexpected {other:?}"),
    };
    layer.send_response(t0, tx2, invite2.response(180, Some("t2"))).unwrap();
    transmits(&mut layer);
    let mut cancel2 = invite2.clone();
    cancel2.method = "CANCEL";
    layer.handle_incoming(t0, cancel2.request(), addr(UAC_ADDR), Transport::Udp);
    assert!(payload_text(&transmits(&mut layer)[0]).contains("tag=t2"));
    assert!(matches!(events(&mut layer)[..], [TxEvent::CancelReceived { invite_tx, .. }] if invite_tx == tx2));

    // CANCEL for an unknown transaction: 481.
    let mut stray = Fields::new("CANCEL", "nothing", "call-x");
    stray.cseq = 7;
    layer.handle_incoming(t0, stray.request(), addr(UAC_ADDR), Transport::Udp);
    let sent = transmits(&mut layer);
    assert!(first_line(&sent[0]).starts_with("SIP/2.0 481"));
    assert!(events(&mut layer).is_empty());
}

#[test]
fn client_cancel_waits_for_provisional() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let invite = Fields::new("INVITE", "cc1", "call-cc");
    let tx = layer.send_request(t0, invite.request(), addr(UAS_ADDR), Transport::Udp).unwrap();
    transmits(&mut layer);
    let ctx = layer.cancel(t0 + ms(10), tx).unwrap();
    assert_eq!(layer.cancel(t0 + ms(11), tx), Ok(ctx));
    assert!(transmits(&mut layer).is_empty(), "CANCEL waits for a provisional");
    layer.handle_incoming(t0 + ms(100), invite.response(180, Some("r")), addr(UAS_ADDR), Transport::Udp);
    let sent = transmits(&mut layer);
    assert_eq!(sent.len(), 1);
    assert_eq!(first_line(&sent[0]), "CANCEL sip:bob@127.0.0.1:5070 SIP/2.0");
    let text = payload_text(&sent[0]);
    assert!(text.contains("branch=z9hG4bKcc1"), "{text}");
    assert!(text.contains("CSeq: 1 CANCEL"), "{text}");
    assert!(text.contains("Call-ID: call-cc"), "{text}");
    assert!(!text.contains("tag=r"), "the CANCEL's To is the INVITE's: {text}");
    assert_eq!(layer.kind(ctx), Some(TxKind::ClientNonInvite));
    events(&mut layer);
    let mut cancel = invite.clone();
    cancel.method = "CANCEL";
    layer.handle_incoming(t0 + ms(150), cancel.response(200, Some("r")), addr(UAS_ADDR), Transport::Udp);
    assert!(matches!(events(&mut layer)[..], [TxEvent::Response { tx: t, .. }] if t == ctx));
    layer.handle_incoming(t0 + ms(160), invite.response(487, Some("r")), addr(UAS_ADDR), Transport::Udp);
    let sent = transmits(&mut layer);
    assert!(first_line(&sent[0]).starts_with("ACK "));
    assert!(matches!(events(&mut layer)[..], [TxEvent::Response { tx: t, .. }] if t == tx));
    assert_eq!(layer.cancel(t0 + ms(170), tx), Ok(ctx));
}

#[test]
fn client_cancel_dropped_when_final_arrives_first() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let invite = Fields::new("INVITE", "cc2", "call-cc2");
    let tx = layer.send_request(t0, invite.request(), addr(UAS_ADDR), Transport::Udp).unwrap();
    transmits(&mut layer);
    let ctx = layer.cancel(t0, tx).unwrap();
    layer.handle_incoming(t0, invite.response(603, Some("r")), addr(UAS_ADDR), Transport::Udp);
    let sent = transmits(&mut layer);
    assert_eq!(sent.len(), 1);
    assert!(first_line(&sent[0]).starts_with("ACK "));
    let evs = events(&mut layer);
    assert!(evs.iter().any(|e| matches!(e, TxEvent::Terminated { tx: t } if *t == ctx)));
}

#[test]
fn rport_and_received_are_stamped_and_used() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let mut opts = Fields::new("OPTIONS", "r1", "call-r");
    opts.rport = true;
    // The request comes from a NATed port, not the Via's 5060.
    let source = addr("127.0.0.1:40000");
    layer.handle_incoming(t0, opts.request(), source, Transport::Udp);
    let (tx, msg) = match events(&mut layer).pop() {
        Some(TxEvent::Request { tx, msg, .. }) => (tx, msg),
        other => panic!("unexpected {other:?}"),
    };
    let via = msg.top_via().unwrap();
    assert_eq!(via.rport(), Some(Some(40000)));
    layer.send_response(t0, tx, opts.response(200, Some("q"))).unwrap();
    let sent = transmits(&mut layer);
    assert_eq!(sent[0].dest, source);

    // Without rport the response goes to the Via's sent-by port at the source IP.
    let plain = Fields::new("OPTIONS", "r2", "call-r");
    layer.handle_incoming(t0, plain.request(), source, Transport::Udp);
    let tx = match events(&mut layer).pop() {
        Some(TxEvent::Request { tx, .. }) => tx,
        other => panic!("unexpected {other:?}"),
    };
    layer.send_response(t0, tx, plain.response(200, Some("q"))).unwrap();
    assert_eq!(transmits(&mut layer)[0].dest, addr("127.0.0.1:5060"));
}

#[test]
fn transport_error_terminates_transactions_to_that_peer() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let mut invite = Fields::new("INVITE", "x1", "call-x1");
    invite.transport = Transport::Tcp;
    let tx = layer.send_request(t0, invite.request(), addr(UAS_ADDR), Transport::Tcp).unwrap();
    layer.handle_transport_error(addr(UAS_ADDR), Transport::Tcp);
    let evs = events(&mut layer);
    assert!(
        matches!(&evs[..], [TxEvent::TransportError { tx: a }, TxEvent::Terminated { tx: b }] if *a == tx && *b == tx)
    );
    assert!(layer.is_empty());
}

#[test]
fn api_misuse_is_reported() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let invite = Fields::new("INVITE", "u1", "call-u");
    layer.send_request(t0, invite.request(), addr(UAS_ADDR), Transport::Udp).unwrap();
    assert_eq!(
        layer.send_request(t0, invite.request(), addr(UAS_ADDR), Transport::Udp),
        Err(TxError::DuplicateTransaction)
    );
    let mut ack = invite.clone();
    ack.method = "ACK";
    assert_eq!(
        layer.send_request(t0, ack.request(), addr(UAS_ADDR), Transport::Udp),
        Err(TxError::AckNeedsNoTransaction)
    );
    assert_eq!(
        layer.send_response(t0, TxId(999), invite.response(200, None)),
        Err(TxError::UnknownTransaction(TxId(999)))
    );
    // Garbage-ish responses matching nothing are reported as stray, never panic.
    let other = Fields::new("INVITE", "zzz", "call-u");
    layer.handle_incoming(t0, other.response(200, Some("a")), addr(UAS_ADDR), Transport::Udp);
    assert!(matches!(layer.poll_event(), Some(TxEvent::StrayResponse { .. })));
}

#[test]
fn new_branch_has_magic_cookie_and_is_random() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let a = new_branch(&mut rng);
    let b = new_branch(&mut rng);
    assert!(a.starts_with(BRANCH_MAGIC_COOKIE));
    assert!(a.len() > BRANCH_MAGIC_COOKIE.len() + 10);
    assert_ne!(a, b);
}

#[test]
fn incomplete_messages_are_dropped_without_panic() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let full = "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKg1;rport\r\n\
        From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\n\
        Call-ID: g1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let lines: Vec<&str> = full.split("\r\n").collect();
    // Drop each header line in turn, as a request and as a response.
    for skip in 1..6 {
        let text: Vec<&str> = lines.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, l)| *l).collect();
        let text = text.join("\r\n");
        if let Ok(msg) = SipMessage::parse(Bytes::from(text.clone())) {
            layer.handle_incoming(t0, msg, addr(UAC_ADDR), Transport::Udp);
        }
        let resp = text.replacen("INVITE sip:bob@127.0.0.1 SIP/2.0", "SIP/2.0 200 OK", 1);
        if let Ok(msg) = SipMessage::parse(Bytes::from(resp)) {
            layer.handle_incoming(t0, msg, addr(UAS_ADDR), Transport::Udp);
        }
    }
    // Without Via or CSeq nothing can be matched: no server transaction may exist for those.
    for e in events(&mut layer) {
        match e {
            TxEvent::Request { msg, .. } => {
                assert!(msg.top_via().is_ok() && msg.cseq().is_ok() && msg.call_id().is_ok())
            }
            TxEvent::StrayResponse { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    layer.handle_timeout(t0 + ms(100_000));
}

#[test]
fn unmatchable_request_gets_stateless_400() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let text = "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKbad;rport\r\n\
        From: <sip:alice@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\n\
        Call-ID: bad1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    layer.handle_incoming(t0, parse(text), addr("127.0.0.1:41000"), Transport::Udp);
    let sent = transmits(&mut layer);
    assert_eq!(sent.len(), 1);
    assert!(first_line(&sent[0]).starts_with("SIP/2.0 400"));
    assert_eq!(sent[0].dest, addr("127.0.0.1:41000"));
    assert!(events(&mut layer).is_empty());
    assert!(layer.is_empty());
    // Never a response to an ACK.
    let ack = text.replace("OPTIONS sip", "ACK sip").replace("CSeq: 1 INVITE", "CSeq: x");
    if let Ok(msg) = SipMessage::parse(Bytes::from(ack)) {
        layer.handle_incoming(t0, msg, addr("127.0.0.1:41000"), Transport::Udp);
    }
    assert!(transmits(&mut layer).is_empty());
}

#[test]
fn unanswered_non_invite_server_transaction_is_reclaimed() {
    let mut layer = TransactionLayer::default();
    let t0 = Instant::now();
    let opts = Fields::new("OPTIONS", "n1", "call-n");
    layer.handle_incoming(t0, opts.request(), addr(UAC_ADDR), Transport::Udp);
    let tx = match &events(&mut layer)[..] {
        [TxEvent::Request { tx, .. }] => *tx,
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(layer.poll_timeout(), Some(t0 + ms(32_000)));
    layer.handle_timeout(t0 + ms(32_000));
    let evs = events(&mut layer);
    assert!(matches!(&evs[..], [TxEvent::Timeout { tx: a }, TxEvent::Terminated { tx: b }] if *a == tx && *b == tx));
    assert!(layer.is_empty());
}

mod random_traffic {
    use super::*;
    use crate::sip::message::Response;
    use proptest::prelude::*;

    /// Answers every new server transaction with a final response chosen by `status`.
    fn tu_answer(layer: &mut TransactionLayer, now: Instant, status: u16) {
        while let Some(ev) = layer.poll_event() {
            match ev {
                TxEvent::Request { tx, msg, .. } => {
                    let resp = Response::for_request(&msg, status, "Whatever").to_tag("tu").build().unwrap();
                    let _ = layer.send_response(now, tx, resp);
                }
                TxEvent::CancelReceived { invite_tx, .. } => {
                    if let Some(req) = layer.request(invite_tx).cloned() {
                        let resp = Response::for_request(&req, 487, "Request Terminated").to_tag("tu").build().unwrap();
                        let _ = layer.send_response(now, invite_tx, resp);
                    }
                }
                _ => {}
            }
        }
        while layer.poll_transmit().is_some() {}
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5319),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Random interleavings of requests, responses, ACKs, CANCELs, TU actions and time
        /// never panic, and once the TU has answered everything and time has passed, every
        /// transaction is gone (bounded memory).
        #[test]
        fn random_traffic_drains(
            ops in proptest::collection::vec((0u8..9, 0u8..4, 100u16..700, 0u64..3000), 1..120)
        ) {
            let mut layer = TransactionLayer::default();
            let t0 = Instant::now();
            let mut now = t0;
            let mut client_txs = Vec::new();
            for (op, b, status, dt) in ops {
                now += ms(dt);
                let branch = format!("p{b}");
                let udp = Transport::Udp;
                let peer = addr(UAC_ADDR);
                match op {
                    0 => layer.handle_incoming(now, Fields::new("INVITE", &branch, "c").request(), peer, udp),
                    1 => {
                        let mut f = Fields::new("ACK", &branch, "c");
                        f.to_tag = Some("tu".to_owned());
                        layer.handle_incoming(now, f.request(), peer, udp)
                    }
                    2 => layer.handle_incoming(now, Fields::new("CANCEL", &branch, "c").request(), peer, udp),
                    3 => layer.handle_incoming(now, Fields::new("BYE", &branch, "c").request(), peer, udp),
                    4 => layer.handle_incoming(now, Fields::new("INVITE", &branch, "c").response(status, Some("r")), peer, udp),
                    5 => layer.handle_incoming(now, Fields::new("BYE", &branch, "c").response(status, Some("r")), peer, udp),
                    6 => {
                        let method = if status % 2 == 0 { "INVITE" } else { "BYE" };
                        if let Ok(tx) = layer.send_request(now, Fields::new(method, &branch, "c").request(), peer, udp) {
                            client_txs.push(tx);
                        }
                    }
                    7 => {
                        if let Some(&tx) = client_txs.get(usize::from(b)) {
                            let _ = layer.cancel(now, tx);
                        }
                    }
                    _ => layer.handle_timeout(now),
                }
                if status % 3 == 0 {
                    tu_answer(&mut layer, now, 200 + status % 500);
                }
            }
            // Finish: the TU answers everything; client INVITEs stuck in Proceeding get a final.
            for _ in 0..50 {
                tu_answer(&mut layer, now, 486);
                for id in layer.transaction_ids() {
                    if layer.kind(id) == Some(TxKind::ClientInvite)
                        && layer.state(id) == Some(TxState::Proceeding)
                    {
                        let req = layer.request(id).cloned().unwrap();
                        let resp = Response::for_request(&req, 487, "Request Terminated")
                            .to_tag("r")
                            .build()
                            .unwrap();
                        layer.handle_incoming(now, resp, addr(UAS_ADDR), Transport::Udp);
                    }
                }
                now += Duration::from_secs(10);
                layer.handle_timeout(now);
            }
            prop_assert!(layer.is_empty(), "left: {:?}", layer.transaction_ids());
            prop_assert_eq!(layer.poll_timeout(), None);
        }
    }
}
