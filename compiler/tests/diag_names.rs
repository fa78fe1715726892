//! Snapshots of the name, type and option diagnostics, one or more per
//! code, and behaviour tests of narrowing and definite assignment.
//!
//! The config is built in Rust, the same as `common::TEST_CONFIG`, so these
//! tests do not depend on the YAML reader.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use flowc::config::{Config, FieldType, Hook, HookKind, Skill};
use flowc::diag::{Diagnostic, Span};
use flowc::project::{Project, PromptInventory};
use std::collections::BTreeMap;

/// Builds the config of `common::TEST_CONFIG` by hand. `billing` gets
/// `max_level: 5`.
fn test_config() -> Config {
    let hook = |kind, url: &str| Hook {
        kind,
        url: url.to_string(),
        method: String::from(if kind == HookKind::Crm { "GET" } else { "POST" }),
        headers: BTreeMap::new(),
        timeout_ms: 2_000,
        fields: BTreeMap::new(),
        secret_env: None,
        template: None,
    };
    Config {
        numbers: BTreeMap::from([("+38615550100".to_string(), "support".to_string())]),
        languages: vec![String::from("en"), String::from("sl")],
        default_language: String::from("en"),
        skills: BTreeMap::from([
            (
                String::from("routers"),
                Skill {
                    description: None,
                    max_level: 3,
                },
            ),
            (
                String::from("billing"),
                Skill {
                    description: None,
                    max_level: 5,
                },
            ),
        ]),
        hooks: BTreeMap::from([
            (
                String::from("orders"),
                hook(HookKind::Webhook, "http://127.0.0.1:9/orders"),
            ),
            (
                String::from("salesforce"),
                hook(HookKind::Crm, "http://127.0.0.1:9/contacts/{key}"),
            ),
        ]),
        crm_fields: BTreeMap::from([
            (String::from("tier"), FieldType::Text),
            (String::from("contract_end"), FieldType::Date),
        ]),
        ..Config::default()
    }
}

fn prompts() -> PromptInventory {
    let mut prompts = PromptInventory {
        listed: true,
        ..PromptInventory::default()
    };
    for language in ["en", "sl"] {
        for name in common::TEST_PROMPTS {
            prompts
                .files
                .insert((language.to_string(), name.to_string()));
        }
    }
    prompts
}

/// Builds a project from flow sources with the test config.
fn project(flows: &[(&str, &str)]) -> Project {
    project_with(flows, test_config())
}

fn project_with(flows: &[(&str, &str)], config: Config) -> Project {
    let mut project = Project::new(None, prompts());
    project.config = config;
    for (name, text) in flows {
        project.add_flow(name, text);
    }
    project
}

/// Builds a project whose config also has a file, so that diagnostics can
/// point at the `numbers` entries.
fn project_with_numbers(flows: &[(&str, &str)], numbers: &[(&str, &str)]) -> Project {
    let mut text = String::from("numbers:\n");
    let mut config = test_config();
    config.numbers.clear();
    let mut project = Project::new(None, prompts());
    let mut locations = BTreeMap::new();
    for (number, flow) in numbers {
        let start = text.len() + 2;
        text.push_str(&format!("  \"{number}\": {flow}\n"));
        locations.insert(
            format!("numbers.{number}"),
            Span::new(start, start + number.len() + 2),
        );
        config.numbers.insert(number.to_string(), flow.to_string());
    }
    text.push_str("languages: [en, sl]\n");
    config.file = Some(project.sources.add("tok.yaml", text));
    config.locations = locations;
    project.config = config;
    for (name, text) in flows {
        project.add_flow(name, text);
    }
    project
}

fn all_diagnostics(project: &Project) -> Vec<Diagnostic> {
    let mut all = project.diagnostics.clone();
    all.extend(flowc::check::check(project));
    all
}

fn codes_of(project: &Project) -> Vec<String> {
    all_diagnostics(project)
        .iter()
        .map(|d| d.code.to_string())
        .collect()
}

fn codes(text: &str) -> Vec<String> {
    codes_of(&project(&[("support.flow", text)]))
}

fn report(text: &str) -> String {
    common::report_project(&project(&[("support.flow", text)]))
}

// ------------------------------------------------------------ snapshots

