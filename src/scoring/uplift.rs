//! Holdout uplift: how much better merit-routed calls do than the queue's holdout (control) calls,
//! which the ACD routes longest-idle by a seeded random draw. Pure arithmetic over per-call
//! outcomes, shared by the API (`GET /api/queues/{name}/uplift`, over call detail records) and the
//! simulator's report.
//!
//! For each group (merit-routed, holdout) of answered calls: the number of calls, the conversion
//! rate, the mean CSAT of the calls that have a CSAT answer and the mean handle time (talk +
//! wrap-up seconds) of the calls that have one. For each of the three, the difference
//! merit − holdout with a two-sided 95% confidence interval:
//!
//! - **Conversion** (difference of two independent proportions): Newcombe's hybrid score interval
//!   (Newcombe 1998, "method 10"). With `p₁ = x₁/n₁` (merit), `p₂ = x₂/n₂` (holdout) and Wilson
//!   score intervals `[l₁, u₁]`, `[l₂, u₂]` for each rate,
//!   `d = p₁ − p₂`, low `= d − √((p₁ − l₁)² + (u₂ − p₂)²)`, high `= d + √((u₁ − p₁)² + (p₂ − l₂)²)`.
//!   Like the Wald interval `d ± z·√(p₁q₁/n₁ + p₂q₂/n₂)` it rests on the normal approximation,
//!   but it stays inside [−1, 1] and does not collapse to a single point when a rate is 0 or 1.
//! - **CSAT and handle time** (difference of two independent means): Welch's unpooled standard
//!   error with the normal quantile, `d ± z·√(s₁²/n₁ + s₂²/n₂)` with `s²` the sample variances
//!   (divisor `n − 1`). With small groups (tens of calls) the Student-t quantile would be wider;
//!   the normal one is used throughout for simplicity.
//!
//! `z = 1.959964` (the 97.5% standard normal quantile). A difference is absent when either group
//! has no observation; its interval is absent when either group has fewer than two. The
//! intervals assume the calls are independent, which the random holdout assignment makes
//! reasonable between groups; calls answered by the same agent are not independent, so the
//! intervals are somewhat optimistic when few agents take many calls.
//!
//! **Interference.** Holdout calls share the agents with merit-routed calls: longest idle among
//! the agents merit routing leaves idle favours the weaker ones, so the holdout group does worse
//! than a queue routed entirely longest-idle would, and the in-queue difference overstates the
//! uplift over longest-idle routing. The simulator reports both (its runs per strategy, and this
//! uplift within the merit run); on its default day (`meritline simulate --seed 1`) conversion
//! is under one point better between the runs but several points better against the holdout.

use serde::Serialize;

/// The 97.5% quantile of the standard normal distribution (two-sided 95%).
pub const Z_95: f64 = 1.959_963_984_540_054;

/// Fewest observations per group for a confidence interval.
pub const MIN_SAMPLES_FOR_CI: u64 = 2;

/// Running count, mean and sum of squared deviations (Welford), so samples need not be kept.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MeanTally {
    n: u64,
    mean: f64,
    m2: f64,
}

impl MeanTally {
    /// Adds one observation; non-finite values are ignored.
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    pub fn n(&self) -> u64 {
        self.n
    }

    /// The sample mean; None without observations.
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then_some(self.mean)
    }

    /// The sample variance (divisor n − 1); None with fewer than two observations.
    pub fn variance(&self) -> Option<f64> {
        (self.n >= 2).then(|| self.m2.max(0.0) / (self.n - 1) as f64)
    }
}

/// One answered call's outcome as the uplift sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallOutcome {
    /// The call's disposition counts as a sale.
    pub converted: bool,
    /// The caller's CSAT answer, if any.
    pub csat: Option<f64>,
    /// Talk + wrap-up seconds, if known.
    pub handle_seconds: Option<f64>,
}

/// The tallies of one group.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GroupTally {
    pub calls: u64,
    pub conversions: u64,
    pub csat: MeanTally,
    pub handle_seconds: MeanTally,
}

impl GroupTally {
    pub fn add(&mut self, outcome: &CallOutcome) {
        self.calls += 1;
        self.conversions += u64::from(outcome.converted);
        if let Some(csat) = outcome.csat {
            self.csat.add(csat);
        }
        if let Some(handle) = outcome.handle_seconds {
            self.handle_seconds.add(handle);
        }
    }

    /// The group's figures.
    pub fn figures(&self) -> GroupFigures {
        GroupFigures {
            calls: self.calls,
            conversions: self.conversions,
            conversion_rate: (self.calls > 0).then(|| self.conversions as f64 / self.calls as f64),
            csat_calls: self.csat.n(),
            csat_mean: self.csat.mean(),
            handle_calls: self.handle_seconds.n(),
            handle_seconds_mean: self.handle_seconds.mean(),
        }
    }
}

/// Both groups' tallies; feed every answered call with [`UpliftTally::add`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UpliftTally {
    pub merit: GroupTally,
    pub holdout: GroupTally,
}

