//! Deterministic simulations of the engine against in-process SIP peers. A carrier and agent
//! phones are built from their own `TransactionLayer`s and talk to the engine over a seeded lossy
//! in-memory network in virtual time, so thousands of calls run in milliseconds and a failure
//! replays exactly. The addresses are labels; nothing touches a socket.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{AgentPhase, Engine, MediaCommand, Output};
use crate::acd::Requested;
use crate::config::{
    AgentConfig, AnswerMode, Config, DigestAlgorithmName, QueueConfig, RouteConfig, SurveyConfig, SurveyTrigger,
    TrunkConfig,
};
use crate::events::{agent_stream, is_agent_stream, CallEvent, EventKind, HangupSide};
use crate::sip::auth::{compute_response, DigestAlgorithm, DigestResponseInput};
use crate::sip::message::{Method, Request, SipMessage};
use crate::sip::transaction::{new_branch, TimerConfig, TransactionLayer, Transport, TxEvent, TxId};
use crate::survey::{PromptId, Question};

const DID: &str = "5551000";

fn addr(last: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, last], port))
}

fn switch_addr() -> SocketAddr {
    addr(1, 5060)
}

fn config(agents: usize, ring_timeout: u32, wrapup: u32) -> Arc<Config> {
    config_with(agents, ring_timeout, wrapup, None)
}

fn config_with(agents: usize, ring_timeout: u32, wrapup: u32, survey: Option<SurveyConfig>) -> Arc<Config> {
    let mut cfg = Config::default();
    cfg.sip.listen = switch_addr();
    // The simulated phones speak both; SHA-256 first exercises RFC 8760.
    cfg.sip.digest_algorithms = vec![DigestAlgorithmName::Sha256, DigestAlgorithmName::Md5];
    cfg.trunks =
        vec![TrunkConfig { name: "carrier".into(), allow: vec!["127.0.0.0/8".parse().expect("cidr")], answer: None }];
    cfg.routes = vec![RouteConfig { did: DID.into(), queue: "support".into() }];
    cfg.queues =
        vec![QueueConfig { ring_timeout_seconds: ring_timeout, survey, ..QueueConfig::named("support", &["support"]) }];
    cfg.agents = (0..agents)
        .map(|i| AgentConfig {
            id: format!("agent{i}"),
            name: None,
            password: format!("pw{i}"),
            skills: vec!["support".into()],
            wrapup_seconds: wrapup,
        })
        .collect();
    Arc::new(cfg)
}

/// A message in flight.
struct Packet {
    at: Instant,
    from: SocketAddr,
    to: SocketAddr,
    payload: Bytes,
}

/// What an agent phone does when rung.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    After(Duration),
    Never,
}

struct Phone {
    addr: SocketAddr,
    txl: TransactionLayer,
    user: String,
    password: String,
    answer: Answer,
    registered: bool,
    /// Pending answers: (when, server tx, INVITE).
    to_answer: Vec<(Instant, TxId, SipMessage)>,
    answered: u32,
    /// When set, the phone hangs up this long after answering.
    hangup_after: Option<Duration>,
    /// Scheduled hangups: (when, the INVITE answered).
    to_hang_up: Vec<(Instant, SipMessage)>,
    /// The last INVITE this phone answered.
    answered_invite: Option<SipMessage>,
    /// CANCELs of ringing INVITEs received.
    cancelled: u32,
}

struct CarrierCall {
    invite_tx: TxId,
    call_id: String,
    from_tag: String,
    to_tag: Option<String>,
    remote_target: Option<String>,
    hangup_at: Option<Instant>,
    talk: Duration,
    ended: bool,
    /// Every response to the INVITE, in order: (status, To tag).
    responses: Vec<(u16, Option<String>)>,
}

struct Carrier {
    addr: SocketAddr,
    txl: TransactionLayer,
    calls: Vec<CarrierCall>,
    by_tx: HashMap<TxId, usize>,
    by_call_id: HashMap<String, usize>,
    /// Whether the carrier ACKs our 200s (false: a dead caller leg).
    acks: bool,
}

struct Sim {
    now: Instant,
    engine: Engine,
    rng: StdRng,
    loss: f64,
    net: Vec<Packet>,
    carrier: Carrier,
    phones: Vec<Phone>,
    /// Events of call streams.
    events: Vec<CallEvent>,
    /// Events of agents' own streams (state changes, registrations).
    agent_events: Vec<CallEvent>,
    pending_media: VecDeque<super::CallRef>,
    next_port: u16,
    /// Prompts the engine asked to play: (call, prompt, after_commit).
    prompts: Vec<(super::CallRef, PromptId, bool)>,
    /// Addresses whose packets are lost (a peer that has gone away).
    blackholes: Vec<SocketAddr>,
    /// The number of the latest prompt the engine asked to play, per call.
    playbacks: HashMap<super::CallRef, u64>,
    /// What the engine asked to keep across a restart, in order.
    durable: Vec<super::durable::DurableWrite>,
}

fn sdp(port: u16) -> Bytes {
    Bytes::from(format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
    ))
}

impl Sim {
    fn new(seed: u64, loss: f64, agents: usize, answer: Answer, ring_timeout: u32) -> Sim {
        Sim::with_config(seed, loss, agents, answer, config(agents, ring_timeout, 0))
    }

    fn with_config(seed: u64, loss: f64, agents: usize, answer: Answer, cfg: Arc<Config>) -> Sim {
        let now = Instant::now();
        let timers = TimerConfig::default();
        let phones = (0..agents)
            .map(|i| Phone {
                addr: addr(10 + i as u8 % 200, 6000 + i as u16),
                txl: TransactionLayer::new(timers),
                user: format!("agent{i}"),
                password: format!("pw{i}"),
                answer,
                registered: false,
                to_answer: Vec::new(),
                answered: 0,
                hangup_after: None,
                to_hang_up: Vec::new(),
                answered_invite: None,
                cancelled: 0,
            })
            .collect();
        Sim {
            now,
            engine: Engine::new(cfg, now, 1_700_000_000_000, seed),
            rng: StdRng::seed_from_u64(seed ^ 0x5eed),
            loss,
            net: Vec::new(),
            carrier: Carrier {
                addr: addr(2, 5080),
                txl: TransactionLayer::new(timers),
                calls: Vec::new(),
                by_tx: HashMap::new(),
                by_call_id: HashMap::new(),
                acks: true,
            },
            phones,
            events: Vec::new(),
            agent_events: Vec::new(),
            pending_media: VecDeque::new(),
            next_port: 20000,
            prompts: Vec::new(),
            blackholes: Vec::new(),
            playbacks: HashMap::new(),
            durable: Vec::new(),
        }
    }

    fn send(&mut self, from: SocketAddr, to: SocketAddr, payload: Bytes) {
        if self.rng.gen_bool(self.loss) || self.blackholes.contains(&to) {
            return;
        }
        let delay = Duration::from_millis(self.rng.gen_range(5..40));
        self.net.push(Packet { at: self.now + delay, from, to, payload });
    }

