//! The check that formatting kept the file's meaning and comments.
//!
//! The formatter prints from the syntax tree, so a bug in it could change
//! what a flow does. Before any text is returned, the output is parsed
//! again. Its tree must equal the original's except for spans, and its
//! comments must equal the original's, or the file is left as it is.

use super::lex::comments;
use crate::diag::{Code, Diagnostic, FileId, Span};
use crate::syntax::{self, ast};

/// Returns the `Debug` text of a syntax tree with every span replaced by
/// `Span`, so that two trees compare equal when only their layout differs.
pub fn spanless_debug(file: &ast::File) -> String {
    strip_spans(&format!("{file:?}"))
}

/// Replaces each `Span { start: N, end: M }` in a `Debug` text by `Span`.
fn strip_spans(debug: &str) -> String {
    const OPEN: &str = "Span { start: ";
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(at) = rest.find(OPEN) {
        let (before, from_span) = rest.split_at(at);
        out.push_str(before);
        out.push_str("Span");
        rest = match from_span.find(" }") {
            Some(close) => from_span.get(close + 2..).unwrap_or(""),
            None => "",
        };
    }
    out.push_str(rest);
    out
}

/// Checks that `formatted` parses to the same tree as `original` and
/// contains the same comments in the same order.
pub(super) fn verify(
    original: &str,
    tree: &ast::File,
    formatted: &str,
    file: FileId,
) -> Result<(), Diagnostic> {
    let (new_tree, diagnostics) = syntax::parse(formatted, file);
    if diagnostics.iter().any(Diagnostic::is_error) || new_tree.decls.len() != tree.decls.len() {
        return Err(changed(file, tree.decls.first().map(ast::Decl::span)));
    }
    let differing = tree
        .decls
        .iter()
        .zip(&new_tree.decls)
        .find(|(old, new)| spanless_decl(old) != spanless_decl(new));
    if let Some((old, _)) = differing {
        return Err(changed(file, Some(old.span())));
    }
    let old_comments = comments(original);
    let new_comments = comments(formatted);
    let lost = old_comments
        .iter()
        .enumerate()
        .find(|(index, old)| new_comments.get(*index).map(|new| &new.text) != Some(&old.text));
    if let Some((_, comment)) = lost {
        let span = Span::new(comment.start, comment.start + comment.text.len());
        return Err(changed(file, Some(span)));
    }
    if new_comments.len() != old_comments.len() {
        return Err(changed(file, None));
    }
    Ok(())
}

fn spanless_decl(decl: &ast::Decl) -> String {
    strip_spans(&format!("{decl:?}"))
}

fn changed(file: FileId, span: Option<Span>) -> Diagnostic {
    let diagnostic = Diagnostic::new(
        Code::SyntaxError,
        "the formatter could not keep this file's meaning or comments, so it left the file as it is",
    )
    .help("this is a bug in `flowc fmt`; report it with the file attached");
    match span {
        Some(span) => diagnostic.primary(file, span, "formatting changed this part"),
        None => diagnostic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_stripped() {
        let debug = "Ident { name: \"a\", span: Span { start: 1, end: 2 } }, Else(Span { start: 3, end: 4 })";
        assert_eq!(
            strip_spans(debug),
            "Ident { name: \"a\", span: Span }, Else(Span)"
        );
    }

    #[test]
    fn layout_does_not_change_the_fingerprint() {
        let (a, _) = syntax::parse("on call {\n  hangup\n}\n", FileId(0));
        let (b, _) = syntax::parse("\n\non   call{hangup}", FileId(0));
        assert_eq!(spanless_debug(&a), spanless_debug(&b));
    }

    #[test]
    fn lost_comment_is_reported() {
        let text = "on call {\n  hangup // bye\n}\n";
        let (tree, _) = syntax::parse(text, FileId(0));
        let result = verify(text, &tree, "on call {\n  hangup\n}\n", FileId(0));
        assert!(result.is_err());
    }

    #[test]
    fn changed_tree_is_reported() {
        let text = "on call {\n  hangup\n}\n";
        let (tree, _) = syntax::parse(text, FileId(0));
        let result = verify(text, &tree, "on call {\n  return\n}\n", FileId(0));
        assert!(result.is_err());
    }
}
