//! Prompts: every prompt a flow or queue plays must exist for every
//! language in `tok.yaml`, or once in the `common` folder.
//!
//! The checks note each use while they walk the flows ([`used`],
//! [`used_as_default_music`]); [`report`] then reports each missing prompt
//! once, at its first use. A language that has no prompt at all is
//! reported once for the whole language instead of once per prompt.

use super::names::Env;
use crate::diag::{Code, Diagnostic, FileId, Span, did_you_mean};
use std::collections::HashMap;

/// The music a queue plays when it names none.
pub const DEFAULT_MUSIC: &str = "hold-music";

/// Prompts a queue plays for its options, by the option that needs them:
/// `announce position`, `announce wait` and `callback`. The spoken numbers
/// after the first two come from the runtime's number prompts, which
/// `flowd` checks for at start.
pub const POSITION_PROMPTS: [&str; 3] = ["queue-next", "ahead-intro-other", "callers-ahead-other"];
/// See [`POSITION_PROMPTS`].
pub const WAIT_PROMPTS: [&str; 3] = ["wait-intro", "wait-less-than-minute", "minute-other"];
/// See [`POSITION_PROMPTS`].
pub const CALLBACK_PROMPTS: [&str; 5] = [
    "callback-offer",
    "callback-confirm-intro",
    "callback-confirm-keys",
    "callback-enter",
    "callback-thanks",
];

/// At most this many missing file names are listed in one help line.
const LISTED_FILES: usize = 5;

/// One place that plays a prompt.
#[derive(Clone, Debug)]
pub struct PromptUse {
    file: FileId,
    span: Span,
    name: String,
    /// The queue, when the use is the default music of a queue that names
    /// no `music`.
    default_music_of: Option<String>,
}

/// Notes that `name` is played at `span`.
pub fn used(env: &Env<'_>, file: FileId, name: &str, span: Span) {
    env.prompt_uses.borrow_mut().push(PromptUse {
        file,
        span,
        name: name.to_string(),
        default_music_of: None,
    });
}

/// Notes that a queue without `music` plays the default music.
pub fn used_as_default_music(env: &Env<'_>, file: FileId, queue: &str, span: Span) {
    env.prompt_uses.borrow_mut().push(PromptUse {
        file,
        span,
        name: DEFAULT_MUSIC.to_string(),
        default_music_of: Some(queue.to_string()),
    });
}

/// Reports the prompts that are missing for some declared language.
pub fn report(env: &Env<'_>, out: &mut Vec<Diagnostic>) {
    if !env.project.prompts.listed || !env.trust.prompts() {
        return;
    }
    let mut uses = env.prompt_uses.borrow().clone();
    uses.sort_by_key(|u| (u.file, u.span.start, u.span.end));
    uses.dedup_by(|a, b| a.file == b.file && a.span == b.span && a.name == b.name);

    // Uses by name, names in the order of their first use.
    let mut order: Vec<&str> = Vec::new();
    let mut by_name: HashMap<&str, Vec<&PromptUse>> = HashMap::new();
    for u in &uses {
        let list = by_name.entry(u.name.as_str()).or_default();
        if list.is_empty() {
            order.push(u.name.as_str());
        }
        list.push(u);
    }

    let empty: Vec<&str> = empty_languages(env, &order);
    for &language in &empty {
        let missing: Vec<&str> = order
            .iter()
            .copied()
            .filter(|name| !env.project.prompts.has(language, name))
            .collect();
        let first = missing
            .first()
            .and_then(|name| by_name.get(name))
            .and_then(|list| list.first());
        out.push(language_missing(env, language, &missing, first.copied()));
    }

    for name in order {
        let Some(list) = by_name.get(name) else {
            continue;
        };
        let Some(first) = list.first() else {
            continue;
        };
        let all = missing_languages(env, name);
        let languages: Vec<&str> = all
            .iter()
            .copied()
            .filter(|language| !empty.contains(language))
            .collect();
        if languages.is_empty() {
            continue;
        }
        out.push(prompt_missing(env, first, list.len(), &languages, &all));
    }
}

/// Returns the declared languages that have no prompt file at all, while
/// some prompt the flows play is missing for them.
fn empty_languages<'e>(env: &'e Env<'_>, names: &[&str]) -> Vec<&'e str> {
    let prompts = &env.project.prompts;
    env.config
        .languages
        .iter()
        .map(String::as_str)
        .filter(|language| !prompts.files.iter().any(|(folder, _)| folder == language))
        .filter(|language| names.iter().any(|name| !prompts.has(language, name)))
        .collect()
}

