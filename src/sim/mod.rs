//! A pure discrete-event contact-center simulator in virtual time that drives the real
//! [`crate::acd::Acd`]: a day of Poisson arrivals following a daily curve per queue, callers who
//! abandon after an exponential patience, agents with hidden conversion probability, CSAT mean and
//! talk-time distribution. The same day (arrivals, patience, per-call random draws, agents) is
//! replayed once per routing strategy so the strategies are compared at equal staffing and seed.
//! Merit scores fed to the ACD come only from simulated outcomes (a Bayesian-shrunk running
//! estimate per agent), never from the hidden truth.

mod config;
mod report;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::acd::{
    Acd, AcdEvent, AgentConfig, AgentState, CallId, OfferResult, QueueConfig, QueuePolicy, Requested, Strategy,
};

pub use config::{AgentModel, MeritConfig, SimConfig, SimError, SimQueue};
pub use report::{SimReport, StrategyReport};

/// The strategies compared, in table order.
pub const STRATEGIES: [&str; 3] = ["longest_idle", "best_skill", "merit_weighted"];

/// An agent's hidden truth.
#[derive(Debug, Clone)]
struct SimAgent {
    id: String,
    /// Queue indexes and skill levels.
    skills: Vec<(usize, u8)>,
    conversion: f64,
    csat_mean: f64,
    talk_mean: f64,
}

/// One caller of the day, identical for every strategy.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    at: Duration,
    queue: usize,
    patience: Duration,
}

/// The generated day: agents and arrivals.
struct Day {
    agents: Vec<SimAgent>,
    arrivals: Vec<Arrival>,
}

/// Simulation events, ordered by time then sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrival {
        index: usize,
    },
    Abandon {
        call: u64,
    },
    /// `offer` numbers the offers so a stale answer of an earlier ring-out is ignored.
    Answer {
        call: u64,
        agent: usize,
        offer: u64,
    },
    End {
        call: u64,
        agent: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Waiting,
    Answered,
    Abandoned,
    TimedOut,
}

#[derive(Debug, Clone, Copy)]
struct SimCall {
    queue: usize,
    arrived: Duration,
    fate: Fate,
    /// Agent currently ringing, with the offer's number.
    ringing: Option<(usize, u64)>,
}

/// Outcome tallies of one agent.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    answered: u64,
    conversions: u64,
    csat_sum: f64,
    busy: Duration,
}

/// Runs the day once per strategy and collects the comparison.
pub fn run(config: &SimConfig) -> Result<SimReport, SimError> {
    config.validate()?;
    let day = generate_day(config);
    let strategies = STRATEGIES.iter().map(|name| run_strategy(config, &day, name)).collect();
    Ok(SimReport::new(config, day.arrivals.len(), strategies))
}

/// The strategy of a run, with the merit parameters from the config.
fn strategy_for(config: &SimConfig, name: &str) -> Strategy {
    match name {
        "best_skill" => Strategy::BestSkill,
        "merit_weighted" => config.merit.strategy(),
        _ => Strategy::LongestIdle,
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX)
}

/// Exponential draw with the given mean.
fn exponential(rng: &mut StdRng, mean: f64) -> f64 {
    -mean * (1.0 - rng.gen::<f64>()).ln()
}

/// Standard normal draw (Box-Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.gen::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Relative arrival rate at fraction `x` of the day, linearly interpolated over the curve.
fn curve_at(curve: &[f64], x: f64) -> f64 {
    if curve.len() == 1 {
        return curve[0];
    }
    let pos = x.clamp(0.0, 1.0) * (curve.len() - 1) as f64;
    let i = (pos.floor() as usize).min(curve.len() - 2);
    let frac = pos - i as f64;
    curve[i] * (1.0 - frac) + curve[i + 1] * frac
}

