#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use crate::bytecode::{DateRange, ScheduleException};
use jiff::ToSpan;
use proptest::prelude::*;

const MON: usize = 0;
const TUE: usize = 1;
const WED: usize = 2;
const THU: usize = 3;
const FRI: usize = 4;
const SAT: usize = 5;
const SUN: usize = 6;

fn zone(name: &str) -> TimeZone {
    jiff::tz::db().get(name).unwrap()
}

/// Parses an instant written in UTC, such as `2026-03-29T01:00:00Z`.
fn utc(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// Returns the instant of a wall-clock time in `zone`. Times that a clock
/// change skips or repeats are resolved the way jiff's `compatible` does;
/// the DST tests use [`utc`] instead.
fn wall(zone: &TimeZone, text: &str) -> Timestamp {
    let datetime: civil::DateTime = text.parse().unwrap();
    datetime
        .to_zoned_datetime(zone.clone())
        .unwrap()
        .timestamp()
}

fn date(text: &str) -> Date {
    bytecode_date(text.parse().unwrap())
}

/// Parses `HH:MM`, where the hour may reach 48.
fn minutes(text: &str) -> u16 {
    let (hour, minute) = text.split_once(':').unwrap();
    hour.parse::<u16>().unwrap() * 60 + minute.parse::<u16>().unwrap()
}

/// Parses `HH:MM..HH:MM`.
fn range(text: &str) -> MinuteRange {
    let (start, end) = text.split_once("..").unwrap();
    MinuteRange {
        start: minutes(start),
        end: minutes(end),
    }
}

fn schedule(zone: &str) -> Schedule {
    Schedule {
        name: String::from("office"),
        zone: zone.to_string(),
        weekly: Default::default(),
        holidays: Vec::new(),
        exceptions: Vec::new(),
    }
}

fn add_weekly(schedule: &mut Schedule, days: &[usize], ranges: &str) {
    for &day in days {
        for text in ranges.split(", ") {
            schedule.weekly[day].push(range(text));
        }
        schedule.weekly[day].sort();
    }
}

fn add_holiday(schedule: &mut Schedule, first: &str, last: &str) {
    schedule.holidays.push(DateRange {
        first: date(first),
        last: date(last),
    });
}

/// Adds an exception; `ranges` is `closed` or a list of ranges.
fn add_exception(schedule: &mut Schedule, on: &str, ranges: &str) {
    let ranges = if ranges == "closed" {
        Vec::new()
    } else {
        ranges.split(", ").map(range).collect()
    };
    schedule.exceptions.push(ScheduleException {
        date: date(on),
        ranges,
    });
    schedule.exceptions.sort_by_key(|exception| exception.date);
}

/// Builds an office schedule: weekdays 08:00-17:00, Saturday morning, a short
/// December 24, Christmas and New Year's Day closed.
fn office() -> Schedule {
    let mut office = schedule("Europe/Ljubljana");
    add_weekly(&mut office, &[MON, TUE, WED, THU, FRI], "08:00..17:00");
    add_weekly(&mut office, &[SAT], "09:00..12:00");
    add_exception(&mut office, "2026-12-24", "08:00..12:00");
    add_holiday(&mut office, "2026-12-25", "2026-12-26");
    add_holiday(&mut office, "2027-01-01", "2027-01-01");
    office
}

/// Evaluates `schedule` at a wall-clock time in its own zone.
fn at_wall(schedule: &Schedule, text: &str) -> Verdict {
    let zone = zone(&schedule.zone);
    evaluate(schedule, &zone, wall(&zone, text))
}

fn at_utc(schedule: &Schedule, text: &str) -> Verdict {
    evaluate(schedule, &zone(&schedule.zone), utc(text))
}

#[test]
fn weekday_closing_minute() {
    let office = office();
    assert!(at_wall(&office, "2026-12-02T16:59").open);
    assert!(at_wall(&office, "2026-12-02T16:59:59.999").open);
    assert!(!at_wall(&office, "2026-12-02T17:00").open);
    assert!(!at_wall(&office, "2026-12-02T07:59:59").open);
    assert!(at_wall(&office, "2026-12-02T08:00").open);
}

#[test]
fn weekday_verdict_reason() {
    let verdict = at_wall(&office(), "2026-12-02T16:59");
    assert_eq!(verdict.date, date("2026-12-02"));
    assert_eq!(verdict.minute, minutes("16:59"));
    assert_eq!(verdict.weekday, WED as u8);
    assert_eq!(verdict.zone_abbreviation.as_str(), "CET");
    assert_eq!(
        verdict.reason,
        VerdictReason::Range {
            source: RangeSource::Weekly { weekday: WED as u8 },
            range: range("08:00..17:00"),
        }
    );
    let closed = at_wall(&office(), "2026-12-02T17:00");
    assert_eq!(
        closed.reason,
        VerdictReason::OutsideHours {
            source: RangeSource::Weekly { weekday: WED as u8 }
        }
    );
    assert!(!closed.holiday);
}

#[test]
fn exception_morning_and_afternoon() {
    let office = office();
    let morning = at_wall(&office, "2026-12-24T09:30");
    assert!(morning.open);
    assert_eq!(
        morning.reason,
        VerdictReason::Range {
            source: RangeSource::Exception {
                date: date("2026-12-24")
            },
            range: range("08:00..12:00"),
        }
    );
    assert!(at_wall(&office, "2026-12-24T11:59").open);
    assert!(!at_wall(&office, "2026-12-24T12:00").open);
    let afternoon = at_wall(&office, "2026-12-24T17:59");
    assert!(!afternoon.open);
    assert_eq!(
        afternoon.reason,
        VerdictReason::OutsideHours {
            source: RangeSource::Exception {
                date: date("2026-12-24")
            }
        }
    );
    // The exception replaces only its own date.
    assert!(at_wall(&office, "2026-12-23T16:59").open);
}

#[test]
fn holiday_closes_whole_date() {
    let office = office();
    for time in ["00:00", "09:00", "10:00", "16:59", "23:59"] {
        let verdict = at_wall(&office, &format!("2026-12-25T{time}"));
        assert!(!verdict.open, "open on Christmas at {time}");
        assert!(verdict.holiday, "not a holiday at {time}");
        assert_eq!(verdict.reason, VerdictReason::Holiday);
    }
    assert!(!at_wall(&office, "2026-12-26T10:00").open);
    assert!(at_wall(&office, "2026-12-28T10:00").open);
}

#[test]
fn holiday_beats_exception() {
    let mut office = office();
    add_exception(&mut office, "2026-12-25", "08:00..12:00");
    let verdict = at_wall(&office, "2026-12-25T09:00");
    assert!(!verdict.open);
    assert_eq!(verdict.reason, VerdictReason::Holiday);
}

/// Builds a help desk schedule open from Friday 22:00 to Saturday 02:00.
fn night_desk() -> Schedule {
    let mut desk = schedule("Europe/Ljubljana");
    add_weekly(&mut desk, &[FRI], "22:00..26:00");
    desk
}

#[test]
fn overnight_friday_to_saturday() {
    let desk = night_desk();
    assert!(!at_wall(&desk, "2026-12-04T21:59").open);
    assert!(at_wall(&desk, "2026-12-04T22:00").open);
    assert!(at_wall(&desk, "2026-12-04T23:59").open);
    assert!(at_wall(&desk, "2026-12-05T00:00").open);
    let late = at_wall(&desk, "2026-12-05T01:59");
    assert!(late.open);
    assert_eq!(
        late.reason,
        VerdictReason::Overnight {
            source: RangeSource::Weekly { weekday: FRI as u8 },
            range: range("22:00..26:00"),
        }
    );
    assert!(!at_wall(&desk, "2026-12-05T02:00").open);
    // Thursday has no range, so Friday morning is closed.
    assert!(!at_wall(&desk, "2026-12-04T01:00").open);
}

#[test]
fn overnight_into_holiday() {
    let mut desk = night_desk();
    add_holiday(&mut desk, "2026-12-05", "2026-12-05");
    assert!(at_wall(&desk, "2026-12-04T23:59").open);
    let verdict = at_wall(&desk, "2026-12-05T00:30");
    assert!(!verdict.open);
    assert_eq!(verdict.reason, VerdictReason::Holiday);
}

#[test]
fn overnight_from_holiday() {
    let mut desk = night_desk();
    add_holiday(&mut desk, "2026-12-04", "2026-12-04");
    assert!(!at_wall(&desk, "2026-12-04T22:30").open);
    let after = at_wall(&desk, "2026-12-05T00:30");
    assert!(!after.open, "a holiday's range spilled into the next date");
    assert!(!after.holiday);
}

#[test]
fn overnight_from_exception() {
    let mut office = office();
    // Thursday 2026-12-31 open until 02:00 on New Year's Day, which is a
    // holiday; Thursday 2027-01-07 runs into a working Friday.
    add_exception(&mut office, "2026-12-31", "20:00..26:00");
    add_exception(&mut office, "2027-01-07", "20:00..26:00");
    assert!(at_wall(&office, "2026-12-31T23:59").open);
    assert!(!at_wall(&office, "2026-12-31T10:00").open);
    assert!(!at_wall(&office, "2027-01-01T00:30").open);
    let verdict = at_wall(&office, "2027-01-08T01:59");
    assert!(verdict.open);
    assert_eq!(
        verdict.reason,
        VerdictReason::Overnight {
            source: RangeSource::Exception {
                date: date("2027-01-07")
            },
            range: range("20:00..26:00"),
        }
    );
    assert!(!at_wall(&office, "2027-01-08T02:00").open);
    assert!(at_wall(&office, "2027-01-08T08:00").open);
}

#[test]
fn exception_after_overnight_weekly() {
    let mut desk = night_desk();
    add_weekly(&mut desk, &[SAT], "09:00..12:00");
    add_exception(&mut desk, "2026-12-05", "closed");
    // Friday's range still runs into the Saturday that has an exception.
    assert!(at_wall(&desk, "2026-12-05T01:00").open);
    assert!(!at_wall(&desk, "2026-12-05T02:00").open);
    let morning = at_wall(&desk, "2026-12-05T10:00");
    assert!(!morning.open);
    assert_eq!(
        morning.reason,
        VerdictReason::OutsideHours {
            source: RangeSource::Exception {
                date: date("2026-12-05")
            }
        }
    );
    // The next Saturday has no exception.
    assert!(at_wall(&desk, "2026-12-12T10:00").open);
}

#[test]
fn exception_replaces_overnight_weekly() {
    let mut desk = night_desk();
    add_exception(&mut desk, "2026-12-04", "08:00..12:00");
    assert!(!at_wall(&desk, "2026-12-04T22:00").open);
    assert!(!at_wall(&desk, "2026-12-05T01:00").open);
    assert!(at_wall(&desk, "2026-12-11T22:00").open);
}

#[test]
fn spring_forward_ljubljana() {
    let mut office = schedule("Europe/Ljubljana");
    add_weekly(&mut office, &[SAT, SUN, MON], "08:00..17:00");
    // Saturday in CET, Sunday and Monday in CEST.
    assert!(!at_utc(&office, "2026-03-28T06:59:00Z").open);
    assert!(at_utc(&office, "2026-03-28T07:00:00Z").open);
    assert!(at_utc(&office, "2026-03-28T15:59:00Z").open);
    assert!(!at_utc(&office, "2026-03-28T16:00:00Z").open);
    assert!(!at_utc(&office, "2026-03-29T05:59:00Z").open);
    let sunday = at_utc(&office, "2026-03-29T06:00:00Z");
    assert!(sunday.open);
    assert_eq!(sunday.minute, minutes("08:00"));
    assert_eq!(sunday.zone_abbreviation.as_str(), "CEST");
    assert!(at_utc(&office, "2026-03-29T14:59:00Z").open);
    assert!(!at_utc(&office, "2026-03-29T15:00:00Z").open);
    assert!(!at_utc(&office, "2026-03-30T05:59:00Z").open);
    assert!(at_utc(&office, "2026-03-30T06:00:00Z").open);
}

#[test]
fn spring_gap_range_edges() {
    // 2026-03-29 in Ljubljana: 02:00 CET is followed by 03:00 CEST.
    let mut starts = schedule("Europe/Ljubljana");
    add_weekly(&mut starts, &[SUN], "02:30..05:00");
    assert!(!at_utc(&starts, "2026-03-29T00:59:59Z").open);
    let jump = at_utc(&starts, "2026-03-29T01:00:00Z");
    assert!(
        jump.open,
        "a range starting in the gap did not open at 03:00"
    );
    assert_eq!(jump.minute, minutes("03:00"));

    let mut ends = schedule("Europe/Ljubljana");
    add_weekly(&mut ends, &[SUN], "01:00..02:30");
    assert!(at_utc(&ends, "2026-03-29T00:59:00Z").open);
    assert!(!at_utc(&ends, "2026-03-29T01:00:00Z").open);
}

#[test]
fn spring_gap_range_never_opens() {
    let mut inside = schedule("Europe/Ljubljana");
    add_weekly(&mut inside, &[SUN], "02:10..02:50");
    let mut instant = utc("2026-03-28T22:00:00Z");
    while instant < utc("2026-03-29T06:00:00Z") {
        assert!(!at(&inside, instant).open, "open at {instant}");
        instant = instant.checked_add(1.minute()).unwrap();
    }
    // A week later the range opens as written.
    assert!(at_wall(&inside, "2026-04-05T02:10").open);
}

fn at(schedule: &Schedule, instant: Timestamp) -> Verdict {
    evaluate(schedule, &zone(&schedule.zone), instant)
}

#[test]
fn fall_back_ljubljana() {
    let mut office = schedule("Europe/Ljubljana");
    add_weekly(&mut office, &[SAT, SUN], "08:00..17:00");
    assert!(at_utc(&office, "2026-10-24T06:00:00Z").open);
    assert!(!at_utc(&office, "2026-10-24T05:59:00Z").open);
    assert!(!at_utc(&office, "2026-10-25T06:59:00Z").open);
    let sunday = at_utc(&office, "2026-10-25T07:00:00Z");
    assert!(sunday.open);
    assert_eq!(sunday.zone_abbreviation.as_str(), "CET");
    assert!(at_utc(&office, "2026-10-25T15:59:00Z").open);
    assert!(!at_utc(&office, "2026-10-25T16:00:00Z").open);
}

#[test]
fn repeated_hour_counts_twice() {
    // 2026-10-25 in Ljubljana: 02:00-02:59 happens in CEST, then in CET.
    let mut early = schedule("Europe/Ljubljana");
    add_weekly(&mut early, &[SUN], "02:00..02:30");
    let first = at_utc(&early, "2026-10-25T00:00:00Z");
    assert!(first.open);
    assert_eq!(first.zone_abbreviation.as_str(), "CEST");
    assert!(at_utc(&early, "2026-10-25T00:29:00Z").open);
    assert!(!at_utc(&early, "2026-10-25T00:30:00Z").open);
    let second = at_utc(&early, "2026-10-25T01:00:00Z");
    assert!(second.open);
    assert_eq!(second.zone_abbreviation.as_str(), "CET");
    assert_eq!(second.minute, minutes("02:00"));
    assert!(at_utc(&early, "2026-10-25T01:29:00Z").open);
    assert!(!at_utc(&early, "2026-10-25T01:30:00Z").open);
    assert!(!at_utc(&early, "2026-10-24T23:59:00Z").open);
}

#[test]
fn sydney_both_offsets() {
    let mut office = schedule("Australia/Sydney");
    add_weekly(&mut office, &[MON, TUE, WED, THU, FRI], "08:00..17:00");
    // January is summer time (AEDT, +11).
    assert!(at_utc(&office, "2026-01-15T05:59:00Z").open);
    assert!(!at_utc(&office, "2026-01-15T06:00:00Z").open);
    assert_eq!(
        at_utc(&office, "2026-01-15T05:59:00Z")
            .zone_abbreviation
            .as_str(),
        "AEDT"
    );
    // July is standard time (AEST, +10).
    assert!(at_utc(&office, "2026-07-15T06:59:00Z").open);
    assert!(!at_utc(&office, "2026-07-15T07:00:00Z").open);
    assert!(!at_utc(&office, "2026-07-14T21:59:00Z").open);
    assert!(at_utc(&office, "2026-07-14T22:00:00Z").open);
}

#[test]
fn sydney_spring_gap_in_october() {
    // 2026-10-04 in Sydney: 02:00 AEST is followed by 03:00 AEDT.
    let mut inside = schedule("Australia/Sydney");
    add_weekly(&mut inside, &[SUN], "02:00..02:30, 02:45..03:15");
    assert!(!at_utc(&inside, "2026-10-03T15:59:00Z").open);
    let jump = at_utc(&inside, "2026-10-03T16:00:00Z");
    assert_eq!(jump.minute, minutes("03:00"));
    assert!(jump.open, "02:45..03:15 did not open when the clock jumped");
    assert!(at_utc(&inside, "2026-10-03T16:14:00Z").open);
    assert!(!at_utc(&inside, "2026-10-03T16:15:00Z").open);
}

#[test]
fn santiago_midnight_skipped() {
    // 2026-09-06 in Santiago: Saturday 23:59 (-04) is followed by Sunday
    // 01:00 (-03), so Sunday 00:00-00:59 never shows.
    let mut late = schedule("America/Santiago");
    add_weekly(&mut late, &[SAT], "22:00..24:30");
    add_weekly(&mut late, &[SUN], "00:00..08:00");
    assert!(at_utc(&late, "2026-09-06T03:59:00Z").open);
    let jump = at_utc(&late, "2026-09-06T04:00:00Z");
    assert_eq!(jump.date, date("2026-09-06"));
    assert_eq!(jump.minute, minutes("01:00"));
    assert_eq!(
        jump.reason,
        VerdictReason::Range {
            source: RangeSource::Weekly { weekday: SUN as u8 },
            range: range("00:00..08:00"),
        }
    );
}

#[test]
fn santiago_saturday_hour_repeated() {
    // 2026-04-05 in Santiago: Sunday 00:00 (-03) becomes Saturday 23:00
    // (-04), so Saturday 23:00-23:59 happens twice and the date goes back.
    let mut late = schedule("America/Santiago");
    add_weekly(&mut late, &[SAT], "23:00..24:00");
    add_holiday(&mut late, "2026-04-05", "2026-04-05");
    assert!(at_utc(&late, "2026-04-05T02:30:00Z").open);
    let second = at_utc(&late, "2026-04-05T03:30:00Z");
    assert!(second.open);
    assert_eq!(second.date, date("2026-04-04"));
    assert_eq!(second.minute, minutes("23:30"));
    let sunday = at_utc(&late, "2026-04-05T04:00:00Z");
    assert_eq!(sunday.date, date("2026-04-05"));
    assert!(sunday.holiday);
    assert!(!sunday.open);
}

#[test]
fn kathmandu_quarter_hour_offset() {
    let mut office = schedule("Asia/Kathmandu");
    add_weekly(&mut office, &[MON, TUE, WED, THU, FRI], "09:00..17:00");
    assert!(!at_utc(&office, "2026-06-10T03:14:00Z").open);
    assert!(at_utc(&office, "2026-06-10T03:15:00Z").open);
    assert!(at_utc(&office, "2026-06-10T11:14:59Z").open);
    assert!(!at_utc(&office, "2026-06-10T11:15:00Z").open);
    let verdict = at_utc(&office, "2026-06-10T03:15:00Z");
    assert_eq!(verdict.offset.seconds(), 5 * 3600 + 45 * 60);
    assert_eq!(verdict.zone_abbreviation.as_str(), "+0545");
}

#[test]
fn lord_howe_half_hour_shifts() {
    // 2026-04-05: 02:00 (+11) becomes 01:30 (+10:30), so 01:30-01:59
    // happens twice. 2026-10-04: 02:00 (+10:30) becomes 02:30 (+11).
    let mut desk = schedule("Australia/Lord_Howe");
    add_weekly(&mut desk, &[SUN], "01:30..01:45, 02:00..02:20");
    assert!(at_utc(&desk, "2026-04-04T14:30:00Z").open);
    assert!(!at_utc(&desk, "2026-04-04T14:45:00Z").open);
    let second = at_utc(&desk, "2026-04-04T15:00:00Z");
    assert_eq!(second.minute, minutes("01:30"));
    assert!(second.open);
    assert!(!at_utc(&desk, "2026-04-04T15:15:00Z").open);
    // In October, 02:00..02:20 lies inside the gap and never opens.
    let mut instant = utc("2026-10-03T14:00:00Z");
    while instant < utc("2026-10-03T17:00:00Z") {
        let verdict = at(&desk, instant);
        let in_second_range = verdict.minute >= minutes("02:00");
        assert!(
            !(verdict.open && in_second_range),
            "open at {instant}, local minute {}",
            verdict.minute
        );
        instant = instant.checked_add(1.minute()).unwrap();
    }
}

#[test]
fn year_end_overnight_and_holidays() {
    let mut desk = schedule("Europe/Ljubljana");
    add_weekly(&mut desk, &[THU], "20:00..27:00");
    add_weekly(&mut desk, &[FRI], "08:00..17:00");
    // Thursday 2026-12-31 runs into Friday 2027-01-01.
    let verdict = at_wall(&desk, "2027-01-01T02:59");
    assert!(verdict.open);
    assert_eq!(verdict.date, date("2027-01-01"));
    assert!(!at_wall(&desk, "2027-01-01T03:00").open);
    // A holiday range across the year end closes both dates, and the
    // spill of the first into the second.
    add_holiday(&mut desk, "2026-12-31", "2027-01-01");
    assert!(!at_wall(&desk, "2026-12-31T21:00").open);
    assert!(!at_wall(&desk, "2027-01-01T02:00").open);
    assert!(!at_wall(&desk, "2027-01-01T10:00").open);
    assert!(at_wall(&desk, "2027-01-08T02:00").open);
}

#[test]
fn leap_day_dates() {
    let mut office = schedule("Europe/Ljubljana");
    add_weekly(&mut office, &[MON], "20:00..26:00");
    add_weekly(&mut office, &[TUE, WED], "08:00..17:00");
    add_exception(&mut office, "2028-02-29", "18:00..25:00");
    // Monday 2028-02-28 runs into the leap day.
    assert!(at_wall(&office, "2028-02-29T01:30").open);
    // The leap day's exception replaces Tuesday's hours and runs into
    // March 1.
    assert!(!at_wall(&office, "2028-02-29T10:00").open);
    assert!(at_wall(&office, "2028-02-29T18:00").open);
    let march = at_wall(&office, "2028-03-01T00:30");
    assert!(march.open);
    assert_eq!(
        march.reason,
        VerdictReason::Overnight {
            source: RangeSource::Exception {
                date: date("2028-02-29")
            },
            range: range("18:00..25:00"),
        }
    );
    assert!(!at_wall(&office, "2028-03-01T01:00").open);
    add_holiday(&mut office, "2028-02-29", "2028-02-29");
    assert!(!at_wall(&office, "2028-02-29T01:30").open);
    assert!(!at_wall(&office, "2028-03-01T00:30").open);
}

#[test]
fn local_reads_zone_clock() {
    let ljubljana = zone("Europe/Ljubljana");
    let reading = local(&ljubljana, utc("2026-12-31T23:30:45Z"));
    assert_eq!(reading.date, date("2027-01-01"));
    assert_eq!(reading.minute, minutes("00:30"));
    assert_eq!(reading.weekday, FRI as u8);
    assert_eq!(reading.offset.seconds(), 3600);
    let santiago = zone("America/Santiago");
    let reading = local(&santiago, utc("2027-01-01T02:30:00Z"));
    assert_eq!(reading.date, date("2026-12-31"));
    assert_eq!(reading.minute, minutes("23:30"));
    assert_eq!(reading.weekday, THU as u8);
}

#[test]
fn holiday_lookup_by_date() {
    let office = office();
    assert!(is_holiday(&office, date("2026-12-25")));
    assert!(is_holiday(&office, date("2026-12-26")));
    assert!(!is_holiday(&office, date("2026-12-24")));
    assert!(!is_holiday(&office, date("2026-12-27")));
    assert!(is_holiday(&office, date("2027-01-01")));
}

#[test]
fn long_abbreviation_becomes_offset() {
    let offset = Offset::from_seconds(-(3 * 3600 + 30 * 60)).unwrap();
    let long = ZoneAbbreviation::new("A-VERY-LONG-ABBREVIATION", offset);
    assert_eq!(long.as_str(), "-03:30");
    let short = ZoneAbbreviation::new("NST", offset);
    assert_eq!(short.as_str(), "NST");
    assert_eq!(format!("{short:?}"), "\"NST\"");
}

#[test]
fn empty_schedule_is_closed() {
    let empty = schedule("UTC");
    let verdict = at_utc(&empty, "2026-12-02T10:00:00Z");
    assert!(!verdict.open);
    assert_eq!(
        verdict.reason,
        VerdictReason::OutsideHours {
            source: RangeSource::Weekly { weekday: WED as u8 }
        }
    );
}

/// Decides whether a schedule is open, written plainly from the rules
/// instead of the way [`evaluate`] does it. Every range that belongs to a
/// date that is not a holiday is an interval of civil date-times. The
/// schedule is open when the local date is not a holiday and the local
/// minute lies in one of them.
fn reference_open(schedule: &Schedule, zone: &TimeZone, at: Timestamp) -> bool {
    let local = at.to_zoned_datetime(zone.clone()).datetime();
    let local = local.with().second(0).subsec_nanosecond(0).build().unwrap();
    let today = local.date();
    let holiday = |day: civil::Date| {
        schedule.holidays.iter().any(|h| {
            let first: civil::Date =
                civil::date(h.first.year, h.first.month as i8, h.first.day as i8);
            let last: civil::Date = civil::date(h.last.year, h.last.month as i8, h.last.day as i8);
            first <= day && day <= last
        })
    };
    if holiday(today) {
        return false;
    }
    for day in [today.yesterday().unwrap(), today] {
        if holiday(day) {
            continue;
        }
        let exception = schedule
            .exceptions
            .iter()
            .find(|e| civil::date(e.date.year, e.date.month as i8, e.date.day as i8) == day);
        let ranges = match exception {
            Some(exception) => exception.ranges.clone(),
            None => {
                let weekday = day.weekday().to_monday_zero_offset() as usize;
                schedule.weekly[weekday].clone()
            }
        };
        let midnight = day.to_datetime(civil::time(0, 0, 0, 0));
        for range in ranges {
            let start = midnight
                .checked_add(i64::from(range.start).minutes())
                .unwrap();
            let end = midnight
                .checked_add(i64::from(range.end).minutes())
                .unwrap();
            if start <= local && local < end {
                return true;
            }
        }
    }
    false
}

const ZONES: [&str; 8] = [
    "Europe/Ljubljana",
    "Australia/Sydney",
    "America/Santiago",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "America/New_York",
    "Pacific/Chatham",
    "UTC",
];

/// Generates a range as stored: it starts before 24:00 and is at most a day long.
fn stored_range() -> impl Strategy<Value = MinuteRange> {
    (0u16..DAY, 1u16..=DAY).prop_map(|(start, length)| MinuteRange {
        start,
        end: start + length,
    })
}

fn ranges() -> impl Strategy<Value = Vec<MinuteRange>> {
    prop::collection::vec(stored_range(), 0..3).prop_map(|mut ranges| {
        ranges.sort();
        ranges
    })
}

/// Generates a schedule with holidays and exceptions on days near `base`,
/// so they matter for instants near it.
fn schedule_near(base: civil::Date) -> impl Strategy<Value = Schedule> {
    let weekly = prop::array::uniform7(ranges());
    let holidays = prop::collection::vec((-3i64..3, 0i64..2), 0..3);
    let exceptions = prop::collection::btree_map(-3i64..3, ranges(), 0..3);
    (weekly, holidays, exceptions).prop_map(move |(weekly, holidays, exceptions)| {
        let day = |offset: i64| bytecode_date(base.checked_add(offset.days()).unwrap());
        Schedule {
            name: String::from("random"),
            zone: String::new(),
            weekly,
            holidays: holidays
                .into_iter()
                .map(|(first, length)| DateRange {
                    first: day(first),
                    last: day(first + length),
                })
                .collect(),
            exceptions: exceptions
                .into_iter()
                .map(|(offset, ranges)| ScheduleException {
                    date: day(offset),
                    ranges,
                })
                .collect(),
        }
    })
}

/// Zones with the start of a three-day window, in UTC, around each of
/// their clock changes in 2026.
const CLOCK_CHANGES: [(&str, &str); 10] = [
    ("Europe/Ljubljana", "2026-03-28T00:00:00Z"),
    ("Europe/Ljubljana", "2026-10-24T00:00:00Z"),
    ("Australia/Sydney", "2026-04-03T12:00:00Z"),
    ("Australia/Sydney", "2026-10-02T12:00:00Z"),
    ("America/Santiago", "2026-04-04T00:00:00Z"),
    ("America/Santiago", "2026-09-05T00:00:00Z"),
    ("Australia/Lord_Howe", "2026-04-03T12:00:00Z"),
    ("Australia/Lord_Howe", "2026-10-02T12:00:00Z"),
    ("America/New_York", "2026-03-07T05:00:00Z"),
    ("America/New_York", "2026-10-31T04:00:00Z"),
];

/// Instants from 2025 to 2029, in seconds since the Unix epoch.
const FROM: i64 = 1_735_689_600;
const TO: i64 = 1_861_920_000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn evaluate_matches_reference(
        (second, zone_index, schedule) in (FROM..TO, 0..ZONES.len()).prop_flat_map(|(second, zone_index)| {
            let base = Timestamp::from_second(second).unwrap().to_zoned_datetime(TimeZone::UTC).date();
            (Just(second), Just(zone_index), schedule_near(base))
        })
    ) {
        let zone = zone(ZONES[zone_index]);
        let instant = Timestamp::from_second(second).unwrap();
        let verdict = evaluate(&schedule, &zone, instant);
        prop_assert_eq!(verdict.open, reference_open(&schedule, &zone, instant));
        let reading = local(&zone, instant);
        prop_assert_eq!(reading.date, verdict.date);
        prop_assert_eq!(reading.minute, verdict.minute);
    }

    #[test]
    fn evaluate_matches_reference_near_clock_changes(
        (minute, change, schedule) in (0i64..(3 * 24 * 60), 0..CLOCK_CHANGES.len())
            .prop_flat_map(|(minute, change)| {
                (Just(minute), Just(change), schedule_near(civil::date(2026, 3, 29)))
            })
    ) {
        let (name, first_utc) = CLOCK_CHANGES[change];
        let zone = zone(name);
        let start = utc(first_utc);
        let instant = start.checked_add(minute.minutes()).unwrap();

        // The schedule's dates were generated near 2026-03-29, the middle
        // day of a window that starts on 2026-03-28. They move by as many
        // days as this window's start is away from that date.
        let window = start.to_zoned_datetime(TimeZone::UTC).date();
        let shift = window.since(civil::date(2026, 3, 28)).unwrap().get_days();
        let move_date = |date: Date| {
            let civil = civil::date(date.year, date.month as i8, date.day as i8);
            bytecode_date(civil.checked_add(i64::from(shift).days()).unwrap())
        };
        let mut moved = schedule;
        for holiday in &mut moved.holidays {
            holiday.first = move_date(holiday.first);
            holiday.last = move_date(holiday.last);
        }
        for exception in &mut moved.exceptions {
            exception.date = move_date(exception.date);
        }

        prop_assert_eq!(
            evaluate(&moved, &zone, instant).open,
            reference_open(&moved, &zone, instant)
        );
    }
}
