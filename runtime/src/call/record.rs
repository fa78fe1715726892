//! The record of one call as it happens: its caller leg, the flow and
//! version that ran, the path taken (read from the VM's trace, so
//! sensitive digits arrive masked), the queue facts, the outcome and who
//! hung up, and what the flow asked for after the call (timeline entry,
//! ticket, tags, webhooks, notifications). When the call ends, tagging
//! rules run over it and its follow-ups become outbox items.

use crate::config::{TagCondition, TagRule};
use flowc::bytecode::TicketMode;
use flowc::config::{Hook, HookKind};
use flowc::vm::{Effect, Event, QueueOutcome, Reply};
use serde::Serialize;
use std::collections::BTreeMap;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// Returns the current time in milliseconds since the Unix epoch.
pub fn now_millis() -> Millis {
    jiff::Timestamp::now().as_millisecond()
}

/// One SIP leg of the call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LegLog {
    /// `caller`, or `agent` once calls are bridged.
    pub role: String,
    /// The leg's SIP Call-ID.
    pub call_id: String,
    /// The From header as received.
    pub from: String,
    /// The To header as received.
    pub to: String,
    /// The peer's signalling address.
    pub remote: String,
    /// The negotiated codec (`PCMU`, `PCMA`).
    pub codec: Option<String>,
    /// When the INVITE arrived.
    pub started_at: Millis,
    /// When flowd sent the 2xx.
    pub answered_at: Option<Millis>,
    /// When the leg ended.
    pub ended_at: Option<Millis>,
}

/// One step of the path the caller took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// When the step ended.
    pub at: Millis,
    /// `menu`, `digits`, `lookup`, `queue`, `voicemail`, `transfer`,
    /// `survey`.
    pub kind: String,
    /// The key, the digits (masked when the flow marks them sensitive), or
    /// the result.
    pub value: String,
}

/// The origin of a tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TagOrigin {
    /// A `tag` statement of the flow.
    Flow,
    /// A rule of `tagging.rules`.
    Rule,
}

/// The flow's request for the contact's ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "mode", content = "subject")]
pub enum TicketRequest {
    /// Link the call to the contact's open ticket, if any.
    Link,
    /// Open a new ticket with this subject.
    Create(String),
    /// Link to the open ticket, or open one with this subject.
    LinkOrCreate(String),
}

/// A webhook or notification the flow asked for, sent after the call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FollowUp {
    /// `webhook` or `notify`.
    pub kind: String,
    /// The hook's name in tok.yaml.
    pub hook: String,
    /// The notification's message; empty for a webhook.
    pub message: String,
}

/// An outbox item ready to be stored: the exact request to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxDraft {
    /// `webhook`, `notify` or `tagger`.
    pub kind: String,
    /// The hook's name.
    pub hook: String,
    /// The target URL.
    pub url: String,
    /// The HTTP method.
    pub method: String,
    /// Headers as written in tok.yaml (`${NAME}` is expanded at delivery).
    pub headers: Vec<(String, String)>,
    /// The exact body bytes to send and sign.
    pub body: String,
    /// `{call_id}:{seq}`, so a receiver can drop repeats.
    pub idempotency_key: String,
}

/// The record of one call, filled in as the call runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CallLog {
    /// The caller leg's SIP Call-ID.
    pub call_id: String,
    /// The flow that ran.
    pub flow: String,
    /// Hex SHA-256 of the flow's encoded module.
    pub flow_version: String,
    /// The caller's number in E.164 form, when known.
    pub caller: Option<String>,
    /// The dialled number.
    pub dialled: String,
    /// The CRM contact of the caller, when the built-in CRM found one.
    pub contact_id: Option<i64>,
    /// The contact's name, when a lookup found one.
    pub contact_name: Option<String>,
    /// Whether a lookup found the caller.
    pub known_contact: bool,
    /// Whether the contact found is a VIP.
    pub vip: bool,
    /// When the INVITE arrived.
    pub started_at: Millis,
    /// When flowd answered.
    pub answered_at: Option<Millis>,
    /// When the call ended.
    pub ended_at: Millis,
    /// The flow's outcome (`hangup`, `voicemail` ...), `error` when the
    /// flow stopped with an error, or the SIP failure when never answered.
    pub outcome: String,
    /// `caller`, `flowd` or `none`.
    pub ended_by: String,
    /// The SIP status or Reason header that ended the call.
    pub sip_reason: Option<String>,
    /// The legs, the caller's first.
    pub legs: Vec<LegLog>,
    /// The steps in order.
    pub path: Vec<Step>,
    /// The last queue the caller entered.
    pub queue: Option<String>,
    /// The agent who answered.
    pub agent: Option<String>,
    /// Milliseconds waited in queues.
    pub wait_ms: u64,
    /// Milliseconds talked with an agent.
    pub talk_ms: u64,
    /// Milliseconds of the agent's wrap-up.
    pub wrapup_ms: u64,
    /// The survey's rating.
    pub rating: Option<u8>,
    /// The recording, relative to the recordings folder.
    pub recording: Option<String>,
    /// Tags with their origin, without repeats.
    pub tags: Vec<(String, TagOrigin)>,
    /// Entries for the contact's timeline.
    pub timeline: Vec<String>,
    /// The ticket action; the last one the flow asked for.
    pub ticket: Option<TicketRequest>,
    /// Webhooks and notifications in the order the flow asked for them.
    pub follow_ups: Vec<FollowUp>,
    /// The effect whose reply the trace shows next.
    #[serde(skip)]
    pending: Option<Effect>,
}

