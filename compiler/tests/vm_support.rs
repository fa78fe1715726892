//! The shipped support flow run through the VM: office hours on both sides
//! of closing time, date exceptions, holidays, the night desk for VIP
//! callers, and a CRM that times out.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use flowc::bytecode::{ProbeOutcome, RecordMode, decode};
use flowc::project::{Project, PromptInventory};
use flowc::vm::{
    Call, CallInfo, CallOptions, Contact, Effect, Event, Outcome, Program, QueueOutcome, Reply,
    TraceLevel, Value,
};
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;

fn support() -> Arc<Program> {
    let config = include_str!("../../flows/tok.yaml");
    let mut project = Project::new(Some(("tok.yaml", config)), PromptInventory::default());
    project.add_flow("office.flow", include_str!("../../flows/office.flow"));
    project.add_flow("support.flow", include_str!("../../flows/support.flow"));
    assert!(project.diagnostics.is_empty(), "{:#?}", project.diagnostics);
    let module = flowc::codegen::compile(&project, "support").unwrap();
    let module = decode(&module.encode()).unwrap();
    Program::load(module, |name| jiff::tz::db().get(name).ok()).unwrap()
}

/// What the CRM returns for the caller.
enum Caller {
    Unknown,
    Known { vip: bool, language: &'static str },
    CrmTimeout,
}

/// A scripted call of the support flow at a local time in Ljubljana.
struct Script {
    call: Call,
    now: Timestamp,
}

impl Script {
    fn new(local: &str) -> Script {
        let now = jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M", local)
            .unwrap()
            .in_tz("Europe/Ljubljana")
            .unwrap()
            .timestamp();
        let info = CallInfo {
            id: String::from("c1"),
            from: Some(String::from("+38640111222")),
            to: String::from("+38615550100"),
        };
        let options = CallOptions {
            trace: TraceLevel::Path,
            ..CallOptions::default()
        };
        Script {
            call: Call::new(support(), info, options),
            now,
        }
    }

