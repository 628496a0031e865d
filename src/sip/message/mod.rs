//! Meritline's own SIP message layer (RFC 3261) over `bytes::Bytes`: datagram parsing, TCP
//! stream framing with keep-alives, a lazy header index with typed accessors parsed on demand
//! (Via, From/To, CSeq, Contact, Route, ...), URIs, and a builder that serializes requests,
//! responses and edited copies of parsed messages into `BytesMut`.

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
