//! Agent performance scoring: a sans-IO consumer of the call event stream that keeps per-agent,
//! per-queue KPIs over rolling windows and turns them into a composite score in [0, 1] for the
//! ACD, leaderboards and Prometheus. Feed it with [`Scoring::handle_event`] (idempotent: offsets
//! at or below the highest applied one are ignored, so replay and live broadcast may overlap);
//! every query takes `now_ms`.
//!
//! **Windows.** `today` is the UTC calendar day of `now_ms`; `7d` and `30d` are trailing
//! durations ending at `now_ms`. Offers count at the time of `agent.offered`, handled calls at
//! the time of `call.bridged`.
//!
//! **KPIs** (per agent per queue; the queue is the call's `call.queued`, or the `to_queue` of its
//! last `call.overflowed`):
//! - answer rate = offers answered ÷ offers with a verdict; `agent.no_answer` with reason
//!   `unreachable` and offers cut short by the caller hanging up are not counted.
//! - AHT = (end of the agent's part − `call.bridged`) + wrap-up, where the agent's part ends at
//!   `call.transferred`, `survey.started` or `call.ended` (so it includes hold; hold is also
//!   reported alone) and wrap-up is `agent.wrapup_ended − agent.wrapup_started`, or the announced
//!   `seconds` until the end arrives. A call is attributed to the first agent bridged.
//! - conversion = calls with disposition outcome `sale_outcome` ÷ handled; revenue per call.
//! - CSAT: mean of the `csat_question` answers (digits 1–5) and the share of 4s and 5s.
//! - FCR: a handled call is resolved first time when no call from the same ANI reaches the same
//!   queue within 72 h (`repeat_horizon_hours`) after the agent's part ended. Only calls whose
//!   horizon has passed at `now_ms` are in the sample (a younger call's status is not known yet,
//!   and counting only the repeated ones would bias it), so `today` normally has no FCR sample.
//! - transfer rate; survey-avoidance rate = calls transferred, or hung up by the agent with no
//!   `survey.started`, ÷ handled, in queues with `survey_enabled`.
//!
//! **Shrinkage.** Each agent estimate is `(sum + k·m) / (n + k)` with `m` the pooled queue value
//! in the same window and `k = prior_strength` (default 20): the beta-binomial posterior mean
//! for rates and the normal-normal posterior mean for AHT, CSAT and revenue. An agent with three
//! perfect calls therefore sits close to the queue, below an agent with 200 very good ones, and
//! an agent with no calls is exactly the queue mean.
//!
//! **Normalisation** maps every shrunk KPI to [0, 1] with the queue mean at 0.5: rates
//! (answer, conversion, CSAT top-2, FCR, and `1 − rate` for transfers and survey avoidance, and
//! CSAT mean as `(mean − 1) / 4`) piecewise-linearly 0 → 0, mean → 0.5, 1 → 1; AHT as
//! `1 − (aht / queue aht) / 2` and revenue per call as `(revenue / queue revenue) / 2`, both
//! clamped. The composite is the weighted mean of the KPIs the queue has data for, with the
//! program's [`QueueWeights`]; with no usable KPI it is 0.5. An agent with no calls scores 0.5.
//!
//! **Gaming resistance.**
//! 1. Short calls earn AHT credit (a normalised AHT above 0.5) only when the agent's shrunk
//!    30-day repeat-call rate (1 − FCR) is at most the queue's plus `gaming.repeat_rate`, and the
//!    agent's shrunk 30-day CSAT mean is at least the queue's minus `gaming.csat`; otherwise the
//!    AHT score is capped at neutral (0.5). The 30-day window is used in every window so the
//!    gate has data even `today`; a side the queue has no data for cannot fail.
//! 2. In queues with `survey_enabled`, a handled call that ends in a transfer, or that the agent
//!    hangs up without the survey starting, and that has no CSAT answer, counts as one CSAT
//!    observation of `survey_penalty` (default 1, the worst answer). A fixed worst value rather
//!    than the queue's 10th percentile: it cannot drift with the queue, and skipping a survey can
//!    never score better than receiving the worst real answer. Callers who hang up themselves or
//!    abandon the survey are not held against the agent.
//!
//! **Cost.** `handle_event` is O(log n): observations live in per-queue `BTreeMap`s keyed by
//! `(time, offset)` and everything older than 30 days + the repeat horizon is pruned as the
//! stream clock advances (amortised O(1) per pruned item); the per-call state that attributes
//! late events (wrap-up end, disposition, survey) is kept two days. The repeat check is O(1)
//! amortised per call: each (queue, ANI) keeps only its handled calls not yet marked repeated,
//! until the horizon plus one hour has passed by the stream clock (so a call arrival delivered
//! over an hour behind the clock no longer marks calls whose horizon closed before the clock).
//! Queries range-scan the queue's
//! window and its 30-day baseline, O(calls in 30 days of that queue). `poll_score_change` does
//! the same scan for a changed queue at most once per `push_interval_ms` (default 5 s) of
//! stream time, so it may be polled after every event; `poll_timeout` tells the shell when to
//! call `handle_tick` so that a throttled change is not left waiting for the next event.

