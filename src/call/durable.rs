//! What the engine keeps across a restart, apart from the event log: registrations (with their
//! expiry) and the SIP dialogs of live calls (as the BYE that ends each). The engine asks the shell
//! to write them with [`Output::Durable`](super::Output) as they change, and at start-up takes
//! back what the store held with [`Engine::handle_recovery`](super::Engine::handle_recovery):
//! unexpired bindings are restored, each call the log shows unfinished gets a `call.ended` with
//! cause `restart`, its dialogs get their BYE, and each agent's last state comes back. Plain data:
//! the store persists it, this room defines it.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// A registered contact of an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingRecord {
    pub agent: String,
    pub contact: String,
    pub source: SocketAddr,
    /// `udp` or `tcp`.
    pub transport: String,
    /// When the binding lapses, milliseconds since the Unix epoch.
    pub expires_at_ms: i64,
}

/// Which leg a dialog record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialogLeg {
    Caller,
    Agent,
}

impl DialogLeg {
    pub fn as_str(self) -> &'static str {
        match self {
            DialogLeg::Caller => "caller",
            DialogLeg::Agent => "agent",
        }
    }
}

/// An established dialog of a live call, kept as the BYE request that ends it (without its Via,
/// which gets a fresh branch when sent) and where to send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialogRecord {
    pub call_id: String,
    pub leg: DialogLeg,
    pub dest: SocketAddr,
    /// `udp` or `tcp`.
    pub transport: String,
    pub bye: String,
}

/// A write the shell makes durable for the engine, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurableWrite {
    /// Insert or replace the binding of (agent, contact).
    SaveBinding(BindingRecord),
    RemoveBinding {
        agent: String,
        contact: String,
    },
    /// Insert or replace the dialog of (call, leg).
    SaveDialog(DialogRecord),
    /// The call ended: forget its dialogs.
    RemoveDialogs {
        call_id: String,
    },
}

/// A call the log shows without `call.ended`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfinishedCall {
    pub call_id: String,
    /// Its highest stored sequence number.
    pub last_seq: u32,
}

/// An agent's stream as the log left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRecord {
    pub agent: String,
    /// Highest sequence number of the agent's stream (0: none yet).
    pub last_seq: u32,
    /// The last `agent.state_changed`: state and reason.
    pub last_state: Option<(String, Option<String>)>,
}

/// Everything the store gives back at start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    pub bindings: Vec<BindingRecord>,
    pub dialogs: Vec<DialogRecord>,
    pub unfinished_calls: Vec<UnfinishedCall>,
    pub agents: Vec<AgentRecord>,
}
