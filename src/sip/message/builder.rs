//! Serialization: building requests and responses (RFC 3261 8.1.1 / 8.2.6) and editing copies
//! of parsed messages (Via stamping, Via push/pop, Route pop, header replace) before writing
//! them into a `BytesMut`. Content-Length is always computed, never taken from the caller.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{bad_value, ParseError};
use super::headers::Via;
use super::method::Method;
use super::names::HeaderId;
use super::parsed::{has_tag_param, put_clean, SipMessage};
use super::syntax::split_commas;

#[derive(Debug, Clone)]
enum Start {
    Request { method: Method, uri: Bytes },
    Response { status: u16, reason: Bytes },
}

#[derive(Debug, Clone)]
struct Entry {
    id: HeaderId,
    /// Name as written; used for `HeaderId::Other` only (known headers use the long form).
    name: Bytes,
    value: Bytes,
}

/// An owned, editable message that serializes to wire format. Values are `Bytes`, so headers
/// copied from a parsed message are zero-copy slices of its buffer.
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    start: Start,
    headers: Vec<Entry>,
    body: Bytes,
}

/// Entry point for building requests.
pub struct Request;

impl Request {
    /// A request with the given method and Request-URI and no headers yet. The caller adds
    /// Via, Max-Forwards, From, To, Call-ID, CSeq, Contact (RFC 3261 8.1.1).
    pub fn builder(method: Method, uri: impl fmt::Display) -> MessageBuilder {
        MessageBuilder {
            start: Start::Request { method, uri: Bytes::from(uri.to_string()) },
            headers: Vec::with_capacity(12),
            body: Bytes::new(),
        }
    }
}

impl Request {
    /// A CANCEL for `request` (RFC 3261 9.1): same Request-URI, Call-ID, From, To and CSeq
    /// number, only the top Via, its Route set, Max-Forwards 70.
    pub fn cancel_for(request: &SipMessage) -> Result<MessageBuilder, ParseError> {
        Request::derived(request, None, Method::Cancel)
    }

    /// The ACK for a non-2xx final `response` to INVITE `request` (RFC 3261 17.1.1.3): like
    /// CANCEL but with the To header (and its tag) taken from the response.
    pub fn ack_for_non_2xx(request: &SipMessage, response: &SipMessage) -> Result<MessageBuilder, ParseError> {
        Request::derived(request, Some(response), Method::Ack)
    }

    fn derived(
        request: &SipMessage,
        response: Option<&SipMessage>,
        method: Method,
    ) -> Result<MessageBuilder, ParseError> {
        let uri = request.request_uri_str().ok_or(bad_value("Not A Request"))?;
        let cseq = request.cseq()?;
        let mut b = Request::builder(method.clone(), uri);
        request.top_via()?;
        // The top Via value exactly as received (zero-copy).
        if let Some((id, name, value)) = request.raw_headers().find(|h| h.0 == HeaderId::Via) {
            let mut vias = Vec::new();
            push_split(&mut vias, id, &name, &value);
            b.headers.extend(vias.into_iter().take(1));
        }
        b.push_header("Max-Forwards", "70");
        for (id, name, value) in request.raw_headers() {
            let take = match id {
                HeaderId::From | HeaderId::CallId | HeaderId::Route => true,
                HeaderId::To => response.is_none(),
                _ => false,
            };
            if take {
                b.headers.push(Entry { id, name, value });
            }
        }
        if let Some(resp) = response {
            if let Some((id, name, value)) = resp.raw_headers().find(|h| h.0 == HeaderId::To) {
                b.headers.push(Entry { id, name, value });
            }
        }
        b.push_header("CSeq", &format!("{} {}", cseq.seq, method));
        Ok(b)
    }
}

/// Entry point for building responses.
pub struct Response;

impl Response {
    /// A response with no headers.
    pub fn builder(status: u16, reason: &str) -> MessageBuilder {
        MessageBuilder {
            start: Start::Response { status, reason: Bytes::copy_from_slice(reason.as_bytes()) },
            headers: Vec::with_capacity(12),
            body: Bytes::new(),
        }
    }

    /// A response to `req` per RFC 3261 8.2.6: copies all Via values (in order), From, To,
    /// Call-ID, CSeq (and Timestamp for 100). Add a To tag with [`MessageBuilder::to_tag`].
    pub fn for_request(req: &SipMessage, status: u16, reason: &str) -> MessageBuilder {
        let mut b = Response::builder(status, reason);
        for (id, name, value) in req.raw_headers() {
            let copy = matches!(id, HeaderId::Via | HeaderId::From | HeaderId::To | HeaderId::CallId | HeaderId::CSeq)
                || (status == 100 && id == HeaderId::Timestamp);
            if !copy {
                continue;
            }
            if id == HeaderId::Via {
                push_split(&mut b.headers, id, &name, &value);
            } else if !b.headers.iter().any(|e| e.id == id) {
                b.headers.push(Entry { id, name, value });
            }
        }
        b
    }
}

