//! Header names: the well-known SIP headers as a small enum (resolving RFC 3261 compact forms
//! and case-insensitivity once at parse time), with their canonical spelling and whether their
//! values form a comma-separated list.

/// A well-known header, or `Other` for extension headers (compared by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderId {
    Accept,
    AcceptContact,
    AcceptEncoding,
    AcceptLanguage,
    Allow,
    AllowEvents,
    Authorization,
    CallId,
    CallInfo,
    Contact,
    ContentDisposition,
    ContentEncoding,
    ContentLength,
    ContentType,
    CSeq,
    Date,
    Event,
    Expires,
    From,
    Identity,
    IdentityInfo,
    MaxForwards,
    MinExpires,
    PAssertedIdentity,
    Privacy,
    ProxyAuthenticate,
    ProxyAuthorization,
    ProxyRequire,
    RAck,
    RecordRoute,
    ReferTo,
    ReferredBy,
    RejectContact,
    RequestDisposition,
    Require,
    RetryAfter,
    Route,
    RSeq,
    Server,
    SessionExpires,
    Subject,
    SubscriptionState,
    Supported,
    Timestamp,
    To,
    Unsupported,
    UserAgent,
    Via,
    Warning,
    WwwAuthenticate,
    Other,
}

const TABLE: &[(&str, HeaderId)] = &[
    ("Via", HeaderId::Via),
    ("From", HeaderId::From),
    ("To", HeaderId::To),
    ("Call-ID", HeaderId::CallId),
    ("CSeq", HeaderId::CSeq),
    ("Contact", HeaderId::Contact),
    ("Max-Forwards", HeaderId::MaxForwards),
    ("Content-Length", HeaderId::ContentLength),
    ("Content-Type", HeaderId::ContentType),
    ("Route", HeaderId::Route),
    ("Record-Route", HeaderId::RecordRoute),
    ("Expires", HeaderId::Expires),
    ("Allow", HeaderId::Allow),
    ("Supported", HeaderId::Supported),
    ("User-Agent", HeaderId::UserAgent),
    ("Accept", HeaderId::Accept),
    ("Accept-Contact", HeaderId::AcceptContact),
    ("Accept-Encoding", HeaderId::AcceptEncoding),
    ("Accept-Language", HeaderId::AcceptLanguage),
    ("Allow-Events", HeaderId::AllowEvents),
    ("Authorization", HeaderId::Authorization),
    ("Call-Info", HeaderId::CallInfo),
    ("Content-Disposition", HeaderId::ContentDisposition),
    ("Content-Encoding", HeaderId::ContentEncoding),
    ("Date", HeaderId::Date),
    ("Event", HeaderId::Event),
    ("Identity", HeaderId::Identity),
    ("Identity-Info", HeaderId::IdentityInfo),
    ("Min-Expires", HeaderId::MinExpires),
    ("P-Asserted-Identity", HeaderId::PAssertedIdentity),
    ("Privacy", HeaderId::Privacy),
    ("Proxy-Authenticate", HeaderId::ProxyAuthenticate),
    ("Proxy-Authorization", HeaderId::ProxyAuthorization),
    ("Proxy-Require", HeaderId::ProxyRequire),
    ("RAck", HeaderId::RAck),
    ("Refer-To", HeaderId::ReferTo),
    ("Referred-By", HeaderId::ReferredBy),
    ("Reject-Contact", HeaderId::RejectContact),
    ("Request-Disposition", HeaderId::RequestDisposition),
    ("Require", HeaderId::Require),
    ("Retry-After", HeaderId::RetryAfter),
    ("RSeq", HeaderId::RSeq),
    ("Server", HeaderId::Server),
    ("Session-Expires", HeaderId::SessionExpires),
    ("Subject", HeaderId::Subject),
    ("Subscription-State", HeaderId::SubscriptionState),
    ("Timestamp", HeaderId::Timestamp),
    ("Unsupported", HeaderId::Unsupported),
    ("Warning", HeaderId::Warning),
    ("WWW-Authenticate", HeaderId::WwwAuthenticate),
];

