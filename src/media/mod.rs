//! Meritline's media plane for G.711 calls: a thin tokio shell (this file) around sans-IO rooms.
//! [`MediaEngine`] owns the RTP port pool and allocates, per call, two even RTP ports (caller leg,
//! agent leg; RTCP on port+1 of each). Each call runs one tokio task that owns its four sockets
//! and a [`relay::Relay`]; the [`CallMedia`] handle talks to it over a channel (hold audio,
//! prompts, bridging, stats, close), and the task reports the caller's DTMF digits and finished
//! prompts as [`MediaEvent`]s on a channel given at allocation
//! ([`MediaEngine::allocate_call_with_events`]). Ports return to the pool when the task ends (on
//! [`CallMedia::close`] or when every handle is dropped). Prometheus metrics are emitted through
//! the `metrics` crate. This module knows nothing of SIP or SDP: the lead passes plain parameters.
//!
//! The rooms (only this file imports tokio; the others take time as arguments and do no IO):
//! - [`relay`]: the per-call core tying the two legs together: forwarding, latching, bridging,
//!   drop reasons ([`DropReason`]), transcoding decisions, RTCP termination, DTMF and prompt
//!   events.
//! - [`stream`]: the RTP re-stamping: each leg's outgoing SSRC, sequence and timestamp
//!   continuity across hold/prompt/bridge switches.
//! - [`player`]: the hold prompt and announcement player: paced 20 ms frames, loop or play-once.
//! - [`codec`]: [`Codec`] and the G.711 tables ([`codec::g711`], also at `media::g711`).
//! - [`dtmf`]: RFC 4733 telephone-event parsing and one-digit-per-key-press detection.
//! - [`rtp`]: zero-copy RTP header view and rewrite, RTCP demultiplexing.
//! - [`wav`]: loading prompt files into a [`Prompt`]; [`prompts`]: which prompts a switch plays.
//! - [`session`]: re-exports of the relay, stream and player items under their old path.

pub mod codec;
pub mod dtmf;
pub mod player;
pub mod prompts;
pub mod relay;
pub mod rtp;
pub mod session;
pub mod stream;
pub mod wav;

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

pub use codec::{g711, Codec};
pub use dtmf::DtmfDigit;
pub use relay::{DropReason, Leg, LegRemote, LegStats};
pub use wav::Prompt;

use relay::{Action, Relay, RelayEvent};
use stream::LegOutput;

/// Errors of the media plane.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("cannot read hold prompt {file}: {source}")]
    PromptIo {
        file: String,
        #[source]
        source: io::Error,
    },
    #[error("invalid hold prompt {file}: {reason}")]
    InvalidPrompt { file: String, reason: String },
    #[error("invalid RTP port range {min}..={max}: it must hold at least two even port pairs")]
    InvalidPortRange { min: u16, max: u16 },
    #[error("no free RTP ports left in {min}..={max}")]
    PortsExhausted { min: u16, max: u16 },
    #[error("the call's media session is closed")]
    Closed,
}

impl MediaError {
    /// The SIP status to answer an INVITE with when media setup fails this way.
    pub fn status_code(&self) -> u16 {
        match self {
            MediaError::PortsExhausted { .. } => 503,
            MediaError::PromptIo { .. }
            | MediaError::InvalidPrompt { .. }
            | MediaError::InvalidPortRange { .. }
            | MediaError::Closed => 500,
        }
    }
}

/// Names of the Prometheus metrics the media plane emits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaMetricNames {
    /// Counter of RTP packets forwarded between legs.
    pub packets_relayed: String,
    /// Counter of received packets not forwarded, with a `reason` label ([`DropReason::as_str`]).
    pub packets_dropped: String,
    /// Gauge of calls holding media ports.
    pub sessions_active: String,
}

impl Default for MediaMetricNames {
    fn default() -> Self {
        Self {
            packets_relayed: "meritline_rtp_packets_relayed_total".into(),
            packets_dropped: "meritline_rtp_packets_dropped_total".into(),
            sessions_active: "meritline_media_sessions_active".into(),
        }
    }
}

