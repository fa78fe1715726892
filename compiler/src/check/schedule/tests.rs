#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::check;
use crate::diag::Diagnostic;
use crate::project::{Project, PromptInventory};

fn run(text: &str) -> (Project, Vec<Diagnostic>) {
    let mut project = Project::new(None, PromptInventory::default());
    project.add_flow("hours.flow", text);
    assert!(
        project.diagnostics.is_empty(),
        "syntax errors: {:#?}",
        project.diagnostics
    );
    let mut diagnostics = Vec::new();
    check(&project, &mut diagnostics);
    diagnostics.sort_by_key(|d| d.primary_label().map(|l| (l.file, l.span.start)));
    (project, diagnostics)
}

/// Returns "CODE line:column message" for each diagnostic.
fn found(text: &str) -> Vec<String> {
    let (project, diagnostics) = run(text);
    diagnostics
        .iter()
        .map(|d| {
            let label = d.primary_label().unwrap();
            let at = project
                .sources
                .get(label.file)
                .unwrap()
                .line_col(label.span.start);
            format!("{} {}:{} {}", d.code, at.line, at.column, d.message)
        })
        .collect()
}

/// Wraps schedule rules in an `hours` declaration; rule lines start on
/// line 2.
fn hours(rules: &str) -> String {
    format!("hours office in \"Europe/Ljubljana\" {{\n{rules}}}\n")
}

#[test]
fn sample_schedule_is_clean() {
    let text = hours(
        "  mon..fri 08:00..17:00\n  sat 09:00..12:00\n  fri 22:00..02:00 overnight\n  \
         holiday 2026-12-25, 2026-12-31..2027-01-01\n  on 2026-12-24 08:00..12:00\n  \
         on 2026-12-30 closed\n",
    );
    assert_eq!(found(&text), Vec::<String>::new());
}

#[test]
fn adjacent_ranges_do_not_overlap() {
    let text = hours("  mon..fri 08:00..12:00, 12:00..17:00\n  sun 20:00..24:00\n");
    assert_eq!(found(&text), Vec::<String>::new());
}

#[test]
fn unknown_zone() {
    let text = "hours office in \"Europe/Ljubjana\" {\n  mon 08:00..17:00\n}\n";
    assert_eq!(
        found(text),
        ["F0401 1:17 unknown time zone `Europe/Ljubjana`"]
    );
}

#[test]
fn impossible_dates_and_times() {
    let text = hours(
        "  mon 08:00..25:00\n  tue 12:60..13:00\n  wed 24:00..24:00 overnight\n  \
         holiday 2026-02-30, 2026-13-01\n  on 2026-04-31 closed\n",
    );
    assert_eq!(
        found(&text),
        [
            "F0402 2:14 impossible time 25:00: hours run from 00 to 23",
            "F0402 3:7 impossible time 12:60: minutes run from 00 to 59",
            "F0402 4:7 impossible time 24:00: it may only end a range",
            "F0402 5:11 impossible date 2026-02-30: February 2026 has 28 days",
            "F0402 5:23 impossible date 2026-13-01: there is no month 13",
            "F0402 6:6 impossible date 2026-04-31: April 2026 has 30 days",
        ]
    );
}

#[test]
fn ranges_in_the_wrong_direction() {
    let text = hours(
        "  mon 17:00..08:00\n  tue 08:00..08:00\n  wed 08:00..17:00 overnight\n  \
         holiday 2027-01-01..2026-12-31\n  on 2026-12-24 12:00..08:00\n",
    );
    assert_eq!(
        found(&text),
        [
            "F0403 2:7 time range 17:00..08:00 ends before it starts",
            "F0403 3:7 time range 08:00..08:00 is empty",
            "F0403 4:7 time range 08:00..17:00 is marked `overnight` but ends the same day",
            "F0403 5:11 holiday range 2027-01-01..2026-12-31 ends before it starts",
            "F0403 6:17 time range 12:00..08:00 ends before it starts",
        ]
    );
}

#[test]
fn overlap_on_one_weekday() {
    let text = hours("  mon..fri 08:00..17:00\n  fri 16:00..18:00\n");
    assert_eq!(
        found(&text),
        ["F0404 3:7 `fri` 16:00..18:00 overlaps `mon..fri` 08:00..17:00 on Friday"]
    );
}

