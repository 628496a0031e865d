//! The per-call event log's vocabulary: every step of a call is a fact in the past tense
//! (`call.offered`, `agent.offered`, `call.ended`), with a per-call sequence number assigned by the
//! call core and a global offset assigned when the store has made the event durable. This module
//! owns the event types and their JSON schema (version [`SCHEMA_VERSION`]); the store persists them
//! and the API streams them.

use serde::{Deserialize, Serialize};

/// Version of the JSON schema of [`CallEvent`]; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Which side ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HangupSide {
    Caller,
    Agent,
    System,
}

/// Why an offered agent did not take the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoAnswerReason {
    /// Rang past the ring timeout (RONA).
    NoAnswer,
    /// The phone answered with a final error such as 486 or 603.
    Rejected,
    /// No binding, transaction timeout or ICMP/transport failure.
    Unreachable,
}

/// Why the ACD offered a call to an agent: the audit record of one routing decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferWhy {
    /// The queue's strategy: `longest_idle`, `best_skill` or `merit_weighted`.
    pub strategy: String,
    /// The rule that picked the agent: `longest_idle`, `best_skill`, `weighted`, `floor_share`,
    /// `over_cap`.
    pub rule: String,
    /// The agent's (ramped) performance score for the queue.
    pub score: f64,
    /// The agent's rank among the eligible by the strategy's key, 0 = best.
    pub rank: u32,
    /// How many eligible agents were available.
    pub eligible: u32,
    /// The bullseye ring the call had reached (0 = the queue's own skills).
    pub relax_step: u8,
    /// The call is in the queue's holdout group (routed longest-idle as a control).
    pub holdout: bool,
    /// How long the call had waited.
    pub waited_ms: u64,
}

/// What happened. Serialized with a `type` field such as `"call.offered"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventKind {
    /// A carrier INVITE was accepted from a trunk and routed by DID.
    #[serde(rename = "call.offered")]
    CallOffered { ani: String, did: String, trunk: String },
    /// The switch answered the caller (200 OK) and the call waits in a queue.
    #[serde(rename = "call.queued")]
    CallQueued { queue: String },
    /// The call waited `from_queue`'s max wait and moved to its overflow queue `to_queue`, where it
    /// keeps its place by original arrival; `waited_ms` counts from the first `call.queued`.
    #[serde(rename = "call.overflowed")]
    CallOverflowed { from_queue: String, to_queue: String, waited_ms: u64 },
    /// The ACD reserved an agent and sent the agent leg an INVITE; `why` explains the choice.
    #[serde(rename = "agent.offered")]
    AgentOffered {
        agent: String,
        attempt: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        why: Option<OfferWhy>,
    },
    /// The agent's phone is ringing (180/183).
    #[serde(rename = "agent.ringing")]
    AgentRinging { agent: String },
    /// The agent did not take the call; the call goes back to the queue.
    #[serde(rename = "agent.no_answer")]
    AgentNoAnswer { agent: String, reason: NoAnswerReason, sip_status: Option<u16> },
    /// The agent's phone answered (200 OK).
    #[serde(rename = "agent.answered")]
    AgentAnswered { agent: String },
    /// Caller and agent media are bridged through the relay.
    #[serde(rename = "call.bridged")]
    CallBridged { agent: String },
    /// The caller hung up while still waiting in the queue.
    #[serde(rename = "call.abandoned")]
    CallAbandoned { queue: String, wait_ms: u64 },
    /// The agent entered wrap-up after the call.
    #[serde(rename = "agent.wrapup_started")]
    WrapUpStarted { agent: String, seconds: u32 },
    /// The agent's wrap-up ended.
    #[serde(rename = "agent.wrapup_ended")]
    WrapUpEnded { agent: String },
    /// The agent (or a CRM) recorded the call's outcome, e.g. `"sale"` with its revenue.
    #[serde(rename = "disposition.recorded")]
    DispositionRecorded { outcome: String, revenue: Option<f64> },
    /// The agent hung up while the caller stays on the line (for the post-call survey).
    #[serde(rename = "agent.left")]
    AgentLeft { agent: String },
    /// The post-call survey began; `questions` in the order they are asked.
    #[serde(rename = "survey.started")]
    SurveyStarted { questions: Vec<String> },
    /// The caller answered a survey question with a digit.
    #[serde(rename = "survey.answered")]
    SurveyAnswered { question: String, digit: u8 },
    /// The caller pressed a key that does not answer the question; it is asked again.
    #[serde(rename = "survey.invalid")]
    SurveyInvalid { question: String, digit: String },
    /// No valid digit for a question within its attempts.
    #[serde(rename = "survey.no_answer")]
    SurveyNoAnswer { question: String },
    /// The caller hung up during the survey.
    #[serde(rename = "survey.abandoned")]
    SurveyAbandoned { question: Option<String> },
    /// Both legs are gone; the call is over.
    #[serde(rename = "call.ended")]
    CallEnded { side: HangupSide, cause: String, sip_status: Option<u16> },
    /// The agent transferred the caller elsewhere (an agent, a queue or a number); the agent's part
    /// of the call ends here.
    #[serde(rename = "call.transferred")]
    CallTransferred { to: String },
    /// The agent entered a new state (`ready`, `not_ready`, `logged_out`, `offered`, `on_call`,
    /// `wrap_up`). `reason` is the not-ready reason (the agent's, or `rona`, `rejected`,
    /// `unreachable`); `cause` says what moved the agent (`requested`, `offered`, `answered`,
    /// `offer_failed`, `offer_withdrawn`, `call_ended`, `wrapup_ended`, `restart`); `call` is the
    /// call concerned, if any. Stored in the agent's stream ([`agent_stream`]).
    #[serde(rename = "agent.state_changed")]
    AgentStateChanged {
        agent: String,
        state: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        cause: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call: Option<String>,
    },
    /// The agent's phone has a registration again (it had none). In the agent's stream.
    #[serde(rename = "agent.registered")]
    AgentRegistered { agent: String, contact: String },
    /// The agent's last registration ended: `cause` is `unregistered` (REGISTER with expires 0)
    /// or `expired`. In the agent's stream.
    #[serde(rename = "agent.unregistered")]
    AgentUnregistered { agent: String, cause: String },
    /// The agent put the caller on hold.
    #[serde(rename = "call.hold")]
    CallHold {},
    /// The agent took the caller off hold.
    #[serde(rename = "call.unhold")]
    CallUnhold {},
}

