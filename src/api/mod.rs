//! The HTTP API, a thin shell over the switch and the store: agent and queue views and agent state
//! changes (through the [`SwitchControl`] boundary the switch core implements), call detail
//! records, merit routing's uplift over each queue's holdout, a Server-Sent Events stream of the
//! event log, Prometheus metrics and a health check.
//! Nothing here holds call state; handlers translate HTTP to calls on the switch or store reads.

mod error;
mod sse;
pub mod views;

use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use futures_util::StreamExt;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;

pub use error::ApiError;
pub use sse::{sse_frame, stored_event_stream};
pub use views::{AgentState, AgentStateRequest, AgentView, QueueView, WaitingCallView};

use crate::events::StoredEvent;
use crate::scoring::uplift::{CallOutcome, Uplift, UpliftTally};
use crate::store::{Cdr, Store};
use sse::read_store;

/// Default and largest page of `GET /api/calls`.
pub const DEFAULT_CALL_LIMIT: usize = 50;
pub const MAX_CALL_LIMIT: usize = 1000;

/// What the API needs from the switch core. The core implements it; the API only calls it.
pub trait SwitchControl: Send + Sync + 'static {
    /// Every configured agent.
    fn agents(&self) -> impl Future<Output = Vec<AgentView>> + Send;
    /// Changes an agent's state. Errors: [`ApiError::NotFound`] for an unknown agent,
    /// [`ApiError::Conflict`] when the change is not allowed in the agent's current state.
    fn set_agent_state(
        &self,
        id: &str,
        state: AgentStateRequest,
    ) -> impl Future<Output = Result<AgentView, ApiError>> + Send;
    /// Every configured queue.
    fn queues(&self) -> impl Future<Output = Vec<QueueView>> + Send;
    /// Appends `disposition.recorded` to a call's log. `store_last_seq` is the call's highest
    /// stored sequence number (None when the store has no event of it). Errors: 404 unknown call,
    /// 400 invalid outcome or revenue.
    fn record_disposition(
        &self,
        call_id: &str,
        disposition: Disposition,
        store_last_seq: Option<u32>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}

struct AppState<S> {
    control: Arc<S>,
    store: Store,
    prometheus: PrometheusHandle,
    scoring: SharedScoring,
}

impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            control: self.control.clone(),
            store: self.store.clone(),
            prometheus: self.prometheus.clone(),
            scoring: self.scoring.clone(),
        }
    }
}

/// The API's routes. Serve with `axum::serve(listener, router(..))`.
/// The scoring consumer's state, shared with the API for KPI and leaderboard reads.
pub type SharedScoring = Arc<std::sync::Mutex<crate::scoring::Scoring>>;

pub fn router<S: SwitchControl>(
    control: Arc<S>,
    store: Store,
    prometheus: PrometheusHandle,
    scoring: SharedScoring,
) -> Router {
    Router::new()
        .route("/api/agents", get(get_agents::<S>))
        .route("/api/agents/{id}/state", put(put_agent_state::<S>))
        .route("/api/queues", get(get_queues::<S>))
        .route("/api/queues/{name}/uplift", get(get_queue_uplift::<S>))
        .route("/api/agents/{id}/kpis", get(get_agent_kpis::<S>))
        .route("/api/leaderboard", get(get_leaderboard::<S>))
        .route("/api/calls", get(list_calls::<S>))
        .route("/api/calls/{id}", get(get_call::<S>))
        .route("/api/calls/{id}/events", get(get_call_events::<S>))
        .route("/api/calls/{id}/disposition", post(post_disposition::<S>))
        .route("/api/events", get(get_events::<S>))
        .route("/metrics", get(get_metrics::<S>))
        .route("/healthz", get(get_health::<S>))
        .fallback(no_route)
        .with_state(AppState { control, store, prometheus, scoring })
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Runs a scoring query off the async threads (queries scan up to 30 days of calls).
async fn read_scoring<T: Send + 'static>(
    scoring: &SharedScoring,
    read: impl FnOnce(&crate::scoring::Scoring) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let scoring = scoring.clone();
    tokio::task::spawn_blocking(move || {
        let guard = scoring.lock().unwrap_or_else(|e| e.into_inner());
        read(&guard)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("scoring task failed: {e}")))
}

