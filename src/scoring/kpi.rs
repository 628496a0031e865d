//! KPI arithmetic: tallies of one agent's (or one queue's) observations in a window, the raw KPI
//! values, the shrunk estimates (beta-binomial for rates, normal-normal for means, both with the
//! queue mean as prior and `prior_strength` pseudo-observations), their normalisation to [0, 1]
//! (the queue mean maps to 0.5) and the weighted composite score with the anti-gaming cap.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::config::{QueueWeights, ScoringConfig, Window};
use super::ledger::{HandledCall, QueueLedger};

/// Counts and sums of one agent's or one queue's observations in a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Tally {
    pub offers: u64,
    pub answered: u64,
    /// Handled calls whose agent part is over.
    pub handled: u64,
    pub handle_ms: f64,
    pub hold_ms: f64,
    pub sales: u64,
    pub revenue: f64,
    /// CSAT observations: survey answers plus penalties.
    pub csat_n: u64,
    pub csat_sum: f64,
    pub csat_top2: u64,
    pub survey_penalties: u64,
    /// Calls whose repeat horizon has passed (the FCR sample) and those of them not repeated.
    pub fcr_n: u64,
    pub fcr_resolved: u64,
    pub transfers: u64,
    pub survey_avoided: u64,
}

impl Tally {
    pub fn add_offer(&mut self, answered: bool) {
        self.offers += 1;
        if answered {
            self.answered += 1;
        }
    }

    pub fn add_call(&mut self, call: &HandledCall, weights: &QueueWeights, config: &ScoringConfig, now_ms: i64) {
        if !call.finished() {
            return;
        }
        self.handled += 1;
        self.handle_ms += call.handle_ms().unwrap_or(0) as f64;
        self.hold_ms += call.hold_ms as f64;
        if call.sale {
            self.sales += 1;
        }
        self.revenue += call.revenue;
        if call.transferred {
            self.transfers += 1;
        }
        let avoided = weights.survey_enabled && call.avoided_survey();
        if avoided {
            self.survey_avoided += 1;
        }
        if let Some(digit) = call.csat {
            self.add_csat(f64::from(digit));
        } else if avoided {
            self.add_csat(config.survey_penalty);
            self.survey_penalties += 1;
        }
        if now_ms >= call.repeat_anchor().saturating_add(config.repeat_horizon_ms()) {
            self.fcr_n += 1;
            if !call.repeated {
                self.fcr_resolved += 1;
            }
        }
    }

    fn add_csat(&mut self, value: f64) {
        self.csat_n += 1;
        self.csat_sum += value;
        if value >= 4.0 {
            self.csat_top2 += 1;
        }
    }

    fn merge(&mut self, other: &Tally) {
        self.offers += other.offers;
        self.answered += other.answered;
        self.handled += other.handled;
        self.handle_ms += other.handle_ms;
        self.hold_ms += other.hold_ms;
        self.sales += other.sales;
        self.revenue += other.revenue;
        self.csat_n += other.csat_n;
        self.csat_sum += other.csat_sum;
        self.csat_top2 += other.csat_top2;
        self.survey_penalties += other.survey_penalties;
        self.fcr_n += other.fcr_n;
        self.fcr_resolved += other.fcr_resolved;
        self.transfers += other.transfers;
        self.survey_avoided += other.survey_avoided;
    }

