//! Snapshots of the diagnostics for `tok.yaml`: the config text, then each
//! report as `flowc check` prints it.

mod common;

use common::{project_with_config, report_project};
use insta::assert_snapshot;

/// A flow named `support` whose `answers` line lists the number that the
/// configs below map to it.
const SUPPORT_FLOW: (&str, &str) = (
    "support.flow",
    "flow support answers \"+38615550100\"\n\non call {\n  hangup\n}\n",
);

fn report(config: &str) -> String {
    report_project(&project_with_config(&[], Some(config)))
}

#[test]
fn unknown_key_top_level() {
    assert_snapshot!(report("nubmers:\n  \"+38615550100\": support\n"));
}

#[test]
fn unknown_key_nested() {
    let config = "hooks:\n  orders:\n    kind: webhook\n    url: \"http://127.0.0.1:9/orders\"\n    retries: 3\n";
    assert_snapshot!(report(config));
}

#[test]
fn invalid_hook_kind() {
    let config = "hooks:\n  orders:\n    kind: webhok\n    url: \"http://127.0.0.1:9/orders\"\n";
    assert_snapshot!(report(config));
}

#[test]
fn yaml_syntax_error() {
    let config = "hooks:\n  orders:\n    kind: webhook\n   url: \"http://127.0.0.1:9/orders\"\n";
    assert_snapshot!(report(config));
}

#[test]
fn yaml_unclosed_bracket() {
    assert_snapshot!(report("languages: [en, sl\nhooks: {}\n"));
}

#[test]
fn duplicate_key() {
    let config = "hooks:\n  orders:\n    kind: webhook\n    url: \"http://127.0.0.1:9/a\"\n    url: \"http://127.0.0.1:9/b\"\n";
    assert_snapshot!(report(config));
}

#[test]
fn number_listed_twice() {
    let config = "numbers:\n  \"+38615550100\": support\n  \"+386 1 555 0100\": support\n";
    let project = project_with_config(&[SUPPORT_FLOW], Some(config));
    assert_snapshot!(report_project(&project));
}

#[test]
fn several_problems_in_one_file() {
    let config = r#"languages: [en, SL]
default_language: de
skills:
  routers: { max_level: 0 }
hooks:
  salesforce:
    kind: crm
    url: "https://crm.example.com/contacts/{id}"
    timeout: 20s
    fields:
      nmae: /data/name
crm:
  fields:
    tier: txt
    vip: bool
"#;
    assert_snapshot!(report(config));
}

#[test]
fn shared_test_config_is_clean() {
    let project = project_with_config(&[], Some(common::TEST_CONFIG));
    assert!(project.diagnostics.is_empty(), "{:#?}", project.diagnostics);
    assert_eq!(project.config.languages, ["en", "sl"]);
    assert_eq!(project.config.hooks.len(), 2);
    assert!(project.config.location("hooks.salesforce.url").is_some());
}
