//! `TransactionLayer`: owns all transactions, the indexes used to match incoming messages to them
//! (client: branch + CSeq method; server: branch + sent-by + method, ACK mapped to INVITE; plus the
//! Call-ID/CSeq/From-tag index that matches an ACK for a 2xx to its Accepted INVITE server
//! transaction), a timer heap, and the outgoing transmit and event queues. Each transaction is a
//! small state machine driven by incoming messages, TU calls and timer expiry.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::timer::{Timer, TimerConfig};
use super::wire::{self, AckKey, ClientKey, MethodKind, ServerKey};
use super::{Transmit, Transport, TxError, TxEvent, TxId};
use crate::sip::message::SipMessage;

/// The externally visible state of a live transaction (Terminated transactions are removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxState {
    Calling,
    Trying,
    Proceeding,
    Completed,
    /// RFC 6026: a 2xx was sent (server) or received (client) for an INVITE.
    Accepted,
    Confirmed,
}

/// Which of the four RFC 3261 state machines a transaction runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxKind {
    ClientInvite,
    ClientNonInvite,
    ServerInvite,
    ServerNonInvite,
}

#[derive(Debug)]
struct Retransmit {
    timer: Timer,
    at: Instant,
    interval: Duration,
}

#[derive(Debug)]
enum IndexKey {
    Client(ClientKey),
    Server(ServerKey),
}

#[derive(Debug)]
struct PendingCancel {
    id: TxId,
    request: SipMessage,
}

#[derive(Debug)]
struct Transaction {
    kind: TxKind,
    state: TxState,
    transport: Transport,
    /// Client: where the request goes. Server: where responses go (18.2.2 / RFC 3581).
    peer: SocketAddr,
    request: SipMessage,
    /// Client: the serialized request, for retransmission.
    request_bytes: Bytes,
    /// Server: the last response sent, for retransmission.
    last_response: Option<Bytes>,
    /// Client INVITE: the ACK generated for a non-2xx final response.
    ack_for_non_2xx: Option<Bytes>,
    retransmit: Option<Retransmit>,
    expiry: Option<(Timer, Instant)>,
    index: IndexKey,
    /// Server INVITE in Accepted: key of the ACK for its 2xx.
    ack_key: Option<AckKey>,
    /// Server INVITE in Accepted: the ACK for the 2xx arrived.
    ack_received: bool,
    /// Client INVITE: CANCEL requested before any provisional response arrived.
    pending_cancel: Option<PendingCancel>,
    /// Client INVITE: the CANCEL transaction already started (or pending).
    cancel_id: Option<TxId>,
    /// Client INVITE in Accepted: To tags of the 2xx responses seen, with the ACK the TU sent.
    accepted: Vec<(Option<String>, Option<Bytes>)>,
    /// Server: the To tag of the responses the TU sent (reused in the 200 to a CANCEL).
    local_tag: Option<String>,
    /// Created by the layer itself (server CANCEL transactions): no events for it.
    internal: bool,
}

enum Outcome {
    Keep,
    Terminate,
}

/// All SIP transactions of one endpoint.
///
/// Driving it: feed every parsed datagram/stream message to `handle_incoming`, call
/// `handle_timeout` when `poll_timeout` says, and after each call drain `poll_transmit` (write
/// `payload` to `dest`; for TCP on the connection to that peer) and `poll_event`.
///
/// TU duties: answer every `Request` with `send_response` (the 100 Trying for INVITE is already
/// sent); on `CancelReceived` answer the INVITE with 487; for a 2xx to an INVITE it sent, build
/// the ACK (e.g. `Dialog::create_ack`) and give it to `send_ack_for_2xx` (never to
/// `send_request`); 2xx retransmission and ACK absorption are done here on both sides, so the TU
/// sees each 2xx once per To tag and each ACK for 2xx once (`AckFor2xx`), or `AckTimeout`.
/// `StrayResponse` (a 2xx retransmitted after Timer M) must be re-ACKed by the TU if it still
/// knows the dialog; `StrayAck` may be matched to a dialog by the TU.
#[derive(Debug)]
pub struct TransactionLayer {
    config: TimerConfig,
    next_id: u64,
    txs: HashMap<TxId, Transaction>,
    client_index: HashMap<ClientKey, TxId>,
    server_index: HashMap<ServerKey, TxId>,
    accepted_index: HashMap<AckKey, TxId>,
    timers: BinaryHeap<Reverse<(Instant, TxId)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TxEvent>,
}

