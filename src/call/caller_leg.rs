//! The caller (carrier) leg of a call: admission of a new INVITE (trunk ACL, DID route, SDP
//! offer) and its answer mode, then, once RTP ports are bound, either the `immediate` answer (200
//! OK and hold audio; the call goes to the ACD when the caller ACKs, so a caller that never ACKs
//! is never offered to an agent) or `early_media` (183 with SDP and hold audio as early media;
//! the call is queued at once and the 200 goes out when an agent answers). Also CANCEL while the
//! INVITE is open, the ACK of our 200, re-INVITEs, and how the leg ends on our side (BYE once
//! answered, a final response to the INVITE while still early).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::durable::DialogLeg;
use super::sip_util::{self, redact};
use super::{Call, CallRef, CallerLeg, Engine, Leg, MediaCommand, Phase, RemoteMedia, TxRole};
use crate::config::AnswerMode;
use crate::events::{EventKind, HangupSide};
use crate::sdp::{self, AudioCodec, SessionDescription};
use crate::sip::dialog::Dialog;
use crate::sip::message::{Method, SipMessage, Uri};
use crate::sip::transaction::{new_branch, Transport, TxId};

/// Codecs we accept from carriers, in our order of preference when the offer leaves it open.
pub const CALLER_CODECS: [AudioCodec; 2] = [AudioCodec::Pcmu, AudioCodec::Pcma];

/// Where the caller's INVITE stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerState {
    /// Only 100 Trying sent: waiting for RTP ports.
    Pending,
    /// `early_media`: 183 with our SDP sent; the INVITE stays open (CANCEL possible) until an
    /// agent answers.
    Early,
    /// 200 sent, not ACKed yet. `enqueue_since`: an `immediate` call, waiting since then, that
    /// goes to the ACD when the ACK proves the caller leg alive.
    Answered { enqueue_since: Option<Instant> },
    /// The caller ACKed our 200.
    Confirmed,
}

/// A new carrier INVITE: admit it or refuse it with the right status.
pub fn new_invite(e: &mut Engine, now: Instant, tx: TxId, msg: SipMessage, source: SocketAddr, transport: Transport) {
    if e.draining {
        e.respond(now, tx, &msg, 503, "Service Unavailable");
        return;
    }
    let config = Arc::clone(&e.config);
    let Some(trunk) = config.trunk_for_source(source.ip()) else {
        tracing::info!(%source, "INVITE from a source no trunk allows");
        e.respond(now, tx, &msg, 403, "Forbidden");
        return;
    };
    let trunk_name = trunk.name.clone();
    let did = msg
        .request_uri()
        .ok()
        .and_then(|u| u.user.clone())
        .or_else(|| msg.to().ok().and_then(|t| t.uri.user.clone()))
        .unwrap_or_default();
    let Some(route) = config.route(&did) else {
        tracing::info!(did = %did, trunk = %trunk_name, "no route for the dialled number");
        e.respond(now, tx, &msg, 404, "Not Found");
        return;
    };
    let queue = route.queue.clone();
    let mode = config.answer_mode(trunk, &queue);
    let is_sdp = msg.content_type().map(|ct| ct.to_ascii_lowercase().starts_with("application/sdp")).unwrap_or(false);
    if msg.body().is_empty() || !is_sdp {
        // Offerless INVITEs (offer in our 200, answer in the ACK) are not supported yet.
        let resp = sip_util::response(&msg, 488, "Not Acceptable Here", None)
            .header("Warning", "399 meritline \"an SDP offer is required\"")
            .build();
        e.respond_built(now, tx, resp);
        return;
    }
    let offer = match SessionDescription::parse_bytes(msg.body()) {
        Ok(o) => o,
        Err(err) => {
            let resp = sip_util::response(&msg, err.status_code(), "Bad SDP", None).build();
            e.respond_built(now, tx, resp);
            return;
        }
    };
    let ani = msg.from().ok().and_then(|f| f.uri.user.clone()).unwrap_or_else(|| "anonymous".into());
    let sip_call_id = msg.call_id().map(str::to_string).unwrap_or_default();
    if e.by_sip_call_id.contains_key(&sip_call_id) {
        // A new INVITE reusing a live Call-ID without a To tag: a loop or a broken peer.
        e.respond(now, tx, &msg, 482, "Loop Detected");
        return;
    }

    let call = super::CallId(e.next_call);
    e.next_call += 1;
    let id = format!("{:x}-{:x}", e.unix_ms(now), call.0);
    tracing::info!(call = %id, ani = %redact(&ani), did = %did, queue = %queue, "call offered");
    let local_tag = e.random_hex(8);
    e.by_sip_call_id.insert(sip_call_id.clone(), (call, Leg::Caller));
    e.calls.insert(
        call,
        Call {
            id,
            seq: 0,
            ani: ani.clone(),
            queue: queue.clone(),
            phase: Phase::AwaitingMedia,
            caller: CallerLeg {
                invite_tx: tx,
                invite: msg,
                source,
                transport,
                offer,
                local_tag,
                answer: None,
                dialog: None,
                sip_call_id,
                mode,
                state: CallerState::Pending,
            },
            agent: None,
            attempts: 0,
            media_ports: None,
            survey: None,
            on_hold: false,
            playback: None,
            persisted_dialogs: false,
        },
    );
    e.emit(now, call, None, EventKind::CallOffered { ani, did, trunk: trunk_name });
    e.media(MediaCommand::Allocate { call });
}

