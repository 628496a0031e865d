//! SDP (RFC 4566): the session-description data model, a tolerant parser with precise errors
//! and a CRLF serializer; plus audio offer/answer (RFC 3264) for our G.711 + telephone-event
//! media in `negotiate`. Pure logic: no SIP message types, no IO.

use std::fmt::Write as _;
use std::net::IpAddr;

mod negotiate;

pub use negotiate::{accept_answer, answer_audio, offer_audio, AudioCodec, NegotiatedAudio};

/// Why an SDP body was refused; `status_code()` is the SIP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("SDP parse error on line {line}: {reason}")]
    Parse { line: usize, reason: &'static str },
    #[error("SDP has no connection address for the audio stream")]
    MissingConnection,
    #[error("no acceptable audio stream / common codec")]
    NoCommonCodec,
    #[error("SDP answer does not match the offer: {0}")]
    AnswerMismatch(&'static str),
}

impl SdpError {
    /// 400 for unusable bodies, 488 Not Acceptable Here when nothing can be negotiated.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Parse { .. } | Self::MissingConnection | Self::AnswerMismatch(_) => 400,
            Self::NoCommonCodec => 488,
        }
    }
}

/// Media direction attribute (RFC 3264 §5.1); absent means `SendRecv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn from_attribute(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Self::SendRecv),
            "sendonly" => Some(Self::SendOnly),
            "recvonly" => Some(Self::RecvOnly),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }

    pub fn as_attribute(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// The same direction seen from the other side (sendonly <-> recvonly).
    pub fn reversed(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            other => other,
        }
    }

    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }

    /// Keep only what both allow.
    pub fn intersect(self, other: Self) -> Self {
        Self::from_flags(self.sends() && other.sends(), self.receives() && other.receives())
    }

    pub fn from_flags(send: bool, recv: bool) -> Self {
        match (send, recv) {
            (true, true) => Self::SendRecv,
            (true, false) => Self::SendOnly,
            (false, true) => Self::RecvOnly,
            (false, false) => Self::Inactive,
        }
    }
}

/// `o=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: u64,
    pub session_version: u64,
    pub net_type: String,
    pub addr_type: String,
    pub address: String,
}

/// `c=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub net_type: String,
    pub addr_type: String,
    /// As written, possibly with `/ttl` for multicast.
    pub address: String,
}

impl Connection {
    pub fn for_ip(ip: IpAddr) -> Self {
        Self {
            net_type: "IN".into(),
            addr_type: if ip.is_ipv4() { "IP4" } else { "IP6" }.into(),
            address: ip.to_string(),
        }
    }

    /// The unicast/multicast address without TTL suffix; `None` for FQDNs or junk.
    pub fn ip(&self) -> Option<IpAddr> {
        let addr = self.address.split('/').next().unwrap_or("");
        addr.parse().ok()
    }
}

/// `a=` line: `name` or `name:value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub value: Option<String>,
}

impl Attribute {
    pub fn flag(name: impl Into<String>) -> Self {
        Self { name: name.into(), value: None }
    }

    pub fn value(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self { name: name.into(), value: Some(value.into()) }
    }
}

/// One `a=rtpmap:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u16>,
}

/// An `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    pub media: String,
    pub port: u16,
    pub port_count: Option<u16>,
    pub proto: String,
    pub formats: Vec<String>,
    pub connection: Option<Connection>,
    /// Raw `b=` values.
    pub bandwidths: Vec<String>,
    pub attributes: Vec<Attribute>,
}

impl MediaDescription {
    fn attr_values(&self, name: &'static str) -> impl Iterator<Item = &str> + '_ {
        self.attributes.iter().filter(move |a| a.name.eq_ignore_ascii_case(name)).filter_map(|a| a.value.as_deref())
    }

    /// First attribute value named `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name) && a.value.is_some())
            .and_then(|a| a.value.as_deref())
    }