#[test]
fn overlap_on_several_weekdays_is_one_report() {
    let text = hours("  mon..fri 08:00..12:00, 11:00..17:00\n");
    assert_eq!(
        found(&text),
        [
            "F0404 2:26 `mon..fri` 11:00..17:00 overlaps `mon..fri` 08:00..12:00 from Monday \
             to Friday"
        ]
    );
}

#[test]
fn wrapping_day_ranges() {
    // `fri..mon` is Friday, Saturday, Sunday and Monday.
    let text = hours("  fri..mon 10:00..14:00\n  tue..thu 09:00..17:00\n  mon 13:00..15:00\n");
    assert_eq!(
        found(&text),
        ["F0404 4:7 `mon` 13:00..15:00 overlaps `fri..mon` 10:00..14:00 on Monday"]
    );
    let text = hours("  fri..mon 10:00..14:00\n  sat..sun 12:00..13:00\n");
    assert_eq!(
        found(&text),
        [
            "F0404 3:12 `sat..sun` 12:00..13:00 overlaps `fri..mon` 10:00..14:00 on Saturday \
             and Sunday"
        ]
    );
}

#[test]
fn overnight_range_counts_on_the_next_day() {
    let text = hours("  fri 22:00..02:00 overnight\n  sat 01:00..05:00\n");
    assert_eq!(
        found(&text),
        ["F0404 3:7 `sat` 01:00..05:00 overlaps `fri` 22:00..02:00 overnight on Saturday"]
    );
    // Ending at midnight does not run into the next day.
    let text = hours("  fri 22:00..00:00 overnight\n  sat 00:00..05:00\n");
    assert_eq!(found(&text), Vec::<String>::new());
}

#[test]
fn overnight_range_on_sunday_runs_into_monday() {
    let text = hours("  mon..fri 08:00..17:00\n  sun 20:00..09:00 overnight\n");
    assert_eq!(
        found(&text),
        [
            "F0404 3:7 `sun` 20:00..09:00 overnight overlaps `mon..fri` 08:00..17:00 on \
             Monday"
        ]
    );
}

#[test]
fn day_listed_twice_in_one_rule() {
    let text = hours("  mon..fri, fri 08:00..12:00\n");
    assert_eq!(
        found(&text),
        ["F0404 2:13 `mon..fri, fri` lists Friday twice"]
    );
}

#[test]
fn repeated_dates() {
    let text = hours(
        "  holiday 2026-12-25, 2026-12-25\n  holiday 2026-12-30..2027-01-02\n  \
         holiday 2027-01-01\n  on 2026-12-24 closed\n  on 2026-12-24 08:00..12:00\n",
    );
    assert_eq!(
        found(&text),
        [
            "F0404 2:23 holiday 2026-12-25 is listed twice",
            "F0404 4:11 holidays 2026-12-30..2027-01-02 and 2027-01-01 both include 2027-01-01",
            "F0404 6:6 two exceptions for 2026-12-24",
        ]
    );
}

#[test]
fn holiday_and_exception_on_one_date() {
    let text = hours("  holiday 2026-12-24..2026-12-26\n  on 2026-12-25 08:00..12:00\n");
    assert_eq!(
        found(&text),
        ["F0404 3:6 2026-12-25 is both a holiday and an exception"]
    );
}

#[test]
fn overlapping_ranges_in_an_exception() {
    let text = hours("  on 2026-12-24 08:00..12:00, 11:00..14:00\n");
    assert_eq!(
        found(&text),
        [
            "F0404 2:31 `on 2026-12-24` 11:00..14:00 overlaps `on 2026-12-24` 08:00..12:00 on \
             2026-12-24"
        ]
    );
}

#[test]
fn overnight_exception_runs_into_the_next_date() {
    // 2026-12-24 is a Thursday; its overnight part is checked against
    // Friday's weekly range.
    let text = hours("  fri 08:00..17:00\n  on 2026-12-24 20:00..09:00 overnight\n");
    assert_eq!(
        found(&text),
        [
            "F0404 3:17 `on 2026-12-24` 20:00..09:00 overnight overlaps `fri` 08:00..17:00 on \
             2026-12-25"
        ]
    );
    // Not when the next date is a holiday or has its own exception that
    // starts after the overnight part ends.
    let text =
        hours("  fri 08:00..17:00\n  on 2026-12-24 20:00..09:00 overnight\n  holiday 2026-12-25\n");
    assert_eq!(found(&text), Vec::<String>::new());
    let text = hours(
        "  fri 08:00..17:00\n  on 2026-12-24 20:00..09:00 overnight\n  \
         on 2026-12-25 10:00..12:00\n",
    );
    assert_eq!(found(&text), Vec::<String>::new());
}

