//! The versioned bytecode format: encode, decode, verify, disassemble.
//!
//! A [`Module`] is one flow compiled together with everything it references:
//! the sub-flows it runs, the queues it enqueues to and the schedules it
//! reads. It holds
//!
//! - a header: the flow's name, the format version, the SHA-256 hash of every
//!   source that went in, the numbers that reach the flow and its languages;
//! - a constants pool that instructions refer to by index;
//! - a slot table: one slot per variable, plus hidden slots the compiler
//!   adds (menu attempt counters);
//! - schedules and queues as plain data for the host;
//! - pure expression units ([`ExprUnit`]): conditions, priorities, texts;
//! - code blocks ([`Block`]): `on call`, `after call`, each step, each
//!   sub-flow and each queue's overflow, each with a line table that maps
//!   instructions to the statement they come from;
//! - probes ([`Probe`]): one per outcome of each decision (a branch of
//!   `if`, a menu key, a lookup that failed). [`Instr::Probe`] and
//!   [`Instr::ProbeContact`] record that the outcome was taken, so traces
//!   show the path of a call and coverage counts the outcomes a test took.
//!
//! Code blocks run on a small stack machine. Statements leave the stack
//! empty; an instruction that needs the outside world (playing a prompt,
//! waiting for a key, a CRM lookup, a queue) is an *effect*: the VM stops,
//! returns it to its host and is resumed with the result, which some effects
//! push. Pure computation lives in units, which code runs with
//! [`Instr::Eval`]. Units only jump forward, so they always terminate, and a
//! later step can compile each of them to native code.
//!
//! # Runtime rules the format fixes
//!
//! - Integer arithmetic wraps on overflow. Duration arithmetic saturates at
//!   0 and at `u64::MAX` milliseconds. Division and remainder by zero give
//!   0 for both.
//! - Text, digits and language values are all strings; instructions marked
//!   *text-like* accept any of the three.
//! - Every slot starts with the empty value of its type: `false`, `0`,
//!   `""`, empty digits, `0s`, a missing contact; dates 1970-01-01, times
//!   00:00, languages the default language. `after call` may read a
//!   variable the call never set.
//! - A contact field that the record lacks reads as the empty value of its
//!   type.
//! - A schedule reads the wall clock of its own zone: an instant becomes a
//!   local date D and minute M, seconds dropped. Every range includes its
//!   start, excludes its end and belongs to the date it starts on. The
//!   ranges of D are its exception's when D has one (none for `closed`),
//!   else the weekly ranges of D's weekday. A range may end after 24:00, up
//!   to 48:00, and its part after midnight opens D+1 too. The schedule is
//!   open at (D, M) when D is not a holiday and either M lies in a range of
//!   D, or D-1 is not a holiday and M + 1440 lies in a range of D-1. Local
//!   times that a clock change skips never occur, and repeated ones count
//!   each time they occur.
//!
//! # Encoding
//!
//! All integers are little-endian. A text is a `u32` byte length and UTF-8
//! bytes; a list is a `u32` count and its items. The file is `TOKB`, a `u16`
//! format version, the body, and the SHA-256 hash of everything before it.
//! Version 2 added the line table after each block's instructions, the
//! probe table after the blocks, and the `probe` and `probe_contact`
//! instructions; version 1 files must be rebuilt.
//! [`decode`] checks the hash, then every length, tag, index, jump target
//! and the type of every stack slot, so the VM may trust a decoded module.

mod decode;
mod disasm;
mod encode;
mod instr;
mod verify;

#[cfg(test)]
mod tests;

pub use decode::{DecodeError, decode};
pub use disasm::{disasm, show_ms as show_duration, show_outcome, show_position};
pub use instr::{ArithOp, Builtin, CmpOp, Instr, Key, RecordMode, TicketMode, UnitOp};

use crate::syntax::ast::Strategy;

/// The first four bytes of every bytecode file.
pub const MAGIC: [u8; 4] = *b"TOKB";

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 2;

/// The deepest operand stack a unit may use.
pub const MAX_UNIT_STACK: usize = 256;

/// The maximum number of instructions in one unit.
pub const MAX_UNIT_LEN: usize = 65_536;

/// The deepest operand stack a code block may use.
pub const MAX_CODE_STACK: usize = 16;

/// Index into [`Module::consts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConstId(pub u32);

/// Index into [`Module::slots`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotId(pub u32);

/// Index into [`Module::units`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitId(pub u32);

/// Index into [`Module::blocks`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockId(pub u32);

