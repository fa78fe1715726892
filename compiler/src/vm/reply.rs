//! Replies: checking that a reply fits the effect the call waits on, and
//! applying it.

use super::Event;
use super::run::State;
use super::value::{is_key, mask};
use super::{Call, Outcome, QueueOutcome, Reply, RunError, TraceLevel, Value};
use std::sync::Arc;

/// The effect a call waits on, with what its reply needs.
#[derive(Clone, Debug)]
pub(super) enum Pending {
    /// An effect whose reply, [`Reply::Done`], changes nothing.
    Done(&'static str),
    /// Transfer, voicemail or hang-up: `on call` ends with this outcome.
    Ending(Outcome),
    /// Prompts; `mask` when the keys typed may be sensitive digits.
    Play { mask: bool },
    /// One key.
    CollectKey,
    /// Digits; `typed` holds the digits typed ahead that start the input.
    CollectDigits { sensitive: bool, typed: String },
    /// A lookup; a failure continues at `on_failure`.
    Lookup { on_failure: usize },
    /// A queue; an overflow continues at `on_overflow`.
    Enqueue { name: String, on_overflow: usize },
    /// A survey.
    Survey,
}

impl Pending {
    fn name(&self) -> &'static str {
        match self {
            Pending::Done(name) => name,
            Pending::Ending(Outcome::Transferred) => "transfer",
            Pending::Ending(Outcome::Voicemail) => "voicemail",
            Pending::Ending(_) => "hangup",
            Pending::Play { .. } => "play",
            Pending::CollectKey => "collect key",
            Pending::CollectDigits { .. } => "collect digits",
            Pending::Lookup { .. } => "lookup",
            Pending::Enqueue { .. } => "enqueue",
            Pending::Survey => "survey",
        }
    }
}

/// Returns the name of a reply's kind, for [`RunError::WrongReply`].
fn reply_name(reply: &Reply) -> &'static str {
    match reply {
        Reply::Start => "Start",
        Reply::Done => "Done",
        Reply::Played { .. } => "Played",
        Reply::Keys(_) => "Keys",
        Reply::NoInput => "NoInput",
        Reply::Found(_) => "Found",
        Reply::Missing => "Missing",
        Reply::LookupFailed { .. } => "LookupFailed",
        Reply::Queue(_) => "Queue",
        Reply::Rating(_) => "Rating",
        Reply::HungUp => "HungUp",
    }
}

/// The next step after a reply was applied.
pub(super) enum Next {
    /// Run on from the current instruction.
    Run,
    /// The handler is over.
    EndHandler,
}

impl Call {
    pub(super) fn wrong_reply(&self, effect: &str, reply: &Reply) -> RunError {
        RunError::WrongReply {
            effect: effect.to_string(),
            reply: reply_name(reply).to_string(),
        }
    }

