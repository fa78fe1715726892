//! Business hours from source to verdict: `hours` declarations are
//! checked, compiled, encoded and decoded, then evaluated at instants
//! around closing times, exceptions, holidays, overnight ranges and clock
//! changes, in the schedule's own zone.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use flowc::bytecode::{Date, Module, Schedule, decode};
use flowc::diag::render_human;
use flowc::project::{Project, PromptInventory};
use flowc::vm::schedule::{LocalTime, RangeSource, Verdict, VerdictReason, evaluate, local};
use jiff::Timestamp;
use jiff::civil;
use jiff::tz::TimeZone;

/// Compiles a project and returns the named flow's module after a trip
/// through the binary format, the way the runtime loads it.
fn load(project: &Project, flow: &str) -> Module {
    let mut errors = project.diagnostics.clone();
    errors.extend(flowc::check::check(project));
    let rendered: Vec<String> = errors
        .iter()
        .map(|d| render_human(d, &project.sources, false))
        .collect();
    assert!(errors.is_empty(), "{}", rendered.join("\n"));
    let module = flowc::codegen::compile(project, flow).unwrap();
    decode(&module.encode()).unwrap()
}

/// Compiles a flow that reads the schedule `office` declared by `hours`
/// and returns that schedule.
fn office(hours: &str) -> Schedule {
    let source = format!(
        "flow support\n\n{hours}\non call {{\n  if not open(office) {{\n    play \"closed\"\n    \
         hangup\n  }}\n  play \"welcome\"\n  hangup\n}}\n"
    );
    let project = common::project(&[("support.flow", &source)]);
    load(&project, "support").schedules.remove(0)
}

/// Returns the schedule `name` of the shipped support flow.
fn shipped(name: &str) -> Schedule {
    let config = include_str!("../../flows/tok.yaml");
    let mut project = Project::new(Some(("tok.yaml", config)), PromptInventory::default());
    project.add_flow("support.flow", include_str!("../../flows/support.flow"));
    project.add_flow("office.flow", include_str!("../../flows/office.flow"));
    let module = load(&project, "support");
    module
        .schedules
        .into_iter()
        .find(|schedule| schedule.name == name)
        .unwrap_or_else(|| panic!("the support flow does not use schedule `{name}`"))
}

fn zone_of(schedule: &Schedule) -> TimeZone {
    jiff::tz::db().get(&schedule.zone).unwrap()
}

/// Evaluates at a wall-clock time in the schedule's zone, such as
/// `2026-12-24T17:59`. Use [`at_utc`] for times a clock change skips or
/// repeats.
fn at(schedule: &Schedule, wall: &str) -> Verdict {
    let zone = zone_of(schedule);
    let datetime: civil::DateTime = wall.parse().unwrap();
    let instant = datetime
        .to_zoned_datetime(zone.clone())
        .unwrap()
        .timestamp();
    evaluate(schedule, &zone, instant)
}

fn at_utc(schedule: &Schedule, instant: &str) -> Verdict {
    let instant: Timestamp = instant.parse().unwrap();
    evaluate(schedule, &zone_of(schedule), instant)
}

fn date(text: &str) -> Date {
    let parsed: civil::Date = text.parse().unwrap();
    Date {
        year: parsed.year(),
        month: parsed.month() as u8,
        day: parsed.day() as u8,
    }
}

#[test]
fn shipped_office_closing_time() {
    let office = shipped("office");
    // Wednesday 2026-12-02.
    assert!(at(&office, "2026-12-02T16:59").open);
    assert!(!at(&office, "2026-12-02T17:00").open);
    assert!(!at(&office, "2026-12-02T07:59").open);
    assert!(at(&office, "2026-12-02T08:00").open);
    // Saturday morning only.
    assert!(at(&office, "2026-12-05T11:59").open);
    assert!(!at(&office, "2026-12-05T12:00").open);
    assert!(!at(&office, "2026-12-06T10:00").open);
}

