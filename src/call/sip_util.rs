//! Small SIP helpers of the B2BUA: checking an inbound message before the transaction layer sees
//! it, the 400 for one that fails, building the responses and requests the call legs send, and
//! counting messages for Prometheus. Nothing here keeps state.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use crate::metrics as m;
use crate::sip::message::{MessageBuilder, Method, ParseError, Response, SipMessage, Uri};
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

/// Where the reply to an unparseable request goes: back to where it came from (RFC 3581 style;
/// over TCP that is the same connection).
pub fn reply_destination(_payload: &[u8], source: SocketAddr, _transport: Transport) -> SocketAddr {
    source
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
pub fn options_reply(req: &SipMessage, ip: IpAddr, port: u16) -> SipMessage {
    let built = response(req, 200, "OK", None)
        .header("Allow", ALLOW)
        .header("Accept", "application/sdp")
        .header("Contact", format!("<sip:{}>", host_port(ip, port)))
        .build();
    match built {
        Ok(m) => m,
        // Building from a validated request cannot fail; fall back to a bare 200 anyway.
        Err(_) => match Response::for_request(req, 200, "OK").build() {
            Ok(m) => m,
            Err(_) => req.clone(),
        },
    }
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

/// Counts one SIP message for `meritline_sip_messages_total`.
pub fn count_message(direction: &'static str, msg: &SipMessage) {
    if let Some(status) = msg.status() {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            500..=599 => "5xx",
            _ => "6xx",
        };
        metrics::counter!(m::SIP_MESSAGES, "direction" => direction, "status" => class).increment(1);
    } else {
        let method = match msg.method() {
            Some(Method::Invite) => "INVITE",
            Some(Method::Ack) => "ACK",
            Some(Method::Bye) => "BYE",
            Some(Method::Cancel) => "CANCEL",
            Some(Method::Register) => "REGISTER",
            Some(Method::Options) => "OPTIONS",
            Some(Method::Info) => "INFO",
            Some(Method::Update) => "UPDATE",
            Some(Method::Notify) => "NOTIFY",
            _ => "other",
        };
        metrics::counter!(m::SIP_MESSAGES, "direction" => direction, "method" => method).increment(1);
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
