//! The instructions of code blocks and of expression units.

use super::{BlockId, ConstId, ProbeId, QueueId, ScheduleId, SlotId, Type, UnitId};

/// A DTMF key: `0`-`9`, `*` or `#`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key(u8);

impl Key {
    /// Returns the key for a character, or `None` when it is no DTMF key.
    pub fn new(key: char) -> Option<Key> {
        match key {
            '0'..='9' | '*' | '#' => Some(Key(key as u8)),
            _ => None,
        }
    }

    /// Returns the key for its ASCII byte, or `None` when it is no DTMF key.
    pub fn from_byte(byte: u8) -> Option<Key> {
        Key::new(char::from(byte))
    }

    /// Returns the key's character.
    pub fn as_char(self) -> char {
        char::from(self.0)
    }

    /// Returns the key's ASCII byte.
    pub fn as_byte(self) -> u8 {
        self.0
    }
}

/// A value the host provides about the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Builtin {
    /// `call.from`: the caller's number, or `anonymous`.
    CallFrom,
    /// `call.to`: the dialled number, normalised.
    CallTo,
    /// `call.id`.
    CallId,
    /// `call.anonymous`.
    CallAnonymous,
    /// `call.outcome`, in `after call`.
    CallOutcome,
    /// `call.queue`, in `after call`.
    CallQueue,
    /// `call.agent`, in `after call`.
    CallAgent,
    /// `call.wait`, in `after call`.
    CallWait,
    /// `call.talk`, in `after call`.
    CallTalk,
    /// `language`: the call's current language.
    Language,
}

impl Builtin {
    /// Every built-in in tag order.
    pub const ALL: [Builtin; 10] = [
        Builtin::CallFrom,
        Builtin::CallTo,
        Builtin::CallId,
        Builtin::CallAnonymous,
        Builtin::CallOutcome,
        Builtin::CallQueue,
        Builtin::CallAgent,
        Builtin::CallWait,
        Builtin::CallTalk,
        Builtin::Language,
    ];

    /// Returns the name as written in a flow.
    pub fn as_str(self) -> &'static str {
        match self {
            Builtin::CallFrom => "call.from",
            Builtin::CallTo => "call.to",
            Builtin::CallId => "call.id",
            Builtin::CallAnonymous => "call.anonymous",
            Builtin::CallOutcome => "call.outcome",
            Builtin::CallQueue => "call.queue",
            Builtin::CallAgent => "call.agent",
            Builtin::CallWait => "call.wait",
            Builtin::CallTalk => "call.talk",
            Builtin::Language => "language",
        }
    }

    /// Returns the built-in's type.
    pub fn ty(self) -> Type {
        match self {
            Builtin::CallFrom
            | Builtin::CallTo
            | Builtin::CallId
            | Builtin::CallOutcome
            | Builtin::CallQueue
            | Builtin::CallAgent => Type::Text,
            Builtin::CallAnonymous => Type::Bool,
            Builtin::CallWait | Builtin::CallTalk => Type::Duration,
            Builtin::Language => Type::Language,
        }
    }

    /// Finds the built-in for a field of `call`.
    pub fn call_field(field: &str) -> Option<Builtin> {
        Builtin::ALL
            .into_iter()
            .find(|b| b.as_str().strip_prefix("call.") == Some(field))
    }
}

pub use crate::syntax::ast::{RecordMode, TicketMode};

/// An arithmetic operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArithOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Rem,
}

impl ArithOp {
    /// Every operator in tag order.
    pub const ALL: [ArithOp; 5] = [
        ArithOp::Add,
        ArithOp::Sub,
        ArithOp::Mul,
        ArithOp::Div,
        ArithOp::Rem,
    ];

    /// Returns the mnemonic.
    pub fn as_str(self) -> &'static str {
        match self {
            ArithOp::Add => "add",
            ArithOp::Sub => "sub",
            ArithOp::Mul => "mul",
            ArithOp::Div => "div",
            ArithOp::Rem => "rem",
        }
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl CmpOp {
    /// Every operator in tag order.
    pub const ALL: [CmpOp; 6] = [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ];

    /// Returns the mnemonic.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
        }
    }
}

