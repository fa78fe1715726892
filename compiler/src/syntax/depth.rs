//! Limits on nesting, checked before a declaration is parsed.
//!
//! The parser, the checker, the code generator and the formatter walk the
//! tree recursively, so a tree as deep as the text allows would overflow
//! the stack on hostile input. Real flows nest a few levels; the limits are
//! far above that and far below what a 2 MiB thread stack holds.

use crate::diag::{Code, Diagnostic, FileId, Span};

/// Deepest allowed nesting of `{`, `(` and `"{...}"` interpolation.
pub const MAX_NESTING: usize = 64;

/// Maximum number of operators in one expression, which also bounds the
/// depth of its tree.
pub const MAX_OPERATORS: usize = 256;

/// The context the scanner is in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    /// Code opened by `{` or `(`, or an interpolation.
    Code,
    /// A quoted text.
    Text,
}

/// Returns an error when the piece nests deeper than [`MAX_NESTING`],
/// pointing at the bracket that goes too deep.
pub fn check_nesting(piece: &str, offset: usize, file: FileId) -> Option<Diagnostic> {
    let mut stack: Vec<Context> = Vec::new();
    let mut chars = piece.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let inside_text = stack.last() == Some(&Context::Text);
        match c {
            '\\' if inside_text => {
                chars.next();
            }
            '"' if inside_text => {
                stack.pop();
            }
            '\n' if inside_text => {
                stack.pop();
            }
            '{' | '(' => stack.push(Context::Code),
            '"' => stack.push(Context::Text),
            '}' | ')' if !inside_text => {
                stack.pop();
            }
            '/' if !inside_text && chars.peek().is_some_and(|(_, n)| *n == '/') => {
                while chars.next_if(|(_, n)| *n != '\n').is_some() {}
            }
            _ => {}
        }
        if stack.len() > MAX_NESTING {
            return Some(too_deep(offset + at, c.len_utf8(), file));
        }
    }
    None
}

fn too_deep(at: usize, len: usize, file: FileId) -> Diagnostic {
    Diagnostic::new(
        Code::TooDeep,
        format!("blocks, brackets and texts nest more than {MAX_NESTING} levels deep here"),
    )
    .primary(
        file,
        Span::new(at, at + len),
        format!("level {}", MAX_NESTING + 1),
    )
    .help("move the inner part into a `step` or `subflow`, or into a variable with `let`")
}

/// Returns the error for an expression with more than [`MAX_OPERATORS`]
/// operators.
pub fn too_many_operators(span: Span, count: usize, file: FileId) -> Diagnostic {
    Diagnostic::new(
        Code::TooDeep,
        format!("expression has {count} operators; at most {MAX_OPERATORS} are allowed"),
    )
    .primary(file, span, "too long")
    .help("split it into several `let` variables")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_within_limit_passes() {
        let text = format!(
            "on call {{\n{}hangup{}\n}}\n",
            "(".repeat(10),
            ")".repeat(10)
        );
        assert!(check_nesting(&text, 0, FileId(0)).is_none());
    }

    #[test]
    fn deep_blocks_are_reported() {
        let text = "if a {\n".repeat(MAX_NESTING + 5);
        let diagnostic = check_nesting(&text, 0, FileId(0));
        assert!(diagnostic.is_some_and(|d| d.code == Code::TooDeep));
    }

    #[test]
    fn interpolation_counts_as_nesting() {
        let text = "\"{".repeat(MAX_NESTING);
        assert!(check_nesting(&text, 0, FileId(0)).is_some());
    }

    #[test]
    fn braces_in_text_and_comments_do_not_count() {
        let text = format!("tag \"\\{{{}\" // {}\n", "}".repeat(100), "{".repeat(100));
        assert!(check_nesting(&text, 0, FileId(0)).is_none());
    }
}
