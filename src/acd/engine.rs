//! The sans-IO ACD engine: owns agents, queues, waiting calls, the timer table and the indexes that
//! make a routing decision cheap. Agents are grouped into skill profiles (identical skill sets); each
//! profile keeps its available agents in a `BTreeSet` ordered by idle time, and each queue knows which
//! profiles qualify, so picking the longest-idle eligible agent costs O(profiles) and never scans
//! agents. Waiting calls live per queue in a `BTreeMap` ordered by (priority desc, enqueue time, seq);
//! the head of every non-empty queue is kept in one global ordered set, and the decision loop walks
//! it best-first across all queues, asking each queue's `Strategy` for an agent.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::types::{
    AcdError, AcdEvent, AgentConfig, AgentSnapshot, AgentState, CallId, OfferDecision, OfferResult, QueueConfig,
    QueueSnapshot, RemovedCall, Requested, Strategy,
};

/// Reason given to agents made NotReady by a ring-out.
pub const REASON_RONA: &str = "rona";
/// Reason given to agents whose phone declined an offer.
pub const REASON_REJECTED: &str = "rejected";
/// Reason given to agents whose phone could not be reached.
pub const REASON_UNREACHABLE: &str = "unreachable";

/// Position of a timer in the table: deadline, then a unique sequence number.
type TimerKey = (Instant, u64);
/// Order of waiting calls: higher priority first, then earlier enqueue, then enqueue sequence.
type CallKey = (Reverse<u8>, Instant, u64);
/// Order of available agents in a profile: became idle earlier first, then by sequence.
type IdleKey = (Instant, u64, usize);

/// A pending deadline; timers are plain data in `Acd::timers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// The agent has rung for the queue's ring timeout.
    Ring { agent: usize, call: CallId },
    /// The agent's wrap-up is over.
    WrapUpEnd { agent: usize },
    /// The call has waited the queue's max wait.
    MaxWait { call: CallId },
}

/// Agents sharing one exact skill set.
#[derive(Debug)]
struct Profile {
    /// Sorted, deduplicated skill ids.
    skills: Vec<u32>,
    /// Agents Ready and registered, longest idle first.
    available: BTreeSet<IdleKey>,
    /// Agents not logged out.
    staffed: usize,
}

#[derive(Debug)]
struct Queue {
    name: Arc<str>,
    skill_names: Vec<String>,
    /// Sorted, deduplicated skill ids.
    required: Vec<u32>,
    ring_timeout: Duration,
    max_wait: Duration,
    strategy: Strategy,
    /// Profiles whose skills include `required`.
    eligible_profiles: Vec<usize>,
    waiting: BTreeMap<CallKey, CallId>,
    /// Waiting calls by age, for `longest_wait`.
    by_age: BTreeSet<(Instant, u64)>,
    /// Calls of this queue currently offered to an agent.
    offered: usize,
}

#[derive(Debug, Clone, Copy)]
enum CallState {
    Waiting { timer: Option<TimerKey> },
    Offered { agent: usize },
}

#[derive(Debug, Clone, Copy)]
struct Call {
    queue: usize,
    key: CallKey,
    /// When the call's max wait expires, if the queue has one.
    deadline: Option<Instant>,
    state: CallState,
}

impl Call {
    fn enqueued_at(&self) -> Instant {
        self.key.1
    }
}

#[derive(Debug)]
struct Agent {
    id: Arc<str>,
    skill_names: Vec<String>,
    profile: usize,
    wrapup: Duration,
    state: AgentState,
    registered: bool,
    /// When the agent last became Ready (kept while Offered so a released offer restores it).
    idle_since: Option<Instant>,
    /// Tie-break for equal `idle_since`.
    ready_seq: u64,
    /// The key under which the agent sits in its profile's available set, if it does.
    indexed: Option<(Instant, u64)>,
    /// Whether the agent is counted in its profile's `staffed`.
    staffed: bool,
    /// The ring or wrap-up timer of the current state.
    timer: Option<TimerKey>,
    pending_not_ready: Option<String>,
    calls_handled: u64,
    missed_offers: u64,
}

/// An agent picked by a strategy for a queue's head call.
#[derive(Debug, Clone, Copy)]
struct Choice {
    agent: usize,
    eligible: usize,
    rank: usize,
}

