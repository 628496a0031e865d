//! Waiting: how a call enters, holds and leaves its queue — `enqueue` (with the service-level key
//! that orders the waiting list), `remove_call` (hang-up), requeue after a failed offer at its
//! original place, the bullseye relax timers that widen the eligible rings as a call waits, and
//! max wait, which moves a call to its overflow queue or times it out. It also keeps each queue's
//! entry in the global set of queue heads that the decision loop walks.

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use rand::Rng;

use super::engine::{Acd, Call, CallKey, CallState, Timer};
use super::types::{AcdError, AcdEvent, CallId, RemovedCall, StateCause};

impl Acd {
    /// Puts a call in `queue` behind the calls of equal or higher priority that will reach their
    /// service-level threshold no later (higher `priority` is served first).
    pub fn enqueue(&mut self, now: Instant, call: CallId, queue: &str, priority: u8) -> Result<(), AcdError> {
        self.enqueue_since(now, call, queue, priority, now)
    }

    /// As [`Acd::enqueue`], for a call that has been waiting since `since` (at most `now`) before
    /// the ACD got it: its wait, service level and max wait count from `since`.
    pub fn enqueue_since(
        &mut self,
        now: Instant,
        call: CallId,
        queue: &str,
        priority: u8,
        since: Instant,
    ) -> Result<(), AcdError> {
        let now = self.clock(now);
        let since = since.min(now);
        let q = self.queue_index(queue)?;
        if self.calls.contains_key(&call) {
            return Err(AcdError::DuplicateCall(call));
        }
        let holdout = {
            let fraction = self.queues[q].policy.holdout;
            fraction > 0.0 && self.rng.gen_bool(fraction)
        };
        let seq = self.next_seq();
        let entry = self.new_call_entry(since, q, priority, since, seq, holdout);
        self.calls.insert(call, entry);
        self.wait_in_queue(now, call);
        self.dispatch(now);
        Ok(())
    }

    /// Forgets a call (the caller hung up or the call was moved elsewhere). Returns `None` when the
    /// call was not in the ACD (never enqueued, already answered or timed out). If the call was being
    /// offered, the agent is released; see [`RemovedCall::offered_to`].
    pub fn remove_call(&mut self, now: Instant, call: CallId) -> Option<RemovedCall> {
        let now = self.clock(now);
        let entry = self.calls.remove(&call)?;
        let q = entry.queue;
        let mut offered_to = None;
        match entry.state {
            CallState::Waiting { timer, relax_timer } => {
                for key in [timer, relax_timer].into_iter().flatten() {
                    self.timers.remove(&key);
                }
                self.leave_queue(q, entry.key);
            }
            CallState::Offered { agent } => {
                self.queues[q].offered = self.queues[q].offered.saturating_sub(1);
                offered_to = Some(self.agents[agent].id.clone());
                // The agent did nothing wrong: it gets its place in the idle order back.
                self.after_call(agent, now, true, StateCause::OfferWithdrawn);
            }
        }
        let removed = RemovedCall {
            queue: self.queues[q].name.clone(),
            waited: now.saturating_duration_since(entry.enqueued_at()),
            offered_to,
        };
        self.dispatch(now);
        Some(removed)
    }

    pub(super) fn new_call_entry(
        &self,
        now: Instant,
        q: usize,
        priority: u8,
        enqueued_at: Instant,
        seq: u64,
        holdout: bool,
    ) -> Call {
        let queue = &self.queues[q];
        let sl_deadline = enqueued_at.checked_add(queue.policy.sl_threshold).unwrap_or(enqueued_at);
        let deadline = if queue.max_wait.is_zero() { None } else { now.checked_add(queue.max_wait) };
        Call {
            queue: q,
            key: (Reverse(priority), sl_deadline, enqueued_at, seq),
            deadline,
            holdout,
            state: CallState::Waiting { timer: None, relax_timer: None },
        }
    }

