//! Tests of the format on hand-built modules: what the verifier rejects,
//! and that the text form copes with damaged modules.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;
use sha2::{Digest, Sha256};

const PROMPT: ConstId = ConstId(0);
const ONE: ConstId = ConstId(1);
const TEXT: ConstId = ConstId(2);
const NAME: ConstId = ConstId(3);
const COUNTER: SlotId = SlotId(0);

fn base() -> Module {
    Module {
        flow: String::from("f"),
        source_hash: [7; 32],
        sources: vec![String::from("f.flow")],
        numbers: vec![String::from("+386")],
        languages: vec![String::from("en")],
        default_language: String::from("en"),
        consts: vec![
            Const::Prompt(String::from("p")),
            Const::Int(1),
            Const::Text(String::from("t")),
            Const::Name(String::from("n")),
        ],
        slots: vec![Slot {
            name: String::from("x"),
            ty: Type::Int,
            sensitive: false,
            hidden: false,
        }],
        schedules: Vec::new(),
        units: Vec::new(),
        queues: Vec::new(),
        blocks: vec![Block {
            kind: BlockKind::OnCall,
            code: vec![Instr::Answer, Instr::Hangup],
            lines: Vec::new(),
        }],
        probes: Vec::new(),
    }
}

fn with_code(code: Vec<Instr>) -> Module {
    let mut module = base();
    module.blocks[0].code = code;
    module
}

fn with_unit(result: Type, inputs: Vec<Input>, code: Vec<UnitOp>) -> Module {
    let mut module = with_code(vec![Instr::Eval(UnitId(0)), Instr::Pop, Instr::Hangup]);
    module.units.push(ExprUnit {
        result,
        inputs,
        code,
    });
    module
}

fn rejects(module: &Module, needle: &str) -> DecodeError {
    let error = decode(&module.encode()).unwrap_err();
    assert!(error.to_string().contains(needle), "{error}");
    error
}

fn reseal(bytes: &mut [u8]) {
    let end = bytes.len() - 32;
    let checksum: [u8; 32] = Sha256::digest(&bytes[..end]).into();
    bytes[end..].copy_from_slice(&checksum);
}

#[test]
fn base_module_round_trips() {
    let module = base();
    assert_eq!(decode(&module.encode()).unwrap(), module);
}

#[test]
fn jump_outside_block() {
    rejects(
        &with_code(vec![Instr::Jump(5), Instr::Hangup]),
        "outside the block",
    );
}

#[test]
fn running_past_the_end() {
    rejects(&with_code(vec![Instr::Answer]), "runs past the end");
}

#[test]
fn empty_block() {
    rejects(&with_code(Vec::new()), "has no instructions");
}

#[test]
fn different_stacks_at_a_merge() {
    let code = vec![
        Instr::PushBool(true),
        Instr::JumpIf(3),
        Instr::PushConst(ONE),
        Instr::Hangup,
    ];
    rejects(&with_code(code), "different stacks");
}

#[test]
fn store_of_wrong_type() {
    let code = vec![Instr::PushConst(TEXT), Instr::Store(COUNTER), Instr::Hangup];
    rejects(&with_code(code), "expected integer");
}

#[test]
fn value_left_at_end() {
    rejects(
        &with_code(vec![Instr::PushBool(true), Instr::End]),
        "values left",
    );
}

#[test]
fn play_of_a_non_prompt() {
    rejects(
        &with_code(vec![Instr::Play(vec![ONE]), Instr::Hangup]),
        "expected a prompt",
    );
    rejects(
        &with_code(vec![Instr::Play(Vec::new()), Instr::Hangup]),
        "without prompts",
    );
    let module = with_code(vec![Instr::Play(vec![PROMPT]), Instr::Hangup]);
    assert!(decode(&module.encode()).is_ok());
}

#[test]
fn constant_out_of_range() {
    let error = rejects(
        &with_code(vec![
            Instr::PushConst(ConstId(99)),
            Instr::Pop,
            Instr::Hangup,
        ]),
        "constant 99",
    );
    assert!(matches!(error, DecodeError::IndexOutOfRange { len: 4, .. }));
}