fn missing_languages<'e>(env: &'e Env<'_>, name: &str) -> Vec<&'e str> {
    env.config
        .languages
        .iter()
        .map(String::as_str)
        .filter(|language| !env.project.prompts.has(language, name))
        .collect()
}

/// Builds the one report for a language without any prompt file.
fn language_missing(
    env: &Env<'_>,
    language: &str,
    missing: &[&str],
    first: Option<&PromptUse>,
) -> Diagnostic {
    let dir = env.config.prompts.dir.trim_end_matches('/');
    let count = match missing.len() {
        1 => String::from("one prompt the flows play is"),
        n => format!("{n} prompts the flows play are"),
    };
    let listed_files: Vec<String> = missing
        .iter()
        .take(LISTED_FILES)
        .map(|name| format!("{name}.wav"))
        .collect();
    let mut files = list(&listed_files.iter().map(String::as_str).collect::<Vec<_>>());
    if missing.len() > LISTED_FILES {
        let quoted: Vec<String> = listed_files.iter().map(|f| format!("`{f}`")).collect();
        files = format!(
            "{} and {} more",
            quoted.join(", "),
            missing.len() - LISTED_FILES
        );
    }
    let at_config = env.config.location(&format!("languages.{language}"));
    let mut help = format!("record the prompts in `{dir}/{language}/` ({files})");
    if at_config.is_some() {
        help.push_str(&format!(
            ", or remove `{language}` from `languages` in tok.yaml"
        ));
    }
    let diagnostic = Diagnostic::new(
        Code::MissingPrompt,
        format!(
            "no prompts for language `{language}`: the {count} missing from `{dir}/{language}`"
        ),
    )
    .help(help);
    let first_label = format!("no recording for `{language}`");
    match (at_config, first) {
        (Some((file, span)), Some(first)) => diagnostic
            .primary(file, span, "declared here, but no prompt exists for it")
            .secondary(
                first.file,
                first.span,
                format!("the first prompt played without a `{language}` recording"),
            ),
        (Some((file, span)), None) => {
            diagnostic.primary(file, span, "declared here, but no prompt exists for it")
        }
        (None, Some(first)) => diagnostic.primary(first.file, first.span, first_label),
        (None, None) => diagnostic,
    }
}

/// The report for one prompt, at its first use. `languages` are those to
/// report; `all` also contains the languages reported as a whole.
fn prompt_missing(
    env: &Env<'_>,
    first: &PromptUse,
    uses: usize,
    languages: &[&str],
    all: &[&str],
) -> Diagnostic {
    let name = first.name.as_str();
    let dir = env.config.prompts.dir.trim_end_matches('/');
    let files: Vec<String> = languages
        .iter()
        .map(|language| format!("{dir}/{language}/{name}.wav"))
        .collect();
    let mut help = format!(
        "add {}",
        list(&files.iter().map(String::as_str).collect::<Vec<_>>())
    );
    if all.len() == env.config.languages.len() {
        help.push_str(&format!(
            ", or one `{dir}/common/{name}.wav` for every language"
        ));
        if let Some(close) = did_you_mean(name, env.prompt_names()) {
            help = format!("did you mean `{close}`? Otherwise {help}");
        }
    }
    let message = match &first.default_music_of {
        Some(queue) => format!(
            "queue `{queue}` plays the default music `{name}`, which is missing for {}",
            list(languages)
        ),
        None => format!("prompt `{name}` is missing for {}", list(languages)),
    };
    let mut label = match first.default_music_of {
        Some(_) => String::from("this queue has no `music` line"),
        None => format!("no recording for {}", list(languages)),
    };
    if uses > 1 {
        label.push_str(&format!(" (first of {uses} uses)"));
    }
    Diagnostic::new(Code::MissingPrompt, message)
        .primary(first.file, first.span, label)
        .help(help)
}

/// Formats "`a`", "`a` and `b`", "`a`, `b` and `c`".
fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("`{item}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::list;

    #[test]
    fn list_joins_with_and() {
        assert_eq!(list(&["en"]), "`en`");
        assert_eq!(list(&["en", "sl"]), "`en` and `sl`");
        assert_eq!(list(&["en", "sl", "de"]), "`en`, `sl` and `de`");
    }
}
