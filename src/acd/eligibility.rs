//! Eligibility: configuration, and which agents may take which queue's calls. `add_queue` validates
//! the routing policy and builds the queue's bullseye rings (its own skill requirement, then each
//! relax step's); `add_agent` parses leveled skills and files the agent under a shared profile whose
//! membership of every queue — the first ring it qualifies for and its best-skill score — is worked
//! out once, here, and never by scanning agents at dispatch time.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::engine::{Acd, Agent, Membership, Pool, Profile, Queue, Ring};
use super::merit::{mark_fair_share, FloorLedger};
use super::merit_index::MeritPool;
use super::types::{
    parse_skill, AcdError, AgentConfig, AgentState, QueueConfig, QueuePolicy, Strategy, DEFAULT_SKILL_LEVEL,
};

impl Acd {
    /// Adds a queue with the default [`QueuePolicy`].
    pub fn add_queue(&mut self, config: QueueConfig) -> Result<(), AcdError> {
        self.add_queue_with_policy(config, QueuePolicy::default())
    }

    /// Adds a queue with its routing policy. Its eligible agents are found among the agents
    /// already added and those added later. The overflow queue may be added later.
    pub fn add_queue_with_policy(&mut self, config: QueueConfig, policy: QueuePolicy) -> Result<(), AcdError> {
        if self.queue_by_name.contains_key(config.name.as_str()) {
            return Err(AcdError::DuplicateQueue(config.name));
        }
        if let Strategy::MeritWeighted { temperature, floor_share, occupancy_cap, .. } = config.strategy {
            if !(temperature > 0.0 && temperature.is_finite()) {
                return Err(AcdError::InvalidConfig(format!("{}: temperature must be > 0", config.name)));
            }
            if !(0.0..=1.0).contains(&floor_share) || occupancy_cap.is_nan() || occupancy_cap <= 0.0 {
                return Err(AcdError::InvalidConfig(format!(
                    "{}: floor_share must be in 0..=1 and occupancy_cap > 0",
                    config.name
                )));
            }
        }
        if !(0.0..=1.0).contains(&policy.holdout) {
            return Err(AcdError::InvalidConfig(format!("{}: holdout must be in 0..=1", config.name)));
        }
        if policy.relax.windows(2).any(|w| w[0].after > w[1].after) {
            return Err(AcdError::InvalidConfig(format!("{}: relax steps must be in wait order", config.name)));
        }
        if policy.relax.len() >= u8::MAX as usize {
            return Err(AcdError::InvalidConfig(format!("{}: too many relax steps", config.name)));
        }
        let mut rings =
            vec![Ring { after: Duration::ZERO, requirement: self.intern_requirement(&config.required_skills) }];
        for step in &policy.relax {
            let requirement = self.intern_requirement(&step.skills);
            rings.push(Ring { after: step.after, requirement });
        }
        let q = self.queues.len();
        let name: Arc<str> = Arc::from(config.name.as_str());
        self.queue_by_name.insert(name.clone(), q);
        let handle_time = policy.initial_handle_time.as_secs_f64();
        let floor = matches!(config.strategy, Strategy::MeritWeighted { .. }).then(|| FloorLedger {
            growth: 1.0 / (1.0 - 1.0 / policy.floor_window.max(2) as f64),
            scale: 1.0,
            credit: vec![0.0; rings.len()],
        });
        self.queues.push(Queue {
            name,
            skill_names: config.required_skills,
            pools: rings
                .iter()
                .map(|_| Pool { merit: floor.as_ref().map(|_| MeritPool::default()), ..Pool::default() })
                .collect(),
            rings,
            ring_timeout: config.ring_timeout,
            max_wait: config.max_wait,
            strategy: config.strategy,
            policy,
            waiting: BTreeMap::new(),
            by_age: BTreeSet::new(),
            offered: 0,
            floor,
            agent_stats: HashMap::new(),
            handle_time,
        });
        for p in 0..self.profiles.len() {
            if let Some(membership) = membership(&self.queues[q], q, &self.profiles[p].skills) {
                self.profiles[p].memberships.push(membership);
            }
        }
        // Existing agents enter the new queue's pools.
        for a in 0..self.agents.len() {
            let Some(m) = self.profiles[self.agents[a].profile].memberships.iter().find(|m| m.queue == q).copied()
            else {
                continue;
            };
            let agent = &self.agents[a];
            let pool = &mut self.queues[q].pools[m.ring as usize];
            if agent.staffed {
                pool.staffed += 1;
            }
            if let Some((since, seq)) = agent.indexed {
                pool.by_idle.insert((since, seq, a));
                mark_fair_share(&mut self.queues[q], a, m.ring, true);
                if self.queues[q].strategy == Strategy::BestSkill {
                    self.queues[q].pools[m.ring as usize].by_skill.insert((Reverse(m.skill_score), since, seq, a));
                }
                self.merit_enter(q, m.ring, a, (since, seq));
            }
        }
        Ok(())
    }

