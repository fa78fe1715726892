//! The syntax tree of one flow file.
//!
//! Every node that a diagnostic or the formatter may point at carries a
//! [`Span`] of its own file. The tree keeps the source's structure; names are
//! resolved later by the checker.

use crate::diag::Span;

/// A name as written, with its place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Source span.
    pub span: Span,
}

/// One parsed `.flow` file. Declarations that failed to parse are absent;
/// their errors are reported separately.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct File {
    /// Top-level declarations in source order.
    pub decls: Vec<Decl>,
}

/// A top-level declaration.
#[derive(Clone, Debug, PartialEq)]
pub enum Decl {
    /// `flow NAME answers ...`: makes the file a flow.
    Flow(FlowHeader),
    /// `hours NAME in "Zone" { ... }`: a business-hours schedule.
    Hours(Hours),
    /// `queue NAME { ... }`: a queue and its routing rules.
    Queue(Queue),
    /// `on call { ... }`: what happens when a call arrives.
    OnCall(Handler),
    /// `after call { ... }`: what happens once the call has ended.
    AfterCall(Handler),
    /// `step NAME { ... }`: a named part of the call, entered with `goto`.
    Step(Named),
    /// `subflow NAME { ... }`: a part entered with `run` that returns.
    Subflow(Named),
}

impl Decl {
    /// Returns the span of the whole declaration.
    pub fn span(&self) -> Span {
        match self {
            Decl::Flow(d) => d.span,
            Decl::Hours(d) => d.span,
            Decl::Queue(d) => d.span,
            Decl::OnCall(d) | Decl::AfterCall(d) => d.span,
            Decl::Step(d) | Decl::Subflow(d) => d.span,
        }
    }
}

/// `flow support answers "+38615550100", "080 5550"`.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowHeader {
    /// The flow's name, unique in the project.
    pub name: Ident,
    /// Numbers that enter this flow, as written.
    pub answers: Vec<StringLit>,
    /// The whole header.
    pub span: Span,
}

/// A string with no interpolation, such as a prompt name or a time zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StringLit {
    /// The text with escapes resolved.
    pub value: String,
    /// Source span, quotes included.
    pub span: Span,
}

/// A business-hours schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Hours {
    /// The schedule's name.
    pub name: Ident,
    /// IANA time zone name, such as `Europe/Ljubljana`.
    pub zone: StringLit,
    /// Rules in source order.
    pub rules: Vec<HoursRule>,
    /// The whole declaration.
    pub span: Span,
}

/// One line of a schedule.
#[derive(Clone, Debug, PartialEq)]
pub enum HoursRule {
    /// `mon..fri 08:00..17:00`: open on these days at these times.
    Weekly {
        /// Day ranges, such as `mon..fri` and `sat`.
        days: Vec<DayRange>,
        /// Opening ranges on each of the days.
        ranges: Vec<TimeRange>,
        /// The whole rule.
        span: Span,
    },
    /// `holiday 2026-12-25, 2026-12-31..2027-01-01`: closed all day.
    Holiday {
        /// Single dates or inclusive date ranges.
        dates: Vec<DateItem>,
        /// The whole rule.
        span: Span,
    },
    /// `on 2026-12-24 08:00..12:00` or `on 2026-12-31 closed`: replaces
    /// the weekly rules for one date.
    Exception {
        /// The date.
        date: DateLit,
        /// Opening ranges on that date; empty when closed.
        ranges: Vec<TimeRange>,
        /// The whole rule.
        span: Span,
    },
}

/// A weekday as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Weekday {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

impl Weekday {
    /// All weekdays, Monday first.
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// Returns the day's number, Monday = 0.
    pub fn index(self) -> u8 {
        self as u8
    }

    /// Returns the day as written in a flow.
    pub fn as_str(self) -> &'static str {
        match self {
            Weekday::Mon => "mon",
            Weekday::Tue => "tue",
            Weekday::Wed => "wed",
            Weekday::Thu => "thu",
            Weekday::Fri => "fri",
            Weekday::Sat => "sat",
            Weekday::Sun => "sun",
        }
    }
}

