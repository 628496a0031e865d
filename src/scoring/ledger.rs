//! The scoring ledger: folds the call event stream into per-queue observations (resolved agent
//! offers and handled calls, each keyed by `(time, offset)` in a `BTreeMap` so windows are range
//! scans), keeps the small per-call state needed to attribute later events (wrap-up, disposition,
//! survey) and the per-(queue, ANI) index that marks earlier calls as repeated. Observations
//! older than 30 days plus the repeat horizon, and per-call state older than two days, are
//! pruned as the stream clock advances.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::events::{EventKind, HangupSide, NoAnswerReason, StoredEvent, CAUSE_RESTART};

use super::config::{ScoringConfig, DAY_MS};

/// How long a call's attribution state is kept after it was first seen: events that arrive
/// later (a very late disposition or wrap-up end) are ignored. The call's observations stay.
pub(crate) const CALL_STATE_RETENTION_MS: i64 = 2 * DAY_MS;

/// Position of an observation: event time, then the store offset that made it unique.
pub(crate) type Key = (i64, i64);

/// One call an agent handled (was bridged to), attributed to the first agent bridged.
#[derive(Debug, Clone)]
pub(crate) struct HandledCall {
    pub call_id: String,
    pub agent: String,
    pub ani: Option<String>,
    pub bridged_at: i64,
    /// When the agent's part ended: transfer, survey start or call end, whichever came first.
    pub segment_end: Option<i64>,
    pub hold_ms: i64,
    hold_since: Option<i64>,
    pub wrapup_ms: i64,
    wrapup_started_at: Option<i64>,
    pub transferred: bool,
    pub agent_hung_up: bool,
    pub survey_started: bool,
    pub ended: bool,
    pub csat: Option<u8>,
    pub sale: bool,
    pub revenue: f64,
    /// A later call from the same ANI reached the same queue within the repeat horizon.
    pub repeated: bool,
}