#[test]
fn return_outside_subflow() {
    rejects(&with_code(vec![Instr::Return]), "outside a sub-flow");
}

#[test]
fn goto_into_on_call() {
    rejects(
        &with_code(vec![Instr::Goto(BlockId(0))]),
        "cannot be entered",
    );
}

#[test]
fn run_of_a_subflow() {
    let mut module = with_code(vec![Instr::Run(BlockId(1)), Instr::Hangup]);
    module.blocks.push(Block {
        kind: BlockKind::Subflow(String::from("s")),
        code: vec![Instr::Return],
        lines: Vec::new(),
    });
    assert_eq!(decode(&module.encode()).unwrap(), module);
}

#[test]
fn module_without_on_call() {
    let mut module = base();
    module.blocks[0].kind = BlockKind::Step(String::from("s"));
    rejects(&module, "no `on call` block");
}

#[test]
fn peek_jumps_pop_only_when_taken() {
    let code = vec![
        Instr::CollectKey { timeout_ms: 1 },
        Instr::JumpIfNoInput(4),
        Instr::JumpIfKey {
            key: Key::new('1').unwrap(),
            target: 4,
        },
        Instr::Pop,
        Instr::Hangup,
    ];
    let module = with_code(code);
    assert_eq!(decode(&module.encode()).unwrap(), module);
}

#[test]
fn lookup_pushes_contact_on_both_paths() {
    let mut module = with_code(vec![
        Instr::PushConst(TEXT),
        Instr::Lookup {
            source: NAME,
            timeout_ms: 10,
            on_failure: 3,
        },
        Instr::Store(SlotId(1)),
        Instr::Store(SlotId(1)),
        Instr::Hangup,
    ]);
    module.slots.push(Slot {
        name: String::from("c"),
        ty: Type::Contact,
        sensitive: false,
        hidden: false,
    });
    rejects(&module, "different stacks");
    module.blocks[0].code[3] = Instr::Hangup;
    module.blocks[0].code[2] = Instr::Store(SlotId(1));
    module.blocks[0].code[1] = Instr::Lookup {
        source: NAME,
        timeout_ms: 10,
        on_failure: 2,
    };
    assert!(decode(&module.encode()).is_ok());
}

#[test]
fn unit_jumps_only_forward() {
    let module = with_unit(
        Type::Bool,
        Vec::new(),
        vec![UnitOp::Bool(true), UnitOp::Jump(0)],
    );
    rejects(&module, "not after the jump");
}

#[test]
fn unit_reads_only_declared_inputs() {
    let module = with_unit(Type::Int, Vec::new(), vec![UnitOp::Load(COUNTER)]);
    rejects(&module, "not among the unit's inputs");
    let module = with_unit(
        Type::Int,
        vec![Input::Slot(COUNTER)],
        vec![UnitOp::Load(COUNTER)],
    );
    assert!(decode(&module.encode()).is_ok());
}

#[test]
fn unit_result_must_match() {
    let module = with_unit(Type::Int, Vec::new(), vec![UnitOp::Bool(true)]);
    rejects(&module, "expected one integer");
}

#[test]
fn unit_operands_must_fit() {
    let code = vec![
        UnitOp::Bool(true),
        UnitOp::Bool(true),
        UnitOp::Arith {
            op: ArithOp::Add,
            ty: Type::Int,
        },
    ];
    rejects(&with_unit(Type::Int, Vec::new(), code), "expected integer");
    let code = vec![
        UnitOp::Const(TEXT),
        UnitOp::Const(TEXT),
        UnitOp::Compare {
            op: CmpOp::Lt,
            ty: Type::Text,
        },
    ];
    rejects(
        &with_unit(Type::Bool, Vec::new(), code),
        "not defined on text",
    );
}

#[test]
fn unit_stack_is_bounded() {
    let mut code = vec![UnitOp::Bool(true); MAX_UNIT_STACK + 1];
    code.extend(vec![UnitOp::Not; 1]);
    rejects(&with_unit(Type::Bool, Vec::new(), code), "stack deeper");
}