/// The automatic call distributor. Feed it inputs with the current time, then drain
/// [`Acd::poll_event`] and arm a timer for [`Acd::poll_timeout`], calling [`Acd::handle_timeout`]
/// when it passes.
#[derive(Debug, Default)]
pub struct Acd {
    skill_ids: HashMap<String, u32>,
    profiles: Vec<Profile>,
    profile_by_skills: HashMap<Vec<u32>, usize>,
    queues: Vec<Queue>,
    queue_by_name: HashMap<Arc<str>, usize>,
    agents: Vec<Agent>,
    agent_by_id: HashMap<Arc<str>, usize>,
    calls: HashMap<CallId, Call>,
    /// The head call of every non-empty queue, best first.
    heads: BTreeSet<(CallKey, usize)>,
    timers: BTreeMap<TimerKey, Timer>,
    events: VecDeque<AcdEvent>,
    /// Number of agents in all profiles' available sets.
    available_total: usize,
    seq: u64,
    /// Latest `now` seen; inputs with an earlier `now` are treated as happening at this time.
    last_now: Option<Instant>,
    /// Test hook: skip the brute-force cross-check of every decision (for scale tests).
    #[cfg(test)]
    pub(super) skip_choice_verification: bool,
}

impl Acd {
    /// An ACD with no queues and no agents.
    pub fn new() -> Self {
        Self::default()
    }

    // ---------------------------------------------------------------- configuration

    /// Adds a queue. Its eligible agents are found among the agents already added and those added
    /// later.
    pub fn add_queue(&mut self, config: QueueConfig) -> Result<(), AcdError> {
        if self.queue_by_name.contains_key(config.name.as_str()) {
            return Err(AcdError::DuplicateQueue(config.name));
        }
        let required = self.intern_skills(&config.required_skills);
        let eligible_profiles =
            (0..self.profiles.len()).filter(|&p| is_subset(&required, &self.profiles[p].skills)).collect();
        let name: Arc<str> = Arc::from(config.name.as_str());
        self.queue_by_name.insert(name.clone(), self.queues.len());
        self.queues.push(Queue {
            name,
            skill_names: config.required_skills,
            required,
            ring_timeout: config.ring_timeout,
            max_wait: config.max_wait,
            strategy: config.strategy,
            eligible_profiles,
            waiting: BTreeMap::new(),
            by_age: BTreeSet::new(),
            offered: 0,
        });
        Ok(())
    }

    /// Adds an agent, initially `LoggedOut` and unregistered.
    pub fn add_agent(&mut self, config: AgentConfig) -> Result<(), AcdError> {
        if self.agent_by_id.contains_key(config.id.as_str()) {
            return Err(AcdError::DuplicateAgent(config.id));
        }
        let skills = self.intern_skills(&config.skills);
        let profile = match self.profile_by_skills.get(&skills) {
            Some(&p) => p,
            None => {
                let p = self.profiles.len();
                for queue in &mut self.queues {
                    if is_subset(&queue.required, &skills) {
                        queue.eligible_profiles.push(p);
                    }
                }
                self.profile_by_skills.insert(skills.clone(), p);
                self.profiles.push(Profile { skills, available: BTreeSet::new(), staffed: 0 });
                p
            }
        };
        let id: Arc<str> = Arc::from(config.id.as_str());
        self.agent_by_id.insert(id.clone(), self.agents.len());
        self.agents.push(Agent {
            id,
            skill_names: config.skills,
            profile,
            wrapup: config.wrapup,
            state: AgentState::LoggedOut,
            registered: false,
            idle_since: None,
            ready_seq: 0,
            indexed: None,
            staffed: false,
            timer: None,
            pending_not_ready: None,
            calls_handled: 0,
            missed_offers: 0,
        });
        Ok(())
    }

    // ---------------------------------------------------------------- inputs

