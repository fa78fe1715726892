//! The per-call virtual machine: runs one call's bytecode, sans I/O.
//!
//! A [`Program`] is a decoded [`Module`] made ready to run: its schedules'
//! time zones are resolved once, when the flow is loaded. Calls hold their
//! program by [`Arc`], so loading a newer version of a flow never changes a
//! call that is already running.
//!
//! A [`Call`] executes instructions until it needs the outside world. It
//! then returns an [`Effect`] (play these prompts, wait for digits, look
//! this caller up, put them in a queue) and does nothing until the host
//! resumes it with a [`Reply`] to that effect. The call never reads the
//! clock, the network or a file: the host passes the current instant with
//! every reply, and the same code runs live calls in `flowd` and scripted
//! ones in `flowc simulate` and `flowc test`.
//!
//! Between two effects a call may execute at most
//! [`CallOptions::budget`] instructions (unit instructions included). A
//! flow that exceeds it fails with [`RunError::Budget`] instead of hanging
//! the thread that runs it.
//!
//! # Life of a call
//!
//! 1. [`Call::new`], then [`Call::resume`] with [`Reply::Start`]. `on call`
//!    runs; its first effect is [`Effect::Answer`].
//! 2. The host carries out each effect and resumes with its reply. Any
//!    effect may be answered with [`Reply::HungUp`] when the caller hung up
//!    meanwhile; `on call` then stops where it is.
//! 3. When `on call` is over (an ending, the end of the handler, or the
//!    caller hanging up), `after call` runs, with `call.outcome` and the
//!    queue facts set.
//! 4. The last effect is [`Effect::Finished`]. Resuming a finished call
//!    returns [`Effect::Finished`] again.
//!
//! # Type-ahead
//!
//! Keys the caller presses while prompts play come back in
//! [`Reply::Played`]. The call keeps them and hands them to the next menu or
//! collect before asking the host for more, so a caller who knows the menu
//! can press through it. [`Effect::Play`] says whether a key press should
//! stop the prompts (`barge_in`): true when the next thing the flow does is
//! wait for input. Those prompts, a menu's or a collect's own, are not
//! played at all while typed-ahead keys wait for the input.
//!
//! Typed-ahead keys that do not complete a collect's input (no terminator
//! and fewer than its maximum digits) go to the host in
//! [`Effect::CollectDigits`] `typed`, and the digits of the reply are
//! added after them.
//!
//! # Decisions
//!
//! - `on call` ends with the last ending it reached ([`Outcome`]); a
//!   hang-up, by the flow or by the caller, never replaces an earlier
//!   ending, so a queue that overflowed ends as `overflow` even when the
//!   overflow path hangs up, while overflow then voicemail is `voicemail`.
//! - [`Reply::HungUp`] to an effect of `on call` ends it: `abandoned` while
//!   in a queue, `voicemail` while recording a message (callers end a
//!   message by hanging up), `hangup` otherwise. In `after call` it answers
//!   a survey (no rating) and any effect whose reply is [`Reply::Done`]; an
//!   ending effect there (only hand-built modules have one) ends it.
//! - [`Call::position`] gives the statement of the effect a call waits on,
//!   and budget errors name the statement of the last instruction run.
//! - `set language` to a code the config does not declare leaves the
//!   language as it is and adds [`Event::UnknownLanguage`] to the trace.
//!   The checker rejects such literals; a computed code can still be one.
//! - Sensitive digits are masked with [`MASK`] at every trace level: in
//!   replies to a sensitive collect, in keys typed during its prompt, in
//!   [`Event::Set`] and in [`Event::Eval`]. The host that supplied the
//!   digits has them already, so no trace needs them in clear.

mod effect;
mod reply;
mod run;
pub mod schedule;
mod unit;
mod value;

pub use effect::{Effect, Event, Outcome, QueueOutcome, Reply};
pub use schedule::{
    LocalTime, RangeSource, Verdict, VerdictReason, ZoneAbbreviation, evaluate as evaluate_schedule,
};
pub use value::MASK;

use crate::bytecode::{Module, ScheduleId, SlotId};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use reply::Pending;
use run::{Frame, State};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The default number of instructions a call may execute between two
/// effects.
pub const DEFAULT_BUDGET: u32 = 100_000;

/// The maximum number of sub-flows a call may run inside each other; `flowc check`
/// reports longer chains.
pub const MAX_RUN_DEPTH: usize = 64;

/// A module made ready to run.
#[derive(Debug)]
pub struct Program {
    module: Module,
    zones: Vec<TimeZone>,
    on_call: usize,
    after_call: Option<usize>,
    /// Visible slots by variable name.
    variables: HashMap<String, SlotId>,
}

