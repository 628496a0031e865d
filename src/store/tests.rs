//! Tests of the store against real SQLite files in per-test temporary directories.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::events::{EventKind, NoAnswerReason, SCHEMA_VERSION};

/// A unique temporary directory removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "meritline-{label}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        TempDir(dir)
    }

    pub(crate) fn db(&self) -> PathBuf {
        // A nested path checks that `open` creates missing parent directories.
        self.0.join("data").join("meritline.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn event(call_id: &str, seq: u32, at_ms: i64, kind: EventKind) -> CallEvent {
    CallEvent { call_id: call_id.into(), seq, at_ms, agent: None, kind }
}

fn ringing(call_id: &str, seq: u32) -> CallEvent {
    event(call_id, seq, i64::from(seq), EventKind::AgentRinging { agent: "a1".into() })
}

#[test]
fn open_creates_schema_and_settings() {
    let dir = TempDir::new("schema");
    let store = Store::open(&dir.db()).unwrap();
    let conn = Connection::open(store.path()).unwrap();
    let version: i64 = conn.query_row("SELECT MAX(version) FROM schema_migrations", [], |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_LATEST_VERSION);
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    drop(store);
    // Reopening applies no migration twice.
    let _again = Store::open(&dir.db()).unwrap();
    let rows: i64 = conn.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0)).unwrap();
    assert_eq!(rows, SCHEMA_LATEST_VERSION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_are_gap_free_and_in_call_order() {
    let dir = TempDir::new("concurrent");
    let store = Store::open(&dir.db()).unwrap();
    let mut tasks = Vec::new();
    for task in 0..10 {
        let log = store.event_log().clone();
        tasks.push(tokio::spawn(async move {
            let call_id = format!("call-{task}");
            for seq in 1..=100 {
                if seq % 10 == 0 {
                    log.append_and_wait(ringing(&call_id, seq)).await.unwrap();
                } else {
                    log.append(ringing(&call_id, seq));
                }
                if seq % 7 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    store.event_log().flush().await.unwrap();
    assert_eq!(store.event_log().queue_depth(), 0);

    let all = store.events_after(0, 5000).unwrap();
    assert_eq!(all.len(), 1000);
    for (index, stored) in all.iter().enumerate() {
        assert_eq!(stored.offset, index as i64 + 1, "offsets are gap-free from 1");
        assert_eq!(stored.schema, SCHEMA_VERSION);
    }
    let mut next_seq = std::collections::HashMap::new();
    for stored in &all {
        let expected = next_seq.entry(stored.event.call_id.clone()).or_insert(1u32);
        assert_eq!(stored.event.seq, *expected, "offset order follows each call's seq order");
        *expected += 1;
    }
    assert_eq!(store.last_offset().unwrap(), 1000);
    let page = store.events_after(990, 5).unwrap();
    assert_eq!(page.iter().map(|e| e.offset).collect::<Vec<_>>(), vec![991, 992, 993, 994, 995]);

    let one_call = store.events_for_call("call-3").unwrap();
    assert_eq!(one_call.len(), 100);
    assert!(one_call.iter().enumerate().all(|(i, e)| e.event.seq == i as u32 + 1));
    assert_eq!(store.get_call("call-3").unwrap().unwrap().last_offset, one_call[99].offset);
}

#[tokio::test]
async fn reopened_store_reads_back_and_continues_offsets() {
    let dir = TempDir::new("reopen");
    let written: Vec<CallEvent> = (1..=20).map(|seq| ringing("c1", seq)).collect();
    {
        let store = Store::open(&dir.db()).unwrap();
        for e in &written {
            store.event_log().append(e.clone());
        }
        store.event_log().flush().await.unwrap();
    }
    let store = Store::open(&dir.db()).unwrap();
    let read: Vec<CallEvent> = store.events_after(0, 100).unwrap().into_iter().map(|s| s.event).collect();
    assert_eq!(read, written);
    let offset = store.event_log().append_and_wait(ringing("c1", 21)).await.unwrap();
    assert_eq!(offset, 21);
    assert_eq!(store.get_call("c1").unwrap().unwrap().first_offset, 1);
}

#[tokio::test]
async fn answered_call_record() {
    let dir = TempDir::new("answered");
    let store = Store::open(&dir.db()).unwrap();
    let log = store.event_log();
    let kinds = [
        (1_000, EventKind::CallOffered { ani: "+15551".into(), did: "+1800".into(), trunk: "carrier-a".into() }),
        (1_200, EventKind::CallQueued { queue: "support".into() }),
        (2_000, EventKind::AgentOffered { agent: "alice".into(), attempt: 1, why: None }),
        (2_100, EventKind::AgentRinging { agent: "alice".into() }),
        (
            17_000,
            EventKind::AgentNoAnswer { agent: "alice".into(), reason: NoAnswerReason::NoAnswer, sip_status: None },
        ),
        (17_100, EventKind::AgentOffered { agent: "bob".into(), attempt: 2, why: None }),
        (21_200, EventKind::AgentAnswered { agent: "bob".into() }),
        (21_300, EventKind::CallBridged { agent: "bob".into() }),
        (111_200, EventKind::CallEnded { side: HangupSide::Agent, cause: "normal_clearing".into(), sip_status: None }),
        (111_200, EventKind::WrapUpStarted { agent: "bob".into(), seconds: 20 }),
    ];
    for (seq, (at, kind)) in kinds.into_iter().enumerate() {
        log.append(event("call-a", seq as u32 + 1, at, kind));
    }
    // Another call interleaved, so the projection is per call.
    log.append(event("call-b", 1, 5_000, EventKind::CallQueued { queue: "sales".into() }));
    log.flush().await.unwrap();

    let cdr = store.get_call("call-a").unwrap().unwrap();
    assert_eq!(cdr.ani.as_deref(), Some("+15551"));
    assert_eq!(cdr.did.as_deref(), Some("+1800"));
    assert_eq!(cdr.trunk.as_deref(), Some("carrier-a"));
    assert_eq!(cdr.queue.as_deref(), Some("support"));
    assert_eq!(cdr.agent.as_deref(), Some("bob"));
    assert_eq!(cdr.offered_at, Some(1_000));
    assert_eq!(cdr.queued_at, Some(1_200));
    assert_eq!(cdr.answered_at, Some(21_200));
    assert_eq!(cdr.bridged_at, Some(21_300));
    assert_eq!(cdr.ended_at, Some(111_200));
    assert_eq!(cdr.wait_seconds, Some(20.0));
    assert_eq!(cdr.talk_seconds, Some(90.0));
    assert_eq!(cdr.wrapup_seconds, Some(20.0));
    assert_eq!(cdr.hangup_side, Some(HangupSide::Agent));
    assert_eq!(cdr.cause.as_deref(), Some("normal_clearing"));
    assert_eq!(cdr.sip_status, None);
    assert!(!cdr.abandoned);
    assert_eq!(cdr.attempts, 2);

    // The wrap-up end arrives in a later batch and replaces the granted time by the measured one.
    log.append_and_wait(event("call-a", 11, 126_200, EventKind::WrapUpEnded { agent: "bob".into() })).await.unwrap();
    assert_eq!(store.get_call("call-a").unwrap().unwrap().wrapup_seconds, Some(15.0));

    let list = store.list_calls(10).unwrap();
    assert_eq!(list.iter().map(|c| c.call_id.as_str()).collect::<Vec<_>>(), vec!["call-b", "call-a"]);
    assert_eq!(store.list_calls(1).unwrap().len(), 1);
    assert!(store.get_call("nope").unwrap().is_none());
}

#[tokio::test]
async fn abandoned_call_record() {
    let dir = TempDir::new("abandoned");
    let store = Store::open(&dir.db()).unwrap();
    let log = store.event_log();
    let kinds = [
        (10_000, EventKind::CallOffered { ani: "+1".into(), did: "+2".into(), trunk: "t".into() }),
        (10_050, EventKind::CallQueued { queue: "billing".into() }),
        (12_000, EventKind::AgentOffered { agent: "carol".into(), attempt: 1, why: None }),
        (
            14_000,
            EventKind::AgentNoAnswer { agent: "carol".into(), reason: NoAnswerReason::Rejected, sip_status: Some(486) },
        ),
        (55_050, EventKind::CallAbandoned { queue: "billing".into(), wait_ms: 45_000 }),
        (
            55_060,
            EventKind::CallEnded { side: HangupSide::Caller, cause: "caller_hangup".into(), sip_status: Some(487) },
        ),
    ];
    for (seq, (at, kind)) in kinds.into_iter().enumerate() {
        log.append_and_wait(event("call-x", seq as u32 + 1, at, kind)).await.unwrap();
    }
    let cdr = store.get_call("call-x").unwrap().unwrap();
    assert!(cdr.abandoned);
    assert_eq!(cdr.queue.as_deref(), Some("billing"));
    assert_eq!(cdr.agent, None);
    assert_eq!(cdr.answered_at, None);
    assert_eq!(cdr.wait_seconds, Some(45.0));
    assert_eq!(cdr.talk_seconds, None);
    assert_eq!(cdr.attempts, 1);
    assert_eq!(cdr.hangup_side, Some(HangupSide::Caller));
    assert_eq!(cdr.sip_status, Some(487));
    assert_eq!(cdr.ended_at, Some(55_060));
    let json = serde_json::to_value(&cdr).unwrap();
    assert_eq!(json["hangup_side"], "caller");
    assert_eq!(json["abandoned"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_broadcast_only_after_commit() {
    let dir = TempDir::new("broadcast");
    let store = Store::open(&dir.db()).unwrap();
    let mut live = store.event_log().subscribe();
    let log = store.event_log().clone();
    let producer = tokio::spawn(async move {
        for seq in 1..=300 {
            log.append(ringing("c", seq));
        }
    });
    for expected in 1..=300i64 {
        let stored = live.recv().await.unwrap();
        assert_eq!(stored.offset, expected);
        // A separate connection already sees it: the commit happened before the publish.
        let read = store.events_after(expected - 1, 1).unwrap();
        assert_eq!(read, vec![stored]);
    }
    producer.await.unwrap();
}

#[tokio::test]
async fn duplicate_event_is_stored_and_broadcast_once() {
    let dir = TempDir::new("duplicate");
    let store = Store::open(&dir.db()).unwrap();
    let mut live = store.event_log().subscribe();
    let log = store.event_log();
    let first = log.append_and_wait(ringing("c", 1)).await.unwrap();
    let again = log.append_and_wait(ringing("c", 1)).await.unwrap();
    let next = log.append_and_wait(ringing("c", 2)).await.unwrap();
    assert_eq!((first, again, next), (1, 1, 2));
    assert_eq!(live.recv().await.unwrap().offset, 1);
    assert_eq!(live.recv().await.unwrap().offset, 2);
    assert_eq!(store.events_after(0, 10).unwrap().len(), 2);
}

#[tokio::test]
async fn flush_with_nothing_queued_returns() {
    let dir = TempDir::new("flush");
    let store = Store::open(&dir.db()).unwrap();
    store.event_log().flush().await.unwrap();
    assert_eq!(store.last_offset().unwrap(), 0);
    assert!(store.events_after(0, 10).unwrap().is_empty());
    assert!(store.list_calls(10).unwrap().is_empty());
}

/// Stores `event` at `offset` as the writer does, without projecting it (a database written by an
/// older build whose calls table lacked today's columns).
fn insert_raw(conn: &Connection, offset: i64, event: &CallEvent) {
    let body = serde_json::to_value(event).unwrap();
    let kind = body["type"].as_str().unwrap().to_owned();
    conn.execute(
        "INSERT INTO events (event_offset, call_id, seq, at_ms, agent, type, schema, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        rusqlite::params![offset, event.call_id, event.seq, event.at_ms, event.agent, kind, 1, body.to_string()],
    )
    .unwrap();
}

fn offered(agent: &str, attempt: u32, holdout: Option<bool>) -> EventKind {
    let why = holdout.map(|holdout| crate::events::OfferWhy {
        strategy: "merit_weighted".into(),
        rule: if holdout { "longest_idle" } else { "weighted" }.into(),
        score: 0.5,
        rank: 0,
        eligible: 2,
        relax_step: 0,
        holdout,
        waited_ms: 1_000,
    });
    EventKind::AgentOffered { agent: agent.into(), attempt, why }
}

#[tokio::test]
async fn version_3_database_upgrades_with_holdout_backfilled_from_the_events() {
    let dir = TempDir::new("upgrade");
    std::fs::create_dir_all(dir.db().parent().unwrap()).unwrap();
    {
        let conn = Connection::open(dir.db()).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL);",
        )
        .unwrap();
        for (index, sql) in schema::MIGRATIONS[..3].iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.execute("INSERT INTO schema_migrations VALUES (?1, 0)", [index as i64 + 1]).unwrap();
        }
        let answered = |agent: &str| EventKind::AgentAnswered { agent: agent.into() };
        let no_answer = |agent: &str| EventKind::AgentNoAnswer {
            agent: agent.into(),
            reason: NoAnswerReason::NoAnswer,
            sip_status: None,
        };
        // (call, its events in order, answered_at): interleaved offsets, as in a real log.
        let calls: [(&str, Vec<EventKind>, Option<i64>); 4] = [
            // Holdout offer rang out, the merit-routed retry was answered.
            (
                "rona",
                vec![offered("a", 1, Some(true)), no_answer("a"), offered("b", 2, Some(false)), answered("b")],
                Some(5),
            ),
            ("held", vec![offered("a", 1, Some(true)), answered("a")], Some(6)),
            ("ringing", vec![offered("c", 1, Some(true))], None),
            ("old", vec![offered("d", 1, None), answered("d")], Some(7)),
        ];
        let mut offset = 0;
        for (call, kinds, answered_at) in &calls {
            for (seq, kind) in kinds.iter().enumerate() {
                offset += 1;
                insert_raw(&conn, offset, &event(call, seq as u32 + 1, offset, kind.clone()));
            }
            conn.execute(
                "INSERT INTO calls (call_id, queue, answered_at, attempts, first_offset, last_offset)
                 VALUES (?1, 'sales', ?2, 1, ?3, ?3)",
                rusqlite::params![call, answered_at, offset],
            )
            .unwrap();
        }
    }

    let store = Store::open(&dir.db()).unwrap();
    let holdout = |call: &str| {
        let cdr = store.get_call(call).unwrap().unwrap();
        (cdr.offer_holdout, cdr.holdout)
    };
    assert_eq!(holdout("rona"), (Some(false), Some(false)));
    assert_eq!(holdout("held"), (Some(true), Some(true)));
    assert_eq!(holdout("ringing"), (Some(true), None));
    assert_eq!(holdout("old"), (None, None));

    // The writer carries an upgraded row on: the ringing call is answered now.
    store
        .event_log()
        .append_and_wait(event("ringing", 2, 20, EventKind::AgentAnswered { agent: "c".into() }))
        .await
        .unwrap();
    assert_eq!(holdout("ringing"), (Some(true), Some(true)));

    let mut seen = Vec::new();
    store.for_each_answered_call("sales", None, |cdr| seen.push((cdr.call_id.clone(), cdr.holdout))).unwrap();
    seen.sort();
    let want = [("held", Some(true)), ("old", None), ("ringing", Some(true)), ("rona", Some(false))];
    assert_eq!(seen, want.map(|(c, h)| (c.to_string(), h)));
    let mut recent = Vec::new();
    store.for_each_answered_call("sales", Some(7), |cdr| recent.push(cdr.call_id.clone())).unwrap();
    recent.sort();
    assert_eq!(recent, ["old", "ringing"]);
    store.for_each_answered_call("billing", None, |_| panic!("no call of billing")).unwrap();
}
