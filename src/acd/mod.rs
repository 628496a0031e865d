//! Automatic call distribution: the sans-IO engine that decides which waiting call is offered to
//! which agent. It owns agent states (logged out, ready, not ready, offered, on call, wrap-up),
//! leveled skills, registration gating, per-queue waiting lists ordered by priority and
//! service-level urgency, ring-out (RONA), max-wait/overflow and bullseye-relaxation timers, per-queue
//! agent scores, and the global decision loop that asks each queue's [`Strategy`] (longest idle,
//! best skill, merit-weighted with floor share, occupancy cap, ramp and holdout) for an agent and
//! explains every choice in an [`OfferDecision`]. The call layer feeds it inputs with the current
//! time and drains [`AcdEvent`]s; it never does IO.

mod agents;
mod dispatch;
mod engine;
mod merit;
mod merit_index;
mod types;
mod views;
mod waiting;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod verify;

pub use agents::{REASON_REJECTED, REASON_RONA, REASON_UNREACHABLE};
pub use engine::Acd;
pub use merit::{DEFAULT_OCCUPANCY_WINDOW, NEUTRAL_SCORE};
pub use types::{
    parse_skill, AcdError, AcdEvent, AgentConfig, AgentSnapshot, AgentState, CallId, OfferDecision, OfferResult,
    PickRule, QueueConfig, QueuePolicy, QueueSnapshot, RelaxStep, RemovedCall, Requested, StateCause, Strategy,
    WaitingCall, DEFAULT_SKILL_LEVEL,
};
