//! The brute-force checker (tests only): every offer the decision loop makes is re-derived by a
//! scan over all agents — eligibility, the eligible count, the longest-idle / best-skill pick, and
//! for merit queues the floor rule, the rank, the reported score and the occupancy cap — and
//! `check_invariants` cross-checks every index (pools, merit slots, floor books, heads, timers)
//! against the state it summarises. Nothing here runs outside `cargo test`.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::time::Instant;

use super::dispatch::Choice;
use super::eligibility::{meets, membership};
use super::engine::{Acd, Agent, CallKey, CallState, IdleKey, Timer};
use super::merit::{ramped, FLOOR_EPSILON, FLOOR_RESCALE_AT};
use super::types::{AgentState, PickRule, Strategy};

impl Acd {
    /// Test hook: the choice is an available agent eligible at the call's ring, the eligible
    /// count equals a brute-force scan, and longest-idle / best-skill picks equal the brute-force
    /// best.
    pub(super) fn verify_choice(&self, now: Instant, q: usize, key: CallKey, choice: Choice) {
        let queue = &self.queues[q];
        let step = self.relax_step(q, key.2, now);
        assert_eq!(step as u8, choice.relax_step);
        let holdout = queue.waiting.get(&key).and_then(|c| self.calls.get(c)).is_some_and(|c| c.holdout);
        let mut eligible = 0;
        let mut best_idle: Option<(Instant, u64, usize)> = None;
        let mut best_skill: Option<(Reverse<u32>, Instant, u64, usize)> = None;
        for (a, agent) in self.agents.iter().enumerate() {
            let skills = &self.profiles[agent.profile].skills;
            let ring = queue.rings.iter().position(|r| meets(&r.requirement, skills));
            let skilled = ring.is_some_and(|r| r <= step);
            let available = agent.state == AgentState::Ready && agent.registered;
            if skilled && available {
                eligible += 1;
                let since = agent.idle_since.unwrap_or_else(|| panic!("ready without idle"));
                let key = (since, agent.ready_seq, a);
                if best_idle.is_none_or(|b| key < b) {
                    best_idle = Some(key);
                }
                let score = membership(queue, q, skills).map_or(0, |m| m.skill_score);
                let skey = (Reverse(score), since, agent.ready_seq, a);
                if best_skill.is_none_or(|b| skey < b) {
                    best_skill = Some(skey);
                }
                if a == choice.agent {
                    assert!(available);
                }
            }
        }
        assert_eq!(eligible, choice.eligible, "eligible count");
        let chosen = &self.agents[choice.agent];
        assert!(chosen.state == AgentState::Ready && chosen.registered, "chosen agent not available");
        match (holdout, queue.strategy) {
            (true, _) | (false, Strategy::LongestIdle) => {
                assert_eq!(best_idle.map(|b| b.2), Some(choice.agent), "longest idle agent")
            }
            (false, Strategy::BestSkill) => assert_eq!(best_skill.map(|b| b.3), Some(choice.agent), "best skill"),
            (false, Strategy::MeritWeighted { floor_share, occupancy_cap, ramp_calls, .. }) => {
                let skills = &self.profiles[chosen.profile].skills;
                let ring = queue.rings.iter().position(|r| meets(&r.requirement, skills));
                assert!(ring.is_some_and(|r| r <= step), "merit pick not eligible");
                // Brute force over all agents, from the books rather than the indexes.
                let floor = queue.floor.as_ref().unwrap_or_else(|| panic!("merit queue without ledger"));
                let available = |agent: &Agent| {
                    let r = membership(queue, q, &self.profiles[agent.profile].skills)?.ring as usize;
                    (agent.state == AgentState::Ready && agent.registered && r <= step).then_some(r)
                };
                let stats = |a: usize| queue.agent_stats.get(&a).copied().unwrap_or_default();
                let shortfall = |a: usize, r: usize| {
                    let s = stats(a);
                    floor_share * (s.fair + floor.credit[r] - s.fair_mark) - s.offers
                };
                let mut worst = f64::NEG_INFINITY;
                let (mut above, mut any_uncapped) = (0, false);
                let chosen_score = ramped(stats(choice.agent), ramp_calls);
                assert_eq!(chosen_score, choice.score, "reported score");
                for (a, agent) in self.agents.iter().enumerate() {
                    let Some(r) = available(agent) else { continue };
                    worst = worst.max(shortfall(a, r));
                    above += usize::from(ramped(stats(a), ramp_calls) > chosen_score);
                    any_uncapped |= occupancy_cap >= 1.0 || self.occupancy_at(a, now) <= occupancy_cap;
                }
                assert_eq!(choice.rank, above, "rank = available eligible agents with a higher score");
                // The floor rule fires exactly when some eligible available agent is short of its
                // floor (beyond rounding), and then picks the largest shortfall.
                let threshold = FLOOR_EPSILON * floor.scale;
                if worst > 2.0 * threshold {
                    assert_eq!(choice.rule, PickRule::FloorShare, "an agent is short of its floor");
                    let mine = ring.map_or(f64::NAN, |r| shortfall(choice.agent, r));
                    assert!(
                        mine >= worst - 1e-9 * worst.abs().max(floor.scale),
                        "floor pick is not the largest shortfall"
                    );
                } else if worst < 0.5 * threshold {
                    assert_ne!(choice.rule, PickRule::FloorShare, "nobody is short of the floor");
                }
                if choice.rule != PickRule::FloorShare {
                    let capped = occupancy_cap < 1.0 && self.occupancy_at(choice.agent, now) > occupancy_cap;
                    if any_uncapped {
                        assert_eq!(choice.rule, PickRule::Weighted, "an agent under the cap is available");
                        assert!(!capped, "weighted draw picked an agent over the cap");
                    } else {
                        assert_eq!(choice.rule, PickRule::OverCap, "everyone is over the cap");
                    }
                }
            }
        }
    }