impl HandledCall {
    fn new(call_id: &str, agent: &str, ani: Option<String>, bridged_at: i64) -> Self {
        HandledCall {
            call_id: call_id.to_string(),
            agent: agent.to_string(),
            ani,
            bridged_at,
            segment_end: None,
            hold_ms: 0,
            hold_since: None,
            wrapup_ms: 0,
            wrapup_started_at: None,
            transferred: false,
            agent_hung_up: false,
            survey_started: false,
            ended: false,
            csat: None,
            sale: false,
            revenue: 0.0,
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

    fn close_segment(&mut self, at: i64) {
        if self.segment_end.is_none() {
            self.segment_end = Some(at.max(self.bridged_at));
        }
        if let Some(since) = self.hold_since.take() {
            self.hold_ms = self.hold_ms.saturating_add(at.saturating_sub(since).max(0));
        }
    }
}

/// An agent offer that got a verdict that counts: answered, or missed for a reason that is the
/// agent's (unreachable phones do not count).
#[derive(Debug, Clone)]
pub(crate) struct Offer {
    pub agent: String,
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
    ani: Option<String>,
    queue: Option<String>,
    /// Offers without a verdict yet: agent and the key (offer time) they will be filed under.
    pending_offers: Vec<(String, Key)>,
    handled: Option<Key>,
    /// The handled call was entered into the repeat index.
    indexed: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub queues: BTreeMap<String, QueueLedger>,
    calls: HashMap<String, LiveCall>,
    /// Calls in the order they were first seen, for pruning `calls`.
    call_expiry: VecDeque<(i64, String)>,
    /// Finished handled calls per (queue, ANI): repeat anchor and key, oldest first.
    repeats: HashMap<(String, String), VecDeque<(i64, Key)>>,
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
    pub fn apply(&mut self, stored: &StoredEvent, config: &ScoringConfig) -> Option<Option<String>> {
        if self.last_offset.is_some_and(|last| stored.offset <= last) {
            return None;
        }
        self.last_offset = Some(stored.offset);
        let ev = &stored.event;
        let at = ev.at_ms;
        let key = (at, stored.offset);
        if !self.calls.contains_key(&ev.call_id) {
            self.calls.insert(ev.call_id.clone(), LiveCall::default());
            self.call_expiry.push_back((at, ev.call_id.clone()));
        }
        let touched = self.apply_kind(&ev.call_id, at, key, ev.agent.as_deref(), &ev.kind, config);
        self.advance_clock(at, config);
        Some(touched)
    }

    fn apply_kind(
        &mut self,
        call_id: &str,
        at: i64,
        key: Key,
        event_agent: Option<&str>,
        kind: &EventKind,
        config: &ScoringConfig,
    ) -> Option<String> {
        let call = self.calls.get_mut(call_id)?;
        match kind {
            EventKind::CallOffered { ani, .. } => {
                call.ani = Some(ani.clone());
            }
            EventKind::CallQueued { queue } => {
                call.queue = Some(queue.clone());
                if let Some(ani) = call.ani.clone() {
                    let horizon = config.repeat_horizon_ms();
                    mark_repeats(&mut self.repeats, &mut self.queues, queue, &ani, call_id, at, horizon);
                }
            }
            // The call now belongs to the overflow queue: its offers, its handling and its repeat
            // check are that queue's (no offer is pending while a call waits).
            EventKind::CallOverflowed { to_queue, .. } => {
                call.queue = Some(to_queue.clone());
                if let Some(ani) = call.ani.clone() {
                    let horizon = config.repeat_horizon_ms();
                    mark_repeats(&mut self.repeats, &mut self.queues, to_queue, &ani, call_id, at, horizon);
                }
            }
            EventKind::AgentOffered { agent, .. } => {
                call.pending_offers.push((agent.clone(), key));
            }
            EventKind::AgentRinging { .. } => {}
            EventKind::AgentNoAnswer { agent, reason, .. } => {
                let offer = take_pending(&mut call.pending_offers, agent);
                if let (Some(offer_key), Some(queue)) = (offer, &call.queue) {
                    if *reason != NoAnswerReason::Unreachable {
                        let offers = &mut self.queues.entry(queue.clone()).or_default().offers;
                        offers.insert(offer_key, Offer { agent: agent.clone(), answered: false });
                    }
                }
            }
            EventKind::AgentAnswered { agent } => {
                let offer_key = take_pending(&mut call.pending_offers, agent).unwrap_or(key);
                if let Some(queue) = &call.queue {
                    let offers = &mut self.queues.entry(queue.clone()).or_default().offers;
                    offers.insert(offer_key, Offer { agent: agent.clone(), answered: true });
                }
            }
            EventKind::CallBridged { agent } => {
                if let (None, Some(queue)) = (call.handled, &call.queue) {
                    let record = HandledCall::new(call_id, agent, call.ani.clone(), at);
                    self.queues.entry(queue.clone()).or_default().handled.insert(key, record);
                    call.handled = Some(key);
                }
            }
            EventKind::CallAbandoned { .. } => {
                call.pending_offers.clear();
            }
            EventKind::WrapUpStarted { agent, seconds } => {
                let record = handled_mut(&mut self.queues, call)?;
                if record.agent == *agent {
                    record.wrapup_started_at = Some(at);
                    record.wrapup_ms = i64::from(*seconds) * 1000;
                }
            }
            EventKind::WrapUpEnded { agent } => {
                let record = handled_mut(&mut self.queues, call)?;
                if let (true, Some(started)) = (record.agent == *agent, record.wrapup_started_at) {
                    record.wrapup_ms = at.saturating_sub(started).max(0);
                }
            }
            EventKind::CallEnded { side, cause, .. } => {
                call.pending_offers.clear();
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
                        record.close_segment(at);
                    }
                }
                index_for_repeats(&mut self.repeats, &self.queues, call);
                return queue;
            }
            EventKind::DispositionRecorded { outcome, revenue } => {
                let record = handled_mut(&mut self.queues, call)?;
                if event_agent.is_none_or(|a| a == record.agent) {
                    record.sale = config.is_sale(outcome);
                    record.revenue = revenue.filter(|r| r.is_finite()).unwrap_or(0.0);
                }
            }
            EventKind::CallTransferred { .. } => {
                let record = handled_mut(&mut self.queues, call)?;
                if !record.finished() {
                    record.transferred = true;
                    record.close_segment(at);
                }
                index_for_repeats(&mut self.repeats, &self.queues, call);
            }
            // Agent-stream facts: no call of the ledger's (agent streams never create call state).
            EventKind::AgentStateChanged { .. }
            | EventKind::AgentRegistered { .. }
            | EventKind::AgentUnregistered { .. } => {}
            EventKind::CallHold {} => {
                let record = handled_mut(&mut self.queues, call)?;
                if record.segment_end.is_none() && record.hold_since.is_none() {
                    record.hold_since = Some(at);
                }
            }
            EventKind::CallUnhold {} => {
                let record = handled_mut(&mut self.queues, call)?;
                if let Some(since) = record.hold_since.take() {
                    record.hold_ms = record.hold_ms.saturating_add(at.saturating_sub(since).max(0));
                }
            }
            EventKind::SurveyStarted { .. } => {
                let record = handled_mut(&mut self.queues, call)?;
                record.survey_started = true;
                record.close_segment(at);
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
                record.close_segment(at);
            }
            EventKind::SurveyAbandoned { .. } | EventKind::SurveyInvalid { .. } | EventKind::SurveyNoAnswer { .. } => {}
        }
        call.queue.clone()
    }

