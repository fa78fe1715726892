//! The types of flow values and the rules that combine them.

use crate::config::FieldType;
use crate::syntax::ast::BinOp;

/// The type of a value in a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// `true` or `false`.
    Bool,
    /// A 64-bit whole number.
    Integer,
    /// Text, possibly interpolated.
    Text,
    /// Keys pressed by the caller.
    Digits,
    /// A length of time.
    Duration,
    /// A calendar date.
    Date,
    /// A time of day.
    Time,
    /// One of the languages declared in `tok.yaml`.
    Language,
    /// A CRM record that may be missing.
    Contact,
    /// The type of a value whose own error was already reported; it fits
    /// everywhere so that one mistake gives one diagnostic.
    Unknown,
}

impl Type {
    /// Returns the type as the language reference names it.
    pub fn name(self) -> &'static str {
        match self {
            Type::Bool => "bool",
            Type::Integer => "integer",
            Type::Text => "text",
            Type::Digits => "digits",
            Type::Duration => "duration",
            Type::Date => "date",
            Type::Time => "time",
            Type::Language => "language",
            Type::Contact => "contact",
            Type::Unknown => "unknown",
        }
    }

    /// Returns the type of a CRM field.
    pub fn of_field(field: FieldType) -> Type {
        match field {
            FieldType::Text => Type::Text,
            FieldType::Integer => Type::Integer,
            FieldType::Bool => Type::Bool,
            FieldType::Date => Type::Date,
            FieldType::Digits => Type::Digits,
        }
    }

    /// True for text and digits, the types `starts with`, `length` and
    /// `match` work on.
    pub fn is_textual(self) -> bool {
        matches!(self, Type::Text | Type::Digits)
    }

    /// True for the types that `<`, `<=`, `>` and `>=` compare.
    pub fn is_ordered(self) -> bool {
        matches!(
            self,
            Type::Integer | Type::Duration | Type::Date | Type::Time
        )
    }
}

/// Returns the result of an arithmetic operator on two known types, or
/// `None` when the operator does not apply to them.
pub fn arithmetic(op: BinOp, left: Type, right: Type) -> Option<Type> {
    use Type::{Digits, Duration, Integer, Text};
    match (op, left, right) {
        (BinOp::Add, Text | Digits, Text | Digits) => Some(Text),
        (BinOp::Add | BinOp::Sub, Integer, Integer) => Some(Integer),
        (BinOp::Add | BinOp::Sub, Duration, Duration) => Some(Duration),
        (BinOp::Mul | BinOp::Div | BinOp::Rem, Integer, Integer) => Some(Integer),
        (BinOp::Mul, Duration, Integer) | (BinOp::Mul, Integer, Duration) => Some(Duration),
        (BinOp::Div, Duration, Integer) => Some(Duration),
        _ => None,
    }
}

/// Describes which operands an arithmetic operator takes, for help lines.
pub fn arithmetic_operands(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "two integers, two durations, or texts and digits",
        BinOp::Sub => "two integers or two durations",
        BinOp::Mul => "two integers, or a duration and an integer",
        BinOp::Div => "two integers, or a duration divided by an integer",
        _ => "two integers",
    }
}

/// True when two known types may be compared with `==` and `!=`. Text and
/// digits compare as text, so a contact's phone can be compared with
/// collected digits.
pub fn equatable(left: Type, right: Type) -> bool {
    left == right && left != Type::Contact || left.is_textual() && right.is_textual()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_joins_text_and_digits() {
        assert_eq!(
            arithmetic(BinOp::Add, Type::Text, Type::Digits),
            Some(Type::Text)
        );
        assert_eq!(
            arithmetic(BinOp::Add, Type::Digits, Type::Digits),
            Some(Type::Text)
        );
    }

    #[test]
    fn arithmetic_keeps_number_types() {
        assert_eq!(
            arithmetic(BinOp::Sub, Type::Duration, Type::Duration),
            Some(Type::Duration)
        );
        assert_eq!(
            arithmetic(BinOp::Mul, Type::Integer, Type::Duration),
            Some(Type::Duration)
        );
        assert_eq!(arithmetic(BinOp::Add, Type::Integer, Type::Text), None);
        assert_eq!(arithmetic(BinOp::Rem, Type::Duration, Type::Integer), None);
    }

    #[test]
    fn equality_rules() {
        assert!(equatable(Type::Text, Type::Digits));
        assert!(equatable(Type::Date, Type::Date));
        assert!(!equatable(Type::Contact, Type::Contact));
        assert!(!equatable(Type::Integer, Type::Text));
    }
}
