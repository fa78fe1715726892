//! `flowc simulate` on a copy of the shipped flows: traces of the cases a
//! contact-center admin checks before deploying, JSON output, input errors
//! and the instruction budget.

#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod binary;

use binary::{copy_dir, flowc, repo_root};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A copy of the shipped flows shared by the tests of this file, which
/// only read it.
fn flows() -> &'static Path {
    static COPY: OnceLock<PathBuf> = OnceLock::new();
    COPY.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("flowc-simulate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&repo_root().join("flows"), &dir);
        dir
    })
}

/// A fresh copy of the shipped flows that a test may change.
fn own_copy(name: &str) -> PathBuf {
    binary::shipped_copy("simulate", name)
}

/// Runs `flowc simulate support.flow ARGS` and returns the exit status and
/// standard output.
fn simulate(args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["simulate", "support.flow"];
    all.extend_from_slice(args);
    let output = flowc(&all, flows());
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code() != Some(101),
        "flowc crashed:\n{stdout}\n{stderr}"
    );
    (output.status.code(), stdout)
}

/// Asserts that the lines appear in the trace in this order.
fn assert_in_order(trace: &str, lines: &[&str]) {
    let mut rest = trace;
    for line in lines {
        let found = rest.find(line);
        assert!(found.is_some(), "`{line}` not found in order in:\n{trace}");
        if let Some(at) = found {
            rest = &rest[at + line.len()..];
        }
    }
}

fn unknown_caller_at(at: &str, inputs: &[&str]) -> String {
    let mut args = vec!["--at", at];
    for input in inputs {
        args.push("--input");
        args.push(input);
    }
    let (status, trace) = simulate(&args);
    assert_eq!(status, Some(0), "{trace}");
    trace
}

#[test]
fn weekday_minute_before_closing_is_open() {
    let trace = unknown_caller_at("2026-12-03T16:59", &["1", "1"]);
    assert_in_order(
        &trace,
        &[
            "starts Thu 2026-12-03 16:59:00 CET in Europe/Ljubljana",
            "hours office: open at Thu 2026-12-03 16:59 CET, weekly thu 08:00..17:00",
            "play \"welcome\" in en",
            "enqueue technical, priority 0, needs language en, routers >= 2",
            "answered by simulated-agent after 30s, talked 2m (simulated: no queue outcome scripted)",
            "result: answered",
        ],
    );
}

#[test]
fn weekday_at_closing_is_closed() {
    let trace = unknown_caller_at("2026-12-03T17:00", &["1"]);
    assert_in_order(
        &trace,
        &[
            "hours office: closed at Thu 2026-12-03 17:00 CET, outside weekly thu hours (08:00..17:00)",
            "play \"closed\" in en",
            "voicemail \"support\" in en",
            "call ended: voicemail",
            "ticket link or create \"Missed call from +15555550100\"",
            "result: voicemail",
        ],
    );
}

#[test]
fn december_24_afternoon_is_closed() {
    let trace = unknown_caller_at("2026-12-24T17:59", &["2"]);
    assert_in_order(
        &trace,
        &[
            "hours office: closed at Thu 2026-12-24 17:59 CET, outside exception on 2026-12-24 hours (08:00..12:00)",
            "play \"closed\" in sl",
            "voicemail \"support\" in sl",
        ],
    );
}

#[test]
fn december_24_morning_is_open_by_exception() {
    let trace = unknown_caller_at("2026-12-24T11:59", &["1", "2"]);
    assert_in_order(
        &trace,
        &[
            "hours office: open at Thu 2026-12-24 11:59 CET, exception on 2026-12-24 08:00..12:00",
            "play \"welcome\" in en",
        ],
    );
}

#[test]
fn december_25_is_a_holiday() {
    let trace = unknown_caller_at("2026-12-25T10:00", &["1"]);
    assert_in_order(
        &trace,
        &[
            "hours office: holiday at Fri 2026-12-25 10:00 CET, holiday 2026-12-25",
            "play \"holiday\" in en",
            "voicemail \"support\" in en",
        ],
    );
}

