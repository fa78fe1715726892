//! Static checks: names, types, the shape of every call path, schedules and
//! prompts. Every check collects its problems and goes on, so one run
//! reports everything.

mod builtins;
mod decls;
mod exprs;
mod flowgraph;
mod names;
mod numbers;
mod options;
mod prompts;
mod schedule;
mod scope;
mod stmts;
mod trust;
mod types;

use crate::diag::{Code, Diagnostic};
use crate::project::Project;

/// Checks a whole project and returns every problem found, errors and
/// warnings, sorted by file and position.
pub fn check(project: &Project) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    names::check(project, &mut diagnostics);
    let broken = decls::files_with_syntax_errors(project);
    flowgraph::check(project, &broken, &mut diagnostics);
    schedule::check(project, &mut diagnostics);
    drop_follow_on_errors(project, &mut diagnostics);
    diagnostics.sort_by_key(|d| d.primary_label().map(|l| (l.file, l.span.start)));
    diagnostics
}

/// Removes diagnostics about a literal that was already reported as invalid
/// while parsing: the checker sees a stand-in value there (`0`, `0s`), and a
/// second report about the stand-in would only mislead.
fn drop_follow_on_errors(project: &Project, diagnostics: &mut Vec<Diagnostic>) {
    let invalid: Vec<_> = project
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::InvalidLiteral)
        .filter_map(|d| d.primary_label().map(|l| (l.file, l.span)))
        .collect();
    if invalid.is_empty() {
        return;
    }
    diagnostics.retain(|d| {
        let Some(label) = d.primary_label() else {
            return true;
        };
        !invalid.iter().any(|(file, span)| {
            *file == label.file
                && span.start < label.span.end.max(label.span.start + 1)
                && label.span.start < span.end
        })
    });
}
