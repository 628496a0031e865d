//! Automatic call distribution: the sans-IO engine that decides which waiting call is offered to
//! which agent and explains every choice in an [`OfferDecision`]. The call layer feeds it inputs
//! with the current time and drains [`AcdEvent`]s; it never does IO. The engine is split into
//! rooms, each named for what it decides, all `impl Acd` blocks over one shared state:
//!
//! - `engine` — the [`Acd`] struct and its shared data (agents, profiles, queues, rings and pools,
//!   calls, timers, events, clock), the timer pump `handle_timeout`, `poll_event` / `poll_timeout`;
//! - `eligibility` — configuration: `add_queue` (policy checks, bullseye rings), `add_agent`
//!   (leveled skills, shared profiles) and which ring of which queue each profile qualifies for;
//! - `waiting` — enqueue, hang-up (`remove_call`), requeue after a failed offer, relax timers,
//!   max wait and overflow, and the global set of queue heads;
//! - `dispatch` — the decision loop: queue heads in service-level order, the relax step reached,
//!   the [`Strategy`] pick (longest idle, best skill, merit; longest idle for holdout) and the offer;
//! - `merit` — the merit draw: floor share and its ledger, the weighted exponential race, the
//!   occupancy cap, the score ramp; `merit_index` — the ordered indexes the draw reads;
//! - `agents` — agent states, registration, offer results (answered, RONA, rejected,
//!   unreachable), wrap-up, occupancy and the agent's place in its pools;
//! - `views` — read-only snapshots and statistics for the API (`queue_stats`, `waiting_calls`,
//!   agent snapshots, position and EWT);
//! - `types` — the public inputs, outputs and configuration types;
//! - `verify` (tests only) — the brute-force checker of every offer and of every index.

mod agents;
mod dispatch;
mod eligibility;
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
