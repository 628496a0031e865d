//! REGISTER handling for agent phones: the AOR's user must be a configured agent, the request
//! must carry digest credentials for that same user (MD5 or SHA-256, RFC 8760), and the
//! registrar applies the bindings. A missing or stale nonce gets a fresh 401 challenge; a wrong
//! password or someone else's credentials get 403.

use std::net::SocketAddr;
use std::time::Instant;

use super::sip_util;
use super::Engine;
use crate::metrics as m;
use crate::sip::message::{Contacts, SipMessage};
use crate::sip::registrar::{ContactParam, RegisterRequest};
use crate::sip::transaction::{Transport, TxId};

pub fn handle(e: &mut Engine, now: Instant, tx: TxId, msg: &SipMessage, source: SocketAddr, transport: Transport) {
    let user = msg.to().ok().and_then(|t| t.uri.user.clone()).unwrap_or_default();
    if e.config.agent(&user).is_none() {
        count("unknown_user");
        e.respond(now, tx, msg, 404, "Not Found");
        return;
    }
    let now_unix = e.now_unix_secs(now);
    let verified = match msg.authorization() {
        None => Err(None),
        Some(value) => {
            let config = e.config.clone();
            match e.auth.verify(now_unix, "REGISTER", value, |u| config.agent(u).map(|a| a.password.clone())) {
                Ok(ok) => Ok(ok),
                Err(err) => Err(Some(err)),
            }
        }
    };
    match verified {
        Ok(ok) if ok.username == user => {}
        Ok(ok) => {
            tracing::info!(user = %user, credentials = %ok.username, "REGISTER with another agent's credentials");
            count("forbidden");
            e.respond(now, tx, msg, 403, "Forbidden");
            return;
        }
        Err(err) => {
            let stale = err.as_ref().map(|x| x.is_stale()).unwrap_or(false);
            let status = err.as_ref().map(|x| x.status_code()).unwrap_or(401);
            if status == 401 {
                count("challenged");
                let mut b = sip_util::response(msg, 401, "Unauthorized", Some("meritline-reg"));
                for value in e.auth.challenge(now_unix, stale) {
                    b = b.header("WWW-Authenticate", value);
                }
                e.respond_built(now, tx, b.build());
            } else {
                count("forbidden");
                tracing::info!(user = %user, %source, "REGISTER refused: {}", err.map(|x| x.to_string()).unwrap_or_default());
                e.respond(now, tx, msg, status, if status == 403 { "Forbidden" } else { "Bad Request" });
            }
            return;
        }
    }

    let (contacts, wildcard) = match msg.contacts() {
        Ok(Contacts::Wildcard) => (Vec::new(), true),
        Ok(Contacts::List(list)) => (
            list.iter()
                .map(|c| ContactParam {
                    uri: c.uri.to_string(),
                    expires: c.expires(),
                    q: c.param("q").flatten().and_then(|q| q.parse().ok()),
                })
                .collect(),
            false,
        ),
        Err(_) => {
            count("bad_request");
            e.respond(now, tx, msg, 400, "Bad Contact");
            return;
        }
    };
    let req = RegisterRequest {
        user: user.clone(),
        contacts,
        wildcard,
        expires: msg.expires().ok().flatten(),
        call_id: msg.call_id().unwrap_or_default().to_string(),
        cseq: msg.cseq().map(|c| c.seq).unwrap_or(0),
        source,
        transport: transport.into(),
    };
    match e.registrar.handle_register(now, req) {
        Ok(bindings) => {
            count("ok");
            let mut b = sip_util::response(msg, 200, "OK", Some("meritline-reg"));
            for binding in &bindings {
                b = b.header("Contact", binding.to_contact_header());
            }
            e.respond_built(now, tx, b.build());
        }
        Err(err) => {
            count("refused");
            let status = err.status_code();
            let mut b = sip_util::response(msg, status, &err.to_string(), Some("meritline-reg"));
            if let Some(min) = err.min_expires() {
                b = b.header("Min-Expires", min.to_string());
            }
            e.respond_built(now, tx, b.build());
        }
    }
}

fn count(result: &'static str) {
    metrics::counter!(m::REGISTER_REQUESTS, "result" => result).increment(1);
}
