//! Contradictions inside one schedule (F0404): ranges that overlap on one
//! day, days or dates listed twice, and dates that are both a holiday and
//! an exception.
//!
//! The checks follow the way a schedule is evaluated. Every range belongs
//! to the date it starts on. A holiday closes its whole date, and its
//! ranges do not run into the next date either. An exception replaces only
//! the weekly ranges of its own date. Otherwise the weekly rules apply. An
//! overnight range counts on the day it runs into, so
//! `fri 22:00..02:00 overnight` is checked against Saturday's ranges, also
//! on a Saturday that has an exception, and an overnight exception is
//! checked against the ranges of the date after it.

use std::collections::BTreeMap;

use jiff::civil::Date;

use super::values::{DAY_MINUTES, date_text, range_text, time_text};
use crate::diag::{Code, Diagnostic, FileId};
use crate::syntax::ast::{DateItem, DateLit, DayRange, TimeRange};

const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// A weekly range whose times are valid, on the days of one day item.
pub(super) struct WeeklyRange<'a> {
    /// The day item, such as `mon..fri`.
    pub days: &'a DayRange,
    /// The days it applies on, bit 0 for Monday. Days that an earlier item
    /// of the same rule already lists are left out.
    pub mask: u8,
    /// The range.
    pub range: &'a TimeRange,
}

/// A holiday item whose dates are valid and in order.
pub(super) struct Holiday<'a> {
    /// The first date closed.
    pub first: Date,
    /// The last date closed, inclusive.
    pub last: Date,
    /// The item as written.
    pub item: &'a DateItem,
}

/// An exception whose date is valid, with its valid ranges.
pub(super) struct Exception<'a> {
    /// The date it replaces.
    pub date: Date,
    /// The date as written.
    pub lit: &'a DateLit,
    /// Its ranges whose times are valid; empty when `closed`.
    pub ranges: Vec<&'a TimeRange>,
}

/// The parts of one schedule that passed the value checks.
#[derive(Default)]
pub(super) struct Rules<'a> {
    /// Weekly ranges per day item.
    pub weekly: Vec<WeeklyRange<'a>>,
    /// Holiday items.
    pub holidays: Vec<Holiday<'a>>,
    /// Exceptions in source order.
    pub exceptions: Vec<Exception<'a>>,
}

/// Returns the days of a day item as a mask with bit 0 for Monday. A range
/// such as `fri..mon` wraps over the weekend.
pub(super) fn day_mask(days: &DayRange) -> u8 {
    let last = days.last.index();
    let mut day = days.first.index();
    let mut mask = 0u8;
    loop {
        mask |= 1 << day;
        if day == last {
            return mask;
        }
        day = (day + 1) % 7;
    }
}

