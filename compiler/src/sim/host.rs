//! The scripted host: drives one [`Call`] to its end on a simulated clock,
//! answering every effect from a [`Script`].

use super::script::{
    DEFAULT_LOOKUP_MS, DURING_PROMPT_MS, Input, KEY_GAP_MS, LookupAnswer, LookupKind,
    QueueAnswerKind, Script, Timing,
};
use super::trace::{self, Step, format_duration, value_text};
use super::validate;
use crate::bytecode::{Const, Module, ProbeId, ScheduleId, Type, UnitOp};
use crate::vm::{
    Call, CallInfo, CallOptions, Contact, Effect, Event, Outcome, Program, QueueOutcome,
    RangeSource, Reply, TraceLevel, Value, Verdict, VerdictReason,
};
use jiff::{SignedDuration, Timestamp};

use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Replaces every character of sensitive text with [`crate::vm::MASK`], as
/// the VM masks sensitive values in its trace.
fn mask(text: &str) -> String {
    text.chars().map(|_| crate::vm::MASK).collect()
}

/// The maximum number of effects one simulated call may return, so a flow
/// that loops through prompts or lookups is stopped.
pub const MAX_EFFECTS: usize = 10_000;

/// The longest simulated call, in milliseconds: 24 hours.
pub const MAX_CALL_MS: u64 = 24 * 3_600_000;

/// Milliseconds a prompt lasts when its length is not known.
pub const DEFAULT_PROMPT_MS: u64 = 1_000;

/// Milliseconds a caller speaks into a voicemail box.
pub const VOICEMAIL_MS: u64 = 30_000;

/// Milliseconds a caller takes to give a survey rating.
pub const RATING_MS: u64 = 3_000;

/// The agent who answers queues the script gives no outcome for.
pub const SIMULATED_AGENT: &str = "simulated-agent";

/// Prompt lengths in milliseconds by language folder (`en`, `sl`, or
/// `common`) and prompt name, as the host found them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PromptLengths {
    lengths: BTreeMap<(String, String), u64>,
}

impl PromptLengths {
    /// Records a prompt's length.
    pub fn insert(&mut self, folder: &str, name: &str, ms: u64) {
        self.lengths
            .insert((folder.to_string(), name.to_string()), ms);
    }

    /// Returns a prompt's length in a language, falling back to `common`
    /// and then to [`DEFAULT_PROMPT_MS`].
    pub fn get(&self, language: &str, name: &str) -> u64 {
        let find = |folder: &str| {
            self.lengths
                .get(&(folder.to_string(), name.to_string()))
                .copied()
        };
        find(language)
            .or_else(|| find("common"))
            .unwrap_or(DEFAULT_PROMPT_MS)
    }
}

/// The start of a simulated call: the call, the instant, prompt lengths
/// and the instruction budget.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The caller and the dialled number.
    pub call: CallInfo,
    /// The instant the call arrives.
    pub start: Timestamp,
    /// Prompt lengths.
    pub prompts: PromptLengths,
    /// Instructions allowed between two effects.
    pub budget: u32,
}

/// A schedule verdict as coverage counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScheduleOutcome {
    /// Open.
    Open,
    /// Closed.
    Closed,
    /// Closed for a holiday.
    Holiday,
    /// Decided by a date exception, open or closed.
    Exception,
}

impl ScheduleOutcome {
    /// Returns the outcome's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleOutcome::Open => "open",
            ScheduleOutcome::Closed => "closed",
            ScheduleOutcome::Holiday => "holiday",
            ScheduleOutcome::Exception => "exception",
        }
    }

    /// Returns the outcomes a verdict counts for: open or closed, and also
    /// holiday or exception when one of those decided.
    pub fn of(verdict: &Verdict) -> Vec<ScheduleOutcome> {
        let mut outcomes = vec![if verdict.open {
            ScheduleOutcome::Open
        } else {
            ScheduleOutcome::Closed
        }];
        match verdict.reason {
            VerdictReason::Holiday => outcomes.push(ScheduleOutcome::Holiday),
            VerdictReason::Range { source, .. }
            | VerdictReason::Overnight { source, .. }
            | VerdictReason::OutsideHours { source } => {
                if let RangeSource::Exception { .. } = source {
                    outcomes.push(ScheduleOutcome::Exception);
                }
            }
        }
        outcomes
    }
}