/// `mon` or `mon..fri` (inclusive; `fri..mon` wraps over the weekend).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayRange {
    /// First day.
    pub first: Weekday,
    /// Last day, inclusive; equal to `first` for a single day.
    pub last: Weekday,
    /// Source span.
    pub span: Span,
}

/// A time of day as written: hour and minute, `24:00` allowed as an end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeLit {
    /// Hour, 0-24 as written; the checker rejects what is out of range.
    pub hour: u8,
    /// Minute as written.
    pub minute: u8,
    /// Source span.
    pub span: Span,
}

impl TimeLit {
    /// Minutes since midnight.
    pub fn minutes(self) -> u32 {
        u32::from(self.hour) * 60 + u32::from(self.minute)
    }
}

/// `08:00..17:00`, start included, end excluded; `22:00..02:00 overnight`
/// runs into the next day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    /// Opening time, included.
    pub start: TimeLit,
    /// Closing time, excluded.
    pub end: TimeLit,
    /// True when marked `overnight`: the end is on the next day.
    pub overnight: bool,
    /// The whole range.
    pub span: Span,
}

/// A calendar date as written; not yet validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateLit {
    /// Year.
    pub year: i16,
    /// Month as written, 1-12 when valid.
    pub month: u8,
    /// Day as written, 1-31 when valid.
    pub day: u8,
    /// Source span.
    pub span: Span,
}

/// `2026-12-25` or `2026-12-24..2026-12-26` (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateItem {
    /// First date.
    pub first: DateLit,
    /// Last date, inclusive, when a range is written.
    pub last: Option<DateLit>,
    /// The whole item.
    pub span: Span,
}

/// A queue declaration: its options in source order.
#[derive(Clone, Debug, PartialEq)]
pub struct Queue {
    /// The queue's name.
    pub name: Ident,
    /// Options as written.
    pub options: Vec<QueueOption>,
    /// The whole declaration.
    pub span: Span,
}

/// The rule a queue uses to pick among ready agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Ring every eligible agent at once, and the first to pick up gets the call.
    RingAll,
    /// The agent idle the longest since their last call.
    LongestIdle,
    /// The agent with the lowest occupancy.
    LeastBusy,
    /// The agent who took the fewest calls today.
    FewestCalls,
    /// Agents in turn, remembering where the last call went.
    RoundRobin,
    /// Agents in their listed order, always from the first.
    Linear,
    /// An agent picked at random.
    Random,
}

impl Strategy {
    /// Returns the strategy as written in a flow.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::RingAll => "ring_all",
            Strategy::LongestIdle => "longest_idle",
            Strategy::LeastBusy => "least_busy",
            Strategy::FewestCalls => "fewest_calls",
            Strategy::RoundRobin => "round_robin",
            Strategy::Linear => "linear",
            Strategy::Random => "random",
        }
    }
}

/// A skill requirement: `routers >= 2`, or `language` (the agent speaks
/// the call's language).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Need {
    /// The agent must speak the call's current language.
    Language(Span),
    /// The agent must have the skill at this level or above.
    Skill {
        /// Skill name as declared in `tok.yaml`.
        skill: Ident,
        /// Minimum level; 1 when not written.
        level: u32,
        /// The whole requirement.
        span: Span,
    },
}

/// The announcement a queue plays to a waiting caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Announcement {
    /// The caller's position.
    Position,
    /// The estimated waiting time.
    Wait,
    /// Both position and estimated waiting time.
    PositionAndWait,
    /// A recorded message, by prompt name.
    Prompt(StringLit),
}

