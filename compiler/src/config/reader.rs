//! The walker's state and the checks shared by every section: maps with a
//! fixed set of keys, text, whole numbers and choices from a list.
//!
//! Every check reports its problem and returns `None`, so the caller goes
//! on with the next key and one run reports every problem in the file.

use super::yaml::{Node, ScalarKind, Value};
use crate::diag::{Code, Diagnostic, FileId, Span, did_you_mean};
use std::collections::BTreeMap;

/// Collects diagnostics and key locations while the sections are read.
pub struct Reader {
    file: FileId,
    /// Problems found so far.
    pub diagnostics: Vec<Diagnostic>,
    /// Span of every key read, by dotted path.
    pub locations: BTreeMap<String, Span>,
}

/// One key of a map and its value.
#[derive(Clone, Debug)]
pub struct Entry<'n> {
    /// The key as text.
    pub key: String,
    /// Dotted path from the top of the file, such as `hooks.orders.url`;
    /// empty for the document itself.
    pub path: String,
    /// Span of the key.
    pub key_span: Span,
    /// The value.
    pub value: &'n Node,
}

impl<'n> Entry<'n> {
    /// Wraps the whole document, whose path is empty.
    pub fn root(node: &'n Node) -> Self {
        Entry {
            key: String::new(),
            path: String::new(),
            key_span: node.span,
            value: node,
        }
    }

    /// Returns the span to label for a problem with the value: the value
    /// itself, or the key when the value has no text of its own (an empty
    /// value, or a block map or list, whose span is empty).
    pub fn value_span(&self) -> Span {
        if self.value.span.start == self.value.span.end {
            self.key_span
        } else {
            self.value.span
        }
    }

    /// Returns the value's text when it is a scalar.
    pub fn scalar_text(&self) -> Option<&'n str> {
        self.value.scalar().map(|s| s.text.as_str())
    }

    /// Returns "at the top level" or "in `path`", to name the map a key is in.
    pub fn within(&self) -> String {
        if self.path.is_empty() {
            String::from("at the top level")
        } else {
            format!("in `{}`", self.path)
        }
    }

    /// Returns a help line that shows the key with a correct value.
    pub fn write(&self, example: &str) -> String {
        format!("write `{}: {example}`", self.key)
    }

    /// Returns the path as quoted in messages.
    pub fn place(&self) -> String {
        if self.path.is_empty() {
            String::from("the top level")
        } else {
            format!("`{}`", self.path)
        }
    }
}

/// Returns `parent.key`, or `key` at the top level.
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Formats names as "`a`, `b`, `c`" for messages.
pub fn quoted_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(", ")
}

impl Reader {
    /// Starts reading the config in `file`.
    pub fn new(file: FileId) -> Self {
        Reader {
            file,
            diagnostics: Vec::new(),
            locations: BTreeMap::new(),
        }
    }

    /// Reports an invalid value (`F0503`).
    pub fn invalid(&mut self, span: Span, message: String, label: &str, help: String) {
        let diagnostic = Diagnostic::new(Code::ConfigInvalid, message)
            .primary(self.file, span, label)
            .help(help);
        self.diagnostics.push(diagnostic);
    }

    /// Reports something written twice (`F0503`), labelling both places.
    pub fn repeated(&mut self, span: Span, first: Span, message: String, help: &str) {
        let diagnostic = Diagnostic::new(Code::ConfigInvalid, message)
            .primary(self.file, span, "written again here")
            .secondary(self.file, first, "first written here")
            .help(help);
        self.diagnostics.push(diagnostic);
    }

    /// Records where a key is written.
    pub fn record(&mut self, path: String, span: Span) {
        self.locations.insert(path, span);
    }

    /// Reports that a value has the wrong YAML type.
    pub fn wrong_type(&mut self, entry: &Entry, expected: &str, help: String) {
        let message = format!(
            "invalid value at {}: expected {expected}, found {}",
            entry.place(),
            entry.value.describe()
        );
        self.invalid(
            entry.value_span(),
            message,
            &format!("expected {expected}"),
            help,
        );
    }

