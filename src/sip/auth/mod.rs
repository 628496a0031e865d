//! Server-side SIP digest authentication (RFC 3261 §22 on top of RFC 2617 / RFC 7616, with
//! SHA-256 per RFC 8760). Owns the stateless nonce scheme (issue time + keyed hash, so forged or
//! expired nonces are detected without a table), the `WWW-Authenticate` challenge values, a robust
//! parser for `Authorization` header values, and response verification with a constant-time
//! compare. It works on header values as `&str`; it does not depend on the SIP message layer.

use md5::Md5;
use sha2::{Digest as _, Sha256};
use std::sync::atomic::AtomicU32;
use std::time::Duration;

mod nonce;
mod params;

pub use params::{parse_credentials, DigestCredentials};

/// Digest hash algorithm (RFC 7616 §6.1; RFC 8760 for SIP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl DigestAlgorithm {
    /// Parse an `algorithm=` token, case-insensitively (`MD5`, `MD5-sess`, `SHA-256`,
    /// `SHA-256-sess`).
    pub fn from_token(token: &str) -> Option<Self> {
        if token.eq_ignore_ascii_case("MD5") {
            Some(Self::Md5)
        } else if token.eq_ignore_ascii_case("MD5-sess") {
            Some(Self::Md5Sess)
        } else if token.eq_ignore_ascii_case("SHA-256") {
            Some(Self::Sha256)
        } else if token.eq_ignore_ascii_case("SHA-256-sess") {
            Some(Self::Sha256Sess)
        } else {
            None
        }
    }

    /// The canonical token used in headers.
    pub fn as_token(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }

    /// True for the `-sess` variants (HA1 also covers nonce and cnonce).
    pub fn is_session(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }

    /// The non-session algorithm with the same hash function.
    pub fn base(self) -> Self {
        match self {
            Self::Md5 | Self::Md5Sess => Self::Md5,
            Self::Sha256 | Self::Sha256Sess => Self::Sha256,
        }
    }

    /// Lowercase hex digest of `data` under this algorithm's hash.
    pub fn hex_hash(self, data: &[u8]) -> String {
        match self.base() {
            Self::Sha256 => to_hex(&Sha256::digest(data)),
            _ => to_hex(&Md5::digest(data)),
        }
    }
}

/// Inputs of a digest `response` computation (client side and server side alike).
#[derive(Debug, Clone, Copy)]
pub struct DigestResponseInput<'a> {
    pub algorithm: DigestAlgorithm,
    pub username: &'a str,
    pub realm: &'a str,
    pub password: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    pub nonce: &'a str,
    /// `Some((nc, cnonce))` for `qop=auth`; `None` for RFC 2069 compatibility mode.
    pub qop_auth: Option<(&'a str, &'a str)>,
}

/// Compute the lowercase-hex digest `response` value (RFC 7616 §3.4.1, qop=auth or none).
/// For `-sess` algorithms without qop the cnonce is taken as empty.
pub fn compute_response(input: &DigestResponseInput<'_>) -> String {
    let alg = input.algorithm;
    let mut ha1 = alg.hex_hash(format!("{}:{}:{}", input.username, input.realm, input.password).as_bytes());
    if alg.is_session() {
        let cnonce = input.qop_auth.map(|(_, c)| c).unwrap_or("");
        ha1 = alg.hex_hash(format!("{ha1}:{}:{cnonce}", input.nonce).as_bytes());
    }
    let ha2 = alg.hex_hash(format!("{}:{}", input.method, input.uri).as_bytes());
    let joined = match input.qop_auth {
        Some((nc, cnonce)) => format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", input.nonce),
        None => format!("{ha1}:{}:{ha2}", input.nonce),
    };
    alg.hex_hash(joined.as_bytes())
}

/// Successful verification result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthOk {
    pub username: String,
    pub algorithm: DigestAlgorithm,
    /// The digest `uri` the client signed (compare with the Request-URI to be strict).
    pub uri: String,
}

/// Why credentials were not accepted; `status_code()` is the SIP answer to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no digest credentials")]
    Missing,
    #[error("malformed credentials: {0}")]
    Malformed(&'static str),
    #[error("unknown user")]
    UnknownUser,
    #[error("wrong password")]
    WrongPassword,
    #[error("stale or invalid nonce")]
    StaleNonce,
    #[error("realm mismatch")]
    RealmMismatch,
    #[error("unsupported digest algorithm or qop")]
    UnsupportedAlgorithm,
}

impl AuthError {
    /// 401 means "send `challenge()` again" (with `stale=true` for [`AuthError::StaleNonce`],
    /// see [`AuthError::is_stale`]); 403 is final; 400 for unparsable credentials.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Missing | Self::StaleNonce | Self::RealmMismatch | Self::UnsupportedAlgorithm => 401,
            Self::UnknownUser | Self::WrongPassword => 403,
            Self::Malformed(_) => 400,
        }
    }

    /// True when the re-challenge should carry `stale=true`.
    pub fn is_stale(&self) -> bool {
        matches!(self, Self::StaleNonce)
    }
}

