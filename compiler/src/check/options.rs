//! Options of menus, digit collection, lookups and queues: required options,
//! values out of range, options given twice and arms that do not belong.

use super::decls::{Entry, keyword_span};
use super::names::Env;
use super::prompts;
use crate::diag::{Code, Diagnostic, FileId, Span, did_you_mean, unknown_name_help};
use crate::syntax::ast::{
    Collect, DurationLit, FailureArm, FailureKind, IntLit, Lookup, Menu, Need, Queue, QueueOption,
};
use std::collections::HashMap;

/// Most attempts a menu or collect may have.
const MAX_ATTEMPTS: u32 = 10;
/// Most digits one `collect` may take.
const MAX_DIGITS: u32 = 32;
/// Maximum lookup timeout in milliseconds, kept short because the caller
/// waits in silence.
const MAX_LOOKUP_TIMEOUT_MS: u64 = 8_000;

fn out_of_range(
    file: FileId,
    span: Span,
    message: String,
    label: &str,
    help: String,
) -> Diagnostic {
    Diagnostic::new(Code::InvalidOption, message)
        .primary(file, span, label.to_string())
        .help(help)
}

fn attempts(
    file: FileId,
    keyword: Span,
    what: &str,
    attempts: Option<IntLit>,
    out: &mut Vec<Diagnostic>,
) {
    match attempts {
        None => out.push(
            Diagnostic::new(Code::MissingAttempts, format!("{what} without `attempts`"))
                .primary(file, keyword, "no limit on how often the caller is asked")
                .help("add `attempts 3`: the caller is asked at most that many times before `exhausted` runs"),
        ),
        Some(lit) if lit.value == 0 || lit.value > MAX_ATTEMPTS => out.push(out_of_range(
            file,
            lit.span,
            format!("`attempts {}` is out of range", lit.value),
            "out of range",
            format!("use 1 to {MAX_ATTEMPTS} attempts"),
        )),
        Some(_) => {}
    }
}

fn positive(file: FileId, option: &str, duration: Option<DurationLit>, out: &mut Vec<Diagnostic>) {
    if let Some(lit) = duration
        && lit.millis == 0
    {
        out.push(out_of_range(
            file,
            lit.span,
            format!("`{option} 0s` leaves no time"),
            "must be longer than 0s",
            format!("give `{option}` a positive duration, such as `5s`"),
        ));
    }
}

/// Reports failure arms of a kind `allowed` does not include, and kinds
/// written twice.
fn failure_arms(
    file: FileId,
    what: &str,
    arms: &[FailureArm],
    allowed: &[FailureKind],
    out: &mut Vec<Diagnostic>,
) {
    let mut seen: Vec<(FailureKind, Span)> = Vec::new();
    for arm in arms {
        let kind = arm.kind.as_str();
        let span = keyword_span(arm.span, kind);
        if !allowed.contains(&arm.kind) {
            let help = if arm.kind == FailureKind::Failed {
                format!(
                    "`failed` belongs to `lookup`; a {what} has `invalid`, `no input` and `exhausted` arms"
                )
            } else {
                String::from(
                    "a lookup has only a `failed` arm, which runs when the CRM fails or does not answer in time",
                )
            };
            out.push(
                Diagnostic::new(
                    Code::MisplacedStatement,
                    format!("`{kind}` arm in a {what}"),
                )
                .primary(file, span, format!("a {what} has no `{kind}` case"))
                .help(help),
            );
            continue;
        }
        if let Some(&(_, first)) = seen.iter().find(|(kind, _)| *kind == arm.kind) {
            out.push(
                Diagnostic::new(
                    Code::DuplicateName,
                    format!("`{kind}` arm written twice in one {what}"),
                )
                .primary(file, span, "second arm")
                .secondary(file, first, "first arm")
                .help("merge the two arms into one"),
            );
            continue;
        }
        seen.push((arm.kind, span));
    }
}

const INPUT_ARMS: [FailureKind; 3] = [
    FailureKind::Invalid,
    FailureKind::NoInput,
    FailureKind::Exhausted,
];

