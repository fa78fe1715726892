//! Dates, times and ranges as written: impossible values (F0402) and ranges
//! that end before they start (F0403).

use jiff::civil::Date;

use crate::diag::{Code, Diagnostic, FileId};
use crate::syntax::ast::{DateItem, DateLit, TimeLit, TimeRange};

/// Minutes in a day; `24:00` is this many minutes after midnight.
pub(super) const DAY_MINUTES: u32 = 24 * 60;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Returns a date as written in a flow.
pub(super) fn date_text(date: &DateLit) -> String {
    format!("{:04}-{:02}-{:02}", date.year, date.month, date.day)
}

/// Returns a time as written in a flow.
pub(super) fn time_text(time: &TimeLit) -> String {
    format!("{:02}:{:02}", time.hour, time.minute)
}

/// Returns a range as written in a flow, `overnight` included.
pub(super) fn range_text(range: &TimeRange) -> String {
    let overnight = if range.overnight { " overnight" } else { "" };
    format!(
        "{}..{}{overnight}",
        time_text(&range.start),
        time_text(&range.end)
    )
}

/// Returns the date, or reports why it does not exist.
pub(super) fn check_date(
    file: FileId,
    date: &DateLit,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Date> {
    let month = i8::try_from(date.month).unwrap_or(i8::MAX);
    let day = i8::try_from(date.day).unwrap_or(i8::MAX);
    if let Ok(valid) = Date::new(date.year, month, day) {
        return Some(valid);
    }
    let text = date_text(date);
    let (reason, help) = match MONTHS.get(usize::from(date.month).wrapping_sub(1)) {
        None => (
            format!("there is no month {:02}", date.month),
            String::from("months run from 01 to 12"),
        ),
        Some(_) if date.day == 0 => (
            String::from("days of the month start at 01"),
            format!(
                "the first day of that month is {:04}-{:02}-01",
                date.year, date.month
            ),
        ),
        Some(name) => {
            let days = Date::new(date.year, month, 1).map_or(31, |first| first.days_in_month());
            (
                format!("{name} {} has {days} days", date.year),
                format!(
                    "the last day of {name} {} is {:04}-{:02}-{days:02}",
                    date.year, date.year, date.month
                ),
            )
        }
    };
    diagnostics.push(
        Diagnostic::new(
            Code::ImpossibleDate,
            format!("impossible date {text}: {reason}"),
        )
        .primary(file, date.span, reason)
        .help(help),
    );
    None
}

/// The role of a time in the source. Only the end of a range may be `24:00`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TimeUse {
    /// The start of a range.
    Start,
    /// The end of a range.
    End,
    /// A time of day in an expression.
    Value,
}

/// Returns true when the time exists where it is used, or reports why not.
pub(super) fn check_time(
    file: FileId,
    time: &TimeLit,
    used: TimeUse,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    let text = time_text(time);
    let problem = if time.minute > 59 {
        Some((
            format!("impossible time {text}: minutes run from 00 to 59"),
            "minutes run from 00 to 59",
            String::from("write a time from 00:00 to 23:59"),
        ))
    } else if time.hour > 24 || (time.hour == 24 && time.minute > 0) {
        Some((
            format!("impossible time {text}: hours run from 00 to 23"),
            "hours run from 00 to 23",
            String::from("write a time from 00:00 to 23:59; `24:00` may end a range"),
        ))
    } else if time.hour == 24 && used != TimeUse::End {
        let help = match used {
            TimeUse::Start => "start the range at 00:00",
            _ => "a time of day runs from 00:00 to 23:59; `24:00` may only end a range in `hours`",
        };
        Some((
            String::from("impossible time 24:00: it may only end a range"),
            "24:00 is the end of the day",
            String::from(help),
        ))
    } else {
        None
    };
    let Some((message, label, help)) = problem else {
        return true;
    };
    diagnostics.push(
        Diagnostic::new(Code::ImpossibleDate, message)
            .primary(file, time.span, label)
            .help(help),
    );
    false
}

/// Returns true when both times exist and the range runs forwards (or is
/// `overnight` and crosses midnight); reports the problems otherwise.
pub(super) fn check_range(
    file: FileId,
    range: &TimeRange,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    let start_ok = check_time(file, &range.start, TimeUse::Start, diagnostics);
    let end_ok = check_time(file, &range.end, TimeUse::End, diagnostics);
    if !(start_ok && end_ok) {
        return false;
    }
    let (start, end) = (range.start.minutes(), range.end.minutes());
    let text = range_text(range);
    let problem = if range.overnight && end > start {
        Some((
            format!(
                "time range {}..{} is marked `overnight` but ends the same day",
                time_text(&range.start),
                time_text(&range.end)
            ),
            String::from("ends on the day it starts"),
            String::from(
                "remove `overnight`: only a range whose end is not after its start runs into \
                 the next day",
            ),
        ))
    } else if !range.overnight && end < start {
        Some((
            format!("time range {text} ends before it starts"),
            String::from("ends before it starts"),
            format!(
                "mark it `{text} overnight` if it runs into the next day, or swap the times: \
                 `{}..{}`",
                time_text(&range.end),
                time_text(&range.start)
            ),
        ))
    } else if !range.overnight && end == start {
        Some((
            format!("time range {text} is empty"),
            format!("starts and ends at {}", time_text(&range.start)),
            format!(
                "write an end after {}, or `{text} overnight` for a range open 24 hours",
                time_text(&range.start)
            ),
        ))
    } else {
        None
    };
    let Some((message, label, help)) = problem else {
        return true;
    };
    diagnostics.push(
        Diagnostic::new(Code::RangeEndsBeforeStart, message)
            .primary(file, range.span, label)
            .help(help),
    );
    false
}

