//! The B2BUA core: one sans-IO [`Engine`] that owns the SIP transaction layer, the registrar and
//! digest authenticator, the ACD and every [`Call`]. A carrier INVITE from an allowed trunk is
//! answered at once (or, with `answer = "early_media"`, given hold audio as early media until an
//! agent answers), queued by DID, offered to the agent the ACD picks (an answered call only once
//! the caller has ACKed our 200), and bridged when the agent's phone answers; a BYE from either
//! side ends both legs. The engine never touches
//! a socket or a clock: the shell feeds it input with `handle_*(now, ..)`, and carries out what it
//! polls from [`Engine::poll_output`] (datagrams, media commands, events for the durable log).
//!
//! Memory bounds: per-call maps (`calls`, Call-ID and transaction indexes, wrap-ups, survey
//! timers) hold live calls only and are emptied as calls end (client transactions when they
//! terminate, at most 64×T1 later); the ended-call memory for late events is capped at
//! [`ENDED_CALLS_REMEMBERED`] entries; agent streams hold one counter per configured agent.
//! [`Engine::retained`] reports these sizes and a simulation of 20,000 calls checks them.

mod agent_leg;
mod caller_leg;
pub mod durable;
mod recovery;
mod register;
mod sip_util;
mod status;
mod survey_leg;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use crate::acd::{self, Acd, AcdEvent, CallId};
use crate::config::{Config, DigestAlgorithmName};
use crate::events::{CallEvent, EventKind, HangupSide};
use crate::media::Codec;
use crate::metrics as m;
use crate::sdp::SessionDescription;
use crate::sip::auth::{DigestAlgorithm, DigestAuthenticator};
use crate::sip::dialog::Dialog;
use crate::sip::message::{Method, SipMessage};
use crate::sip::registrar::{Registrar, RegistrarConfig, RegistrarEvent};
use crate::sip::transaction::{TimerConfig, TransactionLayer, Transmit, Transport, TxEvent, TxId};
use crate::survey::{PromptId, SurveyRun};

pub use status::{AgentPhase, AgentStatus, CallError, QueueStatus, WaitingCallStatus};

/// The engine's handle for a call; also the ACD's call id.
pub type CallRef = CallId;

/// Where to send a leg's RTP and how to packetize it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteMedia {
    pub rtp: SocketAddr,
    pub codec: Codec,
    pub payload_type: u8,
    pub telephone_event_pt: Option<u8>,
}

impl RemoteMedia {
    /// What an SDP negotiation settled for one leg.
    pub fn from_negotiated(neg: &crate::sdp::NegotiatedAudio) -> RemoteMedia {
        let codec = match neg.codec {
            crate::sdp::AudioCodec::Pcmu => Codec::Pcmu,
            crate::sdp::AudioCodec::Pcma => Codec::Pcma,
        };
        RemoteMedia {
            rtp: neg.remote_rtp,
            codec,
            payload_type: neg.payload_type,
            telephone_event_pt: neg.telephone_event_pt,
        }
    }
}

/// What the shell must do to the media plane of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaCommand {
    /// Reserve RTP ports for both legs; answer with `handle_media_ready`/`handle_media_failed`.
    Allocate {
        call: CallRef,
    },
    SetCallerRemote {
        call: CallRef,
        remote: RemoteMedia,
    },
    SetAgentRemote {
        call: CallRef,
        remote: RemoteMedia,
    },
    /// Loop the hold prompt to the caller.
    PlayHold {
        call: CallRef,
    },
    /// Stop hold audio and relay caller and agent to each other.
    Bridge {
        call: CallRef,
    },
    /// The agent leg is gone: stop relaying; the caller leg stays up.
    Unbridge {
        call: CallRef,
    },
    /// Play a prompt once to the caller. With `after_commit`, only after every event emitted so
    /// far is durable (the survey's thank-you: an answer is never lost once it is heard).
    PlayPrompt {
        call: CallRef,
        prompt: PromptId,
        after_commit: bool,
    },
    /// Release the call's ports.
    Close {
        call: CallRef,
    },
}

/// Everything the engine asks the shell to do, in order.
#[derive(Debug, Clone)]
pub enum Output {
    Transmit(Transmit),
    Media(MediaCommand),
    Event(CallEvent),
    /// State to keep across a restart (registrations, live dialogs).
    Durable(durable::DurableWrite),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for RTP ports before answering the caller.
    AwaitingMedia,
    /// Answered, hearing hold audio, in the ACD.
    Queued,
    /// An agent's phone is being rung.
    Offering,
    /// Caller and agent talk.
    Bridged,
    /// The agent left; the caller is in the post-call survey.
    Survey,
}