/// One option of a queue.
#[derive(Clone, Debug, PartialEq)]
pub enum QueueOption {
    /// `strategy longest_idle`.
    Strategy(Strategy, Span),
    /// `needs language, routers >= 2`.
    Needs(Vec<Need>, Span),
    /// `after 60s relax routers >= 1`: lower the required level.
    Relax {
        /// Waiting time after which the rule applies.
        after: DurationLit,
        /// The skill whose level is lowered.
        skill: Ident,
        /// The new minimum level.
        level: u32,
        /// The whole option.
        span: Span,
    },
    /// `after 120s drop routers`: stop requiring the skill.
    Drop {
        /// Waiting time after which the rule applies.
        after: DurationLit,
        /// The skill no longer required.
        skill: Ident,
        /// The whole option.
        span: Span,
    },
    /// `sticky for 20s`: offer the call to the contact's last agent first.
    Sticky(DurationLit, Span),
    /// `priority EXPR`: an integer, higher is served first.
    Priority(Expr, Span),
    /// `target 80% within 20s`: the service-level goal.
    Target {
        /// Share of calls, 0-100.
        percent: f64,
        /// Time to pick up within which calls count.
        within: DurationLit,
        /// The whole option.
        span: Span,
    },
    /// `announce position and wait every 45s`.
    Announce {
        /// The announcement.
        what: Announcement,
        /// Repeat interval; announced once at entry when absent.
        every: Option<DurationLit>,
        /// The whole option.
        span: Span,
    },
    /// `music "hold-music"`.
    Music(StringLit, Span),
    /// `callback after 60s key 1`: offer a callback that keeps the place.
    Callback {
        /// Waiting time after which the offer is made.
        after: DurationLit,
        /// The key that accepts; `1` when not written.
        key: Option<KeyLit>,
        /// The whole option.
        span: Span,
    },
    /// `max wait 15m`.
    MaxWait(DurationLit, Span),
    /// `max callers 20`: the queue is full beyond this.
    MaxCallers(u32, Span),
    /// `overflow voicemail "technical"`: where callers go when the queue
    /// cannot serve them (max wait, full, or no agent logged in).
    Overflow(Box<Stmt>, Span),
    /// `wrapup 30s`: after-call work time of the agent.
    Wrapup(DurationLit, Span),
}

impl QueueOption {
    /// Returns the span of the option.
    pub fn span(&self) -> Span {
        match self {
            QueueOption::Strategy(_, s)
            | QueueOption::Needs(_, s)
            | QueueOption::Sticky(_, s)
            | QueueOption::Priority(_, s)
            | QueueOption::Music(_, s)
            | QueueOption::MaxWait(_, s)
            | QueueOption::MaxCallers(_, s)
            | QueueOption::Overflow(_, s)
            | QueueOption::Wrapup(_, s) => *s,
            QueueOption::Relax { span, .. }
            | QueueOption::Drop { span, .. }
            | QueueOption::Target { span, .. }
            | QueueOption::Announce { span, .. }
            | QueueOption::Callback { span, .. } => *span,
        }
    }
}

/// A duration as written, such as `1m30s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationLit {
    /// Length in milliseconds.
    pub millis: u64,
    /// Source span.
    pub span: Span,
}

/// A DTMF key: `0`-`9`, `*` or `#`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyLit {
    /// The key character.
    pub key: char,
    /// Source span.
    pub span: Span,
}

/// `on call` or `after call` with its body.
#[derive(Clone, Debug, PartialEq)]
pub struct Handler {
    /// The statements.
    pub body: Block,
    /// The whole declaration.
    pub span: Span,
}

/// A step or sub-flow.
#[derive(Clone, Debug, PartialEq)]
pub struct Named {
    /// Its name.
    pub name: Ident,
    /// The statements.
    pub body: Block,
    /// The whole declaration.
    pub span: Span,
}

/// Statements between braces.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Block {
    /// Statements in order.
    pub stmts: Vec<Stmt>,
    /// From the opening to the closing brace; for a single statement after
    /// `=>`, the statement's span.
    pub span: Span,
    /// True when written with braces; false for one statement after `=>`.
    pub braced: bool,
}

/// A statement with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    /// What the statement does.
    pub kind: StmtKind,
    /// The whole statement.
    pub span: Span,
}

/// How a recording changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordMode {
    /// Start recording.
    On,
    /// Stop recording.
    Off,
    /// Stop writing audio until resumed (for card numbers, say).
    Pause,
    /// Continue a paused recording.
    Resume,
}

/// How a call is tied to a ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketMode {
    /// Link to the contact's open ticket, if any.
    Link,
    /// Always open a new ticket.
    Create,
    /// Link to the open ticket, or open one when there is none.
    LinkOrCreate,
}

