//! Unit tests for SDP parsing/serialization and offer/answer with SIPp, baresip (captured),
//! Linphone-like and hold bodies, malformed inputs, and no-panic property tests.

use super::*;
use proptest::prelude::*;
use std::net::{Ipv4Addr, SocketAddr};

const SIPP_OFFER: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

const BARESIP_OFFER: &str = "v=0\r\n\
o=- 2890844526 2890844526 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 10000 RTP/AVP 96 9 8 0 101\r\n\
b=AS:128\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 stereo=1;sprop-stereo=1\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=rtcp-rsize\r\n\
a=sendrecv\r\n\
a=label:1\r\n\
a=ssrc:1558371386 cname:b4f7a9f3-4c7f-4f31\r\n\
a=ptime:20\r\n";

/// Captured from the installed baresip 1.0.0 dialing a SIPp UAS on loopback.
const BARESIP_1_0_CAPTURED: &str = "v=0\r\n\
o=- 1790914911 822971992 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
a=tool:baresip 1.0.0\r\n\
m=audio 21090 RTP/AVP 0 8 96 9 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 stereo=1;sprop-stereo=1\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=sendrecv\r\n\
a=label:1\r\n\
a=rtcp-rsize\r\n\
a=ssrc:1470537649 cname:sip:caller@127.0.0.1\r\n\
a=minptime:20\r\n\
a=ptime:20\r\n";

// bare LF line endings, session-level attributes, video line, several telephone-event rates
const LINPHONE_OFFER: &str = "v=0
o=alice 3262 2331 IN IP4 192.0.2.10
s=Talk
c=IN IP4 192.0.2.10
t=0 0
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
a=record:off
m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:97 speex/16000
a=fmtp:97 vbr=on
a=rtpmap:98 speex/8000
a=fmtp:98 vbr=on
a=fmtp:18 annexb=yes
a=rtpmap:101 telephone-event/48000
a=rtpmap:99 telephone-event/16000
a=rtpmap:100 telephone-event/8000
a=rtcp:7079
a=rtcp-fb:* trr-int 1000
m=video 9078 RTP/AVP 96
a=rtpmap:96 VP8/90000
";

fn local() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))
}

fn both() -> [AudioCodec; 2] {
    [AudioCodec::Pcmu, AudioCodec::Pcma]
}

#[test]
fn parses_sipp_offer() {
    let sdp = SessionDescription::parse(SIPP_OFFER).unwrap();
    assert_eq!(sdp.origin.username, "user1");
    assert_eq!(sdp.origin.session_version, 2353687637);
    assert_eq!(sdp.session_name, "-");
    assert_eq!(sdp.connection.as_ref().unwrap().ip(), Some(local()));
    let m = &sdp.media[0];
    assert_eq!((m.media.as_str(), m.port, m.proto.as_str()), ("audio", 6000, "RTP/AVP"));
    assert_eq!(m.rtpmap(0).unwrap().encoding, "PCMU");
    assert_eq!(sdp.to_sdp_string(), SIPP_OFFER, "round trip is byte-exact");
}