/// Ports are bound: negotiate, then answer with 200 OK (`immediate`) or 183 Session Progress
/// (`early_media`), start hold audio and queue the call.
pub fn media_ready(e: &mut Engine, now: Instant, call: CallRef, caller_port: u16, agent_port: u16) {
    let session_id = u64::from(e.rng_u32());
    let media_ip = e.media_ip;
    let Some(c) = e.calls.get_mut(&call) else {
        // The call ended while we waited (CANCEL): give the ports back.
        e.media(MediaCommand::Close { call });
        return;
    };
    c.media_ports = Some((caller_port, agent_port));
    if c.phase != Phase::AwaitingMedia {
        return;
    }
    let answer = sdp::answer_audio(&c.caller.offer, media_ip, caller_port, &CALLER_CODECS, session_id);
    let (answer, negotiated) = match answer {
        Ok(a) => a,
        Err(err) => {
            let status = err.status_code();
            refuse_pending(e, now, call, status, "Not Acceptable Here");
            return;
        }
    };
    c.caller.answer = Some(Bytes::from(answer.to_string()));
    let early = c.caller.mode == AnswerMode::EarlyMedia;
    let resp =
        if early { answer_response(e, call, 183, "Session Progress") } else { answer_response(e, call, 200, "OK") };
    let Some(resp) = resp else {
        refuse_pending(e, now, call, 500, "Server Internal Error");
        return;
    };
    let dialog = if early { None } else { uas_dialog(e, call) };
    let Some(c) = e.calls.get_mut(&call) else { return };
    c.phase = Phase::Queued;
    let (invite_tx, queue) = (c.caller.invite_tx, c.queue.clone());
    if early {
        c.caller.state = CallerState::Early;
    } else {
        c.caller.state = CallerState::Answered { enqueue_since: Some(now) };
        c.caller.dialog = dialog;
    }
    e.respond_msg(now, invite_tx, resp);
    e.persist_dialog(call, DialogLeg::Caller);
    let remote = RemoteMedia::from_negotiated(&negotiated);
    e.media(MediaCommand::SetCallerRemote { call, remote });
    e.media(MediaCommand::PlayHold { call });
    if early {
        // Nothing to wait for: the 183 is not acknowledged (no PRACK), and the caller leg's
        // liveness is proved later by the ACK of the 200 sent when an agent answers.
        if enqueue(e, now, call, now) {
            e.emit(now, call, None, EventKind::CallQueued { queue });
        }
    } else {
        // The caller hears hold audio and waits from now on; agents are offered the call once
        // its ACK arrives (`acked`).
        e.emit(now, call, None, EventKind::CallQueued { queue });
    }
}

/// Our 183 or 200 to the caller's INVITE: the To tag of the call, Contact, Allow and our SDP
/// answer (the same in both, so the 200 after early media changes nothing in the media).
fn answer_response(e: &Engine, call: CallRef, status: u16, reason: &str) -> Option<SipMessage> {
    let c = e.calls.get(&call)?;
    let body = c.caller.answer.clone()?;
    let contact = format!("<sip:meritline@{}>", sip_util::host_port(e.sip_ip, e.sip_port));
    let resp = sip_util::response(&c.caller.invite, status, reason, Some(&c.caller.local_tag))
        .header("Contact", &contact)
        .header("Allow", sip_util::ALLOW)
        .body("application/sdp", body)
        .build();
    match resp {
        Ok(r) => Some(r),
        Err(err) => {
            tracing::warn!(error = %err, status, "cannot build our answer to the caller");
            None
        }
    }
}

