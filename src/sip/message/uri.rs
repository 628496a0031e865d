//! SIP, SIPS and tel URIs (RFC 3261 19.1, RFC 3966): parsing, validation and Display. A
//! zero-allocation validating pass ([`UriParts`]) is used on the hot path (Request-URI check at
//! parse time); [`Uri`] is the owned form handed to callers.

use std::fmt;

use super::error::{err, ParseError, ParseErrorKind};
use super::syntax::{check_escaped, find_param, is_unreserved, write_params, Param};

const fn bad_uri(reason: &'static str) -> ParseError {
    err(ParseErrorKind::BadUri, reason)
}

/// URI scheme.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    /// Any other syntactically valid scheme (lower-cased); the rest of the URI is opaque.
    Other(String),
}

impl Scheme {
    pub fn as_str(&self) -> &str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel => "tel",
            Scheme::Other(s) => s,
        }
    }
}

/// Borrowed, validated pieces of a URI (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UriParts<'a> {
    pub scheme: &'a str,
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
    /// Host without IPv6 brackets; empty for tel and opaque URIs.
    pub host: &'a str,
    pub port: Option<u16>,
    /// Everything after the first `;` of the host part (or tel number), without the leading `;`.
    pub params: &'a str,
    /// Everything after `?`, without the `?`.
    pub headers: Option<&'a str>,
    /// For non-sip/sips/tel schemes: everything after `scheme:`.
    pub opaque: Option<&'a str>,
}

fn is_scheme(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

fn user_ok(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

fn password_ok(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',')
}

fn paramchar_ok(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

fn hvalue_ok(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

/// Validates a hostname, IPv4 address or (bracket-less) IPv6 reference.
pub fn is_valid_host(host: &str, bracketed: bool) -> bool {
    if host.is_empty() {
        return false;
    }
    if bracketed {
        return host.parse::<std::net::Ipv6Addr>().is_ok();
    }
    let b = host.as_bytes();
    if !b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.') {
        return false;
    }
    // Each label must be non-empty except a single trailing dot, and not start/end with '-'.
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    trimmed.split('.').all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
}

/// Splits `host[:port]` (host may be `[v6]`). Returns (host without brackets, port).
pub fn split_host_port(s: &str) -> Result<(&str, Option<u16>), ParseError> {
    let (host, rest, bracketed) = if let Some(inner) = s.strip_prefix('[') {
        let close = inner.find(']').ok_or(bad_uri("Unterminated IPv6 reference"))?;
        (&inner[..close], &inner[close + 1..], true)
    } else {
        match s.find(':') {
            Some(i) => (&s[..i], &s[i..], false),
            None => (s, "", false),
        }
    };
    if !is_valid_host(host, bracketed) {
        return Err(bad_uri("Bad host"));
    }
    let port = if rest.is_empty() {
        None
    } else {
        let p = rest.strip_prefix(':').ok_or(bad_uri("Bad host"))?;
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad_uri("Bad port"));
        }
        Some(p.parse::<u16>().map_err(|_| bad_uri("Bad port"))?)
    };
    Ok((host, port))
}

fn check_uri_params(params: &str) -> Result<(), ParseError> {
    if params.is_empty() {
        return Ok(());
    }
    for p in params.split(';') {
        let (name, value) = match p.find('=') {
            Some(i) => (&p[..i], Some(&p[i + 1..])),
            None => (p, None),
        };
        if name.is_empty() || !check_escaped(name, paramchar_ok) {
            return Err(bad_uri("Bad URI parameter"));
        }
        if let Some(v) = value {
            if v.is_empty() || !check_escaped(v, paramchar_ok) {
                return Err(bad_uri("Bad URI parameter"));
            }
        }
    }
    Ok(())
}

fn check_uri_headers(headers: &str) -> Result<(), ParseError> {
    for h in headers.split('&') {
        let (name, value) = h.split_once('=').ok_or(bad_uri("Bad URI header"))?;
        if name.is_empty() || !check_escaped(name, hvalue_ok) || !check_escaped(value, hvalue_ok) {
            return Err(bad_uri("Bad URI header"));
        }
    }
    Ok(())
}