#[test]
fn spring_change_keeps_local_hours() {
    let before = unknown_caller_at("2026-03-27T16:59", &["1", "1"]);
    assert!(
        before.contains("hours office: open at Fri 2026-03-27 16:59 CET"),
        "{before}"
    );
    let after = unknown_caller_at("2026-03-30T07:59", &["1"]);
    assert!(
        after.contains("hours office: closed at Mon 2026-03-30 07:59 CEST"),
        "{after}"
    );
    let opening = unknown_caller_at("2026-03-30T08:00", &["1", "1"]);
    assert!(
        opening.contains("hours office: open at Mon 2026-03-30 08:00 CEST"),
        "{opening}"
    );
}

#[test]
fn autumn_change_keeps_local_hours() {
    let before = unknown_caller_at("2026-10-23T16:59", &["1", "1"]);
    assert!(
        before.contains("hours office: open at Fri 2026-10-23 16:59 CEST"),
        "{before}"
    );
    let after = unknown_caller_at("2026-10-26T17:00", &["1"]);
    assert!(
        after.contains("hours office: closed at Mon 2026-10-26 17:00 CET"),
        "{after}"
    );
}

fn vip(at: &str) -> String {
    let (status, trace) = simulate(&[
        "--from",
        "+386 40 123 456",
        "--crm",
        "found:vip=true,language=en,name=Ana",
        "--at",
        at,
    ]);
    assert_eq!(status, Some(0), "{trace}");
    trace
}

#[test]
fn skipped_time_moves_forward() {
    let trace = vip("2026-03-29T02:30");
    assert_in_order(
        &trace,
        &[
            "starts Sun 2026-03-29 03:30:00 CEST",
            "note: 2026-03-29T02:30:00 does not exist in Europe/Ljubljana",
            "hours night_desk: open at Sun 2026-03-29 03:30 CEST",
            "play \"vip-welcome\" in en",
        ],
    );
}

#[test]
fn repeated_time_takes_earlier_instant() {
    let earlier = vip("2026-10-25T02:30");
    assert_in_order(
        &earlier,
        &[
            "starts Sun 2026-10-25 02:30:00 CEST",
            "note: 2026-10-25T02:30:00 happens twice in Europe/Ljubljana",
            "hours night_desk: open at Sun 2026-10-25 02:30 CEST",
        ],
    );
    let later = vip("2026-10-25T02:30+01:00");
    assert!(
        later.contains("starts Sun 2026-10-25 02:30:00 CET"),
        "{later}"
    );
    assert!(!later.contains("note:"), "{later}");
}

#[test]
fn night_desk_overnight_range() {
    let friday_night = vip("2026-12-04T23:30");
    assert_in_order(
        &friday_night,
        &[
            "hours office: closed at Fri 2026-12-04 23:30 CET",
            "hours night_desk: open at Fri 2026-12-04 23:30 CET, weekly fri 17:00..09:00 overnight",
            "play \"vip-welcome\" in en",
            "enqueue technical, priority 100",
        ],
    );
    let saturday_morning = vip("2026-12-05T08:59");
    assert!(
        saturday_morning.contains(
            "hours night_desk: open at Sat 2026-12-05 08:59 CET, overnight from the day before, weekly fri 17:00..09:00 overnight"
        ),
        "{saturday_morning}"
    );
    let before_shift = vip("2026-12-06T19:59");
    assert_in_order(
        &before_shift,
        &[
            "hours night_desk: closed at Sun 2026-12-06 19:59 CET",
            "play \"closed\" in en",
            "voicemail \"support\" in en",
        ],
    );
    let shift_start = vip("2026-12-06T20:00");
    assert!(
        shift_start.contains("hours night_desk: open at Sun 2026-12-06 20:00 CET"),
        "{shift_start}"
    );
}