/// Checks the options of a `menu`; `span` is the statement's.
pub fn menu(file: FileId, span: Span, menu: &Menu, out: &mut Vec<Diagnostic>) {
    let keyword = keyword_span(span, "menu");
    if menu.prompts.is_empty() {
        out.push(
            Diagnostic::new(Code::MissingOption, "menu without `prompt`")
                .primary(file, keyword, "the caller hears no choices")
                .help("add `prompt \"choose-department\"` naming what the caller hears"),
        );
    }
    attempts(file, keyword, "menu", menu.attempts, out);
    positive(file, "timeout", menu.timeout, out);
    let mut keys: HashMap<char, Span> = HashMap::new();
    for (key, _) in &menu.keys {
        match keys.get(&key.key) {
            Some(&first) => out.push(
                Diagnostic::new(
                    Code::DuplicateKey,
                    format!("key `{}` has two arms in one menu", key.key),
                )
                .primary(file, key.span, "second arm")
                .secondary(file, first, "first arm")
                .help(format!(
                    "keep one arm for `{}`, or move this arm to a free key",
                    key.key
                )),
            ),
            None => {
                keys.insert(key.key, key.span);
            }
        }
    }
    failure_arms(file, "menu", &menu.failures, &INPUT_ARMS, out);
}

/// Checks the options of a `collect`; `span` is the statement's.
pub fn collect(file: FileId, span: Span, collect: &Collect, out: &mut Vec<Diagnostic>) {
    let keyword = keyword_span(span, "collect");
    let what = format!("collect `{}`", collect.var.name);
    if collect.prompts.is_empty() {
        out.push(
            Diagnostic::new(Code::MissingOption, format!("{what} without `prompt`"))
                .primary(file, keyword, "the caller is not told what to enter")
                .help("add `prompt \"enter-order\"` naming what the caller hears"),
        );
    }
    attempts(file, keyword, &what, collect.attempts, out);
    positive(file, "timeout", collect.timeout, out);
    positive(file, "interdigit", collect.interdigit, out);
    if let Some((min, max)) = collect.length {
        length(file, min, max, out);
    }
    if let Some(key) = collect.terminator
        && key.key.is_ascii_digit()
    {
        out.push(out_of_range(
            file,
            key.span,
            format!(
                "terminator `{}` is a digit the caller may need to enter",
                key.key
            ),
            "a digit",
            String::from("end input with `#` or `*`"),
        ));
    }
    failure_arms(file, "collect", &collect.failures, &INPUT_ARMS, out);
}

fn length(file: FileId, min: IntLit, max: IntLit, out: &mut Vec<Diagnostic>) {
    if min.value == 0 {
        out.push(out_of_range(
            file,
            min.span,
            String::from("minimum length 0 accepts no digits at all"),
            "must be at least 1",
            String::from("use a minimum length of at least 1; a caller who enters nothing takes the `no input` arm"),
        ));
    }
    if max.value > MAX_DIGITS {
        out.push(out_of_range(
            file,
            max.span,
            format!("maximum length {} is above {MAX_DIGITS}", max.value),
            "too long",
            format!("collect at most {MAX_DIGITS} digits"),
        ));
    }
    if min.value > max.value {
        out.push(out_of_range(
            file,
            min.span.to(max.span),
            format!(
                "length {}..{} has its minimum above its maximum",
                min.value, max.value
            ),
            "minimum above maximum",
            format!("write `length {}..{}`", max.value, min.value),
        ));
    }
}

/// Checks the options of a `lookup`; `span` is the statement's.
pub fn lookup(file: FileId, span: Span, lookup: &Lookup, out: &mut Vec<Diagnostic>) {
    let has_failed = lookup
        .failures
        .iter()
        .any(|arm| arm.kind == FailureKind::Failed);
    if !has_failed {
        out.push(
            Diagnostic::new(
                Code::LookupFailureUnhandled,
                format!("lookup `{}` has no `failed` arm", lookup.var.name),
            )
            .primary(file, keyword_span(span, "lookup"), "failure not handled")
            .help(
                "add `failed => ...` inside the braces, such as `failed => tag \"crm-down\"`; \
                 it runs when the CRM fails or does not answer in time",
            ),
        );
    }
    if let Some(timeout) = lookup.timeout
        && timeout.millis > MAX_LOOKUP_TIMEOUT_MS
    {
        out.push(out_of_range(
            file,
            timeout.span,
            format!(
                "lookup timeout `{}` is above 8s",
                show_duration(timeout.millis)
            ),
            "too long",
            String::from("use at most `8s`: the caller waits in silence during the lookup"),
        ));
    }
    positive(file, "timeout", lookup.timeout, out);
    failure_arms(
        file,
        "lookup",
        &lookup.failures,
        &[FailureKind::Failed],
        out,
    );
}

