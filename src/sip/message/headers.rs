//! Typed SIP header values parsed on demand from the raw header index: Via, name-addr
//! (From/To/Contact/Route/Record-Route), CSeq and the Contact list with its `*` form.

use std::fmt;

use super::error::{bad_value, ParseError};
use super::method::Method;
use super::syntax::{
    find_param, is_token, is_token_char, parse_digits_u64, parse_generic_params, quote, quoted_string_end, skip_ws,
    trim_ws, unquote, write_params, Param,
};
use super::uri::{is_valid_host, push_host, split_host_port, Uri};

/// A `name-addr` or `addr-spec` with header parameters: From, To, Contact, Route entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, unquoted and unescaped.
    pub display: Option<String>,
    pub uri: Uri,
    /// Header parameters after the URI (`tag`, `expires`, `q`, `lr` on addr-spec ...).
    pub params: Vec<Param>,
}

impl NameAddr {
    /// A bare `<uri>` with no display name and no parameters.
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr { display: None, uri, params: Vec::new() }
    }

    /// Parses one name-addr / addr-spec element with its parameters.
    pub fn parse(s: &str) -> Result<NameAddr, ParseError> {
        let s = trim_ws(s);
        let (display, rest) = if s.starts_with('"') {
            let end = quoted_string_end(s).ok_or(bad_value("Unbalanced quotes"))?;
            let rest = trim_ws(&s[end..]);
            if !rest.starts_with('<') {
                return Err(bad_value("Display name without <URI>"));
            }
            (Some(unquote(&s[..end])), rest)
        } else if let Some(lt) = s.find('<') {
            let raw = trim_ws(&s[..lt]);
            let display = if raw.is_empty() {
                None
            } else {
                let mut words = Vec::new();
                for w in raw.split([' ', '\t', '\r', '\n']).filter(|w| !w.is_empty()) {
                    // Tokens, liberally extended with UTF-8 (some phones send unquoted
                    // non-ASCII names); separators such as ',' stay invalid (RFC 4475 baddn).
                    if !w.bytes().all(|b| is_token_char(b) || b >= 0x80) {
                        return Err(bad_value("Bad display name"));
                    }
                    words.push(w);
                }
                Some(words.join(" "))
            };
            (display, &s[lt..])
        } else {
            // addr-spec: the URI ends at the first ';' (RFC 3261 20.10).
            let (uri_str, params) = match s.find(';') {
                Some(i) => (&s[..i], &s[i..]),
                None => (s, ""),
            };
            let uri_str = trim_ws(uri_str);
            if uri_str.bytes().any(|b| b == b' ' || b == b'\t' || b == b'"' || b == b'>') {
                return Err(bad_value("Bad address"));
            }
            let uri = Uri::parse(uri_str)?;
            if !uri.headers.is_empty() {
                // RFC 3261 20.10: a URI with headers must use the <...> form.
                return Err(bad_value("URI headers in addr-spec"));
            }
            return Ok(NameAddr { display: None, uri, params: parse_generic_params(params)? });
        };
        // rest starts with '<'
        let gt = rest.find('>').ok_or(bad_value("Unterminated <URI>"))?;
        let uri_str = &rest[1..gt];
        if uri_str.bytes().any(|b| b == b' ' || b == b'\t' || b == b'\r' || b == b'\n') {
            return Err(bad_value("Whitespace inside <URI>"));
        }
        Ok(NameAddr { display, uri: Uri::parse(uri_str)?, params: parse_generic_params(&rest[gt + 1..])? })
    }

    /// A header parameter by case-insensitive name: `Some(None)` for a flag.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name).map(|v| v.as_deref())
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.param("tag").flatten()
    }

    /// The `expires` parameter of a Contact, saturating at u32::MAX; `None` if absent or
    /// not a number.
    pub fn expires(&self) -> Option<u32> {
        let v = self.param("expires").flatten()?;
        parse_delta_seconds(v)
    }

    /// Adds or replaces a header parameter.
    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_owned);
        match self.params.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(slot) => slot.1 = value,
            None => self.params.push((name.to_owned(), value)),
        }
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{} ", quote(d))?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

/// Parses delta-seconds, saturating at u32::MAX (RFC 3261 20.19 / RFC 4475 scalar02).
pub fn parse_delta_seconds(s: &str) -> Option<u32> {
    let s = trim_ws(s);
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(parse_digits_u64(s).map_or(u32::MAX, |v| u32::try_from(v).unwrap_or(u32::MAX)))
}

/// The value of a Contact header: `*` or a list of addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacts {
    /// `Contact: *` (only valid in REGISTER with Expires: 0).
    Wildcard,
    List(Vec<NameAddr>),
}

