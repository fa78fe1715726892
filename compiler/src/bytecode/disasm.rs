//! The text form of a module, for `flowc disasm` and for tests.
//!
//! Operands are shown resolved: constants by value, slots by variable
//! name, blocks by kind and name, jump targets as labels `L<index>` that
//! also mark the instruction they point to. Indices that are out of range
//! print as `?` so a damaged module can still be shown.

use super::{
    AnnounceKind, Block, BlockId, BlockKind, Const, ConstId, ExprUnit, Input, Instr, Module,
    Position, ProbeId, ProbeOutcome, Queue, QueueNeed, Schedule, SlotId, UnitOp, format_minutes,
};
use crate::syntax::ast::{RecordMode, TicketMode, Weekday};
use std::collections::BTreeSet;
use std::fmt::Write;

/// Returns the readable text form of a module.
pub fn disasm(module: &Module) -> String {
    let mut out = String::new();
    header(&mut out, module);
    section(&mut out, "constants", module.consts.is_empty());
    for (i, constant) in module.consts.iter().enumerate() {
        let _ = writeln!(
            out,
            "  c{i:<4} {:<9}{}",
            constant.kind_name(),
            show_const(constant)
        );
    }
    section(&mut out, "slots", module.slots.is_empty());
    for (i, slot) in module.slots.iter().enumerate() {
        let mut flags = String::new();
        if slot.sensitive {
            flags.push_str(" sensitive");
        }
        if slot.hidden {
            flags.push_str(" hidden");
        }
        let _ = writeln!(out, "  s{i:<4} {}: {}{flags}", slot.name, slot.ty.as_str());
    }
    section(&mut out, "schedules", module.schedules.is_empty());
    for (i, schedule) in module.schedules.iter().enumerate() {
        write_schedule(&mut out, i, schedule);
    }
    section(&mut out, "queues", module.queues.is_empty());
    for (i, queue) in module.queues.iter().enumerate() {
        write_queue(&mut out, module, i, queue);
    }
    section(&mut out, "units", module.units.is_empty());
    for (i, unit) in module.units.iter().enumerate() {
        write_unit(&mut out, module, i, unit);
    }
    section(&mut out, "blocks", module.blocks.is_empty());
    for (i, block) in module.blocks.iter().enumerate() {
        write_block(&mut out, module, i, block);
    }
    section(&mut out, "probes", module.probes.is_empty());
    for (i, probe) in module.probes.iter().enumerate() {
        let _ = writeln!(
            out,
            "  p{i:<4} {} {}: {}",
            show_position(module, probe.at),
            probe.site,
            show_outcome(probe.outcome)
        );
    }
    out
}

/// Formats a position as `file:line:column`.
pub fn show_position(module: &Module, at: Position) -> String {
    let file = module
        .sources
        .get(at.source as usize)
        .map_or("?", String::as_str);
    format!("{file}:{}:{}", at.line, at.column)
}

/// Formats a probe outcome as a short phrase, such as `then 0` or `key 1`.
pub fn show_outcome(outcome: ProbeOutcome) -> String {
    match outcome {
        ProbeOutcome::Then(n) => format!("then {n}"),
        ProbeOutcome::Else => String::from("else"),
        ProbeOutcome::Key(key) => format!("key {}", key.as_char()),
        ProbeOutcome::Invalid => String::from("invalid"),
        ProbeOutcome::NoInput => String::from("no input"),
        ProbeOutcome::Exhausted => String::from("exhausted"),
        ProbeOutcome::Valid => String::from("valid"),
        ProbeOutcome::Found => String::from("found"),
        ProbeOutcome::Missing => String::from("missing"),
        ProbeOutcome::Failed => String::from("failed"),
        ProbeOutcome::Arm(n) => format!("arm {n}"),
        ProbeOutcome::NoMatch => String::from("no match"),
        ProbeOutcome::Overflow => String::from("overflow"),
    }
}