    /// The observed KPI values (no shrinkage); `None` where the denominator is zero.
    pub fn values(&self) -> KpiValues {
        let handled = self.handled as f64;
        let per_call = |x: f64| (self.handled > 0).then(|| x / handled);
        KpiValues {
            offers: self.offers,
            handled: self.handled,
            answer_rate: ratio(self.answered, self.offers),
            aht_s: per_call(self.handle_ms / 1000.0),
            hold_s: per_call(self.hold_ms / 1000.0),
            conversion: ratio(self.sales, self.handled),
            revenue_per_call: per_call(self.revenue),
            csat_mean: (self.csat_n > 0).then(|| self.csat_sum / self.csat_n as f64),
            csat_top2: ratio(self.csat_top2, self.csat_n),
            csat_observations: self.csat_n,
            survey_penalties: self.survey_penalties,
            fcr: ratio(self.fcr_resolved, self.fcr_n),
            fcr_sample: self.fcr_n,
            transfer_rate: ratio(self.transfers, self.handled),
            survey_avoidance_rate: ratio(self.survey_avoided, self.handled),
        }
    }
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Observed KPI values of one agent or queue in one window. Rates are fractions in [0, 1];
/// `aht_s` and `hold_s` are seconds per handled call; `csat_mean` is on the 1–5 scale and
/// includes survey penalties; `fcr` covers only calls whose repeat horizon has passed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiValues {
    pub offers: u64,
    pub handled: u64,
    pub answer_rate: Option<f64>,
    pub aht_s: Option<f64>,
    pub hold_s: Option<f64>,
    pub conversion: Option<f64>,
    pub revenue_per_call: Option<f64>,
    pub csat_mean: Option<f64>,
    pub csat_top2: Option<f64>,
    pub csat_observations: u64,
    pub survey_penalties: u64,
    pub fcr: Option<f64>,
    pub fcr_sample: u64,
    pub transfer_rate: Option<f64>,
    pub survey_avoidance_rate: Option<f64>,
}

/// One value per KPI that takes part in the score. Used for normalised scores (in [0, 1], higher
/// is better) and for peer-group percentiles (0–100).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KpiScores {
    pub answer_rate: Option<f64>,
    pub aht: Option<f64>,
    pub conversion: Option<f64>,
    pub revenue_per_call: Option<f64>,
    pub csat_mean: Option<f64>,
    pub csat_top2: Option<f64>,
    pub fcr: Option<f64>,
    pub transfer_rate: Option<f64>,
    pub survey_avoidance: Option<f64>,
}

impl KpiScores {
    pub(crate) fn fields(&self) -> [Option<f64>; 9] {
        [
            self.answer_rate,
            self.aht,
            self.conversion,
            self.revenue_per_call,
            self.csat_mean,
            self.csat_top2,
            self.fcr,
            self.transfer_rate,
            self.survey_avoidance,
        ]
    }

    fn from_fields(f: [Option<f64>; 9]) -> Self {
        let [answer_rate, aht, conversion, revenue_per_call, csat_mean, csat_top2, fcr, transfer_rate, survey_avoidance] =
            f;
        KpiScores {
            answer_rate,
            aht,
            conversion,
            revenue_per_call,
            csat_mean,
            csat_top2,
            fcr,
            transfer_rate,
            survey_avoidance,
        }
    }
}

/// Shrunk estimates of one agent's KPIs (same units as [`KpiValues`]).
#[derive(Debug, Clone, Default, PartialEq)]
struct Estimates {
    answer_rate: Option<f64>,
    aht_s: Option<f64>,
    conversion: Option<f64>,
    revenue_per_call: Option<f64>,
    csat_mean: Option<f64>,
    csat_top2: Option<f64>,
    fcr: Option<f64>,
    transfer_rate: Option<f64>,
    survey_avoidance: Option<f64>,
}

/// `(sum + k * prior) / (n + k)`: the beta-binomial posterior mean for a rate (sum = successes)
/// and the normal-normal posterior mean for a mean (prior variance = observation variance / k).
/// Without a prior (the queue has no data) there is no estimate.
fn shrink(sum: f64, n: u64, prior: Option<f64>, k: f64) -> Option<f64> {
    let prior = prior?;
    let den = n as f64 + k;
    if den <= 0.0 {
        return Some(prior);
    }
    Some((sum + k * prior) / den)
}