/// The `cause` of the `call.ended` the switch writes at start-up for a call the log shows
/// unfinished (the process died during it), and of agent states restored then.
pub const CAUSE_RESTART: &str = "restart";

/// The prefix of an agent's own stream in the log: agent-state events are stored with
/// `call_id = "agent:<agent id>"`, numbered per agent like a call's events.
pub const AGENT_STREAM_PREFIX: &str = "agent:";

/// The stream id of `agent`'s state events.
pub fn agent_stream(agent: &str) -> String {
    format!("{AGENT_STREAM_PREFIX}{agent}")
}

/// Whether a stream id names an agent's stream rather than a call.
pub fn is_agent_stream(stream: &str) -> bool {
    stream.starts_with(AGENT_STREAM_PREFIX)
}

/// One event of one call, as produced by the call core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEvent {
    /// Meritline's id of the call (not the SIP Call-ID).
    pub call_id: String,
    /// Position of this event in its call's log, from 1, without gaps.
    pub seq: u32,
    /// Wall-clock time in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The agent concerned, when one is. Serialized as `agent_id`: several kinds carry their own
    /// `agent` field, which is flattened into the same JSON object and would collide.
    #[serde(rename = "agent_id")]
    pub agent: Option<String>,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// An event after the store made it durable: it now has a global, gap-free offset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub offset: i64,
    pub schema: u32,
    #[serde(flatten)]
    pub event: CallEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_serializes_with_dotted_type() {
        let ev = CallEvent {
            call_id: "c1".into(),
            seq: 1,
            at_ms: 5,
            agent: None,
            kind: EventKind::CallQueued { queue: "sales".into() },
        };
        let json = serde_json::to_string(&ev).unwrap();
        assert!(json.contains("\"type\":\"call.queued\""), "{json}");
        let back: CallEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn scoring_events_round_trip_with_dotted_types() {
        let kinds = [
            (EventKind::DispositionRecorded { outcome: "sale".into(), revenue: Some(12.5) }, "disposition.recorded"),
            (EventKind::CallTransferred { to: "billing".into() }, "call.transferred"),
            (
                EventKind::CallOverflowed {
                    from_queue: "sales".into(),
                    to_queue: "overflow".into(),
                    waited_ms: 30_000,
                },
                "call.overflowed",
            ),
            (EventKind::CallHold {}, "call.hold"),
            (EventKind::CallUnhold {}, "call.unhold"),
            (EventKind::SurveyStarted { questions: vec!["csat".into()] }, "survey.started"),
            (EventKind::SurveyAnswered { question: "csat".into(), digit: 5 }, "survey.answered"),
            (EventKind::SurveyAbandoned { question: Some("csat".into()) }, "survey.abandoned"),
        ];
        for (i, (kind, name)) in kinds.into_iter().enumerate() {
            let ev = CallEvent { call_id: "c1".into(), seq: 1, at_ms: 5, agent: Some("bob".into()), kind };
            let stored = StoredEvent { offset: i as i64, schema: SCHEMA_VERSION, event: ev };
            let json = serde_json::to_string(&stored).unwrap();
            assert!(json.contains(&format!("\"type\":\"{name}\"")), "{json}");
            let back: StoredEvent = serde_json::from_str(&json).unwrap();
            assert_eq!(back, stored);
        }
    }

    #[test]
    fn agent_event_round_trips_without_key_collision() {
        let ev = CallEvent {
            call_id: "c1".into(),
            seq: 4,
            at_ms: 9,
            agent: Some("bob".into()),
            kind: EventKind::AgentRinging { agent: "bob".into() },
        };
        let stored = StoredEvent { offset: 3, schema: SCHEMA_VERSION, event: ev };
        let json = serde_json::to_string(&stored).unwrap();
        assert_eq!(json.matches("\"agent\"").count(), 1, "{json}");
        let back: StoredEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, stored);
    }
}
