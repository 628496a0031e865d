//! Unit tests for parsing, framing, accessors, salvage and the builder (RFC 4475 torture
//! messages live in `torture_tests.rs`).

use bytes::Bytes;

use super::*;

pub(crate) const INVITE: &str = "INVITE sip:+15551234567@meritline.example.com;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK-524287-1---abc123;rport\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKinner;received=198.51.100.7\r\n\
Max-Forwards: 69\r\n\
From: \"Carrier Caller\" <sip:+15557654321@carrier.example.net>;tag=as5f3a1b2c\r\n\
To: <sip:+15551234567@meritline.example.com>\r\n\
Call-ID: 3848276298220188511@carrier.example.net\r\n\
CSeq: 102 INVITE\r\n\
Contact: <sip:+15557654321@203.0.113.10:5060;transport=udp>\r\n\
Record-Route: <sip:203.0.113.10;lr>, <sip:10.0.0.1;lr>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO, PRACK, UPDATE\r\n\
Supported: replaces, timer\r\n\
User-Agent: CarrierSBC 4.2\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 153\r\n\
\r\n\
v=0\r\n\
o=- 1234 5678 IN IP4 203.0.113.10\r\n\
s=-\r\n\
c=IN IP4 203.0.113.10\r\n\
t=0 0\r\n\
m=audio 20000 RTP/AVP 0 8 101\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=sendrecv\r\n";

fn msg(s: &str) -> SipMessage {
    SipMessage::parse(Bytes::copy_from_slice(s.as_bytes())).expect("parses")
}

#[test]
fn typical_invite_accessors() {
    assert_eq!(INVITE.split("\r\n\r\n").nth(1).unwrap().len(), 153);
    let m = msg(INVITE);
    assert!(m.is_request());
    assert_eq!(m.method(), Some(Method::Invite));
    let ruri = m.request_uri().unwrap();
    assert_eq!(ruri.user.as_deref(), Some("+15551234567"));
    assert_eq!(ruri.param("user"), Some(Some("phone")));
    let vias = m.vias().unwrap();
    assert_eq!(vias.len(), 2);
    assert_eq!(vias[0].branch(), Some("z9hG4bK-524287-1---abc123"));
    assert_eq!(vias[0].rport(), Some(None));
    assert_eq!(vias[1].received(), Some("198.51.100.7"));
    assert_eq!(m.top_via().unwrap(), vias[0]);
    assert_eq!(m.from().unwrap().tag(), Some("as5f3a1b2c"));
    assert_eq!(m.from().unwrap().display.as_deref(), Some("Carrier Caller"));
    assert_eq!(m.to().unwrap().tag(), None);
    assert_eq!(m.call_id().unwrap(), "3848276298220188511@carrier.example.net");
    assert_eq!(m.cseq().unwrap(), CSeq { seq: 102, method: Method::Invite });
    assert_eq!(m.max_forwards().unwrap(), Some(69));
    assert_eq!(m.content_length(), Some(153));
    assert_eq!(m.content_type(), Some("application/sdp"));
    assert_eq!(m.media_type().unwrap().as_deref(), Some("application/sdp"));
    assert!(m.body().starts_with(b"v=0"));
    assert_eq!(m.record_route().unwrap().len(), 2);
    assert!(m.route().unwrap().is_empty());
    assert_eq!(m.header_values("Allow").count(), 10);
    assert_eq!(m.header_values("k").collect::<Vec<_>>(), vec!["replaces", "timer"]);
    assert_eq!(m.header("user-agent"), Some("CarrierSBC 4.2"));
    match m.contacts().unwrap() {
        Contacts::List(l) => assert_eq!(l[0].uri.transport(), Some("udp")),
        Contacts::Wildcard => panic!("not wildcard"),
    }
    m.validate().unwrap();
}

