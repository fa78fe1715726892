//! The per-call VM driven through compiled flows with scripted replies:
//! every effect and reply, type-ahead, hang-ups, `after call`, sub-flows,
//! the instruction budget, the `run` depth, wrong replies and reloads.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use flowc::bytecode::{Module, ProbeOutcome, RecordMode, TicketMode, decode};
use flowc::vm::{
    Call, CallInfo, CallOptions, Contact, Effect, Event, MASK, Outcome, Program, QueueOutcome,
    Reply, RunError, TraceLevel, Value,
};
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;

const CONFIG: &str = r#"languages: [en, sl]
skills:
  routers: { max_level: 3 }
hooks:
  orders:
    kind: webhook
    url: "http://127.0.0.1:9/orders"
  chat:
    kind: notify
    url: "http://127.0.0.1:9/chat"
crm:
  fields:
    tier: text
"#;

/// A flow that reaches every kind of effect.
const EVERYTHING: &str = r#"flow f

on call {
  lookup c in crm by call.from {
    timeout 500ms
    failed => tag "crm-down"
  }
  record on
  play "welcome"
  menu {
    prompt "choose-department"
    attempts 2
    1 => set language = "sl"
    2 => transfer "+38615550199"
    3 => voicemail "sales"
    4 => hangup
    no input => play "no-input"
  }
  collect order {
    prompt "enter-order"
    length 4
    attempts 2
    sensitive
    invalid => play "order-invalid"
  }
  tag "order-{order}"
  enqueue q else {
    voicemail "overflow"
  }
}

after call {
  timeline "{call.outcome} {call.queue} {call.agent} {call.wait} {call.talk}"
  ticket link or create "Call from {call.from}"
  survey "survey-intro", "goodbye"
  webhook orders
  notify chat "done"
}

queue q {
  priority if c is found and c.vip then 10 else 1
}
"#;

fn now() -> Timestamp {
    "2026-12-02T10:00:00Z".parse().unwrap()
}

/// Compiles a flow without the checker, as the runtime would load it: the
/// VM must not depend on the checker's guarantees.
fn module(files: &[(&str, &str)], flow: &str) -> Module {
    let project = common::project_with_config(files, Some(CONFIG));
    assert!(project.diagnostics.is_empty(), "{:#?}", project.diagnostics);
    let module = flowc::codegen::compile(&project, flow).unwrap_or_else(|e| panic!("{e:#?}"));
    decode(&module.encode()).unwrap()
}

fn load(module: Module) -> Arc<Program> {
    Program::load(module, |name| jiff::tz::db().get(name).ok()).unwrap()
}

fn program(text: &str) -> Arc<Program> {
    load(module(&[("f.flow", text)], "f"))
}

fn info(from: Option<&str>) -> CallInfo {
    CallInfo {
        id: String::from("call-1"),
        from: from.map(String::from),
        to: String::from("+38615550100"),
    }
}

/// A call and the instant its replies carry.
struct Script {
    call: Call,
}

impl Script {
    fn new(program: &Arc<Program>, trace: TraceLevel) -> Script {
        let options = CallOptions {
            trace,
            ..CallOptions::default()
        };
        let call = Call::new(Arc::clone(program), info(Some("+38640111222")), options);
        Script { call }
    }

