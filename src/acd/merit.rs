//! The merit draw: how a merit-weighted queue picks among its available eligible agents. In order:
//! the floor rule (the agent furthest below its floor share of the offers made while it was ready,
//! booked in the queue's [`FloorLedger`]), else the weighted draw — an exponential race where an
//! agent wins with probability proportional to `exp(score / temperature)` — among agents under the
//! occupancy cap, else the same draw among the capped agents. Scores ramp from [`NEUTRAL_SCORE`]
//! over an agent's first answered calls. This file owns the decisions and the books; the ordered
//! indexes they are read from (race, floor order, score ranks) live beside it in `merit_index.rs`.

use std::time::{Duration, Instant};

use rand::Rng;

use super::dispatch::Choice;
use super::engine::{Acd, AgentQueueStats, Queue};
use super::merit_index::{MeritPool, MeritSlot};
use super::types::{AcdError, PickRule, Strategy};

/// Score of an agent in a queue before `set_agent_score` (and the start of its ramp).
pub const NEUTRAL_SCORE: f64 = 0.5;
/// Default length of the rolling occupancy window (time constant of its exponential average).
pub const DEFAULT_OCCUPANCY_WINDOW: Duration = Duration::from_secs(1800);
/// When `FloorLedger::scale` passes this, every stored amount is divided by it.
pub(super) const FLOOR_RESCALE_AT: f64 = 1e100;
/// An agent is below its floor when it is short by more than this fraction of one offer (so
/// rounding in the decayed books never makes an agent that is exactly at its floor look short).
pub(super) const FLOOR_EPSILON: f64 = 1e-9;

/// The floor-share books of a merit queue. The floor compares each agent's offers with its fair
/// share of the offers made *while it was ready*: an offer among `n` available eligible agents is
/// worth `1/n` to each of them. That makes the floor hold for agents who also serve other queues
/// (their busy time elsewhere earns no share here) without scanning agents: per ring, `credit`
/// accumulates `1/n` of every offer that reached that ring, and an agent settles the difference
/// when it leaves the pool. Both counts decay by `1 - 1/floor_window` per offer, stored multiplied
/// by `scale` (which grows instead) so nothing is rewritten per offer.
#[derive(Debug, Clone)]
pub(super) struct FloorLedger {
    /// Per-offer growth of `scale`: `1 / (1 - 1/floor_window)`.
    pub(super) growth: f64,
    pub(super) scale: f64,
    /// Per ring: the summed fair share of an agent available in that ring since the start.
    pub(super) credit: Vec<f64>,
}

impl Acd {
    /// Sets the time constant of the rolling occupancy average used by occupancy caps.
    pub fn set_occupancy_window(&mut self, window: Duration) {
        self.occupancy_window = window.max(Duration::from_secs(1));
        // Available agents' cap times depend on the window: re-file them.
        for a in 0..self.agents.len() {
            let p = self.agents[a].profile;
            for i in 0..self.profiles[p].memberships.len() {
                let q = self.profiles[p].memberships[i].queue;
                self.merit_refile(q, a);
            }
        }
    }

    /// Sets the agent's performance score for the queue (higher is better; typically 0..=1). The
    /// merit-weighted strategy weighs agents by `exp(score / temperature)`, ramped from
    /// [`NEUTRAL_SCORE`] over the agent's first `ramp_calls` answered calls in the queue.
    pub fn set_agent_score(&mut self, agent: &str, queue: &str, score: f64) -> Result<(), AcdError> {
        let a = self.agent_index(agent)?;
        let q = self.queue_index(queue)?;
        if !score.is_finite() {
            return Err(AcdError::InvalidConfig(format!("score {score} for {agent} is not finite")));
        }
        self.queues[q].agent_stats.entry(a).or_default().score = Some(score);
        // An available agent is re-filed under its new score.
        self.merit_refile(q, a);
        Ok(())
    }

    pub(super) fn effective_score(&self, q: usize, a: usize) -> f64 {
        let queue = &self.queues[q];
        let stats = queue.agent_stats.get(&a).copied().unwrap_or_default();
        match queue.strategy {
            Strategy::MeritWeighted { ramp_calls, .. } => ramped(stats, ramp_calls),
            _ => stats.score.unwrap_or(NEUTRAL_SCORE),
        }
    }

