//! RFC 3261 section 12 dialogs: the `Dialog` state (id = Call-ID + local tag + remote tag,
//! local/remote CSeq, local/remote URI, remote target, route set, secure flag) built on the UAS
//! side from an INVITE or on the UAC side from an INVITE and its 1xx/2xx response; creation of
//! in-dialog requests (12.2.1.1, loose and strict routing) and of the ACK for a 2xx; checking of
//! incoming in-dialog requests (CSeq ordering, target refresh); and `DialogSet`, the table of
//! dialogs keyed by id with lookup from an incoming message. Pure data, no I/O, no clock.

mod set;

use crate::sip::message::{Contacts, MessageBuilder, Method, NameAddr, Request, Scheme, SipMessage, Uri};

pub use set::DialogSet;

/// A fresh From/To tag: 16 random alphanumerics (~95 bits; RFC 3261 19.3 asks for 32).
pub fn new_tag<R: rand::Rng + ?Sized>(rng: &mut R) -> String {
    (0..16).map(|_| char::from(rng.sample(rand::distributions::Alphanumeric))).collect()
}

/// Identifies a dialog from the point of view of this endpoint (12).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    /// Empty when the peer is an RFC 2543 endpoint that sent no tag.
    pub remote_tag: String,
}

impl DialogId {
    /// The id of the dialog an incoming message belongs to: for a request we received the local
    /// tag is the To tag and the remote tag the From tag; for a response to our own request
    /// the local tag is the From tag and the remote tag the To tag. `None` when the message has
    /// no Call-ID, no From/To, or no local tag (an out-of-dialog request).
    pub fn for_incoming(msg: &SipMessage) -> Option<DialogId> {
        let call_id = msg.call_id().ok()?.to_owned();
        let from = msg.from().ok()?;
        let to = msg.to().ok()?;
        let from_tag = from.tag().unwrap_or_default().to_owned();
        let to_tag = to.tag().unwrap_or_default().to_owned();
        let (local_tag, remote_tag) = if msg.is_request() { (to_tag, from_tag) } else { (from_tag, to_tag) };
        if local_tag.is_empty() {
            return None;
        }
        Some(DialogId { call_id, local_tag, remote_tag })
    }

    /// The id of the dialog a message we send belongs to (the mirror image of `for_incoming`).
    pub fn for_outgoing(msg: &SipMessage) -> Option<DialogId> {
        let call_id = msg.call_id().ok()?.to_owned();
        let from_tag = msg.from().ok()?.tag().unwrap_or_default().to_owned();
        let to_tag = msg.to().ok()?.tag().unwrap_or_default().to_owned();
        let (local_tag, remote_tag) = if msg.is_request() { (from_tag, to_tag) } else { (to_tag, from_tag) };
        if local_tag.is_empty() {
            return None;
        }
        Some(DialogId { call_id, local_tag, remote_tag })
    }
}

/// Early (created by a 1xx with a To tag) or confirmed (by a 2xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    Early,
    Confirmed,
}

/// Why a dialog could not be created or an in-dialog request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    #[error("missing or malformed {0} header")]
    BadHeader(&'static str),
    #[error("no usable Contact for the remote target")]
    MissingContact,
    #[error("the response has no To tag")]
    MissingRemoteTag,
    #[error("status {0} cannot create a dialog")]
    NotDialogCreating(u16),
    #[error("CSeq {got} is lower than the remote CSeq {last}")]
    CSeqOutOfOrder { got: u32, last: u32 },
    #[error("the message does not belong to this dialog")]
    NotThisDialog,
    #[error("the local CSeq space is exhausted")]
    CSeqExhausted,
}

impl DialogError {
    /// The status a UAS answers the offending request with.
    pub fn status_code(&self) -> u16 {
        match self {
            DialogError::BadHeader(_)
            | DialogError::MissingContact
            | DialogError::MissingRemoteTag
            | DialogError::NotDialogCreating(_) => 400,
            // 12.2.2: a request with a lower CSeq is out of order: 500.
            DialogError::CSeqOutOfOrder { .. } | DialogError::CSeqExhausted => 500,
            DialogError::NotThisDialog => 481,
        }
    }
}

/// One dialog's state (RFC 3261 12.1 / 12.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub id: DialogId,
    pub state: DialogState,
    /// CSeq of the last request we sent in the dialog (`None`: none yet, UAS side).
    pub local_seq: Option<u32>,
    /// CSeq of the last request the peer sent (`None`: none yet, UAC side).
    pub remote_seq: Option<u32>,
    /// Our address-of-record as in From (UAC) / To (UAS), without the tag.
    pub local_uri: NameAddr,
    /// The peer's address-of-record, without the tag.
    pub remote_uri: NameAddr,
    /// Where in-dialog requests go: the peer's Contact URI.
    pub remote_target: Uri,
    /// Our Contact, put into target-refresh requests.
    pub local_contact: Option<Uri>,
    /// Route set in the order requests must traverse it.
    pub route_set: Vec<NameAddr>,
    /// The dialog was created over sips: (the Request-URI of the INVITE was sips).
    pub secure: bool,
}

