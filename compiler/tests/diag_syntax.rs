//! Snapshots of syntax diagnostics: the source, then the rendered report.

mod common;

use insta::assert_snapshot;

fn report(source: &str) -> String {
    common::report(&[("support.flow", source)])
}

#[test]
fn syntax_error_names_expected_text() {
    assert_snapshot!(report(
        "flow support\n\non call {\n  play welcome\n  hangup\n}\n"
    ));
}

#[test]
fn syntax_errors_in_several_declarations() {
    let source = "flow support\n\non call {\n  play 5\n  hangup\n}\n\nstep a {\n  menu {\n    prompt \"welcome\"\n    12 => hangup\n  }\n}\n\nqueue q {\n  strategy fastest\n}\n";
    assert_snapshot!(report(source));
}

#[test]
fn syntax_error_unclosed_brace_keeps_next_declaration() {
    let source = "flow support\n\non call {\n  if true {\n    hangup\n}\n\nstep b {\n  play 1\n}\n";
    assert_snapshot!(report(source));
}

#[test]
fn syntax_error_single_equals_in_condition() {
    assert_snapshot!(report(
        "flow support\n\non call {\n  if language = \"sl\" {\n    hangup\n  }\n  hangup\n}\n"
    ));
}

#[test]
fn invalid_literal_number_too_large() {
    assert_snapshot!(report(
        "flow support\n\non call {\n  let n = 99999999999999999999\n  tag \"{n}\"\n  hangup\n}\n"
    ));
}

#[test]
fn invalid_literal_interpolated_prompt() {
    assert_snapshot!(report(
        "flow support\n\non call {\n  play \"welcome-{language}\"\n  hangup\n}\n"
    ));
}

#[test]
fn invalid_literal_duration_too_long() {
    assert_snapshot!(report(
        "flow support\n\non call {\n  menu {\n    prompt \"welcome\"\n    timeout 9999h\n    attempts 3\n    1 => hangup\n  }\n  hangup\n}\n"
    ));
}

#[test]
fn option_written_twice_in_a_menu() {
    let source = "flow support\n\non call {\n  menu {\n    prompt \"welcome\"\n    timeout 5s\n    attempts 3\n    timeout 6s\n    1 => hangup\n  }\n  hangup\n}\n";
    assert_snapshot!(report(source));
}

#[test]
fn nesting_too_deep() {
    let depth = 70;
    let mut source = String::from("flow support\n\non call {\n");
    for level in 0..depth {
        source.push_str(&format!("{}if true {{\n", "  ".repeat(level + 1)));
    }
    source.push_str("hangup\n");
    source.push_str(&"}\n".repeat(depth + 1));
    let report = report(&source);
    let diagnostics = &report[report.find("=== diagnostics").unwrap_or(0)..];
    assert_snapshot!(diagnostics);
}

#[test]
fn expression_with_too_many_operators() {
    let terms = vec!["true"; 300].join(" or ");
    let source =
        format!("flow support\n\non call {{\n  let x = {terms}\n  tag \"{{x}}\"\n  hangup\n}}\n");
    let report = report(&source);
    let diagnostics = &report[report.find("=== diagnostics").unwrap_or(0)..];
    assert_snapshot!(diagnostics);
}

#[test]
fn invalid_literal_unknown_escape() {
    assert_snapshot!(report(
        "flow support\n\non call {\n  tag \"a\\qb\"\n  hangup\n}\n"
    ));
}
