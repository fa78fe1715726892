//! The protocol between a call and its host: the effects a call returns,
//! the replies that resume it, how a queue wait and the call ended, and
//! the events of its trace.

use super::{Contact, Value, Verdict};
use crate::bytecode::{ProbeId, QueueId, RecordMode, ScheduleId, SlotId, TicketMode, UnitId};

/// The way `on call` ended; `call.outcome` in `after call`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An agent answered.
    Answered,
    /// The caller reached a voicemail box.
    Voicemail,
    /// The call was transferred.
    Transferred,
    /// The caller hung up while waiting in a queue.
    Abandoned,
    /// The caller accepted a callback and left the queue.
    Callback,
    /// The call ended before a queue, voicemail or transfer: the flow hung
    /// up, the handler ended, or the caller hung up.
    Hangup,
    /// A queue overflowed and the flow's overflow path ended without
    /// another outcome.
    Overflow,
}

impl Outcome {
    /// Returns the value of `call.outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Voicemail => "voicemail",
            Outcome::Transferred => "transferred",
            Outcome::Abandoned => "abandoned",
            Outcome::Callback => "callback",
            Outcome::Hangup => "hangup",
            Outcome::Overflow => "overflow",
        }
    }
}

/// Something the call needs from the outside world.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Answer the call. Reply [`Reply::Done`].
    Answer,
    /// Play prompts in order in a language. Reply [`Reply::Played`] with
    /// the keys pressed meanwhile.
    Play {
        /// Prompt names, resolved by the host in `language`.
        prompts: Vec<String>,
        /// The call's language.
        language: String,
        /// True when a key press should stop the prompts.
        barge_in: bool,
    },
    /// Wait for one key. Reply [`Reply::Keys`] or [`Reply::NoInput`].
    CollectKey {
        /// Milliseconds to wait.
        timeout_ms: u64,
    },
    /// Collect digits. Reply [`Reply::Keys`] with the digits without the
    /// terminator, or [`Reply::NoInput`].
    CollectDigits {
        /// Minimum length.
        min: u32,
        /// Input ends after this many digits.
        max: u32,
        /// The key that ends input early.
        terminator: char,
        /// Milliseconds to wait for the first digit.
        timeout_ms: u64,
        /// Milliseconds to wait between digits.
        interdigit_ms: u64,
        /// True when the digits must be masked in logs and records.
        sensitive: bool,
        /// Keys the caller typed during the prompts, which start the input;
        /// the reply holds only the keys after them. Masked with [`MASK`](super::MASK)
        /// when sensitive.
        typed: String,
    },
    /// Look a contact up. Reply [`Reply::Found`], [`Reply::Missing`] or
    /// [`Reply::LookupFailed`].
    Lookup {
        /// `crm` or a CRM hook's name.
        source: String,
        /// The key, such as the caller's number.
        key: String,
        /// Milliseconds after which the lookup counts as failed.
        timeout_ms: u64,
    },
    /// Put the caller in a queue. Reply [`Reply::Queue`].
    Enqueue {
        /// The queue.
        queue: QueueId,
        /// Its name.
        name: String,
        /// The caller's priority; higher goes first.
        priority: i64,
        /// The call's language, for queues that need it.
        language: String,
    },
    /// Transfer the call. Reply [`Reply::Done`].
    Transfer {
        /// A number or SIP URI.
        target: String,
    },
    /// Record a message in a mailbox. Reply [`Reply::Done`].
    Voicemail {
        /// The mailbox.
        mailbox: String,
        /// The call's language, for the host's own prompts.
        language: String,
    },
    /// Hang up. Reply [`Reply::Done`].
    Hangup,
    /// Change the recording. Reply [`Reply::Done`].
    Record(RecordMode),
    /// Add a tag to the call record. Reply [`Reply::Done`].
    Tag(String),
    /// Write an entry on the contact's timeline. Reply [`Reply::Done`].
    Timeline(String),
    /// Link or open a ticket. Reply [`Reply::Done`].
    Ticket {
        /// Link, create, or link or create.
        mode: TicketMode,
        /// The subject, unless the mode is link.
        subject: Option<String>,
    },
    /// Ask for a 1-5 rating. Reply [`Reply::Rating`].
    Survey {
        /// The question prompt.
        question: String,
        /// The thanks prompt.
        thanks: Option<String>,
        /// The call's language.
        language: String,
    },
    /// Send the call record to a webhook hook. Reply [`Reply::Done`].
    Webhook {
        /// The hook's name.
        hook: String,
    },
    /// Send a message through a notify hook. Reply [`Reply::Done`].
    Notify {
        /// The hook's name.
        hook: String,
        /// The message.
        message: String,
    },
    /// The call and its `after call` are over; release the caller if they
    /// are still connected.
    Finished {
        /// How `on call` ended.
        outcome: Outcome,
    },
}

