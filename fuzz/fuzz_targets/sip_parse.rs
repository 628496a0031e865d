//! Fuzz target for the SIP message layer: every entry point (datagram parse, stream framing,
//! keep-alive classification, salvage) and every typed accessor on whatever parses, plus a
//! builder round trip for messages that validate. Any panic is a bug.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use meritline::sip::message::{
    frame_stream, next_stream_item, salvage_headers, SipMessage, Uri, Via,
};

fuzz_target!(|data: &[u8]| {
    let _ = frame_stream(data);
    let _ = next_stream_item(data);
    let _ = salvage_headers(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Uri::parse(s).map(|u| u.to_string());
        let _ = Via::parse(s).map(|v| v.to_string());
    }
    let msg = match SipMessage::parse(Bytes::copy_from_slice(data)) {
        Ok(m) => m,
        Err(e) => {
            if let Some(resp) = SipMessage::error_response(data, &e, Some("fuzz")) {
                SipMessage::parse(resp).expect("our own error response must parse");
            }
            return;
        }
    };
    let _ = (
        msg.is_request(),
        msg.method(),
        msg.request_uri(),
        msg.status(),
        msg.reason(),
    );
    let _ = (
        msg.vias(),
        msg.top_via(),
        msg.call_id(),
        msg.cseq(),
        msg.from(),
        msg.to(),
    );
    let _ = (
        msg.contacts(),
        msg.route(),
        msg.record_route(),
        msg.max_forwards(),
    );
    let _ = (
        msg.expires(),
        msg.content_type(),
        msg.media_type(),
        msg.content_length(),
    );
    let _ = (
        msg.date(),
        msg.authorization(),
        msg.proxy_authorization(),
        msg.body(),
    );
    let _ = msg.header("Via");
    let _ = msg.header_values("Via").count() + msg.header_values("X-Other").count();
    let _ = msg.headers().count();
    if msg.validate().is_ok() {
        let rebuilt = msg
            .to_builder()
            .build()
            .expect("rebuilt message must parse");
        assert_eq!(rebuilt.call_id().ok(), msg.call_id().ok());
        assert_eq!(rebuilt.body(), msg.body());
    }
});