#[test]
fn shipped_office_christmas() {
    let office = shipped("office");
    let morning = at(&office, "2026-12-24T11:59");
    assert!(morning.open);
    assert!(matches!(
        morning.reason,
        VerdictReason::Range {
            source: RangeSource::Exception { .. },
            ..
        }
    ));
    let afternoon = at(&office, "2026-12-24T17:59");
    assert!(!afternoon.open);
    assert!(!afternoon.holiday);
    assert_eq!(
        afternoon.reason,
        VerdictReason::OutsideHours {
            source: RangeSource::Exception {
                date: date("2026-12-24")
            }
        }
    );
    let christmas = at(&office, "2026-12-25T10:00");
    assert!(!christmas.open);
    assert!(christmas.holiday);
    assert_eq!(christmas.reason, VerdictReason::Holiday);
    assert!(at(&office, "2026-12-28T10:00").open);
}

#[test]
fn shipped_office_across_clock_changes() {
    let office = shipped("office");
    // Friday 2026-03-27 in CET (UTC+1), Monday 2026-03-30 in CEST (UTC+2).
    assert!(at_utc(&office, "2026-03-27T15:59:00Z").open);
    assert!(!at_utc(&office, "2026-03-27T16:00:00Z").open);
    let monday = at_utc(&office, "2026-03-30T14:59:00Z");
    assert!(monday.open);
    assert_eq!(monday.zone_abbreviation.as_str(), "CEST");
    assert!(!at_utc(&office, "2026-03-30T15:00:00Z").open);
    // Friday 2026-10-23 in CEST, Monday 2026-10-26 in CET.
    assert!(at_utc(&office, "2026-10-23T14:59:00Z").open);
    assert!(!at_utc(&office, "2026-10-23T15:00:00Z").open);
    assert!(at_utc(&office, "2026-10-26T15:59:00Z").open);
    assert!(!at_utc(&office, "2026-10-26T16:00:00Z").open);
}

#[test]
fn shipped_night_desk_around_christmas() {
    let desk = shipped("night_desk");
    // Thursday 2026-12-24 17:00 runs to Friday 08:00, but Friday is a
    // holiday, which closes the whole date.
    assert!(at(&desk, "2026-12-24T23:00").open);
    assert!(!at(&desk, "2026-12-25T03:00").open);
    // Friday's own shift does not run into Saturday because Friday is a
    // holiday; Saturday's shift starts at 12:00.
    assert!(!at(&desk, "2026-12-26T03:00").open);
    assert!(at(&desk, "2026-12-26T12:00").open);
    // An ordinary Friday night runs until Saturday 09:00.
    assert!(at(&desk, "2026-12-05T08:59").open);
    assert!(!at(&desk, "2026-12-05T09:00").open);
}

const NIGHT: &str = r#"hours office in "Europe/Ljubljana" {
  fri 22:00..02:00 overnight
  sat 09:00..12:00
}
"#;

#[test]
fn overnight_friday_into_saturday() {
    let desk = office(NIGHT);
    assert!(!at(&desk, "2026-12-04T21:59").open);
    assert!(at(&desk, "2026-12-04T22:00").open);
    let late = at(&desk, "2026-12-05T01:59");
    assert!(late.open);
    assert_eq!(
        late.reason,
        VerdictReason::Overnight {
            source: RangeSource::Weekly { weekday: 4 },
            range: flowc::bytecode::MinuteRange {
                start: 22 * 60,
                end: 26 * 60,
            },
        }
    );
    assert!(!at(&desk, "2026-12-05T02:00").open);
}

#[test]
fn overnight_into_holiday() {
    let desk = office(
        r#"hours office in "Europe/Ljubljana" {
  fri 22:00..02:00 overnight
  holiday 2026-12-05
}
"#,
    );
    assert!(at(&desk, "2026-12-04T23:00").open);
    assert!(!at(&desk, "2026-12-05T01:00").open);
    assert!(at(&desk, "2026-12-12T01:00").open);
}

#[test]
fn overnight_from_exception() {
    let desk = office(
        r#"hours office in "Europe/Ljubljana" {
  mon..fri 08:00..17:00
  on 2026-12-10 20:00..03:00 overnight
}
"#,
    );
    // Thursday 2026-12-10 works the evening instead, until Friday 03:00.
    assert!(!at(&desk, "2026-12-10T10:00").open);
    assert!(at(&desk, "2026-12-10T20:00").open);
    let friday = at(&desk, "2026-12-11T02:59");
    assert!(friday.open);
    assert!(matches!(
        friday.reason,
        VerdictReason::Overnight {
            source: RangeSource::Exception { .. },
            ..
        }
    ));
    assert!(!at(&desk, "2026-12-11T03:00").open);
    assert!(at(&desk, "2026-12-11T08:00").open);
}

