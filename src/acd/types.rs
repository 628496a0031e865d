//! The ACD's public vocabulary: identifiers, queue and agent configuration, agent states, the
//! inputs the call layer reports (`Requested`, `OfferResult`), the events the engine emits
//! (`AcdEvent` with its `OfferDecision` audit record), the read-only snapshots served by the API and
//! the error type with its HTTP-like status code. No logic lives here beyond small accessors.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The ACD's handle for a call. The call layer maps its own call id onto this number; the ACD only
/// requires that two calls present at the same time have different ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call#{}", self.0)
    }
}

/// How a queue picks among the agents able to take its head call.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Strategy {
    /// The eligible, available agent who has been idle (Ready) the longest gets the call.
    #[default]
    LongestIdle,
    /// The eligible agent with the highest summed level on the queue's required skills; ties go
    /// to the longest idle.
    BestSkill,
    /// Weighted random choice among the eligible agents with weight `exp(score / temperature)`,
    /// where `score` is the agent's per-queue performance score (see `Acd::set_agent_score`).
    MeritWeighted {
        /// Softmax temperature; smaller concentrates calls on the best scores. Must be > 0.
        temperature: f64,
        /// Fraction of the equal share (1 / staffed eligible agents) of the queue's recent offers
        /// every agent is guaranteed: an available agent below it is offered first.
        floor_share: f64,
        /// Occupancy (busy time over the rolling window) above which an agent is skipped while
        /// other eligible agents are available. 1.0 disables the cap.
        occupancy_cap: f64,
        /// Answered calls in the queue over which an agent's score is blended from the neutral
        /// prior to its real score.
        ramp_calls: u32,
    },
}

impl Strategy {
    /// Stable lowercase name, as used in configuration and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::LongestIdle => "longest_idle",
            Strategy::BestSkill => "best_skill",
            Strategy::MeritWeighted { .. } => "merit_weighted",
        }
    }

    /// Merit-weighted routing with commonly useful parameters: temperature 0.1, floor 0.5 of the
    /// equal share, occupancy cap 0.95, ramp over 10 calls.
    pub fn merit_weighted() -> Self {
        Strategy::MeritWeighted { temperature: 0.1, floor_share: 0.5, occupancy_cap: 0.95, ramp_calls: 10 }
    }
}

/// Static configuration of one queue.
///
/// A required skill may carry a minimum level as `"name:level"` (e.g. `"sales:4"`); a plain name
/// requires level 1. Service level, overflow, relaxation and holdout live in [`QueuePolicy`]
/// (see `Acd::add_queue_with_policy`); `Acd::add_queue` uses `QueuePolicy::default()`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    /// Unique queue name.
    pub name: String,
    /// An agent must have every one of these skills (at the given minimum level) to be offered
    /// this queue's calls before any relaxation.
    pub required_skills: Vec<String>,
    /// How long an offered agent may ring before the ACD emits `OfferTimedOut` (RONA).
    /// `Duration::ZERO` means the ACD keeps no ring timer (the call layer times out on its own).
    pub ring_timeout: Duration,
    /// How long a call may wait in this queue before the ACD emits `CallTimedOut` (or moves it to
    /// the policy's overflow queue with `CallOverflowed`). `Duration::ZERO` means no limit.
    pub max_wait: Duration,
    /// How an agent is chosen for this queue's calls.
    pub strategy: Strategy,
}

/// One ring of the bullseye: from `after` of waiting on, agents meeting `skills` (each
/// `"name"` or `"name:min_level"`, all required) are also eligible. Rings are cumulative.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelaxStep {
    /// Wait after which this ring applies.
    pub after: Duration,
    /// The skill requirement of this ring.
    pub skills: Vec<String>,
}

