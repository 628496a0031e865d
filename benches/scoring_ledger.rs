//! Cost of the scoring ledger handling one call (offered, queued, offered to an agent, answered,
//! bridged, ended: six events through `Scoring::handle_event`) from a number that already has
//! N = 100, 10,000 or 30,000 earlier handled calls within the 72 h repeat horizon in the same
//! queue: the withheld-caller-ID ("anonymous") or robo-dialer case. Calls from that number are
//! spaced 72 h / N apart, so the horizon keeps holding N earlier calls while the stream clock
//! advances (older calls leave the horizon, observations older than 33 days are pruned, as in
//! production). The timing includes building the six events (a few small strings), the same for
//! every N. A counting global allocator first prints the live heap the scoring keeps per call
//! over five simulated days of 100,000 calls (80 % distinct numbers), then once only the
//! observations are left, and what is left 40 days on.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use meritline::events::{CallEvent, EventKind, HangupSide, StoredEvent, SCHEMA_VERSION};
use meritline::scoring::{Scoring, ScoringConfig, DAY_MS, HOUR_MS};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

/// Midnight UTC, 2024-10-04.
const T0: i64 = 20_000 * DAY_MS;
const HORIZON_MS: i64 = 72 * HOUR_MS;
const AGENTS: u64 = 50;

/// A virtual-time event stream into one `Scoring`.
struct Stream {
    scoring: Scoring,
    offset: i64,
    calls: u64,
    /// Start of the next call.
    at: i64,
}

impl Stream {
    fn new() -> Stream {
        let scoring = Scoring::new(ScoringConfig::default()).expect("default config is valid");
        Stream { scoring, offset: 0, calls: 0, at: T0 }
    }

    fn push(&mut self, call_id: &str, at_ms: i64, agent: Option<&str>, kind: EventKind) {
        self.offset += 1;
        let event = CallEvent { call_id: call_id.to_owned(), seq: 0, at_ms, agent: agent.map(String::from), kind };
        self.scoring.handle_event(&StoredEvent { offset: self.offset, schema: SCHEMA_VERSION, event });
    }

    /// One handled call from `ani` starting at the stream's time, lasting `talk_ms`; the next
    /// call starts `gap_ms` later.
    fn call(&mut self, ani: &str, talk_ms: i64, gap_ms: i64) {
        self.calls += 1;
        let id = format!("call-{}", self.calls);
        let agent = format!("agent{}", self.calls % AGENTS);
        let a = Some(agent.as_str());
        let t = self.at;
        self.push(&id, t, None, EventKind::CallOffered { ani: ani.into(), did: "+1800".into(), trunk: "t".into() });
        self.push(&id, t + 1, None, EventKind::CallQueued { queue: "care".into() });
        self.push(&id, t + 2, a, EventKind::AgentOffered { agent: agent.clone(), attempt: 1, why: None });
        self.push(&id, t + 3, a, EventKind::AgentAnswered { agent: agent.clone() });
        self.push(&id, t + 3, a, EventKind::CallBridged { agent: agent.clone() });
        let ended = EventKind::CallEnded { side: HangupSide::Caller, cause: "normal".into(), sip_status: None };
        self.push(&id, t + 3 + talk_ms, None, ended);
        self.at += gap_ms;
    }
}

/// A stream where `ani` already has `earlier` handled calls within the horizon, `HORIZON / earlier`
/// apart.
fn with_earlier_calls(earlier: i64) -> (Stream, i64, i64) {
    let gap = HORIZON_MS / earlier;
    let talk = (gap / 2).min(300_000);
    let mut stream = Stream::new();
    for _ in 0..earlier {
        stream.call("anonymous", talk, gap);
    }
    (stream, talk, gap)
}

fn memory_report() {
    const CALLS: u64 = 100_000;
    let gap = 5 * DAY_MS / CALLS as i64;
    let before = counting_alloc::live_bytes();
    let mut stream = Stream::new();
    for i in 0..CALLS {
        let ani = if i % 5 == 0 { "anonymous".to_string() } else { format!("+1555{i:07}") };
        stream.call(&ani, 240_000, gap);
    }
    let after = counting_alloc::live_bytes();
    println!(
        "memory, {CALLS} calls over 5 days (80 % distinct numbers): {:.0} B live per call ({:.1} MB)",
        (after - before) as f64 / CALLS as f64,
        (after - before) as f64 / 1e6,
    );
    // Past the two days of call state and the horizon: only the observations are left.
    stream.scoring.handle_tick(stream.at + 3 * DAY_MS + 2 * HOUR_MS);
    let observations = counting_alloc::live_bytes();
    println!(
        "memory, 3 days + 2 h after the last call: {:.0} B live per call (observations)",
        (observations - before) as f64 / CALLS as f64,
    );
    stream.scoring.handle_tick(stream.at + 40 * DAY_MS);
    let left = counting_alloc::live_bytes();
    println!("memory, 40 days after the last call: {:.1} kB live", (left - before) as f64 / 1e3);
    drop(stream);
}

fn repeat_caller(c: &mut Criterion) {
    let mut group = c.benchmark_group("scoring_ledger_call");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for earlier in [100i64, 10_000, 30_000] {
        let (mut stream, talk, gap) = with_earlier_calls(earlier);
        group.bench_function(BenchmarkId::new("same_number_earlier_calls", earlier), |b| {
            b.iter(|| stream.call("anonymous", talk, gap))
        });
    }
    group.finish();
}

fn main() {
    memory_report();
    let mut criterion = Criterion::default().configure_from_args();
    repeat_caller(&mut criterion);
    criterion.final_summary();
}