    /// Applies a reply to the effect the call waited on.
    pub(super) fn apply(&mut self, pending: Pending, reply: Reply) -> Result<Next, RunError> {
        self.trace_reply(&pending, &reply);
        if reply == Reply::HungUp && self.state == State::OnCall {
            let ending = match &pending {
                Pending::Enqueue { name, .. } => {
                    self.queue.name.clone_from(name);
                    Outcome::Abandoned
                }
                Pending::Ending(Outcome::Voicemail) => Outcome::Voicemail,
                _ => Outcome::Hangup,
            };
            self.set_ending(ending);
            return Ok(Next::EndHandler);
        }
        match (pending, reply) {
            (Pending::Done(_) | Pending::Survey, Reply::HungUp) => Ok(Next::Run),
            (Pending::Ending(_), Reply::HungUp) => Ok(Next::EndHandler),
            (Pending::Done(_), Reply::Done) => Ok(Next::Run),
            (Pending::Ending(outcome), Reply::Done) => {
                self.set_ending(outcome);
                Ok(Next::EndHandler)
            }
            (Pending::Play { .. }, Reply::Played { keys }) if keys.chars().all(is_key) => {
                self.typed_ahead.push_str(&keys);
                Ok(Next::Run)
            }
            (Pending::CollectKey, Reply::Keys(keys)) if valid_keys(&keys) => {
                let mut chars = keys.chars();
                let first = chars.next().map(String::from).unwrap_or_default();
                let rest: String = chars.collect();
                self.typed_ahead.insert_str(0, &rest);
                self.stack.push(Value::Digits(first));
                Ok(Next::Run)
            }
            (Pending::CollectDigits { typed, .. }, Reply::Keys(keys))
                if keys.chars().all(is_key) =>
            {
                self.stack.push(Value::Digits(typed + &keys));
                Ok(Next::Run)
            }
            (Pending::CollectKey, Reply::NoInput) => {
                self.stack.push(Value::NoInput);
                Ok(Next::Run)
            }
            (Pending::CollectDigits { typed, .. }, Reply::NoInput) => {
                let value = if typed.is_empty() {
                    Value::NoInput
                } else {
                    Value::Digits(typed)
                };
                self.stack.push(value);
                Ok(Next::Run)
            }
            (Pending::Lookup { .. }, Reply::Found(contact)) => {
                self.stack.push(Value::Contact(Some(Arc::new(contact))));
                Ok(Next::Run)
            }
            (Pending::Lookup { .. }, Reply::Missing) => {
                self.stack.push(Value::Contact(None));
                Ok(Next::Run)
            }
            (Pending::Lookup { on_failure }, Reply::LookupFailed { .. }) => {
                self.stack.push(Value::Contact(None));
                self.jump(on_failure);
                Ok(Next::Run)
            }
            (Pending::Enqueue { name, on_overflow }, Reply::Queue(outcome)) => {
                self.queue_outcome(name, on_overflow, outcome);
                Ok(Next::Run)
            }
            (Pending::Survey, Reply::Rating(rating))
                if rating.is_none_or(|r| (1..=5).contains(&r)) =>
            {
                self.rating = rating;
                Ok(Next::Run)
            }
            (pending, reply) => Err(self.wrong_reply(pending.name(), &reply)),
        }
    }

    /// Sets the queue facts and the ending from a queue's outcome.
    fn queue_outcome(&mut self, name: String, on_overflow: usize, outcome: QueueOutcome) {
        self.queue.name = name;
        let (ending, overflow) = match outcome {
            QueueOutcome::Answered {
                agent,
                wait_ms,
                talk_ms,
            } => {
                self.queue.agent = agent;
                self.queue.wait_ms = wait_ms;
                self.queue.talk_ms = talk_ms;
                (Outcome::Answered, false)
            }
            QueueOutcome::Callback { wait_ms } => {
                self.queue.wait_ms = wait_ms;
                (Outcome::Callback, false)
            }
            QueueOutcome::Abandoned { wait_ms } => {
                self.queue.wait_ms = wait_ms;
                (Outcome::Abandoned, false)
            }
            QueueOutcome::MaxWait { wait_ms } => {
                self.queue.wait_ms = wait_ms;
                (Outcome::Overflow, true)
            }
            QueueOutcome::Full | QueueOutcome::NoAgents => {
                self.queue.wait_ms = 0;
                (Outcome::Overflow, true)
            }
        };
        self.set_ending(ending);
        if overflow {
            self.jump(on_overflow);
        }
    }

    /// Records how `on call` ended. A hang-up never replaces an earlier
    /// ending, so a queue that overflowed to `hangup` still ends as
    /// `overflow`; every other ending replaces the one before.
    pub(super) fn set_ending(&mut self, outcome: Outcome) {
        if outcome != Outcome::Hangup || self.ending.is_none() {
            self.ending = Some(outcome);
        }
    }

    /// Records a reply, masking keys that may be sensitive digits.
    fn trace_reply(&mut self, pending: &Pending, reply: &Reply) {
        if self.options.trace == TraceLevel::Off {
            return;
        }
        let masked = match (pending, reply) {
            (
                Pending::CollectDigits {
                    sensitive: true, ..
                },
                Reply::Keys(keys),
            ) => Reply::Keys(mask(keys)),
            (Pending::Play { mask: true }, Reply::Played { keys }) => {
                Reply::Played { keys: mask(keys) }
            }
            _ => reply.clone(),
        };
        self.trace.push(Event::Reply(masked));
    }
}

/// True when `keys` is one or more DTMF keys.
fn valid_keys(keys: &str) -> bool {
    !keys.is_empty() && keys.chars().all(is_key)
}
