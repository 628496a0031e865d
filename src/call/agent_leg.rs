//! The agent leg of a call: ringing the agent the ACD picked at its registered contact, turning
//! the phone's answer into a bridge, and every way an offer fails (RONA by CANCEL, rejection,
//! unreachable), each reported to the ACD so the call goes to the next agent. Also the BYE we send
//! an agent, and the cleanup of a leg whose call is gone.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::durable::DialogLeg;
use super::sip_util;
use super::{AgentLeg, AgentLegState, CallRef, Engine, Leg, MediaCommand, Phase, RemoteMedia, TxRole};
use crate::acd::{OfferDecision, OfferResult, PickRule};
use crate::events::{EventKind, NoAnswerReason, OfferWhy};
use crate::sdp::{self, AudioCodec, SessionDescription};
use crate::sip::dialog::Dialog;
use crate::sip::message::{Method, Request, SipMessage};
use crate::sip::transaction::{new_branch, Transport, TxId};

/// telephone-event payload type we offer agents.
const TE_PT: u8 = 101;

/// The ACD reserved `agent` for `call`: ring its phone.
pub fn offer(e: &mut Engine, now: Instant, call: CallRef, agent: Arc<str>, d: OfferDecision) {
    let Some(binding) = e.registrar.lookup(now, &agent).cloned() else {
        // Registration lapsed between the ACD's decision and now.
        report(e, now, call, &agent, OfferResult::Unreachable, NoAnswerReason::Unreachable, None);
        return;
    };
    let Some(c) = e.calls.get(&call) else {
        let _ = e.acd.remove_call(now, call);
        return;
    };
    let Some((_, agent_port)) = c.media_ports else { return };
    let (dest, transport) = sip_util::uri_target(&binding.contact_uri, binding.source, binding.transport.into());
    let ani = c.ani.clone();
    let branch = new_branch(&mut e.rng);
    let from_tag = e.random_hex(8);
    let sip_call_id = format!("{}@{}", e.random_hex(12), e.sip_ip);
    let session_id = u64::from(e.rng_u32());
    let here = sip_util::host_port(e.sip_ip, e.sip_port);
    let offer_sdp =
        sdp::offer_audio(e.media_ip, agent_port, &[AudioCodec::Pcmu, AudioCodec::Pcma], Some(TE_PT), session_id, 1);
    let body = Bytes::from(offer_sdp.to_string());
    let req = Request::builder(Method::Invite, &binding.contact_uri)
        .header("Via", sip_util::via(transport, e.sip_ip, e.sip_port, &branch))
        .header("Max-Forwards", "70")
        .header("From", format!("\"{ani}\" <sip:{ani}@{here}>;tag={from_tag}"))
        .header("To", format!("<sip:{agent}@{here}>"))
        .header("Call-ID", &sip_call_id)
        .header("CSeq", "1 INVITE")
        .header("Contact", format!("<sip:meritline@{here};transport={}>", transport.via_token().to_ascii_lowercase()))
        .header("Allow", sip_util::ALLOW)
        .header("User-Agent", &e.config.sip.user_agent)
        .body("application/sdp", body)
        .build();
    let req = match req {
        Ok(r) => r,
        Err(err) => {
            tracing::warn!(error = %err, %agent, "cannot build INVITE to agent");
            report(e, now, call, &agent, OfferResult::Unreachable, NoAnswerReason::Unreachable, None);
            return;
        }
    };
    let tx = match e.txl.send_request(now, req.clone(), dest, transport) {
        Ok(tx) => tx,
        Err(err) => {
            tracing::warn!(error = %err, %agent, "INVITE to agent not sent");
            report(e, now, call, &agent, OfferResult::Unreachable, NoAnswerReason::Unreachable, None);
            return;
        }
    };
    e.by_tx.insert(tx, (call, TxRole::AgentInvite { dest, transport }));
    e.by_sip_call_id.insert(sip_call_id.clone(), (call, Leg::Agent));
    let Some(c) = e.calls.get_mut(&call) else { return };
    c.attempts += 1;
    c.phase = Phase::Offering;
    let attempt = c.attempts;
    if let Some(old) = c.agent.take() {
        e.by_sip_call_id.remove(&old.sip_call_id);
    }
    c.agent = Some(AgentLeg {
        agent: agent.clone(),
        invite_tx: tx,
        invite: req,
        dest,
        transport,
        sip_call_id,
        offer: offer_sdp,
        state: AgentLegState::Inviting,
        cancelled_for_rona: false,
        dialog: None,
        answered_at: None,
    });
    tracing::info!(call = %c.id, %agent, attempt, "offering call to agent");
    let why = Some(OfferWhy {
        strategy: d.strategy.name().to_string(),
        rule: match d.rule {
            PickRule::LongestIdle => "longest_idle",
            PickRule::BestSkill => "best_skill",
            PickRule::Weighted => "weighted",
            PickRule::FloorShare => "floor_share",
            PickRule::OverCap => "over_cap",
        }
        .to_string(),
        score: d.score,
        rank: d.rank as u32,
        eligible: d.eligible as u32,
        relax_step: d.relax_step,
        holdout: d.holdout,
        waited_ms: d.waited.as_millis() as u64,
    });
    e.emit(now, call, Some(&agent), EventKind::AgentOffered { agent: agent.to_string(), attempt, why });
}