impl UpliftTally {
    /// Adds an answered call to the holdout group (`holdout`) or the merit-routed group.
    pub fn add(&mut self, holdout: bool, outcome: &CallOutcome) {
        if holdout {
            self.holdout.add(outcome);
        } else {
            self.merit.add(outcome);
        }
    }

    /// The figures and the three differences with their intervals.
    pub fn uplift(&self) -> Uplift {
        let (m, h) = (&self.merit, &self.holdout);
        Uplift {
            merit: m.figures(),
            holdout: h.figures(),
            conversion: proportion_difference(m.conversions, m.calls, h.conversions, h.calls),
            csat: mean_difference(&m.csat, &h.csat),
            handle_seconds: mean_difference(&m.handle_seconds, &h.handle_seconds),
        }
    }
}

/// One group's figures. Rates are fractions in [0, 1]; CSAT is on the 1–5 scale.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupFigures {
    /// Answered calls in the group.
    pub calls: u64,
    /// Of them, converted (disposition counted as a sale).
    pub conversions: u64,
    pub conversion_rate: Option<f64>,
    /// Calls with a CSAT answer, and their mean.
    pub csat_calls: u64,
    pub csat_mean: Option<f64>,
    /// Calls with a known handle time, and its mean (talk + wrap-up seconds).
    pub handle_calls: u64,
    pub handle_seconds_mean: Option<f64>,
}

/// A two-sided 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// How a [`Difference`]'s interval was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CiMethod {
    /// Newcombe's hybrid score interval for a difference of proportions.
    NewcombeHybridScore,
    /// Welch's unpooled standard error with the normal quantile, for a difference of means.
    WelchNormal,
}

/// merit − holdout, with its 95% interval (absent when a group has fewer than two observations).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Difference {
    pub estimate: f64,
    pub ci95: Option<Interval>,
    pub method: CiMethod,
}

/// The uplift of merit routing over the holdout. A difference is None when a group has no
/// observation of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Uplift {
    pub merit: GroupFigures,
    pub holdout: GroupFigures,
    /// Conversion rate difference, as a fraction (0.012 = +1.2 points).
    pub conversion: Option<Difference>,
    /// Mean CSAT difference, in CSAT points.
    pub csat: Option<Difference>,
    /// Mean handle time difference, in seconds (negative = merit calls are shorter).
    pub handle_seconds: Option<Difference>,
}

/// The Wilson score interval of `x` successes in `n` trials (`n > 0`).
fn wilson(x: u64, n: u64) -> Interval {
    let n = n as f64;
    let p = x as f64 / n;
    let z2 = Z_95 * Z_95;
    let centre = p + z2 / (2.0 * n);
    let half = Z_95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).max(0.0).sqrt();
    let denominator = 1.0 + z2 / n;
    Interval { low: (centre - half) / denominator, high: (centre + half) / denominator }
}