impl CallLog {
    /// Starts the record of a call whose INVITE arrived at `started_at`.
    pub fn new(call_id: &str, started_at: Millis) -> CallLog {
        CallLog {
            call_id: call_id.to_string(),
            started_at,
            ended_at: started_at,
            ended_by: String::from("none"),
            ..CallLog::default()
        }
    }

    /// Adds the events of the VM's trace since the last call: effects that
    /// the record keeps, and the path read from each effect's reply.
    pub fn add_trace(&mut self, events: Vec<Event>, at: Millis) {
        for event in events {
            match event {
                Event::Effect(effect) => self.add_effect(effect),
                Event::Reply(reply) => self.add_reply(&reply, at),
                Event::TypeAhead(keys) => {
                    // The VM reports input typed ahead only when it is
                    // complete: one key for a menu, or a collect's digits
                    // (masked when sensitive).
                    // NOTE: a one-digit collect typed ahead reads as a menu key.
                    let kind = if keys.chars().count() == 1 && !keys.contains(flowc::vm::MASK) {
                        "menu"
                    } else {
                        "digits"
                    };
                    self.step(at, kind, keys);
                }
                _ => {}
            }
        }
    }

    fn add_effect(&mut self, effect: Effect) {
        match &effect {
            Effect::Tag(tag) => self.add_tag(tag, TagOrigin::Flow),
            Effect::Timeline(entry) => self.timeline.push(entry.clone()),
            Effect::Ticket { mode, subject } => {
                let subject = subject.clone().unwrap_or_default();
                self.ticket = Some(match mode {
                    TicketMode::Link => TicketRequest::Link,
                    TicketMode::Create => TicketRequest::Create(subject),
                    TicketMode::LinkOrCreate => TicketRequest::LinkOrCreate(subject),
                });
            }
            Effect::Webhook { hook } => self.follow_ups.push(FollowUp {
                kind: String::from("webhook"),
                hook: hook.clone(),
                message: String::new(),
            }),
            Effect::Notify { hook, message } => self.follow_ups.push(FollowUp {
                kind: String::from("notify"),
                hook: hook.clone(),
                message: message.clone(),
            }),
            Effect::Enqueue { name, .. } => self.queue = Some(name.clone()),
            _ => {}
        }
        self.pending = Some(effect);
    }