/// The agent rang for the queue's ring timeout: CANCEL; the 487 reports the miss.
pub fn ring_timeout(e: &mut Engine, now: Instant, call: CallRef, agent: &Arc<str>) {
    let Some(leg) = e.calls.get_mut(&call).and_then(|c| c.agent.as_mut()) else {
        report(e, now, call, agent, OfferResult::NoAnswer, NoAnswerReason::NoAnswer, None);
        return;
    };
    if leg.agent != *agent || leg.state == AgentLegState::Answered {
        return;
    }
    leg.cancelled_for_rona = true;
    leg.state = AgentLegState::Cancelling;
    let tx = leg.invite_tx;
    if let Err(err) = e.txl.cancel(now, tx) {
        tracing::debug!(error = %err, "CANCEL not sent; treating the agent as not answering");
        finish_failed_offer(e, now, call, tx, None);
    }
}

/// A response to our INVITE to the agent.
pub fn invite_response(
    e: &mut Engine,
    now: Instant,
    call: CallRef,
    tx: TxId,
    msg: SipMessage,
    dest: SocketAddr,
    transport: Transport,
) {
    let status = msg.status().unwrap_or(0);
    let Some(c) = e.calls.get_mut(&call) else { return };
    let Some(leg) = c.agent.as_mut().filter(|l| l.invite_tx == tx) else {
        // The response is for an earlier attempt of this call: only a 2xx needs handling.
        if (200..300).contains(&status) {
            ack_and_bye(e, now, tx, &msg, dest, transport);
        }
        return;
    };
    match status {
        100 => {}
        101..=199 => {
            if leg.state == AgentLegState::Inviting {
                leg.state = AgentLegState::Ringing;
                let agent = leg.agent.clone();
                e.emit(now, call, Some(&agent), EventKind::AgentRinging { agent: agent.to_string() });
            }
        }
        200..=299 => answered(e, now, call, tx, msg),
        _ => finish_failed_offer(e, now, call, tx, Some(status)),
    }
}

