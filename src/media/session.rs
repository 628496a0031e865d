//! Sans-IO media core for one call: the per-leg outgoing stream state ([`LegOutput`]) that keeps
//! one SSRC and continuous sequence numbers/timestamps across source switches, the paced prompt
//! generator ([`PromptPlayer`]: looping hold audio, or a prompt played once then comfort
//! silence), and the bridged-pair [`Relay`] that validates, latches, rewrites and transcodes
//! inbound RTP in place, says where to send it, and runs DTMF detection ([`super::dtmf`]) on the
//! caller leg at all times, reporting digits and prompt ends as [`RelayEvent`]s. Time comes in as
//! arguments; nothing here does IO, reads the clock or allocates per packet.
//!
//! RTCP policy: RTCP is *terminated*, not forwarded. Because every leg gets its own SSRC and
//! sequence space (and hold audio is spliced in), the peer's sender/receiver reports describe a
//! stream the other side never saw; forwarding them with only the SSRC rewritten would feed wrong
//! loss/jitter figures to the endpoint. RTCP (on port+1 or multiplexed per RFC 5761) is counted and
//! dropped with [`DropReason::Rtcp`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::codec::{g711, Codec};
use super::dtmf::{DtmfDetector, DtmfDigit};
use super::rtp::{self, RtpHeaderMut};
use super::wav::Prompt;

/// G.711 clock rate.
pub const SAMPLE_RATE: u32 = 8000;
/// Samples in one 20 ms packet.
pub const FRAME_SAMPLES: usize = 160;
/// Packetization interval of hold audio.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);
/// How many overdue hold frames are still sent back-to-back when the shell wakes up late; older
/// ones are skipped (the timeline jumps forward, as it would for real-time audio).
pub const MAX_CATCH_UP_FRAMES: u64 = 3;

/// One side of a bridged call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The carrier side (the customer).
    Caller,
    /// The agent's phone.
    Agent,
}

impl Leg {
    /// The leg on the other side of the bridge.
    pub fn other(self) -> Leg {
        match self {
            Leg::Caller => Leg::Agent,
            Leg::Agent => Leg::Caller,
        }
    }

    fn index(self) -> usize {
        match self {
            Leg::Caller => 0,
            Leg::Agent => 1,
        }
    }
}

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

/// How a [`PromptPlayer`] plays its prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Playback {
    /// Hold audio: the prompt loops forever.
    Loop,
    /// An announcement: the prompt plays once from the start, then G.711 silence frames follow at
    /// the same pace (comfort silence that keeps the stream, NAT bindings and the carrier's RTP
    /// inactivity timer alive) until the player is replaced or stopped.
    Once,
}

/// Paced prompt generator: 20 ms / 160-sample frames from a [`Prompt`], scheduled at
/// `start + n * 20 ms` (no drift), looping ([`Playback::Loop`], hold audio) or once then silence
/// ([`Playback::Once`], announcements). Its packets carry SSRC 0 and its own sequence/timestamp
/// numbering; a [`LegOutput`] re-stamps them.
#[derive(Debug, Clone)]
pub struct PromptPlayer {
    prompt: Arc<Prompt>,
    playback: Playback,
    codec: Codec,
    payload_type: u8,
    start: Instant,
    next_frame: u64,
    position: usize,
    frames_skipped: u64,
}

/// The looping player of hold audio (the name this type had before [`Playback::Once`]).
pub type HoldPlayer = PromptPlayer;

impl PromptPlayer {
    /// A looping (hold audio) player whose first frame is due at `start`.
    pub fn new(prompt: Arc<Prompt>, codec: Codec, payload_type: u8, start: Instant) -> Self {
        Self::with_playback(prompt, Playback::Loop, codec, payload_type, start)
    }

    /// A player of `prompt` in the given mode whose first frame is due at `start`.
    pub fn with_playback(
        prompt: Arc<Prompt>,
        playback: Playback,
        codec: Codec,
        payload_type: u8,
        start: Instant,
    ) -> Self {
        Self { prompt, playback, codec, payload_type, start, next_frame: 0, position: 0, frames_skipped: 0 }
    }

    /// Whether the prompt loops or plays once.
    pub fn playback(&self) -> Playback {
        self.playback
    }

    /// Changes the codec and payload type of the following frames (e.g. after a re-INVITE).
    pub fn set_format(&mut self, codec: Codec, payload_type: u8) {
        self.codec = codec;
        self.payload_type = payload_type;
    }

    /// When the next frame is due.
    pub fn poll_timeout(&self) -> Instant {
        self.frame_due(self.next_frame).unwrap_or(self.start)
    }

    /// For [`Playback::Once`]: the instant the prompt's audio has fully played out, i.e. when
    /// the first frame after it is due (`start` + the prompt's length rounded up to whole 20 ms
    /// frames). `None` for looping playback.
    pub fn finishes_at(&self) -> Option<Instant> {
        match self.playback {
            Playback::Loop => None,
            Playback::Once => self.frame_due(self.prompt_frames()),
        }
    }

    /// Frames skipped so far because the caller fell too far behind.
    pub fn frames_skipped(&self) -> u64 {
        self.frames_skipped
    }

    /// Frames holding prompt audio in [`Playback::Once`] mode (the last one padded with silence).
    fn prompt_frames(&self) -> u64 {
        (self.prompt.len() as u64).div_ceil(FRAME_SAMPLES as u64)
    }

    /// Writes the next due frame (12-byte header + 160 samples) into `buf` and returns its length,
    /// or `None` when no frame is due at `now`. Call repeatedly until `None`: at most
    /// `MAX_CATCH_UP_FRAMES + 1` frames come out back-to-back, older overdue frames are skipped.
    /// A frame that does not fit in `buf` is consumed and dropped.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let due = self.frame_due(self.next_frame)?;
        if now < due {
            return None;
        }
        let late_frames = (now.duration_since(due).as_micros() / FRAME_DURATION.as_micros()) as u64;
        if late_frames > MAX_CATCH_UP_FRAMES {
            let skip = late_frames - MAX_CATCH_UP_FRAMES;
            self.next_frame += skip;
            self.frames_skipped += skip;
            self.advance_position(skip);
        }
        let frame = self.next_frame;
        self.next_frame += 1;
        let written = self.write_frame(frame, buf);
        self.advance_position(1);
        written
    }

    fn frame_due(&self, frame: u64) -> Option<Instant> {
        let micros = frame.checked_mul(FRAME_DURATION.as_micros() as u64)?;
        self.start.checked_add(Duration::from_micros(micros))
    }

    fn advance_position(&mut self, frames: u64) {
        let len = self.prompt.len() as u64;
        if len > 0 && self.playback == Playback::Loop {
            let advanced = (self.position as u64 + (frames % len) * FRAME_SAMPLES as u64) % len;
            self.position = advanced as usize;
        }
    }

    fn write_frame(&self, frame: u64, buf: &mut [u8]) -> Option<usize> {
        let header_len = rtp::write_fixed_header(
            buf,
            false,
            self.payload_type,
            frame as u16,
            (frame as u32).wrapping_mul(FRAME_SAMPLES as u32),
            0,
        )?;
        let payload = buf.get_mut(header_len..header_len + FRAME_SAMPLES)?;
        let silence = match self.codec {
            Codec::Pcmu => g711::ULAW_SILENCE,
            Codec::Pcma => g711::ALAW_SILENCE,
        };
        let samples = self.prompt.samples(self.codec);
        if samples.is_empty() {
            payload.fill(silence);
        } else if self.playback == Playback::Once {
            // The frame's slice of the prompt, padded with silence past its end.
            let offset = usize::try_from(frame.saturating_mul(FRAME_SAMPLES as u64)).unwrap_or(usize::MAX);
            let rest = samples.get(offset..).unwrap_or(&[]);
            let take = rest.len().min(FRAME_SAMPLES);
            let (audio, pad) = payload.split_at_mut(take);
            audio.copy_from_slice(rest.get(..take)?);
            pad.fill(silence);
        } else {
            let mut position = self.position % samples.len();
            let mut filled = 0;
            // Bounded: each pass copies at least one sample.
            while filled < FRAME_SAMPLES {
                let take = (FRAME_SAMPLES - filled).min(samples.len() - position);
                let (Some(dst), Some(src)) =
                    (payload.get_mut(filled..filled + take), samples.get(position..position + take))
                else {
                    return None;
                };
                dst.copy_from_slice(src);
                filled += take;
                position = (position + take) % samples.len();
            }
        }
        Some(header_len + FRAME_SAMPLES)
    }
}

