//! The script of a simulated call: key presses, lookup
//! answers, queue outcomes, a survey rating and a hang-up, each parsed from
//! the one-line forms that `flowc simulate` options and scenario files share.

use crate::config::parse_duration;
use std::collections::BTreeMap;

/// The longest scripted time, in milliseconds: the 24 hours a simulated
/// call may last, so a script cannot be what stops it.
pub const MAX_SCRIPTED_MS: u64 = super::host::MAX_CALL_MS;

/// Parses a scripted time such as `2s` or `1m30s` into milliseconds. The
/// error explains why the text is not one, for a message about the value
/// around it.
pub fn scripted_ms(text: &str) -> Result<u64, String> {
    let too_large = || {
        format!(
            "`{text}` is too large; a scripted time is at most {}",
            super::trace::format_duration(MAX_SCRIPTED_MS)
        )
    };
    match parse_duration(text) {
        Some(ms) if ms > MAX_SCRIPTED_MS => Err(too_large()),
        Some(ms) => Ok(ms),
        None if is_duration_form(text) => Err(too_large()),
        None => Err(format!("`{text}` is not a duration")),
    }
}

/// Returns true when the text is written like a duration, such as
/// `99999999999999999999h`, even when its value does not fit.
fn is_duration_form(text: &str) -> bool {
    let mut shrunk = String::new();
    let mut in_digits = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                shrunk.push('1');
            }
            in_digits = true;
        } else {
            shrunk.push(c);
            in_digits = false;
        }
    }
    parse_duration(&shrunk).is_some()
}

/// Milliseconds between the ask and the first key when an input gives no
/// time.
pub const DEFAULT_KEY_DELAY_MS: u64 = 1_000;

/// Milliseconds between two keys of one input.
pub const KEY_GAP_MS: u64 = 200;

/// Milliseconds into the prompts at which keys typed during them are
/// pressed.
pub const DURING_PROMPT_MS: u64 = 1_000;

/// Milliseconds a lookup takes when its answer gives no time.
pub const DEFAULT_LOOKUP_MS: u64 = 50;

/// Milliseconds a queue caller waits before an agent answers when the
/// outcome gives no time.
pub const DEFAULT_ANSWER_WAIT_MS: u64 = 30_000;

/// Milliseconds an answered caller talks when the outcome gives no time.
pub const DEFAULT_TALK_MS: u64 = 120_000;

/// Everything a simulated call is told by the script. What it does not say
/// has a default: every lookup answers missing, every ask gets no input,
/// every queue is answered by a simulated agent, the survey gets no rating
/// and the caller never hangs up first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    /// Inputs in the order the flow asks for them.
    pub inputs: Vec<Input>,
    /// Answers per lookup source (`crm` or a hook name).
    pub lookups: BTreeMap<String, LookupAnswer>,
    /// Queue outcomes, used in order by the queues they name.
    pub queues: Vec<QueueAnswer>,
    /// The survey rating, 1-5.
    pub rating: Option<u8>,
    /// Milliseconds after the start of the call at which the caller hangs
    /// up, if they do.
    pub hangup_after_ms: Option<u64>,
}

/// One answer of the caller to an ask: keys, or silence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    /// The keys, or `None` when the caller presses nothing.
    pub keys: Option<String>,
    /// When the first key is pressed.
    pub timing: Timing,
}

/// When the keys of an input are pressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// Milliseconds after the flow starts waiting.
    After(u64),
    /// While the prompts before the ask are playing (type-ahead).
    DuringPrompt,
}

impl Input {
    /// Parses `none`, `KEYS`, `KEYS@DURATION` or `KEYS@prompt`, such as
    /// `1`, `41234567#@2s` or `2@prompt`.
    pub fn parse(text: &str) -> Result<Input, String> {
        let text = text.trim();
        if text == "none" {
            return Ok(Input {
                keys: None,
                timing: Timing::After(0),
            });
        }
        let (keys, timing) = match text.split_once('@') {
            None => (text, Timing::After(DEFAULT_KEY_DELAY_MS)),
            Some((keys, "prompt")) => (keys, Timing::DuringPrompt),
            Some((keys, delay)) => {
                let ms = scripted_ms(delay).map_err(|why| {
                    format!("invalid input `{text}`: {why}; write `@2s`, `@500ms` or `@prompt`")
                })?;
                (keys, Timing::After(ms))
            }
        };
        if keys.is_empty() || !keys.chars().all(is_dtmf) {
            return Err(format!(
                "invalid input `{text}`: keys are 0-9, * and #, such as `1` or `41234567#`; write `none` for no input"
            ));
        }
        Ok(Input {
            keys: Some(keys.to_string()),
            timing,
        })
    }
}