/// What a call's media task reports to the engine that allocated it
/// ([`MediaEngine::allocate_call_with_events`]); `call_tag` is the tag given there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEvent {
    /// The caller pressed a key: one event per key press (RFC 4733 telephone-event on the caller
    /// leg, detected at all times: bridged, on hold, during prompts), reported when the key is
    /// released (see [`dtmf`] for the exact rule). While bridged, the digits also go to the agent
    /// and may be card or account numbers: ignore them outside an IVR step, do not log them.
    Dtmf { call_tag: u64, digit: char, duration_ms: u32 },
    /// The prompt started by the [`CallMedia::play_prompt`] call that returned `playback_id` has
    /// fully played out. Not sent for a prompt replaced or stopped before its end, so a stale
    /// event can be recognised by its id.
    PromptFinished { call_tag: u64, playback_id: u64 },
}

/// Packet counters of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaStats {
    pub caller: LegStats,
    pub agent: LegStats,
}

struct PortPool {
    bind_ip: IpAddr,
    min: u16,
    max: u16,
    free: Mutex<VecDeque<u16>>,
    metrics: MediaMetricNames,
}

impl PortPool {
    fn free(&self) -> MutexGuard<'_, VecDeque<u16>> {
        self.free.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// An even RTP port (and its RTCP port+1) taken from the pool; returned on drop.
struct PortLease {
    port: u16,
    pool: Arc<PortPool>,
}

impl Drop for PortLease {
    fn drop(&mut self) {
        self.pool.free().push_back(self.port);
    }
}

/// A leg's RTP and RTCP sockets.
struct LegSockets {
    rtp: UdpSocket,
    rtcp: UdpSocket,
}

/// Allocates media ports and starts per-call media tasks. Cheap to clone.
#[derive(Clone)]
pub struct MediaEngine {
    pool: Arc<PortPool>,
}

impl std::fmt::Debug for MediaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaEngine")
            .field("bind_ip", &self.pool.bind_ip)
            .field("ports", &(self.pool.min..=self.pool.max))
            .field("free_port_pairs", &self.free_port_pairs())
            .finish()
    }
}

impl MediaEngine {
    /// An engine binding on `bind_ip` with RTP ports from `ports` (even ports whose port+1 is also
    /// in range are used) and the default metric names.
    pub fn new(bind_ip: IpAddr, ports: RangeInclusive<u16>) -> Result<Self, MediaError> {
        Self::with_metric_names(bind_ip, ports, MediaMetricNames::default())
    }

    /// Like [`MediaEngine::new`] with custom metric names.
    pub fn with_metric_names(
        bind_ip: IpAddr,
        ports: RangeInclusive<u16>,
        metrics: MediaMetricNames,
    ) -> Result<Self, MediaError> {
        let (min, max) = (*ports.start(), *ports.end());
        let free: VecDeque<u16> = (min..max).filter(|port| port % 2 == 0 && *port > 0).collect();
        if free.len() < 2 {
            return Err(MediaError::InvalidPortRange { min, max });
        }
        Ok(Self { pool: Arc::new(PortPool { bind_ip, min, max, free: Mutex::new(free), metrics }) })
    }

    /// The local address the media sockets bind to (the lead puts it in SDP `c=` unless a public
    /// address is configured).
    pub fn bind_ip(&self) -> IpAddr {
        self.pool.bind_ip
    }

    /// Even port pairs currently free (two are needed per call).
    pub fn free_port_pairs(&self) -> usize {
        self.pool.free().len()
    }

    /// Binds two RTP/RTCP port pairs (caller leg, agent leg) and starts the call's media task.
    /// Fails with [`MediaError::PortsExhausted`] when no two bindable pairs are left. Must be
    /// called within a tokio runtime.
    pub async fn allocate_call(&self) -> Result<CallMedia, MediaError> {
        self.start_call(None)
    }

    /// Like [`MediaEngine::allocate_call`], and the call's task sends its [`MediaEvent`]s (DTMF
    /// digits of the caller, finished prompts), tagged with `call_tag`, to `events`. Events are
    /// dropped silently once the receiver is gone.
    pub async fn allocate_call_with_events(
        &self,
        events: mpsc::UnboundedSender<MediaEvent>,
        call_tag: u64,
    ) -> Result<CallMedia, MediaError> {
        self.start_call(Some((events, call_tag)))
    }

