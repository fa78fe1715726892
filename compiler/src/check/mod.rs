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
mod types;

use crate::diag::Diagnostic;
use crate::project::Project;

/// Checks a whole project and returns every problem found, errors and
/// warnings, sorted by file and position.
pub fn check(project: &Project) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    names::check(project, &mut diagnostics);
    flowgraph::check(project, &mut diagnostics);
    schedule::check(project, &mut diagnostics);
    diagnostics.sort_by_key(|d| d.primary_label().map(|l| (l.file, l.span.start)));
    diagnostics
}