    /// Adds an agent, initially `LoggedOut` and unregistered. Skills are `"name"` (level 3) or
    /// `"name:level"`.
    pub fn add_agent(&mut self, config: AgentConfig) -> Result<(), AcdError> {
        if self.agent_by_id.contains_key(config.id.as_str()) {
            return Err(AcdError::DuplicateAgent(config.id));
        }
        let mut by_name: BTreeMap<String, u8> = BTreeMap::new();
        for spec in &config.skills {
            let (name, level) = parse_skill(spec, DEFAULT_SKILL_LEVEL);
            let entry = by_name.entry(name.to_string()).or_insert(level);
            *entry = (*entry).max(level);
        }
        let mut skills: Vec<(u32, u8)> = by_name.iter().map(|(name, &level)| (self.intern(name), level)).collect();
        skills.sort_unstable();
        let profile = match self.profile_by_skills.get(&skills) {
            Some(&p) => p,
            None => {
                let p = self.profiles.len();
                let memberships =
                    self.queues.iter().enumerate().filter_map(|(q, queue)| membership(queue, q, &skills)).collect();
                self.profile_by_skills.insert(skills.clone(), p);
                self.profiles.push(Profile { skills, memberships });
                p
            }
        };
        let id: Arc<str> = Arc::from(config.id.as_str());
        self.agent_by_id.insert(id.clone(), self.agents.len());
        self.agents.push(Agent {
            id,
            skill_names: config.skills,
            skill_levels: by_name.into_iter().collect(),
            profile,
            wrapup: config.wrapup,
            state: AgentState::LoggedOut,
            registered: false,
            idle_since: None,
            ready_seq: 0,
            indexed: None,
            staffed: false,
            timer: None,
            pending_not_ready: None,
            calls_handled: 0,
            missed_offers: 0,
            occupancy: 0.0,
            occupancy_at: None,
            talking: None,
        });
        Ok(())
    }

    pub(super) fn intern(&mut self, name: &str) -> u32 {
        let next = self.skill_ids.len() as u32;
        *self.skill_ids.entry(name.to_string()).or_insert(next)
    }

    /// Parses `"name[:min_level]"` specs (plain names need level 1) into sorted requirements.
    pub(super) fn intern_requirement(&mut self, specs: &[String]) -> Vec<(u32, u8)> {
        let mut requirement: Vec<(u32, u8)> = specs
            .iter()
            .map(|spec| {
                let (name, level) = parse_skill(spec, 1);
                (self.intern(name), level)
            })
            .collect();
        requirement.sort_unstable();
        // Keep the strictest level per skill.
        requirement.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                earlier.1 = earlier.1.max(later.1);
                true
            } else {
                false
            }
        });
        requirement
    }
}

/// Whether leveled `skills` meet `requirement` (both sorted by skill id).
pub(super) fn meets(requirement: &[(u32, u8)], skills: &[(u32, u8)]) -> bool {
    requirement
        .iter()
        .all(|&(skill, min)| skills.binary_search_by_key(&skill, |&(s, _)| s).is_ok_and(|i| skills[i].1 >= min))
}

/// In which ring of `queue` a profile with `skills` is eligible, if any.
pub(super) fn membership(queue: &Queue, q: usize, skills: &[(u32, u8)]) -> Option<Membership> {
    let ring = queue.rings.iter().position(|ring| meets(&ring.requirement, skills))?;
    let skill_score = queue.rings[0]
        .requirement
        .iter()
        .map(|&(skill, _)| skills.binary_search_by_key(&skill, |&(s, _)| s).map_or(0, |i| u32::from(skills[i].1)))
        .sum();
    Some(Membership { queue: q, ring: ring as u8, skill_score })
}