/// The statement kinds.
#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `play "a", "b"`.
    Play(Vec<StringLit>),
    /// `menu { ... }`.
    Menu(Menu),
    /// `collect NAME { ... }`.
    Collect(Collect),
    /// `lookup NAME in SOURCE by EXPR { ... }`.
    Lookup(Lookup),
    /// `let NAME = EXPR`.
    Let(Ident, Expr),
    /// `set NAME = EXPR`.
    Set(Ident, Expr),
    /// `if ... { } else if ... { } else { }`.
    If {
        /// Conditions with their blocks, in order.
        branches: Vec<(Expr, Block)>,
        /// The final `else` block.
        otherwise: Option<Block>,
    },
    /// `match EXPR { PATTERN => ... }`.
    Match(Expr, Vec<MatchArm>),
    /// `goto STEP`.
    Goto(Ident),
    /// `run SUBFLOW`.
    Run(Ident),
    /// `return` from a sub-flow.
    Return,
    /// `enqueue QUEUE else ...`.
    Enqueue(Ident, Option<Block>),
    /// `transfer EXPR`: a number or SIP URI.
    Transfer(Expr),
    /// `voicemail "box"`.
    Voicemail(StringLit),
    /// `hangup`.
    Hangup,
    /// `record on|off|pause|resume`.
    Record(RecordMode),
    /// `tag EXPR, ...`.
    Tag(Vec<Expr>),
    /// `timeline EXPR`: an entry on the contact's timeline.
    Timeline(Expr),
    /// `ticket link`, `ticket create EXPR`, `ticket link or create EXPR`.
    Ticket(TicketMode, Option<Expr>),
    /// `survey "question", "thanks"`: a 1-5 rating after the agent leaves.
    Survey(StringLit, Option<StringLit>),
    /// `webhook HOOK`: post the call record.
    Webhook(Ident),
    /// `notify HOOK EXPR`: send a message through a hook.
    Notify(Ident, Expr),
}

impl StmtKind {
    /// Returns the words the statement starts with, as diagnostics name it.
    pub fn keyword(&self) -> &'static str {
        match self {
            StmtKind::Play(_) => "play",
            StmtKind::Menu(_) => "menu",
            StmtKind::Collect(_) => "collect",
            StmtKind::Lookup(_) => "lookup",
            StmtKind::Let(..) => "let",
            StmtKind::Set(..) => "set",
            StmtKind::If { .. } => "if",
            StmtKind::Match(..) => "match",
            StmtKind::Goto(_) => "goto",
            StmtKind::Run(_) => "run",
            StmtKind::Return => "return",
            StmtKind::Enqueue(..) => "enqueue",
            StmtKind::Transfer(_) => "transfer",
            StmtKind::Voicemail(_) => "voicemail",
            StmtKind::Hangup => "hangup",
            StmtKind::Record(RecordMode::On) => "record on",
            StmtKind::Record(RecordMode::Off) => "record off",
            StmtKind::Record(RecordMode::Pause) => "record pause",
            StmtKind::Record(RecordMode::Resume) => "record resume",
            StmtKind::Tag(_) => "tag",
            StmtKind::Timeline(_) => "timeline",
            StmtKind::Ticket(..) => "ticket",
            StmtKind::Survey(..) => "survey",
            StmtKind::Webhook(_) => "webhook",
            StmtKind::Notify(..) => "notify",
        }
    }
}

/// `menu { prompt ...; 1 => ...; invalid => ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Menu {
    /// Prompts played before waiting for a key.
    pub prompts: Vec<StringLit>,
    /// Wait for a key after the prompt.
    pub timeout: Option<DurationLit>,
    /// Attempts before giving up.
    pub attempts: Option<IntLit>,
    /// Arms for keys in source order.
    pub keys: Vec<(KeyLit, Block)>,
    /// Arms for invalid, no-input and exhausted cases.
    pub failures: Vec<FailureArm>,
    /// Span of the `prompt` option, for diagnostics.
    pub prompt_span: Option<Span>,
}

/// An integer as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntLit {
    /// The value.
    pub value: u32,
    /// Source span.
    pub span: Span,
}

