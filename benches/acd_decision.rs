//! Cost of one ACD routing decision at two scales (200 and 20,000 agents, 100 queues, 1,000
//! waiting calls, every agent busy): an agent ends a call, the engine picks the best waiting call
//! it can take and offers it, the agent answers, and a new call arrives to keep 1,000 waiting. Run
//! for longest-idle and merit-weighted queues. A second scenario keeps ~10 % of the agents idle and
//! no call waiting: each arriving call is matched among the idle eligible agents; a third does the
//! same with one queue every agent serves, so 10 % of all agents are eligible and idle at once
//! (the case where a scan of the idle agents would cost most). A counting global allocator also
//! prints the live heap per agent and per waiting call before the timings.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use meritline::acd::{Acd, AcdEvent, AgentConfig, CallId, OfferResult, QueueConfig, Requested, Strategy};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

const QUEUES: usize = 100;
const SKILLS: usize = 50;
const WAITING: usize = 1000;

/// A loaded contact center: every agent on a call, `WAITING` calls waiting.
struct Center {
    acd: Acd,
    base: Instant,
    now: Duration,
    agent_ids: Vec<String>,
    /// (agent, call) of calls in progress, served round-robin.
    on_call: std::collections::VecDeque<(String, u64)>,
    next_call: u64,
    rng: StdRng,
    /// Number of queues calls arrive to.
    queues: usize,
}

fn strategy(merit: bool) -> Strategy {
    if merit {
        Strategy::merit_weighted()
    } else {
        Strategy::LongestIdle
    }
}

impl Center {
    /// Queues and agents only, all agents Ready.
    fn staffed(agents: usize, merit: bool) -> Center {
        Center::staffed_in(agents, merit, QUEUES)
    }

    /// Like `staffed`, with `queues` queues; a single queue requires no skill (everyone serves it).
    fn staffed_in(agents: usize, merit: bool, queues: usize) -> Center {
        let mut rng = StdRng::seed_from_u64(7);
        let base = Instant::now();
        let mut acd = Acd::with_seed(7);
        for q in 0..queues {
            let skill = if q < SKILLS { format!("s{q}") } else { format!("s{}:2", q - SKILLS) };
            acd.add_queue(QueueConfig {
                name: format!("q{q}"),
                required_skills: if queues == 1 { Vec::new() } else { vec![skill] },
                ring_timeout: Duration::from_secs(20),
                max_wait: Duration::ZERO,
                strategy: strategy(merit),
            })
            .expect("queue");
        }
        let mut agent_ids = Vec::with_capacity(agents);
        for a in 0..agents {
            let id = format!("agent{a}");
            let skills: Vec<(String, u8)> =
                (0..3).map(|_| (format!("s{}", rng.gen_range(0..SKILLS)), rng.gen_range(1..=5))).collect();
            let refs: Vec<(&str, u8)> = skills.iter().map(|(s, l)| (s.as_str(), *l)).collect();
            acd.add_agent(AgentConfig::with_levels(&id, &refs, Duration::ZERO)).expect("agent");
            acd.set_registered(base, &id, true).expect("registered");
            acd.set_agent_state(base, &id, Requested::Ready).expect("ready");
            if merit {
                for (s, _) in &skills {
                    let _ = acd.set_agent_score(&id, &format!("q{}", &s[1..]), rng.gen());
                }
                if queues == 1 {
                    let _ = acd.set_agent_score(&id, "q0", rng.gen());
                }
            }
            agent_ids.push(id);
        }
        while acd.poll_event().is_some() {}
        Center {
            acd,
            base,
            now: Duration::from_secs(1),
            agent_ids,
            on_call: Default::default(),
            next_call: 0,
            rng,
            queues,
        }
    }

    /// Answers every pending offer (agents stay on their calls).
    fn absorb(&mut self) {
        while let Some(event) = self.acd.poll_event() {
            if let AcdEvent::Offer { call, agent, .. } = event {
                let now = self.base + self.now;
                self.acd.offer_result(now, &agent, call, OfferResult::Answered).expect("answer");
                self.on_call.push_back((agent.to_string(), call.0));
            }
        }
    }

    fn arrive(&mut self) {
        self.next_call += 1;
        self.now += Duration::from_millis(1);
        let queue = format!("q{}", self.rng.gen_range(0..self.queues));
        self.acd.enqueue(self.base + self.now, CallId(self.next_call), &queue, 0).expect("enqueue");
        self.absorb();
    }