    fn start_call(&self, events: Option<(mpsc::UnboundedSender<MediaEvent>, u64)>) -> Result<CallMedia, MediaError> {
        let (caller_lease, caller_sockets) = self.take_pair()?;
        let (agent_lease, agent_sockets) = self.take_pair()?;
        let (commands, receiver) = mpsc::unbounded_channel();
        let relay = Relay::new(random_leg_output(), random_leg_output());
        let call = CallMedia {
            commands,
            caller_port: caller_lease.port,
            agent_port: agent_lease.port,
            playbacks: Arc::new(AtomicU64::new(0)),
        };
        let task = CallTask {
            relay,
            events,
            commands: receiver,
            caller: caller_sockets,
            agent: agent_sockets,
            metrics: CallMetrics::new(&self.pool.metrics),
            leases: [caller_lease, agent_lease],
        };
        tokio::spawn(task.run());
        Ok(call)
    }

    fn take_pair(&self) -> Result<(PortLease, LegSockets), MediaError> {
        let pool = &self.pool;
        let candidates = pool.free().len();
        // Bounded: each candidate is tried at most once; busy ports go to the back of the queue.
        for _ in 0..candidates {
            let Some(port) = pool.free().pop_front() else {
                break;
            };
            let lease = PortLease { port, pool: Arc::clone(pool) };
            match bind_pair(pool.bind_ip, port) {
                Ok(sockets) => return Ok((lease, sockets)),
                Err(error) => {
                    tracing::debug!(port, %error, "RTP port pair busy, trying the next one");
                    drop(lease);
                }
            }
        }
        Err(MediaError::PortsExhausted { min: pool.min, max: pool.max })
    }
}

fn bind_pair(ip: IpAddr, port: u16) -> io::Result<LegSockets> {
    let bind = |port: u16| -> io::Result<UdpSocket> {
        let socket = std::net::UdpSocket::bind(SocketAddr::new(ip, port))?;
        socket.set_nonblocking(true)?;
        UdpSocket::from_std(socket)
    };
    Ok(LegSockets { rtp: bind(port)?, rtcp: bind(port.checked_add(1).ok_or(io::ErrorKind::InvalidInput)?)? })
}

fn random_leg_output() -> LegOutput {
    LegOutput::new(rand::random(), rand::random(), rand::random())
}

enum Command {
    SetRemote(Leg, LegRemote),
    PlayHold(Arc<Prompt>),
    PlayPrompt(Arc<Prompt>, u64),
    StopAudio,
    Bridge,
    Unbridge,
    UnbridgeAndHold,
    SetLatching(Leg, bool),
    Stats(oneshot::Sender<MediaStats>),
    Close(oneshot::Sender<()>),
}

/// Handle to one call's media task. Cheap to clone; the task (and its ports) ends on
/// [`CallMedia::close`] or when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct CallMedia {
    commands: mpsc::UnboundedSender<Command>,
    caller_port: u16,
    agent_port: u16,
    /// Source of playback ids, shared by the clones.
    playbacks: Arc<AtomicU64>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::SetRemote(..) => "SetRemote",
            Command::PlayHold(_) => "PlayHold",
            Command::PlayPrompt(..) => "PlayPrompt",
            Command::StopAudio => "StopAudio",
            Command::Bridge => "Bridge",
            Command::Unbridge => "Unbridge",
            Command::UnbridgeAndHold => "UnbridgeAndHold",
            Command::SetLatching(..) => "SetLatching",
            Command::Stats(_) => "Stats",
            Command::Close(_) => "Close",
        })
    }
}

impl CallMedia {
    /// Local RTP port for the caller leg (put it in the SDP answer to the carrier).
    pub fn caller_port(&self) -> u16 {
        self.caller_port
    }

    /// Local RTP port for the agent leg (put it in the SDP offer to the agent).
    pub fn agent_port(&self) -> u16 {
        self.agent_port
    }

    fn send(&self, command: Command) -> Result<(), MediaError> {
        self.commands.send(command).map_err(|_| MediaError::Closed)
    }