    pub fn has_attribute(&self, name: &str) -> bool {
        self.attributes.iter().any(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// All well-formed `a=rtpmap` entries.
    pub fn rtpmaps(&self) -> impl Iterator<Item = RtpMap> + '_ {
        self.attr_values("rtpmap").filter_map(parse_rtpmap)
    }

    /// The `a=rtpmap` entry of payload type `pt`.
    pub fn rtpmap(&self, pt: u8) -> Option<RtpMap> {
        self.rtpmaps().find(|m| m.payload_type == pt)
    }

    /// The `a=fmtp` parameters of payload type `pt`.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.attr_values("fmtp").find_map(|v| {
            let (p, params) = v.split_once(' ').unwrap_or((v, ""));
            (p.trim().parse::<u8>().ok() == Some(pt)).then(|| params.trim())
        })
    }

    /// `a=ptime` in milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attribute("ptime").and_then(|v| v.trim().parse().ok())
    }

    /// Media-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        self.attributes.iter().find_map(|a| Direction::from_attribute(&a.name))
    }

    /// `a=rtcp:port [nettype addrtype address]` (RFC 3605).
    pub fn rtcp(&self) -> Option<(u16, Option<IpAddr>)> {
        let v = self.attribute("rtcp")?;
        let mut parts = v.split_whitespace();
        let port = parts.next()?.parse().ok()?;
        let addr = parts.nth(2).and_then(|a| a.parse().ok());
        Some((port, addr))
    }

    /// Replace any direction attribute with `direction` (e.g. to relay a hold re-offer).
    pub fn set_direction(&mut self, direction: Direction) {
        self.attributes.retain(|a| Direction::from_attribute(&a.name).is_none());
        self.attributes.push(Attribute::flag(direction.as_attribute()));
    }

    /// Payload types listed on the `m=` line that are valid numbers.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| f.parse().ok())
    }
}

fn parse_rtpmap(v: &str) -> Option<RtpMap> {
    let (pt, rest) = v.trim().split_once(char::is_whitespace)?;
    let payload_type = pt.parse().ok()?;
    let mut parts = rest.trim().split('/');
    let encoding = parts.next()?.trim().to_string();
    let clock_rate = parts.next()?.trim().parse().ok()?;
    let channels = match parts.next() {
        Some(c) => Some(c.trim().parse().ok()?),
        None => None,
    };
    if encoding.is_empty() {
        return None;
    }
    Some(RtpMap { payload_type, encoding, clock_rate, channels })
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    pub version: u32,
    pub origin: Origin,
    pub session_name: String,
    pub connection: Option<Connection>,
    pub bandwidths: Vec<String>,
    /// First `t=` line (start, stop); `(0, 0)` when absent.
    pub timing: (u64, u64),
    pub attributes: Vec<Attribute>,
    pub media: Vec<MediaDescription>,
}

/// Upper bound on lines we look at; a SIP body never needs more.
const MAX_LINES: usize = 4096;

impl SessionDescription {
    /// Parse from raw body bytes (invalid UTF-8 is replaced, not rejected).
    pub fn parse_bytes(body: &[u8]) -> Result<Self, SdpError> {
        Self::parse(&String::from_utf8_lossy(body))
    }

    /// Parse an SDP body. Lines may end in CRLF or bare LF; unknown line types are skipped.
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        let err = |line: usize, reason: &'static str| SdpError::Parse { line, reason };
        let mut version = None;
        let mut origin = None;
        let mut session_name = None;
        let mut connection = None;
        let mut bandwidths = Vec::new();
        let mut timing = None;
        let mut attributes = Vec::new();
        let mut media: Vec<MediaDescription> = Vec::new();