fn answered(e: &mut Engine, now: Instant, call: CallRef, tx: TxId, msg: SipMessage) {
    let Some(c) = e.calls.get_mut(&call) else { return };
    let Some(leg) = c.agent.as_mut() else { return };
    if leg.state == AgentLegState::Answered {
        return;
    }
    let Ok(dialog) = Dialog::from_uac(&leg.invite, &msg) else {
        let (dest, transport) = (leg.dest, leg.transport);
        ack_and_bye(e, now, tx, &msg, dest, transport);
        return;
    };
    let ack = dialog.create_ack(&msg);
    let (dest, transport) = (leg.dest, leg.transport);
    let branch = new_branch(&mut e.rng);
    if let Ok(builder) = ack {
        if let Ok(ack) = builder
            .header("Via", sip_util::via(transport, e.sip_ip, e.sip_port, &branch))
            .header("Max-Forwards", "70")
            .build()
        {
            e.txl.send_ack_for_2xx(tx, &ack, dest, transport);
        }
    }
    let Some(c) = e.calls.get_mut(&call) else { return };
    let Some(leg) = c.agent.as_mut() else { return };
    if leg.state == AgentLegState::Cancelling || c.phase != Phase::Offering {
        // The 200 crossed our CANCEL: the caller is gone or the ring timer fired. The ACD already
        // took the offer back (or will on the 487 that never comes), so release the agent.
        leg.dialog = Some(dialog);
        let agent = leg.agent.clone();
        let rona = leg.cancelled_for_rona;
        send_bye(e, now, call);
        if rona {
            report(e, now, call, &agent, OfferResult::NoAnswer, NoAnswerReason::NoAnswer, Some(200));
        }
        return;
    }
    let remote = SessionDescription::parse_bytes(msg.body())
        .ok()
        .and_then(|answer| sdp::accept_answer(&leg.offer, &answer).ok());
    leg.dialog = Some(dialog);
    let Some(neg) = remote else {
        // No usable SDP answer: hang the agent leg up and try someone else.
        let agent = leg.agent.clone();
        send_bye(e, now, call);
        report(e, now, call, &agent, OfferResult::Unreachable, NoAnswerReason::Unreachable, Some(488));
        return;
    };
    leg.state = AgentLegState::Answered;
    leg.answered_at = Some(now);
    c.phase = Phase::Bridged;
    let agent = leg.agent.clone();
    e.persist_dialog(call, DialogLeg::Agent);
    let Some(c) = e.calls.get_mut(&call) else { return };
    tracing::info!(call = %c.id, %agent, "agent answered, bridging");
    e.media(MediaCommand::SetAgentRemote { call, remote: RemoteMedia::from_negotiated(&neg) });
    e.media(MediaCommand::Bridge { call });
    if let Err(err) = e.acd.offer_result(now, &agent, call, OfferResult::Answered) {
        tracing::warn!(error = %err, "acd offer_result(answered)");
    }
    e.emit(now, call, Some(&agent), EventKind::AgentAnswered { agent: agent.to_string() });
    e.emit(now, call, Some(&agent), EventKind::CallBridged { agent: agent.to_string() });
    // After early media the caller hears the agent through the same media; now answer it.
    if !super::caller_leg::answer_after_early_media(e, now, call) {
        e.hang_up(now, call, crate::events::HangupSide::System, "caller_answer_failed");
    }
}

/// Our INVITE to the agent timed out or hit a transport error.
pub fn invite_failed(e: &mut Engine, now: Instant, call: CallRef, tx: TxId) {
    finish_failed_offer(e, now, call, tx, None);
}

/// The offer is over without an answer: tell the ACD why, and log it.
fn finish_failed_offer(e: &mut Engine, now: Instant, call: CallRef, tx: TxId, status: Option<u16>) {
    let Some(c) = e.calls.get_mut(&call) else { return };
    let Some(leg) = c.agent.as_ref().filter(|l| l.invite_tx == tx) else { return };
    if leg.state == AgentLegState::Answered {
        return;
    }
    let agent = leg.agent.clone();
    let (result, reason) = if leg.cancelled_for_rona {
        (OfferResult::NoAnswer, NoAnswerReason::NoAnswer)
    } else {
        match status {
            Some(486 | 600 | 603 | 480 | 487) => (OfferResult::Rejected, NoAnswerReason::Rejected),
            _ => (OfferResult::Unreachable, NoAnswerReason::Unreachable),
        }
    };
    let sip_call_id = leg.sip_call_id.clone();
    c.agent = None;
    e.by_sip_call_id.remove(&sip_call_id);
    // `report` puts the call back to Queued.
    report(e, now, call, &agent, result, reason, status);
}

fn report(
    e: &mut Engine,
    now: Instant,
    call: CallRef,
    agent: &Arc<str>,
    result: OfferResult,
    reason: NoAnswerReason,
    status: Option<u16>,
) {
    tracing::info!(%agent, ?reason, "agent did not take the call");
    if let Some(c) = e.calls.get_mut(&call) {
        if c.phase == Phase::Offering {
            c.phase = Phase::Queued;
        }
    }
    if let Err(err) = e.acd.offer_result(now, agent, call, result) {
        tracing::debug!(error = %err, "acd offer_result");
    }
    e.emit(now, call, Some(agent), EventKind::AgentNoAnswer { agent: agent.to_string(), reason, sip_status: status });
}