    /// Sets what the caller's SDP said: RTP address, codec, its payload type and the
    /// telephone-event payload type if any.
    pub fn set_caller_remote(
        &self,
        addr: SocketAddr,
        codec: Codec,
        pt: u8,
        te_pt: Option<u8>,
    ) -> Result<(), MediaError> {
        self.set_remote(Leg::Caller, addr, codec, pt, te_pt)
    }

    /// Sets what the agent's SDP said (see [`CallMedia::set_caller_remote`]).
    pub fn set_agent_remote(
        &self,
        addr: SocketAddr,
        codec: Codec,
        pt: u8,
        te_pt: Option<u8>,
    ) -> Result<(), MediaError> {
        self.set_remote(Leg::Agent, addr, codec, pt, te_pt)
    }

    fn set_remote(
        &self,
        leg: Leg,
        addr: SocketAddr,
        codec: Codec,
        payload_type: u8,
        telephone_event_pt: Option<u8>,
    ) -> Result<(), MediaError> {
        self.send(Command::SetRemote(leg, LegRemote { addr, codec, payload_type, telephone_event_pt }))
    }

    /// Unbridges (if bridged) and plays `prompt` in a loop to the caller.
    pub fn play_hold(&self, prompt: Arc<Prompt>) -> Result<(), MediaError> {
        self.send(Command::PlayHold(prompt))
    }

    /// Plays `prompt` once to the caller from its beginning, then comfort silence (G.711 silence
    /// frames at the same 20 ms pace, keeping NAT bindings and the carrier's RTP timeout alive)
    /// until the next `play_*`, [`CallMedia::stop_audio`] or [`CallMedia::bridge`]. Stops relaying
    /// if bridged (the agent leg's remote is kept: [`CallMedia::bridge`] resumes). Replaces hold
    /// audio or an earlier prompt. The caller's SSRC, sequence numbers and timestamps continue
    /// (marker bit on the first frame), as on the hold/bridge switch. Returns the playback id
    /// that the matching [`MediaEvent::PromptFinished`] carries once the prompt has played out
    /// (only with [`MediaEngine::allocate_call_with_events`]); ids count up from 1 per call.
    pub fn play_prompt(&self, prompt: Arc<Prompt>) -> Result<u64, MediaError> {
        let playback_id = self.playbacks.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        self.send(Command::PlayPrompt(prompt, playback_id))?;
        Ok(playback_id)
    }

    /// As [`CallMedia::play_prompt`], with the playback id chosen by the caller (the call engine
    /// numbers its prompts itself, so it can tell a stale "finished" from the current one).
    pub fn play_prompt_as(&self, prompt: Arc<Prompt>, playback_id: u64) -> Result<(), MediaError> {
        self.send(Command::PlayPrompt(prompt, playback_id))
    }

    /// Stops hold audio or a prompt: the caller receives nothing until the next `play_*` or
    /// [`CallMedia::bridge`]. A stopped prompt is not reported finished. Relaying is unaffected.
    pub fn stop_audio(&self) -> Result<(), MediaError> {
        self.send(Command::StopAudio)
    }

    /// Stops hold audio and relays RTP both ways; the caller's stream (SSRC, sequence numbers,
    /// timestamps) continues seamlessly.
    pub fn bridge(&self) -> Result<(), MediaError> {
        self.send(Command::Bridge)
    }

    /// "The agent left, the caller stays": stops relaying and forgets the agent leg's remote (no
    /// more packets to the agent's address; its packets are dropped). The caller leg stays open
    /// and receives nothing until [`CallMedia::play_prompt`] / [`CallMedia::play_hold`]; its
    /// DTMF is still detected. A new agent can be attached with [`CallMedia::set_agent_remote`]
    /// and [`CallMedia::bridge`].
    pub fn unbridge(&self) -> Result<(), MediaError> {
        self.send(Command::Unbridge)
    }

    /// Stops relaying and plays the last hold prompt to the caller again (silence if none).
    pub fn unbridge_and_hold(&self) -> Result<(), MediaError> {
        self.send(Command::UnbridgeAndHold)
    }

