//! VM time per simulated call of the shipped support flow, with every
//! reply given at once so no time is spent waiting, and the instructions
//! per second of the interpreter on a flow of heavy expressions.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowc::bytecode::decode;
use flowc::project::{Project, PromptInventory};
use flowc::vm::{
    Call, CallInfo, CallOptions, Contact, Effect, Program, QueueOutcome, Reply, TraceLevel, Value,
};
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

fn load(project: &Project, flow: &str) -> Arc<Program> {
    let module = flowc::codegen::compile(project, flow).expect("the flow compiles");
    let module = decode(&module.encode()).expect("the module decodes");
    Program::load(module, |name| jiff::tz::db().get(name).ok()).expect("the zones resolve")
}

fn support() -> Arc<Program> {
    let config = include_str!("../../flows/tok.yaml");
    let mut project = Project::new(Some(("tok.yaml", config)), PromptInventory::default());
    project.add_flow("office.flow", include_str!("../../flows/office.flow"));
    project.add_flow("support.flow", include_str!("../../flows/support.flow"));
    load(&project, "support")
}

/// The replies of one scripted caller.
struct Caller {
    lookup: Reply,
    /// Keys pressed during each prompt, in order; nothing once used up.
    keys: Vec<&'static str>,
    now: Timestamp,
}

fn info() -> CallInfo {
    CallInfo {
        id: String::from("bench"),
        from: Some(String::from("+38640111222")),
        to: String::from("+38615550100"),
    }
}

/// Runs one call to its end and returns the instructions it ran.
fn run_call(program: &Arc<Program>, caller: &Caller, trace: TraceLevel) -> u64 {
    let options = CallOptions {
        trace,
        ..CallOptions::default()
    };
    let mut call = Call::new(Arc::clone(program), info(), options);
    let mut keys = caller.keys.iter();
    let mut reply = Reply::Start;
    loop {
        let effect = call.resume(caller.now, reply).expect("the call runs");
        reply = match effect {
            Effect::Finished { .. } => return call.instructions(),
            Effect::Lookup { .. } => caller.lookup.clone(),
            Effect::Play { .. } => Reply::Played {
                keys: keys.next().copied().unwrap_or_default().to_string(),
            },
            Effect::CollectKey { .. } | Effect::CollectDigits { .. } => Reply::NoInput,
            Effect::Enqueue { .. } => Reply::Queue(QueueOutcome::Answered {
                agent: String::from("ana"),
                wait_ms: 12_000,
                talk_ms: 240_000,
            }),
            Effect::Survey { .. } => Reply::Rating(Some(5)),
            _ => Reply::Done,
        };
    }
}

fn local(text: &str) -> Timestamp {
    jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M", text)
        .unwrap()
        .in_tz("Europe/Ljubljana")
        .unwrap()
        .timestamp()
}

fn support_calls(c: &mut Criterion) {
    let program = support();
    let vip = Reply::Found(Contact {
        fields: BTreeMap::from([
            (String::from("vip"), Value::Bool(true)),
            (String::from("language"), Value::Text(String::from("en"))),
        ]),
    });
    let callers = [
        (
            "unknown caller pressing 1",
            Caller {
                lookup: Reply::Missing,
                // English at the language menu, nothing during the welcome,
                // technical at the department menu.
                keys: vec!["1", "", "1"],
                now: local("2026-12-02T10:00"),
            },
        ),
        (
            "VIP",
            Caller {
                lookup: vip,
                keys: vec!["", "1"],
                now: local("2026-12-02T10:00"),
            },
        ),
        (
            "after hours",
            Caller {
                lookup: Reply::Missing,
                keys: vec!["1"],
                now: local("2026-12-02T20:00"),
            },
        ),
    ];
    let mut group = c.benchmark_group("support call");
    for (name, caller) in &callers {
        group.bench_function(*name, |b| {
            b.iter(|| black_box(run_call(&program, caller, TraceLevel::Path)))
        });
    }
    group.finish();
}

/// A flow that loops over arithmetic, comparisons and text without
/// waiting for input. The checker rejects the loop, so it is compiled
/// without it; a budget above the loop's length lets it finish.
const HEAVY: &str = r#"flow heavy

on call {
  let n = 0
  let total = 0
  let label = ""
  goto work
}

step work {
  set n = n + 1
  set total = (total + n * 3 - n / 2 + n % 7) % 1000003
  set label = if total % 2 == 0 and n > 10 or n < 3 then "even {n}" else "odd"
  if n < 2000 and (length(label) > 0 or total >= 0) {
    goto work
  }
  hangup
}
"#;

fn interpreter(c: &mut Criterion) {
    let mut project = Project::new(None, PromptInventory::default());
    project.add_flow("heavy.flow", HEAVY);
    let program = load(&project, "heavy");
    let caller = Caller {
        lookup: Reply::Missing,
        keys: Vec::new(),
        now: local("2026-12-02T10:00"),
    };
    let run = |program: &Arc<Program>| {
        let options = CallOptions {
            budget: u32::MAX,
            trace: TraceLevel::Off,
        };
        let mut call = Call::new(Arc::clone(program), info(), options);
        let mut reply = Reply::Start;
        while !call.is_over() {
            call.resume(caller.now, reply).expect("the call runs");
            reply = Reply::Done;
        }
        call.instructions()
    };
    let instructions = run(&program);
    let mut group = c.benchmark_group("interpreter");
    group.throughput(Throughput::Elements(instructions));
    group.bench_function(format!("{instructions} instructions"), |b| {
        b.iter(|| black_box(run(&program)))
    });
    group.finish();
}

criterion_group!(benches, support_calls, interpreter);
criterion_main!(benches);
