//! Scoring configuration: per-program KPI weights, the shrinkage prior, the survey penalty and the
//! anti-gaming tolerances, plus the reporting windows. Loaded from TOML/JSON with serde; every
//! field has a default so a config only names what it changes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;
/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;

/// A reporting window. `Today` is the UTC calendar day of `now_ms` (from 00:00 UTC to `now_ms`);
/// the others are trailing durations ending at `now_ms` (start exclusive, end inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    Today,
    #[serde(rename = "7d")]
    Last7Days,
    #[serde(rename = "30d")]
    Last30Days,
}

impl Window {
    /// Every window, narrowest first.
    pub const ALL: [Window; 3] = [Window::Today, Window::Last7Days, Window::Last30Days];

    /// The inclusive range of event times `[from, to]` this window covers at `now_ms`.
    pub fn bounds(self, now_ms: i64) -> (i64, i64) {
        let from = match self {
            Window::Today => now_ms.div_euclid(DAY_MS) * DAY_MS,
            Window::Last7Days => now_ms.saturating_sub(7 * DAY_MS).saturating_add(1),
            Window::Last30Days => now_ms.saturating_sub(30 * DAY_MS).saturating_add(1),
        };
        (from, now_ms)
    }
}

/// The weight of each KPI in one program's composite score, and whether that program runs a
/// post-call survey. Weights are relative (they need not sum to 1); a weight of 0 leaves the KPI
/// out. KPIs the queue has no data for in the window are left out too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueWeights {
    pub answer_rate: f64,
    pub aht: f64,
    pub conversion: f64,
    pub revenue_per_call: f64,
    pub csat_mean: f64,
    pub csat_top2: f64,
    pub fcr: f64,
    pub transfer_rate: f64,
    pub survey_avoidance: f64,
    /// The queue sends callers to a survey after the agent leaves: transfers and agent hang-ups
    /// that skip it are survey avoidance and count as penalty CSAT answers.
    pub survey_enabled: bool,
}

impl Default for QueueWeights {
    fn default() -> Self {
        QueueWeights {
            answer_rate: 1.0,
            aht: 1.0,
            conversion: 0.0,
            revenue_per_call: 0.0,
            csat_mean: 1.0,
            csat_top2: 0.0,
            fcr: 1.0,
            transfer_rate: 0.5,
            survey_avoidance: 0.0,
            survey_enabled: false,
        }
    }
}

impl QueueWeights {
    /// The KPI weights in the order of [`super::kpi::KpiScores`]'s fields.
    pub(crate) fn kpi_weights(&self) -> [f64; 9] {
        self.all().map(|(_, w)| w)
    }

    fn all(&self) -> [(&'static str, f64); 9] {
        [
            ("answer_rate", self.answer_rate),
            ("aht", self.aht),
            ("conversion", self.conversion),
            ("revenue_per_call", self.revenue_per_call),
            ("csat_mean", self.csat_mean),
            ("csat_top2", self.csat_top2),
            ("fcr", self.fcr),
            ("transfer_rate", self.transfer_rate),
            ("survey_avoidance", self.survey_avoidance),
        ]
    }
}

/// How much worse than the queue an agent may be on quality before a short handle time stops
/// earning credit (see the module header of [`crate::scoring`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GamingTolerance {
    /// Allowed excess of the agent's repeat-call rate (1 − FCR) over the queue's, absolute.
    pub repeat_rate: f64,
    /// Allowed shortfall of the agent's CSAT mean (1–5 scale) below the queue's.
    pub csat: f64,
}

impl Default for GamingTolerance {
    fn default() -> Self {
        GamingTolerance { repeat_rate: 0.02, csat: 0.1 }
    }
}

