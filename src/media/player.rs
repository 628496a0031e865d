//! The player room: the hold prompt and announcements played to the caller. [`PromptPlayer`]
//! (alias [`HoldPlayer`]) generates paced 20 ms G.711 frames from a [`Prompt`], scheduled without
//! drift, either looping hold audio ([`Playback::Loop`]) or a prompt played once then comfort
//! silence ([`Playback::Once`]), catching up at most [`MAX_CATCH_UP_FRAMES`] frames after a late
//! wake-up. Its frames carry SSRC 0 and their own numbering; the stream room
//! ([`super::stream::LegOutput`]) re-stamps them. Sans-IO: time comes in as arguments, nothing
//! here does IO, reads the clock or allocates per frame.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::codec::{g711, Codec};
use super::rtp;
use super::wav::Prompt;

/// Samples in one 20 ms packet.
pub const FRAME_SAMPLES: usize = 160;
/// Packetization interval of hold audio.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);
/// How many overdue hold frames are still sent back-to-back when the shell wakes up late; older
/// ones are skipped (the timeline jumps forward, as it would for real-time audio).
pub const MAX_CATCH_UP_FRAMES: u64 = 3;

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
/// numbering; a [`LegOutput`](super::stream::LegOutput) re-stamps them.
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