fn header(out: &mut String, module: &Module) {
    let hash: String = module
        .source_hash
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let _ = writeln!(out, "flow {}", module.flow);
    let _ = writeln!(out, "format version {}", super::FORMAT_VERSION);
    let _ = writeln!(out, "source hash {hash}");
    let _ = writeln!(out, "sources: {}", module.sources.join(", "));
    let _ = writeln!(out, "numbers: {}", module.numbers.join(", "));
    let languages: Vec<String> = module
        .languages
        .iter()
        .map(|l| {
            if *l == module.default_language {
                format!("{l} (default)")
            } else {
                l.clone()
            }
        })
        .collect();
    let _ = writeln!(out, "languages: {}", languages.join(", "));
}

fn section(out: &mut String, title: &str, empty: bool) {
    let _ = writeln!(out, "\n{title}{}", if empty { ": none" } else { "" });
}

/// Formats milliseconds the way a flow writes durations, such as `1m30s`.
pub fn show_ms(ms: u64) -> String {
    if ms == 0 {
        return String::from("0s");
    }
    let mut out = String::new();
    let parts = [
        (ms / 3_600_000, "h"),
        (ms / 60_000 % 60, "m"),
        (ms / 1000 % 60, "s"),
        (ms % 1000, "ms"),
    ];
    for (value, unit) in parts {
        if value > 0 {
            let _ = write!(out, "{value}{unit}");
        }
    }
    out
}

fn show_const(constant: &Const) -> String {
    match constant {
        Const::Text(s) | Const::Digits(s) | Const::Prompt(s) => format!("{s:?}"),
        Const::Name(s) => s.clone(),
        Const::Int(v) => v.to_string(),
        Const::Duration(ms) => show_ms(*ms),
        Const::Date(d) => d.to_string(),
        Const::Time(m) => format_minutes(*m),
    }
}

fn const_at(module: &Module, id: ConstId) -> String {
    module
        .constant(id)
        .map_or_else(|| format!("c{}?", id.0), show_const)
}

fn slot_at(module: &Module, id: SlotId) -> String {
    module
        .slot(id)
        .map_or_else(|| format!("s{}?", id.0), |s| s.name.clone())
}

fn probe_at(module: &Module, id: ProbeId) -> String {
    match module.probes.get(id.0 as usize) {
        Some(probe) => format!("p{} ({})", id.0, show_outcome(probe.outcome)),
        None => format!("p{}?", id.0),
    }
}

fn block_at(module: &Module, id: BlockId) -> String {
    let kind = module
        .block(id)
        .map_or_else(|| String::from("?"), |b| show_kind(module, &b.kind));
    format!("b{} ({kind})", id.0)
}

fn show_kind(module: &Module, kind: &BlockKind) -> String {
    match kind {
        BlockKind::OnCall => String::from("on call"),
        BlockKind::AfterCall => String::from("after call"),
        BlockKind::Step(name) => format!("step {name}"),
        BlockKind::Subflow(name) => format!("subflow {name}"),
        BlockKind::Overflow(q) => format!(
            "overflow of queue {}",
            module
                .queues
                .get(q.0 as usize)
                .map_or("?", |q| q.name.as_str())
        ),
    }
}

fn write_ranges(out: &mut String, ranges: &[super::MinuteRange]) {
    let shown: Vec<String> = ranges
        .iter()
        .map(|r| format!("{}..{}", format_minutes(r.start), format_minutes(r.end)))
        .collect();
    out.push_str(&shown.join(", "));
}