        for (idx, raw) in text.split('\n').enumerate() {
            let line_no = idx + 1;
            if idx >= MAX_LINES {
                return Err(err(line_no, "too many lines"));
            }
            let line = raw.strip_suffix('\r').unwrap_or(raw).trim_end();
            if line.is_empty() {
                continue;
            }
            let (kind, value) = match line.split_once('=') {
                Some((k, v)) if k.len() == 1 => (k.as_bytes().first().copied().unwrap_or(b' '), v),
                _ => return Err(err(line_no, "expected <type>=<value>")),
            };
            if version.is_none() && kind != b'v' {
                return Err(err(line_no, "SDP must start with v="));
            }
            match kind {
                b'v' => {
                    if version.is_some() {
                        return Err(err(line_no, "duplicate v="));
                    }
                    version = Some(value.trim().parse::<u32>().map_err(|_| err(line_no, "bad v="))?);
                }
                b'o' => {
                    let f: Vec<&str> = value.split_whitespace().collect();
                    let [username, sid, sver, net_type, addr_type, address] = f.as_slice() else {
                        return Err(err(line_no, "o= needs 6 fields"));
                    };
                    origin = Some(Origin {
                        username: (*username).into(),
                        session_id: parse_u64_lenient(sid).ok_or(err(line_no, "bad o= session id"))?,
                        session_version: parse_u64_lenient(sver).ok_or(err(line_no, "bad o= version"))?,
                        net_type: (*net_type).into(),
                        addr_type: (*addr_type).into(),
                        address: (*address).into(),
                    });
                }
                b's' if media.is_empty() => session_name = Some(value.to_string()),
                b'c' => {
                    let c = parse_connection(value).ok_or(err(line_no, "bad c= line"))?;
                    match media.last_mut() {
                        Some(m) => m.connection = Some(c),
                        None => connection = Some(c),
                    }
                }
                b'b' => match media.last_mut() {
                    Some(m) => m.bandwidths.push(value.to_string()),
                    None => bandwidths.push(value.to_string()),
                },
                b't' if timing.is_none() => {
                    let mut f = value.split_whitespace();
                    let start = f.next().and_then(|v| v.parse().ok()).ok_or(err(line_no, "bad t= line"))?;
                    let stop = f.next().and_then(|v| v.parse().ok()).ok_or(err(line_no, "bad t= line"))?;
                    timing = Some((start, stop));
                }
                b'm' => media.push(parse_media(value).ok_or(err(line_no, "bad m= line"))?),
                b'a' => {
                    let a = match value.split_once(':') {
                        Some((n, v)) => Attribute::value(n.trim(), v),
                        None => Attribute::flag(value.trim()),
                    };
                    if a.name.is_empty() {
                        return Err(err(line_no, "empty attribute name"));
                    }
                    match media.last_mut() {
                        Some(m) => m.attributes.push(a),
                        None => attributes.push(a),
                    }
                }
                k if k.is_ascii_lowercase() => {} // i, u, e, p, z, k, r, extra t/s: not needed
                _ => return Err(err(line_no, "unknown line type")),
            }
        }
        let version = version.ok_or(err(1, "empty SDP"))?;
        if version != 0 {
            return Err(err(1, "unsupported SDP version"));
        }
        Ok(Self {
            version,
            origin: origin.ok_or(err(1, "missing o= line"))?,
            session_name: session_name.unwrap_or_else(|| "-".into()),
            connection,
            bandwidths,
            timing: timing.unwrap_or((0, 0)),
            attributes,
            media,
        })
    }

    /// Increment `o=` session version (required whenever a re-offer/answer changes the SDP).
    pub fn bump_version(&mut self) {
        self.origin.session_version = self.origin.session_version.wrapping_add(1);
    }

    /// Session-level direction attribute, if any.
    pub fn direction(&self) -> Option<Direction> {
        self.attributes.iter().find_map(|a| Direction::from_attribute(&a.name))
    }

    /// Effective direction of media section `m` (media level beats session level).
    pub fn media_direction(&self, m: &MediaDescription) -> Direction {
        m.direction().or_else(|| self.direction()).unwrap_or(Direction::SendRecv)
    }

    /// Effective connection of media section `m`.
    pub fn media_connection<'a>(&'a self, m: &'a MediaDescription) -> Option<&'a Connection> {
        m.connection.as_ref().or(self.connection.as_ref())
    }

    /// Effective ptime of `m` (media level, then session level).
    pub fn media_ptime(&self, m: &MediaDescription) -> Option<u32> {
        m.ptime().or_else(|| {
            self.attributes
                .iter()
                .find(|a| a.name == "ptime")
                .and_then(|a| a.value.as_deref())
                .and_then(|v| v.trim().parse().ok())
        })
    }

    /// Serialize with CRLF line endings in RFC 4566 order.
    pub fn to_sdp_string(&self) -> String {
        let mut s = String::with_capacity(256);
        let o = &self.origin;
        let _ = write!(s, "v={}\r\n", self.version);
        let _ = write!(
            s,
            "o={} {} {} {} {} {}\r\n",
            o.username, o.session_id, o.session_version, o.net_type, o.addr_type, o.address
        );
        let name = if self.session_name.is_empty() { "-" } else { &self.session_name };
        let _ = write!(s, "s={name}\r\n");
        if let Some(c) = &self.connection {
            write_connection(&mut s, c);
        }
        for b in &self.bandwidths {
            let _ = write!(s, "b={b}\r\n");
        }
        let _ = write!(s, "t={} {}\r\n", self.timing.0, self.timing.1);
        for a in &self.attributes {
            write_attribute(&mut s, a);
        }
        for m in &self.media {
            let _ = write!(s, "m={} {}", m.media, m.port);
            if let Some(n) = m.port_count {
                let _ = write!(s, "/{n}");
            }
            let _ = write!(s, " {}", m.proto);
            for f in &m.formats {
                let _ = write!(s, " {f}");
            }
            s.push_str("\r\n");
            if let Some(c) = &m.connection {
                write_connection(&mut s, c);
            }
            for b in &m.bandwidths {
                let _ = write!(s, "b={b}\r\n");
            }
            for a in &m.attributes {
                write_attribute(&mut s, a);
            }
        }
        s
    }
}