/// Which leg of a call a SIP Call-ID or transaction belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leg {
    Caller,
    Agent,
}

/// What a client transaction of ours is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxRole {
    /// Our INVITE to an agent phone, and where it went (a late 2xx must be ACKed there).
    AgentInvite {
        dest: SocketAddr,
        transport: Transport,
    },
    Bye(Leg),
}

struct CallerLeg {
    invite_tx: TxId,
    invite: SipMessage,
    source: SocketAddr,
    transport: Transport,
    offer: SessionDescription,
    local_tag: String,
    /// Our SDP answer, kept for re-INVITEs.
    answer: Option<Bytes>,
    dialog: Option<Dialog>,
    sip_call_id: String,
    mode: crate::config::AnswerMode,
    state: caller_leg::CallerState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AgentLegState {
    Inviting,
    Ringing,
    /// CANCEL sent (ring timeout or caller gone); waiting for the 487.
    Cancelling,
    Answered,
}

struct AgentLeg {
    agent: Arc<str>,
    invite_tx: TxId,
    invite: SipMessage,
    dest: SocketAddr,
    transport: Transport,
    sip_call_id: String,
    offer: SessionDescription,
    state: AgentLegState,
    /// Why we cancelled: a ring timeout is the agent's miss, a caller hangup is not.
    cancelled_for_rona: bool,
    dialog: Option<Dialog>,
    answered_at: Option<Instant>,
}

/// One carrier call and, while it has one, its agent leg.
struct Call {
    id: String,
    seq: u32,
    ani: String,
    queue: String,
    phase: Phase,
    caller: CallerLeg,
    agent: Option<AgentLeg>,
    attempts: u32,
    media_ports: Option<(u16, u16)>,
    /// The post-call survey, while `phase` is `Survey`.
    survey: Option<SurveyRun>,
    /// A re-INVITE put the call on hold (sendonly, inactive or a null address).
    on_hold: bool,
    /// A dialog of this call was written for restart recovery (so its end is written too).
    persisted_dialogs: bool,
}

/// Sizes of the engine's per-call structures ([`Engine::retained`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retained {
    pub calls: usize,
    pub sip_call_ids: usize,
    pub client_transactions: usize,
    pub wrapups: usize,
    pub ended_calls: usize,
    pub survey_calls: usize,
    pub transaction_layer: usize,
    pub acd: usize,
}

/// An agent in wrap-up after a call: the call whose log gets the wrap-up events.
struct WrapUp {
    call_id: String,
}

/// How many ended calls keep their event sequence counter in memory (for late events such as
/// wrap-up end and dispositions). Older calls continue from the store's last sequence number.
pub const ENDED_CALLS_REMEMBERED: usize = 50_000;

/// The switch's sans-IO core.
pub struct Engine {
    config: Arc<Config>,
    sip_ip: IpAddr,
    sip_port: u16,
    media_ip: IpAddr,
    txl: TransactionLayer,
    registrar: Registrar,
    auth: DigestAuthenticator,
    acd: Acd,
    calls: HashMap<CallRef, Call>,
    by_sip_call_id: HashMap<String, (CallRef, Leg)>,
    by_tx: HashMap<TxId, (CallRef, TxRole)>,
    wrapups: HashMap<Arc<str>, WrapUp>,
    /// Last sequence numbers of recently ended calls, and their age order for eviction.
    ended_seqs: HashMap<String, u32>,
    ended_order: VecDeque<String>,
    /// Last sequence number of each agent's stream (state changes, registrations); one entry per
    /// configured agent at most.
    agent_seqs: HashMap<Arc<str>, u32>,
    /// Calls in the post-call survey (their timers are polled).
    survey_calls: std::collections::BTreeSet<CallRef>,
    outputs: VecDeque<Output>,
    rng: StdRng,
    epoch: Instant,
    epoch_unix_ms: i64,
    next_call: u64,
    draining: bool,
    /// The calls live when the drain began: the drain waits for their BYEs only.
    drained_calls: std::collections::HashSet<CallRef>,
}