/// The CSeq header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    /// Parses `1*DIGIT LWS Method`.
    pub fn parse(s: &str) -> Result<CSeq, ParseError> {
        let s = trim_ws(s);
        let digits_end = s.bytes().position(|b| !b.is_ascii_digit()).ok_or(bad_value("Bad CSeq"))?;
        let seq =
            parse_digits_u64(&s[..digits_end]).and_then(|v| u32::try_from(v).ok()).ok_or(bad_value("Bad CSeq"))?;
        let rest = &s[digits_end..];
        let method_str = trim_ws(rest);
        if method_str.len() == rest.len() {
            return Err(bad_value("Bad CSeq"));
        }
        let method = Method::parse(method_str).ok_or(bad_value("Bad CSeq method"))?;
        Ok(CSeq { seq, method })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// One Via header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Transport as written, e.g. "UDP", "TCP", "TLS", "WS".
    pub transport: String,
    /// sent-by host without IPv6 brackets.
    pub host: String,
    pub port: Option<u16>,
    /// All via-params in order (branch, received, rport, maddr, ttl, extensions).
    pub params: Vec<Param>,
}

impl Via {
    /// A Via for `transport` and sent-by, with a branch parameter and `rport` requested.
    pub fn new(transport: &str, host: &str, port: Option<u16>, branch: &str) -> Via {
        Via {
            transport: transport.to_owned(),
            host: host.trim_start_matches('[').trim_end_matches(']').to_owned(),
            port,
            params: vec![("branch".to_owned(), Some(branch.to_owned()))],
        }
    }

    /// Parses one via-parm.
    pub fn parse(s: &str) -> Result<Via, ParseError> {
        Via::parse_inner(s, false)
    }

    /// Like [`Via::parse`] but accepts any protocol version (to answer 505 to SIP/7.0).
    pub(crate) fn parse_any_version(s: &str) -> Result<Via, ParseError> {
        Via::parse_inner(s, true)
    }

