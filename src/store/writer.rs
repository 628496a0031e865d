//! The event log's write side: one dedicated OS thread owns the only write connection. Callers hand
//! events to it through an unbounded channel ([`EventLog::append`] never blocks); the thread takes
//! whatever is queued (up to a batch limit), stores the events and their call detail records in one
//! transaction, commits durably, and only then publishes each [`StoredEvent`] on a broadcast channel
//! and acknowledges waiting callers. Offsets are SQLite rowids handed out by this single writer, so
//! they are global, increasing and gap-free (a rolled-back batch leaves no rows behind).
//!
//! Queue policy: the queue is unbounded. Events are the record of what happened to paying calls, so
//! neither blocking the call core nor dropping events is acceptable while the disk keeps up; the
//! writer batches more per commit as the queue grows, and the depth is exported as the gauge
//! `meritline_event_log_queue_depth` so a stalled disk is visible long before memory runs out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{broadcast, oneshot};

use super::cdr::Cdr;
use super::{load_cdr, save_cdr, StoreError};
use crate::call::durable::DurableWrite;
use crate::events::{is_agent_stream, CallEvent, StoredEvent, SCHEMA_VERSION};

/// A request to the writer thread.
enum Command {
    Append {
        event: CallEvent,
        ack: Option<oneshot::Sender<Result<i64, StoreError>>>,
    },
    Flush {
        ack: oneshot::Sender<Result<(), StoreError>>,
    },
    /// State for restart recovery (registrations, live dialogs), stored in order with events.
    Durable(DurableWrite),
}

/// Handle to the event log's writer thread. Cheap to clone; every clone feeds the same writer.
#[derive(Clone)]
pub struct EventLog {
    commands: mpsc::Sender<Command>,
    published: broadcast::Sender<StoredEvent>,
    queued: Arc<AtomicUsize>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog").field("queued", &self.queue_depth()).finish()
    }
}

impl EventLog {
    /// Starts the writer thread on `conn` (already configured and migrated).
    pub(super) fn start(conn: Connection, broadcast_capacity: usize, max_batch: usize) -> Result<EventLog, StoreError> {
        let (commands, receiver) = mpsc::channel();
        let (published, _) = broadcast::channel(broadcast_capacity.max(1));
        let queued = Arc::new(AtomicUsize::new(0));
        let writer = Writer {
            conn,
            commands: receiver,
            published: published.clone(),
            queued: queued.clone(),
            max_batch: max_batch.max(1),
        };
        std::thread::Builder::new()
            .name("meritline-event-log".into())
            .spawn(move || writer.run())
            .map_err(|source| StoreError::Thread { source })?;
        Ok(EventLog { commands, published, queued })
    }

    /// Queues `event` for the writer and returns at once; it never blocks. If the writer has
    /// stopped, the event is counted in `meritline_event_log_dropped_total` and logged.
    pub fn append(&self, event: CallEvent) {
        self.send_append(event, None);
    }

    /// Queues `event` and resolves once it is committed, with its offset. An event whose
    /// `(call_id, seq)` is already stored is not stored twice; the existing offset is returned.
    pub async fn append_and_wait(&self, event: CallEvent) -> Result<i64, StoreError> {
        let (ack, done) = oneshot::channel();
        self.send_append(event, Some(ack));
        done.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Queues a restart-recovery write (see [`crate::call::durable`]); it never blocks.
    pub fn write_durable(&self, write: DurableWrite) {
        if self.commands.send(Command::Durable(write)).is_err() {
            tracing::error!("event log writer stopped; recovery state not written");
        }
    }

    /// Resolves once everything queued before this call is committed (or failed).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (ack, done) = oneshot::channel();
        self.commands.send(Command::Flush { ack }).map_err(|_| StoreError::WriterStopped)?;
        done.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Receives every event committed after this call, in offset order, after its commit.
    pub fn subscribe(&self) -> broadcast::Receiver<StoredEvent> {
        self.published.subscribe()
    }

    /// Events queued and not yet taken by the writer.
    pub fn queue_depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    fn send_append(&self, event: CallEvent, ack: Option<oneshot::Sender<Result<i64, StoreError>>>) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        if let Err(mpsc::SendError(command)) = self.commands.send(Command::Append { event, ack }) {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            metrics::counter!("meritline_event_log_dropped_total").increment(1);
            if let Command::Append { event, ack } = command {
                tracing::error!(call_id = %event.call_id, seq = event.seq, "event log writer stopped; event dropped");
                if let Some(ack) = ack {
                    let _ = ack.send(Err(StoreError::WriterStopped));
                }
            }
        }
    }
}

/// What storing one event did.
enum Outcome {
    Stored(StoredEvent),
    /// `(call_id, seq)` was already stored at this offset.
    Duplicate(i64),
}

struct Writer {
    conn: Connection,
    commands: mpsc::Receiver<Command>,
    published: broadcast::Sender<StoredEvent>,
    queued: Arc<AtomicUsize>,
    max_batch: usize,
}