/// Checks a queue declaration: options given twice, skills and levels,
/// values out of range, and its prompts.
pub fn queue(env: &Env<'_>, entry: &Entry<'_, Queue>, out: &mut Vec<Diagnostic>) {
    let file = entry.file;
    let queue = entry.decl;
    let mut single: HashMap<&'static str, Span> = HashMap::new();
    let mut needed: HashMap<&str, u32> = HashMap::new();
    let mut music = false;
    for option in &queue.options {
        if let Some(name) = single_option(option) {
            let span = keyword_span(option.span(), name);
            match single.get(name) {
                Some(&first) => out.push(
                    Diagnostic::new(
                        Code::DuplicateName,
                        format!("queue `{}` sets `{name}` twice", queue.name.name),
                    )
                    .primary(file, span, "set again here")
                    .secondary(file, first, "first set here")
                    .help(format!("keep one `{name}` line")),
                ),
                None => {
                    single.insert(name, span);
                }
            }
        }
        match option {
            QueueOption::Needs(needs, _) => needs_option(env, file, needs, &mut needed, out),
            QueueOption::Sticky(lit, _) => positive(file, "sticky for", Some(*lit), out),
            QueueOption::MaxWait(lit, _) => positive(file, "max wait", Some(*lit), out),
            QueueOption::Target {
                percent,
                within,
                span,
            } => {
                if *percent <= 0.0 || *percent > 100.0 {
                    out.push(out_of_range(
                        file,
                        keyword_span(*span, "target").to(within.span),
                        format!("service-level target {percent}% is out of range"),
                        "out of range",
                        String::from("use a share above 0% and at most 100%, such as `80%`"),
                    ));
                }
                positive(file, "within", Some(*within), out);
            }
            QueueOption::Announce { what, every, span } => {
                use crate::syntax::ast::Announcement;
                let implied: Vec<&str> = match what {
                    Announcement::Prompt(lit) => {
                        prompts::used(env, file, &lit.value, lit.span);
                        Vec::new()
                    }
                    Announcement::Position => prompts::POSITION_PROMPTS.to_vec(),
                    Announcement::Wait => prompts::WAIT_PROMPTS.to_vec(),
                    Announcement::PositionAndWait => prompts::POSITION_PROMPTS
                        .iter()
                        .chain(&prompts::WAIT_PROMPTS)
                        .copied()
                        .collect(),
                };
                for name in implied {
                    prompts::used(env, file, name, *span);
                }
                positive(file, "every", *every, out);
            }
            QueueOption::Callback { span, .. } => {
                for name in prompts::CALLBACK_PROMPTS {
                    prompts::used(env, file, name, *span);
                }
            }
            QueueOption::Music(lit, _) => {
                music = true;
                prompts::used(env, file, &lit.value, lit.span);
            }
            QueueOption::MaxCallers(0, span) => out.push(out_of_range(
                file,
                *span,
                String::from("`max callers 0` lets no caller wait"),
                "out of range",
                String::from("use at least 1, or remove the line for no limit"),
            )),
            _ => {}
        }
    }
    // A skill of `needs` that is unknown may be a misspelling of the skill
    // relaxed or dropped; that is reported once, as the unknown skill.
    let unknown_needs: Vec<&str> = needed
        .keys()
        .copied()
        .filter(|name| !env.config.skills.contains_key(*name))
        .collect();
    let misspelt = |skill: &str| did_you_mean(skill, unknown_needs.iter().copied()).is_some();
    for option in &queue.options {
        match option {
            QueueOption::Relax {
                skill, level, span, ..
            } => {
                if let Some(&required) = needed.get(skill.name.as_str()) {
                    relax_level(file, skill, *level, required, *span, out);
                } else if !misspelt(&skill.name) {
                    not_needed(env, file, &queue.name.name, skill, "relax", out);
                }
            }
            QueueOption::Drop { skill, .. }
                if !needed.contains_key(skill.name.as_str()) && !misspelt(&skill.name) =>
            {
                not_needed(env, file, &queue.name.name, skill, "drop", out);
            }
            _ => {}
        }
    }
    if !music {
        prompts::used_as_default_music(env, file, &queue.name.name, queue.name.span);
    }
}

/// Returns the name of an option a queue may set only once.
fn single_option(option: &QueueOption) -> Option<&'static str> {
    Some(match option {
        QueueOption::Strategy(..) => "strategy",
        QueueOption::Needs(..) => "needs",
        QueueOption::Sticky(..) => "sticky",
        QueueOption::Priority(..) => "priority",
        QueueOption::Target { .. } => "target",
        QueueOption::Music(..) => "music",
        QueueOption::Callback { .. } => "callback",
        QueueOption::MaxWait(..) => "max wait",
        QueueOption::MaxCallers(..) => "max callers",
        QueueOption::Overflow(..) => "overflow",
        QueueOption::Wrapup(..) => "wrapup",
        QueueOption::Relax { .. } | QueueOption::Drop { .. } | QueueOption::Announce { .. } => {
            return None;
        }
    })
}