#[test]
fn weekly_overnight_runs_into_exception() {
    // An exception replaces only its own date's ranges, so Friday
    // 2026-12-04 still runs into Saturday's exception.
    let text = hours("  fri 22:00..02:00 overnight\n  on 2026-12-05 00:00..10:00\n");
    assert_eq!(
        found(&text),
        [
            "F0404 3:17 `on 2026-12-05` 00:00..10:00 overlaps `fri` 22:00..02:00 overnight on \
             2026-12-05"
        ]
    );
    // Touching ranges do not overlap, and a closed exception has no range.
    let text = hours("  fri 22:00..02:00 overnight\n  on 2026-12-05 02:00..10:00\n");
    assert_eq!(found(&text), Vec::<String>::new());
    let text = hours("  fri 22:00..02:00 overnight\n  on 2026-12-05 closed\n");
    assert_eq!(found(&text), Vec::<String>::new());
}

#[test]
fn no_spill_from_holiday_or_exception_date() {
    // Friday 2026-12-04 is a holiday, so its range does not run into
    // Saturday.
    let text =
        hours("  fri 22:00..02:00 overnight\n  holiday 2026-12-04\n  on 2026-12-05 00:00..10:00\n");
    assert_eq!(found(&text), Vec::<String>::new());
    // Friday's own exception replaces its overnight range.
    let text = hours(
        "  fri 22:00..02:00 overnight\n  on 2026-12-04 08:00..12:00\n  \
         on 2026-12-05 00:00..10:00\n",
    );
    assert_eq!(found(&text), Vec::<String>::new());
}

#[test]
fn impossible_literals_in_expressions() {
    let text = "hours office in \"UTC\" {\n  mon 08:00..17:00\n}\nflow f\non call {\n  \
                if today(office) == 2026-02-30 or now(office) > 24:00 {\n    hangup\n  }\n  \
                hangup\n}\n";
    assert_eq!(
        found(text),
        [
            "F0402 6:23 impossible date 2026-02-30: February 2026 has 28 days",
            "F0402 6:51 impossible time 24:00: it may only end a range",
        ]
    );
}

#[test]
fn several_errors_in_one_schedule() {
    let text = "hours office in \"europe/ljubljana\" {\n  mon..fri 08:00..17:00\n  \
                fri 16:00..18:00\n  sat 18:00..09:00\n  holiday 2026-02-29\n}\n";
    let codes: Vec<String> = found(text)
        .iter()
        .map(|line| line.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        codes,
        ["F0401 1:17", "F0404 3:7", "F0403 4:7", "F0402 5:11"]
    );
}

#[test]
fn many_rules_stay_fast() {
    // 2,000 weekly lines that touch but do not overlap, plus 2,000
    // holidays: the checks sort and sweep, so this stays quick.
    let mut rules = String::new();
    for minute in 0..1439u32 {
        let (start, end) = (minute, minute + 1);
        rules.push_str(&format!(
            "  mon {:02}:{:02}..{:02}:{:02}\n",
            start / 60,
            start % 60,
            end / 60,
            end % 60
        ));
    }
    for day in 0..2000 {
        let date = jiff::civil::date(2030, 1, 1)
            .checked_add(jiff::Span::new().days(day))
            .unwrap();
        rules.push_str(&format!("  holiday {date}\n"));
    }
    assert_eq!(found(&hours(&rules)), Vec::<String>::new());
}

#[test]
fn copies_are_reported_once_each() {
    // 50 copies of one range and of one holiday: one report per extra copy,
    // not one per pair.
    let rules = "  mon 08:00..09:00\n  holiday 2026-12-25\n".repeat(50);
    let found = found(&hours(&rules));
    let ranges = found.iter().filter(|f| f.contains("overlaps")).count();
    let holidays = found.iter().filter(|f| f.contains("listed twice")).count();
    assert_eq!(ranges, 49);
    assert_eq!(holidays, 49);
    assert_eq!(found.len(), 98);
}
