//! The database schema and its migrations. Each migration is applied once, in order, inside one
//! transaction together with its row in `schema_migrations`; the connection settings (WAL,
//! synchronous=FULL, busy timeout) are applied to every connection by [`configure`].

use std::time::Duration;

use rusqlite::Connection;

use super::StoreError;

/// How long a connection waits for a lock held by another connection before failing with BUSY.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite settings, stated once so the bench and docs print what is really used.
///
/// * `journal_mode=WAL`: readers never block the writer and the writer never blocks readers; a
///   commit appends to the write-ahead log instead of rewriting pages in place.
/// * `synchronous=FULL`: every commit fsyncs the WAL, so a committed event survives power loss,
///   not only a process crash (NORMAL would only be crash-safe for the process).
/// * `busy_timeout=5000ms`.
pub const SETTINGS: &str = "journal_mode=WAL, synchronous=FULL, busy_timeout=5000ms";

/// Ordered migrations; the version of a migration is its index + 1. Never edit a released one:
/// append a new one.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the event log and the call detail records.
    "CREATE TABLE events (
        event_offset INTEGER PRIMARY KEY,
        call_id      TEXT    NOT NULL,
        seq          INTEGER NOT NULL,
        at_ms        INTEGER NOT NULL,
        agent        TEXT,
        type         TEXT    NOT NULL,
        schema       INTEGER NOT NULL,
        body         TEXT    NOT NULL,
        UNIQUE (call_id, seq)
    );
    CREATE TABLE calls (
        call_id           TEXT PRIMARY KEY,
        ani               TEXT,
        did               TEXT,
        trunk             TEXT,
        queue             TEXT,
        agent             TEXT,
        offered_at        INTEGER,
        queued_at         INTEGER,
        answered_at       INTEGER,
        bridged_at        INTEGER,
        ended_at          INTEGER,
        wait_seconds      REAL,
        talk_seconds      REAL,
        wrapup_seconds    REAL,
        wrapup_started_at INTEGER,
        hangup_side       TEXT,
        cause             TEXT,
        sip_status        INTEGER,
        abandoned         INTEGER NOT NULL DEFAULT 0,
        attempts          INTEGER NOT NULL DEFAULT 0,
        first_offset      INTEGER NOT NULL,
        last_offset       INTEGER NOT NULL
    );
    CREATE INDEX calls_by_first_offset ON calls (first_offset);",
    // 2: where each durable consumer of the event log (webhook sinks) has got to.
    "CREATE TABLE consumer_cursors (
        name         TEXT PRIMARY KEY,
        event_offset INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL
    );",
    // 3: the post-call survey's results and when the agent left, on the call detail record.
    "ALTER TABLE calls ADD COLUMN agent_left_at INTEGER;
    ALTER TABLE calls ADD COLUMN csat INTEGER;
    ALTER TABLE calls ADD COLUMN resolved INTEGER;
    ALTER TABLE calls ADD COLUMN survey TEXT;
    ALTER TABLE calls ADD COLUMN disposition TEXT;
    ALTER TABLE calls ADD COLUMN revenue REAL;",
    // 4: the holdout flag (`agent.offered`'s `why.holdout`) of the last offer and of the answered
    // one, for the uplift of merit routing; filled in for the calls already stored from their
    // events, in the projection's order (the last offer before the last `agent.answered`). Calls
    // whose offers carried no `why` stay NULL. Plus the index of the per-queue uplift query.
    "ALTER TABLE calls ADD COLUMN offer_holdout INTEGER;
    ALTER TABLE calls ADD COLUMN holdout INTEGER;
    UPDATE calls SET offer_holdout = (
        SELECT json_extract(o.body, '$.why.holdout') FROM events o
        WHERE o.call_id = calls.call_id AND o.type = 'agent.offered'
        ORDER BY o.event_offset DESC LIMIT 1);
    UPDATE calls SET holdout = (
        SELECT json_extract(o.body, '$.why.holdout') FROM events o
        WHERE o.call_id = calls.call_id AND o.type = 'agent.offered'
          AND o.event_offset < (SELECT MAX(a.event_offset) FROM events a
                                WHERE a.call_id = calls.call_id AND a.type = 'agent.answered')
        ORDER BY o.event_offset DESC LIMIT 1)
    WHERE answered_at IS NOT NULL;
    CREATE INDEX calls_by_queue_answered ON calls (queue, answered_at);",
    // 5: what restart recovery needs beside the log: agents' registrations with their expiry,
    // the live dialogs of calls (as the BYE that ends each), and an index of unfinished calls.
    "CREATE TABLE registrations (
        agent         TEXT    NOT NULL,
        contact       TEXT    NOT NULL,
        source        TEXT    NOT NULL,
        transport     TEXT    NOT NULL,
        expires_at_ms INTEGER NOT NULL,
        PRIMARY KEY (agent, contact)
    );
    CREATE TABLE live_dialogs (
        call_id   TEXT NOT NULL,
        leg       TEXT NOT NULL,
        dest      TEXT NOT NULL,
        transport TEXT NOT NULL,
        bye       TEXT NOT NULL,
        PRIMARY KEY (call_id, leg)
    );
    CREATE INDEX calls_unfinished ON calls (call_id) WHERE ended_at IS NULL;",
];

/// The schema version after all migrations.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Applies the per-connection settings. WAL mode is persistent in the file, the rest is not.
pub fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Setting(format!("journal_mode is {mode}, wanted wal")));
    }
    conn.execute_batch("PRAGMA synchronous=FULL;")?;
    Ok(())
}

/// Creates the migrations table and applies every migration not yet applied.
pub fn migrate(conn: &mut Connection, now_ms: i64) -> Result<i64, StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version       INTEGER PRIMARY KEY,
            applied_at_ms INTEGER NOT NULL
        );",
    )?;
    let current: i64 =
        conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |row| row.get(0))?;
    if current > LATEST_VERSION {
        return Err(StoreError::SchemaTooNew { found: current, supported: LATEST_VERSION });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        if version <= current {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute("INSERT INTO schema_migrations (version, applied_at_ms) VALUES (?1, ?2)", (version, now_ms))?;
        tx.commit()?;
    }
    Ok(LATEST_VERSION)
}