impl Default for TransactionLayer {
    fn default() -> Self {
        Self::new(TimerConfig::default())
    }
}

/// Smallest interval a retransmission timer may run for (guards against a zero T1).
const MIN_INTERVAL: Duration = Duration::from_millis(1);

impl TransactionLayer {
    pub fn new(config: TimerConfig) -> Self {
        TransactionLayer {
            config,
            next_id: 1,
            txs: HashMap::new(),
            client_index: HashMap::new(),
            server_index: HashMap::new(),
            accepted_index: HashMap::new(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &TimerConfig {
        &self.config
    }

    /// Number of live transactions (terminated ones are removed).
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Entries held in every per-transaction structure (transactions, their indexes, pending
    /// timers): what a memory bound is checked against.
    pub fn retained(&self) -> usize {
        self.txs.len()
            + self.client_index.len()
            + self.server_index.len()
            + self.accepted_index.len()
            + self.timers.len()
            + self.transmits.len()
            + self.events.len()
    }

    /// Current state of a live transaction.
    pub fn state(&self, tx: TxId) -> Option<TxState> {
        self.txs.get(&tx).map(|t| t.state)
    }

    /// Ids of all live transactions, ascending.
    pub fn transaction_ids(&self) -> Vec<TxId> {
        let mut ids: Vec<TxId> = self.txs.keys().copied().collect();
        ids.sort();
        ids
    }

    /// Which state machine a live transaction runs.
    pub fn kind(&self, tx: TxId) -> Option<TxKind> {
        self.txs.get(&tx).map(|t| t.kind)
    }

    /// The request that created a live transaction.
    pub fn request(&self, tx: TxId) -> Option<&SipMessage> {
        self.txs.get(&tx).map(|t| &t.request)
    }

    /// Next datagram / stream write to perform.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event for the transaction user.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            let live = self.txs.get(&id).is_some_and(|tx| {
                tx.retransmit.as_ref().is_some_and(|r| r.at == at) || tx.expiry.is_some_and(|(_, e)| e == at)
            });
            if live {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }

    /// Fire every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(mut tx) = self.txs.remove(&id) else {
                continue;
            };
            let outcome = self.fire_timers(now, id, &mut tx);
            self.finish(id, tx, outcome);
        }
    }

    /// Feed a parsed message that arrived from `source` over `transport`.
    pub fn handle_incoming(&mut self, now: Instant, msg: SipMessage, source: SocketAddr, transport: Transport) {
        if msg.is_request() {
            self.incoming_request(now, msg, source, transport);
        } else {
            self.incoming_response(now, msg, source, transport);
        }
    }

    /// Start a client transaction for `req` (any method but ACK). The caller must already have put
    /// a top Via with a fresh branch (see `new_branch`).
    pub fn send_request(
        &mut self,
        now: Instant,
        req: SipMessage,
        dest: SocketAddr,
        transport: Transport,
    ) -> Result<TxId, TxError> {
        if !req.is_request() {
            return Err(TxError::NotARequest);
        }
        if wire::method_kind(&req) == Some(MethodKind::Ack) {
            return Err(TxError::AckNeedsNoTransaction);
        }
        let key = wire::client_key_for_request(&req).ok_or(TxError::MissingBranch)?;
        if self.client_index.contains_key(&key) {
            return Err(TxError::DuplicateTransaction);
        }
        let id = self.alloc_id();
        self.start_client_tx(now, id, key, req, dest, transport);
        Ok(id)
    }

    /// Send a response within server transaction `tx`.
    pub fn send_response(&mut self, now: Instant, tx: TxId, resp: SipMessage) -> Result<(), TxError> {
        if resp.is_request() {
            return Err(TxError::NotAResponse);
        }
        let status = wire::status(&resp).ok_or(TxError::NotAResponse)?;
        let mut t = self.txs.remove(&tx).ok_or(TxError::UnknownTransaction(tx))?;
        let result = self.server_send(now, tx, &mut t, status, &resp);
        match result {
            Ok(outcome) => {
                self.finish(tx, t, outcome);
                Ok(())
            }
            Err(e) => {
                self.txs.insert(tx, t);
                Err(e)
            }
        }
    }

    /// Cancel INVITE client transaction `invite_tx` (RFC 3261 9.1). Returns the id of the CANCEL
    /// client transaction. If no provisional response has arrived yet the CANCEL is queued and
    /// sent when the first one arrives (and dropped if a final response arrives first, reported
    /// as `Terminated` for the CANCEL id). Calling it twice returns the same id.
    pub fn cancel(&mut self, now: Instant, invite_tx: TxId) -> Result<TxId, TxError> {
        let tx = self.txs.get(&invite_tx).ok_or(TxError::UnknownTransaction(invite_tx))?;
        if tx.kind != TxKind::ClientInvite {
            return Err(TxError::NotAnInvite);
        }
        if let Some(id) = tx.cancel_id {
            if tx.pending_cancel.is_some() || self.txs.contains_key(&id) {
                return Ok(id);
            }
        }
        let state = tx.state;
        if !matches!(state, TxState::Calling | TxState::Proceeding) {
            return Err(TxError::InvalidState);
        }
        let cancel = wire::build_cancel(&tx.request).ok_or(TxError::MissingHeader("CANCEL"))?;
        let key = wire::client_key_for_request(&cancel).ok_or(TxError::MissingBranch)?;
        if self.client_index.contains_key(&key) {
            return Err(TxError::DuplicateTransaction);
        }
        let (peer, transport) = (tx.peer, tx.transport);
        let id = self.alloc_id();
        if let Some(tx) = self.txs.get_mut(&invite_tx) {
            tx.cancel_id = Some(id);
            if state == TxState::Calling {
                tx.pending_cancel = Some(PendingCancel { id, request: cancel });
                return Ok(id);
            }
        }
        self.start_client_tx(now, id, key, cancel, peer, transport);
        Ok(id)
    }

    /// Send the ACK for a 2xx received by INVITE client transaction `invite_tx`. The layer
    /// remembers it per To tag and re-sends it itself when that 2xx is retransmitted (RFC 6026
    /// Accepted state). Works (stateless send) even if the transaction is already gone.
    pub fn send_ack_for_2xx(&mut self, invite_tx: TxId, ack: &SipMessage, dest: SocketAddr, transport: Transport) {
        let payload = wire::serialize(ack);
        if let Some(tx) = self.txs.get_mut(&invite_tx) {
            if tx.kind == TxKind::ClientInvite && tx.state == TxState::Accepted {
                let tag = wire::to_tag(ack);
                match tx.accepted.iter_mut().find(|(t, _)| *t == tag) {
                    Some(entry) => entry.1 = Some(payload.clone()),
                    None => tx.accepted.push((tag, Some(payload.clone()))),
                }
            }
        }
        self.transmits.push_back(Transmit { dest, transport, payload });
    }

    /// Send a message outside any transaction (ACK for 2xx, stateless replies).
    pub fn send_stateless(&mut self, msg: &SipMessage, dest: SocketAddr, transport: Transport) {
        self.transmits.push_back(Transmit { dest, transport, payload: wire::serialize(msg) });
    }

    /// The transport failed to deliver to `dest` (e.g. TCP connect failure or reset). Every
    /// transaction talking to that peer reports `TransportError` and terminates (17.1.4 / 17.2.4).
    pub fn handle_transport_error(&mut self, dest: SocketAddr, transport: Transport) {
        let mut ids: Vec<TxId> =
            self.txs.iter().filter(|(_, t)| t.peer == dest && t.transport == transport).map(|(id, _)| *id).collect();
        ids.sort();
        for id in ids {
            if let Some(tx) = self.txs.remove(&id) {
                if !tx.internal {
                    self.events.push_back(TxEvent::TransportError { tx: id });
                }
                self.finish(id, tx, Outcome::Terminate);
            }
        }
    }

    // ----- internals -----

    fn alloc_id(&mut self) -> TxId {
        let id = TxId(self.next_id);
        self.next_id += 1;
        id
    }

    fn send(&mut self, peer: SocketAddr, transport: Transport, payload: Bytes) {
        self.transmits.push_back(Transmit { dest: peer, transport, payload });
    }

    fn start_retransmit(&mut self, id: TxId, tx: &mut Transaction, timer: Timer, now: Instant) {
        tx.retransmit = self.config.initial(timer, tx.transport).map(|d| {
            let interval = d.max(MIN_INTERVAL);
            let at = now + interval;
            self.timers.push(Reverse((at, id)));
            Retransmit { timer, at, interval }
        });
    }

    /// Arm a timeout/wait timer. Returns `Terminate` if it is zero (reliable transport).
    fn start_expiry(&mut self, id: TxId, tx: &mut Transaction, timer: Timer, now: Instant) -> Outcome {
        let d = self.config.initial(timer, tx.transport).unwrap_or_default();
        if d.is_zero() {
            tx.expiry = None;
            return Outcome::Terminate;
        }
        let at = now + d;
        tx.expiry = Some((timer, at));
        self.timers.push(Reverse((at, id)));
        Outcome::Keep
    }

    fn finish(&mut self, id: TxId, tx: Transaction, outcome: Outcome) {
        match outcome {
            Outcome::Keep => {
                self.txs.insert(id, tx);
            }
            Outcome::Terminate => {
                match &tx.index {
                    IndexKey::Client(k) => {
                        if self.client_index.get(k) == Some(&id) {
                            self.client_index.remove(k);
                        }
                    }
                    IndexKey::Server(k) => {
                        if self.server_index.get(k) == Some(&id) {
                            self.server_index.remove(k);
                        }
                    }
                }
                if let Some(k) = &tx.ack_key {
                    if self.accepted_index.get(k) == Some(&id) {
                        self.accepted_index.remove(k);
                    }
                }
                if let Some(p) = tx.pending_cancel {
                    self.events.push_back(TxEvent::Terminated { tx: p.id });
                }
                if !tx.internal {
                    self.events.push_back(TxEvent::Terminated { tx: id });
                }
            }
        }
    }

    fn start_client_tx(
        &mut self,
        now: Instant,
        id: TxId,
        key: ClientKey,
        req: SipMessage,
        dest: SocketAddr,
        transport: Transport,
    ) {
        let invite = wire::method_kind(&req) == Some(MethodKind::Invite);
        let request_bytes = wire::serialize(&req);
        self.send(dest, transport, request_bytes.clone());
        self.client_index.insert(key.clone(), id);
        let mut tx = Transaction {
            kind: if invite { TxKind::ClientInvite } else { TxKind::ClientNonInvite },
            state: if invite { TxState::Calling } else { TxState::Trying },
            transport,
            peer: dest,
            request: req,
            request_bytes,
            last_response: None,
            ack_for_non_2xx: None,
            retransmit: None,
            expiry: None,
            index: IndexKey::Client(key),
            ack_key: None,
            ack_received: false,
            pending_cancel: None,
            cancel_id: None,
            accepted: Vec::new(),
            local_tag: None,
            internal: false,
        };
        let (retransmit, timeout) = if invite { (Timer::A, Timer::B) } else { (Timer::E, Timer::F) };
        self.start_retransmit(id, &mut tx, retransmit, now);
        let outcome = self.start_expiry(id, &mut tx, timeout, now);
        self.finish(id, tx, outcome);
    }

    fn fire_timers(&mut self, now: Instant, id: TxId, tx: &mut Transaction) -> Outcome {
        if let Some(r) = tx.retransmit.as_mut() {
            if r.at <= now {
                let resend = match (tx.kind, tx.state, r.timer) {
                    (TxKind::ClientInvite, TxState::Calling, Timer::A) => Some(tx.request_bytes.clone()),
                    (TxKind::ClientNonInvite, TxState::Trying | TxState::Proceeding, Timer::E) => {
                        Some(tx.request_bytes.clone())
                    }
                    (TxKind::ServerInvite, TxState::Completed, Timer::G) => tx.last_response.clone(),
                    (TxKind::ServerInvite, TxState::Accepted, Timer::G) if !tx.ack_received => tx.last_response.clone(),
                    _ => None,
                };
                match resend {
                    Some(payload) => {
                        let proceeding = tx.state == TxState::Proceeding;
                        r.interval = self.config.next_interval(r.timer, r.interval, proceeding).max(MIN_INTERVAL);
                        r.at += r.interval;
                        if r.at <= now {
                            // We were woken late; do not burst, schedule from now.
                            r.at = now + r.interval;
                        }
                        self.timers.push(Reverse((r.at, id)));
                        self.transmits.push_back(Transmit { dest: tx.peer, transport: tx.transport, payload });
                    }
                    None => tx.retransmit = None,
                }
            }
        }
        if let Some((timer, at)) = tx.expiry {
            if at <= now {
                tx.expiry = None;
                match timer {
                    Timer::B | Timer::F | Timer::H if !tx.internal => {
                        self.events.push_back(TxEvent::Timeout { tx: id });
                    }
                    Timer::L if !tx.ack_received => {
                        self.events.push_back(TxEvent::AckTimeout { tx: id });
                    }
                    _ => {}
                }
                return Outcome::Terminate;
            }
        }
        Outcome::Keep
    }

    // ----- server side -----

    fn incoming_request(&mut self, now: Instant, mut msg: SipMessage, source: SocketAddr, transport: Transport) {
        wire::stamp_received(&mut msg, source);
        let Some(kind) = wire::method_kind(&msg) else {
            tracing::debug!(%source, "request without method dropped");
            return;
        };
        let key = match wire::server_key(&msg) {
            Some(key) if wire::cseq_method_matches(&msg) => key,
            _ => {
                // Unusable for matching. If a response can be routed (top Via parses) and it
                // is not an ACK, answer 400 statelessly (8.2 / 8.1.1.5); otherwise drop.
                tracing::debug!(%source, "request without usable Via/CSeq/Call-ID");
                if kind != MethodKind::Ack && msg.top_via().is_ok() {
                    if let Some(resp) = wire::build_response(&msg, 400, "Bad Request", None) {
                        let dest = wire::response_destination(&msg, source, transport);
                        self.send(dest, transport, wire::serialize(&resp));
                    }
                }
                return;
            }
        };
        if let Some(&id) = self.server_index.get(&key) {
            if let Some(mut tx) = self.txs.remove(&id) {
                let outcome = self.server_matched(now, id, &mut tx, kind, msg, source, transport);
                self.finish(id, tx, outcome);
            }
            return;
        }
        match kind {
            MethodKind::Ack => self.unmatched_ack(msg, source, transport),
            MethodKind::Cancel => self.incoming_cancel(now, msg, key, source, transport),
            MethodKind::Invite | MethodKind::Other => {
                let id = self.alloc_id();
                self.new_server_tx(now, id, key, msg.clone(), source, transport, false);
                self.events.push_back(TxEvent::Request { tx: id, msg, source, transport });
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn new_server_tx(
        &mut self,
        now: Instant,
        id: TxId,
        key: ServerKey,
        msg: SipMessage,
        source: SocketAddr,
        transport: Transport,
        internal: bool,
    ) {
        let invite = wire::method_kind(&msg) == Some(MethodKind::Invite);
        let peer = wire::response_destination(&msg, source, transport);
        self.server_index.insert(key.clone(), id);
        let mut tx = Transaction {
            kind: if invite { TxKind::ServerInvite } else { TxKind::ServerNonInvite },
            state: if invite { TxState::Proceeding } else { TxState::Trying },
            transport,
            peer,
            request: msg,
            request_bytes: Bytes::new(),
            last_response: None,
            ack_for_non_2xx: None,
            retransmit: None,
            expiry: None,
            index: IndexKey::Server(key),
            ack_key: None,
            ack_received: false,
            pending_cancel: None,
            cancel_id: None,
            accepted: Vec::new(),
            local_tag: None,
            internal,
        };
        if invite {
            // 17.2.1: answer with 100 Trying right away (we do not wait 200 ms for the TU).
            if let Some(trying) = wire::build_response(&tx.request, 100, "Trying", None) {
                let bytes = wire::serialize(&trying);
                tx.last_response = Some(bytes.clone());
                self.send(peer, transport, bytes);
            }
        } else {
            // Memory guard (not in RFC 3261): a non-INVITE request the TU never answers is
            // dropped after 64*T1, when the client's Timer F has fired anyway.
            let _ = self.start_expiry(id, &mut tx, Timer::F, now);
        }
        self.txs.insert(id, tx);
    }

    #[allow(clippy::too_many_arguments)]
    fn server_matched(
        &mut self,
        now: Instant,
        id: TxId,
        tx: &mut Transaction,
        kind: MethodKind,
        msg: SipMessage,
        source: SocketAddr,
        transport: Transport,
    ) -> Outcome {
        match (tx.kind, kind) {
            (TxKind::ServerInvite, MethodKind::Ack) => match tx.state {
                TxState::Completed => {
                    tx.state = TxState::Confirmed;
                    tx.retransmit = None;
                    self.start_expiry(id, tx, Timer::I, now)
                }
                TxState::Accepted => {
                    // Same-branch ACK for our 2xx (RFC 2543 peers): treat as the 2xx ACK.
                    self.ack_for_accepted(id, tx, msg, source, transport);
                    Outcome::Keep
                }
                _ => Outcome::Keep,
            },
            (_, MethodKind::Ack) => Outcome::Keep,
            // A retransmission of the request.
            _ => {
                let resend = match tx.state {
                    TxState::Proceeding | TxState::Completed => tx.last_response.clone(),
                    _ => None,
                };
                if let Some(payload) = resend {
                    self.send(tx.peer, tx.transport, payload);
                }
                Outcome::Keep
            }
        }
    }

    fn ack_for_accepted(
        &mut self,
        id: TxId,
        tx: &mut Transaction,
        msg: SipMessage,
        source: SocketAddr,
        transport: Transport,
    ) {
        if tx.ack_received {
            return;
        }
        tx.ack_received = true;
        tx.retransmit = None;
        self.events.push_back(TxEvent::AckFor2xx { invite_tx: id, msg, source, transport });
    }

    fn unmatched_ack(&mut self, msg: SipMessage, source: SocketAddr, transport: Transport) {
        let accepted = wire::ack_key(&msg).and_then(|k| self.accepted_index.get(&k).copied());
        if let Some(id) = accepted {
            if let Some(mut tx) = self.txs.remove(&id) {
                self.ack_for_accepted(id, &mut tx, msg, source, transport);
                self.finish(id, tx, Outcome::Keep);
                return;
            }
        }
        self.events.push_back(TxEvent::StrayAck { msg, source, transport });
    }

    fn incoming_cancel(
        &mut self,
        now: Instant,
        msg: SipMessage,
        key: ServerKey,
        source: SocketAddr,
        transport: Transport,
    ) {
        let invite_key = key.for_method(wire::INVITE);
        let invite = self
            .server_index
            .get(&invite_key)
            .copied()
            .and_then(|id| self.txs.get(&id).map(|t| (id, t.state, t.local_tag.clone())));
        let id = self.alloc_id();
        self.new_server_tx(now, id, key, msg.clone(), source, transport, true);
        // 9.2: 200 if the CANCEL matched a transaction (with the To tag of the INVITE's
        // responses, if any), else 481.
        let resp = match &invite {
            Some((_, _, tag)) => wire::build_response(&msg, 200, "OK", tag.as_deref()),
            None => wire::build_response(&msg, 481, "Call/Transaction Does Not Exist", None),
        };
        if let Some(resp) = resp {
            // Cannot fail: the transaction was just created in Trying.
            let _ = self.send_response(now, id, resp);
        }
        if let Some((invite_tx, TxState::Proceeding, _)) = invite {
            self.events.push_back(TxEvent::CancelReceived { invite_tx, cancel: msg });
        }
    }

    fn server_send(
        &mut self,
        now: Instant,
        id: TxId,
        tx: &mut Transaction,
        status: u16,
        resp: &SipMessage,
    ) -> Result<Outcome, TxError> {
        let provisional = status < 200;
        let success = (200..300).contains(&status);
        let next = match (tx.kind, tx.state) {
            (TxKind::ServerInvite, TxState::Proceeding) if provisional => TxState::Proceeding,
            (TxKind::ServerInvite, TxState::Proceeding) if success => TxState::Accepted,
            (TxKind::ServerInvite, TxState::Proceeding) => TxState::Completed,
            (TxKind::ServerInvite, TxState::Accepted) if success => TxState::Accepted,
            (TxKind::ServerNonInvite, TxState::Trying | TxState::Proceeding) if provisional => TxState::Proceeding,
            (TxKind::ServerNonInvite, TxState::Trying | TxState::Proceeding) => TxState::Completed,
            _ => return Err(TxError::InvalidState),
        };
        let bytes = wire::serialize(resp);
        if tx.local_tag.is_none() {
            tx.local_tag = wire::to_tag(resp);
        }
        tx.last_response = Some(bytes.clone());
        self.send(tx.peer, tx.transport, bytes);
        let previous = tx.state;
        tx.state = next;
        if previous == next {
            return Ok(Outcome::Keep);
        }
        Ok(match next {
            TxState::Accepted => {
                if let Some(k) = wire::ack_key(&tx.request) {
                    self.accepted_index.insert(k.clone(), id);
                    tx.ack_key = Some(k);
                }
                self.start_retransmit(id, tx, Timer::G, now);
                self.start_expiry(id, tx, Timer::L, now)
            }
            TxState::Completed if tx.kind == TxKind::ServerInvite => {
                self.start_retransmit(id, tx, Timer::G, now);
                self.start_expiry(id, tx, Timer::H, now)
            }
            TxState::Completed => self.start_expiry(id, tx, Timer::J, now),
            _ => Outcome::Keep,
        })
    }

    // ----- client side -----

    fn incoming_response(&mut self, now: Instant, msg: SipMessage, source: SocketAddr, transport: Transport) {
        let (Some(key), Some(status)) = (wire::client_key_for_response(&msg), wire::status(&msg)) else {
            tracing::debug!(%source, "response without usable Via/CSeq/status dropped");
            return;
        };
        let Some(&id) = self.client_index.get(&key) else {
            self.events.push_back(TxEvent::StrayResponse { msg, source, transport });
            return;
        };
        let Some(mut tx) = self.txs.remove(&id) else {
            return;
        };
        let outcome = match tx.kind {
            TxKind::ClientInvite => self.client_invite_response(now, id, &mut tx, status, msg),
            _ => self.client_non_invite_response(now, id, &mut tx, status, msg),
        };
        self.finish(id, tx, outcome);
    }

    fn client_invite_response(
        &mut self,
        now: Instant,
        id: TxId,
        tx: &mut Transaction,
        status: u16,
        msg: SipMessage,
    ) -> Outcome {
        match (tx.state, status) {
            (TxState::Calling | TxState::Proceeding, 100..=199) => {
                if tx.state == TxState::Calling {
                    tx.state = TxState::Proceeding;
                    tx.retransmit = None;
                    // Timer B only guards the Calling state (17.1.1.2).
                    tx.expiry = None;
                }
                self.events.push_back(TxEvent::Response { tx: id, msg });
                if let Some(p) = tx.pending_cancel.take() {
                    match wire::client_key_for_request(&p.request) {
                        Some(key) if !self.client_index.contains_key(&key) => {
                            self.start_client_tx(now, p.id, key, p.request, tx.peer, tx.transport)
                        }
                        _ => self.events.push_back(TxEvent::Terminated { tx: p.id }),
                    }
                }
                Outcome::Keep
            }
            (TxState::Calling | TxState::Proceeding, 200..=299) => {
                tx.state = TxState::Accepted;
                tx.retransmit = None;
                tx.accepted.push((wire::to_tag(&msg), None));
                self.drop_pending_cancel(tx);
                self.events.push_back(TxEvent::Response { tx: id, msg });
                self.start_expiry(id, tx, Timer::M, now)
            }
            (TxState::Accepted, 200..=299) => {
                let tag = wire::to_tag(&msg);
                match tx.accepted.iter().find(|(t, _)| *t == tag) {
                    Some((_, ack)) => {
                        // Retransmitted 2xx: absorbed, re-ACKed if the TU gave us its ACK.
                        if let Some(ack) = ack.clone() {
                            self.send(tx.peer, tx.transport, ack);
                        }
                    }
                    None => {
                        // A 2xx from another fork: the TU must ACK it (and probably BYE it).
                        tx.accepted.push((tag, None));
                        self.events.push_back(TxEvent::Response { tx: id, msg });
                    }
                }
                Outcome::Keep
            }
            (TxState::Calling | TxState::Proceeding, 300..) => {
                tx.state = TxState::Completed;
                tx.retransmit = None;
                tx.expiry = None;
                if let Some(ack) = wire::build_ack_for_non_2xx(&tx.request, &msg) {
                    let bytes = wire::serialize(&ack);
                    tx.ack_for_non_2xx = Some(bytes.clone());
                    self.send(tx.peer, tx.transport, bytes);
                }
                self.drop_pending_cancel(tx);
                self.events.push_back(TxEvent::Response { tx: id, msg });
                self.start_expiry(id, tx, Timer::D, now)
            }
            (TxState::Completed, 300..) => {
                if let Some(ack) = tx.ack_for_non_2xx.clone() {
                    self.send(tx.peer, tx.transport, ack);
                }
                Outcome::Keep
            }
            // Late provisionals, mixed finals, or nonsense status codes: absorbed.
            _ => Outcome::Keep,
        }
    }

    fn drop_pending_cancel(&mut self, tx: &mut Transaction) {
        if let Some(p) = tx.pending_cancel.take() {
            self.events.push_back(TxEvent::Terminated { tx: p.id });
        }
    }

    fn client_non_invite_response(
        &mut self,
        now: Instant,
        id: TxId,
        tx: &mut Transaction,
        status: u16,
        msg: SipMessage,
    ) -> Outcome {
        match (tx.state, status) {
            (TxState::Trying | TxState::Proceeding, 100..=199) => {
                tx.state = TxState::Proceeding;
                self.events.push_back(TxEvent::Response { tx: id, msg });
                Outcome::Keep
            }
            (TxState::Trying | TxState::Proceeding, 200..) => {
                tx.state = TxState::Completed;
                tx.retransmit = None;
                tx.expiry = None;
                self.events.push_back(TxEvent::Response { tx: id, msg });
                self.start_expiry(id, tx, Timer::K, now)
            }
            _ => Outcome::Keep,
        }
    }
}
