//! The diagnostics of the walk of one body: paths that fall off an end
//! (F0301) and code that no path reaches (F0302).

use std::collections::HashMap;

use super::body::Returns;
use super::escape::{Asker, Escape};
use super::spans::{closing, failure_kind_span, head_span, keyword, pattern_span};
use crate::diag::{Code, Diagnostic, FileId, Span};
use crate::syntax::ast::{Block, FailureArm, FailureKind, Ident, MatchArm, Stmt, StmtKind};

/// Builds the report of a path that reaches the end of `on call` or of a
/// step, at its closing brace.
pub(super) fn path_end(
    file: FileId,
    message: String,
    label: String,
    body: &Block,
    escapes: &[Escape],
) -> Diagnostic {
    let diagnostic =
        Diagnostic::new(Code::PathWithoutEnd, message).primary(file, closing(body), label);
    with_escapes(diagnostic, file, escapes).help(end_help(false))
}

/// Builds the report of a path that reaches the end of an `enqueue`'s
/// `else` arm.
pub(super) fn overflow_end(
    file: FileId,
    queue: &Ident,
    overflow: &Block,
    escapes: &[Escape],
    in_subflow: bool,
) -> Diagnostic {
    let message = format!(
        "the `else` arm of `enqueue {}` can finish without ending the call",
        queue.name
    );
    let label = if overflow.braced {
        "an overflowing call reaches the end of the arm here"
    } else {
        "an overflowing call continues after this"
    };
    let diagnostic =
        Diagnostic::new(Code::PathWithoutEnd, message).primary(file, closing(overflow), label);
    with_escapes(diagnostic, file, escapes).help(end_help(in_subflow))
}

fn with_escapes(mut diagnostic: Diagnostic, file: FileId, escapes: &[Escape]) -> Diagnostic {
    for escape in escapes {
        diagnostic = diagnostic.secondary(file, escape.span(), escape.label());
    }
    diagnostic
}

/// Builds the report of the first statement of a run that no path reaches,
/// with the statement before it that no path continues after.
pub(super) fn unreachable(
    file: FileId,
    stmt: &Stmt,
    previous: &Stmt,
    subflows: &HashMap<&str, Returns>,
) -> Diagnostic {
    let (what, why) = why_no_path_continues(previous, subflows);
    Diagnostic::new(
        Code::UnreachableCode,
        format!("unreachable `{}` after {what}", keyword(&stmt.kind)),
    )
    .primary(file, head_span(stmt), "this never runs")
    .secondary(file, head_span(previous), why)
    .help(
        "remove the statements that never run, or move them before the statement that ends \
         the path",
    )
}

/// Builds the report of a `match` arm written after the `else` arm.
pub(super) fn arm_after_else(file: FileId, arm: &MatchArm, catch_all: Span) -> Diagnostic {
    Diagnostic::new(
        Code::UnreachableCode,
        "unreachable `match` arm after the `else` arm",
    )
    .primary(file, pattern_span(arm), "this arm never runs")
    .secondary(file, catch_all, "`else` matches every value")
    .help("move this arm above the `else` arm, or remove it")
}

/// Builds the report of an `exhausted` arm that no attempt reaches because
/// the `invalid` and `no input` arms always leave.
pub(super) fn unreachable_exhausted(
    file: FileId,
    arm: &FailureArm,
    failures: &[FailureArm],
    asker: Asker,
) -> Diagnostic {
    let mut diagnostic = Diagnostic::new(
        Code::UnreachableCode,
        format!(
            "unreachable `exhausted` arm: every failed attempt leaves this `{}` through its \
             `invalid` or `no input` arm",
            asker.as_str()
        ),
    )
    .primary(file, failure_kind_span(arm), "this arm never runs");
    for kind in [FailureKind::Invalid, FailureKind::NoInput] {
        if let Some(leaving) = failures.iter().find(|arm| arm.kind == kind) {
            diagnostic = diagnostic.secondary(
                file,
                failure_kind_span(leaving),
                format!("this arm never lets the `{}` ask again", asker.as_str()),
            );
        }
    }
    diagnostic.help(
        "remove the `exhausted` arm, or let the `invalid` or `no input` arm finish so that the \
         caller is asked again",
    )
}

/// Returns the help line of F0301; a sub-flow may also `return`.
fn end_help(in_subflow: bool) -> &'static str {
    if in_subflow {
        "end this path with `hangup`, `transfer`, `enqueue`, `voicemail` or `return`"
    } else {
        "end this path with `hangup`, `transfer`, `enqueue`, `voicemail` or `goto`"
    }
}

/// Describes a statement that no path continues after: the words for the
/// message ("`hangup`") and the label on it.
fn why_no_path_continues(stmt: &Stmt, subflows: &HashMap<&str, Returns>) -> (String, String) {
    let word = keyword(&stmt.kind);
    match &stmt.kind {
        StmtKind::Goto(step) => (
            format!("`goto {}`", step.name),
            format!(
                "`goto` continues in step `{}` and does not come back",
                step.name
            ),
        ),
        StmtKind::Run(subflow) => {
            let why = match subflows.get(subflow.name.as_str()) {
                Some(Returns::Never) => format!(
                    "every path through sub-flow `{}` ends the call, so `run` does not come back",
                    subflow.name
                ),
                _ => format!("`run {}` does not come back", subflow.name),
            };
            (format!("`run {}`", subflow.name), why)
        }
        StmtKind::Return => (
            String::from("`return`"),
            String::from("`return` leaves the sub-flow here"),
        ),
        StmtKind::If { .. } => (
            String::from("an `if` whose every branch ends the call or goes elsewhere"),
            String::from("every branch of this `if` ends the call or goes elsewhere"),
        ),
        StmtKind::Match(..) | StmtKind::Menu(_) | StmtKind::Collect(_) | StmtKind::Lookup(_) => (
            format!("a `{word}` whose every arm ends the call or goes elsewhere"),
            format!("every arm of this `{word}` ends the call or goes elsewhere"),
        ),
        _ => (format!("`{word}`"), String::from("the call ends here")),
    }
}
