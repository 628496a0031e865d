//! The IO shell that runs a switch: it binds the SIP transports, the HTTP API and the media
//! engine, and drives the sans-IO [`Engine`](crate::call::Engine) from one task that owns it.
//! That task turns socket input, API requests, media results and timer expiries into `handle_*`
//! calls, then carries out what the engine polls out: datagrams, media commands and events for the
//! durable log. On Ctrl-C or SIGTERM it drains: new calls get 503, live calls get BYE, and the
//! event store is flushed before the process exits.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::sync::{mpsc, oneshot, watch};

use crate::acd::CallId;
use crate::api::{self, AgentStateRequest, AgentView, ApiError, Disposition, QueueView, SharedScoring, SwitchControl};
use crate::call::{CallRef, Engine, MediaCommand, Output};
use crate::config::{Config, SipTransport};
use crate::media::{prompts as media_prompts, wav::Prompt, CallMedia, MediaEngine, MediaEvent};
use crate::scoring::{ScoreChanged, Scoring, Window};
use crate::sip::transport::{Inbound, SipTransports};
use crate::store::Store;
use crate::survey::PromptId;

/// Why the switch could not start or stopped with an error. Start-up problems are the operator's
/// to fix, so they exit with code 2 like config errors.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("sip.listen: cannot bind {addr}: {source}")]
    SipBind { addr: SocketAddr, source: std::io::Error },
    #[error("http.listen: cannot bind {addr}: {source}")]
    HttpBind { addr: SocketAddr, source: std::io::Error },
    #[error("media.hold_prompt: {0}")]
    Prompt(String),
    #[error("media.survey_prompts_dir: {0}")]
    SurveyPrompt(String),
    #[error("media: {0}")]
    Media(String),
    #[error("store.path: {0}")]
    Store(String),
    #[error("metrics: {0}")]
    Metrics(String),
    #[error("webhooks.{0}: {1}")]
    Webhook(String, String),
    #[error("scoring: {0}")]
    Scoring(String),
}

impl RunError {
    pub fn exit_code(&self) -> i32 {
        2
    }
}

/// Requests from the API to the engine task.
enum Control {
    Agents(oneshot::Sender<Vec<AgentView>>),
    Queues(oneshot::Sender<Vec<QueueView>>),
    SetAgentState(String, AgentStateRequest, oneshot::Sender<Result<AgentView, ApiError>>),
    Disposition(String, Disposition, Option<u32>, oneshot::Sender<Result<(), ApiError>>),
}

/// The API's handle on the engine task.
#[derive(Clone)]
pub struct SwitchHandle {
    tx: mpsc::Sender<Control>,
}

impl SwitchControl for SwitchHandle {
    async fn agents(&self) -> Vec<AgentView> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Control::Agents(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    async fn set_agent_state(&self, id: &str, state: AgentStateRequest) -> Result<AgentView, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Control::SetAgentState(id.to_string(), state, tx))
            .await
            .map_err(|_| ApiError::Unavailable("the switch is shutting down".into()))?;
        rx.await.map_err(|_| ApiError::Unavailable("the switch is shutting down".into()))?
    }

    async fn record_disposition(
        &self,
        call_id: &str,
        disposition: Disposition,
        store_last_seq: Option<u32>,
    ) -> Result<(), ApiError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Control::Disposition(call_id.to_string(), disposition, store_last_seq, tx))
            .await
            .map_err(|_| ApiError::Unavailable("the switch is shutting down".into()))?;
        rx.await.map_err(|_| ApiError::Unavailable("the switch is shutting down".into()))?
    }

    async fn queues(&self) -> Vec<QueueView> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Control::Queues(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }
}

fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn install_metrics() -> Result<PrometheusHandle, RunError> {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    // A second `run` in one process (tests) keeps the first recorder.
    let _ = metrics::set_global_recorder(recorder);
    Ok(handle)
}

