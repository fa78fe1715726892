//! A light lexer over flow source: enough to find comments, words and
//! braces outside strings, which the syntax tree does not keep.
//!
//! It follows the grammar's string rules: `\` escapes the next character,
//! `{` inside a string opens an interpolation whose code may hold nested
//! strings and comments, and the matching `}` returns to the string.

/// The kind of a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TokenKind {
    /// A run of letters, digits and underscores.
    Word,
    /// `//` up to the end of the line, newline excluded.
    Comment,
    /// Any other character of code.
    Punct(u8),
}

/// One token and its byte range in the lexed text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Token {
    /// Its kind.
    pub kind: TokenKind,
    /// Byte offset of its first character.
    pub start: usize,
    /// Byte offset one past its last character.
    pub end: usize,
    /// True inside the interpolation of a string.
    pub in_string: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Code,
    Text,
}

/// Iterates over the tokens of code, skipping white space and the literal
/// parts of strings; the quotes of a string are tokens.
pub(super) struct Lexer<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Open strings and interpolations; empty at the top level of code.
    modes: Vec<Mode>,
}

impl<'a> Lexer<'a> {
    /// Starts lexing `text` at byte `pos`, which must be in code outside
    /// strings.
    pub fn new(text: &'a str, pos: usize) -> Self {
        Lexer {
            bytes: text.as_bytes(),
            pos,
            modes: Vec::new(),
        }
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.bytes.get(at).copied()
    }

    fn in_text(&self) -> bool {
        self.modes.last() == Some(&Mode::Text)
    }

    /// Moves through the literal part of a string; returns the closing
    /// quote when the string ends.
    fn step_text(&mut self, b: u8) -> Option<Token> {
        match b {
            b'\\' => self.pos += 2,
            b'"' => {
                self.modes.pop();
                let start = self.pos;
                return Some(self.token(TokenKind::Punct(b), start, start + 1));
            }
            b'{' => {
                self.modes.push(Mode::Code);
                self.pos += 1;
            }
            _ => self.pos += 1,
        }
        None
    }

    fn run(&mut self, start: usize, keep: impl Fn(u8) -> bool) -> usize {
        let mut end = start;
        while self.byte(end).is_some_and(&keep) {
            end += 1;
        }
        end
    }

    fn token(&mut self, kind: TokenKind, start: usize, end: usize) -> Token {
        self.pos = end;
        Token {
            kind,
            start,
            end,
            in_string: !self.modes.is_empty(),
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        loop {
            if self.in_text() {
                let b = self.byte(self.pos)?;
                match self.step_text(b) {
                    Some(quote) => return Some(quote),
                    None => continue,
                }
            }
            let start = self.pos;
            let b = self.byte(start)?;
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'/' if self.byte(start + 1) == Some(b'/') => {
                    let end = self.run(start, |b| b != b'\n');
                    return Some(self.token(TokenKind::Comment, start, end));
                }
                b'"' => {
                    let quote = self.token(TokenKind::Punct(b), start, start + 1);
                    self.modes.push(Mode::Text);
                    return Some(quote);
                }
                b'}' if !self.modes.is_empty() => {
                    self.modes.pop();
                    self.pos += 1;
                }
                _ if is_word_byte(b) => {
                    let end = self.run(start, is_word_byte);
                    return Some(self.token(TokenKind::Word, start, end));
                }
                // Any other byte is a token of its own. Multi-byte
                // characters reach this arm only as the byte order mark,
                // because the grammar allows other non-ASCII text only in
                // strings and comments.
                _ => return Some(self.token(TokenKind::Punct(b), start, start + 1)),
            }
        }
    }
}

/// A comment found in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// Byte offset of the `//`.
    pub start: usize,
    /// The comment from `//` on, trailing white space removed.
    pub text: String,
}

/// Returns every comment of `text` in source order, those inside
/// interpolations included.
pub fn comments(text: &str) -> Vec<Comment> {
    Lexer::new(text, 0)
        .filter(|t| t.kind == TokenKind::Comment)
        .filter_map(|t| {
            let raw = text.get(t.start..t.end)?;
            Some(Comment {
                start: t.start,
                text: raw.trim_end().to_string(),
            })
        })
        .collect()
}

/// Returns the end offsets of all tokens other than comments, in
/// ascending order.
pub(super) fn code_ends(text: &str) -> Vec<usize> {
    Lexer::new(text, 0)
        .filter(|t| t.kind != TokenKind::Comment)
        .map(|t| t.end)
        .collect()
}

/// Returns the offset of the first `target` character of code at or after
/// `from` outside strings and comments.
pub(super) fn find_code_byte(text: &str, from: usize, target: u8) -> Option<usize> {
    Lexer::new(text, from)
        .find(|t| t.kind == TokenKind::Punct(target) && !t.in_string)
        .map(|t| t.start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment_texts(text: &str) -> Vec<String> {
        comments(text).into_iter().map(|c| c.text).collect()
    }

    #[test]
    fn comments_outside_strings() {
        let text = "play \"a // not\" // yes  \n// two\n";
        assert_eq!(comment_texts(text), vec!["// yes", "// two"]);
    }

    #[test]
    fn comments_skip_escaped_quotes() {
        let text = "tag \"a\\\" // no\" // yes\n";
        assert_eq!(comment_texts(text), vec!["// yes"]);
    }

    #[test]
    fn comments_inside_interpolation() {
        let text = "let t = \"x {f(\"//\") // in\n} // no \\{\" // out\n";
        assert_eq!(comment_texts(text), vec!["// in", "// out"]);
    }

    #[test]
    fn comment_at_end_without_newline() {
        assert_eq!(comment_texts("hangup //end"), vec!["//end"]);
    }

    #[test]
    fn brace_search_skips_strings_and_comments() {
        let text = "menu // {\n \"\\{\" {";
        assert_eq!(find_code_byte(text, 0, b'{'), Some(16));
    }

    #[test]
    fn words_in_interpolation_are_marked() {
        let tokens: Vec<_> = Lexer::new("a \"{b}\" c", 0).collect();
        let words: Vec<_> = tokens
            .iter()
            .filter(|t| t.kind == TokenKind::Word)
            .map(|t| (t.start, t.in_string))
            .collect();
        assert_eq!(words, vec![(0, false), (4, true), (8, false)]);
    }
}
