//! Results of a simulated day: per-strategy tallies while the day runs, then the derived figures
//! (service level, answer and abandonment rates, ASA, conversion, CSAT, occupancy deciles, Gini of
//! call share, the floor check against each agent's fair share of the offers made while it was
//! ready, overflows, and the merit run's holdout uplift with 95% CIs) rendered as a side-by-side
//! text table or serialized as JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::config::SimConfig;
use crate::acd::{OfferDecision, PickRule};
use crate::scoring::uplift::{CallOutcome, Difference, Uplift, UpliftTally};

/// Renders one strategy's cell of a table row.
type Cell = Box<dyn Fn(&StrategyReport) -> String>;

/// The comparison of all strategies over the same day.
#[derive(Debug, Clone, Serialize)]
pub struct SimReport {
    pub seed: u64,
    pub hours: f64,
    pub agents: usize,
    pub queues: Vec<String>,
    /// Calls arriving during the day (the same for every strategy).
    pub calls: usize,
    pub strategies: Vec<StrategyReport>,
}

/// One strategy's results.
#[derive(Debug, Clone, Serialize)]
pub struct StrategyReport {
    pub strategy: String,
    pub offered: u64,
    pub answered: u64,
    pub answered_within_sl: u64,
    pub abandoned: u64,
    pub short_abandoned: u64,
    pub timed_out: u64,
    /// Moves of a waiting call to its queue's overflow queue at max wait (a call overflowing twice
    /// counts twice). Not an outcome: the call is then answered, abandoned or timed out.
    pub overflowed: u64,
    /// answered within SL / (offered - abandoned within the short-abandon time).
    pub service_level: f64,
    /// answered / offered.
    pub answer_rate: f64,
    /// abandoned / offered.
    pub abandonment_rate: f64,
    /// Average speed of answer, seconds.
    pub asa_seconds: f64,
    /// Conversions / answered.
    pub conversion_rate: f64,
    /// Mean CSAT of answered calls (1-5).
    pub csat: f64,
    /// Mean occupancy of each tenth of the agents, least occupied first.
    pub occupancy_deciles: Vec<f64>,
    /// Gini coefficient of answered calls across agents (0 = perfectly even).
    pub gini_call_share: f64,
    /// The floor's measure: smallest ratio, over queues and their skilled agents, of the agent's
    /// offers in the queue to its fair share of the offers made while it was ready (an offer made
    /// while `n` skilled agents were ready is worth `1/n` to each). Pairs whose fair share is under
    /// one call are left out (too few to measure).
    pub min_share_vs_ready: f64,
    /// (agent, queue) pairs whose ratio above is under the merit floor share.
    pub pairs_under_floor: u64,
    /// Static view: smallest ratio of an agent's share of a queue's offers to 1 / (agents with the
    /// skill), ignoring that multi-skilled agents are busy in other queues part of the day.
    pub min_share_vs_staffed: f64,
    /// Offers by the rule that chose the agent.
    pub offers_floor_share: u64,
    pub offers_weighted: u64,
    pub offers_over_cap: u64,
    pub offers_holdout: u64,
    pub offers_relaxed: u64,
    #[serde(skip)]
    wait_sum: Duration,
    #[serde(skip)]
    offers: Vec<Vec<u64>>,
    /// Per queue and agent: fair share of the queue's offers while ready.
    #[serde(skip)]
    fair: Vec<Vec<f64>>,
    /// Answered holdout calls against the merit-routed ones (conversion, CSAT, handle time with
    /// 95% CIs, see [`crate::scoring::uplift`]); None when the run had no answered holdout call.
    pub holdout_uplift: Option<Uplift>,
    #[serde(skip)]
    uplift: UpliftTally,
}

impl StrategyReport {
    pub(super) fn empty(strategy: &str, queues: usize, agents: usize) -> Self {
        StrategyReport {
            strategy: strategy.to_string(),
            offered: 0,
            answered: 0,
            answered_within_sl: 0,
            abandoned: 0,
            short_abandoned: 0,
            timed_out: 0,
            overflowed: 0,
            service_level: 0.0,
            answer_rate: 0.0,
            abandonment_rate: 0.0,
            asa_seconds: 0.0,
            conversion_rate: 0.0,
            csat: 0.0,
            occupancy_deciles: Vec::new(),
            gini_call_share: 0.0,
            min_share_vs_ready: 0.0,
            pairs_under_floor: 0,
            min_share_vs_staffed: 0.0,
            offers_floor_share: 0,
            offers_weighted: 0,
            offers_over_cap: 0,
            offers_holdout: 0,
            offers_relaxed: 0,
            wait_sum: Duration::ZERO,
            offers: vec![vec![0; agents]; queues],
            fair: vec![vec![0.0; agents]; queues],
            holdout_uplift: None,
            uplift: UpliftTally::default(),
        }
    }