fn is_dtmf(c: char) -> bool {
    c.is_ascii_digit() || c == '*' || c == '#'
}

/// The lookup answers written without fields.
const ANSWER_WORDS: [&str; 4] = ["found", "missing", "error", "timeout"];

/// How a lookup source answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupAnswer {
    /// The answer.
    pub kind: LookupKind,
    /// Milliseconds the answer takes, when given.
    pub latency_ms: Option<u64>,
}

/// The kinds of lookup answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupKind {
    /// A contact with these fields, as written (`vip=true`).
    Found(Vec<(String, String)>),
    /// No such contact.
    Missing,
    /// The source answered with an error.
    Error,
    /// The source did not answer before the lookup's timeout.
    Timeout,
}

impl LookupAnswer {
    /// The answer used for a source the script does not mention.
    pub fn missing() -> LookupAnswer {
        LookupAnswer {
            kind: LookupKind::Missing,
            latency_ms: None,
        }
    }

    /// Parses `found:FIELD=VALUE,...`, `found`, `missing`, `error` or
    /// `timeout`, each optionally followed by `@DURATION` for the time the
    /// answer takes.
    pub fn parse(text: &str) -> Result<LookupAnswer, String> {
        let text = text.trim();
        // The text after the last `@` is the latency only when it reads as
        // a time or follows a bare answer word, so a field value such as
        // `email=a@b.com` stays a value.
        let (body, latency_ms) = match text.rsplit_once('@') {
            Some((body, delay)) => match scripted_ms(delay) {
                Ok(ms) => (body, Some(ms)),
                Err(why) if is_duration_form(delay) || ANSWER_WORDS.contains(&body) => {
                    return Err(format!(
                        "invalid lookup answer `{text}`: {why}, such as `300ms`"
                    ));
                }
                Err(_) => (text, None),
            },
            None => (text, None),
        };
        let kind = match body {
            "found" => LookupKind::Found(Vec::new()),
            "missing" => LookupKind::Missing,
            "error" => LookupKind::Error,
            "timeout" => LookupKind::Timeout,
            _ => match body.strip_prefix("found:") {
                Some(fields) => LookupKind::Found(parse_fields(text, fields)?),
                None => {
                    return Err(format!(
                        "invalid lookup answer `{text}`: write `found:vip=true,language=sl`, `found`, `missing`, `error` or `timeout`"
                    ));
                }
            },
        };
        Ok(LookupAnswer { kind, latency_ms })
    }
}

fn parse_fields(text: &str, fields: &str) -> Result<Vec<(String, String)>, String> {
    let mut parsed = Vec::new();
    for field in fields.split(',').filter(|f| !f.trim().is_empty()) {
        let Some((name, value)) = field.split_once('=') else {
            return Err(format!(
                "invalid lookup answer `{text}`: field `{field}` has no value; write `NAME=VALUE`, such as `vip=true`"
            ));
        };
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "invalid lookup answer `{text}`: `{name}` is not a field name"
            ));
        }
        if parsed.iter().any(|(seen, _)| seen == name) {
            return Err(format!(
                "invalid lookup answer `{text}`: field `{name}` is given twice; give each field once"
            ));
        }
        parsed.push((name.to_string(), value.trim().to_string()));
    }
    Ok(parsed)
}

/// Parses a lookup option `SOURCE=ANSWER`, such as
/// `orders=found:order_status=shipped`.
pub fn parse_source_answer(text: &str) -> Result<(String, LookupAnswer), String> {
    let Some((source, answer)) = text.split_once('=') else {
        return Err(format!(
            "invalid lookup `{text}`: write `SOURCE=ANSWER`, such as `orders=found:order_status=shipped` or `orders=timeout`"
        ));
    };
    Ok((source.trim().to_string(), LookupAnswer::parse(answer)?))
}

/// Adds the answer of one lookup source to a script, rejecting a second
/// answer for the same source, such as both `--crm` and `--lookup crm=...`.
pub fn add_lookup(script: &mut Script, source: &str, answer: LookupAnswer) -> Result<(), String> {
    if script.lookups.contains_key(source) {
        let how = if source == "crm" {
            ", by `crm` and `lookups: {crm: ...}` or by `--crm` and `--lookup crm=...`"
        } else {
            ""
        };
        return Err(format!(
            "the answer of lookup source `{source}` is given twice{how}; give one answer per source"
        ));
    }
    script.lookups.insert(source.to_string(), answer);
    Ok(())
}