/// What the signalling side agreed for one leg (the lead maps SDP to this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegRemote {
    /// Signalled RTP address (`c=`/`m=` of the peer's SDP).
    pub addr: SocketAddr,
    /// The G.711 law used on this leg.
    pub codec: Codec,
    /// RTP payload type of the audio codec on this leg (0 for PCMU, 8 for PCMA usually).
    pub payload_type: u8,
    /// RTP payload type of telephone-event (RFC 4733) on this leg, if negotiated.
    pub telephone_event_pt: Option<u8>,
}

/// Why an inbound packet was not forwarded. [`DropReason::as_str`] is the metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a valid RTP packet.
    NotRtp,
    /// RTCP: terminated here (see module docs).
    Rtcp,
    /// From another address than the one this leg latched to.
    WrongSource,
    /// Payload type neither the leg's audio nor telephone-event type.
    UnknownPayloadType,
    /// The receiving or sending leg has no remote yet.
    NoRemote,
    /// The call is not bridged (caller on hold).
    NotBridged,
    /// Telephone-event from a leg whose peer did not negotiate telephone-event.
    TelephoneEventUnsupported,
}

impl DropReason {
    /// Stable lower-case label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::NotRtp => "not_rtp",
            DropReason::Rtcp => "rtcp",
            DropReason::WrongSource => "wrong_source",
            DropReason::UnknownPayloadType => "unknown_payload_type",
            DropReason::NoRemote => "no_remote",
            DropReason::NotBridged => "not_bridged",
            DropReason::TelephoneEventUnsupported => "telephone_event_unsupported",
        }
    }
}

/// A packet to send: the first `len` bytes of the buffer, from `leg`'s socket to `destination`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    pub leg: Leg,
    pub destination: SocketAddr,
    pub len: usize,
}

/// The outcome of [`Relay::handle_inbound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The buffer was rewritten in place; send it.
    Forward(Transmit),
    /// Do not send anything.
    Drop(DropReason),
}

/// Per-leg packet counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegStats {
    /// Datagrams received on the leg's RTP and RTCP ports.
    pub packets_received: u64,
    /// Packets sent to the leg (relayed and hold audio).
    pub packets_sent: u64,
    /// Received datagrams not forwarded (including terminated RTCP).
    pub packets_dropped: u64,
    /// RTCP packets received (all also counted as dropped).
    pub rtcp_received: u64,
}

#[derive(Debug, Clone)]
struct LegState {
    remote: Option<LegRemote>,
    latched: Option<SocketAddr>,
    latching: bool,
    output: LegOutput,
    stats: LegStats,
}

impl LegState {
    fn destination(&self) -> Option<SocketAddr> {
        self.latched.or(self.remote.map(|r| r.addr))
    }
}

enum InboundKind {
    Audio(Codec),
    TelephoneEvent,
}

/// What the core reports to its owner ([`Relay::poll_event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayEvent {
    /// The caller pressed a key (RFC 4733 telephone-event on the caller leg; detected whether
    /// bridged, on hold or listening to a prompt).
    Dtmf(DtmfDigit),
    /// The prompt started by [`Relay::play_prompt`] with this `playback_id` has fully played out
    /// (not reported for a prompt replaced or stopped before its end).
    PromptFinished { playback_id: u64 },
}

/// Events kept when the owner does not poll: older ones are dropped first.
const MAX_QUEUED_EVENTS: usize = 32;

/// What plays to the caller when not bridged.
#[derive(Debug, Clone)]
struct ActivePlayer {
    player: PromptPlayer,
    /// For a prompt played once: its id, and whether its end was reported.
    once: Option<(u64, bool)>,
}

/// The media core of one call: two legs, hold audio or prompts towards the caller, DTMF detection
/// on the caller leg, and the relay between the legs when bridged. Symmetric RTP latching (RFC 4961
/// / "comedia"): the first valid RTP packet (known payload type) on a leg latches that leg to the
/// packet's source address, and from then on media is sent there instead of the signalled address
/// (NAT'ed home agents). Packets from other addresses are dropped as [`DropReason::WrongSource`],
/// except from the signalled address itself, which always re-latches. A new remote with a different
/// address ([`Relay::set_remote`]) clears the latch. Latching can be turned off per leg
/// ([`Relay::set_latching`]).
#[derive(Debug, Clone)]
pub struct Relay {
    legs: [LegState; 2],
    bridged: bool,
    player: Option<ActivePlayer>,
    hold_prompt: Option<Arc<Prompt>>,
    player_instance: u32,
    caller_dtmf: DtmfDetector,
    events: VecDeque<RelayEvent>,
}

impl Relay {
    /// A new, unbridged core with the legs' outgoing stream states.
    pub fn new(caller_output: LegOutput, agent_output: LegOutput) -> Self {
        let leg = |output| LegState { remote: None, latched: None, latching: true, output, stats: LegStats::default() };
        Self {
            legs: [leg(caller_output), leg(agent_output)],
            bridged: false,
            player: None,
            hold_prompt: None,
            player_instance: 0,
            caller_dtmf: DtmfDetector::new(),
            events: VecDeque::with_capacity(4),
        }
    }

    fn leg(&self, leg: Leg) -> &LegState {
        &self.legs[leg.index()]
    }

    fn leg_mut(&mut self, leg: Leg) -> &mut LegState {
        &mut self.legs[leg.index()]
    }

    /// Sets (or updates) what was negotiated for `leg`.
    pub fn set_remote(&mut self, leg: Leg, remote: LegRemote) {
        let state = self.leg_mut(leg);
        if state.remote.map(|r| r.addr) != Some(remote.addr) {
            state.latched = None;
        }
        state.remote = Some(remote);
        if leg == Leg::Caller {
            if let Some(ActivePlayer { player, .. }) = &mut self.player {
                player.set_format(remote.codec, remote.payload_type);
            }
        }
    }