/// Index into [`Module::schedules`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScheduleId(pub u32);

/// Index into [`Module::queues`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(pub u32);

/// Index into [`Module::probes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeId(pub u32);

/// A place in the sources: an index into [`Module::sources`], a line and a
/// column, both counted from 1, the column in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    /// Index into [`Module::sources`].
    pub source: u32,
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub column: u32,
}

/// Which outcome of a decision a probe marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeOutcome {
    /// The condition of `if` or `else if` number `n` (from 0) held.
    Then(u32),
    /// No condition held: the `else` arm, or nothing when there is none.
    Else,
    /// A menu key arm.
    Key(Key),
    /// A menu got a key it has no arm for, or a collect got digits that
    /// failed its length or `valid if`.
    Invalid,
    /// Nothing was entered before the timeout.
    NoInput,
    /// The attempts are used up.
    Exhausted,
    /// A collect accepted the digits.
    Valid,
    /// A lookup found a contact.
    Found,
    /// A lookup answered that there is no such contact.
    Missing,
    /// A lookup failed or timed out.
    Failed,
    /// `match` arm number `n` (from 0).
    Arm(u32),
    /// The `else` arm of `match`, or nothing when no arm matched and there
    /// is none.
    NoMatch,
    /// An `enqueue` overflowed.
    Overflow,
}

/// A decision outcome that coverage counts and traces show. Every probe
/// of one decision has the same `at` and `site`, so `(at, site)` names the
/// decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Where the deciding statement starts.
    pub at: Position,
    /// The deciding statement as a short text, such as
    /// `if holiday(office) or not open(office)` or `menu`.
    pub site: String,
    /// The outcome it marks.
    pub outcome: ProbeOutcome,
}

/// An entry of a block's line table: the instructions from `instr` up to
/// the next entry come from the statement at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineEntry {
    /// The first instruction.
    pub instr: u32,
    /// The statement's position.
    pub at: Position,
}

/// One compiled flow with everything it references.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    /// The flow's name.
    pub flow: String,
    /// SHA-256 over the sources that went in, each as a `u64` byte length
    /// and its text, in [`Module::sources`] order.
    pub source_hash: [u8; 32],
    /// Names of the sources that went in: the config, the flow file and the
    /// library files that declare what the flow references.
    pub sources: Vec<String>,
    /// Numbers that reach the flow, normalised (spaces, dashes, dots and
    /// brackets removed), sorted.
    pub numbers: Vec<String>,
    /// Languages declared in the config.
    pub languages: Vec<String>,
    /// The language a call starts in.
    pub default_language: String,
    /// Constants that instructions refer to.
    pub consts: Vec<Const>,
    /// Variables and hidden slots.
    pub slots: Vec<Slot>,
    /// Business-hours schedules.
    pub schedules: Vec<Schedule>,
    /// Pure expression units.
    pub units: Vec<ExprUnit>,
    /// Queues and their routing rules.
    pub queues: Vec<Queue>,
    /// Code blocks; exactly one is [`BlockKind::OnCall`].
    pub blocks: Vec<Block>,
    /// Decision outcomes, marked in code by [`Instr::Probe`].
    pub probes: Vec<Probe>,
}

impl Module {
    /// Returns the `on call` block.
    pub fn on_call(&self) -> Option<BlockId> {
        self.find_block(|kind| matches!(kind, BlockKind::OnCall))
    }

    /// Returns the `after call` block, if the flow has one.
    pub fn after_call(&self) -> Option<BlockId> {
        self.find_block(|kind| matches!(kind, BlockKind::AfterCall))
    }

    fn find_block(&self, wanted: impl Fn(&BlockKind) -> bool) -> Option<BlockId> {
        let index = self.blocks.iter().position(|b| wanted(&b.kind))?;
        Some(BlockId(u32::try_from(index).ok()?))
    }

    /// Returns a constant by id.
    pub fn constant(&self, id: ConstId) -> Option<&Const> {
        self.consts.get(id.0 as usize)
    }

    /// Returns a slot by id.
    pub fn slot(&self, id: SlotId) -> Option<&Slot> {
        self.slots.get(id.0 as usize)
    }

    /// Returns a unit by id.
    pub fn unit(&self, id: UnitId) -> Option<&ExprUnit> {
        self.units.get(id.0 as usize)
    }

    /// Returns a block by id.
    pub fn block(&self, id: BlockId) -> Option<&Block> {
        self.blocks.get(id.0 as usize)
    }
}