/// Returns "Friday", "Monday and Friday" or "Monday, Tuesday and Friday".
fn day_list(mask: u8) -> String {
    let names: Vec<&str> = DAY_NAMES
        .iter()
        .enumerate()
        .filter(|(day, _)| mask & (1 << day) != 0)
        .map(|(_, name)| *name)
        .collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// Returns "on Friday", "from Monday to Friday" or "on Monday and Friday".
fn on_days(mask: u8) -> String {
    let first = mask.trailing_zeros();
    // One past the highest day in the mask.
    let last = 8 - mask.leading_zeros();
    let count = mask.count_ones();
    if count >= 3 && last - first == count {
        let name = |day: u32| DAY_NAMES.get(day as usize).copied().unwrap_or_default();
        return format!("from {} to {}", name(first), name(last - 1));
    }
    format!("on {}", day_list(mask))
}

fn days_text(days: &DayRange) -> String {
    if days.first == days.last {
        days.first.as_str().to_string()
    } else {
        format!("{}..{}", days.first.as_str(), days.last.as_str())
    }
}

/// Reports a rule whose day items list a day more than once, such as
/// `mon..fri, fri`, and returns the days of each item with the repeated
/// ones removed.
pub(super) fn unique_days(
    file: FileId,
    items: &[DayRange],
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<u8> {
    let mut seen = 0u8;
    let mut masks = Vec::with_capacity(items.len());
    let mut repeated = 0u8;
    let mut first_repeat: Option<&DayRange> = None;
    for item in items {
        let mask = day_mask(item);
        if mask & seen != 0 && first_repeat.is_none() {
            first_repeat = Some(item);
        }
        repeated |= mask & seen;
        masks.push(mask & !seen);
        seen |= mask;
    }
    if let Some(item) = first_repeat {
        let written: Vec<String> = items.iter().map(days_text).collect();
        let mut diagnostic = Diagnostic::new(
            Code::OverlappingRanges,
            format!(
                "`{}` lists {} twice",
                written.join(", "),
                day_list(repeated)
            ),
        )
        .primary(file, item.span, "this day is already listed");
        if let Some(earlier) = items
            .iter()
            .find(|earlier| day_mask(earlier) & day_mask(item) & repeated != 0)
        {
            diagnostic = diagnostic.secondary(file, earlier.span, "listed here first");
        }
        diagnostics.push(diagnostic.help("list each day once"));
    }
    masks
}

/// The rule an open range comes from.
#[derive(Clone, Copy)]
enum Origin<'a> {
    /// A weekly rule, through one of its day items.
    Weekly(&'a DayRange, &'a TimeRange),
    /// An exception.
    Exception(&'a DateLit, &'a TimeRange),
}

impl Origin<'_> {
    fn range(&self) -> &TimeRange {
        match self {
            Origin::Weekly(_, range) | Origin::Exception(_, range) => range,
        }
    }

    /// Returns a key that identifies the origin and orders it by position.
    fn key(&self) -> (u32, u32) {
        match self {
            Origin::Weekly(days, range) => (range.span.start, days.span.start),
            Origin::Exception(date, range) => (range.span.start, date.span.start),
        }
    }

    fn describe(&self) -> String {
        match self {
            Origin::Weekly(days, range) => format!("`{}` {}", days_text(days), range_text(range)),
            Origin::Exception(date, range) => {
                format!("`on {}` {}", date_text(date), range_text(range))
            }
        }
    }
}

/// Open minutes on one day, `start` included and `end` excluded.
#[derive(Clone, Copy)]
struct Interval<'a> {
    start: u32,
    end: u32,
    origin: Origin<'a>,
    /// True for the part of an overnight range after midnight.
    spill: bool,
}

/// Returns the part of a range on its own day and, for an overnight range,
/// the part on the next day.
fn split(origin: Origin<'_>) -> (Interval<'_>, Option<Interval<'_>>) {
    let range = origin.range();
    let (start, end) = (range.start.minutes(), range.end.minutes());
    if !range.overnight {
        let today = Interval {
            start,
            end,
            origin,
            spill: false,
        };
        return (today, None);
    }
    let today = Interval {
        start,
        end: DAY_MINUTES,
        origin,
        spill: false,
    };
    let tomorrow = (end > 0).then_some(Interval {
        start: 0,
        end,
        origin,
        spill: true,
    });
    (today, tomorrow)
}

/// The days or the date on which two ranges overlap.
#[derive(Clone, Copy)]
enum Place {
    /// On these weekdays, bit 0 for Monday.
    Weekdays(u8),
    /// On one date.
    Date(Date),
}

/// Two ranges that overlap, found on one or more days.
struct Overlap<'a> {
    earlier: Interval<'a>,
    later: Interval<'a>,
    place: Place,
}

/// The keys of two origins, the earlier first.
type PairKey = ((u32, u32), (u32, u32));

/// Overlaps found so far, one per pair of ranges.
#[derive(Default)]
struct Overlaps<'a> {
    found: BTreeMap<PairKey, Overlap<'a>>,
}

impl<'a> Overlaps<'a> {
    fn add(&mut self, a: Interval<'a>, b: Interval<'a>, place: Place) {
        let (earlier, later) = if a.origin.key() <= b.origin.key() {
            (a, b)
        } else {
            (b, a)
        };
        let key = (earlier.origin.key(), later.origin.key());
        let overlap = self.found.entry(key).or_insert(Overlap {
            earlier,
            later,
            place,
        });
        if let (Place::Weekdays(known), Place::Weekdays(more)) = (&mut overlap.place, place) {
            *known |= more;
        }
    }

