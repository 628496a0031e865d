//! The one error type of the SIP message layer: what went wrong while framing, parsing or
//! interpreting a SIP message, and which final response a server should answer it with.

/// The category of a SIP message parse failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParseErrorKind {
    /// Nothing but CRLF keep-alive bytes: not an error to answer, just drop.
    Empty,
    /// The message ends before its header section or its Content-Length body does.
    Truncated,
    /// The header section exceeds [`super::MAX_HEADER_BYTES`].
    HeadersTooLarge,
    /// The Content-Length exceeds [`super::MAX_BODY_BYTES`].
    BodyTooLarge,
    /// The request line or status line is malformed.
    BadStartLine,
    /// The SIP version is not SIP/2.0.
    UnsupportedVersion,
    /// A header line is malformed (no colon, bad name).
    BadHeaderLine,
    /// A header's value does not match its grammar.
    BadHeaderValue,
    /// A header required for the operation is absent.
    MissingHeader,
    /// A header that must appear once appears several times (with different values).
    DuplicateHeader,
    /// A URI is malformed.
    BadUri,
    /// The Request-URI uses a scheme other than sip, sips or tel.
    UnsupportedUriScheme,
    /// Content-Length is absent on a stream transport or malformed.
    BadContentLength,
    /// The CSeq method does not match the request method.
    CSeqMethodMismatch,
    /// The accessor does not apply to this kind of message (e.g. request_uri on a response).
    WrongMessageKind,
}

/// A SIP message parse failure: a kind plus a short human reason usable as a reason phrase.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} ({kind:?})")]
pub struct ParseError {
    kind: ParseErrorKind,
    reason: &'static str,
}

impl ParseError {
    /// Creates an error of `kind` with a short reason phrase (ASCII, no CR/LF).
    pub const fn new(kind: ParseErrorKind, reason: &'static str) -> Self {
        ParseError { kind, reason }
    }

    /// The error category.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// The short human reason, e.g. "Bad CSeq".
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// The SIP status code a server should answer a request failing this way with.
    pub fn status_code(&self) -> u16 {
        match self.kind {
            ParseErrorKind::UnsupportedVersion => 505,
            ParseErrorKind::BodyTooLarge => 413,
            ParseErrorKind::HeadersTooLarge => 513,
            ParseErrorKind::UnsupportedUriScheme => 416,
            _ => 400,
        }
    }

    /// The reason phrase for the error response (the short reason itself).
    pub fn reason_phrase(&self) -> &'static str {
        self.reason
    }
}

pub(crate) const fn err(kind: ParseErrorKind, reason: &'static str) -> ParseError {
    ParseError::new(kind, reason)
}

pub(crate) const fn bad_value(reason: &'static str) -> ParseError {
    ParseError::new(ParseErrorKind::BadHeaderValue, reason)
}