    fn add_reply(&mut self, reply: &Reply, at: Millis) {
        let Some(effect) = self.pending.take() else {
            return;
        };
        match (&effect, reply) {
            (Effect::CollectKey { .. }, Reply::Keys(keys)) => self.step(at, "menu", keys.clone()),
            (Effect::CollectDigits { typed, .. }, Reply::Keys(digits)) => {
                // The VM masks the typed keys and the reply of a sensitive
                // collect in its trace.
                self.step(at, "digits", format!("{typed}{digits}"));
            }
            (Effect::Lookup { source, .. }, reply) => {
                let result = match reply {
                    Reply::Found(contact) => {
                        self.known_contact = true;
                        self.vip = matches!(
                            contact.fields.get("vip"),
                            Some(flowc::vm::Value::Bool(true))
                        );
                        self.contact_name = contact
                            .fields
                            .get("name")
                            .and_then(|value| value.to_text())
                            .filter(|name| !name.is_empty());
                        String::from("found")
                    }
                    Reply::Missing => String::from("missing"),
                    Reply::LookupFailed {
                        timed_out: true, ..
                    } => String::from("timeout"),
                    Reply::LookupFailed { .. } => String::from("failed"),
                    Reply::HungUp => String::from("hung up"),
                    _ => String::from("other"),
                };
                self.step(at, "lookup", format!("{source}: {result}"));
            }
            (Effect::Enqueue { name, .. }, Reply::Queue(outcome)) => {
                let result = match outcome {
                    QueueOutcome::Answered {
                        agent,
                        wait_ms,
                        talk_ms,
                    } => {
                        self.agent = Some(agent.clone());
                        self.wait_ms += wait_ms;
                        self.talk_ms += talk_ms;
                        "answered"
                    }
                    QueueOutcome::Callback { wait_ms } => {
                        self.wait_ms += wait_ms;
                        "callback"
                    }
                    QueueOutcome::MaxWait { wait_ms } => {
                        self.wait_ms += wait_ms;
                        "max wait"
                    }
                    QueueOutcome::Abandoned { wait_ms } => {
                        self.wait_ms += wait_ms;
                        "abandoned"
                    }
                    QueueOutcome::Full => "full",
                    QueueOutcome::NoAgents => "no agents",
                };
                self.step(at, "queue", format!("{name}: {result}"));
            }
            (Effect::Survey { .. }, Reply::Rating(rating)) => {
                self.rating = *rating;
                let value = rating.map_or_else(|| String::from("none"), |r| r.to_string());
                self.step(at, "survey", value);
            }
            (Effect::Voicemail { mailbox, .. }, _) => self.step(at, "voicemail", mailbox.clone()),
            (Effect::Transfer { target }, Reply::Done) => {
                self.step(at, "transfer", target.clone());
            }
            _ => {}
        }
    }

    fn step(&mut self, at: Millis, kind: &str, value: String) {
        self.path.push(Step {
            at,
            kind: kind.to_string(),
            value,
        });
    }

    /// Adds a tag unless the call has it already.
    pub fn add_tag(&mut self, tag: &str, origin: TagOrigin) {
        if !self.tags.iter().any(|(existing, _)| existing == tag) {
            self.tags.push((tag.to_string(), origin));
        }
    }

    /// Adds the tag of every rule whose conditions hold for this call.
    pub fn apply_rules(&mut self, rules: &[TagRule]) {
        for rule in rules {
            if self.matches(&rule.when) {
                self.add_tag(&rule.tag, TagOrigin::Rule);
            }
        }
    }

    /// Returns whether every condition holds for this call.
    pub fn matches(&self, condition: &TagCondition) -> bool {
        let choices: Vec<&str> = self
            .path
            .iter()
            .filter(|step| step.kind == "menu")
            .map(|step| step.value.as_str())
            .collect();
        RuleFacts {
            outcome: &self.outcome,
            wait_ms: self.wait_ms,
            talk_ms: self.talk_ms,
            menu_choices: &choices,
            known_contact: self.known_contact,
            vip: self.vip,
        }
        .matches(condition)
    }

    /// Returns the JSON of the record: the body of webhooks and of the
    /// tagger's request.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Turns the follow-ups into outbox items, numbered from 1 in the
    /// order the flow asked for them, then one tagger item per call when
    /// a hook of kind `tagger` exists. A follow-up naming a hook that
    /// tok.yaml lacks is logged and left out (`flowc check` rejects such
    /// flows, so only a config changed after the start gets here).
    pub fn outbox(&self, hooks: &BTreeMap<String, Hook>) -> Vec<OutboxDraft> {
        let record = self.to_json();
        let record_text = record.to_string();
        let mut drafts = Vec::new();
        let mut seq = 0u32;
        let mut draft = |kind: &str, name: &str, hook: &Hook, body: String| {
            seq += 1;
            drafts.push(OutboxDraft {
                kind: kind.to_string(),
                hook: name.to_string(),
                url: hook.url.clone(),
                method: hook.method.clone(),
                headers: hook
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                body,
                idempotency_key: format!("{}:{seq}", self.call_id),
            });
        };
        for follow_up in &self.follow_ups {
            let Some(hook) = hooks.get(&follow_up.hook) else {
                tracing::warn!(hook = %follow_up.hook, "follow-up names a hook tok.yaml lacks; left out");
                continue;
            };
            match follow_up.kind.as_str() {
                "notify" => {
                    let body = notify_body(hook.template.as_deref(), &follow_up.message);
                    draft("notify", &follow_up.hook, hook, body);
                }
                _ => draft("webhook", &follow_up.hook, hook, record_text.clone()),
            }
        }
        if let Some((name, hook)) = hooks.iter().find(|(_, h)| h.kind == HookKind::Tagger) {
            let mut body = record.clone();
            if let serde_json::Value::Object(map) = &mut body {
                map.insert(
                    String::from("recording_path"),
                    self.recording
                        .clone()
                        .map_or(serde_json::Value::Null, serde_json::Value::String),
                );
            }
            draft("tagger", name, hook, body.to_string());
        }
        drafts
    }
}

