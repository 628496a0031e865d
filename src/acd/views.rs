//! Views: read-only answers for the API, the call layer and the simulator — agent snapshots and
//! availability, per-queue statistics (`queue_stats`), a call's queue, position and estimated wait
//! (EWT), the waiting calls of a queue in service order, an agent's effective score, and the
//! memory-bound count `retained_per_call`. Nothing here changes the ACD.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::engine::{Acd, CallState, Queue};
use super::types::{AgentSnapshot, AgentState, CallId, QueueSnapshot, WaitingCall};

impl Acd {
    /// Calls waiting in all queues (not those being offered). O(queues).
    pub fn waiting_total(&self) -> usize {
        self.queues.iter().map(|q| q.waiting.len()).sum()
    }

    /// Entries held per call (waiting and offered calls, their timers, undelivered events):
    /// what a memory bound is checked against. Per-agent and per-queue state is not counted.
    pub fn retained_per_call(&self) -> usize {
        self.calls.len() + self.heads.len() + self.timers.len() + self.events.len()
    }

    /// Whether the agent is Ready and registered (false for unknown agents).
    pub fn agent_available(&self, agent: &str) -> bool {
        self.agent_by_id.get(agent).is_some_and(|&a| self.agents[a].indexed.is_some())
    }

    /// Snapshot of one agent.
    pub fn agent(&self, agent: &str) -> Option<AgentSnapshot> {
        self.agent_by_id.get(agent).map(|&a| self.snapshot(a))
    }

    /// Snapshots of all agents, in the order they were added.
    pub fn agents(&self) -> impl Iterator<Item = AgentSnapshot> + '_ {
        (0..self.agents.len()).map(|a| self.snapshot(a))
    }

    /// Per-queue statistics, in the order the queues were added. Ready and staffed agents are
    /// those meeting the queue's own requirement (bullseye ring 0).
    pub fn queue_stats(&self, now: Instant) -> Vec<QueueSnapshot> {
        self.queues
            .iter()
            .map(|queue| {
                let pool = &queue.pools[0];
                QueueSnapshot {
                    name: queue.name.clone(),
                    skills: queue.skill_names.clone(),
                    strategy: queue.strategy,
                    waiting: queue.waiting.len(),
                    offered: queue.offered,
                    longest_wait: queue
                        .by_age
                        .first()
                        .map_or(Duration::ZERO, |&(t, _)| now.saturating_duration_since(t)),
                    agents_ready: pool.by_idle.len(),
                    agents_staffed: pool.staffed,
                    ewt: ewt(queue, queue.waiting.len() + 1),
                    average_handle_time: Duration::from_secs_f64(queue.handle_time.max(0.0)),
                    sl_threshold: queue.policy.sl_threshold,
                }
            })
            .collect()
    }

    /// The queue of a waiting call and its position in it, 1 = next to be served. `None` when the
    /// call is not waiting (unknown, or currently being offered).
    pub fn position(&self, call: CallId) -> Option<(Arc<str>, usize)> {
        let entry = self.calls.get(&call)?;
        if !matches!(entry.state, CallState::Waiting { .. }) {
            return None;
        }
        let queue = &self.queues[entry.queue];
        Some((queue.name.clone(), queue.waiting.range(..entry.key).count() + 1))
    }

    /// Position (1 = next) of a waiting call in its queue and its estimated wait from now:
    /// position x the queue's average handle time / agents staffed for the queue (zero when the
    /// call is first and an agent is ready; `Duration::MAX` when nobody is staffed). Calls of
    /// other queues competing for the same agents are not counted.
    pub fn position_and_ewt(&self, call: CallId) -> Option<(usize, Duration)> {
        let (_, position) = self.position(call)?;
        let queue = &self.queues[self.calls.get(&call)?.queue];
        Some((position, ewt(queue, position)))
    }

    /// The waiting calls of `queue` in the order they will be served, with position and estimated
    /// wait (for queue announcements and the API); `None` for an unknown queue. O(waiting calls).
    pub fn waiting_calls(&self, now: Instant, queue: &str) -> Option<Vec<WaitingCall>> {
        let queue = &self.queues[*self.queue_by_name.get(queue)?];
        Some(
            queue
                .waiting
                .iter()
                .enumerate()
                .map(|(i, (key, &call))| WaitingCall {
                    call,
                    position: i + 1,
                    priority: key.0 .0,
                    waited: now.saturating_duration_since(key.2),
                    estimated_wait: ewt(queue, i + 1),
                })
                .collect(),
        )
    }

    /// The queue a call is currently in (after any overflow), waiting or offered.
    pub fn call_queue(&self, call: CallId) -> Option<Arc<str>> {
        self.calls.get(&call).map(|entry| self.queues[entry.queue].name.clone())
    }

    /// Number of calls the ACD holds (waiting or being offered).
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// The agent's effective (ramped) score in the queue, as the merit strategy sees it.
    pub fn agent_score(&self, agent: &str, queue: &str) -> Option<f64> {
        let a = *self.agent_by_id.get(agent)?;
        let q = *self.queue_by_name.get(queue)?;
        Some(self.effective_score(q, a))
    }

    pub(super) fn snapshot(&self, a: usize) -> AgentSnapshot {
        let agent = &self.agents[a];
        AgentSnapshot {
            id: agent.id.clone(),
            state: agent.state.clone(),
            not_ready_reason: match &agent.state {
                AgentState::NotReady { reason } => Some(reason.clone()),
                _ => None,
            },
            pending_not_ready: agent.pending_not_ready.clone(),
            skills: agent.skill_names.clone(),
            registered: agent.registered,
            available: agent.indexed.is_some(),
            idle_since: if agent.state == AgentState::Ready { agent.idle_since } else { None },
            calls_handled: agent.calls_handled,
            missed_offers: agent.missed_offers,
            skill_levels: agent.skill_levels.clone(),
            occupancy: self.last_now.map_or(agent.occupancy, |now| self.occupancy_at(a, now)),
        }
    }
}

/// Estimated wait for the call at `position` in `queue`.
pub(super) fn ewt(queue: &Queue, position: usize) -> Duration {
    let pool = &queue.pools[0];
    if pool.staffed == 0 {
        return Duration::MAX;
    }
    if position <= pool.by_idle.len() {
        return Duration::ZERO;
    }
    let seconds = position as f64 * queue.handle_time.max(0.0) / pool.staffed as f64;
    Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
}