    /// Adds an overlap for each interval of one day that starts before an
    /// earlier one ends, paired with the earlier interval that reaches
    /// furthest. Each interval is paired at most once per day, so many
    /// copies of one range give one report per copy, not one per pair.
    fn scan(&mut self, day: &mut [Interval<'a>], place: Place) {
        day.sort_by_key(|interval| (interval.start, interval.end));
        let mut furthest: Option<Interval<'a>> = None;
        for interval in day.iter() {
            if let Some(earlier) = furthest
                && interval.start < earlier.end
            {
                self.add(earlier, *interval, place);
            }
            if furthest.is_none_or(|earlier| interval.end > earlier.end) {
                furthest = Some(*interval);
            }
        }
    }

    fn report(self, file: FileId, diagnostics: &mut Vec<Diagnostic>) {
        for overlap in self.found.into_values() {
            diagnostics.push(overlap_diagnostic(file, &overlap));
        }
    }
}

fn overlap_diagnostic(file: FileId, overlap: &Overlap<'_>) -> Diagnostic {
    let place = match overlap.place {
        Place::Weekdays(mask) => on_days(mask),
        Place::Date(date) => format!("on {date}"),
    };
    let (earlier, later) = (&overlap.earlier, &overlap.later);
    let label = |interval: &Interval<'_>, plain: &str| {
        if interval.spill {
            String::from("runs past midnight into the next day")
        } else {
            plain.to_string()
        }
    };
    Diagnostic::new(
        Code::OverlappingRanges,
        format!(
            "{} overlaps {} {place}",
            later.origin.describe(),
            earlier.origin.describe()
        ),
    )
    .primary(
        file,
        later.origin.range().span,
        label(later, &format!("overlaps {place}")),
    )
    .secondary(
        file,
        earlier.origin.range().span,
        label(earlier, "the range it overlaps"),
    )
    .help(overlap_help(overlap))
}

/// Returns the help of an overlap. A weekly overnight range that runs into
/// an exception's date gets its own text, because the two cannot be merged
/// and an admin may expect the exception to cancel it.
fn overlap_help(overlap: &Overlap<'_>) -> String {
    let (earlier, later) = (&overlap.earlier, &overlap.later);
    let pair = if earlier.spill {
        (earlier, later)
    } else {
        (later, earlier)
    };
    if let (
        Interval {
            origin: Origin::Weekly(_, weekly),
            spill: true,
            ..
        },
        Interval {
            origin: Origin::Exception(date, _),
            ..
        },
    ) = pair
    {
        let date = date_text(date);
        let end = time_text(&weekly.end);
        return format!(
            "`on {date}` replaces only that date's weekly ranges, so the overnight range of \
             the day before still runs into it until {end}; start the exception's range at \
             {end} or later, or give the day before an exception of its own"
        );
    }
    String::from(
        "ranges on one day must not overlap, counting overnight ranges on the day they run \
         into; merge them into one range, or change the times so that one ends before the \
         other starts",
    )
}

/// Reports every contradiction in one schedule's valid rules.
pub(super) fn check(file: FileId, rules: &Rules<'_>, diagnostics: &mut Vec<Diagnostic>) {
    let mut overlaps = Overlaps::default();
    let weekly = weekly_days(rules);
    for (day, intervals) in weekly.iter().enumerate() {
        let mut intervals = intervals.clone();
        overlaps.scan(&mut intervals, Place::Weekdays(1 << day));
    }
    let holidays = HolidayIndex::new(&rules.holidays);
    holidays.report_repeats(file, diagnostics);
    let exceptions = effective_exceptions(file, rules, &holidays, diagnostics);
    check_exception_days(&exceptions, &holidays, &weekly, &mut overlaps);
    overlaps.report(file, diagnostics);
}