/// An instruction of a code block. Jump targets are instruction indices in
/// the same block. "Peek" instructions look at the top of the stack and pop
/// it only when they jump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Instr {
    // ---------------------------------------------------------------- data
    /// Pushes a value constant.
    PushConst(ConstId),
    /// Pushes a boolean.
    PushBool(bool),
    /// Pushes a slot's value.
    Load(SlotId),
    /// Pops a value into a slot of the same type.
    Store(SlotId),
    /// Pops and drops a value.
    Pop,
    /// Runs a unit and pushes its result.
    Eval(UnitId),
    /// Adds one to an integer slot.
    Inc(SlotId),
    /// Records that a decision outcome was taken; no stack effect.
    Probe(ProbeId),
    /// Records `found` when the contact slot holds a contact, else
    /// `missing`; no stack effect.
    ProbeContact {
        /// A contact slot.
        slot: SlotId,
        /// The probe recorded when the contact was found.
        found: ProbeId,
        /// The probe recorded when it is missing.
        missing: ProbeId,
    },

    // ---------------------------------------------------------------- control
    /// Continues at the target.
    Jump(u32),
    /// Pops a bool; jumps when true.
    JumpIf(u32),
    /// Pops a bool; jumps when false.
    JumpIfNot(u32),
    /// Jumps when the integer slot is below the limit.
    JumpIfBelow {
        /// The counter.
        slot: SlotId,
        /// The limit.
        limit: u32,
        /// The jump target.
        target: u32,
    },
    /// Peeks a digits value; pops and jumps when it is this one key.
    JumpIfKey {
        /// The key.
        key: Key,
        /// The jump target.
        target: u32,
    },
    /// Peeks a digits value; pops and jumps when it is missing (nothing was
    /// entered before the timeout).
    JumpIfNoInput(u32),
    /// Peeks a text-like value; pops and jumps when it equals the constant.
    JumpIfEqual {
        /// A text or digits constant.
        value: ConstId,
        /// The jump target.
        target: u32,
    },
    /// Peeks a text-like value; pops and jumps when it starts with the
    /// constant.
    JumpIfPrefix {
        /// A text or digits constant.
        prefix: ConstId,
        /// The jump target.
        target: u32,
    },
    /// Continues in a step or overflow block and does not come back.
    Goto(BlockId),
    /// Runs a sub-flow block, then continues after this instruction.
    Run(BlockId),
    /// Returns from a sub-flow.
    Return,
    /// Ends the handler: after `on call`, the call is over for the flow and
    /// the host runs `after call` once the call has ended.
    End,

    // ---------------------------------------------------------------- effects
    /// Answers the call.
    Answer,
    /// Plays prompts in order; a key pressed meanwhile is kept for the next
    /// [`Instr::CollectKey`] or [`Instr::CollectDigits`].
    Play(Vec<ConstId>),
    /// Waits for one key; pushes it as digits, or missing after the
    /// timeout.
    CollectKey {
        /// Milliseconds to wait.
        timeout_ms: u64,
    },
    /// Collects digits; pushes them, or missing when nothing was entered.
    /// The flow checks the length and validity itself.
    CollectDigits {
        /// Minimum length, for the host's end-of-input decision.
        min: u32,
        /// Maximum length: input ends after this many digits.
        max: u32,
        /// The key that ends input early; not part of the digits.
        terminator: Key,
        /// Milliseconds to wait for the first digit.
        timeout_ms: u64,
        /// Milliseconds to wait between digits.
        interdigit_ms: u64,
        /// True when the digits must be masked in logs and records.
        sensitive: bool,
    },
    /// Pops a text-like key and looks up a contact; pushes the contact or
    /// missing. When the lookup fails or times out, pushes missing and
    /// jumps to `on_failure`.
    Lookup {
        /// `crm` or a hook name.
        source: ConstId,
        /// Milliseconds before the lookup counts as failed.
        timeout_ms: u64,
        /// The jump target after a failure.
        on_failure: u32,
    },
    /// Puts the caller in a queue. Resumed with an outcome: on overflow the
    /// VM jumps to `on_overflow`; on every other outcome (answered by an
    /// agent, callback accepted, caller hung up) it continues with the next
    /// instruction.
    Enqueue {
        /// The queue.
        queue: QueueId,
        /// The jump target when the queue overflows.
        on_overflow: u32,
    },
    /// Pops a text-like number or SIP URI and transfers the call; ends the
    /// handler.
    Transfer,
    /// Records a message in a mailbox; ends the handler.
    Voicemail(ConstId),
    /// Hangs up; ends the handler.
    Hangup,
    /// Pops a text-like language code and makes it the call's language.
    SetLanguage,
    /// Changes the recording.
    Record(RecordMode),
    /// Pops a text-like tag and adds it to the call record.
    Tag,
    /// Pops a text-like entry for the contact's timeline.
    Timeline,
    /// Links or opens a ticket; pops a text-like subject unless the mode is
    /// `link`.
    Ticket(TicketMode),
    /// Asks the caller for a 1-5 rating, then thanks them.
    Survey {
        /// The question prompt.
        question: ConstId,
        /// The thanks prompt.
        thanks: Option<ConstId>,
    },
    /// Sends the call record to a webhook hook.
    Webhook(ConstId),
    /// Pops a text-like message and sends it through a notify hook.
    Notify(ConstId),
}