fn generate_day(config: &SimConfig) -> Day {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let model = &config.agent_model;
    let agents = (0..config.agents)
        .map(|i| {
            let quality: f64 = rng.gen();
            let mut skills: Vec<(usize, u8)> = Vec::new();
            for q in 0..config.queues.len() {
                if rng.gen_bool(config.skill_probability) {
                    let level = (1.0 + 4.0 * quality + normal(&mut rng) * 0.7).round().clamp(1.0, 5.0) as u8;
                    skills.push((q, level));
                }
            }
            if skills.is_empty() {
                skills.push((rng.gen_range(0..config.queues.len()), 3));
            }
            let csat_quality = 0.6 * quality + 0.4 * rng.gen::<f64>();
            SimAgent {
                id: format!("agent{i:04}"),
                skills,
                conversion: model.conversion_min + (model.conversion_max - model.conversion_min) * quality,
                csat_mean: model.csat_mean_min + (model.csat_mean_max - model.csat_mean_min) * csat_quality,
                talk_mean: rng.gen_range(model.talk_mean_min_seconds..=model.talk_mean_max_seconds),
            }
        })
        .collect();
    let day = config.hours * 3600.0;
    let mut arrivals = Vec::new();
    for (q, queue) in config.queues.iter().enumerate() {
        let peak = queue.curve.iter().copied().fold(0.0, f64::max);
        let max_rate = queue.calls_per_hour / 3600.0 * peak;
        if max_rate <= 0.0 {
            continue;
        }
        // Thinning of a homogeneous Poisson process at the peak rate; bounded by the day length.
        let mut t = 0.0;
        loop {
            t += exponential(&mut rng, 1.0 / max_rate);
            if t >= day {
                break;
            }
            let accept = curve_at(&queue.curve, t / day) / peak;
            if rng.gen::<f64>() < accept {
                let patience = secs(exponential(&mut rng, queue.patience_mean_seconds));
                arrivals.push(Arrival { at: secs(t), queue: q, patience });
            }
        }
    }
    arrivals.sort_by_key(|a| (a.at, a.queue));
    Day { agents, arrivals }
}