#[test]
fn unit_and_merges_one_bool() {
    let code = vec![
        UnitOp::Bool(true),
        UnitOp::JumpIfFalseOrPop(3),
        UnitOp::Bool(false),
    ];
    let module = with_unit(Type::Bool, Vec::new(), code);
    assert!(decode(&module.encode()).is_ok());
}

#[test]
fn priority_must_be_an_integer() {
    let mut module = with_unit(Type::Bool, Vec::new(), vec![UnitOp::Bool(true)]);
    module.queues.push(Queue {
        name: String::from("q"),
        strategy: Strategy::Linear,
        needs: Vec::new(),
        relax: Vec::new(),
        sticky_ms: None,
        priority: Some(UnitId(0)),
        target: None,
        announcements: Vec::new(),
        music: String::from("m"),
        callback: None,
        max_wait_ms: None,
        max_callers: None,
        overflow: Some(BlockId(0)),
        wrapup_ms: 0,
    });
    rejects(&module, "not integer");
    module.queues[0].priority = None;
    rejects(&module, "not its overflow block");
}

#[test]
fn schedule_values_are_checked() {
    let mut module = base();
    module.schedules.push(Schedule {
        name: String::from("h"),
        zone: String::from("Europe/Ljubljana"),
        weekly: Default::default(),
        holidays: Vec::new(),
        exceptions: Vec::new(),
    });
    module.schedules[0].weekly[2] = vec![MinuteRange {
        start: 600,
        end: 600,
    }];
    rejects(&module, "not a valid range");
    // An overnight weekly range ends at most at 48:00 of its own weekday.
    module.schedules[0].weekly[2] = vec![MinuteRange {
        start: 1320,
        end: 2881,
    }];
    rejects(&module, "not a valid range");
    module.schedules[0].weekly[2][0].end = 2880;
    assert!(decode(&module.encode()).is_ok());
    module.schedules[0].weekly[2] = vec![MinuteRange {
        start: 1440,
        end: 1500,
    }];
    rejects(&module, "not a valid range");
    module.schedules[0].weekly[2].clear();
    let date = |day| Date {
        year: 2026,
        month: 12,
        day,
    };
    module.schedules[0].exceptions = vec![
        ScheduleException {
            date: date(2),
            ranges: vec![MinuteRange {
                start: 1200,
                end: 1500,
            }],
        },
        ScheduleException {
            date: date(1),
            ranges: Vec::new(),
        },
    ];
    rejects(&module, "not in increasing order");
    module.schedules[0].exceptions.pop();
    assert!(decode(&module.encode()).is_ok());
}

#[test]
fn impossible_date_constant() {
    let mut module = base();
    module.consts.push(Const::Date(Date {
        year: 2026,
        month: 2,
        day: 29,
    }));
    rejects(&module, "2026-02-29 is not a date");
    module.consts[4] = Const::Date(Date {
        year: 2028,
        month: 2,
        day: 29,
    });
    assert!(decode(&module.encode()).is_ok());
}

#[test]
fn invalid_utf8_names_offset() {
    let mut module = base();
    module.flow = String::from("ab");
    let mut bytes = module.encode();
    // The flow name follows the six header bytes and its length.
    bytes[10] = 0xff;
    reseal(&mut bytes);
    assert_eq!(
        decode(&bytes).unwrap_err(),
        DecodeError::InvalidUtf8 {
            offset: 6,
            what: "flow name"
        }
    );
}

#[test]
fn unknown_opcode_names_offset() {
    let module = base();
    let mut bytes = module.encode();
    // The last instruction, `hangup`, comes before the empty line table
    // and probe table (a count of 0 each) and the checksum.
    let at = bytes.len() - 32 - 8 - 1;
    bytes[at] = 0xee;
    reseal(&mut bytes);
    assert_eq!(
        decode(&bytes).unwrap_err(),
        DecodeError::UnknownTag {
            offset: at,
            what: "instruction",
            tag: 0xee
        }
    );
}