/// How one queue wait ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueAnswer {
    /// The outcome as written, for messages.
    pub text: String,
    /// The queue it applies to, or `None` for any queue.
    pub queue: Option<String>,
    /// The outcome.
    pub outcome: QueueAnswerKind,
}

/// The kinds of queue outcome a script can give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueAnswerKind {
    /// An agent answered after a wait and talked.
    Answered {
        /// The agent's name.
        agent: String,
        /// Milliseconds waited.
        wait_ms: u64,
        /// Milliseconds talked.
        talk_ms: u64,
    },
    /// The caller accepted a callback, after the queue's callback delay
    /// unless a wait is given.
    Callback {
        /// Milliseconds waited, when given.
        wait_ms: Option<u64>,
    },
    /// The caller waited the queue's `max wait`.
    MaxWait,
    /// The queue already held `max callers`.
    Full,
    /// No agent who could take the call was logged in.
    NoAgents,
    /// The caller hung up while waiting.
    Abandoned {
        /// Milliseconds waited.
        wait_ms: u64,
    },
}

impl QueueAnswer {
    /// Parses `[QUEUE=]OUTCOME`: `answered[:AGENT][@WAIT][+TALK]`,
    /// `callback[@WAIT]`, `max-wait`, `full`, `no-agents` or
    /// `abandoned@WAIT`.
    pub fn parse(text: &str) -> Result<QueueAnswer, String> {
        let text = text.trim();
        let (queue, body) = match text.split_once('=') {
            Some((queue, body)) => (Some(queue.trim().to_string()), body.trim()),
            None => (None, text),
        };
        let invalid = |why: &str| {
            format!(
                "invalid queue outcome `{text}`: {why}; write `answered:alice@45s+3m`, `callback`, `max-wait`, `full`, `no-agents` or `abandoned@30s`, optionally after `QUEUE=`"
            )
        };
        let duration = |d: &str| scripted_ms(d).map_err(|why| invalid(&why));
        let (word, rest) = body
            .find([':', '@', '+'])
            .map_or((body, ""), |at| body.split_at(at));
        let outcome = match word {
            "answered" => {
                let (before_talk, talk) = match rest.split_once('+') {
                    Some((_, "")) => {
                        return Err(invalid("`+` needs a talk time after it, such as `+3m`"));
                    }
                    Some(split) => split,
                    None => (rest, ""),
                };
                let (agent, wait) = match before_talk.split_once('@') {
                    Some((_, "")) => {
                        return Err(invalid("`@` needs a wait after it, such as `@45s`"));
                    }
                    Some(split) => split,
                    None => (before_talk, ""),
                };
                let agent = match agent.strip_prefix(':') {
                    Some("") => {
                        return Err(invalid(
                            "`:` needs an agent name after it, such as `:alice`",
                        ));
                    }
                    Some(agent) => agent,
                    None => agent,
                };
                QueueAnswerKind::Answered {
                    agent: if agent.is_empty() {
                        String::from("agent")
                    } else {
                        agent.to_string()
                    },
                    wait_ms: if wait.is_empty() {
                        DEFAULT_ANSWER_WAIT_MS
                    } else {
                        duration(wait)?
                    },
                    talk_ms: if talk.is_empty() {
                        DEFAULT_TALK_MS
                    } else {
                        duration(talk)?
                    },
                }
            }
            "callback" => QueueAnswerKind::Callback {
                wait_ms: match rest.strip_prefix('@') {
                    Some(wait) => Some(duration(wait)?),
                    None if rest.is_empty() => None,
                    None => return Err(invalid("a callback takes only `@WAIT`")),
                },
            },
            "abandoned" => match rest.strip_prefix('@') {
                Some(wait) => QueueAnswerKind::Abandoned {
                    wait_ms: duration(wait)?,
                },
                None => {
                    return Err(invalid(
                        "say how long the caller waited, such as `abandoned@30s`",
                    ));
                }
            },
            "max-wait" | "full" | "no-agents" if !rest.is_empty() => {
                return Err(invalid(&format!("`{word}` takes no agent or time")));
            }
            "max-wait" => QueueAnswerKind::MaxWait,
            "full" => QueueAnswerKind::Full,
            "no-agents" => QueueAnswerKind::NoAgents,
            _ => return Err(invalid(&format!("`{word}` is not a queue outcome"))),
        };
        Ok(QueueAnswer {
            text: text.to_string(),
            queue,
            outcome,
        })
    }
}