/// An error that stops a module from loading.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A schedule names a time zone the host does not know.
    #[error(
        "schedule `{schedule}` uses time zone `{zone}`, which this machine's time zone database does not have"
    )]
    UnknownZone {
        /// The schedule.
        schedule: String,
        /// The zone name.
        zone: String,
    },
    /// The module has no `on call` block.
    #[error("flow `{0}` has no `on call` block")]
    NoOnCall(String),
}

impl Program {
    /// Prepares a decoded module. `zone` resolves IANA names; pass
    /// `|name| jiff::tz::db().get(name).ok()` for the bundled database.
    pub fn load(
        module: Module,
        zone: impl Fn(&str) -> Option<TimeZone>,
    ) -> Result<Arc<Program>, LoadError> {
        let Some(on_call) = module.on_call() else {
            return Err(LoadError::NoOnCall(module.flow.clone()));
        };
        let mut zones = Vec::with_capacity(module.schedules.len());
        for schedule in &module.schedules {
            match zone(&schedule.zone) {
                Some(found) => zones.push(found),
                None => {
                    return Err(LoadError::UnknownZone {
                        schedule: schedule.name.clone(),
                        zone: schedule.zone.clone(),
                    });
                }
            }
        }
        let variables = module
            .slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| !slot.hidden)
            .map(|(i, slot)| (slot.name.clone(), SlotId(i as u32)))
            .collect();
        Ok(Arc::new(Program {
            on_call: on_call.0 as usize,
            after_call: module.after_call().map(|b| b.0 as usize),
            module,
            zones,
            variables,
        }))
    }

    /// Returns the module.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Returns the resolved time zone of a schedule.
    pub fn zone(&self, schedule: ScheduleId) -> Option<&TimeZone> {
        self.zones.get(schedule.0 as usize)
    }
}

/// How much a call writes to its trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum TraceLevel {
    /// Nothing.
    Off,
    /// The path the call took, for call records: probes, effects,
    /// replies, keys typed ahead, language changes, contact fields of the
    /// wrong type and the end of `on call`.
    #[default]
    Path,
    /// Also every evaluated unit with the values it read, every variable
    /// set and every schedule verdict: for `flowc simulate` and `flowc test`.
    /// Sensitive digits are masked at this level too.
    Full,
}

/// Settings of one call.
#[derive(Clone, Copy, Debug)]
pub struct CallOptions {
    /// Instructions allowed between two effects.
    pub budget: u32,
    /// The amount of detail written to the trace.
    pub trace: TraceLevel,
}

impl Default for CallOptions {
    fn default() -> Self {
        CallOptions {
            budget: DEFAULT_BUDGET,
            trace: TraceLevel::Path,
        }
    }
}

/// The facts about a call that the host has when it arrives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallInfo {
    /// The call's id (the SIP Call-ID in `flowd`).
    pub id: String,
    /// The caller's number, or `None` when withheld.
    pub from: Option<String>,
    /// The dialled number, normalised as in [`Module::numbers`].
    pub to: String,
}

/// A runtime value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A bool.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A text.
    Text(String),
    /// Digits.
    Digits(String),
    /// The result of waiting for input when nothing came; never stored.
    NoInput,
    /// A duration in milliseconds.
    Duration(u64),
    /// A date.
    Date(crate::bytecode::Date),
    /// A time of day in minutes.
    Time(u16),
    /// A language code.
    Language(String),
    /// A contact, or `None` when missing.
    Contact(Option<Arc<Contact>>),
}

/// A CRM record as the host found it. Fields the record lacks read as the
/// empty value of their type; a field of the wrong type does too, and the
/// trace says so.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Contact {
    /// Field values by name: `name`, `company`, `email`, `phone`,
    /// `language`, `vip` and the custom fields of the config.
    pub fields: BTreeMap<String, Value>,
}

/// A fault of one call. The call cannot continue.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// Too many instructions ran between two effects.
    #[error(
        "flow `{flow}` ran {budget} instruction{plural} without waiting for the caller or the network, at {place}; it is probably looping",
        plural = if *budget == 1 { "" } else { "s" }
    )]
    Budget {
        /// The flow.
        flow: String,
        /// The budget.
        budget: u32,
        /// Where it was stopped: `file:line:column` or a block and
        /// instruction index.
        place: String,
    },
    /// `run` nested deeper than [`MAX_RUN_DEPTH`].
    #[error("flow `{flow}` nested `run` deeper than {MAX_RUN_DEPTH} sub-flows, at {place}")]
    RunDepth {
        /// The flow.
        flow: String,
        /// Where.
        place: String,
    },
    /// The reply does not answer the effect.
    #[error(
        "the host replied {reply} to {effect}; see the docs of `Effect` for the replies each effect takes"
    )]
    WrongReply {
        /// The effect, short.
        effect: String,
        /// The reply, short.
        reply: String,
    },
    /// The module broke a rule the verifier enforces, such as a value of
    /// the wrong type on the stack. Modules that `decode` accepted never
    /// cause it.
    #[error("flow `{flow}` cannot continue at {place}: {message}; rebuild it with `flowc build`")]
    Invalid {
        /// The flow.
        flow: String,
        /// Where.
        place: String,
        /// What was wrong.
        message: String,
    },
}

