//! End-to-end tests of the API: the router served on 127.0.0.1:0 with an in-memory switch and a
//! store in a temporary directory, exercised with reqwest.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::StreamExt;
use metrics_exporter_prometheus::PrometheusBuilder;
use reqwest::StatusCode as Status;
use serde_json::{json, Value};

use super::*;
use crate::events::{CallEvent, EventKind, HangupSide, StoredEvent};
use crate::store::tests::TempDir;
use crate::store::StoreOptions;

/// Safety bound on any single wait; tests never depend on it for their result.
const PATIENCE: Duration = Duration::from_secs(20);

/// A small in-memory switch with the real transition rules of the boundary: an agent who is
/// offered a call or on a call cannot become ready, not ready or logged out from the API.
struct InMemorySwitch {
    agents: Mutex<BTreeMap<String, AgentView>>,
}

fn agent(id: &str, state: AgentState) -> AgentView {
    AgentView {
        id: id.into(),
        name: format!("Agent {id}"),
        state,
        not_ready_reason: None,
        skills: vec!["support".into()],
        registered: true,
        contact: Some(format!("sip:{id}@127.0.0.1:5070")),
        idle_since_ms: None,
        calls_handled: 3,
    }
}

impl InMemorySwitch {
    fn new() -> InMemorySwitch {
        let agents = [
            agent("alice", AgentState::LoggedOut),
            agent("bob", AgentState::OnCall),
            agent("carol", AgentState::Ready),
        ];
        InMemorySwitch { agents: Mutex::new(agents.into_iter().map(|a| (a.id.clone(), a)).collect()) }
    }
}

impl SwitchControl for InMemorySwitch {
    async fn record_disposition(
        &self,
        call_id: &str,
        disposition: crate::api::Disposition,
        store_last_seq: Option<u32>,
    ) -> Result<(), ApiError> {
        if store_last_seq.is_none() {
            return Err(ApiError::NotFound(format!("call {call_id} not found")));
        }
        if disposition.outcome.is_empty() {
            return Err(ApiError::BadRequest("empty outcome".into()));
        }
        Ok(())
    }

    async fn agents(&self) -> Vec<AgentView> {
        self.agents.lock().unwrap().values().cloned().collect()
    }

    async fn set_agent_state(&self, id: &str, state: AgentStateRequest) -> Result<AgentView, ApiError> {
        let mut agents = self.agents.lock().unwrap();
        let agent = agents.get_mut(id).ok_or_else(|| ApiError::NotFound(format!("agent {id} not found")))?;
        if matches!(agent.state, AgentState::Offered | AgentState::OnCall) {
            return Err(ApiError::Conflict(format!("agent {id} is {}; state cannot change now", agent.state.as_str())));
        }
        match state {
            AgentStateRequest::Ready => {
                agent.state = AgentState::Ready;
                agent.not_ready_reason = None;
                agent.idle_since_ms = Some(1_000);
            }
            AgentStateRequest::NotReady { reason } => {
                agent.state = AgentState::NotReady;
                agent.not_ready_reason = reason;
                agent.idle_since_ms = None;
            }
            AgentStateRequest::LoggedOut => {
                agent.state = AgentState::LoggedOut;
                agent.not_ready_reason = None;
                agent.idle_since_ms = None;
            }
        }
        Ok(agent.clone())
    }

    async fn queues(&self) -> Vec<QueueView> {
        let agents = self.agents.lock().unwrap();
        vec![QueueView {
            name: "support".into(),
            skills: vec!["support".into()],
            waiting_calls: 0,
            longest_wait_seconds: 0.0,
            agents_ready: agents.values().filter(|a| a.state == AgentState::Ready).count() as u32,
            agents_staffed: agents.values().filter(|a| a.state != AgentState::LoggedOut).count() as u32,
            average_handle_seconds: 180.0,
            estimated_wait_seconds: Some(90.0),
            calls: vec![WaitingCallView {
                call_id: "c9".into(),
                position: 1,
                priority: 0,
                waited_seconds: 4.5,
                estimated_wait_seconds: Some(90.0),
            }],
        }]
    }
}

struct Harness {
    base: String,
    store: Store,
    http: reqwest::Client,
    _dir: TempDir,
}

