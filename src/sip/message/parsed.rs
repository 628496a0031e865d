//! The parsed SIP message: one `Bytes` buffer plus an index of start-line and header byte
//! ranges built in a single pass (one `Vec` allocation). Typed headers are parsed on demand by
//! the accessors, so a broken CSeq does not stop the transport from reading the Via. Also owns
//! datagram parsing, TCP stream framing (incl. RFC 5626 CRLF keep-alives) and the lenient
//! salvage used to answer unparseable requests with a 400.

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{bad_value, err, ParseError, ParseErrorKind};
use super::headers::{parse_delta_seconds, CSeq, Contacts, NameAddr, Via};
use super::method::Method;
use super::names::HeaderId;
use super::syntax::{is_token, parse_digits_u64, split_commas, split_commas_strict, trim_ws, CommaSplit};
use super::uri::{Uri, UriParts};

/// Largest accepted header section (start line + headers), in bytes.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Largest accepted Content-Length, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A byte range into the message buffer, kept small for the inline index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        // Messages are capped far below 4 GiB by MAX_HEADER_BYTES / MAX_BODY_BYTES.
        Span { start: u32::try_from(start).unwrap_or(u32::MAX), end: u32::try_from(end).unwrap_or(u32::MAX) }
    }

    fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

#[derive(Debug, Clone, Copy)]
struct HeaderEntry {
    id: HeaderId,
    name: Span,
    value: Span,
    /// The value spans folded continuation lines.
    folded: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum StartLine {
    Request { method: Method, uri: Span },
    Response { status: u16, reason: Span },
}

/// A parsed SIP request or response over a shared `Bytes` buffer.
#[derive(Debug, Clone)]
pub struct SipMessage {
    buf: Bytes,
    start: StartLine,
    headers: Vec<HeaderEntry>,
    body: Bytes,
    content_length: Option<usize>,
}

/// Result of the header-section scan.
struct Scan {
    start_line: Span,
    headers: Vec<HeaderEntry>,
    body_start: usize,
    any_folded: bool,
}

/// Returns (content end excluding CR/LF, start of next line) for the line at `pos`.
fn next_line(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let rel = memchr::memchr(b'\n', buf.get(pos..)?)?;
    let nl = pos + rel;
    let end = if nl > pos && buf[nl - 1] == b'\r' { nl - 1 } else { nl };
    Some((end, nl + 1))
}

/// Number of leading CR/LF bytes (keep-alives before a start line, RFC 3261 7.5).
pub fn leading_crlf_len(buf: &[u8]) -> usize {
    buf.iter().take_while(|&&b| b == b'\r' || b == b'\n').count()
}

fn is_sp_ht(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Scans start line and header lines from `start`. In lenient mode malformed lines are skipped
/// and a missing blank line ends the headers at the end of the buffer.
fn scan(buf: &[u8], start: usize, strict: bool) -> Result<Scan, ParseError> {
    const TOO_LARGE: ParseError = err(ParseErrorKind::HeadersTooLarge, "Header Section Too Large");
    const NO_END: ParseError = err(ParseErrorKind::Truncated, "Incomplete Header Section");
    let limit = start.saturating_add(MAX_HEADER_BYTES);
    let (sl_end, mut pos) = match next_line(buf, start) {
        Some(x) => x,
        None if strict => return Err(NO_END),
        None => (buf.len(), buf.len()),
    };
    if sl_end > limit {
        return Err(TOO_LARGE);
    }
    let mut headers = Vec::with_capacity(20);
    let mut any_folded = false;
    let body_start;
    loop {
        if pos > limit {
            if strict {
                return Err(TOO_LARGE);
            }
            // Salvage reads what fits in the cap (the Via is near the top).
            body_start = pos;
            break;
        }
        let (end, next) = match next_line(buf, pos) {
            Some(x) => x,
            // A datagram whose last header line ends exactly at the end of the buffer
            // (missing the empty line) is accepted with an empty body.
            None if pos == buf.len() && pos > start => {
                body_start = buf.len();
                break;
            }
            None if strict => {
                return Err(if buf.len() > limit { TOO_LARGE } else { NO_END });
            }
            None if pos >= buf.len() => {
                body_start = buf.len();
                break;
            }
            None => (buf.len(), buf.len()),
        };
        if end == pos {
            body_start = next;
            break;
        }
        let first = buf[pos];
        if is_sp_ht(first) {
            match headers.last_mut() {
                Some(h) => {
                    let h: &mut HeaderEntry = h;
                    let mut vend = end;
                    while vend > pos && is_sp_ht(buf[vend - 1]) {
                        vend -= 1;
                    }
                    if vend > pos {
                        h.value.end = Span::new(0, vend).end;
                        h.folded = true;
                        any_folded = true;
                    }
                }
                None if strict => {
                    return Err(err(ParseErrorKind::BadHeaderLine, "Bad Header Line"));
                }
                None => {}
            }
        } else {
            let line = &buf[pos..end];
            let Some(colon) = memchr::memchr(b':', line) else {
                if strict {
                    return Err(err(ParseErrorKind::BadHeaderLine, "Bad Header Line"));
                }
                pos = next;
                continue;
            };
            let mut name_end = colon;
            while name_end > 0 && is_sp_ht(line[name_end - 1]) {
                name_end -= 1;
            }
            let name = &line[..name_end];
            if name.is_empty() || !name.iter().all(|&b| super::syntax::is_token_char(b)) {
                if strict {
                    return Err(err(ParseErrorKind::BadHeaderLine, "Bad Header Name"));
                }
                pos = next;
                continue;
            }
            let mut vstart = colon + 1;
            while vstart < line.len() && is_sp_ht(line[vstart]) {
                vstart += 1;
            }
            let mut vend = line.len();
            while vend > vstart && is_sp_ht(line[vend - 1]) {
                vend -= 1;
            }
            headers.push(HeaderEntry {
                id: HeaderId::from_name(name),
                name: Span::new(pos, pos + name_end),
                value: Span::new(pos + vstart, pos + vend),
                folded: false,
            });
        }
        pos = next;
    }
    if strict && body_start > limit.saturating_add(2) {
        return Err(TOO_LARGE);
    }
    Ok(Scan { start_line: Span::new(start, sl_end), headers, body_start, any_folded })
}

/// Copies the buffer, turning folded line breaks into spaces and invalid UTF-8 in the header
/// section into '?', so every header value is a valid `&str` at the same offsets.
fn normalize(buf: &Bytes, headers: &[HeaderEntry], header_end: usize) -> Bytes {
    let mut m = BytesMut::from(&buf[..]);
    for h in headers.iter().filter(|h| h.folded) {
        if let Some(v) = m.get_mut(h.value.range()) {
            for b in v.iter_mut() {
                if *b == b'\r' || *b == b'\n' {
                    *b = b' ';
                }
            }
        }
    }
    let mut pos = 0;
    while let Some(section) = m.get_mut(pos..header_end) {
        match std::str::from_utf8(section) {
            Ok(_) => break,
            Err(e) => {
                let bad_start = e.valid_up_to();
                let bad_len = e.error_len().unwrap_or(section.len() - bad_start);
                for b in &mut section[bad_start..bad_start + bad_len] {
                    *b = b'?';
                }
                pos += bad_start + bad_len;
            }
        }
    }
    m.freeze()
}

fn check_version(v: &str) -> Result<(), ParseError> {
    let b = v.as_bytes();
    let has_prefix = b.len() > 4 && b[..4].eq_ignore_ascii_case(b"SIP/");
    if has_prefix && &b[4..] == b"2.0" {
        return Ok(());
    }
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    let is_version_shaped = has_prefix
        && b[4..].iter().position(|&c| c == b'.').is_some_and(|dot| digits(&b[4..4 + dot]) && digits(&b[5 + dot..]));
    if is_version_shaped {
        Err(err(ParseErrorKind::UnsupportedVersion, "Version Not Supported"))
    } else {
        Err(err(ParseErrorKind::BadStartLine, "Bad SIP Version"))
    }
}

fn parse_start_line(line: &str, offset: usize) -> Result<StartLine, ParseError> {
    const BAD: ParseError = err(ParseErrorKind::BadStartLine, "Bad Start Line");
    if line.len() >= 4 && line.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/") {
        let (version, rest) = line.split_once(' ').ok_or(BAD)?;
        check_version(version)?;
        let code = rest.get(..3).ok_or(BAD)?;
        if !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BAD);
        }
        let status: u16 = code.parse().map_err(|_| BAD)?;
        if !(100..=699).contains(&status) {
            return Err(BAD);
        }
        let after = &rest[3..];
        let reason_start = match after.as_bytes().first() {
            None => line.len(),
            Some(b' ') => line.len() - after.len() + 1,
            Some(_) => return Err(BAD),
        };
        if line[reason_start..].bytes().any(|b| b < 0x20 && b != b'\t') {
            return Err(BAD);
        }
        return Ok(StartLine::Response { status, reason: Span::new(offset + reason_start, offset + line.len()) });
    }
    let mut parts = line.split(' ');
    let (Some(m), Some(uri), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(BAD);
    };
    let method = Method::parse(m).ok_or(err(ParseErrorKind::BadStartLine, "Bad Method"))?;
    check_version(version)?;
    let parts = UriParts::parse(uri).map_err(|_| err(ParseErrorKind::BadUri, "Bad Request-URI"))?;
    if !parts.is_supported_scheme() {
        return Err(err(ParseErrorKind::UnsupportedUriScheme, "Unsupported URI Scheme"));
    }
    if parts.headers.is_some() {
        return Err(err(ParseErrorKind::BadUri, "Headers in Request-URI"));
    }
    let uri_start = offset + m.len() + 1;
    Ok(StartLine::Request { method, uri: Span::new(uri_start, uri_start + uri.len()) })
}