#[test]
fn answers_sipp_offer() {
    let offer = SessionDescription::parse(SIPP_OFFER).unwrap();
    let (answer, neg) = answer_audio(&offer, local(), 20000, &both(), 42).unwrap();
    assert_eq!(neg.codec, AudioCodec::Pcmu);
    assert_eq!(neg.payload_type, 0);
    assert_eq!(neg.telephone_event_pt, None);
    assert_eq!(neg.remote_rtp, "127.0.0.1:6000".parse::<SocketAddr>().unwrap());
    assert_eq!(neg.remote_rtcp, "127.0.0.1:6001".parse::<SocketAddr>().unwrap());
    assert_eq!(neg.direction, Direction::SendRecv);
    assert_eq!(neg.ptime_ms, 20);
    assert!(!neg.remote_hold);
    assert!(neg.should_send());
    let text = answer.to_sdp_string();
    assert_eq!(
        text,
        "v=0\r\no=meritline 42 1 IN IP4 127.0.0.1\r\ns=meritline\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 20000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    assert_eq!(SessionDescription::parse(&text).unwrap(), answer);
}

#[test]
fn answers_baresip_offer_in_offer_order() {
    let offer = SessionDescription::parse_bytes(BARESIP_OFFER.as_bytes()).unwrap();
    assert_eq!(offer.media[0].bandwidths, vec!["AS:128".to_string()]);
    assert_eq!(offer.media[0].fmtp(101), Some("0-15"));
    // offer order is 96 9 8 0: PCMA comes before PCMU
    let (answer, neg) = answer_audio(&offer, local(), 20000, &both(), 7).unwrap();
    assert_eq!((neg.codec, neg.payload_type), (AudioCodec::Pcma, 8));
    assert_eq!(neg.telephone_event_pt, Some(101));
    let m = &answer.media[0];
    assert_eq!(m.formats, vec!["8", "101"]);
    assert_eq!(m.fmtp(101), Some("0-15"));
    assert_eq!(m.rtpmap(101).unwrap().encoding, "telephone-event");
    // we only do PCMU: PCMU is chosen even though later in the offer
    let (_, neg) = answer_audio(&offer, local(), 20000, &[AudioCodec::Pcmu], 7).unwrap();
    assert_eq!((neg.codec, neg.payload_type), (AudioCodec::Pcmu, 0));
}

#[test]
fn answers_linphone_offer_and_rejects_video() {
    let offer = SessionDescription::parse(LINPHONE_OFFER).unwrap();
    assert_eq!(offer.attributes.len(), 2);
    assert_eq!(offer.media.len(), 2);
    let (answer, neg) = answer_audio(&offer, local(), 30000, &both(), 9).unwrap();
    assert_eq!((neg.codec, neg.payload_type), (AudioCodec::Pcmu, 0));
    assert_eq!(neg.telephone_event_pt, Some(100), "only the 8 kHz telephone-event");
    assert_eq!(neg.remote_rtp, "192.0.2.10:7078".parse::<SocketAddr>().unwrap());
    assert_eq!(neg.remote_rtcp, "192.0.2.10:7079".parse::<SocketAddr>().unwrap());
    assert_eq!(answer.media.len(), 2);
    assert_eq!(answer.media[0].formats, vec!["0", "100"]);
    assert_eq!(answer.media[0].fmtp(100), Some("0-16"));
    assert_eq!(answer.media[1].port, 0);
    assert_eq!(answer.media[1].media, "video");
    assert!(answer.to_sdp_string().contains("\r\nm=video 0 RTP/AVP 96\r\n"));
}

#[test]
fn hold_offers() {
    let sendonly = SIPP_OFFER.to_string() + "a=sendonly\r\n";
    let offer = SessionDescription::parse(&sendonly).unwrap();
    let (answer, neg) = answer_audio(&offer, local(), 20000, &both(), 1).unwrap();
    assert_eq!(neg.direction, Direction::RecvOnly);
    assert!(neg.remote_hold);
    assert!(!neg.should_send());
    assert_eq!(answer.media[0].direction(), Some(Direction::RecvOnly));

    let inactive = SIPP_OFFER.replace("t=0 0\r\n", "t=0 0\r\na=inactive\r\n");
    let offer = SessionDescription::parse(&inactive).unwrap();
    let (answer, neg) = answer_audio(&offer, local(), 20000, &both(), 1).unwrap();
    assert_eq!(neg.direction, Direction::Inactive, "session-level direction applies");
    assert!(neg.remote_hold);
    assert_eq!(answer.media[0].direction(), Some(Direction::Inactive));

    let old_style = SIPP_OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
    let offer = SessionDescription::parse(&old_style).unwrap();
    let (_, neg) = answer_audio(&offer, local(), 20000, &both(), 1).unwrap();
    assert!(neg.remote_hold);
    assert!(!neg.should_send());
    assert_eq!(neg.direction, Direction::SendRecv);

    let recvonly = SIPP_OFFER.to_string() + "a=recvonly\r\n";
    let offer = SessionDescription::parse(&recvonly).unwrap();
    let (_, neg) = answer_audio(&offer, local(), 20000, &both(), 1).unwrap();
    assert_eq!(neg.direction, Direction::SendOnly);
    assert!(!neg.remote_hold);
    assert!(neg.should_send());
}

#[test]
fn no_common_codec_is_488() {
    let g722 = SIPP_OFFER.replace("RTP/AVP 0", "RTP/AVP 9").replace("0 PCMU", "9 G722");
    let offer = SessionDescription::parse(&g722).unwrap();
    let err = answer_audio(&offer, local(), 20000, &both(), 1).unwrap_err();
    assert_eq!(err, SdpError::NoCommonCodec);
    assert_eq!(err.status_code(), 488);
    // audio with port 0, SRTP-only, or video-only: nothing to accept
    for body in [
        SIPP_OFFER.replace("audio 6000", "audio 0"),
        SIPP_OFFER.replace("RTP/AVP", "RTP/SAVP"),
        SIPP_OFFER.replace("m=audio", "m=video"),
    ] {
        let offer = SessionDescription::parse(&body).unwrap();
        assert_eq!(answer_audio(&offer, local(), 20000, &both(), 1).unwrap_err().status_code(), 488);
    }
    // PCMU on a dynamic payload type with 2 channels is not ours either
    let stereo = SIPP_OFFER.replace("RTP/AVP 0", "RTP/AVP 96").replace("0 PCMU/8000", "96 PCMU/8000/2");
    let offer = SessionDescription::parse(&stereo).unwrap();
    assert!(answer_audio(&offer, local(), 20000, &both(), 1).is_err());
}

#[test]
fn second_audio_stream_is_rejected_and_first_usable_wins() {
    let body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
                m=audio 4000 RTP/SAVP 0\r\nc=IN IP4 127.0.0.1\r\n\
                m=audio 5000 RTP/AVP 8\r\nc=IN IP4 127.0.0.2\r\na=ptime:30\r\n\
                m=audio 6000 RTP/AVP 0\r\nc=IN IP4 127.0.0.3\r\n";
    let offer = SessionDescription::parse(body).unwrap();
    let (answer, neg) = answer_audio(&offer, local(), 20000, &both(), 1).unwrap();
    assert_eq!(neg.media_index, 1);
    assert_eq!(neg.remote_rtp, "127.0.0.2:5000".parse::<SocketAddr>().unwrap());
    assert_eq!(neg.ptime_ms, 30);
    assert_eq!(answer.media.iter().map(|m| m.port).collect::<Vec<_>>(), vec![0, 20000, 0]);
}

#[test]
fn missing_connection_is_400() {
    let body = SIPP_OFFER.replace("c=IN IP4 127.0.0.1\r\n", "");
    let offer = SessionDescription::parse(&body).unwrap();
    let err = answer_audio(&offer, local(), 20000, &both(), 1).unwrap_err();
    assert_eq!(err, SdpError::MissingConnection);
    assert_eq!(err.status_code(), 400);
}

#[test]
fn offer_and_accept_answer_round_trip() {
    let offer = offer_audio(local(), 40000, &[AudioCodec::Pcmu, AudioCodec::Pcma, AudioCodec::Pcmu], Some(101), 5, 2);
    let text = offer.to_sdp_string();
    assert_eq!(
        text,
        "v=0\r\no=meritline 5 2 IN IP4 127.0.0.1\r\ns=meritline\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    // the agent phone answers with our own answerer, preferring PCMA
    let parsed = SessionDescription::parse(&text).unwrap();
    let agent_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9));
    let (answer, agent_view) = answer_audio(&parsed, agent_ip, 50000, &[AudioCodec::Pcma], 77).unwrap();
    assert_eq!(agent_view.codec, AudioCodec::Pcma);
    let ours = accept_answer(&offer, &answer).unwrap();
    assert_eq!((ours.codec, ours.payload_type), (AudioCodec::Pcma, 8));
    assert_eq!(ours.telephone_event_pt, Some(101));
    assert_eq!(ours.remote_rtp, "127.0.0.9:50000".parse::<SocketAddr>().unwrap());
    assert_eq!(ours.remote_rtcp, "127.0.0.9:50001".parse::<SocketAddr>().unwrap());
    assert_eq!(ours.direction, Direction::SendRecv);
}