    /// Puts a call at the back of its priority class in `queue` (higher `priority` is served first).
    pub fn enqueue(&mut self, now: Instant, call: CallId, queue: &str, priority: u8) -> Result<(), AcdError> {
        let now = self.clock(now);
        let q = self.queue_index(queue)?;
        if self.calls.contains_key(&call) {
            return Err(AcdError::DuplicateCall(call));
        }
        let max_wait = self.queues[q].max_wait;
        let deadline = if max_wait.is_zero() { None } else { now.checked_add(max_wait) };
        let key = (Reverse(priority), now, self.next_seq());
        self.calls.insert(call, Call { queue: q, key, deadline, state: CallState::Waiting { timer: None } });
        self.wait_in_queue(call);
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
            CallState::Waiting { timer } => {
                if let Some(key) = timer {
                    self.timers.remove(&key);
                }
                self.leave_queue(q, entry.key);
            }
            CallState::Offered { agent } => {
                self.queues[q].offered = self.queues[q].offered.saturating_sub(1);
                offered_to = Some(self.agents[agent].id.clone());
                // The agent did nothing wrong: it gets its place in the idle order back.
                self.after_call(agent, now, true);
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

    /// Applies an agent's (or supervisor's) state request.
    ///
    /// Allowed: Ready / NotReady / LoggedOut from LoggedOut, Ready, NotReady and WrapUp (leaving
    /// WrapUp early cancels it; repeating the current state is a no-op). While Offered or OnCall:
    /// NotReady is accepted as *pending* and applied when the call and its wrap-up end (a ring-out or
    /// rejection replaces it with the system reason); Ready is accepted only to cancel such a pending
    /// NotReady; otherwise Ready and LoggedOut are refused with `InvalidTransition` (409).
    pub fn set_agent_state(&mut self, now: Instant, agent: &str, requested: Requested) -> Result<(), AcdError> {
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
            self.enter_state(a, target, now, false);
            self.dispatch(now);
        }
        Ok(())
    }

    /// Records whether the agent's phone has a live registration; only registered Ready agents are
    /// offered calls.
    pub fn set_registered(&mut self, now: Instant, agent: &str, registered: bool) -> Result<(), AcdError> {
        let now = self.clock(now);
        let a = self.agent_index(agent)?;
        if self.agents[a].registered != registered {
            self.agents[a].registered = registered;
            self.sync_agent_indexes(a);
            self.dispatch(now);
        }
        Ok(())
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
                self.enter_state(a, AgentState::OnCall { call }, now, false);
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
        self.enter_state(a, AgentState::NotReady { reason: reason.to_string() }, now, false);
        self.requeue(now, call, entry);
        self.dispatch(now);
        Ok(())
    }

    /// Reports that the agent's call is over: the agent enters wrap-up (or Ready, or its pending
    /// NotReady, when its wrap-up time is zero). Errors with 409 unless the agent is OnCall `call`.
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
        match now.checked_add(wrapup) {
            Some(until) if !wrapup.is_zero() => self.enter_state(a, AgentState::WrapUp { until }, now, false),
            _ => self.after_call(a, now, false),
        }
        self.dispatch(now);
        Ok(())
    }

