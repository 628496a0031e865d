//! The stream room: the RTP re-stamping of each leg's outgoing stream. [`LegOutput`] gives a leg
//! one SSRC for its whole life, sequence numbers that continue without gaps and timestamps that
//! continue with the wall-clock gap whenever the source of its packets switches ([`StreamSource`]:
//! hold audio or a prompt from the player room, relayed RTP from the other leg), and sets the
//! marker bit on the first packet after a switch. Sans-IO: time comes in as arguments, nothing
//! here does IO, reads the clock or allocates.

use std::time::{Duration, Instant};

use super::rtp::RtpHeaderMut;

/// G.711 clock rate.
pub const SAMPLE_RATE: u32 = 8000;

/// Where the packets a [`LegOutput`] stamps come from. A change of source (including a new hold
/// player instance or a peer SSRC change) re-bases sequence numbers and timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamSource {
    /// Hold audio or a prompt; `instance` distinguishes successive players.
    Player { instance: u32 },
    /// Relayed RTP from the other leg with this SSRC.
    Peer { ssrc: u32 },
}

#[derive(Debug, Clone, Copy)]
struct SourceMapping {
    source: StreamSource,
    seq_offset: u16,
    ts_offset: u32,
    marker_pending: bool,
}

/// Outgoing RTP stream state of one leg: one SSRC for the leg's whole life, sequence numbers that
/// continue without gaps across source switches, and timestamps that continue with a jump equal to
/// the wall-clock gap (in 8 kHz units) since the last packet sent, but never less than that
/// packet's own duration (its G.711 payload length), so the new source's audio cannot overlap the
/// old one's. The marker bit is set on the first packet after a switch.
#[derive(Debug, Clone)]
pub struct LegOutput {
    ssrc: u32,
    mapping: Option<SourceMapping>,
    next_seq: u16,
    last_timestamp: u32,
    last_duration: u32,
    last_sent_at: Option<Instant>,
}

/// Longest payload (in samples) counted as a packet's duration: 100 ms of G.711.
const MAX_PACKET_SAMPLES: usize = 800;

impl LegOutput {
    /// New stream state; `ssrc`, `first_seq` and `first_timestamp` should be random (RFC 3550).
    pub fn new(ssrc: u32, first_seq: u16, first_timestamp: u32) -> Self {
        Self {
            ssrc,
            mapping: None,
            next_seq: first_seq,
            last_timestamp: first_timestamp,
            last_duration: 0,
            last_sent_at: None,
        }
    }

    /// The SSRC every packet sent on this leg carries.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The sequence number the next packet of a new source would get.
    pub fn next_sequence_number(&self) -> u16 {
        self.next_seq
    }

    /// Rewrites SSRC, sequence number, timestamp (and the marker after a switch) of `packet`, sent
    /// at `now`, whose original numbering comes from `source`.
    pub fn stamp(&mut self, now: Instant, source: StreamSource, packet: &mut RtpHeaderMut<'_>) {
        let source_seq = packet.sequence_number();
        let source_ts = packet.timestamp();
        let mapping = match self.mapping {
            Some(mapping) if mapping.source == source => mapping,
            _ => {
                let out_ts = match self.last_sent_at {
                    None => self.last_timestamp,
                    Some(at) => self
                        .last_timestamp
                        .wrapping_add(samples_in(now.saturating_duration_since(at)).max(self.last_duration)),
                };
                SourceMapping {
                    source,
                    seq_offset: self.next_seq.wrapping_sub(source_seq),
                    ts_offset: out_ts.wrapping_sub(source_ts),
                    marker_pending: true,
                }
            }
        };
        let out_seq = source_seq.wrapping_add(mapping.seq_offset);
        let out_ts = source_ts.wrapping_add(mapping.ts_offset);
        packet.set_ssrc(self.ssrc);
        packet.set_sequence_number(out_seq);
        packet.set_timestamp(out_ts);
        if mapping.marker_pending {
            packet.set_marker(true);
        }
        self.mapping = Some(SourceMapping { marker_pending: false, ..mapping });
        // Only newer packets advance the stream; a reordered older one keeps its place.
        if (out_seq.wrapping_sub(self.next_seq) as i16) >= 0 {
            self.next_seq = out_seq.wrapping_add(1);
        }
        if self.last_sent_at.is_none() || (out_ts.wrapping_sub(self.last_timestamp) as i32) >= 0 {
            self.last_timestamp = out_ts;
            self.last_duration = packet.payload().len().min(MAX_PACKET_SAMPLES) as u32;
            self.last_sent_at = Some(now);
        }
    }
}

/// 8 kHz samples in `gap` (wrapping for absurdly long gaps, as RTP timestamps do).
fn samples_in(gap: Duration) -> u32 {
    (gap.as_micros() * u128::from(SAMPLE_RATE) / 1_000_000) as u32
}