/// Returns each weekday's intervals, overnight parts on the next day.
fn weekly_days<'a>(rules: &Rules<'a>) -> [Vec<Interval<'a>>; 7] {
    let mut days: [Vec<Interval<'a>>; 7] = Default::default();
    for weekly in &rules.weekly {
        let (today, tomorrow) = split(Origin::Weekly(weekly.days, weekly.range));
        for (day, intervals) in (0..7).zip(days.iter_mut()) {
            if weekly.mask & (1 << day) != 0 {
                intervals.push(today);
            }
        }
        if let Some(tomorrow) = tomorrow {
            for (day, intervals) in (0..7).zip(days.iter_mut()) {
                let yesterday = (day + 6) % 7;
                if weekly.mask & (1 << yesterday) != 0 {
                    intervals.push(tomorrow);
                }
            }
        }
    }
    days
}

/// Holidays sorted by first date, for repeats and for lookups by date.
struct HolidayIndex<'r, 'a> {
    sorted: Vec<&'r Holiday<'a>>,
    /// For each prefix of `sorted`, the holiday that reaches furthest.
    furthest: Vec<&'r Holiday<'a>>,
}

impl<'r, 'a> HolidayIndex<'r, 'a> {
    fn new(holidays: &'r [Holiday<'a>]) -> Self {
        let mut sorted: Vec<&Holiday<'a>> = holidays.iter().collect();
        sorted.sort_by_key(|holiday| (holiday.first, holiday.item.span.start));
        let mut furthest: Vec<&Holiday<'a>> = Vec::with_capacity(sorted.len());
        for &holiday in &sorted {
            let best = match furthest.last() {
                Some(&previous) if previous.last >= holiday.last => previous,
                _ => holiday,
            };
            furthest.push(best);
        }
        HolidayIndex { sorted, furthest }
    }

    /// Returns a holiday that includes `date`.
    fn find(&self, date: Date) -> Option<&'r Holiday<'a>> {
        let starting = self.sorted.partition_point(|holiday| holiday.first <= date);
        let candidate = *self.furthest.get(starting.checked_sub(1)?)?;
        (candidate.last >= date).then_some(candidate)
    }

    /// Reports each holiday item that shares dates with an earlier one in
    /// date order, paired with the earlier item that reaches furthest.
    fn report_repeats(&self, file: FileId, diagnostics: &mut Vec<Diagnostic>) {
        for (holiday, earlier) in self.sorted.iter().skip(1).zip(&self.furthest) {
            if holiday.first <= earlier.last {
                diagnostics.push(repeated_holiday(file, earlier, holiday));
            }
        }
    }
}

fn holiday_text(holiday: &Holiday<'_>) -> String {
    if holiday.first == holiday.last {
        holiday.first.to_string()
    } else {
        format!("{}..{}", holiday.first, holiday.last)
    }
}

fn repeated_holiday(file: FileId, a: &Holiday<'_>, b: &Holiday<'_>) -> Diagnostic {
    let (earlier, later) = if a.item.span.start <= b.item.span.start {
        (a, b)
    } else {
        (b, a)
    };
    let shared_first = earlier.first.max(later.first);
    let shared_last = earlier.last.min(later.last);
    let shared = if shared_first == shared_last {
        shared_first.to_string()
    } else {
        format!("{shared_first}..{shared_last}")
    };
    let message = if earlier.first == earlier.last && later.first == later.last {
        format!("holiday {shared} is listed twice")
    } else {
        format!(
            "holidays {} and {} both include {shared}",
            holiday_text(earlier),
            holiday_text(later)
        )
    };
    Diagnostic::new(Code::OverlappingRanges, message)
        .primary(
            file,
            later.item.span,
            format!("{shared} is already a holiday"),
        )
        .secondary(file, earlier.item.span, "listed here first")
        .help("list each holiday date once; merge overlapping ranges")
}

/// Reports exceptions that repeat a date or fall on a holiday, and returns
/// the rest by date, because only those decide the hours of their dates.
fn effective_exceptions<'r, 'a>(
    file: FileId,
    rules: &'r Rules<'a>,
    holidays: &HolidayIndex<'_, 'a>,
    diagnostics: &mut Vec<Diagnostic>,
) -> BTreeMap<Date, &'r Exception<'a>> {
    let mut by_date: BTreeMap<Date, &Exception<'a>> = BTreeMap::new();
    for exception in &rules.exceptions {
        if let Some(first) = by_date.get(&exception.date) {
            diagnostics.push(repeated_exception(file, first, exception));
            continue;
        }
        by_date.insert(exception.date, exception);
    }
    by_date.retain(|date, exception| {
        let Some(holiday) = holidays.find(*date) else {
            return true;
        };
        diagnostics.push(holiday_exception(file, exception, holiday));
        false
    });
    by_date
}

