//! SQLite persistence: the durable, globally ordered call event log and the call detail records
//! projected from it. [`Store::open`] creates the database and schema and starts the event log's
//! writer thread ([`EventLog`]); the read side (`events_after`, `events_for_call`, `get_call`,
//! `list_calls`) uses a small pool of separate read connections, which WAL mode lets run alongside
//! the writer. Read methods block on SQLite: from async code call them via `spawn_blocking`.

mod cdr;
mod recovery;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, Row};

pub use cdr::Cdr;
pub use schema::{LATEST_VERSION as SCHEMA_LATEST_VERSION, SETTINGS as SQLITE_SETTINGS};
pub use writer::EventLog;

use crate::events::{CallEvent, HangupSide, StoredEvent};

/// Read connections kept open for reuse; more are opened on demand under concurrency.
const MAX_IDLE_READERS: usize = 4;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot start the event log writer thread: {source}")]
    Thread { source: std::io::Error },
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("sqlite setting refused: {0}")]
    Setting(String),
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("event encoding: {0}")]
    Json(#[from] serde_json::Error),
    #[error("stored event at offset {offset} cannot be decoded: {reason}")]
    Corrupt { offset: i64, reason: String },
    #[error("the event log writer has stopped")]
    WriterStopped,
    #[error("committing events failed: {0}")]
    CommitFailed(String),
}

impl StoreError {
    /// The HTTP status this error answers with when it reaches the API.
    pub fn status_code(&self) -> u16 {
        match self {
            StoreError::WriterStopped => 503,
            _ => 500,
        }
    }
}

/// Tunables of [`Store::open_with`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Committed events retained for slow subscribers before they lag (and must re-read the store).
    pub broadcast_capacity: usize,
    /// Most events committed in one transaction.
    pub max_batch: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { broadcast_capacity: 8192, max_batch: 1024 }
    }
}