#[test]
fn vip_in_hours_goes_first() {
    let (status, trace) = simulate(&[
        "--from",
        "+38640123456",
        "--crm",
        "found:vip=true,language=sl",
        "--at",
        "2026-12-03T10:00",
        "--input",
        "1",
        "--queue",
        "technical=answered:alice@5s",
    ]);
    assert_eq!(status, Some(0), "{trace}");
    assert_in_order(
        &trace,
        &[
            "lookup in crm by \"+38640123456\", timeout 800ms",
            "found vip=true, language=sl",
            "language is now sl",
            "play \"vip-welcome\" in sl",
            "enqueue technical, priority 100, needs language sl, routers >= 2",
            "answered by alice after 5s",
            "survey \"survey-intro\", \"survey-thanks\" in sl",
            "vip = true",
        ],
    );
}

#[test]
fn unknown_caller_by_default() {
    let (status, trace) = simulate(&["--at", "2026-12-03T10:00"]);
    assert_eq!(status, Some(0), "{trace}");
    assert_in_order(
        &trace,
        &[
            "call from +15555550100 (the default number; --from sets it) to +38615550100",
            "missing (no answer scripted for crm, so an unknown caller)",
            "play \"choose-language\" in en",
            "no input after 5s",
        ],
    );
}

#[test]
fn no_options_runs_now() {
    let (status, trace) = simulate(&[]);
    assert_eq!(status, Some(0), "{trace}");
    assert!(trace.contains("(now) in Europe/Ljubljana"), "{trace}");
    assert!(trace.contains("result: "), "{trace}");
}

#[test]
fn crm_timeout_is_tagged() {
    let (status, trace) = simulate(&[
        "--from",
        "+38640123456",
        "--crm",
        "timeout",
        "--at",
        "2026-12-03T10:00",
        "--input",
        "1",
        "--input",
        "1",
    ]);
    assert_eq!(status, Some(0), "{trace}");
    assert_in_order(
        &trace,
        &[
            "lookup timed out after 800ms",
            "tag \"crm-down\"",
            "play \"choose-language\" in en",
            "enqueue technical, priority 0",
            "tags: crm-down",
        ],
    );
}

#[test]
fn each_department_key() {
    let cases = [
        ("1", "play \"connecting-technical\" in en"),
        ("2", "play \"connecting-sales\" in en"),
        ("3", "play \"enter-order\" in en"),
    ];
    for (key, expected) in cases {
        let trace = unknown_caller_at("2026-12-03T10:00", &["1", key]);
        assert_in_order(&trace, &[&format!("caller pressed {key}"), expected]);
    }
    let star = unknown_caller_at("2026-12-03T10:00", &["1", "*", "2"]);
    assert_in_order(
        &star,
        &[
            "caller pressed *",
            "play \"choose-department\" in en",
            "caller pressed 2",
            "play \"connecting-sales\" in en",
        ],
    );
}

#[test]
fn each_language_key() {
    let english = unknown_caller_at("2026-12-03T10:00", &["1", "1"]);
    assert!(english.contains("play \"welcome\" in en"), "{english}");
    let slovenian = unknown_caller_at("2026-12-03T10:00", &["2", "1"]);
    assert_in_order(
        &slovenian,
        &[
            "language is now sl",
            "play \"welcome\" in sl",
            "language: sl",
        ],
    );
}

#[test]
fn no_input_until_retry_limit() {
    let trace = unknown_caller_at("2026-12-03T10:00", &["none", "none", "none"]);
    assert_in_order(
        &trace,
        &[
            "play \"choose-language\" in en",
            "no input after 5s",
            "play \"no-input\" in en",
            "play \"choose-language\" in en",
            "no input after 5s",
            "play \"no-input\" in en",
            "play \"choose-language\" in en",
            "no input after 5s",
            "play \"welcome\" in en",
            "play \"choose-department\" in en",
            "no input after 6s",
            "no input after 6s",
            "no input after 6s",
            "play \"connecting-technical\" in en",
        ],
    );
    let asks = trace.matches("play \"choose-language\"").count();
    assert_eq!(asks, 3, "{trace}");
}