impl<'a> UriParts<'a> {
    /// Validates and splits a URI without allocating.
    pub fn parse(s: &'a str) -> Result<UriParts<'a>, ParseError> {
        let colon = s.find(':').ok_or(bad_uri("URI without scheme"))?;
        let scheme = &s[..colon];
        if !is_scheme(scheme) {
            return Err(bad_uri("Bad URI scheme"));
        }
        let rest = &s[colon + 1..];
        if rest.is_empty() || rest.bytes().any(|b| b <= b' ' || b >= 0x7f) {
            return Err(bad_uri("Bad URI characters"));
        }
        let mut parts = UriParts {
            scheme,
            user: None,
            password: None,
            host: "",
            port: None,
            params: "",
            headers: None,
            opaque: None,
        };
        if scheme.eq_ignore_ascii_case("tel") {
            let (number, params) = rest.split_once(';').unwrap_or((rest, ""));
            if number.is_empty()
                || !number
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || matches!(b, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#'))
            {
                return Err(bad_uri("Bad tel number"));
            }
            check_uri_params(params)?;
            parts.user = Some(number);
            parts.params = params;
            return Ok(parts);
        }
        if !(scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")) {
            if rest.bytes().any(|b| matches!(b, b'<' | b'>' | b'"')) {
                return Err(bad_uri("Bad URI characters"));
            }
            parts.opaque = Some(rest);
            return Ok(parts);
        }
        // The user part may contain '?', so URI headers start at the first '?' after the '@'.
        let at = rest.rfind('@');
        let search_from = at.map_or(0, |a| a + 1);
        let (before_headers, headers) = match rest[search_from..].find('?') {
            Some(q) => (&rest[..search_from + q], Some(&rest[search_from + q + 1..])),
            None => (rest, None),
        };
        let hostpart = match before_headers.find('@') {
            Some(at) => {
                let userinfo = &before_headers[..at];
                if userinfo.contains('@') {
                    return Err(bad_uri("Unescaped @ in URI"));
                }
                let hp = &before_headers[at + 1..];
                let (user, password) = match userinfo.find(':') {
                    Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                    None => (userinfo, None),
                };
                if user.is_empty() || !check_escaped(user, user_ok) {
                    return Err(bad_uri("Bad URI user"));
                }
                if let Some(p) = password {
                    if !check_escaped(p, password_ok) {
                        return Err(bad_uri("Bad URI password"));
                    }
                }
                parts.user = Some(user);
                parts.password = password;
                hp
            }
            None => before_headers,
        };
        let (hostport, params) = match hostpart.find(';') {
            Some(i) => (&hostpart[..i], &hostpart[i + 1..]),
            None => (hostpart, ""),
        };
        let (host, port) = split_host_port(hostport)?;
        check_uri_params(params)?;
        if let Some(h) = headers {
            check_uri_headers(h)?;
        }
        parts.host = host;
        parts.port = port;
        parts.params = params;
        parts.headers = headers;
        Ok(parts)
    }

    /// Whether the scheme is sip, sips or tel.
    pub fn is_supported_scheme(&self) -> bool {
        self.opaque.is_none()
    }
}

/// An owned, parsed URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Uri {
    pub scheme: Scheme,
    /// User part as written (still %-escaped); for tel URIs the number.
    pub user: Option<String>,
    pub password: Option<String>,
    /// Host without IPv6 brackets (empty for tel and opaque URIs).
    pub host: String,
    pub port: Option<u16>,
    /// URI parameters, e.g. `transport`, `lr`, as written.
    pub params: Vec<Param>,
    /// URI headers (`?name=value&...`), as written.
    pub headers: Vec<(String, String)>,
    /// The part after `scheme:` for schemes other than sip/sips/tel.
    pub opaque: Option<String>,
}

impl Uri {
    /// Parses a URI.
    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        UriParts::parse(s).map(|p| Uri::from_parts(&p))
    }

    /// A `sip:` URI for `user@host:port`.
    pub fn sip(user: Option<&str>, host: &str, port: Option<u16>) -> Uri {
        Uri {
            scheme: Scheme::Sip,
            user: user.map(str::to_owned),
            password: None,
            host: host.trim_start_matches('[').trim_end_matches(']').to_owned(),
            port,
            params: Vec::new(),
            headers: Vec::new(),
            opaque: None,
        }
    }

