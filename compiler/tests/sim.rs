//! The scripted host as a library: timing, defaults, hang-ups, limits and
//! coverage, on small flows compiled in memory.

#![allow(
    clippy::panic,
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod common;

use flowc::sim::coverage::Tracker;
use flowc::sim::script::{Input, LookupAnswer, QueueAnswer, Script};
use flowc::sim::{PromptLengths, Setup, Simulation, simulate};
use flowc::vm::{CallInfo, DEFAULT_BUDGET, Outcome, Program};
use jiff::Timestamp;
use std::sync::Arc;

const FLOW: &str = r#"flow support answers "+38615550100"

on call {
  lookup customer in crm by call.from {
    timeout 800ms
    failed => tag "crm-down"
  }
  menu {
    prompt "choose-department"
    timeout 5s
    attempts 2
    1 => enqueue q
    no input => play "no-input"
  }
  collect order {
    prompt "enter-order"
    length 4
    timeout 5s
    attempts 1
  }
  tag "order-{order}"
  hangup
}

queue q {
  max wait 10m
  overflow voicemail "q"
}
"#;

fn program(text: &str) -> Arc<Program> {
    let project = common::project(&[("support.flow", text)]);
    let module = flowc::codegen::compile(&project, "support").unwrap_or_else(|e| {
        let codes: Vec<_> = e.iter().map(|d| d.message.clone()).collect();
        panic!("{codes:?}")
    });
    Program::load(module, |name| jiff::tz::db().get(name).ok()).unwrap()
}

fn setup(prompts: PromptLengths) -> Setup {
    Setup {
        call: CallInfo {
            id: String::from("test"),
            from: Some(String::from("+38640123456")),
            to: String::from("+38615550100"),
        },
        start: "2026-12-03T09:00:00Z".parse::<Timestamp>().unwrap(),
        prompts,
        budget: DEFAULT_BUDGET,
    }
}

fn run(text: &str, script: &Script) -> Simulation {
    simulate(&program(text), &setup(PromptLengths::default()), script)
}

fn inputs(items: &[&str]) -> Vec<Input> {
    items.iter().map(|i| Input::parse(i).unwrap()).collect()
}

fn step_at(simulation: &Simulation, text: &str) -> u64 {
    simulation
        .steps
        .iter()
        .find(|s| s.text.starts_with(text))
        .unwrap_or_else(|| panic!("no step `{text}` in {:#?}", simulation.lines()))
        .at_ms
}

#[test]
fn defaults_answer_queue_with_simulated_agent() {
    let simulation = run(
        FLOW,
        &Script {
            inputs: inputs(&["1"]),
            ..Script::default()
        },
    );
    assert_eq!(simulation.failure, None);
    assert_eq!(simulation.outcome, Some(Outcome::Answered));
    let lines = simulation.lines().join("\n");
    assert!(
        lines.contains("missing (no answer scripted for crm"),
        "{lines}"
    );
    assert!(
        lines.contains("answered by simulated-agent after 30s"),
        "{lines}"
    );
}

#[test]
fn clock_follows_prompts_and_keys() {
    let mut prompts = PromptLengths::default();
    prompts.insert("en", "choose-department", 4_000);
    let simulation = simulate(
        &program(FLOW),
        &setup(prompts),
        &Script {
            inputs: inputs(&["none", "1@2s"]),
            ..Script::default()
        },
    );
    // Lookup 50 ms, prompt 4 s, timeout 5 s, no-input prompt 1 s (unknown
    // length), prompt 4 s, key after 2 s.
    assert_eq!(step_at(&simulation, "no input after 5s"), 9_050);
    assert_eq!(step_at(&simulation, "caller pressed 1"), 16_050);
}

#[test]
fn late_key_is_no_input() {
    let simulation = run(
        FLOW,
        &Script {
            inputs: inputs(&["1@6s", "none"]),
            ..Script::default()
        },
    );
    let lines = simulation.lines().join("\n");
    assert!(
        lines.contains("no input after 5s (keys 1 came at 6s, too late)"),
        "{lines}"
    );
}

#[test]
fn digits_stop_at_maximum_length() {
    let simulation = run(
        FLOW,
        &Script {
            inputs: inputs(&["none", "none", "123456"]),
            ..Script::default()
        },
    );
    assert_eq!(simulation.tags, vec![String::from("order-1234")]);
    assert_eq!(simulation.outcome, Some(Outcome::Hangup));
}

