//! The scoring ledger: folds the call event stream into per-queue observations (resolved agent
//! offers and handled calls, each keyed by `(time, offset)` in a `BTreeMap` so windows are range
//! scans), keeps the small per-call state needed to attribute later events (wrap-up, disposition,
//! survey, hold) and the per-(queue, ANI) repeat index that marks earlier calls as repeated.
//! Every per-call structure is bounded by time as the stream clock advances: observations by 30
//! days plus the repeat horizon (the KPI window; they hold no call id or ANI), per-call state by
//! two days after the call was first seen, and the repeat index by the horizon plus one hour of
//! grace; the index holds only calls not yet marked repeated, so an arrival visits only the calls
//! it marks (O(1) amortised however often a number calls). Agent, queue and ANI strings are
//! interned; names nothing else holds are swept at least once a day of stream time and whenever
//! the set has doubled, and maps that shrank to a quarter give their memory back.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use crate::events::{EventKind, HangupSide, NoAnswerReason, StoredEvent, CAUSE_RESTART};

use super::config::{ScoringConfig, DAY_MS, HOUR_MS};

/// How long a call's attribution state is kept after it was first seen: events that arrive
/// later (a very late disposition or wrap-up end) are ignored. The call's observations stay.
pub(crate) const CALL_STATE_RETENTION_MS: i64 = 2 * DAY_MS;

/// How long after its repeat horizon closed (by the stream clock) a call leaves the repeat index.
/// A call arrival delivered more than this behind the stream clock no longer marks calls whose
/// horizon closed before the clock.
pub(crate) const REPEAT_INDEX_GRACE_MS: i64 = HOUR_MS;

/// Position of an observation: event time, then the store offset that made it unique.
pub(crate) type Key = (i64, i64);

/// One call an agent handled (was bridged to), attributed to the first agent bridged.
#[derive(Debug, Clone)]
pub(crate) struct HandledCall {
    pub agent: Arc<str>,
    pub bridged_at: i64,
    /// When the agent's part ended: transfer, survey start or call end, whichever came first.
    pub segment_end: Option<i64>,
    pub hold_ms: i64,
    pub wrapup_ms: i64,
    pub revenue: f64,
    pub csat: Option<u8>,
    pub transferred: bool,
    pub agent_hung_up: bool,
    pub survey_started: bool,
    pub ended: bool,
    pub sale: bool,
    /// A later call from the same ANI reached the same queue within the repeat horizon.
    pub repeated: bool,
}

impl HandledCall {
    fn new(agent: Arc<str>, bridged_at: i64) -> Self {
        HandledCall {
            agent,
            bridged_at,
            segment_end: None,
            hold_ms: 0,
            wrapup_ms: 0,
            revenue: 0.0,
            csat: None,
            transferred: false,
            agent_hung_up: false,
            survey_started: false,
            ended: false,
            sale: false,
            repeated: false,
        }
    }

    /// The agent's part is over (the call counts in handle-time and outcome KPIs).
    pub fn finished(&self) -> bool {
        self.transferred || self.ended
    }

    /// Talk + hold (bridged until the agent's part ended) + wrap-up, in milliseconds.
    pub fn handle_ms(&self) -> Option<i64> {
        let end = self.segment_end?;
        Some(end.saturating_sub(self.bridged_at).max(0).saturating_add(self.wrapup_ms.max(0)))
    }

    /// The caller never reached the survey because of the agent: transferred away, or the agent
    /// hung up and no survey started.
    pub fn avoided_survey(&self) -> bool {
        self.transferred || (self.ended && self.agent_hung_up && !self.survey_started)
    }

    /// The time the repeat horizon starts from: the end of the agent's part.
    pub fn repeat_anchor(&self) -> i64 {
        self.segment_end.unwrap_or(self.bridged_at)
    }

    /// Ends the agent's part at `at` (if not yet ended) and a hold begun at `hold_since`.
    fn close_segment(&mut self, at: i64, hold_since: Option<i64>) {
        if self.segment_end.is_none() {
            self.segment_end = Some(at.max(self.bridged_at));
        }
        if let Some(since) = hold_since {
            self.hold_ms = self.hold_ms.saturating_add(at.saturating_sub(since).max(0));
        }
    }
}

/// An agent offer that got a verdict that counts: answered, or missed for a reason that is the
/// agent's (unreachable phones do not count).
#[derive(Debug, Clone)]
pub(crate) struct Offer {
    pub agent: Arc<str>,
    pub answered: bool,
}