/// Returns the first and last date of a holiday item when both exist and
/// the last does not precede the first; reports the problems otherwise.
pub(super) fn check_date_item(
    file: FileId,
    item: &DateItem,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(Date, Date)> {
    let first = check_date(file, &item.first, diagnostics);
    let Some(last_lit) = &item.last else {
        return first.map(|first| (first, first));
    };
    let last = check_date(file, last_lit, diagnostics);
    let (first, last) = (first?, last?);
    if last < first {
        let (first_text, last_text) = (date_text(&item.first), date_text(last_lit));
        diagnostics.push(
            Diagnostic::new(
                Code::RangeEndsBeforeStart,
                format!("holiday range {first_text}..{last_text} ends before it starts"),
            )
            .primary(file, item.span, "the last date is before the first")
            .help(format!(
                "write the earlier date first: `{last_text}..{first_text}`"
            )),
        );
        return None;
    }
    Some((first, last))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::diag::Span;

    fn date(year: i16, month: u8, day: u8) -> DateLit {
        DateLit {
            year,
            month,
            day,
            span: Span::default(),
        }
    }

    fn time(hour: u8, minute: u8) -> TimeLit {
        TimeLit {
            hour,
            minute,
            span: Span::default(),
        }
    }

    fn range(start: TimeLit, end: TimeLit, overnight: bool) -> TimeRange {
        TimeRange {
            start,
            end,
            overnight,
            span: Span::default(),
        }
    }

    fn date_message(lit: DateLit) -> Option<String> {
        let mut diagnostics = Vec::new();
        check_date(FileId(0), &lit, &mut diagnostics);
        diagnostics.pop().map(|d| d.message)
    }

    #[test]
    fn dates_that_exist() {
        assert_eq!(date_message(date(2028, 2, 29)), None);
        assert_eq!(date_message(date(2026, 12, 31)), None);
    }

    #[test]
    fn impossible_dates() {
        assert_eq!(
            date_message(date(2026, 2, 30)).unwrap(),
            "impossible date 2026-02-30: February 2026 has 28 days"
        );
        assert_eq!(
            date_message(date(2027, 2, 29)).unwrap(),
            "impossible date 2027-02-29: February 2027 has 28 days"
        );
        assert_eq!(
            date_message(date(2026, 13, 1)).unwrap(),
            "impossible date 2026-13-01: there is no month 13"
        );
        assert_eq!(
            date_message(date(2026, 0, 1)).unwrap(),
            "impossible date 2026-00-01: there is no month 00"
        );
        assert_eq!(
            date_message(date(2026, 4, 0)).unwrap(),
            "impossible date 2026-04-00: days of the month start at 01"
        );
        assert_eq!(
            date_message(date(2026, 4, 31)).unwrap(),
            "impossible date 2026-04-31: April 2026 has 30 days"
        );
    }

    #[test]
    fn times_by_use() {
        let cases = [
            (time(23, 59), TimeUse::Value, true),
            (time(24, 0), TimeUse::End, true),
            (time(24, 0), TimeUse::Start, false),
            (time(24, 0), TimeUse::Value, false),
            (time(24, 30), TimeUse::End, false),
            (time(25, 0), TimeUse::End, false),
            (time(12, 60), TimeUse::Start, false),
        ];
        for (time, used, ok) in cases {
            let mut diagnostics = Vec::new();
            let valid = check_time(FileId(0), &time, used, &mut diagnostics);
            let label = format!("{} as {used:?}", time_text(&time));
            assert_eq!(valid, ok, "{label}");
            assert_eq!(diagnostics.len(), usize::from(!ok), "{label}");
            let codes_ok = diagnostics.iter().all(|d| d.code == Code::ImpossibleDate);
            assert!(codes_ok, "{label}");
        }
    }

    #[test]
    fn range_directions() {
        let file = FileId(0);
        let mut diagnostics = Vec::new();
        let cases = [
            (range(time(8, 0), time(17, 0), false), true),
            (range(time(22, 0), time(2, 0), true), true),
            (range(time(22, 0), time(0, 0), true), true),
            (range(time(8, 0), time(8, 0), true), true),
            (range(time(20, 0), time(24, 0), false), true),
            (range(time(17, 0), time(8, 0), false), false),
            (range(time(8, 0), time(8, 0), false), false),
            (range(time(8, 0), time(17, 0), true), false),
            (range(time(22, 0), time(24, 0), true), false),
        ];
        for (range, ok) in cases {
            assert_eq!(
                check_range(file, &range, &mut diagnostics),
                ok,
                "{}",
                range_text(&range)
            );
        }
        assert_eq!(diagnostics.len(), 4);
        assert!(
            diagnostics
                .iter()
                .all(|d| d.code == Code::RangeEndsBeforeStart)
        );
    }
}
