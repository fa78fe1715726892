//! The canonical formatter: one layout for every flow, so that diffs show
//! changes of meaning, not of style.
//!
//! The layout puts declarations at column 0 with one blank line between
//! them, and indents blocks by two spaces. Each statement, option, arm and
//! schedule rule gets a line of its own, in the order written. `{` ends the
//! line that opens a block and `}` stands on a line of its own. Operators,
//! `=` and `=>` have single spaces around them, list items are separated by
//! `, `, and parentheses appear only where precedence needs them. Numbers,
//! durations and percentages stay as written, except skill levels and `max
//! callers`, which lose leading zeros. Texts are re-escaped (`\"`, `\\`,
//! `\n`, `\t`, `\{`). The only `;` printed ends a match arm
//! whose statement ends in an expression when the next arm is `starts
//! with`, which would otherwise continue that expression.
//!
//! Comments are kept. A comment on its own line stays above the node that
//! follows it. A comment after code on the same line stays at the end of
//! that line. A comment inside a line that the formatter rebuilds moves
//! above that line. Where the author left one or more blank lines between
//! two lines of a block, one is kept, but none at the start or end of a
//! block.
//!
//! A file with syntax errors is never formatted, and the output is parsed
//! again and compared with the input before it is returned, so formatting
//! cannot change what a flow does or drop a comment.

mod decls;
mod exprs;
mod lex;
mod options;
mod printer;
mod stmts;
mod verify;

use crate::diag::{Diagnostic, FileId};
use crate::syntax;
use printer::Printer;

pub use lex::{Comment, comments};
pub use verify::spanless_debug;

/// Formats a flow file whose diagnostics use `FileId(0)`; see
/// [`format_file`].
pub fn format(text: &str) -> Result<String, Vec<Diagnostic>> {
    format_file(text, FileId(0))
}

/// Returns the canonical text of a flow file, or diagnostics pointing into
/// `file`. Diagnostics are returned when the file has syntax errors, when
/// it writes an option twice (the tree keeps only the last), or when it
/// cannot be formatted without a change of meaning.
pub fn format_file(text: &str, file: FileId) -> Result<String, Vec<Diagnostic>> {
    let (tree, diagnostics) = syntax::parse(text, file);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    let mut printer = Printer::new(text, comments(text), file);
    for decl in &tree.decls {
        printer.begin_declaration();
        printer.decl(decl);
    }
    if !printer.errors.is_empty() {
        return Err(printer.errors);
    }
    let formatted = printer.finish();
    verify::verify(text, &tree, &formatted, file).map_err(|error| vec![error])?;
    Ok(formatted)
}

/// Returns whether `text` is already in canonical form, for `fmt --check`.
/// Returns the diagnostics when the file cannot be formatted.
pub fn is_formatted(text: &str) -> Result<bool, Vec<Diagnostic>> {
    format(text).map(|formatted| formatted == text)
}

#[cfg(test)]
mod tests;
