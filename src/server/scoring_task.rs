//! The scoring consumer, the shell around the sans-IO [`Scoring`](crate::scoring::Scoring) core:
//! it replays the committed event log from where scoring stands, follows it live, and sends every
//! score change to the engine task for the ACD. It lives in the shell because it owns tokio.

use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::unix_ms;
use crate::api::SharedScoring;
use crate::scoring::{ScoreChanged, Window};
use crate::store::Store;

/// The scoring consumer: replays the durable event log into the scoring module from where it
/// stands, then follows it live; every score that moves is sent to the engine for the ACD, and the
/// score distributions are exported as gauges. It only reads the store, so a slow consumer never
/// delays a call.
pub(super) async fn run_scoring(
    store: Store,
    scoring: SharedScoring,
    scores: mpsc::UnboundedSender<ScoreChanged>,
    mut stop: watch::Receiver<bool>,
) {
    let mut live = store.event_log().subscribe();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        // Catch up from the store (at start, and whenever the live feed lagged or skipped).
        loop {
            let after = scoring.lock().unwrap_or_else(|e| e.into_inner()).last_offset().unwrap_or(0);
            let reader = store.clone();
            let batch = match tokio::task::spawn_blocking(move || reader.events_after(after, 1000)).await {
                Ok(Ok(b)) => b,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "scoring cannot read the event log");
                    break;
                }
                Err(_) => break,
            };
            if batch.is_empty() {
                break;
            }
            apply_scoring(&scoring, &batch, &scores);
        }
        tokio::select! {
            received = live.recv() => match received {
                Ok(ev) => {
                    let last = scoring.lock().unwrap_or_else(|e| e.into_inner()).last_offset().unwrap_or(0);
                    // A gap means events were committed before we subscribed: read them first.
                    if ev.offset == last + 1 {
                        apply_scoring(&scoring, std::slice::from_ref(&ev), &scores);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                let now = unix_ms();
                let mut s = scoring.lock().unwrap_or_else(|e| e.into_inner());
                s.handle_tick(now);
                for d in s.score_distributions(now, Window::Last7Days) {
                    for (quantile, value) in d.quantiles() {
                        metrics::gauge!("meritline_agent_score", "queue" => d.queue.clone(), "quantile" => quantile).set(value);
                    }
                }
                while let Some(change) = s.poll_score_change() {
                    let _ = scores.send(change);
                }
            }
            _ = stop.changed() => return,
        }
    }
}

fn apply_scoring(
    scoring: &SharedScoring,
    batch: &[crate::events::StoredEvent],
    scores: &mpsc::UnboundedSender<ScoreChanged>,
) {
    let mut s = scoring.lock().unwrap_or_else(|e| e.into_inner());
    for ev in batch {
        s.handle_event(ev);
    }
    while let Some(change) = s.poll_score_change() {
        let _ = scores.send(change);
    }
}
