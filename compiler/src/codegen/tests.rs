//! The instruction sequence each construct compiles to.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::compile;
use crate::bytecode::{
    AnnounceKind, ArithOp, BlockKind, CmpOp, Const, Input, Instr, Key, MinuteRange, Module,
    ProbeOutcome, Type, UnitOp, decode,
};
use crate::config::{Config, FieldType, Hook, HookKind, Skill};
use crate::project::{Project, PromptInventory};
use crate::syntax::ast::{RecordMode, Strategy, TicketMode};
use std::collections::BTreeMap;

fn hook(kind: HookKind) -> Hook {
    Hook {
        kind,
        url: String::from("http://127.0.0.1:9/hook"),
        method: String::from("POST"),
        headers: BTreeMap::new(),
        timeout_ms: 1000,
        fields: BTreeMap::new(),
        secret_env: None,
        template: None,
    }
}

fn config() -> Config {
    Config {
        languages: vec![String::from("en"), String::from("sl")],
        skills: BTreeMap::from([(
            String::from("routers"),
            Skill {
                description: None,
                max_level: 3,
            },
        )]),
        hooks: BTreeMap::from([
            (String::from("orders"), hook(HookKind::Webhook)),
            (String::from("chat"), hook(HookKind::Notify)),
            (String::from("erp"), hook(HookKind::Crm)),
        ]),
        crm_fields: BTreeMap::from([(String::from("tier"), FieldType::Text)]),
        ..Config::default()
    }
}

fn project(files: &[&str]) -> Project {
    let mut project = Project::new(None, PromptInventory::default());
    project.config = config();
    for (i, text) in files.iter().enumerate() {
        project.add_flow(&format!("f{i}.flow"), text);
    }
    assert!(project.diagnostics.is_empty(), "{:#?}", project.diagnostics);
    project
}

