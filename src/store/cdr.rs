//! Call detail records as a projection of the event log. [`Cdr::apply`] is a pure function from
//! (record, stored event) to the updated record, so the projection rules are tested without SQLite;
//! the writer thread loads, applies and saves records in the same transaction as the events.

use serde::Serialize;

use crate::events::{EventKind, HangupSide, StoredEvent};

/// One call's summary, derived only from its events. Times are milliseconds since the Unix epoch,
/// durations are seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cdr {
    pub call_id: String,
    pub ani: Option<String>,
    pub did: Option<String>,
    pub trunk: Option<String>,
    /// The queue the call waited in (the last one entered: `call.queued`, then the `to_queue` of
    /// each `call.overflowed`).
    pub queue: Option<String>,
    /// The agent who answered the call.
    pub agent: Option<String>,
    /// `call.offered`: the carrier INVITE was accepted.
    pub offered_at: Option<i64>,
    /// First `call.queued`: the call entered a queue.
    pub queued_at: Option<i64>,
    /// `agent.answered`: the agent's phone answered.
    pub answered_at: Option<i64>,
    /// `call.bridged`: caller and agent media are bridged.
    pub bridged_at: Option<i64>,
    /// `call.ended`.
    pub ended_at: Option<i64>,
    /// Queue entry to agent answer, or the abandoned call's reported wait.
    pub wait_seconds: Option<f64>,
    /// Agent answer to call end.
    pub talk_seconds: Option<f64>,
    /// The wrap-up time granted by `agent.wrapup_started`, replaced by the measured time once
    /// `agent.wrapup_ended` arrives.
    pub wrapup_seconds: Option<f64>,
    /// When wrap-up started (needed to measure it when it ends).
    pub wrapup_started_at: Option<i64>,
    pub hangup_side: Option<HangupSide>,
    pub cause: Option<String>,
    pub sip_status: Option<u16>,
    /// The caller hung up while waiting in the queue.
    pub abandoned: bool,
    /// How many times an agent was offered the call.
    pub attempts: u32,
    /// Offset of the first event of this call (orders the call list).
    pub first_offset: i64,
    /// Offset of the last event applied.
    pub last_offset: i64,
    /// `agent.left`: the agent hung up and the caller stayed for the survey.
    pub agent_left_at: Option<i64>,
    /// The survey's CSAT answer (1–5).
    pub csat: Option<u8>,
    /// The survey's "was your issue resolved?" answer.
    pub resolved: Option<bool>,
    /// How the survey went: `started`, `answered`, `no_answer`, `abandoned` (None: no survey).
    pub survey: Option<String>,
    /// The last recorded disposition (`sale`, `resolved`, `callback`, ...), and its revenue.
    pub disposition: Option<String>,
    pub revenue: Option<f64>,
    /// `why.holdout` of the last `agent.offered` (None when it had no `why`); kept so the answer
    /// can take it over.
    pub offer_holdout: Option<bool>,
    /// Whether the answered offer (the last `agent.offered` before `agent.answered`) was in the
    /// queue's holdout group, routed longest-idle as a control. None when the call was not
    /// answered or that offer had no `why`.
    pub holdout: Option<bool>,
}

fn seconds_between(from_ms: i64, to_ms: i64) -> f64 {
    // Clock steps backwards must not produce negative durations.
    (to_ms.saturating_sub(from_ms)).max(0) as f64 / 1000.0
}

impl Cdr {
    /// An empty record for a call whose first event has offset `first_offset`.
    pub fn new(call_id: &str, first_offset: i64) -> Cdr {
        Cdr {
            call_id: call_id.to_owned(),
            ani: None,
            did: None,
            trunk: None,
            queue: None,
            agent: None,
            offered_at: None,
            queued_at: None,
            answered_at: None,
            bridged_at: None,
            ended_at: None,
            wait_seconds: None,
            talk_seconds: None,
            wrapup_seconds: None,
            wrapup_started_at: None,
            hangup_side: None,
            cause: None,
            sip_status: None,
            abandoned: false,
            attempts: 0,
            first_offset,
            last_offset: first_offset,
            agent_left_at: None,
            csat: None,
            resolved: None,
            survey: None,
            disposition: None,
            revenue: None,
            offer_holdout: None,
            holdout: None,
        }
    }

