//! How the engine follows the ACD and the registrar: an offer rings the agent's leg, a ring
//! timeout cancels it, max wait and overflow move or end the call, every agent state change and
//! registration change is written to the agent's own stream, and bindings are kept for restart
//! recovery.

use std::time::Instant;

use super::{agent_leg, CallRef, Engine};
use crate::acd::{self, AcdEvent};
use crate::events::{EventKind, HangupSide};
use crate::metrics as m;
use crate::sip::registrar::RegistrarEvent;

impl Engine {
    pub(super) fn on_registrar_event(&mut self, now: Instant, ev: RegistrarEvent) {
        self.persist_binding(now, &ev);
        let (user, registered) = match &ev {
            RegistrarEvent::Registered { user, .. } | RegistrarEvent::Refreshed { user, .. } => (user.clone(), true),
            RegistrarEvent::Unregistered { user, remaining, .. } | RegistrarEvent::Expired { user, remaining, .. } => {
                (user.clone(), *remaining > 0)
            }
        };
        let changed = match self.acd.set_registered(now, &user, registered) {
            Ok(changed) => changed,
            Err(e) => {
                tracing::debug!(%user, error = %e, "registration for an agent the ACD does not know");
                false
            }
        };
        if changed {
            let agent: std::sync::Arc<str> = user.as_str().into();
            let kind = match &ev {
                RegistrarEvent::Registered { contact, .. } | RegistrarEvent::Refreshed { contact, .. } => {
                    EventKind::AgentRegistered { agent: user.clone(), contact: contact.clone() }
                }
                RegistrarEvent::Unregistered { .. } => {
                    EventKind::AgentUnregistered { agent: user.clone(), cause: "unregistered".into() }
                }
                RegistrarEvent::Expired { .. } => {
                    EventKind::AgentUnregistered { agent: user.clone(), cause: "expired".into() }
                }
            };
            self.emit_agent(now, &agent, kind);
        }
        metrics::gauge!(m::REGISTRATIONS).set(self.registrar.registered_users(now).count() as f64);
    }

    pub(super) fn on_acd_event(&mut self, now: Instant, ev: AcdEvent) {
        match ev {
            AcdEvent::Offer { call, agent, decision, .. } => agent_leg::offer(self, now, call, agent, decision),
            AcdEvent::OfferTimedOut { call, agent } => agent_leg::ring_timeout(self, now, call, &agent),
            AcdEvent::CallTimedOut { call, .. } => {
                self.hang_up(now, call, HangupSide::System, "max_wait");
            }
            AcdEvent::CallOverflowed { call, from, to, waited } => {
                // From here on the call belongs to `to`: its abandon event and survey are `to`'s.
                let Some(c) = self.calls.get_mut(&call) else { return };
                c.queue = to.to_string();
                tracing::info!(call = %c.id, from = %from, to = %to, "call overflowed to another queue");
                let waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
                let kind =
                    EventKind::CallOverflowed { from_queue: from.to_string(), to_queue: to.to_string(), waited_ms };
                self.emit(now, call, None, kind);
            }
            AcdEvent::AgentStateChanged { agent, state, cause } => {
                let wrapup_call = self.wrapups.get(&agent).map(|w| w.call_id.clone());
                if !matches!(state, acd::AgentState::WrapUp { .. }) {
                    if let Some(w) = self.wrapups.remove(&agent) {
                        let kind = EventKind::WrapUpEnded { agent: agent.to_string() };
                        self.emit_after_end(now, &w.call_id, Some(&agent), kind);
                    }
                }
                let call_id = |c: &CallRef| self.calls.get(c).map(|c| c.id.clone());
                let (reason, call) = match &state {
                    acd::AgentState::NotReady { reason } => (Some(reason.clone()), None),
                    acd::AgentState::Offered { call } | acd::AgentState::OnCall { call } => (None, call_id(call)),
                    acd::AgentState::WrapUp { .. } => (None, wrapup_call),
                    acd::AgentState::Ready | acd::AgentState::LoggedOut => (None, None),
                };
                let kind = EventKind::AgentStateChanged {
                    agent: agent.to_string(),
                    state: state.name().to_string(),
                    reason,
                    cause: cause.as_str().to_string(),
                    call,
                };
                self.emit_agent(now, &agent, kind);
            }
        }
    }
}