#[test]
fn f0003_misplaced_declarations() {
    let library = "queue sales {\n  overflow hangup\n}\n\non call {\n  enqueue sales\n}\n";
    let flow =
        "flow support\n\nafter call {\n  tag \"done\"\n}\n\nafter call {\n  tag \"again\"\n}\n";
    insta::assert_snapshot!(common::report_project(&project(&[
        ("library.flow", library),
        ("support.flow", flow),
    ])));
}

#[test]
fn f0003_second_flow_header() {
    insta::assert_snapshot!(report(
        "flow support\nflow sales\n\non call {\n  hangup\n}\n"
    ));
}

#[test]
fn f0101_unknown_name() {
    insta::assert_snapshot!(report(
        "flow support\n\non call {\n  let count = 1\n  if cont > 1 {\n    hangup\n  }\n  hangup\n}\n"
    ));
}

#[test]
fn f0102_unknown_queue() {
    insta::assert_snapshot!(report(
        "flow support\n\nqueue technical {\n  overflow hangup\n}\n\non call {\n  enqueue tehnical\n}\n"
    ));
}

#[test]
fn f0103_unknown_schedule() {
    insta::assert_snapshot!(report(
        "flow support\n\nhours office in \"Europe/Ljubljana\" {\n  mon..fri 08:00..17:00\n}\n\non call {\n  if not open(ofice) {\n    hangup\n  }\n  hangup\n}\n"
    ));
}

#[test]
fn f0104_unknown_skill() {
    insta::assert_snapshot!(report(
        "flow support\n\nqueue technical {\n  needs routres >= 2, billing\n  after 60s drop billing\n  after 90s relax routers >= 1\n  overflow hangup\n}\n\non call {\n  enqueue technical\n}\n"
    ));
}

#[test]
fn f0105_unknown_hook_and_wrong_kind() {
    insta::assert_snapshot!(report(
        "flow support\n\non call {\n  lookup customer in salesforse by call.from {\n    failed => hangup\n  }\n  if customer is found {\n    hangup\n  }\n  hangup\n}\n\nafter call {\n  webhook slack\n  notify orders \"missed call\"\n}\n"
    ));
}

#[test]
fn f0106_unknown_step_and_subflow() {
    insta::assert_snapshot!(report(
        "flow support\n\non call {\n  run greting\n  goto departmnt\n}\n\nstep department {\n  hangup\n}\n\nsubflow greeting {\n  play \"welcome\"\n}\n"
    ));
}

#[test]
fn f0107_unknown_fields() {
    insta::assert_snapshot!(report(
        "flow support\n\non call {\n  lookup customer in crm by call.frm {\n    failed => hangup\n  }\n  if customer is found and customer.tierr == \"gold\" {\n    tag \"outcome {call.outcome}\"\n  }\n  hangup\n}\n"
    ));
}

#[test]
fn f0108_unknown_language() {
    insta::assert_snapshot!(report(
        "flow support\n\non call {\n  set language = \"de\"\n  if language == \"sk\" {\n    hangup\n  }\n  hangup\n}\n"
    ));
}

#[test]
fn f0109_unknown_function() {
    insta::assert_snapshot!(report(
        "flow support\n\nhours office in \"Europe/Ljubljana\" {\n  mon..fri 08:00..17:00\n}\n\non call {\n  if opened(office) {\n    hangup\n  }\n  hangup\n}\n"
    ));
}

#[test]
fn f0110_duplicates() {
    let first = "flow support\n\nqueue sales {\n  strategy ring_all\n  strategy random\n  overflow hangup\n}\n\non call {\n  let n = 1\n  let n = 2\n  tag \"{n}\"\n  goto a\n}\n\nstep a {\n  enqueue sales\n}\n\nstep a {\n  hangup\n}\n";
    let second = "queue sales {\n  overflow hangup\n}\n";
    insta::assert_snapshot!(common::report_project(&project(&[
        ("support.flow", first),
        ("library.flow", second),
    ])));
}

#[test]
fn f0110_builtin_name_created() {
    insta::assert_snapshot!(report(
        "flow support\n\non call {\n  let language = \"sl\"\n  hangup\n}\n"
    ));
}

#[test]
fn f0111_unused_variable() {
    insta::assert_snapshot!(report(
        "flow support\n\non call {\n  let greeting = \"hello\"\n  hangup\n}\n"
    ));
}