/// Compiles a flow named `f` and checks that it survives the round trip,
/// which also runs the verifier.
fn module_of(files: &[&str]) -> Module {
    let module = compile(&project(files), "f").unwrap_or_else(|e| panic!("{e:#?}"));
    let decoded = decode(&module.encode()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(decoded, module);
    module
}

/// Compiles `on call { BODY }` of a flow with the given declarations.
fn module(body: &str) -> Module {
    module_of(&[&format!("flow f\n\non call {{\n{body}\n}}\n")])
}

fn on_call(module: &Module) -> &[Instr] {
    &module.blocks[0].code
}

fn errors(files: &[&str]) -> Vec<String> {
    compile(&project(files), "f")
        .unwrap_err()
        .into_iter()
        .map(|d| d.message)
        .collect()
}

fn constant(module: &Module, instr: &Instr) -> Const {
    match instr {
        Instr::PushConst(c) | Instr::Voicemail(c) | Instr::Webhook(c) | Instr::Notify(c) => {
            module.consts[c.0 as usize].clone()
        }
        other => panic!("no constant in {other:?}"),
    }
}

#[test]
fn play_and_hangup() {
    let m = module("play \"a\", \"b\"\nhangup");
    let [Instr::Answer, Instr::Play(prompts), Instr::Hangup] = on_call(&m) else {
        panic!("{:?}", on_call(&m));
    };
    assert_eq!(prompts.len(), 2);
    assert_eq!(
        m.consts[prompts[1].0 as usize],
        Const::Prompt(String::from("b"))
    );
}

#[test]
fn handler_without_ending_gets_end() {
    let m = module("play \"a\"");
    assert!(matches!(
        on_call(&m),
        [Instr::Answer, Instr::Play(_), Instr::End]
    ));
}

#[test]
fn menu_loops_over_attempts() {
    let m = module(
        "menu {\n prompt \"p\"\n timeout 2s\n attempts 3\n 1 => hangup\n * => play \"star\"\n \
         invalid => play \"i\"\n no input => play \"n\"\n exhausted => play \"e\"\n}\nhangup",
    );
    let code = on_call(&m);
    let [
        Instr::Answer,
        Instr::PushConst(_),
        Instr::Store(counter),
        Instr::Play(_),
        Instr::CollectKey { timeout_ms: 2000 },
        Instr::JumpIfNoInput(no_input),
        Instr::JumpIfKey { target: one, .. },
        Instr::JumpIfKey { target: star, .. },
        Instr::Pop,
        Instr::Probe(invalid),
        Instr::Play(_),
        Instr::Jump(retry),
        Instr::Probe(silent),
        Instr::Play(_),
        Instr::Inc(inc),
        Instr::JumpIfBelow {
            slot,
            limit: 3,
            target: 3,
        },
        Instr::Probe(exhausted),
        Instr::Play(_),
        Instr::Jump(end_a),
        Instr::Probe(key_one),
        Instr::Hangup,
        Instr::Probe(key_star),
        Instr::Play(_),
        Instr::Hangup,
    ] = code
    else {
        panic!("{code:#?}");
    };
    assert_eq!((*no_input, *retry, *one, *star), (12, 14, 19, 21));
    assert_eq!(*end_a, 23);
    let outcomes: Vec<ProbeOutcome> = [key_one, key_star, invalid, silent, exhausted]
        .iter()
        .map(|p| m.probes[p.0 as usize].outcome)
        .collect();
    let key = |c| ProbeOutcome::Key(Key::new(c).unwrap());
    assert_eq!(
        outcomes,
        [
            key('1'),
            key('*'),
            ProbeOutcome::Invalid,
            ProbeOutcome::NoInput,
            ProbeOutcome::Exhausted
        ]
    );
    assert!(m.probes.iter().all(|p| p.site == "menu \"p\""));
    assert_eq!(counter, inc);
    assert_eq!(counter, slot);
    assert!(m.slots[counter.0 as usize].hidden);
}

#[test]
fn collect_stores_then_validates() {
    let m = module(
        "collect pin {\n prompt \"p\"\n length 4..6\n terminator *\n attempts 2\n \
         valid if pin starts with \"1\"\n sensitive\n exhausted => hangup\n}\nhangup",
    );
    let code = on_call(&m);
    let [
        Instr::Answer,
        Instr::PushConst(_),
        Instr::Store(_),
        Instr::Play(_),
        Instr::CollectDigits {
            min: 4,
            max: 6,
            terminator,
            timeout_ms: 5000,
            interdigit_ms: 3000,
            sensitive: true,
        },
        Instr::JumpIfNoInput(_),
        Instr::Store(pin),
        Instr::Eval(valid),
        Instr::JumpIf(accepted),
        Instr::Probe(_),
        Instr::Jump(12),
        Instr::Probe(_),
        Instr::Inc(_),
        Instr::JumpIfBelow { limit: 2, .. },
        Instr::Probe(_),
        Instr::PushConst(empty),
        Instr::Store(cleared),
        Instr::Hangup,
        Instr::Probe(valid_probe),
        Instr::Hangup,
    ] = code
    else {
        panic!("{code:#?}");
    };
    assert_eq!(terminator.as_char(), '*');
    assert_eq!(*accepted, 18);
    let probe = &m.probes[valid_probe.0 as usize];
    assert_eq!(probe.outcome, ProbeOutcome::Valid);
    assert_eq!(probe.site, "collect pin");
    assert_eq!(pin, cleared);
    assert_eq!(m.consts[empty.0 as usize], Const::Digits(String::new()));
    let slot = &m.slots[pin.0 as usize];
    assert!(slot.sensitive);
    assert_eq!(slot.ty, Type::Digits);
    let unit = &m.units[valid.0 as usize];
    assert_eq!(unit.result, Type::Bool);
    assert_eq!(unit.inputs, [Input::Slot(*pin)]);
    assert!(unit.code.contains(&UnitOp::Length));
    assert!(unit.code.contains(&UnitOp::StartsWith));
}

#[test]
fn lookup_branches_on_failure() {
    let m = module(
        "lookup c in erp by call.from {\n timeout 900ms\n failed => tag \"down\"\n}\nhangup",
    );
    let code = on_call(&m);
    let [
        Instr::Answer,
        Instr::Eval(key),
        Instr::Lookup {
            source,
            timeout_ms: 900,
            on_failure: 6,
        },
        Instr::Store(found),
        Instr::ProbeContact { slot, .. },
        Instr::Jump(10),
        Instr::Store(missing),
        Instr::Probe(failed),
        Instr::PushConst(_),
        Instr::Tag,
        Instr::Hangup,
    ] = code
    else {
        panic!("{code:#?}");
    };
    assert_eq!(found, missing);
    assert_eq!(found, slot);
    assert_eq!(m.probes[failed.0 as usize].outcome, ProbeOutcome::Failed);
    assert_eq!(m.probes[failed.0 as usize].site, "lookup c in erp");
    assert_eq!(m.units[key.0 as usize].result, Type::Text);
    assert_eq!(
        m.consts[source.0 as usize],
        Const::Name(String::from("erp"))
    );
    assert_eq!(m.slots[found.0 as usize].ty, Type::Contact);
}

#[test]
fn let_and_set_store_into_one_slot() {
    let m = module("let n = 1\nset n = n + 2\nhangup");
    let code = on_call(&m);
    let [
        Instr::Answer,
        Instr::PushConst(_),
        Instr::Store(a),
        Instr::Eval(sum),
        Instr::Store(b),
        Instr::Hangup,
    ] = code
    else {
        panic!("{code:#?}");
    };
    assert_eq!(a, b);
    let unit = &m.units[sum.0 as usize];
    assert!(unit.code.contains(&UnitOp::Arith {
        op: ArithOp::Add,
        ty: Type::Int
    }));
}

#[test]
fn set_language_pops_text() {
    let m = module("set language = \"sl\"\nhangup");
    let code = on_call(&m);
    assert!(matches!(
        code,
        [
            Instr::Answer,
            Instr::PushConst(_),
            Instr::SetLanguage,
            Instr::Hangup
        ]
    ));
    assert_eq!(constant(&m, &code[1]), Const::Text(String::from("sl")));
}

#[test]
fn if_else_if_else_jumps() {
    let m = module(
        "let b = true\nif b {\n play \"1\"\n} else if not b {\n play \"2\"\n} else {\n play \"3\"\n}\nhangup",
    );
    let code = on_call(&m);
    let [
        Instr::Answer,
        Instr::PushBool(true),
        Instr::Store(_),
        Instr::Eval(_),
        Instr::JumpIfNot(8),
        Instr::Probe(then_0),
        Instr::Play(_),
        Instr::Jump(15),
        Instr::Eval(_),
        Instr::JumpIfNot(13),
        Instr::Probe(then_1),
        Instr::Play(_),
        Instr::Jump(15),
        Instr::Probe(otherwise),
        Instr::Play(_),
        Instr::Hangup,
    ] = code
    else {
        panic!("{code:#?}");
    };
    let probes = [then_0, then_1, otherwise].map(|p| &m.probes[p.0 as usize]);
    assert_eq!(probes[0].outcome, ProbeOutcome::Then(0));
    assert_eq!(probes[1].outcome, ProbeOutcome::Then(1));
    assert_eq!(probes[2].outcome, ProbeOutcome::Else);
    assert!(probes.iter().all(|p| p.site == "if b"));
    assert!(probes.iter().all(|p| (p.at.line, p.at.column) == (5, 1)));
}

#[test]
fn if_without_else_marks_the_fall_through() {
    let m = module("let b = true\nif b {\n play \"1\"\n}\nhangup");
    let code = on_call(&m);
    let [
        Instr::Answer,
        Instr::PushBool(true),
        Instr::Store(_),
        Instr::Eval(_),
        Instr::JumpIfNot(8),
        Instr::Probe(_),
        Instr::Play(_),
        Instr::Jump(9),
        Instr::Probe(otherwise),
        Instr::Hangup,
    ] = code
    else {
        panic!("{code:#?}");
    };
    assert_eq!(m.probes[otherwise.0 as usize].outcome, ProbeOutcome::Else);
}

#[test]
fn match_tests_patterns_in_order() {
    let m = module(
        "collect d {\n prompt \"p\"\n attempts 1\n}\nmatch d {\n \"1\", \"2\" => hangup\n \
         starts with \"9\" => play \"nine\"\n else => play \"other\"\n \"3\" => play \"never\"\n}\nhangup",
    );
    let code = on_call(&m);
    let start = code
        .iter()
        .position(|i| matches!(i, Instr::JumpIfEqual { .. }))
        .unwrap();
    let [
        Instr::Load(_),
        Instr::JumpIfEqual {
            value: one,
            target: a,
        },
        Instr::JumpIfEqual { target: b, .. },
        Instr::JumpIfPrefix { target: c, .. },
        Instr::Pop,
        Instr::Probe(no_match),
        Instr::Play(_),
        Instr::Jump(end),
        Instr::Probe(arm_0),
        Instr::Hangup,
        Instr::Probe(arm_1),
        Instr::Play(_),
        Instr::Hangup,
    ] = &code[start - 1..]
    else {
        panic!("{code:#?}");
    };
    assert_eq!(a, b);
    assert_eq!(*a as usize, start + 7);
    assert_eq!(*c as usize, start + 9);
    assert_eq!(*end as usize, start + 11);
    let outcomes = [no_match, arm_0, arm_1].map(|p| m.probes[p.0 as usize].outcome);
    assert_eq!(
        outcomes,
        [
            ProbeOutcome::NoMatch,
            ProbeOutcome::Arm(0),
            ProbeOutcome::Arm(1)
        ]
    );
    assert_eq!(m.probes[no_match.0 as usize].site, "match d");
    assert_eq!(m.consts[one.0 as usize], Const::Digits(String::from("1")));
}

#[test]
fn goto_and_steps() {
    let m = module_of(&[
        "flow f\non call {\n goto two\n}\nstep one {\n hangup\n}\nstep two {\n goto one\n}\n",
    ]);
    assert_eq!(m.blocks[1].kind, BlockKind::Step(String::from("one")));
    assert_eq!(m.blocks[2].kind, BlockKind::Step(String::from("two")));
    assert!(matches!(on_call(&m), [Instr::Answer, Instr::Goto(b)] if b.0 == 2));
    assert!(matches!(m.blocks[2].code.as_slice(), [Instr::Goto(b)] if b.0 == 1));
}

#[test]
fn run_and_return() {
    let m = module_of(&[
        "flow f\non call {\n run helper\n run helper\n hangup\n}\n",
        "subflow helper {\n let x = 1\n if x > 0 {\n  return\n }\n play \"h\"\n}\n",
    ]);
    let [Instr::Answer, Instr::Run(a), Instr::Run(b), Instr::Hangup] = on_call(&m) else {
        panic!("{:?}", on_call(&m));
    };
    assert_eq!(a, b);
    let helper = &m.blocks[a.0 as usize];
    assert_eq!(helper.kind, BlockKind::Subflow(String::from("helper")));
    assert!(matches!(
        helper.code.as_slice(),
        [
            Instr::PushConst(_),
            Instr::Store(_),
            Instr::Eval(_),
            Instr::JumpIfNot(6),
            Instr::Probe(_),
            Instr::Return,
            Instr::Probe(_),
            Instr::Play(_),
            Instr::Return,
        ]
    ));
    assert_eq!(m.slots[0].name, "helper.x");
    assert_eq!(m.sources, ["f0.flow", "f1.flow"]);
}

#[test]
fn enqueue_else_and_overflow() {
    let m = module_of(&[
        "flow f\non call {\n enqueue q else {\n  play \"full\"\n  enqueue q\n }\n}\n",
        "queue q {\n overflow voicemail \"q\"\n}\n",
    ]);
    let code = on_call(&m);
    let [
        Instr::Answer,
        Instr::Enqueue {
            queue,
            on_overflow: 3,
        },
        Instr::End,
        Instr::Probe(first),
        Instr::Play(_),
        Instr::Enqueue { on_overflow: 7, .. },
        Instr::End,
        Instr::Probe(_),
        Instr::Goto(overflow),
    ] = code
    else {
        panic!("{code:#?}");
    };
    assert_eq!(m.queues[queue.0 as usize].overflow, Some(*overflow));
    let probe = &m.probes[first.0 as usize];
    assert_eq!(probe.outcome, ProbeOutcome::Overflow);
    assert_eq!(probe.site, "enqueue q");
    let block = &m.blocks[overflow.0 as usize];
    assert_eq!(block.kind, BlockKind::Overflow(*queue));
    assert!(matches!(block.code.as_slice(), [Instr::Voicemail(_)]));
}

#[test]
fn endings_and_call_record_statements() {
    let m = module(
        "record on\nrecord pause\nrecord resume\nrecord off\ntag \"a\", 5\ntransfer \"+386\"",
    );
    let code = on_call(&m);
    let [
        Instr::Answer,
        Instr::Record(RecordMode::On),
        Instr::Record(RecordMode::Pause),
        Instr::Record(RecordMode::Resume),
        Instr::Record(RecordMode::Off),
        Instr::PushConst(_),
        Instr::Tag,
        Instr::Eval(number),
        Instr::Tag,
        Instr::PushConst(_),
        Instr::Transfer,
    ] = code
    else {
        panic!("{code:#?}");
    };
    assert!(matches!(
        m.units[number.0 as usize].code.as_slice(),
        [UnitOp::Const(_), UnitOp::ToText(Type::Int)]
    ));
    let m = module("voicemail \"box\"");
    let code = on_call(&m);
    assert!(matches!(code, [Instr::Answer, Instr::Voicemail(_)]));
    assert_eq!(constant(&m, &code[1]), Const::Name(String::from("box")));
}

#[test]
fn after_call_actions() {
    let m = module_of(&[
        "flow f\non call {\n hangup\n}\nafter call {\n timeline \"t {call.outcome}\"\n ticket link\n \
         ticket create \"c\"\n ticket link or create \"l\"\n survey \"q\"\n survey \"q\", \"t\"\n \
         webhook orders\n notify chat \"m\"\n}\n",
    ]);
    assert_eq!(m.after_call().map(|b| b.0), Some(1));
    let code = &m.blocks[1].code;
    let [
        Instr::Eval(_),
        Instr::Timeline,
        Instr::Ticket(TicketMode::Link),
        Instr::PushConst(_),
        Instr::Ticket(TicketMode::Create),
        Instr::PushConst(_),
        Instr::Ticket(TicketMode::LinkOrCreate),
        Instr::Survey { thanks: None, .. },
        Instr::Survey {
            thanks: Some(_), ..
        },
        Instr::Webhook(_),
        Instr::PushConst(_),
        Instr::Notify(_),
        Instr::End,
    ] = code.as_slice()
    else {
        panic!("{code:#?}");
    };
}

#[test]
fn and_or_short_circuit() {
    let m = module("let a = true\nlet b = a and not a or a\nhangup");
    let unit = &m.units[0];
    assert!(matches!(
        unit.code.as_slice(),
        [
            UnitOp::Load(_),
            UnitOp::JumpIfFalseOrPop(4),
            UnitOp::Load(_),
            UnitOp::Not,
            UnitOp::JumpIfTrueOrPop(6),
            UnitOp::Load(_),
        ]
    ));
}

#[test]
fn if_expression_and_contact_fields() {
    let m = module(
        "lookup c in crm by call.from {\n failed => hangup\n}\n\
         let p = if c is found and c.vip then c.open_tickets * 10 else -1\nlet t = c.tier\nhangup",
    );
    let priority = m.units.iter().find(|u| u.result == Type::Int).unwrap();
    let fields: Vec<_> = priority
        .code
        .iter()
        .filter_map(|op| match op {
            UnitOp::Field { ty, .. } => Some(*ty),
            _ => None,
        })
        .collect();
    assert_eq!(fields, [Type::Bool, Type::Int]);
    assert!(priority.code.contains(&UnitOp::Neg));
    assert!(priority.code.iter().any(|op| matches!(op, UnitOp::Jump(_))));
    assert!(m.units.iter().any(|u| {
        u.result == Type::Text
            && u.code
                .iter()
                .any(|op| matches!(op, UnitOp::Field { ty: Type::Text, .. }))
    }));
}

#[test]
fn interpolation_converts_values() {
    let m = module("let d = 5s\ntag \"wait {d} of {call.id}\"\nhangup");
    let unit = &m.units[0];
    assert_eq!(unit.result, Type::Text);
    assert!(unit.code.contains(&UnitOp::ToText(Type::Duration)));
    assert_eq!(
        unit.code.iter().filter(|op| **op == UnitOp::Concat).count(),
        3
    );
}

#[test]
fn comparisons_are_typed() {
    let m = module(
        "let a = 2026-01-01 < 2026-02-01\nlet b = 08:00 >= 09:00\nlet c = 5s == 5000ms\n\
         let d = call.from != \"x\"\nhangup",
    );
    let ops: Vec<_> = m
        .units
        .iter()
        .flat_map(|u| u.code.iter())
        .filter_map(|op| match op {
            UnitOp::Compare { op, ty } => Some((*op, *ty)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ops,
        [
            (CmpOp::Lt, Type::Date),
            (CmpOp::Ge, Type::Time),
            (CmpOp::Eq, Type::Duration),
            (CmpOp::Ne, Type::Text),
        ]
    );
}

#[test]
fn schedule_functions_read_the_clock() {
    let m = module_of(&[
        "flow f\non call {\n let a = open(h) or holiday(h)\n let t = today(h)\n let n = now(h)\n hangup\n}\n",
        "hours h in \"Europe/Ljubljana\" {\n mon 08:00..09:00\n}\n",
    ]);
    let first = &m.units[0];
    assert!(
        first
            .code
            .contains(&UnitOp::Open(crate::bytecode::ScheduleId(0)))
    );
    assert!(
        first
            .code
            .contains(&UnitOp::Holiday(crate::bytecode::ScheduleId(0)))
    );
    assert_eq!(first.inputs, [Input::Clock(crate::bytecode::ScheduleId(0))]);
    assert_eq!(m.units[1].result, Type::Date);
    assert_eq!(m.units[2].result, Type::Time);
}

#[test]
fn schedule_keeps_overnight_ranges_whole() {
    let m = module_of(&[
        "flow f\non call {\n let a = open(h)\n hangup\n}\n",
        "hours h in \"Europe/Ljubljana\" {\n sat..mon 22:00..02:00 overnight\n tue 09:00..12:00, 13:00..24:00\n \
         holiday 2026-12-25\n on 2026-12-24 20:00..01:00 overnight\n on 2026-12-31 closed\n}\n",
    ]);
    let h = &m.schedules[0];
    let range = |start, end| MinuteRange { start, end };
    assert_eq!(h.zone, "Europe/Ljubljana");
    // An overnight range stays on the weekday it starts on, ending past
    // 24:00, so a holiday on that date also cancels its part after midnight.
    assert_eq!(h.weekly[0], [range(1320, 1560)]);
    assert_eq!(h.weekly[1], [range(540, 720), range(780, 1440)]);
    assert!(h.weekly[2].is_empty());
    assert_eq!(h.weekly[5], [range(1320, 1560)]);
    assert_eq!(h.weekly[6], [range(1320, 1560)]);
    assert_eq!(h.holidays.len(), 1);
    assert_eq!(h.exceptions.len(), 2);
    assert_eq!(h.exceptions[0].ranges, [range(1200, 1500)]);
    assert!(h.exceptions[1].ranges.is_empty());
}

#[test]
fn queue_options_become_data() {
    let m = module_of(&[
        "flow f\non call {\n let vip = true\n enqueue q\n}\n",
        "queue q {\n strategy fewest_calls\n needs language, routers >= 2\n after 10s relax routers >= 1\n \
         after 20s drop routers\n sticky for 5s\n priority if vip then 9 else 1\n target 75% within 15s\n \
         announce wait every 30s\n announce \"tip\"\n music \"m\"\n callback after 1m key 9\n \
         max wait 5m\n max callers 3\n overflow hangup\n wrapup 10s\n}\n",
    ]);
    let q = &m.queues[0];
    assert_eq!(q.strategy, Strategy::FewestCalls);
    assert_eq!(q.needs.len(), 2);
    assert_eq!(q.relax.len(), 2);
    assert_eq!(q.relax[1].level, None);
    assert_eq!(q.sticky_ms, Some(5000));
    let priority = &m.units[q.priority.unwrap().0 as usize];
    assert_eq!(priority.result, Type::Int);
    assert_eq!(q.target.map(|t| t.within_ms), Some(15_000));
    assert_eq!(
        q.announcements[1].what,
        AnnounceKind::Prompt(String::from("tip"))
    );
    assert_eq!(q.announcements[1].every_ms, None);
    assert_eq!(q.music, "m");
    assert_eq!(q.callback.map(|c| c.key.as_char()), Some('9'));
    assert_eq!(
        (q.max_wait_ms, q.max_callers, q.wrapup_ms),
        (Some(300_000), Some(3), 10_000)
    );
}

#[test]
fn queue_defaults() {
    let m = module_of(&[
        "flow f\non call {\n enqueue q else hangup\n}\nqueue q {\n callback after 1m\n}\n",
    ]);
    let q = &m.queues[0];
    assert_eq!(q.strategy, Strategy::LongestIdle);
    assert_eq!(q.music, "hold-music");
    assert_eq!(q.priority, None);
    assert_eq!(q.overflow, None);
    assert_eq!(q.callback.map(|c| c.key.as_char()), Some('1'));
}

#[test]
fn queue_in_subflow_uses_its_scope() {
    let m = module_of(&[
        "flow f\non call {\n let p = 1\n run s\n enqueue q\n}\n",
        "subflow s {\n let p = 2\n enqueue q\n}\nqueue q {\n priority p\n overflow hangup\n}\n",
    ]);
    assert_eq!(m.queues.len(), 2);
    let reads: Vec<_> = m
        .queues
        .iter()
        .map(|q| m.units[q.priority.unwrap().0 as usize].inputs.clone())
        .collect();
    assert_ne!(reads[0], reads[1]);
}

#[test]
fn numbers_are_normalised() {
    let m = module_of(&["flow f answers \"+386 (1) 555-01.00\"\non call {\n hangup\n}\n"]);
    assert_eq!(m.numbers, ["+38615550100"]);
}

#[test]
fn unresolved_names_are_errors() {
    let messages = errors(&[
        "flow f\non call {\n tag absent\n goto nowhere\n run nothing\n webhook chat\n enqueue none\n}\n",
    ]);
    assert_eq!(messages.len(), 5, "{messages:#?}");
    assert!(messages[0].contains("`absent` is not a variable"));
    assert!(messages[1].contains("no step `nowhere`"));
    assert!(messages[2].contains("no sub-flow is named `nothing`"));
    assert!(messages[3].contains("not a webhook hook"));
    assert!(messages[4].contains("no queue is named `none`"));
}

#[test]
fn misplaced_and_missing_parts_are_errors() {
    let messages = errors(&[
        "flow f\non call {\n return\n menu {\n  prompt \"p\"\n  1 => hangup\n }\n}\n",
        "subflow s {\n goto x\n}\n",
    ]);
    assert!(
        messages[0].contains("`return` outside a sub-flow"),
        "{messages:#?}"
    );
    assert!(messages[1].contains("no `attempts`"), "{messages:#?}");
    let messages = errors(&[
        "flow f\non call {\n run s\n}\n",
        "subflow s {\n goto x\n}\n",
    ]);
    assert!(messages[0].contains("cannot `goto x`"), "{messages:#?}");
    let messages = errors(&["flow f\n"]);
    assert!(messages[0].contains("no `on call`"), "{messages:#?}");
}

#[test]
fn type_errors_are_reported() {
    let messages = errors(&[
        "flow f\non call {\n let a = 1 + \"x\"\n let b = 5s * 5s\n let c = if true then 1 else \"x\"\n \
         let d = a\n hangup\n}\n",
    ]);
    assert!(
        messages[0].contains("`+` is not defined on integer and text"),
        "{messages:#?}"
    );
    assert!(
        messages[1].contains("`*` is not defined on duration and duration"),
        "{messages:#?}"
    );
}

#[test]
fn unknown_flow_suggests_a_name() {
    let errors = compile(
        &project(&["flow support\non call {\n hangup\n}\n"]),
        "suport",
    )
    .unwrap_err();
    assert_eq!(errors[0].code, crate::diag::Code::UnknownFlowName);
    assert_eq!(errors[0].help.as_deref(), Some("did you mean `support`?"));
}

#[test]
fn compile_all_collects_every_flow_error() {
    let project = project(&[
        "flow a\non call {\n goto x\n}\n",
        "flow b\non call {\n goto y\n}\n",
    ]);
    let errors = super::compile_all(&project).unwrap_err();
    assert_eq!(errors.len(), 2);
}

#[test]
fn line_table_marks_each_statement() {
    let m = module("play \"a\"\n  tag \"\u{10d}\", \"b\"\nhangup");
    let block = &m.blocks[0];
    let lines: Vec<(u32, u32, u32)> = block
        .lines
        .iter()
        .map(|e| (e.instr, e.at.line, e.at.column))
        .collect();
    // `on call` opens on line 3; the statements follow it.
    assert_eq!(lines, [(0, 3, 1), (1, 4, 1), (2, 5, 3), (6, 6, 1)]);
    assert!(block.lines.iter().all(|e| e.at.source == 0));
    assert_eq!(m.sources, ["f0.flow"]);
}

#[test]
fn line_positions_count_characters() {
    let m = module("let t = \"\u{10d}\u{10d}\"; if t == \"a\" {\n hangup\n}\nhangup");
    let probe = m
        .probes
        .iter()
        .find(|p| p.outcome == ProbeOutcome::Then(0))
        .unwrap();
    // `let t = "čč"; ` is 14 characters but 16 bytes.
    assert_eq!((probe.at.line, probe.at.column), (4, 15));
    assert_eq!(probe.site, "if t == \"a\"");
}