#[test]
fn folding_compact_forms_and_multiple_lines() {
    let m = msg("OPTIONS sip:a@b SIP/2.0\r\n\
v: SIP/2.0/UDP h1;branch=z9hG4bK1,\r\n SIP/2.0/TCP h2;branch=z9hG4bK2\r\n\
VIA: SIP/2.0/UDP h3;branch=z9hG4bK3\r\n\
f: <sip:x@y>;tag=1\r\nt: sip:a@b\r\ni: abc\r\nCSeq:\r\n\t7\r\n OPTIONS\r\nl: 0\r\n\
Subject: hello,\r\n  world\r\n\r\n");
    assert_eq!(m.vias().unwrap().len(), 3);
    assert_eq!(m.header_values("Via").count(), 3);
    assert_eq!(m.cseq().unwrap().seq, 7);
    assert_eq!(m.header("s"), Some("hello,    world"));
    assert_eq!(m.header_values("Subject").count(), 1);
    m.validate().unwrap();
    assert!(m.body().is_empty());
}

#[test]
fn datagram_content_length_rules() {
    let base = "MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 5\r\n\r\n";
    assert_eq!(msg(&format!("{base}hello world")).body().as_ref(), b"hello");
    let e = SipMessage::parse(Bytes::from(format!("{base}hel"))).unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::Truncated);
    assert_eq!(e.status_code(), 400);
    let no_cl = "MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\nrest";
    assert_eq!(msg(no_cl).body().as_ref(), b"rest");
    assert_eq!(msg(no_cl).content_length(), None);
    let e = SipMessage::parse(Bytes::from_static(b"\r\n\r\n")).unwrap_err();
    assert_eq!(e.kind(), ParseErrorKind::Empty);
}

#[test]
fn start_line_errors() {
    let cases: &[(&str, u16)] = &[
        ("INVITE sip:a@b SIP/3.0\r\n\r\n", 505),
        ("INVITE  sip:a@b SIP/2.0\r\n\r\n", 400),
        ("INVITE sip:a@b SIP/2.0 \r\n\r\n", 400),
        ("INVITE <sip:a@b> SIP/2.0\r\n\r\n", 400),
        ("INVITE http://x SIP/2.0\r\n\r\n", 416),
        ("SIP/2.0 20 OK\r\n\r\n", 400),
        ("SIP/2.0 200OK\r\n\r\n", 400),
        ("garbage\r\n\r\n", 400),
        ("INVITE sip:a@b SIP\u{e9}xx\r\n\r\n", 400),
        ("INVITE sip:a@b SIP/\u{e9}.0\r\n\r\n", 400),
        ("SIP\u{e9}xx 200 OK\r\n\r\n", 400),
        ("INVITE sip:a@b SIP/2.\r\n\r\n", 400),
    ];
    for (m, code) in cases {
        let e = SipMessage::parse(Bytes::copy_from_slice(m.as_bytes())).unwrap_err();
        assert_eq!(e.status_code(), *code, "{m:?}: {e}");
    }
    let r = msg("SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n");
    assert_eq!((r.status(), r.reason()), (Some(180), Some("Ringing")));
    let r = msg("SIP/2.0 100\r\n\r\n");
    assert_eq!((r.status(), r.reason()), (Some(100), Some("")));
}