#[test]
fn accept_answer_edge_cases() {
    let offer = offer_audio(local(), 40000, &both(), Some(101), 5, 1);
    let answer_text = |m: &str, extra: &str| {
        format!("v=0\r\no=- 1 1 IN IP4 127.0.0.5\r\ns=-\r\nc=IN IP4 127.0.0.5\r\nt=0 0\r\n{m}\r\n{extra}")
    };
    // answer without rtpmap lines, static PT 8, recvonly (they hold? no: they only receive)
    let a = SessionDescription::parse(&answer_text("m=audio 7000 RTP/AVP 8", "a=recvonly\r\n")).unwrap();
    let n = accept_answer(&offer, &a).unwrap();
    assert_eq!(n.codec, AudioCodec::Pcma);
    assert_eq!(n.telephone_event_pt, None);
    assert_eq!(n.direction, Direction::SendOnly);
    assert!(!n.remote_hold);
    // sendonly answer: they will not receive
    let a = SessionDescription::parse(&answer_text("m=audio 7000 RTP/AVP 0", "a=sendonly\r\n")).unwrap();
    let n = accept_answer(&offer, &a).unwrap();
    assert_eq!(n.direction, Direction::RecvOnly);
    assert!(n.remote_hold);
    // rejected stream / codec we never offered / wrong m-line count
    let a = SessionDescription::parse(&answer_text("m=audio 0 RTP/AVP 0", "")).unwrap();
    assert_eq!(accept_answer(&offer, &a).unwrap_err(), SdpError::NoCommonCodec);
    let a = SessionDescription::parse(&answer_text("m=audio 7000 RTP/AVP 9", "a=rtpmap:9 G722/8000\r\n")).unwrap();
    assert_eq!(accept_answer(&offer, &a).unwrap_err().status_code(), 488);
    let a = SessionDescription::parse(&answer_text("m=audio 7000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96", "")).unwrap();
    assert!(matches!(accept_answer(&offer, &a), Err(SdpError::AnswerMismatch(_))));
    // answer that remaps our PT 8 to a different codec is refused
    let a = SessionDescription::parse(&answer_text("m=audio 7000 RTP/AVP 8", "a=rtpmap:8 PCMU/8000\r\n")).unwrap();
    assert!(accept_answer(&offer, &a).is_err());
    // rtcp attribute with explicit address
    let a =
        SessionDescription::parse(&answer_text("m=audio 7000 RTP/AVP 0", "a=rtcp:9000 IN IP4 127.0.0.8\r\n")).unwrap();
    assert_eq!(accept_answer(&offer, &a).unwrap().remote_rtcp, "127.0.0.8:9000".parse::<SocketAddr>().unwrap());
}

