//! Helpers shared by the integration tests: build a project from inline
//! sources and render its diagnostics the way `flowc check` prints them.

#![allow(dead_code)]

use flowc::diag::{Diagnostic, render_human};
use flowc::project::{Project, PromptInventory};

/// Prompt names that exist in every language of the test config.
pub const TEST_PROMPTS: [&str; 16] = [
    "welcome",
    "closed",
    "holiday",
    "choose-language",
    "choose-department",
    "invalid-choice",
    "no-input",
    "enter-order",
    "order-invalid",
    "hold-music",
    "survey-intro",
    "goodbye",
    "queue-next",
    "ahead-intro-other",
    "callers-ahead-other",
    "wait-intro",
    "wait-less-than-minute",
    "minute-other",
    "callback-offer",
    "callback-confirm-intro",
    "callback-confirm-keys",
    "callback-enter",
    "callback-thanks",
];

/// A small valid config used by most tests.
pub const TEST_CONFIG: &str = r#"numbers:
  "+38615550100": support
languages: [en, sl]
skills:
  routers: { max_level: 3 }
  billing: {}
hooks:
  orders:
    kind: webhook
    url: "http://127.0.0.1:9/orders"
  salesforce:
    kind: crm
    url: "http://127.0.0.1:9/contacts/{key}"
crm:
  fields:
    tier: text
    contract_end: date
"#;

/// Builds a project from flow sources with [`TEST_CONFIG`] and every prompt
/// of [`TEST_PROMPTS`] present in `en` and `sl`.
pub fn project(flows: &[(&str, &str)]) -> Project {
    project_with_config(flows, Some(TEST_CONFIG))
}

/// Builds a project from flow sources and an optional config text.
pub fn project_with_config(flows: &[(&str, &str)], config: Option<&str>) -> Project {
    let mut prompts = PromptInventory {
        listed: true,
        ..PromptInventory::default()
    };
    for language in ["en", "sl"] {
        for name in TEST_PROMPTS {
            prompts
                .files
                .insert((language.to_string(), name.to_string()));
        }
    }
    let mut project = Project::new(config.map(|text| ("tok.yaml", text)), prompts);
    for (name, text) in flows {
        project.add_flow(name, text);
    }
    project
}

/// Loads and checks a project and returns every diagnostic.
pub fn diagnostics(flows: &[(&str, &str)]) -> Vec<Diagnostic> {
    let project = project(flows);
    let mut all = project.diagnostics.clone();
    all.extend(flowc::check::check(&project));
    all
}

/// Renders every diagnostic of a project as `flowc check` prints them,
/// without colour, preceded by the sources, for snapshots.
pub fn report(flows: &[(&str, &str)]) -> String {
    report_project(&project(flows))
}

/// Like [`report`] for a project built by the caller.
pub fn report_project(project: &Project) -> String {
    let mut all = project.diagnostics.clone();
    all.extend(flowc::check::check(project));
    let mut out = String::new();
    for (_, file) in project.sources.iter() {
        out.push_str(&format!("--- {}\n{}\n", file.name, file.text));
    }
    out.push_str("=== diagnostics\n");
    for diagnostic in &all {
        out.push_str(&render_human(diagnostic, &project.sources, false));
        out.push('\n');
    }
    out
}

/// Returns the codes of the diagnostics, in order, for quick assertions.
pub fn codes(flows: &[(&str, &str)]) -> Vec<String> {
    diagnostics(flows)
        .iter()
        .map(|d| d.code.to_string())
        .collect()
}