/// Parses a rating, 1 to 5.
pub fn parse_rating(text: &str) -> Result<u8, String> {
    match text.trim().parse::<u8>() {
        Ok(rating @ 1..=5) => Ok(rating),
        _ => Err(format!(
            "invalid rating `{text}`: a survey rating is a whole number from 1 to 5"
        )),
    }
}

/// Parses a duration such as `45s` or `1m30s`, for options that take one.
pub fn parse_time(what: &str, text: &str) -> Result<u64, String> {
    scripted_ms(text.trim()).map_err(|why| {
        format!(
            "invalid {what} `{text}`: {why}; write a duration such as `45s`, `1m30s` or `500ms`"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_forms() {
        assert_eq!(
            Input::parse("1"),
            Ok(Input {
                keys: Some(String::from("1")),
                timing: Timing::After(DEFAULT_KEY_DELAY_MS)
            })
        );
        assert_eq!(
            Input::parse("41234567#@2s"),
            Ok(Input {
                keys: Some(String::from("41234567#")),
                timing: Timing::After(2_000)
            })
        );
        assert_eq!(
            Input::parse("2@prompt").map(|i| i.timing),
            Ok(Timing::DuringPrompt)
        );
        assert_eq!(Input::parse("none").map(|i| i.keys), Ok(None));
        assert!(Input::parse("12a").is_err());
        assert!(Input::parse("1@soon").is_err());
        assert!(Input::parse("").is_err());
    }

    #[test]
    fn lookup_forms() {
        let found = LookupAnswer::parse("found:vip=true,language=sl,name=Ana");
        assert_eq!(
            found.map(|a| a.kind),
            Ok(LookupKind::Found(vec![
                (String::from("vip"), String::from("true")),
                (String::from("language"), String::from("sl")),
                (String::from("name"), String::from("Ana")),
            ]))
        );
        assert_eq!(
            LookupAnswer::parse("timeout").map(|a| a.kind),
            Ok(LookupKind::Timeout)
        );
        assert_eq!(
            LookupAnswer::parse("missing@300ms").map(|a| a.latency_ms),
            Ok(Some(300))
        );
        assert!(LookupAnswer::parse("found:vip").is_err());
        assert!(LookupAnswer::parse("maybe").is_err());
        let (source, answer) = parse_source_answer("orders=found:order_status=shipped")
            .unwrap_or_else(|e| (e, LookupAnswer::missing()));
        assert_eq!(source, "orders");
        assert_eq!(
            answer.kind,
            LookupKind::Found(vec![(
                String::from("order_status"),
                String::from("shipped")
            )])
        );
    }

    #[test]
    fn queue_forms() {
        assert_eq!(
            QueueAnswer::parse("answered:alice@45s+3m").map(|q| q.outcome),
            Ok(QueueAnswerKind::Answered {
                agent: String::from("alice"),
                wait_ms: 45_000,
                talk_ms: 180_000
            })
        );
        let technical = QueueAnswer::parse("technical=callback");
        assert_eq!(
            technical.clone().map(|q| q.queue),
            Ok(Some(String::from("technical")))
        );
        assert_eq!(
            technical.map(|q| q.outcome),
            Ok(QueueAnswerKind::Callback { wait_ms: None })
        );
        assert_eq!(
            QueueAnswer::parse("abandoned@30s").map(|q| q.outcome),
            Ok(QueueAnswerKind::Abandoned { wait_ms: 30_000 })
        );
        assert_eq!(
            QueueAnswer::parse("no-agents").map(|q| q.outcome),
            Ok(QueueAnswerKind::NoAgents)
        );
        assert!(QueueAnswer::parse("abandoned").is_err());
        assert!(QueueAnswer::parse("answered:@5s").is_err());
        assert!(QueueAnswer::parse("answered:alice@45s+").is_err());
        assert!(QueueAnswer::parse("answered:alice@").is_err());
        assert!(QueueAnswer::parse("answered:").is_err());
        assert!(QueueAnswer::parse("full@3s").is_err());
        assert!(QueueAnswer::parse("lost").is_err());
    }

    #[test]
    fn rating_range() {
        assert_eq!(parse_rating("4"), Ok(4));
        assert!(parse_rating("0").is_err());
        assert!(parse_rating("6").is_err());
    }
}
