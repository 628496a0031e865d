//! The numbering of the engine's event streams: each live call numbers its own events (`seq`,
//! gap-free from 1); an ended call keeps its last number for late events (wrap-up end,
//! dispositions), in a memory capped at [`ENDED_CALLS_REMEMBERED`] calls; each agent's stream
//! has its own counter (one per configured agent).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use super::{CallRef, Engine, Output, ENDED_CALLS_REMEMBERED};
use crate::events::{CallEvent, EventKind};

/// The counters of the streams that are not a live call's (a live call keeps its own `seq`).
#[derive(Debug, Default)]
pub(super) struct Numbering {
    /// Last sequence numbers of recently ended calls, and their age order for eviction.
    ended: HashMap<String, u32>,
    ended_order: VecDeque<String>,
    /// Last sequence number of each agent's stream.
    agents: HashMap<Arc<str>, u32>,
}

impl Numbering {
    /// Keeps an ended call's last sequence number, forgetting the oldest beyond the cap.
    pub(super) fn remember_ended(&mut self, id: String, last_seq: u32) {
        if self.ended.insert(id.clone(), last_seq).is_none() {
            self.ended_order.push_back(id);
            while self.ended_order.len() > ENDED_CALLS_REMEMBERED {
                if let Some(old) = self.ended_order.pop_front() {
                    self.ended.remove(&old);
                }
            }
        }
    }

    /// Whether the ended call `id` is still remembered.
    pub(super) fn knows_ended(&self, id: &str) -> bool {
        self.ended.contains_key(id)
    }

    /// The next sequence number of a remembered ended call.
    fn next_after_end(&mut self, id: &str) -> Option<u32> {
        let last = self.ended.get_mut(id)?;
        *last += 1;
        Some(*last)
    }

    /// The next sequence number of `agent`'s stream.
    fn next_for_agent(&mut self, agent: &Arc<str>) -> u32 {
        let seq = self.agents.entry(agent.clone()).or_insert(0);
        *seq += 1;
        *seq
    }

    /// Continues `agent`'s stream after `last_seq` (restart recovery).
    pub(super) fn resume_agent(&mut self, agent: Arc<str>, last_seq: u32) {
        self.agents.insert(agent, last_seq);
    }

    /// Ended calls remembered now.
    pub(super) fn ended_len(&self) -> usize {
        self.ended.len().max(self.ended_order.len())
    }
}

impl Engine {
    /// Appends an event to an agent's own stream ([`crate::events::agent_stream`]).
    pub(super) fn emit_agent(&mut self, now: Instant, agent: &Arc<str>, kind: EventKind) {
        let at_ms = self.unix_ms(now);
        let seq = self.numbering.next_for_agent(agent);
        let ev =
            CallEvent { call_id: crate::events::agent_stream(agent), seq, at_ms, agent: Some(agent.to_string()), kind };
        self.outputs.push_back(Output::Event(ev));
    }

    /// Appends an event to a call's log.
    pub(super) fn emit(&mut self, now: Instant, call: CallRef, agent: Option<&str>, kind: EventKind) {
        let at_ms = self.unix_ms(now);
        let Some(c) = self.calls.get_mut(&call) else { return };
        c.seq += 1;
        let ev = CallEvent { call_id: c.id.clone(), seq: c.seq, at_ms, agent: agent.map(str::to_string), kind };
        self.outputs.push_back(Output::Event(ev));
    }

    /// Appends an event to the log of a call that has left `calls`.
    pub(super) fn emit_after_end(&mut self, now: Instant, call_id: &str, agent: Option<&str>, kind: EventKind) -> bool {
        let Some(seq) = self.numbering.next_after_end(call_id) else { return false };
        let ev = CallEvent {
            call_id: call_id.to_string(),
            seq,
            at_ms: self.unix_ms(now),
            agent: agent.map(str::to_string),
            kind,
        };
        self.outputs.push_back(Output::Event(ev));
        true
    }
}