impl std::fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_sdp_string())
    }
}

impl std::str::FromStr for SessionDescription {
    type Err = SdpError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn write_connection(s: &mut String, c: &Connection) {
    let _ = write!(s, "c={} {} {}\r\n", c.net_type, c.addr_type, c.address);
}

fn write_attribute(s: &mut String, a: &Attribute) {
    match &a.value {
        Some(v) => {
            let _ = write!(s, "a={}:{}\r\n", a.name, v);
        }
        None => {
            let _ = write!(s, "a={}\r\n", a.name);
        }
    }
}

/// `o=` numbers: some UAs send more digits than fit a u64; those saturate instead of failing.
fn parse_u64_lenient(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u64::MAX))
}

fn parse_connection(value: &str) -> Option<Connection> {
    let f: Vec<&str> = value.split_whitespace().collect();
    let [net_type, addr_type, address] = f.as_slice() else {
        return None;
    };
    Some(Connection { net_type: (*net_type).into(), addr_type: (*addr_type).into(), address: (*address).into() })
}

fn parse_media(value: &str) -> Option<MediaDescription> {
    let mut f = value.split_whitespace();
    let media = f.next()?.to_string();
    let port_field = f.next()?;
    let (port, port_count) = match port_field.split_once('/') {
        Some((p, n)) => (p.parse().ok()?, Some(n.parse().ok()?)),
        None => (port_field.parse().ok()?, None),
    };
    let proto = f.next()?.to_string();
    let formats: Vec<String> = f.map(str::to_string).collect();
    Some(MediaDescription {
        media,
        port,
        port_count,
        proto,
        formats,
        connection: None,
        bandwidths: Vec::new(),
        attributes: Vec::new(),
    })
}

#[cfg(test)]
mod tests;