/// The observations of one queue (program).
#[derive(Debug, Default)]
pub(crate) struct QueueLedger {
    pub handled: BTreeMap<Key, HandledCall>,
    pub offers: BTreeMap<Key, Offer>,
}

/// What the ledger remembers about a call while it may still receive events.
#[derive(Debug, Default)]
struct LiveCall {
    ani: Option<Arc<str>>,
    queue: Option<Arc<str>>,
    /// Offers without a verdict yet: agent and the key (offer time) they will be filed under.
    pending_offers: Vec<(Arc<str>, Key)>,
    handled: Option<Key>,
    /// The handled call was entered into the repeat index.
    indexed: bool,
    /// The handled call is on hold since.
    hold_since: Option<i64>,
    /// The handled call's agent started wrap-up at.
    wrapup_started_at: Option<i64>,
}

/// Interned names (agents, queues, ANIs): one allocation per distinct name in use.
#[derive(Debug, Default)]
struct Names {
    set: HashSet<Arc<str>>,
    /// Sweep before inserting when the set has grown to this size.
    sweep_at: usize,
    /// Stream time of the last sweep.
    swept_at: i64,
}

impl Names {
    const MIN_SWEEP: usize = 1024;

    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(known) = self.set.get(name) {
            return known.clone();
        }
        if self.set.len() >= self.sweep_at {
            self.sweep();
        }
        let name: Arc<str> = Arc::from(name);
        self.set.insert(name.clone());
        name
    }

    /// Drops the names nothing else holds; O(names), at most once per doubling of the set or
    /// per day of stream time, so amortised O(1) per name.
    fn sweep(&mut self) {
        self.set.retain(|name| Arc::strong_count(name) > 1);
        self.sweep_at = (self.set.len() * 2).max(Self::MIN_SWEEP);
        if self.set.capacity() > 4 * self.set.len() + Self::MIN_SWEEP {
            self.set.shrink_to(2 * self.set.len());
        }
    }

    fn sweep_daily(&mut self, clock_ms: i64) {
        if clock_ms.saturating_sub(self.swept_at) >= DAY_MS {
            self.swept_at = clock_ms;
            self.sweep();
        }
    }
}

/// A finished handled call not yet marked repeated, in its (queue, ANI) window.
#[derive(Debug)]
struct Unmarked {
    /// Its repeat anchor (the end of the agent's part); windows are sorted by `(anchor, key)`.
    anchor: i64,
    key: Key,
    /// Its call: a later arrival of the same call does not make it a repeat.
    call_id: Arc<str>,
}

/// The repeat index: per queue and ANI, the finished handled calls that no later arrival has
/// marked repeated yet and whose horizon has not closed. A marked call leaves its window for
/// good (marking is final), so an arrival only visits calls it is about to mark.
#[derive(Debug, Default)]
struct RepeatIndex {
    windows: HashMap<Arc<str>, HashMap<Arc<str>, VecDeque<Unmarked>>>,
    /// (anchor, queue, ANI) of every call entered, in the order entered, to expire windows
    /// that no arrival visits.
    expiry: VecDeque<(i64, Arc<str>, Arc<str>)>,
}

impl RepeatIndex {
    fn insert(&mut self, queue: &Arc<str>, ani: &Arc<str>, call: Unmarked) {
        self.expiry.push_back((call.anchor, queue.clone(), ani.clone()));
        let by_ani = self.windows.entry(queue.clone()).or_default();
        // Most numbers have one call waiting at a time.
        let window = by_ani.entry(ani.clone()).or_insert_with(|| VecDeque::with_capacity(1));
        let position = window.partition_point(|c| (c.anchor, c.key) <= (call.anchor, call.key));
        window.insert(position, call);
    }

    /// A call from `ani` (`call_id`) reached `queue` at `at`: the calls in the window that ended
    /// within the horizon before it are marked repeated in `ledger` (all but the call's own) and
    /// leave the window, as do those whose horizon had closed by `at`.
    fn mark(&mut self, ledger: Option<&mut QueueLedger>, queue: &str, ani: &str, call_id: &str, at: i64, horizon: i64) {
        let Some(by_ani) = self.windows.get_mut(queue) else { return };
        let Some(window) = by_ani.get_mut(ani) else { return };
        let mut ledger = ledger;
        let mut i = 0;
        while let Some(call) = window.get(i) {
            if call.anchor > at {
                break; // sorted: the rest ended after this arrival
            }
            if at.saturating_sub(call.anchor) <= horizon {
                if *call.call_id == *call_id {
                    i += 1;
                    continue;
                }
                if let Some(record) = ledger.as_deref_mut().and_then(|l| l.handled.get_mut(&call.key)) {
                    record.repeated = true;
                }
            }
            window.remove(i);
        }
        if window.is_empty() {
            by_ani.remove(ani);
        }
    }

