//! The JSON shapes the HTTP API exchanges with supervisors and wallboards: what an agent and a queue
//! look like from outside, and the body of an agent state change request. The call engine reports
//! domain snapshots (`call::AgentStatus`, `call::QueueStatus`); this module owns their wire form
//! and the conversion to it.

use serde::{Deserialize, Serialize};

use crate::acd::Requested;
use crate::call::{AgentPhase, AgentStatus, QueueStatus, WaitingCallStatus};

/// An agent's state as shown by the API (`"logged_out"`, `"ready"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    LoggedOut,
    Ready,
    NotReady,
    /// Reserved by the ACD; the phone is being offered a call.
    Offered,
    OnCall,
    WrapUp,
}

impl AgentState {
    /// The wire name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::LoggedOut => "logged_out",
            AgentState::Ready => "ready",
            AgentState::NotReady => "not_ready",
            AgentState::Offered => "offered",
            AgentState::OnCall => "on_call",
            AgentState::WrapUp => "wrap_up",
        }
    }
}

impl From<AgentPhase> for AgentState {
    fn from(phase: AgentPhase) -> AgentState {
        match phase {
            AgentPhase::LoggedOut => AgentState::LoggedOut,
            AgentPhase::Ready => AgentState::Ready,
            AgentPhase::NotReady => AgentState::NotReady,
            AgentPhase::Offered => AgentState::Offered,
            AgentPhase::OnCall => AgentState::OnCall,
            AgentPhase::WrapUp => AgentState::WrapUp,
        }
    }
}

/// One agent as seen by supervisors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentView {
    pub id: String,
    pub name: String,
    pub state: AgentState,
    /// Set while `state` is `not_ready`, when the agent gave a reason.
    pub not_ready_reason: Option<String>,
    pub skills: Vec<String>,
    /// Whether the agent's phone has a current SIP registration.
    pub registered: bool,
    /// The registered contact URI.
    pub contact: Option<String>,
    /// Since when (ms since the Unix epoch) the agent has been ready without a call.
    pub idle_since_ms: Option<i64>,
    pub calls_handled: u64,
}

impl From<AgentStatus> for AgentView {
    fn from(a: AgentStatus) -> AgentView {
        AgentView {
            id: a.id,
            name: a.name,
            state: a.state.into(),
            not_ready_reason: a.not_ready_reason,
            skills: a.skills,
            registered: a.registered,
            contact: a.contact,
            idle_since_ms: a.idle_since_ms,
            calls_handled: a.calls_handled,
        }
    }
}

/// One queue as seen by supervisors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueView {
    pub name: String,
    pub skills: Vec<String>,
    pub waiting_calls: u32,
    pub longest_wait_seconds: f64,
    pub agents_ready: u32,
    /// Agents logged in with a skill of this queue, whatever their state.
    pub agents_staffed: u32,
    /// Moving average of talk + wrap-up of the queue's calls.
    pub average_handle_seconds: f64,
    /// Estimated wait of a call arriving now; `null` when nobody is staffed.
    pub estimated_wait_seconds: Option<f64>,
    /// The waiting calls in the order they will be served.
    pub calls: Vec<WaitingCallView>,
}

impl From<QueueStatus> for QueueView {
    fn from(q: QueueStatus) -> QueueView {
        QueueView {
            name: q.name,
            skills: q.skills,
            waiting_calls: q.waiting_calls as u32,
            longest_wait_seconds: q.longest_wait.as_secs_f64(),
            agents_ready: q.agents_ready as u32,
            agents_staffed: q.agents_staffed as u32,
            average_handle_seconds: q.average_handle_time.as_secs_f64(),
            estimated_wait_seconds: q.estimated_wait.map(|d| d.as_secs_f64()),
            calls: q.calls.into_iter().map(WaitingCallView::from).collect(),
        }
    }
}

/// One waiting call in `GET /api/queues`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitingCallView {
    pub call_id: String,
    /// 1 = next to be served.
    pub position: u32,
    pub priority: u8,
    pub waited_seconds: f64,
    /// Position x average handle time / agents staffed (0 when first and an agent is ready);
    /// `null` when nobody is staffed.
    pub estimated_wait_seconds: Option<f64>,
}

impl From<WaitingCallStatus> for WaitingCallView {
    fn from(w: WaitingCallStatus) -> WaitingCallView {
        WaitingCallView {
            call_id: w.call_id,
            position: w.position as u32,
            priority: w.priority,
            waited_seconds: w.waited.as_secs_f64(),
            estimated_wait_seconds: w.estimated_wait.map(|d| d.as_secs_f64()),
        }
    }
}

/// Body of `PUT /api/agents/{id}/state`: `{"state":"ready"}`,
/// `{"state":"not_ready","reason":"lunch"}` or `{"state":"logged_out"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AgentStateRequest {
    Ready,
    NotReady {
        #[serde(default)]
        reason: Option<String>,
    },
    LoggedOut,
}

impl AgentStateRequest {
    /// The ACD's form of the request; a not-ready without a reason is `busy`.
    pub fn into_requested(self) -> Requested {
        match self {
            AgentStateRequest::Ready => Requested::Ready,
            AgentStateRequest::NotReady { reason } => Requested::NotReady(reason.unwrap_or_else(|| "busy".into())),
            AgentStateRequest::LoggedOut => Requested::LoggedOut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_requests_parse() {
        let ready: AgentStateRequest = serde_json::from_str(r#"{"state":"ready"}"#).unwrap();
        assert_eq!(ready, AgentStateRequest::Ready);
        let lunch: AgentStateRequest = serde_json::from_str(r#"{"state":"not_ready","reason":"lunch"}"#).unwrap();
        assert_eq!(lunch, AgentStateRequest::NotReady { reason: Some("lunch".into()) });
        let bare: AgentStateRequest = serde_json::from_str(r#"{"state":"not_ready"}"#).unwrap();
        assert_eq!(bare, AgentStateRequest::NotReady { reason: None });
        assert!(serde_json::from_str::<AgentStateRequest>(r#"{"state":"on_call"}"#).is_err());
        assert!(serde_json::from_str::<AgentStateRequest>(r#"{}"#).is_err());
    }

    #[test]
    fn state_names_match_serde() {
        for state in [
            AgentState::LoggedOut,
            AgentState::Ready,
            AgentState::NotReady,
            AgentState::Offered,
            AgentState::OnCall,
            AgentState::WrapUp,
        ] {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
    }
}