/// The `[scoring]` settings live with the rest of the configuration (a leaf); scoring reads them.
use crate::config::scoring as config;
mod kpi;
mod ledger;
pub mod uplift;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;

use crate::events::StoredEvent;

pub use config::{GamingTolerance, QueueWeights, ScoringConfig, ScoringError, Window, DAY_MS, HOUR_MS};
pub use kpi::{KpiScores, KpiValues};

use kpi::{Board, Scored};
use ledger::{Ledger, QueueLedger};

/// One agent's KPIs in one window of one queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowKpis {
    pub window: Window,
    /// The agent's observed values.
    pub agent: KpiValues,
    /// The queue's pooled values (the shrinkage prior and the normalisation midpoint).
    pub queue: KpiValues,
    /// Normalised shrunk KPI scores in [0, 1] (0.5 = queue mean), before the anti-gaming cap.
    pub kpi_scores: KpiScores,
    /// Peer-group percentile (0–100, higher is better) per KPI among the queue's active agents.
    pub percentiles: KpiScores,
    /// The composite score in [0, 1].
    pub score: f64,
    /// The AHT credit was capped at neutral by the quality gate.
    pub aht_credit_capped: bool,
}

/// One agent's KPIs in one queue, for each window (today, 7d, 30d).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueKpis {
    pub queue: String,
    pub windows: Vec<WindowKpis>,
}

/// Everything about one agent: every queue the agent had offers or calls in over 30 days.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentKpis {
    pub agent: String,
    pub now_ms: i64,
    pub queues: Vec<QueueKpis>,
}

/// One row of a force-ranked leaderboard (ranks 1..=n without ties).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeaderboardRow {
    pub rank: u32,
    pub agent: String,
    pub score: f64,
    /// Handled calls in the window.
    pub calls: u64,
    pub answer_rate: Option<f64>,
    pub aht_s: Option<f64>,
    pub conversion: Option<f64>,
    pub csat_mean: Option<f64>,
    pub fcr: Option<f64>,
    pub transfer_rate: Option<f64>,
}

/// An agent's score in a queue (the push window of the config).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentScore {
    pub agent: String,
    pub queue: String,
    pub score: f64,
}

/// A score to push to the ACD because it moved by more than `change_epsilon`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreChanged {
    pub agent: String,
    pub queue: String,
    pub score: f64,
}

/// The spread of one queue's agent scores, for per-queue gauges (no per-agent labels).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreDistribution {
    pub queue: String,
    pub window: Window,
    pub agents: usize,
    pub min: f64,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    pub max: f64,
}

impl ScoreDistribution {
    /// `(quantile label, value)` pairs for a gauge labelled by queue and quantile.
    pub fn quantiles(&self) -> [(&'static str, f64); 5] {
        [("0", self.min), ("0.25", self.p25), ("0.5", self.median), ("0.75", self.p75), ("1", self.max)]
    }
}

/// The scoring consumer. See the module header for the definitions.
#[derive(Debug)]
pub struct Scoring {
    config: ScoringConfig,
    ledger: Ledger,
    /// Queues whose pushed scores may have changed since the last poll.
    dirty: BTreeSet<String>,
    /// Last score pushed per queue and agent.
    pushed: BTreeMap<String, BTreeMap<String, f64>>,
    pending: VecDeque<ScoreChanged>,
    /// Stream clock at each queue's last recompute (throttled by `push_interval_ms`).
    recomputed_at: BTreeMap<String, i64>,
}

impl Scoring {
    pub fn new(config: ScoringConfig) -> Result<Scoring, ScoringError> {
        config.validate()?;
        Ok(Scoring {
            config,
            ledger: Ledger::default(),
            dirty: BTreeSet::new(),
            pushed: BTreeMap::new(),
            pending: VecDeque::new(),
            recomputed_at: BTreeMap::new(),
        })
    }

    pub fn config(&self) -> &ScoringConfig {
        &self.config
    }

    /// Folds one stored event in. Returns false (and changes nothing) when its offset is at or
    /// below the highest offset already applied.
    pub fn handle_event(&mut self, event: &StoredEvent) -> bool {
        match self.ledger.apply(event, &self.config) {
            None => false,
            Some(touched) => {
                if let Some(queue) = touched.filter(|q| !self.dirty.contains(&**q)) {
                    self.dirty.insert(queue.to_string());
                }
                true
            }
        }
    }

