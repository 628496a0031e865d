//! Sans-IO SIP registrar / location service (RFC 3261 §10.3). Owns the bindings per
//! address-of-record user (the agent id), applies REGISTER requests that the SIP layer has already
//! parsed and authenticated into a [`RegisterRequest`], answers lookups, and expires bindings as
//! timer data: `poll_timeout()` says when, `handle_timeout(now)` removes, `poll_event()` reports.
//! It never reads the clock and never touches the network.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Transport the REGISTER arrived on (where to reach the contact).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl From<crate::sip::transaction::Transport> for Transport {
    fn from(t: crate::sip::transaction::Transport) -> Transport {
        match t {
            crate::sip::transaction::Transport::Udp => Transport::Udp,
            crate::sip::transaction::Transport::Tcp => Transport::Tcp,
        }
    }
}

impl From<Transport> for crate::sip::transaction::Transport {
    fn from(t: Transport) -> crate::sip::transaction::Transport {
        match t {
            Transport::Udp => crate::sip::transaction::Transport::Udp,
            Transport::Tcp => crate::sip::transaction::Transport::Tcp,
        }
    }
}

/// One Contact of a REGISTER, with its `expires` and `q` parameters if present.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactParam {
    /// The Contact URI without angle brackets, e.g. `sip:1001@192.0.2.7:5060;transport=udp`.
    pub uri: String,
    pub expires: Option<u32>,
    pub q: Option<f32>,
}

impl ContactParam {
    pub fn new(uri: impl Into<String>) -> Self {
        Self { uri: uri.into(), expires: None, q: None }
    }
}

/// A REGISTER as the registrar needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterRequest {
    /// User part of the To (address-of-record) URI.
    pub user: String,
    pub contacts: Vec<ContactParam>,
    /// `Contact: *` was present.
    pub wildcard: bool,
    /// The `Expires` header value.
    pub expires: Option<u32>,
    pub call_id: String,
    pub cseq: u32,
    pub source: SocketAddr,
    pub transport: Transport,
}

/// A stored binding.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub contact_uri: String,
    pub expires_at: Instant,
    pub call_id: String,
    pub cseq: u32,
    pub source: SocketAddr,
    pub transport: Transport,
    pub q: Option<f32>,
    /// When this contact was first bound.
    pub registered_at: Instant,
    /// When this contact was last (re-)registered.
    pub refreshed_at: Instant,
}

/// A binding as listed in the 200 OK (`Contact: <uri>;expires=N[;q=..]`).
#[derive(Debug, Clone, PartialEq)]
pub struct BindingView {
    pub contact_uri: String,
    pub expires_secs: u32,
    pub q: Option<f32>,
}

impl BindingView {
    /// The Contact header value for the 200 OK.
    pub fn to_contact_header(&self) -> String {
        match self.q {
            Some(q) => format!("<{}>;expires={};q={q}", self.contact_uri, self.expires_secs),
            None => format!("<{}>;expires={}", self.contact_uri, self.expires_secs),
        }
    }
}

/// Registrar limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Shorter non-zero intervals are answered 423 with `Min-Expires`.
    pub min_expires: u32,
    /// Longer intervals are silently shortened to this.
    pub max_expires: u32,
    /// Used when neither the contact nor the request gives an interval.
    pub default_expires: u32,
    /// More bindings than this for one user are refused with 403.
    pub max_bindings_per_user: usize,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self { min_expires: 60, max_expires: 3600, default_expires: 3600, max_bindings_per_user: 10 }
    }
}

/// Why a REGISTER was refused; nothing was changed when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrarError {
    #[error("Contact: * must be alone and come with Expires: 0")]
    InvalidWildcard,
    #[error("request is out of order for this Call-ID (CSeq not higher)")]
    OutOfOrder,
    #[error("registration interval too brief (minimum {min_expires}s)")]
    IntervalTooBrief { min_expires: u32 },
    #[error("too many bindings for this user (maximum {max})")]
    TooManyBindings { max: usize },
}

impl RegistrarError {
    pub fn status_code(&self) -> u16 {
        match self {
            Self::InvalidWildcard => 400,
            Self::OutOfOrder => 500,
            Self::IntervalTooBrief { .. } => 423,
            Self::TooManyBindings { .. } => 403,
        }
    }

    /// The `Min-Expires` header value for a 423.
    pub fn min_expires(&self) -> Option<u32> {
        match self {
            Self::IntervalTooBrief { min_expires } => Some(*min_expires),
            _ => None,
        }
    }
}