    /// The merit-weighted pick among the available agents of rings `..=step`, from the indexes:
    /// first the agent furthest below its floor share, else the winner of the exponential race
    /// among the agents under the occupancy cap (probability proportional to
    /// `exp(score / temperature)`), else, when everyone is over the cap, a weighted draw among them.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn pick_merit(
        &mut self,
        now: Instant,
        q: usize,
        step: usize,
        eligible: usize,
        temperature: f64,
        floor_share: f64,
        occupancy_cap: f64,
    ) -> Option<Choice> {
        self.release_uncapped(now, q, step, temperature, occupancy_cap);
        let queue = &self.queues[q];
        let floor = queue.floor.as_ref()?;
        let merit = |r: usize| queue.pools[r].merit.as_ref();
        // Floor share first: the largest shortfall, ties to the longest idle.
        let threshold = FLOOR_EPSILON * floor.scale;
        let mut short: Option<(f64, (Instant, u64), usize)> = None;
        if floor_share > 0.0 {
            for r in 0..=step {
                let Some((key, idle, a)) = merit(r).and_then(MeritPool::floor_leader) else { continue };
                let shortfall = floor_share * floor.credit[r] + key;
                let better = short.is_none_or(|(s, i, _)| shortfall > s || (shortfall == s && idle < i));
                if shortfall > threshold && better {
                    short = Some((shortfall, idle, a));
                }
            }
        }
        let (agent, rule) = if let Some((_, _, a)) = short {
            (a, PickRule::FloorShare)
        } else {
            // The race of the agents under the cap, or when there are none, the capped agents'.
            let capped = (0..=step).all(|r| merit(r).is_none_or(|m| m.race.leader().is_none()));
            let race = |m: &MeritPool| if capped { m.capped_race.leader() } else { m.race.leader() };
            let (elapsed, a) = (0..=step)
                .filter_map(|r| merit(r).and_then(race))
                .min_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)))?;
            for pool in &mut self.queues[q].pools[..=step] {
                if let Some(m) = &mut pool.merit {
                    if capped { &mut m.capped_race } else { &mut m.race }.advance(elapsed);
                }
            }
            (a, if capped { PickRule::OverCap } else { PickRule::Weighted })
        };
        let queue = &self.queues[q];
        let score = queue.agent_stats.get(&agent).and_then(|s| s.slot).map(|s| s.score)?;
        let rank = queue.pools[..=step].iter().filter_map(|p| p.merit.as_ref()).map(|m| m.count_above(score)).sum();
        Some(Choice { agent, eligible, rank, score, rule, relax_step: step as u8 })
    }

    /// Moves the agents of rings `..=step` whose occupancy fell under the cap into the race.
    pub(super) fn release_uncapped(
        &mut self,
        now: Instant,
        q: usize,
        step: usize,
        temperature: f64,
        occupancy_cap: f64,
    ) {
        for r in 0..=step {
            // Bounded: every iteration moves one agent out of the capped set or re-files it
            // after `now`.
            while let Some((at, a)) = self.queues[q].pools[r].merit.as_ref().and_then(|m| m.next_uncapped(now)) {
                let still_capped = self.occupancy_at(a, now) > occupancy_cap;
                let score = self.queues[q].agent_stats.get(&a).and_then(|s| s.slot).map_or(NEUTRAL_SCORE, |s| s.score);
                let residual = if still_capped { 0.0 } else { self.race_residual(score, temperature) };
                let queue = &mut self.queues[q];
                let (Some(merit), Some(slot)) =
                    (queue.pools[r].merit.as_mut(), queue.agent_stats.get_mut(&a).and_then(|s| s.slot.as_mut()))
                else {
                    break;
                };
                debug_assert_eq!(slot.uncap_at, Some(at));
                if still_capped {
                    // Rounding put the computed time a hair early: look again a moment later.
                    merit.recap(a, slot, now + Duration::from_micros(1));
                } else {
                    let key = merit.race.key(residual);
                    merit.uncap(a, slot, key);
                }
            }
        }
    }

    /// A fresh remaining time in the race for an agent with `score`: `E / w` with
    /// `E ~ Exp(1)` and `w = exp((score - NEUTRAL_SCORE) / temperature)`.
    pub(super) fn race_residual(&mut self, score: f64, temperature: f64) -> f64 {
        let e = -(1.0 - self.rng.gen::<f64>()).ln();
        let residual = e * (-(score - NEUTRAL_SCORE) / temperature).exp();
        if residual.is_nan() {
            f64::MAX
        } else {
            residual.min(f64::MAX)
        }
    }

    /// Files available agent `a` (idle key `idle`) into ring `ring` of merit queue `q`. Its fair
    /// share mark must already be set.
    pub(super) fn merit_enter(&mut self, q: usize, ring: u8, a: usize, idle: (Instant, u64)) {
        let queue = &self.queues[q];
        let Strategy::MeritWeighted { temperature, floor_share, occupancy_cap, ramp_calls } = queue.strategy else {
            return;
        };
        if queue.pools[ring as usize].merit.is_none() {
            return;
        }
        let stats = queue.agent_stats.get(&a).copied().unwrap_or_default();
        let score = ramped(stats, ramp_calls);
        let floor = floor_share * (stats.fair - stats.fair_mark) - stats.offers;
        let capped_since =
            self.last_now.filter(|&now| occupancy_cap < 1.0 && self.occupancy_at(a, now) > occupancy_cap);
        let capped = capped_since.is_some();
        let uncap_at = capped_since.map(|now| self.uncap_time(a, occupancy_cap, now));
        let residual = self.race_residual(score, temperature);
        let race = self.queues[q].pools[ring as usize].merit.as_ref().map_or(0.0, |m| {
            if capped {
                m.capped_race.key(residual)
            } else {
                m.race.key(residual)
            }
        });
        let slot = MeritSlot { ring, score, idle, floor, race, uncap_at };
        let queue = &mut self.queues[q];
        queue.agent_stats.entry(a).or_default().slot = Some(slot);
        if let Some(merit) = queue.pools[ring as usize].merit.as_mut() {
            merit.insert(a, &slot);
        }
    }

    /// Files available agent `a` afresh in queue `q`'s merit pool (after its score or the
    /// occupancy window changed); nothing when it is not there.
    pub(super) fn merit_refile(&mut self, q: usize, a: usize) {
        let slot = self.queues[q].agent_stats.get(&a).and_then(|s| s.slot);
        if let (Some(slot), Some(idle)) = (slot, self.agents[a].indexed) {
            self.merit_leave(q, a);
            self.merit_enter(q, slot.ring, a, idle);
        }
    }

    /// Takes agent `a` out of queue `q`'s merit pool, if it is there.
    pub(super) fn merit_leave(&mut self, q: usize, a: usize) {
        let queue = &mut self.queues[q];
        let Some(slot) = queue.agent_stats.get_mut(&a).and_then(|s| s.slot.take()) else {
            return;
        };
        if let Some(merit) = queue.pools[slot.ring as usize].merit.as_mut() {
            merit.remove(a, &slot);
        }
    }

    /// When agent `a`'s decaying occupancy (it is idle) falls to `cap`, from the time `now` at
    /// which it is over it.
    pub(super) fn uncap_time(&self, a: usize, cap: f64, now: Instant) -> Instant {
        let agent = &self.agents[a];
        let at = agent.occupancy_at.unwrap_or(now);
        let seconds = self.occupancy_window.as_secs_f64() * (agent.occupancy / cap).ln().max(0.0);
        Duration::try_from_secs_f64(seconds)
            .ok()
            .and_then(|d| at.checked_add(d))
            .unwrap_or(now + Duration::from_secs(86_400 * 365))
    }
}

