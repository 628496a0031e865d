//! Parser for `Digest` credentials/challenges (`auth-scheme 1*SWS auth-param *(COMMA auth-param)`,
//! RFC 3261 §25.1 / RFC 7235): quoted strings with backslash escapes, unquoted tokens, linear
//! whitespace anywhere between elements, parameters in any order, scheme case-insensitive.

use super::AuthError;

/// The parameters of a `Digest` `Authorization` value that verification uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestCredentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Option<String>,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
}

/// Parse an `Authorization`/`Proxy-Authorization` header value with the `Digest` scheme.
/// Empty input or another scheme yields [`AuthError::Missing`].
pub fn parse_credentials(value: &str) -> Result<DigestCredentials, AuthError> {
    let params = parse_digest_params(value)?;
    let mut creds = DigestCredentials::default();
    let (mut username, mut realm, mut nonce, mut uri, mut response) = (None, None, None, None, None);
    for (name, val) in params {
        let slot = match name.to_ascii_lowercase().as_str() {
            "username" => &mut username,
            "realm" => &mut realm,
            "nonce" => &mut nonce,
            "uri" => &mut uri,
            "response" => &mut response,
            "algorithm" => &mut creds.algorithm,
            "cnonce" => &mut creds.cnonce,
            "opaque" => &mut creds.opaque,
            "qop" => &mut creds.qop,
            "nc" => &mut creds.nc,
            _ => continue,
        };
        if slot.is_some() {
            return Err(AuthError::Malformed("duplicate parameter"));
        }
        *slot = Some(val);
    }
    creds.username = username.ok_or(AuthError::Malformed("missing username"))?;
    creds.realm = realm.ok_or(AuthError::Malformed("missing realm"))?;
    creds.nonce = nonce.ok_or(AuthError::Malformed("missing nonce"))?;
    creds.uri = uri.ok_or(AuthError::Malformed("missing uri"))?;
    creds.response = response.ok_or(AuthError::Malformed("missing response"))?;
    Ok(creds)
}

/// Parse `Digest name=value, ...` into (name, unescaped value) pairs.
pub(crate) fn parse_digest_params(value: &str) -> Result<Vec<(String, String)>, AuthError> {
    let s = value.trim_matches(is_lws);
    if s.is_empty() {
        return Err(AuthError::Missing);
    }
    let scheme_end = s.find(is_lws).unwrap_or(s.len());
    let (scheme, rest) = s.split_at(scheme_end);
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(AuthError::Missing);
    }
    let bytes = rest.as_bytes();
    let mut i = 0usize;
    let mut out = Vec::new();
    loop {
        i = skip_lws(bytes, i);
        if i >= bytes.len() {
            break;
        }
        // name
        let name_start = i;
        while i < bytes.len() && is_token_byte(bytes[i]) {
            i += 1;
        }
        if i == name_start {
            return Err(AuthError::Malformed("expected parameter name"));
        }
        let name = &rest[name_start..i];
        i = skip_lws(bytes, i);
        if bytes.get(i) != Some(&b'=') {
            return Err(AuthError::Malformed("expected '=' after parameter name"));
        }
        i = skip_lws(bytes, i + 1);
        // value
        let val = if bytes.get(i) == Some(&b'"') {
            i += 1;
            let mut v: Vec<u8> = Vec::new();
            loop {
                match bytes.get(i) {
                    None => return Err(AuthError::Malformed("unterminated quoted string")),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let Some(&escaped) = bytes.get(i + 1) else {
                            return Err(AuthError::Malformed("unterminated quoted string"));
                        };
                        v.push(escaped);
                        i += 2;
                    }
                    Some(&b) => {
                        v.push(b);
                        i += 1;
                    }
                }
            }
            String::from_utf8(v).map_err(|_| AuthError::Malformed("invalid UTF-8 in quoted string"))?
        } else {
            let start = i;
            while i < bytes.len() && is_token_byte(bytes[i]) {
                i += 1;
            }
            if i == start {
                return Err(AuthError::Malformed("expected parameter value"));
            }
            rest[start..i].to_string()
        };
        out.push((name.to_string(), val));
        i = skip_lws(bytes, i);
        match bytes.get(i) {
            None => break,
            Some(b',') => i += 1,
            Some(_) => return Err(AuthError::Malformed("expected ',' between parameters")),
        }
    }
    if out.is_empty() {
        return Err(AuthError::Malformed("no parameters"));
    }
    Ok(out)
}

fn is_lws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn skip_lws(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

/// RFC 3261 `token` characters.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~')
}