/// The type of a runtime value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    /// `true` or `false`.
    Bool,
    /// A 64-bit signed integer.
    Int,
    /// A text.
    Text,
    /// Keys pressed: `0`-`9`, `*`, `#`; also the result of waiting for a
    /// key, which is missing when nothing was pressed.
    Digits,
    /// Milliseconds.
    Duration,
    /// A calendar date.
    Date,
    /// A time of day in minutes.
    Time,
    /// A language code such as `sl`.
    Language,
    /// A CRM record, or missing.
    Contact,
}

impl Type {
    /// All types in tag order.
    pub const ALL: [Type; 9] = [
        Type::Bool,
        Type::Int,
        Type::Text,
        Type::Digits,
        Type::Duration,
        Type::Date,
        Type::Time,
        Type::Language,
        Type::Contact,
    ];

    /// Returns the type as written in the language reference.
    pub fn as_str(self) -> &'static str {
        match self {
            Type::Bool => "bool",
            Type::Int => "integer",
            Type::Text => "text",
            Type::Digits => "digits",
            Type::Duration => "duration",
            Type::Date => "date",
            Type::Time => "time",
            Type::Language => "language",
            Type::Contact => "contact",
        }
    }

    /// True for the types held as strings: text, digits and language.
    pub fn is_text_like(self) -> bool {
        matches!(self, Type::Text | Type::Digits | Type::Language)
    }
}

/// A calendar date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    /// Year.
    pub year: i16,
    /// Month, 1-12.
    pub month: u8,
    /// Day of the month, from 1.
    pub day: u8,
}

impl Date {
    /// True when the date exists in the proleptic Gregorian calendar.
    pub fn is_valid(self) -> bool {
        (1..=12).contains(&self.month) && self.day >= 1 && self.day <= self.days_in_month()
    }

    fn days_in_month(self) -> u8 {
        let year = i32::from(self.year);
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        match self.month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Formats minutes since midnight as `HH:MM`; 1440 and above show as
/// `24:00` and more, for ranges that run past midnight.
pub fn format_minutes(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A constant in the pool.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Const {
    /// A text value.
    Text(String),
    /// A digits value, such as the empty digits an exhausted `collect`
    /// leaves.
    Digits(String),
    /// An integer value.
    Int(i64),
    /// A duration value in milliseconds.
    Duration(u64),
    /// A date value.
    Date(Date),
    /// A time value in minutes since midnight, 0-1440.
    Time(u16),
    /// A prompt name, resolved by the host per language.
    Prompt(String),
    /// A name the host resolves: a hook, a mailbox, a contact field.
    Name(String),
}

impl Const {
    /// Returns the type of the value this constant pushes, or `None` for
    /// prompt names and names, which are operands only.
    pub fn value_type(&self) -> Option<Type> {
        match self {
            Const::Text(_) => Some(Type::Text),
            Const::Digits(_) => Some(Type::Digits),
            Const::Int(_) => Some(Type::Int),
            Const::Duration(_) => Some(Type::Duration),
            Const::Date(_) => Some(Type::Date),
            Const::Time(_) => Some(Type::Time),
            Const::Prompt(_) | Const::Name(_) => None,
        }
    }

    /// Returns the kind of constant, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Const::Text(_) => "text",
            Const::Digits(_) => "digits",
            Const::Int(_) => "integer",
            Const::Duration(_) => "duration",
            Const::Date(_) => "date",
            Const::Time(_) => "time",
            Const::Prompt(_) => "prompt",
            Const::Name(_) => "name",
        }
    }
}

/// A variable slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The variable's name; a sub-flow's variables are `subflow.name`, and
    /// hidden slots start with `%`.
    pub name: String,
    /// The type of the values it holds.
    pub ty: Type,
    /// True when the value must be masked in call records and logs.
    pub sensitive: bool,
    /// True for slots the compiler adds, such as attempt counters.
    pub hidden: bool,
}

/// An opening range in minutes since midnight, start included, end
/// excluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MinuteRange {
    /// First open minute.
    pub start: u16,
    /// First closed minute after the range.
    pub end: u16,
}

/// Whole closed dates, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateRange {
    /// First closed date.
    pub first: Date,
    /// Last closed date.
    pub last: Date,
}

/// Opening hours that replace the weekly rules on one date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleException {
    /// The date.
    pub date: Date,
    /// Ranges on that date, sorted; empty when closed all day. An end above
    /// 1440 (at most 2880) runs into the next date.
    pub ranges: Vec<MinuteRange>,
}