fn repeated_exception(file: FileId, first: &Exception<'_>, again: &Exception<'_>) -> Diagnostic {
    let date = date_text(again.lit);
    Diagnostic::new(
        Code::OverlappingRanges,
        format!("two exceptions for {date}"),
    )
    .primary(file, again.lit.span, "second exception for this date")
    .secondary(file, first.lit.span, "first exception for this date")
    .help(format!(
        "keep one `on {date}` rule and put all the ranges of that date on it"
    ))
}

fn holiday_exception(file: FileId, exception: &Exception<'_>, holiday: &Holiday<'_>) -> Diagnostic {
    let date = date_text(exception.lit);
    Diagnostic::new(
        Code::OverlappingRanges,
        format!("{date} is both a holiday and an exception"),
    )
    .primary(file, exception.lit.span, "exception on a holiday")
    .secondary(
        file,
        holiday.item.span,
        format!("this holiday includes {date}"),
    )
    .help(format!(
        "a holiday beats an exception, so `on {date}` has no effect; remove one of them"
    ))
}

/// Checks each exception's ranges against each other and against the
/// overnight part of the day before's ranges, and its own overnight part
/// against the next date's ranges.
fn check_exception_days<'a>(
    exceptions: &BTreeMap<Date, &Exception<'a>>,
    holidays: &HolidayIndex<'_, 'a>,
    weekly: &[Vec<Interval<'a>>; 7],
    overlaps: &mut Overlaps<'a>,
) {
    let mut days: BTreeMap<Date, Vec<Interval<'a>>> = BTreeMap::new();
    for (&date, exception) in exceptions {
        if let Ok(previous) = date.yesterday()
            && !exceptions.contains_key(&previous)
            && holidays.find(previous).is_none()
        {
            let spills = weekly_spills_into(date, weekly);
            days.entry(date).or_default().extend(spills);
        }
        for &range in &exception.ranges {
            let (today, tomorrow) = split(Origin::Exception(exception.lit, range));
            days.entry(date).or_default().push(today);
            let Some(tomorrow) = tomorrow else {
                continue;
            };
            let Ok(next) = date.tomorrow() else {
                continue;
            };
            if exceptions.contains_key(&next) {
                days.entry(next).or_default().push(tomorrow);
            } else if holidays.find(next).is_none() {
                spill_into_weekly(tomorrow, next, weekly, overlaps);
            }
        }
    }
    for (date, mut intervals) in days {
        overlaps.scan(&mut intervals, Place::Date(date));
    }
}

/// Returns the parts after midnight of the weekly ranges of the weekday
/// before `date`, which run into `date`.
fn weekly_spills_into<'a>(
    date: Date,
    weekly: &[Vec<Interval<'a>>; 7],
) -> impl Iterator<Item = Interval<'a>> {
    let weekday = date.weekday().to_monday_zero_offset();
    usize::try_from(weekday)
        .ok()
        .and_then(|day| weekly.get(day))
        .into_iter()
        .flatten()
        .filter(|interval| interval.spill)
        .copied()
}

/// Checks an exception's part after midnight against the weekly ranges that
/// start on the next date. Weekly overnight parts do not count there: they
/// come from the exception's own date, which the exception replaces.
fn spill_into_weekly<'a>(
    spill: Interval<'a>,
    date: Date,
    weekly: &[Vec<Interval<'a>>; 7],
    overlaps: &mut Overlaps<'a>,
) {
    let weekday = date.weekday().to_monday_zero_offset();
    let Some(day) = usize::try_from(weekday)
        .ok()
        .and_then(|day| weekly.get(day))
    else {
        return;
    };
    for interval in day.iter().filter(|interval| !interval.spill) {
        if interval.start < spill.end && spill.start < interval.end {
            overlaps.add(spill, *interval, Place::Date(date));
        }
    }
}
