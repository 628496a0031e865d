//! The webhook sink: a durable consumer of the event log that POSTs committed events, in offset
//! order, to an HTTP endpoint in batches of `{"events": [...]}`. Delivery is at least once: the
//! sink's cursor (the last offset the endpoint acknowledged with a 2xx) is stored in the database
//! after every batch, so a restart resumes right after it and resends at most the one batch that
//! was in flight. Failures are retried with exponential backoff, forever, without ever blocking
//! the call path: the sink only reads the store.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::{broadcast, watch};

use crate::config::WebhookConfig;
use crate::events::StoredEvent;
use crate::store::{Store, StoreError};

/// Retry delays: `base`, doubling per failure, capped at `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff { base, max, failures: 0 }
    }

    /// The delay before the next attempt after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.failures.min(20)).unwrap_or(u32::MAX);
        self.failures = self.failures.saturating_add(1);
        self.base.saturating_mul(factor).min(self.max)
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[derive(Serialize)]
struct Batch<'a> {
    events: &'a [StoredEvent],
}

/// One configured webhook, ready to run.
pub struct WebhookSink {
    config: WebhookConfig,
    store: Store,
    client: reqwest::Client,
    backoff: Backoff,
}

/// Why a delivery attempt failed (for logs and the `reason` label).
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error("endpoint answered {0}")]
    Status(u16),
}

