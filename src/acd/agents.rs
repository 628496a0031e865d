//! Agents: the agent state machine and how an offer ends. State requests (Ready, NotReady,
//! LoggedOut, with pending NotReady while busy), phone registration gating, and offer results:
//! answered puts the agent OnCall; RONA (ring-out, no answer: [`REASON_RONA`]), rejection and an
//! unreachable phone make the agent NotReady and requeue the call; `call_ended` starts wrap-up and
//! feeds the handle-time average. Every state change goes through `enter_state`, which keeps the
//! rolling occupancy and the agent's place in its queues' pools (`sync_agent_indexes`) current.

use std::cmp::Reverse;
use std::time::Instant;

use super::engine::{Acd, Timer};
use super::merit::mark_fair_share;
use super::types::{AcdError, AcdEvent, AgentState, CallId, OfferResult, Requested, StateCause, Strategy};

/// Reason given to agents made NotReady by a ring-out.
pub const REASON_RONA: &str = "rona";
/// Reason given to agents whose phone declined an offer.
pub const REASON_REJECTED: &str = "rejected";
/// Reason given to agents whose phone could not be reached.
pub const REASON_UNREACHABLE: &str = "unreachable";
/// Weight of the newest sample in a queue's handle-time moving average.
const HANDLE_TIME_ALPHA: f64 = 0.1;

impl Acd {
    /// Applies an agent's (or supervisor's) state request.
    ///
    /// Allowed: Ready / NotReady / LoggedOut from LoggedOut, Ready, NotReady and WrapUp (leaving
    /// WrapUp early cancels it; repeating the current state is a no-op). While Offered or OnCall:
    /// NotReady is accepted as *pending* and applied when the call and its wrap-up end (a ring-out or
    /// rejection replaces it with the system reason); Ready is accepted only to cancel such a pending
    /// NotReady; otherwise Ready and LoggedOut are refused with `InvalidTransition` (409).
    pub fn set_agent_state(&mut self, now: Instant, agent: &str, requested: Requested) -> Result<(), AcdError> {
        self.change_agent_state(now, agent, requested, StateCause::Requested)
    }

    /// Puts an agent back in the state it had before the switch restarted (the same rules as
    /// [`Acd::set_agent_state`], reported with cause `Restored`).
    pub fn restore_agent_state(&mut self, now: Instant, agent: &str, requested: Requested) -> Result<(), AcdError> {
        self.change_agent_state(now, agent, requested, StateCause::Restored)
    }

    pub(super) fn change_agent_state(
        &mut self,
        now: Instant,
        agent: &str,
        requested: Requested,
        cause: StateCause,
    ) -> Result<(), AcdError> {
        let now = self.clock(now);
        let a = self.agent_index(agent)?;
        let current = &self.agents[a].state;
        let busy = matches!(current, AgentState::Offered { .. } | AgentState::OnCall { .. });
        if busy {
            return match requested {
                Requested::NotReady(reason) => {
                    self.agents[a].pending_not_ready = Some(reason);
                    Ok(())
                }
                Requested::Ready if self.agents[a].pending_not_ready.is_some() => {
                    self.agents[a].pending_not_ready = None;
                    Ok(())
                }
                Requested::Ready | Requested::LoggedOut => Err(AcdError::InvalidTransition {
                    agent: agent.to_string(),
                    from: current.name(),
                    to: requested.name(),
                }),
            };
        }
        let target = match requested {
            Requested::Ready => AgentState::Ready,
            Requested::NotReady(reason) => AgentState::NotReady { reason },
            Requested::LoggedOut => AgentState::LoggedOut,
        };
        if *current != target {
            self.agents[a].pending_not_ready = None;
            self.enter_state(a, target, now, false, cause);
            self.dispatch(now);
        }
        Ok(())
    }

    /// Records whether the agent's phone has a live registration; only registered Ready agents are
    /// offered calls. Returns whether this changed the agent's flag.
    pub fn set_registered(&mut self, now: Instant, agent: &str, registered: bool) -> Result<bool, AcdError> {
        let now = self.clock(now);
        let a = self.agent_index(agent)?;
        if self.agents[a].registered == registered {
            return Ok(false);
        }
        self.agents[a].registered = registered;
        self.sync_agent_indexes(a);
        self.dispatch(now);
        Ok(true)
    }

