//! Meritline: a softswitch for contact centers whose agents work from home.
//!
//! Protocol cores are sans-IO state machines: time and input come in as `handle_*(now, ..)`
//! arguments, output is polled. The IO shell owns tokio, sockets and SQLite and drives them.
//! The map, room by room (each module's own `//!` header says what it owns):
//!
//! | room | owns | IO? |
//! |---|---|---|
//! | [`sip`] | message parse/serialize (`message`), RFC 3261 transactions (`transaction`), dialogs (`dialog`), the registrar (`registrar`), digest auth and its nonce check (`auth`), sockets (`transport`, the only IO part) | transport only |
//! | [`sdp`] | offer/answer and codec negotiation | no |
//! | [`call`] | the B2BUA engine: caller leg (answer modes), agent leg, survey leg, REGISTER, restart recovery (`durable`, `recovery`) | no |
//! | [`acd`] | queues, agents, skills, strategies (longest-idle, best-skill, merit), RONA, the SL order, overflow | no |
//! | [`survey`] | the post-call survey IVR flow | no |
//! | [`media`] | RTP relay, hold audio and prompts (built-in ones in `prompts`), DTMF, G.711; per-call socket tasks in `media/mod.rs` | shell in `mod.rs` |
//! | [`events`] | the event vocabulary: call and agent streams, schema version | no |
//! | [`scoring`] | KPIs, shrunk scores and leaderboards from the event stream; merit uplift statistics | no |
//! | [`sim`] | the discrete-event simulator that drives `acd` in virtual time | no |
//! | [`config`] | typed configuration, defaults, validation with key-named errors (`[scoring]` in `config::scoring`) | reads files |
//! | [`store`] | SQLite: the event log's writer thread, CDR projection, restart-recovery tables | yes |
//! | [`sinks`] | consumers carrying the log out of the switch (webhooks) | yes |
//! | [`api`] | axum routes: REST, SSE, metrics, views | yes |
//! | [`server`] | the shell: start-up, the driver task that owns the engine, the API's control handle, the scoring task, shutdown | yes |
//! | [`metrics`] | Prometheus metric names | no |
#![forbid(unsafe_code)]

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
pub mod sinks;
pub mod sip;
pub mod store;
pub mod survey;