    /// Fires every timer due at `now`: ring timeouts (`OfferTimedOut`), wrap-up ends and max-wait
    /// expiries (`CallTimedOut`), then runs the decision loop.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clock(now);
        // Bounded: every iteration removes one timer, and firing never adds a timer due at or
        // before `now` (wrap-up end leads to Ready/NotReady, which have no timer).
        while let Some((&key, &timer)) = self.timers.first_key_value() {
            if key.0 > now {
                break;
            }
            self.timers.remove(&key);
            match timer {
                Timer::Ring { agent, call } => {
                    self.agents[agent].timer = None;
                    self.events.push_back(AcdEvent::OfferTimedOut { call, agent: self.agents[agent].id.clone() });
                }
                Timer::WrapUpEnd { agent } => {
                    self.agents[agent].timer = None;
                    if matches!(self.agents[agent].state, AgentState::WrapUp { .. }) {
                        self.after_call(agent, now, false);
                    }
                }
                Timer::MaxWait { call } => {
                    if let Some(entry) = self.calls.remove(&call) {
                        self.leave_queue(entry.queue, entry.key);
                        self.emit_call_timed_out(now, call, &entry);
                    }
                }
            }
        }
        self.dispatch(now);
    }

    // ---------------------------------------------------------------- outputs

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<AcdEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first_key_value().map(|(key, _)| key.0)
    }

    // ---------------------------------------------------------------- views

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

    /// Per-queue statistics, in the order the queues were added.
    pub fn queue_stats(&self, now: Instant) -> Vec<QueueSnapshot> {
        self.queues
            .iter()
            .map(|queue| {
                let (ready, staffed) = queue.eligible_profiles.iter().fold((0, 0), |(ready, staffed), &p| {
                    let profile = &self.profiles[p];
                    (ready + profile.available.len(), staffed + profile.staffed)
                });
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
                    agents_ready: ready,
                    agents_staffed: staffed,
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

    /// Number of calls the ACD holds (waiting or being offered).
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    // ---------------------------------------------------------------- decision loop

    /// Matches waiting calls to available agents until no queue head can be served. Queue heads are
    /// visited in global order (priority desc, enqueue time, seq); within a queue all calls share
    /// the same eligible agents, so if a head cannot be served neither can the rest of its queue.
    fn dispatch(&mut self, now: Instant) {
        // Bounded: every iteration reserves one available agent.
        while self.available_total > 0 {
            let found = self.heads.iter().find_map(|&(key, q)| self.pick_agent(q).map(|choice| (key, q, choice)));
            let Some((key, q, choice)) = found else {
                break;
            };
            self.make_offer(now, q, key, choice);
        }
    }

    /// Asks the queue's strategy for an available eligible agent.
    fn pick_agent(&self, q: usize) -> Option<Choice> {
        let queue = &self.queues[q];
        match queue.strategy {
            Strategy::LongestIdle => {
                let mut best: Option<IdleKey> = None;
                let mut eligible = 0;
                for &p in &queue.eligible_profiles {
                    let available = &self.profiles[p].available;
                    eligible += available.len();
                    if let Some(&first) = available.first() {
                        if best.is_none_or(|b| first < b) {
                            best = Some(first);
                        }
                    }
                }
                best.map(|(_, _, agent)| Choice { agent, eligible, rank: 0 })
            }
        }
    }

    fn make_offer(&mut self, now: Instant, q: usize, key: CallKey, choice: Choice) {
        #[cfg(test)]
        if !self.skip_choice_verification {
            self.verify_choice(q, choice);
        }
        let Some(&call) = self.queues[q].waiting.get(&key) else {
            return;
        };
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        if let CallState::Waiting { timer: Some(timer) } = entry.state {
            self.timers.remove(&timer);
        }
        entry.state = CallState::Offered { agent: choice.agent };
        self.leave_queue(q, key);
        let queue = &mut self.queues[q];
        queue.offered += 1;
        let (queue_name, strategy, ring_timeout) = (queue.name.clone(), queue.strategy, queue.ring_timeout);
        let a = choice.agent;
        let agent_idle = self.agents[a].idle_since.map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        self.events.push_back(AcdEvent::Offer {
            call,
            agent: self.agents[a].id.clone(),
            queue: queue_name,
            decision: OfferDecision {
                strategy,
                eligible: choice.eligible,
                rank: choice.rank,
                waited: now.saturating_duration_since(key.1),
                agent_idle,
            },
        });
        self.enter_state(a, AgentState::Offered { call }, now, false);
        if let Some(deadline) = now.checked_add(ring_timeout).filter(|_| !ring_timeout.is_zero()) {
            let timer_key = (deadline, self.next_seq());
            self.timers.insert(timer_key, Timer::Ring { agent: a, call });
            self.agents[a].timer = Some(timer_key);
        }
    }

    // ---------------------------------------------------------------- helpers

    fn clock(&mut self, now: Instant) -> Instant {
        let now = self.last_now.map_or(now, |last| last.max(now));
        self.last_now = Some(now);
        now
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn agent_index(&self, agent: &str) -> Result<usize, AcdError> {
        self.agent_by_id.get(agent).copied().ok_or_else(|| AcdError::UnknownAgent(agent.to_string()))
    }

    fn queue_index(&self, queue: &str) -> Result<usize, AcdError> {
        self.queue_by_name.get(queue).copied().ok_or_else(|| AcdError::UnknownQueue(queue.to_string()))
    }

    fn intern_skills(&mut self, names: &[String]) -> Vec<u32> {
        let mut ids: Vec<u32> = names
            .iter()
            .map(|name| {
                let next = self.skill_ids.len() as u32;
                *self.skill_ids.entry(name.clone()).or_insert(next)
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Ends an offer or a call without fault: Ready (or the pending NotReady).
    fn after_call(&mut self, a: usize, now: Instant, keep_idle: bool) {
        let target = match self.agents[a].pending_not_ready.take() {
            Some(reason) => AgentState::NotReady { reason },
            None => AgentState::Ready,
        };
        self.enter_state(a, target, now, keep_idle);
    }

    /// Moves an agent to `state`: cancels the old state's timer, starts the wrap-up timer, updates
    /// idle time and indexes, and emits `AgentStateChanged`. With `keep_idle`, an agent becoming
    /// Ready keeps its previous idle time (an offer released through no fault of the agent).
    fn enter_state(&mut self, a: usize, state: AgentState, now: Instant, keep_idle: bool) {
        if let Some(key) = self.agents[a].timer.take() {
            self.timers.remove(&key);
        }
        let becomes_ready = state == AgentState::Ready && self.agents[a].state != AgentState::Ready;
        if becomes_ready && !(keep_idle && self.agents[a].idle_since.is_some()) {
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
        self.events.push_back(AcdEvent::AgentStateChanged { agent: self.agents[a].id.clone(), state });
    }

    /// Brings the profile's available set and staffed count in line with the agent's state.
    fn sync_agent_indexes(&mut self, a: usize) {
        let agent = &mut self.agents[a];
        let profile = &mut self.profiles[agent.profile];
        let wanted = match (&agent.state, agent.registered, agent.idle_since) {
            (AgentState::Ready, true, Some(since)) => Some((since, agent.ready_seq)),
            _ => None,
        };
        if agent.indexed != wanted {
            if let Some((since, seq)) = agent.indexed {
                profile.available.remove(&(since, seq, a));
                self.available_total -= 1;
            }
            if let Some((since, seq)) = wanted {
                profile.available.insert((since, seq, a));
                self.available_total += 1;
            }
            agent.indexed = wanted;
        }
        let staffed = agent.state != AgentState::LoggedOut;
        if staffed != agent.staffed {
            if staffed {
                profile.staffed += 1;
            } else {
                profile.staffed -= 1;
            }
            agent.staffed = staffed;
        }
    }

    /// Puts a known call into its queue's waiting set and arms its max-wait timer.
    fn wait_in_queue(&mut self, call: CallId) {
        let Some(entry) = self.calls.get(&call).copied() else {
            return;
        };
        let timer = entry.deadline.map(|deadline| {
            let key = (deadline, self.next_seq());
            self.timers.insert(key, Timer::MaxWait { call });
            key
        });
        if let Some(stored) = self.calls.get_mut(&call) {
            stored.state = CallState::Waiting { timer };
        }
        let q = entry.queue;
        let queue = &mut self.queues[q];
        let old_head = queue.waiting.first_key_value().map(|(key, _)| *key);
        queue.waiting.insert(entry.key, call);
        queue.by_age.insert((entry.key.1, entry.key.2));
        self.update_head(q, old_head);
    }

    /// Takes a call key out of its queue's waiting set (the call entry itself is untouched).
    fn leave_queue(&mut self, q: usize, key: CallKey) {
        let queue = &mut self.queues[q];
        let old_head = queue.waiting.first_key_value().map(|(key, _)| *key);
        queue.waiting.remove(&key);
        queue.by_age.remove(&(key.1, key.2));
        self.update_head(q, old_head);
    }

    fn update_head(&mut self, q: usize, old_head: Option<CallKey>) {
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
    /// priority class), or times it out if its max wait has already passed.
    fn requeue(&mut self, now: Instant, call: CallId, entry: Call) {
        if entry.deadline.is_some_and(|deadline| deadline <= now) {
            self.calls.remove(&call);
            self.emit_call_timed_out(now, call, &entry);
            return;
        }
        self.wait_in_queue(call);
    }

    fn emit_call_timed_out(&mut self, now: Instant, call: CallId, entry: &Call) {
        self.events.push_back(AcdEvent::CallTimedOut {
            call,
            queue: self.queues[entry.queue].name.clone(),
            waited: now.saturating_duration_since(entry.enqueued_at()),
        });
    }

    fn snapshot(&self, a: usize) -> AgentSnapshot {
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
        }
    }
}

/// Whether sorted `needle` is contained in sorted `haystack`.
fn is_subset(needle: &[u32], haystack: &[u32]) -> bool {
    let mut rest = haystack.iter();
    needle.iter().all(|n| rest.by_ref().any(|h| h == n))
}

#[cfg(test)]
impl Acd {
    /// Test hook: the indexed choice must equal a brute-force scan of all agents.
    fn verify_choice(&self, q: usize, choice: Choice) {
        let queue = &self.queues[q];
        let mut eligible = 0;
        let mut best: Option<(Instant, u64, usize)> = None;
        for (a, agent) in self.agents.iter().enumerate() {
            let skilled = is_subset(&queue.required, &self.profiles[agent.profile].skills);
            let available = agent.state == AgentState::Ready && agent.registered;
            if skilled && available {
                eligible += 1;
                let key = (agent.idle_since.unwrap_or_else(|| panic!("ready without idle")), agent.ready_seq, a);
                if best.is_none_or(|b| key < b) {
                    best = Some(key);
                }
            }
        }
        assert_eq!(best.map(|b| b.2), Some(choice.agent), "longest idle agent");
        assert_eq!(eligible, choice.eligible, "eligible count");
    }

    /// Test hook: checks every cross-structure invariant; panics with a description on violation.
    pub(super) fn check_invariants(&self) {
        let mut available_total = 0;
        let mut staffed = vec![0usize; self.profiles.len()];
        let mut offered_calls = BTreeSet::new();
        for (a, agent) in self.agents.iter().enumerate() {
            let profile = &self.profiles[agent.profile];
            let should_index = agent.state == AgentState::Ready && agent.registered;
            assert_eq!(agent.indexed.is_some(), should_index, "agent {} index flag", agent.id);
            if let Some((since, seq)) = agent.indexed {
                assert!(profile.available.contains(&(since, seq, a)), "agent {} indexed", agent.id);
                assert_eq!(Some(since), agent.idle_since);
                available_total += 1;
            }
            if agent.state != AgentState::LoggedOut {
                staffed[agent.profile] += 1;
            }
            match &agent.state {
                AgentState::Offered { call } => {
                    assert!(offered_calls.insert(*call), "call {call} offered twice");
                    let entry = self.calls.get(call).unwrap_or_else(|| panic!("offered call {call} unknown"));
                    assert!(matches!(entry.state, CallState::Offered { agent } if agent == a));
                    if let Some(key) = agent.timer {
                        assert_eq!(self.timers.get(&key), Some(&Timer::Ring { agent: a, call: *call }));
                    }
                }
                AgentState::WrapUp { until } => {
                    let key = agent.timer.unwrap_or_else(|| panic!("wrap-up without timer"));
                    assert_eq!(key.0, *until);
                    assert_eq!(self.timers.get(&key), Some(&Timer::WrapUpEnd { agent: a }));
                }
                AgentState::OnCall { .. } => assert!(agent.timer.is_none()),
                _ => assert!(agent.timer.is_none(), "agent {} has a stray timer", agent.id),
            }
        }
        assert_eq!(available_total, self.available_total);
        let indexed: usize = self.profiles.iter().map(|p| p.available.len()).sum();
        assert_eq!(indexed, available_total);
        for (p, profile) in self.profiles.iter().enumerate() {
            assert_eq!(profile.staffed, staffed[p], "profile {p} staffed");
        }
        let mut waiting_total = 0;
        let mut offered_per_queue = vec![0usize; self.queues.len()];
        for (call, entry) in &self.calls {
            let queue = &self.queues[entry.queue];
            match entry.state {
                CallState::Waiting { timer } => {
                    waiting_total += 1;
                    assert_eq!(queue.waiting.get(&entry.key), Some(call));
                    assert!(queue.by_age.contains(&(entry.key.1, entry.key.2)));
                    assert_eq!(timer.is_some(), entry.deadline.is_some());
                    if let Some(key) = timer {
                        assert_eq!(self.timers.get(&key), Some(&Timer::MaxWait { call: *call }));
                    }
                }
                CallState::Offered { agent } => {
                    offered_per_queue[entry.queue] += 1;
                    assert_eq!(self.agents[agent].state, AgentState::Offered { call: *call });
                }
            }
        }
        let queued: usize = self.queues.iter().map(|q| q.waiting.len()).sum();
        assert_eq!(queued, waiting_total);
        let mut heads = BTreeSet::new();
        for (q, queue) in self.queues.iter().enumerate() {
            assert_eq!(queue.offered, offered_per_queue[q], "queue {} offered count", queue.name);
            assert_eq!(queue.by_age.len(), queue.waiting.len());
            if let Some((&key, _)) = queue.waiting.first_key_value() {
                heads.insert((key, q));
                // The decision loop ran to completion: nobody could take this queue's head.
                assert!(self.pick_agent(q).is_none(), "queue {} has a servable head", queue.name);
            }
        }
        assert_eq!(heads, self.heads);
        // Every timer belongs to a live owner.
        for (key, timer) in &self.timers {
            match *timer {
                Timer::Ring { agent, .. } | Timer::WrapUpEnd { agent } => {
                    assert_eq!(self.agents[agent].timer, Some(*key));
                }
                Timer::MaxWait { call } => {
                    let entry = self.calls.get(&call).unwrap_or_else(|| panic!("timer of gone call"));
                    assert!(matches!(entry.state, CallState::Waiting { timer: Some(k) } if k == *key));
                }
            }
        }
    }
}