    /// Turns symmetric RTP latching on `leg` on (the default for both legs) or off. Turn it off
    /// for trunks that send RTP from another port than their SDP says (asymmetric RTP).
    pub fn set_latching(&self, leg: Leg, enabled: bool) -> Result<(), MediaError> {
        self.send(Command::SetLatching(leg, enabled))
    }

    /// Packet counters of both legs. Also a barrier: every command sent before has been applied.
    pub async fn stats(&self) -> Result<MediaStats, MediaError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Stats(reply))?;
        answer.await.map_err(|_| MediaError::Closed)
    }

    /// Ends the call's media: when this returns, the ports are back in the pool. Idempotent.
    pub async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.send(Command::Close(reply)).is_ok() {
            // An error means the task already ended, which is what we want.
            let _ = done.await;
        }
    }

    /// True once the call's media task has ended.
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }
}

/// Per-call metric handles, registered once so the packet path does not allocate.
struct CallMetrics {
    relayed: metrics::Counter,
    dropped: [(DropReason, metrics::Counter); 7],
    sessions_active: metrics::Gauge,
}

impl CallMetrics {
    fn new(names: &MediaMetricNames) -> Self {
        let dropped = |reason: DropReason| {
            (reason, metrics::counter!(names.packets_dropped.clone(), "reason" => reason.as_str()))
        };
        let sessions_active = metrics::gauge!(names.sessions_active.clone());
        sessions_active.increment(1.0);
        Self {
            relayed: metrics::counter!(names.packets_relayed.clone()),
            dropped: [
                dropped(DropReason::NotRtp),
                dropped(DropReason::Rtcp),
                dropped(DropReason::WrongSource),
                dropped(DropReason::UnknownPayloadType),
                dropped(DropReason::NoRemote),
                dropped(DropReason::NotBridged),
                dropped(DropReason::TelephoneEventUnsupported),
            ],
            sessions_active,
        }
    }

    fn dropped(&self, reason: DropReason) {
        if let Some((_, counter)) = self.dropped.iter().find(|(r, _)| *r == reason) {
            counter.increment(1);
        }
    }
}

impl Drop for CallMetrics {
    fn drop(&mut self) {
        self.sessions_active.decrement(1.0);
    }
}

const RECV_BUFFER: usize = 2048;

enum Wake {
    Command(Option<Command>),
    Rtp(Leg, io::Result<(usize, SocketAddr)>),
    Rtcp(Leg, io::Result<(usize, SocketAddr)>),
    Timer,
}

/// The per-call task: owns the sockets, drives the [`Relay`] core.
struct CallTask {
    relay: Relay,
    events: Option<(mpsc::UnboundedSender<MediaEvent>, u64)>,
    commands: mpsc::UnboundedReceiver<Command>,
    caller: LegSockets,
    agent: LegSockets,
    metrics: CallMetrics,
    // Declared last: dropped after the sockets, so a returned port is really free.
    leases: [PortLease; 2],
}

