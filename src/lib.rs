//! Meritline: a softswitch for contact centers whose agents work from home.
//!
//! Protocol cores (`sip::transaction`, `sip::dialog`, `call`, `acd`, media session logic) are
//! sans-IO state machines: time and input come in as arguments, output is polled. The IO shell
//! (`sip::transport`, `media` socket tasks, `api`, `store`) owns tokio and drives them.

pub mod acd;
pub mod api;
pub mod call;
pub mod config;
pub mod events;
pub mod media;
pub mod metrics;
pub mod scoring;
pub mod sdp;
pub mod server;
pub mod sim;
pub mod sip;
pub mod store;
pub mod survey;
