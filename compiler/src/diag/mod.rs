//! Diagnostics: Tok's own type for every problem the compiler reports.
//!
//! A [`Diagnostic`] carries a stable [`Code`], a one-line message that stands
//! on its own, labelled source spans and a help line that proposes the fix.
//! The same value renders to a terminal through miette, to JSON, to GitHub
//! workflow annotations and, later, to LSP diagnostics.

mod codes;
mod render;
mod source;

pub use codes::{Code, CodeInfo, all_codes};
pub use render::{Format, render_github, render_human, render_json, summary_line};
pub use source::{FileId, LineCol, SourceFile, SourceMap};

use serde::Serialize;

/// A byte range in one source file, end exclusive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Span {
    /// Byte offset of the first character.
    pub start: u32,
    /// Byte offset one past the last character.
    pub end: u32,
}

impl Span {
    /// Creates a span from byte offsets.
    pub fn new(start: usize, end: usize) -> Self {
        let start = u32::try_from(start).unwrap_or(u32::MAX);
        let end = u32::try_from(end).unwrap_or(u32::MAX).max(start);
        Span { start, end }
    }

    /// Returns the smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// Returns the span moved right by `offset` bytes.
    pub fn shifted(self, offset: usize) -> Span {
        Span::new(self.start as usize + offset, self.end as usize + offset)
    }

    /// Returns the byte range for slicing.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// The severity of a diagnostic. Errors stop a build. Warnings do not, unless
/// `--deny-warnings` is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The flow must not be deployed.
    Error,
    /// The flow works but probably not as intended.
    Warning,
}

/// A labelled place in a source file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Label {
    /// The file the span points into.
    pub file: FileId,
    /// The labelled source range.
    pub span: Span,
    /// Text shown next to the span; may be empty.
    pub message: String,
    /// True for the place the diagnostic is about, false for related places.
    pub primary: bool,
}

/// One problem found in the flows or in the deployment config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable code, documented by `flowc explain`.
    pub code: Code,
    /// Error or warning; fixed per code.
    pub severity: Severity,
    /// One line that is clear without the rest of the report.
    pub message: String,
    /// Source places; the first primary label gives the line and column.
    pub labels: Vec<Label>,
    /// A proposed fix, such as "did you mean `technical`?".
    pub help: Option<String>,
}

impl Diagnostic {
    /// Starts a diagnostic with the severity its code prescribes.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.info().severity,
            message: message.into(),
            labels: Vec::new(),
            help: None,
        }
    }

    /// Adds the primary label.
    pub fn primary(mut self, file: FileId, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            file,
            span,
            message: message.into(),
            primary: true,
        });
        self
    }

    /// Adds a secondary label pointing at a related place.
    pub fn secondary(mut self, file: FileId, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            file,
            span,
            message: message.into(),
            primary: false,
        });
        self
    }

    /// Sets the help line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Returns the primary label, or the first label when none is primary.
    pub fn primary_label(&self) -> Option<&Label> {
        self.labels
            .iter()
            .find(|l| l.primary)
            .or_else(|| self.labels.first())
    }

    /// True when this diagnostic is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Returns the candidate closest to `name`, if one is close enough to be a
/// plausible typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|(distance, c)| {
            let limit = (name.chars().count().max(c.chars().count()) / 3).max(1);
            *distance <= limit
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// Formats a help line for an unknown name: "did you mean `x`?" when a close
/// candidate exists, else a list of what exists.
pub fn unknown_name_help<'a>(
    kind: &str,
    name: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> String {
    if let Some(best) = did_you_mean(name, candidates.clone()) {
        return format!("did you mean `{best}`?");
    }
    let mut known: Vec<&str> = candidates.into_iter().collect();
    known.sort_unstable();
    known.dedup();
    match known.len() {
        0 => format!("no {kind} is declared; declare `{name}` first"),
        1..=8 => format!(
            "declare `{name}`, or use one of the known {kind}s: {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        n => format!("declare `{name}`, or use one of the {n} known {kind}s"),
    }
}
