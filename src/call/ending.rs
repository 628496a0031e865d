//! How a call ends: from any phase (queued, offering, bridged, in the survey), releasing the agent
//! or the queue slot, hanging up or cancelling the legs still up, closing media and writing the
//! final events; wrap-up after the agent's part; the disposition that may come later.

use std::sync::Arc;
use std::time::Instant;

use super::{
    agent_leg, caller_leg, durable, survey_leg, AgentLegState, CallError, CallRef, Engine, MediaCommand, Output, Phase,
    WrapUp,
};
use crate::events::{EventKind, HangupSide};
use crate::metrics as m;

impl Engine {
    /// Ends a call from any phase: releases the agent or the queue slot, BYEs or CANCELs the
    /// legs still up, closes media and writes the final events.
    pub(super) fn hang_up(&mut self, now: Instant, call: CallRef, mut side: HangupSide, mut cause: &str) {
        let Some(c) = self.calls.get(&call) else { return };
        let phase = c.phase;
        let queue = c.queue.clone();
        match phase {
            Phase::AwaitingMedia => {
                caller_leg::refuse_pending(self, now, call, 503, "Service Unavailable");
                return;
            }
            Phase::Queued | Phase::Offering => {
                let removed = self.acd.remove_call(now, call);
                if side == HangupSide::Caller {
                    let wait_ms = removed.as_ref().map(|r| r.waited.as_millis() as u64).unwrap_or(0);
                    self.emit(now, call, None, EventKind::CallAbandoned { queue, wait_ms });
                }
                agent_leg::abort(self, now, call);
            }
            Phase::Bridged => {
                let agent = self.calls.get(&call).and_then(|c| c.agent.as_ref().map(|a| a.agent.clone()));
                agent_leg::send_bye(self, now, call);
                if let Some(agent) = agent {
                    self.finish_agent_call(now, call, &agent);
                }
            }
            Phase::Survey => {
                // The conversation ended with the agent's hangup; the survey only followed it.
                survey_leg::abandon_if_unfinished(self, now, call);
                self.survey_calls.remove(&call);
                if side != HangupSide::System {
                    side = HangupSide::Agent;
                    cause = "agent_hangup";
                }
            }
        }
        let sip_status = caller_leg::disconnect(self, now, call, side);
        self.emit(now, call, None, EventKind::CallEnded { side, cause: cause.to_string(), sip_status });
        self.remove_call(call);
    }

    /// The agent's part of a call ended: wrap-up starts (events go to this call's log).
    pub(super) fn finish_agent_call(&mut self, now: Instant, call: CallRef, agent: &Arc<str>) {
        let wrapup = self.config.agent(agent).map(|a| a.wrapup_seconds).unwrap_or(0);
        if let Err(e) = self.acd.call_ended(now, agent, call) {
            tracing::warn!(%agent, error = %e, "acd call_ended");
        }
        if wrapup > 0 {
            self.emit(now, call, Some(agent), EventKind::WrapUpStarted { agent: agent.to_string(), seconds: wrapup });
        }
        if wrapup > 0 {
            if let Some(c) = self.calls.get(&call) {
                // `next_seq` is fixed when the call leaves `calls`, after its last event.
                self.wrapups.insert(agent.clone(), WrapUp { call_id: c.id.clone() });
            }
        }
    }

    /// Records a call's outcome (`POST /api/calls/{id}/disposition`). `store_last_seq` is the
    /// highest sequence number the store holds for the call (for calls this engine no longer
    /// remembers, e.g. after a restart).
    pub fn record_disposition(
        &mut self,
        now: Instant,
        call_id: &str,
        outcome: &str,
        revenue: Option<f64>,
        store_last_seq: Option<u32>,
    ) -> Result<(), CallError> {
        let valid = !outcome.is_empty()
            && outcome.len() <= 64
            && outcome.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(CallError::Invalid("outcome must be 1-64 letters, digits, '_' or '-'".into()));
        }
        if revenue.is_some_and(|r| !r.is_finite() || r < 0.0) {
            return Err(CallError::Invalid("revenue must be a non-negative number".into()));
        }
        let kind = EventKind::DispositionRecorded { outcome: outcome.to_string(), revenue };
        let live = self
            .calls
            .iter()
            .find(|(_, c)| c.id == call_id)
            .map(|(k, c)| (*k, c.agent.as_ref().map(|a| a.agent.clone())));
        if let Some((call, agent)) = live {
            self.emit(now, call, agent.as_deref(), kind);
            return Ok(());
        }
        if !self.numbering.knows_ended(call_id) {
            match store_last_seq {
                Some(last) => self.numbering.remember_ended(call_id.to_string(), last),
                None => return Err(CallError::NotFound(format!("call {call_id} not found"))),
            }
        }
        self.emit_after_end(now, call_id, None, kind);
        Ok(())
    }

    pub(super) fn remove_call(&mut self, call: CallRef) {
        if let Some(c) = self.calls.remove(&call) {
            if c.persisted_dialogs {
                self.outputs.push_back(Output::Durable(durable::DurableWrite::RemoveDialogs { call_id: c.id.clone() }));
            }
            self.numbering.remember_ended(c.id.clone(), c.seq);
            self.by_sip_call_id.remove(&c.caller.sip_call_id);
            if let Some(a) = &c.agent {
                self.by_sip_call_id.remove(&a.sip_call_id);
            }
            // by_tx entries stay until their transactions terminate: a late 2xx to an agent
            // INVITE of this call must still be ACKed and hung up.
            if c.media_ports.is_some() {
                self.media(MediaCommand::Close { call });
            }
            let outcome = if c.agent.as_ref().map(|a| a.state == AgentLegState::Answered).unwrap_or(false) {
                "answered"
            } else {
                "not_answered"
            };
            metrics::counter!(m::CALLS_TOTAL, "outcome" => outcome).increment(1);
        }
    }
}