impl Engine {
    /// A new engine. `now` and `unix_ms` pin the wall clock used in events; `seed` feeds tags,
    /// branches, Call-IDs and the nonce secret.
    pub fn new(config: Arc<Config>, now: Instant, unix_ms: i64, seed: u64) -> Engine {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let algorithms: Vec<DigestAlgorithm> = config
            .sip
            .digest_algorithms
            .iter()
            .map(|a| match a {
                DigestAlgorithmName::Md5 => DigestAlgorithm::Md5,
                DigestAlgorithmName::Sha256 => DigestAlgorithm::Sha256,
            })
            .collect();
        let auth = DigestAuthenticator::new(config.sip.realm.clone(), secret, config.sip.nonce_ttl())
            .with_algorithms(&algorithms);
        let timers = TimerConfig { t1: config.sip.t1(), ..TimerConfig::default() };
        let registrar = Registrar::new(RegistrarConfig {
            min_expires: config.sip.register_min_expires_seconds,
            max_expires: config.sip.register_max_expires_seconds,
            default_expires: config.sip.register_default_expires_seconds,
            ..RegistrarConfig::default()
        });
        let mut acd = Acd::with_seed(rng.next_u64());
        for q in &config.queues {
            let policy = acd::QueuePolicy {
                sl_threshold: std::time::Duration::from_secs(u64::from(q.sl_threshold_seconds)),
                sl_target: q.sl_target,
                holdout: q.holdout,
                overflow: q.overflow.clone(),
                floor_window: q.merit.floor_window_offers as usize,
                relax: q
                    .relax
                    .iter()
                    .map(|r| acd::RelaxStep {
                        after: std::time::Duration::from_secs(u64::from(r.after_seconds)),
                        skills: r.skills.clone(),
                    })
                    .collect(),
                ..acd::QueuePolicy::default()
            };
            let queue = acd::QueueConfig {
                name: q.name.clone(),
                required_skills: q.skills.clone(),
                ring_timeout: q.ring_timeout(),
                max_wait: q.max_wait(),
                strategy: q.acd_strategy(),
            };
            let added = acd.add_queue_with_policy(queue, policy);
            if let Err(e) = added {
                tracing::warn!(queue = %q.name, error = %e, "queue not added");
            }
        }
        for a in &config.agents {
            let added =
                acd.add_agent(acd::AgentConfig { id: a.id.clone(), skills: a.skills.clone(), wrapup: a.wrapup() });
            if let Err(e) = added {
                tracing::warn!(agent = %a.id, error = %e, "agent not added");
            }
        }
        Engine {
            sip_ip: config.sip_advertised_ip(),
            sip_port: config.sip.listen.port(),
            media_ip: config.media_advertised_ip(),
            config,
            txl: TransactionLayer::new(timers),
            registrar,
            auth,
            acd,
            calls: HashMap::new(),
            by_sip_call_id: HashMap::new(),
            by_tx: HashMap::new(),
            wrapups: HashMap::new(),
            survey_calls: std::collections::BTreeSet::new(),
            ended_seqs: HashMap::new(),
            ended_order: VecDeque::new(),
            agent_seqs: HashMap::new(),
            outputs: VecDeque::new(),
            rng,
            epoch: now,
            epoch_unix_ms: unix_ms,
            next_call: 1,
            draining: false,
            drained_calls: std::collections::HashSet::new(),
        }
    }

    // ------------------------------------------------------------------ inputs

    /// One datagram or stream-framed message from the network.
    pub fn handle_inbound(&mut self, now: Instant, transport: Transport, source: SocketAddr, payload: Bytes) {
        match sip_util::parse_inbound(&payload) {
            Ok(msg) => {
                sip_util::count_message("in", &msg);
                self.txl.handle_incoming(now, msg, source, transport);
            }
            Err(e) => {
                let tname = match transport {
                    Transport::Udp => "udp",
                    Transport::Tcp => "tcp",
                };
                match sip_util::error_reply(&payload, &e) {
                    Some(reply) => {
                        metrics::counter!(m::SIP_PARSE_ERRORS, "transport" => tname, "action" => "replied_400")
                            .increment(1);
                        tracing::debug!(%source, error = %e, "malformed SIP request, answering 400");
                        sip_util::count_outgoing(&reply);
                        self.outputs.push_back(Output::Transmit(Transmit { dest: source, transport, payload: reply }));
                    }
                    None => {
                        metrics::counter!(m::SIP_PARSE_ERRORS, "transport" => tname, "action" => "dropped")
                            .increment(1);
                        tracing::debug!(%source, error = %e, "malformed SIP message dropped");
                    }
                }
            }
        }
        self.pump(now);
    }

    /// RTP ports for `call` are bound: answer the caller.
    pub fn handle_media_ready(&mut self, now: Instant, call: CallRef, caller_port: u16, agent_port: u16) {
        caller_leg::media_ready(self, now, call, caller_port, agent_port);
        self.pump(now);
    }

    /// No RTP ports for `call`: refuse it.
    pub fn handle_media_failed(&mut self, now: Instant, call: CallRef, reason: &str) {
        tracing::warn!(reason, "media allocation failed");
        caller_leg::refuse_pending(self, now, call, 503, "Media Unavailable");
        self.pump(now);
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.txl.handle_timeout(now);
        self.registrar.handle_timeout(now);
        self.acd.handle_timeout(now);
        survey_leg::handle_timeouts(self, now);
        self.pump(now);
    }

