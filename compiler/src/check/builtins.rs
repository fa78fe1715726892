//! Names every flow can read without declaring them: the fields of `call`, the
//! `language` variable and the functions.

use super::types::Type;

/// The built-in variable that contains the call's language.
pub const LANGUAGE: &str = "language";

/// The built-in record of the call itself; only its fields are values.
pub const CALL: &str = "call";

/// Names a flow may not create with `let`, `collect` or `lookup`.
pub const RESERVED_NAMES: [&str; 2] = [LANGUAGE, CALL];

/// A field of `call`.
#[derive(Clone, Copy, Debug)]
pub struct CallField {
    /// The name after `call.`.
    pub name: &'static str,
    /// Its type.
    pub ty: Type,
    /// True when the value exists only once the call has ended.
    pub after_call_only: bool,
}

const fn field(name: &'static str, ty: Type, after_call_only: bool) -> CallField {
    CallField {
        name,
        ty,
        after_call_only,
    }
}

/// The fields of `call`.
pub const CALL_FIELDS: [CallField; 9] = [
    field("from", Type::Text, false),
    field("to", Type::Text, false),
    field("id", Type::Text, false),
    field("anonymous", Type::Bool, false),
    field("outcome", Type::Text, true),
    field("queue", Type::Text, true),
    field("agent", Type::Text, true),
    field("wait", Type::Duration, true),
    field("talk", Type::Duration, true),
];

/// Returns a field of `call` by name.
pub fn call_field(name: &str) -> Option<CallField> {
    CALL_FIELDS.iter().copied().find(|f| f.name == name)
}

/// A built-in function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    /// `open(SCHEDULE)`: the schedule is open now.
    Open,
    /// `holiday(SCHEDULE)`: today is a holiday of the schedule.
    Holiday,
    /// `today(SCHEDULE)`: today's date in the schedule's time zone.
    Today,
    /// `now(SCHEDULE)`: the time of day in the schedule's time zone.
    Now,
    /// `length(X)`: characters of a text or digits.
    Length,
}

/// Function names, for did-you-mean.
pub const FUNCTION_NAMES: [&str; 5] = ["open", "holiday", "today", "now", "length"];

impl Function {
    /// Finds a function by name.
    pub fn by_name(name: &str) -> Option<Function> {
        Some(match name {
            "open" => Function::Open,
            "holiday" => Function::Holiday,
            "today" => Function::Today,
            "now" => Function::Now,
            "length" => Function::Length,
            _ => return None,
        })
    }

    /// True when the one argument is a schedule name.
    pub fn takes_schedule(self) -> bool {
        self != Function::Length
    }

    /// Returns the type of the result.
    pub fn result(self) -> Type {
        match self {
            Function::Open | Function::Holiday => Type::Bool,
            Function::Today => Type::Date,
            Function::Now => Type::Time,
            Function::Length => Type::Integer,
        }
    }
}
