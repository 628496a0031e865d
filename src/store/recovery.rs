//! The store's part of restart recovery: the `registrations` and `live_dialogs` tables the
//! writer keeps as the engine asks ([`DurableWrite`]), and [`Store::recovery`], which reads at
//! start-up what the engine needs back ([`Recovery`]): unexpired bindings, live dialogs, calls
//! without `call.ended`, and each agent's stream position and last state.

use rusqlite::{Connection, OptionalExtension};

use super::{Store, StoreError};
use crate::call::durable::{
    AgentRecord, BindingRecord, DialogLeg, DialogRecord, DurableWrite, Recovery, UnfinishedCall,
};
use crate::events::{agent_stream, EventKind, StoredEvent};

/// Applies one engine write inside the writer's transaction.
pub(super) fn apply(conn: &Connection, write: &DurableWrite) -> Result<(), StoreError> {
    match write {
        DurableWrite::SaveBinding(b) => {
            conn.prepare_cached(
                "INSERT INTO registrations (agent, contact, source, transport, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (agent, contact) DO UPDATE SET source = excluded.source,
                     transport = excluded.transport, expires_at_ms = excluded.expires_at_ms",
            )?
            .execute((&b.agent, &b.contact, b.source.to_string(), &b.transport, b.expires_at_ms))?;
        }
        DurableWrite::RemoveBinding { agent, contact } => {
            conn.prepare_cached("DELETE FROM registrations WHERE agent = ?1 AND contact = ?2")?
                .execute((agent, contact))?;
        }
        DurableWrite::SaveDialog(d) => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO live_dialogs (call_id, leg, dest, transport, bye)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute((&d.call_id, d.leg.as_str(), d.dest.to_string(), &d.transport, &d.bye))?;
        }
        DurableWrite::RemoveDialogs { call_id } => {
            conn.prepare_cached("DELETE FROM live_dialogs WHERE call_id = ?1")?.execute([call_id])?;
        }
    }
    Ok(())
}

impl Store {
    /// What the engine takes back at start-up; `agents` are the configured agent ids. Bindings
    /// that expired by `now_ms` are left out (and deleted by the engine's answer). Rows that do
    /// not decode (a hand-edited database) are skipped with a warning, never fatal.
    pub fn recovery(&self, now_ms: i64, agents: &[String]) -> Result<Recovery, StoreError> {
        self.with_reader(|conn| {
            let mut out = Recovery::default();
            let mut stmt = conn.prepare(
                "SELECT agent, contact, source, transport, expires_at_ms FROM registrations WHERE expires_at_ms > ?1",
            )?;
            let rows = stmt.query_map([now_ms], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?;
            for row in rows {
                let (agent, contact, source, transport, expires_at_ms) = row?;
                match source.parse() {
                    Ok(source) => out.bindings.push(BindingRecord { agent, contact, source, transport, expires_at_ms }),
                    Err(_) => tracing::warn!(%agent, %source, "stored registration with a bad source skipped"),
                }
            }
            let mut stmt = conn.prepare("SELECT call_id, leg, dest, transport, bye FROM live_dialogs")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?;
            for row in rows {
                let (call_id, leg, dest, transport, bye) = row?;
                let leg = match leg.as_str() {
                    "caller" => DialogLeg::Caller,
                    "agent" => DialogLeg::Agent,
                    _ => continue,
                };
                match dest.parse() {
                    Ok(dest) => out.dialogs.push(DialogRecord { call_id, leg, dest, transport, bye }),
                    Err(_) => tracing::warn!(%call_id, %dest, "stored dialog with a bad address skipped"),
                }
            }
            let mut stmt = conn.prepare(
                "SELECT c.call_id, (SELECT MAX(e.seq) FROM events e WHERE e.call_id = c.call_id)
                 FROM calls c WHERE c.ended_at IS NULL",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<u32>>(1)?)))?;
            for row in rows {
                let (call_id, last_seq) = row?;
                out.unfinished_calls.push(UnfinishedCall { call_id, last_seq: last_seq.unwrap_or(0) });
            }
            for agent in agents {
                out.agents.push(agent_record(conn, agent)?);
            }
            Ok(out)
        })
    }
}

/// An agent's stream position and its last `agent.state_changed`.
fn agent_record(conn: &Connection, agent: &str) -> Result<AgentRecord, StoreError> {
    let stream = agent_stream(agent);
    let last_seq: Option<u32> =
        conn.prepare_cached("SELECT MAX(seq) FROM events WHERE call_id = ?1")?.query_row([&stream], |r| r.get(0))?;
    let last: Option<(i64, u32, String)> = conn
        .prepare_cached(
            "SELECT event_offset, schema, body FROM events
             WHERE call_id = ?1 AND type = 'agent.state_changed' ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([&stream], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let last_state = last.and_then(|(offset, schema, body)| {
        let stored: Result<StoredEvent, _> = super::decode_event((offset, schema, body));
        match stored.map(|s| s.event.kind) {
            Ok(EventKind::AgentStateChanged { state, reason, .. }) => Some((state, reason)),
            _ => None,
        }
    });
    Ok(AgentRecord { agent: agent.to_string(), last_seq: last_seq.unwrap_or(0), last_state })
}