/// The dialog our 200 creates with the caller.
fn uas_dialog(e: &Engine, call: CallRef) -> Option<Dialog> {
    let c = e.calls.get(&call)?;
    let contact_uri = Uri::sip(Some("meritline"), &e.sip_ip.to_string(), Some(e.sip_port));
    Dialog::from_uas(&c.caller.invite, &c.caller.local_tag, contact_uri).ok()
}

/// Hands a waiting call, waiting since `since`, to the ACD; a queue that refuses it ends the call.
fn enqueue(e: &mut Engine, now: Instant, call: CallRef, since: Instant) -> bool {
    let Some(queue) = e.calls.get(&call).map(|c| c.queue.clone()) else { return false };
    match e.acd.enqueue_since(now, call, &queue, 0, since) {
        Ok(()) => true,
        Err(err) => {
            tracing::warn!(error = %err, "cannot queue call");
            e.hang_up(now, call, HangupSide::System, "queue_unavailable");
            false
        }
    }
}

/// The caller ACKed a 2xx of ours. The ACK of the INVITE's 200 confirms the caller leg; an
/// `immediate` call waiting for it goes to the ACD now, its wait counted from its answer.
pub fn acked(e: &mut Engine, now: Instant, invite_tx: TxId, ack: &SipMessage) {
    let Some(&(call, Leg::Caller)) = ack.call_id().ok().and_then(|id| e.by_sip_call_id.get(id)) else {
        return;
    };
    let Some(c) = e.calls.get_mut(&call) else { return };
    if c.caller.invite_tx != invite_tx {
        // The ACK of a 200 to a re-INVITE.
        return;
    }
    let CallerState::Answered { enqueue_since } = c.caller.state else { return };
    c.caller.state = CallerState::Confirmed;
    if let Some(since) = enqueue_since {
        enqueue(e, now, call, since);
    }
}

/// An agent answered: after early media, answer the caller with 200 OK (same SDP, same To tag).
/// Returns false when the 200 could not be sent; the caller leg is then still early.
pub fn answer_after_early_media(e: &mut Engine, now: Instant, call: CallRef) -> bool {
    let Some(c) = e.calls.get(&call) else { return false };
    if c.caller.state != CallerState::Early {
        return true;
    }
    let invite_tx = c.caller.invite_tx;
    let Some(resp) = answer_response(e, call, 200, "OK") else { return false };
    let dialog = uas_dialog(e, call);
    let Some(c) = e.calls.get_mut(&call) else { return false };
    c.caller.state = CallerState::Answered { enqueue_since: None };
    c.caller.dialog = dialog;
    e.respond_msg(now, invite_tx, resp);
    e.persist_dialog(call, DialogLeg::Caller);
    true
}

/// Refuses a call we have not answered yet and forgets it.
pub fn refuse_pending(e: &mut Engine, now: Instant, call: CallRef, status: u16, reason: &str) {
    let Some(c) = e.calls.get(&call) else { return };
    if c.phase != Phase::AwaitingMedia {
        return;
    }
    let (tx, invite) = (c.caller.invite_tx, c.caller.invite.clone());
    let tag = c.caller.local_tag.clone();
    let resp = sip_util::response(&invite, status, reason, Some(&tag)).build();
    e.respond_built(now, tx, resp);
    e.emit(
        now,
        call,
        None,
        EventKind::CallEnded {
            side: crate::events::HangupSide::System,
            cause: reason.to_ascii_lowercase().replace(' ', "_"),
            sip_status: Some(status),
        },
    );
    e.remove_call(call);
}

/// The carrier CANCELled its INVITE before our 200: before media (nothing queued yet) or
/// during early media (abandoned in the queue; a ringing agent is cancelled without blame).
pub fn cancelled(e: &mut Engine, now: Instant, invite_tx: TxId) {
    let Some(call) = e.calls.iter().find(|(_, c)| c.caller.invite_tx == invite_tx).map(|(k, _)| *k) else {
        return;
    };
    let Some(c) = e.calls.get(&call) else { return };
    if c.caller.state == CallerState::Early {
        // `hang_up` answers the INVITE 487 (see `disconnect`).
        e.hang_up(now, call, HangupSide::Caller, "caller_cancel");
        return;
    }
    if c.phase != Phase::AwaitingMedia {
        // Already answered: the CANCEL crossed our 200; the caller will BYE.
        return;
    }
    let (tx, invite) = (c.caller.invite_tx, c.caller.invite.clone());
    let tag = c.caller.local_tag.clone();
    let queue = c.queue.clone();
    let resp = sip_util::response(&invite, 487, "Request Terminated", Some(&tag)).build();
    e.respond_built(now, tx, resp);
    e.emit(now, call, None, EventKind::CallAbandoned { queue, wait_ms: 0 });
    e.emit(
        now,
        call,
        None,
        EventKind::CallEnded { side: HangupSide::Caller, cause: "caller_cancel".into(), sip_status: Some(487) },
    );
    e.remove_call(call);
}

