//! SIP routing inside the engine: which leg or role each transaction event and each request
//! belongs to (new INVITE, re-INVITE, BYE, INFO/UPDATE/NOTIFY, OPTIONS, REGISTER, CANCEL), and
//! the responses the engine sends. The legs' own logic lives in `caller_leg`, `agent_leg`,
//! `survey_leg` and `register`.

use std::net::SocketAddr;
use std::time::Instant;

use super::{agent_leg, caller_leg, register, sip_util, survey_leg, Engine, Leg, TxRole};
use crate::events::HangupSide;
use crate::sip::message::{Method, SipMessage};
use crate::sip::transaction::{Transport, TxEvent, TxId};

impl Engine {
    pub(super) fn on_tx_event(&mut self, now: Instant, ev: TxEvent) {
        match ev {
            TxEvent::Request { tx, msg, source, transport } => self.on_request(now, tx, msg, source, transport),
            TxEvent::CancelReceived { invite_tx, .. } => caller_leg::cancelled(self, now, invite_tx),
            TxEvent::Response { tx, msg } => {
                match self.by_tx.get(&tx).copied() {
                    Some((call, TxRole::AgentInvite { dest, transport })) => {
                        if self.calls.contains_key(&call) {
                            agent_leg::invite_response(self, now, call, tx, msg, dest, transport);
                        } else if msg.status().is_some_and(|s| (200..300).contains(&s)) {
                            // The call is gone but the phone answered: don't leave it in a dead call.
                            agent_leg::ack_and_bye(self, now, tx, &msg, dest, transport);
                        }
                    }
                    Some((_, TxRole::Bye(_))) if msg.status().is_some_and(|s| s >= 200) => {
                        self.by_tx.remove(&tx);
                    }
                    Some((_, TxRole::Bye(_))) | None => {}
                }
            }
            TxEvent::StrayResponse { msg, source, .. } => {
                // Retransmitted 2xx are re-ACKed by the transaction layer; anything else that
                // matches nothing is logged and dropped.
                tracing::debug!(%source, status = ?msg.status(), "stray response");
            }
            TxEvent::Timeout { tx } | TxEvent::TransportError { tx } => {
                if let Some(&(call, TxRole::AgentInvite { .. })) = self.by_tx.get(&tx) {
                    agent_leg::invite_failed(self, now, call, tx);
                }
            }
            TxEvent::AckFor2xx { invite_tx, msg, .. } => caller_leg::acked(self, now, invite_tx, &msg),
            TxEvent::StrayAck { .. } => {}
            TxEvent::AckTimeout { tx } => {
                // The caller never ACKed our 200: the dialog is dead (RFC 3261 13.3.1.4).
                if let Some(call) = self.calls.iter().find(|(_, c)| c.caller.invite_tx == tx).map(|(k, _)| *k) {
                    self.hang_up(now, call, HangupSide::System, "no_ack");
                }
            }
            TxEvent::Terminated { tx } => {
                self.by_tx.remove(&tx);
            }
        }
    }

    pub(super) fn on_request(
        &mut self,
        now: Instant,
        tx: TxId,
        msg: SipMessage,
        source: SocketAddr,
        transport: Transport,
    ) {
        let method = msg.method().unwrap_or(Method::Other("?".into()));
        let in_dialog = msg.to().ok().and_then(|t| t.tag().map(str::to_string)).is_some();
        match method {
            Method::Register => register::handle(self, now, tx, &msg, source, transport),
            Method::Invite if !in_dialog => caller_leg::new_invite(self, now, tx, msg, source, transport),
            Method::Invite => self.reinvite(now, tx, &msg),
            Method::Bye => self.on_bye(now, tx, &msg),
            Method::Options => {
                let resp = sip_util::options_reply(&msg, self.sip_ip, self.sip_port);
                self.respond_built(now, tx, resp);
            }
            Method::Info | Method::Update | Method::Notify if in_dialog => {
                let found = msg.call_id().ok().and_then(|id| self.by_sip_call_id.get(id).copied());
                if let Some((call, leg)) = found {
                    self.respond(now, tx, &msg, 200, "OK");
                    // SIP INFO DTMF, the fallback for phones that don't send RFC 4733.
                    if method == Method::Info && leg == Leg::Caller {
                        let ct = msg.content_type().unwrap_or("");
                        if let Some(d) = survey_leg::digit_from_info(ct, msg.body()) {
                            survey_leg::digit(self, now, call, d);
                        }
                    }
                } else {
                    self.respond(now, tx, &msg, 481, "Call/Transaction Does Not Exist");
                }
            }
            Method::Ack | Method::Cancel => {}
            _ => {
                let resp =
                    sip_util::response(&msg, 405, "Method Not Allowed", None).header("Allow", sip_util::ALLOW).build();
                self.respond_built(now, tx, resp);
            }
        }
    }

    /// A re-INVITE (hold, session refresh, codec change) inside a dialog we know: we keep our
    /// media where it is and answer with the same SDP, updating where we send.
    pub(super) fn reinvite(&mut self, now: Instant, tx: TxId, msg: &SipMessage) {
        let Some((call, leg)) = msg.call_id().ok().and_then(|id| self.by_sip_call_id.get(id).copied()) else {
            self.respond(now, tx, msg, 481, "Call/Transaction Does Not Exist");
            return;
        };
        match leg {
            Leg::Caller => caller_leg::reinvite(self, now, call, tx, msg),
            Leg::Agent => agent_leg::reinvite(self, now, call, tx, msg),
        }
    }

    pub(super) fn on_bye(&mut self, now: Instant, tx: TxId, msg: &SipMessage) {
        let found = msg.call_id().ok().and_then(|id| self.by_sip_call_id.get(id).copied());
        let Some((call, leg)) = found else {
            self.respond(now, tx, msg, 481, "Call/Transaction Does Not Exist");
            return;
        };
        self.respond(now, tx, msg, 200, "OK");
        let side = match leg {
            Leg::Caller => HangupSide::Caller,
            Leg::Agent => HangupSide::Agent,
        };
        let cause = match leg {
            Leg::Caller => "caller_hangup",
            Leg::Agent => "agent_hangup",
        };
        if leg == Leg::Agent && survey_leg::start_after_agent_hangup(self, now, call) {
            return;
        }
        // The leg that sent BYE is gone already: don't BYE it back.
        if let Some(c) = self.calls.get_mut(&call) {
            match leg {
                Leg::Caller => c.caller.dialog = None,
                Leg::Agent => {
                    if let Some(a) = c.agent.as_mut() {
                        a.dialog = None;
                    }
                }
            }
        }
        self.hang_up(now, call, side, cause);
    }

    pub(super) fn respond(&mut self, now: Instant, tx: TxId, req: &SipMessage, status: u16, reason: &str) {
        let resp = sip_util::response(req, status, reason, None).build();
        self.respond_built(now, tx, resp);
    }

    pub(super) fn respond_built(
        &mut self,
        now: Instant,
        tx: TxId,
        resp: Result<SipMessage, crate::sip::message::ParseError>,
    ) {
        match resp {
            Ok(msg) => self.respond_msg(now, tx, msg),
            Err(e) => tracing::warn!(error = %e, "could not build a response"),
        }
    }

    pub(super) fn respond_msg(&mut self, now: Instant, tx: TxId, resp: SipMessage) {
        if let Err(e) = self.txl.send_response(now, tx, resp) {
            tracing::debug!(%tx, error = %e, "response not sent");
        }
    }
}