/// `collect NAME { ... }`: digits into a variable of type `digits`.
#[derive(Clone, Debug, PartialEq)]
pub struct Collect {
    /// The variable that receives the digits.
    pub var: Ident,
    /// Prompts played before collecting.
    pub prompts: Vec<StringLit>,
    /// Wait for the first digit.
    pub timeout: Option<DurationLit>,
    /// Attempts before giving up.
    pub attempts: Option<IntLit>,
    /// Minimum and maximum length.
    pub length: Option<(IntLit, IntLit)>,
    /// The key that ends input early.
    pub terminator: Option<KeyLit>,
    /// Wait between digits.
    pub interdigit: Option<DurationLit>,
    /// Condition the digits must meet; refers to the variable.
    pub valid: Option<Expr>,
    /// True when the digits are masked in call records and logs.
    pub sensitive: bool,
    /// Arms for invalid, no-input and exhausted cases.
    pub failures: Vec<FailureArm>,
}

/// `lookup NAME in SOURCE by EXPR { timeout 2s; failed => ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Lookup {
    /// The variable that receives the optional record.
    pub var: Ident,
    /// `crm` or a hook name from `tok.yaml`.
    pub source: Ident,
    /// The key, usually `call.from`.
    pub key: Expr,
    /// Time after which the lookup counts as failed.
    pub timeout: Option<DurationLit>,
    /// Failure arms; `failed` must be among them.
    pub failures: Vec<FailureArm>,
}

/// The case a failure arm handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// A key that matches no arm, or digits that fail validation.
    Invalid,
    /// Nothing was entered before the timeout.
    NoInput,
    /// The last attempt failed.
    Exhausted,
    /// The lookup failed or timed out.
    Failed,
}

impl FailureKind {
    /// Returns the arm as written.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Invalid => "invalid",
            FailureKind::NoInput => "no input",
            FailureKind::Exhausted => "exhausted",
            FailureKind::Failed => "failed",
        }
    }
}

/// `invalid => ...` and the like.
#[derive(Clone, Debug, PartialEq)]
pub struct FailureArm {
    /// Which case.
    pub kind: FailureKind,
    /// What to do.
    pub body: Block,
    /// The whole arm.
    pub span: Span,
}

/// One arm of `match`.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchArm {
    /// What it matches.
    pub pattern: Pattern,
    /// What to do.
    pub body: Block,
    /// The whole arm.
    pub span: Span,
}

/// A `match` pattern.
#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    /// `"1", "2"`: equal to one of these.
    Exact(Vec<StringLit>),
    /// `starts with "4"`.
    StartsWith(StringLit),
    /// `else`: anything.
    Else(Span),
}

/// An expression with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it computes.
    pub kind: ExprKind,
    /// The whole expression.
    pub span: Span,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+`: sum, or text concatenation.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`: integer division.
    Div,
    /// `%`: remainder.
    Rem,
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
    /// `and`, short-circuiting.
    And,
    /// `or`, short-circuiting.
    Or,
    /// `starts with`.
    StartsWith,
}

impl BinOp {
    /// Returns the operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "and",
            BinOp::Or => "or",
            BinOp::StartsWith => "starts with",
        }
    }
}

/// A part of an interpolated text.
#[derive(Clone, Debug, PartialEq)]
pub enum TextPart {
    /// Literal text, escapes resolved.
    Literal(String),
    /// `{expr}`.
    Expr(Expr),
}

/// The expression kinds.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// `80%` as written.
    Percent(f64),
    /// A duration in milliseconds.
    Duration(u64),
    /// A date.
    Date(DateLit),
    /// A time of day.
    Time(TimeLit),
    /// A text, possibly interpolated.
    Text(Vec<TextPart>),
    /// A variable or built-in name.
    Name(Ident),
    /// `base.field`.
    Field(Box<Expr>, Ident),
    /// `name(args)`.
    Call(Ident, Vec<Expr>),
    /// `not x`.
    Not(Box<Expr>),
    /// `-x`.
    Neg(Box<Expr>),
    /// `a OP b`.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `x is found`.
    IsFound(Box<Expr>),
    /// `x is missing`.
    IsMissing(Box<Expr>),
    /// `if c then a else b`.
    If(Box<Expr>, Box<Expr>, Box<Expr>),
}
