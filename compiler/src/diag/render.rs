//! Rendering diagnostics for people (miette), for tools (JSON) and for
//! GitHub workflow annotations.

use super::{Diagnostic, Label, Severity, SourceMap};
use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use serde::Serialize;

/// Output format of `flowc check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// miette reports for a terminal.
    #[default]
    Human,
    /// One JSON object per diagnostic, one per line.
    Json,
    /// GitHub workflow annotation commands.
    Github,
}

/// A named source text whose reported columns count characters, as
/// `--format json` and `--format github` do; miette alone counts bytes, so
/// a line with `č` before the label would show another column.
struct CharColumns<'a> {
    name: &'a str,
    text: &'a str,
}

impl SourceCode for CharColumns<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let contents = self
            .text
            .read_span(span, context_lines_before, context_lines_after)?;
        let start = contents.span().offset();
        let line_start = self
            .text
            .get(..start)
            .and_then(|t| t.rfind('\n'))
            .map_or(0, |i| i + 1);
        let column = self
            .text
            .get(line_start..start)
            .map_or(contents.column(), |t| t.chars().count());
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.to_string(),
            contents.data(),
            *contents.span(),
            contents.line(),
            column,
            contents.line_count(),
        )))
    }
}

/// Adapter that lets miette render a Tok diagnostic with its source.
struct Report<'a> {
    diagnostic: &'a Diagnostic,
    source: Option<CharColumns<'a>>,
    labels: Vec<LabeledSpan>,
    help: Option<String>,
}

impl std::fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        Some(Box::new(self.diagnostic.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn std::fmt::Display + 'b>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().cloned()))
    }
}

fn labeled_span(label: &Label) -> LabeledSpan {
    let text = (!label.message.is_empty()).then(|| label.message.clone());
    let len = (label.span.end - label.span.start) as usize;
    if label.primary {
        LabeledSpan::new_primary_with_span(text, (label.span.start as usize, len))
    } else {
        LabeledSpan::new_with_span(text, (label.span.start as usize, len))
    }
}

fn location(sources: &SourceMap, label: &Label) -> String {
    match sources.get(label.file) {
        Some(file) => {
            let at = file.line_col(label.span.start);
            format!("{}:{}:{}", file.name, at.line, at.column)
        }
        None => String::from("<unknown file>"),
    }
}

/// Longest source line shown as an excerpt. miette cannot lay out columns
/// past 65,535, and a very long line is unreadable as an excerpt anyway, so
/// labels on longer lines are listed by position instead.
const MAX_EXCERPT_LINE: usize = 2_000;

/// True when every character of the labelled lines fits an excerpt.
fn fits_excerpt(sources: &SourceMap, label: &Label) -> bool {
    let Some(file) = sources.get(label.file) else {
        return false;
    };
    let text = file.text.as_str();
    let start = (label.span.start as usize).min(text.len());
    let end = (label.span.end as usize).min(text.len());
    let line_start = text
        .get(..start)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1);
    let line_end = text
        .get(end..)
        .and_then(|t| t.find('\n'))
        .map_or(text.len(), |i| end + i);
    text.get(line_start..line_end)
        .is_some_and(|lines| lines.lines().all(|line| line.len() <= MAX_EXCERPT_LINE))
}

/// Renders one diagnostic as a miette report without colours, so output is
/// stable for snapshots and logs; `color` turns on ANSI styling.
pub fn render_human(diagnostic: &Diagnostic, sources: &SourceMap, color: bool) -> String {
    let primary = diagnostic.primary_label();
    let file = primary.and_then(|l| sources.get(l.file));
    let mut labels = Vec::new();
    let mut elsewhere = Vec::new();
    for label in &diagnostic.labels {
        if !fits_excerpt(sources, label) {
            let text = if label.message.is_empty() {
                "here"
            } else {
                label.message.as_str()
            };
            elsewhere.push(format!("{text} at {}", location(sources, label)));
        } else if Some(label.file) == primary.map(|p| p.file) {
            labels.push(labeled_span(label));
        } else {
            elsewhere.push(format!("{} at {}", label.message, location(sources, label)));
        }
    }
    let mut help = diagnostic.help.clone();
    if !elsewhere.is_empty() {
        let note = elsewhere.join("; ");
        help = Some(match help {
            Some(h) => format!("{h}\n{note}"),
            None => note,
        });
    }
    let source = if labels.is_empty() { None } else { file };
    let report = Report {
        diagnostic,
        source: source.map(|f| CharColumns {
            name: &f.name,
            text: &f.text,
        }),
        labels,
        help,
    };
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    if handler.render_report(&mut out, &report).is_err() {
        out = format!(
            "{}[{}]: {}\n",
            severity_word(diagnostic.severity),
            diagnostic.code,
            diagnostic.message
        );
    }
    out
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// A diagnostic as `--format json` prints it.
#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    code: &'a str,
    severity: Severity,
    file: Option<&'a str>,
    line: Option<u32>,
    column: Option<u32>,
    end_line: Option<u32>,
    end_column: Option<u32>,
    message: &'a str,
    help: Option<&'a str>,
}

