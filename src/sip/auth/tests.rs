//! Unit tests for digest auth: RFC 2617/7616 vectors, round trips, nonce expiry and forgery,
//! error mapping, headers captured from SIPp/baresip, and no-panic property tests.

use super::params::parse_digest_params;
use super::*;
use proptest::prelude::*;

const SECRET: [u8; 32] = [7u8; 32];
const NOW: u64 = 1_700_000_000;

fn auth() -> DigestAuthenticator {
    DigestAuthenticator::new("meritline.test", SECRET, Duration::from_secs(300))
}

fn passwords(user: &str) -> Option<String> {
    (user == "agent1001").then(|| "s3cr3t".to_string())
}

/// Answer a challenge value the way a UA would.
fn answer(challenge: &str, user: &str, password: &str, method: &str, uri: &str, qop: bool) -> String {
    let params = parse_digest_params(challenge).unwrap();
    let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let realm = get("realm").unwrap();
    let nonce = get("nonce").unwrap();
    let alg = DigestAlgorithm::from_token(&get("algorithm").unwrap()).unwrap();
    let qop_auth = qop.then_some(("00000001", "0a4f113b"));
    let response = compute_response(&DigestResponseInput {
        algorithm: alg,
        username: user,
        realm: &realm,
        password,
        method,
        uri,
        nonce: &nonce,
        qop_auth,
    });
    let mut v = format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm={}",
        alg.as_token()
    );
    if qop {
        v.push_str(", qop=auth, nc=00000001, cnonce=\"0a4f113b\"");
    }
    v
}

#[test]
fn rfc2617_md5_vector() {
    let r = compute_response(&DigestResponseInput {
        algorithm: DigestAlgorithm::Md5,
        username: "Mufasa",
        realm: "testrealm@host.com",
        password: "Circle Of Life",
        method: "GET",
        uri: "/dir/index.html",
        nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop_auth: Some(("00000001", "0a4f113b")),
    });
    assert_eq!(r, "6629fae49393a05397450978507c4ef1");
}

