//! Everything the transaction layer needs to know about message contents, in one place: the
//! matching keys (RFC 3261 17.1.3 / 17.2.3, with the RFC 2543 fallback for branches without the
//! magic cookie), the ACK-for-2xx key, response routing (18.2.2 + RFC 3581 rport), Via stamping
//! (18.2.1), branch generation, and the messages the layer builds itself (100 Trying, ACK for a
//! non-2xx final response per 17.1.1.3, CANCEL per 9.1, 200/481 to CANCEL).

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use rand::Rng;

use super::Transport;
use crate::sip::message::{Method, Request, Response, SipMessage};

/// The RFC 3261 branch prefix that marks transaction-unique branches.
pub const BRANCH_MAGIC_COOKIE: &str = "z9hG4bK";

pub(super) const INVITE: Method = Method::Invite;

/// The default SIP port for UDP and TCP.
const DEFAULT_PORT: u16 = 5060;

/// A fresh branch: the magic cookie plus 20 random alphanumerics (~119 bits).
pub fn new_branch<R: Rng + ?Sized>(rng: &mut R) -> String {
    let mut s = String::with_capacity(BRANCH_MAGIC_COOKIE.len() + 20);
    s.push_str(BRANCH_MAGIC_COOKIE);
    for _ in 0..20 {
        s.push(char::from(rng.sample(rand::distributions::Alphanumeric)));
    }
    s
}

/// The coarse method classes the state machines care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MethodKind {
    Invite,
    Ack,
    Cancel,
    Other,
}

pub(super) fn method_kind(msg: &SipMessage) -> Option<MethodKind> {
    Some(match msg.method_ref()? {
        Method::Invite => MethodKind::Invite,
        Method::Ack => MethodKind::Ack,
        Method::Cancel => MethodKind::Cancel,
        _ => MethodKind::Other,
    })
}

/// Client transaction key (17.1.3): top Via branch + CSeq method, plus the top Via sent-by so
/// that a response whose sent-by differs from what we inserted never matches (18.1.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ClientKey {
    branch: String,
    method: Method,
    host: String,
    port: u16,
}

/// Server transaction key (17.2.3): branch + sent-by + method, with ACK mapped to INVITE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ServerKey {
    branch: String,
    host: String,
    port: u16,
    method: Method,
}

impl ServerKey {
    /// The same key for another method (CANCEL looks up its INVITE).
    pub(super) fn for_method(&self, method: Method) -> ServerKey {
        ServerKey { method, ..self.clone() }
    }
}

/// Key that matches an ACK for a 2xx (its own branch) to the INVITE server transaction:
/// Call-ID + CSeq number + From tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct AckKey {
    call_id: String,
    seq: u32,
    from_tag: String,
}

pub(super) fn client_key_for_request(req: &SipMessage) -> Option<ClientKey> {
    let via = req.top_via().ok()?;
    let branch = via.branch()?;
    if branch.is_empty() {
        return None;
    }
    Some(ClientKey {
        branch: branch.to_owned(),
        method: req.method()?,
        host: via.host.to_ascii_lowercase(),
        port: via.port.unwrap_or(DEFAULT_PORT),
    })
}

pub(super) fn client_key_for_response(resp: &SipMessage) -> Option<ClientKey> {
    let via = resp.top_via().ok()?;
    Some(ClientKey {
        branch: via.branch()?.to_owned(),
        method: resp.cseq().ok()?.method,
        host: via.host.to_ascii_lowercase(),
        port: via.port.unwrap_or(DEFAULT_PORT),
    })
}

pub(super) fn server_key(req: &SipMessage) -> Option<ServerKey> {
    let via = req.top_via().ok()?;
    let cseq = req.cseq().ok()?;
    let call_id = req.call_id().ok()?;
    let method = match req.method()? {
        Method::Ack => Method::Invite,
        m => m,
    };
    let branch = match via.branch() {
        Some(b) if b.starts_with(BRANCH_MAGIC_COOKIE) => b.to_owned(),
        // RFC 2543 peer: identify the transaction by dialog-ish fields (17.2.3, simplified:
        // Call-ID, From tag and CSeq number; the To tag is left out so the ACK for a non-2xx
        // response still matches its INVITE).
        _ => {
            let from = req.from().ok()?;
            format!("\u{0}{}|{}|{}", call_id, from.tag().unwrap_or_default(), cseq.seq)
        }
    };
    Some(ServerKey { branch, host: via.host.to_ascii_lowercase(), port: via.port.unwrap_or(DEFAULT_PORT), method })
}

/// The CSeq method equals the request method (8.1.1.5).
pub(super) fn cseq_method_matches(req: &SipMessage) -> bool {
    match (req.cseq(), req.method_ref()) {
        (Ok(cseq), Some(m)) => cseq.method == *m,
        _ => false,
    }
}

pub(super) fn ack_key(msg: &SipMessage) -> Option<AckKey> {
    Some(AckKey {
        call_id: msg.call_id().ok()?.to_owned(),
        seq: msg.cseq().ok()?.seq,
        from_tag: msg.from().ok()?.tag().unwrap_or_default().to_owned(),
    })
}