fn estimates(agent: &Tally, queue: &KpiValues, k: f64) -> Estimates {
    let handled = agent.handled;
    Estimates {
        answer_rate: shrink(agent.answered as f64, agent.offers, queue.answer_rate, k),
        aht_s: shrink(agent.handle_ms / 1000.0, handled, queue.aht_s, k),
        conversion: shrink(agent.sales as f64, handled, queue.conversion, k),
        revenue_per_call: shrink(agent.revenue, handled, queue.revenue_per_call, k),
        csat_mean: shrink(agent.csat_sum, agent.csat_n, queue.csat_mean, k),
        csat_top2: shrink(agent.csat_top2 as f64, agent.csat_n, queue.csat_top2, k),
        fcr: shrink(agent.fcr_resolved as f64, agent.fcr_n, queue.fcr, k),
        transfer_rate: shrink(agent.transfers as f64, handled, queue.transfer_rate, k),
        survey_avoidance: shrink(agent.survey_avoided as f64, handled, queue.survey_avoidance_rate, k),
    }
}

/// Maps a rate in [0, 1] (higher is better) to [0, 1] piecewise-linearly so that 0 → 0, the
/// queue mean → 0.5 and 1 → 1.
fn relative_rate(x: f64, mean: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    let mean = mean.clamp(0.0, 1.0);
    let s = if x >= mean {
        if mean >= 1.0 {
            0.5
        } else {
            0.5 + 0.5 * (x - mean) / (1.0 - mean)
        }
    } else {
        0.5 * x / mean
    };
    s.clamp(0.0, 1.0)
}

/// Maps an unbounded non-negative quantity to [0, 1] by its ratio to the queue mean: 0 → 0,
/// the mean → 0.5, twice the mean or more → 1 (`lower_is_better` mirrors it).
fn relative_amount(x: f64, mean: f64, lower_is_better: bool) -> Option<f64> {
    if mean <= 0.0 || !mean.is_finite() {
        return None;
    }
    let half_ratio = (x.max(0.0) / mean) / 2.0;
    let s = if lower_is_better { 1.0 - half_ratio } else { half_ratio };
    Some(s.clamp(0.0, 1.0))
}

fn csat_unit(mean: f64) -> f64 {
    ((mean - 1.0) / 4.0).clamp(0.0, 1.0)
}

fn normalise(est: &Estimates, queue: &KpiValues) -> KpiScores {
    let rate = |x: Option<f64>, m: Option<f64>| Some(relative_rate(x?, m?));
    let inverse_rate = |x: Option<f64>, m: Option<f64>| Some(relative_rate(1.0 - x?, 1.0 - m?));
    KpiScores {
        answer_rate: rate(est.answer_rate, queue.answer_rate),
        aht: est.aht_s.zip(queue.aht_s).and_then(|(x, m)| relative_amount(x, m, true)),
        conversion: rate(est.conversion, queue.conversion),
        revenue_per_call: est
            .revenue_per_call
            .zip(queue.revenue_per_call)
            .and_then(|(x, m)| relative_amount(x, m, false)),
        csat_mean: rate(est.csat_mean.map(csat_unit), queue.csat_mean.map(csat_unit)),
        csat_top2: rate(est.csat_top2, queue.csat_top2),
        fcr: rate(est.fcr, queue.fcr),
        transfer_rate: inverse_rate(est.transfer_rate, queue.transfer_rate),
        survey_avoidance: inverse_rate(est.survey_avoidance, queue.survey_avoidance_rate),
    }
}

/// All agents of one queue in one window, tallied.
#[derive(Debug, Clone)]
pub(crate) struct Board {
    pub queue_tally: Tally,
    /// Agents with at least one offer or handled call in the window.
    pub agents: BTreeMap<String, Tally>,
}