/// Runs the switch until Ctrl-C or SIGTERM.
pub async fn run(config: Config) -> Result<(), RunError> {
    let config = Arc::new(config);
    let prometheus = install_metrics()?;
    crate::metrics::describe();

    let store = Store::open(&config.store.path).map_err(|e| RunError::Store(e.to_string()))?;
    let hold = media_prompts::hold(config.media.hold_prompt.as_deref()).map_err(|e| RunError::Prompt(e.to_string()))?;
    let hold = Arc::new(hold);
    let mut prompts = HashMap::new();
    if config.queues.iter().any(|q| q.survey_spec().is_some()) {
        for id in PromptId::ALL {
            let prompt = media_prompts::survey(config.media.survey_prompts_dir.as_deref(), id.file_name())
                .map_err(|e| RunError::SurveyPrompt(e.to_string()))?;
            prompts.insert(id, Arc::new(prompt));
        }
    }
    let media = MediaEngine::new(config.media.ip, config.media.rtp_port_min..=config.media.rtp_port_max)
        .map_err(|e| RunError::Media(e.to_string()))?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (inbound_tx, inbound_rx) = mpsc::channel::<Inbound>(4096);
    let transports = SipTransports::bind(
        config.sip.listen,
        config.sip.uses(SipTransport::Udp),
        config.sip.uses(SipTransport::Tcp),
        config.sip.max_tcp_connections,
        inbound_tx,
        shutdown_rx.clone(),
    )
    .await
    .map_err(|source| RunError::SipBind { addr: config.sip.listen, source })?;

    let http = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .map_err(|source| RunError::HttpBind { addr: config.http.listen, source })?;

    let (control_tx, control_rx) = mpsc::channel(256);
    let handle = SwitchHandle { tx: control_tx };
    // Histograms accumulate between scrapes unless the exporter's upkeep runs.
    let upkeep = prometheus.clone();
    let mut upkeep_stop = shutdown_rx.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tick.tick() => upkeep.run_upkeep(),
                _ = upkeep_stop.changed() => return,
            }
        }
    });
    let scoring = Scoring::new(config.scoring_config()).map_err(|e| RunError::Scoring(e.to_string()))?;
    let scoring: SharedScoring = Arc::new(std::sync::Mutex::new(scoring));
    let (scores_tx, scores_rx) = mpsc::unbounded_channel();
    tokio::spawn(run_scoring(store.clone(), scoring.clone(), scores_tx, shutdown_rx.clone()));
    let router = api::router(Arc::new(handle), store.clone(), prometheus, scoring);
    let mut http_shutdown = shutdown_rx.clone();
    let http_task = tokio::spawn(async move {
        let _ = axum::serve(http, router)
            .with_graceful_shutdown(async move {
                let _ = http_shutdown.changed().await;
            })
            .await;
    });

    for hook in &config.webhooks {
        let sink = crate::events::webhook::WebhookSink::new(hook.clone(), store.clone())
            .map_err(|e| RunError::Webhook(hook.name.clone(), e.to_string()))?;
        tokio::spawn(sink.run(shutdown_rx.clone()));
    }

    let seed = rand::random::<u64>();
    let mut engine = Engine::new(config.clone(), Instant::now(), unix_ms(), seed);
    // What the previous run left: registrations, unfinished calls and their dialogs, agent states.
    let agent_ids: Vec<String> = config.agents.iter().map(|a| a.id.clone()).collect();
    let recovery = store.recovery(unix_ms(), &agent_ids).map_err(|e| RunError::Store(e.to_string()))?;
    engine.handle_recovery(Instant::now(), recovery);
    tracing::info!(
        sip = %config.sip.listen,
        http = %config.http.listen,
        rtp = %format!("{}-{}", config.media.rtp_port_min, config.media.rtp_port_max),
        "meritline running"
    );
    let (media_events_tx, media_events) = mpsc::unbounded_channel();
    let driver = Driver {
        engine,
        transports,
        media,
        hold,
        prompts,
        store: store.clone(),
        calls: HashMap::new(),
        media_events_tx,
        playing: HashMap::new(),
        prompt_started_tx: None,
    };
    let (drain_tx, drain_rx) = watch::channel(false);
    let engine_task = tokio::spawn(driver.run(inbound_rx, control_rx, media_events, scores_rx, drain_rx));

    wait_for_signal().await;
    tracing::info!("shutting down: refusing new calls, hanging up live ones");
    // The sockets stay open while the engine drains, so our BYEs get their answers.
    let _ = drain_tx.send(true);
    let _ = engine_task.await;
    let _ = shutdown_tx.send(true);
    // Graceful HTTP shutdown waits for open connections; an event-stream (SSE) client never
    // closes its own, so give them a moment and then cut them.
    let http_abort = http_task.abort_handle();
    if tokio::time::timeout(Duration::from_secs(2), http_task).await.is_err() {
        http_abort.abort();
    }
    if let Err(e) = store.event_log().flush().await {
        tracing::error!(error = %e, "flushing the event log failed");
    }
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Result of an asynchronous media allocation, fed back into the engine.
struct MediaReady {
    call: CallRef,
    result: Result<CallMedia, String>,
}

