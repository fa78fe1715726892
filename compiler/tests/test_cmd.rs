//! `flowc test` on copies of the shipped flows and their scenarios:
//! passing runs, readable failures, coverage and scenario file errors.

#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod binary;

use binary::{flowc, stderr, stdout};

/// Copies the shipped flows into a fresh folder that the test may change.
fn shipped_copy(name: &str) -> PathBuf {
    binary::shipped_copy("test", name)
}
use std::path::{Path, PathBuf};

#[test]
fn shipped_scenarios_pass_with_coverage() {
    let dir = shipped_copy("pass");
    let output = flowc(&["test", ".", "--min-coverage", "90"], &dir);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}\n{}", stderr(&output));
    assert!(
        text.contains("support.test.yaml (flow support.flow)"),
        "{text}"
    );
    assert!(
        text.contains("ok      weekday at closing time goes to voicemail"),
        "{text}"
    );
    assert!(
        text.contains("\ncoverage\n  support (support.flow): "),
        "{text}"
    );
    assert!(text.contains(", 0 failed\n"), "{text}");
}

const ONE_SCENARIO: &str = r#"flow: support.flow
scenarios:
  - name: closed on christmas eve
    call: {at: "2026-12-24T17:59"}
    inputs: ["2"]
    expect:
      outcome: OUTCOME
      trace:
        - hours office: closed
        - EXPECTED
"#;

fn one_scenario(dir: &Path, outcome: &str, expected: &str) -> PathBuf {
    let path = dir.join("extra").join("one.test.yaml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let text = ONE_SCENARIO
        .replace("OUTCOME", outcome)
        .replace("EXPECTED", expected)
        .replace("flow: support.flow", "flow: ../support.flow");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn wrong_trace_expectation_shows_diff() {
    let dir = shipped_copy("diff");
    one_scenario(&dir, "voicemail", "play \"holiday\"");
    let output = flowc(&["test", "extra"], &dir);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAILED  closed on christmas eve (extra/one.test.yaml:3)"),
        "{text}"
    );
    assert!(
        text.contains("trace: expected line 2 not found after actual line"),
        "{text}"
    );
    assert!(text.contains("= hours office: closed"), "{text}");
    assert!(
        text.contains("- play \"holiday\"    <- not found"),
        "{text}"
    );
    assert!(text.contains("play \"closed\" in sl"), "{text}");
    assert!(text.contains("scenarios: 0 passed, 1 failed"), "{text}");
}

#[test]
fn wrong_outcome_shows_expected_and_actual() {
    let dir = shipped_copy("outcome");
    one_scenario(&dir, "answered", "voicemail \"support\"");
    let output = flowc(&["test", "extra"], &dir);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("outcome:\n            expected: answered\n            actual:   voicemail"),
        "{text}"
    );
}

#[test]
fn coverage_below_minimum_fails() {
    let dir = shipped_copy("coverage");
    one_scenario(&dir, "voicemail", "voicemail \"support\"");
    let output = flowc(&["test", "extra", "--min-coverage", "90"], &dir);
    let text = stdout(&output);
    let errors = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}\n{errors}");
    assert!(text.contains("ok      closed on christmas eve"), "{text}");
    assert!(text.contains("missed  support.flow:"), "{text}");
    assert!(
        errors.contains("coverage of flow `support` is ")
            && errors.contains("below --min-coverage 90%"),
        "{errors}"
    );
    let passing = flowc(&["test", "extra", "--min-coverage", "1"], &dir);
    assert_eq!(passing.status.code(), Some(0), "{}", stdout(&passing));
}

#[test]
fn json_report_parses() {
    let dir = shipped_copy("json");
    let output = flowc(&["test", ".", "--format", "json"], &dir);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON report");
    assert_eq!(json["failed"], 0);
    assert!(json["passed"].as_u64().unwrap() > 30, "{text}");
    let coverage = &json["coverage"][0];
    assert_eq!(coverage["flow"], "support");
    assert!(coverage["percent"].as_f64().unwrap() >= 90.0, "{text}");
    assert!(coverage["total"].as_u64().unwrap() > 0, "{text}");
}

