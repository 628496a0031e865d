//! `DialogSet`: the table of live dialogs keyed by `DialogId`, with lookup from an incoming
//! request or response (local/remote tags swapped as appropriate). Bounded by its owner: dialogs
//! are removed explicitly when they end.

use std::collections::HashMap;

use super::{Dialog, DialogId};
use crate::sip::message::SipMessage;

/// All dialogs of one endpoint.
#[derive(Debug, Default)]
pub struct DialogSet {
    dialogs: HashMap<DialogId, Dialog>,
}

impl DialogSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a dialog, returning the one it replaced (same id), if any.
    pub fn insert(&mut self, dialog: Dialog) -> Option<Dialog> {
        self.dialogs.insert(dialog.id.clone(), dialog)
    }

    pub fn get(&self, id: &DialogId) -> Option<&Dialog> {
        self.dialogs.get(id)
    }

    pub fn get_mut(&mut self, id: &DialogId) -> Option<&mut Dialog> {
        self.dialogs.get_mut(id)
    }

    pub fn remove(&mut self, id: &DialogId) -> Option<Dialog> {
        self.dialogs.remove(id)
    }

    pub fn len(&self) -> usize {
        self.dialogs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dialogs.is_empty()
    }

    /// The dialog an incoming request (To tag = ours) or response (From tag = ours) belongs to.
    pub fn find_incoming(&self, msg: &SipMessage) -> Option<&Dialog> {
        self.dialogs.get(&DialogId::for_incoming(msg)?)
    }

    /// Mutable form of `find_incoming`.
    pub fn find_incoming_mut(&mut self, msg: &SipMessage) -> Option<&mut Dialog> {
        self.dialogs.get_mut(&DialogId::for_incoming(msg)?)
    }

    /// Iterates over all dialogs (in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = &Dialog> {
        self.dialogs.values()
    }
}
