//! The simulator's configuration: a TOML document (serde, unknown fields refused) with built-in
//! defaults for every field, so `meritline simulate` runs a realistic day (200 agents, 3 queues,
//! 8 hours) without a file. Validation turns nonsense (no queues, negative rates) into `SimError`.

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use crate::config::MeritConfig;

/// Errors of loading or validating a simulation configuration.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid simulation config: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("invalid simulation config: {0}")]
    Invalid(String),
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

impl SimError {
    /// Process exit code for the CLI: 2 for configuration problems, 1 for IO on output.
    pub fn exit_code(&self) -> u8 {
        match self {
            SimError::Write { .. } => 1,
            _ => 2,
        }
    }
}

/// One simulated day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Seed of every random draw (traffic, agents, outcomes, routing).
    pub seed: u64,
    /// Length of the day in hours.
    pub hours: f64,
    /// Number of agents, all logged in for the whole day.
    pub agents: usize,
    /// Probability that an agent has each queue's skill (every agent gets at least one).
    pub skill_probability: f64,
    /// Seconds an offered agent's phone rings before it answers.
    pub ring_seconds: f64,
    /// Wrap-up after every call, seconds.
    pub wrapup_seconds: f64,
    /// Abandons within this many seconds are left out of the service-level denominator.
    pub short_abandon_seconds: f64,
    /// Pseudo-calls of prior in the Bayesian-shrunk score estimate.
    pub score_prior_calls: f64,
    /// Time constant of the ACD's rolling occupancy, minutes.
    pub occupancy_window_minutes: f64,
    /// Fraction of the merit-weighted run's calls routed longest-idle as a control group (the
    /// switch's per-queue `holdout`).
    pub holdout: f64,
    /// The merit-weighted strategy under test: the switch's own `[queues.merit]` section, with the
    /// switch's defaults.
    pub merit: MeritConfig,
    pub agent_model: AgentModel,
    pub queues: Vec<SimQueue>,
}

/// How the hidden agent qualities are drawn. Each agent has a hidden quality q in [0, 1]; its
/// conversion probability and mean CSAT grow with q (CSAT partly independently), its skill level
/// is roughly 1 + 4q, and its handle time is independent of q.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentModel {
    pub conversion_min: f64,
    pub conversion_max: f64,
    pub csat_mean_min: f64,
    pub csat_mean_max: f64,
    /// Standard deviation of a single call's CSAT around the agent's mean (then clamped to 1-5).
    pub csat_sd: f64,
    /// Agents' mean talk times are drawn uniformly in this range; each call's is exponential.
    pub talk_mean_min_seconds: f64,
    pub talk_mean_max_seconds: f64,
}

/// One queue's traffic and policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimQueue {
    pub name: String,
    /// The skill the queue requires (agents have it at levels 1-5).
    pub skill: String,
    /// Mean arrivals per hour; multiplied by `curve`.
    pub calls_per_hour: f64,
    /// Daily arrival curve: relative rates of equal slices of the day (linearly interpolated).
    pub curve: Vec<f64>,
    pub priority: u8,
    pub sl_threshold_seconds: f64,
    pub sl_target: f64,
    /// 0 = no limit.
    pub max_wait_seconds: f64,
    /// Queue a call moves to when it reaches max wait.
    pub overflow: Option<String>,
    /// Mean caller patience (exponential), seconds.
    pub patience_mean_seconds: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        let queue = |name: &str, rate: f64, priority: u8| SimQueue {
            name: name.to_string(),
            skill: name.to_string(),
            calls_per_hour: rate,
            priority,
            ..SimQueue::default()
        };
        SimConfig {
            seed: 1,
            hours: 8.0,
            agents: 200,
            skill_probability: 0.6,
            ring_seconds: 3.0,
            wrapup_seconds: 30.0,
            short_abandon_seconds: 5.0,
            score_prior_calls: 10.0,
            occupancy_window_minutes: 30.0,
            holdout: 0.05,
            merit: MeritConfig::default(),
            agent_model: AgentModel::default(),
            queues: vec![queue("sales", 900.0, 1), queue("service", 700.0, 0), queue("retention", 300.0, 2)],
        }
    }
}