#[test]
fn json_output_parses() {
    let (status, text) = simulate(&[
        "--at",
        "2026-12-24T17:59",
        "--input",
        "2",
        "--format",
        "json",
    ]);
    assert_eq!(status, Some(0), "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON output");
    assert_eq!(json["flow"], "support");
    assert_eq!(json["outcome"], "voicemail");
    assert_eq!(json["language"], "sl");
    let steps = json["steps"].as_array().expect("steps");
    assert!(steps.iter().any(|s| s["event"] == "voicemail"), "{text}");
    assert!(
        steps
            .iter()
            .any(|s| s["event"] == "hours" && s["data"]["zone"] == "CET"),
        "{text}"
    );
    assert!(steps.iter().all(|s| s["at_ms"].is_u64()), "{text}");
}

#[test]
fn invalid_options_are_usage_errors() {
    let cases: [(&[&str], &str); 5] = [
        (&["--input", "1x"], "invalid input `1x`"),
        (&["--crm", "maybe"], "invalid lookup answer `maybe`"),
        (&["--queue", "lost"], "invalid queue outcome `lost`"),
        (&["--at", "tomorrow"], "invalid time `tomorrow`"),
        (
            &["--tz", "Europe/Atlantis"],
            "unknown time zone `Europe/Atlantis`",
        ),
    ];
    for (args, message) in cases {
        let mut all = vec!["simulate", "support.flow"];
        all.extend_from_slice(args);
        let output = flowc(&all, flows());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn library_file_is_refused() {
    let output = flowc(&["simulate", "office.flow"], flows());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("declares no flow"), "{stderr}");
}

const LOOPING_FLOW: &str = r#"flow looping answers "+386 1 555 0177"

on call {
  goto spin
}

step spin {
  tag "spin"
  goto again
}

step again {
  goto spin
}
"#;

#[test]
fn looping_flow_is_refused_without_force() {
    let dir = own_copy("refused");
    std::fs::write(dir.join("looping.flow"), LOOPING_FLOW).unwrap();
    let output = flowc(&["simulate", "looping.flow"], &dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("F0303"), "{stderr}");
    assert!(stderr.contains("pass --force"), "{stderr}");
}

#[test]
fn forced_loop_hits_budget() {
    let dir = own_copy("forced");
    std::fs::write(
        dir.join("looping.flow"),
        LOOPING_FLOW.replace("  tag \"spin\"\n", ""),
    )
    .unwrap();
    let output = flowc(&["simulate", "looping.flow", "--force"], &dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("because of --force"), "{stderr}");
    assert!(
        stdout.contains("instructions without waiting for the caller or the network"),
        "{stdout}"
    );
    assert!(stdout.contains("result: error: "), "{stdout}");
}

#[test]
fn forced_loop_through_effects_hits_limit() {
    let dir = own_copy("effects");
    std::fs::write(dir.join("looping.flow"), LOOPING_FLOW).unwrap();
    let output = flowc(&["simulate", "looping.flow", "--force"], &dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("more than 10000 effects"), "{stdout}");
}

#[test]
fn christmas_eve_trace_snapshot() {
    let trace = unknown_caller_at("2026-12-24T17:59", &["2"]);
    insta::assert_snapshot!(trace);
}

#[test]
fn vip_night_desk_trace_snapshot() {
    insta::assert_snapshot!(vip("2026-12-04T23:30"));
}

/// Runs `flowc simulate support.flow ARGS` and returns the exit status,
/// standard output and standard error.
fn simulate_all(args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["simulate", "support.flow"];
    all.extend_from_slice(args);
    let output = flowc(&all, flows());
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.code() != Some(101),
        "flowc crashed:\n{stdout}\n{stderr}"
    );
    (output.status.code(), stdout, stderr)
}