fn parse_content_length(v: &str) -> Result<usize, ParseError> {
    const BAD: ParseError = err(ParseErrorKind::BadContentLength, "Bad Content-Length");
    let v = trim_ws(v);
    let n = parse_digits_u64(v).ok_or(BAD)?;
    if n > MAX_BODY_BYTES as u64 {
        return Err(err(ParseErrorKind::BodyTooLarge, "Message Body Too Large"));
    }
    usize::try_from(n).map_err(|_| BAD)
}

/// What the start of a stream buffer holds (see [`next_stream_item`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamItem {
    /// RFC 5626 ping: "\r\n\r\n" (4 bytes); answer with a pong "\r\n".
    Ping,
    /// A lone "\r\n" (2 bytes): a pong, or stray CRLF before a start line; discard.
    Pong,
    /// A complete message of this many bytes (headers + Content-Length body).
    Message(usize),
}

impl StreamItem {
    /// Bytes to consume from the stream buffer.
    pub fn len(&self) -> usize {
        match self {
            StreamItem::Ping => 4,
            StreamItem::Pong => 2,
            StreamItem::Message(n) => *n,
        }
    }

    /// Never true; present for clippy's len-without-is-empty convention.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Classifies the start of a TCP/TLS receive buffer: keep-alive ping/pong, a complete message,
/// or `None` when more bytes are needed. A buffer holding exactly "\r\n" is `None` because it
/// may be the first half of a ping; a client waiting for the pong to its own ping can instead
/// discard [`leading_crlf_len`] bytes itself.
pub fn next_stream_item(buf: &[u8]) -> Result<Option<StreamItem>, ParseError> {
    if buf.starts_with(b"\r\n\r\n") {
        return Ok(Some(StreamItem::Ping));
    }
    if buf.starts_with(b"\r\n") {
        // "\r\n" or "\r\n\r" may still grow into a ping.
        if buf.len() == 2 || (buf.len() == 3 && buf[2] == b'\r') {
            return Ok(None);
        }
        return Ok(Some(StreamItem::Pong));
    }
    Ok(frame_stream(buf)?.map(StreamItem::Message))
}

/// Stream framing: the length of the first complete message in `buf` (including any leading
/// CRLF, which [`SipMessage::parse`] skips), or `None` if more bytes are needed. Content-Length
/// is mandatory on streams; header sections over [`MAX_HEADER_BYTES`] are an error.
pub fn frame_stream(buf: &[u8]) -> Result<Option<usize>, ParseError> {
    let start = leading_crlf_len(buf);
    if start == buf.len() {
        return Ok(None);
    }
    let limit = start.saturating_add(MAX_HEADER_BYTES);
    let mut pos = match next_line(buf, start) {
        Some((_, next)) => next,
        None if buf.len() > limit => return Err(err(ParseErrorKind::HeadersTooLarge, "Header Section Too Large")),
        None => return Ok(None),
    };
    let mut content_length: Option<usize> = None;
    loop {
        if pos > limit {
            return Err(err(ParseErrorKind::HeadersTooLarge, "Header Section Too Large"));
        }
        let Some((end, next)) = next_line(buf, pos) else {
            if buf.len() > limit {
                return Err(err(ParseErrorKind::HeadersTooLarge, "Header Section Too Large"));
            }
            return Ok(None);
        };
        if end == pos {
            let Some(cl) = content_length else {
                return Err(err(ParseErrorKind::BadContentLength, "Missing Content-Length"));
            };
            let total = next + cl;
            return Ok((buf.len() >= total).then_some(total));
        }
        let line = &buf[pos..end];
        // Continuation lines belong to the previous header (same rule as the parser, so the
        // framer and the parser never disagree about Content-Length).
        let is_continuation = line.first().is_some_and(|&b| is_sp_ht(b));
        if let Some(colon) = memchr::memchr(b':', line).filter(|_| !is_continuation) {
            let name = trim_ws(std::str::from_utf8(&line[..colon]).unwrap_or(""));
            if HeaderId::from_name(name.as_bytes()) == HeaderId::ContentLength {
                let v = std::str::from_utf8(&line[colon + 1..]).unwrap_or("x");
                let n = parse_content_length(v)?;
                if content_length.is_some_and(|c| c != n) {
                    return Err(err(ParseErrorKind::BadContentLength, "Conflicting Content-Length"));
                }
                content_length = Some(n);
            }
        }
        pos = next;
    }
}

impl SipMessage {
    /// Parses one datagram (or one framed stream message). A Content-Length larger than the
    /// remaining bytes is an error; extra bytes beyond it are ignored; without Content-Length
    /// the body is the rest of the buffer.
    pub fn parse(buf: Bytes) -> Result<SipMessage, ParseError> {
        let start = leading_crlf_len(&buf);
        if start == buf.len() {
            return Err(err(ParseErrorKind::Empty, "Empty Message"));
        }
        let scan = scan(&buf, start, true)?;
        let needs_copy =
            scan.any_folded || std::str::from_utf8(buf.get(start..scan.body_start).unwrap_or(&[])).is_err();
        let mut buf = if needs_copy { normalize(&buf, &scan.headers, scan.body_start) } else { buf };
        let line = std::str::from_utf8(buf.get(scan.start_line.range()).unwrap_or(&[]))
            .map_err(|_| err(ParseErrorKind::BadStartLine, "Bad Start Line"))?;
        let start_line = parse_start_line(line, start)?;
        let mut content_length = None;
        for h in scan.headers.iter().filter(|h| h.id == HeaderId::ContentLength) {
            let v = std::str::from_utf8(buf.get(h.value.range()).unwrap_or(&[])).unwrap_or("x");
            let n = parse_content_length(v)?;
            if content_length.is_some_and(|c| c != n) {
                return Err(err(ParseErrorKind::BadContentLength, "Conflicting Content-Length"));
            }
            content_length = Some(n);
        }
        let body_end = match content_length {
            Some(n) => {
                let end = scan.body_start + n;
                if end > buf.len() {
                    return Err(err(ParseErrorKind::Truncated, "Body Shorter Than Content-Length"));
                }
                end
            }
            None => buf.len(),
        };
        buf.truncate(body_end);
        let body = buf.slice(scan.body_start.min(body_end)..body_end);
        Ok(SipMessage { buf, start: start_line, headers: scan.headers, body, content_length })
    }