/// Routing policy of a queue beyond its `QueueConfig`; `Default` is: SL 80 % within 20 s, no
/// overflow, no relaxation, no holdout, 1,000-offer floor window, 180 s handle-time prior.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuePolicy {
    /// Service-level threshold: calls answered within it count as in service level. Calls are
    /// ordered across queues by the time left until it (after priority).
    pub sl_threshold: Duration,
    /// Service-level target fraction (reporting only).
    pub sl_target: f64,
    /// Queue a call moves to when it reaches `max_wait` (keeping its original enqueue time), with
    /// `CallOverflowed`; `None`: the call ends with `CallTimedOut`.
    pub overflow: Option<String>,
    /// Bullseye rings, in increasing `after` order.
    pub relax: Vec<RelaxStep>,
    /// Fraction of calls (decided at enqueue with the ACD's seeded RNG) routed longest-idle as a
    /// control group, whatever the strategy.
    pub holdout: f64,
    /// Number of recent offers the floor share is measured over.
    pub floor_window: usize,
    /// Handle time (talk + wrap-up) assumed before the first call of the queue ends.
    pub initial_handle_time: Duration,
}

impl Default for QueuePolicy {
    fn default() -> Self {
        QueuePolicy {
            sl_threshold: Duration::from_secs(20),
            sl_target: 0.8,
            overflow: None,
            relax: Vec::new(),
            holdout: 0.0,
            floor_window: 1000,
            initial_handle_time: Duration::from_secs(180),
        }
    }
}

/// Static configuration of one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// Unique agent id (also what the API and the events use).
    pub id: String,
    /// Skills, each `"name"` (level [`DEFAULT_SKILL_LEVEL`]) or `"name:level"` with level 1-5.
    pub skills: Vec<String>,
    /// After-call work time; `Duration::ZERO` means the agent is Ready again as soon as a call ends.
    pub wrapup: Duration,
}

/// Level of a skill given without one.
pub const DEFAULT_SKILL_LEVEL: u8 = 3;

impl AgentConfig {
    /// An agent with leveled skills (levels are clamped to 1-5).
    pub fn with_levels(id: &str, skills: &[(&str, u8)], wrapup: Duration) -> Self {
        AgentConfig {
            id: id.to_string(),
            skills: skills.iter().map(|(name, level)| format!("{name}:{}", (*level).clamp(1, 5))).collect(),
            wrapup,
        }
    }
}

/// Splits `"name:level"` into the name and a level clamped to 1-5; `default` when no valid level
/// is given (a non-numeric suffix is part of the name).
pub fn parse_skill(spec: &str, default: u8) -> (&str, u8) {
    match spec.rsplit_once(':') {
        Some((name, level)) => match level.trim().parse::<u8>() {
            Ok(level) => (name.trim(), level.clamp(1, 5)),
            Err(_) => (spec.trim(), default),
        },
        None => (spec.trim(), default),
    }
}

/// Where an agent is in its working cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentState {
    /// Not working; the initial state of every agent.
    LoggedOut,
    /// Waiting for a call. Only offered calls when also registered (see `Acd::agent_available`).
    Ready,
    /// Logged in but not taking calls; `reason` is the agent's (e.g. "break") or the system's
    /// ("rona", "rejected", "unreachable").
    NotReady { reason: String },
    /// Reserved for `call`; its phone is being rung.
    Offered { call: CallId },
    /// Talking on `call`.
    OnCall { call: CallId },
    /// After-call work until `until`.
    WrapUp { until: Instant },
}

impl AgentState {
    /// Stable lowercase name of the state, for errors and the API.
    pub fn name(&self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged_out",
            AgentState::Ready => "ready",
            AgentState::NotReady { .. } => "not_ready",
            AgentState::Offered { .. } => "offered",
            AgentState::OnCall { .. } => "on_call",
            AgentState::WrapUp { .. } => "wrap_up",
        }
    }
}

/// A state change asked for by the agent (or a supervisor) through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    /// Take calls.
    Ready,
    /// Stop taking calls for the given reason.
    NotReady(String),
    /// Stop working.
    LoggedOut,
}

impl Requested {
    /// Name of the state this request leads to.
    pub fn name(&self) -> &'static str {
        match self {
            Requested::Ready => "ready",
            Requested::NotReady(_) => "not_ready",
            Requested::LoggedOut => "logged_out",
        }
    }
}

/// How an offer to an agent ended, as reported by the call layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfferResult {
    /// The agent's phone answered: the agent is now on the call.
    Answered,
    /// Rang out (RONA): agent becomes NotReady "rona", the call goes back to the head of its queue.
    NoAnswer,
    /// The phone declined (486/603...): agent NotReady "rejected", call back to the head.
    Rejected,
    /// The phone could not be reached: agent NotReady "unreachable" (not counted as a miss), call
    /// back to the head.
    Unreachable,
}

