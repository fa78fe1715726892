//! The output buffer: indentation, blank lines, and the placing of comments
//! recovered from the source.
//!
//! Every line-level node (declaration, statement, option, arm, schedule
//! rule) calls [`Printer::leading`] before it prints. Comments that start
//! before the node go on their own lines above it. Comments inside the
//! node's first line move above it too, because that line is rebuilt from
//! the tree. A comment after the end of a printed line, on the same source
//! line, stays at the end of that line. Comments are printed in source
//! order and each exactly once.

use super::lex::{Comment, code_ends};
use crate::diag::{Diagnostic, FileId};

/// Two spaces per level.
const INDENT: &str = "  ";

/// Builds the formatted text.
pub(super) struct Printer<'a> {
    /// The source being formatted.
    pub src: &'a str,
    comments: Vec<Comment>,
    /// End offsets of the tokens that are not comments, ascending.
    code_ends: Vec<usize>,
    /// Index of the first comment not yet printed.
    next_comment: usize,
    out: String,
    indent: usize,
    /// True right after `{` or at the start of a declaration, where no blank
    /// line may follow.
    at_block_start: bool,
    /// Problems that stop formatting, such as an option written twice.
    pub errors: Vec<Diagnostic>,
    /// The file that diagnostics point into.
    pub file: FileId,
}

impl<'a> Printer<'a> {
    /// Creates a printer over `src` and its comments, in source order.
    pub fn new(src: &'a str, comments: Vec<Comment>, file: FileId) -> Self {
        Printer {
            src,
            comments,
            code_ends: code_ends(src),
            next_comment: 0,
            out: String::new(),
            indent: 0,
            at_block_start: true,
            errors: Vec::new(),
            file,
        }
    }

    /// Prints the remaining comments and returns the text, ending in one
    /// newline unless empty.
    pub fn finish(mut self) -> String {
        self.flush_comments_before(usize::MAX);
        let trimmed = self.out.trim_end_matches('\n').len();
        self.out.truncate(trimmed);
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        self.out
    }

    /// Returns the source text of `range`, or `""` when it is out of bounds.
    pub fn source(&self, range: std::ops::Range<usize>) -> &'a str {
        self.src.get(range).unwrap_or("")
    }

    /// Returns where the code of a node ends, given the end of its span.
    /// When an optional part at the end of a node is absent, the parser's
    /// span takes in the white space and comments after the node, and this
    /// leaves them out.
    pub fn code_end(&self, span_end: usize) -> usize {
        let index = self.code_ends.partition_point(|&end| end <= span_end);
        match index.checked_sub(1).and_then(|i| self.code_ends.get(i)) {
            Some(&end) => end,
            None => span_end,
        }
    }

    /// Starts a new declaration: one blank line after the previous one.
    pub fn begin_declaration(&mut self) {
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        self.at_block_start = true;
    }

    /// Prints the comments before a node starting at `start`, a blank line
    /// when the author left one, then the comments inside the node's first
    /// line up to `header_end`, and opens the node's line.
    pub fn leading(&mut self, start: usize, header_end: usize) {
        self.flush_comments_before(start);
        self.blank_line_if_written(start);
        while let Some(comment) = self.pending_before(header_end.max(start)) {
            self.comment_line(comment);
        }
        self.start_line();
    }

    /// Prints the comments that start before `end` on their own lines.
    pub fn flush_comments_before(&mut self, end: usize) {
        while let Some(comment) = self.pending_before(end) {
            self.blank_line_if_written(comment.start);
            self.comment_line(comment);
        }
    }

    fn pending_before(&mut self, end: usize) -> Option<Comment> {
        let comment = self.comments.get(self.next_comment)?;
        if comment.start >= end {
            return None;
        }
        self.next_comment += 1;
        Some(comment.clone())
    }

    fn comment_line(&mut self, comment: Comment) {
        self.start_line();
        self.out.push_str(&comment.text);
        self.out.push('\n');
        self.at_block_start = false;
    }

    /// Writes one blank line when the source has an empty line right before
    /// `pos`, except at the start of a block.
    fn blank_line_if_written(&mut self, pos: usize) {
        if !self.at_block_start && has_blank_line_before(self.src, pos) {
            self.out.push('\n');
        }
    }

    fn start_line(&mut self) {
        for _ in 0..self.indent {
            self.out.push_str(INDENT);
        }
    }

    /// Appends text to the current line.
    pub fn word(&mut self, text: &str) {
        self.out.push_str(text);
    }

    /// Ends the current line, whose content ends at source offset `end`,
    /// with the comment that follows it on the same source line, if any.
    /// The span of an expression leaves out its closing parentheses, so
    /// `)` may stand between `end` and the comment.
    pub fn end_line(&mut self, end: usize) {
        if let Some(comment) = self.comments.get(self.next_comment)
            && comment.start >= end
            && self
                .source(end..comment.start)
                .bytes()
                .all(|b| matches!(b, b' ' | b'\t' | b';' | b')'))
        {
            self.out.push(' ');
            self.out.push_str(&comment.text);
            self.next_comment += 1;
        }
        self.out.push('\n');
        self.at_block_start = false;
    }

    /// Prints `{ ... }` for a block whose braces are at `open` and `close`
    /// in the source; `body` prints the lines inside. An empty block with no
    /// comment inside prints as `{}`. The line stays open after `}`.
    pub fn braced(&mut self, open: usize, close: usize, empty: bool, body: impl FnOnce(&mut Self)) {
        let has_comment = self
            .comments
            .get(self.next_comment)
            .is_some_and(|c| c.start < close);
        if empty && !has_comment {
            self.out.push_str("{}");
            return;
        }
        self.out.push('{');
        self.end_line(open + 1);
        self.indent += 1;
        self.at_block_start = true;
        body(self);
        self.flush_comments_before(close);
        self.indent -= 1;
        self.start_line();
        self.out.push('}');
    }
}

/// True when the white space and `;` right before `pos` contain an empty
/// line.
fn has_blank_line_before(src: &str, pos: usize) -> bool {
    let before = src.get(..pos).unwrap_or("");
    let gap_start = before
        .trim_end_matches(|c: char| c.is_whitespace() || c == ';' || c == '\u{FEFF}')
        .len();
    before
        .get(gap_start..)
        .is_some_and(|gap| gap.matches('\n').count() >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_line_detection() {
        assert!(has_blank_line_before("a\n\nb", 3));
        assert!(has_blank_line_before("a;\n  \n ;b", 8));
        assert!(!has_blank_line_before("a\nb", 2));
        assert!(!has_blank_line_before("\n\n// c\nb", 6));
        assert!(!has_blank_line_before("b", 0));
    }
}