    /// Returns the entries of a map, recording each key's location. An
    /// empty value is an empty map; keys that are not text and repeated
    /// keys are reported and left out.
    pub fn entries<'n>(&mut self, entry: &Entry<'n>, example: &str) -> Vec<Entry<'n>> {
        let entries = self.map_entries(entry, entry.write(example));
        for item in &entries {
            self.record(item.path.clone(), item.key_span);
        }
        entries
    }

    /// Like [`Reader::entries`] for a map with a fixed set of keys: keys not
    /// in `known` are reported as unknown and left out.
    pub fn fields<'n>(&mut self, entry: &Entry<'n>, known: &[&str]) -> Vec<Entry<'n>> {
        let help = if entry.path.is_empty() {
            format!(
                "write the config as a map with the top-level keys {}",
                quoted_list(known)
            )
        } else {
            format!(
                "write the keys of `{}` on indented lines below it: {}",
                entry.path,
                quoted_list(known)
            )
        };
        let mut fields = self.map_entries(entry, help);
        fields.retain(|field| {
            let ok = known.contains(&field.key.as_str());
            if !ok {
                self.unknown_key(entry, field, known);
            }
            ok
        });
        for field in &fields {
            self.record(field.path.clone(), field.key_span);
        }
        fields
    }

    fn map_entries<'n>(&mut self, entry: &Entry<'n>, help: String) -> Vec<Entry<'n>> {
        let pairs = match &entry.value.value {
            Value::Map(pairs) => pairs,
            Value::Scalar(s) if s.kind == ScalarKind::Null => return Vec::new(),
            _ => {
                self.wrong_type(entry, "a map", help);
                return Vec::new();
            }
        };
        let mut entries: Vec<Entry<'n>> = Vec::with_capacity(pairs.len());
        let mut seen: BTreeMap<String, Span> = BTreeMap::new();
        for (key, value) in pairs {
            let Some(text) = self.key_text(entry, key) else {
                continue;
            };
            if let Some(first) = seen.get(&text) {
                self.repeated_key(entry, *first, &text, key.span);
                continue;
            }
            seen.insert(text.clone(), key.span);
            entries.push(Entry {
                path: join(&entry.path, &text),
                key: text,
                key_span: key.span,
                value,
            });
        }
        entries
    }

    /// Returns a map key's text, or reports a key that is a list, a map or
    /// empty.
    fn key_text(&mut self, parent: &Entry, key: &Node) -> Option<String> {
        match key.scalar() {
            Some(scalar) if scalar.kind != ScalarKind::Null && !scalar.text.is_empty() => {
                Some(scalar.text.clone())
            }
            _ => {
                let message = format!(
                    "invalid key {}: expected a name, found {}",
                    parent.within(),
                    key.describe()
                );
                let span = if key.span.start == key.span.end {
                    parent.key_span
                } else {
                    key.span
                };
                let help =
                    String::from("write each key as text followed by a colon, such as `url:`");
                self.invalid(span, message, "expected a name", help);
                None
            }
        }
    }

    fn repeated_key(&mut self, parent: &Entry, first: Span, key: &str, span: Span) {
        let message = format!("duplicate key `{key}` {}", parent.within());
        let help = "a key may appear once in a map; keep one and remove the other";
        self.repeated(span, first, message, help);
    }

    /// Reports a key that the section does not have (`F0502`).
    fn unknown_key(&mut self, parent: &Entry, field: &Entry, known: &[&str]) {
        let message = format!("unknown key `{}` {}", field.key, parent.within());
        let help = match did_you_mean(&field.key, known.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None if parent.path.is_empty() => {
                format!("the top-level keys are {}", quoted_list(known))
            }
            None => format!("the keys of `{}` are {}", parent.path, quoted_list(known)),
        };
        let diagnostic = Diagnostic::new(Code::ConfigUnknownKey, message)
            .primary(self.file, field.key_span, "unknown key")
            .help(help);
        self.diagnostics.push(diagnostic);
    }

    /// Returns the value as text, or reports a value of another type.
    pub fn text(&mut self, entry: &Entry, example: &str) -> Option<String> {
        match entry.value.scalar() {
            Some(scalar) if scalar.kind == ScalarKind::Str => Some(scalar.text.clone()),
            _ => {
                self.wrong_type(entry, "text", entry.write(example));
                None
            }
        }
    }

    /// Returns the value as text that is not blank.
    pub fn nonempty_text(&mut self, entry: &Entry, example: &str) -> Option<String> {
        let text = self.text(entry, example)?;
        if text.trim().is_empty() {
            let message = format!(
                "invalid value at {}: expected text, found empty text",
                entry.place()
            );
            self.invalid(entry.value_span(), message, "empty", entry.write(example));
            return None;
        }
        Some(text)
    }

    /// Returns the value as a whole number from `min` to `max`.
    pub fn integer(&mut self, entry: &Entry, min: u32, max: u32, example: &str) -> Option<u32> {
        let expected = format!("a whole number from {min} to {max}");
        let scalar = entry.value.scalar().filter(|s| s.kind == ScalarKind::Int);
        let Some(scalar) = scalar else {
            self.wrong_type(entry, &expected, entry.write(example));
            return None;
        };
        let value = scalar
            .text
            .parse::<u32>()
            .ok()
            .filter(|v| (min..=max).contains(v));
        if value.is_none() {
            let message = format!(
                "invalid {} `{}` at {}: expected {expected}",
                entry.key,
                scalar.text,
                entry.place()
            );
            self.invalid(
                entry.value.span,
                message,
                "out of range",
                entry.write(example),
            );
        }
        value
    }

    /// Returns the option named by the value. `what` names the setting in
    /// messages, such as "hook kind".
    pub fn choice<T: Copy>(
        &mut self,
        entry: &Entry,
        what: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        let example = names.first().copied().unwrap_or_default();
        let text = self.text(entry, example)?;
        if let Some((_, value)) = options.iter().find(|(name, _)| *name == text) {
            return Some(*value);
        }
        let message = format!(
            "invalid {what} `{text}` at {}: expected one of {}",
            entry.place(),
            names.join(", ")
        );
        let help = match did_you_mean(&text, names.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("write one of {}", quoted_list(&names)),
        };
        self.invalid(entry.value.span, message, &format!("unknown {what}"), help);
        None
    }
}