fn without_tag(mut addr: NameAddr) -> NameAddr {
    addr.params.retain(|(n, _)| !n.eq_ignore_ascii_case("tag"));
    addr
}

fn first_contact(msg: &SipMessage) -> Result<Uri, DialogError> {
    match msg.contacts() {
        Ok(Contacts::List(list)) => list.into_iter().next().map(|c| c.uri).ok_or(DialogError::MissingContact),
        Ok(Contacts::Wildcard) | Err(_) => Err(DialogError::MissingContact),
    }
}

fn is_target_refresh(method: &Method) -> bool {
    matches!(method, Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer)
}

impl Dialog {
    /// UAS side (12.1.1): the dialog created by our 2xx (or 1xx with `local_tag`) to `invite`.
    /// Route set = Record-Route in order; remote target = the INVITE's Contact.
    pub fn from_uas(invite: &SipMessage, local_tag: &str, local_contact: Uri) -> Result<Dialog, DialogError> {
        let call_id = invite.call_id().map_err(|_| DialogError::BadHeader("Call-ID"))?;
        let from = invite.from().map_err(|_| DialogError::BadHeader("From"))?;
        let to = invite.to().map_err(|_| DialogError::BadHeader("To"))?;
        let cseq = invite.cseq().map_err(|_| DialogError::BadHeader("CSeq"))?;
        let route_set = invite.record_route().map_err(|_| DialogError::BadHeader("Record-Route"))?;
        let remote_target = first_contact(invite)?;
        let secure = invite.request_uri().is_ok_and(|u| u.scheme == Scheme::Sips);
        Ok(Dialog {
            id: DialogId {
                call_id: call_id.to_owned(),
                local_tag: local_tag.to_owned(),
                remote_tag: from.tag().unwrap_or_default().to_owned(),
            },
            state: DialogState::Confirmed,
            local_seq: None,
            remote_seq: Some(cseq.seq),
            local_uri: without_tag(to),
            remote_uri: without_tag(from),
            remote_target,
            local_contact: Some(local_contact),
            route_set,
            secure,
        })
    }

    /// UAC side (12.1.2): the dialog created by `response` (101-199 with a To tag: early;
    /// 2xx: confirmed) to our `invite`. Route set = the response's Record-Route reversed;
    /// remote target = the response's Contact.
    pub fn from_uac(invite: &SipMessage, response: &SipMessage) -> Result<Dialog, DialogError> {
        let status = response.status().unwrap_or(0);
        let state = match status {
            101..=199 => DialogState::Early,
            200..=299 => DialogState::Confirmed,
            other => return Err(DialogError::NotDialogCreating(other)),
        };
        let call_id = invite.call_id().map_err(|_| DialogError::BadHeader("Call-ID"))?;
        let from = invite.from().map_err(|_| DialogError::BadHeader("From"))?;
        let to = response.to().map_err(|_| DialogError::BadHeader("To"))?;
        let remote_tag = to.tag().filter(|t| !t.is_empty()).ok_or(DialogError::MissingRemoteTag)?.to_owned();
        let cseq = invite.cseq().map_err(|_| DialogError::BadHeader("CSeq"))?;
        let mut route_set = response.record_route().map_err(|_| DialogError::BadHeader("Record-Route"))?;
        route_set.reverse();
        let remote_target = first_contact(response)?;
        let secure = invite.request_uri().is_ok_and(|u| u.scheme == Scheme::Sips);
        Ok(Dialog {
            id: DialogId {
                call_id: call_id.to_owned(),
                local_tag: from.tag().unwrap_or_default().to_owned(),
                remote_tag,
            },
            state,
            local_seq: Some(cseq.seq),
            remote_seq: None,
            local_uri: without_tag(from),
            remote_uri: without_tag(to),
            remote_target,
            local_contact: first_contact(invite).ok(),
            route_set,
            secure,
        })
    }

    fn local_name_addr(&self) -> NameAddr {
        let mut a = self.local_uri.clone();
        a.set_param("tag", Some(&self.id.local_tag));
        a
    }

    fn remote_name_addr(&self) -> NameAddr {
        let mut a = self.remote_uri.clone();
        if !self.id.remote_tag.is_empty() {
            a.set_param("tag", Some(&self.id.remote_tag));
        }
        a
    }