#[test]
fn stream_framing() {
    let m = INVITE.as_bytes();
    assert_eq!(frame_stream(m).unwrap(), Some(m.len()));
    assert_eq!(frame_stream(&m[..m.len() - 1]).unwrap(), None);
    assert_eq!(frame_stream(&m[..40]).unwrap(), None);
    let mut two = b"\r\n".to_vec();
    two.extend_from_slice(m);
    two.extend_from_slice(m);
    assert_eq!(frame_stream(&two).unwrap(), Some(m.len() + 2));
    assert_eq!(next_stream_item(b"\r\n\r\nINVITE").unwrap(), Some(StreamItem::Ping));
    assert_eq!(next_stream_item(b"\r\n").unwrap(), None);
    assert_eq!(next_stream_item(b"\r\nINV").unwrap(), Some(StreamItem::Pong));
    assert_eq!(next_stream_item(m).unwrap(), Some(StreamItem::Message(m.len())));
    let no_cl = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n";
    assert_eq!(frame_stream(no_cl).unwrap_err().kind(), ParseErrorKind::BadContentLength);
    let huge = vec![b'a'; MAX_HEADER_BYTES + 10];
    assert_eq!(frame_stream(&huge).unwrap_err().kind(), ParseErrorKind::HeadersTooLarge);
    let mut long_headers = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
    while long_headers.len() <= MAX_HEADER_BYTES {
        long_headers.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    assert_eq!(frame_stream(&long_headers).unwrap_err().status_code(), 513);
    // The datagram parser refuses it too, but the salvage still answers with a 513.
    let mut dgram = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK5\r\n".to_vec();
    dgram.extend_from_slice(&long_headers[25..]);
    dgram.extend_from_slice(b"\r\n");
    let e = SipMessage::parse(Bytes::from(dgram.clone())).unwrap_err();
    assert_eq!(e.status_code(), 513);
    let resp = SipMessage::error_response(&dgram, &e, None).unwrap();
    assert!(resp.starts_with(b"SIP/2.0 513 "));
    let big_body = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 99999999\r\n\r\n";
    assert_eq!(frame_stream(big_body).unwrap_err().status_code(), 413);
}

#[test]
fn salvage_answers_broken_requests() {
    let bad = "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx\r\n\
From: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x1\r\nCSeq: 1 INVITE\r\nContent-Length: 999\r\n\r\nshort";
    let err = SipMessage::parse(Bytes::from_static(bad.as_bytes())).unwrap_err();
    let resp = SipMessage::error_response(bad.as_bytes(), &err, Some("srv1")).unwrap();
    let r = SipMessage::parse(resp).unwrap();
    assert_eq!(r.status(), Some(400));
    assert_eq!(r.top_via().unwrap().branch(), Some("z9hG4bKx"));
    assert_eq!(r.to().unwrap().tag(), Some("srv1"));
    assert_eq!(r.cseq().unwrap().seq, 1);
    // A message whose CSeq is broken still yields its Via through the lazy accessors.
    let m = msg("BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKy\r\nCSeq: x\r\n\r\n");
    assert!(m.cseq().is_err());
    assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bKy"));
    let e = m.validate().unwrap_err();
    let resp = Response::for_request(&m, e.status_code(), e.reason_phrase()).to_bytes();
    assert!(resp.starts_with(b"SIP/2.0 400 "));
    // No Via, ACKs and responses are dropped.
    let e = err.clone();
    assert!(SipMessage::error_response(b"INVITE sip:a@b SIP/2.0\r\nCSeq: 1\r\n\r\n", &e, None).is_none());
    assert!(SipMessage::error_response(b"ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n", &e, None).is_none());
    assert!(SipMessage::error_response(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n", &e, None).is_none());
}

#[test]
fn response_for_request_copies_headers() {
    let req = msg(INVITE);
    let resp = Response::for_request(&req, 180, "Ringing")
        .to_tag("b2b-1")
        .header("Contact", "<sip:agent@10.0.0.5>")
        .build()
        .unwrap();
    assert_eq!(resp.status(), Some(180));
    assert_eq!(resp.vias().unwrap(), req.vias().unwrap());
    assert_eq!(resp.from().unwrap(), req.from().unwrap());
    assert_eq!(resp.to().unwrap().tag(), Some("b2b-1"));
    assert_eq!(resp.call_id().unwrap(), req.call_id().unwrap());
    assert_eq!(resp.cseq().unwrap(), req.cseq().unwrap());
    assert_eq!(resp.content_length(), Some(0));
    assert!(resp.header("Record-Route").is_none());
    resp.validate().unwrap();
    let mut ok = Response::for_request(&req, 200, "OK").to_tag("b2b-1");
    ok.copy_header_from(&req, "record-route");
    let ok = ok.build().unwrap();
    assert_eq!(ok.record_route().unwrap().len(), 2);
}

#[test]
fn framer_and_parser_agree_on_folded_content_length() {
    // A continuation line that looks like "l: 5" must not be taken as Content-Length.
    let m = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: x\r\n l: 5\r\nContent-Length: 0\r\n\r\nhello";
    let n = frame_stream(m).unwrap().unwrap();
    assert_eq!(n, m.len() - 5);
    let parsed = SipMessage::parse(Bytes::copy_from_slice(&m[..n])).unwrap();
    assert_eq!(parsed.content_length(), Some(0));
}

#[test]
fn request_builder_with_body() {
    let uri = Uri::parse("sip:agent@10.0.0.5:5062").unwrap();
    let sdp = Bytes::from_static(b"v=0\r\n");
    let req = Request::builder(Method::Invite, &uri)
        .header("Via", Via::new("UDP", "10.0.0.1", Some(5060), "z9hG4bKabc").to_string())
        .header("Max-Forwards", "70")
        .header("From", "<sip:queue@meritline>;tag=q1")
        .header("To", "<sip:agent@10.0.0.5>")
        .header("Call-ID", "c1@meritline")
        .header("CSeq", "1 INVITE")
        .header("Content-Length", "9999")
        .body("application/sdp", sdp.clone())
        .build()
        .unwrap();
    assert_eq!(req.request_uri().unwrap(), uri);
    assert_eq!(req.content_length(), Some(5));
    assert_eq!(req.body(), &sdp);
    req.validate().unwrap();
}

#[test]
fn edit_and_reserialize() {
    let req = msg(INVITE);
    let mut b = req.to_builder();
    b.stamp_top_via_source("198.51.100.20:40000".parse().unwrap()).unwrap();
    b.prepend_via(&Via::new("UDP", "10.1.1.1", Some(5060), "z9hG4bKmine"));
    b.set_header("Max-Forwards", "68");
    let out = b.clone().build().unwrap();
    let vias = out.vias().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].branch(), Some("z9hG4bKmine"));
    assert_eq!(vias[1].received(), Some("198.51.100.20"));
    assert_eq!(vias[1].rport(), Some(Some(40000)));
    assert_eq!(out.max_forwards().unwrap(), Some(68));
    assert_eq!(out.body(), req.body());
    assert_eq!(out.record_route().unwrap().len(), 2);
    assert_eq!(b.remove_top_via().as_deref(), Some("SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKmine"));
    assert_eq!(b.build().unwrap().vias().unwrap().len(), 2);
}

#[test]
fn builder_blocks_header_injection() {
    let r = Response::builder(200, "OK\r\nEvil: 1").header("X-A", "v\r\nEvil: 2").build().unwrap();
    assert!(r.header("Evil").is_none());
}

#[test]
fn non_utf8_headers_are_sanitized() {
    let mut raw = b"MESSAGE sip:a@b SIP/2.0\r\nFrom: \"".to_vec();
    raw.extend_from_slice(&[0xe9, 0xff]);
    raw.extend_from_slice(b"\" <sip:x@y>;tag=1\r\nl: 0\r\n\r\n");
    let m = SipMessage::parse(Bytes::from(raw)).unwrap();
    assert_eq!(m.from().unwrap().display.as_deref(), Some("??"));
}

#[test]
fn cancel_and_ack_for_invite() {
    let mut inv = msg(INVITE).to_builder();
    inv.prepend_header("Route", "<sip:edge.example.com;lr>");
    let inv = inv.build().unwrap();
    let cancel = Request::cancel_for(&inv).unwrap().build().unwrap();
    assert_eq!(cancel.method(), Some(Method::Cancel));
    assert_eq!(cancel.request_uri_str(), inv.request_uri_str());
    assert_eq!(cancel.vias().unwrap(), vec![inv.top_via().unwrap()]);
    assert_eq!(cancel.cseq().unwrap(), CSeq { seq: 102, method: Method::Cancel });
    assert_eq!(cancel.from().unwrap(), inv.from().unwrap());
    assert_eq!(cancel.to().unwrap(), inv.to().unwrap());
    assert_eq!(cancel.route().unwrap().len(), 1);
    cancel.validate().unwrap();

    let busy = Response::for_request(&inv, 486, "Busy Here").to_tag("uas-9").build().unwrap();
    let ack = Request::ack_for_non_2xx(&inv, &busy).unwrap().build().unwrap();
    assert_eq!(ack.method(), Some(Method::Ack));
    assert_eq!(ack.to().unwrap().tag(), Some("uas-9"));
    assert_eq!(ack.cseq().unwrap(), CSeq { seq: 102, method: Method::Ack });
    assert_eq!(ack.top_via().unwrap().branch(), inv.top_via().unwrap().branch());
    assert_eq!(ack.vias().unwrap().len(), 1);
    ack.validate().unwrap();
}