impl Board {
    pub fn build(queue: &str, ledger: &QueueLedger, window: Window, now_ms: i64, config: &ScoringConfig) -> Board {
        let (from, to) = window.bounds(now_ms);
        let weights = config.weights(queue);
        // Keyed by the ledger's own strings: no allocation per observation.
        let mut by_agent: HashMap<&str, Tally> = HashMap::new();
        if from <= to {
            let range = (from, i64::MIN)..=(to, i64::MAX);
            for offer in ledger.offers.range(range.clone()).map(|(_, o)| o) {
                by_agent.entry(&*offer.agent).or_default().add_offer(offer.answered);
            }
            for call in ledger.handled.range(range).map(|(_, c)| c) {
                by_agent.entry(&*call.agent).or_default().add_call(call, weights, config, now_ms);
            }
        }
        let agents: BTreeMap<String, Tally> =
            by_agent.into_iter().map(|(agent, tally)| (agent.to_string(), tally)).collect();
        // Summed in agent order so float totals do not depend on hash order.
        let mut queue_tally = Tally::default();
        for tally in agents.values() {
            queue_tally.merge(tally);
        }
        Board { queue_tally, agents }
    }
}

/// One agent's result on a board.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AgentResult {
    pub values: KpiValues,
    /// Normalised per-KPI scores before the anti-gaming cap.
    pub kpi_scores: KpiScores,
    pub score: f64,
    pub aht_credit_capped: bool,
}

/// A scored board: the queue's values and every active agent's result.
#[derive(Debug, Clone)]
pub(crate) struct Scored<'a> {
    pub queue_values: KpiValues,
    pub agents: BTreeMap<String, AgentResult>,
    quality: QualityBaseline<'a>,
    weights: &'a QueueWeights,
    prior_strength: f64,
}

/// What the anti-gaming gate compares an agent with: the queue's 30-day tallies.
#[derive(Debug, Clone)]
struct QualityBaseline<'a> {
    queue: KpiValues,
    agents: &'a BTreeMap<String, Tally>,
}

impl<'a> Scored<'a> {
    /// Scores `board`; `quality` is the same queue's 30-day board (the anti-gaming baseline).
    pub fn new(board: &Board, quality: &'a Board, weights: &'a QueueWeights, config: &ScoringConfig) -> Scored<'a> {
        let quality = QualityBaseline { queue: quality.queue_tally.values(), agents: &quality.agents };
        let mut scored = Scored {
            queue_values: board.queue_tally.values(),
            agents: BTreeMap::new(),
            quality,
            weights,
            prior_strength: config.prior_strength,
        };
        for (agent, tally) in &board.agents {
            let result = scored.evaluate(agent, tally, config);
            scored.agents.insert(agent.clone(), result);
        }
        scored
    }

    /// The result of `agent`; an agent without observations gets the queue-mean result.
    pub fn result(&self, agent: &str, config: &ScoringConfig) -> AgentResult {
        match self.agents.get(agent) {
            Some(r) => r.clone(),
            None => self.evaluate(agent, &Tally::default(), config),
        }
    }

    fn evaluate(&self, agent: &str, tally: &Tally, config: &ScoringConfig) -> AgentResult {
        let k = self.prior_strength;
        let est = estimates(tally, &self.queue_values, k);
        let kpi_scores = normalise(&est, &self.queue_values);
        let mut capped = kpi_scores.clone();
        let mut aht_credit_capped = false;
        if kpi_scores.aht.is_some_and(|s| s > 0.5) && !self.quality_gate_passes(agent, config) {
            capped.aht = Some(0.5);
            aht_credit_capped = true;
        }
        let score = composite(&capped, self.weights);
        AgentResult { values: tally.values(), kpi_scores, score, aht_credit_capped }
    }

    /// Short handle time earns credit only when the agent's shrunk 30-day repeat-call rate and
    /// CSAT are no worse than the queue's, within the configured tolerances. A side without data
    /// in the queue cannot fail.
    fn quality_gate_passes(&self, agent: &str, config: &ScoringConfig) -> bool {
        let empty = Tally::default();
        let tally = self.quality.agents.get(agent).unwrap_or(&empty);
        let queue = &self.quality.queue;
        let est = estimates(tally, queue, self.prior_strength);
        const SLACK: f64 = 1e-9;
        let repeat_ok = match (est.fcr, queue.fcr) {
            (Some(a), Some(q)) => (1.0 - a) <= (1.0 - q) + config.gaming.repeat_rate + SLACK,
            _ => true,
        };
        let csat_ok = match (est.csat_mean, queue.csat_mean) {
            (Some(a), Some(q)) => a + config.gaming.csat + SLACK >= q,
            _ => true,
        };
        repeat_ok && csat_ok
    }

    /// Peer-group percentile (0–100, higher is better) of `agent` for each KPI among the queue's
    /// active agents in the window, by mid-rank of the normalised shrunk KPI scores.
    pub fn percentiles(&self, agent: &str, config: &ScoringConfig) -> KpiScores {
        let own = self.result(agent, config).kpi_scores.fields();
        let peers: Vec<[Option<f64>; 9]> =
            self.agents.iter().filter(|(a, _)| a.as_str() != agent).map(|(_, r)| r.kpi_scores.fields()).collect();
        let mut out = [None; 9];
        for (i, slot) in out.iter_mut().enumerate() {
            let Some(Some(mine)) = own.get(i).copied() else { continue };
            let others: Vec<f64> = peers.iter().filter_map(|p| p.get(i).copied().flatten()).collect();
            if others.is_empty() {
                *slot = Some(50.0);
                continue;
            }
            let below = others.iter().filter(|v| **v < mine - 1e-12).count() as f64;
            let ties = others.iter().filter(|v| (**v - mine).abs() <= 1e-12).count() as f64;
            *slot = Some(100.0 * (below + 0.5 * ties) / others.len() as f64);
        }
        KpiScores::from_fields(out)
    }
}

