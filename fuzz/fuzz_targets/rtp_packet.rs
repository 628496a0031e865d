//! Fuzz target for the RTP header view and the WAV prompt loader: arbitrary bytes must be
//! rejected cleanly. Any panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meritline::media::rtp::{is_rtcp, RtpHeader, RtpHeaderMut};
use meritline::media::Prompt;

fuzz_target!(|data: &[u8]| {
    let _ = is_rtcp(data);
    if let Ok(h) = RtpHeader::parse(data) {
        let _ = (h.payload_type(), h.sequence_number(), h.timestamp(), h.ssrc(), h.marker());
    }
    let mut copy = data.to_vec();
    if let Ok(mut h) = RtpHeaderMut::parse(&mut copy) {
        h.set_sequence_number(1);
        h.set_timestamp(2);
        h.set_ssrc(3);
        let _ = h.payload_mut().len();
    }
    let _ = Prompt::from_wav_bytes("fuzz.wav", data);
});
