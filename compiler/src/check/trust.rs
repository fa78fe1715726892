//! Which parts of `tok.yaml` the checks may resolve names against.
//!
//! A config with problems is still read as far as possible, with defaults
//! for the rest. Resolving a flow's names against a section that was not
//! read would report every skill, hook or language as unknown on top of
//! the one config error, so the checks ask [`Trust`] first:
//!
//! - A YAML syntax error, or a top level that is not a map, leaves nothing
//!   read: no name is resolved against the config.
//! - A section that is missing while an unknown top-level key resembles its
//!   name (`skils:`) is unknown.
//! - A section whose value is invalid (`skills: 5`) is unknown. For
//!   `languages`, `prompts` and `numbers`, a problem anywhere in the
//!   section makes it unknown.
//! - A hook or CRM field that is written but was left out because its
//!   value is invalid (`kind: crmm`, `order_status: txt`) is known to
//!   exist: references to it are not reported.
//!
//! This module reads two things only. The config parser records where
//! every key it read is written (`Config::locations`), and the problems it
//! found are the F0502 and F0503 diagnostics in the config file.

use crate::config::Config;
use crate::diag::{Code, Diagnostic, FileId, Span, did_you_mean};
use crate::project::Project;
use std::collections::HashSet;

/// The top-level keys of `tok.yaml`, to tell which section a misspelt
/// key stands for.
const SECTIONS: [&str; 7] = [
    "numbers",
    "languages",
    "default_language",
    "prompts",
    "skills",
    "crm",
    "hooks",
];

/// The parts of the config that the checks may rely on.
#[derive(Debug, Default)]
pub struct Trust {
    /// Sections whose content is not known, by top-level key.
    unknown: HashSet<&'static str>,
}

impl Trust {
    /// Works out what can be relied on in the project's config.
    pub fn new(project: &Project) -> Self {
        let config = &project.config;
        let Some(file) = config.file else {
            return Trust::default();
        };
        let text = project.sources.get(file).map_or("", |f| f.text.as_str());
        let problems = config_problems(&project.diagnostics, file);
        if problems.is_empty() {
            return Trust::default();
        }
        let read_any = config.locations.keys().any(|path| !path.contains('.'));
        if !read_any {
            return Trust {
                unknown: SECTIONS.into_iter().collect(),
            };
        }
        let layout = Layout::new(config, text, &problems);
        let mut unknown = HashSet::new();
        for section in SECTIONS {
            let whole = matches!(section, "languages" | "prompts" | "numbers");
            if !layout.is_read(section, whole) {
                unknown.insert(section);
            }
        }
        if !layout.is_read("crm.fields", false) {
            unknown.insert("crm");
        }
        Trust { unknown }
    }

    /// True when `skills` was read, so an unknown skill is a mistake.
    pub fn skills(&self) -> bool {
        !self.unknown.contains("skills")
    }

    /// True when `languages` was read, so an unknown language is a mistake
    /// and prompts can be checked against each language.
    pub fn languages(&self) -> bool {
        !self.unknown.contains("languages")
    }

    /// True when `languages` and `prompts` were read, so missing prompts
    /// can be reported.
    pub fn prompts(&self) -> bool {
        self.languages() && !self.unknown.contains("prompts")
    }

    /// True when `numbers` was read completely, so a flow no number reaches
    /// is a mistake.
    pub fn numbers(&self) -> bool {
        !self.unknown.contains("numbers")
    }

    /// True when a reference to hook `name` that the config lacks is a
    /// mistake: `hooks` was read and `name` is not written there.
    pub fn missing_hook(&self, config: &Config, name: &str) -> bool {
        !self.unknown.contains("hooks") && !config.locations.contains_key(&format!("hooks.{name}"))
    }

    /// True when a reference to contact field `name` that the config
    /// lacks is a mistake: `crm.fields` was read and `name` is not written
    /// there.
    pub fn missing_field(&self, config: &Config, name: &str) -> bool {
        !self.unknown.contains("crm")
            && !config.locations.contains_key(&format!("crm.fields.{name}"))
    }
}