/// The reason a simulated call stopped before it finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// `runtime` for a fault of the flow reported by the VM, `limit` when
    /// the simulation's own limits stopped it.
    pub kind: &'static str,
    /// The message, with the place when the VM gave one.
    pub message: String,
}

/// The result of one simulated call.
#[derive(Clone, Debug)]
pub struct Simulation {
    /// The flow's name.
    pub flow: String,
    /// The steps in order.
    pub steps: Vec<Step>,
    /// The outcome of `on call`, once it ended.
    pub outcome: Option<Outcome>,
    /// The reason the call stopped early, if it did.
    pub failure: Option<Failure>,
    /// The visible variables and their values at the end.
    pub variables: Vec<(String, String)>,
    /// The tags added.
    pub tags: Vec<String>,
    /// The call's language at the end.
    pub language: String,
    /// The probes hit.
    pub probes: BTreeSet<ProbeId>,
    /// The schedule outcomes seen.
    pub schedules: BTreeSet<(ScheduleId, ScheduleOutcome)>,
    /// Milliseconds of simulated time the call took.
    pub duration_ms: u64,
    /// Scripted inputs and queue outcomes the call never used, as note
    /// lines.
    pub unused: Vec<String>,
}

/// Runs one call of `program` to its end, answering its effects from
/// `script`. Runtime errors of the flow and the simulation's limits are
/// reported in [`Simulation::failure`].
pub fn simulate(program: &Arc<Program>, setup: &Setup, script: &Script) -> Simulation {
    let options = CallOptions {
        budget: setup.budget,
        trace: TraceLevel::Full,
    };
    let call = Call::new(Arc::clone(program), setup.call.clone(), options);
    let host = Host {
        module: program.module(),
        setup,
        script,
        inputs: script.inputs.iter().cloned().collect(),
        queues_used: vec![false; script.queues.len()],
        field_types: field_types(program.module()),
        clock_ms: 0,
        ended: false,
        caller_gone: false,
        steps: Vec::new(),
        pending_reads: Vec::new(),
        probes: BTreeSet::new(),
        schedules: BTreeSet::new(),
        script_error: None,
    };
    host.run(call)
}

struct Host<'a> {
    module: &'a Module,
    setup: &'a Setup,
    script: &'a Script,
    inputs: VecDeque<Input>,
    queues_used: Vec<bool>,
    field_types: BTreeMap<String, Type>,
    clock_ms: u64,
    /// True once `on call` is over; the caller can no longer hang up.
    ended: bool,
    /// True once the caller hung up, so a survey gets no rating.
    caller_gone: bool,
    steps: Vec<Step>,
    /// Values read by units since the last decision, shown as its reason.
    pending_reads: Vec<(String, Value)>,
    probes: BTreeSet<ProbeId>,
    schedules: BTreeSet<(ScheduleId, ScheduleOutcome)>,
    /// A scripted answer the flow could not get in production, which stops
    /// the call.
    script_error: Option<String>,
}

/// A reply with the simulated time it took and an optional step that
/// explains it.
struct Answer {
    reply: Reply,
    elapsed_ms: u64,
    step: Option<Step>,
}