    /// The whole message as received (truncated to the Content-Length body).
    pub fn raw(&self) -> &Bytes {
        &self.buf
    }

    fn str_at(&self, span: Span) -> &str {
        self.buf.get(span.range()).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("")
    }

    fn value_of(&self, h: &HeaderEntry) -> &str {
        trim_ws(self.str_at(h.value))
    }

    fn entries_by_id(&self, id: HeaderId) -> impl Iterator<Item = &HeaderEntry> + '_ {
        self.headers.iter().filter(move |h| h.id == id)
    }

    fn entries<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a HeaderEntry> + 'a {
        let id = HeaderId::from_name(name.as_bytes());
        self.headers
            .iter()
            .filter(move |h| h.id == id && (id != HeaderId::Other || self.str_at(h.name).eq_ignore_ascii_case(name)))
    }

    /// True for requests, false for responses.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method (`None` for responses).
    pub fn method(&self) -> Option<Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method.clone()),
            StartLine::Response { .. } => None,
        }
    }

    /// The request method by reference (`None` for responses).
    pub fn method_ref(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI as written (`None` for responses). It was validated at parse time.
    pub fn request_uri_str(&self) -> Option<&str> {
        match self.start {
            StartLine::Request { uri, .. } => Some(self.str_at(uri)),
            StartLine::Response { .. } => None,
        }
    }

    /// The parsed Request-URI; an error for responses.
    pub fn request_uri(&self) -> Result<Uri, ParseError> {
        let s = self.request_uri_str().ok_or(err(ParseErrorKind::WrongMessageKind, "Not A Request"))?;
        Uri::parse(s)
    }

    /// The status code (`None` for requests).
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase (`None` for requests; may be empty).
    pub fn reason(&self) -> Option<&str> {
        match self.start {
            StartLine::Response { reason, .. } => Some(self.str_at(reason)),
            StartLine::Request { .. } => None,
        }
    }

    /// The whole value of the first header line with this name (any case, long or compact
    /// form), trimmed; folded continuation lines appear as spaces. For list headers
    /// (`Via: a, b`) this is the whole line; use [`Self::header_values`] for single elements.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.entries(name).next().map(|h| self.value_of(h))
    }

    /// Every header line with this name, whole values, in order.
    pub fn header_lines<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries(name).map(|h| self.value_of(h))
    }

    /// Every comma-separated value across all lines of this header (commas inside quotes or
    /// `<...>` do not split; headers whose grammar is not a list, e.g. Date, are not split).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let split = !HeaderId::from_name(name.as_bytes()).is_single_valued();
        self.entries(name).flat_map(move |h| {
            let v = self.value_of(h);
            if split {
                split_commas(v)
            } else {
                CommaSplit::whole(v)
            }
        })
    }

    /// All headers as (name as written, trimmed value), in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.headers.iter().map(|h| (self.str_at(h.name), self.value_of(h)))
    }

    /// The message body (exactly Content-Length bytes when the header is present).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    fn single(&self, id: HeaderId, missing: &'static str) -> Result<&str, ParseError> {
        let mut it = self.entries_by_id(id);
        let first = it.next().ok_or(err(ParseErrorKind::MissingHeader, missing))?;
        let v = self.value_of(first);
        if it.any(|h| self.value_of(h) != v) {
            return Err(err(ParseErrorKind::DuplicateHeader, missing_to_dup(id)));
        }
        Ok(v)
    }

    /// All Via values, top first.
    pub fn vias(&self) -> Result<Vec<Via>, ParseError> {
        let mut out = Vec::new();
        for h in self.entries_by_id(HeaderId::Via) {
            for v in split_commas_strict(self.value_of(h))? {
                out.push(Via::parse(v)?);
            }
        }
        if out.is_empty() {
            return Err(err(ParseErrorKind::MissingHeader, "Missing Via"));
        }
        Ok(out)
    }

    /// The topmost Via (only that value is parsed, so a broken lower Via does not matter).
    pub fn top_via(&self) -> Result<Via, ParseError> {
        let h = self.entries_by_id(HeaderId::Via).next().ok_or(err(ParseErrorKind::MissingHeader, "Missing Via"))?;
        let first = split_commas(self.value_of(h)).next().ok_or(bad_value("Bad Via"))?;
        Via::parse(first)
    }

    /// The Call-ID (exactly one). Accepted liberally: any visible ASCII without whitespace
    /// (RFC 3261 `word [@ word]` is stricter, but carriers send e.g. base64 with '=').
    pub fn call_id(&self) -> Result<&str, ParseError> {
        let v = self.single(HeaderId::CallId, "Missing Call-ID")?;
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad_value("Bad Call-ID"));
        }
        Ok(v)
    }

    /// The CSeq (exactly one).
    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        CSeq::parse(self.single(HeaderId::CSeq, "Missing CSeq")?)
    }

    /// The From header (exactly one).
    pub fn from(&self) -> Result<NameAddr, ParseError> {
        NameAddr::parse(self.single(HeaderId::From, "Missing From")?).map_err(|e| bad_value_with(e, "Bad From"))
    }

    /// The To header (exactly one).
    pub fn to(&self) -> Result<NameAddr, ParseError> {
        NameAddr::parse(self.single(HeaderId::To, "Missing To")?).map_err(|e| bad_value_with(e, "Bad To"))
    }

    /// The Contact header(s): `*` or the list of addresses (empty when absent).
    pub fn contacts(&self) -> Result<Contacts, ParseError> {
        let mut list = Vec::new();
        let mut star = false;
        for h in self.entries_by_id(HeaderId::Contact) {
            for v in split_commas_strict(self.value_of(h)).map_err(|e| bad_value_with(e, "Bad Contact"))? {
                if v == "*" {
                    star = true;
                } else {
                    list.push(NameAddr::parse(v).map_err(|e| bad_value_with(e, "Bad Contact"))?);
                }
            }
        }
        match (star, list.is_empty()) {
            (true, true) => Ok(Contacts::Wildcard),
            (true, false) => Err(bad_value("Contact * Mixed With Addresses")),
            (false, _) => Ok(Contacts::List(list)),
        }
    }

    fn name_addr_list(&self, id: HeaderId, what: &'static str) -> Result<Vec<NameAddr>, ParseError> {
        let mut out = Vec::new();
        for h in self.entries_by_id(id) {
            for v in split_commas_strict(self.value_of(h)).map_err(|e| bad_value_with(e, what))? {
                out.push(NameAddr::parse(v).map_err(|e| bad_value_with(e, what))?);
            }
        }
        Ok(out)
    }

    /// Route entries in order (empty when absent).
    pub fn route(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.name_addr_list(HeaderId::Route, "Bad Route")
    }

    /// Record-Route entries in order (empty when absent).
    pub fn record_route(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.name_addr_list(HeaderId::RecordRoute, "Bad Record-Route")
    }

    /// Max-Forwards (0..=255); `None` when absent.
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        if self.entries_by_id(HeaderId::MaxForwards).next().is_none() {
            return Ok(None);
        }
        let v = self.single(HeaderId::MaxForwards, "Missing Max-Forwards")?;
        parse_digits_u64(v).and_then(|n| u8::try_from(n).ok()).map(Some).ok_or(bad_value("Bad Max-Forwards"))
    }

    /// The Expires header in seconds (saturating at u32::MAX); `None` when absent.
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        if self.entries_by_id(HeaderId::Expires).next().is_none() {
            return Ok(None);
        }
        let v = self.single(HeaderId::Expires, "Missing Expires")?;
        parse_delta_seconds(v).map(Some).ok_or(bad_value("Bad Expires"))
    }

    /// The Content-Type value as written (`type/subtype;params`), if present.
    pub fn content_type(&self) -> Option<&str> {
        self.entries_by_id(HeaderId::ContentType).next().map(|h| self.value_of(h))
    }

    /// The Content-Type validated as `type "/" subtype *(;param)`; returns the lower-cased
    /// `type/subtype` essence. `Ok(None)` when absent.
    pub fn media_type(&self) -> Result<Option<String>, ParseError> {
        let Some(v) = self.content_type() else {
            return Ok(None);
        };
        let (essence, params) = match v.find(';') {
            Some(i) => (&v[..i], &v[i..]),
            None => (v, ""),
        };
        let (t, s) = essence.split_once('/').ok_or(bad_value("Bad Content-Type"))?;
        let (t, s) = (trim_ws(t), trim_ws(s));
        if !is_token(t) || !is_token(s) {
            return Err(bad_value("Bad Content-Type"));
        }
        super::syntax::parse_generic_params(params).map_err(|_| bad_value("Bad Content-Type"))?;
        Ok(Some(format!("{}/{}", t.to_ascii_lowercase(), s.to_ascii_lowercase())))
    }

    /// The Content-Length header value (validated at parse time); `None` when absent.
    pub fn content_length(&self) -> Option<usize> {
        self.content_length
    }

    /// The raw Authorization value (first line), if present.
    pub fn authorization(&self) -> Option<&str> {
        self.entries_by_id(HeaderId::Authorization).next().map(|h| self.value_of(h))
    }

    /// The raw Proxy-Authorization value (first line), if present.
    pub fn proxy_authorization(&self) -> Option<&str> {
        self.entries_by_id(HeaderId::ProxyAuthorization).next().map(|h| self.value_of(h))
    }

    /// The Date header validated as RFC 1123 `wkday, DD Mon YYYY HH:MM:SS GMT`; `Ok(None)`
    /// when absent.
    pub fn date(&self) -> Result<Option<&str>, ParseError> {
        if self.entries_by_id(HeaderId::Date).next().is_none() {
            return Ok(None);
        }
        let v = self.single(HeaderId::Date, "Missing Date")?;
        if is_rfc1123_date(v) {
            Ok(Some(v))
        } else {
            Err(bad_value("Bad Date"))
        }
    }

    /// Checks what every request/response needs before a transaction layer may use it:
    /// Via, From, To, Call-ID, CSeq parse; for requests CSeq method equals the request method
    /// and Max-Forwards (if present) is valid. Answer failures with `Response::for_request`
    /// and `err.status_code()` (when the message is a request other than ACK).
    pub fn validate(&self) -> Result<(), ParseError> {
        self.top_via()?;
        self.vias()?;
        self.from()?;
        self.to()?;
        self.call_id()?;
        let cseq = self.cseq()?;
        if let StartLine::Request { method, .. } = &self.start {
            if &cseq.method != method {
                return Err(err(ParseErrorKind::CSeqMethodMismatch, "CSeq Method Does Not Match"));
            }
            self.max_forwards()?;
        }
        Ok(())
    }

    /// Raw header entries for the builder: (id, name as written, value with folding
    /// normalized) as zero-copy slices of the buffer.
    pub(crate) fn raw_headers(&self) -> impl Iterator<Item = (HeaderId, Bytes, Bytes)> + '_ {
        self.headers.iter().map(|h| {
            let name = self.buf.slice(h.name.range());
            let value = self.buf.slice(h.value.range());
            (h.id, name, trim_bytes(value))
        })
    }

    /// The start line owned, for the builder.
    pub(crate) fn start_line_parts(&self) -> (Option<Method>, Option<Bytes>, Option<u16>, Option<Bytes>) {
        match &self.start {
            StartLine::Request { method, uri } => (Some(method.clone()), Some(self.buf.slice(uri.range())), None, None),
            StartLine::Response { status, reason } => (None, None, Some(*status), Some(self.buf.slice(reason.range()))),
        }
    }

    /// Builds the error response for bytes that failed [`SipMessage::parse`] (or
    /// [`SipMessage::validate`]): `Some` only when the message is a request other than ACK
    /// whose top Via is readable; otherwise drop it. `to_tag` is added to To if it has none.
    pub fn error_response(buf: &[u8], error: &ParseError, to_tag: Option<&str>) -> Option<Bytes> {
        if error.kind() == ParseErrorKind::Empty {
            return None;
        }
        let salvaged = salvage_headers(buf)?;
        Some(salvaged.error_response(error.status_code(), error.reason_phrase(), to_tag))
    }
}