    /// Puts a known call into its queue's waiting set and arms its max-wait and relax timers.
    pub(super) fn wait_in_queue(&mut self, now: Instant, call: CallId) {
        let Some(entry) = self.calls.get(&call).copied() else {
            return;
        };
        let timer = entry.deadline.map(|deadline| {
            let key = (deadline, self.next_seq());
            self.timers.insert(key, Timer::MaxWait { call });
            key
        });
        if let Some(stored) = self.calls.get_mut(&call) {
            stored.state = CallState::Waiting { timer, relax_timer: None };
        }
        self.arm_relax_timer(now, call);
        let q = entry.queue;
        let queue = &mut self.queues[q];
        let old_head = queue.waiting.first_key_value().map(|(key, _)| *key);
        queue.waiting.insert(entry.key, call);
        queue.by_age.insert((entry.key.2, entry.key.3));
        self.update_head(q, old_head);
    }

    /// Arms the timer for the waiting call's next bullseye ring, if there is one.
    pub(super) fn arm_relax_timer(&mut self, now: Instant, call: CallId) {
        let Some(entry) = self.calls.get(&call).copied() else {
            return;
        };
        let q = entry.queue;
        let step = self.relax_step(q, entry.enqueued_at(), now);
        let Some(next) = self.queues[q].rings.get(step + 1) else {
            return;
        };
        let Some(at) = entry.enqueued_at().checked_add(next.after) else {
            return;
        };
        let key = (at.max(now + Duration::from_nanos(1)), self.next_seq());
        self.timers.insert(key, Timer::Relax { call });
        if let Some(stored) = self.calls.get_mut(&call) {
            if let CallState::Waiting { relax_timer, .. } = &mut stored.state {
                if let Some(old) = relax_timer.replace(key) {
                    self.timers.remove(&old);
                }
            }
        }
    }

    /// Takes a call key out of its queue's waiting set (the call entry itself is untouched).
    pub(super) fn leave_queue(&mut self, q: usize, key: CallKey) {
        let queue = &mut self.queues[q];
        let old_head = queue.waiting.first_key_value().map(|(key, _)| *key);
        queue.waiting.remove(&key);
        queue.by_age.remove(&(key.2, key.3));
        self.update_head(q, old_head);
    }

    pub(super) fn update_head(&mut self, q: usize, old_head: Option<CallKey>) {
        let new_head = self.queues[q].waiting.first_key_value().map(|(key, _)| *key);
        if old_head != new_head {
            if let Some(old) = old_head {
                self.heads.remove(&(old, q));
            }
            if let Some(new) = new_head {
                self.heads.insert((new, q));
            }
        }
    }

    /// Returns an offered call to its queue with its original key (hence at the head of its
    /// priority class), or expires it if its max wait has already passed.
    pub(super) fn requeue(&mut self, now: Instant, call: CallId, entry: Call) {
        if entry.deadline.is_some_and(|deadline| deadline <= now) {
            self.calls.remove(&call);
            self.expire(now, call, entry);
            return;
        }
        self.wait_in_queue(now, call);
    }

    /// A call (already out of the waiting set and the call table) reached its max wait: it moves to
    /// the overflow queue with its original enqueue time (`CallOverflowed`, queued before the
    /// dispatch that may offer it from there), or is dropped with `CallTimedOut`.
    pub(super) fn expire(&mut self, now: Instant, call: CallId, entry: Call) {
        let overflow = self.queues[entry.queue].policy.overflow.as_deref().and_then(|n| self.queue_by_name.get(n));
        match overflow.copied() {
            Some(target) if target != entry.queue => {
                let moved =
                    self.new_call_entry(now, target, entry.priority(), entry.enqueued_at(), entry.key.3, entry.holdout);
                self.calls.insert(call, moved);
                self.events.push_back(AcdEvent::CallOverflowed {
                    call,
                    from: self.queues[entry.queue].name.clone(),
                    to: self.queues[target].name.clone(),
                    waited: now.saturating_duration_since(entry.enqueued_at()),
                });
                self.wait_in_queue(now, call);
            }
            _ => {
                self.events.push_back(AcdEvent::CallTimedOut {
                    call,
                    queue: self.queues[entry.queue].name.clone(),
                    waited: now.saturating_duration_since(entry.enqueued_at()),
                });
            }
        }
    }
}