#[test]
fn unknown_key_names_file_and_line() {
    let dir = shipped_copy("key");
    let path = one_scenario(&dir, "voicemail", "voicemail");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("    expect:", "    expct:")).unwrap();
    let output = flowc(&["test", "extra"], &dir);
    let errors = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{errors}");
    assert!(
        errors.contains("extra/one.test.yaml:6:5: unknown key `expct` in a scenario"),
        "{errors}"
    );
}

#[test]
fn missing_flow_is_usage_error() {
    let dir = shipped_copy("noflow");
    std::fs::write(dir.join("lost.test.yaml"), "scenarios:\n  - name: x\n").unwrap();
    let output = flowc(&["test", "lost.test.yaml"], &dir);
    let errors = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{errors}");
    assert!(
        errors.contains("tests `lost.flow`, which does not exist"),
        "{errors}"
    );
}

#[test]
fn no_scenario_files_is_usage_error() {
    let dir = std::env::temp_dir().join(format!("flowc-test-empty-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let output = flowc(&["test"], &dir);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no `*.test.yaml` files"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn min_coverage_out_of_range() {
    let dir = shipped_copy("range");
    let output = flowc(&["test", ".", "--min-coverage", "120"], &dir);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("invalid --min-coverage 120"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn verbose_lists_every_missed_outcome() {
    let dir = shipped_copy("verbose");
    one_scenario(&dir, "voicemail", "play \"holiday\"");
    let brief = stdout(&flowc(&["test", "extra"], &dir));
    assert!(
        brief.contains("more missed outcomes; --verbose lists them all"),
        "{brief}"
    );
    assert!(!brief.contains("full trace:"), "{brief}");
    let verbose = stdout(&flowc(&["test", "extra", "--verbose"], &dir));
    assert!(!verbose.contains("more missed outcomes"), "{verbose}");
    assert!(verbose.contains("full trace:"), "{verbose}");
    assert!(
        verbose.matches("    missed  ").count() > brief.matches("    missed  ").count(),
        "{verbose}"
    );
}

#[test]
fn impossible_queue_outcome_makes_scenario_invalid() {
    let dir = shipped_copy("impossible-queue");
    let path = dir.join("queue.test.yaml");
    let text = "flow: support.flow\nscenarios:\n  - name: sales is never full\n    call: {at: \"2026-12-03T09:00\"}\n    inputs: [\"1\", \"2\"]\n    queues: [\"full\"]\n    expect:\n      outcome: voicemail\n";
    std::fs::write(&path, text).unwrap();
    let output = flowc(&["test", "queue.test.yaml"], &dir);
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{error}");
    assert!(
        error.contains("queue.test.yaml:3: scenario `sales is never full` is invalid"),
        "{error}"
    );
    assert!(error.contains("no `max callers`"), "{error}");
}

#[test]
fn one_coverage_entry_per_flow_file() {
    let dir = shipped_copy("canonical");
    std::fs::create_dir_all(dir.join("more")).unwrap();
    let text = std::fs::read_to_string(dir.join("support.test.yaml")).unwrap();
    let text = text.replace("flow: support.flow", "flow: ../support.flow");
    std::fs::write(dir.join("more").join("two.test.yaml"), text).unwrap();
    let output = flowc(&["test", "."], &dir);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert_eq!(text.matches("support (").count(), 1, "{text}");
    assert!(text.contains("support (support.flow): 100.0%"), "{text}");
}

#[test]
fn linked_folder_runs_scenarios_once() {
    let dir = shipped_copy("linked");
    let link = dir.with_file_name(format!(
        "{}-link",
        dir.file_name().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&dir, &link).unwrap();
    let once = stdout(&flowc(&["test", "."], &dir));
    let twice = flowc(&["test", ".", link.to_str().unwrap()], &dir);
    let text = stdout(&twice);
    assert_eq!(twice.status.code(), Some(0), "{text}");
    let summary = |t: &str| t.lines().last().unwrap_or_default().to_string();
    assert_eq!(summary(&text), summary(&once), "{text}");
    assert_eq!(text.matches("support (").count(), 1, "{text}");
}

fn write_scenarios(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("extra.test.yaml");
    std::fs::write(&path, format!("flow: support.flow\nscenarios:\n{body}")).unwrap();
    path
}

#[test]
fn unused_inputs_warn_without_failing() {
    let dir = shipped_copy("unused");
    write_scenarios(
        &dir,
        "  - name: extra keys\n    call: {at: \"2026-12-03T09:00\"}\n    inputs: [\"1\", \"1\", \"5\"]\n",
    );
    let output = flowc(&["test", "extra.test.yaml"], &dir);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("warning: 1 scripted input(s) not used"),
        "{text}"
    );
}

#[test]
fn crm_answer_given_twice_is_invalid() {
    let dir = shipped_copy("crm-twice");
    write_scenarios(
        &dir,
        "  - name: two answers\n    crm: missing\n    lookups: {crm: found}\n",
    );
    let output = flowc(&["test", "extra.test.yaml"], &dir);
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{error}");
    assert!(error.contains("extra.test.yaml:5:"), "{error}");
    assert!(error.contains("`crm` is given twice"), "{error}");
}

#[test]
fn device_scenario_file_rejected() {
    let dir = shipped_copy("device");
    let output = flowc(&["test", "/dev/zero"], &dir);
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{error}");
    assert!(error.contains("`/dev/zero`: it is a device"), "{error}");
}

#[test]
fn oversized_scenario_file_rejected() {
    let dir = shipped_copy("big-scenario");
    let file = std::fs::File::create(dir.join("big.test.yaml")).unwrap();
    file.set_len(17 * 1024 * 1024).unwrap();
    let output = flowc(&["test", "."], &dir);
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{error}");
    assert!(error.contains("larger than the limit of 16 MiB"), "{error}");
}

#[test]
fn broken_neighbour_does_not_block_scenarios() {
    let dir = shipped_copy("neighbour");
    let broken = "flow loop\n\non call {\n  play \"welcome\"\n  goto nowhere\n}\n";
    std::fs::write(dir.join("loop.flow"), broken).unwrap();
    let output = flowc(&["test", "."], &dir);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}\n{}", stderr(&output));
    assert!(text.contains(" passed, 0 failed"), "{text}");
}

#[test]
fn check_errors_message_offers_no_missing_option() {
    let dir = shipped_copy("no-force");
    let flow = dir.join("support.flow");
    let text = std::fs::read_to_string(&flow).unwrap();
    let text = text.replace("play \"connecting-sales\"", "play \"no-such-prompt\"");
    std::fs::write(&flow, text).unwrap();
    let output = flowc(&["test", "."], &dir);
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{error}");
    assert!(
        error.contains("check error(s), so it is not simulated"),
        "{error}"
    );
    assert!(!error.contains("or pass --force"), "{error}");
    assert!(error.contains("`flowc simulate --force`"), "{error}");
}

#[test]
fn invalid_scenarios_rejected_with_place() {
    let cases = [
        (
            "  - name: typo\n    expect:\n      outcome: answerd\n",
            "extra.test.yaml:5:16: invalid `outcome` `answerd`; expected one of answered, voicemail",
        ),
        ("  []\n", "no scenarios"),
        (
            "  - name: same\n  - name: same\n",
            "extra.test.yaml:4:5: scenario name `same` is already used on line 3",
        ),
        (
            "  - name: \" \"\n",
            "extra.test.yaml:3:11: a scenario's `name` is empty",
        ),
        (
            "  - name: blank line\n    expect:\n      trace:\n        - \"\"\n",
            "extra.test.yaml:6:11: an expected trace line is empty",
        ),
        (
            "  - name: zone\n    call: {at: \"2026-12-03T09:00\", tz: Mars/Olympus}\n",
            "extra.test.yaml:4:40: scenario `zone`: unknown time zone `Mars/Olympus`",
        ),
    ];
    for (body, expected) in cases {
        let dir = shipped_copy("invalid-scenario");
        std::fs::remove_file(dir.join("support.test.yaml")).unwrap();
        write_scenarios(&dir, body);
        let output = flowc(&["test", "."], &dir);
        let error = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{body}\n{error}");
        assert!(error.contains(expected), "{body}\n{error}");
    }
}

#[test]
fn flow_key_errors_name_place() {
    let dir = shipped_copy("flow-key");
    std::fs::write(
        dir.join("extra.test.yaml"),
        "flow: prompts\nscenarios:\n  - name: folder\n",
    )
    .unwrap();
    let output = flowc(&["test", "extra.test.yaml"], &dir);
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{error}");
    assert!(
        error.contains("extra.test.yaml:1:7: `prompts` is a folder, not a flow file"),
        "{error}"
    );
    std::fs::write(
        dir.join("extra.test.yaml"),
        "flow: nosuch.flow\nscenarios:\n  - name: missing\n",
    )
    .unwrap();
    let output = flowc(&["test", "extra.test.yaml"], &dir);
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{error}");
    assert!(error.contains("extra.test.yaml:1:7: "), "{error}");
    assert!(error.contains("which does not exist"), "{error}");
}

#[test]
fn flow_file_argument_rejected() {
    let dir = shipped_copy("flow-arg");
    let output = flowc(&["test", "support.flow"], &dir);
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{error}");
    assert!(
        error.contains("`support.flow` is a flow file; pass its folder or its `*.test.yaml` file"),
        "{error}"
    );
}

#[test]
fn place_only_line_matches_by_place() {
    let dir = shipped_copy("place-only");
    std::fs::remove_file(dir.join("support.test.yaml")).unwrap();
    write_scenarios(
        &dir,
        "  - name: place\n    call: {at: \"2026-12-03T09:00\"}\n    expect:\n      trace:\n        - support.flow:45\n        - \"+0:00.0\"\n",
    );
    let output = flowc(&["test", "."], &dir);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    // The place matches; no step is at +0:00.0 after line 45's decision.
    assert!(text.contains("= support.flow:45"), "{text}");
    assert!(text.contains("- +0:00.0    <- not found"), "{text}");
}

#[test]
fn min_coverage_takes_percent_sign() {
    let dir = shipped_copy("percent");
    let output = flowc(&["test", ".", "--min-coverage", "50%"], &dir);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = flowc(&["test", ".", "--min-coverage", "150%"], &dir);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[test]
fn missed_outcomes_sorted_by_place() {
    let dir = shipped_copy("sorted");
    std::fs::remove_file(dir.join("support.test.yaml")).unwrap();
    write_scenarios(
        &dir,
        "  - name: one call\n    call: {at: \"2026-12-03T09:00\"}\n",
    );
    let output = flowc(&["test", ".", "--verbose"], &dir);
    let text = stdout(&output);
    let places: Vec<(String, u64)> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("missed"))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|p| p.rsplit_once(':'))
        .filter_map(|(file, line)| Some((file.to_string(), line.parse().ok()?)))
        .collect();
    assert!(places.len() > 10, "{text}");
    let mut sorted = places.clone();
    sorted.sort();
    assert_eq!(places, sorted, "{text}");
}

#[test]
fn json_failures_carry_fields() {
    let dir = shipped_copy("json-fields");
    one_scenario(&dir, "answered", "voicemail \"support\"");
    let output = flowc(&["test", "extra", "--format", "json"], &dir);
    assert_eq!(output.status.code(), Some(1));
    let data: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let scenario = &data["files"][0]["scenarios"][0];
    let mismatch = &scenario["mismatches"][0];
    assert_eq!(mismatch["kind"], "outcome", "{scenario}");
    assert_eq!(mismatch["expected"], "answered", "{scenario}");
    assert_eq!(mismatch["actual"], "voicemail", "{scenario}");
    assert!(mismatch["text"].as_str().is_some(), "{scenario}");
    assert!(scenario["failures"][0].as_str().is_some(), "{scenario}");
}

#[test]
fn json_invalid_scenario_printed_as_json() {
    let dir = shipped_copy("json-invalid");
    write_scenarios(
        &dir,
        "  - name: typo\n    expect:\n      outcome: answerd\n",
    );
    let output = flowc(&["test", "extra.test.yaml", "--format", "json"], &dir);
    assert_eq!(output.status.code(), Some(2));
    let data: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let message = data["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("invalid `outcome` `answerd`"), "{data}");
}
