//! The media core's former single file, now split into rooms: [`super::stream`] (the RTP
//! re-stamping), [`super::player`] (hold audio and prompts) and [`super::relay`] (the per-call
//! [`Relay`] core). This module only re-exports their items so `media::session::...` paths keep
//! working; new code should use the rooms directly.

pub use super::player::{HoldPlayer, Playback, PromptPlayer, FRAME_DURATION, FRAME_SAMPLES, MAX_CATCH_UP_FRAMES};
pub use super::relay::{Action, DropReason, Leg, LegRemote, LegStats, Relay, RelayEvent, Transmit};
pub use super::stream::{LegOutput, StreamSource, SAMPLE_RATE};