/// `GET /api/agents/{id}/kpis`: the agent's KPIs per queue and window, with peer percentiles.
async fn get_agent_kpis<S: SwitchControl>(
    State(app): State<AppState<S>>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<crate::scoring::AgentKpis>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if !app.control.agents().await.iter().any(|a| a.id == id) {
        return Err(ApiError::NotFound(format!("agent {id} not found")));
    }
    let now = wall_ms();
    Ok(Json(read_scoring(&app.scoring, move |s| s.kpis(&id, now)).await?))
}

#[derive(Debug, Deserialize)]
struct LeaderboardParams {
    queue: String,
    window: Option<crate::scoring::Window>,
}

/// `GET /api/leaderboard?queue=Q[&window=today|7d|30d]`: agents force-ranked by score.
async fn get_leaderboard<S: SwitchControl>(
    State(app): State<AppState<S>>,
    params: Result<Query<LeaderboardParams>, QueryRejection>,
) -> Result<Json<Vec<crate::scoring::LeaderboardRow>>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if !app.control.queues().await.iter().any(|q| q.name == params.queue) {
        return Err(ApiError::NotFound(format!("queue {} not found", params.queue)));
    }
    let window = params.window.unwrap_or(crate::scoring::Window::Last7Days);
    let now = wall_ms();
    Ok(Json(read_scoring(&app.scoring, move |s| s.leaderboard(&params.queue, now, window)).await?))
}

#[derive(Debug, Deserialize)]
struct UpliftParams {
    since: Option<i64>,
}

/// The body of `GET /api/queues/{name}/uplift`: merit routing's uplift over the queue's holdout,
/// over the calls of the queue (the last one each call entered) answered since `since_ms` whose
/// call has ended. See [`crate::scoring::uplift`] for the groups and the interval methods.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct QueueUplift {
    pub queue: String,
    pub since_ms: Option<i64>,
    /// The disposition outcome that counts as a conversion (the scoring `sale_outcome`).
    pub sale_outcome: String,
    /// Ended answered calls left out because their answered offer carried no holdout flag.
    pub unassigned_calls: u64,
    #[serde(flatten)]
    pub uplift: Uplift,
}

/// What one call detail record contributes to the uplift: None while the call has not ended.
/// Conversion is the scoring's ([`crate::scoring::ScoringConfig::is_sale`] of the last
/// disposition), CSAT the survey's `csat` answer, handle time talk + wrap-up seconds.
fn uplift_outcome(cdr: &Cdr, config: &crate::scoring::ScoringConfig) -> Option<CallOutcome> {
    cdr.ended_at?;
    Some(CallOutcome {
        converted: cdr.disposition.as_deref().is_some_and(|outcome| config.is_sale(outcome)),
        csat: cdr.csat.map(f64::from),
        handle_seconds: cdr.talk_seconds.map(|talk| talk + cdr.wrapup_seconds.unwrap_or(0.0)),
    })
}

/// `GET /api/queues/{name}/uplift[?since=MS]`: merit-routed vs holdout calls; 404 unknown queue.
async fn get_queue_uplift<S: SwitchControl>(
    State(app): State<AppState<S>>,
    name: Result<Path<String>, PathRejection>,
    params: Result<Query<UpliftParams>, QueryRejection>,
) -> Result<Json<QueueUplift>, ApiError> {
    let Path(name) = name.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if !app.control.queues().await.iter().any(|q| q.name == name) {
        return Err(ApiError::NotFound(format!("queue {name} not found")));
    }
    let config = read_scoring(&app.scoring, |s| s.config().clone()).await?;
    let sale_outcome = config.sale_outcome.clone();
    let queue = name.clone();
    let since = params.since;
    let (tally, unassigned_calls) = read_store(&app.store, move |s| {
        let mut tally = UpliftTally::default();
        let mut unassigned = 0u64;
        s.for_each_answered_call(&queue, since, |cdr| {
            if let Some(outcome) = uplift_outcome(cdr, &config) {
                match cdr.holdout {
                    Some(holdout) => tally.add(holdout, &outcome),
                    None => unassigned += 1,
                }
            }
        })?;
        Ok((tally, unassigned))
    })
    .await?;
    Ok(Json(QueueUplift { queue: name, since_ms: since, sale_outcome, unassigned_calls, uplift: tally.uplift() }))
}

