//! The steps of a simulated call and their one-line text forms.
//!
//! A step's `text` is what `flowc simulate` prints after the time offset
//! and place, and what scenario files match their expected lines against,
//! so these forms are part of the interface: change them only with the
//! docs and the shipped scenarios.

use crate::bytecode::{
    AnnounceKind, MinuteRange, Module, Position, Probe, ProbeOutcome, QueueNeed, RecordMode,
    Schedule, TicketMode, format_minutes, show_outcome,
};
use crate::vm::{Effect, Outcome, RangeSource, Value, Verdict, VerdictReason};
use serde::Serialize;
use serde_json::json;

/// One line of a simulated call's trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    /// Milliseconds since the call started.
    pub at_ms: u64,
    /// `file:line` of the statement, when known; `null` in JSON otherwise.
    pub place: Option<String>,
    /// The kind of step, such as `play` or `branch`; stable for tools.
    pub event: &'static str,
    /// The one-line form.
    pub text: String,
    /// The step's facts as fields.
    pub data: serde_json::Value,
}

impl Step {
    /// Creates a step without a place.
    pub fn new(at_ms: u64, event: &'static str, text: String, data: serde_json::Value) -> Step {
        Step {
            at_ms,
            place: None,
            event,
            text,
            data,
        }
    }

    /// Returns the line `flowc simulate` prints: offset, place, text.
    pub fn line(&self) -> String {
        let place = self.place.as_deref().unwrap_or("");
        format!(
            "{:>9}  {place:<18}  {}",
            format_offset(self.at_ms),
            escape_controls(&self.text)
        )
        .trim_end()
        .to_string()
    }
}

/// Escapes newlines and other control characters, which scripted values
/// may contain, so each step stays on one line: `\n`, `\r`, `\t`, or
/// `\u{1b}` for the others.
pub fn escape_controls(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if c.is_control() => escaped.push_str(&c.escape_unicode().to_string()),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Formats a time offset as `+M:SS.t`, or `+H:MM:SS.t` from an hour on.
pub fn format_offset(ms: u64) -> String {
    let tenths = (ms % 1_000) / 100;
    let seconds = (ms / 1_000) % 60;
    let minutes = (ms / 60_000) % 60;
    let hours = ms / 3_600_000;
    if hours > 0 {
        format!("+{hours}:{minutes:02}:{seconds:02}.{tenths}")
    } else {
        format!("+{minutes}:{seconds:02}.{tenths}")
    }
}

/// Formats milliseconds as a flow writes durations: `800ms`, `45s`,
/// `1m30s`, `1h2m`.
pub fn format_duration(ms: u64) -> String {
    if ms == 0 {
        return String::from("0s");
    }
    let mut text = String::new();
    let hours = ms / 3_600_000;
    let minutes = (ms / 60_000) % 60;
    let seconds = (ms / 1_000) % 60;
    let millis = ms % 1_000;
    for (amount, unit) in [(hours, "h"), (minutes, "m"), (seconds, "s"), (millis, "ms")] {
        if amount > 0 {
            text.push_str(&format!("{amount}{unit}"));
        }
    }
    text
}

/// Returns `file:line` of a position, with the file's base name.
pub fn place(module: &Module, at: Position) -> Option<String> {
    let source = module.sources.get(at.source as usize)?;
    let base = source.rsplit(['/', '\\']).next().unwrap_or(source);
    Some(format!("{base}:{}", at.line))
}

/// Formats a runtime value as the trace and scenario files write it.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Text(t) | Value::Digits(t) | Value::Language(t) if t.is_empty() => {
            String::from(EMPTY)
        }
        Value::Text(t) | Value::Digits(t) | Value::Language(t) => t.clone(),
        Value::NoInput => String::from("no input"),
        Value::Duration(ms) => format_duration(*ms),
        Value::Date(date) => date.to_string(),
        Value::Time(minutes) => format_minutes(*minutes),
        Value::Contact(Some(_)) => String::from("found"),
        Value::Contact(None) => String::from("missing"),
    }
}

/// The text shown for an empty text, digits or language value.
pub const EMPTY: &str = "(empty)";

/// Formats a value for a `name = value` list: texts quoted.
fn quoted_value(value: &Value) -> String {
    match value {
        Value::Text(t) => format!("{t:?}"),
        other => value_text(other),
    }
}

/// Returns the text of a probe outcome, such as `key 1` or `else`.
pub fn outcome_text(outcome: ProbeOutcome) -> String {
    // Traces number `else if` branches and match arms from 1, as a reader
    // counts them; every other outcome reads as the disassembler shows it.
    match outcome {
        ProbeOutcome::Then(0) => String::from("then"),
        ProbeOutcome::Then(n) => format!("else if #{n}"),
        ProbeOutcome::Arm(n) => format!("arm {}", n + 1),
        other => show_outcome(other),
    }
}

/// Returns the text of a probe: `SITE -> OUTCOME`.
pub fn probe_text(probe: &Probe) -> String {
    format!("{} -> {}", probe.site, outcome_text(probe.outcome))
}