fn write_schedule(out: &mut String, index: usize, schedule: &Schedule) {
    let _ = writeln!(
        out,
        "  h{index:<4} {} in {:?}",
        schedule.name, schedule.zone
    );
    for (day, ranges) in Weekday::ALL.iter().zip(&schedule.weekly) {
        if ranges.is_empty() {
            continue;
        }
        let _ = write!(out, "        {} ", day.as_str());
        write_ranges(out, ranges);
        out.push('\n');
    }
    for holiday in &schedule.holidays {
        if holiday.first == holiday.last {
            let _ = writeln!(out, "        holiday {}", holiday.first);
        } else {
            let _ = writeln!(out, "        holiday {}..{}", holiday.first, holiday.last);
        }
    }
    for exception in &schedule.exceptions {
        let _ = write!(out, "        on {} ", exception.date);
        if exception.ranges.is_empty() {
            out.push_str("closed");
        } else {
            write_ranges(out, &exception.ranges);
        }
        out.push('\n');
    }
}

fn write_queue(out: &mut String, module: &Module, index: usize, queue: &Queue) {
    let _ = writeln!(out, "  q{index:<4} {}", queue.name);
    let mut line = |text: String| {
        let _ = writeln!(out, "        {text}");
    };
    line(format!("strategy {}", queue.strategy.as_str()));
    if !queue.needs.is_empty() {
        let needs: Vec<String> = queue
            .needs
            .iter()
            .map(|n| match n {
                QueueNeed::Language => String::from("language"),
                QueueNeed::Skill { skill, level } => format!("{skill} >= {level}"),
            })
            .collect();
        line(format!("needs {}", needs.join(", ")));
    }
    for step in &queue.relax {
        match step.level {
            Some(level) => line(format!(
                "after {} relax {} >= {level}",
                show_ms(step.after_ms),
                step.skill
            )),
            None => line(format!(
                "after {} drop {}",
                show_ms(step.after_ms),
                step.skill
            )),
        }
    }
    if let Some(ms) = queue.sticky_ms {
        line(format!("sticky for {}", show_ms(ms)));
    }
    if let Some(unit) = queue.priority {
        line(format!("priority u{}", unit.0));
    }
    if let Some(target) = queue.target {
        line(format!(
            "target {}% within {}",
            target.percent,
            show_ms(target.within_ms)
        ));
    }
    for announcement in &queue.announcements {
        let what = match &announcement.what {
            AnnounceKind::Position => String::from("position"),
            AnnounceKind::Wait => String::from("wait"),
            AnnounceKind::PositionAndWait => String::from("position and wait"),
            AnnounceKind::Prompt(p) => format!("{p:?}"),
        };
        match announcement.every_ms {
            Some(ms) => line(format!("announce {what} every {}", show_ms(ms))),
            None => line(format!("announce {what}")),
        }
    }
    line(format!("music {:?}", queue.music));
    if let Some(callback) = queue.callback {
        line(format!(
            "callback after {} key {}",
            show_ms(callback.after_ms),
            callback.key.as_char()
        ));
    }
    if let Some(ms) = queue.max_wait_ms {
        line(format!("max wait {}", show_ms(ms)));
    }
    if let Some(n) = queue.max_callers {
        line(format!("max callers {n}"));
    }
    if let Some(block) = queue.overflow {
        line(format!("overflow {}", block_at(module, block)));
    }
    line(format!("wrapup {}", show_ms(queue.wrapup_ms)));
}

fn show_input(module: &Module, input: &Input) -> String {
    match input {
        Input::Slot(s) => slot_at(module, *s),
        Input::Builtin(b) => b.as_str().to_string(),
        Input::Clock(h) => format!(
            "clock of {}",
            module
                .schedules
                .get(h.0 as usize)
                .map_or("?", |s| s.name.as_str())
        ),
    }
}

fn schedule_name(module: &Module, id: super::ScheduleId) -> &str {
    module
        .schedules
        .get(id.0 as usize)
        .map_or("?", |s| s.name.as_str())
}