/// The call is ending while its agent leg is still ringing: CANCEL without blaming the agent.
pub fn abort(e: &mut Engine, now: Instant, call: CallRef) {
    let Some(leg) = e.calls.get_mut(&call).and_then(|c| c.agent.as_mut()) else { return };
    if matches!(leg.state, AgentLegState::Inviting | AgentLegState::Ringing) {
        leg.state = AgentLegState::Cancelling;
        let tx = leg.invite_tx;
        let _ = e.txl.cancel(now, tx);
    }
}

/// Sends BYE on the agent leg if its dialog is up.
pub fn send_bye(e: &mut Engine, now: Instant, call: CallRef) {
    let branch = new_branch(&mut e.rng);
    let Some(leg) = e.calls.get_mut(&call).and_then(|c| c.agent.as_mut()) else { return };
    let Some(mut dialog) = leg.dialog.take() else { return };
    let (dest, transport) = (leg.dest, leg.transport);
    let via = sip_util::via(transport, e.sip_ip, e.sip_port, &branch);
    match dialog.create_request(Method::Bye).map(|b| b.header("Via", &via).header("Max-Forwards", "70").build()) {
        Ok(Ok(bye)) => match e.txl.send_request(now, bye, dest, transport) {
            Ok(tx) => {
                e.by_tx.insert(tx, (call, TxRole::Bye(Leg::Agent)));
            }
            Err(err) => tracing::warn!(error = %err, "BYE to agent not sent"),
        },
        _ => tracing::warn!("cannot build BYE to agent"),
    }
}

/// A 2xx nobody waits for (a late answer to a cancelled offer): ACK it and hang up, so the
/// agent's phone does not sit in a dead call.
pub fn ack_and_bye(e: &mut Engine, now: Instant, tx: TxId, msg: &SipMessage, dest: SocketAddr, transport: Transport) {
    let Some(invite) = e.txl.request(tx).cloned() else { return };
    let Ok(mut dialog) = Dialog::from_uac(&invite, msg) else { return };
    let via = |e: &mut Engine| {
        let branch = new_branch(&mut e.rng);
        sip_util::via(transport, e.sip_ip, e.sip_port, &branch)
    };
    let v1 = via(e);
    if let Ok(Ok(ack)) = dialog.create_ack(msg).map(|b| b.header("Via", &v1).header("Max-Forwards", "70").build()) {
        e.txl.send_ack_for_2xx(tx, &ack, dest, transport);
    }
    let v2 = via(e);
    if let Ok(Ok(bye)) =
        dialog.create_request(Method::Bye).map(|b| b.header("Via", &v2).header("Max-Forwards", "70").build())
    {
        let _ = e.txl.send_request(now, bye, dest, transport);
    }
}

/// A re-INVITE from the agent's phone (hold, refresh): answer from our same port and follow
/// the phone's new address.
pub fn reinvite(e: &mut Engine, now: Instant, call: CallRef, tx: TxId, msg: &SipMessage) {
    let session_id = u64::from(e.rng_u32());
    let Some(c) = e.calls.get_mut(&call) else { return };
    let agent_port = c.media_ports.map(|p| p.1).unwrap_or(0);
    let Some(leg) = c.agent.as_mut() else { return };
    if let Some(d) = leg.dialog.as_mut() {
        if let Err(err) = d.handle_remote_request(msg) {
            let status = err.status_code();
            e.respond(now, tx, msg, status, "Out Of Order");
            return;
        }
    }
    let offer = SessionDescription::parse_bytes(msg.body()).ok();
    let answer = offer.as_ref().and_then(|o| {
        sdp::answer_audio(o, e.media_ip, agent_port, &[AudioCodec::Pcmu, AudioCodec::Pcma], session_id).ok()
    });
    let Some((answer, neg)) = answer else {
        e.respond(now, tx, msg, 488, "Not Acceptable Here");
        return;
    };
    let body = Bytes::from(answer.to_string());
    let resp = sip_util::response(msg, 200, "OK", None).body("application/sdp", body).build();
    e.respond_built(now, tx, resp);
    e.media(MediaCommand::SetAgentRemote { call, remote: RemoteMedia::from_negotiated(&neg) });
    e.note_hold(now, call, neg.remote_hold);
}