/// A business-hours schedule as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The schedule's name.
    pub name: String,
    /// IANA time zone name.
    pub zone: String,
    /// Opening ranges per weekday, Monday first, sorted. An overnight range
    /// is stored whole on the weekday it starts on, with its end past 1440
    /// (at most 2880).
    pub weekly: [Vec<MinuteRange>; 7],
    /// Closed dates.
    pub holidays: Vec<DateRange>,
    /// Exceptions, sorted by date, one per date.
    pub exceptions: Vec<ScheduleException>,
}

/// A skill requirement of a queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueNeed {
    /// The agent speaks the call's language.
    Language,
    /// The agent has the skill at this level or above.
    Skill {
        /// Skill name.
        skill: String,
        /// Minimum level.
        level: u32,
    },
}

/// A change to the requirements after the caller has waited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelaxStep {
    /// Waiting time in milliseconds after which the step applies.
    pub after_ms: u64,
    /// The skill concerned.
    pub skill: String,
    /// The new minimum level, or `None` when the skill is dropped.
    pub level: Option<u32>,
}

/// The content of a queue announcement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnnounceKind {
    /// The caller's position.
    Position,
    /// The estimated waiting time.
    Wait,
    /// Position and waiting time.
    PositionAndWait,
    /// A prompt by name.
    Prompt(String),
}

/// An announcement to waiting callers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcement {
    /// The content.
    pub what: AnnounceKind,
    /// Repeat interval in milliseconds; once at entry when `None`.
    pub every_ms: Option<u64>,
}

/// The service-level goal of a queue.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServiceTarget {
    /// Share of calls, 0-100.
    pub percent: f64,
    /// Time to answer in milliseconds within which calls count.
    pub within_ms: u64,
}

/// A callback offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallbackOffer {
    /// Waiting time in milliseconds after which the offer is made.
    pub after_ms: u64,
    /// The key that accepts.
    pub key: Key,
}

/// A queue as data, with every option of its declaration; defaults are
/// filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Queue {
    /// The queue's name.
    pub name: String,
    /// The way agents are picked.
    pub strategy: Strategy,
    /// Skill requirements.
    pub needs: Vec<QueueNeed>,
    /// Relax and drop steps in source order.
    pub relax: Vec<RelaxStep>,
    /// How long in milliseconds the call is offered to the contact's last
    /// agent first.
    pub sticky_ms: Option<u64>,
    /// Unit computing the integer priority on entry; 0 when `None`.
    pub priority: Option<UnitId>,
    /// The service-level goal.
    pub target: Option<ServiceTarget>,
    /// Announcements in source order.
    pub announcements: Vec<Announcement>,
    /// Music on hold, a prompt name.
    pub music: String,
    /// The callback offer.
    pub callback: Option<CallbackOffer>,
    /// Maximum wait in milliseconds before overflowing.
    pub max_wait_ms: Option<u64>,
    /// Overflow when this many callers already wait.
    pub max_callers: Option<u32>,
    /// Block run on overflow when the `enqueue` has no `else` arm.
    pub overflow: Option<BlockId>,
    /// Wrap-up time of agents in milliseconds.
    pub wrapup_ms: u64,
}

/// An input a unit reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Input {
    /// A variable slot.
    Slot(SlotId),
    /// A built-in name.
    Builtin(Builtin),
    /// The clock, in the time zone of a schedule.
    Clock(ScheduleId),
}

/// A pure expression: no effects, forward jumps only, one result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprUnit {
    /// The type of the result.
    pub result: Type,
    /// Everything the unit reads, sorted, without repeats.
    pub inputs: Vec<Input>,
    /// The instructions; the value left on the stack is the result.
    pub code: Vec<UnitOp>,
}

/// The role of a code block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// `on call`: runs when a call arrives.
    OnCall,
    /// `after call`: runs once the call has ended.
    AfterCall,
    /// A step, entered with [`Instr::Goto`].
    Step(String),
    /// A sub-flow, entered with [`Instr::Run`].
    Subflow(String),
    /// The ending of a queue's overflowing callers, for an `enqueue` with
    /// no `else` arm.
    Overflow(QueueId),
}

/// A code block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Its role.
    pub kind: BlockKind,
    /// The instructions; jump targets are indices into this list.
    pub code: Vec<Instr>,
    /// The line table, sorted by instruction.
    pub lines: Vec<LineEntry>,
}