#[test]
fn disasm_shows_damaged_indices() {
    let mut module = with_code(vec![Instr::PushConst(ConstId(99)), Instr::Goto(BlockId(7))]);
    module.units.push(ExprUnit {
        result: Type::Bool,
        inputs: vec![Input::Clock(ScheduleId(3))],
        code: vec![UnitOp::Open(ScheduleId(3)), UnitOp::Load(SlotId(9))],
    });
    let text = disasm(&module);
    assert!(text.contains("push c99?"), "{text}");
    assert!(text.contains("goto b7 (?)"), "{text}");
    assert!(text.contains("open ?"), "{text}");
    assert!(text.contains("load s9?"), "{text}");
}

#[test]
fn durations_show_as_written() {
    assert_eq!(disasm::show_ms(0), "0s");
    assert_eq!(disasm::show_ms(90_000), "1m30s");
    assert_eq!(disasm::show_ms(3_600_500), "1h500ms");
}

fn with_probe(code: Vec<Instr>) -> Module {
    let mut module = with_code(code);
    module.probes.push(Probe {
        at: Position {
            source: 0,
            line: 3,
            column: 5,
        },
        site: String::from("if x"),
        outcome: ProbeOutcome::Then(0),
    });
    module
}

#[test]
fn probes_and_lines_round_trip() {
    let mut module = with_probe(vec![Instr::Answer, Instr::Probe(ProbeId(0)), Instr::Hangup]);
    module.blocks[0].lines = vec![
        LineEntry {
            instr: 0,
            at: Position {
                source: 0,
                line: 1,
                column: 1,
            },
        },
        LineEntry {
            instr: 2,
            at: Position {
                source: 0,
                line: 4,
                column: 3,
            },
        },
    ];
    let outcomes = [
        ProbeOutcome::Else,
        ProbeOutcome::Key(Key::new('#').unwrap()),
        ProbeOutcome::Invalid,
        ProbeOutcome::NoInput,
        ProbeOutcome::Exhausted,
        ProbeOutcome::Valid,
        ProbeOutcome::Found,
        ProbeOutcome::Missing,
        ProbeOutcome::Failed,
        ProbeOutcome::Arm(7),
        ProbeOutcome::NoMatch,
        ProbeOutcome::Overflow,
    ];
    for outcome in outcomes {
        let mut probe = module.probes[0].clone();
        probe.outcome = outcome;
        module.probes.push(probe);
    }
    assert_eq!(decode(&module.encode()).unwrap(), module);
    let text = disasm(&module);
    assert!(text.contains("; f.flow:4:3"), "{text}");
    assert!(text.contains("probe p0 (then 0)"), "{text}");
    assert!(text.contains("p12   f.flow:3:5 if x: overflow"), "{text}");
}

#[test]
fn probe_out_of_range() {
    let module = with_probe(vec![Instr::Probe(ProbeId(1)), Instr::Hangup]);
    rejects(&module, "probe 1 is out of range");
}

#[test]
fn probe_contact_needs_a_contact_slot() {
    let code = vec![
        Instr::ProbeContact {
            slot: COUNTER,
            found: ProbeId(0),
            missing: ProbeId(0),
        },
        Instr::Hangup,
    ];
    rejects(&with_probe(code), "is not a contact");
}

#[test]
fn line_table_must_be_sorted_and_inside() {
    let at = Position {
        source: 0,
        line: 1,
        column: 1,
    };
    let mut module = base();
    module.blocks[0].lines = vec![LineEntry { instr: 1, at }, LineEntry { instr: 1, at }];
    rejects(&module, "not sorted");
    module.blocks[0].lines = vec![LineEntry { instr: 2, at }];
    rejects(&module, "outside the block");
    module.blocks[0].lines = vec![LineEntry {
        instr: 0,
        at: Position { source: 1, ..at },
    }];
    rejects(&module, "source 1 is out of range");
    module.blocks[0].lines = vec![LineEntry {
        instr: 0,
        at: Position { line: 0, ..at },
    }];
    rejects(&module, "count from 1");
}