/// Builds a notification body: the template with `{message}` replaced,
/// the message JSON-escaped when the template is JSON; without a template
/// the body is the message itself.
pub fn notify_body(template: Option<&str>, message: &str) -> String {
    let Some(template) = template else {
        return message.to_string();
    };
    let trimmed = template.trim_start();
    let is_json = trimmed.starts_with('{') || trimmed.starts_with('[');
    let replacement = if is_json {
        let quoted = serde_json::Value::String(message.to_string()).to_string();
        // Inside a JSON string the quotes of the encoded string are dropped.
        quoted
            .get(1..quoted.len().saturating_sub(1))
            .unwrap_or_default()
            .to_string()
    } else {
        message.to_string()
    };
    template.replace("{message}", &replacement)
}

/// The facts of a call that tagging rules test, taken from a live call or
/// from a stored record.
#[derive(Clone, Copy, Debug)]
pub struct RuleFacts<'a> {
    /// The outcome name.
    pub outcome: &'a str,
    /// Milliseconds waited in queues.
    pub wait_ms: u64,
    /// Milliseconds talked to agents.
    pub talk_ms: u64,
    /// The keys chosen in menus, in order.
    pub menu_choices: &'a [&'a str],
    /// Whether a lookup found the caller.
    pub known_contact: bool,
    /// Whether the contact found is a VIP.
    pub vip: bool,
}