fn trim_bytes(mut b: Bytes) -> Bytes {
    let start = b.iter().take_while(|&&c| super::syntax::is_ws(c)).count();
    let _ = b.split_to(start);
    let end = b.len() - b.iter().rev().take_while(|&&c| super::syntax::is_ws(c)).count();
    b.truncate(end);
    b
}

fn missing_to_dup(id: HeaderId) -> &'static str {
    match id {
        HeaderId::CallId => "Multiple Call-ID",
        HeaderId::CSeq => "Multiple CSeq",
        HeaderId::From => "Multiple From",
        HeaderId::To => "Multiple To",
        HeaderId::MaxForwards => "Multiple Max-Forwards",
        HeaderId::Expires => "Multiple Expires",
        HeaderId::Date => "Multiple Date",
        _ => "Duplicate Header",
    }
}

/// Keeps the error kind of header-level failures but names the header in the reason.
fn bad_value_with(e: ParseError, reason: &'static str) -> ParseError {
    match e.kind() {
        ParseErrorKind::BadHeaderValue | ParseErrorKind::BadUri => bad_value(reason),
        _ => e,
    }
}

fn is_rfc1123_date(v: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let Some((day, rest)) = v.split_once(", ") else {
        return false;
    };
    let f: Vec<&str> = rest.split(' ').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let time_ok = |s: &str| {
        let t: Vec<&str> = s.split(':').collect();
        t.len() == 3 && t.iter().all(|x| digits(x, 2))
    };
    DAYS.contains(&day)
        && f.len() == 5
        && digits(f[0], 2)
        && MONTHS.contains(&f[1])
        && digits(f[2], 4)
        && time_ok(f[3])
        && f[4] == "GMT"
}

