//! Business-hours verdicts: is a schedule open at an instant, and why.

use crate::bytecode::{Date, Schedule};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A schedule's answer for one instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// True when open.
    pub open: bool,
    /// True when the local date is one of the schedule's holidays.
    pub holiday: bool,
    /// The local date in the schedule's zone.
    pub date: Date,
    /// The local time of day in minutes.
    pub minute: u16,
    /// The zone's abbreviation at that instant, such as `CET` or `CEST`.
    pub zone_abbreviation: String,
    /// The rule that decided.
    pub reason: VerdictReason,
}

/// The rule that decided a verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerdictReason {
    /// The local date is a holiday.
    Holiday,
    /// The date's exception decided; `range` is the exception range that
    /// holds the time, as minutes, when open.
    Exception {
        /// The matching range when open.
        range: Option<(u16, u16)>,
    },
    /// A weekly range of this weekday (0 is Monday) holds the time.
    Weekly {
        /// The weekday the range starts on, 0 for Monday.
        weekday: u8,
        /// The range in minutes from the start of that weekday; the end
        /// may pass 24:00 for an overnight range.
        range: (u16, u16),
    },
    /// An overnight range of the previous date's exception holds the time.
    PreviousException {
        /// The range in minutes from the start of the previous date.
        range: (u16, u16),
    },
    /// No range holds the time.
    OutsideHours,
}

/// Evaluates a schedule at an instant in its zone.
pub fn evaluate(schedule: &Schedule, zone: &TimeZone, at: Timestamp) -> Verdict {
    let _ = (schedule, zone, at);
    todo!("evaluate")
}