    /// Reports how the offer of `call` to `agent` ended. Answered puts the agent OnCall; any other
    /// result makes the agent NotReady ("rona", "rejected", "unreachable") and returns the call to
    /// the head of its queue with its original enqueue time (or times it out if its max wait has
    /// passed meanwhile). Errors with 409 if the agent is not currently offered this call.
    pub fn offer_result(
        &mut self,
        now: Instant,
        agent: &str,
        call: CallId,
        result: OfferResult,
    ) -> Result<(), AcdError> {
        let now = self.clock(now);
        let a = self.agent_index(agent)?;
        let offered_this_call = matches!(self.agents[a].state, AgentState::Offered { call: c } if c == call);
        let entry = match self.calls.get(&call) {
            Some(entry) if offered_this_call => *entry,
            _ => {
                let to = match result {
                    OfferResult::Answered => "on_call",
                    _ => "not_ready",
                };
                return Err(AcdError::InvalidTransition {
                    agent: agent.to_string(),
                    from: self.agents[a].state.name(),
                    to,
                });
            }
        };
        let q = entry.queue;
        self.queues[q].offered = self.queues[q].offered.saturating_sub(1);
        let reason = match result {
            OfferResult::Answered => {
                self.calls.remove(&call);
                self.agents[a].calls_handled += 1;
                self.agents[a].talking = Some((q, now));
                self.queues[q].agent_stats.entry(a).or_default().answered += 1;
                self.enter_state(a, AgentState::OnCall { call }, now, false, StateCause::Answered);
                return Ok(());
            }
            OfferResult::NoAnswer => REASON_RONA,
            OfferResult::Rejected => REASON_REJECTED,
            OfferResult::Unreachable => REASON_UNREACHABLE,
        };
        if result != OfferResult::Unreachable {
            self.agents[a].missed_offers += 1;
        }
        self.agents[a].pending_not_ready = None;
        self.enter_state(a, AgentState::NotReady { reason: reason.to_string() }, now, false, StateCause::OfferFailed);
        self.requeue(now, call, entry);
        self.dispatch(now);
        Ok(())
    }

    /// Reports that the agent's call is over: the agent enters wrap-up (or Ready, or its pending
    /// NotReady, when its wrap-up time is zero). Errors with 409 unless the agent is OnCall `call`.
    /// The talk time plus the agent's wrap-up feeds the queue's handle-time average (for EWT).
    pub fn call_ended(&mut self, now: Instant, agent: &str, call: CallId) -> Result<(), AcdError> {
        let now = self.clock(now);
        let a = self.agent_index(agent)?;
        if !matches!(self.agents[a].state, AgentState::OnCall { call: c } if c == call) {
            return Err(AcdError::InvalidTransition {
                agent: agent.to_string(),
                from: self.agents[a].state.name(),
                to: "wrap_up",
            });
        }
        let wrapup = self.agents[a].wrapup;
        if let Some((q, answered_at)) = self.agents[a].talking.take() {
            let sample = (now.saturating_duration_since(answered_at) + wrapup).as_secs_f64();
            let queue = &mut self.queues[q];
            queue.handle_time += HANDLE_TIME_ALPHA * (sample - queue.handle_time);
        }
        match now.checked_add(wrapup) {
            Some(until) if !wrapup.is_zero() => {
                self.enter_state(a, AgentState::WrapUp { until }, now, false, StateCause::CallEnded)
            }
            _ => self.after_call(a, now, false, StateCause::CallEnded),
        }
        self.dispatch(now);
        Ok(())
    }

    /// Ends an offer or a call without fault: Ready (or the pending NotReady).
    pub(super) fn after_call(&mut self, a: usize, now: Instant, keep_idle: bool, cause: StateCause) {
        let target = match self.agents[a].pending_not_ready.take() {
            Some(reason) => AgentState::NotReady { reason },
            None => AgentState::Ready,
        };
        self.enter_state(a, target, now, keep_idle, cause);
    }

