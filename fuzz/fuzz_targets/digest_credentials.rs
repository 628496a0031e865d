//! Fuzz target for the digest `Authorization` parser and verifier. Any panic is a bug.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use meritline::sip::auth::{parse_credentials, DigestAuthenticator};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = parse_credentials(s);
    let auth = DigestAuthenticator::new("meritline", [7; 32], Duration::from_secs(300));
    let _ = auth.verify(1_700_000_000, "REGISTER", s, |_| Some("secret".to_string()));
});
