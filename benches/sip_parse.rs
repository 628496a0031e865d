//! Parse benchmark: the same typical carrier INVITE (with SDP) parsed by Meritline's SIP
//! message layer and by rsip, each followed by reading the top Via, From, To, Call-ID and
//! CSeq as typed values. Criterion reports both; a final summary prints medians and the ratio.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use criterion::{criterion_group, Criterion};
use meritline::sip::message::SipMessage;
use rsip::prelude::*;

const INVITE: &str = "INVITE sip:+15551234567@meritline.example.com;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bK-524287-1---abc123;rport\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKinner;received=198.51.100.7\r\n\
Max-Forwards: 69\r\n\
From: \"Carrier Caller\" <sip:+15557654321@carrier.example.net>;tag=as5f3a1b2c\r\n\
To: <sip:+15551234567@meritline.example.com>\r\n\
Call-ID: 3848276298220188511@carrier.example.net\r\n\
CSeq: 102 INVITE\r\n\
Contact: <sip:+15557654321@203.0.113.10:5060;transport=udp>\r\n\
Record-Route: <sip:203.0.113.10;lr>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO, PRACK, UPDATE\r\n\
Supported: replaces, timer\r\n\
User-Agent: CarrierSBC 4.2\r\n\
P-Asserted-Identity: <sip:+15557654321@carrier.example.net>\r\n\
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

fn ours(bytes: &Bytes) -> usize {
    let m = SipMessage::parse(bytes.clone()).expect("parses");
    let via = m.top_via().expect("via");
    let from = m.from().expect("from");
    let to = m.to().expect("to");
    let call_id = m.call_id().expect("call-id");
    let cseq = m.cseq().expect("cseq");
    via.host.len() + from.uri.host.len() + to.uri.host.len() + call_id.len() + cseq.seq as usize
}

fn theirs(bytes: &Bytes) -> usize {
    let m = rsip::SipMessage::try_from(&bytes[..]).expect("rsip parses");
    let via = m.via_header().expect("via").typed().expect("typed via");
    let from = m.from_header().expect("from").typed().expect("typed from");
    let to = m.to_header().expect("to").typed().expect("typed to");
    let call_id = m.call_id_header().expect("call-id").value().len();
    let cseq = m.cseq_header().expect("cseq").typed().expect("typed cseq");
    via.uri.host_with_port.to_string().len()
        + from.uri.host_with_port.to_string().len()
        + to.uri.host_with_port.to_string().len()
        + call_id
        + cseq.seq as usize
}

fn bench(c: &mut Criterion) {
    let bytes = Bytes::from_static(INVITE.as_bytes());
    let mut g = c.benchmark_group("sip_parse_invite");
    g.bench_function("meritline", |b| b.iter(|| ours(black_box(&bytes))));
    g.bench_function("rsip", |b| b.iter(|| theirs(black_box(&bytes))));
    // For reference: only the lazy index (start line + header ranges), no typed header.
    g.bench_function("meritline_index_only", |b| {
        b.iter(|| SipMessage::parse(black_box(&bytes).clone()).map(|m| m.body().len()))
    });
    g.finish();
}

/// Median nanoseconds per call over 31 batches of `n` calls.
fn median_ns(n: u32, f: &dyn Fn() -> usize) -> f64 {
    let mut samples: Vec<f64> = (0..31)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                black_box(f());
            }
            t.elapsed().as_nanos() as f64 / f64::from(n)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn summary() {
    let bytes = Bytes::from_static(INVITE.as_bytes());
    let a = median_ns(2000, &|| ours(black_box(&bytes)));
    let b = median_ns(300, &|| theirs(black_box(&bytes)));
    println!("summary: meritline {a:.0} ns/msg, rsip {b:.0} ns/msg, rsip/meritline = {:.1}x", b / a);
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    summary();
}