/// What changed in the location service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrarEvent {
    /// A new contact was bound.
    Registered { user: String, contact: String },
    /// An existing contact re-registered.
    Refreshed { user: String, contact: String },
    /// A contact was removed by REGISTER (expires=0 or `*`); `remaining` is the number of live
    /// bindings the user has after the whole request was applied (0 = now offline).
    Unregistered { user: String, contact: String, remaining: usize },
    /// A contact timed out; `remaining` live bindings are left (0 = now offline).
    Expired { user: String, contact: String, remaining: usize },
}

/// The location service.
#[derive(Debug, Default)]
pub struct Registrar {
    config: RegistrarConfig,
    bindings: HashMap<String, Vec<Binding>>,
    events: VecDeque<RegistrarEvent>,
}

fn same_contact(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl Registrar {
    pub fn new(config: RegistrarConfig) -> Self {
        Self { config, bindings: HashMap::new(), events: VecDeque::new() }
    }

    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// Apply a REGISTER (RFC 3261 §10.3 steps 6–8). On success returns all live bindings of the
    /// user (for the 200 OK). On error nothing is changed.
    pub fn handle_register(&mut self, now: Instant, req: RegisterRequest) -> Result<Vec<BindingView>, RegistrarError> {
        // Drop bindings that already lapsed so they neither block nor count.
        self.expire_user(now, &req.user);

        if req.wildcard {
            if req.expires != Some(0) || !req.contacts.is_empty() {
                return Err(RegistrarError::InvalidWildcard);
            }
            let current = self.bindings.get(&req.user).map(Vec::as_slice).unwrap_or(&[]);
            if current.iter().any(|b| b.call_id == req.call_id && req.cseq <= b.cseq) {
                return Err(RegistrarError::OutOfOrder);
            }
            let removed = self.bindings.remove(&req.user).unwrap_or_default();
            for b in removed {
                self.events.push_back(RegistrarEvent::Unregistered {
                    user: req.user.clone(),
                    contact: b.contact_uri,
                    remaining: 0,
                });
            }
            return Ok(Vec::new());
        }

        // Work out every contact's interval first: a 423 must leave everything untouched.
        let mut intervals = Vec::with_capacity(req.contacts.len());
        for c in &req.contacts {
            let secs = c.expires.or(req.expires).unwrap_or(self.config.default_expires);
            if secs != 0 && secs < self.config.min_expires {
                return Err(RegistrarError::IntervalTooBrief { min_expires: self.config.min_expires });
            }
            intervals.push(secs.min(self.config.max_expires));
        }

        let mut updated: Vec<Binding> = self.bindings.get(&req.user).cloned().unwrap_or_default();
        let mut pending_events = Vec::new();
        for (contact, secs) in req.contacts.iter().zip(intervals) {
            let existing = updated.iter().position(|b| same_contact(&b.contact_uri, &contact.uri));
            if let Some(idx) = existing {
                let b = &updated[idx];
                if b.call_id == req.call_id && req.cseq <= b.cseq {
                    return Err(RegistrarError::OutOfOrder);
                }
            }
            match (existing, secs) {
                (Some(idx), 0) => {
                    let b = updated.remove(idx);
                    pending_events.push((false, b.contact_uri));
                }
                (None, 0) => {}
                (Some(idx), secs) => {
                    let b = &mut updated[idx];
                    b.expires_at = now + Duration::from_secs(u64::from(secs));
                    b.call_id = req.call_id.clone();
                    b.cseq = req.cseq;
                    b.source = req.source;
                    b.transport = req.transport;
                    b.q = contact.q;
                    b.refreshed_at = now;
                    pending_events.push((true, b.contact_uri.clone()));
                }
                (None, secs) => {
                    updated.push(Binding {
                        contact_uri: contact.uri.clone(),
                        expires_at: now + Duration::from_secs(u64::from(secs)),
                        call_id: req.call_id.clone(),
                        cseq: req.cseq,
                        source: req.source,
                        transport: req.transport,
                        q: contact.q,
                        registered_at: now,
                        refreshed_at: now,
                    });
                    pending_events.push((true, contact.uri.clone()));
                }
            }
        }
        if updated.len() > self.config.max_bindings_per_user {
            return Err(RegistrarError::TooManyBindings { max: self.config.max_bindings_per_user });
        }

        // Commit, then report.
        let previous: Vec<String> =
            self.bindings.get(&req.user).map(|v| v.iter().map(|b| b.contact_uri.clone()).collect()).unwrap_or_default();
        let remaining = updated.len();
        for (kept, contact) in pending_events {
            let event = if !kept {
                RegistrarEvent::Unregistered { user: req.user.clone(), contact, remaining }
            } else if previous.iter().any(|p| same_contact(p, &contact)) {
                RegistrarEvent::Refreshed { user: req.user.clone(), contact }
            } else {
                RegistrarEvent::Registered { user: req.user.clone(), contact }
            };
            self.events.push_back(event);
        }
        let views = Self::views(now, &updated);
        if updated.is_empty() {
            self.bindings.remove(&req.user);
        } else {
            self.bindings.insert(req.user, updated);
        }
        Ok(views)
    }

    fn views(now: Instant, bindings: &[Binding]) -> Vec<BindingView> {
        bindings
            .iter()
            .filter(|b| b.expires_at > now)
            .map(|b| {
                let left = b.expires_at.saturating_duration_since(now);
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                BindingView {
                    contact_uri: b.contact_uri.clone(),
                    expires_secs: u32::try_from(secs).unwrap_or(u32::MAX),
                    q: b.q,
                }
            })
            .collect()
    }

    /// The live binding of `user` that was most recently (re-)registered.
    /// Puts back a binding the store kept across a restart, with the time it has left; reported
    /// as `Registered`. A binding with no time left, or beyond the per-user limit, is not restored.
    pub fn restore(&mut self, now: Instant, user: &str, binding: Binding) -> bool {
        if binding.expires_at <= now {
            return false;
        }
        let list = self.bindings.entry(user.to_string()).or_default();
        if list.iter().any(|b| same_contact(&b.contact_uri, &binding.contact_uri))
            || list.len() >= self.config.max_bindings_per_user
        {
            return false;
        }
        let contact = binding.contact_uri.clone();
        list.push(binding);
        self.events.push_back(RegistrarEvent::Registered { user: user.to_string(), contact });
        true
    }

    pub fn lookup(&self, now: Instant, user: &str) -> Option<&Binding> {
        self.bindings.get(user)?.iter().filter(|b| b.expires_at > now).max_by_key(|b| b.refreshed_at)
    }

    /// All live bindings of `user`, highest q first, then most recently refreshed first.
    pub fn bindings(&self, now: Instant, user: &str) -> Vec<&Binding> {
        let mut live: Vec<&Binding> = match self.bindings.get(user) {
            Some(v) => v.iter().filter(|b| b.expires_at > now).collect(),
            None => Vec::new(),
        };
        live.sort_by(|a, b| {
            let qa = a.q.unwrap_or(1.0);
            let qb = b.q.unwrap_or(1.0);
            qb.total_cmp(&qa).then(b.refreshed_at.cmp(&a.refreshed_at))
        });
        live
    }

    /// The live bindings of `user` as 200 OK views (answer to a query REGISTER).
    pub fn binding_views(&self, now: Instant, user: &str) -> Vec<BindingView> {
        self.bindings.get(user).map(|v| Self::views(now, v)).unwrap_or_default()
    }

    pub fn is_registered(&self, now: Instant, user: &str) -> bool {
        self.lookup(now, user).is_some()
    }

    /// Users with at least one live binding.
    pub fn registered_users(&self, now: Instant) -> impl Iterator<Item = &str> {
        self.bindings.iter().filter(move |(_, v)| v.iter().any(|b| b.expires_at > now)).map(|(u, _)| u.as_str())
    }

    /// The earliest instant at which a binding expires.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.bindings.values().flatten().map(|b| b.expires_at).min()
    }

    /// Remove every binding whose time has come and queue `Expired` events.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<String> = self
            .bindings
            .iter()
            .filter(|(_, v)| v.iter().any(|b| b.expires_at <= now))
            .map(|(u, _)| u.clone())
            .collect();
        for user in due {
            self.expire_user(now, &user);
        }
    }

    fn expire_user(&mut self, now: Instant, user: &str) {
        let Some(list) = self.bindings.get_mut(user) else {
            return;
        };
        let mut expired = Vec::new();
        list.retain(|b| {
            if b.expires_at <= now {
                expired.push(b.contact_uri.clone());
                false
            } else {
                true
            }
        });
        let live = list.len();
        if live == 0 {
            self.bindings.remove(user);
        }
        for contact in expired {
            self.events.push_back(RegistrarEvent::Expired { user: user.to_string(), contact, remaining: live });
        }
    }

    pub fn poll_event(&mut self) -> Option<RegistrarEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests;