pub(super) fn status(msg: &SipMessage) -> Option<u16> {
    msg.status()
}

pub(super) fn to_tag(msg: &SipMessage) -> Option<String> {
    msg.to().ok()?.tag().map(str::to_owned)
}

/// The wire bytes of a message (zero-copy: parsed and built messages keep their buffer).
pub(super) fn serialize(msg: &SipMessage) -> Bytes {
    msg.raw().clone()
}

/// RFC 3261 18.2.1 + RFC 3581: adds `received` (when the source IP differs from the sent-by
/// host, or rport was requested) and fills `rport` to the top Via of an incoming request.
/// Leaves the message untouched when nothing changes or it has no parsable top Via.
pub fn stamp_received(msg: &mut SipMessage, source: SocketAddr) {
    let Ok(via) = msg.top_via() else {
        return;
    };
    let rport_requested = via.param("rport").is_some();
    let same_host = via.host.parse::<IpAddr>().ok() == Some(source.ip());
    if same_host && !rport_requested {
        return;
    }
    let mut b = msg.to_builder();
    if b.stamp_top_via_source(source).is_err() {
        return;
    }
    if let Ok(stamped) = b.build() {
        *msg = stamped;
    }
}

/// Where to send responses for a request that came from `source` (RFC 3261 18.2.2 without
/// maddr/DNS, RFC 3581): reliable transports answer on the same connection (the peer address);
/// with `rport` the source IP and port; otherwise the `received` IP (or the source IP) with the
/// sent-by port (default 5060).
pub fn response_destination(req: &SipMessage, source: SocketAddr, transport: Transport) -> SocketAddr {
    if transport.is_reliable() {
        return source;
    }
    let Ok(via) = req.top_via() else {
        return source;
    };
    if via.param("rport").is_some() {
        return source;
    }
    let ip = via.received().and_then(|r| r.parse::<IpAddr>().ok()).unwrap_or(source.ip());
    SocketAddr::new(ip, via.port.unwrap_or(DEFAULT_PORT))
}

/// A response to `req` with the given status (copies Via, From, To, Call-ID, CSeq), with
/// `to_tag` added to To when given.
pub(super) fn build_response(req: &SipMessage, code: u16, reason: &str, to_tag: Option<&str>) -> Option<SipMessage> {
    let mut b = Response::for_request(req, code, reason);
    if let Some(tag) = to_tag {
        b.set_to_tag(tag);
    }
    b.build().ok()
}

/// Copies the first value of `name` from `src` into the builder being made.
fn copy_header(
    b: crate::sip::message::MessageBuilder,
    src: &SipMessage,
    name: &str,
) -> Option<crate::sip::message::MessageBuilder> {
    Some(b.header(name, src.header(name)?))
}

/// Headers shared by the ACK for a non-2xx and the CANCEL: Request-URI, top Via only,
/// Max-Forwards, From, Call-ID, CSeq number with the new method, and the INVITE's Route set.
fn hop_by_hop_request(invite: &SipMessage, method: Method, to_value: &str) -> Option<SipMessage> {
    let uri = invite.request_uri_str()?;
    let top_via = invite.top_via().ok()?;
    let seq = invite.cseq().ok()?.seq;
    let mut b = Request::builder(method.clone(), uri).header("Via", top_via.to_string()).header("Max-Forwards", "70");
    b = copy_header(b, invite, "From")?;
    b = b.header("To", to_value);
    b = copy_header(b, invite, "Call-ID")?;
    b = b.header("CSeq", format!("{seq} {method}"));
    for route in invite.header_values("Route") {
        b = b.header("Route", route);
    }
    b.build().ok()
}

/// RFC 3261 17.1.1.3: the ACK for a 300-699 response, built inside the client transaction.
pub(super) fn build_ack_for_non_2xx(invite: &SipMessage, response: &SipMessage) -> Option<SipMessage> {
    let to = response.header("To")?;
    hop_by_hop_request(invite, Method::Ack, to)
}

