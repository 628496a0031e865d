//! Low-level RFC 3261 grammar helpers shared by the header and URI parsers: character classes,
//! whitespace trimming, quoted strings, comma splitting that respects quotes and angle brackets,
//! and generic `;name=value` parameter lists.

use super::error::{bad_value, ParseError};

/// A generic parameter: name and optional value, both as written (quoted values keep quotes).
pub type Param = (String, Option<String>);

/// RFC 3261 `token` character.
pub fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~')
}

/// Non-empty and made only of token characters.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// RFC 3261 `unreserved` (alphanum / mark).
pub fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')')
}

/// LWS characters after line folding has been normalized to spaces.
pub fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Trims SP/HT/CR/LF on both sides.
pub fn trim_ws(s: &str) -> &str {
    s.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r' || c == '\n')
}

/// Checks that every `%` in `s` starts a two-hex-digit escape and every other byte passes `ok`.
pub fn check_escaped(s: &str, ok: impl Fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            match (b.get(i + 1), b.get(i + 2)) {
                (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i += 3,
                _ => return false,
            }
        } else if ok(b[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// Given `s` starting with `"`, returns the byte index just past the closing quote.
pub fn quoted_string_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Removes the quotes and backslash escapes of a complete quoted string.
pub fn unquote(s: &str) -> String {
    let inner = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Quotes `s` as a quoted-string, escaping `"` and `\`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Splits a header value at top-level commas (outside quoted strings and `<...>`), yielding
/// trimmed, non-empty elements. Unbalanced quotes make the rest one element.
pub fn split_commas(s: &str) -> CommaSplit<'_> {
    CommaSplit { rest: s, split: true }
}

/// Iterator returned by [`split_commas`].
#[derive(Debug, Clone)]
pub struct CommaSplit<'a> {
    rest: &'a str,
    split: bool,
}

impl<'a> CommaSplit<'a> {
    /// Yields `s` (trimmed) once, unsplit, unless it is empty.
    pub fn whole(s: &'a str) -> CommaSplit<'a> {
        CommaSplit { rest: s, split: false }
    }
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            if !self.split {
                let item = trim_ws(self.rest);
                self.rest = "";
                return (!item.is_empty()).then_some(item);
            }
            let cut = match scan_to_comma(self.rest.as_bytes()) {
                CommaScan::At(i) => i,
                CommaScan::End { .. } => self.rest.len(),
            };
            let item = self.rest.get(..cut).unwrap_or(self.rest);
            self.rest = self.rest.get(cut + 1..).unwrap_or("");
            let item = trim_ws(item);
            if !item.is_empty() {
                return Some(item);
            }
        }
    }
}

/// Where [`scan_to_comma`] stopped.
enum CommaScan {
    /// At the first comma outside quoted strings and `<...>`.
    At(usize),
    /// At the end without such a comma, possibly inside quotes or angle brackets.
    End { in_quotes: bool, in_angle: bool },
}

/// Finds the first comma of `b` outside quoted strings (with `\` escapes) and `<...>`.
fn scan_to_comma(b: &[u8]) -> CommaScan {
    let mut i = 0;
    let mut in_quotes = false;
    let mut in_angle = false;
    while i < b.len() {
        match b[i] {
            b'\\' if in_quotes => i += 1,
            b'"' => in_quotes = !in_quotes,
            b'<' if !in_quotes => in_angle = true,
            b'>' if !in_quotes => in_angle = false,
            b',' if !in_quotes && !in_angle => return CommaScan::At(i),
            _ => {}
        }
        i += 1;
    }
    CommaScan::End { in_quotes, in_angle }
}

/// Like [`split_commas`] but reports empty elements and unbalanced quoting as errors; used by
/// typed list headers (Via, Contact, Route).
pub fn split_commas_strict(s: &str) -> Result<Vec<&str>, ParseError> {
    let mut out = Vec::new();
    let mut rest = s;
    // Bounded: every element consumes at least its comma.
    loop {
        let (item, next, end) = match scan_to_comma(rest.as_bytes()) {
            CommaScan::At(i) => (rest.get(..i).unwrap_or(""), rest.get(i + 1..).unwrap_or(""), None),
            CommaScan::End { in_quotes, in_angle } => (rest, "", Some((in_quotes, in_angle))),
        };
        match end {
            Some((true, _)) => return Err(bad_value("Unbalanced quotes")),
            Some((_, true)) => return Err(bad_value("Unbalanced angle brackets")),
            _ => {}
        }
        let item = trim_ws(item);
        if item.is_empty() {
            return Err(bad_value("Empty list element"));
        }
        out.push(item);
        if end.is_some() {
            return Ok(out);
        }
        rest = next;
    }
}

/// Parses `*( SEMI generic-param )` where `s` is what follows the main value. LWS may surround
/// `;` and `=`. Values are tokens, hosts (incl. `[v6]`) or quoted strings (kept with quotes).
pub fn parse_generic_params(s: &str) -> Result<Vec<Param>, ParseError> {
    let mut params = Vec::new();
    let b = s.as_bytes();
    let mut i = skip_ws(b, 0);
    while i < b.len() {
        if b[i] != b';' {
            return Err(bad_value("Bad parameter separator"));
        }
        i = skip_ws(b, i + 1);
        let name_start = i;
        while i < b.len() && is_token_char(b[i]) {
            i += 1;
        }
        if i == name_start {
            return Err(bad_value("Empty parameter name"));
        }
        let name = &s[name_start..i];
        i = skip_ws(b, i);
        let mut value = None;
        if i < b.len() && b[i] == b'=' {
            i = skip_ws(b, i + 1);
            let v_start = i;
            if i < b.len() && b[i] == b'"' {
                let len = quoted_string_end(&s[i..]).ok_or(bad_value("Unbalanced quotes"))?;
                i += len;
            } else {
                while i < b.len() && (is_token_char(b[i]) || matches!(b[i], b':' | b'[' | b']')) {
                    i += 1;
                }
            }
            if i == v_start {
                return Err(bad_value("Empty parameter value"));
            }
            value = Some(s[v_start..i].to_owned());
            i = skip_ws(b, i);
        }
        params.push((name.to_owned(), value));
    }
    Ok(params)
}

/// Index of the first non-LWS byte at or after `i`.
pub fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

/// Finds a parameter by case-insensitive name.
pub fn find_param<'a>(params: &'a [Param], name: &str) -> Option<&'a Option<String>> {
    params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// Appends `;name[=value]` for each parameter.
pub fn write_params(f: &mut std::fmt::Formatter<'_>, params: &[Param]) -> std::fmt::Result {
    for (n, v) in params {
        match v {
            Some(v) => write!(f, ";{n}={v}")?,
            None => write!(f, ";{n}")?,
        }
    }
    Ok(())
}

/// Parses an all-digit decimal string (leading zeros allowed) into u64; `None` on overflow.
pub fn parse_digits_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_split_respects_quotes_and_angles() {
        let v: Vec<_> = split_commas(r#""a, b" <sip:x@y;p=1,2>, <sip:z>,, w"#).collect();
        assert_eq!(v, vec![r#""a, b" <sip:x@y;p=1,2>"#, "<sip:z>", "w"]);
        assert!(split_commas_strict("a,,b").is_err());
        assert!(split_commas_strict("\"a, b").is_err());
    }

    #[test]
    fn generic_params_allow_lws() {
        let p = parse_generic_params(" ;   tag    = 1918181833n ; lr;x=\"q;\"").unwrap();
        assert_eq!(p[0], ("tag".into(), Some("1918181833n".into())));
        assert_eq!(p[1], ("lr".into(), None));
        assert_eq!(p[2], ("x".into(), Some("\"q;\"".into())));
        assert!(parse_generic_params(";;").is_err());
        assert!(parse_generic_params(";a=").is_err());
    }

    #[test]
    fn quoting_round_trips() {
        assert_eq!(unquote(&quote(r#"J "R" \x"#)), r#"J "R" \x"#);
        assert_eq!(quoted_string_end(r#""a\"b" rest"#), Some(6));
        assert_eq!(quoted_string_end(r#""abc"#), None);
    }
}