/// Replays the day with every queue on `strategy_name`.
fn run_strategy(config: &SimConfig, day: &Day, strategy_name: &str) -> StrategyReport {
    let base = Instant::now();
    let strategy = strategy_for(config, strategy_name);
    let mut acd = Acd::with_seed(config.seed ^ 0x5eed);
    acd.set_occupancy_window(secs(config.occupancy_window_minutes * 60.0));
    for queue in &config.queues {
        let policy = QueuePolicy {
            sl_threshold: secs(queue.sl_threshold_seconds),
            sl_target: queue.sl_target,
            overflow: queue.overflow.clone(),
            holdout: if matches!(strategy, Strategy::MeritWeighted { .. }) { config.holdout } else { 0.0 },
            floor_window: config.merit.floor_window_offers as usize,
            ..QueuePolicy::default()
        };
        let added = acd.add_queue_with_policy(
            QueueConfig {
                name: queue.name.clone(),
                required_skills: vec![queue.skill.clone()],
                ring_timeout: Duration::from_secs(30),
                max_wait: secs(queue.max_wait_seconds),
                strategy,
            },
            policy,
        );
        debug_assert!(added.is_ok(), "validated config");
    }
    let wrapup = secs(config.wrapup_seconds);
    for agent in &day.agents {
        let skills: Vec<(&str, u8)> =
            agent.skills.iter().map(|&(q, level)| (config.queues[q].skill.as_str(), level)).collect();
        let _ = acd.add_agent(AgentConfig::with_levels(&agent.id, &skills, wrapup));
        let _ = acd.set_registered(base, &agent.id, true);
        let _ = acd.set_agent_state(base, &agent.id, Requested::Ready);
    }
    let agent_index: HashMap<&str, usize> = day.agents.iter().enumerate().map(|(i, a)| (a.id.as_str(), i)).collect();
    let queue_index: HashMap<&str, usize> =
        config.queues.iter().enumerate().map(|(i, q)| (q.name.as_str(), i)).collect();

    let mut report = StrategyReport::empty(strategy_name, config.queues.len(), day.agents.len());
    let mut tallies = vec![Tally::default(); day.agents.len()];
    let mut calls: HashMap<u64, SimCall> = HashMap::new();
    let mut heap: BinaryHeap<Reverse<(Duration, u64, Ev)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |heap: &mut BinaryHeap<Reverse<(Duration, u64, Ev)>>, at: Duration, ev: Ev| {
        seq += 1;
        heap.push(Reverse((at, seq, ev)));
    };
    for (index, arrival) in day.arrivals.iter().enumerate() {
        push(&mut heap, arrival.at, Ev::Arrival { index });
    }
    let prior_conv = (config.agent_model.conversion_min + config.agent_model.conversion_max) / 2.0;
    let prior_csat = (config.agent_model.csat_mean_min + config.agent_model.csat_mean_max) / 2.0;
    let ring = secs(config.ring_seconds);
    let mut offer_start: HashMap<u64, Duration> = HashMap::new();
    // Who is Ready, as told by the ACD's own state events; the skilled ones share each offer.
    let mut ready = vec![false; day.agents.len()];
    let mut ready_skilled: Vec<usize> = Vec::new();
    let mut offers_made = 0u64;
    // Calls in the queue's holdout (control) group, for the uplift of merit routing.
    let mut holdout_calls: HashSet<u64> = HashSet::new();

    // Bounded: every simulation event is popped once; arrivals are finite, and each call schedules
    // at most one answer per offer, one end and one abandon; ACD timers only move forward.
    loop {
        let next_sim = heap.peek().map(|Reverse((at, _, _))| *at);
        let next_acd = acd.poll_timeout().map(|t| t.saturating_duration_since(base));
        let acd_first = match (next_sim, next_acd) {
            (None, None) => break,
            (Some(s), Some(a)) => a < s,
            (None, Some(_)) => true,
            (Some(_), None) => false,
        };
        let now_offset;
        if acd_first {
            let Some(at) = next_acd else { break };
            now_offset = at;
            acd.handle_timeout(base + at);
        } else {
            let Some(Reverse((at, _, ev))) = heap.pop() else { break };
            now_offset = at;
            let now = base + at;
            match ev {
                Ev::Arrival { index } => {
                    let arrival = day.arrivals[index];
                    let call = index as u64;
                    calls.insert(
                        call,
                        SimCall { queue: arrival.queue, arrived: at, fate: Fate::Waiting, ringing: None },
                    );
                    report.offered += 1;
                    let priority = config.queues[arrival.queue].priority;
                    let _ = acd.enqueue(now, CallId(call), &config.queues[arrival.queue].name, priority);
                    push(&mut heap, at + arrival.patience, Ev::Abandon { call });
                }
                Ev::Abandon { call } => {
                    if let Some(c) = calls.get_mut(&call).filter(|c| c.fate == Fate::Waiting) {
                        if let Some(removed) = acd.remove_call(now, CallId(call)) {
                            c.fate = Fate::Abandoned;
                            if let Some((a, _)) = c.ringing.take() {
                                if let Some(start) = offer_start.remove(&call) {
                                    tallies[a].busy += at.saturating_sub(start);
                                }
                            }
                            report.abandoned += 1;
                            if removed.waited < secs(config.short_abandon_seconds) {
                                report.short_abandoned += 1;
                            }
                        }
                    }
                }
                Ev::Answer { call, agent, offer } => {
                    let Some(c) = calls.get_mut(&call) else { continue };
                    if c.fate != Fate::Waiting || c.ringing != Some((agent, offer)) {
                        continue;
                    }
                    if acd.offer_result(now, &day.agents[agent].id, CallId(call), OfferResult::Answered).is_err() {
                        continue;
                    }
                    c.fate = Fate::Answered;
                    c.ringing = None;
                    let wait = at.saturating_sub(c.arrived);
                    let queue = &config.queues[c.queue];
                    report.record_answer(c.queue, agent, wait, wait <= secs(queue.sl_threshold_seconds));
                    // Per-call draws are keyed by the call, so every strategy sees the same luck.
                    let mut luck = StdRng::seed_from_u64(config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ call);
                    let truth = &day.agents[agent];
                    let converted = luck.gen::<f64>() < truth.conversion;
                    let csat = (truth.csat_mean + normal(&mut luck) * config.agent_model.csat_sd).clamp(1.0, 5.0);
                    let talk = secs(exponential(&mut luck, truth.talk_mean));
                    let tally = &mut tallies[agent];
                    tally.answered += 1;
                    tally.conversions += u64::from(converted);
                    tally.csat_sum += csat;
                    report.record_outcome(holdout_calls.contains(&call), converted, csat, talk + wrapup);
                    push(&mut heap, at + talk, Ev::End { call, agent });
                }
                Ev::End { call, agent } => {
                    let _ = acd.call_ended(now, &day.agents[agent].id, CallId(call));
                    if let Some(start) = offer_start.remove(&call) {
                        tallies[agent].busy += at.saturating_sub(start) + wrapup;
                    }
                    // The running, shrunk estimate that merit routing learns from.
                    let t = &tallies[agent];
                    let n = t.answered as f64;
                    let k = config.score_prior_calls;
                    let conv = (t.conversions as f64 + prior_conv * k) / (n + k).max(f64::MIN_POSITIVE);
                    let csat = (t.csat_sum + prior_csat * k) / (n + k).max(f64::MIN_POSITIVE);
                    let score = 0.5 * conv / config.agent_model.conversion_max.max(1e-9) + 0.5 * (csat - 1.0) / 4.0;
                    for &(q, _) in &day.agents[agent].skills {
                        let _ = acd.set_agent_score(&day.agents[agent].id, &config.queues[q].name, score);
                    }
                }
            }
        }
        while let Some(event) = acd.poll_event() {
            match event {
                AcdEvent::Offer { call, agent, queue, decision } => {
                    let (Some(&a), Some(&q)) = (agent_index.get(&*agent), queue_index.get(&*queue)) else {
                        continue;
                    };
                    report.record_offer(q, a, &decision);
                    if decision.holdout {
                        holdout_calls.insert(call.0);
                    }
                    ready_skilled.clear();
                    ready_skilled.extend((0..day.agents.len()).filter(|&i| {
                        ready[i] && day.agents[i].skills.iter().any(|&(skill_queue, _)| skill_queue == q)
                    }));
                    report.record_ready_share(q, &ready_skilled);
                    offers_made += 1;
                    if let Some(c) = calls.get_mut(&call.0) {
                        c.ringing = Some((a, offers_made));
                        c.queue = q;
                    }
                    offer_start.insert(call.0, now_offset);
                    push(&mut heap, now_offset + ring, Ev::Answer { call: call.0, agent: a, offer: offers_made });
                }
                AcdEvent::CallTimedOut { call, .. } => {
                    if let Some(c) = calls.get_mut(&call.0).filter(|c| c.fate == Fate::Waiting) {
                        c.fate = Fate::TimedOut;
                        report.timed_out += 1;
                    }
                }
                AcdEvent::CallOverflowed { call, to, .. } => {
                    // The call waits on in `to`: its answer counts against `to`'s service level.
                    if let Some(c) = calls.get_mut(&call.0).filter(|c| c.fate == Fate::Waiting) {
                        report.overflowed += 1;
                        if let Some(&q) = queue_index.get(&*to) {
                            c.queue = q;
                        }
                    }
                }
                AcdEvent::OfferTimedOut { call, agent } => {
                    // Only when ring_seconds >= the 30 s ring timeout: the agent missed it and
                    // comes straight back (the call returns to the head of its queue).
                    let now = base + now_offset;
                    let _ = acd.offer_result(now, &agent, call, OfferResult::NoAnswer);
                    let _ = acd.set_agent_state(now, &agent, Requested::Ready);
                    if let Some(c) = calls.get_mut(&call.0) {
                        c.ringing = None;
                    }
                }
                AcdEvent::AgentStateChanged { agent, state, .. } => {
                    if let Some(&a) = agent_index.get(&*agent) {
                        ready[a] = state == AgentState::Ready;
                    }
                }
            }
        }
    }
    let staffed: Vec<usize> = (0..config.queues.len())
        .map(|q| day.agents.iter().filter(|a| a.skills.iter().any(|&(s, _)| s == q)).count())
        .collect();
    report.finish(
        config,
        &tallies.iter().map(|t| (t.answered, t.conversions, t.csat_sum, t.busy)).collect::<Vec<_>>(),
        &staffed,
        &day.agents.iter().map(|a| a.skills.iter().map(|&(q, _)| q).collect()).collect::<Vec<Vec<usize>>>(),
    );
    report
}