    /// Time passes without events (windows slide, FCR horizons close): every queue's pushed
    /// scores are re-evaluated at the next poll, at `now_ms` if it is ahead of the stream clock.
    pub fn handle_tick(&mut self, now_ms: i64) {
        self.ledger.advance_clock(now_ms, &self.config);
        self.dirty.extend(self.ledger.queues.keys().map(|q| q.to_string()));
    }

    /// The highest store offset applied; resume a replay after it.
    pub fn last_offset(&self) -> Option<i64> {
        self.ledger.last_offset()
    }

    /// The stream clock: the latest event time or tick seen.
    pub fn clock_ms(&self) -> i64 {
        self.ledger.clock_ms()
    }

    /// Queues that have observations.
    pub fn queues(&self) -> Vec<String> {
        self.ledger.queues.keys().map(|q| q.to_string()).collect()
    }

    /// The queue's 30-day board (the anti-gaming baseline of every window) and, for a narrower
    /// window, that window's board.
    fn boards(&self, queue: &str, ledger: &QueueLedger, window: Window, now_ms: i64) -> (Board, Option<Board>) {
        let quality = Board::build(queue, ledger, Window::Last30Days, now_ms, &self.config);
        let narrow = (window != Window::Last30Days).then(|| Board::build(queue, ledger, window, now_ms, &self.config));
        (quality, narrow)
    }

    /// Scores `board` against the 30-day `quality` board of the same queue.
    fn scored<'a>(&'a self, queue: &str, board: &Board, quality: &'a Board) -> Scored<'a> {
        Scored::new(board, quality, self.config.weights(queue), &self.config)
    }

    /// The agent's KPIs, scores and peer percentiles in every queue the agent had offers or
    /// calls in over the last 30 days, for each window.
    pub fn kpis(&self, agent: &str, now_ms: i64) -> AgentKpis {
        let mut queues = Vec::new();
        for (queue, ledger) in &self.ledger.queues {
            let quality = Board::build(queue, ledger, Window::Last30Days, now_ms, &self.config);
            // The 30-day window contains the others: no activity there, none anywhere.
            if !quality.agents.contains_key(agent) {
                continue;
            }
            let mut windows = Vec::new();
            for window in Window::ALL {
                let narrow =
                    (window != Window::Last30Days).then(|| Board::build(queue, ledger, window, now_ms, &self.config));
                let board = narrow.as_ref().unwrap_or(&quality);
                let scored = self.scored(queue, board, &quality);
                let result = scored.result(agent, &self.config);
                windows.push(WindowKpis {
                    window,
                    agent: result.values,
                    queue: scored.queue_values.clone(),
                    kpi_scores: result.kpi_scores,
                    percentiles: scored.percentiles(agent, &self.config),
                    score: result.score,
                    aht_credit_capped: result.aht_credit_capped,
                });
            }
            queues.push(QueueKpis { queue: queue.to_string(), windows });
        }
        AgentKpis { agent: agent.to_string(), now_ms, queues }
    }

    /// The queue's pooled KPIs in the window (the prior every agent is shrunk toward).
    pub fn queue_kpis(&self, queue: &str, now_ms: i64, window: Window) -> Option<KpiValues> {
        let ledger = self.ledger.queues.get(queue)?;
        Some(Board::build(queue, ledger, window, now_ms, &self.config).queue_tally.values())
    }

    /// The queue's active agents in the window, force-ranked: score descending, then more
    /// handled calls, then agent name.
    pub fn leaderboard(&self, queue: &str, now_ms: i64, window: Window) -> Vec<LeaderboardRow> {
        let Some(ledger) = self.ledger.queues.get(queue) else { return Vec::new() };
        let (quality, narrow) = self.boards(queue, ledger, window, now_ms);
        let scored = self.scored(queue, narrow.as_ref().unwrap_or(&quality), &quality);
        let mut rows: Vec<LeaderboardRow> = scored
            .agents
            .iter()
            .map(|(agent, r)| LeaderboardRow {
                rank: 0,
                agent: agent.clone(),
                score: r.score,
                calls: r.values.handled,
                answer_rate: r.values.answer_rate,
                aht_s: r.values.aht_s,
                conversion: r.values.conversion,
                csat_mean: r.values.csat_mean,
                fcr: r.values.fcr,
                transfer_rate: r.values.transfer_rate,
            })
            .collect();
        rows.sort_by(|a, b| {
            b.score.total_cmp(&a.score).then_with(|| b.calls.cmp(&a.calls)).then_with(|| a.agent.cmp(&b.agent))
        });
        for (i, row) in rows.iter_mut().enumerate() {
            row.rank = u32::try_from(i + 1).unwrap_or(u32::MAX);
        }
        rows
    }