fn needs_option<'q>(
    env: &Env<'_>,
    file: FileId,
    needs: &'q [Need],
    needed: &mut HashMap<&'q str, u32>,
    out: &mut Vec<Diagnostic>,
) {
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for need in needs {
        let (name, span) = match need {
            Need::Language(span) => ("language", *span),
            Need::Skill { skill, span, .. } => (skill.name.as_str(), *span),
        };
        if let Some(&first) = seen.get(name) {
            out.push(
                Diagnostic::new(Code::DuplicateName, format!("`needs` names `{name}` twice"))
                    .primary(file, span, "named again here")
                    .secondary(file, first, "first named here")
                    .help("keep one requirement per skill"),
            );
            continue;
        }
        seen.insert(name, span);
        if let Need::Skill { skill, level, span } = need {
            needed.insert(&skill.name, *level);
            skill_level(env, file, skill, *level, *span, out);
        }
    }
}

/// Reports an unknown skill; returns its maximum level when it is known.
fn known_skill(
    env: &Env<'_>,
    file: FileId,
    skill: &crate::syntax::ast::Ident,
    out: &mut Vec<Diagnostic>,
) -> Option<u32> {
    if let Some(declared) = env.config.skills.get(&skill.name) {
        return Some(declared.max_level);
    }
    if !env.trust.skills() {
        return None;
    }
    out.push(
        Diagnostic::new(
            Code::UnknownSkill,
            format!("unknown skill `{}`", skill.name),
        )
        .primary(file, skill.span, "not declared under `skills` in tok.yaml")
        .help(unknown_name_help(
            "skill",
            &skill.name,
            env.config.skills.keys().map(String::as_str),
        )),
    );
    None
}

fn skill_level(
    env: &Env<'_>,
    file: FileId,
    skill: &crate::syntax::ast::Ident,
    level: u32,
    span: Span,
    out: &mut Vec<Diagnostic>,
) {
    let Some(max) = known_skill(env, file, skill, out) else {
        return;
    };
    if level == 0 || level > max {
        out.push(out_of_range(
            file,
            span,
            format!("level {level} of skill `{}` is out of range", skill.name),
            "out of range",
            format!(
                "`{}` has levels 1 to {max}; use one of them, or raise its `max_level` in tok.yaml",
                skill.name
            ),
        ));
    }
}

fn relax_level(
    file: FileId,
    skill: &crate::syntax::ast::Ident,
    level: u32,
    required: u32,
    span: Span,
    out: &mut Vec<Diagnostic>,
) {
    if level == 0 {
        out.push(out_of_range(
            file,
            span,
            format!("`relax {} >= 0` is out of range", skill.name),
            "levels start at 1",
            format!("to stop requiring the skill, write `drop {}`", skill.name),
        ));
    } else if level >= required {
        out.push(out_of_range(
            file,
            span,
            format!(
                "relaxing `{}` to level {level} does not lower the required level {required}",
                skill.name
            ),
            "not lower than `needs`",
            format!("relax to a level below {required}, or remove this line"),
        ));
    }
}

fn not_needed(
    env: &Env<'_>,
    file: FileId,
    queue: &str,
    skill: &crate::syntax::ast::Ident,
    action: &str,
    out: &mut Vec<Diagnostic>,
) {
    if known_skill(env, file, skill, out).is_none() {
        return;
    }
    out.push(
        Diagnostic::new(
            Code::UnknownSkill,
            format!(
                "queue `{queue}` cannot {action} skill `{}`: its `needs` does not name it",
                skill.name
            ),
        )
        .primary(file, skill.span, "not required by this queue")
        .help(format!(
            "add `{} >= N` to `needs`, or remove this line",
            skill.name
        )),
    );
}

/// Formats milliseconds the way a flow writes a duration.
fn show_duration(millis: u64) -> String {
    if !millis.is_multiple_of(1000) {
        return format!("{millis}ms");
    }
    let seconds = millis / 1000;
    if !seconds.is_multiple_of(60) {
        format!("{seconds}s")
    } else if !seconds.is_multiple_of(3600) {
        format!("{}m", seconds / 60)
    } else {
        format!("{}h", seconds / 3600)
    }
}