fn write_unit(out: &mut String, module: &Module, index: usize, unit: &ExprUnit) {
    let inputs: Vec<String> = unit.inputs.iter().map(|i| show_input(module, i)).collect();
    let reads = if inputs.is_empty() {
        String::new()
    } else {
        format!(", reads {}", inputs.join(", "))
    };
    let _ = writeln!(out, "  u{index:<4} -> {}{reads}", unit.result.as_str());
    let targets: BTreeSet<u32> = unit.code.iter().filter_map(UnitOp::target).collect();
    for (i, op) in unit.code.iter().enumerate() {
        if targets.contains(&(i as u32)) {
            let _ = writeln!(out, "      L{i}:");
        }
        let _ = writeln!(out, "        {i:04}  {}", show_unit_op(module, op));
    }
    if targets.contains(&(unit.code.len() as u32)) {
        let _ = writeln!(out, "      L{}:", unit.code.len());
    }
}

fn show_unit_op(module: &Module, op: &UnitOp) -> String {
    match op {
        UnitOp::Const(c) => format!("const {}", const_at(module, *c)),
        UnitOp::Bool(b) => format!("bool {b}"),
        UnitOp::Load(s) => format!("load {}", slot_at(module, *s)),
        UnitOp::Builtin(b) => format!("builtin {}", b.as_str()),
        UnitOp::Field { name, ty } => {
            format!("field {} : {}", const_at(module, *name), ty.as_str())
        }
        UnitOp::IsFound => String::from("is_found"),
        UnitOp::IsMissing => String::from("is_missing"),
        UnitOp::Not => String::from("not"),
        UnitOp::Neg => String::from("neg"),
        UnitOp::Arith { op, ty } => format!("{} {}", op.as_str(), ty.as_str()),
        UnitOp::Compare { op, ty } => format!("{} {}", op.as_str(), ty.as_str()),
        UnitOp::StartsWith => String::from("starts_with"),
        UnitOp::Concat => String::from("concat"),
        UnitOp::ToText(ty) => format!("to_text {}", ty.as_str()),
        UnitOp::Length => String::from("length"),
        UnitOp::Open(h) => format!("open {}", schedule_name(module, *h)),
        UnitOp::Holiday(h) => format!("holiday {}", schedule_name(module, *h)),
        UnitOp::Today(h) => format!("today {}", schedule_name(module, *h)),
        UnitOp::Now(h) => format!("now {}", schedule_name(module, *h)),
        UnitOp::Jump(t) => format!("jump L{t}"),
        UnitOp::JumpIfNot(t) => format!("jump_if_not L{t}"),
        UnitOp::JumpIfFalseOrPop(t) => format!("jump_if_false_or_pop L{t}"),
        UnitOp::JumpIfTrueOrPop(t) => format!("jump_if_true_or_pop L{t}"),
    }
}

fn write_block(out: &mut String, module: &Module, index: usize, block: &Block) {
    let _ = writeln!(out, "  b{index:<4} {}", show_kind(module, &block.kind));
    let targets: BTreeSet<u32> = block.code.iter().filter_map(Instr::target).collect();
    let mut lines = block.lines.iter().peekable();
    for (i, instr) in block.code.iter().enumerate() {
        if let Some(entry) = lines.next_if(|e| e.instr as usize <= i) {
            let _ = writeln!(out, "      ; {}", show_position(module, entry.at));
        }
        if targets.contains(&(i as u32)) {
            let _ = writeln!(out, "      L{i}:");
        }
        let _ = writeln!(out, "        {i:04}  {}", show_instr(module, instr));
    }
}

fn record_mode(mode: RecordMode) -> &'static str {
    match mode {
        RecordMode::On => "on",
        RecordMode::Off => "off",
        RecordMode::Pause => "pause",
        RecordMode::Resume => "resume",
    }
}

fn ticket_mode(mode: TicketMode) -> &'static str {
    match mode {
        TicketMode::Link => "link",
        TicketMode::Create => "create",
        TicketMode::LinkOrCreate => "link_or_create",
    }
}