/// One problem the config parser reported in the config file.
#[derive(Clone, Copy, Debug)]
struct Problem {
    code: Code,
    span: Span,
}

fn config_problems(diagnostics: &[Diagnostic], file: FileId) -> Vec<Problem> {
    diagnostics
        .iter()
        .filter(|d| matches!(d.code, Code::ConfigInvalid | Code::ConfigUnknownKey))
        .filter_map(|d| {
            let label = d.primary_label()?;
            (label.file == file).then_some(Problem {
                code: d.code,
                span: label.span,
            })
        })
        .collect()
}

/// Positions of the keys and problems in a config file.
struct Layout<'c> {
    config: &'c Config,
    /// Starts of the top-level keys: those read, and those reported as
    /// unknown or repeated, sorted.
    top_starts: Vec<u32>,
    /// Starts of every key read, sorted.
    key_starts: Vec<u32>,
    /// Text of the unknown keys, unquoted, and whether each is at the top
    /// level.
    unknown_keys: Vec<(&'c str, bool)>,
    problems: Vec<Problem>,
}

impl<'c> Layout<'c> {
    fn new(config: &'c Config, text: &'c str, problems: &[Problem]) -> Self {
        // In block YAML only top-level keys start a line, perhaps after a
        // quote.
        let at_top = |span: Span| {
            line_prefix(text, span.start)
                .trim_matches(|c| c == '"' || c == '\'')
                .is_empty()
        };
        let mut top_starts: Vec<u32> = config
            .locations
            .iter()
            .filter(|(path, _)| !path.contains('.'))
            .map(|(_, span)| span.start)
            .chain(
                problems
                    .iter()
                    .filter(|p| at_top(p.span))
                    .map(|p| p.span.start),
            )
            .collect();
        top_starts.sort_unstable();
        let mut key_starts: Vec<u32> = config.locations.values().map(|s| s.start).collect();
        key_starts.sort_unstable();
        let unknown_keys = problems
            .iter()
            .filter(|p| p.code == Code::ConfigUnknownKey)
            .filter_map(|p| {
                let key = text.get(p.span.range())?;
                Some((key.trim_matches(|c| c == '"' || c == '\''), at_top(p.span)))
            })
            .collect();
        Layout {
            config,
            top_starts,
            key_starts,
            unknown_keys,
            problems: problems.to_vec(),
        }
    }

    /// True when the key at `path` was read without problems: in its value
    /// before its first nested key, or, when `whole`, anywhere in the
    /// section. A key that is not written is read (with its default)
    /// unless a misspelt top-level key may stand for it.
    fn is_read(&self, path: &str, whole: bool) -> bool {
        let Some(span) = self.config.locations.get(path) else {
            return !self
                .unknown_keys
                .iter()
                .any(|&(key, top)| match path.rsplit_once('.') {
                    None => top && did_you_mean(key, SECTIONS) == Some(path),
                    Some((_, last)) => !top && did_you_mean(key, [last]).is_some(),
                });
        };
        let start = span.start;
        let next = |starts: &[u32]| {
            starts
                .iter()
                .copied()
                .find(|&s| s > start)
                .unwrap_or(u32::MAX)
        };
        let end = if whole {
            next(&self.top_starts)
        } else {
            next(&self.key_starts).min(next(&self.top_starts))
        };
        !self
            .problems
            .iter()
            .any(|p| p.span.start >= start && p.span.start < end)
    }
}