    fn parse_inner(s: &str, any_version: bool) -> Result<Via, ParseError> {
        const BAD: ParseError = bad_value("Bad Via");
        let b = s.as_bytes();
        let mut i = skip_ws(b, 0);
        let read_token = |i: &mut usize| -> Result<&str, ParseError> {
            let start = *i;
            while *i < b.len() && is_token_char(b[*i]) {
                *i += 1;
            }
            if *i == start {
                return Err(BAD);
            }
            Ok(&s[start..*i])
        };
        let name = read_token(&mut i)?;
        i = skip_ws(b, i);
        if b.get(i) != Some(&b'/') {
            return Err(BAD);
        }
        i = skip_ws(b, i + 1);
        let version = read_token(&mut i)?;
        i = skip_ws(b, i);
        if b.get(i) != Some(&b'/') {
            return Err(BAD);
        }
        i = skip_ws(b, i + 1);
        let transport = read_token(&mut i)?;
        if !name.eq_ignore_ascii_case("SIP") || (version != "2.0" && !any_version) {
            return Err(bad_value("Bad Via protocol"));
        }
        let after = skip_ws(b, i);
        if after == i {
            return Err(BAD);
        }
        i = after;
        // sent-by = host [ COLON port ], LWS allowed around the colon.
        let host_start = i;
        if b.get(i) == Some(&b'[') {
            while i < b.len() && b[i] != b']' {
                i += 1;
            }
            i += 1;
        } else {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-' || b[i] == b'.') {
                i += 1;
            }
        }
        let host_str = s.get(host_start..i.min(b.len())).ok_or(BAD)?;
        i = skip_ws(b, i.min(b.len()));
        let mut port_str = "";
        if b.get(i) == Some(&b':') {
            i = skip_ws(b, i + 1);
            let ps = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            port_str = &s[ps..i];
            if port_str.is_empty() {
                return Err(bad_value("Bad Via port"));
            }
        }
        let (host, bracketed) = match host_str.strip_prefix('[') {
            Some(inner) => (inner.strip_suffix(']').ok_or(bad_value("Bad Via sent-by"))?, true),
            None => (host_str, false),
        };
        if !is_valid_host(host, bracketed) {
            return Err(bad_value("Bad Via sent-by"));
        }
        let port = if port_str.is_empty() {
            None
        } else if port_str.len() > 5 {
            return Err(bad_value("Bad Via port"));
        } else {
            Some(port_str.parse::<u16>().map_err(|_| bad_value("Bad Via port"))?)
        };
        let params = parse_generic_params(&s[i..])?;
        for (n, v) in &params {
            let v = v.as_deref();
            let ok = if n.eq_ignore_ascii_case("branch") {
                v.is_some_and(is_token)
            } else if n.eq_ignore_ascii_case("received") {
                v.is_some_and(|v| v.parse::<std::net::IpAddr>().is_ok() || is_valid_host(v, false))
            } else if n.eq_ignore_ascii_case("rport") {
                v.is_none_or(|v| v.len() <= 5 && v.parse::<u16>().is_ok())
            } else if n.eq_ignore_ascii_case("ttl") {
                v.is_some_and(|v| v.len() <= 3 && v.parse::<u8>().is_ok())
            } else if n.eq_ignore_ascii_case("maddr") {
                v.is_some_and(|v| split_host_port(v).is_ok_and(|(_, p)| p.is_none()))
            } else {
                true
            };
            if !ok {
                return Err(bad_value("Bad Via parameter"));
            }
        }
        Ok(Via { transport: transport.to_owned(), host: host.to_owned(), port, params })
    }

    /// A parameter by case-insensitive name: `Some(None)` for a flag.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name).map(|v| v.as_deref())
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        self.param("branch").flatten()
    }

    /// The `received` parameter.
    pub fn received(&self) -> Option<&str> {
        self.param("received").flatten()
    }

    /// `None`: no rport; `Some(None)`: rport requested (flag); `Some(Some(p))`: filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.param("rport").map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// Adds or replaces a parameter.
    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_owned);
        match self.params.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(slot) => slot.1 = value,
            None => self.params.push((name.to_owned(), value)),
        }
    }

    /// RFC 3261 18.2.1 / RFC 3581: sets `received` when the packet source differs from the
    /// sent-by host (or rport was requested), and fills `rport` when it was requested.
    pub fn stamp_source(&mut self, source: std::net::SocketAddr) {
        let ip = source.ip().to_string();
        let rport_requested = self.param("rport").is_some();
        if ip != self.host || rport_requested {
            self.set_param("received", Some(&ip));
        }
        if rport_requested {
            self.set_param("rport", Some(&source.port().to_string()));
        }
    }

    /// sent-by as `host[:port]` with IPv6 brackets.
    pub fn sent_by(&self) -> String {
        let mut s = String::new();
        push_host(&mut s, &self.host);
        if let Some(p) = self.port {
            s.push(':');
            s.push_str(&p.to_string());
        }
        s
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.sent_by())?;
        write_params(f, &self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_with_lws_everywhere() {
        let v = Via::parse("SIP  /   2.0   /UDP      192.0.2.2;rport;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "192.0.2.2");
        assert_eq!(v.port, None);
        assert_eq!(v.branch(), Some("390skdjuw"));
        assert_eq!(v.rport(), Some(None));
    }

    #[test]
    fn via_ipv6_port_and_stamp() {
        let mut v = Via::parse("SIP/2.0/TCP [2001:db8::9:1] : 5070 ;branch=z9hG4bKx;rport").unwrap();
        assert_eq!(v.host, "2001:db8::9:1");
        assert_eq!(v.port, Some(5070));
        v.stamp_source("[2001:db8::9:255]:6000".parse().unwrap());
        assert_eq!(v.received(), Some("2001:db8::9:255"));
        assert_eq!(v.rport(), Some(Some(6000)));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/TCP [2001:db8::9:1]:5070;branch=z9hG4bKx;rport=6000;received=2001:db8::9:255"
        );
        assert_eq!(Via::parse(&v.to_string()).unwrap(), v);
    }

    #[test]
    fn via_rejects_garbage() {
        for bad in [
            "SIP/2.0/UDP 192.0.2.15;;,;,,",
            "SIP/2.0 host",
            "SIP/3.0/UDP host",
            "SIP/2.0/UDPhost",
            "SIP/2.0/UDP host:99999",
            "SIP/2.0/UDP host;rport=x",
            "SIP/2.0/UDP host;branch",
        ] {
            assert!(Via::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn name_addr_forms() {
        let a = NameAddr::parse("\"J Rosenberg \\\\\\\"\"   <sip:jdrosen@example.com> ; tag = 98asjd8").unwrap();
        assert_eq!(a.display.as_deref(), Some("J Rosenberg \\\""));
        assert_eq!(a.tag(), Some("98asjd8"));
        let b = NameAddr::parse("sip:user@example.com;tag=33242").unwrap();
        assert_eq!(b.uri.host, "example.com");
        assert!(b.uri.params.is_empty());
        assert_eq!(b.tag(), Some("33242"));
        let c = NameAddr::parse("token1~` token2'+_ <sip:mundane@example.com>;expires=99").unwrap();
        assert_eq!(c.display.as_deref(), Some("token1~` token2'+_"));
        assert_eq!(c.expires(), Some(99));
        assert!(NameAddr::parse("Bell, Alexander <sip:a@b>").is_err());
        let utf8 = NameAddr::parse("Jos\u{e9} Garc\u{ed}a <sip:j@b>").unwrap();
        assert_eq!(utf8.display.as_deref(), Some("Jos\u{e9} Garc\u{ed}a"));
        assert!(NameAddr::parse("\"Watson\" < sip:t@example.org >").is_err());
        assert!(NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>").is_err());
        assert_eq!(NameAddr::parse(&a.to_string()).unwrap(), a, "display name survives re-quoting");
    }

    #[test]
    fn cseq_parsing() {
        assert_eq!(CSeq::parse("0009   INVITE").unwrap(), CSeq { seq: 9, method: Method::Invite });
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("9INVITE").is_err());
        assert!(CSeq::parse("INVITE").is_err());
        assert!(CSeq::parse("1").is_err());
    }
}