/// A re-INVITE from the carrier: same media on our side; follow its new address.
pub fn reinvite(e: &mut Engine, now: Instant, call: CallRef, tx: TxId, msg: &SipMessage) {
    let Some(c) = e.calls.get_mut(&call) else { return };
    if matches!(c.caller.state, CallerState::Pending | CallerState::Early) {
        // Our final response to the first INVITE is still pending (RFC 3261 14.2).
        let resp = sip_util::response(msg, 500, "Server Internal Error", None).header("Retry-After", "5").build();
        e.respond_built(now, tx, resp);
        return;
    }
    let Some(body) = c.caller.answer.clone() else {
        e.respond(now, tx, msg, 491, "Request Pending");
        return;
    };
    if let Some(d) = c.caller.dialog.as_mut() {
        if let Err(err) = d.handle_remote_request(msg) {
            let status = err.status_code();
            e.respond(now, tx, msg, status, "Out Of Order");
            return;
        }
    }
    let mut update = None;
    if !msg.body().is_empty() {
        if let Ok(offer) = SessionDescription::parse_bytes(msg.body()) {
            if let Ok((_, neg)) =
                sdp::answer_audio(&offer, e.media_ip, c.media_ports.map(|p| p.0).unwrap_or(0), &CALLER_CODECS, 0)
            {
                update = Some((RemoteMedia::from_negotiated(&neg), neg.remote_hold));
            }
            c.caller.offer = offer;
        }
    }
    let tag = c.caller.local_tag.clone();
    let contact = format!("<sip:meritline@{}>", sip_util::host_port(e.sip_ip, e.sip_port));
    let resp =
        sip_util::response(msg, 200, "OK", Some(&tag)).header("Contact", contact).body("application/sdp", body).build();
    e.respond_built(now, tx, resp);
    if let Some((remote, held)) = update {
        e.media(MediaCommand::SetCallerRemote { call, remote });
        e.note_hold(now, call, held);
    }
}

/// Ends the caller leg from our side. Once our 200 went out: BYE (if the caller has not sent
/// one). While the INVITE is still open (early media): its final response, 487 when the caller
/// cancelled or hung up, 503 when the switch shuts down, else 480; that status is returned.
pub fn disconnect(e: &mut Engine, now: Instant, call: CallRef, side: HangupSide) -> Option<u16> {
    let c = e.calls.get(&call)?;
    if c.caller.state != CallerState::Early {
        send_bye(e, now, call);
        return None;
    }
    let (status, reason) = match side {
        HangupSide::Caller => (487, "Request Terminated"),
        _ if e.draining => (503, "Service Unavailable"),
        _ => (480, "Temporarily Unavailable"),
    };
    let resp = sip_util::response(&c.caller.invite, status, reason, Some(&c.caller.local_tag)).build();
    let tx = c.caller.invite_tx;
    e.respond_built(now, tx, resp);
    Some(status)
}

/// Sends BYE on the caller leg if its dialog is up.
fn send_bye(e: &mut Engine, now: Instant, call: CallRef) {
    let branch = new_branch(&mut e.rng);
    let Some(c) = e.calls.get_mut(&call) else { return };
    let Some(dialog) = c.caller.dialog.as_mut() else { return };
    let (source, transport) = (c.caller.source, c.caller.transport);
    let via = sip_util::via(transport, e.sip_ip, e.sip_port, &branch);
    let req = dialog.create_request(Method::Bye).map(|b| b.header("Via", &via).header("Max-Forwards", "70").build());
    c.caller.dialog = None;
    match req {
        Ok(Ok(bye)) => {
            // In-dialog requests go where the caller's requests came from (NAT-safe, RFC 3581).
            let (dest, transport) = (source, transport);
            match e.txl.send_request(now, bye, dest, transport) {
                Ok(tx) => {
                    e.by_tx.insert(tx, (call, TxRole::Bye(Leg::Caller)));
                }
                Err(err) => tracing::warn!(error = %err, "BYE to caller not sent"),
            }
        }
        _ => tracing::warn!("cannot build BYE to caller"),
    }
}
