//! The live event stream behind `GET /api/events`: replays committed events from the store after a
//! given offset, then continues with the event log's broadcast, without gaps or duplicates. The
//! stream subscribes to the broadcast *before* reading history and skips every offset it already
//! sent; because offsets are gap-free, any jump (a lagged receiver, or a missed publish) is
//! detected and filled by re-reading the store.

use std::collections::VecDeque;

use axum::response::sse::Event;
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast;

use super::ApiError;
use crate::events::StoredEvent;
use crate::store::Store;

/// Events read from the store per query while catching up.
const CATCH_UP_PAGE: usize = 500;

struct Cursor {
    store: Store,
    live: broadcast::Receiver<StoredEvent>,
    /// The highest offset already yielded (or the starting point).
    last_sent: i64,
    /// Events read or received and not yet yielded, in offset order.
    pending: VecDeque<StoredEvent>,
    /// Read the store until it has nothing after `last_sent`, before listening live again.
    catching_up: bool,
    /// A store error was yielded; the stream ends.
    failed: bool,
}

/// The committed events after `after` (or, with `None`, those committed from now on), replayed
/// from the store and then followed live, each exactly once and in offset order. The stream ends
/// when the event log shuts down or after yielding a store error.
pub async fn stored_event_stream(
    store: Store,
    after: Option<i64>,
) -> Result<impl Stream<Item = Result<StoredEvent, ApiError>> + Send + 'static, ApiError> {
    // Subscribe first: whatever commits after this point reaches the receiver.
    let live = store.event_log().subscribe();
    let last_sent = match after {
        Some(offset) => offset.max(0),
        None => read_store(&store, |s| s.last_offset()).await?,
    };
    let cursor = Cursor {
        store,
        live,
        last_sent,
        pending: VecDeque::new(),
        // With no starting point, `last_sent` is the log's end as of after subscribing: there is
        // no history to replay.
        catching_up: after.is_some(),
        failed: false,
    };
    Ok(stream::unfold(cursor, next_event))
}

async fn next_event(mut cursor: Cursor) -> Option<(Result<StoredEvent, ApiError>, Cursor)> {
    if cursor.failed {
        return None;
    }
    // Each turn either yields, or makes progress: drops an already-sent event, reads a non-empty
    // page, finishes catching up, or receives from the broadcast.
    loop {
        if let Some(event) = cursor.pending.pop_front() {
            if event.offset <= cursor.last_sent {
                continue;
            }
            if event.offset != cursor.last_sent + 1 {
                // A hole: fetch what is missing from the store, then continue from there.
                cursor.pending.clear();
                cursor.catching_up = true;
                continue;
            }
            cursor.last_sent = event.offset;
            return Some((Ok(event), cursor));
        }
        if cursor.catching_up {
            let after = cursor.last_sent;
            match read_store(&cursor.store, move |s| s.events_after(after, CATCH_UP_PAGE)).await {
                Ok(page) if page.is_empty() => cursor.catching_up = false,
                Ok(page) => cursor.pending.extend(page),
                Err(error) => {
                    cursor.failed = true;
                    return Some((Err(error), cursor));
                }
            }
            continue;
        }
        match cursor.live.recv().await {
            Ok(event) => cursor.pending.push_back(event),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "event stream lagged; re-reading from the store");
                metrics::counter!("meritline_api_event_stream_lagged_total").increment(1);
                cursor.catching_up = true;
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// Runs a blocking store read off the async runtime.
pub(crate) async fn read_store<T: Send + 'static>(
    store: &Store,
    read: impl FnOnce(&Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || read(&store))
        .await
        .map_err(|e| ApiError::Internal(format!("store read task failed: {e}")))?
        .map_err(ApiError::from)
}

/// The SSE frame of one event: `id:` is the offset, `event:` the event type, `data:` the JSON.
pub fn sse_frame(event: &StoredEvent) -> Result<Event, ApiError> {
    let json =
        serde_json::to_value(event).map_err(|e| ApiError::Internal(format!("encoding event {}: {e}", event.offset)))?;
    let kind = json.get("type").and_then(|t| t.as_str()).unwrap_or("event").to_owned();
    Ok(Event::default().id(event.offset.to_string()).event(kind).data(json.to_string()))
}
