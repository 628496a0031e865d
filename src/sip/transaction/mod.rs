//! The RFC 3261 section 17 transaction layer as a sans-IO state machine. It owns every client and
//! server transaction (INVITE and non-INVITE), matches incoming messages to them (17.1.3 / 17.2.3),
//! runs the retransmission and timeout timers as data, generates the ACK for non-2xx final
//! responses, answers CANCEL, and hands what the transaction user (TU) must see out through
//! `poll_event()`. Datagrams/stream writes go out through `poll_transmit()`; the next wake-up
//! through `poll_timeout()`. Time always comes in as an argument. RFC 6026's Accepted state is
//! used for 2xx responses to INVITE on both sides.

mod layer;
mod timer;
mod wire;

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;

use crate::sip::message::SipMessage;

pub use layer::{TransactionLayer, TxKind, TxState};
pub use timer::{Timer, TimerConfig};
pub use wire::{new_branch, response_destination, stamp_received, BRANCH_MAGIC_COOKIE};

/// The transport a message travelled (or must travel) over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// Reliable transports need no retransmissions and no wait states (RFC 3261 17).
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }

    /// The token used in a Via header ("UDP" / "TCP").
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.via_token())
    }
}

/// Identifies one transaction inside a `TransactionLayer`. Never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub u64);

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx{}", self.0)
    }
}

/// Bytes to put on the wire. For TCP, `dest` is the peer of the connection to write on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub dest: SocketAddr,
    pub transport: Transport,
    pub payload: Bytes,
}

/// What the transaction layer tells its user.
#[derive(Debug, Clone)]
pub enum TxEvent {
    /// A new request created server transaction `tx`; the TU must answer with `send_response`.
    /// The top Via already carries `received`/`rport` (18.2.1, RFC 3581).
    Request { tx: TxId, msg: SipMessage, source: SocketAddr, transport: Transport },
    /// A CANCEL matched the INVITE server transaction `invite_tx` while it was still Proceeding.
    /// The layer already answered the CANCEL with 200; the TU should answer the INVITE with 487.
    CancelReceived { invite_tx: TxId, cancel: SipMessage },
    /// A response for client transaction `tx` (retransmissions are absorbed and not reported).
    Response { tx: TxId, msg: SipMessage },
    /// Timer B/F (client), Timer H (server, no ACK for a non-2xx final response) fired, or a
    /// non-INVITE server transaction got no final response from the TU within 64*T1.
    Timeout { tx: TxId },
    /// The transport reported a failure for the transaction's destination.
    TransportError { tx: TxId },
    /// The ACK for a 2xx sent by INVITE server transaction `invite_tx` (matched by Call-ID, CSeq
    /// number and From tag). Reported once; retransmitted ACKs are absorbed.
    AckFor2xx { invite_tx: TxId, msg: SipMessage, source: SocketAddr, transport: Transport },
    /// An ACK that matched no transaction (e.g. it came after Timer L); the TU may still use it.
    StrayAck { msg: SipMessage, source: SocketAddr, transport: Transport },
    /// A response that matched no client transaction (e.g. a 2xx retransmission after Timer M).
    StrayResponse { msg: SipMessage, source: SocketAddr, transport: Transport },
    /// An INVITE server transaction sent a 2xx but no ACK arrived within Timer L (64*T1); the TU
    /// should tear the dialog down (RFC 3261 13.3.1.4).
    AckTimeout { tx: TxId },
    /// The transaction is gone; its id will never appear again.
    Terminated { tx: TxId },
}

/// Errors of the transaction-layer API (misuse by the TU); incoming garbage never errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("no such transaction {0}")]
    UnknownTransaction(TxId),
    #[error("the message lacks a top Via with a branch parameter")]
    MissingBranch,
    #[error("the message lacks a header the transaction layer needs ({0})")]
    MissingHeader(&'static str),
    #[error("a client transaction with this branch and method already exists")]
    DuplicateTransaction,
    #[error("ACK is never sent in its own transaction; use send_stateless or send_ack_for_2xx")]
    AckNeedsNoTransaction,
    #[error("expected a request")]
    NotARequest,
    #[error("expected a response")]
    NotAResponse,
    #[error("operation not allowed in the transaction's current state")]
    InvalidState,
    #[error("only INVITE client transactions can be cancelled")]
    NotAnInvite,
}

impl TxError {
    /// The SIP status a UAS would answer if this error were caused by a request
    /// (all of these are local misuse, hence 500).
    pub fn status_code(&self) -> u16 {
        500
    }
}