/// The headers a 4xx/5xx to an unparseable request needs, read leniently from raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalvagedHeaders {
    /// Request method token as written.
    pub method: String,
    /// Every Via value in order (folding normalized).
    pub vias: Vec<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub call_id: Option<String>,
    pub cseq: Option<String>,
}

fn lossy_value(buf: &[u8], h: &HeaderEntry) -> String {
    let raw = buf.get(h.value.range()).unwrap_or(&[]);
    let s = String::from_utf8_lossy(raw).replace(['\r', '\n'], " ");
    trim_ws(&s).to_owned()
}

/// Reads Via/From/To/Call-ID/CSeq from bytes that may not parse as a whole. Returns `None`
/// for responses, ACKs, and messages whose top Via does not parse (those are dropped).
pub fn salvage_headers(buf: &[u8]) -> Option<SalvagedHeaders> {
    let start = leading_crlf_len(buf);
    let scan = scan(buf, start, false).ok()?;
    let line = buf.get(scan.start_line.range())?;
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        return None;
    }
    let method_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let method = String::from_utf8_lossy(&line[..method_end]).into_owned();
    if method == "ACK" || !is_token(&method) {
        return None;
    }
    let mut vias = Vec::new();
    let (mut from, mut to, mut call_id, mut cseq) = (None, None, None, None);
    for h in &scan.headers {
        match h.id {
            HeaderId::Via => vias.push(lossy_value(buf, h)),
            HeaderId::From if from.is_none() => from = Some(lossy_value(buf, h)),
            HeaderId::To if to.is_none() => to = Some(lossy_value(buf, h)),
            HeaderId::CallId if call_id.is_none() => call_id = Some(lossy_value(buf, h)),
            HeaderId::CSeq if cseq.is_none() => cseq = Some(lossy_value(buf, h)),
            _ => {}
        }
    }
    let top = vias.first()?;
    Via::parse_any_version(split_commas(top).next()?).ok()?;
    Some(SalvagedHeaders { method, vias, from, to, call_id, cseq })
}