/// Pushes one entry per comma-separated element (zero-copy slices of `value`).
fn push_split(headers: &mut Vec<Entry>, id: HeaderId, name: &Bytes, value: &Bytes) {
    let Ok(s) = std::str::from_utf8(value) else {
        headers.push(Entry { id, name: name.clone(), value: value.clone() });
        return;
    };
    for part in split_commas(s) {
        headers.push(Entry { id, name: name.clone(), value: value.slice_ref(part.as_bytes()) });
    }
}

fn entry(name: &str, value: &str) -> Entry {
    Entry {
        id: HeaderId::from_name(name.as_bytes()),
        name: Bytes::copy_from_slice(name.as_bytes()),
        value: Bytes::copy_from_slice(value.as_bytes()),
    }
}

impl SipMessage {
    /// An editable copy sharing this message's buffer. Via, Route and Record-Route lines are
    /// split into one entry per value so single hops can be pushed/popped.
    pub fn to_builder(&self) -> MessageBuilder {
        let (method, uri, status, reason) = self.start_line_parts();
        let start = match (method, uri, status, reason) {
            (Some(method), Some(uri), _, _) => Start::Request { method, uri },
            (_, _, Some(status), reason) => Start::Response { status, reason: reason.unwrap_or_default() },
            _ => Start::Response { status: 500, reason: Bytes::new() },
        };
        let mut headers = Vec::with_capacity(self.headers().count() + 2);
        for (id, name, value) in self.raw_headers() {
            match id {
                HeaderId::ContentLength => {}
                HeaderId::Via | HeaderId::Route | HeaderId::RecordRoute => push_split(&mut headers, id, &name, &value),
                _ => headers.push(Entry { id, name, value }),
            }
        }
        MessageBuilder { start, headers, body: self.body().clone() }
    }
}

impl MessageBuilder {
    fn matches(e: &Entry, id: HeaderId, name: &str) -> bool {
        e.id == id && (id != HeaderId::Other || e.name.eq_ignore_ascii_case(name.as_bytes()))
    }

    /// Appends a header line (builder style).
    pub fn header(mut self, name: &str, value: impl AsRef<str>) -> Self {
        self.push_header(name, value.as_ref());
        self
    }

    /// Appends a header line.
    pub fn push_header(&mut self, name: &str, value: &str) {
        self.headers.push(entry(name, value));
    }

    /// Inserts a header line before the first existing line of the same name (or at the top).
    pub fn prepend_header(&mut self, name: &str, value: &str) {
        let e = entry(name, value);
        let pos = self.headers.iter().position(|x| Self::matches(x, e.id, name)).unwrap_or(0);
        self.headers.insert(pos, e);
    }

    /// Replaces the first line of that name (removing further lines), or appends it.
    pub fn set_header(&mut self, name: &str, value: &str) {
        let e = entry(name, value);
        match self.headers.iter().position(|x| Self::matches(x, e.id, name)) {
            Some(pos) => {
                self.headers[pos] = e.clone();
                let mut i = 0;
                self.headers.retain(|x| {
                    let keep = i <= pos || !Self::matches(x, e.id, name);
                    i += 1;
                    keep
                });
            }
            None => self.headers.push(e),
        }
    }

    /// Removes every line of that name; returns how many were removed.
    pub fn remove_header(&mut self, name: &str) -> usize {
        let id = HeaderId::from_name(name.as_bytes());
        let before = self.headers.len();
        self.headers.retain(|x| !Self::matches(x, id, name));
        before - self.headers.len()
    }

    /// Removes the first line (value) of that name; returns its value.
    pub fn remove_first_header(&mut self, name: &str) -> Option<String> {
        let id = HeaderId::from_name(name.as_bytes());
        let pos = self.headers.iter().position(|x| Self::matches(x, id, name))?;
        let e = self.headers.remove(pos);
        Some(String::from_utf8_lossy(&e.value).into_owned())
    }