/// RFC 3261 9.1: a CANCEL for `invite` (same Request-URI, Call-ID, To, From, CSeq number,
/// single Via equal to the INVITE's top Via, and the INVITE's Route headers).
pub(super) fn build_cancel(invite: &SipMessage) -> Option<SipMessage> {
    let to = invite.header("To")?;
    hop_by_hop_request(invite, Method::Cancel, to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::tests::parse;

    const INVITE_TEXT: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKabc;rport\r\n\
        Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKlower\r\n\
        Max-Forwards: 69\r\n\
        Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n\
        From: \"Alice\" <sip:alice@example.com>;tag=f1\r\n\
        To: <sip:bob@example.com>\r\n\
        Call-ID: abc@10.0.0.1\r\n\
        CSeq: 42 INVITE\r\n\
        Contact: <sip:alice@10.0.0.1:5062>\r\n\
        Content-Type: application/sdp\r\n\
        Content-Length: 4\r\n\r\nv=0\n";

    #[test]
    fn cancel_per_9_1() {
        let invite = parse(INVITE_TEXT);
        let cancel = build_cancel(&invite).unwrap();
        assert_eq!(cancel.method(), Some(Method::Cancel));
        assert_eq!(cancel.request_uri_str(), Some("sip:bob@example.com"));
        assert_eq!(cancel.vias().unwrap().len(), 1);
        assert_eq!(cancel.top_via().unwrap().branch(), Some("z9hG4bKabc"));
        assert_eq!(cancel.cseq().unwrap().seq, 42);
        assert_eq!(cancel.cseq().unwrap().method, Method::Cancel);
        assert_eq!(cancel.call_id().unwrap(), "abc@10.0.0.1");
        assert_eq!(cancel.from().unwrap().tag(), Some("f1"));
        assert_eq!(cancel.to().unwrap().tag(), None);
        assert_eq!(cancel.route().unwrap().len(), 2);
        assert!(cancel.body().is_empty());
    }

    #[test]
    fn ack_for_non_2xx_per_17_1_1_3() {
        let invite = parse(INVITE_TEXT);
        let resp = parse(
            "SIP/2.0 486 Busy Here\r\n\
             Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKabc;rport=5062;received=10.0.0.1\r\n\
             From: \"Alice\" <sip:alice@example.com>;tag=f1\r\n\
             To: <sip:bob@example.com>;tag=b7\r\n\
             Call-ID: abc@10.0.0.1\r\nCSeq: 42 INVITE\r\nContent-Length: 0\r\n\r\n",
        );
        let ack = build_ack_for_non_2xx(&invite, &resp).unwrap();
        assert_eq!(ack.method(), Some(Method::Ack));
        assert_eq!(ack.request_uri_str(), Some("sip:bob@example.com"));
        assert_eq!(ack.vias().unwrap().len(), 1);
        assert_eq!(ack.top_via().unwrap().branch(), Some("z9hG4bKabc"));
        assert_eq!(ack.to().unwrap().tag(), Some("b7"));
        assert_eq!(ack.cseq().unwrap().seq, 42);
        assert_eq!(ack.cseq().unwrap().method, Method::Ack);
        assert_eq!(ack.route().unwrap().len(), 2);
    }

    #[test]
    fn stamping_and_destination() {
        let mut invite = parse(INVITE_TEXT);
        let source: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        stamp_received(&mut invite, source);
        let via = invite.top_via().unwrap();
        assert_eq!(via.received(), Some("127.0.0.1"));
        assert_eq!(via.rport(), Some(Some(40001)));
        assert_eq!(invite.vias().unwrap().len(), 2);
        assert_eq!(response_destination(&invite, source, Transport::Udp), source);

        // No rport, sent-by differs from source: received stamped, port from sent-by.
        let mut plain = parse(&INVITE_TEXT.replace(";rport", ""));
        stamp_received(&mut plain, source);
        assert_eq!(plain.top_via().unwrap().received(), Some("127.0.0.1"));
        assert_eq!(
            response_destination(&plain, source, Transport::Udp),
            "127.0.0.1:5062".parse::<SocketAddr>().unwrap()
        );
        // TCP: always the connection's peer.
        assert_eq!(response_destination(&plain, source, Transport::Tcp), source);
    }

    #[test]
    fn server_key_maps_ack_to_invite_and_separates_cancel() {
        let invite = parse(INVITE_TEXT);
        let ack = parse(&INVITE_TEXT.replace("INVITE", "ACK"));
        let cancel = parse(&INVITE_TEXT.replace("INVITE", "CANCEL"));
        let k = server_key(&invite).unwrap();
        assert_eq!(server_key(&ack), Some(k.clone()));
        let ck = server_key(&cancel).unwrap();
        assert_ne!(ck, k);
        assert_eq!(ck.for_method(Method::Invite), k);
        // Different sent-by: different transaction.
        let other = parse(&INVITE_TEXT.replace("10.0.0.1:5062;branch", "10.0.0.2:5062;branch"));
        assert_ne!(server_key(&other), Some(k));
    }

    #[test]
    fn client_key_includes_sent_by() {
        let invite = parse(INVITE_TEXT);
        let resp = |via: &str| {
            parse(&format!(
                "SIP/2.0 180 Ringing\r\nVia: {via}\r\nFrom: <sip:a@b>;tag=f1\r\n\
                 To: <sip:bob@example.com>;tag=t\r\nCall-ID: abc@10.0.0.1\r\n\
                 CSeq: 42 INVITE\r\nContent-Length: 0\r\n\r\n"
            ))
        };
        let key = client_key_for_request(&invite);
        let good = resp("SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKabc;received=1.2.3.4");
        assert_eq!(client_key_for_response(&good), key);
        let moved = resp("SIP/2.0/UDP 10.0.0.7:5062;branch=z9hG4bKabc");
        assert_ne!(client_key_for_response(&moved), key);
    }

    #[test]
    fn rfc2543_fallback_key() {
        let old = INVITE_TEXT.replace("branch=z9hG4bKabc", "branch=1");
        let invite = parse(&old);
        let ack = parse(
            &old.replace("INVITE", "ACK").replace("To: <sip:bob@example.com>", "To: <sip:bob@example.com>;tag=zz"),
        );
        assert_eq!(server_key(&invite), server_key(&ack));
    }
}