    /// Drops the calls whose anchor is before `cutoff`.
    fn expire(&mut self, cutoff: i64) {
        while self.expiry.front().is_some_and(|(anchor, _, _)| *anchor < cutoff) {
            let Some((_, queue, ani)) = self.expiry.pop_front() else { break };
            let Some(by_ani) = self.windows.get_mut(&queue) else { continue };
            let Some(window) = by_ani.get_mut(&ani) else { continue };
            while window.front().is_some_and(|c| c.anchor < cutoff) {
                window.pop_front();
            }
            if window.is_empty() {
                by_ani.remove(&ani);
            }
        }
        shrink_deque(&mut self.expiry);
        for by_ani in self.windows.values_mut() {
            if by_ani.capacity() > 4 * by_ani.len() + 1024 {
                by_ani.shrink_to(2 * by_ani.len());
            }
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub queues: BTreeMap<Arc<str>, QueueLedger>,
    calls: HashMap<Arc<str>, LiveCall>,
    /// Calls in the order they were first seen, for pruning `calls`.
    call_expiry: VecDeque<(i64, Arc<str>)>,
    repeats: RepeatIndex,
    names: Names,
    last_offset: Option<i64>,
    clock_ms: i64,
}

impl Ledger {
    pub fn last_offset(&self) -> Option<i64> {
        self.last_offset
    }

    pub fn clock_ms(&self) -> i64 {
        self.clock_ms
    }

    pub fn advance_clock(&mut self, now_ms: i64, config: &ScoringConfig) {
        if now_ms > self.clock_ms {
            self.clock_ms = now_ms;
            self.prune(config);
        }
    }

    /// Folds one event in. Returns `None` when the offset was already applied, else the queue the
    /// event touched (if the call's queue is known).
    pub fn apply(&mut self, stored: &StoredEvent, config: &ScoringConfig) -> Option<Option<Arc<str>>> {
        if self.last_offset.is_some_and(|last| stored.offset <= last) {
            return None;
        }
        self.last_offset = Some(stored.offset);
        let ev = &stored.event;
        let at = ev.at_ms;
        let key = (at, stored.offset);
        let call_id = match self.calls.get_key_value(ev.call_id.as_str()) {
            Some((id, _)) => id.clone(),
            None => {
                let id: Arc<str> = Arc::from(ev.call_id.as_str());
                self.calls.insert(id.clone(), LiveCall::default());
                self.call_expiry.push_back((at, id.clone()));
                id
            }
        };
        let touched = self.apply_kind(&call_id, at, key, ev.agent.as_deref(), &ev.kind, config);
        self.advance_clock(at, config);
        Some(touched)
    }

    fn apply_kind(
        &mut self,
        call_id: &Arc<str>,
        at: i64,
        key: Key,
        event_agent: Option<&str>,
        kind: &EventKind,
        config: &ScoringConfig,
    ) -> Option<Arc<str>> {
        let call = self.calls.get_mut(&**call_id)?;
        match kind {
            EventKind::CallOffered { ani, .. } => {
                call.ani = Some(self.names.intern(ani));
            }
            // An overflowed call now belongs to the overflow queue: its offers, its handling and
            // its repeat check are that queue's (no offer is pending while a call waits).
            EventKind::CallQueued { queue } | EventKind::CallOverflowed { to_queue: queue, .. } => {
                let queue = self.names.intern(queue);
                if let Some(ani) = &call.ani {
                    let ledger = self.queues.get_mut(&*queue);
                    self.repeats.mark(ledger, &queue, ani, call_id, at, config.repeat_horizon_ms());
                }
                call.queue = Some(queue);
            }
            EventKind::AgentOffered { agent, .. } => {
                call.pending_offers.push((self.names.intern(agent), key));
            }
            EventKind::AgentRinging { .. } => {}
            EventKind::AgentNoAnswer { agent, reason, .. } => {
                let offer = take_pending(&mut call.pending_offers, agent);
                if let (Some((agent, offer_key)), Some(queue)) = (offer, &call.queue) {
                    if *reason != NoAnswerReason::Unreachable {
                        let offers = &mut self.queues.entry(queue.clone()).or_default().offers;
                        offers.insert(offer_key, Offer { agent, answered: false });
                    }
                }
            }
            EventKind::AgentAnswered { agent } => {
                if let Some(queue) = &call.queue {
                    let (agent, offer_key) = match take_pending(&mut call.pending_offers, agent) {
                        Some(pending) => pending,
                        None => (self.names.intern(agent), key),
                    };
                    let offers = &mut self.queues.entry(queue.clone()).or_default().offers;
                    offers.insert(offer_key, Offer { agent, answered: true });
                } else {
                    take_pending(&mut call.pending_offers, agent);
                }
            }
            EventKind::CallBridged { agent } => {
                if let (None, Some(queue)) = (call.handled, &call.queue) {
                    let record = HandledCall::new(self.names.intern(agent), at);
                    self.queues.entry(queue.clone()).or_default().handled.insert(key, record);
                    call.handled = Some(key);
                }
            }
            EventKind::CallAbandoned { .. } => {
                call.pending_offers = Vec::new();
            }
            EventKind::WrapUpStarted { agent, seconds } => {
                let record = handled_mut(&mut self.queues, call)?;
                if *record.agent == **agent {
                    call.wrapup_started_at = Some(at);
                    record.wrapup_ms = i64::from(*seconds) * 1000;
                }
            }
            EventKind::WrapUpEnded { agent } => {
                let record = handled_mut(&mut self.queues, call)?;
                if let (true, Some(started)) = (*record.agent == **agent, call.wrapup_started_at) {
                    record.wrapup_ms = at.saturating_sub(started).max(0);
                }
            }
            EventKind::CallEnded { side, cause, .. } => {
                call.pending_offers = Vec::new();
                let queue = call.queue.clone();
                if cause == CAUSE_RESTART {
                    // The switch died mid-call: how the call went is unknown, so it is not held
                    // for or against its agent (no handled call, no repeat).
                    if let (Some(key), Some(q)) = (call.handled.take(), queue.as_deref()) {
                        if let Some(ledger) = self.queues.get_mut(q) {
                            ledger.handled.remove(&key);
                        }
                    }
                    return queue;
                }
                if let Some(record) = handled_mut(&mut self.queues, call) {
                    if !record.ended {
                        record.ended = true;
                        record.agent_hung_up = *side == HangupSide::Agent && record.segment_end.is_none();
                        record.close_segment(at, call.hold_since.take());
                    }
                }
                index_for_repeats(&mut self.repeats, &self.queues, call, call_id);
                return queue;
            }
            EventKind::DispositionRecorded { outcome, revenue } => {
                let record = handled_mut(&mut self.queues, call)?;
                if event_agent.is_none_or(|a| *a == *record.agent) {
                    record.sale = config.is_sale(outcome);
                    record.revenue = revenue.filter(|r| r.is_finite()).unwrap_or(0.0);
                }
            }
            EventKind::CallTransferred { .. } => {
                let record = handled_mut(&mut self.queues, call)?;
                if !record.finished() {
                    record.transferred = true;
                    record.close_segment(at, call.hold_since.take());
                }
                index_for_repeats(&mut self.repeats, &self.queues, call, call_id);
            }
            // Agent-stream facts: no call of the ledger's (agent streams never create call state).
            EventKind::AgentStateChanged { .. }
            | EventKind::AgentRegistered { .. }
            | EventKind::AgentUnregistered { .. } => {}
            EventKind::CallHold {} => {
                let record = handled_mut(&mut self.queues, call)?;
                if record.segment_end.is_none() && call.hold_since.is_none() {
                    call.hold_since = Some(at);
                }
            }
            EventKind::CallUnhold {} => {
                let record = handled_mut(&mut self.queues, call)?;
                if let Some(since) = call.hold_since.take() {
                    record.hold_ms = record.hold_ms.saturating_add(at.saturating_sub(since).max(0));
                }
            }
            EventKind::SurveyStarted { .. } => {
                let record = handled_mut(&mut self.queues, call)?;
                record.survey_started = true;
                record.close_segment(at, call.hold_since.take());
            }
            EventKind::SurveyAnswered { question, digit } => {
                let record = handled_mut(&mut self.queues, call)?;
                if *question == config.csat_question && (1..=5).contains(digit) {
                    record.csat = Some(*digit);
                }
            }
            // The talk ends when the agent leaves; the survey that follows is not handle time.
            EventKind::AgentLeft { .. } => {
                let record = handled_mut(&mut self.queues, call)?;
                record.close_segment(at, call.hold_since.take());
            }
            EventKind::SurveyAbandoned { .. } | EventKind::SurveyInvalid { .. } | EventKind::SurveyNoAnswer { .. } => {}
        }
        call.queue.clone()
    }

    /// Drops observations older than 30 days plus the repeat horizon, repeat-index entries older
    /// than the horizon plus the grace, and call state first seen more than two days ago.
    fn prune(&mut self, config: &ScoringConfig) {
        let horizon = config.repeat_horizon_ms();
        let cutoff = self.clock_ms.saturating_sub(30 * DAY_MS).saturating_sub(horizon);
        for ledger in self.queues.values_mut() {
            while ledger.offers.first_key_value().is_some_and(|(k, _)| k.0 < cutoff) {
                ledger.offers.pop_first();
            }
            while ledger.handled.first_key_value().is_some_and(|(k, _)| k.0 < cutoff) {
                ledger.handled.pop_first();
            }
        }
        self.repeats.expire(self.clock_ms.saturating_sub(horizon).saturating_sub(REPEAT_INDEX_GRACE_MS));
        let call_cutoff = self.clock_ms.saturating_sub(CALL_STATE_RETENTION_MS);
        let mut expired = false;
        while self.call_expiry.front().is_some_and(|(first_seen, _)| *first_seen < call_cutoff) {
            if let Some((_, call_id)) = self.call_expiry.pop_front() {
                self.calls.remove(&call_id);
                expired = true;
            }
        }
        if expired {
            shrink_deque(&mut self.call_expiry);
            if self.calls.capacity() > 4 * self.calls.len() + 1024 {
                self.calls.shrink_to(2 * self.calls.len());
            }
        }
        self.names.sweep_daily(self.clock_ms);
    }

    /// Number of retained handled calls and offers over all queues, and live call states.
    #[cfg(test)]
    pub fn retained(&self) -> (usize, usize, usize) {
        let handled = self.queues.values().map(|q| q.handled.len()).sum();
        let offers = self.queues.values().map(|q| q.offers.len()).sum();
        (handled, offers, self.calls.len())
    }

    /// Number of (queue, ANI) windows in the repeat index.
    #[cfg(test)]
    pub fn repeat_index_len(&self) -> usize {
        self.repeats.windows.values().map(HashMap::len).sum()
    }

    /// Number of handled calls held in the repeat index, over all (queue, ANI) windows.
    #[cfg(test)]
    pub fn repeat_index_entries(&self) -> usize {
        self.repeats.windows.values().flat_map(HashMap::values).map(VecDeque::len).sum()
    }

    /// Number of handled calls held in the repeat window of one (queue, ANI).
    #[cfg(test)]
    pub fn repeat_window_len(&self, queue: &str, ani: &str) -> usize {
        self.repeats.windows.get(queue).and_then(|w| w.get(ani)).map_or(0, VecDeque::len)
    }

    /// Entries of the repeat index's expiry queue, and interned names.
    #[cfg(test)]
    pub fn bookkeeping(&self) -> (usize, usize) {
        (self.repeats.expiry.len(), self.names.set.len())
    }
}

/// Gives a deque's memory back once it holds under a quarter of what it could.
fn shrink_deque<T>(deque: &mut VecDeque<T>) {
    if deque.capacity() > 4 * deque.len() + 1024 {
        deque.shrink_to(2 * deque.len());
    }
}

fn take_pending(pending: &mut Vec<(Arc<str>, Key)>, agent: &str) -> Option<(Arc<str>, Key)> {
    let pos = pending.iter().rposition(|(a, _)| **a == *agent)?;
    Some(pending.remove(pos))
}

fn handled_mut<'a>(queues: &'a mut BTreeMap<Arc<str>, QueueLedger>, call: &LiveCall) -> Option<&'a mut HandledCall> {
    let key = call.handled?;
    queues.get_mut(call.queue.as_deref()?)?.handled.get_mut(&key)
}

/// Enters a finished handled call into the (queue, ANI) index once, so later calls can mark it.
fn index_for_repeats(
    repeats: &mut RepeatIndex,
    queues: &BTreeMap<Arc<str>, QueueLedger>,
    call: &mut LiveCall,
    call_id: &Arc<str>,
) {
    if call.indexed {
        return;
    }
    let (Some(key), Some(queue), Some(ani)) = (call.handled, &call.queue, &call.ani) else { return };
    let Some(record) = queues.get(&**queue).and_then(|q| q.handled.get(&key)) else { return };
    if !record.finished() {
        return;
    }
    call.indexed = true;
    repeats.insert(queue, ani, Unmarked { anchor: record.repeat_anchor(), key, call_id: call_id.clone() });
}