    /// Test hook: checks every cross-structure invariant; panics with a description on violation.
    pub(super) fn check_invariants(&self) {
        let mut available_total = 0;
        let mut offered_calls = BTreeSet::new();
        let mut expected_pools: Vec<Vec<(BTreeSet<IdleKey>, usize)>> =
            self.queues.iter().map(|q| q.pools.iter().map(|_| (BTreeSet::new(), 0)).collect()).collect();
        for (a, agent) in self.agents.iter().enumerate() {
            let profile = &self.profiles[agent.profile];
            let should_index = agent.state == AgentState::Ready && agent.registered;
            assert_eq!(agent.indexed.is_some(), should_index, "agent {} index flag", agent.id);
            for m in &profile.memberships {
                let slot = &mut expected_pools[m.queue][m.ring as usize];
                if let Some((since, seq)) = agent.indexed {
                    slot.0.insert((since, seq, a));
                }
                if agent.state != AgentState::LoggedOut {
                    slot.1 += 1;
                }
            }
            if let Some((since, _)) = agent.indexed {
                assert_eq!(Some(since), agent.idle_since);
                available_total += 1;
            }
            match &agent.state {
                AgentState::Offered { call } => {
                    assert!(offered_calls.insert(*call), "call {call} offered twice");
                    let entry = self.calls.get(call).unwrap_or_else(|| panic!("offered call {call} unknown"));
                    assert!(matches!(entry.state, CallState::Offered { agent } if agent == a));
                    if let Some(key) = agent.timer {
                        assert_eq!(self.timers.get(&key), Some(&Timer::Ring { agent: a, call: *call }));
                    }
                }
                AgentState::WrapUp { until } => {
                    let key = agent.timer.unwrap_or_else(|| panic!("wrap-up without timer"));
                    assert_eq!(key.0, *until);
                    assert_eq!(self.timers.get(&key), Some(&Timer::WrapUpEnd { agent: a }));
                }
                AgentState::OnCall { .. } => assert!(agent.timer.is_none()),
                _ => assert!(agent.timer.is_none(), "agent {} has a stray timer", agent.id),
            }
        }
        assert_eq!(available_total, self.available_total);
        for (q, queue) in self.queues.iter().enumerate() {
            for (r, pool) in queue.pools.iter().enumerate() {
                assert_eq!(pool.by_idle, expected_pools[q][r].0, "queue {} ring {r} pool", queue.name);
                assert_eq!(pool.staffed, expected_pools[q][r].1, "queue {} ring {r} staffed", queue.name);
                if queue.strategy == Strategy::BestSkill {
                    assert_eq!(pool.by_skill.len(), pool.by_idle.len());
                } else {
                    assert!(pool.by_skill.is_empty());
                }
            }
            if let Strategy::MeritWeighted { ramp_calls, .. } = queue.strategy {
                for (r, pool) in queue.pools.iter().enumerate() {
                    let merit = pool.merit.as_ref().unwrap_or_else(|| panic!("merit queue pool without index"));
                    assert_eq!(merit.len(), pool.by_idle.len(), "queue {} ring {r} merit index", queue.name);
                    for &(since, seq, a) in &pool.by_idle {
                        let stats = queue.agent_stats.get(&a).copied().unwrap_or_default();
                        let slot = stats.slot.unwrap_or_else(|| panic!("available agent without merit slot"));
                        assert_eq!((slot.ring as usize, slot.idle), (r, (since, seq)));
                        assert_eq!(slot.score, ramped(stats, ramp_calls), "indexed score is current");
                    }
                }
                let slots = queue.agent_stats.values().filter(|s| s.slot.is_some()).count();
                let available: usize = queue.pools.iter().map(|p| p.by_idle.len()).sum();
                assert_eq!(slots, available, "no stale merit slots");
            }
            if let Some(floor) = &queue.floor {
                assert!(floor.scale >= 1.0 && floor.scale <= FLOOR_RESCALE_AT * floor.growth);
                assert!(floor.credit.windows(2).all(|w| w[0] >= w[1]), "inner rings earn every outer offer");
                for stats in queue.agent_stats.values() {
                    assert!(stats.offers >= 0.0 && stats.fair >= 0.0 && stats.fair_mark >= 0.0);
                }
            } else {
                assert!(queue.agent_stats.values().all(|s| s.offers == 0.0 && s.fair == 0.0));
            }
        }
        let mut waiting_total = 0;
        let mut offered_per_queue = vec![0usize; self.queues.len()];
        for (call, entry) in &self.calls {
            let queue = &self.queues[entry.queue];
            match entry.state {
                CallState::Waiting { timer, relax_timer } => {
                    waiting_total += 1;
                    assert_eq!(queue.waiting.get(&entry.key), Some(call));
                    assert!(queue.by_age.contains(&(entry.key.2, entry.key.3)));
                    assert_eq!(timer.is_some(), entry.deadline.is_some());
                    if let Some(key) = timer {
                        assert_eq!(self.timers.get(&key), Some(&Timer::MaxWait { call: *call }));
                    }
                    if let Some(key) = relax_timer {
                        assert_eq!(self.timers.get(&key), Some(&Timer::Relax { call: *call }));
                    }
                }
                CallState::Offered { agent } => {
                    offered_per_queue[entry.queue] += 1;
                    assert_eq!(self.agents[agent].state, AgentState::Offered { call: *call });
                }
            }
        }
        let queued: usize = self.queues.iter().map(|q| q.waiting.len()).sum();
        assert_eq!(queued, waiting_total);
        let mut heads = BTreeSet::new();
        let now = self.last_now;
        for (q, queue) in self.queues.iter().enumerate() {
            assert_eq!(queue.offered, offered_per_queue[q], "queue {} offered count", queue.name);
            assert_eq!(queue.by_age.len(), queue.waiting.len());
            if let Some((&key, _)) = queue.waiting.first_key_value() {
                heads.insert((key, q));
                // The decision loop ran to completion: nobody could take this queue's head.
                if let Some(now) = now {
                    let step = self.relax_step(q, key.2, now);
                    assert_eq!(self.eligible_available(q, step), 0, "queue {} has a servable head", queue.name);
                }
            }
        }
        assert_eq!(heads, self.heads);
        // Every timer belongs to a live owner.
        for (key, timer) in &self.timers {
            match *timer {
                Timer::Ring { agent, .. } | Timer::WrapUpEnd { agent } => {
                    assert_eq!(self.agents[agent].timer, Some(*key));
                }
                Timer::MaxWait { call } => {
                    let entry = self.calls.get(&call).unwrap_or_else(|| panic!("timer of gone call"));
                    assert!(matches!(entry.state, CallState::Waiting { timer: Some(k), .. } if k == *key));
                }
                Timer::Relax { call } => {
                    let entry = self.calls.get(&call).unwrap_or_else(|| panic!("relax timer of gone call"));
                    assert!(matches!(entry.state, CallState::Waiting { relax_timer: Some(k), .. } if k == *key));
                }
            }
        }
    }
}