#[test]
fn slow_lookup_times_out() {
    let mut script = Script {
        inputs: inputs(&["1"]),
        ..Script::default()
    };
    script.lookups.insert(
        String::from("crm"),
        LookupAnswer::parse("found:vip=true@900ms").unwrap(),
    );
    let simulation = run(FLOW, &script);
    assert_eq!(simulation.tags, vec![String::from("crm-down")]);
    assert_eq!(step_at(&simulation, "lookup timed out after 800ms"), 800);
}

#[test]
fn hangup_in_queue_is_abandoned() {
    let simulation = run(
        FLOW,
        &Script {
            inputs: inputs(&["1"]),
            queues: vec![QueueAnswer::parse("answered:alice@5m").unwrap()],
            hangup_after_ms: Some(60_000),
            ..Script::default()
        },
    );
    assert_eq!(simulation.outcome, Some(Outcome::Abandoned));
    let lines = simulation.lines().join("\n");
    assert!(lines.contains("caller hung up after "), "{lines}");
    assert_eq!(simulation.duration_ms, 60_000);
}

#[test]
fn queue_outcome_for_other_queue_is_not_used() {
    let simulation = run(
        FLOW,
        &Script {
            inputs: inputs(&["1"]),
            queues: vec![
                QueueAnswer::parse("sales=full").unwrap(),
                QueueAnswer::parse("q=max-wait").unwrap(),
            ],
            ..Script::default()
        },
    );
    let lines = simulation.lines().join("\n");
    assert!(lines.contains("max wait reached after 10m"), "{lines}");
    assert_eq!(simulation.outcome, Some(Outcome::Voicemail));
}

const PROMPT_LOOP: &str = r#"flow support answers "+38615550100"

on call {
  goto spin
}

step spin {
  play "welcome"
  goto spin
}
"#;

#[test]
fn effect_loop_stops_at_limit() {
    let simulation = run(PROMPT_LOOP, &Script::default());
    let failure = simulation.failure.expect("the loop is stopped");
    assert_eq!(failure.kind, "limit");
    assert!(
        failure.message.contains("more than 10000 effects"),
        "{}",
        failure.message
    );
}

#[test]
fn long_loop_stops_at_24_hours() {
    let mut prompts = PromptLengths::default();
    prompts.insert("en", "welcome", 3_600_000);
    let simulation = simulate(&program(PROMPT_LOOP), &setup(prompts), &Script::default());
    let failure = simulation.failure.expect("the loop is stopped");
    assert_eq!(failure.kind, "limit");
    assert!(
        failure.message.contains("longer than 24 hours"),
        "{}",
        failure.message
    );
}

#[test]
fn coverage_counts_reached_outcomes() {
    let program = program(FLOW);
    let mut tracker = Tracker::default();
    let empty = tracker.coverage(program.module());
    assert_eq!(empty.hit, 0);
    assert!(empty.total > 0);
    let simulation = simulate(
        &program,
        &setup(PromptLengths::default()),
        &Script {
            inputs: inputs(&["1"]),
            ..Script::default()
        },
    );
    tracker.add(&simulation);
    let coverage = tracker.coverage(program.module());
    assert!(coverage.hit > 0, "{coverage:#?}");
    assert!(coverage.hit < coverage.total, "{coverage:#?}");
    let reached: Vec<_> = coverage
        .items
        .iter()
        .filter(|i| i.hit)
        .map(|i| i.outcome.as_str())
        .collect();
    assert!(
        reached.iter().any(|o| o.ends_with("-> missing")),
        "{reached:?}"
    );
    assert!(
        reached.iter().any(|o| o.ends_with("-> key 1")),
        "{reached:?}"
    );
    assert!(coverage.percent() > 0.0 && coverage.percent() < 100.0);
}

#[test]
fn hangup_while_talking_is_answered() {
    let simulation = run(
        FLOW,
        &Script {
            inputs: inputs(&["1"]),
            queues: vec![QueueAnswer::parse("answered:alice@20s+5m").unwrap()],
            hangup_after_ms: Some(80_000),
            ..Script::default()
        },
    );
    assert_eq!(simulation.outcome, Some(Outcome::Answered));
    let lines = simulation.lines().join("\n");
    assert!(
        lines.contains("answered by alice after 20s, talked "),
        "{lines}"
    );
    assert!(lines.contains("until the caller hung up"), "{lines}");
    assert_eq!(simulation.duration_ms, 80_000);
}