impl Writer {
    /// Runs until every [`EventLog`] handle is dropped.
    fn run(mut self) {
        let mut batch = Vec::with_capacity(self.max_batch);
        while let Ok(first) = self.commands.recv() {
            batch.push(first);
            while batch.len() < self.max_batch {
                match self.commands.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            self.process(&mut batch);
        }
        tracing::debug!("event log writer stopped: all handles dropped");
    }

    fn process(&mut self, batch: &mut Vec<Command>) {
        let mut events = Vec::with_capacity(batch.len());
        let mut acks = Vec::with_capacity(batch.len());
        let mut flushes = Vec::new();
        let mut durables = Vec::new();
        for command in batch.drain(..) {
            match command {
                Command::Durable(write) => durables.push(write),
                Command::Append { event, ack } => {
                    events.push(event);
                    acks.push(ack);
                }
                Command::Flush { ack } => flushes.push(ack),
            }
        }
        let depth = self.queued.fetch_sub(events.len(), Ordering::Relaxed).saturating_sub(events.len());
        metrics::gauge!("meritline_event_log_queue_depth").set(depth as f64);
        if events.is_empty() && durables.is_empty() {
            for ack in flushes {
                let _ = ack.send(Ok(()));
            }
            return;
        }

        let started = Instant::now();
        let count = events.len();
        match write_batch(&mut self.conn, events, &durables) {
            Ok(outcomes) => {
                metrics::histogram!("meritline_event_log_commit_seconds").record(started.elapsed().as_secs_f64());
                metrics::histogram!("meritline_event_log_batch_events").record(count as f64);
                metrics::counter!("meritline_event_log_appended_total").increment(count as u64);
                let mut offsets = Vec::with_capacity(outcomes.len());
                for outcome in outcomes {
                    match outcome {
                        Outcome::Stored(stored) => {
                            offsets.push(stored.offset);
                            // No receivers is not an error: nobody is listening right now.
                            let _ = self.published.send(stored);
                        }
                        Outcome::Duplicate(offset) => offsets.push(offset),
                    }
                }
                for (ack, offset) in acks.into_iter().zip(offsets) {
                    if let Some(ack) = ack {
                        let _ = ack.send(Ok(offset));
                    }
                }
                for ack in flushes {
                    let _ = ack.send(Ok(()));
                }
            }
            Err(error) => {
                metrics::counter!("meritline_event_log_dropped_total").increment(count as u64);
                tracing::error!(%error, events = count, "event log batch failed; events dropped");
                let message = error.to_string();
                for ack in acks.into_iter().flatten() {
                    let _ = ack.send(Err(StoreError::CommitFailed(message.clone())));
                }
                for ack in flushes {
                    let _ = ack.send(Err(StoreError::CommitFailed(message.clone())));
                }
            }
        }
    }
}

/// Stores `events`, their call detail records and the recovery writes in one durable transaction.
fn write_batch(
    conn: &mut Connection,
    events: Vec<CallEvent>,
    durables: &[DurableWrite],
) -> Result<Vec<Outcome>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(events.len());
    let mut cdrs: HashMap<String, Cdr> = HashMap::new();
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO events (call_id, seq, at_ms, agent, type, schema, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (call_id, seq) DO NOTHING",
        )?;
        let mut existing = tx.prepare_cached("SELECT event_offset FROM events WHERE call_id = ?1 AND seq = ?2")?;
        for event in events {
            let body = serde_json::to_value(&event)?;
            let kind = body.get("type").and_then(|t| t.as_str()).unwrap_or("unknown").to_owned();
            let body = body.to_string();
            let inserted =
                insert.execute((&event.call_id, event.seq, event.at_ms, &event.agent, &kind, SCHEMA_VERSION, &body))?;
            if inserted == 0 {
                let offset: Option<i64> =
                    existing.query_row((&event.call_id, event.seq), |row| row.get(0)).optional()?;
                let offset = offset.ok_or_else(|| {
                    StoreError::CommitFailed(format!(
                        "event {}#{} neither inserted nor found",
                        event.call_id, event.seq
                    ))
                })?;
                tracing::warn!(call_id = %event.call_id, seq = event.seq, offset, "duplicate event ignored");
                outcomes.push(Outcome::Duplicate(offset));
                continue;
            }
            let stored = StoredEvent { offset: tx.last_insert_rowid(), schema: SCHEMA_VERSION, event };
            if is_agent_stream(&stored.event.call_id) {
                // An agent's stream: no call detail record.
                outcomes.push(Outcome::Stored(stored));
                continue;
            }
            let cdr = match cdrs.get_mut(&stored.event.call_id) {
                Some(cdr) => cdr,
                None => {
                    let cdr = load_cdr(&tx, &stored.event.call_id)?
                        .unwrap_or_else(|| Cdr::new(&stored.event.call_id, stored.offset));
                    cdrs.entry(stored.event.call_id.clone()).or_insert(cdr)
                }
            };
            cdr.apply(&stored);
            outcomes.push(Outcome::Stored(stored));
        }
    }
    for cdr in cdrs.values() {
        save_cdr(&tx, cdr)?;
    }
    for write in durables {
        super::recovery::apply(&tx, write)?;
    }
    tx.commit()?;
    Ok(outcomes)
}
