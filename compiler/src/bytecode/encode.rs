//! Writing a [`Module`] as bytes, and the tags both directions share.

use super::{
    AnnounceKind, Block, BlockKind, Const, Date, ExprUnit, FORMAT_VERSION, Input, Instr, MAGIC,
    Module, Position, Probe, ProbeOutcome, Queue, QueueNeed, Schedule, Slot, Type, UnitOp,
};
use crate::syntax::ast::{RecordMode, Strategy, TicketMode};
use sha2::{Digest, Sha256};

/// Opcodes of code instructions.
pub(super) mod op {
    pub const PUSH_CONST: u8 = 0x01;
    pub const PUSH_BOOL: u8 = 0x02;
    pub const LOAD: u8 = 0x03;
    pub const STORE: u8 = 0x04;
    pub const POP: u8 = 0x05;
    pub const EVAL: u8 = 0x06;
    pub const INC: u8 = 0x07;
    pub const PROBE: u8 = 0x08;
    pub const PROBE_CONTACT: u8 = 0x09;
    pub const JUMP: u8 = 0x10;
    pub const JUMP_IF: u8 = 0x11;
    pub const JUMP_IF_NOT: u8 = 0x12;
    pub const JUMP_IF_BELOW: u8 = 0x13;
    pub const JUMP_IF_KEY: u8 = 0x14;
    pub const JUMP_IF_NO_INPUT: u8 = 0x15;
    pub const JUMP_IF_EQUAL: u8 = 0x16;
    pub const JUMP_IF_PREFIX: u8 = 0x17;
    pub const GOTO: u8 = 0x20;
    pub const RUN: u8 = 0x21;
    pub const RETURN: u8 = 0x22;
    pub const END: u8 = 0x23;
    pub const ANSWER: u8 = 0x30;
    pub const PLAY: u8 = 0x31;
    pub const COLLECT_KEY: u8 = 0x32;
    pub const COLLECT_DIGITS: u8 = 0x33;
    pub const LOOKUP: u8 = 0x34;
    pub const ENQUEUE: u8 = 0x35;
    pub const TRANSFER: u8 = 0x36;
    pub const VOICEMAIL: u8 = 0x37;
    pub const HANGUP: u8 = 0x38;
    pub const SET_LANGUAGE: u8 = 0x39;
    pub const RECORD: u8 = 0x3A;
    pub const TAG: u8 = 0x3B;
    pub const TIMELINE: u8 = 0x3C;
    pub const TICKET: u8 = 0x3D;
    pub const SURVEY: u8 = 0x3E;
    pub const WEBHOOK: u8 = 0x3F;
    pub const NOTIFY: u8 = 0x40;
}

/// Opcodes of unit instructions.
pub(super) mod unit_op {
    pub const CONST: u8 = 0x01;
    pub const BOOL: u8 = 0x02;
    pub const LOAD: u8 = 0x03;
    pub const BUILTIN: u8 = 0x04;
    pub const FIELD: u8 = 0x05;
    pub const IS_FOUND: u8 = 0x06;
    pub const IS_MISSING: u8 = 0x07;
    pub const NOT: u8 = 0x08;
    pub const NEG: u8 = 0x09;
    pub const ARITH: u8 = 0x0A;
    pub const COMPARE: u8 = 0x0B;
    pub const STARTS_WITH: u8 = 0x0C;
    pub const CONCAT: u8 = 0x0D;
    pub const TO_TEXT: u8 = 0x0E;
    pub const LENGTH: u8 = 0x0F;
    pub const OPEN: u8 = 0x10;
    pub const TODAY: u8 = 0x11;
    pub const NOW: u8 = 0x12;
    pub const HOLIDAY: u8 = 0x13;
    pub const JUMP: u8 = 0x20;
    pub const JUMP_IF_NOT: u8 = 0x21;
    pub const JUMP_IF_FALSE_OR_POP: u8 = 0x22;
    pub const JUMP_IF_TRUE_OR_POP: u8 = 0x23;
}