/// Which rule of the strategy selected the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PickRule {
    /// Longest idle (the `LongestIdle` strategy, or a holdout call).
    LongestIdle,
    /// Highest skill level, ties to the longest idle.
    BestSkill,
    /// Weighted random draw by merit score.
    Weighted,
    /// The agent was below its floor share of recent offers and got priority.
    FloorShare,
    /// Every available eligible agent was above the occupancy cap; drawn among them.
    OverCap,
}

/// Why the engine chose this agent for this call; carried on every `AcdEvent::Offer` for audit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OfferDecision {
    /// The strategy of the call's queue.
    pub strategy: Strategy,
    /// The rule that selected the agent.
    pub rule: PickRule,
    /// How many agents were eligible for the call and available at decision time (incl. the chosen).
    pub eligible: usize,
    /// Rank of the chosen agent among the eligible by the strategy's key, 0 = best: by idle time
    /// for longest idle, by skill for best skill, by effective score for merit.
    pub rank: usize,
    /// The chosen agent's effective (ramped) score for the queue; the neutral prior when unset.
    pub score: f64,
    /// The bullseye ring the call had reached (0 = the queue's own requirement).
    pub relax_step: u8,
    /// Whether the call is in the queue's holdout (routed longest-idle as a control).
    pub holdout: bool,
    /// Priority the call was enqueued with.
    pub priority: u8,
    /// How long the call had waited since it was enqueued.
    pub waited: Duration,
    /// How long the chosen agent had been idle.
    pub agent_idle: Duration,
}

/// Output of the engine, drained with `Acd::poll_event`.
#[derive(Debug, Clone, PartialEq)]
pub enum AcdEvent {
    /// `agent` is reserved for `call`: the call layer should ring the agent now.
    Offer { call: CallId, agent: Arc<str>, queue: Arc<str>, decision: OfferDecision },
    /// The agent rang for the queue's ring timeout: the call layer should cancel the ringing and then
    /// report `OfferResult::NoAnswer`. The agent stays reserved until that report.
    OfferTimedOut { call: CallId, agent: Arc<str> },
    /// The call waited the queue's `max_wait` and its queue has no overflow; the ACD has forgotten
    /// it. The call layer should disconnect it. (With an overflow queue the call moves instead and
    /// the engine emits `CallOverflowed`.)
    CallTimedOut { call: CallId, queue: Arc<str>, waited: Duration },
    /// The call waited `from`'s `max_wait` and moved to its overflow queue `to`, keeping its
    /// original enqueue time (`waited` counts from it). Emitted before any `Offer` of the call from
    /// `to`; the call stays in the ACD, and `Acd::call_queue` now names `to`.
    CallOverflowed { call: CallId, from: Arc<str>, to: Arc<str>, waited: Duration },
    /// An agent entered a new state, and why.
    AgentStateChanged { agent: Arc<str>, state: AgentState, cause: StateCause },
}

/// Why an agent's state changed (the `cause` of `agent.state_changed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateCause {
    /// The agent (or a supervisor) asked for it through the API.
    Requested,
    /// The ACD reserved the agent for a call.
    Offered,
    /// The agent answered the offered call.
    Answered,
    /// The offer failed through the agent's phone: rang out (RONA), rejected or unreachable.
    OfferFailed,
    /// The offer was taken back through no fault of the agent (the caller left).
    OfferWithdrawn,
    /// The agent's call ended: wrap-up starts, or the agent is free again.
    CallEnded,
    /// The wrap-up time ran out.
    WrapUpEnded,
    /// Restored at start-up from the state the agent had before the switch restarted.
    Restored,
}

impl StateCause {
    /// Stable lowercase name, as written in events.
    pub fn as_str(self) -> &'static str {
        match self {
            StateCause::Requested => "requested",
            StateCause::Offered => "offered",
            StateCause::Answered => "answered",
            StateCause::OfferFailed => "offer_failed",
            StateCause::OfferWithdrawn => "offer_withdrawn",
            StateCause::CallEnded => "call_ended",
            StateCause::WrapUpEnded => "wrapup_ended",
            StateCause::Restored => "restart",
        }
    }
}

