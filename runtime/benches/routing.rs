//! Routing decisions of the queue engine with 200 queues. Each queue needs
//! the caller's language and its own skill at level 2; a third of them
//! relax that skill to level 1 after 60 s and drop it after 120 s. Each
//! agent has the skills of 4 queues, and can also serve the 67 queues with
//! a drop step, whose callers need no skill after 120 s. Strategies cycle
//! over every strategy but `ring_all`, whose offer rings every eligible
//! agent by definition.
//!
//! Two decisions are measured, each as one event plus the `dispatch` that
//! returns its offer:
//! - `agent_ready`: an agent on a call ends it (no wrap-up) and is offered
//!   the first caller it can serve;
//! - `caller_enqueue`: a caller enters a queue whose eligible agents are
//!   ready, and is offered to one of them.
//!
//! The set-up between two measurements (answering the offer, refilling the
//! queue) is not timed. Each decision runs at 10, 100 and 1,000 agents per
//! queue, with half as many waiting callers per queue; 100 per queue is
//! 5,000 agents and 10,000 waiting callers. Criterion reports the mean;
//! the benchmark then prints p50, p99 and maximum of single decisions.
//!
//! Run with `CARGO_TARGET_DIR=... cargo bench -p flowd --bench routing`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use criterion::Criterion;
use flowc::bytecode::{Queue, QueueNeed, RelaxStep};
use flowc::syntax::ast::Strategy;
use flowd::queue::{AgentSpec, AgentState, CallerId, CallerSpec, Engine, Leave, OfferResult};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const QUEUES: usize = 200;
const QUEUES_PER_AGENT: usize = 4;
const LATENCY_SAMPLES: usize = 20_000;

const STRATEGIES: [Strategy; 6] = [
    Strategy::LongestIdle,
    Strategy::LeastBusy,
    Strategy::FewestCalls,
    Strategy::RoundRobin,
    Strategy::Linear,
    Strategy::Random,
];

fn queue_def(i: usize) -> Queue {
    let skill = format!("skill{i}");
    let relax = if i.is_multiple_of(3) {
        vec![
            RelaxStep {
                after_ms: 60_000,
                skill: skill.clone(),
                level: Some(1),
            },
            RelaxStep {
                after_ms: 120_000,
                skill: skill.clone(),
                level: None,
            },
        ]
    } else {
        Vec::new()
    };
    Queue {
        name: format!("q{i}"),
        strategy: STRATEGIES[i % STRATEGIES.len()],
        needs: vec![QueueNeed::Language, QueueNeed::Skill { skill, level: 2 }],
        relax,
        sticky_ms: Some(20_000),
        priority: None,
        target: None,
        announcements: Vec::new(),
        music: "hold-music".to_owned(),
        callback: None,
        max_wait_ms: None,
        max_callers: None,
        overflow: None,
        wrapup_ms: 0,
    }
}

/// The engine of one size, with the ids it needs to drive events.
struct Bench {
    engine: Engine,
    now: u64,
    next_caller: CallerId,
    /// Agents on a call with level 2 or 3 in their skills, so each can
    /// serve callers of its queues at once.
    on_call: Vec<String>,
    /// Queues with a ready German speaker at level 2 or 3.
    german_queues: Vec<usize>,
    rng: fastrand::Rng,
}

impl Bench {
    /// Builds `agents_per_queue * QUEUES / QUEUES_PER_AGENT` agents. Every
    /// tenth speaks only German and is ready; the rest speak Slovenian and
    /// English and are on calls. Callers speak Slovenian or English, so
    /// they wait for the agents on calls while the German speakers stay
    /// ready for `caller_enqueue`.
    fn new(agents_per_queue: usize) -> Bench {
        let mut engine = Engine::new(1);
        for i in 0..QUEUES {
            engine.set_queue(&queue_def(i));
        }
        let agents = agents_per_queue * QUEUES / QUEUES_PER_AGENT;
        let mut on_call = Vec::new();
        let mut german_queues = Vec::new();
        for j in 0..agents {
            let id = format!("agent{j}");
            let level = 1 + (j % 3) as u32;
            let queues: Vec<usize> = (0..QUEUES_PER_AGENT)
                .map(|t| (j + t * (QUEUES / QUEUES_PER_AGENT)) % QUEUES)
                .collect();
            let skills: HashMap<String, u32> = queues
                .iter()
                .map(|q| (format!("skill{q}"), level))
                .collect();
            // Agent j serves the queues congruent to j modulo 50, so the
            // German speakers are every tenth agent of each such class.
            let german = (j / (QUEUES / QUEUES_PER_AGENT)).is_multiple_of(10);
            if german && level >= 2 {
                german_queues.extend(&queues);
            }
            let languages = if german {
                vec!["de".to_owned()]
            } else {
                vec!["sl".to_owned(), "en".to_owned()]
            };
            engine.upsert_agent(
                AgentSpec {
                    id: id.clone(),
                    skills,
                    languages,
                },
                0,
            );
            let state = if german {
                AgentState::Ready
            } else {
                AgentState::OnCall
            };
            engine.set_agent_state(&id, state, 0).unwrap();
            if !german && level >= 2 {
                on_call.push(id);
            }
        }
        let mut bench = Bench {
            engine,
            now: 1_000_000,
            next_caller: 0,
            on_call,
            german_queues,
            rng: fastrand::Rng::with_seed(2),
        };
        let callers_per_queue = agents_per_queue / 2;
        for n in 0..callers_per_queue * QUEUES {
            let q = n % QUEUES;
            // Entry times spread over 200 s, so relax steps and sticky
            // times apply to part of the callers.
            let entered = bench.now - (n as u64 * 7919) % 200_000;
            bench.enqueue(q, "sl_en", entered);
        }
        assert!(bench.engine.dispatch(bench.now).is_empty());
        bench
    }