#[test]
fn f0112_unset_variable() {
    insta::assert_snapshot!(report(
        "flow support\n\non call {\n  if call.anonymous {\n    let vip = false\n  }\n  if vip {\n    hangup\n  }\n  hangup\n}\n"
    ));
}

#[test]
fn f0112_unset_across_goto() {
    insta::assert_snapshot!(report(
        "flow support\n\non call {\n  if call.anonymous {\n    goto greet\n  }\n  let name = \"x\"\n  goto greet\n}\n\nstep greet {\n  tag \"{name}\"\n  hangup\n}\n"
    ));
}

#[test]
fn f0113_unused_declarations() {
    insta::assert_snapshot!(report(
        "flow support\n\nhours office in \"Europe/Ljubljana\" {\n  mon..fri 08:00..17:00\n}\n\nqueue sales {\n  overflow hangup\n}\n\nsubflow greet {\n  play \"welcome\"\n}\n\non call {\n  hangup\n}\n"
    ));
}

#[test]
fn f0201_type_mismatches() {
    insta::assert_snapshot!(report(
        "flow support\n\non call {\n  let count = 1\n  set count = \"two\"\n  if count {\n    hangup\n  }\n  let total = count + \"x\"\n  tag total, count\n  transfer count\n}\n"
    ));
}

#[test]
fn f0201_comparisons_and_branches() {
    insta::assert_snapshot!(report(
        "flow support\n\non call {\n  collect order {\n    prompt \"enter-order\"\n    attempts 3\n  }\n  match order {\n    \"12a\" => hangup\n    else => { }\n  }\n  let size = if order == 42 then 1 else \"big\"\n  tag \"{size}\"\n  if order < \"5\" {\n    hangup\n  }\n  hangup\n}\n"
    ));
}

#[test]
fn f0201_priority_must_be_integer() {
    insta::assert_snapshot!(report(
        "flow support\n\nqueue technical {\n  priority \"high\"\n  overflow hangup\n}\n\non call {\n  enqueue technical\n}\n"
    ));
}

#[test]
fn f0202_wrong_arguments() {
    insta::assert_snapshot!(report(
        "flow support\n\nhours office in \"Europe/Ljubljana\" {\n  mon..fri 08:00..17:00\n}\n\non call {\n  if open(office, office) {\n    hangup\n  }\n  hangup\n}\n"
    ));
}

#[test]
fn f0203_not_assignable() {
    insta::assert_snapshot!(report(
        "flow support\n\non call {\n  let counter = 0\n  set countr = 1\n  set call = \"x\"\n  tag \"{counter}\"\n  hangup\n}\n"
    ));
}

#[test]
fn f0304_f0310_menu_without_options() {
    insta::assert_snapshot!(report(
        "flow support\n\non call {\n  menu {\n    1 => hangup\n  }\n  collect pin {\n    length 4\n  }\n  tag \"{pin}\"\n  hangup\n}\n"
    ));
}

#[test]
fn f0305_duplicate_key() {
    insta::assert_snapshot!(report(
        "flow support\n\non call {\n  menu {\n    prompt \"choose-department\"\n    attempts 3\n    1 => hangup\n    2 => hangup\n    1 => hangup\n  }\n  hangup\n}\n"
    ));
}

#[test]
fn f0306_lookup_without_failed() {
    insta::assert_snapshot!(report(
        "flow support\n\non call {\n  lookup customer in crm by call.from {\n    timeout 1s\n  }\n  if customer is found {\n    hangup\n  }\n  hangup\n}\n"
    ));
}

#[test]
fn f0307_unchecked_contact() {
    insta::assert_snapshot!(report(
        "flow support\n\non call {\n  lookup customer in crm by call.from {\n    failed => tag \"crm-down\"\n  }\n  if customer.vip {\n    hangup\n  }\n  hangup\n}\n"
    ));
}

#[test]
fn f0308_overflow_unhandled() {
    insta::assert_snapshot!(report(
        "flow support\n\nqueue sales {\n  strategy random\n}\n\non call {\n  enqueue sales\n}\n"
    ));
}

#[test]
fn f0309_misplaced_statements() {
    insta::assert_snapshot!(report(
        "flow support\n\non call {\n  timeline \"hello\"\n  menu {\n    prompt \"choose-department\"\n    attempts 2\n    1 => hangup\n    failed => hangup\n  }\n  return\n}\n\nafter call {\n  play \"goodbye\"\n  record on\n  record off\n}\n"
    ));
}

