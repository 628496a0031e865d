//! Automatic call distribution: the sans-IO engine that decides which waiting call is offered to
//! which agent. It owns agent states (logged out, ready, not ready, offered, on call, wrap-up),
//! registration gating, per-queue waiting lists with priorities, ring-out (RONA) and max-wait
//! timers, and the global decision loop that asks each queue's [`Strategy`] for an agent. The call
//! layer feeds it inputs with the current time and drains [`AcdEvent`]s; it never does IO.

mod engine;
mod types;

#[cfg(test)]
mod tests;

pub use engine::{Acd, REASON_REJECTED, REASON_RONA, REASON_UNREACHABLE};
pub use types::{
    AcdError, AcdEvent, AgentConfig, AgentSnapshot, AgentState, CallId, OfferDecision, OfferResult, QueueConfig,
    QueueSnapshot, RemovedCall, Requested, Strategy,
};
