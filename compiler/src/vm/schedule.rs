//! Business-hours verdicts: is a schedule open at an instant, and why.
//!
//! A schedule reads the wall clock of its own IANA zone, to the minute:
//! the instant becomes a local date D and a minute M of that date, and
//! seconds are dropped. Every range includes its start and excludes its
//! end, and belongs to the date it starts on. A weekly range belongs to
//! each date of its weekday, and an `on DATE` range belongs to DATE. An
//! exception replaces only its own date's weekly ranges. A range may end
//! after 24:00 (up to 48:00), and its part after midnight opens the next
//! date too.
//!
//! So the schedule is open at (D, M) when D is not a holiday and one of
//! two holds. Either M lies in a range that belongs to D, or D-1 is not a
//! holiday and M + 1440 lies in a range that belongs to D-1.
//!
//! Clock changes need no rule of their own. The minutes that a change
//! skips are never read, so a range that starts inside the gap opens when
//! the clock jumps and a range that ends inside it closes then. The
//! minutes that a change repeats are read twice, and count both times.

use crate::bytecode::{Date, MinuteRange, Schedule};
use jiff::Timestamp;
use jiff::civil;
use jiff::tz::{Offset, TimeZone};
use std::fmt::{self, Write as _};

/// Minutes in a day.
const DAY: u16 = 24 * 60;

/// A wall-clock reading of an instant in a time zone, to the minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    /// The local date.
    pub date: Date,
    /// Minutes since local midnight, 0-1439; seconds are dropped.
    pub minute: u16,
    /// The day of the week of `date`, 0 for Monday.
    pub weekday: u8,
    /// The zone's offset from UTC at the instant.
    pub offset: Offset,
}

/// The result of evaluating a schedule at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// True when open.
    pub open: bool,
    /// True when the local date is one of the schedule's holidays.
    pub holiday: bool,
    /// The local date in the schedule's zone.
    pub date: Date,
    /// The local time of day in minutes, 0-1439.
    pub minute: u16,
    /// The day of the week of `date`, 0 for Monday.
    pub weekday: u8,
    /// The zone's offset from UTC at the instant.
    pub offset: Offset,
    /// The zone's abbreviation at the instant, such as `CET` or `CEST`.
    pub zone_abbreviation: ZoneAbbreviation,
    /// The rule that decided.
    pub reason: VerdictReason,
}

/// The rule that decided a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerdictReason {
    /// The local date is a holiday, so the schedule is closed all day.
    Holiday,
    /// A range that belongs to the local date contains the time.
    Range {
        /// The origin of the local date's ranges.
        source: RangeSource,
        /// The range, in minutes from the start of the local date.
        range: MinuteRange,
    },
    /// The part after midnight of an overnight range that belongs to the
    /// previous date contains the time.
    Overnight {
        /// The origin of the previous date's ranges.
        source: RangeSource,
        /// The range, in minutes from the start of the previous date, so
        /// its end is past 1440.
        range: MinuteRange,
    },
    /// No range contains the time.
    OutsideHours {
        /// The origin of the local date's ranges.
        source: RangeSource,
    },
}

/// The origin of one date's ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeSource {
    /// The weekly ranges of a weekday.
    Weekly {
        /// The weekday, 0 for Monday.
        weekday: u8,
    },
    /// The `on DATE` exception of a date, which replaces its weekly ranges.
    Exception {
        /// The exception's date.
        date: Date,
    },
}

/// A time zone abbreviation such as `CET`, stored inline so that a verdict
/// needs no allocation.
///
/// An abbreviation longer than the buffer is replaced by the UTC offset
/// written as `+05:45`. The abbreviations of the IANA database have at
/// most six characters, so only custom zones can reach that case.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ZoneAbbreviation {
    bytes: [u8; ZoneAbbreviation::CAPACITY],
    len: u8,
}

impl ZoneAbbreviation {
    /// The maximum length of a stored abbreviation, in bytes.
    const CAPACITY: usize = 15;

    fn new(text: &str, offset: Offset) -> ZoneAbbreviation {
        let mut abbreviation = ZoneAbbreviation {
            bytes: [0; Self::CAPACITY],
            len: 0,
        };
        if abbreviation.write_str(text).is_err() {
            abbreviation.len = 0;
            let seconds = offset.seconds();
            let sign = if seconds < 0 { '-' } else { '+' };
            let minutes = seconds.unsigned_abs() / 60;
            // Nine bytes at most, so this write always fits.
            let _ = write!(
                abbreviation,
                "{sign}{:02}:{:02}",
                minutes / 60,
                minutes % 60
            );
        }
        abbreviation
    }

