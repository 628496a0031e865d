//! Deterministic simulation: a UAC and a UAS `TransactionLayer` connected through a seeded, lossy,
//! reordering in-memory network in virtual time. Hundreds of INVITE/200/ACK + BYE/200 exchanges
//! must each complete exactly once at both transaction users, and both layers must drain to empty.
//! The TUs use `Dialog`/`DialogSet` for the ACK, the BYE and for matching them at the UAS.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::tests::{addr, UAC_ADDR, UAS_ADDR};
use super::*;
use crate::sip::dialog::{Dialog, DialogSet};
use crate::sip::message::{Method, Response, SipMessage, Uri, Via};

/// Per-call counters of what each TU saw.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct CallLog {
    uas_invite: u32,
    uac_invite_2xx: u32,
    uas_ack: u32,
    uas_bye: u32,
    uac_bye_2xx: u32,
    failures: u32,
}

struct Network {
    rng: StdRng,
    loss: f64,
    seq: u64,
    /// (delivery time, sequence) -> (destination, source, payload)
    in_flight: BTreeMap<(Instant, u64), (SocketAddr, SocketAddr, Bytes)>,
    sent: u64,
    dropped: u64,
}

impl Network {
    fn push(&mut self, now: Instant, source: SocketAddr, t: Transmit) {
        self.sent += 1;
        if self.rng.gen_bool(self.loss) {
            self.dropped += 1;
            return;
        }
        let delay = Duration::from_millis(self.rng.gen_range(5..60));
        self.seq += 1;
        self.in_flight
            .insert((now + delay, self.seq), (t.dest, source, t.payload));
    }

    fn next_at(&self) -> Option<Instant> {
        self.in_flight.keys().next().map(|(at, _)| *at)
    }
}

fn invite(transport: Transport, branch: &str, call: usize) -> SipMessage {
    let text = format!(
        "INVITE sip:bob@127.0.0.1:5070 SIP/2.0\r\n\
         Via: SIP/2.0/{transport} 127.0.0.1:5060;branch={branch};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a{call}\r\n\
         To: <sip:bob@127.0.0.1>\r\nCall-ID: sim-{call}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:alice@127.0.0.1:5060>\r\nContent-Length: 0\r\n\r\n"
    );
    SipMessage::parse(Bytes::from(text)).unwrap()
}

fn with_via(
    mut b: crate::sip::message::MessageBuilder,
    transport: Transport,
    rng: &mut StdRng,
) -> SipMessage {
    let via = Via::new(
        transport.via_token(),
        "127.0.0.1",
        Some(5060),
        &new_branch(rng),
    );
    b.prepend_via(&via);
    b.build().unwrap()
}

fn call_index(msg: &SipMessage) -> usize {
    msg.call_id()
        .ok()
        .and_then(|c| c.strip_prefix("sim-"))
        .and_then(|n| n.parse().ok())
        .unwrap()
}