    /// Request-URI and Route header values per 12.2.1.1: loose routing (first route has `lr`)
    /// keeps the remote target as Request-URI and sends the route set as Route; strict routing
    /// puts the first route's URI (parameters kept, as RFC 3261 allows) in the Request-URI and
    /// appends the remote target as the last Route.
    fn routing(&self) -> (String, Vec<String>) {
        match self.route_set.first() {
            None => (self.remote_target.to_string(), Vec::new()),
            Some(first) if first.uri.is_loose_route() => {
                (self.remote_target.to_string(), self.route_set.iter().map(|r| r.to_string()).collect())
            }
            Some(first) => {
                let mut routes: Vec<String> = self.route_set[1..].iter().map(|r| r.to_string()).collect();
                routes.push(NameAddr::new(self.remote_target.clone()).to_string());
                (first.uri.to_string(), routes)
            }
        }
    }

    fn base_request(&self, method: Method, seq: u32) -> MessageBuilder {
        let (request_uri, routes) = self.routing();
        let mut b = Request::builder(method.clone(), request_uri)
            .header("Max-Forwards", "70")
            .header("From", self.local_name_addr().to_string())
            .header("To", self.remote_name_addr().to_string())
            .header("Call-ID", &self.id.call_id)
            .header("CSeq", format!("{seq} {method}"));
        for r in routes {
            b.push_header("Route", &r);
        }
        b
    }

    /// A new in-dialog request (BYE, re-INVITE, INFO, UPDATE, ...), 12.2.1.1: CSeq is the local
    /// CSeq plus one (1 for the first request of a UAS), Request-URI and Route from the remote
    /// target and route set, Contact on target-refresh methods. The caller must prepend a Via
    /// with a fresh branch (`MessageBuilder::prepend_via`) and may add a body.
    /// Do not use it for ACK (see `create_ack`) or CANCEL (built by the transaction layer).
    pub fn create_request(&mut self, method: Method) -> Result<MessageBuilder, DialogError> {
        let seq = match self.local_seq {
            Some(s) => s.checked_add(1).ok_or(DialogError::CSeqExhausted)?,
            None => 1,
        };
        self.local_seq = Some(seq);
        let refresh = is_target_refresh(&method);
        let mut b = self.base_request(method, seq);
        if refresh {
            if let Some(c) = &self.local_contact {
                b.push_header("Contact", &NameAddr::new(c.clone()).to_string());
            }
        }
        Ok(b)
    }

    /// The ACK for a 2xx response to an INVITE of this dialog (13.2.2.4): CSeq number of the
    /// INVITE, method ACK, same routing as any in-dialog request. The local CSeq is unchanged.
    /// The caller must prepend a Via with a fresh branch.
    pub fn create_ack(&self, response_2xx: &SipMessage) -> Result<MessageBuilder, DialogError> {
        let cseq = response_2xx.cseq().map_err(|_| DialogError::BadHeader("CSeq"))?;
        Ok(self.base_request(Method::Ack, cseq.seq))
    }

    /// Checks an incoming in-dialog request (12.2.2) and updates the dialog: the request must
    /// carry this dialog's id; a CSeq lower than the remote CSeq is refused (500); ACK and
    /// CANCEL do not advance the remote CSeq; target-refresh requests with a Contact update the
    /// remote target.
    pub fn handle_remote_request(&mut self, msg: &SipMessage) -> Result<(), DialogError> {
        if DialogId::for_incoming(msg).as_ref() != Some(&self.id) {
            return Err(DialogError::NotThisDialog);
        }
        let cseq = msg.cseq().map_err(|_| DialogError::BadHeader("CSeq"))?;
        let method = msg.method().ok_or(DialogError::BadHeader("CSeq"))?;
        if matches!(method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        if let Some(last) = self.remote_seq {
            if cseq.seq < last {
                return Err(DialogError::CSeqOutOfOrder { got: cseq.seq, last });
            }
        }
        self.remote_seq = Some(cseq.seq);
        if is_target_refresh(&method) {
            if let Ok(target) = first_contact(msg) {
                self.remote_target = target;
            }
        }
        Ok(())
    }

    /// Updates the dialog from a response to a request we sent in it: a 2xx to INVITE confirms
    /// an early dialog and recomputes the route set (13.2.2.4); a 2xx to a target-refresh
    /// request updates the remote target (12.2.1.2).
    pub fn handle_remote_response(&mut self, resp: &SipMessage) -> Result<(), DialogError> {
        if DialogId::for_incoming(resp).as_ref() != Some(&self.id) {
            return Err(DialogError::NotThisDialog);
        }
        let status = resp.status().unwrap_or(0);
        if !(200..300).contains(&status) {
            return Ok(());
        }
        let cseq = resp.cseq().map_err(|_| DialogError::BadHeader("CSeq"))?;
        if cseq.method == Method::Invite && self.state == DialogState::Early {
            self.state = DialogState::Confirmed;
            let mut routes = resp.record_route().map_err(|_| DialogError::BadHeader("Record-Route"))?;
            routes.reverse();
            self.route_set = routes;
        }
        if is_target_refresh(&cseq.method) {
            if let Ok(target) = first_contact(resp) {
                self.remote_target = target;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