#[test]
fn f0311_options_out_of_range() {
    insta::assert_snapshot!(report(
        "flow support\n\nqueue technical {\n  needs routers >= 4\n  after 60s relax routers >= 4\n  target 120% within 20s\n  max callers 0\n  overflow hangup\n}\n\non call {\n  lookup customer in crm by call.from {\n    timeout 10s\n    failed => hangup\n  }\n  collect order {\n    prompt \"enter-order\"\n    attempts 11\n    length 8..40\n    terminator 5\n  }\n  if customer is found {\n    tag \"{order}\"\n  }\n  enqueue technical\n}\n"
    ));
}

#[test]
fn f0402_impossible_date_in_expression() {
    insta::assert_snapshot!(report(
        "flow support\n\nhours office in \"Europe/Ljubljana\" {\n  mon..fri 08:00..17:00\n}\n\non call {\n  if today(office) == 2026-02-30 or now(office) > 25:00 {\n    hangup\n  }\n  hangup\n}\n"
    ));
}

#[test]
fn f0501_missing_prompt() {
    let mut project = project(&[(
        "support.flow",
        "flow support\n\nqueue technical {\n  announce \"tech-tip\" every 60s\n  overflow hangup\n}\n\non call {\n  play \"welcom\", \"sl-only\"\n  enqueue technical\n}\n",
    )]);
    project
        .prompts
        .files
        .insert((String::from("sl"), String::from("sl-only")));
    project
        .prompts
        .files
        .remove(&(String::from("sl"), String::from("hold-music")));
    insta::assert_snapshot!(common::report_project(&project));
}

#[test]
fn f0504_number_to_unknown_flow() {
    let project = project_with_numbers(
        &[("support.flow", "flow support\n\non call {\n  hangup\n}\n")],
        &[("+38615550100", "support"), ("+38615550200", "suport")],
    );
    insta::assert_snapshot!(common::report_project(&project));
}

#[test]
fn f0505_number_reaching_two_flows() {
    let project = project_with_numbers(
        &[
            (
                "support.flow",
                "flow support answers \"+386 1 555 0100\"\n\non call {\n  hangup\n}\n",
            ),
            (
                "sales.flow",
                "flow sales answers \"(080) 55-50\"\n\non call {\n  hangup\n}\n",
            ),
        ],
        &[("+38615550100", "sales"), ("080 5550", "sales")],
    );
    insta::assert_snapshot!(common::report_project(&project));
}

#[test]
fn f0506_flow_without_number() {
    insta::assert_snapshot!(common::report_project(&project(&[
        ("support.flow", "flow support\n\non call {\n  hangup\n}\n"),
        ("sales.flow", "flow sales\n\non call {\n  hangup\n}\n"),
    ])));
}

// ------------------------------------------------------------ behaviour

#[test]
fn narrowing_inside_found_branch() {
    let text = "flow support\n\non call {\n  lookup c in crm by call.from {\n    failed => hangup\n  }\n  if c is found {\n    tag c.name\n  }\n  if c is missing {\n    hangup\n  } else {\n    tag c.name\n  }\n  if c is found and c.vip {\n    hangup\n  }\n  let p = if c is found then c.open_tickets else 0\n  tag \"{p}\"\n  hangup\n}\n";
    assert_eq!(codes(text), Vec::<String>::new());
}

#[test]
fn narrowing_lost_after_branch_and_set() {
    let text = "flow support\n\non call {\n  lookup c in crm by call.from {\n    failed => hangup\n  }\n  lookup d in crm by call.from {\n    failed => hangup\n  }\n  if c is found {\n    set c = d\n    tag c.name\n  }\n  tag c.name\n  if c is missing or c.vip {\n    hangup\n  }\n  hangup\n}\n";
    assert_eq!(codes(text), vec!["F0307", "F0307"]);
}

#[test]
fn narrowing_after_early_exit() {
    let text = "flow support\n\non call {\n  lookup c in crm by call.from {\n    failed => hangup\n  }\n  if c is missing {\n    hangup\n  }\n  tag c.name\n  hangup\n}\n";
    assert_eq!(codes(text), Vec::<String>::new());
}