impl Host<'_> {
    fn run(mut self, mut call: Call) -> Simulation {
        let mut reply = Reply::Start;
        let mut effects = 0usize;
        let mut failure = None;
        loop {
            let now = self.now();
            let result = call.resume(now, reply);
            self.absorb(call.take_trace());
            let effect = match result {
                Ok(effect) => effect,
                Err(error) => {
                    let message = error.to_string();
                    self.push(
                        "error",
                        format!("error: {message}"),
                        json!({"message": message}),
                    );
                    failure = Some(Failure {
                        kind: "runtime",
                        message,
                    });
                    break;
                }
            };
            let mut step = trace::effect_step(self.clock_ms, self.module, &effect);
            if !matches!(effect, Effect::Finished { .. }) {
                step.place = call.position().and_then(|at| trace::place(self.module, at));
            }
            self.steps.push(step);
            if matches!(effect, Effect::Finished { .. }) {
                break;
            }
            effects += 1;
            if let Some(limit) = self.limit_reached(effects) {
                self.push(
                    "error",
                    format!("error: {limit}"),
                    json!({"message": limit}),
                );
                failure = Some(Failure {
                    kind: "limit",
                    message: limit,
                });
                break;
            }
            let answer = self.answer(&effect);
            if let Some(message) = self.script_error.take() {
                self.push(
                    "error",
                    format!("error: {message}"),
                    json!({"message": message}),
                );
                failure = Some(Failure {
                    kind: "script",
                    message,
                });
                break;
            }
            self.clock_ms = self.clock_ms.saturating_add(answer.elapsed_ms);
            if let Some(step) = answer.step {
                self.steps.push(step);
            }
            reply = answer.reply;
        }
        // `Call::variables` lists the slots that are not hidden, in slot
        // order, so the zip pairs each value with its definition.
        let visible = self.module.slots.iter().filter(|slot| !slot.hidden);
        let variables = visible
            .zip(call.variables())
            .map(|(slot, (name, value))| {
                let shown = if slot.sensitive {
                    value_text(&value.masked())
                } else {
                    value_text(value)
                };
                (name.to_string(), shown)
            })
            .collect();
        let unused = self.unused();
        Simulation {
            flow: self.module.flow.clone(),
            steps: self.steps,
            outcome: call.outcome(),
            failure,
            variables,
            tags: call.tags().to_vec(),
            language: call.language().to_string(),
            probes: self.probes,
            schedules: self.schedules,
            duration_ms: self.clock_ms,
            unused,
        }
    }

    /// Describes the scripted inputs and queue outcomes left when the call
    /// ended.
    fn unused(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.inputs.is_empty() {
            let left: Vec<String> = self
                .inputs
                .iter()
                .map(|i| i.keys.clone().unwrap_or_else(|| String::from("none")))
                .collect();
            notes.push(format!(
                "{} scripted input(s) not used because the call asked for no more: {}",
                left.len(),
                left.join(", ")
            ));
        }
        let left: Vec<String> = self
            .script
            .queues
            .iter()
            .zip(&self.queues_used)
            .filter(|(_, used)| !**used)
            .map(|(answer, _)| answer.text.clone())
            .collect();
        if !left.is_empty() {
            notes.push(format!(
                "{} scripted queue outcome(s) not used because the call entered no matching queue: {}",
                left.len(),
                left.join(", ")
            ));
        }
        notes
    }

    fn now(&self) -> Timestamp {
        let offset = SignedDuration::from_millis(i64::try_from(self.clock_ms).unwrap_or(i64::MAX));
        self.setup
            .start
            .checked_add(offset)
            .unwrap_or(self.setup.start)
    }

    fn limit_reached(&self, effects: usize) -> Option<String> {
        if effects > MAX_EFFECTS {
            return Some(format!(
                "the simulated call returned more than {MAX_EFFECTS} effects without finishing, the limit of a simulation; a flow that loops through prompts or lookups does this"
            ));
        }
        if self.clock_ms > MAX_CALL_MS {
            return Some(format!(
                "the simulated call ran longer than 24 hours ({}) without finishing, the limit of a simulation",
                format_duration(self.clock_ms)
            ));
        }
        None
    }

    fn push(&mut self, event: &'static str, text: String, data: serde_json::Value) {
        self.steps.push(Step::new(self.clock_ms, event, text, data));
    }

    /// Turns the VM's trace events into steps. Effects and replies are
    /// written by the host itself, from what it was asked and answered.
    fn absorb(&mut self, events: Vec<Event>) {
        for event in events {
            match event {
                Event::Probe(id) => {
                    self.probes.insert(id);
                    let reads = std::mem::take(&mut self.pending_reads);
                    if let Some(probe) = self.module.probes.get(id.0 as usize) {
                        let step = trace::branch_step(self.clock_ms, self.module, probe, &reads);
                        self.steps.push(step);
                    }
                }
                Event::Eval { read, .. } => {
                    for (name, value) in read {
                        if !self.pending_reads.iter().any(|(n, _)| *n == name) {
                            self.pending_reads.push((name, value));
                        }
                    }
                }
                Event::Set { slot, value } => {
                    self.pending_reads.clear();
                    self.set_step(slot.0 as usize, &value);
                }
                Event::Schedule { schedule, verdict } => {
                    for outcome in ScheduleOutcome::of(&verdict) {
                        self.schedules.insert((schedule, outcome));
                    }
                    if let Some(definition) = self.module.schedules.get(schedule.0 as usize) {
                        let step = trace::schedule_step(self.clock_ms, definition, &verdict);
                        // `holiday(office) or not open(office)` reads one
                        // schedule twice at one instant; show it once.
                        let repeated = self.steps.last().is_some_and(|last| {
                            last.at_ms == step.at_ms && last.text == step.text
                        });
                        if !repeated {
                            self.steps.push(step);
                        }
                    }
                }
                Event::Language(language) => self.push(
                    "language",
                    format!("language is now {language}"),
                    json!({"language": language}),
                ),
                Event::TypeAhead(keys) => self.push(
                    "type_ahead",
                    format!("keys {keys} typed during the prompts used as input"),
                    json!({"keys": keys}),
                ),
                Event::UnknownLanguage(language) => self.push(
                    "unknown_language",
                    format!("language {language} is not declared in tok.yaml; the language did not change"),
                    json!({"language": language}),
                ),
                Event::FieldType { field, expected } => self.push(
                    "field_type",
                    format!(
                        "contact field {field} is not {}; read as empty",
                        expected.as_str()
                    ),
                    json!({"field": field, "expected": expected.as_str()}),
                ),
                Event::CallEnded(outcome) => {
                    self.ended = true;
                    self.steps
                        .push(trace::call_ended_step(self.clock_ms, outcome));
                }
                Event::Effect(_) | Event::Reply(_) => {
                    self.pending_reads.clear();
                }
            }
        }
    }

    fn set_step(&mut self, slot: usize, value: &Value) {
        let Some(definition) = self.module.slots.get(slot) else {
            return;
        };
        if definition.hidden {
            return;
        }
        let shown = if definition.sensitive {
            value_text(&value.masked())
        } else {
            value_text(value)
        };
        self.push(
            "set",
            format!("set {} = {shown}", definition.name),
            json!({"variable": definition.name, "value": shown}),
        );
    }

    fn answer(&mut self, effect: &Effect) -> Answer {
        let answer = match effect {
            Effect::Play {
                prompts,
                language,
                barge_in,
            } => self.play(prompts, language, *barge_in),
            Effect::CollectKey { timeout_ms } => self.collect_key(*timeout_ms),
            Effect::CollectDigits {
                max,
                terminator,
                timeout_ms,
                interdigit_ms,
                sensitive,
                typed,
                ..
            } => {
                if *sensitive && !typed.is_empty() {
                    self.mask_typed_step();
                }
                let typed = typed.chars().count();
                let max = usize::try_from(*max).unwrap_or(usize::MAX);
                let request = DigitRequest {
                    remaining: max.saturating_sub(typed),
                    typed: typed > 0,
                    terminator: *terminator,
                    timeout_ms: *timeout_ms,
                    interdigit_ms: *interdigit_ms,
                    sensitive: *sensitive,
                };
                self.collect_digits(&request)
            }
            Effect::Lookup {
                source, timeout_ms, ..
            } => self.lookup(source, *timeout_ms),
            Effect::Enqueue { queue, name, .. } => self.enqueue(queue.0 as usize, name),
            Effect::Voicemail { .. } => done(VOICEMAIL_MS),
            Effect::Survey {
                question,
                thanks,
                language,
            } => self.survey(question, thanks.as_deref(), language),
            Effect::Answer
            | Effect::Transfer { .. }
            | Effect::Hangup
            | Effect::Record(_)
            | Effect::Tag(_)
            | Effect::Timeline(_)
            | Effect::Ticket { .. }
            | Effect::Webhook { .. }
            | Effect::Notify { .. }
            | Effect::Finished { .. } => done(0),
        };
        self.hang_up_during(effect, answer)
    }

    /// Replaces an answer with the caller hanging up when the script's
    /// hang-up time falls before the answer would come.
    fn hang_up_during(&mut self, effect: &Effect, answer: Answer) -> Answer {
        let Some(hangup_ms) = self.script.hangup_after_ms else {
            return answer;
        };
        let done_at = self.clock_ms.saturating_add(answer.elapsed_ms);
        if self.ended || hangup_ms > done_at || (hangup_ms == done_at && answer.elapsed_ms > 0) {
            return answer;
        }
        self.caller_gone = true;
        let elapsed_ms = hangup_ms.saturating_sub(self.clock_ms);
        let at_ms = self.clock_ms.saturating_add(elapsed_ms);
        if let Reply::Queue(QueueOutcome::Answered { agent, wait_ms, .. }) = &answer.reply
            && *wait_ms <= elapsed_ms
        {
            // The caller hangs up while talking to the agent: the call was
            // answered, and the conversation is shorter.
            let talk_ms = elapsed_ms - wait_ms;
            let text = format!(
                "answered by {agent} after {}, talked {} until the caller hung up",
                format_duration(*wait_ms),
                format_duration(talk_ms)
            );
            let step = Step::new(
                at_ms,
                "queue_result",
                text,
                json!({"outcome": "answered", "agent": agent, "wait_ms": wait_ms, "talk_ms": talk_ms}),
            );
            return Answer {
                reply: Reply::Queue(QueueOutcome::Answered {
                    agent: agent.clone(),
                    wait_ms: *wait_ms,
                    talk_ms,
                }),
                elapsed_ms,
                step: Some(step),
            };
        }
        if let Effect::Enqueue { .. } = effect {
            let outcome = QueueOutcome::Abandoned {
                wait_ms: elapsed_ms,
            };
            let text = format!(
                "caller hung up after {} in the queue",
                format_duration(elapsed_ms)
            );
            let step = Step::new(
                at_ms,
                "queue_result",
                text,
                json!({"outcome": "abandoned", "wait_ms": elapsed_ms}),
            );
            return Answer {
                reply: Reply::Queue(outcome),
                elapsed_ms,
                step: Some(step),
            };
        }
        Answer {
            reply: Reply::HungUp,
            elapsed_ms,
            step: Some(Step::new(
                at_ms,
                "hung_up",
                String::from("caller hung up"),
                json!({}),
            )),
        }
    }

    fn play(&mut self, prompts: &[String], language: &str, barge_in: bool) -> Answer {
        let total: u64 = prompts
            .iter()
            .map(|p| self.setup.prompts.get(language, p))
            .sum();
        let typed = self
            .inputs
            .front()
            .is_some_and(|i| i.timing == Timing::DuringPrompt);
        let keys = match typed {
            true => self.inputs.pop_front().and_then(|i| i.keys),
            false => None,
        };
        let Some(keys) = keys else {
            return Answer {
                reply: Reply::Played {
                    keys: String::new(),
                },
                elapsed_ms: total,
                step: None,
            };
        };
        let pressed_at = DURING_PROMPT_MS.min(total);
        let elapsed_ms = if barge_in { pressed_at } else { total };
        let stopped = if barge_in {
            ", which stopped the prompts"
        } else {
            ""
        };
        let step = Step::new(
            self.clock_ms.saturating_add(pressed_at),
            "typed",
            format!("caller typed {keys} during the prompts{stopped}"),
            json!({"keys": keys, "barge_in": barge_in}),
        );
        Answer {
            reply: Reply::Played { keys },
            elapsed_ms,
            step: Some(step),
        }
    }

    /// Masks the keys of the last type-ahead step, once the ask they
    /// answer turns out to be a sensitive collect.
    fn mask_typed_step(&mut self) {
        let Some(step) = self.steps.iter_mut().rev().find(|s| s.event == "typed") else {
            return;
        };
        let Some(keys) = step.data.get("keys").and_then(|k| k.as_str()) else {
            return;
        };
        let masked = mask(keys);
        step.text = step.text.replacen(keys, &masked, 1);
        if let Some(data) = step.data.get_mut("keys") {
            *data = json!(masked);
        }
    }

    /// Takes the next input; the default is no input.
    fn next_input(&mut self) -> (Option<String>, u64) {
        match self.inputs.pop_front() {
            Some(Input {
                keys,
                timing: Timing::After(ms),
            }) => (keys, ms),
            Some(Input {
                keys,
                timing: Timing::DuringPrompt,
            }) => (keys, 0),
            None => (None, 0),
        }
    }

    fn no_input(&self, timeout_ms: u64, late: Option<(&str, u64)>) -> Answer {
        let mut text = format!("no input after {}", format_duration(timeout_ms));
        if let Some((keys, delay)) = late {
            text.push_str(&format!(
                " (keys {keys} came at {}, too late)",
                format_duration(delay)
            ));
        }
        Answer {
            reply: Reply::NoInput,
            elapsed_ms: timeout_ms,
            step: Some(Step::new(
                self.clock_ms.saturating_add(timeout_ms),
                "no_input",
                text,
                json!({"timeout_ms": timeout_ms}),
            )),
        }
    }

    fn collect_key(&mut self, timeout_ms: u64) -> Answer {
        let (keys, delay) = self.next_input();
        let Some(keys) = keys else {
            return self.no_input(timeout_ms, None);
        };
        if delay >= timeout_ms {
            return self.no_input(timeout_ms, Some((&keys, delay)));
        }
        let mut chars = keys.chars();
        let key: String = chars.next().into_iter().collect();
        let rest: String = chars.collect();
        if !rest.is_empty() {
            // Keys after the first are pressed while the next prompts play.
            self.inputs.push_front(Input {
                keys: Some(rest),
                timing: Timing::DuringPrompt,
            });
        }
        Answer {
            step: Some(Step::new(
                self.clock_ms.saturating_add(delay),
                "key",
                format!("caller pressed {key}"),
                json!({"key": key}),
            )),
            reply: Reply::Keys(key),
            elapsed_ms: delay,
        }
    }

    /// Answers a collect. Digits typed during the prompts already count
    /// towards the maximum. When there were some and the caller then
    /// presses nothing, input ends after the interdigit time.
    fn collect_digits(&mut self, request: &DigitRequest) -> Answer {
        let (keys, delay) = self.next_input();
        let keys = match keys {
            Some(keys) if delay < request.timeout_ms => keys,
            Some(keys) if !request.typed => {
                return self.no_input(request.timeout_ms, Some((&keys, delay)));
            }
            None if !request.typed => return self.no_input(request.timeout_ms, None),
            _ => String::new(),
        };
        let mut digits = String::new();
        let mut pressed = 0u64;
        let mut terminated = false;
        for key in keys.chars() {
            if digits.chars().count() >= request.remaining {
                break;
            }
            pressed += 1;
            if key == request.terminator {
                terminated = true;
                break;
            }
            digits.push(key);
        }
        let mut elapsed_ms = if pressed == 0 {
            0
        } else {
            delay.saturating_add(KEY_GAP_MS.saturating_mul(pressed - 1))
        };
        let full = digits.chars().count() >= request.remaining;
        if !terminated && !full {
            // Input ends when the caller stops pressing for the interdigit time.
            elapsed_ms = elapsed_ms.saturating_add(request.interdigit_ms);
        }
        let shown = if request.sensitive {
            mask(&digits)
        } else {
            digits.clone()
        };
        let text = match (digits.is_empty(), terminated) {
            (true, true) => String::from("caller pressed only the terminator"),
            (true, false) => String::from("caller entered no more digits"),
            (false, _) => format!("caller entered {shown}"),
        };
        Answer {
            step: Some(Step::new(
                self.clock_ms.saturating_add(elapsed_ms),
                "digits",
                text,
                json!({"digits": shown}),
            )),
            reply: Reply::Keys(digits),
            elapsed_ms,
        }
    }

    fn lookup(&mut self, source: &str, timeout_ms: u64) -> Answer {
        let scripted = self.script.lookups.get(source);
        let answer = scripted.cloned().unwrap_or_else(LookupAnswer::missing);
        let latency = answer.latency_ms.unwrap_or(DEFAULT_LOOKUP_MS);
        let timed_out = matches!(answer.kind, LookupKind::Timeout) || latency >= timeout_ms;
        let at = |elapsed: u64| self.clock_ms.saturating_add(elapsed);
        if timed_out {
            let reason = format!("no answer within {}", format_duration(timeout_ms));
            return Answer {
                step: Some(Step::new(
                    at(timeout_ms),
                    "lookup_result",
                    format!("lookup timed out after {}", format_duration(timeout_ms)),
                    json!({"result": "timeout", "source": source}),
                )),
                reply: Reply::LookupFailed {
                    timed_out: true,
                    reason,
                },
                elapsed_ms: timeout_ms,
            };
        }
        let (reply, text, result) = match &answer.kind {
            LookupKind::Found(fields) => {
                let shown: Vec<String> = fields.iter().map(|(n, v)| format!("{n}={v}")).collect();
                let text = if shown.is_empty() {
                    String::from("found a contact")
                } else {
                    format!("found {}", shown.join(", "))
                };
                (Reply::Found(self.contact(fields)), text, "found")
            }
            LookupKind::Missing if scripted.is_none() => (
                Reply::Missing,
                format!("missing (no answer scripted for {source}, so an unknown caller)"),
                "missing",
            ),
            LookupKind::Missing => (Reply::Missing, String::from("missing"), "missing"),
            LookupKind::Error | LookupKind::Timeout => (
                Reply::LookupFailed {
                    timed_out: false,
                    reason: String::from("the source answered with an error"),
                },
                String::from("lookup failed: the source answered with an error"),
                "error",
            ),
        };
        Answer {
            step: Some(Step::new(
                at(latency),
                "lookup_result",
                text,
                json!({"result": result, "source": source}),
            )),
            reply,
            elapsed_ms: latency,
        }
    }

    /// Builds a contact, typing each field as the flow reads it.
    fn contact(&self, fields: &[(String, String)]) -> Contact {
        let mut contact = Contact::default();
        for (name, text) in fields {
            let value = typed_value(self.field_types.get(name).copied(), text);
            contact.fields.insert(name.clone(), value);
        }
        contact
    }

    fn enqueue(&mut self, queue: usize, name: &str) -> Answer {
        let definition = self.module.queues.get(queue);
        let scripted = self.script.queues.iter().enumerate().find(|(i, q)| {
            !self.queues_used.get(*i).copied().unwrap_or(true)
                && q.queue.as_deref().is_none_or(|n| n == name)
        });
        let (outcome, note) = match scripted {
            Some((index, answer)) => {
                if let Some(used) = self.queues_used.get_mut(index) {
                    *used = true;
                }
                (answer.outcome.clone(), String::new())
            }
            None => (
                QueueAnswerKind::Answered {
                    agent: String::from(SIMULATED_AGENT),
                    wait_ms: validate::default_answer_wait_ms(definition),
                    talk_ms: super::script::DEFAULT_TALK_MS,
                },
                String::from(" (simulated: no queue outcome scripted)"),
            ),
        };
        if let Some(queue) = definition
            && let Err(problem) = validate::check_queue_outcome(queue, &outcome)
        {
            self.script_error = Some(problem);
        }
        let (reply, elapsed, text, kind) = match outcome {
            QueueAnswerKind::Answered {
                agent,
                wait_ms,
                talk_ms,
            } => (
                QueueOutcome::Answered {
                    agent: agent.clone(),
                    wait_ms,
                    talk_ms,
                },
                wait_ms.saturating_add(talk_ms),
                format!(
                    "answered by {agent} after {}, talked {}",
                    format_duration(wait_ms),
                    format_duration(talk_ms)
                ),
                "answered",
            ),
            QueueAnswerKind::Callback { wait_ms } => {
                let offer = definition.and_then(|q| q.callback).map(|c| c.after_ms);
                let wait_ms = wait_ms.or(offer).unwrap_or(0);
                (
                    QueueOutcome::Callback { wait_ms },
                    wait_ms,
                    format!(
                        "caller accepted a callback after {}",
                        format_duration(wait_ms)
                    ),
                    "callback",
                )
            }
            QueueAnswerKind::MaxWait => {
                let max_wait = definition.and_then(|q| q.max_wait_ms);
                let wait_ms = max_wait.unwrap_or(0);
                (
                    QueueOutcome::MaxWait { wait_ms },
                    wait_ms,
                    format!(
                        "max wait reached after {}, so the call overflows",
                        format_duration(wait_ms)
                    ),
                    "max_wait",
                )
            }
            QueueAnswerKind::Full => {
                let callers = definition
                    .and_then(|q| q.max_callers)
                    .map_or_else(String::new, |n| {
                        format!(": {n} callers already wait (max callers)")
                    });
                (
                    QueueOutcome::Full,
                    0,
                    format!("queue full{callers}, so the call overflows"),
                    "full",
                )
            }
            QueueAnswerKind::NoAgents => (
                QueueOutcome::NoAgents,
                0,
                String::from("no agents logged in who could take the call, so the call overflows"),
                "no_agents",
            ),
            QueueAnswerKind::Abandoned { wait_ms } => {
                self.caller_gone = true;
                (
                    QueueOutcome::Abandoned { wait_ms },
                    wait_ms,
                    format!(
                        "caller hung up after {} in the queue",
                        format_duration(wait_ms)
                    ),
                    "abandoned",
                )
            }
        };
        Answer {
            step: Some(Step::new(
                self.clock_ms.saturating_add(elapsed),
                "queue_result",
                format!("{text}{note}"),
                json!({"queue": name, "outcome": kind, "simulated": scripted.is_none()}),
            )),
            reply: Reply::Queue(reply),
            elapsed_ms: elapsed,
        }
    }

    fn survey(&mut self, question: &str, thanks: Option<&str>, language: &str) -> Answer {
        let prompts = self.setup.prompts.get(language, question)
            + thanks.map_or(0, |t| self.setup.prompts.get(language, t));
        let elapsed_ms = prompts.saturating_add(RATING_MS);
        let rating = self.script.rating.filter(|_| !self.caller_gone);
        let text = match rating {
            Some(rating) => format!("caller rated {rating}"),
            None if self.caller_gone => String::from("no rating: the caller had hung up"),
            None => String::from("caller gave no rating"),
        };
        Answer {
            step: Some(Step::new(
                self.clock_ms.saturating_add(elapsed_ms),
                "rating",
                text,
                json!({"rating": rating}),
            )),
            reply: Reply::Rating(rating),
            elapsed_ms,
        }
    }
}