#[test]
fn rfc7616_sha256_and_md5_vectors() {
    let mut input = DigestResponseInput {
        algorithm: DigestAlgorithm::Sha256,
        username: "Mufasa",
        realm: "http-auth@example.org",
        password: "Circle of Life",
        method: "GET",
        uri: "/dir/index.html",
        nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        qop_auth: Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
    };
    assert_eq!(compute_response(&input), "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
    input.algorithm = DigestAlgorithm::Md5;
    assert_eq!(compute_response(&input), "8ca523f5e9506fed4657c9700eebdbec");
}

#[test]
fn rfc2617_header_parses() {
    let header = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
    let c = parse_credentials(header).unwrap();
    assert_eq!(c.username, "Mufasa");
    assert_eq!(c.realm, "testrealm@host.com");
    assert_eq!(c.qop.as_deref(), Some("auth"));
    assert_eq!(c.nc.as_deref(), Some("00000001"));
    assert_eq!(c.opaque.as_deref(), Some("5ccc069c403ebaf9f0171e9517f40e41"));
    assert_eq!(c.algorithm, None);
}

#[test]
fn challenge_lists_sha256_first_then_md5() {
    let ch = auth().challenge(NOW, false);
    assert_eq!(ch.len(), 2);
    assert!(ch[0].starts_with("Digest realm=\"meritline.test\", nonce=\""));
    assert!(ch[0].contains("algorithm=SHA-256"));
    assert!(ch[0].contains("qop=\"auth\""));
    assert!(ch[1].contains("algorithm=MD5"));
    assert!(!ch[0].contains("stale"));
    let stale = auth().challenge(NOW, true);
    assert!(stale.iter().all(|c| c.ends_with("stale=true")));
    let with_opaque = auth().with_opaque("op\"aque").challenge(NOW, false);
    assert!(with_opaque[0].contains("opaque=\"op\\\"aque\""));
}

#[test]
fn round_trip_sha256_and_md5_with_and_without_qop() {
    let a = auth();
    for (idx, alg) in [(0, DigestAlgorithm::Sha256), (1, DigestAlgorithm::Md5)] {
        for qop in [true, false] {
            let ch = &a.challenge(NOW, false)[idx];
            let h = answer(ch, "agent1001", "s3cr3t", "REGISTER", "sip:meritline.test", qop);
            let ok = a.verify(NOW + 10, "REGISTER", &h, passwords).unwrap();
            assert_eq!(ok, AuthOk { username: "agent1001".into(), algorithm: alg, uri: "sip:meritline.test".into() });
        }
    }
}

#[test]
fn method_is_bound_into_response() {
    let a = auth();
    let ch = &a.challenge(NOW, false)[0];
    let h = answer(ch, "agent1001", "s3cr3t", "REGISTER", "sip:meritline.test", true);
    assert_eq!(a.verify(NOW, "INVITE", &h, passwords), Err(AuthError::WrongPassword));
}

#[test]
fn missing_algorithm_means_md5() {
    let a = auth();
    let ch = &a.challenge(NOW, false)[1];
    let h = answer(ch, "agent1001", "s3cr3t", "REGISTER", "sip:x", true).replace(", algorithm=MD5", "");
    assert_eq!(a.verify(NOW, "REGISTER", &h, passwords).unwrap().algorithm, DigestAlgorithm::Md5);
}

#[test]
fn sess_variant_round_trip() {
    let a = auth();
    let nonce = a.issue_nonce(NOW);
    let response = compute_response(&DigestResponseInput {
        algorithm: DigestAlgorithm::Sha256Sess,
        username: "agent1001",
        realm: "meritline.test",
        password: "s3cr3t",
        method: "INVITE",
        uri: "sip:queue@meritline.test",
        nonce: &nonce,
        qop_auth: Some(("0000000a", "xyz")),
    });
    let h = format!(
        "digest USERNAME=agent1001,realm=\"meritline.test\",nonce={nonce},uri=\"sip:queue@meritline.test\",response={response},algorithm=sha-256-sess,qop=\"auth\",nc=0000000a,cnonce=xyz"
    );
    let ok = a.verify(NOW, "INVITE", &h, passwords).unwrap();
    assert_eq!(ok.algorithm, DigestAlgorithm::Sha256Sess);
}

#[test]
fn expired_nonce_is_stale() {
    let a = auth();
    let ch = &a.challenge(NOW, false)[0];
    let h = answer(ch, "agent1001", "s3cr3t", "REGISTER", "sip:x", true);
    assert!(a.verify(NOW + 300, "REGISTER", &h, passwords).is_ok());
    let err = a.verify(NOW + 301, "REGISTER", &h, passwords).unwrap_err();
    assert_eq!(err, AuthError::StaleNonce);
    assert_eq!(err.status_code(), 401);
    assert!(err.is_stale());
    // a nonce from the far future is not accepted either
    let future = a.issue_nonce(NOW + 3600);
    assert!(!a.nonce_is_valid(NOW, &future));
}

#[test]
fn tampered_or_foreign_nonce_is_rejected() {
    let a = auth();
    let nonce = a.issue_nonce(NOW);
    assert!(a.nonce_is_valid(NOW, &nonce));
    // move the timestamp forward (extend lifetime) without the secret
    let mut forged = format!("{:016x}", NOW + 1000);
    forged.push_str(&nonce[16..]);
    assert!(!a.nonce_is_valid(NOW + 1000, &forged));
    // flip a MAC digit
    let mut bytes = nonce.clone().into_bytes();
    let last = bytes.len() - 1;
    bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
    assert!(!a.nonce_is_valid(NOW, &String::from_utf8(bytes).unwrap()));
    // other secret
    let other = DigestAuthenticator::new("meritline.test", [8u8; 32], Duration::from_secs(300));
    assert!(!other.nonce_is_valid(NOW, &nonce));
    for junk in ["", "abc", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "é"] {
        assert!(!a.nonce_is_valid(NOW, junk));
    }
    // a fully valid response on a forged nonce is still stale
    let resp = compute_response(&DigestResponseInput {
        algorithm: DigestAlgorithm::Md5,
        username: "agent1001",
        realm: "meritline.test",
        password: "s3cr3t",
        method: "REGISTER",
        uri: "sip:x",
        nonce: &forged,
        qop_auth: None,
    });
    let h = format!(
        "Digest username=\"agent1001\", realm=\"meritline.test\", nonce=\"{forged}\", uri=\"sip:x\", response=\"{resp}\""
    );
    assert_eq!(a.verify(NOW + 1000, "REGISTER", &h, passwords), Err(AuthError::StaleNonce));
}

#[test]
fn nonces_are_unique_per_challenge() {
    let a = auth();
    assert_ne!(a.issue_nonce(NOW), a.issue_nonce(NOW));
}

#[test]
fn wrong_password_and_unknown_user() {
    let a = auth();
    let ch = &a.challenge(NOW, false)[0];
    let h = answer(ch, "agent1001", "guess", "REGISTER", "sip:x", true);
    let err = a.verify(NOW, "REGISTER", &h, passwords).unwrap_err();
    assert_eq!(err, AuthError::WrongPassword);
    assert_eq!(err.status_code(), 403);
    let h = answer(ch, "nobody", "s3cr3t", "REGISTER", "sip:x", true);
    let err = a.verify(NOW, "REGISTER", &h, passwords).unwrap_err();
    assert_eq!(err, AuthError::UnknownUser);
    assert_eq!(err.status_code(), 403);
}

#[test]
fn realm_algorithm_qop_and_opaque_checks() {
    let a = auth();
    let ch = a.challenge(NOW, false)[0].replace("meritline.test", "evil.test");
    let h = answer(&ch, "agent1001", "s3cr3t", "REGISTER", "sip:x", true);
    assert_eq!(a.verify(NOW, "REGISTER", &h, passwords), Err(AuthError::RealmMismatch));

    let ch = &a.challenge(NOW, false)[0];
    let h = answer(ch, "agent1001", "s3cr3t", "REGISTER", "sip:x", true).replace("SHA-256", "SHA-512-256");
    assert_eq!(a.verify(NOW, "REGISTER", &h, passwords), Err(AuthError::UnsupportedAlgorithm));

    let md5_only = auth().with_algorithms(&[DigestAlgorithm::Md5]);
    assert_eq!(md5_only.challenge(NOW, false).len(), 1);
    let nonce = md5_only.issue_nonce(NOW);
    let h = format!("Digest username=a, realm=\"meritline.test\", nonce=\"{nonce}\", uri=\"sip:x\", response=\"00\", algorithm=SHA-256");
    assert_eq!(md5_only.verify(NOW, "REGISTER", &h, passwords), Err(AuthError::UnsupportedAlgorithm));

    let h = answer(ch, "agent1001", "s3cr3t", "REGISTER", "sip:x", true).replace("qop=auth", "qop=auth-int");
    assert_eq!(a.verify(NOW, "REGISTER", &h, passwords), Err(AuthError::UnsupportedAlgorithm));

    let a = auth().with_opaque("abc");
    let ch = &a.challenge(NOW, false)[0];
    let good = answer(ch, "agent1001", "s3cr3t", "REGISTER", "sip:x", true);
    assert!(a.verify(NOW, "REGISTER", &format!("{good}, opaque=\"abc\""), passwords).is_ok());
    assert_eq!(a.verify(NOW, "REGISTER", &format!("{good}, opaque=\"zzz\""), passwords), Err(AuthError::StaleNonce));
}

#[test]
fn quoted_escapes_whitespace_and_order() {
    let v = "  Digest   response = \"ab\" ,\tusername=\"a\\\"b\\\\c\" ,realm=\"r\",nonce=n,uri=\"sip:a@b;x=1,y\" ";
    let c = parse_credentials(v).unwrap();
    assert_eq!(c.username, "a\"b\\c");
    assert_eq!(c.uri, "sip:a@b;x=1,y");
    assert_eq!(c.response, "ab");
    assert_eq!(c.nonce, "n");
}

#[test]
fn malformed_and_missing() {
    let a = auth();
    let cases: &[(&str, AuthError)] = &[
        ("", AuthError::Missing),
        ("   ", AuthError::Missing),
        ("Basic QWxhZGRpbjpvcGVu", AuthError::Missing),
        ("Digest", AuthError::Malformed("no parameters")),
        ("Digest username=\"a", AuthError::Malformed("unterminated quoted string")),
        ("Digest username", AuthError::Malformed("expected '=' after parameter name")),
        ("Digest username=", AuthError::Malformed("expected parameter value")),
        ("Digest a=b c=d", AuthError::Malformed("expected ',' between parameters")),
        ("Digest realm=r, nonce=n, uri=u, response=r", AuthError::Malformed("missing username")),
        ("Digest username=a, username=b", AuthError::Malformed("duplicate parameter")),
        (
            "Digest username=a, realm=meritline.test, nonce=n, uri=u, response=r, qop=auth",
            AuthError::Malformed("qop without nc"),
        ),
        (
            "Digest username=a, realm=meritline.test, nonce=n, uri=u, response=r, qop=auth, nc=1, cnonce=c",
            AuthError::Malformed("nc is not 8 hex digits"),
        ),
    ];
    for (input, expected) in cases {
        let got = a.verify(NOW, "REGISTER", input, passwords).unwrap_err();
        assert_eq!(&got, expected, "input {input:?}");
    }
    assert_eq!(AuthError::Missing.status_code(), 401);
    assert_eq!(AuthError::Malformed("x").status_code(), 400);
}

proptest! {
    #[test]
    fn verify_never_panics(s in "\\PC{0,200}") {
        let a = auth();
        let _ = a.verify(NOW, "REGISTER", &s, passwords);
        let _ = a.verify(NOW, "REGISTER", &format!("Digest {s}"), passwords);
    }

    #[test]
    fn verify_never_panics_on_param_soup(
        parts in proptest::collection::vec(("[a-z]{1,8}", "[ -~]{0,20}", any::<bool>()), 0..12)
    ) {
        let a = auth();
        let body: Vec<String> = parts
            .iter()
            .map(|(k, v, quoted)| if *quoted { format!("{k}=\"{v}\"") } else { format!("{k}={v}") })
            .collect();
        let _ = a.verify(NOW, "REGISTER", &format!("Digest {}", body.join(",")), passwords);
    }
}

/// Exact Authorization layouts produced by the installed test clients (SIPp 3.6.1 and
/// libre 1.1 / baresip 1.0), both MD5 with qop=auth.
#[test]
fn sipp_and_libre_authorization_layouts() {
    let a = auth().with_algorithms(&[DigestAlgorithm::Md5]);
    let ch = a.challenge(NOW, false);
    assert_eq!(ch.len(), 1);
    assert!(ch[0].contains("algorithm=MD5"));
    let nonce = a.issue_nonce(NOW);
    let uri = "sip:meritline.test";
    let resp = |cnonce: &str, nc: &str| {
        compute_response(&DigestResponseInput {
            algorithm: DigestAlgorithm::Md5,
            username: "agent1001",
            realm: "meritline.test",
            password: "s3cr3t",
            method: "REGISTER",
            uri,
            nonce: &nonce,
            qop_auth: Some((nc, cnonce)),
        })
    };
    let sipp = format!(
        "Digest username=\"agent1001\",realm=\"meritline.test\",cnonce=\"6b8b4567\",nc=00000001,qop=auth,uri=\"{uri}\",nonce=\"{nonce}\",response=\"{}\",algorithm=MD5",
        resp("6b8b4567", "00000001")
    );
    assert!(a.verify(NOW, "REGISTER", &sipp, passwords).is_ok());
    let libre = format!(
        "Digest username=\"agent1001\", realm=\"meritline.test\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{}\", cnonce=\"0123456789abcdef\", qop=auth, nc=00000002",
        resp("0123456789abcdef", "00000002")
    );
    assert!(a.verify(NOW, "REGISTER", &libre, passwords).is_ok());
}

/// Authorization headers captured from the installed SIPp 3.6.1 and baresip 1.0.0 answering a
/// 401 whose challenge carried `auth().issue_nonce(NOW)` (the first nonce of a fresh authenticator).
#[test]
fn captured_sipp_and_baresip_credentials_verify() {
    let a = auth();
    let nonce = a.issue_nonce(NOW);
    assert_eq!(nonce, "000000006553f1000000000043a7f639cbbe80511d0e2108d0386a29");
    let sipp = "Digest username=\"agent1001\",realm=\"meritline.test\",cnonce=\"6b8b4567\",nc=00000001,qop=auth,uri=\"sip:127.0.0.1:5070\",nonce=\"000000006553f1000000000043a7f639cbbe80511d0e2108d0386a29\",response=\"1ab55ff9e1e5f57af11a9633b5ef9347\",algorithm=MD5";
    let baresip = "Digest username=\"agent1001\", realm=\"meritline.test\", nonce=\"000000006553f1000000000043a7f639cbbe80511d0e2108d0386a29\", uri=\"sip:127.0.0.1:5070\", response=\"799372ad886af72fefa828124d4e04a5\", cnonce=\"6d3935726e537965\", qop=auth, nc=00000001";
    for header in [sipp, baresip] {
        let ok = a.verify(NOW + 1, "REGISTER", header, passwords).unwrap();
        assert_eq!(ok.algorithm, DigestAlgorithm::Md5);
        assert_eq!(ok.username, "agent1001");
        assert_eq!(a.verify(NOW + 1, "REGISTER", header, |_| Some("nope".into())), Err(AuthError::WrongPassword));
    }
}