    /// Adds an answered call's drawn outcome to the holdout or the merit-routed group;
    /// `handle` is talk + wrap-up.
    pub(super) fn record_outcome(&mut self, holdout: bool, converted: bool, csat: f64, handle: Duration) {
        let outcome = CallOutcome { converted, csat: Some(csat), handle_seconds: Some(handle.as_secs_f64()) };
        self.uplift.add(holdout, &outcome);
    }

    /// Credits `1 / ready.len()` of one offer of `queue` to each agent in `ready` (the skilled
    /// agents that were ready when it was made, the chosen one included).
    pub(super) fn record_ready_share(&mut self, queue: usize, ready: &[usize]) {
        let share = 1.0 / ready.len().max(1) as f64;
        if let Some(fair) = self.fair.get_mut(queue) {
            for &a in ready {
                if let Some(slot) = fair.get_mut(a) {
                    *slot += share;
                }
            }
        }
    }

    pub(super) fn record_offer(&mut self, queue: usize, agent: usize, decision: &OfferDecision) {
        if let Some(slot) = self.offers.get_mut(queue).and_then(|q| q.get_mut(agent)) {
            *slot += 1;
        }
        match decision.rule {
            PickRule::FloorShare => self.offers_floor_share += 1,
            PickRule::Weighted => self.offers_weighted += 1,
            PickRule::OverCap => self.offers_over_cap += 1,
            PickRule::LongestIdle | PickRule::BestSkill => {}
        }
        self.offers_holdout += u64::from(decision.holdout);
        self.offers_relaxed += u64::from(decision.relax_step > 0);
    }

    pub(super) fn record_answer(&mut self, _queue: usize, _agent: usize, wait: Duration, within_sl: bool) {
        self.answered += 1;
        self.answered_within_sl += u64::from(within_sl);
        self.wait_sum += wait;
    }

    /// Derives the figures. `tallies` per agent: (answered, conversions, CSAT sum, busy time);
    /// `skilled[q]`: agents with queue q's skill; `agent_queues[a]`: the queues agent a serves.
    pub(super) fn finish(
        &mut self,
        config: &SimConfig,
        tallies: &[(u64, u64, f64, Duration)],
        skilled: &[usize],
        agent_queues: &[Vec<usize>],
    ) {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let offered = self.offered as f64;
        self.service_level = ratio(self.answered_within_sl as f64, (self.offered - self.short_abandoned) as f64);
        self.answer_rate = ratio(self.answered as f64, offered);
        self.abandonment_rate = ratio(self.abandoned as f64, offered);
        self.asa_seconds = ratio(self.wait_sum.as_secs_f64(), self.answered as f64);
        let conversions: u64 = tallies.iter().map(|t| t.1).sum();
        let csat_sum: f64 = tallies.iter().map(|t| t.2).sum();
        self.conversion_rate = ratio(conversions as f64, self.answered as f64);
        self.csat = ratio(csat_sum, self.answered as f64);
        let day = config.hours * 3600.0;
        let mut occupancy: Vec<f64> = tallies.iter().map(|t| (t.3.as_secs_f64() / day).min(1.0)).collect();
        occupancy.sort_by(f64::total_cmp);
        let n = occupancy.len();
        self.occupancy_deciles = (0..10)
            .map(|d| {
                let slice = &occupancy[d * n / 10..((d + 1) * n / 10).max(d * n / 10)];
                ratio(slice.iter().sum(), slice.len() as f64)
            })
            .collect();
        self.gini_call_share = gini(&tallies.iter().map(|t| t.0 as f64).collect::<Vec<_>>());
        let mut min_share = f64::INFINITY;
        for (q, per_agent) in self.offers.iter().enumerate() {
            let total: u64 = per_agent.iter().sum();
            if total == 0 || skilled.get(q).copied().unwrap_or(0) == 0 {
                continue;
            }
            let equal = 1.0 / skilled[q] as f64;
            for (a, &count) in per_agent.iter().enumerate() {
                if agent_queues.get(a).is_some_and(|qs| qs.contains(&q)) {
                    min_share = min_share.min(count as f64 / total as f64 / equal);
                }
            }
        }
        self.min_share_vs_staffed = if min_share.is_finite() { min_share } else { 0.0 };
        let mut min_ready = f64::INFINITY;
        self.pairs_under_floor = 0;
        for (per_agent, fair) in self.offers.iter().zip(&self.fair) {
            for (&count, &fair) in per_agent.iter().zip(fair) {
                if fair >= 1.0 {
                    let ratio = count as f64 / fair;
                    min_ready = min_ready.min(ratio);
                    self.pairs_under_floor += u64::from(ratio < config.merit.floor_share);
                }
            }
        }
        self.min_share_vs_ready = if min_ready.is_finite() { min_ready } else { 0.0 };
        self.holdout_uplift = (self.uplift.holdout.calls > 0).then(|| self.uplift.uplift());
    }
}

