//! The relay room: [`Relay`], the sans-IO media core of one call that ties its two [`Leg`]s
//! together. It validates, latches, rewrites and (PCMU<->PCMA) transcodes inbound RTP in place
//! and says where to send it ([`Action::Forward`]) or why not ([`DropReason`]), bridges and
//! unbridges the legs, drives the player room's hold audio and prompts towards the caller
//! (re-stamped by the stream room so the caller's stream stays continuous), and runs DTMF
//! detection ([`super::dtmf`]) on the caller leg at all times, reporting digits and prompt ends as
//! [`RelayEvent`]s. Time comes in as arguments; nothing here does IO, reads the clock or
//! allocates per packet.
//!
//! RTCP policy: RTCP is *terminated*, not forwarded. Because every leg gets its own SSRC and
//! sequence space (and hold audio is spliced in), the peer's sender/receiver reports describe a
//! stream the other side never saw; forwarding them with only the SSRC rewritten would feed wrong
//! loss/jitter figures to the endpoint. RTCP (on port+1 or multiplexed per RFC 5761) is counted and
//! dropped with [`DropReason::Rtcp`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::codec::{g711, Codec};
use super::dtmf::{DtmfDetector, DtmfDigit};
use super::player::{Playback, PromptPlayer};
use super::rtp::{self, RtpHeaderMut};
use super::stream::{LegOutput, StreamSource};
use super::wav::Prompt;

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