#[test]
fn exception_day_after_overnight() {
    let desk = office(
        r#"hours office in "Europe/Ljubljana" {
  fri 22:00..02:00 overnight
  sat 09:00..12:00
  on 2026-12-05 closed
}
"#,
    );
    // Saturday's exception replaces Saturday's own hours only.
    assert!(at(&desk, "2026-12-05T01:59").open);
    assert!(!at(&desk, "2026-12-05T10:00").open);
    assert!(at(&desk, "2026-12-12T10:00").open);
}

#[test]
fn spring_gap_ranges() {
    // On 2026-03-29 Ljubljana's clocks go from 02:00 CET to 03:00 CEST.
    let desk = office(
        r#"hours office in "Europe/Ljubljana" {
  sun 01:00..02:30, 02:40..02:50, 02:55..05:00
}
"#,
    );
    assert!(at_utc(&desk, "2026-03-29T00:59:00Z").open);
    let jump = at_utc(&desk, "2026-03-29T01:00:00Z");
    assert_eq!(jump.minute, 3 * 60);
    assert!(
        jump.open,
        "the range starting at 02:55 did not open at 03:00"
    );
    assert_eq!(
        jump.reason,
        VerdictReason::Range {
            source: RangeSource::Weekly { weekday: 6 },
            range: flowc::bytecode::MinuteRange {
                start: 2 * 60 + 55,
                end: 5 * 60,
            },
        }
    );
    // 02:40..02:50 never opens that night; a week later it does.
    let gap_range = flowc::bytecode::MinuteRange {
        start: 2 * 60 + 40,
        end: 2 * 60 + 50,
    };
    let night: Timestamp = "2026-03-28T23:00:00Z".parse().unwrap();
    for minute in 0..180 {
        let instant = night
            .checked_add(jiff::SignedDuration::from_mins(minute))
            .unwrap();
        let verdict = evaluate(&desk, &zone_of(&desk), instant);
        let opened_by_gap_range = matches!(
            verdict.reason,
            VerdictReason::Range { range, .. } if range == gap_range
        );
        assert!(!opened_by_gap_range, "02:40..02:50 open at {instant}");
    }
    assert!(at(&desk, "2026-04-05T02:45").open);
}

#[test]
fn autumn_repeated_hour() {
    // On 2026-10-25 Ljubljana's clocks go from 03:00 CEST back to 02:00 CET.
    let desk = office(
        r#"hours office in "Europe/Ljubljana" {
  sun 02:00..02:30
}
"#,
    );
    assert!(at_utc(&desk, "2026-10-25T00:15:00Z").open);
    assert!(!at_utc(&desk, "2026-10-25T00:45:00Z").open);
    assert!(at_utc(&desk, "2026-10-25T01:15:00Z").open);
    assert!(!at_utc(&desk, "2026-10-25T01:45:00Z").open);
}

#[test]
fn southern_hemisphere_sydney() {
    let desk = office(
        r#"hours office in "Australia/Sydney" {
  mon..fri 08:00..17:00
  sun 02:15..02:45
}
"#,
    );
    // Thursday 2026-01-15 in AEDT (UTC+11), Wednesday 2026-07-15 in AEST.
    assert!(at_utc(&desk, "2026-01-15T05:59:00Z").open);
    assert!(!at_utc(&desk, "2026-01-15T06:00:00Z").open);
    assert!(at_utc(&desk, "2026-07-15T06:59:00Z").open);
    assert!(!at_utc(&desk, "2026-07-15T07:00:00Z").open);
    // On Sunday 2026-10-04 Sydney skips 02:00-02:59.
    for minute in 0..180 {
        let instant: Timestamp = "2026-10-03T15:00:00Z".parse().unwrap();
        let instant = instant
            .checked_add(jiff::SignedDuration::from_mins(minute))
            .unwrap();
        let verdict = evaluate(&desk, &zone_of(&desk), instant);
        assert!(!verdict.open, "open at {instant}");
    }
}