/// Tags of probe outcomes.
pub(super) mod probe_tag {
    pub const THEN: u8 = 0;
    pub const ELSE: u8 = 1;
    pub const KEY: u8 = 2;
    pub const INVALID: u8 = 3;
    pub const NO_INPUT: u8 = 4;
    pub const EXHAUSTED: u8 = 5;
    pub const VALID: u8 = 6;
    pub const FOUND: u8 = 7;
    pub const MISSING: u8 = 8;
    pub const FAILED: u8 = 9;
    pub const ARM: u8 = 10;
    pub const NO_MATCH: u8 = 11;
    pub const OVERFLOW: u8 = 12;
}

/// Strategies in tag order.
pub(super) const STRATEGIES: [Strategy; 7] = [
    Strategy::RingAll,
    Strategy::LongestIdle,
    Strategy::LeastBusy,
    Strategy::FewestCalls,
    Strategy::RoundRobin,
    Strategy::Linear,
    Strategy::Random,
];

/// Recording modes in tag order.
pub(super) const RECORD_MODES: [RecordMode; 4] = [
    RecordMode::On,
    RecordMode::Off,
    RecordMode::Pause,
    RecordMode::Resume,
];

/// Ticket modes in tag order.
pub(super) const TICKET_MODES: [TicketMode; 3] = [
    TicketMode::Link,
    TicketMode::Create,
    TicketMode::LinkOrCreate,
];

/// Returns the tag of an item in its tag-order table.
fn tag_of<T: PartialEq>(table: &[T], item: &T) -> u8 {
    table.iter().position(|t| t == item).unwrap_or(0) as u8
}

impl Module {
    /// Encodes the module as bytes that [`super::decode`] reads back.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.bytes(&MAGIC);
        w.u16(FORMAT_VERSION);
        w.str(&self.flow);
        w.bytes(&self.source_hash);
        w.list(&self.sources, |w, s| w.str(s));
        w.list(&self.numbers, |w, s| w.str(s));
        w.list(&self.languages, |w, s| w.str(s));
        w.str(&self.default_language);
        w.list(&self.consts, Writer::constant);
        w.list(&self.slots, Writer::slot);
        w.list(&self.schedules, Writer::schedule);
        w.list(&self.units, Writer::unit);
        w.list(&self.queues, Writer::queue);
        w.list(&self.blocks, Writer::block);
        w.list(&self.probes, Writer::probe);
        let checksum: [u8; 32] = Sha256::digest(&w.buf).into();
        w.bytes(&checksum);
        w.buf
    }
}

