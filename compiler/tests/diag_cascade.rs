//! One mistake, one report: a syntax error, a broken `tok.yaml` or a
//! misspelt name must not bring a row of follow-on diagnostics with it.
//! Also the literal checks of numbers, transfer destinations, mailboxes,
//! digits comparisons and divisors, and missing prompts reported once.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::{TEST_CONFIG, project_with_config, report_project};
use flowc::project::{Project, PromptInventory};
use insta::assert_snapshot;

/// A flow that uses a skill, hooks, a CRM field and a language of
/// `TEST_CONFIG`.
const USES_CONFIG: &str = r#"flow support

queue technical {
  needs routers >= 2
  overflow hangup
}

on call {
  lookup customer in salesforce by call.from {
    failed => hangup
  }
  if customer is found and customer.tier == "gold" {
    set language = "sl"
  }
  enqueue technical
}

after call {
  webhook orders
}
"#;

fn codes(project: &Project) -> Vec<String> {
    let mut all = project.diagnostics.clone();
    all.extend(flowc::check::check(project));
    all.iter().map(|d| d.code.to_string()).collect()
}

fn with_config(config: &str) -> Project {
    project_with_config(&[("support.flow", USES_CONFIG)], Some(config))
}

#[test]
fn flow_that_uses_the_config_is_clean() {
    assert!(codes(&with_config(TEST_CONFIG)).is_empty());
}

// ------------------------------------------------------- syntax errors

#[test]
fn syntax_error_hides_unreached_and_unused() {
    // The broken step held the gotos to `sales` and `order`, the only use
    // of `vip`, and the only `enqueue` of `technical`.
    let source = r#"flow support

queue technical {
  overflow hangup
}

on call {
  let vip = true
  goto department
}

step department {
  menu {
    prompt "choose-department"
    attempts 3
    1 goto sales
    2 => goto order
  }
  if vip {
    enqueue technical
  }
  hangup
}

step sales {
  hangup
}

step order {
  hangup
}
"#;
    assert_snapshot!(common::report(&[("support.flow", source)]));
}

#[test]
fn step_in_a_library_is_reported_once() {
    let library = "on call {\n  hangup\n}\n\nstep x {\n  hangup\n}\n";
    let project = project_with_config(&[("library.flow", library)], None);
    assert_snapshot!(report_project(&project));
}

// ---------------------------------------------------------- broken config

#[test]
fn yaml_syntax_error_stops_the_config_checks() {
    assert_snapshot!(report_project(&with_config("numbers: {\n")));
}

#[test]
fn list_at_the_top_stops_the_config_checks() {
    assert_eq!(codes(&with_config("- en\n- sl\n")), ["F0503"]);
}

#[test]
fn misspelt_section_is_not_resolved() {
    let config = TEST_CONFIG.replace("skills:", "skils:");
    assert_snapshot!(report_project(&with_config(&config)));
}

#[test]
fn section_of_the_wrong_type_is_not_resolved() {
    let config = TEST_CONFIG.replace("skills:", "skills: 5\nold_skills:");
    assert_eq!(codes(&with_config(&config)), ["F0503", "F0502"]);
}

#[test]
fn invalid_language_code_is_reported_once() {
    let config = TEST_CONFIG.replace("[en, sl]", "[en, SL]");
    assert_eq!(codes(&with_config(&config)), ["F0503"]);
}

#[test]
fn hook_with_invalid_kind_is_not_unknown() {
    let config = TEST_CONFIG.replace("kind: webhook", "kind: webhok");
    assert_snapshot!(report_project(&with_config(&config)));
}

#[test]
fn field_with_invalid_type_is_not_unknown() {
    let config = TEST_CONFIG.replace("tier: text", "tier: txt");
    assert_snapshot!(report_project(&with_config(&config)));
}

#[test]
fn unrelated_config_error_leaves_the_checks_on() {
    let config = TEST_CONFIG.replace("routers: { max_level: 3 }", "routers: { max_level: 0 }");
    let source = USES_CONFIG.replace("webhook orders", "webhook order");
    let project = project_with_config(&[("support.flow", &source)], Some(&config));
    assert_eq!(codes(&project), ["F0503", "F0105"]);
}

// --------------------------------------------------------- one typo, one report

#[test]
fn misspelt_skill_in_needs_is_reported_once() {
    let source = "flow support\n\nqueue technical {\n  needs router >= 2\n  after 90s relax routers >= 1\n  after 3m drop routers\n  overflow hangup\n}\n\non call {\n  enqueue technical\n}\n";
    assert_snapshot!(common::report(&[("support.flow", source)]));
}

#[test]
fn relax_of_unneeded_skill_reported() {
    let source = "flow support\n\nqueue technical {\n  needs billing >= 2\n  after 90s relax routers >= 1\n  overflow hangup\n}\n\non call {\n  enqueue technical\n}\n";
    assert_eq!(common::codes(&[("support.flow", source)]), ["F0104"]);
}