/// The database: cheap to clone, every clone shares the writer thread and the read pool.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle_readers: Mutex<Vec<Connection>>,
    log: EventLog,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.inner.path).finish()
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Store {
    /// Opens (creating if needed) the database at `path` with [`StoreOptions::default`].
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, StoreOptions::default())
    }

    /// Opens the database, creating its parent directory and schema, applying
    /// [`SQLITE_SETTINGS`] and starting the event log writer thread.
    pub fn open_with(path: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|source| StoreError::CreateDir { path: parent.to_owned(), source })?;
        }
        let mut conn = Connection::open(path)?;
        schema::configure(&conn)?;
        schema::migrate(&mut conn, now_ms())?;
        let reader = open_reader(path)?;
        let log = EventLog::start(conn, options.broadcast_capacity, options.max_batch)?;
        Ok(Store { inner: Arc::new(Inner { path: path.to_owned(), idle_readers: Mutex::new(vec![reader]), log }) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The write side: append events, wait for commits, subscribe to committed events.
    pub fn event_log(&self) -> &EventLog {
        &self.inner.log
    }

    /// Up to `limit` events with offsets greater than `after`, in offset order.
    pub fn events_after(&self, after: i64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT event_offset, schema, body FROM events
                 WHERE event_offset > ?1 ORDER BY event_offset LIMIT ?2",
            )?;
            let rows = stmt.query_map((after, limit), raw_event)?;
            rows.map(|row| decode_event(row?)).collect()
        })
    }

    /// Every event of one call, in its sequence order.
    pub fn events_for_call(&self, call_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        self.with_reader(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT event_offset, schema, body FROM events WHERE call_id = ?1 ORDER BY seq")?;
            let rows = stmt.query_map([call_id], raw_event)?;
            rows.map(|row| decode_event(row?)).collect()
        })
    }

    /// The highest committed offset, 0 when the log is empty.
    pub fn last_offset(&self) -> Result<i64, StoreError> {
        self.with_reader(|conn| {
            Ok(conn.query_row("SELECT COALESCE(MAX(event_offset), 0) FROM events", [], |row| row.get(0))?)
        })
    }

    /// The call detail record of `call_id`, if any event of it is stored.
    pub fn get_call(&self, call_id: &str) -> Result<Option<Cdr>, StoreError> {
        self.with_reader(|conn| load_cdr(conn, call_id))
    }

    /// Up to `limit` call detail records, newest call (by its first event) first.
    pub fn list_calls(&self, limit: usize) -> Result<Vec<Cdr>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_reader(|conn| {
            let mut stmt =
                conn.prepare_cached(&format!("SELECT {CDR_COLUMNS} FROM calls ORDER BY first_offset DESC LIMIT ?1"))?;
            let rows = stmt.query_map([limit], cdr_from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Hands `visit` the call detail record of every answered call of `queue` (the last queue the
    /// call entered) answered at or after `since_ms` (every one when None), in no particular order,
    /// without collecting them.
    pub fn for_each_answered_call(
        &self,
        queue: &str,
        since_ms: Option<i64>,
        mut visit: impl FnMut(&Cdr),
    ) -> Result<(), StoreError> {
        self.with_reader(|conn| {
            let mut stmt = conn
                .prepare_cached(&format!("SELECT {CDR_COLUMNS} FROM calls WHERE queue = ?1 AND answered_at >= ?2"))?;
            let mut rows = stmt.query((queue, since_ms.unwrap_or(i64::MIN)))?;
            while let Some(row) = rows.next()? {
                visit(&cdr_from_row(row)?);
            }
            Ok(())
        })
    }

    fn with_reader<T>(&self, read: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let pooled = self.inner.idle_readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_reader(&self.inner.path)?,
        };
        let result = read(&conn);
        let mut idle = self.inner.idle_readers.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

impl Store {
    /// The last offset consumer `name` acknowledged; 0 when it never did.
    pub fn consumer_cursor(&self, name: &str) -> Result<i64, StoreError> {
        self.with_reader(|conn| {
            let found = conn
                .query_row("SELECT event_offset FROM consumer_cursors WHERE name = ?1", [name], |row| row.get(0))
                .optional()?;
            Ok(found.unwrap_or(0))
        })
    }

    /// Records that consumer `name` has everything up to `offset`. Durable (its own commit) and
    /// monotonic: a lower offset than the stored one is ignored.
    pub fn set_consumer_cursor(&self, name: &str, offset: i64) -> Result<(), StoreError> {
        let conn = Connection::open(&self.inner.path)?;
        schema::configure(&conn)?;
        conn.execute(
            "INSERT INTO consumer_cursors (name, event_offset, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(name) DO UPDATE SET event_offset = MAX(event_offset, excluded.event_offset),
                                             updated_at = excluded.updated_at",
            rusqlite::params![name, offset, now_ms()],
        )?;
        Ok(())
    }
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(schema::BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA query_only=1;")?;
    Ok(conn)
}

type RawEvent = (i64, u32, String);

fn raw_event(row: &Row<'_>) -> rusqlite::Result<RawEvent> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn decode_event((offset, schema, body): RawEvent) -> Result<StoredEvent, StoreError> {
    let event: CallEvent =
        serde_json::from_str(&body).map_err(|e| StoreError::Corrupt { offset, reason: e.to_string() })?;
    Ok(StoredEvent { offset, schema, event })
}

const CDR_COLUMNS: &str = "call_id, ani, did, trunk, queue, agent, offered_at, queued_at, \
     answered_at, bridged_at, ended_at, wait_seconds, talk_seconds, wrapup_seconds, \
     wrapup_started_at, hangup_side, cause, sip_status, abandoned, attempts, first_offset, last_offset, \
     agent_left_at, csat, resolved, survey, disposition, revenue, offer_holdout, holdout";

fn side_name(side: HangupSide) -> &'static str {
    match side {
        HangupSide::Caller => "caller",
        HangupSide::Agent => "agent",
        HangupSide::System => "system",
    }
}

fn side_from_name(name: &str) -> Option<HangupSide> {
    match name {
        "caller" => Some(HangupSide::Caller),
        "agent" => Some(HangupSide::Agent),
        "system" => Some(HangupSide::System),
        _ => None,
    }
}

fn cdr_from_row(row: &Row<'_>) -> rusqlite::Result<Cdr> {
    let side: Option<String> = row.get(15)?;
    Ok(Cdr {
        call_id: row.get(0)?,
        ani: row.get(1)?,
        did: row.get(2)?,
        trunk: row.get(3)?,
        queue: row.get(4)?,
        agent: row.get(5)?,
        offered_at: row.get(6)?,
        queued_at: row.get(7)?,
        answered_at: row.get(8)?,
        bridged_at: row.get(9)?,
        ended_at: row.get(10)?,
        wait_seconds: row.get(11)?,
        talk_seconds: row.get(12)?,
        wrapup_seconds: row.get(13)?,
        wrapup_started_at: row.get(14)?,
        hangup_side: side.as_deref().and_then(side_from_name),
        cause: row.get(16)?,
        sip_status: row.get(17)?,
        abandoned: row.get(18)?,
        attempts: row.get(19)?,
        first_offset: row.get(20)?,
        last_offset: row.get(21)?,
        agent_left_at: row.get(22)?,
        csat: row.get(23)?,
        resolved: row.get(24)?,
        survey: row.get(25)?,
        disposition: row.get(26)?,
        revenue: row.get(27)?,
        offer_holdout: row.get(28)?,
        holdout: row.get(29)?,
    })
}

/// Loads one call detail record (used by readers and by the writer inside its transaction).
pub(crate) fn load_cdr(conn: &Connection, call_id: &str) -> Result<Option<Cdr>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {CDR_COLUMNS} FROM calls WHERE call_id = ?1"))?;
    Ok(stmt.query_row([call_id], cdr_from_row).optional()?)
}

/// Inserts or replaces one call detail record.
pub(crate) fn save_cdr(conn: &Connection, cdr: &Cdr) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO calls ({CDR_COLUMNS}) VALUES \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, \
          ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)"
    ))?;
    stmt.execute(rusqlite::params![
        cdr.call_id,
        cdr.ani,
        cdr.did,
        cdr.trunk,
        cdr.queue,
        cdr.agent,
        cdr.offered_at,
        cdr.queued_at,
        cdr.answered_at,
        cdr.bridged_at,
        cdr.ended_at,
        cdr.wait_seconds,
        cdr.talk_seconds,
        cdr.wrapup_seconds,
        cdr.wrapup_started_at,
        cdr.hangup_side.map(side_name),
        cdr.cause,
        cdr.sip_status,
        cdr.abandoned,
        cdr.attempts,
        cdr.first_offset,
        cdr.last_offset,
        cdr.agent_left_at,
        cdr.csat,
        cdr.resolved,
        cdr.survey,
        cdr.disposition,
        cdr.revenue,
        cdr.offer_holdout,
        cdr.holdout,
    ])?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