/// The parameters of a collect that the host answers.
struct DigitRequest {
    /// Digits still allowed after those typed during the prompts.
    remaining: usize,
    /// True when the caller typed digits during the prompts.
    typed: bool,
    terminator: char,
    timeout_ms: u64,
    interdigit_ms: u64,
    sensitive: bool,
}

fn done(elapsed_ms: u64) -> Answer {
    Answer {
        reply: Reply::Done,
        elapsed_ms,
        step: None,
    }
}

/// Collects the type of every contact field the module reads, on top of
/// the built-in fields' types.
fn field_types(module: &Module) -> BTreeMap<String, Type> {
    let mut types: BTreeMap<String, Type> = [
        ("id", Type::Text),
        ("name", Type::Text),
        ("company", Type::Text),
        ("email", Type::Text),
        ("phone", Type::Text),
        ("language", Type::Text),
        ("last_agent", Type::Text),
        ("vip", Type::Bool),
        ("open_tickets", Type::Int),
    ]
    .into_iter()
    .map(|(name, ty)| (name.to_string(), ty))
    .collect();
    for unit in &module.units {
        for op in &unit.code {
            if let UnitOp::Field { name, ty } = op
                && let Some(Const::Name(field)) = module.constant(*name)
            {
                types.insert(field.clone(), *ty);
            }
        }
    }
    types
}

/// Converts a scripted field value to the type the flow reads. A value
/// that does not fit stays text, so the VM reports the wrong type in the
/// trace, as it would for a real CRM.
fn typed_value(ty: Option<Type>, text: &str) -> Value {
    match ty {
        Some(Type::Bool) => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::Text(text.to_string()),
        },
        Some(Type::Int) => text
            .parse()
            .map_or_else(|_| Value::Text(text.to_string()), Value::Int),
        Some(Type::Digits) => Value::Digits(text.to_string()),
        Some(Type::Language) => Value::Language(text.to_string()),
        _ => Value::Text(text.to_string()),
    }
}