#[test]
fn narrowing_carries_into_step() {
    let text = "flow support\n\non call {\n  lookup c in crm by call.from {\n    failed => hangup\n  }\n  if c is found {\n    goto known\n  }\n  hangup\n}\n\nstep known {\n  tag c.name\n  hangup\n}\n";
    assert_eq!(codes(text), Vec::<String>::new());
}

#[test]
fn definite_assignment_intersects_gotos() {
    let text = "flow support\n\non call {\n  let a = 1\n  if call.anonymous {\n    let b = 2\n    tag \"{b}\"\n    goto end\n  }\n  goto end\n}\n\nstep end {\n  tag \"{a}\"\n  tag \"{b}\"\n  hangup\n}\n";
    let diagnostics = all_diagnostics(&project(&[("support.flow", text)]));
    let codes: Vec<String> = diagnostics.iter().map(|d| d.code.to_string()).collect();
    assert_eq!(codes, vec!["F0112"]);
    assert!(
        diagnostics[0].message.contains("`b`"),
        "{}",
        diagnostics[0].message
    );
}

#[test]
fn definite_assignment_through_step_loop() {
    // `retry` enters itself. `tries` is set before the first entry, so it
    // is set on every entry. `seen` is set only inside `retry`, so it is
    // not set on the first entry.
    // The loop has no caller input, so the path checks report F0303 too;
    // only the F0112 reports matter here.
    let text = "flow support\n\non call {\n  let tries = 0\n  goto retry\n}\n\nstep retry {\n  tag \"{tries}\"\n  tag \"{seen}\"\n  let seen = true\n  set tries = tries + 1\n  if tries < 3 {\n    goto retry\n  }\n  hangup\n}\n";
    let mut diagnostics = all_diagnostics(&project(&[("support.flow", text)]));
    diagnostics.retain(|d| d.code.to_string() != "F0303");
    let codes: Vec<String> = diagnostics.iter().map(|d| d.code.to_string()).collect();
    assert_eq!(codes, vec!["F0112"]);
    assert!(diagnostics[0].message.contains("`seen`"));
}

#[test]
fn definite_assignment_of_chained_steps() {
    let text = "flow support\n\non call {\n  goto one\n}\n\nstep one {\n  let x = 1\n  goto two\n}\n\nstep two {\n  goto three\n}\n\nstep three {\n  tag \"{x}\"\n  hangup\n}\n";
    assert_eq!(codes(text), Vec::<String>::new());
}

#[test]
fn collect_and_lookup_set_their_variables() {
    let text = "flow support\n\non call {\n  collect order {\n    prompt \"enter-order\"\n    attempts 3\n    valid if order starts with \"4\"\n    invalid => play \"order-invalid\"\n  }\n  lookup c in crm by order {\n    failed => tag \"crm-down\"\n  }\n  if c is found {\n    tag \"{order}\"\n  }\n  hangup\n}\n";
    assert_eq!(codes(text), Vec::<String>::new());
}

#[test]
fn after_call_sees_flow_variables() {
    let text = "flow support\n\non call {\n  lookup c in crm by call.from {\n    failed => hangup\n  }\n  collect order {\n    prompt \"enter-order\"\n    attempts 3\n  }\n  hangup\n}\n\nafter call {\n  ticket link or create \"Order {order}\"\n  timeline \"{c.name}\"\n}\n";
    assert_eq!(codes(text), vec!["F0307"]);
}

#[test]
fn several_errors_in_one_file_are_all_reported() {
    let text = "flow support\n\non call {\n  enqueue nosuch\n}\n\nstep a {\n  goto nowhere\n}\n\nstep b {\n  if missing_var {\n    hangup\n  }\n  play \"nosuch-prompt\"\n  transfer 5\n}\n";
    let codes = codes(text);
    for code in ["F0102", "F0106", "F0101", "F0501", "F0201"] {
        assert!(
            codes.contains(&code.to_string()),
            "{code} missing from {codes:?}"
        );
    }
}

#[test]
fn syntax_error_hides_references_to_its_declaration() {
    let text = "flow support\n\non call {\n  goto broken\n}\n\nstep broken {\n  let x = )\n}\n";
    assert_eq!(codes(text), vec!["F0001"]);
}

