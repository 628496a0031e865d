//! The digest nonce check: nonces are stateless (issue time, a salt and a keyed SHA-256 of both
//! with the realm), so a forged, foreign or expired nonce is recognised without a table of issued
//! nonces, and a restart with the same secret keeps honouring live ones.

use std::sync::atomic::Ordering;

use sha2::{Digest as _, Sha256};

use super::{constant_time_eq, to_hex, DigestAuthenticator};

/// Nonces issued up to this many seconds "in the future" (clock skew between restarts of
/// the same process family sharing a secret) are still accepted.
const NONCE_FUTURE_SKEW_SECS: u64 = 5;

impl DigestAuthenticator {
    /// Issue a fresh nonce: hex(issue time) ++ hex(salt) ++ hex(truncated keyed SHA-256).
    pub fn issue_nonce(&self, now_unix: u64) -> String {
        let salt = self.nonce_counter.fetch_add(1, Ordering::Relaxed);
        let mac = self.nonce_mac(now_unix, salt);
        format!("{now_unix:016x}{salt:08x}{}", to_hex(&mac))
    }

    fn nonce_mac(&self, ts: u64, salt: u32) -> [u8; 16] {
        let mut h = Sha256::new();
        h.update(self.nonce_secret);
        h.update(b"|nonce|");
        h.update(ts.to_be_bytes());
        h.update(salt.to_be_bytes());
        h.update(self.realm.as_bytes());
        h.update(self.nonce_secret);
        let full = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// True when `nonce` was issued by us (same secret and realm) and has not expired.
    pub fn nonce_is_valid(&self, now_unix: u64, nonce: &str) -> bool {
        if nonce.len() != 16 + 8 + 32 || !nonce.is_ascii() {
            return false;
        }
        let (ts_hex, rest) = nonce.split_at(16);
        let (salt_hex, mac_hex) = rest.split_at(8);
        let (Ok(ts), Ok(salt)) = (u64::from_str_radix(ts_hex, 16), u32::from_str_radix(salt_hex, 16)) else {
            return false;
        };
        let expected = to_hex(&self.nonce_mac(ts, salt));
        if !constant_time_eq(expected.as_bytes(), mac_hex.to_ascii_lowercase().as_bytes()) {
            return false;
        }
        if ts > now_unix.saturating_add(NONCE_FUTURE_SKEW_SECS) {
            return false;
        }
        now_unix.saturating_sub(ts) <= self.nonce_ttl.as_secs()
    }
}