/// Returns a branch step: the probe and the values its conditions read.
pub fn branch_step(at_ms: u64, module: &Module, probe: &Probe, read: &[(String, Value)]) -> Step {
    let mut text = probe_text(probe);
    if !read.is_empty() {
        let values: Vec<String> = read
            .iter()
            .map(|(name, value)| format!("{name} = {}", quoted_value(value)))
            .collect();
        text.push_str(&format!(" because {}", values.join(", ")));
    }
    let read_data: serde_json::Map<String, serde_json::Value> = read
        .iter()
        .map(|(name, value)| (name.clone(), json!(value_text(value))))
        .collect();
    let mut step = Step::new(
        at_ms,
        "branch",
        text,
        json!({
            "site": probe.site,
            "outcome": outcome_text(probe.outcome),
            "read": read_data,
        }),
    );
    step.place = place(module, probe.at);
    step
}

/// Returns a schedule verdict step, such as
/// `hours office: closed at Thu 2026-12-24 12:00 CET, exception 2026-12-24 08:00..12:00 ended`.
pub fn schedule_step(at_ms: u64, schedule: &Schedule, verdict: &Verdict) -> Step {
    let state = if verdict.holiday {
        "holiday"
    } else if verdict.open {
        "open"
    } else {
        "closed"
    };
    let local = format!(
        "{} {} {} {}",
        capitalized(weekday(verdict.weekday)),
        verdict.date,
        format_minutes(verdict.minute),
        verdict.zone_abbreviation
    );
    let reason = reason_text(schedule, verdict);
    Step::new(
        at_ms,
        "hours",
        format!("hours {}: {state} at {local}, {reason}", schedule.name),
        json!({
            "schedule": schedule.name,
            "open": verdict.open,
            "holiday": verdict.holiday,
            "local_date": verdict.date.to_string(),
            "local_time": format_minutes(verdict.minute),
            "zone": verdict.zone_abbreviation.as_str(),
            "reason": reason,
        }),
    )
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn weekday(index: u8) -> &'static str {
    WEEKDAYS.get(usize::from(index)).copied().unwrap_or("?")
}

/// Formats a range as a flow writes it: `08:00..17:00`, or
/// `17:00..09:00 overnight` for one that runs past midnight.
fn range_text(range: MinuteRange) -> String {
    const DAY: u16 = 24 * 60;
    if range.end > DAY {
        return format!(
            "{}..{} overnight",
            format_minutes(range.start),
            format_minutes(range.end - DAY)
        );
    }
    format!(
        "{}..{}",
        format_minutes(range.start),
        format_minutes(range.end)
    )
}

fn source_text(source: RangeSource) -> String {
    match source {
        RangeSource::Weekly { weekday: day } => format!("weekly {}", weekday(day)),
        RangeSource::Exception { date } => format!("exception on {date}"),
    }
}