impl HeaderId {
    /// Resolves a header name (any case, long or compact form).
    pub fn from_name(name: &[u8]) -> HeaderId {
        if let [c] = name {
            return match c.to_ascii_lowercase() {
                b'a' => HeaderId::AcceptContact,
                b'b' => HeaderId::ReferredBy,
                b'c' => HeaderId::ContentType,
                b'd' => HeaderId::RequestDisposition,
                b'e' => HeaderId::ContentEncoding,
                b'f' => HeaderId::From,
                b'i' => HeaderId::CallId,
                b'j' => HeaderId::RejectContact,
                b'k' => HeaderId::Supported,
                b'l' => HeaderId::ContentLength,
                b'm' => HeaderId::Contact,
                b'n' => HeaderId::IdentityInfo,
                b'o' => HeaderId::Event,
                b'r' => HeaderId::ReferTo,
                b's' => HeaderId::Subject,
                b't' => HeaderId::To,
                b'u' => HeaderId::AllowEvents,
                b'v' => HeaderId::Via,
                b'x' => HeaderId::SessionExpires,
                b'y' => HeaderId::Identity,
                _ => HeaderId::Other,
            };
        }
        // Candidates of the same length only (generated from TABLE; checked by a unit test).
        let candidates: &[(&str, HeaderId)] = match name.len() {
            2 => &[("To", HeaderId::To)],
            3 => &[("Via", HeaderId::Via)],
            4 => &[
                ("From", HeaderId::From),
                ("CSeq", HeaderId::CSeq),
                ("Date", HeaderId::Date),
                ("RAck", HeaderId::RAck),
                ("RSeq", HeaderId::RSeq),
            ],
            5 => &[("Route", HeaderId::Route), ("Allow", HeaderId::Allow), ("Event", HeaderId::Event)],
            6 => &[("Accept", HeaderId::Accept), ("Server", HeaderId::Server)],
            7 => &[
                ("Call-ID", HeaderId::CallId),
                ("Contact", HeaderId::Contact),
                ("Expires", HeaderId::Expires),
                ("Privacy", HeaderId::Privacy),
                ("Require", HeaderId::Require),
                ("Subject", HeaderId::Subject),
                ("Warning", HeaderId::Warning),
            ],
            8 => &[("Identity", HeaderId::Identity), ("Refer-To", HeaderId::ReferTo)],
            9 => &[
                ("Supported", HeaderId::Supported),
                ("Call-Info", HeaderId::CallInfo),
                ("Timestamp", HeaderId::Timestamp),
            ],
            10 => &[("User-Agent", HeaderId::UserAgent)],
            11 => &[
                ("Min-Expires", HeaderId::MinExpires),
                ("Referred-By", HeaderId::ReferredBy),
                ("Retry-After", HeaderId::RetryAfter),
                ("Unsupported", HeaderId::Unsupported),
            ],
            12 => &[
                ("Max-Forwards", HeaderId::MaxForwards),
                ("Content-Type", HeaderId::ContentType),
                ("Record-Route", HeaderId::RecordRoute),
                ("Allow-Events", HeaderId::AllowEvents),
            ],
            13 => &[
                ("Authorization", HeaderId::Authorization),
                ("Identity-Info", HeaderId::IdentityInfo),
                ("Proxy-Require", HeaderId::ProxyRequire),
            ],
            14 => &[
                ("Content-Length", HeaderId::ContentLength),
                ("Accept-Contact", HeaderId::AcceptContact),
                ("Reject-Contact", HeaderId::RejectContact),
            ],
            15 => &[
                ("Accept-Encoding", HeaderId::AcceptEncoding),
                ("Accept-Language", HeaderId::AcceptLanguage),
                ("Session-Expires", HeaderId::SessionExpires),
            ],
            16 => &[("Content-Encoding", HeaderId::ContentEncoding), ("WWW-Authenticate", HeaderId::WwwAuthenticate)],
            18 => &[
                ("Proxy-Authenticate", HeaderId::ProxyAuthenticate),
                ("Subscription-State", HeaderId::SubscriptionState),
            ],
            19 => &[
                ("Content-Disposition", HeaderId::ContentDisposition),
                ("P-Asserted-Identity", HeaderId::PAssertedIdentity),
                ("Proxy-Authorization", HeaderId::ProxyAuthorization),
                ("Request-Disposition", HeaderId::RequestDisposition),
            ],
            _ => &[],
        };
        candidates.iter().find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name)).map_or(HeaderId::Other, |(_, id)| *id)
    }

    /// The canonical long-form spelling, `None` for `Other`.
    pub fn canonical_name(self) -> Option<&'static str> {
        TABLE.iter().find(|(_, id)| *id == self).map(|(n, _)| *n)
    }

    /// Whether a header's value is one item even if it contains commas (so `header_values`
    /// must not split it).
    pub fn is_single_valued(self) -> bool {
        matches!(
            self,
            HeaderId::Authorization
                | HeaderId::CallId
                | HeaderId::ContentDisposition
                | HeaderId::ContentLength
                | HeaderId::ContentType
                | HeaderId::CSeq
                | HeaderId::Date
                | HeaderId::Expires
                | HeaderId::From
                | HeaderId::Identity
                | HeaderId::IdentityInfo
                | HeaderId::MaxForwards
                | HeaderId::MinExpires
                | HeaderId::ProxyAuthenticate
                | HeaderId::ProxyAuthorization
                | HeaderId::RAck
                | HeaderId::ReferTo
                | HeaderId::ReferredBy
                | HeaderId::RetryAfter
                | HeaderId::RSeq
                | HeaderId::Server
                | HeaderId::SessionExpires
                | HeaderId::Subject
                | HeaderId::SubscriptionState
                | HeaderId::Timestamp
                | HeaderId::To
                | HeaderId::UserAgent
                | HeaderId::WwwAuthenticate
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_case_insensitive() {
        assert_eq!(HeaderId::from_name(b"v"), HeaderId::Via);
        assert_eq!(HeaderId::from_name(b"V"), HeaderId::Via);
        assert_eq!(HeaderId::from_name(b"cAlL-iD"), HeaderId::CallId);
        assert_eq!(HeaderId::from_name(b"l"), HeaderId::ContentLength);
        assert_eq!(HeaderId::from_name(b"X-Foo"), HeaderId::Other);
        assert_eq!(HeaderId::from_name(b"C%6Fntact"), HeaderId::Other);
        assert_eq!(HeaderId::CallId.canonical_name(), Some("Call-ID"));
        for (name, id) in TABLE {
            assert_eq!(HeaderId::from_name(name.as_bytes()), *id);
        }
    }
}
