//! The core of the ACD: the [`Acd`] struct and the data every room shares — agents, leveled-skill
//! profiles and their queue memberships, queues with their bullseye rings and per-ring pools of
//! available agents, waiting and offered calls, the timer table, the event queue and the clock.
//! It also holds the engine's entry and exit points that belong to no single room: the timer pump
//! (`handle_timeout`, which hands each due timer — ring-out, wrap-up end, relax, max wait — to its
//! room), `poll_event` and `poll_timeout`. What the ACD decides lives in the sibling rooms listed
//! in `acd/mod.rs`; they reach these fields through `pub(super)`.
//!
//! Agents with identical leveled skill sets share a profile, which knows once for all queues in
//! which bullseye ring of each queue it is eligible. Every (queue, ring) has a pool of its available
//! agents ordered by idle time (and by skill level for best-skill queues), so longest-idle and
//! best-skill picks cost O(rings) tree lookups, never an agent scan; merit-weighted queues add the
//! orders of [`super::merit_index`] and the floor-share ledger, so their picks cost O(rings x log n)
//! too. Waiting calls live per queue in a `BTreeMap` ordered by (priority desc, service-level
//! deadline, enqueue time, seq); the head of every non-empty queue sits in one global ordered set
//! that the decision loop walks best-first once.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::merit::{FloorLedger, DEFAULT_OCCUPANCY_WINDOW};
use super::merit_index::{MeritPool, MeritSlot};
use super::types::{AcdError, AcdEvent, AgentState, CallId, QueuePolicy, StateCause, Strategy};

/// Position of a timer in the table: deadline, then a unique sequence number.
pub(super) type TimerKey = (Instant, u64);
/// Order of waiting calls: higher priority first, then earlier service-level deadline, then earlier
/// enqueue, then enqueue sequence.
pub(super) type CallKey = (Reverse<u8>, Instant, Instant, u64);
/// Order of available agents in a pool: became idle earlier first, then by sequence.
pub(super) type IdleKey = (Instant, u64, usize);
/// Order of available agents in a best-skill pool: higher skill first, then the idle order.
pub(super) type SkillKey = (Reverse<u32>, Instant, u64, usize);

/// A pending deadline; timers are plain data in `Acd::timers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// The agent has rung for the queue's ring timeout.
    Ring { agent: usize, call: CallId },
    /// The agent's wrap-up is over.
    WrapUpEnd { agent: usize },
    /// The call has waited the queue's max wait.
    MaxWait { call: CallId },
    /// The call reaches its queue's next bullseye ring.
    Relax { call: CallId },
}

/// A profile's eligibility for one queue.
#[derive(Debug, Clone, Copy)]
pub(super) struct Membership {
    pub(super) queue: usize,
    /// The first bullseye ring whose requirement the profile meets.
    pub(super) ring: u8,
    /// Sum of the profile's levels on the queue's own required skills.
    pub(super) skill_score: u32,
}

/// Agents sharing one exact leveled skill set.
#[derive(Debug)]
pub(super) struct Profile {
    /// Sorted by skill id, one entry per skill.
    pub(super) skills: Vec<(u32, u8)>,
    pub(super) memberships: Vec<Membership>,
}

/// The agents of one (queue, ring).
#[derive(Debug, Default)]
pub(super) struct Pool {
    /// Agents Ready and registered, longest idle first.
    pub(super) by_idle: BTreeSet<IdleKey>,
    /// The same agents, best skill first; kept only for best-skill queues.
    pub(super) by_skill: BTreeSet<SkillKey>,
    /// Agents not logged out.
    pub(super) staffed: usize,
    /// The same agents in merit order; kept only for merit-weighted queues.
    pub(super) merit: Option<MeritPool>,
}

/// A skill requirement: every (skill, minimum level) must be met.
#[derive(Debug, Clone)]
pub(super) struct Ring {
    pub(super) after: Duration,
    pub(super) requirement: Vec<(u32, u8)>,
}

