//! SIP: our own message layer, the RFC 3261 transaction and dialog cores, digest auth, the
//! registrar, and the UDP/TCP transports that feed them.

pub mod auth;
pub mod dialog;
pub mod message;
pub mod registrar;
pub mod transaction;
pub mod transport;