/// `x1/n1 − x2/n2` with Newcombe's hybrid score interval (see the module docs).
pub fn proportion_difference(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<Difference> {
    if n1 == 0 || n2 == 0 || x1 > n1 || x2 > n2 {
        return None;
    }
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let estimate = p1 - p2;
    let ci95 = (n1 >= MIN_SAMPLES_FOR_CI && n2 >= MIN_SAMPLES_FOR_CI).then(|| {
        let (w1, w2) = (wilson(x1, n1), wilson(x2, n2));
        Interval {
            low: estimate - ((p1 - w1.low).powi(2) + (w2.high - p2).powi(2)).sqrt(),
            high: estimate + ((w1.high - p1).powi(2) + (p2 - w2.low).powi(2)).sqrt(),
        }
    });
    Some(Difference { estimate, ci95, method: CiMethod::NewcombeHybridScore })
}

/// `mean(a) − mean(b)` with Welch's normal-approximation interval (see the module docs).
pub fn mean_difference(a: &MeanTally, b: &MeanTally) -> Option<Difference> {
    let estimate = a.mean()? - b.mean()?;
    let ci95 = match (a.variance(), b.variance()) {
        (Some(va), Some(vb)) => {
            let se = (va / a.n() as f64 + vb / b.n() as f64).sqrt();
            Some(Interval { low: estimate - Z_95 * se, high: estimate + Z_95 * se })
        }
        _ => None,
    };
    Some(Difference { estimate, ci95, method: CiMethod::WelchNormal })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, tolerance: f64) {
        assert!((got - want).abs() <= tolerance, "got {got}, want {want}");
    }

    fn tally(values: &[f64]) -> MeanTally {
        let mut t = MeanTally::default();
        values.iter().for_each(|&v| t.add(v));
        t
    }

    #[test]
    fn newcombe_matches_the_published_examples() {
        // Newcombe (1998), Statistics in Medicine 17:873-890, table II, method 10.
        let cases = [
            ((56, 70, 48, 80), 0.2, (0.0524, 0.3339)),
            ((9, 10, 3, 10), 0.6, (0.1705, 0.8090)),
            ((5, 56, 0, 29), 0.0893, (-0.0381, 0.1926)),
        ];
        for ((x1, n1, x2, n2), estimate, (low, high)) in cases {
            let d = proportion_difference(x1, n1, x2, n2).unwrap();
            assert_eq!(d.method, CiMethod::NewcombeHybridScore);
            close(d.estimate, estimate, 5e-5);
            let ci = d.ci95.unwrap();
            close(ci.low, low, 5e-5);
            close(ci.high, high, 5e-5);
        }
    }

    #[test]
    fn newcombe_does_not_collapse_at_zero_and_one() {
        // Wald would give [0, 0] for 0/10 vs 0/20; the score interval does not.
        let ci = proportion_difference(0, 10, 0, 20).unwrap().ci95.unwrap();
        close(ci.low, -0.161_125, 1e-6);
        close(ci.high, 0.277_533, 1e-6);
        let all = proportion_difference(10, 10, 10, 10).unwrap();
        assert_eq!(all.estimate, 0.0);
        let ci = all.ci95.unwrap();
        close(ci.low, -0.277_533, 1e-6);
        close(ci.high, 0.277_533, 1e-6);
    }

    #[test]
    fn welch_by_hand() {
        // a: mean 4.25, s² = 2.75 / 3; b: mean 3, s² = 1. SE = √(0.229167 + 0.333333) = 0.75.
        let d = mean_difference(&tally(&[4.0, 5.0, 3.0, 5.0]), &tally(&[2.0, 3.0, 4.0])).unwrap();
        assert_eq!(d.method, CiMethod::WelchNormal);
        close(d.estimate, 1.25, 1e-12);
        let ci = d.ci95.unwrap();
        close(ci.low, 1.25 - 1.959_964 * 0.75, 1e-6);
        close(ci.high, 1.25 + 1.959_964 * 0.75, 1e-6);
    }

    #[test]
    fn welford_variance_matches_two_pass() {
        let t = tally(&[100.0, 130.0, 95.0, 400.0, 210.0]);
        // mean 187, deviations −87, −57, −92, 213, 23: squares sum 65,180, / 4 = 16,295.
        close(t.mean().unwrap(), 187.0, 1e-9);
        close(t.variance().unwrap(), 16_295.0, 1e-6);
        let mut with_nan = t;
        with_nan.add(f64::NAN);
        assert_eq!(with_nan, t);
    }

    #[test]
    fn small_groups_have_no_interval_and_empty_groups_no_difference() {
        assert!(proportion_difference(0, 0, 1, 5).is_none());
        assert!(proportion_difference(3, 2, 1, 5).is_none(), "more successes than trials");
        let one = proportion_difference(1, 1, 1, 5).unwrap();
        assert_eq!(one.estimate, 0.8);
        assert!(one.ci95.is_none());
        let single = mean_difference(&tally(&[4.0]), &tally(&[3.0, 5.0])).unwrap();
        assert_eq!(single.estimate, 0.0);
        assert!(single.ci95.is_none());
        assert!(mean_difference(&tally(&[]), &tally(&[3.0, 5.0])).is_none());
    }

    #[test]
    fn tally_splits_groups_and_counts_only_present_observations() {
        let mut u = UpliftTally::default();
        let call = |converted, csat, handle| CallOutcome { converted, csat, handle_seconds: handle };
        u.add(false, &call(true, Some(5.0), Some(200.0)));
        u.add(false, &call(false, None, Some(100.0)));
        u.add(false, &call(true, Some(4.0), None));
        u.add(true, &call(false, Some(3.0), Some(300.0)));
        u.add(true, &call(false, Some(2.0), Some(260.0)));
        let up = u.uplift();
        assert_eq!(
            up.merit,
            GroupFigures {
                calls: 3,
                conversions: 2,
                conversion_rate: Some(2.0 / 3.0),
                csat_calls: 2,
                csat_mean: Some(4.5),
                handle_calls: 2,
                handle_seconds_mean: Some(150.0),
            }
        );
        assert_eq!(up.holdout.calls, 2);
        assert_eq!(up.holdout.conversion_rate, Some(0.0));
        close(up.conversion.unwrap().estimate, 2.0 / 3.0, 1e-12);
        // CSAT: 4.5 − 2.5, s² = 0.5 and 0.5: SE = √(0.25 + 0.25).
        let csat = up.csat.unwrap();
        close(csat.estimate, 2.0, 1e-12);
        close(csat.ci95.unwrap().low, 2.0 - Z_95 * 0.5_f64.sqrt(), 1e-12);
        // Handle: 150 − 280, s² = 5,000 and 800: SE = √(2,500 + 400) = 53.85.
        let handle = up.handle_seconds.unwrap();
        close(handle.estimate, -130.0, 1e-9);
        close(handle.ci95.unwrap().high, -130.0 + Z_95 * 2_900.0_f64.sqrt(), 1e-9);
        let json = serde_json::to_value(&up).unwrap();
        assert_eq!(json["conversion"]["method"], "newcombe_hybrid_score");
        assert_eq!(json["csat"]["method"], "welch_normal");
        assert_eq!(UpliftTally::default().uplift().conversion, None);
    }
}