async fn start_with(options: StoreOptions, prometheus: PrometheusHandle) -> Harness {
    let dir = TempDir::new("api");
    let store = Store::open_with(&dir.db(), options).unwrap();
    let scoring = crate::scoring::Scoring::new(crate::scoring::ScoringConfig::default()).expect("scoring");
    let app =
        router(Arc::new(InMemorySwitch::new()), store.clone(), prometheus, Arc::new(std::sync::Mutex::new(scoring)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Harness { base: format!("http://{addr}"), store, http: reqwest::Client::new(), _dir: dir }
}

async fn start() -> Harness {
    start_with(StoreOptions::default(), PrometheusBuilder::new().build_recorder().handle()).await
}

impl Harness {
    async fn get(&self, path: &str) -> (Status, Value) {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    async fn put_state(&self, agent: &str, body: &str) -> (Status, Value) {
        let response = self
            .http
            .put(format!("{}/api/agents/{agent}/state", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    async fn append(&self, call_id: &str, seq: u32, at_ms: i64, kind: EventKind) -> i64 {
        let event = CallEvent { call_id: call_id.into(), seq, at_ms, agent: None, kind };
        self.store.event_log().append_and_wait(event).await.unwrap()
    }
}

/// Reads Server-Sent Events frames from a streaming response.
struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

#[derive(Debug)]
struct Frame {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

impl SseReader {
    async fn open(harness: &Harness, query: &str, last_event_id: Option<&str>) -> SseReader {
        let mut request = harness.http.get(format!("{}/api/events{query}", harness.base));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), Status::OK);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        SseReader { response, buffer: String::new() }
    }

    /// The next frame carrying data (keep-alive comments are skipped).
    async fn next(&mut self) -> Frame {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                let mut frame = Frame { id: None, event: None, data: String::new() };
                for line in raw.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        frame.id = Some(v.trim_start().to_owned());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        frame.event = Some(v.trim_start().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        frame.data.push_str(v.trim_start());
                    }
                }
                if frame.id.is_some() {
                    return frame;
                }
                continue;
            }
            let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
                .await
                .expect("an SSE frame within the patience bound")
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    async fn next_stored(&mut self) -> StoredEvent {
        let frame = self.next().await;
        let stored: StoredEvent = serde_json::from_str(&frame.data).unwrap();
        assert_eq!(frame.id, Some(stored.offset.to_string()));
        let json: Value = serde_json::from_str(&frame.data).unwrap();
        assert_eq!(frame.event.as_deref(), json["type"].as_str());
        stored
    }
}

fn ringing(agent: &str) -> EventKind {
    EventKind::AgentRinging { agent: agent.into() }
}

#[tokio::test]
async fn agents_list_and_state_changes() {
    let h = start().await;
    let (status, agents) = h.get("/api/agents").await;
    assert_eq!(status, Status::OK);
    let ids: Vec<&str> = agents.as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["alice", "bob", "carol"]);
    assert_eq!(agents[0]["state"], "logged_out");
    assert_eq!(agents[0]["contact"], "sip:alice@127.0.0.1:5070");

    let (status, alice) = h.put_state("alice", r#"{"state":"ready"}"#).await;
    assert_eq!(status, Status::OK);
    assert_eq!(alice["state"], "ready");
    assert_eq!(alice["idle_since_ms"], 1_000);

    let (status, alice) = h.put_state("alice", r#"{"state":"not_ready","reason":"lunch"}"#).await;
    assert_eq!(status, Status::OK);
    assert_eq!(alice["state"], "not_ready");
    assert_eq!(alice["not_ready_reason"], "lunch");

    let (status, error) = h.put_state("alice", r#"{"state":"dancing"}"#).await;
    assert_eq!(status, Status::BAD_REQUEST);
    assert!(error["error"].as_str().unwrap().contains("invalid state request"), "{error}");

    let (status, error) = h.put_state("alice", "not json").await;
    assert_eq!(status, Status::BAD_REQUEST);
    assert!(error["error"].is_string());

    let (status, error) = h.put_state("zed", r#"{"state":"ready"}"#).await;
    assert_eq!(status, Status::NOT_FOUND);
    assert_eq!(error["error"], "agent zed not found");

    let (status, error) = h.put_state("bob", r#"{"state":"ready"}"#).await;
    assert_eq!(status, Status::CONFLICT);
    assert!(error["error"].as_str().unwrap().contains("on_call"), "{error}");

    let (_, agents) = h.get("/api/agents").await;
    assert_eq!(agents[0]["state"], "not_ready");
    assert_eq!(agents[1]["state"], "on_call");
}

#[tokio::test]
async fn queues_are_listed() {
    let h = start().await;
    let (status, queues) = h.get("/api/queues").await;
    assert_eq!(status, Status::OK);
    assert_eq!(
        queues,
        json!([{
            "name": "support",
            "skills": ["support"],
            "waiting_calls": 0,
            "longest_wait_seconds": 0.0,
            "agents_ready": 1,
            "agents_staffed": 2,
            "average_handle_seconds": 180.0,
            "estimated_wait_seconds": 90.0,
            "calls": [{"call_id": "c9", "position": 1, "priority": 0, "waited_seconds": 4.5, "estimated_wait_seconds": 90.0}],
        }])
    );
}

#[tokio::test]
async fn call_records_by_id_and_newest_first() {
    let h = start().await;
    for (n, call) in ["c1", "c2", "c3"].iter().enumerate() {
        let at = 1_000 * n as i64;
        h.append(call, 1, at, EventKind::CallOffered { ani: "+1".into(), did: "+2".into(), trunk: "t".into() }).await;
        h.append(call, 2, at + 500, EventKind::CallQueued { queue: "support".into() }).await;
    }
    h.append("c2", 3, 4_500, EventKind::AgentAnswered { agent: "carol".into() }).await;
    h.append(
        "c2",
        4,
        9_500,
        EventKind::CallEnded { side: HangupSide::Caller, cause: "normal".into(), sip_status: None },
    )
    .await;

    let (status, call) = h.get("/api/calls/c2").await;
    assert_eq!(status, Status::OK);
    assert_eq!(call["call_id"], "c2");
    assert_eq!(call["agent"], "carol");
    assert_eq!(call["wait_seconds"], 3.0);
    assert_eq!(call["talk_seconds"], 5.0);
    assert_eq!(call["hangup_side"], "caller");
    assert_eq!(call["abandoned"], false);

    let (status, error) = h.get("/api/calls/nope").await;
    assert_eq!(status, Status::NOT_FOUND);
    assert_eq!(error["error"], "call nope not found");

    let ids = |v: &Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|c| c["call_id"].as_str().unwrap().to_owned()).collect()
    };
    let (status, all) = h.get("/api/calls").await;
    assert_eq!(status, Status::OK);
    assert_eq!(ids(&all), vec!["c3", "c2", "c1"]);
    let (_, two) = h.get("/api/calls?limit=2").await;
    assert_eq!(ids(&two), vec!["c3", "c2"]);
    let (status, many) = h.get("/api/calls?limit=100000").await;
    assert_eq!(status, Status::OK);
    assert_eq!(many.as_array().unwrap().len(), 3);
    let (status, error) = h.get("/api/calls?limit=lots").await;
    assert_eq!(status, Status::BAD_REQUEST);
    assert!(error["error"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_replays_after_offset_then_continues_live() {
    let h = start().await;
    for seq in 1..=5 {
        h.append("c1", seq, i64::from(seq), ringing("alice")).await;
    }
    let mut stream = SseReader::open(&h, "?after=2", None).await;
    for expected in 3..=5 {
        let stored = stream.next_stored().await;
        assert_eq!(stored.offset, expected);
        assert_eq!(stored.event.call_id, "c1");
    }
    // Live continuation while more events commit concurrently: each offset exactly once, in order.
    let log = h.store.event_log().clone();
    let producer = tokio::spawn(async move {
        for seq in 6..=60 {
            let kind = EventKind::AgentRinging { agent: "alice".into() };
            let event = CallEvent { call_id: "c1".into(), seq, at_ms: 0, agent: None, kind };
            log.append(event);
        }
    });
    for expected in 6..=60 {
        assert_eq!(stream.next_stored().await.offset, expected);
    }
    producer.await.unwrap();
}

#[tokio::test]
async fn event_stream_resumes_from_last_event_id_and_defaults_to_live() {
    let h = start().await;
    for seq in 1..=4 {
        h.append("c9", seq, 0, ringing("bob")).await;
    }
    // Last-Event-ID wins over ?after=, as when a browser EventSource reconnects.
    let mut resumed = SseReader::open(&h, "?after=1", Some("3")).await;
    assert_eq!(resumed.next_stored().await.offset, 4);

    // Without a starting point only events committed from now on are streamed. The handler has
    // subscribed once the response headers arrived, so event 5 is the first one seen.
    let mut live = SseReader::open(&h, "", None).await;
    h.append("c9", 5, 0, EventKind::AgentAnswered { agent: "bob".into() }).await;
    let frame = live.next().await;
    assert_eq!(frame.id.as_deref(), Some("5"));
    assert_eq!(frame.event.as_deref(), Some("agent.answered"));
    assert_eq!(resumed.next_stored().await.offset, 5);

    let response =
        h.http.get(format!("{}/api/events", h.base)).header("last-event-id", "yesterday").send().await.unwrap();
    assert_eq!(response.status(), Status::BAD_REQUEST);
}

#[tokio::test]
async fn lagged_stream_recovers_from_the_store() {
    let dir = TempDir::new("lag");
    let options = StoreOptions { broadcast_capacity: 4, ..StoreOptions::default() };
    let store = Store::open_with(&dir.db(), options).unwrap();
    let log = store.event_log();
    let event = |seq: u32| CallEvent { call_id: "c".into(), seq, at_ms: 0, agent: None, kind: ringing("a") };
    log.append_and_wait(event(1)).await.unwrap();

    let stream = stored_event_stream(store.clone(), None).await.unwrap();
    let mut stream = Box::pin(stream);
    // Live-only stream: its first poll goes straight to the broadcast receiver, which nobody has
    // read while 100 events overflowed its 4 slots, so it reports Lagged and the stream must
    // re-read the store.
    for seq in 2..=101 {
        log.append(event(seq));
    }
    log.flush().await.unwrap();
    for expected in 2..=101 {
        let next = tokio::time::timeout(PATIENCE, stream.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(next.offset, expected);
    }
}

#[tokio::test]
async fn metrics_health_and_unknown_routes() {
    let recorder = PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("meritline_test_requests_total").increment(3);
    });
    let h = start_with(StoreOptions::default(), recorder.handle()).await;

    let response = h.http.get(format!("{}/metrics", h.base)).send().await.unwrap();
    assert_eq!(response.status(), Status::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert!(text.contains("meritline_test_requests_total 3"), "{text}");

    h.append("c1", 1, 0, ringing("a")).await;
    let (status, health) = h.get("/healthz").await;
    assert_eq!(status, Status::OK);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["last_offset"], 1);

    let (status, error) = h.get("/api/nothing").await;
    assert_eq!(status, Status::NOT_FOUND);
    assert_eq!(error["error"], "no such route");
}

/// One call of queue `queue` as the switch logs it: offered with a `why` saying `holdout` (no
/// `why` when None), answered at `answered_at`, and when `talk_s` is given ended after that many
/// seconds, with an optional wrap-up, disposition and CSAT answer.
struct UpliftCall<'a> {
    id: &'a str,
    queue: &'a str,
    holdout: Option<bool>,
    answered_at: i64,
    talk_s: Option<i64>,
    wrapup_s: Option<u32>,
    disposition: Option<&'a str>,
    csat: Option<u8>,
}

impl Harness {
    async fn uplift_call(&self, c: UpliftCall<'_>) {
        let why = c.holdout.map(|holdout| crate::events::OfferWhy {
            strategy: "merit_weighted".into(),
            rule: if holdout { "longest_idle" } else { "weighted" }.into(),
            score: 0.6,
            rank: 0,
            eligible: 3,
            relax_step: 0,
            holdout,
            waited_ms: 2_000,
        });
        let mut kinds = vec![
            (c.answered_at - 3_000, EventKind::CallQueued { queue: c.queue.into() }),
            (c.answered_at - 1_000, EventKind::AgentOffered { agent: "carol".into(), attempt: 1, why }),
            (c.answered_at, EventKind::AgentAnswered { agent: "carol".into() }),
        ];
        if let Some(talk) = c.talk_s {
            let end = c.answered_at + talk * 1_000;
            if let Some(digit) = c.csat {
                kinds.push((end - 10, EventKind::SurveyAnswered { question: "csat".into(), digit }));
            }
            kinds.push((
                end,
                EventKind::CallEnded { side: HangupSide::Caller, cause: "normal".into(), sip_status: None },
            ));
            if let Some(seconds) = c.wrapup_s {
                kinds.push((end, EventKind::WrapUpStarted { agent: "carol".into(), seconds }));
            }
            if let Some(outcome) = c.disposition {
                kinds.push((end + 5, EventKind::DispositionRecorded { outcome: outcome.into(), revenue: None }));
            }
        }
        for (seq, (at, kind)) in kinds.into_iter().enumerate() {
            self.append(c.id, seq as u32 + 1, at, kind).await;
        }
    }
}

#[tokio::test]
async fn queue_uplift_compares_merit_routed_and_holdout_calls() {
    let h = start().await;
    let call = |id, holdout, answered_at, talk_s, wrapup_s, disposition, csat| UpliftCall {
        id,
        queue: "support",
        holdout,
        answered_at,
        talk_s,
        wrapup_s,
        disposition,
        csat,
    };
    let calls = [
        // Merit-routed: handle 60 + 30, 120, 30 + 30 s; conversions 2 of 3 (case-insensitive
        // "sale"); CSAT 5, 4.
        call("m1", Some(false), 100_000, Some(60), Some(30), Some("SALE"), Some(5)),
        call("m2", Some(false), 200_000, Some(120), None, Some("callback"), Some(4)),
        call("m3", Some(false), 300_000, Some(30), Some(30), Some("sale"), None),
        // Holdout: handle 200, 100 s; conversions 1 of 2; CSAT 2, 3.
        call("h1", Some(true), 400_000, Some(200), None, None, Some(2)),
        call("h2", Some(true), 500_000, Some(100), None, Some("sale"), Some(3)),
        // Logged before offers explained themselves: ended, answered, but in neither group.
        call("old", None, 600_000, Some(50), None, Some("sale"), None),
        // Still talking: outcome unknown, not counted.
        call("live", Some(false), 700_000, None, None, None, None),
    ];
    for c in calls {
        h.uplift_call(c).await;
    }
    // Another queue's call.
    h.uplift_call(UpliftCall { queue: "billing", ..call("b1", Some(true), 800_000, Some(10), None, None, None) }).await;

    let (status, up) = h.get("/api/queues/support/uplift").await;
    assert_eq!(status, Status::OK, "{up}");
    assert_eq!(up["queue"], "support");
    assert_eq!(up["since_ms"], Value::Null);
    assert_eq!(up["sale_outcome"], "sale");
    assert_eq!(up["unassigned_calls"], 1);
    assert_eq!(
        up["merit"],
        json!({
            "calls": 3, "conversions": 2, "conversion_rate": 2.0 / 3.0,
            "csat_calls": 2, "csat_mean": 4.5, "handle_calls": 3, "handle_seconds_mean": 90.0,
        })
    );
    assert_eq!(
        up["holdout"],
        json!({
            "calls": 2, "conversions": 1, "conversion_rate": 0.5,
            "csat_calls": 2, "csat_mean": 2.5, "handle_calls": 2, "handle_seconds_mean": 150.0,
        })
    );
    let close = |v: &Value, want: f64| assert!((v.as_f64().unwrap() - want).abs() < 1e-9, "{v} vs {want}");
    let z = crate::scoring::uplift::Z_95;
    close(&up["conversion"]["estimate"], 2.0 / 3.0 - 0.5);
    assert_eq!(up["conversion"]["method"], "newcombe_hybrid_score");
    let (low, high) =
        (up["conversion"]["ci95"]["low"].as_f64().unwrap(), up["conversion"]["ci95"]["high"].as_f64().unwrap());
    assert!(-1.0 < low && low < 1.0 / 6.0 && 1.0 / 6.0 < high && high < 1.0, "{low} {high}");
    // CSAT 4.5 − 2.5, s² = 0.5 in both groups: SE = √(0.25 + 0.25).
    close(&up["csat"]["estimate"], 2.0);
    close(&up["csat"]["ci95"]["low"], 2.0 - z * 0.5_f64.sqrt());
    assert_eq!(up["csat"]["method"], "welch_normal");
    // Handle 90 − 150, s² = 900 and 5,000: SE = √(300 + 2,500).
    close(&up["handle_seconds"]["estimate"], -60.0);
    close(&up["handle_seconds"]["ci95"]["high"], -60.0 + z * 2_800.0_f64.sqrt());

    // Since the second holdout call's answer: no merit-routed call, one holdout call.
    let (status, recent) = h.get("/api/queues/support/uplift?since=500000").await;
    assert_eq!(status, Status::OK);
    assert_eq!(recent["since_ms"], 500_000);
    assert_eq!(recent["merit"]["calls"], 0);
    assert_eq!(recent["merit"]["conversion_rate"], Value::Null);
    assert_eq!(recent["holdout"]["calls"], 1);
    assert_eq!(recent["conversion"], Value::Null);
    assert_eq!(recent["handle_seconds"], Value::Null);

    let (status, error) = h.get("/api/queues/nowhere/uplift").await;
    assert_eq!(status, Status::NOT_FOUND);
    assert_eq!(error["error"], "queue nowhere not found");
    let (status, error) = h.get("/api/queues/support/uplift?since=yesterday").await;
    assert_eq!(status, Status::BAD_REQUEST);
    assert!(error["error"].is_string());
}