fn reason_text(schedule: &Schedule, verdict: &Verdict) -> String {
    match verdict.reason {
        VerdictReason::Holiday => format!("holiday {}", verdict.date),
        VerdictReason::Range { source, range } => {
            format!("{} {}", source_text(source), range_text(range))
        }
        VerdictReason::Overnight { source, range } => {
            format!(
                "overnight from the day before, {} {}",
                source_text(source),
                range_text(range)
            )
        }
        VerdictReason::OutsideHours { source } => {
            let ranges = match source {
                RangeSource::Weekly { weekday } => schedule
                    .weekly
                    .get(usize::from(weekday))
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
                RangeSource::Exception { date } => schedule
                    .exceptions
                    .iter()
                    .find(|e| e.date == date)
                    .map(|e| e.ranges.as_slice())
                    .unwrap_or_default(),
            };
            let hours = if ranges.is_empty() {
                String::from("closed all day")
            } else {
                ranges
                    .iter()
                    .map(|r| range_text(*r))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!("outside {} hours ({hours})", source_text(source))
        }
    }
}

fn quoted_list(items: &[String]) -> String {
    items
        .iter()
        .map(|item| format!("{item:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Returns the step of an effect the call asked the host for.
pub fn effect_step(at_ms: u64, module: &Module, effect: &Effect) -> Step {
    let (event, text, data) = match effect {
        Effect::Answer => ("answer", String::from("answer"), json!({})),
        Effect::Play {
            prompts,
            language,
            barge_in,
        } => (
            "play",
            format!("play {} in {language}", quoted_list(prompts)),
            json!({"prompts": prompts, "language": language, "barge_in": barge_in}),
        ),
        Effect::CollectKey { timeout_ms } => (
            "ask_key",
            format!("wait for a key, timeout {}", format_duration(*timeout_ms)),
            json!({"timeout_ms": timeout_ms}),
        ),
        Effect::CollectDigits {
            min,
            max,
            terminator,
            timeout_ms,
            interdigit_ms,
            sensitive,
            typed,
        } => {
            let length = if min == max {
                min.to_string()
            } else {
                format!("{min}..{max}")
            };
            let mut text = format!(
                "collect {length} digits, terminator {terminator}, timeout {}, interdigit {}",
                format_duration(*timeout_ms),
                format_duration(*interdigit_ms)
            );
            if !typed.is_empty() {
                text.push_str(&format!(", typed ahead {typed}"));
            }
            (
                "collect",
                text,
                json!({
                    "min": min, "max": max, "terminator": terminator.to_string(),
                    "timeout_ms": timeout_ms, "interdigit_ms": interdigit_ms,
                    "sensitive": sensitive, "typed": typed,
                }),
            )
        }
        Effect::Lookup {
            source,
            key,
            timeout_ms,
        } => (
            "lookup",
            format!(
                "lookup in {source} by {key:?}, timeout {}",
                format_duration(*timeout_ms)
            ),
            json!({"source": source, "key": key, "timeout_ms": timeout_ms}),
        ),
        Effect::Enqueue {
            queue,
            name,
            priority,
            language,
        } => enqueue_parts(module, queue.0 as usize, name, *priority, language),
        Effect::Transfer { target } => (
            "transfer",
            format!("transfer to {target:?}"),
            json!({"target": target}),
        ),
        Effect::Voicemail { mailbox, language } => (
            "voicemail",
            format!("voicemail {mailbox:?} in {language}"),
            json!({"mailbox": mailbox, "language": language}),
        ),
        Effect::Hangup => ("hangup", String::from("hangup"), json!({})),
        Effect::Record(mode) => {
            let mode = record_text(*mode);
            ("record", format!("record {mode}"), json!({"mode": mode}))
        }
        Effect::Tag(tag) => ("tag", format!("tag {tag:?}"), json!({"tag": tag})),
        Effect::Timeline(entry) => (
            "timeline",
            format!("timeline {entry:?}"),
            json!({"entry": entry}),
        ),
        Effect::Ticket { mode, subject } => {
            let mode = match mode {
                TicketMode::Link => "link",
                TicketMode::Create => "create",
                TicketMode::LinkOrCreate => "link or create",
            };
            let text = match subject {
                Some(subject) => format!("ticket {mode} {subject:?}"),
                None => format!("ticket {mode}"),
            };
            ("ticket", text, json!({"mode": mode, "subject": subject}))
        }
        Effect::Survey {
            question,
            thanks,
            language,
        } => {
            let mut prompts = vec![question.clone()];
            prompts.extend(thanks.iter().cloned());
            (
                "survey",
                format!("survey {} in {language}", quoted_list(&prompts)),
                json!({"question": question, "thanks": thanks, "language": language}),
            )
        }
        Effect::Webhook { hook } => ("webhook", format!("webhook {hook}"), json!({"hook": hook})),
        Effect::Notify { hook, message } => (
            "notify",
            format!("notify {hook} {message:?}"),
            json!({"hook": hook, "message": message}),
        ),
        Effect::Finished { outcome } => (
            "finished",
            format!("finished: {}", outcome.as_str()),
            json!({"outcome": outcome.as_str()}),
        ),
    };
    Step::new(at_ms, event, text, data)
}

fn record_text(mode: RecordMode) -> &'static str {
    match mode {
        RecordMode::On => "on",
        RecordMode::Off => "off",
        RecordMode::Pause => "pause",
        RecordMode::Resume => "resume",
    }
}

/// Returns the parts of an enqueue step: the queue's priority, required
/// skills and strategy, from the module's queue table.
fn enqueue_parts(
    module: &Module,
    queue: usize,
    name: &str,
    priority: i64,
    language: &str,
) -> (&'static str, String, serde_json::Value) {
    let Some(definition) = module.queues.get(queue) else {
        return (
            "enqueue",
            format!("enqueue {name}, priority {priority}"),
            json!({"queue": name, "priority": priority, "language": language}),
        );
    };
    let needs: Vec<String> = definition
        .needs
        .iter()
        .map(|need| match need {
            QueueNeed::Language => format!("language {language}"),
            QueueNeed::Skill { skill, level } => format!("{skill} >= {level}"),
        })
        .collect();
    let strategy = definition.strategy.as_str();
    let mut text = format!("enqueue {name}, priority {priority}");
    if !needs.is_empty() {
        text.push_str(&format!(", needs {}", needs.join(", ")));
    }
    text.push_str(&format!(", strategy {strategy}"));
    let announcements: Vec<String> = definition
        .announcements
        .iter()
        .map(|a| match &a.what {
            AnnounceKind::Position => String::from("position"),
            AnnounceKind::Wait => String::from("wait"),
            AnnounceKind::PositionAndWait => String::from("position and wait"),
            AnnounceKind::Prompt(prompt) => format!("{prompt:?}"),
        })
        .collect();
    let data = json!({
        "queue": name,
        "priority": priority,
        "language": language,
        "needs": needs,
        "strategy": strategy,
        "max_wait_ms": definition.max_wait_ms,
        "callback_after_ms": definition.callback.map(|c| c.after_ms),
        "announcements": announcements,
    });
    ("enqueue", text, data)
}

/// Returns the step for `on call` ending.
pub fn call_ended_step(at_ms: u64, outcome: Outcome) -> Step {
    Step::new(
        at_ms,
        "call_ended",
        format!("call ended: {}", outcome.as_str()),
        json!({"outcome": outcome.as_str()}),
    )
}
