//! The generated flow of the `check` benchmark is valid, so the benchmark
//! measures a clean check and not error reporting.

#[path = "../benches/large_flow.rs"]
mod large_flow;

use flowc::project::{Project, PromptInventory};

#[test]
fn generated_flow_has_no_diagnostics() {
    let text = large_flow::generate(5_000);
    assert!(text.lines().count() >= 5_000);
    let mut prompts = PromptInventory {
        listed: true,
        ..PromptInventory::default()
    };
    for language in ["en", "sl"] {
        for name in large_flow::PROMPTS {
            prompts
                .files
                .insert((language.to_string(), name.to_string()));
        }
    }
    let mut project = Project::new(Some(("tok.yaml", large_flow::CONFIG)), prompts);
    project.add_flow("large.flow", &text);
    let mut diagnostics = project.diagnostics.clone();
    diagnostics.extend(flowc::check::check(&project));
    let rendered: Vec<String> = diagnostics
        .iter()
        .map(|d| flowc::diag::render_human(d, &project.sources, false))
        .collect();
    assert!(rendered.is_empty(), "{}", rendered.join("\n"));
}
