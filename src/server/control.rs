//! The API's handle on the engine task: each [`SwitchControl`] call becomes one [`Control`]
//! message to the task that owns the engine, answered on a oneshot channel. A stopped task
//! answers "the switch is shutting down" (503), never a hang.

use tokio::sync::{mpsc, oneshot};

use crate::api::{AgentStateRequest, AgentView, ApiError, Disposition, QueueView, SwitchControl};

/// Requests from the API to the engine task.
pub(super) enum Control {
    Agents(oneshot::Sender<Vec<AgentView>>),
    Queues(oneshot::Sender<Vec<QueueView>>),
    SetAgentState(String, AgentStateRequest, oneshot::Sender<Result<AgentView, ApiError>>),
    Disposition(String, Disposition, Option<u32>, oneshot::Sender<Result<(), ApiError>>),
}

/// The API's handle on the engine task.
#[derive(Clone)]
pub struct SwitchHandle {
    pub(super) tx: mpsc::Sender<Control>,
}

impl SwitchControl for SwitchHandle {
    async fn agents(&self) -> Vec<AgentView> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Control::Agents(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    async fn set_agent_state(&self, id: &str, state: AgentStateRequest) -> Result<AgentView, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Control::SetAgentState(id.to_string(), state, tx))
            .await
            .map_err(|_| ApiError::Unavailable("the switch is shutting down".into()))?;
        rx.await.map_err(|_| ApiError::Unavailable("the switch is shutting down".into()))?
    }

    async fn record_disposition(
        &self,
        call_id: &str,
        disposition: Disposition,
        store_last_seq: Option<u32>,
    ) -> Result<(), ApiError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Control::Disposition(call_id.to_string(), disposition, store_last_seq, tx))
            .await
            .map_err(|_| ApiError::Unavailable("the switch is shutting down".into()))?;
        rx.await.map_err(|_| ApiError::Unavailable("the switch is shutting down".into()))?
    }

    async fn queues(&self) -> Vec<QueueView> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Control::Queues(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }
}