/// Returns the text of the line before `offset`.
fn line_prefix(text: &str, offset: u32) -> &str {
    let offset = (offset as usize).min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    before.get(line_start..).unwrap_or("")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::project::PromptInventory;

    fn trust(config: &str) -> (Trust, Project) {
        let project = Project::new(Some(("tok.yaml", config)), PromptInventory::default());
        (Trust::new(&project), project)
    }

    #[test]
    fn clean_config_is_trusted() {
        let (trust, _) = trust("languages: [en, sl]\nskills: [routers]\n");
        assert!(trust.skills());
        assert!(trust.languages());
        assert!(trust.prompts());
        assert!(trust.numbers());
    }

    #[test]
    fn yaml_error_makes_the_config_unusable() {
        let (trust, project) = trust("numbers: {\n");
        assert!(!trust.skills());
        assert!(!trust.languages());
        assert!(!trust.numbers());
        assert!(!trust.missing_hook(&project.config, "orders"));
    }

    #[test]
    fn list_at_the_top_makes_the_config_unusable() {
        let (trust, project) = trust("- en\n- sl\n");
        assert!(!trust.skills());
        assert!(!trust.prompts());
        assert!(!trust.missing_field(&project.config, "tier"));
    }

    #[test]
    fn misspelt_section_is_unknown() {
        let (trust, _) = trust("languages: [en]\nskils:\n  routers: {}\n");
        assert!(!trust.skills());
        assert!(trust.languages());
    }

    #[test]
    fn quoted_misspelt_section_is_unknown() {
        let (trust, project) = trust("languages: [en]\n\"skils\": [routers]\n'hoks': {}\n");
        assert!(!trust.skills());
        assert!(!trust.missing_hook(&project.config, "orders"));
        assert!(trust.languages());
    }

    #[test]
    fn nested_misspelt_key_leaves_sections_known() {
        let (trust, _) = trust("prompts:\n  skils: x\nlanguages: [en]\n");
        assert!(trust.skills());
        assert!(!trust.prompts());
    }

    #[test]
    fn unrelated_unknown_key_leaves_sections_known() {
        let (trust, _) = trust("languages: [en]\nzzz: 1\n");
        assert!(trust.skills());
        assert!(trust.languages());
    }

    #[test]
    fn section_of_the_wrong_type_is_unknown() {
        let (trust, project) = trust("skills: 5\nhooks: [a]\nlanguages: [en]\n");
        assert!(!trust.skills());
        assert!(trust.languages());
        assert!(!trust.missing_hook(&project.config, "orders"));
    }

    #[test]
    fn bad_language_makes_languages_unknown() {
        let (trust, _) = trust("languages: [en, SLL]\nskills: [routers]\n");
        assert!(!trust.languages());
        assert!(!trust.prompts());
        assert!(trust.skills());
    }

    #[test]
    fn invalid_hook_is_known_to_exist() {
        let config = "hooks:\n  orders:\n    kind: crmm\n    url: \"http://x/{key}\"\n";
        let (trust, project) = trust(config);
        assert!(!project.config.hooks.contains_key("orders"));
        assert!(!trust.missing_hook(&project.config, "orders"));
        assert!(trust.missing_hook(&project.config, "other"));
    }

    #[test]
    fn invalid_field_is_known_to_exist() {
        let (trust, project) = trust("crm:\n  fields:\n    order_status: txt\n    tier: text\n");
        assert!(!project.config.crm_fields.contains_key("order_status"));
        assert!(!trust.missing_field(&project.config, "order_status"));
        assert!(trust.missing_field(&project.config, "other"));
    }

    #[test]
    fn misspelt_crm_fields_are_unknown() {
        let (trust, project) = trust("crm:\n  feilds:\n    tier: text\nskills: [a]\n");
        assert!(!trust.missing_field(&project.config, "tier"));
        assert!(trust.skills());
    }

    #[test]
    fn bad_prompt_key_makes_prompts_unknown() {
        let (trust, _) = trust("prompts:\n  dri: x\nlanguages: [en]\n");
        assert!(!trust.prompts());
        assert!(trust.languages());
    }

    #[test]
    fn bad_number_makes_numbers_unknown() {
        let (trust, _) = trust("numbers:\n  \"abc\": support\nlanguages: [en]\n");
        assert!(!trust.numbers());
        assert!(trust.languages());
    }

    #[test]
    fn every_section_name_is_a_config_key() {
        for section in SECTIONS {
            let (_, project) = trust(&format!("{section}:\n"));
            assert!(
                project
                    .diagnostics
                    .iter()
                    .all(|d| d.code != Code::ConfigUnknownKey),
                "{section}"
            );
        }
    }
}
