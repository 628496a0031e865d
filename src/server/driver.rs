//! The task that owns the engine and the per-call media handles: it turns socket input, API
//! requests, media results, score changes and timer expiries into `handle_*` calls, then carries
//! out what the engine polls out (datagrams, media commands, events and recovery writes for the
//! store), and keeps the barrier the engine asks for: a prompt marked `after_commit` starts only
//! once the event log has committed everything before it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::control::Control;
use crate::acd::CallId;
use crate::api::{AgentView, ApiError, QueueView};
use crate::call::{CallRef, Engine, MediaCommand, Output};
use crate::media::{wav::Prompt, CallMedia, MediaEngine, MediaEvent};
use crate::scoring::ScoreChanged;
use crate::sip::transport::{Inbound, SipTransports};
use crate::store::Store;
use crate::survey::PromptId;

/// Result of an asynchronous media allocation, fed back into the engine.
struct MediaReady {
    call: CallRef,
    result: Result<CallMedia, String>,
}

/// The task that owns the engine and the per-call media handles.
pub(super) struct Driver {
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
}

/// How long a drain waits for calls to end after BYEs went out.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

impl Driver {
    pub(super) fn new(
        engine: Engine,
        transports: SipTransports,
        media: MediaEngine,
        hold: Arc<Prompt>,
        prompts: HashMap<PromptId, Arc<Prompt>>,
        store: Store,
        media_events_tx: mpsc::UnboundedSender<MediaEvent>,
    ) -> Driver {
        Driver { engine, transports, media, hold, prompts, store, calls: HashMap::new(), media_events_tx }
    }

    pub(super) async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut control: mpsc::Receiver<Control>,
        mut media_events: mpsc::UnboundedReceiver<MediaEvent>,
        mut scores: mpsc::UnboundedReceiver<ScoreChanged>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let (media_tx, mut media_rx) = mpsc::channel::<MediaReady>(256);
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
                Some(ev) = media_events.recv() => {
                    let now = Instant::now();
                    match ev {
                        MediaEvent::Dtmf { call_tag, digit, .. } => self.engine.handle_dtmf(now, CallId(call_tag), digit),
                        MediaEvent::PromptFinished { call_tag, playback_id } => {
                            self.engine.handle_prompt_finished(now, CallId(call_tag), playback_id)
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
                let _ = tx.send(self.engine.agents(now).into_iter().map(AgentView::from).collect());
            }
            Control::Queues(tx) => {
                let _ = tx.send(self.engine.queues(now).into_iter().map(QueueView::from).collect());
            }
            Control::SetAgentState(id, state, tx) => {
                let result = self.engine.set_agent_state(now, &id, state.into_requested());
                let _ = tx.send(result.map(AgentView::from).map_err(ApiError::from));
            }
            Control::Disposition(id, d, last_seq, tx) => {
                let result = self.engine.record_disposition(now, &id, &d.outcome, d.revenue, last_seq);
                let _ = tx.send(result.map_err(ApiError::from));
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
            MediaCommand::PlayPrompt { call, prompt, after_commit, playback } => {
                match (self.calls.get(&call), self.prompts.get(&prompt)) {
                    (Some(m), Some(p)) if after_commit => {
                        // The barrier: everything emitted so far (the survey's answers) is
                        // committed before the prompt starts.
                        let (m, p, log) = (m.clone(), p.clone(), self.store.event_log().clone());
                        tokio::spawn(async move {
                            if let Err(e) = log.flush().await {
                                tracing::error!(error = %e, "event log flush before a prompt failed");
                            }
                            if let Err(e) = m.play_prompt_as(p, playback) {
                                tracing::debug!(error = %e, "prompt not played");
                            }
                        });
                        Ok(())
                    }
                    (Some(m), Some(p)) => m.play_prompt_as(p.clone(), playback),
                    _ => Ok(()),
                }
            }
            MediaCommand::Close { call } => {
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