/// Score blended from the neutral prior to the real one over the first `ramp_calls` answers.
pub(super) fn ramped(stats: AgentQueueStats, ramp_calls: u32) -> f64 {
    let score = stats.score.unwrap_or(NEUTRAL_SCORE);
    let weight = if ramp_calls == 0 { 1.0 } else { (f64::from(stats.answered) / f64::from(ramp_calls)).min(1.0) };
    NEUTRAL_SCORE + (score - NEUTRAL_SCORE) * weight
}

/// Floor-share bookkeeping when agent `a` enters (`entering`) or leaves the available pool of
/// `ring` in a merit queue: entering marks the ring's credit, leaving settles what accrued since.
pub(super) fn mark_fair_share(queue: &mut Queue, a: usize, ring: u8, entering: bool) {
    let Some(floor) = &queue.floor else {
        return;
    };
    let credit = floor.credit[ring as usize];
    let stats = queue.agent_stats.entry(a).or_default();
    if entering {
        stats.fair_mark = credit;
    } else {
        stats.fair += credit - stats.fair_mark;
        stats.fair_mark = credit;
    }
}

/// Books one offer of a merit queue to agent `a`, made at relax `step` among `eligible` available
/// agents: everything older decays one step, and every ring up to `step` earns `1/eligible`.
pub(super) fn record_floor_offer(queue: &mut Queue, a: usize, step: usize, eligible: usize) {
    let Some(floor) = &mut queue.floor else {
        return;
    };
    floor.scale *= floor.growth;
    let share = floor.scale / eligible.max(1) as f64;
    for credit in floor.credit.iter_mut().take(step + 1) {
        *credit += share;
    }
    queue.agent_stats.entry(a).or_default().offers += floor.scale;
    if floor.scale > FLOOR_RESCALE_AT {
        let k = floor.scale;
        floor.scale = 1.0;
        for credit in &mut floor.credit {
            *credit /= k;
        }
        for stats in queue.agent_stats.values_mut() {
            stats.offers /= k;
            stats.fair /= k;
            stats.fair_mark /= k;
            if let Some(slot) = &mut stats.slot {
                slot.floor /= k;
            }
        }
        for pool in &mut queue.pools {
            if let Some(merit) = &mut pool.merit {
                merit.rescale_floor(k);
            }
        }
    }
}