/// The weekday-morning call that reaches the technical queue: English,
/// then key 1.
const TO_TECHNICAL: [&str; 6] = ["--at", "2026-12-03T10:00", "--input", "1", "--input", "1"];

fn to_technical_with(extra: &[&str]) -> (Option<i32>, String, String) {
    let mut args = TO_TECHNICAL.to_vec();
    args.extend_from_slice(extra);
    simulate_all(&args)
}

#[test]
fn queue_outcomes_follow_queue_rules() {
    // technical: callback after 2m, max wait 15m, max callers 30.
    // sales: callback after 90s, max wait 10m, no max callers.
    let rejected = [
        (vec!["--queue", "abandoned@20m"], "max wait is 15m"),
        (vec!["--queue", "answered:alice@16m"], "max wait is 15m"),
        (
            vec!["--queue", "technical=answered:alice@16m"],
            "max wait is 15m",
        ),
        (
            vec!["--queue", "callback@10s"],
            "offers a callback after 2m",
        ),
        (vec!["--queue", "sales=full"], "queue `sales`"),
        (vec!["--queue", "callback@16m"], "max wait is 15m"),
    ];
    for (extra, reason) in rejected {
        let (status, stdout, stderr) = to_technical_with(&extra);
        assert_eq!(status, Some(2), "{extra:?}\n{stdout}\n{stderr}");
        let all = format!("{stdout}{stderr}");
        assert!(all.contains(reason), "{extra:?}\n{all}");
    }
    let accepted = [
        vec!["--queue", "abandoned@15m"],
        vec!["--queue", "callback@2m"],
        vec!["--queue", "technical=full"],
        vec!["--queue", "max-wait"],
    ];
    for extra in accepted {
        let (status, stdout, stderr) = to_technical_with(&extra);
        assert_eq!(status, Some(0), "{extra:?}\n{stdout}\n{stderr}");
    }
}

#[test]
fn impossible_queue_outcome_names_queue_and_fix() {
    let (status, _, stderr) = to_technical_with(&["--queue", "sales=full"]);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(stderr.contains("queue `sales`"), "{stderr}");
    assert!(stderr.contains("no `max callers`"), "{stderr}");
    assert!(
        stderr.contains("add `max callers` to the queue"),
        "{stderr}"
    );
}

#[test]
fn default_queue_outcome_fits_short_max_wait() {
    let dir = own_copy("short-wait");
    let office = dir.join("office.flow");
    let text = std::fs::read_to_string(&office).unwrap();
    std::fs::write(&office, text.replace("max wait 15m", "max wait 40s")).unwrap();
    let output = flowc(
        &[
            "simulate",
            "support.flow",
            "--at",
            "2026-12-03T10:00",
            "--input",
            "1",
            "--input",
            "1",
        ],
        &dir,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("answered by simulated-agent after 20s"),
        "{stdout}"
    );
}

/// A copy of the shipped flows whose order number collect is `sensitive`.
fn sensitive_copy(name: &str) -> PathBuf {
    let dir = own_copy(name);
    let flow = dir.join("support.flow");
    let text = std::fs::read_to_string(&flow).unwrap();
    let valid = "    valid if order starts with \"4\"\n";
    assert!(text.contains(valid));
    let text = text.replace(valid, &format!("{valid}    sensitive\n"));
    std::fs::write(&flow, text).unwrap();
    dir
}

#[test]
fn sensitive_digits_masked_everywhere() {
    let dir = sensitive_copy("sensitive");
    let args = [
        "simulate",
        "support.flow",
        "--at",
        "2026-12-03T09:00",
        "--input",
        "1",
        "--input",
        "3",
        "--input",
        "41234567#@2s",
    ];
    let output = flowc(&args, &dir);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("caller entered xxxxxxxx"), "{text}");
    assert!(text.contains("set order = xxxxxxxx"), "{text}");
    assert!(text.contains("because order = xxxxxxxx"), "{text}");
    assert!(text.contains("  order = xxxxxxxx\n"), "{text}");
    assert!(!text.contains("order = 41234567"), "{text}");

    let mut json_args = args.to_vec();
    json_args.extend_from_slice(&["--format", "json"]);
    let output = flowc(&json_args, &dir);
    let data: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(data["variables"]["order"], "xxxxxxxx");
}

