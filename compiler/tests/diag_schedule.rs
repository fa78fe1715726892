//! Snapshots of the schedule diagnostics: unknown time zones (F0401),
//! impossible dates and times (F0402), ranges that end before they start
//! (F0403) and overlaps (F0404), and the examples of their documentation
//! pages.

#![allow(clippy::panic)]

mod common;

/// Returns a flow that uses the schedule `office` declared by `hours`.
fn flow(hours: &str) -> String {
    format!(
        "flow support\n\n{hours}\non call {{\n  if not open(office) {{\n    play \"closed\"\n    \
         hangup\n  }}\n  play \"welcome\"\n  hangup\n}}\n"
    )
}

#[test]
fn f0401_unknown_time_zone() {
    let source = flow(
        r#"hours office in "Europe/Ljubjana" {
  mon..fri 08:00..17:00
}
"#,
    );
    insta::assert_snapshot!(common::report(&[("support.flow", &source)]));
}

#[test]
fn f0401_time_zone_in_wrong_case() {
    let source = flow(
        r#"hours office in "europe/ljubljana" {
  mon..fri 08:00..17:00
}
"#,
    );
    insta::assert_snapshot!(common::report(&[("support.flow", &source)]));
}

#[test]
fn f0402_impossible_date_and_time() {
    let source = flow(
        r#"hours office in "Europe/Ljubljana" {
  mon..fri 08:00..25:00
  holiday  2026-02-30
}
"#,
    );
    insta::assert_snapshot!(common::report(&[("support.flow", &source)]));
}

#[test]
fn f0403_range_ends_before_start() {
    let source = flow(
        r#"hours office in "Europe/Ljubljana" {
  mon..fri 17:00..08:00
  sat      09:00..12:00 overnight
  holiday  2027-01-02..2026-12-31
}
"#,
    );
    insta::assert_snapshot!(common::report(&[("support.flow", &source)]));
}

#[test]
fn f0404_overlapping_ranges() {
    let source = flow(
        r#"hours office in "Europe/Ljubljana" {
  mon..fri 08:00..17:00
  fri      16:00..18:00
  sun      22:00..09:00 overnight
  holiday  2026-12-25
  on 2026-12-25 08:00..12:00
}
"#,
    );
    insta::assert_snapshot!(common::report(&[("support.flow", &source)]));
}

#[test]
fn f0404_overnight_into_exception() {
    // 2026-12-05 is a Saturday, so Friday's overnight range runs into it.
    let source = flow(
        r#"hours office in "Europe/Ljubljana" {
  fri 22:00..02:00 overnight
  on 2026-12-05 00:00..10:00
}
"#,
    );
    insta::assert_snapshot!(common::report(&[("support.flow", &source)]));
}

#[test]
fn shipped_sample_has_no_schedule_problems() {
    let source = include_str!("fixtures/support.flow");
    let codes = common::codes(&[("support.flow", source)]);
    assert!(
        codes.iter().all(|code| !code.starts_with("F04")),
        "{codes:?}"
    );
}