    /// The caller pressed a key (RFC 4733 from the media plane, already de-duplicated).
    pub fn handle_dtmf(&mut self, now: Instant, call: CallRef, digit: char) {
        survey_leg::digit(self, now, call, digit);
        self.pump(now);
    }

    /// A prompt started with `MediaCommand::PlayPrompt` has played to its end.
    pub fn handle_prompt_finished(&mut self, now: Instant, call: CallRef) {
        survey_leg::prompt_finished(self, now, call);
        self.pump(now);
    }

    /// A re-INVITE from either leg changed whether the call is on hold: log `call.hold` or
    /// `call.unhold` (hold time counts toward the agent's handle time).
    fn note_hold(&mut self, now: Instant, call: CallRef, held: bool) {
        let Some(c) = self.calls.get_mut(&call) else { return };
        if c.on_hold == held || c.phase != Phase::Bridged {
            return;
        }
        c.on_hold = held;
        let agent = c.agent.as_ref().map(|a| a.agent.clone());
        let kind = if held { EventKind::CallHold {} } else { EventKind::CallUnhold {} };
        self.emit(now, call, agent.as_deref(), kind);
    }

    /// A performance score from the scoring module, for merit-weighted routing.
    pub fn set_agent_score(&mut self, agent: &str, queue: &str, score: f64) {
        if let Err(e) = self.acd.set_agent_score(agent, queue, score) {
            tracing::debug!(%agent, %queue, error = %e, "score not applied");
        }
    }

    /// Stops taking calls: new INVITEs get 503, every live call is hung up.
    pub fn begin_shutdown(&mut self, now: Instant) {
        self.draining = true;
        let refs: Vec<CallRef> = self.calls.keys().copied().collect();
        self.drained_calls.extend(refs.iter().copied());
        for call in refs {
            self.hang_up(now, call, HangupSide::System, "shutdown");
        }
        self.pump(now);
    }

