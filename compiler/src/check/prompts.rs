//! Prompts: every prompt a flow or queue plays must exist for every
//! language in `tok.yaml`, or once in the `common` folder.

use super::names::Env;
use crate::diag::{Code, Diagnostic, FileId, Span, did_you_mean};

/// The music a queue plays when it names none.
pub const DEFAULT_MUSIC: &str = "hold-music";

/// Reports a prompt that is missing for some declared language.
pub fn check(env: &Env<'_>, file: FileId, name: &str, span: Span, out: &mut Vec<Diagnostic>) {
    if let Some(diagnostic) = missing(env, name) {
        out.push(diagnostic.primary(file, span, label(env, name)));
    }
}

/// Reports the default music of a queue without `music` when it is missing.
pub fn check_default_music(
    env: &Env<'_>,
    file: FileId,
    queue: &str,
    span: Span,
    out: &mut Vec<Diagnostic>,
) {
    if let Some(diagnostic) = missing(env, DEFAULT_MUSIC) {
        let message = format!(
            "queue `{queue}` plays the default music `{DEFAULT_MUSIC}`, which is missing for {}",
            list(&missing_languages(env, DEFAULT_MUSIC))
        );
        let diagnostic = Diagnostic {
            message,
            ..diagnostic
        };
        out.push(diagnostic.primary(file, span, "this queue has no `music` line"));
    }
}

fn missing_languages<'e>(env: &'e Env<'_>, name: &str) -> Vec<&'e str> {
    env.config
        .languages
        .iter()
        .map(String::as_str)
        .filter(|language| !env.project.prompts.has(language, name))
        .collect()
}

fn label(env: &Env<'_>, name: &str) -> String {
    format!("no recording for {}", list(&missing_languages(env, name)))
}

/// Builds the diagnostic without its label, or `None` when the prompt
/// exists or prompt files could not be listed.
fn missing(env: &Env<'_>, name: &str) -> Option<Diagnostic> {
    if !env.project.prompts.listed {
        return None;
    }
    let languages = missing_languages(env, name);
    if languages.is_empty() {
        return None;
    }
    let dir = env.config.prompts.dir.trim_end_matches('/');
    let files: Vec<String> = languages
        .iter()
        .map(|language| format!("{dir}/{language}/{name}.wav"))
        .collect();
    let mut help = format!(
        "add {}",
        list(&files.iter().map(String::as_str).collect::<Vec<_>>())
    );
    if languages.len() == env.config.languages.len() {
        help.push_str(&format!(
            ", or one `{dir}/common/{name}.wav` for every language"
        ));
        if let Some(close) = did_you_mean(name, env.prompt_names()) {
            help = format!("did you mean `{close}`? Otherwise {help}");
        }
    }
    Some(
        Diagnostic::new(
            Code::MissingPrompt,
            format!("prompt `{name}` is missing for {}", list(&languages)),
        )
        .help(help),
    )
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