    /// Folds one event of this call into the record.
    pub fn apply(&mut self, stored: &StoredEvent) {
        let at = stored.event.at_ms;
        self.last_offset = self.last_offset.max(stored.offset);
        match &stored.event.kind {
            EventKind::CallOffered { ani, did, trunk } => {
                self.ani = Some(ani.clone());
                self.did = Some(did.clone());
                self.trunk = Some(trunk.clone());
                self.offered_at.get_or_insert(at);
            }
            EventKind::CallQueued { queue } => {
                self.queue = Some(queue.clone());
                self.queued_at.get_or_insert(at);
            }
            EventKind::CallOverflowed { to_queue, .. } => {
                self.queue = Some(to_queue.clone());
            }
            EventKind::AgentOffered { why, .. } => {
                self.attempts = self.attempts.saturating_add(1);
                self.offer_holdout = why.as_ref().map(|w| w.holdout);
            }
            EventKind::AgentRinging { .. } | EventKind::AgentNoAnswer { .. } => {}
            // In-call facts the CDR row has no columns for (scoring consumes them).
            EventKind::CallTransferred { .. } | EventKind::CallHold {} | EventKind::CallUnhold {} => {}
            // Agent-stream events have no call record (the writer does not project them).
            EventKind::AgentStateChanged { .. }
            | EventKind::AgentRegistered { .. }
            | EventKind::AgentUnregistered { .. } => {}
            EventKind::AgentAnswered { agent } => {
                self.agent = Some(agent.clone());
                self.answered_at = Some(at);
                self.holdout = self.offer_holdout;
                if let Some(entered) = self.queued_at.or(self.offered_at) {
                    self.wait_seconds = Some(seconds_between(entered, at));
                }
            }
            EventKind::CallBridged { agent } => {
                if self.agent.is_none() {
                    self.agent = Some(agent.clone());
                }
                self.bridged_at = Some(at);
            }
            EventKind::CallAbandoned { queue, wait_ms } => {
                self.abandoned = true;
                if self.queue.is_none() {
                    self.queue = Some(queue.clone());
                }
                self.wait_seconds = Some(*wait_ms as f64 / 1000.0);
            }
            EventKind::WrapUpStarted { seconds, .. } => {
                self.wrapup_started_at = Some(at);
                self.wrapup_seconds = Some(f64::from(*seconds));
            }
            EventKind::WrapUpEnded { .. } => {
                if let Some(started) = self.wrapup_started_at {
                    self.wrapup_seconds = Some(seconds_between(started, at));
                }
            }
            EventKind::AgentLeft { .. } => {
                self.agent_left_at = Some(at);
                if let Some(answered) = self.answered_at {
                    self.talk_seconds = Some(seconds_between(answered, at));
                }
            }
            EventKind::SurveyStarted { .. } => self.survey = Some("started".into()),
            EventKind::SurveyInvalid { .. } => {}
            EventKind::DispositionRecorded { outcome, revenue } => {
                self.disposition = Some(outcome.clone());
                self.revenue = *revenue;
            }
            EventKind::SurveyAnswered { question, digit } => {
                match question.as_str() {
                    "csat" => self.csat = Some(*digit),
                    "resolved" => self.resolved = Some(*digit == 1),
                    _ => {}
                }
                self.survey = Some("answered".into());
            }
            EventKind::SurveyNoAnswer { .. } => {
                if self.survey.as_deref() != Some("answered") {
                    self.survey = Some("no_answer".into());
                }
            }
            EventKind::SurveyAbandoned { .. } => self.survey = Some("abandoned".into()),
            EventKind::CallEnded { side, cause, sip_status } => {
                self.ended_at = Some(at);
                self.hangup_side = Some(*side);
                self.cause = Some(cause.clone());
                self.sip_status = *sip_status;
                if let (Some(answered), None) = (self.answered_at, self.agent_left_at) {
                    self.talk_seconds = Some(seconds_between(answered, at));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{CallEvent, NoAnswerReason, SCHEMA_VERSION};

    fn stored(offset: i64, seq: u32, at_ms: i64, kind: EventKind) -> StoredEvent {
        StoredEvent {
            offset,
            schema: SCHEMA_VERSION,
            event: CallEvent { call_id: "c1".into(), seq, at_ms, agent: None, kind },
        }
    }

    #[test]
    fn answered_call_after_one_no_answer() {
        let events = [
            EventKind::CallOffered { ani: "+1555".into(), did: "+1800".into(), trunk: "t1".into() },
            EventKind::CallQueued { queue: "sales".into() },
            EventKind::AgentOffered { agent: "a1".into(), attempt: 1, why: None },
            EventKind::AgentNoAnswer { agent: "a1".into(), reason: NoAnswerReason::Rejected, sip_status: Some(486) },
            EventKind::AgentOffered { agent: "a2".into(), attempt: 2, why: None },
            EventKind::AgentRinging { agent: "a2".into() },
            EventKind::AgentAnswered { agent: "a2".into() },
            EventKind::CallBridged { agent: "a2".into() },
            EventKind::CallEnded { side: HangupSide::Caller, cause: "normal".into(), sip_status: None },
            EventKind::WrapUpStarted { agent: "a2".into(), seconds: 30 },
            EventKind::WrapUpEnded { agent: "a2".into() },
        ];
        let times = [1_000, 1_100, 2_000, 3_000, 4_000, 4_100, 13_600, 13_700, 73_600, 73_600, 85_600];
        let mut cdr = Cdr::new("c1", 7);
        for (i, (kind, at)) in events.into_iter().zip(times).enumerate() {
            cdr.apply(&stored(7 + i as i64, i as u32 + 1, at, kind));
        }
        assert_eq!(cdr.queue.as_deref(), Some("sales"));
        assert_eq!(cdr.agent.as_deref(), Some("a2"));
        assert_eq!(cdr.attempts, 2);
        assert_eq!(cdr.offered_at, Some(1_000));
        assert_eq!(cdr.queued_at, Some(1_100));
        assert_eq!(cdr.answered_at, Some(13_600));
        assert_eq!(cdr.bridged_at, Some(13_700));
        assert_eq!(cdr.ended_at, Some(73_600));
        assert_eq!(cdr.wait_seconds, Some(12.5));
        assert_eq!(cdr.talk_seconds, Some(60.0));
        assert_eq!(cdr.wrapup_seconds, Some(12.0));
        assert_eq!(cdr.hangup_side, Some(HangupSide::Caller));
        assert!(!cdr.abandoned);
        assert_eq!(cdr.first_offset, 7);
        assert_eq!(cdr.last_offset, 17);
    }

    fn why(holdout: bool) -> Option<crate::events::OfferWhy> {
        Some(crate::events::OfferWhy {
            strategy: "merit_weighted".into(),
            rule: if holdout { "longest_idle" } else { "weighted" }.into(),
            score: 0.5,
            rank: 0,
            eligible: 3,
            relax_step: 0,
            holdout,
            waited_ms: 0,
        })
    }

    #[test]
    fn holdout_is_taken_from_the_last_offer_before_the_answer() {
        let mut cdr = Cdr::new("c1", 1);
        let events = [
            EventKind::AgentOffered { agent: "a1".into(), attempt: 1, why: why(true) },
            EventKind::AgentNoAnswer { agent: "a1".into(), reason: NoAnswerReason::NoAnswer, sip_status: None },
        ];
        for (i, kind) in events.into_iter().enumerate() {
            cdr.apply(&stored(i as i64 + 1, i as u32 + 1, 0, kind));
        }
        assert_eq!((cdr.offer_holdout, cdr.holdout), (Some(true), None), "not answered yet");
        cdr.apply(&stored(3, 3, 0, EventKind::AgentOffered { agent: "a2".into(), attempt: 2, why: why(false) }));
        cdr.apply(&stored(4, 4, 0, EventKind::AgentAnswered { agent: "a2".into() }));
        assert_eq!(cdr.holdout, Some(false));

        let mut unexplained = Cdr::new("c2", 1);
        unexplained.apply(&stored(1, 1, 0, EventKind::AgentOffered { agent: "a1".into(), attempt: 1, why: why(true) }));
        unexplained.apply(&stored(2, 2, 0, EventKind::AgentOffered { agent: "a2".into(), attempt: 2, why: None }));
        unexplained.apply(&stored(3, 3, 0, EventKind::AgentAnswered { agent: "a2".into() }));
        assert_eq!(unexplained.holdout, None, "the answered offer did not say");
    }

    #[test]
    fn overflowed_call_records_the_final_queue_and_the_whole_wait() {
        let events = [
            (1_000, EventKind::CallQueued { queue: "sales".into() }),
            (
                31_000,
                EventKind::CallOverflowed { from_queue: "sales".into(), to_queue: "backup".into(), waited_ms: 30_000 },
            ),
            (31_000, EventKind::AgentOffered { agent: "b1".into(), attempt: 1, why: None }),
            (36_000, EventKind::AgentAnswered { agent: "b1".into() }),
        ];
        let mut cdr = Cdr::new("c1", 1);
        for (i, (at, kind)) in events.into_iter().enumerate() {
            cdr.apply(&stored(1 + i as i64, i as u32 + 1, at, kind));
        }
        assert_eq!(cdr.queue.as_deref(), Some("backup"));
        assert_eq!(cdr.queued_at, Some(1_000), "queued at the first queue entry");
        assert_eq!(cdr.wait_seconds, Some(35.0), "the wait spans both queues");
        assert_eq!(cdr.agent.as_deref(), Some("b1"));
    }

    #[test]
    fn wrapup_seconds_is_the_granted_time_until_it_ends() {
        let mut cdr = Cdr::new("c1", 1);
        cdr.apply(&stored(1, 1, 0, EventKind::WrapUpStarted { agent: "a".into(), seconds: 45 }));
        assert_eq!(cdr.wrapup_seconds, Some(45.0));
    }

    #[test]
    fn negative_durations_are_clamped() {
        let mut cdr = Cdr::new("c1", 1);
        cdr.apply(&stored(1, 1, 5_000, EventKind::CallQueued { queue: "q".into() }));
        cdr.apply(&stored(2, 2, 4_000, EventKind::AgentAnswered { agent: "a".into() }));
        assert_eq!(cdr.wait_seconds, Some(0.0));
    }
}