    fn reply(&mut self, reply: Reply) -> Effect {
        self.call
            .resume(now(), reply)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn start(&mut self) -> Effect {
        self.reply(Reply::Start)
    }

    fn done(&mut self) -> Effect {
        self.reply(Reply::Done)
    }

    fn played(&mut self, keys: &str) -> Effect {
        self.reply(Reply::Played {
            keys: keys.to_string(),
        })
    }

    /// Probe outcomes of the trace so far, in order.
    fn outcomes(&self) -> Vec<ProbeOutcome> {
        let module = self.call.program().module();
        self.call
            .trace()
            .iter()
            .filter_map(|e| match e {
                Event::Probe(p) => Some(module.probes[p.0 as usize].outcome),
                _ => None,
            })
            .collect()
    }
}

fn contact(fields: &[(&str, Value)]) -> Contact {
    Contact {
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn vip() -> Contact {
    contact(&[
        ("vip", Value::Bool(true)),
        ("name", Value::Text("Ana".into())),
    ])
}

fn play(prompt: &str, language: &str, barge_in: bool) -> Effect {
    Effect::Play {
        prompts: vec![prompt.to_string()],
        language: language.to_string(),
        barge_in,
    }
}

fn collect_order(typed: &str) -> Effect {
    Effect::CollectDigits {
        min: 4,
        max: 4,
        terminator: '#',
        timeout_ms: 5000,
        interdigit_ms: 3000,
        sensitive: true,
        typed: typed.to_string(),
    }
}

/// Runs the flow up to the first menu prompt, with the caller found.
fn to_menu(script: &mut Script) {
    assert_eq!(script.start(), Effect::Answer);
    let lookup = script.done();
    assert_eq!(
        lookup,
        Effect::Lookup {
            source: String::from("crm"),
            key: String::from("+38640111222"),
            timeout_ms: 500,
        }
    );
    assert_eq!(
        script.reply(Reply::Found(vip())),
        Effect::Record(RecordMode::On)
    );
    assert_eq!(script.done(), play("welcome", "en", false));
    assert_eq!(script.played(""), play("choose-department", "en", true));
}

#[test]
fn every_effect_in_order() {
    let program = program(EVERYTHING);
    let mut s = Script::new(&program, TraceLevel::Path);
    to_menu(&mut s);
    assert_eq!(s.played(""), Effect::CollectKey { timeout_ms: 5000 });
    assert_eq!(
        s.reply(Reply::Keys("1".into())),
        play("enter-order", "sl", true)
    );
    assert_eq!(s.played(""), collect_order(""));
    assert_eq!(
        s.reply(Reply::Keys("4321".into())),
        Effect::Tag(String::from("order-4321"))
    );
    let enqueue = s.done();
    assert_eq!(
        enqueue,
        Effect::Enqueue {
            queue: flowc::bytecode::QueueId(0),
            name: String::from("q"),
            priority: 10,
            language: String::from("sl"),
        }
    );
    let answered = QueueOutcome::Answered {
        agent: String::from("ana"),
        wait_ms: 12_000,
        talk_ms: 90_000,
    };
    assert_eq!(
        s.reply(Reply::Queue(answered)),
        Effect::Timeline(String::from("answered q ana 12s 1m30s"))
    );
    assert_eq!(s.call.outcome(), Some(Outcome::Answered));
    assert_eq!(
        s.done(),
        Effect::Ticket {
            mode: TicketMode::LinkOrCreate,
            subject: Some(String::from("Call from +38640111222")),
        }
    );
    assert_eq!(
        s.done(),
        Effect::Survey {
            question: String::from("survey-intro"),
            thanks: Some(String::from("goodbye")),
            language: String::from("sl"),
        }
    );
    let webhook = s.reply(Reply::Rating(Some(5)));
    assert_eq!(
        webhook,
        Effect::Webhook {
            hook: String::from("orders")
        }
    );
    assert_eq!(s.call.rating(), Some(5));
    assert_eq!(
        s.done(),
        Effect::Notify {
            hook: String::from("chat"),
            message: String::from("done"),
        }
    );
    let finished = Effect::Finished {
        outcome: Outcome::Answered,
    };
    assert_eq!(s.done(), finished);
    assert!(s.call.is_over());
    assert_eq!(s.reply(Reply::Done), finished);
    assert_eq!(s.call.tags(), ["order-4321"]);
    assert_eq!(s.call.language(), "sl");
    assert_eq!(
        s.call.variable("order"),
        Some(&Value::Digits(String::from("4321")))
    );
    assert!(
        s.call
            .variables()
            .iter()
            .all(|(name, _)| !name.starts_with('%'))
    );
    assert_eq!(
        s.outcomes(),
        [
            ProbeOutcome::Found,
            ProbeOutcome::Key(flowc::bytecode::Key::new('1').unwrap()),
            ProbeOutcome::Valid
        ]
    );
}

#[test]
fn sensitive_digits_are_masked_in_the_trace() {
    let program = program(EVERYTHING);
    let mut s = Script::new(&program, TraceLevel::Full);
    to_menu(&mut s);
    s.played("1");
    s.played("");
    s.reply(Reply::Keys("4321".into()));
    let masked: String = std::iter::repeat_n(MASK, 4).collect();
    let trace = s.call.trace();
    assert!(trace.contains(&Event::Reply(Reply::Keys(masked.clone()))));
    assert!(!trace.contains(&Event::Reply(Reply::Keys("4321".into()))));
    let sets: Vec<&Value> = trace
        .iter()
        .filter_map(|e| match e {
            Event::Set { slot, value }
                if program.module().slots[slot.0 as usize].name == "order" =>
            {
                Some(value)
            }
            _ => None,
        })
        .collect();
    assert_eq!(sets, [&Value::Digits(masked)]);
    assert_eq!(
        s.call.variable("order"),
        Some(&Value::Digits(String::from("4321")))
    );
}

#[test]
fn lookup_replies_take_their_paths() {
    let program = program(EVERYTHING);
    for (reply, probe, tags) in [
        (Reply::Missing, ProbeOutcome::Missing, &[][..]),
        (
            Reply::LookupFailed {
                timed_out: true,
                reason: String::from("no answer in 500ms"),
            },
            ProbeOutcome::Failed,
            &["crm-down"][..],
        ),
    ] {
        let mut s = Script::new(&program, TraceLevel::Path);
        s.start();
        s.done();
        let mut effect = s.reply(reply);
        if effect == Effect::Tag(String::from("crm-down")) {
            effect = s.done();
        }
        assert_eq!(effect, Effect::Record(RecordMode::On));
        assert_eq!(s.outcomes(), [probe]);
        assert_eq!(s.call.tags(), tags);
        assert_eq!(s.call.variable("c"), Some(&Value::Contact(None)));
    }
}

/// Runs the flow to the enqueue with the caller missing from the CRM.
fn to_enqueue(s: &mut Script) -> Effect {
    s.start();
    s.done();
    s.reply(Reply::Missing);
    s.done();
    s.played("");
    s.played("1");
    s.played("");
    s.reply(Reply::Keys("1234".into()));
    s.done()
}

#[test]
fn queue_outcomes_set_the_call_facts() {
    let program = program(EVERYTHING);
    let cases = [
        (
            QueueOutcome::Callback { wait_ms: 60_000 },
            "callback q  1m 0s",
            Outcome::Callback,
        ),
        (
            QueueOutcome::Abandoned { wait_ms: 5_000 },
            "abandoned q  5s 0s",
            Outcome::Abandoned,
        ),
    ];
    for (outcome, timeline, expected) in cases {
        let mut s = Script::new(&program, TraceLevel::Path);
        let enqueue = to_enqueue(&mut s);
        assert!(matches!(enqueue, Effect::Enqueue { priority: 1, .. }));
        assert_eq!(
            s.reply(Reply::Queue(outcome)),
            Effect::Timeline(timeline.to_string())
        );
        assert_eq!(s.call.outcome(), Some(expected));
    }
}

#[test]
fn queue_overflow_takes_the_else_arm() {
    let program = program(EVERYTHING);
    for outcome in [
        QueueOutcome::MaxWait { wait_ms: 900_000 },
        QueueOutcome::Full,
        QueueOutcome::NoAgents,
    ] {
        let mut s = Script::new(&program, TraceLevel::Path);
        to_enqueue(&mut s);
        let voicemail = s.reply(Reply::Queue(outcome));
        assert_eq!(
            voicemail,
            Effect::Voicemail {
                mailbox: String::from("overflow"),
                language: String::from("sl"),
            }
        );
        assert!(s.outcomes().contains(&ProbeOutcome::Overflow));
        let timeline = s.done();
        // Overflow then voicemail ends as voicemail.
        assert!(
            matches!(&timeline, Effect::Timeline(t) if t.starts_with("voicemail q ")),
            "{timeline:?}"
        );
    }
}

#[test]
fn hang_up_during_each_effect() {
    let program = program(EVERYTHING);
    // How many replies lead to the effect, the keys pressed at the menu,
    // and the outcome a hang-up there gives.
    let cases: [(usize, &str, &str); 10] = [
        (0, "", "hangup"),     // answer
        (1, "", "hangup"),     // lookup
        (2, "", "hangup"),     // record
        (3, "", "hangup"),     // play
        (5, "", "hangup"),     // collect key
        (5, "2", "hangup"),    // transfer
        (5, "3", "voicemail"), // voicemail
        (6, "1", "hangup"),    // collect digits
        (7, "1", "hangup"),    // tag
        (8, "1", "abandoned"), // enqueue
    ];
    for (steps, keys, outcome) in cases {
        let mut s = Script::new(&program, TraceLevel::Path);
        let mut effect = s.start();
        for step in 0..steps {
            effect = match effect {
                Effect::Lookup { .. } => s.reply(Reply::Missing),
                Effect::Play { .. } if step == 4 => s.played(keys),
                Effect::Play { .. } => s.played(""),
                Effect::CollectDigits { .. } => s.reply(Reply::Keys("1234".into())),
                _ => s.done(),
            };
        }
        let after = s.reply(Reply::HungUp);
        let Effect::Timeline(text) = &after else {
            panic!("after {steps} steps with {keys:?} and a hang-up at {effect:?}: {after:?}");
        };
        assert!(text.starts_with(outcome), "{effect:?}: {text}");
        assert!(
            s.call
                .trace()
                .iter()
                .any(|e| matches!(e, Event::CallEnded(_))),
            "{effect:?}"
        );
    }
}

#[test]
fn hang_up_in_after_call_continues() {
    let program = program(EVERYTHING);
    let mut s = Script::new(&program, TraceLevel::Path);
    s.start();
    let timeline = s.reply(Reply::HungUp);
    assert!(matches!(timeline, Effect::Timeline(_)));
    s.done();
    let survey = s.done();
    assert!(matches!(survey, Effect::Survey { .. }));
    assert!(matches!(s.reply(Reply::HungUp), Effect::Webhook { .. }));
    assert!(matches!(s.reply(Reply::HungUp), Effect::Notify { .. }));
    assert_eq!(
        s.done(),
        Effect::Finished {
            outcome: Outcome::Hangup
        }
    );
    assert_eq!(s.call.rating(), None);
}

#[test]
fn menu_no_input_until_exhausted() {
    let program = program(EVERYTHING);
    let mut s = Script::new(&program, TraceLevel::Path);
    to_menu(&mut s);
    assert_eq!(s.played(""), Effect::CollectKey { timeout_ms: 5000 });
    assert_eq!(s.reply(Reply::NoInput), play("no-input", "en", false));
    assert_eq!(s.played(""), play("choose-department", "en", true));
    s.played("");
    assert_eq!(s.reply(Reply::NoInput), play("no-input", "en", false));
    // The attempts are used up; the flow continues after the menu.
    assert_eq!(s.played(""), play("enter-order", "en", true));
    let no_input = ProbeOutcome::NoInput;
    assert_eq!(
        s.outcomes(),
        [
            ProbeOutcome::Found,
            no_input,
            no_input,
            ProbeOutcome::Exhausted
        ]
    );
}

#[test]
fn invalid_key_and_invalid_digits() {
    let program = program(EVERYTHING);
    let mut s = Script::new(&program, TraceLevel::Path);
    to_menu(&mut s);
    s.played("");
    // 9 has no arm and there is no `invalid` arm: the menu asks again.
    assert_eq!(
        s.reply(Reply::Keys("9".into())),
        play("choose-department", "en", true)
    );
    s.played("1");
    s.played("");
    assert_eq!(
        s.reply(Reply::Keys("12".into())),
        play("order-invalid", "sl", false)
    );
    assert_eq!(s.played(""), play("enter-order", "sl", true));
    s.played("");
    // The terminator alone is an empty input: invalid, not silence.
    s.reply(Reply::Keys(String::new()));
    assert_eq!(s.played(""), Effect::Tag(String::from("order-")));
    assert_eq!(
        s.call.variable("order"),
        Some(&Value::Digits(String::new()))
    );
    let outcomes = s.outcomes();
    assert_eq!(
        outcomes[1..],
        [
            ProbeOutcome::Invalid,
            ProbeOutcome::Key(flowc::bytecode::Key::new('1').unwrap()),
            ProbeOutcome::Invalid,
            ProbeOutcome::Invalid,
            ProbeOutcome::Exhausted,
        ]
    );
}

#[test]
fn type_ahead_answers_the_menu_and_the_collect() {
    let program = program(EVERYTHING);
    let mut s = Script::new(&program, TraceLevel::Path);
    to_menu(&mut s);
    // The caller presses 1 and the whole order number during the menu
    // prompt: the collect skips its prompt and neither input waits.
    assert_eq!(s.played("14321"), Effect::Tag(String::from("order-4321")));
    let mut s2 = Script::new(&program, TraceLevel::Path);
    to_menu(&mut s2);
    s2.played("1");
    assert_eq!(
        s2.played("43"),
        collect_order(&std::iter::repeat_n(MASK, 2).collect::<String>())
    );
    assert_eq!(
        s2.reply(Reply::Keys("21".into())),
        Effect::Tag(String::from("order-4321"))
    );
    let typed: Vec<&Event> = s2
        .call
        .trace()
        .iter()
        .filter(|e| matches!(e, Event::TypeAhead(_)))
        .collect();
    assert_eq!(typed, [&Event::TypeAhead(String::from("1"))]);
    drop(s);
}

#[test]
fn type_ahead_of_a_complete_collect() {
    let program = program(EVERYTHING);
    let mut s = Script::new(&program, TraceLevel::Path);
    to_menu(&mut s);
    s.played("1");
    assert_eq!(s.played("4321"), Effect::Tag(String::from("order-4321")));
    let masked: String = std::iter::repeat_n(MASK, 4).collect();
    assert!(s.call.trace().contains(&Event::TypeAhead(masked)));
}

#[test]
fn wrong_replies_stop_the_call() {
    let program = program(EVERYTHING);
    let mut s = Script::new(&program, TraceLevel::Path);
    let error = s.call.resume(now(), Reply::Done).unwrap_err();
    assert_eq!(
        error,
        RunError::WrongReply {
            effect: String::from("the start of the call"),
            reply: String::from("Done"),
        }
    );
    // The call is stopped: it gives the same error again.
    assert_eq!(s.call.resume(now(), Reply::Start).unwrap_err(), error);

    let wrong: [(usize, Reply); 4] = [
        (
            1,
            Reply::Played {
                keys: String::new(),
            },
        ),
        (4, Reply::Keys(String::from("1a"))),
        (4, Reply::Done),
        (5, Reply::Keys(String::new())),
    ];
    for (steps, reply) in wrong {
        let mut s = Script::new(&program, TraceLevel::Path);
        let mut effect = s.start();
        for _ in 0..steps {
            effect = match effect {
                Effect::Lookup { .. } => s.reply(Reply::Missing),
                Effect::Play { .. } => s.played(""),
                _ => s.done(),
            };
        }
        let error = s.call.resume(now(), reply.clone()).unwrap_err();
        assert!(
            matches!(error, RunError::WrongReply { .. }),
            "{reply:?} to {effect:?}: {error}"
        );
        assert!(s.call.is_over());
    }
    let mut s = Script::new(&program, TraceLevel::Path);
    s.start();
    let timeline = s.reply(Reply::HungUp);
    assert!(matches!(timeline, Effect::Timeline(_)));
    s.done();
    s.done();
    let error = s.call.resume(now(), Reply::Rating(Some(6))).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the host replied Rating to survey; see the docs of `Effect` for the replies each effect takes"
    );
}

#[test]
fn subflow_runs_and_returns() {
    let program = program(
        "flow f\non call {\n run helper\n run helper\n hangup\n}\n\
         subflow helper {\n let x = 1\n if x > 0 {\n  play \"h\"\n  return\n }\n play \"never\"\n}\n",
    );
    let mut s = Script::new(&program, TraceLevel::Full);
    s.start();
    assert_eq!(s.done(), play("h", "en", false));
    assert_eq!(s.played(""), play("h", "en", false));
    assert_eq!(s.played(""), Effect::Hangup);
    assert_eq!(
        s.done(),
        Effect::Finished {
            outcome: Outcome::Hangup
        }
    );
    assert_eq!(s.call.variable("helper.x"), Some(&Value::Int(1)));
    assert!(
        s.call
            .trace()
            .iter()
            .any(|e| matches!(e, Event::Eval { .. }))
    );
}

#[test]
fn budget_stops_an_endless_goto_loop() {
    // The checker rejects this flow (F0303); the VM must stop it anyway.
    let text = "flow f\non call {\n goto a\n}\nstep a {\n goto b\n}\nstep b {\n goto a\n}\n";
    let program = load(module(&[("loop.flow", text)], "f"));
    let options = CallOptions {
        budget: 1_000,
        trace: TraceLevel::Off,
    };
    let mut call = Call::new(program, info(None), options);
    assert_eq!(call.resume(now(), Reply::Start), Ok(Effect::Answer));
    let error = call.resume(now(), Reply::Done).unwrap_err();
    let RunError::Budget {
        flow,
        budget,
        place,
    } = &error
    else {
        panic!("{error}");
    };
    assert_eq!(flow, "f");
    assert_eq!(*budget, 1_000);
    assert!(
        place == "loop.flow:6:2" || place == "loop.flow:9:2",
        "{place}"
    );
    assert!(error.to_string().contains("probably looping"), "{error}");
    assert!(call.trace().is_empty());
    assert!(call.instructions() > 1_000);
}

#[test]
fn budget_counts_unit_instructions() {
    let text = "flow f\non call {\n let n = 0\n goto a\n}\n\
                step a {\n set n = n + 1 + 1 + 1 + 1 + 1 + 1 + 1\n goto a\n}\n";
    let program = load(module(&[("f.flow", text)], "f"));
    let options = CallOptions {
        budget: 2_000,
        trace: TraceLevel::Path,
    };
    let mut call = Call::new(program, info(None), options);
    call.resume(now(), Reply::Start).unwrap();
    let error = call.resume(now(), Reply::Done).unwrap_err();
    assert!(matches!(error, RunError::Budget { .. }), "{error}");
    // Each round adds 7 and runs 3 code and 15 unit instructions, so 111
    // rounds fit in 2000 instructions; without the unit instructions 666
    // would.
    let Some(Value::Int(n)) = call.variable("n") else {
        panic!("{:?}", call.variable("n"));
    };
    assert_eq!(*n / 7, 111);
}

#[test]
fn run_depth_is_limited() {
    let text = "flow f\non call {\n run again\n hangup\n}\nsubflow again {\n run again\n}\n";
    let program = program(text);
    let mut call = Call::new(program, info(None), CallOptions::default());
    call.resume(now(), Reply::Start).unwrap();
    let error = call.resume(now(), Reply::Done).unwrap_err();
    let RunError::RunDepth { flow, place } = &error else {
        panic!("{error}");
    };
    assert_eq!(flow, "f");
    assert_eq!(place, "f.flow:7:2");
}

#[test]
fn running_call_keeps_its_program_after_a_reload() {
    let old = program("flow f\non call {\n play \"old\"\n hangup\n}\n");
    let mut call = Call::new(Arc::clone(&old), info(None), CallOptions::default());
    call.resume(now(), Reply::Start).unwrap();
    // A reload gives new calls a new program and drops the host's handle
    // on the old one.
    let current = program("flow f\non call {\n play \"new\"\n hangup\n}\n");
    drop(old);
    assert_eq!(
        call.resume(now(), Reply::Done).unwrap(),
        play("old", "en", false)
    );
    assert_eq!(Arc::strong_count(call.program()), 1);
    let mut fresh = Call::new(Arc::clone(&current), info(None), CallOptions::default());
    fresh.resume(now(), Reply::Start).unwrap();
    assert_eq!(
        fresh.resume(now(), Reply::Done).unwrap(),
        play("new", "en", false)
    );
}

#[test]
fn builtins_and_field_types() {
    let text = "flow f\non call {\n lookup c in crm by call.from {\n  failed => hangup\n }\n\
                if c is found and c.vip {\n  tag \"vip\"\n }\n\
                tag \"{call.id} {call.to} {call.anonymous} {call.from}\"\n hangup\n}\n";
    let program = program(text);
    let mut call = Call::new(program, info(None), CallOptions::default());
    call.resume(now(), Reply::Start).unwrap();
    let lookup = call.resume(now(), Reply::Done).unwrap();
    assert!(matches!(&lookup, Effect::Lookup { key, .. } if key == "anonymous"));
    let wrong = contact(&[("vip", Value::Text(String::from("yes")))]);
    let tag = call.resume(now(), Reply::Found(wrong)).unwrap();
    assert_eq!(
        tag,
        Effect::Tag(String::from("call-1 +38615550100 true anonymous"))
    );
    assert!(call.trace().contains(&Event::FieldType {
        field: String::from("vip"),
        expected: flowc::bytecode::Type::Bool,
    }));
}

#[test]
fn unknown_language_is_ignored() {
    let text = "flow f\non call {\n lookup c in crm by call.from {\n  failed => hangup\n }\n\
                if c is found {\n  set language = c.language\n }\n play \"p\"\n hangup\n}\n";
    let program = program(text);
    for (language, expected, event) in [
        ("sl", "sl", Event::Language(String::from("sl"))),
        ("de", "en", Event::UnknownLanguage(String::from("de"))),
    ] {
        let mut call = Call::new(Arc::clone(&program), info(None), CallOptions::default());
        call.resume(now(), Reply::Start).unwrap();
        call.resume(now(), Reply::Done).unwrap();
        let found = contact(&[("language", Value::Text(language.to_string()))]);
        let effect = call.resume(now(), Reply::Found(found)).unwrap();
        assert_eq!(effect, play("p", expected, false));
        assert!(call.trace().contains(&event), "{:?}", call.trace());
    }
}

#[test]
fn trace_levels() {
    let program = program(EVERYTHING);
    let mut off = Script::new(&program, TraceLevel::Off);
    to_menu(&mut off);
    assert!(off.call.trace().is_empty());
    let mut path = Script::new(&program, TraceLevel::Path);
    to_menu(&mut path);
    let trace = path.call.take_trace();
    assert!(path.call.trace().is_empty());
    assert!(trace.contains(&Event::Effect(Effect::Answer)));
    assert!(trace.contains(&Event::Reply(Reply::Done)));
    assert!(
        !trace
            .iter()
            .any(|e| matches!(e, Event::Eval { .. } | Event::Set { .. }))
    );
    let mut full = Script::new(&program, TraceLevel::Full);
    to_menu(&mut full);
    let evals: Vec<&Event> = full
        .call
        .trace()
        .iter()
        .filter(|e| matches!(e, Event::Eval { .. }))
        .collect();
    let Some(Event::Eval { value, read, .. }) = evals.first() else {
        panic!("{:?}", full.call.trace());
    };
    assert_eq!(value, &Value::Text(String::from("+38640111222")));
    assert_eq!(
        read,
        &[(
            String::from("call.from"),
            Value::Text(String::from("+38640111222"))
        )]
    );
}

#[test]
fn finished_call_stays_finished() {
    let program = program("flow f\non call {\n hangup\n}\n");
    let mut call = Call::new(program, info(None), CallOptions::default());
    assert_eq!(call.resume(now(), Reply::Start), Ok(Effect::Answer));
    assert_eq!(call.resume(now(), Reply::Done), Ok(Effect::Hangup));
    let finished = Ok(Effect::Finished {
        outcome: Outcome::Hangup,
    });
    assert_eq!(call.resume(now(), Reply::Done), finished);
    assert_eq!(call.resume(now(), Reply::HungUp), finished);
    assert_eq!(call.outcome(), Some(Outcome::Hangup));
}

#[test]
fn program_load_rejects_unknown_zones() {
    let text = "flow f\non call {\n if open(h) {\n  hangup\n }\n hangup\n}\n\
                hours h in \"Europe/Ljubljana\" {\n  mon..fri 08:00..17:00\n}\n";
    let module = module(&[("f.flow", text)], "f");
    let error = Program::load(module, |_| None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "schedule `h` uses time zone `Europe/Ljubljana`, which this machine's time zone database does not have"
    );
}

/// Builds a reply from a number, covering every kind with a few values.
fn any_reply(pick: u8) -> Reply {
    match pick % 16 {
        0 => Reply::Start,
        1 | 2 => Reply::Done,
        3 => Reply::Played {
            keys: String::new(),
        },
        4 => Reply::Played {
            keys: String::from("1#"),
        },
        5 => Reply::Keys(String::from("1")),
        6 => Reply::Keys(String::from("4321")),
        7 => Reply::NoInput,
        8 => Reply::Found(vip()),
        9 => Reply::Missing,
        10 => Reply::LookupFailed {
            timed_out: false,
            reason: String::from("refused"),
        },
        11 => Reply::Queue(QueueOutcome::NoAgents),
        12 => Reply::Queue(QueueOutcome::Answered {
            agent: String::from("ana"),
            wait_ms: 1,
            talk_ms: 2,
        }),
        13 => Reply::Rating(Some(3)),
        14 => Reply::Rating(Some(0)),
        _ => Reply::HungUp,
    }
}

proptest::proptest! {
    #[test]
    fn any_replies_never_panic(picks in proptest::collection::vec(0u8..16, 0..40)) {
        let program = program(EVERYTHING);
        let mut call = Call::new(program, info(Some("+386")), CallOptions::default());
        let mut finished = None;
        for pick in picks {
            match call.resume(now(), any_reply(pick)) {
                Ok(Effect::Finished { outcome }) => {
                    if let Some(first) = finished {
                        proptest::prop_assert_eq!(first, outcome);
                    }
                    finished = Some(outcome);
                }
                Ok(_) => proptest::prop_assert!(finished.is_none()),
                Err(RunError::WrongReply { .. }) => proptest::prop_assert!(call.is_over()),
                Err(error) => proptest::prop_assert!(false, "{}", error),
            }
        }
    }
}

#[test]
fn menu_endings_set_the_outcome() {
    let program = program(EVERYTHING);
    let cases = [
        (
            "2",
            Effect::Transfer {
                target: String::from("+38615550199"),
            },
            "transferred",
        ),
        (
            "3",
            Effect::Voicemail {
                mailbox: String::from("sales"),
                language: String::from("en"),
            },
            "voicemail",
        ),
        ("4", Effect::Hangup, "hangup"),
    ];
    for (key, ending, outcome) in cases {
        let mut s = Script::new(&program, TraceLevel::Path);
        to_menu(&mut s);
        assert_eq!(s.played(key), ending);
        let timeline = s.done();
        assert!(
            matches!(&timeline, Effect::Timeline(t) if t.starts_with(outcome)),
            "{key}: {timeline:?}"
        );
        // A hang-up at the ending effect ends the call the same way,
        // except for a transfer, which did not happen.
        let mut s = Script::new(&program, TraceLevel::Path);
        to_menu(&mut s);
        s.played(key);
        let timeline = s.reply(Reply::HungUp);
        let expected = if key == "2" { "hangup" } else { outcome };
        assert!(
            matches!(&timeline, Effect::Timeline(t) if t.starts_with(expected)),
            "{key}: {timeline:?}"
        );
    }
}

#[test]
fn overflow_to_hangup_ends_as_overflow() {
    let text = "flow f\non call {\n enqueue q\n}\nqueue q {\n overflow hangup\n}\n\
                after call {\n tag call.outcome\n}\n";
    let program = program(text);
    let mut call = Call::new(program, info(None), CallOptions::default());
    call.resume(now(), Reply::Start).unwrap();
    let enqueue = call.resume(now(), Reply::Done).unwrap();
    assert!(matches!(enqueue, Effect::Enqueue { priority: 0, .. }));
    let hangup = call.resume(now(), Reply::Queue(QueueOutcome::Full));
    assert_eq!(hangup, Ok(Effect::Hangup));
    let tag = call.resume(now(), Reply::Done);
    assert_eq!(tag, Ok(Effect::Tag(String::from("overflow"))));
    assert_eq!(call.outcome(), Some(Outcome::Overflow));
}

#[test]
fn budget_stops_a_hand_built_jump_loop() {
    use flowc::bytecode::{Block, BlockKind, Instr};
    let mut module = module(&[("f.flow", "flow f\non call {\n hangup\n}\n")], "f");
    module.blocks[0] = Block {
        kind: BlockKind::OnCall,
        code: vec![Instr::Answer, Instr::Jump(1)],
        lines: Vec::new(),
    };
    let module = decode(&module.encode()).unwrap();
    let mut call = Call::new(load(module), info(None), CallOptions::default());
    call.resume(now(), Reply::Start).unwrap();
    let error = call.resume(now(), Reply::Done).unwrap_err();
    assert_eq!(
        error,
        RunError::Budget {
            flow: String::from("f"),
            budget: flowc::vm::DEFAULT_BUDGET,
            place: String::from("block 0 instruction 1"),
        }
    );
}

/// Answers an effect the way a cooperative host would.
fn plausible_reply(effect: &Effect) -> Reply {
    match effect {
        Effect::Play { .. } => Reply::Played {
            keys: String::from("1"),
        },
        Effect::CollectKey { .. } => Reply::Keys(String::from("1")),
        Effect::CollectDigits { .. } => Reply::Keys(String::from("4321")),
        Effect::Lookup { .. } => Reply::Found(vip()),
        Effect::Enqueue { .. } => Reply::Queue(QueueOutcome::MaxWait { wait_ms: 1 }),
        Effect::Survey { .. } => Reply::Rating(None),
        _ => Reply::Done,
    }
}

#[test]
fn damaged_modules_that_decode_never_panic() {
    use sha2::{Digest, Sha256};
    let bytes = module(&[("f.flow", EVERYTHING)], "f").encode();
    let body_end = bytes.len() - 32;
    let mut ran = 0;
    for i in 0..body_end {
        for mask in [0x01, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[i] ^= mask;
            let checksum: [u8; 32] = Sha256::digest(&damaged[..body_end]).into();
            damaged[body_end..].copy_from_slice(&checksum);
            let Ok(module) = decode(&damaged) else {
                continue;
            };
            let Ok(program) = Program::load(module, |name| jiff::tz::db().get(name).ok()) else {
                continue;
            };
            ran += 1;
            let mut call = Call::new(program, info(None), CallOptions::default());
            let mut reply = Reply::Start;
            for _ in 0..100 {
                match call.resume(now(), reply) {
                    Ok(Effect::Finished { .. }) | Err(_) => break,
                    Ok(effect) => reply = plausible_reply(&effect),
                }
            }
        }
    }
    assert!(ran > 100, "{ran}");
}

#[test]
fn position_of_the_waiting_effect() {
    let program = program(EVERYTHING);
    let mut s = Script::new(&program, TraceLevel::Off);
    assert_eq!(s.call.position(), None);
    s.start();
    let at = |s: &Script| s.call.position().map(|p| (p.source, p.line, p.column));
    // `answer` belongs to `on call` on line 3, the menu's prompt to the
    // `menu` statement on line 10.
    assert_eq!(at(&s), Some((1, 3, 1)));
    s.done();
    assert_eq!(at(&s), Some((1, 4, 3)));
    s.reply(Reply::Found(vip()));
    s.done();
    s.played("");
    assert_eq!(at(&s), Some((1, 10, 3)));
    assert_eq!(
        program.module().sources,
        ["tok.yaml", "f.flow"].map(String::from)
    );
}