/// The facts of the last queue the call waited in.
#[derive(Clone, Debug, Default)]
struct QueueFacts {
    name: String,
    agent: String,
    wait_ms: u64,
    talk_ms: u64,
}

/// One call running one program.
#[derive(Debug)]
pub struct Call {
    program: Arc<Program>,
    info: CallInfo,
    options: CallOptions,
    state: State,
    slots: Vec<Value>,
    frames: Vec<Frame>,
    stack: Vec<Value>,
    /// A reused stack for units, so evaluating allocates once per call.
    unit_stack: Vec<Value>,
    pending: Option<Pending>,
    trace: Vec<Event>,
    tags: Vec<String>,
    /// The last ending `on call` reached so far.
    ending: Option<Outcome>,
    outcome: Option<Outcome>,
    language: String,
    typed_ahead: String,
    queue: QueueFacts,
    rating: Option<u8>,
    /// Instructions run since the call started.
    instructions: u64,
    /// Instructions run since the last effect.
    spent: u32,
    /// The block and index of the last instruction run.
    last_run: (usize, usize),
    /// Schedule verdicts for `now`, per schedule.
    verdicts: Vec<Option<Verdict>>,
    now: Timestamp,
}

impl Call {
    /// Creates a call; nothing runs until [`Call::resume`] with
    /// [`Reply::Start`].
    pub fn new(program: Arc<Program>, info: CallInfo, options: CallOptions) -> Call {
        let module = &program.module;
        let language = module.default_language.clone();
        let slots = module
            .slots
            .iter()
            .map(|slot| Value::empty(slot.ty, &language))
            .collect();
        let verdicts = vec![None; module.schedules.len()];
        Call {
            info,
            options,
            state: State::New,
            slots,
            frames: Vec::new(),
            stack: Vec::new(),
            unit_stack: Vec::new(),
            pending: None,
            trace: Vec::new(),
            tags: Vec::new(),
            ending: None,
            outcome: None,
            language,
            typed_ahead: String::new(),
            queue: QueueFacts::default(),
            rating: None,
            instructions: 0,
            spent: 0,
            last_run: (0, 0),
            verdicts,
            now: Timestamp::UNIX_EPOCH,
            program,
        }
    }

    /// Runs until the next effect. `now` is the current instant; schedules
    /// read it in their own time zone. After an error the call is stopped
    /// and every resume returns the same error.
    pub fn resume(&mut self, now: Timestamp, reply: Reply) -> Result<Effect, RunError> {
        match &self.state {
            State::Failed(error) => return Err(error.clone()),
            State::Finished => {
                let outcome = self.outcome.unwrap_or(Outcome::Hangup);
                return Ok(Effect::Finished { outcome });
            }
            _ => {}
        }
        if self.now != now {
            self.now = now;
            self.verdicts.iter_mut().for_each(|v| *v = None);
        }
        self.spent = 0;
        let result = self.step(reply);
        if let Err(error) = &result {
            self.state = State::Failed(error.clone());
            self.pending = None;
        }
        result
    }

    /// Returns the program the call runs.
    pub fn program(&self) -> &Arc<Program> {
        &self.program
    }

    /// Returns the trace so far.
    pub fn trace(&self) -> &[Event] {
        &self.trace
    }

    /// Takes the trace so far, leaving it empty.
    pub fn take_trace(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.trace)
    }

    /// Returns a variable's value by name, such as `vip` or `helper.x` for
    /// a sub-flow's variable. Hidden slots are not visible.
    pub fn variable(&self, name: &str) -> Option<&Value> {
        let slot = self.program.variables.get(name)?;
        self.slots.get(slot.0 as usize)
    }

    /// Returns the visible variables in slot order.
    pub fn variables(&self) -> Vec<(&str, &Value)> {
        self.program
            .module
            .slots
            .iter()
            .zip(&self.slots)
            .filter(|(slot, _)| !slot.hidden)
            .map(|(slot, value)| (slot.name.as_str(), value))
            .collect()
    }

    /// Returns the tags added so far.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Returns how `on call` ended, once it has.
    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome
    }

    /// Returns the call's current language.
    pub fn language(&self) -> &str {
        &self.language
    }

    /// Returns the survey rating, once a survey got one.
    pub fn rating(&self) -> Option<u8> {
        self.rating
    }

    /// Returns how many instructions the call has run, unit instructions
    /// included.
    pub fn instructions(&self) -> u64 {
        self.instructions
    }

    /// True once the call and its `after call` are over, or it failed.
    pub fn is_over(&self) -> bool {
        matches!(self.state, State::Finished | State::Failed(_))
    }
}