    /// Drops observations and call state older than 30 days plus the repeat horizon.
    fn prune(&mut self, config: &ScoringConfig) {
        let cutoff = self.clock_ms.saturating_sub(30 * DAY_MS).saturating_sub(config.repeat_horizon_ms());
        for (queue, ledger) in self.queues.iter_mut() {
            while ledger.offers.first_key_value().is_some_and(|(k, _)| k.0 < cutoff) {
                ledger.offers.pop_first();
            }
            while ledger.handled.first_key_value().is_some_and(|(k, _)| k.0 < cutoff) {
                let Some((key, record)) = ledger.handled.pop_first() else { break };
                if let Some(ani) = record.ani {
                    let index_key = (queue.clone(), ani);
                    if let Some(list) = self.repeats.get_mut(&index_key) {
                        list.retain(|(_, k)| *k != key);
                        if list.is_empty() {
                            self.repeats.remove(&index_key);
                        }
                    }
                }
            }
        }
        let call_cutoff = self.clock_ms.saturating_sub(CALL_STATE_RETENTION_MS);
        while self.call_expiry.front().is_some_and(|(first_seen, _)| *first_seen < call_cutoff) {
            if let Some((_, call_id)) = self.call_expiry.pop_front() {
                self.calls.remove(&call_id);
            }
        }
    }

    /// Number of retained handled calls and offers over all queues, and live call states.
    #[cfg(test)]
    pub fn retained(&self) -> (usize, usize, usize) {
        let handled = self.queues.values().map(|q| q.handled.len()).sum();
        let offers = self.queues.values().map(|q| q.offers.len()).sum();
        (handled, offers, self.calls.len())
    }

    /// Number of (queue, ANI) entries in the repeat index.
    #[cfg(test)]
    pub fn repeat_index_len(&self) -> usize {
        self.repeats.len()
    }
}

fn take_pending(pending: &mut Vec<(String, Key)>, agent: &str) -> Option<Key> {
    let pos = pending.iter().rposition(|(a, _)| a == agent)?;
    Some(pending.remove(pos).1)
}

fn handled_mut<'a>(queues: &'a mut BTreeMap<String, QueueLedger>, call: &LiveCall) -> Option<&'a mut HandledCall> {
    let key = call.handled?;
    queues.get_mut(call.queue.as_deref()?)?.handled.get_mut(&key)
}

/// Enters a finished handled call into the (queue, ANI) index once, so later calls can mark it.
fn index_for_repeats(
    repeats: &mut HashMap<(String, String), VecDeque<(i64, Key)>>,
    queues: &BTreeMap<String, QueueLedger>,
    call: &mut LiveCall,
) {
    if call.indexed {
        return;
    }
    let (Some(key), Some(queue), Some(ani)) = (call.handled, &call.queue, &call.ani) else { return };
    let Some(record) = queues.get(queue).and_then(|q| q.handled.get(&key)) else { return };
    if !record.finished() {
        return;
    }
    call.indexed = true;
    repeats.entry((queue.clone(), ani.clone())).or_default().push_back((record.repeat_anchor(), key));
}

/// A call from `ani` reached `queue` at `at`: earlier handled calls from that ANI in that queue
/// that ended within the horizon were not resolved first time.
fn mark_repeats(
    repeats: &mut HashMap<(String, String), VecDeque<(i64, Key)>>,
    queues: &mut BTreeMap<String, QueueLedger>,
    queue: &str,
    ani: &str,
    call_id: &str,
    at: i64,
    horizon_ms: i64,
) {
    let index_key = (queue.to_string(), ani.to_string());
    let Some(list) = repeats.get_mut(&index_key) else { return };
    list.retain(|(anchor, _)| at.saturating_sub(*anchor) <= horizon_ms);
    if let Some(ledger) = queues.get_mut(queue) {
        for (anchor, key) in list.iter() {
            if *anchor > at {
                continue;
            }
            if let Some(record) = ledger.handled.get_mut(key) {
                if record.call_id != call_id {
                    record.repeated = true;
                }
            }
        }
    }
    if list.is_empty() {
        repeats.remove(&index_key);
    }
}
