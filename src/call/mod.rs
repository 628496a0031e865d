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
//!
//! Rooms: `routing` (which leg a SIP event belongs to, and our responses), `caller_leg` (answer
//! modes, CANCEL, re-INVITE), `agent_leg` (ringing the agent, RONA by CANCEL, bridging),
//! `survey_leg` (the post-call survey on the caller leg), `register` (REGISTER and digest),
//! `acd_link` (following the ACD's offers and agents' states), `ending` (how a call ends, wrap-up,
//! dispositions), `numbering` (the streams' sequence numbers), `status` (snapshots and errors for
//! the outside), `durable` + `recovery` (what survives a restart), `sip_util` (message helpers).

mod acd_link;
mod agent_leg;
mod caller_leg;
pub mod durable;
mod ending;
mod numbering;
mod recovery;
mod register;
mod routing;
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

use crate::acd::{self, Acd, CallId};
use crate::config::{Config, DigestAlgorithmName};
use crate::events::{CallEvent, EventKind, HangupSide};
use crate::media::Codec;
use crate::metrics as m;
use crate::sdp::SessionDescription;
use crate::sip::auth::{DigestAlgorithm, DigestAuthenticator};
use crate::sip::dialog::Dialog;
use crate::sip::message::SipMessage;
use crate::sip::registrar::{Registrar, RegistrarConfig};
use crate::sip::transaction::{TimerConfig, TransactionLayer, Transmit, Transport, TxId};
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
    /// far is durable (the survey's thank-you: an answer is never lost once it is heard): the
    /// barrier is the shell's to keep. `playback` numbers the prompt; the shell reports its end
    /// with it ([`Engine::handle_prompt_finished`]), and the engine ignores any but the latest.
    PlayPrompt {
        call: CallRef,
        prompt: PromptId,
        after_commit: bool,
        playback: u64,
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
    /// The number of the prompt playing to the caller, until it is reported finished.
    playback: Option<u64>,
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
    /// Counters of ended calls' and agents' streams.
    numbering: numbering::Numbering,
    /// Calls in the post-call survey (their timers are polled).
    survey_calls: std::collections::BTreeSet<CallRef>,
    outputs: VecDeque<Output>,
    rng: StdRng,
    epoch: Instant,
    epoch_unix_ms: i64,
    next_call: u64,
    /// The last prompt number handed out (`MediaCommand::PlayPrompt::playback`).
    last_playback: u64,
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
            numbering: numbering::Numbering::default(),
            outputs: VecDeque::new(),
            rng,
            epoch: now,
            epoch_unix_ms: unix_ms,
            next_call: 1,
            last_playback: 0,
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

    /// The prompt `MediaCommand::PlayPrompt` numbered `playback` has played to its end. A report
    /// for any but the call's latest prompt is stale (it crossed a newer prompt) and is ignored.
    pub fn handle_prompt_finished(&mut self, now: Instant, call: CallRef, playback: u64) {
        let Some(c) = self.calls.get_mut(&call) else { return };
        if c.playback != Some(playback) {
            tracing::debug!(playback, "stale prompt-finished report ignored");
            return;
        }
        c.playback = None;
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
            ended_calls: self.numbering.ended_len(),
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
}