/// The end of a queue wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueOutcome {
    /// An agent answered; the reply comes when the conversation is over.
    Answered {
        /// The agent.
        agent: String,
        /// Milliseconds waited.
        wait_ms: u64,
        /// Milliseconds talked.
        talk_ms: u64,
    },
    /// The caller accepted a callback and left the queue.
    Callback {
        /// Milliseconds waited.
        wait_ms: u64,
    },
    /// The caller waited `max wait`.
    MaxWait {
        /// Milliseconds waited.
        wait_ms: u64,
    },
    /// `max callers` were already waiting.
    Full,
    /// No agent who could take the call was logged in.
    NoAgents,
    /// The caller hung up while waiting.
    Abandoned {
        /// Milliseconds waited.
        wait_ms: u64,
    },
}

/// The host's answer to an effect.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// Starts the call; the first resume only.
    Start,
    /// The effect was carried out.
    Done,
    /// The prompts played; the keys pressed meanwhile, in order.
    Played {
        /// Keys pressed, `0`-`9`, `*`, `#`.
        keys: String,
    },
    /// Keys entered for a collect.
    Keys(String),
    /// Nothing was entered before the timeout.
    NoInput,
    /// The lookup found a contact.
    Found(Contact),
    /// The lookup answered that there is no such contact.
    Missing,
    /// The lookup failed or timed out.
    LookupFailed {
        /// True for a timeout.
        timed_out: bool,
        /// What went wrong, for the trace.
        reason: String,
    },
    /// The queue wait ended.
    Queue(QueueOutcome),
    /// The survey's rating, or `None` when the caller gave none.
    Rating(Option<u8>),
    /// The caller hung up before or during the effect.
    HungUp,
}

/// A record of what a call did, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A decision outcome was taken.
    Probe(ProbeId),
    /// An effect was returned to the host.
    Effect(Effect),
    /// The host replied.
    Reply(Reply),
    /// Keys typed ahead during prompts were used as input.
    TypeAhead(String),
    /// A unit was evaluated ([`TraceLevel::Full`](super::TraceLevel::Full) only).
    Eval {
        /// The unit.
        unit: UnitId,
        /// Its result.
        value: Value,
        /// The slots and built-ins it read, with their values.
        read: Vec<(String, Value)>,
    },
    /// A variable was set ([`TraceLevel::Full`](super::TraceLevel::Full) only; sensitive values are
    /// masked).
    Set {
        /// The slot.
        slot: SlotId,
        /// The new value.
        value: Value,
    },
    /// A schedule was consulted ([`TraceLevel::Full`](super::TraceLevel::Full) only).
    Schedule {
        /// The schedule.
        schedule: ScheduleId,
        /// The verdict with its reason.
        verdict: Verdict,
    },
    /// The call's language changed.
    Language(String),
    /// `set language` named a language the config does not declare; the
    /// language stayed as it was.
    UnknownLanguage(String),
    /// A contact field had the wrong type and read as empty.
    FieldType {
        /// The field.
        field: String,
        /// The type the flow expects.
        expected: crate::bytecode::Type,
    },
    /// `on call` is over and `after call` starts.
    CallEnded(Outcome),
}