/// Renders one diagnostic as a single line of JSON.
pub fn render_json(diagnostic: &Diagnostic, sources: &SourceMap) -> String {
    let primary = diagnostic.primary_label();
    let file = primary.and_then(|l| sources.get(l.file));
    let start = primary.zip(file).map(|(l, f)| f.line_col(l.span.start));
    let end = primary.zip(file).map(|(l, f)| f.line_col(l.span.end));
    let json = JsonDiagnostic {
        code: diagnostic.code.info().id,
        severity: diagnostic.severity,
        file: file.map(|f| f.name.as_str()),
        line: start.map(|p| p.line),
        column: start.map(|p| p.column),
        end_line: end.map(|p| p.line),
        end_column: end.map(|p| p.column),
        message: &diagnostic.message,
        help: diagnostic.help.as_deref(),
    };
    serde_json::to_string(&json).unwrap_or_default()
}

/// Escapes a value for a workflow command's message part.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a value for a workflow command's property part.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Renders one diagnostic as a GitHub workflow annotation line.
pub fn render_github(diagnostic: &Diagnostic, sources: &SourceMap) -> String {
    let command = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut properties = vec![format!(
        "title={}",
        escape_property(&diagnostic.code.to_string())
    )];
    if let Some(label) = diagnostic.primary_label()
        && let Some(file) = sources.get(label.file)
    {
        let start = file.line_col(label.span.start);
        let end = file.line_col(label.span.end);
        properties.push(format!("file={}", escape_property(&file.name)));
        properties.push(format!("line={}", start.line));
        properties.push(format!("endLine={}", end.line));
        properties.push(format!("col={}", start.column));
        if start.line == end.line {
            properties.push(format!("endColumn={}", end.column));
        }
    }
    let mut message = diagnostic.message.clone();
    if let Some(help) = &diagnostic.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    format!(
        "::{command} {}::{}",
        properties.join(","),
        escape_data(&message)
    )
}

/// Returns the one-line summary printed after a check, such as
/// `checked 3 files: no problems` or `checked 3 files: 2 errors, 1 warning`.
pub fn summary_line(files: usize, errors: usize, warnings: usize) -> String {
    let files_word = if files == 1 { "file" } else { "files" };
    if errors == 0 && warnings == 0 {
        return format!("checked {files} {files_word}: no problems");
    }
    let mut parts = Vec::new();
    if errors > 0 {
        parts.push(format!(
            "{errors} error{}",
            if errors == 1 { "" } else { "s" }
        ));
    }
    if warnings > 0 {
        parts.push(format!(
            "{warnings} warning{}",
            if warnings == 1 { "" } else { "s" }
        ));
    }
    format!("checked {files} {files_word}: {}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{Code, Span};

    #[test]
    fn human_and_json_columns_agree() {
        let mut sources = SourceMap::new();
        let text = "on call {\n  tag \"čćž\", 5\n}\n";
        let file = sources.add("s.flow", text);
        let at = text.find('5').unwrap_or_default();
        let diagnostic =
            Diagnostic::new(Code::TypeMismatch, "m").primary(file, Span::new(at, at + 1), "here");
        let human = render_human(&diagnostic, &sources, false);
        assert!(human.contains("[s.flow:2:14]"), "{human}");
        let json = render_json(&diagnostic, &sources);
        assert!(json.contains("\"column\":14"), "{json}");
    }
}