    /// Runs the world until `until`, stepping from one due thing to the next.
    fn run_until(&mut self, until: Instant) {
        loop {
            self.flush();
            let mut next: Option<Instant> = self.engine.poll_timeout();
            let mut consider = |t: Option<Instant>| {
                if let Some(t) = t {
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
            };
            consider(self.net.iter().map(|p| p.at).min());
            consider(self.carrier.txl.poll_timeout());
            consider(self.carrier.calls.iter().filter(|c| !c.ended).filter_map(|c| c.hangup_at).min());
            for p in &mut self.phones {
                consider(p.txl.poll_timeout());
                consider(p.to_answer.iter().map(|a| a.0).min());
                consider(p.to_hang_up.iter().map(|a| a.0).min());
            }
            let Some(t) = next else { break };
            if t > until {
                break;
            }
            self.now = self.now.max(t);
            self.step();
        }
        self.now = self.now.max(until);
    }

    fn step(&mut self) {
        let now = self.now;
        // Deliver due packets in send order.
        let mut due = Vec::new();
        let mut i = 0;
        while i < self.net.len() {
            if self.net[i].at <= now {
                due.push(self.net.remove(i));
            } else {
                i += 1;
            }
        }
        for p in due {
            if p.to == switch_addr() {
                self.engine.handle_inbound(now, Transport::Udp, p.from, p.payload);
            } else if p.to == self.carrier.addr {
                if let Ok(msg) = SipMessage::parse(p.payload) {
                    self.carrier.txl.handle_incoming(now, msg, p.from, Transport::Udp);
                }
            } else if let Some(ph) = self.phones.iter_mut().find(|ph| ph.addr == p.to) {
                if let Ok(msg) = SipMessage::parse(p.payload) {
                    ph.txl.handle_incoming(now, msg, p.from, Transport::Udp);
                }
            }
        }
        self.engine.handle_timeout(now);
        self.carrier.txl.handle_timeout(now);
        for ph in &mut self.phones {
            ph.txl.handle_timeout(now);
        }
        self.carrier_events();
        self.phone_events();
        // Scheduled hangups and answers.
        for idx in 0..self.carrier.calls.len() {
            let c = &self.carrier.calls[idx];
            if !c.ended && c.hangup_at.is_some_and(|t| t <= now) {
                self.carrier_bye(idx);
            }
        }
        for pi in 0..self.phones.len() {
            let due: Vec<(Instant, TxId, SipMessage)> = {
                let ph = &mut self.phones[pi];
                let (due, keep): (Vec<_>, Vec<_>) = ph.to_answer.drain(..).partition(|a| a.0 <= now);
                ph.to_answer = keep;
                due
            };
            for (_, tx, invite) in due {
                let ph = &mut self.phones[pi];
                let resp = crate::sip::message::Response::for_request(&invite, 200, "OK")
                    .to_tag(&format!("ph{pi}"))
                    .header("Contact", format!("<sip:{}@{}>", ph.user, ph.addr))
                    .body("application/sdp", sdp(30000 + pi as u16))
                    .build()
                    .expect("200");
                if ph.txl.send_response(now, tx, resp).is_ok() {
                    ph.answered += 1;
                    ph.answered_invite = Some(invite.clone());
                    if let Some(d) = ph.hangup_after {
                        ph.to_hang_up.push((now + d, invite));
                    }
                }
            }
            let hangups: Vec<SipMessage> = {
                let ph = &mut self.phones[pi];
                let (due, keep): (Vec<_>, Vec<_>) = ph.to_hang_up.drain(..).partition(|h| h.0 <= now);
                ph.to_hang_up = keep;
                due.into_iter().map(|h| h.1).collect()
            };
            for invite in hangups {
                let branch = new_branch(&mut self.rng);
                let ph = &mut self.phones[pi];
                let target = invite.contacts().ok().and_then(|c| match c {
                    crate::sip::message::Contacts::List(l) => l.first().map(|a| a.uri.to_string()),
                    _ => None,
                });
                let bye = Request::builder(Method::Bye, target.unwrap_or_default())
                    .header("Via", format!("SIP/2.0/UDP {};branch={branch};rport", ph.addr))
                    .header("Max-Forwards", "70")
                    .header("From", format!("{};tag=ph{pi}", invite.header("To").unwrap_or("")))
                    .header("To", invite.header("From").unwrap_or(""))
                    .header("Call-ID", invite.call_id().unwrap_or(""))
                    .header("CSeq", "1 BYE")
                    .build()
                    .expect("bye");
                let _ = ph.txl.send_request(now, bye, switch_addr(), Transport::Udp);
            }
        }
    }

    fn flush(&mut self) {
        let now = self.now;
        while let Some(call) = self.pending_media.pop_front() {
            let p = self.next_port;
            self.next_port = self.next_port.wrapping_add(4).max(20000);
            self.engine.handle_media_ready(now, call, p, p + 2);
        }
        while let Some(out) = self.engine.poll_output() {
            match out {
                Output::Transmit(t) => self.send(switch_addr(), t.dest, t.payload),
                Output::Media(MediaCommand::Allocate { call }) => self.pending_media.push_back(call),
                Output::Media(MediaCommand::PlayPrompt { call, prompt, after_commit, playback }) => {
                    self.prompts.push((call, prompt, after_commit));
                    self.playbacks.insert(call, playback);
                }
                Output::Media(_) => {}
                Output::Durable(write) => self.durable.push(write),
                Output::Event(ev) if is_agent_stream(&ev.call_id) => self.agent_events.push(ev),
                Output::Event(ev) => self.events.push(ev),
            }
        }
        while let Some(t) = self.carrier.txl.poll_transmit() {
            let from = self.carrier.addr;
            self.send(from, t.dest, t.payload);
        }
        for i in 0..self.phones.len() {
            while let Some(t) = self.phones[i].txl.poll_transmit() {
                let from = self.phones[i].addr;
                self.send(from, t.dest, t.payload);
            }
        }
        if !self.pending_media.is_empty() {
            self.flush();
        }
    }

    fn place_call(&mut self, ani: &str, talk: Duration) {
        let n = self.carrier.calls.len();
        let branch = new_branch(&mut self.rng);
        let call_id = format!("carrier-{n}");
        let from_tag = format!("c{n}");
        let req = Request::builder(Method::Invite, format!("sip:{DID}@{}", switch_addr()))
            .header("Via", format!("SIP/2.0/UDP {};branch={branch};rport", self.carrier.addr))
            .header("Max-Forwards", "70")
            .header("From", format!("<sip:{ani}@{}>;tag={from_tag}", self.carrier.addr))
            .header("To", format!("<sip:{DID}@{}>", switch_addr()))
            .header("Call-ID", &call_id)
            .header("CSeq", "1 INVITE")
            .header("Contact", format!("<sip:{ani}@{}>", self.carrier.addr))
            .body("application/sdp", sdp(40000 + (n % 1000) as u16))
            .build()
            .expect("invite");
        let tx = self.carrier.txl.send_request(self.now, req, switch_addr(), Transport::Udp).expect("send");
        self.carrier.by_tx.insert(tx, n);
        self.carrier.by_call_id.insert(call_id.clone(), n);
        self.carrier.calls.push(CarrierCall {
            invite_tx: tx,
            call_id,
            from_tag,
            to_tag: None,
            remote_target: None,
            hangup_at: None,
            talk,
            ended: false,
            responses: Vec::new(),
        });
    }

    /// The carrier gives up on call `idx` before it is answered.
    fn carrier_cancel(&mut self, idx: usize) {
        let tx = self.carrier.calls[idx].invite_tx;
        self.carrier.calls[idx].ended = true;
        self.carrier.txl.cancel(self.now, tx).expect("CANCEL");
    }

    fn carrier_bye(&mut self, idx: usize) {
        let branch = new_branch(&mut self.rng);
        let c = &mut self.carrier.calls[idx];
        c.ended = true;
        let target = c.remote_target.clone().unwrap_or_else(|| format!("sip:{}", switch_addr()));
        let req = Request::builder(Method::Bye, target)
            .header("Via", format!("SIP/2.0/UDP {};branch={branch};rport", self.carrier.addr))
            .header("Max-Forwards", "70")
            .header("From", format!("<sip:x@{}>;tag={}", self.carrier.addr, c.from_tag))
            .header("To", format!("<sip:{DID}@{}>;tag={}", switch_addr(), c.to_tag.clone().unwrap_or_default()))
            .header("Call-ID", &c.call_id)
            .header("CSeq", "2 BYE")
            .build()
            .expect("bye");
        let _ = self.carrier.txl.send_request(self.now, req, switch_addr(), Transport::Udp);
    }

    fn carrier_events(&mut self) {
        let now = self.now;
        while let Some(ev) = self.carrier.txl.poll_event() {
            match ev {
                TxEvent::Response { tx, msg } => {
                    let Some(&idx) = self.carrier.by_tx.get(&tx) else { continue };
                    if self.carrier.calls[idx].invite_tx != tx {
                        continue;
                    }
                    let tag = msg.to().ok().and_then(|t| t.tag().map(str::to_string));
                    self.carrier.calls[idx].responses.push((msg.status().unwrap_or(0), tag));
                    if msg.status() != Some(200) || !self.carrier.acks {
                        continue;
                    }
                    let to_tag = msg.to().ok().and_then(|t| t.tag().map(str::to_string));
                    let target = msg
                        .contacts()
                        .ok()
                        .and_then(|c| match c {
                            crate::sip::message::Contacts::List(l) => l.first().map(|a| a.uri.to_string()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    let branch = new_branch(&mut self.rng);
                    let c = &mut self.carrier.calls[idx];
                    c.to_tag = to_tag.clone();
                    c.remote_target = Some(target.clone());
                    if c.hangup_at.is_none() {
                        c.hangup_at = Some(now + c.talk);
                    }
                    let ack = Request::builder(Method::Ack, &target)
                        .header("Via", format!("SIP/2.0/UDP {};branch={branch};rport", self.carrier.addr))
                        .header("Max-Forwards", "70")
                        .header("From", format!("<sip:x@{}>;tag={}", self.carrier.addr, c.from_tag))
                        .header("To", format!("<sip:{DID}@{}>;tag={}", switch_addr(), to_tag.unwrap_or_default()))
                        .header("Call-ID", &c.call_id)
                        .header("CSeq", "1 ACK")
                        .build()
                        .expect("ack");
                    self.carrier.txl.send_ack_for_2xx(tx, &ack, switch_addr(), Transport::Udp);
                }
                TxEvent::Request { tx, msg, .. } => {
                    // BYE from the switch (agent hung up, max wait, shutdown).
                    let idx = msg.call_id().ok().and_then(|id| self.carrier.by_call_id.get(id).copied());
                    if let Some(i) = idx {
                        self.carrier.calls[i].ended = true;
                    }
                    let resp = crate::sip::message::Response::for_request(&msg, 200, "OK").build().expect("200");
                    let _ = self.carrier.txl.send_response(now, tx, resp);
                }
                _ => {}
            }
        }
    }

    fn phone_events(&mut self) {
        let now = self.now;
        for pi in 0..self.phones.len() {
            loop {
                let Some(ev) = self.phones[pi].txl.poll_event() else { break };
                let ph = &mut self.phones[pi];
                match ev {
                    TxEvent::Request { tx, msg, .. } => match msg.method() {
                        Some(Method::Invite) => {
                            let ringing = crate::sip::message::Response::for_request(&msg, 180, "Ringing")
                                .to_tag(&format!("ph{pi}"))
                                .build()
                                .expect("180");
                            let _ = ph.txl.send_response(now, tx, ringing);
                            if let Answer::After(d) = ph.answer {
                                ph.to_answer.push((now + d, tx, msg));
                            }
                        }
                        _ => {
                            let resp =
                                crate::sip::message::Response::for_request(&msg, 200, "OK").build().expect("200");
                            let _ = ph.txl.send_response(now, tx, resp);
                        }
                    },
                    TxEvent::CancelReceived { invite_tx, .. } => {
                        ph.cancelled += 1;
                        ph.to_answer.retain(|a| a.1 != invite_tx);
                        if let Some(inv) = ph.txl.request(invite_tx).cloned() {
                            let resp = crate::sip::message::Response::for_request(&inv, 487, "Request Terminated")
                                .to_tag(&format!("ph{pi}"))
                                .build()
                                .expect("487");
                            let _ = ph.txl.send_response(now, invite_tx, resp);
                        }
                    }
                    TxEvent::Response { msg, .. } if msg.cseq().is_ok_and(|c| c.method == Method::Register) => {
                        match msg.status() {
                            Some(401) => {
                                let challenge = msg.header_values("WWW-Authenticate").next().map(str::to_string);
                                let seq = msg.cseq().map(|c| c.seq).unwrap_or(1) + 1;
                                self.register(pi, seq, challenge.as_deref());
                            }
                            Some(200) => self.phones[pi].registered = true,
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn register(&mut self, pi: usize, cseq: u32, challenge: Option<&str>) {
        let branch = new_branch(&mut self.rng);
        let ph = &mut self.phones[pi];
        let uri = format!("sip:{}", switch_addr());
        let mut b = Request::builder(Method::Register, &uri)
            .header("Via", format!("SIP/2.0/UDP {};branch={branch};rport", ph.addr))
            .header("Max-Forwards", "70")
            .header("From", format!("<sip:{}@{}>;tag=r{pi}", ph.user, switch_addr()))
            .header("To", format!("<sip:{}@{}>", ph.user, switch_addr()))
            .header("Call-ID", format!("reg-{pi}"))
            .header("CSeq", format!("{cseq} REGISTER"))
            .header("Contact", format!("<sip:{}@{}>", ph.user, ph.addr))
            .header("Expires", "3600");
        if let Some(ch) = challenge {
            let param = |name: &str| -> String {
                let key = format!("{name}=\"");
                ch.split(&key).nth(1).and_then(|r| r.split('"').next()).unwrap_or("").to_string()
            };
            let (realm, nonce) = (param("realm"), param("nonce"));
            let algorithm = if ch.contains("SHA-256") { DigestAlgorithm::Sha256 } else { DigestAlgorithm::Md5 };
            let response = compute_response(&DigestResponseInput {
                algorithm,
                username: &ph.user,
                realm: &realm,
                password: &ph.password,
                method: "REGISTER",
                uri: &uri,
                nonce: &nonce,
                qop_auth: Some(("00000001", "abcdef")),
            });
            b = b.header(
                "Authorization",
                format!(
                    "Digest username=\"{}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm={}, qop=auth, nc=00000001, cnonce=\"abcdef\"",
                    ph.user,
                    algorithm.as_token()
                ),
            );
        }
        let req = b.build().expect("register");
        let _ = ph.txl.send_request(self.now, req, switch_addr(), Transport::Udp);
    }

    fn register_all_and_ready(&mut self) {
        for pi in 0..self.phones.len() {
            self.register(pi, 1, None);
        }
        let t = self.now + Duration::from_secs(30);
        self.run_until(t);
        for pi in 0..self.phones.len() {
            assert!(self.phones[pi].registered, "phone {pi} did not register");
            let id = self.phones[pi].user.clone();
            self.engine.set_agent_state(self.now, &id, Requested::Ready).expect("ready");
        }
    }

    fn events_by_call(&self) -> BTreeMap<String, Vec<&CallEvent>> {
        let mut m: BTreeMap<String, Vec<&CallEvent>> = BTreeMap::new();
        for e in &self.events {
            m.entry(e.call_id.clone()).or_default().push(e);
        }
        m
    }

    /// Each agent's stream of state and registration events.
    fn events_by_agent(&self) -> BTreeMap<String, Vec<&CallEvent>> {
        let mut m: BTreeMap<String, Vec<&CallEvent>> = BTreeMap::new();
        for e in &self.agent_events {
            m.entry(e.call_id.clone()).or_default().push(e);
        }
        m
    }

    /// The media plane reports that the latest prompt of `call` has played out.
    fn prompt_finished(&mut self, now: Instant, call: super::CallRef) {
        // The media plane has started every prompt the engine asked for so far.
        self.flush();
        let playback = self.playbacks.get(&call).copied().unwrap_or(0);
        self.engine.handle_prompt_finished(now, call, playback);
    }

    /// `agent`'s state changes as (state, reason, cause).
    fn agent_states(&self, agent: &str) -> Vec<(String, Option<String>, String)> {
        self.events_by_agent()
            .remove(&agent_stream(agent))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| match &e.kind {
                EventKind::AgentStateChanged { state, reason, cause, .. } => {
                    Some((state.clone(), reason.clone(), cause.clone()))
                }
                _ => None,
            })
            .collect()
    }
}

fn assert_logs_are_gap_free(sim: &Sim) {
    for (id, evs) in sim.events_by_call() {
        for (i, e) in evs.iter().enumerate() {
            assert_eq!(e.seq as usize, i + 1, "call {id}: events out of sequence: {evs:?}");
        }
        assert!(matches!(evs[0].kind, EventKind::CallOffered { .. }), "call {id} starts with {:?}", evs[0].kind);
    }
    for (id, evs) in sim.events_by_agent() {
        for (i, e) in evs.iter().enumerate() {
            assert_eq!(e.seq as usize, i + 1, "{id}: events out of sequence: {evs:?}");
        }
    }
}

#[test]
fn a_call_is_queued_offered_bridged_and_ended_by_the_caller() {
    let mut sim = Sim::new(1, 0.0, 1, Answer::After(Duration::from_secs(2)), 15);
    sim.register_all_and_ready();
    sim.place_call("15550001111", Duration::from_secs(20));
    let t = sim.now + Duration::from_secs(60);
    sim.run_until(t);
    assert_logs_are_gap_free(&sim);
    let kinds: Vec<&str> = sim
        .events
        .iter()
        .map(|e| match &e.kind {
            EventKind::CallOffered { .. } => "offered",
            EventKind::CallQueued { .. } => "queued",
            EventKind::AgentOffered { .. } => "agent_offered",
            EventKind::AgentRinging { .. } => "ringing",
            EventKind::AgentAnswered { .. } => "answered",
            EventKind::CallBridged { .. } => "bridged",
            EventKind::CallEnded { .. } => "ended",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["offered", "queued", "agent_offered", "ringing", "answered", "bridged", "ended"]);
    // Every offer says why this agent was chosen.
    let why = sim.events.iter().find_map(|e| match &e.kind {
        EventKind::AgentOffered { why, .. } => why.clone(),
        _ => None,
    });
    let why = why.expect("agent.offered carries its decision");
    assert_eq!(
        (why.strategy.as_str(), why.rule.as_str(), why.eligible, why.rank),
        ("longest_idle", "longest_idle", 1, 0)
    );
    match &sim.events.last().expect("events").kind {
        EventKind::CallEnded { side, .. } => assert_eq!(*side, HangupSide::Caller),
        k => panic!("last event {k:?}"),
    }
    assert_eq!(sim.engine.active_calls(), 0);
}

#[test]
fn rona_cancels_and_offers_the_next_agent() {
    let mut sim = Sim::new(2, 0.0, 2, Answer::Never, 5);
    sim.phones[1].answer = Answer::After(Duration::from_secs(1));
    sim.register_all_and_ready();
    sim.place_call("15550002222", Duration::from_secs(10));
    let t = sim.now + Duration::from_secs(60);
    sim.run_until(t);
    assert_logs_are_gap_free(&sim);
    let no_answer = sim.events.iter().filter(|e| matches!(e.kind, EventKind::AgentNoAnswer { .. })).count();
    assert_eq!(no_answer, 1);
    let bridged: Vec<&CallEvent> =
        sim.events.iter().filter(|e| matches!(e.kind, EventKind::CallBridged { .. })).collect();
    assert_eq!(bridged.len(), 1);
    assert_eq!(bridged[0].agent.as_deref(), Some("agent1"));
    let a0 = sim.engine.agents(sim.now).into_iter().find(|a| a.id == "agent0").expect("agent0");
    assert_eq!(a0.not_ready_reason.as_deref(), Some("rona"));
}

/// SIGTERM after the last call ended but while its BYE to a vanished carrier still waits for an
/// answer: there is no live call, so the engine is drained at once (it used to wait for that BYE,
/// and the shell gave up only after its 5 s drain limit).
#[test]
fn a_drain_with_no_live_call_does_not_wait_for_byes_of_ended_calls() {
    let mut sim = Sim::new(5, 0.0, 1, Answer::After(Duration::from_millis(500)), 15);
    sim.phones[0].hangup_after = Some(Duration::from_secs(3));
    sim.register_all_and_ready();
    sim.place_call("15550005555", Duration::from_secs(60));
    let t = sim.now + Duration::from_secs(2);
    sim.run_until(t);
    assert!(sim.events.iter().any(|e| matches!(e.kind, EventKind::CallBridged { .. })));
    // The carrier goes away; the agent hangs up; our BYE to the carrier is never answered.
    let carrier = sim.carrier.addr;
    sim.blackholes.push(carrier);
    let t = sim.now + Duration::from_secs(3);
    sim.run_until(t);
    assert_eq!(sim.engine.active_calls(), 0, "the call ended on the agent's BYE");
    sim.engine.begin_shutdown(sim.now);
    assert!(sim.engine.is_drained(), "nothing was live at shutdown, so nothing is left to drain");

    // A call live at shutdown is waited for until its BYE is answered.
    let mut sim = Sim::new(6, 0.0, 1, Answer::After(Duration::from_millis(500)), 15);
    sim.register_all_and_ready();
    sim.place_call("15550005556", Duration::from_secs(60));
    let t = sim.now + Duration::from_secs(2);
    sim.run_until(t);
    sim.engine.begin_shutdown(sim.now);
    assert!(!sim.engine.is_drained(), "the BYEs of the live call are outstanding");
    let t = sim.now + Duration::from_secs(2);
    sim.run_until(t);
    assert!(sim.engine.is_drained());
}

/// What a bridged call leaves for restart recovery, and what the engine does with it at the
/// next start: the registrations and both dialogs are written while the call is live; a new
/// engine given them restores the binding and Ready state, closes the call with cause `restart`
/// (continuing its sequence) and sends each leg its BYE.
#[test]
fn recovery_restores_bindings_and_agent_state_and_hangs_up_unfinished_calls() {
    use super::durable::{AgentRecord, DurableWrite, Recovery, UnfinishedCall};
    let mut sim = Sim::new(8, 0.0, 1, Answer::After(Duration::from_millis(500)), 15);
    sim.register_all_and_ready();
    sim.place_call("15550008080", Duration::from_secs(600));
    let t = sim.now + Duration::from_secs(3);
    sim.run_until(t);
    let call_id = sim.events[0].call_id.clone();
    let last_seq = sim.events.iter().map(|e| e.seq).max().unwrap_or(0);
    let mut bindings = Vec::new();
    let mut dialogs = Vec::new();
    for w in &sim.durable {
        match w {
            DurableWrite::SaveBinding(b) => bindings.push(b.clone()),
            DurableWrite::SaveDialog(d) => dialogs.push(d.clone()),
            other => panic!("unexpected write while the call is live: {other:?}"),
        }
    }
    assert_eq!(bindings.len(), 1, "{:?}", sim.durable);
    assert_eq!(dialogs.len(), 2, "caller and agent dialogs: {:?}", sim.durable);
    let agent_seq = sim.agent_events.iter().map(|e| e.seq).max().unwrap_or(0);

    // The process dies; a new engine starts with what the store kept.
    let now = sim.now + Duration::from_secs(5);
    let mut engine = Engine::new(config(1, 15, 0), now, 1_700_000_100_000, 99);
    let recovery = Recovery {
        bindings: bindings
            .iter()
            .map(|b| super::durable::BindingRecord { expires_at_ms: 1_700_000_100_000 + 3_000_000, ..b.clone() })
            .collect(),
        dialogs: dialogs.clone(),
        unfinished_calls: vec![UnfinishedCall { call_id: call_id.clone(), last_seq }],
        agents: vec![AgentRecord {
            agent: "agent0".into(),
            last_seq: agent_seq,
            last_state: Some(("on_call".into(), None)),
        }],
    };
    engine.handle_recovery(now, recovery);
    let mut byes = Vec::new();
    let mut events = Vec::new();
    while let Some(out) = engine.poll_output() {
        match out {
            Output::Transmit(t) => {
                if let Ok(msg) = SipMessage::parse(t.payload) {
                    if msg.method() == Some(Method::Bye) {
                        byes.push(t.dest);
                    }
                }
            }
            Output::Event(ev) => events.push(ev),
            _ => {}
        }
    }
    byes.sort();
    let mut dests: Vec<SocketAddr> = dialogs.iter().map(|d| d.dest).collect();
    dests.sort();
    assert_eq!(byes, dests, "a BYE to each leg of the unfinished call");
    let ended = events.iter().find(|e| e.call_id == call_id).expect("call.ended");
    assert_eq!(ended.seq, last_seq + 1);
    assert!(matches!(&ended.kind, EventKind::CallEnded { cause, side: HangupSide::System, .. } if cause == "restart"));
    let restored = events.iter().find(|e| e.call_id == agent_stream("agent0")).expect("agent event");
    assert_eq!(restored.seq, agent_seq + 1, "the agent's stream continues its numbering");
    let view = engine.agents(now).into_iter().next().expect("agent0");
    assert!(view.registered, "binding restored");
    assert_eq!(view.state, super::AgentPhase::Ready);
}

/// Every agent state change is a durable event in the agent's own stream, with its reason and
/// cause; registration is one too.
#[test]
fn agent_state_changes_and_registrations_are_events_in_the_agents_stream() {
    let mut sim = Sim::new(2, 0.0, 2, Answer::Never, 5);
    sim.phones[1].answer = Answer::After(Duration::from_secs(1));
    sim.register_all_and_ready();
    sim.place_call("15550002222", Duration::from_secs(10));
    let t = sim.now + Duration::from_secs(60);
    sim.run_until(t);
    sim.engine.set_agent_state(sim.now, "agent0", Requested::NotReady("lunch".into())).expect("lunch");
    sim.engine.set_agent_state(sim.now, "agent0", Requested::LoggedOut).expect("log out");
    let t = sim.now + Duration::from_secs(1);
    sim.run_until(t);
    assert_logs_are_gap_free(&sim);
    let s = |state: &str, reason: Option<&str>, cause: &str| {
        (state.to_string(), reason.map(str::to_string), cause.to_string())
    };
    assert_eq!(
        sim.agent_states("agent0"),
        vec![
            s("ready", None, "requested"),
            s("offered", None, "offered"),
            s("not_ready", Some("rona"), "offer_failed"),
            s("not_ready", Some("lunch"), "requested"),
            s("logged_out", None, "requested"),
        ]
    );
    assert_eq!(
        sim.agent_states("agent1"),
        vec![
            s("ready", None, "requested"),
            s("offered", None, "offered"),
            s("on_call", None, "answered"),
            s("ready", None, "call_ended"),
        ]
    );
    let agent1 = sim.events_by_agent().remove(&agent_stream("agent1")).expect("agent1's stream");
    assert!(
        matches!(&agent1[0].kind, EventKind::AgentRegistered { agent, contact } if agent == "agent1" && contact.contains("agent1")),
        "{:?}",
        agent1[0].kind
    );
    // The offer names its call.
    let offered_call = agent1.iter().find_map(|e| match &e.kind {
        EventKind::AgentStateChanged { state, call, .. } if state == "offered" => call.clone(),
        _ => None,
    });
    assert!(offered_call.is_some_and(|c| sim.events_by_call().contains_key(&c)));
}

#[test]
fn caller_hanging_up_in_queue_is_abandoned() {
    let mut sim = Sim::new(3, 0.0, 1, Answer::After(Duration::from_secs(1)), 15);
    // The agent never registers, so the call waits.
    sim.place_call("15550003333", Duration::from_secs(5));
    let t = sim.now + Duration::from_secs(30);
    sim.run_until(t);
    assert_logs_are_gap_free(&sim);
    assert!(sim.events.iter().any(|e| matches!(e.kind, EventKind::CallAbandoned { .. })));
    assert_eq!(sim.engine.active_calls(), 0);
}

#[test]
fn thousands_of_calls_over_a_lossy_network_all_complete() {
    // 4 calls a second, each held 8 s by the caller, against 60 agents: about 32 busy at once.
    let mut sim = Sim::new(42, 0.05, 60, Answer::After(Duration::from_millis(800)), 15);
    sim.register_all_and_ready();
    let calls = 2000;
    for i in 0..calls {
        sim.place_call(&format!("1555{i:07}"), Duration::from_secs(8));
        let t = sim.now + Duration::from_millis(250);
        sim.run_until(t);
    }
    let t = sim.now + Duration::from_secs(600);
    sim.run_until(t);
    assert_logs_are_gap_free(&sim);
    let by_call = sim.events_by_call();
    assert_eq!(by_call.len(), calls, "every INVITE became exactly one call");
    for (id, evs) in &by_call {
        assert!(
            evs.iter().any(|e| matches!(e.kind, EventKind::CallEnded { .. })),
            "call {id} never ended: {:?}",
            evs.iter().map(|e| &e.kind).collect::<Vec<_>>()
        );
    }
    let bridged = sim.events.iter().filter(|e| matches!(e.kind, EventKind::CallBridged { .. })).count();
    assert!(bridged >= calls * 95 / 100, "only {bridged} of {calls} calls reached an agent");
    assert_eq!(sim.engine.active_calls(), 0);
}

/// Every per-call structure of the engine stays bounded however many calls go through it: after
/// thousands of finished calls, only the bounded memory of ended calls (for late dispositions)
/// grows, up to its cap, and everything else holds the live calls only.
#[test]
fn per_call_state_is_bounded_after_tens_of_thousands_of_calls() {
    let mut sim = Sim::new(7, 0.0, 40, Answer::After(Duration::from_millis(300)), 15);
    sim.register_all_and_ready();
    let mut samples = Vec::new();
    let batches = 4;
    let per_batch = 5_000;
    for b in 0..batches {
        for i in 0..per_batch {
            sim.place_call(&format!("1666{:07}", b * per_batch + i), Duration::from_secs(2));
            let t = sim.now + Duration::from_millis(100);
            sim.run_until(t);
        }
        // Let the batch finish and every transaction time out.
        let t = sim.now + Duration::from_secs(120);
        sim.run_until(t);
        sim.events.clear();
        sim.agent_events.clear();
        sim.carrier.calls.iter_mut().for_each(|c| c.ended = true);
        samples.push(sim.engine.retained());
    }
    let last = samples.last().copied().expect("samples");
    assert_eq!(sim.engine.active_calls(), 0);
    assert_eq!(last.calls, 0, "{samples:?}");
    assert_eq!(last.sip_call_ids, 0, "{samples:?}");
    assert_eq!(last.client_transactions, 0, "{samples:?}");
    assert_eq!(last.survey_calls, 0, "{samples:?}");
    assert_eq!(last.acd, 0, "{samples:?}");
    assert!(last.transaction_layer < 100, "{samples:?}");
    assert!(last.ended_calls <= super::ENDED_CALLS_REMEMBERED, "{samples:?}");
}

fn survey_sim() -> Sim {
    let survey = SurveyConfig {
        enabled: true,
        trigger: SurveyTrigger::AgentHangup,
        questions: vec![Question::Csat, Question::Resolved],
        digit_timeout_seconds: 5,
        max_attempts: 3,
    };
    let cfg = config_with(1, 15, 0, Some(survey));
    let mut sim = Sim::with_config(7, 0.0, 1, Answer::After(Duration::from_secs(1)), cfg);
    sim.phones[0].hangup_after = Some(Duration::from_secs(5));
    sim.register_all_and_ready();
    // The caller would stay far longer than the agent talks.
    sim.place_call("15550004444", Duration::from_secs(600));
    let t = sim.now + Duration::from_secs(10);
    sim.run_until(t);
    sim
}

fn kinds(sim: &Sim) -> Vec<String> {
    sim.events
        .iter()
        .map(|e| serde_json::to_value(&e.kind).expect("json")["type"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The engine numbers its prompts and ignores a "finished" for any but the latest: a report that
/// crossed a newer prompt does not advance the survey (this check used to live in the shell).
#[test]
fn a_stale_prompt_finished_report_is_ignored() {
    let mut sim = survey_sim();
    let call = sim.prompts.first().map(|p| p.0).expect("a survey prompt");
    let now = sim.now;
    let csat = sim.playbacks[&call];
    sim.engine.handle_prompt_finished(now, call, csat + 7);
    sim.engine.handle_prompt_finished(now, call, csat.wrapping_sub(1));
    sim.flush();
    assert_eq!(sim.prompts.len(), 1, "no report but the current prompt's counts: {:?}", sim.prompts);
    // The caller answers while the question plays; then the current prompt's report arrives
    // twice (a duplicate): only the first counts.
    sim.engine.handle_prompt_finished(now, call, csat);
    sim.engine.handle_dtmf(now, call, '4');
    sim.flush();
    let resolved = sim.playbacks[&call];
    assert!(resolved > csat);
    sim.engine.handle_prompt_finished(now, call, csat);
    sim.flush();
    let played: Vec<PromptId> = sim.prompts.iter().map(|p| p.1).collect();
    assert_eq!(played, vec![PromptId::SurveyCsat, PromptId::SurveyResolved]);
}

#[test]
fn agent_hangup_starts_the_survey_and_answers_are_recorded_before_thanks() {
    let mut sim = survey_sim();
    let call = sim.prompts.first().map(|p| p.0).expect("a survey prompt");
    assert_eq!(sim.prompts, vec![(call, PromptId::SurveyCsat, false)]);
    assert!(kinds(&sim).ends_with(&["agent.left".to_string(), "survey.started".to_string()]), "{:?}", kinds(&sim));
    let now = sim.now;
    sim.prompt_finished(now, call);
    sim.engine.handle_dtmf(now, call, '4');
    sim.engine.handle_dtmf(now, call, '9'); // invalid for "resolved": reprompt
    sim.flush();
    sim.prompt_finished(now, call);
    sim.prompt_finished(now, call);
    sim.engine.handle_dtmf(now, call, '1');
    sim.flush();
    let played: Vec<(PromptId, bool)> = sim.prompts.iter().map(|p| (p.1, p.2)).collect();
    assert_eq!(
        played,
        vec![
            (PromptId::SurveyCsat, false),
            (PromptId::SurveyResolved, false),
            (PromptId::SurveyInvalid, false),
            (PromptId::SurveyResolved, false),
            (PromptId::SurveyThanks, true),
        ]
    );
    sim.prompt_finished(now, call);
    let t = sim.now + Duration::from_secs(5);
    sim.run_until(t);
    assert_logs_are_gap_free(&sim);
    let answers: Vec<(String, u8)> = sim
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::SurveyAnswered { question, digit } => Some((question.clone(), *digit)),
            _ => None,
        })
        .collect();
    assert_eq!(answers, vec![("csat".to_string(), 4), ("resolved".to_string(), 1)]);
    match &sim.events.last().expect("events").kind {
        EventKind::CallEnded { side, cause, .. } => {
            assert_eq!(*side, HangupSide::Agent);
            assert_eq!(cause, "agent_hangup");
        }
        k => panic!("last event {k:?}"),
    }
    assert!(sim.carrier.calls[0].ended, "the switch hung up on the caller after the survey");
    assert_eq!(sim.engine.active_calls(), 0);
}

#[test]
fn caller_hanging_up_mid_survey_is_recorded_as_abandoned() {
    let mut sim = survey_sim();
    sim.carrier.calls[0].hangup_at = Some(sim.now);
    let t = sim.now + Duration::from_secs(5);
    sim.run_until(t);
    assert_logs_are_gap_free(&sim);
    let k = kinds(&sim);
    assert!(k.contains(&"survey.abandoned".to_string()), "{k:?}");
    assert_eq!(k.last().map(String::as_str), Some("call.ended"));
    assert_eq!(sim.engine.active_calls(), 0);
}

#[test]
fn silence_reprompts_then_the_survey_ends_without_an_answer() {
    let mut sim = survey_sim();
    let call = sim.prompts[0].0;
    // Each prompt "plays" instantly; the caller never presses anything.
    for _ in 0..12 {
        let now = sim.now;
        sim.prompt_finished(now, call);
        let t = sim.now + Duration::from_secs(6);
        sim.run_until(t);
    }
    assert_logs_are_gap_free(&sim);
    let no_answers = sim.events.iter().filter(|e| matches!(e.kind, EventKind::SurveyNoAnswer { .. })).count();
    assert_eq!(no_answers, 2, "both questions given up: {:?}", kinds(&sim));
    let csat_prompts = sim.prompts.iter().filter(|p| p.1 == PromptId::SurveyCsat).count();
    assert_eq!(csat_prompts, 3, "asked three times");
    assert_eq!(sim.engine.active_calls(), 0);
}

#[test]
fn a_re_invite_to_sendonly_from_the_agent_logs_hold_and_unhold() {
    let mut sim = Sim::new(11, 0.0, 1, Answer::After(Duration::from_secs(1)), 15);
    sim.register_all_and_ready();
    sim.place_call("15550009191", Duration::from_secs(30));
    let t = sim.now + Duration::from_secs(5);
    sim.run_until(t);
    let invite = sim.phones[0].answered_invite.clone().expect("the phone answered");
    for (cseq, direction) in [(2, "sendonly"), (3, "sendrecv")] {
        let branch = new_branch(&mut sim.rng);
        let ph = &mut sim.phones[0];
        let body = format!(
            "v=0\r\no=- 1 {cseq} IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na={direction}\r\n"
        );
        let reinvite = Request::builder(Method::Invite, "sip:meritline@127.0.0.1:5060")
            .header("Via", format!("SIP/2.0/UDP {};branch={branch};rport", ph.addr))
            .header("Max-Forwards", "70")
            .header("From", format!("{};tag=ph0", invite.header("To").unwrap_or("")))
            .header("To", invite.header("From").unwrap_or(""))
            .header("Call-ID", invite.call_id().unwrap_or(""))
            .header("CSeq", format!("{cseq} INVITE"))
            .header("Contact", format!("<sip:{}@{}>", ph.user, ph.addr))
            .body("application/sdp", Bytes::from(body))
            .build()
            .expect("re-invite");
        let now = sim.now;
        let _ = ph.txl.send_request(now, reinvite, switch_addr(), Transport::Udp);
        let t = sim.now + Duration::from_secs(2);
        sim.run_until(t);
    }
    let k = kinds(&sim);
    let hold = k.iter().position(|x| x == "call.hold").expect("call.hold");
    let unhold = k.iter().position(|x| x == "call.unhold").expect("call.unhold");
    assert!(hold < unhold, "{k:?}");
    assert_logs_are_gap_free(&sim);
}

/// Calls to "support" (no agent has the skill) overflow after 10 s to "backup", served by agent0.
fn overflow_sim(seed: u64) -> Sim {
    let mut cfg = (*config(1, 15, 0)).clone();
    cfg.queues = vec![
        QueueConfig {
            max_wait_seconds: 10,
            overflow: Some("backup".into()),
            ..QueueConfig::named("support", &["support"])
        },
        QueueConfig::named("backup", &["backup"]),
    ];
    cfg.agents[0].skills = vec!["backup".into()];
    Sim::with_config(seed, 0.0, 1, Answer::After(Duration::from_secs(1)), Arc::new(cfg))
}

/// The overflow event of the log: (seq, from, to, waited_ms).
fn overflow_of(sim: &Sim) -> (u32, String, String, u64) {
    let found = sim.events.iter().find_map(|e| match &e.kind {
        EventKind::CallOverflowed { from_queue, to_queue, waited_ms } => {
            Some((e.seq, from_queue.clone(), to_queue.clone(), *waited_ms))
        }
        _ => None,
    });
    found.expect("a call.overflowed event")
}

#[test]
fn a_call_past_max_wait_overflows_and_is_answered_by_the_overflow_queues_agent() {
    let mut sim = overflow_sim(12);
    sim.register_all_and_ready();
    sim.place_call("15550007777", Duration::from_secs(30));
    let t = sim.now + Duration::from_secs(60);
    sim.run_until(t);
    assert_logs_are_gap_free(&sim);
    assert_eq!(
        kinds(&sim),
        [
            "call.offered",
            "call.queued",
            "call.overflowed",
            "agent.offered",
            "agent.ringing",
            "agent.answered",
            "call.bridged",
            "call.ended"
        ]
    );
    let (seq, from, to, waited_ms) = overflow_of(&sim);
    assert_eq!((seq, from.as_str(), to.as_str(), waited_ms), (3, "support", "backup", 10_000));
    let at = |kind: &str| sim.events.iter().zip(kinds(&sim)).find(|(_, k)| k == kind).map(|(e, _)| e.at_ms);
    assert_eq!(at("call.overflowed").zip(at("call.queued")).map(|(o, q)| o - q), Some(10_000));
    let why = sim.events.iter().find_map(|e| match &e.kind {
        EventKind::AgentOffered { agent, why, .. } => Some((agent.clone(), why.clone().expect("why"))),
        _ => None,
    });
    let (agent, why) = why.expect("agent.offered");
    assert_eq!(agent, "agent0");
    assert!(why.waited_ms >= 10_000, "the wait counts from the first queue: {}", why.waited_ms);
    let bridged = sim.events.iter().find(|e| matches!(e.kind, EventKind::CallBridged { .. })).expect("bridged");
    assert_eq!(bridged.agent.as_deref(), Some("agent0"));
    match &sim.events.last().expect("events").kind {
        EventKind::CallEnded { side, cause, .. } => {
            assert_eq!((*side, cause.as_str()), (HangupSide::Caller, "caller_hangup"))
        }
        k => panic!("last event {k:?}"),
    }
    assert_eq!(sim.engine.active_calls(), 0);
}

#[test]
fn a_caller_hanging_up_after_an_overflow_abandons_the_overflow_queue() {
    // agent0 never registers: the call overflows at 10 s and the caller hangs up at 15 s.
    let mut sim = overflow_sim(13);
    sim.place_call("15550008888", Duration::from_secs(15));
    let t = sim.now + Duration::from_secs(30);
    sim.run_until(t);
    assert_logs_are_gap_free(&sim);
    assert_eq!(kinds(&sim), ["call.offered", "call.queued", "call.overflowed", "call.abandoned", "call.ended"]);
    let (_, from, to, _) = overflow_of(&sim);
    assert_eq!((from.as_str(), to.as_str()), ("support", "backup"));
    let abandoned = sim.events.iter().find_map(|e| match &e.kind {
        EventKind::CallAbandoned { queue, wait_ms } => Some((queue.clone(), *wait_ms)),
        _ => None,
    });
    let (queue, wait_ms) = abandoned.expect("call.abandoned");
    assert_eq!(queue, "backup");
    assert!((14_000..=16_000).contains(&wait_ms), "wait since the first queue: {wait_ms}");
    assert_eq!(sim.engine.active_calls(), 0);
}

/// The call's `call.ended`: (side, cause, sip_status).
fn ended_of(sim: &Sim) -> (HangupSide, String, Option<u16>) {
    let found = sim.events.iter().find_map(|e| match &e.kind {
        EventKind::CallEnded { side, cause, sip_status } => Some((*side, cause.clone(), *sip_status)),
        _ => None,
    });
    found.expect("a call.ended event")
}

fn agent_of(sim: &Sim, id: &str) -> super::AgentStatus {
    sim.engine.agents(sim.now).into_iter().find(|a| a.id == id).expect("agent")
}

fn count(sim: &Sim, kind: &str) -> usize {
    kinds(sim).iter().filter(|k| *k == kind).count()
}

#[test]
fn a_caller_that_never_acks_is_never_offered_to_an_agent_and_ends_no_ack() {
    // Issue #8 item 4: the agent used to ring out (RONA) long before the no_ack hang-up.
    let mut sim = Sim::new(21, 0.0, 1, Answer::Never, 15);
    sim.carrier.acks = false;
    sim.register_all_and_ready();
    sim.place_call("15550002121", Duration::from_secs(600));
    let t = sim.now + Duration::from_secs(60);
    sim.run_until(t);
    assert_logs_are_gap_free(&sim);
    assert_eq!(kinds(&sim), ["call.offered", "call.queued", "call.ended"]);
    assert_eq!(ended_of(&sim), (HangupSide::System, "no_ack".to_string(), None));
    let a0 = agent_of(&sim, "agent0");
    assert_eq!((a0.state, a0.not_ready_reason), (AgentPhase::Ready, None));
    assert_eq!(sim.phones[0].cancelled, 0, "the agent's phone never rang");
    assert_eq!(sim.engine.active_calls(), 0);
}

/// `agents` phones answering as `answer`, and the queue set to `answer = "early_media"`.
fn early_media_sim(seed: u64, agents: usize, answer: Answer, ring_timeout: u32) -> Sim {
    let mut cfg = (*config(agents, ring_timeout, 0)).clone();
    cfg.queues[0].answer = AnswerMode::EarlyMedia;
    Sim::with_config(seed, 0.0, agents, answer, Arc::new(cfg))
}

/// The statuses the carrier got for its INVITE, without 100 Trying.
fn carrier_statuses(sim: &Sim) -> Vec<u16> {
    sim.carrier.calls[0].responses.iter().map(|r| r.0).filter(|s| *s != 100).collect()
}

#[test]
fn early_media_sends_183_then_200_with_the_same_tag_when_the_agent_answers() {
    let mut sim = early_media_sim(31, 1, Answer::After(Duration::from_secs(3)), 15);
    sim.register_all_and_ready();
    sim.place_call("15550003131", Duration::from_secs(10));
    let t = sim.now + Duration::from_secs(2);
    sim.run_until(t);
    assert_eq!(carrier_statuses(&sim), [183], "unanswered while the agent rings");
    let t = sim.now + Duration::from_secs(30);
    sim.run_until(t);
    assert_logs_are_gap_free(&sim);
    assert_eq!(carrier_statuses(&sim), [183, 200]);
    let tags: Vec<&Option<String>> =
        sim.carrier.calls[0].responses.iter().filter(|r| r.0 != 100).map(|r| &r.1).collect();
    assert!(tags[0].is_some() && tags[0] == tags[1], "one To tag: {tags:?}");
    assert_eq!(
        kinds(&sim),
        [
            "call.offered",
            "call.queued",
            "agent.offered",
            "agent.ringing",
            "agent.answered",
            "call.bridged",
            "call.ended"
        ]
    );
    let at = |kind: &str| sim.events.iter().zip(kinds(&sim)).find(|(_, k)| k == kind).map(|(e, _)| e.at_ms);
    let waited = at("agent.answered").zip(at("call.queued")).map(|(a, q)| a - q);
    assert!(waited.is_some_and(|w| w >= 3_000), "queued until the agent answered: {waited:?}");
    assert_eq!(ended_of(&sim), (HangupSide::Caller, "caller_hangup".to_string(), None));
    assert_eq!(sim.engine.active_calls(), 0);
}

#[test]
fn early_media_cancel_while_queued_is_an_abandon_answered_487() {
    // No agent registers: the call waits.
    let mut sim = early_media_sim(32, 1, Answer::Never, 15);
    sim.place_call("15550003232", Duration::from_secs(600));
    let t = sim.now + Duration::from_secs(5);
    sim.run_until(t);
    assert_eq!(sim.engine.queues(sim.now)[0].waiting_calls, 1);
    sim.carrier_cancel(0);
    let t = sim.now + Duration::from_secs(40);
    sim.run_until(t);
    assert_logs_are_gap_free(&sim);
    assert_eq!(carrier_statuses(&sim), [183, 487]);
    assert_eq!(kinds(&sim), ["call.offered", "call.queued", "call.abandoned", "call.ended"]);
    let wait_ms = sim.events.iter().find_map(|e| match &e.kind {
        EventKind::CallAbandoned { wait_ms, .. } => Some(*wait_ms),
        _ => None,
    });
    assert!(wait_ms.is_some_and(|w| (4_900..=5_100).contains(&w)), "{wait_ms:?}");
    assert_eq!(ended_of(&sim), (HangupSide::Caller, "caller_cancel".to_string(), Some(487)));
    assert_eq!(sim.engine.queues(sim.now)[0].waiting_calls, 0);
    assert_eq!(sim.engine.active_calls(), 0);
}

#[test]
fn early_media_cancel_while_an_agent_rings_releases_the_agent_without_rona() {
    let mut sim = early_media_sim(33, 1, Answer::Never, 15);
    sim.register_all_and_ready();
    sim.place_call("15550003333", Duration::from_secs(600));
    let t = sim.now + Duration::from_secs(5);
    sim.run_until(t);
    assert_eq!(count(&sim, "agent.ringing"), 1);
    assert_eq!(agent_of(&sim, "agent0").state, AgentPhase::Offered);
    sim.carrier_cancel(0);
    // Past the ring timeout: the cancelled offer must not ring out later.
    let t = sim.now + Duration::from_secs(40);
    sim.run_until(t);
    assert_logs_are_gap_free(&sim);
    assert_eq!(carrier_statuses(&sim), [183, 487]);
    assert_eq!(
        kinds(&sim),
        ["call.offered", "call.queued", "agent.offered", "agent.ringing", "call.abandoned", "call.ended"]
    );
    assert_eq!(ended_of(&sim), (HangupSide::Caller, "caller_cancel".to_string(), Some(487)));
    assert_eq!(sim.phones[0].cancelled, 1, "the agent's phone was cancelled");
    let a0 = agent_of(&sim, "agent0");
    assert_eq!((a0.state, a0.not_ready_reason), (AgentPhase::Ready, None));
    assert_eq!(sim.engine.active_calls(), 0);
}

#[test]
fn early_media_200_never_acked_ends_no_ack_and_the_agent_goes_on_unpenalised() {
    let mut sim = early_media_sim(34, 1, Answer::After(Duration::from_secs(1)), 15);
    sim.carrier.acks = false;
    sim.register_all_and_ready();
    sim.place_call("15550003434", Duration::from_secs(600));
    let t = sim.now + Duration::from_secs(60);
    sim.run_until(t);
    assert_logs_are_gap_free(&sim);
    assert_eq!(carrier_statuses(&sim), [183, 200]);
    assert_eq!(count(&sim, "call.bridged"), 1);
    assert_eq!(count(&sim, "agent.no_answer"), 0);
    assert_eq!(ended_of(&sim), (HangupSide::System, "no_ack".to_string(), None));
    let a0 = agent_of(&sim, "agent0");
    assert_eq!((a0.state, a0.not_ready_reason), (AgentPhase::Ready, None));
    assert_eq!(sim.engine.active_calls(), 0);
}

#[test]
fn early_media_max_wait_refuses_the_open_invite_480() {
    let mut cfg = (*config(1, 15, 0)).clone();
    cfg.queues[0].answer = AnswerMode::EarlyMedia;
    cfg.queues[0].max_wait_seconds = 10;
    let mut sim = Sim::with_config(35, 0.0, 1, Answer::Never, Arc::new(cfg));
    sim.place_call("15550003535", Duration::from_secs(600));
    let t = sim.now + Duration::from_secs(40);
    sim.run_until(t);
    assert_logs_are_gap_free(&sim);
    assert_eq!(carrier_statuses(&sim), [183, 480]);
    assert_eq!(ended_of(&sim), (HangupSide::System, "max_wait".to_string(), Some(480)));
    assert_eq!(sim.engine.active_calls(), 0);
}

#[test]
fn a_trunk_answer_overrides_the_queues() {
    let mut cfg = (*config(1, 15, 0)).clone();
    cfg.queues[0].answer = AnswerMode::Immediate;
    cfg.trunks[0].answer = Some(AnswerMode::EarlyMedia);
    let mut sim = Sim::with_config(36, 0.0, 1, Answer::Never, Arc::new(cfg));
    sim.place_call("15550003636", Duration::from_secs(600));
    let t = sim.now + Duration::from_secs(2);
    sim.run_until(t);
    assert_eq!(carrier_statuses(&sim), [183]);
}