impl CallTask {
    async fn run(mut self) {
        let mut caller_buf = [0u8; RECV_BUFFER];
        let mut agent_buf = [0u8; RECV_BUFFER];
        let mut caller_rtcp_buf = [0u8; RECV_BUFFER];
        let mut agent_rtcp_buf = [0u8; RECV_BUFFER];
        let mut hold_buf = [0u8; RECV_BUFFER];
        let close_ack = loop {
            let timeout = self.relay.poll_timeout();
            let timer = async {
                match timeout {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let wake = tokio::select! {
                command = self.commands.recv() => Wake::Command(command),
                received = self.caller.rtp.recv_from(&mut caller_buf) => Wake::Rtp(Leg::Caller, received),
                received = self.agent.rtp.recv_from(&mut agent_buf) => Wake::Rtp(Leg::Agent, received),
                received = self.caller.rtcp.recv_from(&mut caller_rtcp_buf) => Wake::Rtcp(Leg::Caller, received),
                received = self.agent.rtcp.recv_from(&mut agent_rtcp_buf) => Wake::Rtcp(Leg::Agent, received),
                () = timer => Wake::Timer,
            };
            let now = tokio::time::Instant::now().into_std();
            match wake {
                Wake::Command(None) => break None,
                Wake::Command(Some(Command::Close(ack))) => break Some(ack),
                Wake::Command(Some(command)) => self.apply(now, command),
                Wake::Rtp(leg, Ok((len, source))) => {
                    let buf = match leg {
                        Leg::Caller => &mut caller_buf,
                        Leg::Agent => &mut agent_buf,
                    };
                    let Some(packet) = buf.get_mut(..len) else {
                        continue;
                    };
                    match self.relay.handle_inbound(now, leg, source, packet) {
                        Action::Forward(tx) => {
                            let socket = &self.sockets(tx.leg).rtp;
                            if let Some(out) = packet.get(..tx.len) {
                                match socket.send_to(out, tx.destination).await {
                                    Ok(_) => self.metrics.relayed.increment(1),
                                    Err(error) => tracing::debug!(%error, "RTP send failed"),
                                }
                            }
                        }
                        Action::Drop(reason) => self.metrics.dropped(reason),
                    }
                }
                Wake::Rtcp(leg, Ok(_)) => {
                    let reason = self.relay.handle_rtcp(leg);
                    self.metrics.dropped(reason);
                }
                Wake::Rtp(leg, Err(error)) | Wake::Rtcp(leg, Err(error)) => {
                    // E.g. ICMP port unreachable reported on the socket; keep going.
                    tracing::debug!(?leg, %error, "media socket receive error");
                }
                Wake::Timer => {}
            }
            self.relay.handle_timeout(now);
            // Hold audio and prompts (bounded by the player's catch-up limit).
            while let Some(tx) = self.relay.poll_transmit(now, &mut hold_buf) {
                if let Some(out) = hold_buf.get(..tx.len) {
                    if let Err(error) = self.sockets(tx.leg).rtp.send_to(out, tx.destination).await {
                        tracing::debug!(%error, "hold audio send failed");
                    }
                }
            }
            // Bounded: the core keeps at most a few dozen events.
            while let Some(event) = self.relay.poll_event() {
                self.report(event);
            }
        };
        let CallTask { caller, agent, leases, metrics, .. } = self;
        drop((caller, agent));
        drop(leases);
        drop(metrics);
        if let Some(ack) = close_ack {
            let _ = ack.send(());
        }
    }

    fn report(&self, event: RelayEvent) {
        let Some((events, call_tag)) = &self.events else {
            return;
        };
        let call_tag = *call_tag;
        let event = match event {
            RelayEvent::Dtmf(DtmfDigit { digit, duration_ms }) => {
                // Not the digit itself: callers key in card and account numbers while bridged.
                tracing::debug!(call_tag, duration_ms, "DTMF key press from the caller");
                MediaEvent::Dtmf { call_tag, digit, duration_ms }
            }
            RelayEvent::PromptFinished { playback_id } => MediaEvent::PromptFinished { call_tag, playback_id },
        };
        // The engine may be gone (shutting down): nothing left to tell.
        let _ = events.send(event);
    }

    fn sockets(&self, leg: Leg) -> &LegSockets {
        match leg {
            Leg::Caller => &self.caller,
            Leg::Agent => &self.agent,
        }
    }

    fn apply(&mut self, now: std::time::Instant, command: Command) {
        match command {
            Command::SetRemote(leg, remote) => self.relay.set_remote(leg, remote),
            Command::PlayHold(prompt) => self.relay.play_hold(now, prompt),
            Command::PlayPrompt(prompt, playback_id) => self.relay.play_prompt(now, prompt, playback_id),
            Command::StopAudio => self.relay.stop_audio(),
            Command::Bridge => self.relay.bridge(),
            Command::Unbridge => self.relay.unbridge(),
            Command::UnbridgeAndHold => self.relay.unbridge_and_hold(now),
            Command::SetLatching(leg, enabled) => self.relay.set_latching(leg, enabled),
            Command::Stats(reply) => {
                let _ = reply
                    .send(MediaStats { caller: self.relay.stats(Leg::Caller), agent: self.relay.stats(Leg::Agent) });
            }
            // Unreachable: the loop handles Close itself, after releasing the ports.
            Command::Close(reply) => {
                let _ = reply.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests;