impl RuleFacts<'_> {
    /// Returns whether every condition holds.
    pub fn matches(&self, condition: &TagCondition) -> bool {
        let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);

        if !condition.outcomes.is_empty() && !condition.outcomes.iter().any(|o| o == self.outcome) {
            return false;
        }
        if condition
            .wait_over
            .is_some_and(|d| self.wait_ms <= millis(d))
        {
            return false;
        }
        if condition
            .wait_under
            .is_some_and(|d| self.wait_ms >= millis(d))
        {
            return false;
        }
        if condition
            .talk_over
            .is_some_and(|d| self.talk_ms <= millis(d))
        {
            return false;
        }

        if let Some(choice) = &condition.path_contains
            && !self.menu_choices.contains(&choice.as_str())
        {
            return false;
        }
        if condition
            .known_contact
            .is_some_and(|known| known != self.known_contact)
        {
            return false;
        }
        if condition.vip.is_some_and(|vip| vip != self.vip) {
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use std::time::Duration;

    fn hook(kind: HookKind, template: Option<&str>) -> Hook {
        Hook {
            kind,
            url: String::from("http://127.0.0.1:9/hook"),
            method: String::from("POST"),
            headers: BTreeMap::new(),
            timeout_ms: 1000,
            fields: BTreeMap::new(),
            secret_env: None,
            template: template.map(str::to_string),
        }
    }

    #[test]
    fn notify_template_escapes_json() {
        let body = notify_body(Some(r#"{"text": "Call: {message}"}"#), "say \"hi\"\n");
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["text"], "Call: say \"hi\"\n");
        assert_eq!(notify_body(Some("Call: {message}"), "a\"b"), "Call: a\"b");
        assert_eq!(notify_body(None, "plain"), "plain");
    }

    #[test]
    fn path_from_trace() {
        let mut log = CallLog::new("c1", 0);
        log.add_trace(
            vec![
                Event::Effect(Effect::CollectKey { timeout_ms: 5000 }),
                Event::Reply(Reply::Keys(String::from("2"))),
                Event::Effect(Effect::CollectDigits {
                    min: 4,
                    max: 4,
                    terminator: '#',
                    timeout_ms: 1,
                    interdigit_ms: 1,
                    sensitive: true,
                    typed: String::new(),
                }),
                Event::Reply(Reply::Keys(String::from("****"))),
                Event::Effect(Effect::Tag(String::from("billing"))),
                Event::Reply(Reply::Done),
                Event::Effect(Effect::Tag(String::from("billing"))),
                Event::Reply(Reply::Done),
            ],
            10,
        );
        assert_eq!(log.path.len(), 2);
        assert_eq!(log.path[0].kind, "menu");
        assert_eq!(log.path[0].value, "2");
        assert_eq!(log.path[1].kind, "digits");
        assert_eq!(log.path[1].value, "****");
        assert_eq!(log.tags, vec![(String::from("billing"), TagOrigin::Flow)]);
    }

    #[test]
    fn rules_test_each_condition() {
        let mut log = CallLog::new("c1", 0);
        log.outcome = String::from("abandoned");
        log.wait_ms = 90_000;
        log.path.push(Step {
            at: 1,
            kind: String::from("menu"),
            value: String::from("2"),
        });
        let rule = |when: TagCondition| TagRule {
            tag: String::from("t"),
            when,
        };
        let cases = [
            (TagCondition::default(), true),
            (
                TagCondition {
                    outcomes: vec![String::from("abandoned"), String::from("overflow")],
                    ..TagCondition::default()
                },
                true,
            ),
            (
                TagCondition {
                    outcomes: vec![String::from("answered")],
                    ..TagCondition::default()
                },
                false,
            ),
            (
                TagCondition {
                    wait_over: Some(Duration::from_secs(60)),
                    ..TagCondition::default()
                },
                true,
            ),
            (
                TagCondition {
                    wait_under: Some(Duration::from_secs(60)),
                    ..TagCondition::default()
                },
                false,
            ),
            (
                TagCondition {
                    talk_over: Some(Duration::from_secs(1)),
                    ..TagCondition::default()
                },
                false,
            ),
            (
                TagCondition {
                    path_contains: Some(String::from("2")),
                    ..TagCondition::default()
                },
                true,
            ),
            (
                TagCondition {
                    path_contains: Some(String::from("3")),
                    ..TagCondition::default()
                },
                false,
            ),
            (
                TagCondition {
                    known_contact: Some(true),
                    ..TagCondition::default()
                },
                false,
            ),
            (
                TagCondition {
                    vip: Some(false),
                    ..TagCondition::default()
                },
                true,
            ),
        ];
        for (index, (condition, expected)) in cases.into_iter().enumerate() {
            assert_eq!(log.matches(&rule(condition).when), expected, "case {index}");
        }
        log.apply_rules(&[TagRule {
            tag: String::from("long_wait"),
            when: TagCondition {
                wait_over: Some(Duration::from_secs(60)),
                ..TagCondition::default()
            },
        }]);
        assert_eq!(log.tags, vec![(String::from("long_wait"), TagOrigin::Rule)]);
    }

    #[test]
    fn outbox_numbers_items_and_adds_tagger() {
        let mut log = CallLog::new("abc", 0);
        log.recording = Some(String::from("abc.wav"));
        log.follow_ups = vec![
            FollowUp {
                kind: String::from("webhook"),
                hook: String::from("orders"),
                message: String::new(),
            },
            FollowUp {
                kind: String::from("notify"),
                hook: String::from("chat"),
                message: String::from("VIP called"),
            },
        ];
        let hooks = BTreeMap::from([
            (String::from("orders"), hook(HookKind::Webhook, None)),
            (
                String::from("chat"),
                hook(HookKind::Notify, Some(r#"{"text":"{message}"}"#)),
            ),
            (String::from("ai"), hook(HookKind::Tagger, None)),
        ]);
        let drafts = log.outbox(&hooks);
        let keys: Vec<&str> = drafts.iter().map(|d| d.idempotency_key.as_str()).collect();
        assert_eq!(keys, ["abc:1", "abc:2", "abc:3"]);
        let webhook: serde_json::Value = serde_json::from_str(&drafts[0].body).unwrap();
        assert_eq!(webhook["call_id"], "abc");
        assert_eq!(drafts[1].body, r#"{"text":"VIP called"}"#);
        assert_eq!(drafts[2].kind, "tagger");
        let tagger: serde_json::Value = serde_json::from_str(&drafts[2].body).unwrap();
        assert_eq!(tagger["recording_path"], "abc.wav");
    }
}
