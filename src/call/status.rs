//! What the engine tells the outside about its agents and queues, and how a request from outside
//! can fail: domain snapshots ([`AgentStatus`], [`QueueStatus`]) and domain errors ([`CallError`],
//! each knowing its HTTP status). The web face (`api`) turns them into its JSON views; the call
//! core knows nothing of HTTP.

use std::time::{Duration, Instant};

use super::Engine;
use crate::acd::{self, Requested};

/// An agent's state without its data (which call, until when).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentPhase {
    LoggedOut,
    Ready,
    NotReady,
    /// Reserved by the ACD; the phone is being offered a call.
    Offered,
    OnCall,
    WrapUp,
}

impl From<&acd::AgentState> for AgentPhase {
    fn from(state: &acd::AgentState) -> AgentPhase {
        match state {
            acd::AgentState::LoggedOut => AgentPhase::LoggedOut,
            acd::AgentState::Ready => AgentPhase::Ready,
            acd::AgentState::NotReady { .. } => AgentPhase::NotReady,
            acd::AgentState::Offered { .. } => AgentPhase::Offered,
            acd::AgentState::OnCall { .. } => AgentPhase::OnCall,
            acd::AgentState::WrapUp { .. } => AgentPhase::WrapUp,
        }
    }
}

/// One agent as the engine sees it now.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentStatus {
    pub id: String,
    pub name: String,
    pub state: AgentPhase,
    pub not_ready_reason: Option<String>,
    pub skills: Vec<String>,
    /// Whether the agent's phone has a live SIP registration, and its contact.
    pub registered: bool,
    pub contact: Option<String>,
    /// Since when (ms since the Unix epoch) the agent has been ready without a call.
    pub idle_since_ms: Option<i64>,
    pub calls_handled: u64,
}

/// One queue as the engine sees it now.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueStatus {
    pub name: String,
    pub skills: Vec<String>,
    pub waiting_calls: usize,
    pub longest_wait: Duration,
    pub agents_ready: usize,
    pub agents_staffed: usize,
    pub average_handle_time: Duration,
    /// Estimated wait of a call arriving now; `None` when nobody is staffed.
    pub estimated_wait: Option<Duration>,
    /// The waiting calls in the order they will be served.
    pub calls: Vec<WaitingCallStatus>,
}

/// One waiting call of a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitingCallStatus {
    pub call_id: String,
    /// 1 = next to be served.
    pub position: usize,
    pub priority: u8,
    pub waited: Duration,
    /// `None` when nobody is staffed.
    pub estimated_wait: Option<Duration>,
}

/// Why a request to the engine was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No such agent or call.
    #[error("{0}")]
    NotFound(String),
    /// The request is valid but not allowed now (e.g. `ready` while on a call).
    #[error("{0}")]
    NotAllowed(String),
    /// The request itself is malformed (e.g. a bad disposition outcome).
    #[error("{0}")]
    Invalid(String),
}

impl CallError {
    /// The HTTP status this error answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            CallError::NotFound(_) => 404,
            CallError::NotAllowed(_) => 409,
            CallError::Invalid(_) => 400,
        }
    }
}

/// `Duration::MAX` is the ACD's "no estimate" (nobody staffed).
fn estimate(d: Duration) -> Option<Duration> {
    (d != Duration::MAX).then_some(d)
}

impl Engine {
    /// Every configured agent.
    pub fn agents(&self, now: Instant) -> Vec<AgentStatus> {
        self.config.agents.iter().filter_map(|a| self.agent_status(now, &a.id)).collect()
    }

    fn agent_status(&self, now: Instant, id: &str) -> Option<AgentStatus> {
        let snap = self.acd.agent(id)?;
        let cfg = self.config.agent(id)?;
        let binding = self.registrar.lookup(now, id);
        Some(AgentStatus {
            id: id.to_string(),
            name: cfg.display_name().to_string(),
            state: AgentPhase::from(&snap.state),
            not_ready_reason: snap.not_ready_reason.clone(),
            skills: snap.skills.clone(),
            registered: binding.is_some(),
            contact: binding.map(|b| b.contact_uri.clone()),
            idle_since_ms: snap.idle_since.map(|t| self.unix_ms(t)),
            calls_handled: snap.calls_handled,
        })
    }

    /// Every configured queue with its waiting calls.
    pub fn queues(&self, now: Instant) -> Vec<QueueStatus> {
        self.acd
            .queue_stats(now)
            .into_iter()
            .map(|q| {
                let calls = self.acd.waiting_calls(now, &q.name).unwrap_or_default();
                QueueStatus {
                    name: q.name.to_string(),
                    skills: q.skills.clone(),
                    waiting_calls: q.waiting,
                    longest_wait: q.longest_wait,
                    agents_ready: q.agents_ready,
                    agents_staffed: q.agents_staffed,
                    average_handle_time: q.average_handle_time,
                    estimated_wait: estimate(q.ewt),
                    calls: calls
                        .into_iter()
                        .map(|w| WaitingCallStatus {
                            call_id: self.calls.get(&w.call).map(|c| c.id.clone()).unwrap_or_default(),
                            position: w.position,
                            priority: w.priority,
                            waited: w.waited,
                            estimated_wait: estimate(w.estimated_wait),
                        })
                        .collect(),
                }
            })
            .collect()
    }

    /// An agent's (or a supervisor's) state change.
    pub fn set_agent_state(&mut self, now: Instant, id: &str, requested: Requested) -> Result<AgentStatus, CallError> {
        let result = self.acd.set_agent_state(now, id, requested);
        self.pump(now);
        match result {
            Ok(()) => self.agent_status(now, id).ok_or_else(|| CallError::NotFound(format!("agent {id}"))),
            Err(e) if e.status_code() == 404 => Err(CallError::NotFound(e.to_string())),
            Err(e) => Err(CallError::NotAllowed(e.to_string())),
        }
    }
}