#[test]
fn sensitive_type_ahead_masked() {
    let dir = sensitive_copy("sensitive-typed");
    let args = [
        "simulate",
        "support.flow",
        "--at",
        "2026-12-03T09:00",
        "--input",
        "1",
        "--input",
        "3",
        "--input",
        "4123@prompt",
        "--input",
        "4567#",
    ];
    let output = flowc(&args, &dir);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("caller typed xxxx during the prompts"),
        "{text}"
    );
    assert!(!text.contains("typed 4123"), "{text}");
    assert!(text.contains("caller entered xxxx\n"), "{text}");
}

#[test]
fn scripted_answers_must_match_the_flow() {
    let rejected = [
        (
            vec!["--lookup", "nosuch=found"],
            "its lookup sources are crm, orders",
        ),
        (
            vec!["--lookup", "call_records=found"],
            "`call_records` is a webhook hook in the config, and only CRM hooks answer lookups",
        ),
        (
            vec!["--queue", "billing=answered"],
            "its queues are technical, sales",
        ),
        (
            vec!["--queue", "Technical=answered"],
            "case-sensitive, so write `technical`",
        ),
        (
            vec!["--crm", "found:vip=true,vip=false"],
            "field `vip` is given twice",
        ),
        (
            vec!["--lookup", "crm=found", "--crm", "missing"],
            "`crm` is given twice",
        ),
        (
            vec!["--lookup", "orders=found", "--lookup", "orders=missing"],
            "`orders` is given twice",
        ),
    ];
    for (extra, reason) in rejected {
        let (status, _, stderr) = to_technical_with(&extra);
        assert_eq!(status, Some(2), "{extra:?}\n{stderr}");
        assert!(stderr.contains(reason), "{extra:?}\n{stderr}");
    }
}

#[test]
fn unused_script_answers_are_noted() {
    let (status, stdout, _) =
        to_technical_with(&["--input", "2", "--input", "3", "--queue", "sales=answered"]);
    assert_eq!(status, Some(0), "{stdout}");
    assert!(
        stdout.contains(
            "note: 2 scripted input(s) not used because the call asked for no more: 2, 3"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("note: 1 scripted queue outcome(s) not used because the call entered no matching queue: sales=answered"),
        "{stdout}"
    );
}

#[test]
fn wav_header_size_capped_by_file() {
    let dir = own_copy("wav-size");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&8_000u32.to_le_bytes());
    bytes.extend_from_slice(&16_000u32.to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    // The header claims 4 GB of data; 10 bytes follow.
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(&[0u8; 10]);
    std::fs::write(
        dir.join("prompts").join("en").join("choose-language.wav"),
        bytes,
    )
    .unwrap();
    let output = flowc(
        &["simulate", "support.flow", "--at", "2026-12-03T10:00"],
        &dir,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("+0:00.0  support.flow:30     wait for a key"),
        "{stdout}"
    );
}

#[test]
fn config_device_rejected_before_reading() {
    let (status, _, stderr) = simulate_all(&["--config", "/dev/zero"]);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "cannot read `/dev/zero`: it is a device, pipe or socket, not a regular file"
        ),
        "{stderr}"
    );
}

#[test]
fn oversized_config_rejected() {
    let dir = own_copy("big-config");
    let big = dir.join("big.yaml");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(17 * 1024 * 1024).unwrap();
    let output = flowc(&["simulate", "support.flow", "--config", "big.yaml"], &dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`big.yaml`: it is larger than the limit of 16 MiB"),
        "{stderr}"
    );
}