async fn get_agents<S: SwitchControl>(State(app): State<AppState<S>>) -> Json<Vec<AgentView>> {
    Json(app.control.agents().await)
}

async fn put_agent_state<S: SwitchControl>(
    State(app): State<AppState<S>>,
    id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Json<AgentView>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let request: AgentStateRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("invalid state request: {e}")))?;
    Ok(Json(app.control.set_agent_state(&id, request).await?))
}

async fn get_queues<S: SwitchControl>(State(app): State<AppState<S>>) -> Json<Vec<QueueView>> {
    Json(app.control.queues().await)
}

async fn get_call<S: SwitchControl>(
    State(app): State<AppState<S>>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Cdr>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let lookup = id.clone();
    match read_store(&app.store, move |s| s.get_call(&lookup)).await? {
        Some(cdr) => Ok(Json(cdr)),
        None => Err(ApiError::NotFound(format!("call {id} not found"))),
    }
}

/// A call's outcome as an agent or a CRM records it: `{"outcome":"sale","revenue":49.90}`.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Disposition {
    pub outcome: String,
    #[serde(default)]
    pub revenue: Option<f64>,
}

/// `POST /api/calls/{id}/disposition`: 202 once the event is queued for the call's log.
async fn post_disposition<S: SwitchControl>(
    State(app): State<AppState<S>>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<Disposition>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Disposition>), ApiError> {
    let Path(id) = id.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let Json(disposition) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let lookup = id.clone();
    let events = read_store(&app.store, move |s| s.events_for_call(&lookup)).await?;
    let last_seq = events.iter().map(|e| e.event.seq).max();
    app.control.record_disposition(&id, disposition.clone(), last_seq).await?;
    Ok((StatusCode::ACCEPTED, Json(disposition)))
}

/// One call's event log, in sequence order; 404 when the call has no events.
async fn get_call_events<S: SwitchControl>(
    State(app): State<AppState<S>>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<StoredEvent>>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let lookup = id.clone();
    let events = read_store(&app.store, move |s| s.events_for_call(&lookup)).await?;
    if events.is_empty() {
        return Err(ApiError::NotFound(format!("call {id} not found")));
    }
    Ok(Json(events))
}

#[derive(Debug, Deserialize)]
struct ListCallsParams {
    limit: Option<usize>,
}

async fn list_calls<S: SwitchControl>(
    State(app): State<AppState<S>>,
    params: Result<Query<ListCallsParams>, QueryRejection>,
) -> Result<Json<Vec<Cdr>>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = params.limit.unwrap_or(DEFAULT_CALL_LIMIT).min(MAX_CALL_LIMIT);
    Ok(Json(read_store(&app.store, move |s| s.list_calls(limit)).await?))
}

#[derive(Debug, Deserialize)]
struct EventsParams {
    after: Option<i64>,
}

async fn get_events<S: SwitchControl>(
    State(app): State<AppState<S>>,
    headers: HeaderMap,
    params: Result<Query<EventsParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    // A reconnecting EventSource repeats the original URL and adds Last-Event-ID: the header wins.
    let last_event_id = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .ok_or_else(|| ApiError::BadRequest("Last-Event-ID must be an offset".into()))?,
        ),
        None => None,
    };
    let after = last_event_id.or(params.after);
    let events = stored_event_stream(app.store.clone(), after).await?;
    let frames = events.map(|event| event.and_then(|e| sse_frame(&e)));
    Ok(Sse::new(frames).keep_alive(KeepAlive::default()).into_response())
}

async fn get_metrics<S: SwitchControl>(State(app): State<AppState<S>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], app.prometheus.render()).into_response()
}

async fn get_health<S: SwitchControl>(State(app): State<AppState<S>>) -> Result<Json<serde_json::Value>, ApiError> {
    let last_offset = read_store(&app.store, |s| s.last_offset()).await?;
    let queued = app.store.event_log().queue_depth();
    Ok(Json(serde_json::json!({
        "status": "ok",
        "last_offset": last_offset,
        "event_queue_depth": queued,
    })))
}

async fn no_route() -> (StatusCode, Json<serde_json::Value>) {
    (StatusCode::NOT_FOUND, Json(serde_json::json!({ "error": "no such route" })))
}

#[cfg(test)]
mod tests;
