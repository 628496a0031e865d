//! The JSON shapes the HTTP API exchanges with supervisors and wallboards: what an agent and a queue
//! look like from outside, and the body of an agent state change request. The switch core fills
//! the views through [`super::SwitchControl`]; this module owns only their wire form.

use serde::{Deserialize, Serialize};

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
