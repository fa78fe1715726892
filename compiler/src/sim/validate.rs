//! Checks a [`Script`] against the flow it is for, so a scripted call
//! cannot do what the flow's queues and lookups never would in production.

use super::script::{QueueAnswerKind, Script};
use super::trace::format_duration;
use crate::bytecode::{Const, Instr, Module, Queue};
use std::collections::{BTreeMap, BTreeSet};

/// The lookup source every flow may use.
pub const CRM_SOURCE: &str = "crm";

/// Returns the names of the lookup sources the flow's code uses, sorted,
/// always with `crm`.
pub fn lookup_sources(module: &Module) -> BTreeSet<String> {
    let mut sources = BTreeSet::from([String::from(CRM_SOURCE)]);
    for block in &module.blocks {
        for instr in &block.code {
            if let Instr::Lookup { source, .. } = instr
                && let Some(Const::Name(name)) = module.constant(*source)
            {
                sources.insert(name.clone());
            }
        }
    }
    sources
}

/// Checks every scripted lookup source and named queue outcome against the
/// flow, and every named outcome against its queue's rules. `hooks` maps
/// the config's hook names to their kinds (`crm`, `webhook`, ...), so a
/// lookup scripted for a hook of another kind is explained. Returns one
/// message per problem. Outcomes that name no queue are checked when the
/// call enters a queue, by [`check_queue_outcome`].
pub fn check_script(
    module: &Module,
    script: &Script,
    hooks: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let sources = lookup_sources(module);
    for source in script.lookups.keys() {
        if !sources.contains(source) {
            let listed: Vec<&str> = sources.iter().map(String::as_str).collect();
            let kind = match hooks.get(source) {
                Some(kind) if kind != CRM_SOURCE => format!(
                    " (`{source}` is a {kind} hook in the config, and only CRM hooks answer lookups)"
                ),
                _ => String::new(),
            };
            problems.push(format!(
                "lookup answer for `{source}`: flow `{}` never looks up `{source}`{kind}; its lookup sources are {}",
                module.flow,
                listed.join(", ")
            ));
        }
    }
    for answer in &script.queues {
        let Some(name) = &answer.queue else {
            continue;
        };
        match find_queue(module, name) {
            Ok(queue) => {
                if let Err(problem) = check_queue_outcome(queue, &answer.outcome) {
                    problems.push(problem);
                }
            }
            Err(problem) => problems.push(problem),
        }
    }
    problems
}

/// Finds a queue of the flow by its exact name, or explains which queues
/// the flow has.
pub fn find_queue<'m>(module: &'m Module, name: &str) -> Result<&'m Queue, String> {
    if let Some(queue) = module.queues.iter().find(|q| q.name == name) {
        return Ok(queue);
    }
    let listed: Vec<&str> = module.queues.iter().map(|q| q.name.as_str()).collect();
    let listed = if listed.is_empty() {
        String::from("it enters no queue")
    } else {
        format!("its queues are {}", listed.join(", "))
    };
    let case = module
        .queues
        .iter()
        .find(|q| q.name.eq_ignore_ascii_case(name))
        .map(|q| format!("; queue names are case-sensitive, so write `{}`", q.name))
        .unwrap_or_default();
    Err(format!(
        "queue outcome for `{name}`: flow `{}` does not use queue `{name}`; {listed}{case}",
        module.flow
    ))
}

/// Checks that a queue could end a wait the way the outcome describes: a wait
/// no longer than the queue's `max wait`, a callback only when the queue
/// offers one and not before its `callback after`, `max-wait` only with a
/// `max wait`, and `full` only with `max callers`.
pub fn check_queue_outcome(queue: &Queue, outcome: &QueueAnswerKind) -> Result<(), String> {
    let name = &queue.name;
    let too_long = |what: &str, wait_ms: u64| match queue.max_wait_ms {
        Some(max) if wait_ms > max => Err(format!(
            "queue `{name}`: `{what}` after {} is impossible because the queue's max wait is {}, when the caller overflows; script a wait of at most {} or `max-wait`",
            format_duration(wait_ms),
            format_duration(max),
            format_duration(max)
        )),
        _ => Ok(()),
    };
    match outcome {
        QueueAnswerKind::Answered { wait_ms, .. } => too_long("answered", *wait_ms),
        QueueAnswerKind::Abandoned { wait_ms } => too_long("abandoned", *wait_ms),
        QueueAnswerKind::Callback { wait_ms } => {
            let Some(offer) = queue.callback else {
                return Err(format!(
                    "queue `{name}`: `callback` is impossible because the queue makes no callback offer; script another outcome, or add `callback after` to the queue"
                ));
            };
            match wait_ms {
                Some(wait) if *wait < offer.after_ms => Err(format!(
                    "queue `{name}`: `callback@{}` is impossible because the queue offers a callback after {}; script `callback` or `callback@{}` or later",
                    format_duration(*wait),
                    format_duration(offer.after_ms),
                    format_duration(offer.after_ms)
                )),
                Some(wait) => too_long("callback", *wait),
                None => too_long("callback", offer.after_ms),
            }
        }
        QueueAnswerKind::MaxWait if queue.max_wait_ms.is_none() => Err(format!(
            "queue `{name}`: `max-wait` is impossible because the queue has no `max wait`; script another outcome, or add `max wait` to the queue"
        )),
        QueueAnswerKind::Full if queue.max_callers.is_none() => Err(format!(
            "queue `{name}`: `full` is impossible because the queue has no `max callers`; script another outcome, or add `max callers` to the queue"
        )),
        QueueAnswerKind::MaxWait | QueueAnswerKind::Full | QueueAnswerKind::NoAgents => Ok(()),
    }
}

/// Returns the wait before the simulated agent answers when the script
/// gives no outcome: the default wait, or half the queue's `max wait` when
/// that is shorter, so the default is an outcome the queue allows.
pub fn default_answer_wait_ms(queue: Option<&Queue>) -> u64 {
    let default = super::script::DEFAULT_ANSWER_WAIT_MS;
    queue
        .and_then(|q| q.max_wait_ms)
        .map_or(default, |max| default.min(max / 2))
}
