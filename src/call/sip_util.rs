//! Small SIP helpers of the B2BUA: checking an inbound message before the transaction layer sees
//! it, the 400 for one that fails, building the responses and requests the call legs send, and
//! counting messages for Prometheus. Nothing here keeps state.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use crate::metrics as m;
use crate::sip::message::{MessageBuilder, ParseError, Response, SipMessage, Uri};
use crate::sip::transaction::Transport;

/// Methods the switch answers, for Allow headers.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, NOTIFY";

/// Parses a message and checks the headers every transaction needs.
pub fn parse_inbound(payload: &Bytes) -> Result<SipMessage, ParseError> {
    let msg = SipMessage::parse(payload.clone())?;
    msg.validate()?;
    Ok(msg)
}

/// The 400 (or other 4xx) for bytes that failed `parse_inbound`, when the message is a request
/// whose Via can be read.
pub fn error_reply(payload: &[u8], error: &ParseError) -> Option<Bytes> {
    SipMessage::error_response(payload, error, Some("meritline-err"))
}

/// A response to `req` with an optional To tag.
pub fn response(req: &SipMessage, status: u16, reason: &str, to_tag: Option<&str>) -> MessageBuilder {
    let mut b = Response::for_request(req, status, reason).header("Server", "meritline");
    if let Some(tag) = to_tag {
        b = b.to_tag(tag);
    }
    b
}

/// The 200 to an OPTIONS ping (carriers and SBCs use them as keep-alives).
pub fn options_reply(req: &SipMessage, ip: IpAddr, port: u16) -> Result<SipMessage, ParseError> {
    response(req, 200, "OK", None)
        .header("Allow", ALLOW)
        .header("Accept", "application/sdp")
        .header("Contact", format!("<sip:{}>", host_port(ip, port)))
        .build()
}

pub fn host_port(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// A Via header value for a request we send.
pub fn via(transport: Transport, ip: IpAddr, port: u16, branch: &str) -> String {
    format!("SIP/2.0/{} {};branch={branch};rport", transport.via_token(), host_port(ip, port))
}

/// Where to send requests for a URI: its host when it is an IP address, else `fallback`
/// (the address we last heard from), and its transport parameter.
pub fn uri_target(uri: &str, fallback: SocketAddr, fallback_transport: Transport) -> (SocketAddr, Transport) {
    let Ok(u) = Uri::parse(uri) else {
        return (fallback, fallback_transport);
    };
    let transport = match u.transport().map(|t| t.to_ascii_lowercase()) {
        Some(t) if t == "tcp" => Transport::Tcp,
        Some(t) if t == "udp" => Transport::Udp,
        _ => fallback_transport,
    };
    let host = u.host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => (SocketAddr::new(ip, u.port.unwrap_or(5060)), transport),
        Err(_) => (fallback, fallback_transport),
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "6xx",
    }
}

/// A bounded label for a method token (unknown methods share one label).
fn method_label(token: &[u8]) -> &'static str {
    const KNOWN: [&str; 9] = ["INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "INFO", "UPDATE", "NOTIFY"];
    KNOWN.iter().copied().find(|m| m.as_bytes() == token).unwrap_or("other")
}

/// Counts one parsed inbound SIP message for `meritline_sip_messages_total`.
pub fn count_message(direction: &'static str, msg: &SipMessage) {
    if let Some(status) = msg.status() {
        metrics::counter!(m::SIP_MESSAGES, "direction" => direction, "status" => status_class(status)).increment(1);
    } else {
        let label = msg.method().map(|m| method_label(m.as_str().as_bytes())).unwrap_or("other");
        metrics::counter!(m::SIP_MESSAGES, "direction" => direction, "method" => label).increment(1);
    }
}

/// Counts one outgoing message from its start line alone (no re-parse of what we built).
pub fn count_outgoing(payload: &[u8]) {
    if let Some(rest) = payload.strip_prefix(b"SIP/2.0 ") {
        let status = rest.get(..3).and_then(|d| std::str::from_utf8(d).ok()).and_then(|d| d.parse::<u16>().ok());
        let class = status.map(status_class).unwrap_or("6xx");
        metrics::counter!(m::SIP_MESSAGES, "direction" => "out", "status" => class).increment(1);
    } else {
        let end = payload.iter().position(|&b| b == b' ').unwrap_or(0);
        let label = method_label(&payload[..end]);
        metrics::counter!(m::SIP_MESSAGES, "direction" => "out", "method" => label).increment(1);
    }
}

/// Redacts all but the last four digits of a phone number for info-level logs.
pub fn redact(number: &str) -> String {
    let n = number.chars().count();
    if n <= 4 {
        return "*".repeat(n);
    }
    let keep: String = number.chars().skip(n - 4).collect();
    format!("{}{keep}", "*".repeat(n - 4))
}