/// Server-side digest authenticator with stateless nonces.
pub struct DigestAuthenticator {
    realm: String,
    nonce_secret: [u8; 32],
    nonce_ttl: Duration,
    opaque: Option<String>,
    algorithms: Vec<DigestAlgorithm>,
    nonce_counter: AtomicU32,
}

impl std::fmt::Debug for DigestAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestAuthenticator")
            .field("realm", &self.realm)
            .field("nonce_ttl", &self.nonce_ttl)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl DigestAuthenticator {
    /// New authenticator offering SHA-256 then MD5 (RFC 8760 order).
    ///
    /// Interop: clients that only know MD5 and abort on the first challenge they cannot use
    /// (libre 1.1 / baresip 1.0 abort on *any* non-MD5 `WWW-Authenticate`, SIPp 3.6 reads only
    /// one) need `.with_algorithms(&[DigestAlgorithm::Md5])`.
    pub fn new(realm: impl Into<String>, nonce_secret: [u8; 32], nonce_ttl: Duration) -> Self {
        Self {
            realm: realm.into(),
            nonce_secret,
            nonce_ttl,
            opaque: None,
            algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            nonce_counter: AtomicU32::new(0),
        }
    }

    /// Send this `opaque` in challenges and require it back (if the client returns one).
    pub fn with_opaque(mut self, opaque: impl Into<String>) -> Self {
        self.opaque = Some(opaque.into());
        self
    }

    /// Restrict/reorder the offered algorithms (`-sess` variants are accepted when their base
    /// algorithm is listed). An empty list is replaced by `[Sha256, Md5]`.
    pub fn with_algorithms(mut self, algorithms: &[DigestAlgorithm]) -> Self {
        let mut list: Vec<DigestAlgorithm> = Vec::new();
        for alg in algorithms {
            if !list.contains(&alg.base()) {
                list.push(alg.base());
            }
        }
        if list.is_empty() {
            list = vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5];
        }
        self.algorithms = list;
        self
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// `WWW-Authenticate` (or `Proxy-Authenticate`) values for a 401/407, one per algorithm,
    /// SHA-256 first (RFC 8760 §2.4). All share one fresh nonce.
    pub fn challenge(&self, now_unix: u64, stale: bool) -> Vec<String> {
        let nonce = self.issue_nonce(now_unix);
        self.algorithms
            .iter()
            .map(|alg| {
                let mut v = format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"",
                    escape_quoted(&self.realm),
                    alg.as_token()
                );
                if let Some(opaque) = &self.opaque {
                    v.push_str(&format!(", opaque=\"{}\"", escape_quoted(opaque)));
                }
                if stale {
                    v.push_str(", stale=true");
                }
                v
            })
            .collect()
    }

    /// Verify an `Authorization` header value for a request with `method`.
    /// `password_for(username)` returns the user's plaintext password.
    pub fn verify(
        &self,
        now_unix: u64,
        method: &str,
        authorization: &str,
        password_for: impl Fn(&str) -> Option<String>,
    ) -> Result<AuthOk, AuthError> {
        let creds = parse_credentials(authorization)?;
        let algorithm = match creds.algorithm.as_deref() {
            None => DigestAlgorithm::Md5,
            Some(token) => DigestAlgorithm::from_token(token).ok_or(AuthError::UnsupportedAlgorithm)?,
        };
        if !self.algorithms.contains(&algorithm.base()) {
            return Err(AuthError::UnsupportedAlgorithm);
        }
        let qop_auth = match creds.qop.as_deref() {
            None => None,
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc = creds.nc.as_deref().ok_or(AuthError::Malformed("qop without nc"))?;
                let cnonce = creds.cnonce.as_deref().ok_or(AuthError::Malformed("qop without cnonce"))?;
                if nc.len() != 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(AuthError::Malformed("nc is not 8 hex digits"));
                }
                Some((nc, cnonce))
            }
            Some(_) => return Err(AuthError::UnsupportedAlgorithm),
        };
        if creds.realm != self.realm {
            return Err(AuthError::RealmMismatch);
        }
        if let (Some(ours), Some(theirs)) = (&self.opaque, &creds.opaque) {
            if ours != theirs {
                return Err(AuthError::StaleNonce);
            }
        }
        if !self.nonce_is_valid(now_unix, &creds.nonce) {
            return Err(AuthError::StaleNonce);
        }
        let password = password_for(&creds.username).ok_or(AuthError::UnknownUser)?;
        let expected = compute_response(&DigestResponseInput {
            algorithm,
            username: &creds.username,
            realm: &creds.realm,
            password: &password,
            method,
            uri: &creds.uri,
            nonce: &creds.nonce,
            qop_auth,
        });
        let given = creds.response.to_ascii_lowercase();
        if constant_time_eq(expected.as_bytes(), given.as_bytes()) {
            Ok(AuthOk { username: creds.username, algorithm, uri: creds.uri })
        } else {
            Err(AuthError::WrongPassword)
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    s
}

/// Compare without early exit on the first differing byte (length is not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    diff == 0
}

fn escape_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
