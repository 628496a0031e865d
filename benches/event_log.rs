//! Durable event log throughput: events appended and acknowledged (committed with
//! synchronous=FULL) per second, in three shapes: a burst of fire-and-forget appends acknowledged by
//! waiting on the last one (the writer batches), concurrent callers each waiting on their own
//! event, and one caller waiting on every event (one fsync per event, the worst case).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use meritline::events::{CallEvent, EventKind};
use meritline::store::{Store, SQLITE_SETTINGS};

static CALLS: AtomicU64 = AtomicU64::new(0);

/// A fresh call id per use, so no event is a (call_id, seq) duplicate.
fn next_call() -> String {
    format!("bench-{}", CALLS.fetch_add(1, Ordering::Relaxed))
}

fn ringing(call_id: &str, seq: u32) -> CallEvent {
    CallEvent {
        call_id: call_id.to_owned(),
        seq,
        at_ms: 1_700_000_000_000 + i64::from(seq),
        agent: Some("agent-7".into()),
        kind: EventKind::AgentRinging { agent: "agent-7".into() },
    }
}

fn bench_dir() -> PathBuf {
    std::env::temp_dir().join(format!("meritline-bench-event-log-{}", std::process::id()))
}

fn event_log(c: &mut Criterion) {
    let dir = bench_dir();
    let path = dir.join("bench.db");
    let store = match Store::open(&path) {
        Ok(store) => store,
        Err(error) => panic!("cannot open {}: {error}", path.display()),
    };
    println!("event_log bench: SQLite {SQLITE_SETTINGS}; database {}", path.display());
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).build() {
        Ok(runtime) => runtime,
        Err(error) => panic!("tokio runtime: {error}"),
    };
    let log = store.event_log().clone();

    let mut group = c.benchmark_group("event_log_durable");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));

    for burst in [100u32, 1000] {
        group.throughput(Throughput::Elements(u64::from(burst)));
        group.bench_with_input(BenchmarkId::new("burst_ack_last", burst), &burst, |b, &burst| {
            b.iter(|| {
                runtime.block_on(async {
                    let call = next_call();
                    for seq in 1..burst {
                        log.append(ringing(&call, seq));
                    }
                    // FIFO and one writer: the last event's commit covers all before it.
                    if let Err(error) = log.append_and_wait(ringing(&call, burst)).await {
                        panic!("append failed: {error}");
                    }
                })
            })
        });
    }

    let tasks = 32u32;
    let per_task = 8u32;
    group.throughput(Throughput::Elements(u64::from(tasks * per_task)));
    group.bench_function(BenchmarkId::new("concurrent_each_acked", tasks * per_task), |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut handles = Vec::new();
                for _ in 0..tasks {
                    let log = log.clone();
                    handles.push(tokio::spawn(async move {
                        let call = next_call();
                        for seq in 1..=per_task {
                            if let Err(error) = log.append_and_wait(ringing(&call, seq)).await {
                                panic!("append failed: {error}");
                            }
                        }
                    }));
                }
                for handle in handles {
                    if let Err(error) = handle.await {
                        panic!("task failed: {error}");
                    }
                }
            })
        })
    });

    let sequential = 20u32;
    group.throughput(Throughput::Elements(u64::from(sequential)));
    group.bench_function(BenchmarkId::new("sequential_each_acked", sequential), |b| {
        b.iter(|| {
            runtime.block_on(async {
                let call = next_call();
                for seq in 1..=sequential {
                    if let Err(error) = log.append_and_wait(ringing(&call, seq)).await {
                        panic!("append failed: {error}");
                    }
                }
            })
        })
    });
    group.finish();

    drop(log);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, event_log);
criterion_main!(benches);