impl WebhookSink {
    pub fn new(config: WebhookConfig, store: Store) -> Result<WebhookSink, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(Duration::from_millis(config.timeout_ms)).build()?;
        Ok(WebhookSink {
            config,
            store,
            client,
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(30)),
        })
    }

    /// Shortens the retry delays (tests).
    pub fn with_backoff(mut self, backoff: Backoff) -> WebhookSink {
        self.backoff = backoff;
        self
    }

    /// Delivers until `stop` turns true. Store errors are retried like endpoint errors.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let name = self.config.name.clone();
        let mut live = self.store.event_log().subscribe();
        let mut cursor = loop {
            match self.read(move |s, n| s.consumer_cursor(&n)).await {
                Ok(c) => break c,
                Err(e) => {
                    tracing::warn!(webhook = %name, error = %e, "cannot read the webhook cursor");
                    if self.pause(&mut stop).await {
                        return;
                    }
                }
            }
        };
        loop {
            if *stop.borrow() {
                return;
            }
            let limit = self.config.batch_size;
            let batch = match self.read(move |s, _| s.events_after(cursor, limit)).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(webhook = %name, error = %e, "cannot read events");
                    if self.pause(&mut stop).await {
                        return;
                    }
                    continue;
                }
            };
            let Some(last) = batch.last().map(|e| e.offset) else {
                // Caught up: wait for the next commit (or a periodic re-check).
                tokio::select! {
                    r = live.recv() => {
                        if let Err(broadcast::error::RecvError::Closed) = r {
                            return;
                        }
                    }
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
                continue;
            };
            loop {
                match self.post(&batch).await {
                    Ok(()) => break,
                    Err(e) => {
                        metrics::counter!("meritline_webhook_failures_total", "webhook" => name.clone()).increment(1);
                        tracing::warn!(webhook = %name, error = %e, "webhook delivery failed, retrying");
                        if self.pause(&mut stop).await {
                            return;
                        }
                    }
                }
            }
            self.backoff.reset();
            metrics::counter!("meritline_webhook_events_delivered_total", "webhook" => name.clone())
                .increment(batch.len() as u64);
            cursor = last;
            while let Err(e) = self.read(move |s, n| s.set_consumer_cursor(&n, last)).await {
                tracing::warn!(webhook = %name, error = %e, "cannot store the webhook cursor");
                if self.pause(&mut stop).await {
                    return;
                }
            }
        }
    }

    async fn post(&self, batch: &[StoredEvent]) -> Result<(), DeliveryError> {
        let resp = self.client.post(&self.config.url).json(&Batch { events: batch }).send().await?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(DeliveryError::Status(status.as_u16()))
        }
    }

    /// Sleeps for the next backoff delay; true when told to stop meanwhile.
    async fn pause(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        let delay = self.backoff.next_delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => false,
            _ = stop.changed() => true,
        }
    }

    /// Runs a blocking store call off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store, String) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.store.clone();
        let name = self.config.name.clone();
        match tokio::task::spawn_blocking(move || f(&store, name)).await {
            Ok(r) => r,
            Err(e) => Err(StoreError::CommitFailed(format!("store task failed: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::post;
    use axum::{Json, Router};
    use serde_json::Value;

    use super::*;
    use crate::events::{CallEvent, EventKind};

    #[derive(Clone, Default)]
    struct Receiver {
        /// Offsets received, in arrival order (duplicates kept).
        offsets: Arc<Mutex<Vec<i64>>>,
        /// Requests still to fail with 500.
        fail_next: Arc<Mutex<u32>>,
    }

    async fn hook(State(r): State<Receiver>, Json(body): Json<Value>) -> StatusCode {
        {
            let mut fail = r.fail_next.lock().expect("lock");
            if *fail > 0 {
                *fail -= 1;
                return StatusCode::INTERNAL_SERVER_ERROR;
            }
        }
        let events = body["events"].as_array().cloned().unwrap_or_default();
        let mut got = r.offsets.lock().expect("lock");
        got.extend(events.iter().filter_map(|e| e["offset"].as_i64()));
        StatusCode::NO_CONTENT
    }

    async fn receiver(fail_first: u32) -> (Receiver, String) {
        let r = Receiver::default();
        *r.fail_next.lock().expect("lock") = fail_first;
        let app = Router::new().route("/hook", post(hook)).with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (r, url)
    }

    fn event(call: usize, seq: u32) -> CallEvent {
        CallEvent {
            call_id: format!("c{call}"),
            seq,
            at_ms: 1_700_000_000_000,
            agent: None,
            kind: EventKind::CallQueued { queue: "support".into() },
        }
    }

    async fn wait_for(r: &Receiver, n: usize) {
        for _ in 0..500 {
            if r.offsets.lock().expect("lock").len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("receiver got {} of {n} events", r.offsets.lock().expect("lock").len());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(200), Duration::from_secs(1));
        let d: Vec<u128> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(d, vec![200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(200));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delivers_in_order_through_failures_and_resumes_from_its_cursor() {
        let dir = std::env::temp_dir().join(format!("meritline-webhook-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir.join("db.sqlite")).expect("store");
        for i in 0..250 {
            store.event_log().append(event(i / 5, (i % 5) as u32 + 1));
        }
        store.event_log().flush().await.expect("flush");

        // The endpoint fails twice first: the sink retries and loses nothing.
        let (r, url) = receiver(2).await;
        let cfg = WebhookConfig { name: "crm".into(), url, batch_size: 100, timeout_ms: 2000 };
        let fast = Backoff::new(Duration::from_millis(10), Duration::from_millis(50));
        let sink = WebhookSink::new(cfg.clone(), store.clone()).expect("sink").with_backoff(fast.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(sink.run(stop_rx));
        wait_for(&r, 250).await;
        // Live events after catching up arrive too.
        for seq in 1..=10 {
            store.event_log().append(event(1000, seq));
        }
        wait_for(&r, 260).await;
        let _ = stop_tx.send(true);
        task.await.expect("sink task");
        let got = r.offsets.lock().expect("lock").clone();
        assert_eq!(got, (1..=260).collect::<Vec<i64>>(), "in order, each once");
        assert_eq!(store.consumer_cursor("crm").expect("cursor"), 260);

        // Events committed while the sink was down are delivered after a restart, and nothing
        // acknowledged before is sent again.
        for seq in 11..=40 {
            store.event_log().append(event(1000, seq));
        }
        store.event_log().flush().await.expect("flush");
        let (r2, url2) = receiver(0).await;
        let sink =
            WebhookSink::new(WebhookConfig { url: url2, ..cfg }, store.clone()).expect("sink").with_backoff(fast);
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(sink.run(stop_rx));
        wait_for(&r2, 30).await;
        let _ = stop_tx.send(true);
        task.await.expect("sink task");
        assert_eq!(*r2.offsets.lock().expect("lock"), (261..=290).collect::<Vec<i64>>());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