    // ------------------------------------------------------------------ outputs

    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some(o) = self.outputs.pop_front() {
            return Some(o);
        }
        self.txl.poll_transmit().map(|t| {
            sip_util::count_outgoing(&t.payload);
            Output::Transmit(t)
        })
    }

    pub fn poll_timeout(&mut self) -> Option<Instant> {
        [
            self.txl.poll_timeout(),
            self.registrar.poll_timeout(),
            self.acd.poll_timeout(),
            survey_leg::poll_timeout(self),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Calls with a live caller leg.
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// How many entries each per-call structure holds now, for memory-bound checks.
    pub fn retained(&self) -> Retained {
        Retained {
            calls: self.calls.len(),
            sip_call_ids: self.by_sip_call_id.len(),
            client_transactions: self.by_tx.len(),
            wrapups: self.wrapups.len(),
            ended_calls: self.ended_seqs.len().max(self.ended_order.len()),
            survey_calls: self.survey_calls.len(),
            transaction_layer: self.txl.retained(),
            acd: self.acd.retained_per_call(),
        }
    }

    /// No calls left, and every BYE the drain sent has its final answer (or timed out). BYEs of
    /// calls that had ended before the drain began are not waited for: with no live call at
    /// shutdown there is nothing to drain.
    pub fn is_drained(&self) -> bool {
        self.calls.is_empty()
            && !self
                .by_tx
                .values()
                .any(|(call, role)| matches!(role, TxRole::Bye(_)) && self.drained_calls.contains(call))
    }

    // ------------------------------------------------------------------ internals

    /// The monotonic instant of a wall-clock time (milliseconds since the Unix epoch).
    fn instant_at(&self, unix_ms: i64) -> Instant {
        let delta = unix_ms - self.epoch_unix_ms;
        let d = std::time::Duration::from_millis(delta.unsigned_abs());
        if delta >= 0 {
            self.epoch + d
        } else {
            self.epoch.checked_sub(d).unwrap_or(self.epoch)
        }
    }

    /// Wall-clock milliseconds of a monotonic instant.
    fn unix_ms(&self, t: Instant) -> i64 {
        match t.checked_duration_since(self.epoch) {
            Some(d) => self.epoch_unix_ms + d.as_millis() as i64,
            None => self.epoch_unix_ms - self.epoch.duration_since(t).as_millis() as i64,
        }
    }

    fn now_unix_secs(&self, now: Instant) -> u64 {
        (self.unix_ms(now).max(0) / 1000) as u64
    }

    fn rng_u32(&mut self) -> u32 {
        self.rng.next_u32()
    }

    fn random_hex(&mut self, bytes: usize) -> String {
        let mut out = String::with_capacity(bytes * 2);
        for _ in 0..bytes {
            out.push_str(&format!("{:02x}", (self.rng.next_u32() & 0xff) as u8));
        }
        out
    }

    /// Appends an event to an agent's own stream ([`crate::events::agent_stream`]).
    fn emit_agent(&mut self, now: Instant, agent: &Arc<str>, kind: EventKind) {
        let at_ms = self.unix_ms(now);
        let seq = self.agent_seqs.entry(agent.clone()).or_insert(0);
        *seq += 1;
        let ev = CallEvent {
            call_id: crate::events::agent_stream(agent),
            seq: *seq,
            at_ms,
            agent: Some(agent.to_string()),
            kind,
        };
        self.outputs.push_back(Output::Event(ev));
    }

    /// Appends an event to a call's log.
    fn emit(&mut self, now: Instant, call: CallRef, agent: Option<&str>, kind: EventKind) {
        let at_ms = self.unix_ms(now);
        let Some(c) = self.calls.get_mut(&call) else { return };
        c.seq += 1;
        let ev = CallEvent { call_id: c.id.clone(), seq: c.seq, at_ms, agent: agent.map(str::to_string), kind };
        self.outputs.push_back(Output::Event(ev));
    }

    fn media(&mut self, cmd: MediaCommand) {
        self.outputs.push_back(Output::Media(cmd));
    }

    /// Drains the sub-cores' events until nothing moves.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(ev) = self.txl.poll_event() {
                progressed = true;
                self.on_tx_event(now, ev);
            }
            while let Some(ev) = self.registrar.poll_event() {
                progressed = true;
                self.on_registrar_event(now, ev);
            }
            while let Some(ev) = self.acd.poll_event() {
                progressed = true;
                self.on_acd_event(now, ev);
            }
            if !progressed {
                break;
            }
        }
        metrics::gauge!(m::CALLS_ACTIVE).set(self.calls.len() as f64);
        // From the ACD's queues (O(queues)), not a scan of every call on every input.
        metrics::gauge!(m::CALLS_QUEUED).set(self.acd.waiting_total() as f64);
    }

    fn on_tx_event(&mut self, now: Instant, ev: TxEvent) {
        match ev {
            TxEvent::Request { tx, msg, source, transport } => self.on_request(now, tx, msg, source, transport),
            TxEvent::CancelReceived { invite_tx, .. } => caller_leg::cancelled(self, now, invite_tx),
            TxEvent::Response { tx, msg } => {
                match self.by_tx.get(&tx).copied() {
                    Some((call, TxRole::AgentInvite { dest, transport })) => {
                        if self.calls.contains_key(&call) {
                            agent_leg::invite_response(self, now, call, tx, msg, dest, transport);
                        } else if msg.status().is_some_and(|s| (200..300).contains(&s)) {
                            // The call is gone but the phone answered: don't leave it in a dead call.
                            agent_leg::ack_and_bye(self, now, tx, &msg, dest, transport);
                        }
                    }
                    Some((_, TxRole::Bye(_))) if msg.status().is_some_and(|s| s >= 200) => {
                        self.by_tx.remove(&tx);
                    }
                    Some((_, TxRole::Bye(_))) | None => {}
                }
            }
            TxEvent::StrayResponse { msg, source, .. } => {
                // Retransmitted 2xx are re-ACKed by the transaction layer; anything else that
                // matches nothing is logged and dropped.
                tracing::debug!(%source, status = ?msg.status(), "stray response");
            }
            TxEvent::Timeout { tx } | TxEvent::TransportError { tx } => {
                if let Some(&(call, TxRole::AgentInvite { .. })) = self.by_tx.get(&tx) {
                    agent_leg::invite_failed(self, now, call, tx);
                }
            }
            TxEvent::AckFor2xx { invite_tx, msg, .. } => caller_leg::acked(self, now, invite_tx, &msg),
            TxEvent::StrayAck { .. } => {}
            TxEvent::AckTimeout { tx } => {
                // The caller never ACKed our 200: the dialog is dead (RFC 3261 13.3.1.4).
                if let Some(call) = self.calls.iter().find(|(_, c)| c.caller.invite_tx == tx).map(|(k, _)| *k) {
                    self.hang_up(now, call, HangupSide::System, "no_ack");
                }
            }
            TxEvent::Terminated { tx } => {
                self.by_tx.remove(&tx);
            }
        }
    }

    fn on_request(&mut self, now: Instant, tx: TxId, msg: SipMessage, source: SocketAddr, transport: Transport) {
        let method = msg.method().unwrap_or(Method::Other("?".into()));
        let in_dialog = msg.to().ok().and_then(|t| t.tag().map(str::to_string)).is_some();
        match method {
            Method::Register => register::handle(self, now, tx, &msg, source, transport),
            Method::Invite if !in_dialog => caller_leg::new_invite(self, now, tx, msg, source, transport),
            Method::Invite => self.reinvite(now, tx, &msg),
            Method::Bye => self.on_bye(now, tx, &msg),
            Method::Options => {
                let resp = sip_util::options_reply(&msg, self.sip_ip, self.sip_port);
                self.respond_built(now, tx, resp);
            }
            Method::Info | Method::Update | Method::Notify if in_dialog => {
                let found = msg.call_id().ok().and_then(|id| self.by_sip_call_id.get(id).copied());
                if let Some((call, leg)) = found {
                    self.respond(now, tx, &msg, 200, "OK");
                    // SIP INFO DTMF, the fallback for phones that don't send RFC 4733.
                    if method == Method::Info && leg == Leg::Caller {
                        let ct = msg.content_type().unwrap_or("");
                        if let Some(d) = survey_leg::digit_from_info(ct, msg.body()) {
                            survey_leg::digit(self, now, call, d);
                        }
                    }
                } else {
                    self.respond(now, tx, &msg, 481, "Call/Transaction Does Not Exist");
                }
            }
            Method::Ack | Method::Cancel => {}
            _ => {
                let resp =
                    sip_util::response(&msg, 405, "Method Not Allowed", None).header("Allow", sip_util::ALLOW).build();
                self.respond_built(now, tx, resp);
            }
        }
    }

    /// A re-INVITE (hold, session refresh, codec change) inside a dialog we know: we keep our
    /// media where it is and answer with the same SDP, updating where we send.
    fn reinvite(&mut self, now: Instant, tx: TxId, msg: &SipMessage) {
        let Some((call, leg)) = msg.call_id().ok().and_then(|id| self.by_sip_call_id.get(id).copied()) else {
            self.respond(now, tx, msg, 481, "Call/Transaction Does Not Exist");
            return;
        };
        match leg {
            Leg::Caller => caller_leg::reinvite(self, now, call, tx, msg),
            Leg::Agent => agent_leg::reinvite(self, now, call, tx, msg),
        }
    }

    fn on_bye(&mut self, now: Instant, tx: TxId, msg: &SipMessage) {
        let found = msg.call_id().ok().and_then(|id| self.by_sip_call_id.get(id).copied());
        let Some((call, leg)) = found else {
            self.respond(now, tx, msg, 481, "Call/Transaction Does Not Exist");
            return;
        };
        self.respond(now, tx, msg, 200, "OK");
        let side = match leg {
            Leg::Caller => HangupSide::Caller,
            Leg::Agent => HangupSide::Agent,
        };
        let cause = match leg {
            Leg::Caller => "caller_hangup",
            Leg::Agent => "agent_hangup",
        };
        if leg == Leg::Agent && survey_leg::start_after_agent_hangup(self, now, call) {
            return;
        }
        // The leg that sent BYE is gone already: don't BYE it back.
        if let Some(c) = self.calls.get_mut(&call) {
            match leg {
                Leg::Caller => c.caller.dialog = None,
                Leg::Agent => {
                    if let Some(a) = c.agent.as_mut() {
                        a.dialog = None;
                    }
                }
            }
        }
        self.hang_up(now, call, side, cause);
    }

    /// Ends a call from any phase: releases the agent or the queue slot, BYEs or CANCELs the
    /// legs still up, closes media and writes the final events.
    fn hang_up(&mut self, now: Instant, call: CallRef, mut side: HangupSide, mut cause: &str) {
        let Some(c) = self.calls.get(&call) else { return };
        let phase = c.phase;
        let queue = c.queue.clone();
        match phase {
            Phase::AwaitingMedia => {
                caller_leg::refuse_pending(self, now, call, 503, "Service Unavailable");
                return;
            }
            Phase::Queued | Phase::Offering => {
                let removed = self.acd.remove_call(now, call);
                if side == HangupSide::Caller {
                    let wait_ms = removed.as_ref().map(|r| r.waited.as_millis() as u64).unwrap_or(0);
                    self.emit(now, call, None, EventKind::CallAbandoned { queue, wait_ms });
                }
                agent_leg::abort(self, now, call);
            }
            Phase::Bridged => {
                let agent = self.calls.get(&call).and_then(|c| c.agent.as_ref().map(|a| a.agent.clone()));
                agent_leg::send_bye(self, now, call);
                if let Some(agent) = agent {
                    self.finish_agent_call(now, call, &agent);
                }
            }
            Phase::Survey => {
                // The conversation ended with the agent's hangup; the survey only followed it.
                survey_leg::abandon_if_unfinished(self, now, call);
                self.survey_calls.remove(&call);
                if side != HangupSide::System {
                    side = HangupSide::Agent;
                    cause = "agent_hangup";
                }
            }
        }
        let sip_status = caller_leg::disconnect(self, now, call, side);
        self.emit(now, call, None, EventKind::CallEnded { side, cause: cause.to_string(), sip_status });
        self.remove_call(call);
    }

    /// The agent's part of a call ended: wrap-up starts (events go to this call's log).
    fn finish_agent_call(&mut self, now: Instant, call: CallRef, agent: &Arc<str>) {
        let wrapup = self.config.agent(agent).map(|a| a.wrapup_seconds).unwrap_or(0);
        if let Err(e) = self.acd.call_ended(now, agent, call) {
            tracing::warn!(%agent, error = %e, "acd call_ended");
        }
        if wrapup > 0 {
            self.emit(now, call, Some(agent), EventKind::WrapUpStarted { agent: agent.to_string(), seconds: wrapup });
        }
        if wrapup > 0 {
            if let Some(c) = self.calls.get(&call) {
                // `next_seq` is fixed when the call leaves `calls`, after its last event.
                self.wrapups.insert(agent.clone(), WrapUp { call_id: c.id.clone() });
            }
        }
    }

    /// Keeps an ended call's last sequence number for events that come after its end.
    fn remember_ended(&mut self, id: String, last_seq: u32) {
        if self.ended_seqs.insert(id.clone(), last_seq).is_none() {
            self.ended_order.push_back(id);
            while self.ended_order.len() > ENDED_CALLS_REMEMBERED {
                if let Some(old) = self.ended_order.pop_front() {
                    self.ended_seqs.remove(&old);
                }
            }
        }
    }

    /// Appends an event to the log of a call that has left `calls`.
    fn emit_after_end(&mut self, now: Instant, call_id: &str, agent: Option<&str>, kind: EventKind) -> bool {
        let Some(last) = self.ended_seqs.get_mut(call_id) else { return false };
        *last += 1;
        let ev = CallEvent {
            call_id: call_id.to_string(),
            seq: *last,
            at_ms: self.unix_ms(now),
            agent: agent.map(str::to_string),
            kind,
        };
        self.outputs.push_back(Output::Event(ev));
        true
    }

    /// Records a call's outcome (`POST /api/calls/{id}/disposition`). `store_last_seq` is the
    /// highest sequence number the store holds for the call (for calls this engine no longer
    /// remembers, e.g. after a restart).
    pub fn record_disposition(
        &mut self,
        now: Instant,
        call_id: &str,
        outcome: &str,
        revenue: Option<f64>,
        store_last_seq: Option<u32>,
    ) -> Result<(), CallError> {
        let valid = !outcome.is_empty()
            && outcome.len() <= 64
            && outcome.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(CallError::Invalid("outcome must be 1-64 letters, digits, '_' or '-'".into()));
        }
        if revenue.is_some_and(|r| !r.is_finite() || r < 0.0) {
            return Err(CallError::Invalid("revenue must be a non-negative number".into()));
        }
        let kind = EventKind::DispositionRecorded { outcome: outcome.to_string(), revenue };
        let live = self
            .calls
            .iter()
            .find(|(_, c)| c.id == call_id)
            .map(|(k, c)| (*k, c.agent.as_ref().map(|a| a.agent.clone())));
        if let Some((call, agent)) = live {
            self.emit(now, call, agent.as_deref(), kind);
            return Ok(());
        }
        if !self.ended_seqs.contains_key(call_id) {
            match store_last_seq {
                Some(last) => self.remember_ended(call_id.to_string(), last),
                None => return Err(CallError::NotFound(format!("call {call_id} not found"))),
            }
        }
        self.emit_after_end(now, call_id, None, kind);
        Ok(())
    }

    fn remove_call(&mut self, call: CallRef) {
        if let Some(c) = self.calls.remove(&call) {
            if c.persisted_dialogs {
                self.outputs.push_back(Output::Durable(durable::DurableWrite::RemoveDialogs { call_id: c.id.clone() }));
            }
            self.remember_ended(c.id.clone(), c.seq);
            self.by_sip_call_id.remove(&c.caller.sip_call_id);
            if let Some(a) = &c.agent {
                self.by_sip_call_id.remove(&a.sip_call_id);
            }
            // by_tx entries stay until their transactions terminate: a late 2xx to an agent
            // INVITE of this call must still be ACKed and hung up.
            if c.media_ports.is_some() {
                self.media(MediaCommand::Close { call });
            }
            let outcome = if c.agent.as_ref().map(|a| a.state == AgentLegState::Answered).unwrap_or(false) {
                "answered"
            } else {
                "not_answered"
            };
            metrics::counter!(m::CALLS_TOTAL, "outcome" => outcome).increment(1);
        }
    }

    fn on_registrar_event(&mut self, now: Instant, ev: RegistrarEvent) {
        self.persist_binding(now, &ev);
        let (user, registered) = match &ev {
            RegistrarEvent::Registered { user, .. } | RegistrarEvent::Refreshed { user, .. } => (user.clone(), true),
            RegistrarEvent::Unregistered { user, remaining, .. } | RegistrarEvent::Expired { user, remaining, .. } => {
                (user.clone(), *remaining > 0)
            }
        };
        let known = self.acd.agent(&user).map(|a| (a.id.clone(), a.registered));
        if let Err(e) = self.acd.set_registered(now, &user, registered) {
            tracing::debug!(%user, error = %e, "registration for an agent the ACD does not know");
        }
        if let Some((agent, _)) = known.filter(|(_, was)| *was != registered) {
            let kind = match &ev {
                RegistrarEvent::Registered { contact, .. } | RegistrarEvent::Refreshed { contact, .. } => {
                    EventKind::AgentRegistered { agent: user.clone(), contact: contact.clone() }
                }
                RegistrarEvent::Unregistered { .. } => {
                    EventKind::AgentUnregistered { agent: user.clone(), cause: "unregistered".into() }
                }
                RegistrarEvent::Expired { .. } => {
                    EventKind::AgentUnregistered { agent: user.clone(), cause: "expired".into() }
                }
            };
            self.emit_agent(now, &agent, kind);
        }
        metrics::gauge!(m::REGISTRATIONS).set(self.registrar.registered_users(now).count() as f64);
    }

    fn on_acd_event(&mut self, now: Instant, ev: AcdEvent) {
        match ev {
            AcdEvent::Offer { call, agent, decision, .. } => agent_leg::offer(self, now, call, agent, decision),
            AcdEvent::OfferTimedOut { call, agent } => agent_leg::ring_timeout(self, now, call, &agent),
            AcdEvent::CallTimedOut { call, .. } => {
                self.hang_up(now, call, HangupSide::System, "max_wait");
            }
            AcdEvent::CallOverflowed { call, from, to, waited } => {
                // From here on the call belongs to `to`: its abandon event and survey are `to`'s.
                let Some(c) = self.calls.get_mut(&call) else { return };
                c.queue = to.to_string();
                tracing::info!(call = %c.id, from = %from, to = %to, "call overflowed to another queue");
                let waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
                let kind =
                    EventKind::CallOverflowed { from_queue: from.to_string(), to_queue: to.to_string(), waited_ms };
                self.emit(now, call, None, kind);
            }
            AcdEvent::AgentStateChanged { agent, state, cause } => {
                let wrapup_call = self.wrapups.get(&agent).map(|w| w.call_id.clone());
                if !matches!(state, acd::AgentState::WrapUp { .. }) {
                    if let Some(w) = self.wrapups.remove(&agent) {
                        let kind = EventKind::WrapUpEnded { agent: agent.to_string() };
                        self.emit_after_end(now, &w.call_id, Some(&agent), kind);
                    }
                }
                let call_id = |c: &CallRef| self.calls.get(c).map(|c| c.id.clone());
                let (reason, call) = match &state {
                    acd::AgentState::NotReady { reason } => (Some(reason.clone()), None),
                    acd::AgentState::Offered { call } | acd::AgentState::OnCall { call } => (None, call_id(call)),
                    acd::AgentState::WrapUp { .. } => (None, wrapup_call),
                    acd::AgentState::Ready | acd::AgentState::LoggedOut => (None, None),
                };
                let kind = EventKind::AgentStateChanged {
                    agent: agent.to_string(),
                    state: state.name().to_string(),
                    reason,
                    cause: cause.as_str().to_string(),
                    call,
                };
                self.emit_agent(now, &agent, kind);
            }
        }
    }

    // ------------------------------------------------------------------ replying

    fn respond(&mut self, now: Instant, tx: TxId, req: &SipMessage, status: u16, reason: &str) {
        let resp = sip_util::response(req, status, reason, None).build();
        self.respond_built(now, tx, resp);
    }

    fn respond_built(&mut self, now: Instant, tx: TxId, resp: Result<SipMessage, crate::sip::message::ParseError>) {
        match resp {
            Ok(msg) => self.respond_msg(now, tx, msg),
            Err(e) => tracing::warn!(error = %e, "could not build a response"),
        }
    }

    fn respond_msg(&mut self, now: Instant, tx: TxId, resp: SipMessage) {
        if let Err(e) = self.txl.send_response(now, tx, resp) {
            tracing::debug!(%tx, error = %e, "response not sent");
        }
    }
}
