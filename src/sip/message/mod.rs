//! Meritline's own SIP message layer (RFC 3261) over `bytes::Bytes`: datagram parsing, TCP
//! stream framing with keep-alives, a lazy header index with typed accessors parsed on demand
//! (Via, From/To, CSeq, Contact, Route, ...), URIs, and a builder that serializes requests,
//! responses and edited copies of parsed messages into `BytesMut`.
//!
//! How a transport uses it:
//! - UDP: `SipMessage::parse(datagram)`. On `Err(e)`: if `e.kind() == ParseErrorKind::Empty`
//!   it was a keep-alive; otherwise `SipMessage::error_response(&bytes, &e, Some(tag))` gives
//!   the 400/413/416/505/513 to send back to the top Via (or `None`: drop it).
//! - TCP/TLS: loop on `next_stream_item(&buf)`: `Ping` (answer "\r\n"), `Pong`, or
//!   `Message(n)` -> `SipMessage::parse(buf.split_to(n).freeze())`; `Ok(None)` = read more;
//!   `Err` = framing is lost: send `error_response` if possible and close the connection.
//! - Then `msg.validate()` (mandatory headers, CSeq method) before the transaction layer; a
//!   failing request (not ACK) is answered with
//!   `Response::for_request(&msg, e.status_code(), e.reason_phrase())`.
//! - Typed accessors (`top_via()`, `cseq()`, `from()`, ...) parse on each call; call once and
//!   keep the result.
//! - Forwarding/editing: `msg.to_builder()` (zero-copy), then `stamp_top_via_source`,
//!   `prepend_via`, `remove_top_via`, `set_header`, ... and `to_bytes()` / `write_to()`.

mod builder;
mod error;
mod headers;
mod method;
mod names;
mod parsed;
mod syntax;
mod uri;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod torture_tests;

pub use builder::{default_reason, MessageBuilder, Request, Response};
pub use error::{ParseError, ParseErrorKind};
pub use headers::{CSeq, Contacts, NameAddr, Via};
pub use method::Method;
pub use names::HeaderId;
pub use parsed::{
    frame_stream, leading_crlf_len, next_stream_item, salvage_headers, SalvagedHeaders, SipMessage, StreamItem,
    MAX_BODY_BYTES, MAX_HEADER_BYTES,
};
pub use syntax::{split_commas, Param};
pub use uri::{Scheme, Uri, UriParts};