    fn reply(&mut self, reply: Reply) -> Effect {
        self.call
            .resume(self.now, reply)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Answers, looks the caller up, starts the recording and returns the
    /// next effect.
    fn start(&mut self, caller: Caller) -> Effect {
        assert_eq!(self.reply(Reply::Start), Effect::Answer);
        assert!(matches!(self.reply(Reply::Done), Effect::Lookup { .. }));
        let reply = match caller {
            Caller::Unknown => Reply::Missing,
            Caller::Known { vip, language } => Reply::Found(Contact {
                fields: BTreeMap::from([
                    (String::from("vip"), Value::Bool(vip)),
                    (String::from("language"), Value::Text(language.to_string())),
                ]),
            }),
            Caller::CrmTimeout => Reply::LookupFailed {
                timed_out: true,
                reason: String::from("no answer within 800ms"),
            },
        };
        let mut effect = self.reply(reply);
        if effect == Effect::Tag(String::from("crm-down")) {
            effect = self.reply(Reply::Done);
        }
        assert_eq!(effect, Effect::Record(RecordMode::On));
        self.reply(Reply::Done)
    }

    /// Plays prompts with no key pressed until another effect comes.
    fn skip_prompts(&mut self, mut effect: Effect) -> (Vec<String>, Effect) {
        let mut played = Vec::new();
        while let Effect::Play { prompts, .. } = &effect {
            played.extend(prompts.iter().cloned());
            effect = self.reply(Reply::Played {
                keys: String::new(),
            });
        }
        (played, effect)
    }

    fn outcomes(&self) -> Vec<(String, ProbeOutcome)> {
        let module = self.call.program().module();
        self.call
            .trace()
            .iter()
            .filter_map(|e| match e {
                Event::Probe(p) => {
                    let probe = &module.probes[p.0 as usize];
                    Some((probe.site.clone(), probe.outcome))
                }
                _ => None,
            })
            .collect()
    }
}

/// Runs an unknown caller who presses 1 at the language menu, up to the effect
/// after the greeting.
fn greeted(local: &str) -> (Script, Vec<String>, Effect) {
    let mut s = Script::new(local);
    let menu = s.start(Caller::Unknown);
    assert!(matches!(&menu, Effect::Play { prompts, .. } if prompts == &["choose-language"]));
    let after_language = s.reply(Reply::Played {
        keys: String::from("1"),
    });
    let (played, effect) = s.skip_prompts(after_language);
    (s, played, effect)
}

#[test]
fn open_one_minute_before_closing() {
    // Wednesday 2 December 2026, 16:59 in Ljubljana.
    let (mut s, played, effect) = greeted("2026-12-02T16:59");
    assert_eq!(played, ["welcome", "choose-department"]);
    assert_eq!(effect, Effect::CollectKey { timeout_ms: 6000 });
    let technical = s.reply(Reply::Keys(String::from("1")));
    let (played, enqueue) = s.skip_prompts(technical);
    assert_eq!(played, ["connecting-technical"]);
    let Effect::Enqueue { name, priority, .. } = &enqueue else {
        panic!("{enqueue:?}");
    };
    assert_eq!((name.as_str(), *priority), ("technical", 0));
}

#[test]
fn closed_at_closing_time() {
    let (s, played, effect) = greeted("2026-12-02T17:00");
    assert_eq!(played, ["closed", "voicemail-intro"]);
    assert!(matches!(effect, Effect::Voicemail { mailbox, .. } if mailbox == "support"));
    let outcomes = s.outcomes();
    assert!(outcomes.contains(&(
        String::from("if holiday(office) or not open(office)"),
        ProbeOutcome::Then(0)
    )));
}

#[test]
fn christmas_eve_closes_at_noon() {
    let (_, played, _) = greeted("2026-12-24T11:59");
    assert_eq!(played, ["welcome", "choose-department"]);
    let (_, played, effect) = greeted("2026-12-24T12:00");
    assert_eq!(played, ["closed", "voicemail-intro"]);
    assert!(matches!(effect, Effect::Voicemail { .. }));
}

#[test]
fn christmas_day_is_a_holiday() {
    let (_, played, effect) = greeted("2026-12-25T10:00");
    assert_eq!(played, ["holiday", "voicemail-intro"]);
    assert!(matches!(effect, Effect::Voicemail { .. }));
}

#[test]
fn vip_after_hours_reaches_the_night_desk() {
    // Friday 4 December 2026 at 23:30: the night desk runs Friday 17:00
    // to Saturday 09:00.
    for local in ["2026-12-04T23:30", "2026-12-05T08:59"] {
        let mut s = Script::new(local);
        let first = s.start(Caller::Known {
            vip: true,
            language: "sl",
        });
        let (played, enqueue) = s.skip_prompts(first);
        assert_eq!(played, ["vip-welcome", "connecting-technical"], "{local}");
        let Effect::Enqueue {
            priority, language, ..
        } = &enqueue
        else {
            panic!("{enqueue:?}");
        };
        assert_eq!((*priority, language.as_str()), (100, "sl"), "{local}");
    }
    // Saturday 09:00 the night desk has closed and the office is open.
    let mut s = Script::new("2026-12-05T09:00");
    let first = s.start(Caller::Known {
        vip: true,
        language: "en",
    });
    let (played, _) = s.skip_prompts(first);
    assert_eq!(played, ["vip-welcome", "choose-department"]);
}

#[test]
fn crm_timeout_still_serves_the_caller() {
    let mut s = Script::new("2026-12-02T10:00");
    let menu = s.start(Caller::CrmTimeout);
    assert!(matches!(&menu, Effect::Play { prompts, .. } if prompts == &["choose-language"]));
    assert_eq!(s.call.tags(), ["crm-down"]);
    assert_eq!(s.call.variable("vip"), Some(&Value::Bool(false)));
}

#[test]
fn silent_caller_reaches_technical_in_english() {
    let mut s = Script::new("2026-12-02T10:00");
    let mut effect = s.start(Caller::Unknown);
    let mut prompts = Vec::new();
    loop {
        effect = match effect {
            Effect::Play {
                prompts: played, ..
            } => {
                prompts.extend(played);
                s.reply(Reply::Played {
                    keys: String::new(),
                })
            }
            Effect::CollectKey { .. } => s.reply(Reply::NoInput),
            _ => break,
        };
    }
    let Effect::Enqueue { name, language, .. } = &effect else {
        panic!("{effect:?}");
    };
    assert_eq!((name.as_str(), language.as_str()), ("technical", "en"));
    let no_input = prompts.iter().filter(|p| *p == "no-input").count();
    assert_eq!(no_input, 6);
    let exhausted = s
        .outcomes()
        .iter()
        .filter(|(_, o)| *o == ProbeOutcome::Exhausted)
        .count();
    assert_eq!(exhausted, 2);
}

#[test]
fn abandoned_call_opens_a_ticket() {
    let (mut s, _, _) = greeted("2026-12-02T10:00");
    let technical = s.reply(Reply::Keys(String::from("1")));
    let (_, enqueue) = s.skip_prompts(technical);
    assert!(matches!(enqueue, Effect::Enqueue { .. }));
    let timeline = s.reply(Reply::Queue(QueueOutcome::Abandoned { wait_ms: 95_000 }));
    assert_eq!(
        timeline,
        Effect::Timeline(String::from("Support call: abandoned, waited 1m35s"))
    );
    assert!(matches!(s.reply(Reply::Done), Effect::Ticket { .. }));
    let notify = s.reply(Reply::Done);
    assert_eq!(
        notify,
        Effect::Notify {
            hook: String::from("team_chat"),
            message: String::from("Missed call from +38640111222 in queue technical"),
        }
    );
    assert!(matches!(s.reply(Reply::Done), Effect::Webhook { .. }));
    assert_eq!(
        s.reply(Reply::Done),
        Effect::Finished {
            outcome: Outcome::Abandoned
        }
    );
}

#[test]
fn order_status_of_a_shipped_order() {
    let (mut s, _, _) = greeted("2026-12-02T10:00");
    // The caller chooses order status and types the order number with its
    // terminator during the prompt.
    let prompt = s.reply(Reply::Keys(String::from("3")));
    assert!(
        matches!(&prompt, Effect::Play { prompts, barge_in: true, .. } if prompts == &["enter-order"])
    );
    let tag = s.reply(Reply::Played {
        keys: String::from("41234567#"),
    });
    assert_eq!(tag, Effect::Tag(String::from("order-41234567")));
    let lookup = s.reply(Reply::Done);
    assert_eq!(
        lookup,
        Effect::Lookup {
            source: String::from("orders"),
            key: String::from("41234567"),
            timeout_ms: 2000,
        }
    );
    let owner = Contact {
        fields: BTreeMap::from([(
            String::from("order_status"),
            Value::Text(String::from("shipped")),
        )]),
    };
    let play = s.reply(Reply::Found(owner));
    assert!(
        matches!(&play, Effect::Play { prompts, .. } if prompts == &["order-found-shipping", "goodbye"]),
        "{play:?}"
    );
    let played = s.reply(Reply::Played {
        keys: String::new(),
    });
    assert_eq!(played, Effect::Hangup);
    let timeline = s.reply(Reply::Done);
    assert_eq!(
        timeline,
        Effect::Timeline(String::from("Support call: hangup, waited 0s"))
    );
    assert!(
        s.outcomes()
            .contains(&(String::from("collect order"), ProbeOutcome::Valid))
    );
}

#[test]
fn order_number_not_starting_with_4_is_invalid() {
    let (mut s, _, _) = greeted("2026-12-02T10:00");
    s.reply(Reply::Keys(String::from("3")));
    s.reply(Reply::Played {
        keys: String::new(),
    });
    let retry = s.reply(Reply::Keys(String::from("51234567")));
    assert!(matches!(&retry, Effect::Play { prompts, .. } if prompts == &["order-invalid"]));
    assert_eq!(
        s.outcomes().last(),
        Some(&(String::from("collect order"), ProbeOutcome::Invalid))
    );
}