#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn u8(&mut self, value: u8) {
        self.buf.push(value);
    }

    fn bool(&mut self, value: bool) {
        self.u8(u8::from(value));
    }

    fn u16(&mut self, value: u16) {
        self.bytes(&value.to_le_bytes());
    }

    fn u32(&mut self, value: u32) {
        self.bytes(&value.to_le_bytes());
    }

    fn u64(&mut self, value: u64) {
        self.bytes(&value.to_le_bytes());
    }

    fn len(&mut self, len: usize) {
        self.u32(u32::try_from(len).unwrap_or(u32::MAX));
    }

    fn str(&mut self, text: &str) {
        self.len(text.len());
        self.bytes(text.as_bytes());
    }

    fn list<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Writer, &T)) {
        self.len(items.len());
        for item in items {
            each(self, item);
        }
    }

    fn option<T>(&mut self, item: Option<&T>, each: impl FnOnce(&mut Writer, &T)) {
        match item {
            Some(item) => {
                self.u8(1);
                each(self, item);
            }
            None => self.u8(0),
        }
    }

    fn ty(&mut self, ty: Type) {
        self.u8(tag_of(&Type::ALL, &ty));
    }

    fn date(&mut self, date: Date) {
        self.bytes(&date.year.to_le_bytes());
        self.u8(date.month);
        self.u8(date.day);
    }

    fn constant(&mut self, constant: &Const) {
        match constant {
            Const::Text(s) => {
                self.u8(0);
                self.str(s);
            }
            Const::Digits(s) => {
                self.u8(1);
                self.str(s);
            }
            Const::Int(v) => {
                self.u8(2);
                self.bytes(&v.to_le_bytes());
            }
            Const::Duration(ms) => {
                self.u8(3);
                self.u64(*ms);
            }
            Const::Date(d) => {
                self.u8(4);
                self.date(*d);
            }
            Const::Time(minutes) => {
                self.u8(5);
                self.u16(*minutes);
            }
            Const::Prompt(s) => {
                self.u8(6);
                self.str(s);
            }
            Const::Name(s) => {
                self.u8(7);
                self.str(s);
            }
        }
    }

    fn slot(&mut self, slot: &Slot) {
        self.str(&slot.name);
        self.ty(slot.ty);
        self.u8(u8::from(slot.sensitive) | u8::from(slot.hidden) << 1);
    }

    fn schedule(&mut self, schedule: &Schedule) {
        self.str(&schedule.name);
        self.str(&schedule.zone);
        for day in &schedule.weekly {
            self.list(day, |w, r| {
                w.u16(r.start);
                w.u16(r.end);
            });
        }
        self.list(&schedule.holidays, |w, h| {
            w.date(h.first);
            w.date(h.last);
        });
        self.list(&schedule.exceptions, |w, e| {
            w.date(e.date);
            w.list(&e.ranges, |w, r| {
                w.u16(r.start);
                w.u16(r.end);
            });
        });
    }

    fn unit(&mut self, unit: &ExprUnit) {
        self.ty(unit.result);
        self.list(&unit.inputs, |w, input| match input {
            Input::Slot(s) => {
                w.u8(0);
                w.u32(s.0);
            }
            Input::Builtin(b) => {
                w.u8(1);
                w.u8(tag_of(&super::Builtin::ALL, b));
            }
            Input::Clock(h) => {
                w.u8(2);
                w.u32(h.0);
            }
        });
        self.list(&unit.code, |w, op| w.unit_op(*op));
    }

    fn unit_op(&mut self, instr: UnitOp) {
        use unit_op as o;
        match instr {
            UnitOp::Const(c) => self.op_u32(o::CONST, c.0),
            UnitOp::Bool(b) => {
                self.u8(o::BOOL);
                self.bool(b);
            }
            UnitOp::Load(s) => self.op_u32(o::LOAD, s.0),
            UnitOp::Builtin(b) => {
                self.u8(o::BUILTIN);
                self.u8(tag_of(&super::Builtin::ALL, &b));
            }
            UnitOp::Field { name, ty } => {
                self.op_u32(o::FIELD, name.0);
                self.ty(ty);
            }
            UnitOp::IsFound => self.u8(o::IS_FOUND),
            UnitOp::IsMissing => self.u8(o::IS_MISSING),
            UnitOp::Not => self.u8(o::NOT),
            UnitOp::Neg => self.u8(o::NEG),
            UnitOp::Arith { op, ty } => {
                self.u8(o::ARITH);
                self.u8(tag_of(&super::ArithOp::ALL, &op));
                self.ty(ty);
            }
            UnitOp::Compare { op, ty } => {
                self.u8(o::COMPARE);
                self.u8(tag_of(&super::CmpOp::ALL, &op));
                self.ty(ty);
            }
            UnitOp::StartsWith => self.u8(o::STARTS_WITH),
            UnitOp::Concat => self.u8(o::CONCAT),
            UnitOp::ToText(ty) => {
                self.u8(o::TO_TEXT);
                self.ty(ty);
            }
            UnitOp::Length => self.u8(o::LENGTH),
            UnitOp::Open(h) => self.op_u32(o::OPEN, h.0),
            UnitOp::Today(h) => self.op_u32(o::TODAY, h.0),
            UnitOp::Now(h) => self.op_u32(o::NOW, h.0),
            UnitOp::Holiday(h) => self.op_u32(o::HOLIDAY, h.0),
            UnitOp::Jump(t) => self.op_u32(o::JUMP, t),
            UnitOp::JumpIfNot(t) => self.op_u32(o::JUMP_IF_NOT, t),
            UnitOp::JumpIfFalseOrPop(t) => self.op_u32(o::JUMP_IF_FALSE_OR_POP, t),
            UnitOp::JumpIfTrueOrPop(t) => self.op_u32(o::JUMP_IF_TRUE_OR_POP, t),
        }
    }

    fn op_u32(&mut self, opcode: u8, operand: u32) {
        self.u8(opcode);
        self.u32(operand);
    }

    fn queue(&mut self, queue: &Queue) {
        self.str(&queue.name);
        self.u8(tag_of(&STRATEGIES, &queue.strategy));
        self.list(&queue.needs, |w, need| match need {
            QueueNeed::Language => w.u8(0),
            QueueNeed::Skill { skill, level } => {
                w.u8(1);
                w.str(skill);
                w.u32(*level);
            }
        });
        self.list(&queue.relax, |w, step| {
            w.u64(step.after_ms);
            w.str(&step.skill);
            w.option(step.level.as_ref(), |w, l| w.u32(*l));
        });
        self.option(queue.sticky_ms.as_ref(), |w, ms| w.u64(*ms));
        self.option(queue.priority.as_ref(), |w, u| w.u32(u.0));
        self.option(queue.target.as_ref(), |w, t| {
            w.u64(t.percent.to_bits());
            w.u64(t.within_ms);
        });
        self.list(&queue.announcements, |w, a| {
            match &a.what {
                AnnounceKind::Position => w.u8(0),
                AnnounceKind::Wait => w.u8(1),
                AnnounceKind::PositionAndWait => w.u8(2),
                AnnounceKind::Prompt(p) => {
                    w.u8(3);
                    w.str(p);
                }
            }
            w.option(a.every_ms.as_ref(), |w, ms| w.u64(*ms));
        });
        self.str(&queue.music);
        self.option(queue.callback.as_ref(), |w, c| {
            w.u64(c.after_ms);
            w.u8(c.key.as_byte());
        });
        self.option(queue.max_wait_ms.as_ref(), |w, ms| w.u64(*ms));
        self.option(queue.max_callers.as_ref(), |w, n| w.u32(*n));
        self.option(queue.overflow.as_ref(), |w, b| w.u32(b.0));
        self.u64(queue.wrapup_ms);
    }

    fn block(&mut self, block: &Block) {
        match &block.kind {
            BlockKind::OnCall => self.u8(0),
            BlockKind::AfterCall => self.u8(1),
            BlockKind::Step(name) => {
                self.u8(2);
                self.str(name);
            }
            BlockKind::Subflow(name) => {
                self.u8(3);
                self.str(name);
            }
            BlockKind::Overflow(queue) => {
                self.u8(4);
                self.u32(queue.0);
            }
        }
        self.list(&block.code, Writer::instr);
        self.list(&block.lines, |w, entry| {
            w.u32(entry.instr);
            w.position(entry.at);
        });
    }

    fn position(&mut self, at: Position) {
        self.u32(at.source);
        self.u32(at.line);
        self.u32(at.column);
    }

    fn probe(&mut self, probe: &Probe) {
        self.position(probe.at);
        self.str(&probe.site);
        match probe.outcome {
            ProbeOutcome::Then(n) => self.op_u32(probe_tag::THEN, n),
            ProbeOutcome::Else => self.u8(probe_tag::ELSE),
            ProbeOutcome::Key(key) => {
                self.u8(probe_tag::KEY);
                self.u8(key.as_byte());
            }
            ProbeOutcome::Invalid => self.u8(probe_tag::INVALID),
            ProbeOutcome::NoInput => self.u8(probe_tag::NO_INPUT),
            ProbeOutcome::Exhausted => self.u8(probe_tag::EXHAUSTED),
            ProbeOutcome::Valid => self.u8(probe_tag::VALID),
            ProbeOutcome::Found => self.u8(probe_tag::FOUND),
            ProbeOutcome::Missing => self.u8(probe_tag::MISSING),
            ProbeOutcome::Failed => self.u8(probe_tag::FAILED),
            ProbeOutcome::Arm(n) => self.op_u32(probe_tag::ARM, n),
            ProbeOutcome::NoMatch => self.u8(probe_tag::NO_MATCH),
            ProbeOutcome::Overflow => self.u8(probe_tag::OVERFLOW),
        }
    }

    fn instr(&mut self, instr: &Instr) {
        match instr {
            Instr::PushConst(c) => self.op_u32(op::PUSH_CONST, c.0),
            Instr::PushBool(b) => {
                self.u8(op::PUSH_BOOL);
                self.bool(*b);
            }
            Instr::Load(s) => self.op_u32(op::LOAD, s.0),
            Instr::Store(s) => self.op_u32(op::STORE, s.0),
            Instr::Pop => self.u8(op::POP),
            Instr::Eval(u) => self.op_u32(op::EVAL, u.0),
            Instr::Inc(s) => self.op_u32(op::INC, s.0),
            Instr::Probe(p) => self.op_u32(op::PROBE, p.0),
            Instr::ProbeContact {
                slot,
                found,
                missing,
            } => {
                self.op_u32(op::PROBE_CONTACT, slot.0);
                self.u32(found.0);
                self.u32(missing.0);
            }
            Instr::Jump(t) => self.op_u32(op::JUMP, *t),
            Instr::JumpIf(t) => self.op_u32(op::JUMP_IF, *t),
            Instr::JumpIfNot(t) => self.op_u32(op::JUMP_IF_NOT, *t),
            Instr::JumpIfBelow {
                slot,
                limit,
                target,
            } => {
                self.op_u32(op::JUMP_IF_BELOW, slot.0);
                self.u32(*limit);
                self.u32(*target);
            }
            Instr::JumpIfKey { key, target } => {
                self.u8(op::JUMP_IF_KEY);
                self.u8(key.as_byte());
                self.u32(*target);
            }
            Instr::JumpIfNoInput(t) => self.op_u32(op::JUMP_IF_NO_INPUT, *t),
            Instr::JumpIfEqual { value, target } => {
                self.op_u32(op::JUMP_IF_EQUAL, value.0);
                self.u32(*target);
            }
            Instr::JumpIfPrefix { prefix, target } => {
                self.op_u32(op::JUMP_IF_PREFIX, prefix.0);
                self.u32(*target);
            }
            Instr::Goto(b) => self.op_u32(op::GOTO, b.0),
            Instr::Run(b) => self.op_u32(op::RUN, b.0),
            Instr::Return => self.u8(op::RETURN),
            Instr::End => self.u8(op::END),
            Instr::Answer => self.u8(op::ANSWER),
            Instr::Play(prompts) => {
                self.u8(op::PLAY);
                self.list(prompts, |w, p| w.u32(p.0));
            }
            Instr::CollectKey { timeout_ms } => {
                self.u8(op::COLLECT_KEY);
                self.u64(*timeout_ms);
            }
            Instr::CollectDigits {
                min,
                max,
                terminator,
                timeout_ms,
                interdigit_ms,
                sensitive,
            } => {
                self.u8(op::COLLECT_DIGITS);
                self.u32(*min);
                self.u32(*max);
                self.u8(terminator.as_byte());
                self.u64(*timeout_ms);
                self.u64(*interdigit_ms);
                self.bool(*sensitive);
            }
            Instr::Lookup {
                source,
                timeout_ms,
                on_failure,
            } => {
                self.op_u32(op::LOOKUP, source.0);
                self.u64(*timeout_ms);
                self.u32(*on_failure);
            }
            Instr::Enqueue { queue, on_overflow } => {
                self.op_u32(op::ENQUEUE, queue.0);
                self.u32(*on_overflow);
            }
            Instr::Transfer => self.u8(op::TRANSFER),
            Instr::Voicemail(c) => self.op_u32(op::VOICEMAIL, c.0),
            Instr::Hangup => self.u8(op::HANGUP),
            Instr::SetLanguage => self.u8(op::SET_LANGUAGE),
            Instr::Record(mode) => {
                self.u8(op::RECORD);
                self.u8(tag_of(&RECORD_MODES, mode));
            }
            Instr::Tag => self.u8(op::TAG),
            Instr::Timeline => self.u8(op::TIMELINE),
            Instr::Ticket(mode) => {
                self.u8(op::TICKET);
                self.u8(tag_of(&TICKET_MODES, mode));
            }
            Instr::Survey { question, thanks } => {
                self.op_u32(op::SURVEY, question.0);
                self.option(thanks.as_ref(), |w, c| w.u32(c.0));
            }
            Instr::Webhook(c) => self.op_u32(op::WEBHOOK, c.0),
            Instr::Notify(c) => self.op_u32(op::NOTIFY, c.0),
        }
    }
}