    /// Returns the abbreviation as text.
    pub fn as_str(&self) -> &str {
        self.bytes
            .get(..usize::from(self.len))
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .unwrap_or_default()
    }
}

impl fmt::Write for ZoneAbbreviation {
    /// Appends whole strings only, and fails when `text` does not fit.
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let start = usize::from(self.len);
        let end = start + text.len();
        let target = self.bytes.get_mut(start..end).ok_or(fmt::Error)?;
        target.copy_from_slice(text.as_bytes());
        self.len = u8::try_from(end).map_err(|_| fmt::Error)?;
        Ok(())
    }
}

impl fmt::Display for ZoneAbbreviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ZoneAbbreviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Reads the wall clock of `zone` at `at`, for the `today` and `now`
/// built-ins.
pub fn local(zone: &TimeZone, at: Timestamp) -> LocalTime {
    let offset = zone.to_offset(at);
    let (local, _) = read_clock(offset, at);
    local
}

/// Evaluates a schedule at an instant in its zone.
pub fn evaluate(schedule: &Schedule, zone: &TimeZone, at: Timestamp) -> Verdict {
    let info = zone.to_offset_info(at);
    let (local, date) = read_clock(info.offset(), at);
    let holiday = is_holiday(schedule, local.date);
    let reason = if holiday {
        VerdictReason::Holiday
    } else {
        decide(schedule, date, local.minute)
    };
    Verdict {
        open: !matches!(
            reason,
            VerdictReason::Holiday | VerdictReason::OutsideHours { .. }
        ),
        holiday,
        date: local.date,
        minute: local.minute,
        weekday: local.weekday,
        offset: local.offset,
        zone_abbreviation: ZoneAbbreviation::new(info.abbreviation(), info.offset()),
        reason,
    }
}

/// True when `date` is one of the schedule's holidays.
pub fn is_holiday(schedule: &Schedule, date: Date) -> bool {
    schedule
        .holidays
        .iter()
        .any(|holiday| holiday.first <= date && date <= holiday.last)
}

/// Returns the local reading of `at` and the local date in jiff's form,
/// which the previous date is computed from.
fn read_clock(offset: Offset, at: Timestamp) -> (LocalTime, civil::Date) {
    let datetime = offset.to_datetime(at);
    let date = datetime.date();
    let hour = u16::from(datetime.hour().unsigned_abs());
    let minute = u16::from(datetime.minute().unsigned_abs());
    let local = LocalTime {
        date: bytecode_date(date),
        minute: hour * 60 + minute,
        weekday: weekday(date),
        offset,
    };
    (local, date)
}

/// Decides a date that is not a holiday: its own ranges first, then the
/// part after midnight of the previous date's ranges.
fn decide(schedule: &Schedule, date: civil::Date, minute: u16) -> VerdictReason {
    let (source, ranges) = ranges_of(schedule, date);
    if let Some(range) = containing(ranges, minute) {
        return VerdictReason::Range { source, range };
    }
    if let Ok(previous) = date.yesterday()
        && !is_holiday(schedule, bytecode_date(previous))
    {
        let (previous_source, previous_ranges) = ranges_of(schedule, previous);
        if let Some(range) = containing(previous_ranges, minute + DAY) {
            return VerdictReason::Overnight {
                source: previous_source,
                range,
            };
        }
    }
    VerdictReason::OutsideHours { source }
}

/// Returns the ranges that belong to a date: its exception's when it has
/// one, else its weekday's.
fn ranges_of(schedule: &Schedule, date: civil::Date) -> (RangeSource, &[MinuteRange]) {
    let key = bytecode_date(date);
    // Exceptions are sorted by date; the decoder rejects any other order.
    if let Ok(index) = schedule
        .exceptions
        .binary_search_by(|exception| exception.date.cmp(&key))
        && let Some(exception) = schedule.exceptions.get(index)
    {
        return (
            RangeSource::Exception { date: key },
            exception.ranges.as_slice(),
        );
    }
    let day = weekday(date);
    let ranges = schedule
        .weekly
        .get(usize::from(day))
        .map_or(&[][..], Vec::as_slice);
    (RangeSource::Weekly { weekday: day }, ranges)
}

fn containing(ranges: &[MinuteRange], minute: u16) -> Option<MinuteRange> {
    ranges
        .iter()
        .find(|range| range.start <= minute && minute < range.end)
        .copied()
}

fn bytecode_date(date: civil::Date) -> Date {
    Date {
        year: date.year(),
        month: date.month().unsigned_abs(),
        day: date.day().unsigned_abs(),
    }
}

fn weekday(date: civil::Date) -> u8 {
    date.weekday().to_monday_zero_offset().unsigned_abs()
}

#[cfg(test)]
mod tests;