    /// Every active agent's score per queue in the push window, sorted by queue then agent.
    pub fn scores(&self, now_ms: i64) -> Vec<AgentScore> {
        let mut out = Vec::new();
        for (queue, ledger) in &self.ledger.queues {
            let (quality, narrow) = self.boards(queue, ledger, self.config.push_window, now_ms);
            let scored = self.scored(queue, narrow.as_ref().unwrap_or(&quality), &quality);
            out.extend(scored.agents.iter().map(|(agent, r)| AgentScore {
                agent: agent.clone(),
                queue: queue.to_string(),
                score: r.score,
            }));
        }
        out
    }

    /// The next score that moved by more than `change_epsilon` since it was last returned (or
    /// was never returned), evaluated at the stream clock over the push window. Agents that
    /// left the window fall back to the queue mean (0.5) and are then forgotten.
    ///
    /// A changed queue is re-scored at most once per `push_interval_ms` of stream time, so
    /// polling after every event stays cheap; [`Scoring::poll_timeout`] says when the next
    /// re-scoring is due (call [`Scoring::handle_tick`] then).
    pub fn poll_score_change(&mut self) -> Option<ScoreChanged> {
        while self.pending.is_empty() {
            let queue = self.due_queue()?;
            self.dirty.remove(&queue);
            self.recomputed_at.insert(queue.clone(), self.ledger.clock_ms());
            self.recompute_pushed(&queue);
        }
        self.pending.pop_front()
    }

    /// The stream time (ms) at which a changed queue is next due for re-scoring, if any is
    /// waiting for its `push_interval_ms` to pass.
    pub fn poll_timeout(&self) -> Option<i64> {
        self.dirty.iter().map(|q| self.due_at(q)).min()
    }

    fn due_at(&self, queue: &str) -> i64 {
        match self.recomputed_at.get(queue) {
            Some(at) => at.saturating_add(self.config.push_interval_ms),
            None => i64::MIN,
        }
    }

    fn due_queue(&self) -> Option<String> {
        let now = self.ledger.clock_ms();
        self.dirty.iter().find(|q| self.due_at(q) <= now).cloned()
    }

    fn recompute_pushed(&mut self, queue: &str) {
        let Some(ledger) = self.ledger.queues.get(queue) else { return };
        let now_ms = self.ledger.clock_ms();
        let (quality, narrow) = self.boards(queue, ledger, self.config.push_window, now_ms);
        let scored = self.scored(queue, narrow.as_ref().unwrap_or(&quality), &quality);
        let previous = self.pushed.get(queue).into_iter().flat_map(|p| p.keys());
        let agents: BTreeSet<&String> = scored.agents.keys().chain(previous).collect();
        let current: Vec<(String, f64, bool)> = agents
            .into_iter()
            .map(|agent| (agent.clone(), scored.result(agent, &self.config).score, scored.agents.contains_key(agent)))
            .collect();
        let pushed = self.pushed.entry(queue.to_string()).or_default();
        for (agent, score, active) in current {
            let moved = pushed.get(&agent).is_none_or(|old| (score - old).abs() > self.config.change_epsilon);
            if moved {
                self.pending.push_back(ScoreChanged { agent: agent.clone(), queue: queue.to_string(), score });
            }
            if active {
                if moved {
                    pushed.insert(agent, score);
                }
            } else {
                pushed.remove(&agent);
            }
        }
    }

    /// Per queue: min, quartiles and max of the active agents' scores in the window (linear
    /// interpolation between order statistics). Queues without active agents are left out.
    pub fn score_distributions(&self, now_ms: i64, window: Window) -> Vec<ScoreDistribution> {
        let mut out = Vec::new();
        for (queue, ledger) in &self.ledger.queues {
            let (quality, narrow) = self.boards(queue, ledger, window, now_ms);
            let scored = self.scored(queue, narrow.as_ref().unwrap_or(&quality), &quality);
            let mut scores: Vec<f64> = scored.agents.values().map(|r| r.score).collect();
            if scores.is_empty() {
                continue;
            }
            scores.sort_by(f64::total_cmp);
            out.push(ScoreDistribution {
                queue: queue.to_string(),
                window,
                agents: scores.len(),
                min: quantile(&scores, 0.0),
                p25: quantile(&scores, 0.25),
                median: quantile(&scores, 0.5),
                p75: quantile(&scores, 0.75),
                max: quantile(&scores, 1.0),
            });
        }
        out
    }
}

/// The `q` quantile of sorted, non-empty `values` by linear interpolation.
fn quantile(values: &[f64], q: f64) -> f64 {
    let Some(last) = values.len().checked_sub(1) else { return 0.0 };
    let pos = q.clamp(0.0, 1.0) * last as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (Some(a), Some(b)) = (values.get(lo), values.get(hi)) else { return 0.0 };
    a + (b - a) * (pos - lo as f64)
}
