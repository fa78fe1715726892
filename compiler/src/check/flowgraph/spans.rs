//! The places that the call-shape diagnostics point at.

use crate::diag::Span;
use crate::syntax::ast::{Block, FailureArm, MatchArm, Pattern, Stmt, StmtKind};

/// Returns the words a statement starts with.
pub(super) fn keyword(kind: &StmtKind) -> &'static str {
    kind.keyword()
}

/// Returns the span of the keyword a statement starts with.
pub(super) fn keyword_span(stmt: &Stmt) -> Span {
    let start = stmt.span.start as usize;
    let end = (start + keyword(&stmt.kind).len()).min(stmt.span.end as usize);
    Span::new(start, end)
}

/// Returns the span to label a whole statement with: its keyword when it
/// has arms or blocks over several lines, else all of it.
pub(super) fn head_span(stmt: &Stmt) -> Span {
    match &stmt.kind {
        StmtKind::If { .. }
        | StmtKind::Match(..)
        | StmtKind::Menu(_)
        | StmtKind::Collect(_)
        | StmtKind::Lookup(_)
        | StmtKind::Enqueue(_, Some(_)) => keyword_span(stmt),
        _ => stmt.span,
    }
}

/// Returns the closing brace of a block, or the whole statement of an arm
/// written without braces.
pub(super) fn closing(block: &Block) -> Span {
    if block.braced && block.span.end > block.span.start {
        Span {
            start: block.span.end - 1,
            end: block.span.end,
        }
    } else {
        block.span
    }
}

/// Returns the span of a match arm's pattern.
pub(super) fn pattern_span(arm: &MatchArm) -> Span {
    match &arm.pattern {
        Pattern::Else(span) => *span,
        Pattern::StartsWith(prefix) => Span {
            start: arm.span.start,
            end: prefix.span.end,
        },
        Pattern::Exact(values) => match (values.first(), values.last()) {
            (Some(first), Some(last)) => first.span.to(last.span),
            _ => arm.span,
        },
    }
}

/// Returns the span of the words that open a failure arm (`no input`).
pub(super) fn failure_kind_span(arm: &FailureArm) -> Span {
    let start = arm.span.start as usize;
    let len = arm.kind.as_str().len();
    // `no input` may be written with more space between its words; the span
    // then ends early, which still points at the arm.
    Span::new(start, (start + len).min(arm.span.end as usize))
}