    /// Fills the center: calls arrive until every agent is busy and `WAITING` calls wait.
    fn loaded(agents: usize, merit: bool) -> Center {
        let mut center = Center::staffed(agents, merit);
        // Bounded: each arrival either occupies an agent or adds a waiting call.
        for _ in 0..(agents + WAITING) * 20 {
            let busy = center.on_call.len() == center.agent_ids.len();
            if busy && center.waiting() >= WAITING {
                break;
            }
            center.arrive();
        }
        center
    }

    fn waiting(&self) -> usize {
        self.acd.queue_stats(self.base + self.now).iter().map(|q| q.waiting).sum()
    }

    /// One decision: an agent frees up and is offered the best waiting call it can take (or
    /// stays ready if none), the offer is answered, and a new call arrives.
    fn step(&mut self) {
        let Some((agent, call)) = self.on_call.pop_front() else {
            return;
        };
        self.now += Duration::from_millis(1);
        self.acd.call_ended(self.base + self.now, &agent, CallId(call)).expect("end");
        self.absorb();
        self.arrive();
    }
}

impl Center {
    /// A quieter center: about 90 % of the agents on calls, the rest idle, nothing waiting.
    fn quiet(agents: usize, merit: bool, queues: usize) -> Center {
        let mut center = Center::staffed_in(agents, merit, queues);
        // Bounded by the attempt count.
        for _ in 0..agents * 20 {
            if center.on_call.len() * 10 >= agents * 9 {
                break;
            }
            center.arrive();
        }
        let now = center.base + center.now;
        for c in 0..=center.next_call {
            let _ = center.acd.remove_call(now, CallId(c));
        }
        center
    }

    /// One decision among the idle agents: a call arrives and is offered (the strategy chooses
    /// among all idle eligible agents), answered and ended at once, so the idle set stays the same.
    fn step_idle(&mut self) {
        self.arrive();
        let call = CallId(self.next_call);
        let now = self.base + self.now;
        if self.acd.remove_call(now, call).is_some() {
            return; // nobody eligible was idle
        }
        if let Some((agent, c)) = self.on_call.pop_back() {
            let _ = self.acd.call_ended(now, &agent, CallId(c));
            self.absorb();
        }
    }
}

fn memory_report() {
    for agents in [200usize, 20_000] {
        let before = counting_alloc::live_bytes();
        let center = Center::staffed(agents, true);
        let with_agents = counting_alloc::live_bytes();
        let mut loaded = center;
        // Make everybody busy first so further calls only wait.
        for _ in 0..(agents * 20) {
            if loaded.on_call.len() == agents {
                break;
            }
            loaded.arrive();
        }
        let busy = counting_alloc::live_bytes();
        let waiting_before = loaded.waiting();
        for _ in 0..10_000 {
            loaded.arrive();
        }
        let added = loaded.waiting() - waiting_before;
        let after = counting_alloc::live_bytes();
        println!(
            "memory, {agents} agents x {QUEUES} queues (merit): {:.0} B per agent (staffed, incl. ids and pools); \
             {:.0} B per waiting call ({added} calls)",
            (with_agents - before) as f64 / agents as f64,
            (after - busy) as f64 / added.max(1) as f64,
        );
        drop(loaded);
    }
}

fn decision(c: &mut Criterion) {
    let mut group = c.benchmark_group("acd_decision");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for merit in [false, true] {
        for agents in [200usize, 20_000] {
            let mut center = Center::loaded(agents, merit);
            assert!(center.waiting() >= WAITING, "loaded");
            let label = if merit { "merit_weighted" } else { "longest_idle" };
            group.bench_function(BenchmarkId::new(label, agents), |b| b.iter(|| center.step()));
        }
    }
    for merit in [false, true] {
        for agents in [200usize, 20_000] {
            let mut center = Center::quiet(agents, merit, QUEUES);
            let label = if merit { "idle_10pct_merit_weighted" } else { "idle_10pct_longest_idle" };
            group.bench_function(BenchmarkId::new(label, agents), |b| b.iter(|| center.step_idle()));
        }
    }
    // One program everybody serves: the idle eligible set is 10 % of all agents.
    for merit in [false, true] {
        for agents in [200usize, 20_000] {
            let mut center = Center::quiet(agents, merit, 1);
            let label = if merit { "one_queue_idle_10pct_merit_weighted" } else { "one_queue_idle_10pct_longest_idle" };
            group.bench_function(BenchmarkId::new(label, agents), |b| b.iter(|| center.step_idle()));
        }
    }
    group.finish();
}

fn main() {
    memory_report();
    let mut criterion = Criterion::default().configure_from_args();
    decision(&mut criterion);
    criterion.final_summary();
}