/// Everything the scoring consumer is configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringConfig {
    /// Weights per queue (program) name.
    pub queues: HashMap<String, QueueWeights>,
    /// Weights for queues not listed in `queues`.
    pub default: QueueWeights,
    /// Pseudo-observations of the queue mean added to every agent estimate (Bayesian shrinkage).
    pub prior_strength: f64,
    /// The CSAT value (1–5) a skipped survey counts as. Default 1, the worst answer.
    pub survey_penalty: f64,
    /// The survey question whose digit (1–5) is the CSAT answer.
    pub csat_question: String,
    /// The disposition outcome that counts as a sale (compared case-insensitively).
    pub sale_outcome: String,
    /// A handled call is resolved first time when no call from the same ANI reaches the same
    /// queue within this many hours after it ended.
    pub repeat_horizon_hours: u32,
    pub gaming: GamingTolerance,
    /// The window of the scores pushed to the ACD (`scores`, `poll_score_change`).
    pub push_window: Window,
    /// A pushed score is re-sent only when it moved by more than this.
    pub change_epsilon: f64,
    /// A queue's pushed scores are re-evaluated at most once per this much stream time.
    pub push_interval_ms: i64,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        ScoringConfig {
            queues: HashMap::new(),
            default: QueueWeights::default(),
            prior_strength: 20.0,
            survey_penalty: 1.0,
            csat_question: "csat".into(),
            sale_outcome: "sale".into(),
            repeat_horizon_hours: 72,
            gaming: GamingTolerance::default(),
            push_window: Window::Last7Days,
            change_epsilon: 0.005,
            push_interval_ms: 5_000,
        }
    }
}

/// A scoring configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScoringError {
    #[error("scoring: weight {field} of queue {queue:?} must be finite and >= 0, got {value}")]
    BadWeight { queue: String, field: &'static str, value: f64 },
    #[error("scoring: {field} must be finite and within {min}..={max}, got {value}")]
    OutOfRange { field: &'static str, value: f64, min: f64, max: f64 },
}

impl ScoringError {
    /// The HTTP status an API that accepted this configuration should answer with.
    pub fn status_code(&self) -> u16 {
        422
    }
}

impl ScoringConfig {
    /// The weights of `queue` (its own entry, else `default`).
    pub fn weights(&self, queue: &str) -> &QueueWeights {
        self.queues.get(queue).unwrap_or(&self.default)
    }

    /// Whether a disposition outcome counts as a sale, i.e. a conversion: it equals
    /// `sale_outcome`, ignoring ASCII case. The one definition used by the KPIs and the uplift.
    pub fn is_sale(&self, outcome: &str) -> bool {
        outcome.eq_ignore_ascii_case(&self.sale_outcome)
    }

    /// The FCR horizon in milliseconds.
    pub fn repeat_horizon_ms(&self) -> i64 {
        i64::from(self.repeat_horizon_hours) * HOUR_MS
    }

    /// Checks weights and numeric settings.
    pub fn validate(&self) -> Result<(), ScoringError> {
        let named = self.queues.iter().map(|(q, w)| (q.as_str(), w));
        for (queue, weights) in std::iter::once(("<default>", &self.default)).chain(named) {
            for (field, value) in weights.all() {
                if !value.is_finite() || value < 0.0 {
                    return Err(ScoringError::BadWeight { queue: queue.to_string(), field, value });
                }
            }
        }
        let ranges = [
            ("prior_strength", self.prior_strength, 0.0, 1e6),
            ("survey_penalty", self.survey_penalty, 1.0, 5.0),
            ("gaming.repeat_rate", self.gaming.repeat_rate, 0.0, 1.0),
            ("gaming.csat", self.gaming.csat, 0.0, 4.0),
            ("change_epsilon", self.change_epsilon, 0.0, 1.0),
            ("push_interval_ms", self.push_interval_ms as f64, 0.0, DAY_MS as f64),
        ];
        for (field, value, min, max) in ranges {
            if !value.is_finite() || value < min || value > max {
                return Err(ScoringError::OutOfRange { field, value, min, max });
            }
        }
        Ok(())
    }
}