    /// The remote negotiated for `leg`.
    pub fn remote(&self, leg: Leg) -> Option<LegRemote> {
        self.leg(leg).remote
    }

    /// The address media to `leg` goes to: the latched source, else the signalled address.
    pub fn destination(&self, leg: Leg) -> Option<SocketAddr> {
        self.leg(leg).destination()
    }

    /// Enables (the default) or disables symmetric RTP latching on `leg`. With latching off, RTP
    /// is accepted from any source and sent to the signalled address (for carriers that send
    /// asymmetric RTP from another port than the one in their SDP). Disabling clears the latch.
    pub fn set_latching(&mut self, leg: Leg, enabled: bool) {
        let state = self.leg_mut(leg);
        state.latching = enabled;
        if !enabled {
            state.latched = None;
        }
    }

    /// The address `leg` latched to, if any.
    pub fn latched_address(&self, leg: Leg) -> Option<SocketAddr> {
        self.leg(leg).latched
    }

    /// The outgoing SSRC of `leg`.
    pub fn ssrc(&self, leg: Leg) -> u32 {
        self.leg(leg).output.ssrc()
    }

    /// Counters of `leg`.
    pub fn stats(&self, leg: Leg) -> LegStats {
        self.leg(leg).stats
    }

    /// True while the legs are bridged.
    pub fn is_bridged(&self) -> bool {
        self.bridged
    }

    /// True while hold audio plays to the caller.
    pub fn is_holding(&self) -> bool {
        self.player.as_ref().is_some_and(|active| active.once.is_none())
    }

    /// True while a prompt started by [`Relay::play_prompt`] plays to the caller (including the
    /// comfort silence after its end).
    pub fn is_playing_prompt(&self) -> bool {
        self.player.as_ref().is_some_and(|active| active.once.is_some())
    }

    /// Unbridges (if bridged) and starts playing `prompt` to the caller from its beginning, in a
    /// loop.
    pub fn play_hold(&mut self, now: Instant, prompt: Arc<Prompt>) {
        self.hold_prompt = Some(prompt);
        self.start_hold(now);
    }

    /// Stops hold audio or prompt and relays both ways; the caller's stream continues seamlessly.
    pub fn bridge(&mut self) {
        self.bridged = true;
        self.player = None;
    }

    /// Stops relaying and resumes hold audio (the last prompt given to [`Relay::play_hold`]; if
    /// there never was one, the caller hears silence).
    pub fn unbridge_and_hold(&mut self, now: Instant) {
        self.start_hold(now);
    }

    /// "The agent left, the caller stays": stops relaying and forgets the agent leg's remote and
    /// latch, so nothing more is sent to the agent's (gone) address and its packets are dropped
    /// ([`DropReason::NoRemote`]). The caller leg stays as it is; it hears nothing (no packets)
    /// until [`Relay::play_prompt`] or [`Relay::play_hold`]. A new agent can be attached later
    /// with [`Relay::set_remote`] and [`Relay::bridge`].
    pub fn unbridge(&mut self) {
        self.bridged = false;
        let agent = self.leg_mut(Leg::Agent);
        agent.remote = None;
        agent.latched = None;
    }

    /// Unbridges (if bridged, keeping the agent leg's remote so [`Relay::bridge`] can resume) and
    /// plays `prompt` once to the caller from its beginning, then comfort silence (see
    /// [`Playback::Once`]). When the prompt has played out, [`RelayEvent::PromptFinished`] with
    /// `playback_id` is reported. Replaces any hold audio or earlier prompt (whose end is then not
    /// reported). The caller's SSRC, sequence numbers and timestamps continue as on any switch.
    pub fn play_prompt(&mut self, now: Instant, prompt: Arc<Prompt>, playback_id: u64) {
        self.start_player(now, prompt, Playback::Once, Some(playback_id));
    }

    /// Stops hold audio or a prompt: the caller hears nothing (no packets) until the next
    /// `play_*` or [`Relay::bridge`]. Relaying, if bridged, is not affected.
    pub fn stop_audio(&mut self) {
        self.player = None;
    }

    fn start_hold(&mut self, now: Instant) {
        match self.hold_prompt.clone() {
            Some(prompt) => self.start_player(now, prompt, Playback::Loop, None),
            None => {
                self.bridged = false;
                self.player = None;
            }
        }
    }

    fn start_player(&mut self, now: Instant, prompt: Arc<Prompt>, playback: Playback, playback_id: Option<u64>) {
        self.bridged = false;
        let (codec, pt) = self.leg(Leg::Caller).remote.map_or((Codec::Pcmu, 0), |r| (r.codec, r.payload_type));
        let player = PromptPlayer::with_playback(prompt, playback, codec, pt, now);
        self.player = Some(ActivePlayer { player, once: playback_id.map(|id| (id, false)) });
        self.player_instance = self.player_instance.wrapping_add(1);
    }