/// The uplift rows printed after the table, e.g. `holdout uplift: conversion +1.2 pts [-0.3, +2.7]`.
fn uplift_rows(out: &mut String, strategy: &str, uplift: &Uplift) {
    let (m, h) = (&uplift.merit, &uplift.holdout);
    let _ = writeln!(
        out,
        "holdout uplift: {} run, {} merit-routed vs {} holdout answered calls, merit - holdout [95% CI]",
        strategy, m.calls, h.calls
    );
    let row = |out: &mut String, label: &str, d: &Option<Difference>, scale: f64, unit: &str, digits: usize| {
        let _ = write!(out, "holdout uplift: {label:<12}");
        match d {
            Some(d) => {
                let _ = write!(out, " {:+.digits$}{unit}", d.estimate * scale);
                match d.ci95 {
                    Some(ci) => {
                        let _ = writeln!(out, " [{:+.digits$}, {:+.digits$}]", ci.low * scale, ci.high * scale);
                    }
                    None => out.push_str(" [no CI: under 2 calls in a group]\n"),
                }
            }
            None => out.push_str(" n/a\n"),
        }
    };
    row(out, "conversion", &uplift.conversion, 100.0, " pts", 1);
    row(out, "CSAT", &uplift.csat, 1.0, "", 3);
    row(out, "handle time", &uplift.handle_seconds, 1.0, " s", 1);
}

/// Gini coefficient of non-negative values (0 when all are equal or all zero).
pub fn gini(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let total: f64 = sorted.iter().sum();
    if n == 0.0 || total <= 0.0 {
        return 0.0;
    }
    let weighted: f64 = sorted.iter().enumerate().map(|(i, x)| (i as f64 + 1.0) * x).sum();
    (2.0 * weighted) / (n * total) - (n + 1.0) / n
}

impl SimReport {
    pub(super) fn new(config: &SimConfig, calls: usize, strategies: Vec<StrategyReport>) -> Self {
        SimReport {
            seed: config.seed,
            hours: config.hours,
            agents: config.agents,
            queues: config.queues.iter().map(|q| q.name.clone()).collect(),
            calls,
            strategies,
        }
    }

    /// The report of one strategy by name.
    pub fn strategy(&self, name: &str) -> Option<&StrategyReport> {
        self.strategies.iter().find(|s| s.strategy == name)
    }

    /// The side-by-side text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "simulated day: seed {}, {} h, {} agents, queues {}, {} calls",
            self.seed,
            self.hours,
            self.agents,
            self.queues.join("/"),
            self.calls
        );
        let _ = write!(out, "{:<28}", "metric");
        for s in &self.strategies {
            let _ = write!(out, "{:>16}", s.strategy);
        }
        out.push('\n');
        let pct = |v: f64| format!("{:.1}%", v * 100.0);
        let rows: Vec<(String, Cell)> = vec![
            ("service level".into(), Box::new(move |s| pct(s.service_level))),
            ("answered / offered".into(), Box::new(move |s| pct(s.answer_rate))),
            ("abandoned / offered".into(), Box::new(move |s| pct(s.abandonment_rate))),
            ("timed out (max wait)".into(), Box::new(|s| s.timed_out.to_string())),
            ("overflowed (max wait)".into(), Box::new(|s| s.overflowed.to_string())),
            ("ASA".into(), Box::new(|s| format!("{:.1} s", s.asa_seconds))),
            ("conversion".into(), Box::new(move |s| pct(s.conversion_rate))),
            ("CSAT".into(), Box::new(|s| format!("{:.3}", s.csat))),
            ("gini of call share".into(), Box::new(|s| format!("{:.3}", s.gini_call_share))),
            ("min share / fair while ready".into(), Box::new(|s| format!("{:.2}", s.min_share_vs_ready))),
            ("pairs under the floor".into(), Box::new(|s| s.pairs_under_floor.to_string())),
            ("min share / 1 per skilled".into(), Box::new(|s| format!("{:.2}", s.min_share_vs_staffed))),
            ("offers: floor share".into(), Box::new(|s| s.offers_floor_share.to_string())),
            ("offers: weighted draw".into(), Box::new(|s| s.offers_weighted.to_string())),
            ("offers: over occupancy cap".into(), Box::new(|s| s.offers_over_cap.to_string())),
            ("offers: holdout".into(), Box::new(|s| s.offers_holdout.to_string())),
        ];
        for (label, cell) in &rows {
            let _ = write!(out, "{label:<28}");
            for s in &self.strategies {
                let _ = write!(out, "{:>16}", cell(s));
            }
            out.push('\n');
        }
        for d in 0..10 {
            let _ = write!(out, "{:<28}", format!("occupancy decile {}", d + 1));
            for s in &self.strategies {
                let _ = write!(out, "{:>16}", pct(s.occupancy_deciles.get(d).copied().unwrap_or(0.0)));
            }
            out.push('\n');
        }
        for s in &self.strategies {
            if let Some(uplift) = &s.holdout_uplift {
                uplift_rows(&mut out, &s.strategy, uplift);
            }
        }
        out
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}
