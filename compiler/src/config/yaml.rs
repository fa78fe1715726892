//! A YAML document as a tree of nodes with byte spans, read with serde-saphyr.
//!
//! The config is validated by walking this tree by hand rather than by
//! deserializing into typed structs, so that one run reports every unknown
//! key and invalid value, each at its exact place. Repeated keys are passed
//! through to the tree and reported by the walker.

use crate::diag::Span;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::options::DuplicateKeyPolicy;
use serde_saphyr::{MessageFormatter, Spanned, UserMessageFormatter};
use std::fmt;

/// One YAML node and where it is written.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The content.
    pub value: Value,
    /// Bytes of the node in the source. A scalar's span includes its quotes
    /// and a flow list's or map's its brackets. A block list or map has an
    /// empty span at its start.
    pub span: Span,
}

/// The content of a node.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A scalar: its text and the type YAML resolved it to.
    Scalar(Scalar),
    /// A list.
    Seq(Vec<Node>),
    /// A map, entries in source order, repeated keys kept.
    Map(Vec<(Node, Node)>),
}

/// A scalar value.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    /// The string value for text; the source spelling for other types, so a
    /// number such as `+38615550100` keeps its plus sign.
    pub text: String,
    /// The type YAML resolved the scalar to.
    pub kind: ScalarKind,
}

/// The YAML core-schema type of a scalar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarKind {
    /// `null`, `~` or nothing.
    Null,
    /// `true` or `false`.
    Bool,
    /// A whole number.
    Int,
    /// A number with a fraction or exponent.
    Float,
    /// Text, quoted or plain.
    Str,
}

/// A document that is not valid YAML.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// The parser's message, without location.
    pub message: String,
    /// Position of the parser when it stopped.
    pub span: Span,
}

impl Node {
    /// Returns the scalar, if this node is one.
    pub fn scalar(&self) -> Option<&Scalar> {
        match &self.value {
            Value::Scalar(scalar) => Some(scalar),
            _ => None,
        }
    }

    /// True for `null`, `~` and an empty value.
    pub fn is_null(&self) -> bool {
        self.scalar().is_some_and(|s| s.kind == ScalarKind::Null)
    }

    /// Describes the node's type for messages: "a map", "a list", "text"...
    pub fn describe(&self) -> &'static str {
        match &self.value {
            Value::Map(_) => "a map",
            Value::Seq(_) => "a list",
            Value::Scalar(scalar) => match scalar.kind {
                ScalarKind::Null => "an empty value",
                ScalarKind::Bool => "a boolean",
                ScalarKind::Int | ScalarKind::Float => "a number",
                ScalarKind::Str => "text",
            },
        }
    }
}

/// Reads a YAML document. An empty document is a null scalar.
pub fn load(text: &str) -> Result<Node, SyntaxError> {
    let options = serde_saphyr::options! {
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        with_snippet: false,
    };
    match serde_saphyr::from_str_with_options::<Spanned<RawNode>>(text, options) {
        Ok(root) => Ok(resolve(root, text)),
        Err(error) => Err(syntax_error(&error, text)),
    }
}

/// Converts a serde-saphyr error. An error at the very end of the text is
/// moved to the end of the last line that has text, where a report can
/// show it.
fn syntax_error(error: &serde_saphyr::Error, text: &str) -> SyntaxError {
    let message = UserMessageFormatter.format_message(error).into_owned();
    let mut span = error
        .location()
        .map_or_else(|| Span::new(text.len(), text.len()), |l| to_span(&l, text));
    if span.start as usize >= text.len() {
        let end = text.trim_end().len();
        span = Span::new(end, end);
    }
    SyntaxError { message, span }
}

/// Converts a serde-saphyr location to a byte span clamped to the text.
fn to_span(location: &serde_saphyr::Location, text: &str) -> Span {
    let span = location.span();
    // Scanner errors carry a line and column but no byte offset.
    let start = span
        .byte_offset()
        .map(clamp_u64)
        .or_else(|| line_column_offset(text, location.line(), location.column()))
        .unwrap_or(text.len());
    let len = span.byte_len().map_or(0, clamp_u64);
    let start = start.min(text.len());
    let end = start.saturating_add(len).min(text.len());
    Span::new(start, end)
}

/// Returns the byte offset of a 1-based line and column (in characters),
/// or `None` when the text has no such line.
fn line_column_offset(text: &str, line: u64, column: u64) -> Option<usize> {
    let line = usize::try_from(line).ok()?.checked_sub(1)?;
    let column = usize::try_from(column).ok()?.saturating_sub(1);
    let mut offset = 0;
    for (index, row) in text.split_inclusive('\n').enumerate() {
        if index == line {
            let within = row
                .char_indices()
                .nth(column)
                .map_or(row.trim_end_matches('\n').len(), |(at, _)| at);
            return Some(offset + within);
        }
        offset += row.len();
    }
    None
}