    fn push_event(&mut self, event: RelayEvent) {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    fn collect_digits(&mut self) {
        // Bounded by the detector's queue limit.
        while let Some(digit) = self.caller_dtmf.poll_event() {
            self.push_event(RelayEvent::Dtmf(digit));
        }
    }

    /// Counts a datagram that arrived on `leg`'s RTCP port (port+1); RTCP is terminated.
    pub fn handle_rtcp(&mut self, leg: Leg) -> DropReason {
        let stats = &mut self.leg_mut(leg).stats;
        stats.packets_received += 1;
        stats.rtcp_received += 1;
        stats.packets_dropped += 1;
        DropReason::Rtcp
    }

    /// Handles a datagram received at `now` on `from_leg`'s RTP port from `source`. On
    /// [`Action::Forward`] the packet was rewritten in place (SSRC, sequence, timestamp, payload
    /// type, marker; payload transcoded when the legs' codecs differ) and must be sent.
    pub fn handle_inbound(&mut self, now: Instant, from_leg: Leg, source: SocketAddr, packet: &mut [u8]) -> Action {
        match self.route(now, from_leg, source, packet) {
            Ok(transmit) => {
                self.leg_mut(from_leg).stats.packets_received += 1;
                self.leg_mut(transmit.leg).stats.packets_sent += 1;
                Action::Forward(transmit)
            }
            Err(reason) => {
                let stats = &mut self.leg_mut(from_leg).stats;
                stats.packets_received += 1;
                stats.packets_dropped += 1;
                if reason == DropReason::Rtcp {
                    stats.rtcp_received += 1;
                }
                Action::Drop(reason)
            }
        }
    }

    fn route(
        &mut self,
        now: Instant,
        from_leg: Leg,
        source: SocketAddr,
        packet: &mut [u8],
    ) -> Result<Transmit, DropReason> {
        if rtp::is_rtcp(packet) {
            return Err(DropReason::Rtcp);
        }
        let len = packet.len();
        let mut header = RtpHeaderMut::parse(packet).map_err(|_| DropReason::NotRtp)?;
        let from = self.leg_mut(from_leg);
        let remote = from.remote.ok_or(DropReason::NoRemote)?;
        let pt = header.payload_type();
        let kind = if pt == remote.payload_type {
            InboundKind::Audio(remote.codec)
        } else if Some(pt) == remote.telephone_event_pt {
            InboundKind::TelephoneEvent
        } else {
            return Err(DropReason::UnknownPayloadType);
        };
        let (ssrc, timestamp, marker) = (header.ssrc(), header.timestamp(), header.marker());
        match from.latched {
            _ if !from.latching => {}
            Some(latched) if latched == source => {}
            Some(_) if source != remote.addr => return Err(DropReason::WrongSource),
            _ => {
                if from.latched.is_none() && source != remote.addr {
                    tracing::debug!(leg = ?from_leg, %source, signalled = %remote.addr,
                        "RTP latched to a source other than the signalled address");
                }
                from.latched = Some(source);
            }
        }
        if from_leg == Leg::Caller && matches!(kind, InboundKind::TelephoneEvent) {
            // Malformed payloads are counted by the detector and still relayed as they came.
            let _ = self.caller_dtmf.handle_event(now, ssrc, timestamp, marker, header.payload());
            self.collect_digits();
        }
        if !self.bridged {
            return Err(DropReason::NotBridged);
        }
        let to_leg = from_leg.other();
        let to = self.leg_mut(to_leg);
        let to_remote = to.remote.ok_or(DropReason::NoRemote)?;
        let destination = to.destination().ok_or(DropReason::NoRemote)?;
        match kind {
            InboundKind::Audio(codec) => {
                if codec != to_remote.codec {
                    match codec {
                        Codec::Pcmu => g711::ulaw_to_alaw_in_place(header.payload_mut()),
                        Codec::Pcma => g711::alaw_to_ulaw_in_place(header.payload_mut()),
                    }
                }
                header.set_payload_type(to_remote.payload_type);
            }
            InboundKind::TelephoneEvent => {
                let te_pt = to_remote.telephone_event_pt.ok_or(DropReason::TelephoneEventUnsupported)?;
                header.set_payload_type(te_pt);
            }
        }
        to.output.stamp(now, StreamSource::Peer { ssrc }, &mut header);
        Ok(Transmit { leg: to_leg, destination, len })
    }

    /// When [`Relay::handle_timeout`] / [`Relay::poll_transmit`] next have something to do (a
    /// hold or prompt frame due, a prompt's end, a DTMF press whose end packets were lost).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let player = self.player.as_ref().map(|active| {
            let next_frame = active.player.poll_timeout();
            match (active.once, active.player.finishes_at()) {
                (Some((_, false)), Some(end)) => next_frame.min(end),
                _ => next_frame,
            }
        });
        match (player, self.caller_dtmf.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Handles timers due at `now`: reports DTMF presses whose end packets were lost and a
    /// prompt that has played out. Frames are sent by [`Relay::poll_transmit`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.caller_dtmf.handle_timeout(now);
        self.collect_digits();
        let finished = self.player.as_mut().and_then(|active| match active.once {
            Some((id, false)) if active.player.finishes_at().is_some_and(|end| now >= end) => {
                active.once = Some((id, true));
                Some(id)
            }
            _ => None,
        });
        if let Some(playback_id) = finished {
            self.push_event(RelayEvent::PromptFinished { playback_id });
        }
    }

    /// The next event for the owner (DTMF digits, prompt ends), oldest first.
    pub fn poll_event(&mut self) -> Option<RelayEvent> {
        self.events.pop_front()
    }

    /// Writes the next due hold-audio or prompt packet for the caller into `buf`. Call until
    /// `None`. Frames due while the caller has no address yet are discarded (the audio keeps
    /// real-time pace).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let instance = self.player_instance;
        let player = &mut self.player.as_mut()?.player;
        // Bounded: the player yields at most MAX_CATCH_UP_FRAMES + 1 frames per instant.
        while let Some(len) = player.poll_transmit(now, buf) {
            let caller = &mut self.legs[Leg::Caller.index()];
            let Some(destination) = caller.destination() else {
                continue;
            };
            let Some(packet) = buf.get_mut(..len) else {
                continue;
            };
            let Ok(mut header) = RtpHeaderMut::parse(packet) else {
                continue;
            };
            caller.output.stamp(now, StreamSource::Player { instance }, &mut header);
            caller.stats.packets_sent += 1;
            return Some(Transmit { leg: Leg::Caller, destination, len });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::rtp::{write_fixed_header, RtpHeader};

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

    #[test]
    fn leg_output_continuity_across_switch() {
        let t0 = Instant::now();
        let mut out = LegOutput::new(7, 100, 1000);
        let mut stamped = Vec::new();
        for i in 0..3u16 {
            let mut p = packet(0, 9000 + i, 555 + 160 * u32::from(i), 1, 0);
            let mut h = RtpHeaderMut::parse(&mut p).unwrap();
            out.stamp(t0 + 20 * MS * u32::from(i), StreamSource::Player { instance: 1 }, &mut h);
            stamped.push(fields(&p));
        }
        // Peer starts 30 ms after the last hold packet with unrelated numbering.
        for i in 0..2u16 {
            let mut p = packet(0, 40000 + i, 7_000_000 + 160 * u32::from(i), 99, 0);
            let mut h = RtpHeaderMut::parse(&mut p).unwrap();
            out.stamp(t0 + 70 * MS + 20 * MS * u32::from(i), StreamSource::Peer { ssrc: 99 }, &mut h);
            stamped.push(fields(&p));
        }
        let seqs: Vec<u16> = stamped.iter().map(|f| f.1).collect();
        assert_eq!(seqs, [100, 101, 102, 103, 104]);
        let tss: Vec<u32> = stamped.iter().map(|f| f.2).collect();
        assert_eq!(tss, [1000, 1160, 1320, 1320 + 240, 1320 + 240 + 160]);
        let markers: Vec<bool> = stamped.iter().map(|f| f.3).collect();
        assert_eq!(markers, [true, false, false, true, false]);
        assert!(stamped.iter().all(|f| f.0 == 7));
    }

    #[test]
    fn leg_output_switch_jump_is_wall_clock_but_at_least_one_packet() {
        let t0 = Instant::now();
        let mut out = LegOutput::new(7, 0, 0);
        let mut stamp = |source: StreamSource, at: Duration, samples: usize| {
            let mut p = packet(0, 1, 0, 1, 0);
            p.truncate(12 + samples);
            let mut h = RtpHeaderMut::parse(&mut p).unwrap();
            out.stamp(t0 + at, source, &mut h);
            fields(&p).2
        };
        assert_eq!(stamp(StreamSource::Player { instance: 1 }, Duration::ZERO, 160), 0);
        // 5 ms later another source starts: still one 160-sample frame later.
        assert_eq!(stamp(StreamSource::Peer { ssrc: 1 }, 5 * MS, 80), 160);
        // 2 s of silence, then a new source: the wall-clock gap.
        assert_eq!(stamp(StreamSource::Peer { ssrc: 2 }, 2005 * MS, 160), 160 + 16_000);
    }

    #[test]
    fn leg_output_keeps_reordered_packets_in_place_and_wraps() {
        let t0 = Instant::now();
        let mut out = LegOutput::new(7, 65535, u32::MAX);
        let mut stamp = |seq: u16, at: Duration| {
            let mut p = packet(0, seq, u32::from(seq) * 160, 1, 0);
            let mut h = RtpHeaderMut::parse(&mut p).unwrap();
            out.stamp(t0 + at, StreamSource::Peer { ssrc: 1 }, &mut h);
            fields(&p).1
        };
        assert_eq!(stamp(10, MS), 65535);
        assert_eq!(stamp(12, 2 * MS), 1);
        assert_eq!(stamp(11, 3 * MS), 0); // late packet keeps its relative position
        assert_eq!(out.next_sequence_number(), 2);
    }

    #[test]
    fn hold_player_paces_in_virtual_time_without_drift() {
        let t0 = Instant::now();
        let mut player = HoldPlayer::new(prompt(1000), Codec::Pcmu, 0, t0);
        let mut buf = [0u8; 512];
        let mut sent = Vec::new();
        let mut now = t0;
        // Wake up exactly at each timeout for 1 s.
        for _ in 0..50 {
            now = player.poll_timeout();
            while let Some(len) = player.poll_transmit(now, &mut buf) {
                assert_eq!(len, 172);
                sent.push((now, fields(&buf[..len])));
            }
        }
        assert_eq!(sent.len(), 50);
        assert_eq!(player.poll_timeout(), t0 + 1000 * MS);
        assert!(now < t0 + 1000 * MS);
        for (i, (at, f)) in sent.iter().enumerate() {
            assert_eq!(*at, t0 + 20 * MS * i as u32);
            assert_eq!(f.1, i as u16);
            assert_eq!(f.2, 160 * i as u32);
        }
        assert_eq!(player.poll_transmit(t0 + 999 * MS, &mut buf), None);
    }

    #[test]
    fn hold_player_loops_the_prompt() {
        let t0 = Instant::now();
        let mut player = HoldPlayer::new(prompt(200), Codec::Pcmu, 0, t0);
        let mut buf = [0u8; 512];
        player.poll_transmit(t0, &mut buf).unwrap();
        assert_eq!(buf[12], 0);
        player.poll_transmit(t0 + 20 * MS, &mut buf).unwrap();
        // Samples 160..200 then 0..120.
        assert_eq!(buf[12], 160);
        assert_eq!(buf[12 + 39], 199);
        assert_eq!(buf[12 + 40], 0);
        player.poll_transmit(t0 + 40 * MS, &mut buf).unwrap();
        assert_eq!(buf[12], 120);
    }

    #[test]
    fn hold_player_catches_up_a_few_frames_then_skips() {
        let t0 = Instant::now();
        let mut player = HoldPlayer::new(prompt(8000), Codec::Pcma, 8, t0);
        let mut buf = [0u8; 512];
        // 2 frames late: all 3 overdue frames come out back-to-back.
        let now = t0 + 45 * MS;
        let mut seqs = Vec::new();
        while let Some(len) = player.poll_transmit(now, &mut buf) {
            seqs.push(fields(&buf[..len]).1);
        }
        assert_eq!(seqs, [0, 1, 2]);
        // Suspended for a second: only MAX_CATCH_UP_FRAMES + 1 frames, the rest skipped.
        let now = t0 + 1045 * MS;
        seqs.clear();
        for _ in 0..100 {
            match player.poll_transmit(now, &mut buf) {
                Some(len) => seqs.push(fields(&buf[..len]).1),
                None => break,
            }
        }
        assert_eq!(seqs.len() as u64, MAX_CATCH_UP_FRAMES + 1);
        assert_eq!(*seqs.last().unwrap(), 52);
        assert_eq!(player.frames_skipped(), 52 - 3 - 3);
        assert_eq!(fields(&buf[..172]).4, 8);
        assert_eq!(player.poll_timeout(), t0 + 53 * 20 * MS);
    }

    #[test]
    fn hold_then_bridge_keeps_caller_stream_continuous() {
        let t0 = Instant::now();
        let mut relay = relay();
        relay.play_hold(t0, prompt(8000));
        let mut buf = [0u8; 1500];
        let mut caller_rx = Vec::new();
        for i in 0..5u32 {
            let now = t0 + 20 * MS * i;
            assert_eq!(relay.poll_timeout(), Some(now));
            let tx = relay.poll_transmit(now, &mut buf).unwrap();
            assert_eq!(tx.leg, Leg::Caller);
            assert_eq!(tx.destination, addr(5000));
            caller_rx.push(fields(&buf[..tx.len]));
            assert!(relay.poll_transmit(now, &mut buf).is_none());
        }
        relay.bridge();
        assert_eq!(relay.poll_timeout(), None);
        // The agent talks (PCMA); 10 ms after the last hold frame.
        for i in 0..3u16 {
            let now = t0 + 90 * MS + 20 * MS * u32::from(i);
            let mut p = packet(8, 300 + i, 9_999 + 160 * u32::from(i), 0xBEEF, 0xAA);
            match relay.handle_inbound(now, Leg::Agent, addr(6000), &mut p) {
                Action::Forward(tx) => {
                    assert_eq!(tx, Transmit { leg: Leg::Caller, destination: addr(5000), len: 172 });
                    assert_eq!(RtpHeader::parse(&p).unwrap().payload(), &[0x80; 160][..]);
                    caller_rx.push(fields(&p));
                }
                other => panic!("{other:?}"),
            }
        }
        let seqs: Vec<u16> = caller_rx.iter().map(|f| f.1).collect();
        assert_eq!(seqs, (1000..1008).collect::<Vec<_>>());
        let tss: Vec<u32> = caller_rx.iter().map(|f| f.2).collect();
        // The agent's first packet came 10 ms after the last hold frame, which lasts 20 ms: the
        // jump is one frame (160), not 80, so the two sources do not overlap.
        assert_eq!(tss, [50_000, 50_160, 50_320, 50_480, 50_640, 50_800, 50_960, 51_120]);
        let markers: Vec<bool> = caller_rx.iter().map(|f| f.3).collect();
        assert_eq!(markers, [true, false, false, false, false, true, false, false]);
        assert!(caller_rx.iter().all(|f| f.0 == 0xCA11 && f.4 == 0));
        // Back to hold: still continuous, marker again.
        let now = t0 + 200 * MS;
        relay.unbridge_and_hold(now);
        let tx = relay.poll_transmit(now, &mut buf).unwrap();
        let f = fields(&buf[..tx.len]);
        assert_eq!((f.0, f.1, f.2, f.3), (0xCA11, 1008, 51_120 + 8 * 70, true));
        let stats = relay.stats(Leg::Caller);
        assert_eq!(stats.packets_sent, 9);
        assert_eq!(relay.stats(Leg::Agent).packets_received, 3);
    }

    #[test]
    fn transcodes_and_maps_payload_types_both_ways() {
        let t0 = Instant::now();
        let mut relay = relay();
        relay.bridge();
        // Caller PCMU -> agent PCMA.
        let mut p = packet(0, 1, 0, 0x1111, 0xFF);
        let Action::Forward(tx) = relay.handle_inbound(t0, Leg::Caller, addr(5000), &mut p) else { panic!() };
        assert_eq!((tx.leg, tx.destination), (Leg::Agent, addr(6000)));
        let h = RtpHeader::parse(&p).unwrap();
        assert_eq!((h.payload_type(), h.ssrc(), h.sequence_number()), (8, 0xA6E7, 65530));
        assert_eq!(h.payload(), &[0xD5; 160][..]);
        // Telephone-event 101 on caller leg -> 96 on agent leg, payload untouched.
        let mut p = packet(101, 2, 0, 0x1111, 0x05);
        assert!(matches!(relay.handle_inbound(t0 + 20 * MS, Leg::Caller, addr(5000), &mut p), Action::Forward(_)));
        let h = RtpHeader::parse(&p).unwrap();
        assert_eq!(h.payload_type(), 96);
        assert_eq!(h.payload()[0], 0x05);
        assert_eq!(h.sequence_number(), 65531);
        // Same codec both sides: payload untouched, PT remapped.
        relay.set_remote(Leg::Agent, remote(6000, Codec::Pcmu, 0, None));
        let mut p = packet(0, 3, 320, 0x1111, 0x12);
        assert!(matches!(relay.handle_inbound(t0 + 40 * MS, Leg::Caller, addr(5000), &mut p), Action::Forward(_)));
        assert_eq!(RtpHeader::parse(&p).unwrap().payload(), &[0x12; 160][..]);
        // Agent did not negotiate telephone-event any more.
        let mut p = packet(101, 4, 320, 0x1111, 0);
        assert_eq!(
            relay.handle_inbound(t0 + 60 * MS, Leg::Caller, addr(5000), &mut p),
            Action::Drop(DropReason::TelephoneEventUnsupported)
        );
    }

    #[test]
    fn drops_with_reasons() {
        let t0 = Instant::now();
        let mut relay = relay();
        let mut p = packet(0, 1, 0, 1, 0);
        assert_eq!(relay.handle_inbound(t0, Leg::Caller, addr(5000), &mut p), Action::Drop(DropReason::NotBridged));
        relay.bridge();
        let mut junk = *b"hello world, not rtp";
        assert_eq!(relay.handle_inbound(t0, Leg::Caller, addr(5000), &mut junk), Action::Drop(DropReason::NotRtp));
        let mut rtcp = [0x80, 201, 0, 1, 0, 0, 0, 1];
        assert_eq!(relay.handle_inbound(t0, Leg::Caller, addr(5000), &mut rtcp), Action::Drop(DropReason::Rtcp));
        let mut p = packet(18, 1, 0, 1, 0);
        assert_eq!(
            relay.handle_inbound(t0, Leg::Caller, addr(5000), &mut p),
            Action::Drop(DropReason::UnknownPayloadType)
        );
        let mut p = packet(0, 1, 0, 1, 0);
        assert_eq!(relay.handle_inbound(t0, Leg::Caller, addr(5999), &mut p), Action::Drop(DropReason::WrongSource));
        assert_eq!(relay.handle_rtcp(Leg::Agent), DropReason::Rtcp);
        let caller = relay.stats(Leg::Caller);
        assert_eq!(caller.packets_received, 5);
        assert_eq!(caller.packets_dropped, 5);
        assert_eq!(caller.rtcp_received, 1);
        assert_eq!(relay.stats(Leg::Agent).rtcp_received, 1);

        let mut unset = Relay::new(LegOutput::new(1, 0, 0), LegOutput::new(2, 0, 0));
        unset.bridge();
        let mut p = packet(0, 1, 0, 1, 0);
        assert_eq!(unset.handle_inbound(t0, Leg::Caller, addr(5000), &mut p), Action::Drop(DropReason::NoRemote));
    }

    #[test]
    fn latches_to_nat_source_and_rejects_others() {
        let t0 = Instant::now();
        let mut relay = relay();
        relay.bridge();
        let nat = SocketAddr::from(([203, 0, 113, 7], 40_123));
        // Junk payload type does not latch.
        let mut p = packet(18, 1, 0, 5, 0);
        relay.handle_inbound(t0, Leg::Agent, nat, &mut p);
        assert_eq!(relay.latched_address(Leg::Agent), None);
        // First real packet from the NAT address latches; media to the agent goes there.
        let mut p = packet(8, 1, 0, 5, 0xD5);
        assert!(matches!(relay.handle_inbound(t0, Leg::Agent, nat, &mut p), Action::Forward(_)));
        assert_eq!(relay.latched_address(Leg::Agent), Some(nat));
        assert_eq!(relay.destination(Leg::Agent), Some(nat));
        let mut p = packet(0, 1, 0, 9, 0xFF);
        let Action::Forward(tx) = relay.handle_inbound(t0, Leg::Caller, addr(5000), &mut p) else { panic!() };
        assert_eq!(tx.destination, nat);
        // Another source is rejected while latched.
        let intruder = SocketAddr::from(([198, 51, 100, 1], 9));
        let mut p = packet(8, 2, 160, 5, 0xD5);
        assert_eq!(relay.handle_inbound(t0, Leg::Agent, intruder, &mut p), Action::Drop(DropReason::WrongSource));
        // The signalled address itself always re-latches.
        let mut p = packet(8, 3, 320, 5, 0xD5);
        assert!(matches!(relay.handle_inbound(t0, Leg::Agent, addr(6000), &mut p), Action::Forward(_)));
        assert_eq!(relay.latched_address(Leg::Agent), Some(addr(6000)));
        // New SDP with a new address clears the latch.
        relay.set_remote(Leg::Agent, remote(6002, Codec::Pcma, 8, None));
        assert_eq!(relay.latched_address(Leg::Agent), None);
        assert_eq!(relay.destination(Leg::Agent), Some(addr(6002)));
    }

    #[test]
    fn without_latching_accepts_any_source_and_sends_to_signalled_address() {
        let t0 = Instant::now();
        let mut relay = relay();
        relay.bridge();
        relay.set_latching(Leg::Caller, false);
        for port in [7000, 7002] {
            let mut p = packet(0, 1, 0, 9, 0xFF);
            let from = SocketAddr::from(([192, 0, 2, 1], port));
            assert!(matches!(relay.handle_inbound(t0, Leg::Caller, from, &mut p), Action::Forward(_)));
        }
        assert_eq!(relay.latched_address(Leg::Caller), None);
        let mut p = packet(8, 1, 0, 5, 0xD5);
        let Action::Forward(tx) = relay.handle_inbound(t0, Leg::Agent, addr(6000), &mut p) else { panic!() };
        assert_eq!(tx.destination, addr(5000));
        // The agent leg still latches.
        assert_eq!(relay.latched_address(Leg::Agent), Some(addr(6000)));
    }

    #[test]
    fn hold_before_caller_address_keeps_pace_and_uses_negotiated_codec() {
        let t0 = Instant::now();
        let mut relay = Relay::new(LegOutput::new(1, 0, 0), LegOutput::new(2, 0, 0));
        relay.play_hold(t0, prompt(8000));
        let mut buf = [0u8; 512];
        assert_eq!(relay.poll_transmit(t0, &mut buf), None);
        assert_eq!(relay.poll_timeout(), Some(t0 + 20 * MS));
        relay.set_remote(Leg::Caller, remote(5000, Codec::Pcma, 8, None));
        let tx = relay.poll_transmit(t0 + 20 * MS, &mut buf).unwrap();
        let f = fields(&buf[..tx.len]);
        assert_eq!((f.1, f.4), (0, 8));
        assert_eq!(buf[12], g711::ULAW_TO_ALAW[160]);
    }

    #[test]
    fn empty_prompt_plays_silence() {
        let t0 = Instant::now();
        let mut player = HoldPlayer::new(Arc::new(Prompt::from_ulaw("e", vec![])), Codec::Pcma, 8, t0);
        let mut buf = [0u8; 512];
        let len = player.poll_transmit(t0, &mut buf).unwrap();
        assert!(buf[12..len].iter().all(|&b| b == g711::ALAW_SILENCE));
        let mut small = [0u8; 20];
        assert_eq!(player.poll_transmit(t0 + 20 * MS, &mut small), None);
        assert_eq!(player.poll_timeout(), t0 + 40 * MS);
    }

    fn te_packet(seq: u16, ts: u32, ssrc: u32, event: u8, end: bool, duration: u16) -> Vec<u8> {
        let mut p = vec![0u8; 16];
        write_fixed_header(&mut p, false, 101, seq, ts, ssrc).unwrap();
        let [hi, lo] = duration.to_be_bytes();
        p[12..].copy_from_slice(&[event, if end { 0x80 } else { 0 } | 10, hi, lo]);
        p
    }

    fn events(relay: &mut Relay) -> Vec<RelayEvent> {
        std::iter::from_fn(|| relay.poll_event()).collect()
    }

    #[test]
    fn prompt_player_plays_once_then_silence() {
        let t0 = Instant::now();
        // 400 samples: two full frames and half a frame.
        let mut player = PromptPlayer::with_playback(prompt(400), Playback::Once, Codec::Pcmu, 0, t0);
        assert_eq!(player.finishes_at(), Some(t0 + 60 * MS));
        assert_eq!(HoldPlayer::new(prompt(400), Codec::Pcmu, 0, t0).finishes_at(), None);
        let mut buf = [0u8; 512];
        let mut frames = Vec::new();
        for i in 0..5u32 {
            let len = player.poll_transmit(t0 + 20 * MS * i, &mut buf).unwrap();
            assert_eq!(len, 172);
            frames.push(buf[12..len].to_vec());
        }
        let expected = |i: usize| (i % 251) as u8;
        assert!(frames[0].iter().enumerate().all(|(i, &b)| b == expected(i)));
        assert!(frames[1].iter().enumerate().all(|(i, &b)| b == expected(160 + i)));
        assert!(frames[2][..80].iter().enumerate().all(|(i, &b)| b == expected(320 + i)));
        assert!(frames[2][80..].iter().all(|&b| b == g711::ULAW_SILENCE));
        assert!(frames[3..].iter().all(|f| f.iter().all(|&b| b == g711::ULAW_SILENCE)));
        // Skipping past the end (a late wake-up) keeps giving silence at the same pace.
        let len = player.poll_transmit(t0 + 2000 * MS, &mut buf).unwrap();
        assert!(buf[12..len].iter().all(|&b| b == g711::ULAW_SILENCE));
        assert_eq!(player.playback(), Playback::Once);
    }

    /// A packet the caller received: when, its header fields, its first payload byte.
    type Received = (Instant, (u32, u16, u32, bool, u8), u8);

    /// Runs the core in virtual time from `from` to `until` (inclusive), waking at every timeout,
    /// and returns what the caller received (with the send instant) and the events.
    fn run_until(relay: &mut Relay, from: Instant, until: Instant) -> (Vec<Received>, Vec<(Instant, RelayEvent)>) {
        let mut buf = [0u8; 512];
        let mut sent = Vec::new();
        let mut seen_events = Vec::new();
        let mut now = from;
        for _ in 0..10_000 {
            relay.handle_timeout(now);
            while let Some(tx) = relay.poll_transmit(now, &mut buf) {
                assert_eq!(tx.leg, Leg::Caller);
                sent.push((now, fields(&buf[..tx.len]), buf[12]));
            }
            seen_events.extend(std::iter::from_fn(|| relay.poll_event()).map(|e| (now, e)));
            match relay.poll_timeout() {
                Some(next) if next <= until => now = next.max(now),
                _ => break,
            }
        }
        (sent, seen_events)
    }

    #[test]
    fn caller_stream_continuous_across_hold_bridge_unbridge_prompt() {
        let t0 = Instant::now();
        let mut relay = relay();
        relay.play_hold(t0, prompt(8000));
        let (mut caller_rx, evs) = run_until(&mut relay, t0, t0 + 40 * MS);
        assert_eq!(caller_rx.len(), 3);
        assert!(evs.is_empty());
        relay.bridge();
        for i in 0..3u16 {
            let now = t0 + 60 * MS + 20 * MS * u32::from(i);
            let mut p = packet(8, 300 + i, 9_999 + 160 * u32::from(i), 0xBEEF, 0xAA);
            let Action::Forward(tx) = relay.handle_inbound(now, Leg::Agent, addr(6000), &mut p) else { panic!() };
            assert_eq!(tx.leg, Leg::Caller);
            caller_rx.push((now, fields(&p), p[12]));
        }
        // The agent hangs up: the caller stays, the agent's address is forgotten.
        relay.unbridge();
        assert!(!relay.is_bridged());
        assert_eq!(relay.remote(Leg::Agent), None);
        assert_eq!(relay.destination(Leg::Agent), None);
        assert_eq!(relay.poll_timeout(), None, "no audio to the caller until a prompt");
        let mut p = packet(8, 303, 10_479, 0xBEEF, 0xAA);
        let late = t0 + 120 * MS;
        assert_eq!(relay.handle_inbound(late, Leg::Agent, addr(6000), &mut p), Action::Drop(DropReason::NoRemote));
        let mut p = packet(0, 1, 0, 0x1111, 0xFF);
        assert_eq!(relay.handle_inbound(late, Leg::Caller, addr(5000), &mut p), Action::Drop(DropReason::NotBridged));

        // The survey prompt: 400 samples = 3 frames (50 ms), then comfort silence.
        let start = t0 + 150 * MS;
        relay.play_prompt(start, prompt(400), 7);
        assert!(relay.is_playing_prompt() && !relay.is_holding());
        assert_eq!(relay.poll_timeout(), Some(start));
        let (prompt_rx, evs) = run_until(&mut relay, start, start + 100 * MS);
        assert_eq!(evs, [(start + 60 * MS, RelayEvent::PromptFinished { playback_id: 7 })]);
        assert_eq!(prompt_rx.len(), 6);
        assert_eq!(prompt_rx.iter().map(|r| r.2).collect::<Vec<_>>(), [0, 160, 69, 0xFF, 0xFF, 0xFF]);
        caller_rx.extend(prompt_rx);

        let seqs: Vec<u16> = caller_rx.iter().map(|r| r.1 .1).collect();
        assert_eq!(seqs, (1000..1012).collect::<Vec<_>>());
        let tss: Vec<u32> = caller_rx.iter().map(|r| r.1 .2).collect();
        // Hold, then the agent 20 ms later, then 50 ms of nothing before the prompt (400 units).
        let prompt_ts = 50_800 + 400;
        let expected: Vec<u32> = [50_000, 50_160, 50_320, 50_480, 50_640, 50_800]
            .into_iter()
            .chain((0..6).map(|i| prompt_ts + 160 * i))
            .collect();
        assert_eq!(tss, expected);
        let markers: Vec<bool> = caller_rx.iter().map(|r| r.1 .3).collect();
        assert_eq!(markers, [true, false, false, true, false, false, true, false, false, false, false, false]);
        assert!(caller_rx.iter().all(|r| r.1 .0 == 0xCA11 && r.1 .4 == 0));
        // Timed exactly: frame n of the prompt at start + n * 20 ms.
        assert!(caller_rx[6..].iter().enumerate().all(|(n, r)| r.0 == start + 20 * MS * n as u32));

        // The finished prompt is reported once; stop_audio ends the silence.
        let (_, evs) = run_until(&mut relay, start + 120 * MS, start + 200 * MS);
        assert!(evs.is_empty());
        relay.stop_audio();
        assert_eq!(relay.poll_timeout(), None);
        let mut buf = [0u8; 512];
        assert_eq!(relay.poll_transmit(start + 500 * MS, &mut buf), None);
    }

    #[test]
    fn replaced_or_stopped_prompt_is_not_reported_finished() {
        let t0 = Instant::now();
        let mut relay = relay();
        relay.play_prompt(t0, prompt(1600), 1);
        run_until(&mut relay, t0, t0 + 100 * MS);
        // Barge-in: the next prompt replaces the first before its end (200 ms).
        relay.play_prompt(t0 + 110 * MS, prompt(160), 2);
        let (rx, evs) = run_until(&mut relay, t0 + 110 * MS, t0 + 400 * MS);
        assert_eq!(evs, [(t0 + 130 * MS, RelayEvent::PromptFinished { playback_id: 2 })]);
        assert!(rx[0].1 .3, "marker on the new prompt's first frame");
        relay.play_prompt(t0 + 500 * MS, prompt(160), 3);
        relay.stop_audio();
        let (rx, evs) = run_until(&mut relay, t0 + 500 * MS, t0 + 900 * MS);
        assert!(rx.is_empty() && evs.is_empty());
        // Hold replaces a prompt too; bridging ends it.
        relay.play_prompt(t0 + 1000 * MS, prompt(160), 4);
        relay.play_hold(t0 + 1005 * MS, prompt(8000));
        assert!(relay.is_holding());
        let (_, evs) = run_until(&mut relay, t0 + 1005 * MS, t0 + 1100 * MS);
        assert!(evs.is_empty());
        relay.play_prompt(t0 + 1200 * MS, prompt(160), 5);
        relay.bridge();
        let (_, evs) = run_until(&mut relay, t0 + 1200 * MS, t0 + 1300 * MS);
        assert!(evs.is_empty());
    }

    #[test]
    fn caller_dtmf_detected_while_bridged_and_forwarded_with_payload_type_mapping() {
        let t0 = Instant::now();
        let mut relay = relay();
        relay.bridge();
        let mut forwarded = Vec::new();
        let mut send = |relay: &mut Relay, at: u32, seq: u16, end: bool, duration: u16| {
            let mut p = te_packet(seq, 48_000, 0x1111, 5, end, duration);
            match relay.handle_inbound(t0 + MS * at, Leg::Caller, addr(5000), &mut p) {
                Action::Forward(tx) => {
                    assert_eq!((tx.leg, tx.destination, tx.len), (Leg::Agent, addr(6000), 16));
                    let h = RtpHeader::parse(&p).unwrap();
                    forwarded.push((h.payload_type(), h.ssrc(), h.payload().to_vec()));
                }
                other => panic!("{other:?}"),
            }
        };
        send(&mut relay, 0, 10, false, 0);
        send(&mut relay, 20, 11, false, 160);
        assert!(events(&mut relay).is_empty());
        for seq in 12..15 {
            send(&mut relay, 40, seq, true, 320);
        }
        assert_eq!(events(&mut relay), [RelayEvent::Dtmf(DtmfDigit { digit: '5', duration_ms: 40 })]);
        assert_eq!(forwarded.len(), 5);
        assert!(forwarded.iter().all(|(pt, ssrc, _)| *pt == 96 && *ssrc == 0xA6E7));
        assert_eq!(forwarded[4].2, [5, 0x8a, 1, 64]);
        // Agent-leg DTMF is relayed but not reported (the survey listens to the caller only).
        let mut p = te_packet(1, 100, 0xBEEF, 1, true, 800);
        p[1] = 96;
        assert!(matches!(relay.handle_inbound(t0, Leg::Agent, addr(6000), &mut p), Action::Forward(_)));
        // A spoofed source is neither relayed nor detected.
        let mut p = te_packet(20, 96_000, 0x1111, 2, true, 800);
        let spoof = SocketAddr::from(([192, 0, 2, 9], 4000));
        assert_eq!(relay.handle_inbound(t0, Leg::Caller, spoof, &mut p), Action::Drop(DropReason::WrongSource));
        assert!(events(&mut relay).is_empty());
    }

    #[test]
    fn caller_dtmf_detected_on_hold_and_reported_after_lost_end_timeout() {
        let t0 = Instant::now();
        let mut relay = relay();
        relay.play_hold(t0, prompt(8000));
        // Not bridged: dropped, but detected. The end packets never come.
        for (i, duration) in [0u16, 160, 320].into_iter().enumerate() {
            let mut p = te_packet(i as u16, 1000, 0x1111, 11, false, duration);
            let now = t0 + 20 * MS * i as u32;
            assert_eq!(
                relay.handle_inbound(now, Leg::Caller, addr(5000), &mut p),
                Action::Drop(DropReason::NotBridged)
            );
        }
        let due = t0 + 40 * MS + crate::media::dtmf::LOST_END_TIMEOUT;
        let (_, evs) = run_until(&mut relay, t0, due + 100 * MS);
        assert_eq!(evs, [(due, RelayEvent::Dtmf(DtmfDigit { digit: '#', duration_ms: 40 }))]);
        // A caller without negotiated telephone-event: PT 101 is unknown, nothing detected.
        relay.set_remote(Leg::Caller, remote(5000, Codec::Pcmu, 0, None));
        let mut p = te_packet(9, 5000, 0x1111, 1, true, 800);
        assert_eq!(
            relay.handle_inbound(due, Leg::Caller, addr(5000), &mut p),
            Action::Drop(DropReason::UnknownPayloadType)
        );
        assert!(events(&mut relay).is_empty());
    }
}
