//! Per-packet cost of `Relay::handle_inbound`: validate, latch check, header rewrite and (for
//! PCMU<->PCMA legs) in-place transcoding of a 20 ms G.711 packet.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use meritline::media::rtp::write_fixed_header;
use meritline::media::session::{Action, Leg, LegOutput, LegRemote, Relay};
use meritline::media::Codec;

fn relay(agent_codec: Codec) -> (Relay, SocketAddr) {
    let caller_addr = SocketAddr::from(([127, 0, 0, 1], 5000));
    let mut relay = Relay::new(LegOutput::new(1, 0, 0), LegOutput::new(2, 0, 0));
    relay.set_remote(
        Leg::Caller,
        LegRemote { addr: caller_addr, codec: Codec::Pcmu, payload_type: 0, telephone_event_pt: Some(101) },
    );
    relay.set_remote(
        Leg::Agent,
        LegRemote {
            addr: SocketAddr::from(([127, 0, 0, 1], 6000)),
            codec: agent_codec,
            payload_type: agent_codec.static_payload_type(),
            telephone_event_pt: Some(101),
        },
    );
    relay.bridge();
    (relay, caller_addr)
}

fn bench_handle_inbound(c: &mut Criterion) {
    let mut template = vec![0x5Au8; 12 + 160];
    assert!(write_fixed_header(&mut template, false, 0, 1, 0, 0xC0FFEE).is_some());
    let now = Instant::now();
    let mut group = c.benchmark_group("relay_handle_inbound");
    group.throughput(Throughput::Elements(1));
    for (name, agent_codec) in [("same_codec_pcmu", Codec::Pcmu), ("transcode_pcmu_to_pcma", Codec::Pcma)] {
        let (mut relay, source) = relay(agent_codec);
        let mut packet = template.clone();
        group.bench_function(name, |b| {
            b.iter(|| {
                packet.copy_from_slice(&template);
                let action = relay.handle_inbound(now, Leg::Caller, source, black_box(&mut packet));
                debug_assert!(matches!(action, Action::Forward(_)));
                black_box(action)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_handle_inbound);
criterion_main!(benches);
