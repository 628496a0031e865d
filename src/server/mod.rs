//! The IO shell that runs a switch: it binds the SIP transports, the HTTP API and the media
//! engine, and drives the sans-IO [`Engine`](crate::call::Engine) from one task that owns it. On
//! Ctrl-C or SIGTERM it drains: new calls get 503, live calls get BYE, and the event store is
//! flushed before the process exits. Its rooms: [`driver`] (the task that owns the engine and
//! translates between it and the sockets, one input to one `handle_*` call), [`control`] (the
//! API's handle on that task), [`scoring_task`] (the scoring consumer of the event log) and this
//! file (start-up, recovery from the store, and shutdown).

mod control;
mod driver;
mod scoring_task;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::sync::{mpsc, watch};

use crate::api::{self, SharedScoring};
use crate::call::Engine;
use crate::config::{Config, SipTransport};
use crate::media::{prompts as media_prompts, MediaEngine};
use crate::scoring::Scoring;
use crate::sip::transport::{Inbound, SipTransports};
use crate::store::Store;
use crate::survey::PromptId;

pub use control::SwitchHandle;
use driver::Driver;
use scoring_task::run_scoring;

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

pub(crate) fn unix_ms() -> i64 {
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
        let sink = crate::sinks::webhook::WebhookSink::new(hook.clone(), store.clone())
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
    let driver = Driver::new(engine, transports, media, hold, prompts, store.clone(), media_events_tx);
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