impl Instr {
    /// Returns the jump target inside the block, for the instructions that
    /// have one.
    pub fn target(&self) -> Option<u32> {
        match self {
            Instr::Jump(t) | Instr::JumpIf(t) | Instr::JumpIfNot(t) | Instr::JumpIfNoInput(t) => {
                Some(*t)
            }
            Instr::JumpIfBelow { target, .. }
            | Instr::JumpIfKey { target, .. }
            | Instr::JumpIfEqual { target, .. }
            | Instr::JumpIfPrefix { target, .. } => Some(*target),
            Instr::Lookup { on_failure, .. } => Some(*on_failure),
            Instr::Enqueue { on_overflow, .. } => Some(*on_overflow),
            _ => None,
        }
    }

    /// Changes the jump target of an instruction that has one.
    pub fn set_target(&mut self, new: u32) {
        match self {
            Instr::Jump(t) | Instr::JumpIf(t) | Instr::JumpIfNot(t) | Instr::JumpIfNoInput(t) => {
                *t = new
            }
            Instr::JumpIfBelow { target, .. }
            | Instr::JumpIfKey { target, .. }
            | Instr::JumpIfEqual { target, .. }
            | Instr::JumpIfPrefix { target, .. } => *target = new,
            Instr::Lookup { on_failure, .. } => *on_failure = new,
            Instr::Enqueue { on_overflow, .. } => *on_overflow = new,
            _ => {}
        }
    }

    /// True when execution never continues with the next instruction.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Instr::Jump(_)
                | Instr::Goto(_)
                | Instr::Return
                | Instr::End
                | Instr::Transfer
                | Instr::Voicemail(_)
                | Instr::Hangup
        )
    }
}

/// An instruction of an expression unit. Jumps go forward only; a target
/// equal to the unit's length is its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitOp {
    /// Pushes a value constant.
    Const(ConstId),
    /// Pushes a boolean.
    Bool(bool),
    /// Pushes a slot's value.
    Load(SlotId),
    /// Pushes a built-in value.
    Builtin(Builtin),
    /// Pops a contact and pushes one of its fields.
    Field {
        /// The field name, a name constant.
        name: ConstId,
        /// The field's type.
        ty: Type,
    },
    /// Pops a contact; pushes true when it was found.
    IsFound,
    /// Pops a contact; pushes true when it is missing.
    IsMissing,
    /// Pops a bool and pushes its negation.
    Not,
    /// Pops an integer and pushes its negation.
    Neg,
    /// Pops two values and pushes the result. For integers both operands
    /// are integers. For durations, `add` and `sub` take two durations,
    /// `mul` and `div` a duration and then an integer; `rem` is invalid.
    Arith {
        /// The operator.
        op: ArithOp,
        /// Integer or duration.
        ty: Type,
    },
    /// Pops two values and pushes the comparison. With `ty` text, both
    /// operands are text-like and only `eq` and `ne` are valid. Bools also
    /// allow only `eq` and `ne`, while integers, durations, dates and times
    /// allow every operator.
    Compare {
        /// The operator.
        op: CmpOp,
        /// The operand type.
        ty: Type,
    },
    /// Pops a text-like prefix and a text-like value; pushes true when the
    /// value starts with the prefix.
    StartsWith,
    /// Pops two text-like values and pushes the first followed by the
    /// second, as text.
    Concat,
    /// Pops a value of the given type and pushes it as text.
    ToText(Type),
    /// Pops a text-like value and pushes its length in characters.
    Length,
    /// Pushes true when the schedule is open now.
    Open(ScheduleId),
    /// Pushes true when today, in the schedule's time zone, is one of its
    /// holidays.
    Holiday(ScheduleId),
    /// Pushes today's date in the schedule's time zone.
    Today(ScheduleId),
    /// Pushes the time of day in the schedule's time zone.
    Now(ScheduleId),
    /// Continues at the target.
    Jump(u32),
    /// Pops a bool; jumps when false.
    JumpIfNot(u32),
    /// Jumps when the bool on top is false, keeping it; else pops it. Used
    /// for `and`.
    JumpIfFalseOrPop(u32),
    /// Jumps when the bool on top is true, keeping it; else pops it. Used
    /// for `or`.
    JumpIfTrueOrPop(u32),
}

impl UnitOp {
    /// Returns the jump target, for the instructions that have one.
    pub fn target(&self) -> Option<u32> {
        match self {
            UnitOp::Jump(t)
            | UnitOp::JumpIfNot(t)
            | UnitOp::JumpIfFalseOrPop(t)
            | UnitOp::JumpIfTrueOrPop(t) => Some(*t),
            _ => None,
        }
    }

    /// Changes the jump target of an instruction that has one.
    pub fn set_target(&mut self, new: u32) {
        if let UnitOp::Jump(t)
        | UnitOp::JumpIfNot(t)
        | UnitOp::JumpIfFalseOrPop(t)
        | UnitOp::JumpIfTrueOrPop(t) = self
        {
            *t = new;
        }
    }
}