    /// The first value of that name, if any.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        let id = HeaderId::from_name(name.as_bytes());
        self.headers.iter().find(|x| Self::matches(x, id, name)).and_then(|e| std::str::from_utf8(&e.value).ok())
    }

    /// Appends every line of header `name` from `src` (zero-copy), e.g. Record-Route into a
    /// dialog-creating response (RFC 3261 12.1.1) or Timestamp.
    pub fn copy_header_from(&mut self, src: &SipMessage, name: &str) {
        let id = HeaderId::from_name(name.as_bytes());
        for (hid, hname, value) in src.raw_headers() {
            if hid == id && (id != HeaderId::Other || hname.eq_ignore_ascii_case(name.as_bytes())) {
                self.headers.push(Entry { id: hid, name: hname, value });
            }
        }
    }

    /// Adds `;tag=` to the To header unless it already has a tag.
    pub fn to_tag(mut self, tag: &str) -> Self {
        self.set_to_tag(tag);
        self
    }

    /// Adds `;tag=` to the To header unless it already has a tag.
    pub fn set_to_tag(&mut self, tag: &str) {
        if let Some(e) = self.headers.iter_mut().find(|e| e.id == HeaderId::To) {
            let v = String::from_utf8_lossy(&e.value);
            if !has_tag_param(&v) {
                e.value = Bytes::from(format!("{v};tag={tag}"));
            }
        }
    }

    /// Sets the body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: Bytes) -> Self {
        self.set_body(content_type, body);
        self
    }

    /// Sets the body and its Content-Type.
    pub fn set_body(&mut self, content_type: &str, body: Bytes) {
        self.set_header("Content-Type", content_type);
        self.body = body;
    }

    /// Removes the body and its Content-Type.
    pub fn clear_body(&mut self) {
        self.remove_header("Content-Type");
        self.body = Bytes::new();
    }

    /// The topmost Via, parsed.
    pub fn top_via(&self) -> Result<Via, ParseError> {
        let e = self.headers.iter().find(|e| e.id == HeaderId::Via).ok_or(bad_value("Missing Via"))?;
        Via::parse(std::str::from_utf8(&e.value).map_err(|_| bad_value("Bad Via"))?)
    }

    /// Replaces the topmost Via value.
    pub fn set_top_via(&mut self, via: &Via) {
        match self.headers.iter_mut().find(|e| e.id == HeaderId::Via) {
            Some(e) => e.value = Bytes::from(via.to_string()),
            None => self.prepend_header("Via", &via.to_string()),
        }
    }

    /// Adds a Via on top (a new hop).
    pub fn prepend_via(&mut self, via: &Via) {
        self.prepend_header("Via", &via.to_string());
    }

    /// Removes the topmost Via value (what a UAC/proxy does to a response); `None` if absent.
    pub fn remove_top_via(&mut self) -> Option<String> {
        self.remove_first_header("Via")
    }

    /// Server transport step (RFC 3261 18.2.1 + RFC 3581): stamps `received`/`rport` on the
    /// top Via from the packet source address.
    pub fn stamp_top_via_source(&mut self, source: std::net::SocketAddr) -> Result<(), ParseError> {
        let mut via = self.top_via()?;
        via.stamp_source(source);
        self.set_top_via(&via);
        Ok(())
    }

    /// Writes the message into `out`, with a computed Content-Length.
    pub fn write_to(&self, out: &mut BytesMut) {
        out.reserve(256 + self.body.len() + self.headers.len() * 48);
        match &self.start {
            Start::Request { method, uri } => {
                put_clean(out, method.as_str());
                out.put_u8(b' ');
                put_token_bytes(out, uri);
                out.put_slice(b" SIP/2.0\r\n");
            }
            Start::Response { status, reason } => {
                out.put_slice(b"SIP/2.0 ");
                out.put_slice(status.to_string().as_bytes());
                out.put_u8(b' ');
                put_line_bytes(out, reason);
                out.put_slice(b"\r\n");
            }
        }
        for e in &self.headers {
            if e.id == HeaderId::ContentLength {
                continue;
            }
            match e.id.canonical_name() {
                Some(n) => out.put_slice(n.as_bytes()),
                None => put_token_bytes(out, &e.name),
            }
            out.put_slice(b": ");
            put_line_bytes(out, &e.value);
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"Content-Length: ");
        out.put_slice(self.body.len().to_string().as_bytes());
        out.put_slice(b"\r\n\r\n");
        out.put_slice(&self.body);
    }

    /// Serializes to a new buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.write_to(&mut out);
        out.freeze()
    }

    /// Serializes and parses the result (fails only if the caller put invalid values in).
    pub fn build(self) -> Result<SipMessage, ParseError> {
        SipMessage::parse(self.to_bytes())
    }
}

/// Writes bytes with CR/LF turned into spaces (header-injection guard).
fn put_line_bytes(out: &mut BytesMut, b: &[u8]) {
    for &c in b {
        out.put_u8(if c == b'\r' || c == b'\n' { b' ' } else { c });
    }
}

/// Writes bytes with whitespace and ':' turned into '-' (names and Request-URIs).
fn put_token_bytes(out: &mut BytesMut, b: &[u8]) {
    for &c in b {
        out.put_u8(if c <= b' ' { b'-' } else { c });
    }
}

/// The RFC 3261 default reason phrase for a status code ("" if unknown).
pub fn default_reason(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "",
    }
}