#[test]
fn queue_priority_checked_at_each_enqueue() {
    let text = "flow support\n\nqueue q {\n  priority if c is found and c.vip then 10 else 0\n  overflow hangup\n}\n\non call {\n  if call.anonymous {\n    enqueue q\n  }\n  lookup c in crm by call.from {\n    failed => hangup\n  }\n  enqueue q\n}\n";
    let diagnostics = all_diagnostics(&project(&[("support.flow", text)]));
    let codes: Vec<String> = diagnostics.iter().map(|d| d.code.to_string()).collect();
    assert_eq!(codes, vec!["F0112"], "{diagnostics:#?}");
    assert_eq!(diagnostics[0].labels.len(), 3);
}

#[test]
fn digits_compare_with_key_literals() {
    let text = "flow support\n\non call {\n  collect pin {\n    prompt \"enter-order\"\n    attempts 3\n  }\n  if pin == \"1234\" or pin == call.from or pin starts with \"9\" {\n    hangup\n  }\n  let joined = pin + \"#\"\n  tag joined\n  hangup\n}\n";
    assert_eq!(codes(text), Vec::<String>::new());
}

#[test]
fn subflow_has_its_own_variables() {
    let text = "flow support\n\nsubflow greet {\n  tag \"{outer}\"\n  let inner = 1\n  tag \"{inner}\"\n  return\n}\n\non call {\n  let outer = 1\n  tag \"{outer}\"\n  run greet\n  hangup\n}\n";
    assert_eq!(codes(text), vec!["F0101"]);
}

#[test]
fn support_fixture_gives_expected_diagnostics() {
    let text = include_str!("fixtures/support.flow");
    let project = project(&[("support.flow", text)]);
    let diagnostics = all_diagnostics(&project);
    let found: Vec<(String, String)> = diagnostics
        .iter()
        .map(|d| (d.code.to_string(), d.message.clone()))
        .collect();
    let expected = [
        ("F0501", "prompt `tech-tip` is missing for `en` and `sl`"),
        (
            "F0302",
            "unreachable `let` after a `match` whose every arm ends the call or goes elsewhere",
        ),
        ("F0111", "variable `t` is never used"),
        (
            "F0501",
            "prompt `survey-thanks` is missing for `en` and `sl`",
        ),
        ("F0105", "unknown hook `slack`"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(c, m)| (c.to_string(), m.to_string()))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn large_generated_flow_is_clean() {
    let mut text = String::from("flow support\n\non call {\n  let n0 = 0\n  goto s1\n}\n");
    let steps = 600;
    for i in 1..=steps {
        let next = if i == steps {
            String::from("hangup")
        } else {
            format!("goto s{}", i + 1)
        };
        text.push_str(&format!(
            "\nstep s{i} {{\n  let n{i} = n{} + 1\n  if n{i} > 3 and call.anonymous {{\n    tag \"v{{n{i}}}\"\n  }}\n  {next}\n}}\n",
            i - 1
        ));
    }
    assert!(text.lines().count() > 4_000);
    let project = project(&[("support.flow", &text)]);
    let diagnostics = flowc::check::check(&project);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
}

/// Returns the first ```flow block after `heading` in a code's page.
fn flow_block<'p>(page: &'p str, heading: &str) -> &'p str {
    let section = &page[page.find(heading).unwrap_or_else(|| panic!("no {heading}"))..];
    let start = section.find("```flow\n").expect("no flow block") + "```flow\n".len();
    let length = section[start..].find("```").expect("unclosed block");
    &section[start..start + length]
}

#[test]
fn code_pages_show_the_code_and_its_fix() {
    let checked = [
        "F0003", "F0101", "F0102", "F0103", "F0104", "F0105", "F0106", "F0107", "F0108", "F0109",
        "F0110", "F0111", "F0112", "F0113", "F0201", "F0202", "F0203", "F0304", "F0305", "F0306",
        "F0307", "F0308", "F0309", "F0310", "F0311",
    ];
    for id in checked {
        let code = flowc::diag::Code::parse(id).unwrap();
        let page = code.info().page;
        assert!(
            page.starts_with(&format!("# {id}: {}\n", code.info().title)),
            "{id} heading"
        );
        let example = codes(flow_block(page, "## Example"));
        assert!(
            example.contains(&id.to_string()),
            "{id} example gives {example:?}"
        );
        let fix = codes(flow_block(page, "## Fix"));
        assert!(fix.is_empty(), "{id} fix gives {fix:?}");
    }
}