#[test]
fn priority_with_mismatched_branches_is_reported_once() {
    let source = "flow support\n\nqueue technical {\n  priority if call.anonymous then \"high\" else 0\n  overflow hangup\n}\n\non call {\n  enqueue technical\n}\n";
    assert_snapshot!(common::report(&[("support.flow", source)]));
}

#[test]
fn misspelt_names_reported_once() {
    let source = r#"flow support

hours office in "Europe/Ljubljana" {
  mon..fri 08:00..17:00
}

queue technical {
  overflow hangup
}

subflow greeting {
  play "welcome"
}

on call {
  run greting
  if open(ofice) {
    goto order_stats
  }
  enqueue technicl
}

step order_status {
  hangup
}
"#;
    assert_snapshot!(common::report(&[("support.flow", source)]));
}

#[test]
fn names_of_another_kind_say_what_they_are() {
    let source = r#"flow support

hours office in "Europe/Ljubljana" {
  mon..fri 08:00..17:00
}

queue technical {
  overflow hangup
}

on call {
  if open(technical) {
    goto office
  }
  goto sales
}

step sales {
  enqueue sales
}
"#;
    assert_snapshot!(common::report(&[("support.flow", source)]));
}

// ------------------------------------------------------------- prompts

/// A project with `TEST_CONFIG` whose prompt folder contains `prompts`, as
/// (language, name) pairs.
fn with_prompts(flow: &str, config: Option<&str>, prompts: &[(&str, &str)]) -> Project {
    let inventory = PromptInventory {
        listed: true,
        files: prompts
            .iter()
            .map(|(language, name)| (language.to_string(), name.to_string()))
            .collect(),
    };
    let mut project = Project::new(config.map(|text| ("tok.yaml", text)), inventory);
    project.add_flow("support.flow", flow);
    project
}

const PROMPT_FLOW: &str = r#"flow support answers "+38615550199"

on call {
  menu {
    prompt "choose-department"
    attempts 3
    1 => hangup
    invalid => play "no-input"
    no input => play "no-input"
  }
  play "no-input", "goodbye"
  hangup
}
"#;

#[test]
fn prompt_missing_in_many_places_is_reported_once() {
    let prompts = [
        ("en", "choose-department"),
        ("en", "no-input"),
        ("en", "goodbye"),
        ("sl", "choose-department"),
        ("sl", "goodbye"),
    ];
    let project = with_prompts(PROMPT_FLOW, Some("languages: [en, sl]\n"), &prompts);
    assert_snapshot!(report_project(&project));
}

#[test]
fn language_without_prompts_is_reported_once() {
    let prompts = [
        ("en", "choose-department"),
        ("en", "no-input"),
        ("common", "goodbye"),
    ];
    let project = with_prompts(PROMPT_FLOW, Some("languages: [en, sl]\n"), &prompts);
    assert_snapshot!(report_project(&project));
}

#[test]
fn empty_language_without_config() {
    let project = with_prompts(PROMPT_FLOW, None, &[("common", "goodbye")]);
    assert_snapshot!(report_project(&project));
}

// ------------------------------------------------------------- literals

#[test]
fn f0002_invalid_numbers_and_destinations() {
    let source = r#"flow support answers "abc", "", "+386 1 555 0100", "1234567890123456789"

on call {
  if call.anonymous {
    transfer "+386 1 555 01O0"
  }
  if call.from == "+38615550111" {
    transfer "sip:"
  }
  if call.from == "+38615550112" {
    transfer "sip:desk@pbx.example.com"
  }
  if call.from == "+38615550113" {
    transfer "tel:+38615550199"
  }
  if call.from == "+38615550114" {
    transfer "{call.from}"
  }
  voicemail ""
}
"#;
    assert_snapshot!(common::report(&[("support.flow", source)]));
}

#[test]
fn invalid_answers_still_reach_flow() {
    let source = "flow sales answers \"abc\"\n\non call {\n  hangup\n}\n";
    let project = project_with_config(&[("sales.flow", source)], None);
    assert_eq!(codes(&project), ["F0002"]);
}

#[test]
fn f0002_division_by_zero() {
    let source = "flow support\n\non call {\n  let a = 10 / 0\n  let b = a % 0\n  let c = 20s / 0\n  let d = a / 2\n  tag \"{a}{b}{c}{d}\"\n  hangup\n}\n";
    assert_snapshot!(common::report(&[("support.flow", source)]));
}

#[test]
fn f0201_digits_compared_with_other_text() {
    let source = "flow support\n\non call {\n  collect pin {\n    prompt \"enter-order\"\n    attempts 3\n  }\n  if pin == \"abc\" or \"12*#\" == pin or \"1a\" != pin {\n    hangup\n  }\n  hangup\n}\n";
    assert_snapshot!(common::report(&[("support.flow", source)]));
}