fn show_instr(module: &Module, instr: &Instr) -> String {
    match instr {
        Instr::PushConst(c) => format!("push {}", const_at(module, *c)),
        Instr::PushBool(b) => format!("push {b}"),
        Instr::Load(s) => format!("load {}", slot_at(module, *s)),
        Instr::Store(s) => format!("store {}", slot_at(module, *s)),
        Instr::Pop => String::from("pop"),
        Instr::Eval(u) => format!("eval u{}", u.0),
        Instr::Inc(s) => format!("inc {}", slot_at(module, *s)),
        Instr::Probe(p) => format!("probe {}", probe_at(module, *p)),
        Instr::ProbeContact {
            slot,
            found,
            missing,
        } => format!(
            "probe_contact {} found {} missing {}",
            slot_at(module, *slot),
            probe_at(module, *found),
            probe_at(module, *missing)
        ),
        Instr::Jump(t) => format!("jump L{t}"),
        Instr::JumpIf(t) => format!("jump_if L{t}"),
        Instr::JumpIfNot(t) => format!("jump_if_not L{t}"),
        Instr::JumpIfBelow {
            slot,
            limit,
            target,
        } => format!("jump_if_below {} {limit} L{target}", slot_at(module, *slot)),
        Instr::JumpIfKey { key, target } => format!("jump_if_key {} L{target}", key.as_char()),
        Instr::JumpIfNoInput(t) => format!("jump_if_no_input L{t}"),
        Instr::JumpIfEqual { value, target } => {
            format!("jump_if_equal {} L{target}", const_at(module, *value))
        }
        Instr::JumpIfPrefix { prefix, target } => {
            format!("jump_if_prefix {} L{target}", const_at(module, *prefix))
        }
        Instr::Goto(b) => format!("goto {}", block_at(module, *b)),
        Instr::Run(b) => format!("run {}", block_at(module, *b)),
        Instr::Return => String::from("return"),
        Instr::End => String::from("end"),
        Instr::Answer => String::from("answer"),
        Instr::Play(prompts) => {
            let shown: Vec<String> = prompts.iter().map(|p| const_at(module, *p)).collect();
            format!("play {}", shown.join(", "))
        }
        Instr::CollectKey { timeout_ms } => format!("collect_key timeout {}", show_ms(*timeout_ms)),
        Instr::CollectDigits {
            min,
            max,
            terminator,
            timeout_ms,
            interdigit_ms,
            sensitive,
        } => format!(
            "collect_digits length {min}..{max} terminator {} timeout {} interdigit {}{}",
            terminator.as_char(),
            show_ms(*timeout_ms),
            show_ms(*interdigit_ms),
            if *sensitive { " sensitive" } else { "" }
        ),
        Instr::Lookup {
            source,
            timeout_ms,
            on_failure,
        } => format!(
            "lookup {} timeout {} failed L{on_failure}",
            const_at(module, *source),
            show_ms(*timeout_ms)
        ),
        Instr::Enqueue { queue, on_overflow } => format!(
            "enqueue {} overflow L{on_overflow}",
            module
                .queues
                .get(queue.0 as usize)
                .map_or("?", |q| q.name.as_str())
        ),
        Instr::Transfer => String::from("transfer"),
        Instr::Voicemail(c) => format!("voicemail {}", const_at(module, *c)),
        Instr::Hangup => String::from("hangup"),
        Instr::SetLanguage => String::from("set_language"),
        Instr::Record(mode) => format!("record {}", record_mode(*mode)),
        Instr::Tag => String::from("tag"),
        Instr::Timeline => String::from("timeline"),
        Instr::Ticket(mode) => format!("ticket {}", ticket_mode(*mode)),
        Instr::Survey { question, thanks } => match thanks {
            Some(t) => format!(
                "survey {}, {}",
                const_at(module, *question),
                const_at(module, *t)
            ),
            None => format!("survey {}", const_at(module, *question)),
        },
        Instr::Webhook(c) => format!("webhook {}", const_at(module, *c)),
        Instr::Notify(c) => format!("notify {}", const_at(module, *c)),
    }
}