impl Default for AgentModel {
    fn default() -> Self {
        AgentModel {
            conversion_min: 0.05,
            conversion_max: 0.35,
            csat_mean_min: 3.0,
            csat_mean_max: 4.8,
            csat_sd: 0.8,
            talk_mean_min_seconds: 240.0,
            talk_mean_max_seconds: 360.0,
        }
    }
}

impl Default for SimQueue {
    fn default() -> Self {
        SimQueue {
            name: "queue".to_string(),
            skill: "queue".to_string(),
            calls_per_hour: 500.0,
            curve: vec![0.6, 0.9, 1.2, 1.3, 1.0, 1.1, 1.2, 0.7],
            priority: 0,
            sl_threshold_seconds: 20.0,
            sl_target: 0.8,
            max_wait_seconds: 600.0,
            overflow: None,
            patience_mean_seconds: 120.0,
        }
    }
}

impl SimConfig {
    /// Reads and validates a TOML file; `None` gives the built-in defaults.
    pub fn load(path: Option<&Path>) -> Result<SimConfig, SimError> {
        let config = match path {
            None => SimConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| SimError::Read { path: path.display().to_string(), source })?;
                toml::from_str(&text)?
            }
        };
        config.validate()?;
        Ok(config)
    }

    /// Refuses configurations the simulator cannot run meaningfully.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |msg: String| Err(SimError::Invalid(msg));
        if self.queues.is_empty() {
            return bad("at least one queue is needed".into());
        }
        if self.agents == 0 {
            return bad("at least one agent is needed".into());
        }
        if !(self.hours > 0.0 && self.hours <= 48.0) {
            return bad(format!("hours must be in (0, 48], got {}", self.hours));
        }
        if !(0.0..=1.0).contains(&self.skill_probability) {
            return bad("skill_probability must be in 0..=1".into());
        }
        let nonneg = [
            ("ring_seconds", self.ring_seconds),
            ("wrapup_seconds", self.wrapup_seconds),
            ("short_abandon_seconds", self.short_abandon_seconds),
            ("score_prior_calls", self.score_prior_calls),
        ];
        for (name, value) in nonneg {
            if !(value >= 0.0 && value.is_finite()) {
                return bad(format!("{name} must be >= 0"));
            }
        }
        if !positive(self.occupancy_window_minutes) {
            return bad("occupancy_window_minutes must be > 0".into());
        }
        if let Some((field, problem)) = self.merit.problems().first() {
            return bad(format!("merit.{field} {problem}"));
        }
        if !(0.0..=1.0).contains(&self.holdout) {
            return bad("holdout must be in 0..=1".into());
        }
        let a = &self.agent_model;
        let ranges = [
            ("conversion", a.conversion_min, a.conversion_max, 0.0, 1.0),
            ("csat_mean", a.csat_mean_min, a.csat_mean_max, 1.0, 5.0),
            ("talk_mean_seconds", a.talk_mean_min_seconds, a.talk_mean_max_seconds, 1.0, 36_000.0),
        ];
        for (name, lo, hi, min, max) in ranges {
            if !(lo >= min && hi <= max && lo <= hi) {
                return bad(format!("agent_model: {name} range must satisfy {min} <= min <= max <= {max}"));
            }
        }
        if !non_negative(a.csat_sd) {
            return bad("agent_model: csat_sd must be >= 0".into());
        }
        for (i, q) in self.queues.iter().enumerate() {
            if self.queues[..i].iter().any(|o| o.name == q.name) {
                return bad(format!("queue {} defined twice", q.name));
            }
            if !(q.calls_per_hour >= 0.0 && q.calls_per_hour.is_finite()) {
                return bad(format!("queue {}: calls_per_hour must be >= 0", q.name));
            }
            if q.curve.is_empty() || q.curve.iter().any(|c| !(*c >= 0.0 && c.is_finite())) {
                return bad(format!("queue {}: curve needs at least one value, all >= 0", q.name));
            }
            if !positive(q.sl_threshold_seconds)
                || !positive(q.patience_mean_seconds)
                || !non_negative(q.max_wait_seconds)
            {
                return bad(format!("queue {}: sl threshold and patience must be > 0, max wait >= 0", q.name));
            }
            if let Some(target) = &q.overflow {
                if !self.queues.iter().any(|o| &o.name == target) || target == &q.name {
                    return bad(format!("queue {}: overflow {target} is not another queue", q.name));
                }
            }
        }
        Ok(())
    }
}

fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

fn non_negative(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}
