//! Tests of the media plane: the tokio shell over real UDP ([`shell`]) and the sans-IO rooms
//! ([`stream`], [`player`], [`relay`]), which share the packet helpers below.

mod player;
mod relay;
mod shell;
mod stream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::codec::Codec;
use super::relay::{Leg, LegRemote, Relay};
use super::rtp::{write_fixed_header, RtpHeader};
use super::stream::LegOutput;
use super::wav::Prompt;

const MS: Duration = Duration::from_millis(1);

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn prompt(samples: usize) -> Arc<Prompt> {
    let ulaw = (0..samples).map(|i| (i % 251) as u8).collect();
    Arc::new(Prompt::from_ulaw("test", ulaw))
}

fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: u8) -> Vec<u8> {
    let mut p = vec![payload; 12 + 160];
    write_fixed_header(&mut p, false, pt, seq, ts, ssrc).unwrap();
    p
}

fn remote(port: u16, codec: Codec, pt: u8, te: Option<u8>) -> LegRemote {
    LegRemote { addr: addr(port), codec, payload_type: pt, telephone_event_pt: te }
}

fn relay() -> Relay {
    let mut relay = Relay::new(LegOutput::new(0xCA11, 1000, 50_000), LegOutput::new(0xA6E7, 65530, u32::MAX - 100));
    relay.set_remote(Leg::Caller, remote(5000, Codec::Pcmu, 0, Some(101)));
    relay.set_remote(Leg::Agent, remote(6000, Codec::Pcma, 8, Some(96)));
    relay
}

fn fields(p: &[u8]) -> (u32, u16, u32, bool, u8) {
    let h = RtpHeader::parse(p).unwrap();
    (h.ssrc(), h.sequence_number(), h.timestamp(), h.marker(), h.payload_type())
}
