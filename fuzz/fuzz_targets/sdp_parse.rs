//! Fuzz target for SDP: parsing, re-serializing, and offer/answer against whatever parses.
//! Any panic is a bug.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use meritline::sdp::{accept_answer, answer_audio, offer_audio, AudioCodec, SessionDescription};

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = SessionDescription::parse_bytes(data) else { return };
    let _ = sdp.to_string();
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let _ = answer_audio(&sdp, ip, 20000, &[AudioCodec::Pcmu, AudioCodec::Pcma], 1);
    let offer = offer_audio(ip, 20002, &[AudioCodec::Pcmu, AudioCodec::Pcma], Some(101), 1, 1);
    let _ = accept_answer(&offer, &sdp);
});