    /// Moves an agent to `state`: cancels the old state's timer, starts the wrap-up timer, updates
    /// idle time, occupancy and indexes, and emits `AgentStateChanged`. With `keep_idle`, an agent
    /// becoming Ready keeps its previous idle time (an offer released through no fault of the agent).
    pub(super) fn enter_state(
        &mut self,
        a: usize,
        state: AgentState,
        now: Instant,
        keep_idle: bool,
        cause: StateCause,
    ) {
        if let Some(key) = self.agents[a].timer.take() {
            self.timers.remove(&key);
        }
        let occupancy = self.occupancy_at(a, now);
        let agent = &mut self.agents[a];
        agent.occupancy = occupancy;
        agent.occupancy_at = Some(now);
        let becomes_ready = state == AgentState::Ready && agent.state != AgentState::Ready;
        if becomes_ready && !(keep_idle && agent.idle_since.is_some()) {
            let seq = self.next_seq();
            self.agents[a].idle_since = Some(now);
            self.agents[a].ready_seq = seq;
        }
        if let AgentState::WrapUp { until } = state {
            let key = (until, self.next_seq());
            self.timers.insert(key, Timer::WrapUpEnd { agent: a });
            self.agents[a].timer = Some(key);
        }
        self.agents[a].state = state.clone();
        self.sync_agent_indexes(a);
        self.events.push_back(AcdEvent::AgentStateChanged { agent: self.agents[a].id.clone(), state, cause });
    }

    /// Brings the agent's pools (available sets, staffed counts) in line with its state.
    pub(super) fn sync_agent_indexes(&mut self, a: usize) {
        let agent = &self.agents[a];
        let was = agent.indexed;
        let wanted = match (&agent.state, agent.registered, agent.idle_since) {
            (AgentState::Ready, true, Some(since)) => Some((since, agent.ready_seq)),
            _ => None,
        };
        let p = agent.profile;
        if was != wanted {
            for i in 0..self.profiles[p].memberships.len() {
                let m = self.profiles[p].memberships[i];
                if was.is_some() {
                    self.merit_leave(m.queue, a);
                }
                let best_skill = self.queues[m.queue].strategy == Strategy::BestSkill;
                let pool = &mut self.queues[m.queue].pools[m.ring as usize];
                if let Some((since, seq)) = was {
                    pool.by_idle.remove(&(since, seq, a));
                    if best_skill {
                        pool.by_skill.remove(&(Reverse(m.skill_score), since, seq, a));
                    }
                }
                if let Some((since, seq)) = wanted {
                    pool.by_idle.insert((since, seq, a));
                    if best_skill {
                        pool.by_skill.insert((Reverse(m.skill_score), since, seq, a));
                    }
                }
                let queue = &mut self.queues[m.queue];
                if was.is_some() {
                    mark_fair_share(queue, a, m.ring, false);
                }
                if let Some(idle) = wanted {
                    mark_fair_share(queue, a, m.ring, true);
                    self.merit_enter(m.queue, m.ring, a, idle);
                }
            }
            match (was.is_some(), wanted.is_some()) {
                (true, false) => self.available_total -= 1,
                (false, true) => self.available_total += 1,
                _ => {}
            }
            self.agents[a].indexed = wanted;
        }
        let agent = &mut self.agents[a];
        let staffed = agent.state != AgentState::LoggedOut;
        if staffed != agent.staffed {
            for m in &self.profiles[p].memberships {
                let pool = &mut self.queues[m.queue].pools[m.ring as usize];
                if staffed {
                    pool.staffed += 1;
                } else {
                    pool.staffed = pool.staffed.saturating_sub(1);
                }
            }
            agent.staffed = staffed;
        }
    }

    /// The agent's rolling occupancy at `now` (not stored).
    pub(super) fn occupancy_at(&self, a: usize, now: Instant) -> f64 {
        let agent = &self.agents[a];
        let Some(at) = agent.occupancy_at else {
            return 0.0;
        };
        if agent.state == AgentState::LoggedOut {
            return agent.occupancy;
        }
        let busy = if is_busy(&agent.state) { 1.0 } else { 0.0 };
        let alpha =
            1.0 - (-now.saturating_duration_since(at).as_secs_f64() / self.occupancy_window.as_secs_f64()).exp();
        agent.occupancy + (busy - agent.occupancy) * alpha
    }
}

fn is_busy(state: &AgentState) -> bool {
    matches!(state, AgentState::Offered { .. } | AgentState::OnCall { .. } | AgentState::WrapUp { .. })
}
