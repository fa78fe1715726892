//! The branches that let a path go on past a statement, kept along the walk
//! so that a path that does not end the call (F0301) can point at them.

use crate::diag::Span;

/// At most this many branches are kept per point, so a long `match` whose
/// arms all continue gives a readable report and the walk stays linear.
const MAX_ESCAPES: usize = 3;

/// A statement that prompts the caller for input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Asker {
    /// `menu`.
    Menu,
    /// `collect`.
    Collect,
}

impl Asker {
    /// Returns the statement's keyword.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Asker::Menu => "menu",
            Asker::Collect => "collect",
        }
    }
}

/// A branch that lets a path go on past the statement it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Escape {
    /// An `if` with no `else`, at its keyword.
    IfWithoutElse(Span),
    /// A branch of an `if` that does not end the call, at its closing brace.
    Branch(Span),
    /// A `match` with no `else` arm, at its keyword.
    MatchWithoutElse(Span),
    /// A `match` arm that does not end the call, at its pattern.
    MatchArm(Span),
    /// A menu key arm that does not end the call, at its key.
    KeyArm(Span, char),
    /// An `exhausted` arm that does not end the call, at its keyword.
    ExhaustedArm(Span, Asker),
    /// A menu or collect with no `exhausted` arm, at its keyword.
    NoExhausted(Span, Asker),
}

impl Escape {
    /// Returns the place to label.
    pub(super) fn span(self) -> Span {
        match self {
            Escape::IfWithoutElse(span)
            | Escape::Branch(span)
            | Escape::MatchWithoutElse(span)
            | Escape::MatchArm(span)
            | Escape::KeyArm(span, _)
            | Escape::ExhaustedArm(span, _)
            | Escape::NoExhausted(span, _) => span,
        }
    }

    /// Returns the label text.
    pub(super) fn label(self) -> String {
        match self {
            Escape::IfWithoutElse(_) => {
                String::from("this `if` has no `else`, so the call can go on past it")
            }
            Escape::Branch(_) => String::from("this branch does not end the call"),
            Escape::MatchWithoutElse(_) => {
                String::from("when no arm matches, the call goes on past this `match`")
            }
            Escape::MatchArm(_) => String::from("this arm does not end the call"),
            Escape::KeyArm(_, key) => {
                format!("after key `{key}`, the call goes on past the `menu`")
            }
            Escape::ExhaustedArm(_, asker) => format!(
                "after `exhausted`, the call goes on past the `{}`",
                asker.as_str()
            ),
            Escape::NoExhausted(_, asker) => format!(
                "when every attempt fails, the call goes on past this `{}`, which has no \
                 `exhausted` arm",
                asker.as_str()
            ),
        }
    }
}

/// Adds an escape to a list unless it is already there or the list is full;
/// the list stays sorted by position.
pub(super) fn push_escape(escapes: &mut Vec<Escape>, escape: Escape) {
    if escapes.contains(&escape) {
        return;
    }
    let at = escapes.partition_point(|e| e.span().start <= escape.span().start);
    escapes.insert(at, escape);
    escapes.truncate(MAX_ESCAPES);
}