/// A copy of the shipped flows with a broken flow `loop.flow` beside them.
fn copy_with_broken_flow(name: &str) -> PathBuf {
    let dir = own_copy(name);
    let broken = "flow loop\n\non call {\n  play \"welcome\"\n  goto nowhere\n}\n";
    std::fs::write(dir.join("loop.flow"), broken).unwrap();
    dir
}

#[test]
fn broken_neighbour_does_not_block_flow() {
    let dir = copy_with_broken_flow("neighbour");
    let output = flowc(
        &["simulate", "support.flow", "--at", "2026-12-03T10:00"],
        &dir,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "note: 1 check error(s) in loop.flow are not in the files flow `support` uses"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("unknown step"), "{stderr}");
}

#[test]
fn broken_flow_errors_name_that_flow() {
    let dir = copy_with_broken_flow("broken-own");
    let output = flowc(&["simulate", "loop.flow"], &dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("flow `loop`"), "{stderr}");
    assert!(!stderr.contains("flow `support`"), "{stderr}");
}

#[test]
fn forced_uncompilable_flow_prints_only_failure() {
    let dir = copy_with_broken_flow("forced-broken");
    let output = flowc(&["simulate", "loop.flow", "--force"], &dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot be compiled"), "{stderr}");
    assert!(!stderr.contains("because of --force"), "{stderr}");
    assert!(!stderr.contains("ignored by --force"), "{stderr}");
}

#[test]
fn scripted_times_over_a_day_rejected() {
    let rejected = [
        vec!["--queue", "abandoned@99999999999h"],
        vec!["--queue", "abandoned@99999999999999999999999h"],
        vec!["--queue", "answered:alice@1m+25h"],
        vec!["--hangup-after", "25h"],
        vec!["--input", "1@25h"],
        vec!["--crm", "missing@25h"],
    ];
    for extra in rejected {
        let (status, _, stderr) = to_technical_with(&extra);
        assert_eq!(status, Some(2), "{extra:?}\n{stderr}");
        assert!(
            stderr.contains("is too large; a scripted time is at most 24h"),
            "{extra:?}\n{stderr}"
        );
        assert!(!stderr.contains("probably loops"), "{extra:?}\n{stderr}");
    }
}

#[test]
fn budget_of_zero_rejected() {
    let (status, _, stderr) = simulate_all(&["--budget", "0"]);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(stderr.contains("invalid --budget 0"), "{stderr}");
}

#[test]
fn budget_of_one_in_singular() {
    let (status, stdout, _) = simulate_all(&["--budget", "1", "--at", "2026-12-03T10:00"]);
    assert_eq!(status, Some(1), "{stdout}");
    assert!(stdout.contains("ran 1 instruction without"), "{stdout}");
}

#[test]
fn at_sign_in_field_value_kept() {
    let (status, stdout, stderr) = to_technical_with(&["--crm", "found:name=a@b.com"]);
    assert_eq!(status, Some(0), "{stderr}");
    assert!(stdout.contains("found name=a@b.com"), "{stdout}");
    let (status, _, stderr) = to_technical_with(&["--crm", "missing@soon"]);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(stderr.contains("`soon` is not a duration"), "{stderr}");
}

#[test]
fn zone_shown_with_canonical_name() {
    let (status, stdout, stderr) =
        simulate_all(&["--at", "2026-12-03T10:00", "--tz", "europe/ljubljana"]);
    assert_eq!(status, Some(0), "{stderr}");
    assert!(stdout.contains("in Europe/Ljubljana\n"), "{stdout}");
}

#[test]
fn unusable_at_values_rejected() {
    let cases = [
        ("2026-12-03", "such as `2026-12-03T00:00`"),
        ("2026-12-03T10:00+15:00", "offset is out of range"),
        (
            "2026-12-03T10:00+01:00[America/New_York]",
            "zone in brackets",
        ),
        ("9999-12-31T23:59", "out of range"),
    ];
    for (at, expected) in cases {
        let (status, _, stderr) = simulate_all(&["--at", at]);
        assert_eq!(status, Some(2), "{at}\n{stderr}");
        assert!(stderr.contains(expected), "{at}\n{stderr}");
        assert!(!stderr.contains("Unix timestamp"), "{at}\n{stderr}");
    }
}

#[test]
fn control_characters_escaped_in_trace() {
    let (status, stdout, stderr) = to_technical_with(&["--crm", "found:name=Ana\nEvil\u{1b}[2J"]);
    assert_eq!(status, Some(0), "{stderr}");
    assert!(
        stdout.contains("found name=Ana\\nEvil\\u{1b}[2J"),
        "{stdout}"
    );
    assert!(!stdout.contains('\u{1b}'), "{stdout}");
}

#[test]
fn overflow_outcomes_give_reason() {
    let cases = [
        (
            "no-agents",
            "no agents logged in who could take the call, so the call overflows",
        ),
        (
            "full",
            "queue full: 30 callers already wait (max callers), so the call overflows",
        ),
        (
            "max-wait",
            "max wait reached after 15m, so the call overflows",
        ),
    ];
    for (outcome, reason) in cases {
        let (status, stdout, _) = to_technical_with(&["--queue", outcome]);
        assert_eq!(status, Some(0), "{stdout}");
        assert!(stdout.contains(reason), "{outcome}\n{stdout}");
    }
}

#[test]
fn empty_value_shown_one_way() {
    let (status, stdout, _) = to_technical_with(&[]);
    assert_eq!(status, Some(0), "{stdout}");
    assert!(stdout.contains("  order = (empty)\n"), "{stdout}");
    assert!(!stdout.contains("order = \n"), "{stdout}");
}

#[test]
fn answered_forms_need_their_parts() {
    for outcome in ["answered:@5s", "answered:alice@45s+"] {
        let (status, _, stderr) = to_technical_with(&["--queue", outcome]);
        assert_eq!(status, Some(2), "{outcome}\n{stderr}");
        assert!(
            stderr.contains("invalid queue outcome"),
            "{outcome}\n{stderr}"
        );
    }
}

#[test]
fn json_usage_error_printed_as_json() {
    let (status, stdout, stderr) =
        simulate_all(&["--format", "json", "--at", "2026-12-03", "--input", "1"]);
    assert_eq!(status, Some(2), "{stderr}");
    assert!(
        stderr.contains("a date alone has no time of day"),
        "{stderr}"
    );
    let data: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(data["exit_status"], 2);
    let message = data["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("a date alone has no time of day"),
        "{stdout}"
    );
}

#[test]
fn json_check_errors_printed_as_json() {
    let dir = copy_with_broken_flow("json-check");
    let output = flowc(&["simulate", "loop.flow", "--format", "json"], &dir);
    assert_eq!(output.status.code(), Some(2));
    let data: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let errors = data["errors"].as_array().unwrap();
    assert!(errors.iter().any(|e| e["code"] == "F0106"), "{data}");
    assert!(errors.iter().any(|e| e["file"] == "loop.flow"), "{data}");
}

#[test]
fn json_call_fields_and_places() {
    let (status, stdout, _) = simulate_all(&[
        "--format",
        "json",
        "--at",
        "2026-12-03T10:00",
        "--tz",
        "Europe/Ljubljana",
    ]);
    assert_eq!(status, Some(0), "{stdout}");
    let data: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let call = &data["call"];
    assert_eq!(call["flow"], "support");
    assert_eq!(call["file"], "support.flow");
    assert_eq!(call["from"], "+15555550100");
    assert_eq!(call["to"], "+38615550100");
    assert_eq!(call["anonymous"], false);
    assert_eq!(call["start"], "2026-12-03T10:00:00+01:00");
    assert_eq!(call["zone"], "Europe/Ljubljana");
    assert!(call["note"].is_null(), "{call}");
    let steps = data["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s.get("place").is_some()), "{stdout}");
    assert!(steps.iter().any(|s| s["place"].is_null()), "{stdout}");
}
