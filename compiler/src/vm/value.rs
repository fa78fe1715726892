//! Runtime values: empty values, constants, text forms and masking.

use super::Value;
use crate::bytecode::{Const, Date, Type, format_minutes};

/// The character that replaces each sensitive digit in traces. It is no
/// DTMF key, so a masked value cannot be read as keys pressed.
pub const MASK: char = 'x';

/// The date every date slot starts with.
const EPOCH: Date = Date {
    year: 1970,
    month: 1,
    day: 1,
};

impl Value {
    /// Returns the empty value of a type: `false`, `0`, `""`, empty digits,
    /// `0s`, 1970-01-01, 00:00, the given language, a missing contact.
    pub fn empty(ty: Type, language: &str) -> Value {
        match ty {
            Type::Bool => Value::Bool(false),
            Type::Int => Value::Int(0),
            Type::Text => Value::Text(String::new()),
            Type::Digits => Value::Digits(String::new()),
            Type::Duration => Value::Duration(0),
            Type::Date => Value::Date(EPOCH),
            Type::Time => Value::Time(0),
            Type::Language => Value::Language(language.to_string()),
            Type::Contact => Value::Contact(None),
        }
    }

    /// Returns the type of the value; [`Value::NoInput`] is digits.
    pub fn ty(&self) -> Type {
        match self {
            Value::Bool(_) => Type::Bool,
            Value::Int(_) => Type::Int,
            Value::Text(_) => Type::Text,
            Value::Digits(_) | Value::NoInput => Type::Digits,
            Value::Duration(_) => Type::Duration,
            Value::Date(_) => Type::Date,
            Value::Time(_) => Type::Time,
            Value::Language(_) => Type::Language,
            Value::Contact(_) => Type::Contact,
        }
    }

    /// Returns the string of a text, digits or language value.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) | Value::Digits(s) | Value::Language(s) => Some(s),
            Value::NoInput => Some(""),
            _ => None,
        }
    }

    /// Returns the value as a flow shows it inside `"{...}"`: durations as
    /// written in a flow (`1m30s`), dates as `2026-12-24`, times as `08:00`.
    /// A contact has no text form.
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            Value::Bool(b) => b.to_string(),
            Value::Int(v) => v.to_string(),
            Value::Text(s) | Value::Digits(s) | Value::Language(s) => s.clone(),
            Value::NoInput => String::new(),
            Value::Duration(ms) => crate::bytecode::show_duration(*ms),
            Value::Date(d) => d.to_string(),
            Value::Time(m) => format_minutes(*m),
            Value::Contact(_) => return None,
        })
    }

    /// Returns the value with every character of its text replaced by
    /// [`MASK`], for sensitive values in traces.
    pub fn masked(&self) -> Value {
        match self {
            Value::Text(s) => Value::Text(mask(s)),
            Value::Digits(s) => Value::Digits(mask(s)),
            other => other.clone(),
        }
    }
}

/// Replaces every character with [`MASK`].
pub fn mask(text: &str) -> String {
    text.chars().map(|_| MASK).collect()
}

/// Returns the value a constant pushes, or `None` for prompts and names.
pub fn from_const(constant: &Const) -> Option<Value> {
    Some(match constant {
        Const::Text(s) => Value::Text(s.clone()),
        Const::Digits(s) => Value::Digits(s.clone()),
        Const::Int(v) => Value::Int(*v),
        Const::Duration(ms) => Value::Duration(*ms),
        Const::Date(d) => Value::Date(*d),
        Const::Time(m) => Value::Time(*m),
        Const::Prompt(_) | Const::Name(_) => return None,
    })
}

/// Converts a contact field's value to the type the flow expects. Text,
/// digits and language values convert into each other; any other
/// mismatch gives `None`.
pub fn field_as(value: &Value, ty: Type) -> Option<Value> {
    if value.ty() == ty && !matches!(value, Value::NoInput) {
        return Some(value.clone());
    }
    let text = value.as_text()?.to_string();
    match ty {
        Type::Text => Some(Value::Text(text)),
        Type::Digits if text.chars().all(is_key) => Some(Value::Digits(text)),
        Type::Language => Some(Value::Language(text)),
        _ => None,
    }
}

/// True for a DTMF key: `0`-`9`, `*`, `#`.
pub fn is_key(c: char) -> bool {
    c.is_ascii_digit() || c == '*' || c == '#'
}