/// Weighted mean of the available normalised KPI scores; 0.5 (the queue mean) when none is.
fn composite(scores: &KpiScores, weights: &QueueWeights) -> f64 {
    let mut num = 0.0;
    let mut den = 0.0;
    for (score, weight) in scores.fields().into_iter().zip(weights.kpi_weights()) {
        if let (Some(s), true) = (score, weight > 0.0) {
            num += weight * s;
            den += weight;
        }
    }
    if den > 0.0 {
        (num / den).clamp(0.0, 1.0)
    } else {
        0.5
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn relative_rate_maps_mean_to_half_and_keeps_bounds() {
        assert_eq!(relative_rate(0.8, 0.8), 0.5);
        assert_eq!(relative_rate(1.0, 0.8), 1.0);
        assert_eq!(relative_rate(0.0, 0.8), 0.0);
        assert!((relative_rate(0.9, 0.8) - 0.75).abs() < 1e-9);
        assert!((relative_rate(0.4, 0.8) - 0.25).abs() < 1e-9);
        assert_eq!(relative_rate(1.0, 1.0), 0.5);
        assert_eq!(relative_rate(0.0, 0.0), 0.5);
    }

    #[test]
    fn aht_normalises_by_ratio_to_the_queue_mean_lower_is_better() {
        assert_eq!(relative_amount(300.0, 300.0, true), Some(0.5));
        assert_eq!(relative_amount(150.0, 300.0, true), Some(0.75));
        assert_eq!(relative_amount(900.0, 300.0, true), Some(0.0));
        assert_eq!(relative_amount(0.0, 300.0, true), Some(1.0));
        assert_eq!(relative_amount(10.0, 0.0, true), None);
    }

    #[test]
    fn shrinkage_pulls_small_samples_to_the_prior() {
        assert_eq!(shrink(3.0, 3, Some(0.8), 20.0), Some((3.0 + 16.0) / 23.0));
        assert_eq!(shrink(0.0, 0, Some(0.8), 20.0), Some(0.8));
        assert_eq!(shrink(0.0, 0, Some(0.8), 0.0), Some(0.8));
        assert_eq!(shrink(1.0, 1, None, 20.0), None);
    }
}
