//! Dispatch: the decision loop. After every input it walks the queue heads once in global order
//! (priority, then service-level deadline, then enqueue time), works out how far each head call's
//! bullseye has widened, asks the queue's [`Strategy`] for an agent — longest idle, best skill, or
//! the merit draw of `merit.rs`; longest idle for holdout calls — and makes the offer: the
//! `AcdEvent::Offer` with its [`OfferDecision`] explaining the choice, and the ring (RONA) timer.

use std::ops::Bound;
use std::time::{Duration, Instant};

use super::engine::{Acd, CallKey, CallState, Timer};
use super::merit::record_floor_offer;
use super::types::{AcdEvent, AgentState, CallId, OfferDecision, PickRule, StateCause, Strategy};

/// An agent picked for a queue's head call.
#[derive(Debug, Clone, Copy)]
pub(super) struct Choice {
    pub(super) agent: usize,
    pub(super) eligible: usize,
    pub(super) rank: usize,
    pub(super) score: f64,
    pub(super) rule: PickRule,
    pub(super) relax_step: u8,
}

impl Acd {
    /// Matches waiting calls to available agents. Queue heads are visited once, in global order
    /// (priority desc, service-level deadline, enqueue time); only a queue's head is considered, so
    /// within a queue calls are always offered in key order. An offer can only make later heads
    /// less servable (one agent fewer), and the queue's new head sorts after the old one, so one
    /// forward pass suffices.
    pub(super) fn dispatch(&mut self, now: Instant) {
        let mut cursor: Option<(CallKey, usize)> = None;
        // Bounded: every iteration moves the cursor strictly forward through `heads`.
        while self.available_total > 0 {
            let next = match cursor {
                None => self.heads.first().copied(),
                Some(c) => self.heads.range((Bound::Excluded(c), Bound::Unbounded)).next().copied(),
            };
            let Some((key, q)) = next else {
                break;
            };
            cursor = Some((key, q));
            let Some(&call) = self.queues[q].waiting.get(&key) else {
                continue;
            };
            if let Some(choice) = self.pick_agent(now, q, call) {
                self.make_offer(now, q, key, choice);
            }
        }
    }

    /// The bullseye ring a call of queue `q` enqueued at `enqueued_at` has reached at `now`.
    pub(super) fn relax_step(&self, q: usize, enqueued_at: Instant, now: Instant) -> usize {
        let waited = now.saturating_duration_since(enqueued_at);
        self.queues[q].rings.iter().rposition(|ring| ring.after <= waited).unwrap_or(0)
    }

    /// Available agents of queue `q` in rings `0..=step`.
    pub(super) fn eligible_available(&self, q: usize, step: usize) -> usize {
        self.queues[q].pools.iter().take(step + 1).map(|p| p.by_idle.len()).sum()
    }

    /// Asks the queue's strategy (longest idle for holdout calls) for an available eligible agent.
    pub(super) fn pick_agent(&mut self, now: Instant, q: usize, call: CallId) -> Option<Choice> {
        let entry = *self.calls.get(&call)?;
        let step = self.relax_step(q, entry.enqueued_at(), now);
        let eligible = self.eligible_available(q, step);
        if eligible == 0 {
            return None;
        }
        let strategy = if entry.holdout { Strategy::LongestIdle } else { self.queues[q].strategy };
        let queue = &self.queues[q];
        let pools = &queue.pools[..=step];
        let relax_step = step as u8;
        match strategy {
            Strategy::LongestIdle => {
                let best = pools.iter().filter_map(|p| p.by_idle.first()).min().copied()?;
                let agent = best.2;
                Some(Choice {
                    agent,
                    eligible,
                    rank: 0,
                    score: self.effective_score(q, agent),
                    rule: PickRule::LongestIdle,
                    relax_step,
                })
            }
            Strategy::BestSkill => {
                let best = pools.iter().filter_map(|p| p.by_skill.first()).min().copied()?;
                let agent = best.3;
                Some(Choice {
                    agent,
                    eligible,
                    rank: 0,
                    score: self.effective_score(q, agent),
                    rule: PickRule::BestSkill,
                    relax_step,
                })
            }
            Strategy::MeritWeighted { temperature, floor_share, occupancy_cap, .. } => {
                self.pick_merit(now, q, step, eligible, temperature, floor_share, occupancy_cap)
            }
        }
    }

    pub(super) fn make_offer(&mut self, now: Instant, q: usize, key: CallKey, choice: Choice) {
        #[cfg(test)]
        if !self.skip_choice_verification {
            self.verify_choice(now, q, key, choice);
        }
        let Some(&call) = self.queues[q].waiting.get(&key) else {
            return;
        };
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        if let CallState::Waiting { timer, relax_timer } = entry.state {
            for k in [timer, relax_timer].into_iter().flatten() {
                self.timers.remove(&k);
            }
        }
        entry.state = CallState::Offered { agent: choice.agent };
        let (holdout, priority) = (entry.holdout, entry.priority());
        self.leave_queue(q, key);
        let a = choice.agent;
        let queue = &mut self.queues[q];
        queue.offered += 1;
        record_floor_offer(queue, a, choice.relax_step as usize, choice.eligible);
        let (queue_name, strategy, ring_timeout) = (queue.name.clone(), queue.strategy, queue.ring_timeout);
        let agent_idle = self.agents[a].idle_since.map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        self.events.push_back(AcdEvent::Offer {
            call,
            agent: self.agents[a].id.clone(),
            queue: queue_name,
            decision: OfferDecision {
                strategy,
                rule: choice.rule,
                eligible: choice.eligible,
                rank: choice.rank,
                score: choice.score,
                relax_step: choice.relax_step,
                holdout,
                priority,
                waited: now.saturating_duration_since(key.2),
                agent_idle,
            },
        });
        self.enter_state(a, AgentState::Offered { call }, now, false, StateCause::Offered);
        if let Some(deadline) = now.checked_add(ring_timeout).filter(|_| !ring_timeout.is_zero()) {
            let timer_key = (deadline, self.next_seq());
            self.timers.insert(timer_key, Timer::Ring { agent: a, call });
            self.agents[a].timer = Some(timer_key);
        }
    }
}