#[test]
fn ipv6_offer_and_answer() {
    let body = "v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 0\r\n";
    let offer = SessionDescription::parse(body).unwrap();
    let (answer, neg) = answer_audio(&offer, "::1".parse().unwrap(), 20000, &both(), 1).unwrap();
    assert_eq!(neg.remote_rtp, "[::1]:6000".parse::<SocketAddr>().unwrap());
    assert!(answer.to_sdp_string().contains("c=IN IP6 ::1\r\n"));
}

#[test]
fn direction_helpers() {
    assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
    assert_eq!(Direction::SendRecv.intersect(Direction::RecvOnly), Direction::RecvOnly);
    assert_eq!(Direction::SendOnly.intersect(Direction::RecvOnly), Direction::Inactive);
}

#[test]
fn malformed_inputs() {
    let cases: &[(&str, &str)] = &[
        ("", "empty SDP"),
        ("o=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\n", "SDP must start with v="),
        ("v=1\r\no=- 1 1 IN IP4 1.2.3.4\r\n", "unsupported SDP version"),
        ("v=0\r\ns=-\r\n", "missing o= line"),
        ("v=0\r\no=- 1 IN IP4 1.2.3.4\r\n", "o= needs 6 fields"),
        ("v=0\r\no=- x 1 IN IP4 1.2.3.4\r\n", "bad o= session id"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4\r\n", "bad c= line"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 99999 RTP/AVP 0\r\n", "bad m= line"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio\r\n", "bad m= line"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nt=now\r\n", "bad t= line"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nhello\r\n", "expected <type>=<value>"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nX=1\r\n", "unknown line type"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\na=\r\n", "empty attribute name"),
        ("v=0\r\nv=0\r\n", "duplicate v="),
    ];
    for (input, reason) in cases {
        match SessionDescription::parse(input) {
            Err(SdpError::Parse { reason: r, .. }) => assert_eq!(&r, reason, "input {input:?}"),
            other => panic!("expected parse error for {input:?}, got {other:?}"),
        }
    }
    let err = SessionDescription::parse("v=0\r\nbad\r\n").unwrap_err();
    assert_eq!(err, SdpError::Parse { line: 2, reason: "expected <type>=<value>" });
    assert_eq!(err.status_code(), 400);
    // tolerated: unknown lowercase types, over-long session ids, junk rtpmap, no trailing CRLF
    let ok = SessionDescription::parse(
        "v=0\r\no=- 123456789012345678901234 1 IN IP4 1.2.3.4\r\ns=x\r\ni=info\r\nu=http://x\r\n\
         t=0 0\r\nm=audio 5 RTP/AVP 0\r\na=rtpmap:zz\r\na=ptime:abc",
    )
    .unwrap();
    assert_eq!(ok.origin.session_id, u64::MAX);
    assert_eq!(ok.media[0].rtpmaps().count(), 0);
    assert_eq!(ok.media[0].ptime(), None);
}

proptest! {
    #[test]
    fn parse_and_negotiate_never_panic(s in "\\PC{0,400}") {
        if let Ok(sdp) = SessionDescription::parse(&s) {
            let _ = answer_audio(&sdp, local(), 20000, &both(), 1);
            let _ = SessionDescription::parse(&sdp.to_sdp_string());
        }
    }

    #[test]
    fn mutated_real_offers_never_panic(
        which in 0usize..3,
        cut in 0usize..600,
        flips in proptest::collection::vec((0usize..600, any::<u8>()), 0..6),
    ) {
        let base = [SIPP_OFFER, BARESIP_OFFER, LINPHONE_OFFER][which];
        let mut bytes = base.as_bytes().to_vec();
        for (pos, b) in flips {
            if let Some(slot) = bytes.get_mut(pos) {
                *slot = b;
            }
        }
        bytes.truncate(cut.min(bytes.len()));
        if let Ok(sdp) = SessionDescription::parse_bytes(&bytes) {
            if let Ok((answer, _)) = answer_audio(&sdp, local(), 20000, &both(), 1) {
                let reparsed = SessionDescription::parse(&answer.to_sdp_string());
                prop_assert!(reparsed.is_ok());
                let offer = offer_audio(local(), 20000, &both(), Some(101), 1, 1);
                let _ = accept_answer(&offer, &sdp);
            }
        }
    }

    #[test]
    fn serialize_parse_round_trip(port in 1u16.., sid in any::<u64>(), te in proptest::option::of(96u8..128)) {
        let offer = offer_audio(local(), port, &both(), te, sid, sid);
        prop_assert_eq!(SessionDescription::parse(&offer.to_sdp_string()).unwrap(), offer);
    }
}

#[test]
fn answers_captured_baresip_offer() {
    let offer = SessionDescription::parse(BARESIP_1_0_CAPTURED).unwrap();
    assert_eq!(offer.to_sdp_string(), BARESIP_1_0_CAPTURED, "round trip is byte-exact");
    let (answer, neg) = answer_audio(&offer, local(), 20000, &both(), 3).unwrap();
    assert_eq!((neg.codec, neg.payload_type, neg.telephone_event_pt), (AudioCodec::Pcmu, 0, Some(101)));
    assert_eq!(neg.remote_rtp, "127.0.0.1:21090".parse::<SocketAddr>().unwrap());
    assert_eq!(neg.remote_rtcp, "127.0.0.1:21091".parse::<SocketAddr>().unwrap());
    assert_eq!(neg.ptime_ms, 20);
    assert_eq!(answer.media[0].formats, vec!["0".to_string(), "101".to_string()]);
    assert!(answer.to_sdp_string().contains("a=fmtp:101 0-15\r\n"));
}

#[test]
fn hold_reoffer_via_set_direction() {
    let mut offer = offer_audio(local(), 40000, &both(), Some(101), 5, 1);
    offer.media[0].set_direction(Direction::SendOnly);
    offer.bump_version();
    let text = offer.to_sdp_string();
    assert!(text.contains("o=meritline 5 2 IN IP4"));
    assert_eq!(text.matches("a=sendonly").count(), 1);
    assert!(!text.contains("sendrecv"));
    let (answer, neg) = answer_audio(&SessionDescription::parse(&text).unwrap(), local(), 1234, &both(), 8).unwrap();
    assert!(neg.remote_hold);
    let ours = accept_answer(&offer, &answer).unwrap();
    assert_eq!(ours.direction, Direction::SendOnly);
    assert!(ours.should_send());
}
