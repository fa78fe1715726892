//! Parsing: source text to [`ast::File`], with syntax errors collected.
//!
//! The grammar lives in `grammar/flow.pest`. The file is first cut into
//! top-level declarations ([`split`]); each piece is parsed on its own, so a
//! syntax error in one declaration still lets the others be parsed, checked
//! and reported.

pub mod ast;
mod build;
mod depth;
mod errors;
mod split;

use crate::diag::{Diagnostic, FileId};
pub use split::split_declarations;

/// The pest parser generated from `grammar/flow.pest`; `Rule` names its
/// rules.
#[allow(missing_docs)]
mod grammar {
    #[derive(pest_derive::Parser)]
    #[grammar = "../../grammar/flow.pest"]
    pub struct FlowParser;
}

pub use grammar::{FlowParser, Rule};

/// True for the rules that match a keyword token; the tree builder skips
/// them.
fn is_keyword_rule(rule: Rule) -> bool {
    // pest numbers rules in grammar order, and the keyword rules are written
    // together from `kw_after` to `kw_wrapup`, sorted by name.
    (Rule::kw_after as usize..=Rule::kw_wrapup as usize).contains(&(rule as usize))
}

/// Parses one file. Declarations with syntax errors are left out of the
/// returned tree and reported in the diagnostics.
pub fn parse(text: &str, file: FileId) -> (ast::File, Vec<Diagnostic>) {
    let mut tree = ast::File::default();
    let mut diagnostics = Vec::new();
    for range in split_declarations(text) {
        let Some(piece) = text.get(range.clone()) else {
            continue;
        };
        if is_blank(piece) {
            continue;
        }
        if let Some(too_deep) = depth::check_nesting(piece, range.start, file) {
            diagnostics.push(too_deep);
            continue;
        }
        let mut builder = build::Builder::new(file, range.start);
        match builder.declaration(piece) {
            Ok(decl) => tree.decls.push(decl),
            Err(_) if builder.aborted => {}
            Err(error) => diagnostics.push(errors::syntax_error(&error, piece, range.start, file)),
        }
        diagnostics.append(&mut builder.diagnostics);
    }
    (tree, diagnostics)
}

/// True when the text holds only white space and comments.
fn is_blank(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        line.is_empty() || line.starts_with("//")
    })
}

#[cfg(test)]
mod tests;