/// The task that owns the engine and the per-call media handles.
struct Driver {
    engine: Engine,
    transports: SipTransports,
    media: MediaEngine,
    hold: Arc<Prompt>,
    /// Survey prompts, loaded when a queue runs a survey.
    prompts: HashMap<PromptId, Arc<Prompt>>,
    store: Store,
    calls: HashMap<CallRef, CallMedia>,
    /// Where per-call media tasks report DTMF digits and finished prompts.
    media_events_tx: mpsc::UnboundedSender<MediaEvent>,
    /// The playback id of the prompt each call is hearing.
    playing: HashMap<CallRef, u64>,
    /// Prompts started after an event-log flush report their playback id here.
    prompt_started_tx: Option<mpsc::UnboundedSender<(CallRef, u64)>>,
}

/// How long a drain waits for calls to end after BYEs went out.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

impl Driver {
    async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut control: mpsc::Receiver<Control>,
        mut media_events: mpsc::UnboundedReceiver<MediaEvent>,
        mut scores: mpsc::UnboundedReceiver<ScoreChanged>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let (media_tx, mut media_rx) = mpsc::channel::<MediaReady>(256);
        let (prompt_started_tx, mut prompt_started) = mpsc::unbounded_channel::<(CallRef, u64)>();
        self.prompt_started_tx = Some(prompt_started_tx);
        let mut drain_deadline: Option<tokio::time::Instant> = None;
        loop {
            self.flush_outputs(&media_tx);
            if let Some(deadline) = drain_deadline {
                if self.engine.is_drained() || tokio::time::Instant::now() >= deadline {
                    break;
                }
            }
            let wake = self.engine.poll_timeout().map(tokio::time::Instant::from_std);
            let sleep_until = match (wake, drain_deadline) {
                (Some(w), Some(d)) => Some(w.min(d)),
                (w, d) => w.or(d),
            };
            tokio::select! {
                biased;
                changed = shutdown.changed(), if drain_deadline.is_none() => {
                    let _ = changed;
                    self.engine.begin_shutdown(Instant::now());
                    drain_deadline = Some(tokio::time::Instant::now() + DRAIN_LIMIT);
                }
                Some(ready) = media_rx.recv() => {
                    let now = Instant::now();
                    match ready.result {
                        Ok(handle) => {
                            let ports = (handle.caller_port(), handle.agent_port());
                            self.calls.insert(ready.call, handle);
                            self.engine.handle_media_ready(now, ready.call, ports.0, ports.1);
                        }
                        Err(reason) => self.engine.handle_media_failed(now, ready.call, &reason),
                    }
                }
                Some(msg) = inbound.recv() => {
                    self.engine.handle_inbound(Instant::now(), msg.transport, msg.source, msg.payload);
                    // Take whatever else is already queued before polling outputs again.
                    let mut budget = 64;
                    while budget > 0 {
                        match inbound.try_recv() {
                            Ok(msg) => self.engine.handle_inbound(Instant::now(), msg.transport, msg.source, msg.payload),
                            Err(_) => break,
                        }
                        budget -= 1;
                    }
                }
                Some(req) = control.recv() => self.handle_control(req),
                Some(change) = scores.recv() => {
                    self.engine.set_agent_score(&change.agent, &change.queue, change.score);
                }
                Some((call, id)) = prompt_started.recv() => {
                    self.playing.insert(call, id);
                }
                Some(ev) = media_events.recv() => {
                    let now = Instant::now();
                    match ev {
                        MediaEvent::Dtmf { call_tag, digit, .. } => self.engine.handle_dtmf(now, CallId(call_tag), digit),
                        MediaEvent::PromptFinished { call_tag, playback_id } => {
                            // Only the prompt playing now counts; a finish that crossed a newer
                            // prompt in the channel is stale.
                            let call = CallId(call_tag);
                            if self.playing.get(&call) == Some(&playback_id) {
                                self.playing.remove(&call);
                                self.engine.handle_prompt_finished(now, call);
                            }
                        }
                    }
                }
                _ = sleep(sleep_until) => {
                    self.engine.handle_timeout(Instant::now());
                }
            }
        }
        self.flush_outputs(&media_tx);
        for (_, m) in self.calls.drain() {
            m.close().await;
        }
    }

    fn handle_control(&mut self, req: Control) {
        let now = Instant::now();
        match req {
            Control::Agents(tx) => {
                let _ = tx.send(self.engine.agents(now));
            }
            Control::Queues(tx) => {
                let _ = tx.send(self.engine.queues(now));
            }
            Control::SetAgentState(id, state, tx) => {
                let _ = tx.send(self.engine.set_agent_state(now, &id, state));
            }
            Control::Disposition(id, d, last_seq, tx) => {
                let _ = tx.send(self.engine.record_disposition(now, &id, &d.outcome, d.revenue, last_seq));
            }
        }
    }

    fn flush_outputs(&mut self, media_tx: &mpsc::Sender<MediaReady>) {
        while let Some(out) = self.engine.poll_output() {
            match out {
                Output::Transmit(t) => self.transports.send(t),
                Output::Event(ev) => self.store.event_log().append(ev),
                Output::Durable(write) => self.store.event_log().write_durable(write),
                Output::Media(cmd) => self.media_command(cmd, media_tx),
            }
        }
    }

    fn media_command(&mut self, cmd: MediaCommand, media_tx: &mpsc::Sender<MediaReady>) {
        let result = match cmd {
            MediaCommand::Allocate { call } => {
                let media = self.media.clone();
                let tx = media_tx.clone();
                let events = self.media_events_tx.clone();
                tokio::spawn(async move {
                    let result = media.allocate_call_with_events(events, call.0).await.map_err(|e| e.to_string());
                    let _ = tx.send(MediaReady { call, result }).await;
                });
                Ok(())
            }
            MediaCommand::SetCallerRemote { call, remote } => match self.calls.get(&call) {
                Some(m) => {
                    m.set_caller_remote(remote.rtp, remote.codec, remote.payload_type, remote.telephone_event_pt)
                }
                None => Ok(()),
            },
            MediaCommand::SetAgentRemote { call, remote } => match self.calls.get(&call) {
                Some(m) => m.set_agent_remote(remote.rtp, remote.codec, remote.payload_type, remote.telephone_event_pt),
                None => Ok(()),
            },
            MediaCommand::PlayHold { call } => match self.calls.get(&call) {
                Some(m) => m.play_hold(self.hold.clone()),
                None => Ok(()),
            },
            MediaCommand::Bridge { call } => match self.calls.get(&call) {
                Some(m) => m.bridge(),
                None => Ok(()),
            },
            MediaCommand::Unbridge { call } => match self.calls.get(&call) {
                Some(m) => m.unbridge(),
                None => Ok(()),
            },
            MediaCommand::PlayPrompt { call, prompt, after_commit } => {
                match (self.calls.get(&call), self.prompts.get(&prompt)) {
                    (Some(m), Some(p)) if after_commit => {
                        // Everything emitted so far (the survey's answers) is committed first.
                        self.playing.remove(&call);
                        let (m, p, log) = (m.clone(), p.clone(), self.store.event_log().clone());
                        let started = self.prompt_started_tx.clone();
                        tokio::spawn(async move {
                            if let Err(e) = log.flush().await {
                                tracing::error!(error = %e, "event log flush before a prompt failed");
                            }
                            match m.play_prompt(p) {
                                Ok(id) => {
                                    if let Some(tx) = started {
                                        let _ = tx.send((call, id));
                                    }
                                }
                                Err(e) => tracing::debug!(error = %e, "prompt not played"),
                            }
                        });
                        Ok(())
                    }
                    (Some(m), Some(p)) => m.play_prompt(p.clone()).map(|id| {
                        self.playing.insert(call, id);
                    }),
                    _ => Ok(()),
                }
            }
            MediaCommand::Close { call } => {
                self.playing.remove(&call);
                if let Some(m) = self.calls.remove(&call) {
                    tokio::spawn(async move { m.close().await });
                }
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "media command failed");
        }
    }
}

async fn sleep(until: Option<tokio::time::Instant>) {
    match until {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// The scoring consumer: replays the durable event log into the scoring module from where it
/// stands, then follows it live; every score that moves is sent to the engine for the ACD, and the
/// score distributions are exported as gauges. It only reads the store, so a slow consumer never
/// delays a call.
async fn run_scoring(
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