    /// Builds the owned form from validated parts.
    pub fn from_parts(p: &UriParts<'_>) -> Uri {
        let scheme = if p.scheme.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if p.scheme.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if p.scheme.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            Scheme::Other(p.scheme.to_ascii_lowercase())
        };
        let params = if p.params.is_empty() {
            Vec::new()
        } else {
            p.params
                .split(';')
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                    None => (kv.to_owned(), None),
                })
                .collect()
        };
        let headers = p
            .headers
            .map(|h| {
                h.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
            })
            .unwrap_or_default();
        Uri {
            scheme,
            user: p.user.map(str::to_owned),
            password: p.password.map(str::to_owned),
            host: p.host.to_owned(),
            port: p.port,
            params,
            headers,
            opaque: p.opaque.map(str::to_owned),
        }
    }

    /// A URI parameter by case-insensitive name: `Some(None)` for a flag like `lr`.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name).map(|v| v.as_deref())
    }

    /// The `transport` parameter.
    pub fn transport(&self) -> Option<&str> {
        self.param("transport").flatten()
    }

    /// Whether the `lr` (loose routing) flag is present.
    pub fn is_loose_route(&self) -> bool {
        self.param("lr").is_some()
    }

    /// Adds or replaces a parameter.
    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_owned);
        match self.params.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(slot) => slot.1 = value,
            None => self.params.push((name.to_owned(), value)),
        }
    }

    /// `host` with brackets for IPv6 and `:port` when present, e.g. `[::1]:5060`.
    pub fn host_port(&self) -> String {
        let mut s = String::new();
        push_host(&mut s, &self.host);
        if let Some(p) = self.port {
            s.push(':');
            s.push_str(&p.to_string());
        }
        s
    }
}

/// Appends a host, bracketing IPv6 literals.
pub fn push_host(out: &mut String, host: &str) {
    if host.contains(':') {
        out.push('[');
        out.push_str(host);
        out.push(']');
    } else {
        out.push_str(host);
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme.as_str())?;
        if let Some(o) = &self.opaque {
            return f.write_str(o);
        }
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            if self.scheme != Scheme::Tel {
                f.write_str("@")?;
            }
        }
        if self.scheme != Scheme::Tel {
            f.write_str(&self.host_port())?;
        }
        write_params(f, &self.params)?;
        for (i, (k, v)) in self.headers.iter().enumerate() {
            f.write_str(if i == 0 { "?" } else { "&" })?;
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_sip_uri() {
        let u = Uri::parse("sips:alice:secret@[2001:db8::10]:5071;transport=tls;lr?Subject=hi&X=1").unwrap();
        assert_eq!(u.scheme, Scheme::Sips);
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.host, "2001:db8::10");
        assert_eq!(u.port, Some(5071));
        assert_eq!(u.transport(), Some("tls"));
        assert!(u.is_loose_route());
        assert_eq!(u.headers.len(), 2);
        assert_eq!(u.to_string(), "sips:alice:secret@[2001:db8::10]:5071;transport=tls;lr?Subject=hi&X=1");
    }

    #[test]
    fn parses_tel_and_opaque() {
        let u = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(u.scheme, Scheme::Tel);
        assert_eq!(u.user.as_deref(), Some("+1-201-555-0123"));
        assert_eq!(u.to_string(), "tel:+1-201-555-0123;phone-context=example.com");
        let o = Uri::parse("isbn:2983792873").unwrap();
        assert_eq!(o.scheme, Scheme::Other("isbn".into()));
        assert_eq!(o.to_string(), "isbn:2983792873");
    }

    #[test]
    fn rejects_bad_uris() {
        for bad in [
            "sip:",
            "sip:user@",
            "sip:user@host:99999",
            "sip:user@ho st",
            "<sip:user@host>",
            "sip:a@b@c",
            "sip:[::1",
            "sip:us%zzer@host",
            "sip:host;=x",
            "nocolon",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_part_may_hold_reserved_chars() {
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user.as_deref(), Some("user;par=u%40example.net"));
        assert_eq!(u.host, "example.com");
        assert!(u.params.is_empty());
    }
}