/// What `Acd::remove_call` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedCall {
    /// The queue the call was in.
    pub queue: Arc<str>,
    /// Time since the call was enqueued.
    pub waited: Duration,
    /// `Some(agent)` when the call was being offered: the agent has been released (back to Ready,
    /// keeping its place in the idle order) and the call layer should cancel the ringing without
    /// reporting an `offer_result`.
    pub offered_to: Option<Arc<str>>,
}

/// One waiting call of a queue, as `Acd::waiting_calls` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitingCall {
    pub call: CallId,
    /// 1 = the next call of the queue to be served.
    pub position: usize,
    pub priority: u8,
    /// Time since the call was enqueued (in its first queue, when it overflowed).
    pub waited: Duration,
    /// Estimated wait from now, as `Acd::position_and_ewt` computes it; `Duration::MAX` when
    /// nobody is staffed for the queue.
    pub estimated_wait: Duration,
}

/// Read-only view of one agent for the API.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSnapshot {
    pub id: Arc<str>,
    pub state: AgentState,
    /// The reason when `state` is NotReady.
    pub not_ready_reason: Option<String>,
    /// A NotReady asked for while Offered/OnCall, applied when the call (and wrap-up) ends.
    pub pending_not_ready: Option<String>,
    pub skills: Vec<String>,
    pub registered: bool,
    /// Ready and registered: can be offered a call right now.
    pub available: bool,
    /// When the agent last became Ready; `Some` only while Ready.
    pub idle_since: Option<Instant>,
    /// Calls answered.
    pub calls_handled: u64,
    /// Offers that ended NoAnswer or Rejected (Unreachable is not the agent's fault).
    pub missed_offers: u64,
    /// Parsed skills with their levels (1-5), sorted by name.
    pub skill_levels: Vec<(String, u8)>,
    /// Busy fraction (offered, on call, wrap-up) over the ACD's rolling occupancy window.
    pub occupancy: f64,
}

/// Read-only view of one queue for the API.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSnapshot {
    pub name: Arc<str>,
    pub skills: Vec<String>,
    pub strategy: Strategy,
    /// Calls waiting in the queue (not counting calls being offered).
    pub waiting: usize,
    /// Calls of this queue currently being offered to an agent.
    pub offered: usize,
    /// Wait of the oldest waiting call, zero when none waits.
    pub longest_wait: Duration,
    /// Agents eligible for the queue and available now.
    pub agents_ready: usize,
    /// Agents eligible for the queue and not logged out.
    pub agents_staffed: usize,
    /// Estimated wait of a call arriving now: (waiting + 1) x average handle time / staffed agents
    /// (zero when an agent is ready; `Duration::MAX` when nobody is staffed).
    pub ewt: Duration,
    /// Moving average of talk + wrap-up of the queue's calls.
    pub average_handle_time: Duration,
    /// Service-level threshold of the queue.
    pub sl_threshold: Duration,
}

/// Errors of the ACD inputs; `status_code` is the HTTP answer the API should give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcdError {
    #[error("unknown agent {0}")]
    UnknownAgent(String),
    #[error("unknown queue {0}")]
    UnknownQueue(String),
    #[error("unknown call {0}")]
    UnknownCall(CallId),
    #[error("agent {0} already exists")]
    DuplicateAgent(String),
    #[error("queue {0} already exists")]
    DuplicateQueue(String),
    #[error("{0} is already in the ACD")]
    DuplicateCall(CallId),
    #[error("invalid queue configuration: {0}")]
    InvalidConfig(String),
    #[error("agent {agent} cannot go from {from} to {to}")]
    InvalidTransition { agent: String, from: &'static str, to: &'static str },
}

impl AcdError {
    /// HTTP-like status: 404 for unknown things, 409 for conflicts with the current state.
    pub fn status_code(&self) -> u16 {
        match self {
            AcdError::UnknownAgent(_) | AcdError::UnknownQueue(_) | AcdError::UnknownCall(_) => 404,
            AcdError::InvalidConfig(_) => 400,
            AcdError::DuplicateAgent(_)
            | AcdError::DuplicateQueue(_)
            | AcdError::DuplicateCall(_)
            | AcdError::InvalidTransition { .. } => 409,
        }
    }
}
