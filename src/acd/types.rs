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
///
/// Only `LongestIdle` exists today; merit-weighted and service-level-aware strategies plug in here
/// later (the decision loop dispatches on this enum per queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The eligible, available agent who has been idle (Ready) the longest gets the call.
    #[default]
    LongestIdle,
}

impl Strategy {
    /// Stable lowercase name, as used in configuration and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::LongestIdle => "longest_idle",
        }
    }
}

/// Static configuration of one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// Unique queue name.
    pub name: String,
    /// An agent must have every one of these skills to be offered this queue's calls.
    pub required_skills: Vec<String>,
    /// How long an offered agent may ring before the ACD emits `OfferTimedOut` (RONA).
    /// `Duration::ZERO` means the ACD keeps no ring timer (the call layer times out on its own).
    pub ring_timeout: Duration,
    /// How long a call may wait in this queue before the ACD emits `CallTimedOut`.
    /// `Duration::ZERO` means no limit.
    pub max_wait: Duration,
    /// How an agent is chosen for this queue's calls.
    pub strategy: Strategy,
}

/// Static configuration of one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// Unique agent id (also what the API and the events use).
    pub id: String,
    /// Skill names; levels come later.
    pub skills: Vec<String>,
    /// After-call work time; `Duration::ZERO` means the agent is Ready again as soon as a call ends.
    pub wrapup: Duration,
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

/// Why the engine chose this agent for this call; carried on every `AcdEvent::Offer` for audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferDecision {
    /// The strategy of the call's queue.
    pub strategy: Strategy,
    /// How many agents were eligible for the call and available at decision time (incl. the chosen).
    pub eligible: usize,
    /// Rank of the chosen agent in the strategy's ordering, 0 = best. Always 0 for `LongestIdle`.
    pub rank: usize,
    /// How long the call had waited since it was enqueued.
    pub waited: Duration,
    /// How long the chosen agent had been idle.
    pub agent_idle: Duration,
}

/// Output of the engine, drained with `Acd::poll_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcdEvent {
    /// `agent` is reserved for `call`: the call layer should ring the agent now.
    Offer { call: CallId, agent: Arc<str>, queue: Arc<str>, decision: OfferDecision },
    /// The agent rang for the queue's ring timeout: the call layer should cancel the ringing and then
    /// report `OfferResult::NoAnswer`. The agent stays reserved until that report.
    OfferTimedOut { call: CallId, agent: Arc<str> },
    /// The call waited the queue's `max_wait`; the ACD has forgotten it. The call layer should
    /// disconnect it or enqueue it elsewhere (overflow).
    CallTimedOut { call: CallId, queue: Arc<str>, waited: Duration },
    /// An agent entered a new state.
    AgentStateChanged { agent: Arc<str>, state: AgentState },
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

/// Read-only view of one agent for the API.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// Read-only view of one queue for the API.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    #[error("agent {agent} cannot go from {from} to {to}")]
    InvalidTransition { agent: String, from: &'static str, to: &'static str },
}

impl AcdError {
    /// HTTP-like status: 404 for unknown things, 409 for conflicts with the current state.
    pub fn status_code(&self) -> u16 {
        match self {
            AcdError::UnknownAgent(_) | AcdError::UnknownQueue(_) | AcdError::UnknownCall(_) => 404,
            AcdError::DuplicateAgent(_)
            | AcdError::DuplicateQueue(_)
            | AcdError::DuplicateCall(_)
            | AcdError::InvalidTransition { .. } => 409,
        }
    }
}