fn clamp_u64(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// The tree as serde-saphyr hands it over, with its own locations.
#[derive(Debug)]
enum RawNode {
    Scalar(ScalarKind, Option<String>),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<RawNode>, Spanned<RawNode>)>),
}

/// Converts the tree to byte spans. A node's span is where it is used, so
/// an alias points at `*name`. The spelling of a number or boolean is taken
/// from where it is defined.
fn resolve(raw: Spanned<RawNode>, text: &str) -> Node {
    let span = to_span(&raw.referenced, text);
    let value = match raw.value {
        RawNode::Scalar(kind, string) => {
            let defined = to_span(&raw.defined, text);
            let spelling = || text.get(defined.range()).unwrap_or("").to_string();
            let text = string.unwrap_or_else(spelling);
            Value::Scalar(Scalar { text, kind })
        }
        RawNode::Seq(items) => Value::Seq(items.into_iter().map(|n| resolve(n, text)).collect()),
        RawNode::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (resolve(k, text), resolve(v, text)))
                .collect(),
        ),
    };
    let span = flow_collection_span(&value, span, text);
    Node { value, span }
}

/// Widens the span of a flow collection, which serde-saphyr gives as its
/// opening bracket, to the closing bracket. Block collections, whose span is
/// empty, keep it.
fn flow_collection_span(value: &Value, span: Span, text: &str) -> Span {
    let close = match text.get(span.range()) {
        Some("[") => ']',
        Some("{") => '}',
        _ => return span,
    };
    let last_end = match value {
        Value::Seq(items) => items.iter().map(|n| n.span.end).max(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| k.span.end.max(v.span.end))
            .max(),
        Value::Scalar(_) => None,
    };
    let from = last_end.unwrap_or(span.end).max(span.end) as usize;
    let rest = text.get(from..).unwrap_or("");
    let gap = rest.find(|c: char| !c.is_whitespace() && c != ',');
    match gap {
        Some(offset) if rest.get(offset..).is_some_and(|r| r.starts_with(close)) => {
            Span::new(span.start as usize, from + offset + 1)
        }
        _ => span,
    }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawNode;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(ScalarKind::Null, None))
    }

    fn visit_none<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(ScalarKind::Null, None))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawNode, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(ScalarKind::Bool, None))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(ScalarKind::Int, None))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(ScalarKind::Int, None))
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(ScalarKind::Int, None))
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(ScalarKind::Int, None))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(ScalarKind::Float, None))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<RawNode, E> {
        Ok(RawNode::Scalar(ScalarKind::Str, Some(value.to_string())))
    }

    fn visit_bytes<E: de::Error>(self, value: &[u8]) -> Result<RawNode, E> {
        let text = String::from_utf8_lossy(value).into_owned();
        Ok(RawNode::Scalar(ScalarKind::Str, Some(text)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<RawNode>>()? {
            items.push(item);
        }
        Ok(RawNode::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNode, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<RawNode>>()? {
            let value = map.next_value::<Spanned<RawNode>>()?;
            entries.push((key, value));
        }
        Ok(RawNode::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    fn entries(node: &Node) -> &[(Node, Node)] {
        match &node.value {
            Value::Map(entries) => entries,
            other => panic!("expected a map, found {other:?}"),
        }
    }

    #[test]
    fn scalars_keep_spelling_and_span() {
        let text = "+38615550100: \"080 5550\"\n0805550: yes\n";
        let root = load(text).unwrap();
        let entries = entries(&root);
        let (key, value) = &entries[0];
        assert_eq!(key.scalar().unwrap().text, "+38615550100");
        assert_eq!(key.scalar().unwrap().kind, ScalarKind::Int);
        assert_eq!(value.scalar().unwrap().text, "080 5550");
        assert_eq!(&text[value.span.range()], "\"080 5550\"");
        let (key, value) = &entries[1];
        assert_eq!(key.scalar().unwrap().text, "0805550");
        assert_eq!(value.scalar().unwrap().kind, ScalarKind::Str);
    }

    #[test]
    fn flow_collections_span_their_brackets() {
        let text = "a: [1, [2]]\nb: { c: d , }\ne: []\nf:\n  - 1\n";
        let root = load(text).unwrap();
        let spans: Vec<&str> = entries(&root)
            .iter()
            .map(|(_, v)| &text[v.span.range()])
            .collect();
        assert_eq!(spans, ["[1, [2]]", "{ c: d , }", "[]", ""]);
    }

    #[test]
    fn repeated_keys_are_kept() {
        let root = load("a: 1\na: 2\n").unwrap();
        assert_eq!(entries(&root).len(), 2);
    }

    #[test]
    fn empty_document_is_null() {
        assert!(load("").unwrap().is_null());
        assert!(load("# comment\n").unwrap().is_null());
    }

    #[test]
    fn syntax_error_has_location() {
        let error = load("a: [1, 2\n").unwrap_err();
        assert!(!error.message.is_empty());
        assert!(error.span.start > 0);
        let error = load("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(error.message.contains("multiple"), "{}", error.message);
    }
}