fn run_simulation(
    seed: u64,
    calls: usize,
    loss: f64,
    transport: Transport,
) -> (Vec<CallLog>, Network) {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut net = Network {
        rng: StdRng::seed_from_u64(seed ^ 0x5eed),
        loss,
        seq: 0,
        in_flight: BTreeMap::new(),
        sent: 0,
        dropped: 0,
    };
    let (uac_addr, uas_addr) = (addr(UAC_ADDR), addr(UAS_ADDR));
    let mut uac = TransactionLayer::default();
    let mut uas = TransactionLayer::default();
    let mut uac_dialogs = DialogSet::new();
    let mut uas_dialogs = DialogSet::new();
    let uas_contact = Uri::parse("sip:bob@127.0.0.1:5070").unwrap();
    let mut logs = vec![CallLog::default(); calls];
    // UAC bookkeeping: INVITE tx -> call, BYE tx -> call.
    let mut invite_txs: HashMap<TxId, usize> = HashMap::new();
    let mut bye_txs: HashMap<TxId, usize> = HashMap::new();
    let mut next_call = 0usize;
    let call_spacing = Duration::from_millis(25);
    let mut now = t0;

    for _step in 0..2_000_000 {
        // Start calls whose time has come.
        while next_call < calls && t0 + call_spacing * next_call as u32 <= now {
            let branch = new_branch(&mut rng);
            let tx = uac
                .send_request(
                    now,
                    invite(transport, &branch, next_call),
                    uas_addr,
                    transport,
                )
                .unwrap();
            invite_txs.insert(tx, next_call);
            next_call += 1;
        }
        // Drain outputs into the network.
        while let Some(t) = uac.poll_transmit() {
            net.push(now, uac_addr, t);
        }
        while let Some(t) = uas.poll_transmit() {
            net.push(now, uas_addr, t);
        }
        // TU logic.
        let mut progressed = false;
        while let Some(ev) = uas.poll_event() {
            progressed = true;
            match ev {
                TxEvent::Request { tx, msg, .. } => {
                    let call = call_index(&msg);
                    let tag = format!("b{call}");
                    match msg.method() {
                        Some(Method::Invite) => {
                            logs[call].uas_invite += 1;
                            let d = Dialog::from_uas(&msg, &tag, uas_contact.clone()).unwrap();
                            assert!(uas_dialogs.insert(d).is_none());
                        }
                        Some(Method::Bye) => {
                            logs[call].uas_bye += 1;
                            let d = uas_dialogs.find_incoming_mut(&msg).unwrap();
                            d.handle_remote_request(&msg).unwrap();
                            let id = d.id.clone();
                            uas_dialogs.remove(&id);
                        }
                        _ => logs[call].failures += 1,
                    }
                    let ok = Response::for_request(&msg, 200, "OK")
                        .to_tag(&tag)
                        .header("Contact", format!("<{uas_contact}>"))
                        .build()
                        .unwrap();
                    uas.send_response(now, tx, ok).unwrap();
                }
                TxEvent::AckFor2xx { msg, .. } => {
                    // The ACK may arrive after the BYE removed the dialog (the BYE can
                    // overtake a lost-and-retransmitted ACK); otherwise it must match.
                    let call = call_index(&msg);
                    if logs[call].uas_bye == 0 {
                        assert!(uas_dialogs.find_incoming(&msg).is_some());
                    }
                    logs[call].uas_ack += 1;
                }
                TxEvent::Terminated { .. } => {}
                other => panic!("UAS unexpected {other:?}"),
            }
        }
        while let Some(ev) = uac.poll_event() {
            progressed = true;
            match ev {
                TxEvent::Response { tx, msg } => {
                    let status = msg.status().unwrap();
                    if let Some(&call) = invite_txs.get(&tx) {
                        if status == 200 {
                            logs[call].uac_invite_2xx += 1;
                            let invite = uac.request(tx).unwrap().clone();
                            let mut d = Dialog::from_uac(&invite, &msg).unwrap();
                            let ack = with_via(d.create_ack(&msg).unwrap(), transport, &mut rng);
                            uac.send_ack_for_2xx(tx, &ack, uas_addr, transport);
                            let bye = d.create_request(Method::Bye).unwrap();
                            let bye = with_via(bye, transport, &mut rng);
                            let btx = uac.send_request(now, bye, uas_addr, transport).unwrap();
                            bye_txs.insert(btx, call);
                            assert!(uac_dialogs.insert(d).is_none());
                        } else if status >= 300 {
                            logs[call].failures += 1;
                        }
                    } else if let Some(&call) = bye_txs.get(&tx) {
                        if status == 200 {
                            logs[call].uac_bye_2xx += 1;
                            assert!(uac_dialogs.find_incoming(&msg).is_some());
                            let id = uac_dialogs.find_incoming(&msg).unwrap().id.clone();
                            uac_dialogs.remove(&id);
                        } else if status >= 300 {
                            logs[call].failures += 1;
                        }
                    }
                }
                TxEvent::Timeout { tx } => {
                    let call = invite_txs.get(&tx).or(bye_txs.get(&tx)).copied();
                    panic!("UAC timeout on {tx} (call {call:?})");
                }
                TxEvent::Terminated { tx } => {
                    invite_txs.remove(&tx);
                    bye_txs.remove(&tx);
                }
                other => panic!("UAC unexpected {other:?}"),
            }
        }
        if progressed {
            continue;
        }
        // Advance virtual time to the next thing that happens.
        let next_start = (next_call < calls).then(|| t0 + call_spacing * next_call as u32);
        let next = [
            net.next_at(),
            uac.poll_timeout(),
            uas.poll_timeout(),
            next_start,
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else {
            break;
        };
        now = now.max(next);
        // Deliver everything due.
        while let Some(entry) = net.in_flight.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (dest, source, payload) = entry.remove();
            let msg = SipMessage::parse(payload).unwrap();
            if dest == uas_addr {
                uas.handle_incoming(now, msg, source, transport);
            } else {
                uac.handle_incoming(now, msg, source, transport);
            }
        }
        uac.handle_timeout(now);
        uas.handle_timeout(now);
    }
    assert!(uac.is_empty(), "UAC still holds {} transactions", uac.len());
    assert!(uas.is_empty(), "UAS still holds {} transactions", uas.len());
    assert!(net.in_flight.is_empty());
    assert!(uac_dialogs.is_empty() && uas_dialogs.is_empty());
    (logs, net)
}

#[test]
fn lossy_network_every_call_completes_exactly_once() {
    let calls = 300;
    let (logs, net) = run_simulation(0xC0FFEE, calls, 0.2, Transport::Udp);
    let expected = CallLog {
        uas_invite: 1,
        uac_invite_2xx: 1,
        uas_ack: 1,
        uas_bye: 1,
        uac_bye_2xx: 1,
        failures: 0,
    };
    for (i, log) in logs.iter().enumerate() {
        assert_eq!(*log, expected, "call {i}");
    }
    // The loss actually happened (so retransmissions were exercised).
    assert!(
        net.dropped * 10 > net.sent,
        "{} of {}",
        net.dropped,
        net.sent
    );
}

#[test]
fn lossless_network_needs_no_retransmissions() {
    for transport in [Transport::Udp, Transport::Tcp] {
        let (logs, net) = run_simulation(7, 50, 0.0, transport);
        assert!(logs.iter().all(|l| l.uac_bye_2xx == 1 && l.uas_ack == 1));
        // Per call: INVITE, 100, 200, ACK, BYE, 200.
        assert_eq!(net.sent, 50 * 6, "{transport}");
    }
}

#[test]
fn lossy_simulation_other_seeds() {
    for seed in 1..4 {
        let (logs, _) = run_simulation(seed, 100, 0.3, Transport::Udp);
        assert!(
            logs.iter().all(|l| l.uas_invite == 1
                && l.uac_invite_2xx == 1
                && l.uas_ack == 1
                && l.uas_bye == 1
                && l.uac_bye_2xx == 1
                && l.failures == 0),
            "seed {seed}"
        );
    }
}