impl SalvagedHeaders {
    /// Serializes a response (`Content-Length: 0`) echoing the salvaged headers.
    pub fn error_response(&self, status: u16, reason: &str, to_tag: Option<&str>) -> Bytes {
        let mut out = BytesMut::with_capacity(512);
        out.put_slice(b"SIP/2.0 ");
        out.put_slice(status.to_string().as_bytes());
        out.put_u8(b' ');
        put_clean(&mut out, reason);
        out.put_slice(b"\r\n");
        for v in &self.vias {
            put_header(&mut out, "Via", v);
        }
        if let Some(f) = &self.from {
            put_header(&mut out, "From", f);
        }
        if let Some(t) = &self.to {
            match to_tag {
                Some(tag) if !has_tag_param(t) => put_header(&mut out, "To", &format!("{t};tag={tag}")),
                _ => put_header(&mut out, "To", t),
            }
        }
        if let Some(c) = &self.call_id {
            put_header(&mut out, "Call-ID", c);
        }
        if let Some(c) = &self.cseq {
            put_header(&mut out, "CSeq", c);
        }
        out.put_slice(b"Content-Length: 0\r\n\r\n");
        out.freeze()
    }
}

/// Whether a From/To value carries a `tag` parameter (outside the `<URI>`).
pub(crate) fn has_tag_param(v: &str) -> bool {
    let after = match v.rfind('>') {
        Some(i) => &v[i..],
        None => v,
    };
    after.split(';').skip(1).any(|p| trim_ws(p.split('=').next().unwrap_or("")).eq_ignore_ascii_case("tag"))
}

/// Writes bytes with CR/LF replaced by spaces (no header injection).
pub(crate) fn put_clean(out: &mut BytesMut, s: &str) {
    for &b in s.as_bytes() {
        out.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
    }
}

pub(crate) fn put_header(out: &mut BytesMut, name: &str, value: &str) {
    put_clean(out, name);
    out.put_slice(b": ");
    put_clean(out, value);
    out.put_slice(b"\r\n");
}
