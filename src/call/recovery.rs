//! Restart recovery, the engine's side: writing registrations and live dialogs as they change
//! (see [`durable`](super::durable)), and taking them back at start-up. After a `kill -9` the
//! engine restores the unexpired bindings, ends every call the log shows unfinished with a
//! `call.ended` of cause `restart` (so its CDR closes), sends the BYE of every dialog that was
//! live, and puts each agent back in the state it had (`ready` stays ready; a call in progress
//! becomes ready; not-ready keeps its reason).

use std::time::Instant;

use super::durable::{BindingRecord, DialogLeg, DialogRecord, DurableWrite, Recovery};
use super::{sip_util, CallRef, Engine, Output};
use crate::acd::Requested;
use crate::events::{EventKind, HangupSide, CAUSE_RESTART};
use crate::sip::message::{Method, SipMessage};
use crate::sip::registrar::{Binding, RegistrarEvent};
use crate::sip::transaction::{new_branch, Transport};

fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    }
}

fn transport_named(name: &str) -> Transport {
    if name.eq_ignore_ascii_case("tcp") {
        Transport::Tcp
    } else {
        Transport::Udp
    }
}

impl Engine {
    /// Writes a registration change for restart recovery.
    pub(super) fn persist_binding(&mut self, now: Instant, ev: &RegistrarEvent) {
        let write = match ev {
            RegistrarEvent::Registered { user, contact } | RegistrarEvent::Refreshed { user, contact } => {
                let Some(b) = self.registrar.bindings(now, user).into_iter().find(|b| b.contact_uri == *contact) else {
                    return;
                };
                DurableWrite::SaveBinding(BindingRecord {
                    agent: user.clone(),
                    contact: contact.clone(),
                    source: b.source,
                    transport: transport_name(b.transport.into()).to_string(),
                    expires_at_ms: self.unix_ms(b.expires_at),
                })
            }
            RegistrarEvent::Unregistered { user, contact, .. } | RegistrarEvent::Expired { user, contact, .. } => {
                DurableWrite::RemoveBinding { agent: user.clone(), contact: contact.clone() }
            }
        };
        self.outputs.push_back(Output::Durable(write));
    }

    /// Writes the established dialog of `call`'s `leg` as the BYE that would end it, so that a
    /// restart can hang the leg up; no dialog, nothing written. We send no other in-dialog
    /// request, so the stored CSeq stays valid. In-dialog requests go where the leg's own do.
    pub(super) fn persist_dialog(&mut self, call: CallRef, leg: DialogLeg) {
        let Some(c) = self.calls.get_mut(&call) else { return };
        let found = match leg {
            DialogLeg::Caller => c.caller.dialog.clone().map(|d| (d, c.caller.source, c.caller.transport)),
            DialogLeg::Agent => c.agent.as_ref().and_then(|a| a.dialog.clone().map(|d| (d, a.dest, a.transport))),
        };
        let Some((mut dialog, dest, transport)) = found else { return };
        let bye = dialog.create_request(Method::Bye).map(|b| b.header("Max-Forwards", "70").build());
        let Ok(Ok(bye)) = bye else { return };
        c.persisted_dialogs = true;
        let record = DialogRecord {
            call_id: c.id.clone(),
            leg,
            dest,
            transport: transport_name(transport).to_string(),
            bye: String::from_utf8_lossy(bye.raw()).into_owned(),
        };
        self.outputs.push_back(Output::Durable(DurableWrite::SaveDialog(record)));
    }

    /// Start-up after a stop: takes back what the store kept (see the module header).
    pub fn handle_recovery(&mut self, now: Instant, recovery: Recovery) {
        let restored_calls = recovery.unfinished_calls.len();
        for agent in &recovery.agents {
            if let Some(id) = self.acd.agent(&agent.agent).map(|a| a.id.clone()) {
                self.numbering.resume_agent(id, agent.last_seq);
            }
        }
        for b in recovery.bindings {
            let binding = Binding {
                contact_uri: b.contact.clone(),
                expires_at: self.instant_at(b.expires_at_ms),
                call_id: String::new(),
                cseq: 0,
                source: b.source,
                transport: transport_named(&b.transport).into(),
                q: None,
                registered_at: now,
                refreshed_at: now,
            };
            if !self.registrar.restore(now, &b.agent, binding) {
                self.outputs.push_back(Output::Durable(DurableWrite::RemoveBinding {
                    agent: b.agent.clone(),
                    contact: b.contact.clone(),
                }));
            }
        }
        for call in recovery.unfinished_calls {
            self.numbering.remember_ended(call.call_id.clone(), call.last_seq);
            let kind = EventKind::CallEnded { side: HangupSide::System, cause: CAUSE_RESTART.into(), sip_status: None };
            self.emit_after_end(now, &call.call_id, None, kind);
        }
        for d in recovery.dialogs {
            self.send_stored_bye(now, &d);
            self.outputs.push_back(Output::Durable(DurableWrite::RemoveDialogs { call_id: d.call_id.clone() }));
        }
        for agent in &recovery.agents {
            let requested = match &agent.last_state {
                Some((state, reason)) if state == "not_ready" => {
                    Requested::NotReady(reason.clone().unwrap_or_else(|| "busy".into()))
                }
                Some((state, _)) if state == "logged_out" => continue,
                Some(_) => Requested::Ready,
                None => continue,
            };
            if let Err(e) = self.acd.restore_agent_state(now, &agent.agent, requested) {
                tracing::debug!(agent = %agent.agent, error = %e, "agent state not restored");
            }
        }
        if restored_calls > 0 {
            tracing::warn!(calls = restored_calls, "closed calls left unfinished by the previous run");
        }
        self.pump(now);
    }

    /// Sends a stored BYE with a fresh Via; its answer, if any, needs no handling.
    fn send_stored_bye(&mut self, now: Instant, d: &DialogRecord) {
        let Ok(stored) = SipMessage::parse(bytes::Bytes::from(d.bye.clone().into_bytes())) else {
            tracing::warn!(call = %d.call_id, leg = d.leg.as_str(), "stored BYE does not parse");
            return;
        };
        let transport = transport_named(&d.transport);
        let branch = new_branch(&mut self.rng);
        let mut builder = stored.to_builder();
        builder.remove_header("Via");
        builder.prepend_header("Via", &sip_util::via(transport, self.sip_ip, self.sip_port, &branch));
        match builder.build() {
            Ok(bye) => {
                tracing::info!(call = %d.call_id, leg = d.leg.as_str(), dest = %d.dest, "BYE for a dialog of the previous run");
                if let Err(e) = self.txl.send_request(now, bye, d.dest, transport) {
                    tracing::warn!(error = %e, "BYE of a stored dialog not sent");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot rebuild a stored BYE"),
        }
    }
}