/// What a queue knows about one agent's work in it. `offers`, `fair` and `fair_mark` are in the
/// units of the queue's [`FloorLedger`] (kept only for merit-weighted queues).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct AgentQueueStats {
    pub(super) score: Option<f64>,
    pub(super) answered: u32,
    /// Decayed count of the queue's offers made to the agent.
    pub(super) offers: f64,
    /// Decayed fair share settled so far: for every offer of the queue made while the agent was
    /// available and eligible, 1 / (number of such agents).
    pub(super) fair: f64,
    /// The ledger's credit of the agent's ring when the agent last became available; while it is
    /// available its fair share is `fair + credit[ring] - fair_mark`.
    pub(super) fair_mark: f64,
    /// Where the agent sits in its ring's merit pool while available (merit queues only).
    pub(super) slot: Option<MeritSlot>,
}

#[derive(Debug)]
pub(super) struct Queue {
    pub(super) name: Arc<str>,
    pub(super) skill_names: Vec<String>,
    /// Ring 0 is the queue's own requirement; the rest come from the policy's relax steps.
    pub(super) rings: Vec<Ring>,
    pub(super) pools: Vec<Pool>,
    pub(super) ring_timeout: Duration,
    pub(super) max_wait: Duration,
    pub(super) strategy: Strategy,
    pub(super) policy: QueuePolicy,
    pub(super) waiting: BTreeMap<CallKey, CallId>,
    /// Waiting calls by age, for `longest_wait`.
    pub(super) by_age: BTreeSet<(Instant, u64)>,
    /// Calls of this queue currently offered to an agent.
    pub(super) offered: usize,
    /// Floor-share books; `Some` for merit-weighted queues.
    pub(super) floor: Option<FloorLedger>,
    pub(super) agent_stats: HashMap<usize, AgentQueueStats>,
    /// Moving average of talk + wrap-up, in seconds.
    pub(super) handle_time: f64,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum CallState {
    Waiting { timer: Option<TimerKey>, relax_timer: Option<TimerKey> },
    Offered { agent: usize },
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Call {
    pub(super) queue: usize,
    pub(super) key: CallKey,
    /// When the call's max wait in its current queue expires, if the queue has one.
    pub(super) deadline: Option<Instant>,
    pub(super) holdout: bool,
    pub(super) state: CallState,
}

impl Call {
    pub(super) fn enqueued_at(&self) -> Instant {
        self.key.2
    }
    pub(super) fn priority(&self) -> u8 {
        self.key.0 .0
    }
}

#[derive(Debug)]
pub(super) struct Agent {
    pub(super) id: Arc<str>,
    pub(super) skill_names: Vec<String>,
    pub(super) skill_levels: Vec<(String, u8)>,
    pub(super) profile: usize,
    pub(super) wrapup: Duration,
    pub(super) state: AgentState,
    pub(super) registered: bool,
    /// When the agent last became Ready (kept while Offered so a released offer restores it).
    pub(super) idle_since: Option<Instant>,
    /// Tie-break for equal `idle_since`.
    pub(super) ready_seq: u64,
    /// The key under which the agent sits in its pools' available sets, if it does.
    pub(super) indexed: Option<(Instant, u64)>,
    /// Whether the agent is counted in its pools' `staffed`.
    pub(super) staffed: bool,
    /// The ring or wrap-up timer of the current state.
    pub(super) timer: Option<TimerKey>,
    pub(super) pending_not_ready: Option<String>,
    pub(super) calls_handled: u64,
    pub(super) missed_offers: u64,
    /// Exponential average of being busy, as of `occupancy_at`.
    pub(super) occupancy: f64,
    pub(super) occupancy_at: Option<Instant>,
    /// The queue and answer time of the call the agent is on.
    pub(super) talking: Option<(usize, Instant)>,
}

/// The automatic call distributor. Feed it inputs with the current time, then drain
/// [`Acd::poll_event`] and arm a timer for [`Acd::poll_timeout`], calling [`Acd::handle_timeout`]
/// when it passes.
#[derive(Debug)]
pub struct Acd {
    pub(super) skill_ids: HashMap<String, u32>,
    pub(super) profiles: Vec<Profile>,
    pub(super) profile_by_skills: HashMap<Vec<(u32, u8)>, usize>,
    pub(super) queues: Vec<Queue>,
    pub(super) queue_by_name: HashMap<Arc<str>, usize>,
    pub(super) agents: Vec<Agent>,
    pub(super) agent_by_id: HashMap<Arc<str>, usize>,
    pub(super) calls: HashMap<CallId, Call>,
    /// The head call of every non-empty queue, best first.
    pub(super) heads: BTreeSet<(CallKey, usize)>,
    pub(super) timers: BTreeMap<TimerKey, Timer>,
    pub(super) events: VecDeque<AcdEvent>,
    /// Number of available (Ready and registered) agents.
    pub(super) available_total: usize,
    pub(super) seq: u64,
    /// Latest `now` seen; inputs with an earlier `now` are treated as happening at this time.
    pub(super) last_now: Option<Instant>,
    pub(super) rng: StdRng,
    pub(super) occupancy_window: Duration,
    /// Test hook: skip the brute-force cross-check of every decision (for scale tests).
    #[cfg(test)]
    pub(super) skip_choice_verification: bool,
}

impl Default for Acd {
    fn default() -> Self {
        Self::with_seed(0)
    }
}

impl Acd {
    /// An ACD with no queues and no agents, its random choices seeded with 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// An ACD whose random choices (merit draws, holdout assignment) come from `seed`: the same
    /// seed and the same inputs give the same decisions.
    pub fn with_seed(seed: u64) -> Self {
        Acd {
            skill_ids: HashMap::new(),
            profiles: Vec::new(),
            profile_by_skills: HashMap::new(),
            queues: Vec::new(),
            queue_by_name: HashMap::new(),
            agents: Vec::new(),
            agent_by_id: HashMap::new(),
            calls: HashMap::new(),
            heads: BTreeSet::new(),
            timers: BTreeMap::new(),
            events: VecDeque::new(),
            available_total: 0,
            seq: 0,
            last_now: None,
            rng: StdRng::seed_from_u64(seed),
            occupancy_window: DEFAULT_OCCUPANCY_WINDOW,
            #[cfg(test)]
            skip_choice_verification: false,
        }
    }

    // ---------------------------------------------------------------- timers

    /// Fires every timer due at `now`: ring timeouts (`OfferTimedOut`), wrap-up ends, bullseye
    /// widenings and max-wait expiries (`CallOverflowed` or `CallTimedOut`), then runs the decision loop.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clock(now);
        // Bounded: every iteration removes one timer, and firing never adds a timer due at or
        // before `now` (relax and max-wait timers are re-armed strictly later, wrap-up end leads to
        // Ready/NotReady which have no timer).
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
                        self.after_call(agent, now, false, StateCause::WrapUpEnded);
                    }
                }
                Timer::Relax { call } => {
                    if let Some(entry) = self.calls.get_mut(&call) {
                        if let CallState::Waiting { relax_timer, .. } = &mut entry.state {
                            *relax_timer = None;
                        }
                        self.arm_relax_timer(now, call);
                    }
                }
                Timer::MaxWait { call } => {
                    if let Some(entry) = self.calls.remove(&call) {
                        if let CallState::Waiting { relax_timer: Some(k), .. } = entry.state {
                            self.timers.remove(&k);
                        }
                        self.leave_queue(entry.queue, entry.key);
                        self.expire(now, call, entry);
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

    // ---------------------------------------------------------------- helpers

    pub(super) fn clock(&mut self, now: Instant) -> Instant {
        let now = self.last_now.map_or(now, |last| last.max(now));
        self.last_now = Some(now);
        now
    }

    pub(super) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub(super) fn agent_index(&self, agent: &str) -> Result<usize, AcdError> {
        self.agent_by_id.get(agent).copied().ok_or_else(|| AcdError::UnknownAgent(agent.to_string()))
    }

    pub(super) fn queue_index(&self, queue: &str) -> Result<usize, AcdError> {
        self.queue_by_name.get(queue).copied().ok_or_else(|| AcdError::UnknownQueue(queue.to_string()))
    }
}