#[test]
fn quarter_and_half_hour_zones() {
    let kathmandu = office(
        r#"hours office in "Asia/Kathmandu" {
  mon..fri 09:00..17:00
}
"#,
    );
    // UTC+05:45.
    assert!(!at_utc(&kathmandu, "2026-06-10T03:14:00Z").open);
    assert!(at_utc(&kathmandu, "2026-06-10T03:15:00Z").open);
    assert!(!at_utc(&kathmandu, "2026-06-10T11:15:00Z").open);

    let lord_howe = office(
        r#"hours office in "Australia/Lord_Howe" {
  sun 01:30..01:45
}
"#,
    );
    // On 2026-04-05 Lord Howe goes from 02:00 (UTC+11) back to 01:30
    // (UTC+10:30), so 01:30..01:45 is open twice.
    assert!(at_utc(&lord_howe, "2026-04-04T14:35:00Z").open);
    assert!(!at_utc(&lord_howe, "2026-04-04T14:50:00Z").open);
    assert!(at_utc(&lord_howe, "2026-04-04T15:05:00Z").open);
    assert!(!at_utc(&lord_howe, "2026-04-04T15:20:00Z").open);
}

#[test]
fn year_end_and_leap_day() {
    let desk = office(
        r#"hours office in "Europe/Ljubljana" {
  mon..fri 08:00..17:00
  thu 20:00..02:00 overnight
  on 2026-12-31 08:00..12:00, 22:00..03:00 overnight
  holiday 2027-01-01, 2028-02-29
  on 2028-02-28 08:00..01:00 overnight
}
"#,
    );
    // New Year's Eve ends at noon and opens again at 22:00 until the
    // holiday starts at midnight.
    assert!(!at(&desk, "2026-12-31T12:00").open);
    assert!(at(&desk, "2026-12-31T23:59").open);
    assert!(!at(&desk, "2027-01-01T00:30").open);
    assert!(!at(&desk, "2027-01-01T10:00").open);
    // Thursday 2027-01-07 runs into Friday 2027-01-08 as usual.
    assert!(at(&desk, "2027-01-08T01:59").open);
    // The leap day 2028-02-29 is a holiday, so Monday's overnight
    // exception stops at midnight, and Wednesday is an ordinary day.
    assert!(at(&desk, "2028-02-28T23:59").open);
    assert!(!at(&desk, "2028-02-29T00:00").open);
    assert!(!at(&desk, "2028-02-29T10:00").open);
    assert!(at(&desk, "2028-03-01T08:00").open);
}

#[test]
fn local_date_and_time_for_builtins() {
    let office = shipped("office");
    let zone = zone_of(&office);
    let instant: Timestamp = "2026-12-31T23:30:00Z".parse().unwrap();
    let reading: LocalTime = local(&zone, instant);
    assert_eq!(reading.date, date("2027-01-01"));
    assert_eq!(reading.minute, 30);
    assert_eq!(reading.weekday, 4);
    assert!(evaluate(&office, &zone, instant).holiday);
}

#[test]
fn language_reference_examples() {
    // The schedule and the table of the "Business hours" section of
    // docs/language.md.
    let office = office(
        r#"hours office in "Europe/Ljubljana" {
  mon..fri 08:00..17:00
  sat      09:00..12:00
  fri      22:00..02:00 overnight
  holiday  2026-12-25, 2026-12-31..2027-01-01
  on 2026-12-24 08:00..12:00
  on 2026-12-30 closed
}
"#,
    );
    let table = [
        ("2026-12-02T16:59", true),
        ("2026-12-02T17:00", false),
        ("2026-12-24T11:59", true),
        ("2026-12-24T14:00", false),
        ("2026-12-25T10:00", false),
        ("2026-12-26T01:00", false),
        ("2026-12-05T01:59", true),
        ("2026-12-05T02:00", false),
    ];
    for (wall, open) in table {
        assert_eq!(at(&office, wall).open, open, "at {wall}");
    }
}