    fn enqueue(&mut self, q: usize, language: &str, entered: u64) -> CallerId {
        self.next_caller += 1;
        let id = self.next_caller;
        let language = match language {
            "sl_en" if id.is_multiple_of(2) => "sl",
            "sl_en" => "en",
            other => other,
        };
        let spec = CallerSpec {
            id,
            priority: if id.is_multiple_of(10) { 100 } else { 0 },
            language: language.to_owned(),
            sticky_agent: (language != "de").then(|| format!("agent{}", id % 7)),
            entered_at_ms: entered,
        };
        self.engine
            .enqueue(&format!("q{q}"), spec, self.now)
            .unwrap();
        id
    }

    /// One `agent_ready` decision; returns its time.
    fn agent_ready(&mut self) -> Duration {
        self.now += 1;
        let index = self.rng.usize(..self.on_call.len());
        let agent = self.on_call[index].clone();
        let start = Instant::now();
        self.engine.call_ended(&agent, 60_000, self.now);
        let offers = self.engine.dispatch(self.now);
        let elapsed = start.elapsed();
        // Restore: the agent answers and the caller is replaced.
        let offer = offers.first().expect("a ready agent gets an offer");
        let queue: usize = offer.queue[1..].parse().unwrap();
        self.engine
            .offer_result(offer.caller, &agent, OfferResult::Answered, self.now);
        self.enqueue(queue, "sl_en", self.now);
        assert!(self.engine.dispatch(self.now).is_empty());
        elapsed
    }

    /// One `caller_enqueue` decision; returns its time.
    fn caller_enqueue(&mut self) -> Duration {
        self.now += 1;
        let q = self.german_queues[self.rng.usize(..self.german_queues.len())];
        let start = Instant::now();
        let id = self.enqueue(q, "de", self.now);
        let offers = self.engine.dispatch(self.now);
        let elapsed = start.elapsed();
        assert_eq!(offers.len(), 1, "a German caller gets a German agent");
        // Restore: the caller hangs up while ringing, the agent is ready.
        assert!(self.engine.remove_caller(id, self.now, Leave::Abandoned));
        assert!(self.engine.dispatch(self.now).is_empty());
        elapsed
    }
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    (at(0.50), at(0.99), *samples.last().unwrap())
}

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(50)
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut report = Vec::new();
    for agents_per_queue in [10, 100, 1_000] {
        let setup = Instant::now();
        let mut bench = Bench::new(agents_per_queue);
        let agents = agents_per_queue * QUEUES / QUEUES_PER_AGENT;
        let callers = agents_per_queue / 2 * QUEUES;
        println!(
            "{agents_per_queue} agents per queue: {agents} agents, {callers} waiting callers, \
             {QUEUES} queues, built in {:.1?}",
            setup.elapsed()
        );
        let mut group = criterion.benchmark_group(format!("routing/{agents_per_queue}_per_queue"));
        group.bench_function("agent_ready", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| bench.agent_ready()).sum())
        });
        group.bench_function("caller_enqueue", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| bench.caller_enqueue()).sum())
        });
        group.finish();
        let ready = percentiles((0..LATENCY_SAMPLES).map(|_| bench.agent_ready()).collect());
        let enqueue = percentiles(
            (0..LATENCY_SAMPLES)
                .map(|_| bench.caller_enqueue())
                .collect(),
        );
        report.push((agents_per_queue, ready, enqueue));
    }
    println!("\nsingle decisions, {LATENCY_SAMPLES} samples each (p50 / p99 / max):");
    for (agents_per_queue, ready, enqueue) in report {
        println!(
            "{agents_per_queue:>5} agents per queue: agent_ready {:.1?} / {:.1?} / {:.1?}, \
             caller_enqueue {:.1?} / {:.1?} / {:.1?}",
            ready.0, ready.1, ready.2, enqueue.0, enqueue.1, enqueue.2
        );
    }
    criterion.final_summary();
}
