#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;
use crate::diag::{Diagnostic, SourceMap};
use proptest::prelude::*;

/// Parses `text` as the config of a one-file source map.
fn load(text: &str) -> (Config, Vec<Diagnostic>) {
    let mut sources = SourceMap::default();
    let file = sources.add("tok.yaml", text);
    parse(text, file)
}

/// Returns each diagnostic as "CODE `text under the primary label`:
/// message | help", for compact assertions.
fn summaries(text: &str) -> Vec<String> {
    let (_, diagnostics) = load(text);
    diagnostics
        .iter()
        .map(|d| {
            let span = d.primary_label().unwrap().span;
            let help = d.help.clone().unwrap_or_default();
            format!(
                "{} `{}`: {} | {help}",
                d.code,
                &text[span.range()],
                d.message
            )
        })
        .collect()
}

/// Asserts one diagnostic and returns its summary.
fn only(text: &str) -> String {
    let all = summaries(text);
    assert_eq!(all.len(), 1, "{all:#?}");
    all.into_iter().next().unwrap()
}

const FULL: &str = r#"# Every key of tok.yaml.
numbers:
  "+38615550100": support
  "080 5550": sales
  +38615550199: support
languages: [en, sl, en-GB]
default_language: sl
prompts:
  dir: audio/prompts
skills:
  routers: { description: "Home routers", max_level: 3 }
  billing: {}
  fibre:
hooks:
  salesforce:
    kind: crm
    url: "https://crm.example.com/contacts/{key}"
    method: get
    headers:
      Authorization: "Bearer ${CRM_TOKEN}"
      X-Retries: 2
    timeout: 800ms
    fields:
      name: /data/name
      tier: /data/custom/tier
    secret_env: CRM_SECRET
  orders:
    kind: webhook
    url: "http://127.0.0.1:9/orders"
  pager:
    kind: notify
    url: "https://chat.example.com/hook"
    template: "Call needs attention: {message}"
  tags:
    kind: tagger
    url: "https://tags.example.com/"
    timeout: 1m
crm:
  fields:
    tier: text
    contract_end: date
    seats: integer
    churned: bool
    account: digits
"#;

#[test]
fn empty_file_gives_defaults() {
    for text in ["", "{}", "# nothing yet\n", "---\n"] {
        let (config, diagnostics) = load(text);
        assert!(diagnostics.is_empty(), "{text:?}: {diagnostics:?}");
        assert_eq!(config.languages, vec!["en"]);
        assert_eq!(config.default_language, "en");
        assert_eq!(config.prompts.dir, "prompts");
        assert!(config.numbers.is_empty());
        assert!(config.file.is_some());
    }
}

#[test]
fn empty_sections_give_defaults() {
    let text = "numbers:\nlanguages:\nprompts:\nskills:\nhooks:\ncrm:\n  fields:\n";
    let (config, diagnostics) = load(text);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(config.languages, vec!["en"]);
}

#[test]
fn full_file_reads_every_key() {
    let (config, diagnostics) = load(FULL);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    assert_eq!(config.numbers.len(), 3);
    assert_eq!(config.numbers["+38615550199"], "support");
    assert_eq!(config.numbers["080 5550"], "sales");
    assert_eq!(config.languages, vec!["en", "sl", "en-GB"]);
    assert_eq!(config.default_language, "sl");
    assert_eq!(config.prompts.dir, "audio/prompts");
    assert_eq!(config.crm_fields["contract_end"], FieldType::Date);
    assert_eq!(config.crm_fields["account"], FieldType::Digits);
    assert_eq!(config.crm_fields.len(), 5);
}

#[test]
fn full_file_reads_skills() {
    let (config, _) = load(FULL);
    let routers = &config.skills["routers"];
    assert_eq!(routers.max_level, 3);
    assert_eq!(routers.description.as_deref(), Some("Home routers"));
    assert_eq!(config.skills["billing"].max_level, 5);
    assert_eq!(config.skills["fibre"].max_level, 5);
}

#[test]
fn full_file_reads_hooks() {
    let (config, _) = load(FULL);
    let crm = &config.hooks["salesforce"];
    assert_eq!(crm.kind, HookKind::Crm);
    assert_eq!(crm.method, "GET");
    assert_eq!(crm.timeout_ms, 800);
    assert_eq!(crm.headers["X-Retries"], "2");
    assert_eq!(crm.fields["tier"], "/data/custom/tier");
    assert_eq!(crm.secret_env.as_deref(), Some("CRM_SECRET"));
    let orders = &config.hooks["orders"];
    assert_eq!(orders.method, "POST");
    assert_eq!(orders.timeout_ms, 10_000);
    assert_eq!(orders.url, "http://127.0.0.1:9/orders");
    let pager = &config.hooks["pager"];
    assert_eq!(
        pager.template.as_deref(),
        Some("Call needs attention: {message}")
    );
    assert_eq!(config.hooks["tags"].timeout_ms, 60_000);
}

#[test]
fn crm_hook_default_timeout() {
    let text = "hooks:\n  sf:\n    kind: crm\n    url: https://crm.example.com/{key}\n";
    let (config, diagnostics) = load(text);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(config.hooks["sf"].timeout_ms, 3_000);
}

#[test]
fn locations_point_at_keys() {
    let (config, _) = load(FULL);
    let at = |path: &str| {
        let (_, span) = config
            .location(path)
            .unwrap_or_else(|| panic!("no location for {path}"));
        &FULL[span.range()]
    };
    assert_eq!(at("numbers"), "numbers");
    assert_eq!(at("numbers.+38615550100"), "\"+38615550100\"");
    assert_eq!(at("numbers.+38615550199"), "+38615550199");
    assert_eq!(at("languages"), "languages");
    assert_eq!(at("languages.sl"), "sl");
    assert_eq!(at("hooks.orders"), "orders");
    assert_eq!(at("hooks.orders.url"), "url");
    assert_eq!(at("hooks.salesforce.fields.tier"), "tier");
    assert_eq!(at("skills.routers"), "routers");
    assert_eq!(at("skills.routers.max_level"), "max_level");
    assert_eq!(at("crm.fields.tier"), "tier");
    assert_eq!(at("prompts.dir"), "dir");
}

#[test]
fn skills_as_list() {
    let text = "skills: [routers, billing]\n";
    let (config, diagnostics) = load(text);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(config.skills.len(), 2);
    assert_eq!(config.skills["billing"].max_level, 5);
    let (_, span) = config.location("skills.billing").unwrap();
    assert_eq!(&text[span.range()], "billing");
}

#[test]
fn number_written_with_spaces() {
    let text = "numbers:\n  \"+386 1 555 0100\": support\n  080 5550: sales\n";
    let (config, diagnostics) = load(text);
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(config.numbers["+386 1 555 0100"], "support");
    assert_eq!(config.numbers["080 5550"], "sales");
    assert_eq!(number_digits("+386 1 555 0100"), "+38615550100");
}

#[test]
fn number_listed_twice_with_other_spacing() {
    let text = "numbers:\n  \"+38615550100\": support\n  \"+386 1 555 0100\": sales\n";
    let got = only(text);
    assert!(
        got.starts_with("F0503 `\"+386 1 555 0100\"`: number `+386 1 555 0100` is listed twice"),
        "{got}"
    );
}

#[test]
fn country_code_is_read() {
    let (config, diagnostics) = load("country_code: 386\n");
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    assert_eq!(config.country_code.map(|c| c.get()), Some(386));
}

#[test]
fn invalid_country_code() {
    let got = only("country_code: 0386\n");
    assert!(
        got.starts_with("F0503 `0386`: invalid value `0386` at `country_code`"),
        "{got}"
    );
    assert!(got.contains("such as `386`"), "{got}");
}

#[test]
fn national_spelling_repeats_number() {
    let text =
        "country_code: 386\nnumbers:\n  \"+386 1 555 0100\": support\n  \"01 555 0100\": sales\n";
    let got = only(text);
    assert!(
        got.starts_with("F0503 `\"01 555 0100\"`: number `01 555 0100` is listed twice"),
        "{got}"
    );
}

#[test]
fn invalid_number_and_flow_name() {
    let all = summaries("numbers:\n  sales: support\n  \"123\": my-flow\n  \"456\": [a]\n");
    assert_eq!(all.len(), 3, "{all:#?}");
    assert!(
        all[0].starts_with("F0503 `sales`: invalid number `sales` at `numbers.sales`"),
        "{}",
        all[0]
    );
    assert!(
        all[1].starts_with("F0503 `my-flow`: invalid flow name `my-flow` at `numbers.123`"),
        "{}",
        all[1]
    );
    assert!(
        all[2].starts_with(
            "F0503 `[a]`: invalid value at `numbers.456`: expected text, found a list"
        ),
        "{}",
        all[2]
    );
}

#[test]
fn invalid_hook_kind_with_did_you_mean() {
    let got = only("hooks:\n  orders:\n    kind: webhok\n    url: http://x/\n");
    assert_eq!(
        got,
        "F0503 `webhok`: invalid hook kind `webhok` at `hooks.orders.kind`: expected one of crm, webhook, notify, tagger | did you mean `webhook`?"
    );
}

#[test]
fn invalid_hook_left_out() {
    let (config, _) = load("hooks:\n  orders:\n    kind: pager\n    url: http://x/\n");
    assert!(config.hooks.is_empty());
}

#[test]
fn missing_hook_keys() {
    let all = summaries("hooks:\n  orders: {}\n");
    assert_eq!(all.len(), 2, "{all:#?}");
    assert!(
        all[0].starts_with("F0503 `orders`: missing key `kind` in hook `hooks.orders`"),
        "{}",
        all[0]
    );
    assert!(
        all[1].starts_with("F0503 `orders`: missing key `url` in hook `hooks.orders`"),
        "{}",
        all[1]
    );
}

#[test]
fn invalid_hook_values() {
    let text = r#"hooks:
  sf:
    kind: crm
    url: ftp://crm.example.com
    method: FETCH
    headers: { "X Bad": 1, Ok: [1] }
    timeout: 20s
    fields: { nmae: /data/name, email: data/email }
    secret_env: "my secret"
    template: "x"
"#;
    let all = summaries(text);
    let expected = [
        "F0503 `ftp://crm.example.com`: invalid URL",
        "F0503 `FETCH`: invalid HTTP method `FETCH`",
        "F0503 `\"X Bad\"`: invalid header name `X Bad`",
        "F0503 `[1]`: invalid value at `hooks.sf.headers.Ok`: expected text, found a list",
        "F0503 `20s`: timeout `20s` at `hooks.sf.timeout` is longer than the 8s allowed for crm hooks",
        "F0503 `nmae`: unknown contact field `nmae`",
        "F0503 `data/email`: invalid JSON pointer `data/email`",
        "F0503 `\"my secret\"`: invalid environment variable name `my secret`",
        "F0503 `template`: `template` at `hooks.sf.template` applies only to notify hooks, but `sf` is a crm hook",
    ];
    assert_eq!(all.len(), expected.len(), "{all:#?}");
    for (got, want) in all.iter().zip(expected) {
        assert!(
            got.starts_with(want),
            "{got}\n  expected to start with {want}"
        );
    }
    assert!(all[5].ends_with("did you mean `name`?"), "{}", all[5]);
}

#[test]
fn hook_not_a_map() {
    let got = only("hooks:\n  orders: \"http://x/\"\n");
    let want = "F0503 `\"http://x/\"`: invalid value at `hooks.orders`: expected a map, found text";
    assert!(got.starts_with(want), "{got}");
    assert!(
        got.contains(
            "| write the keys of `hooks.orders` on indented lines below it: `kind`, `url`"
        ),
        "{got}"
    );
}

#[test]
fn section_not_a_map() {
    let got = only("prompts: audio\n");
    assert_eq!(
        got,
        "F0503 `audio`: invalid value at `prompts`: expected a map, found text | write the keys of `prompts` on indented lines below it: `dir`"
    );
}

#[test]
fn fields_only_for_crm_hooks() {
    let got = only(
        "hooks:\n  orders:\n    kind: webhook\n    url: http://x/\n    fields: { name: /name }\n",
    );
    assert!(got.contains("`fields` at `hooks.orders.fields` applies only to crm hooks, but `orders` is a webhook hook"), "{got}");
    assert!(
        got.ends_with("remove `fields`, or set `kind: crm`"),
        "{got}"
    );
}

#[test]
fn invalid_timeouts() {
    for bad in ["2", "2 s", "fast", "0s"] {
        let text =
            format!("hooks:\n  o:\n    kind: webhook\n    url: http://x/\n    timeout: {bad}\n");
        let all = summaries(&text);
        assert_eq!(all.len(), 1, "{bad}: {all:#?}");
        assert!(all[0].contains("`hooks.o.timeout`"), "{}", all[0]);
    }
}

#[test]
fn invalid_languages() {
    let all = summaries("languages: [EN, english, sl, sl, 7]\n");
    assert_eq!(all.len(), 4, "{all:#?}");
    assert!(
        all[0].starts_with("F0503 `EN`: invalid language code `EN`"),
        "{}",
        all[0]
    );
    assert!(all[0].ends_with("| write `en`"), "{}", all[0]);
    assert!(
        all[1].starts_with("F0503 `english`: invalid language code"),
        "{}",
        all[1]
    );
    assert!(
        all[2].starts_with("F0503 `sl`: duplicate entry `sl` in `languages`"),
        "{}",
        all[2]
    );
    assert!(
        all[3]
            .starts_with("F0503 `7`: invalid value at `languages`: expected text, found a number"),
        "{}",
        all[3]
    );
}

#[test]
fn norwegian_is_a_language_not_false() {
    let (config, diagnostics) = load("languages: [no, en]\n");
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(config.languages, vec!["no", "en"]);
}

#[test]
fn languages_must_be_a_list() {
    let got = only("languages: en\n");
    assert_eq!(
        got,
        "F0503 `en`: invalid value at `languages`: expected a list, found text | write `languages: [en, sl]`"
    );
}

#[test]
fn empty_language_list() {
    let got = only("languages: []\n");
    assert!(
        got.starts_with("F0503 `[]`: invalid value at `languages`: the list is empty"),
        "{got}"
    );
}

#[test]
fn default_language_must_be_listed() {
    let got = only("default_language: sk\nlanguages: [en, sl]\n");
    assert_eq!(
        got,
        "F0503 `sk`: invalid default language `sk` at `default_language`: it is not one of `languages` (en, sl) | did you mean `sl`?"
    );
}

#[test]
fn default_language_is_first() {
    let (config, _) = load("languages: [sl, en]\n");
    assert_eq!(config.default_language, "sl");
}

#[test]
fn invalid_skill_levels() {
    let all = summaries(
        "skills:\n  a: { max_level: 0 }\n  b: { max_level: 101 }\n  c: { max_level: high }\n",
    );
    assert_eq!(all.len(), 3, "{all:#?}");
    assert!(all[0].starts_with("F0503 `0`: invalid max_level `0` at `skills.a.max_level`: expected a whole number from 1 to 100"), "{}", all[0]);
    assert!(all[1].starts_with("F0503 `101`:"), "{}", all[1]);
    assert!(
        all[2].starts_with(
            "F0503 `high`: invalid value at `skills.c.max_level`: expected a whole number"
        ),
        "{}",
        all[2]
    );
}

#[test]
fn invalid_crm_fields() {
    let all = summaries("crm:\n  fields:\n    vip: bool\n    tier: txt\n    \"2nd\": text\n");
    assert_eq!(all.len(), 3, "{all:#?}");
    assert!(all[0].starts_with("F0503 `vip`: custom CRM field `vip` at `crm.fields.vip` is already a built-in contact field"), "{}", all[0]);
    assert_eq!(
        all[1],
        "F0503 `txt`: invalid CRM field type `txt` at `crm.fields.tier`: expected one of text, integer, bool, date, digits | did you mean `text`?"
    );
    assert!(
        all[2].starts_with("F0503 `\"2nd\"`: invalid CRM field name `2nd`"),
        "{}",
        all[2]
    );
}

#[test]
fn hook_field_of_invalid_type() {
    let text = "crm:\n  fields:\n    tier: txt\nhooks:\n  sf:\n    kind: crm\n    url: \"http://127.0.0.1:9/{key}\"\n    fields:\n      tier: /tier\n";
    let got = only(text);
    assert!(
        got.starts_with("F0503 `txt`: invalid CRM field type `txt`"),
        "{got}"
    );
}

#[test]
fn invalid_prompts_dir() {
    let got = only("prompts:\n  dir: 5\n");
    assert_eq!(
        got,
        "F0503 `5`: invalid value at `prompts.dir`: expected text, found a number | write `dir: prompts`"
    );
    let got = only("prompts:\n  dir: \"  \"\n");
    assert!(
        got.starts_with(
            "F0503 `\"  \"`: invalid value at `prompts.dir`: expected text, found empty text"
        ),
        "{got}"
    );
}

#[test]
fn unknown_key_top_level_did_you_mean() {
    let got = only("nubmers: {}\n");
    assert_eq!(
        got,
        "F0502 `nubmers`: unknown key `nubmers` at the top level | did you mean `numbers`?"
    );
}

#[test]
fn unknown_key_nested_did_you_mean() {
    let got =
        only("hooks:\n  orders:\n    kind: webhook\n    urll: http://x/\n    url: http://x/\n");
    assert_eq!(
        got,
        "F0502 `urll`: unknown key `urll` in `hooks.orders` | did you mean `url`?"
    );
}

#[test]
fn unknown_key_lists_valid_keys() {
    let got = only("prompts:\n  folder: audio\n");
    assert_eq!(
        got,
        "F0502 `folder`: unknown key `folder` in `prompts` | the keys of `prompts` are `dir`"
    );
    let got = only("telephony: { port: 5060 }\n");
    assert!(got.ends_with("the top-level keys are `country_code`, `numbers`, `languages`, `default_language`, `prompts`, `skills`, `crm`, `hooks`, `sip`, `rtp`, `flows`, `database`, `recordings`, `http`, `shutdown`, `outbox`, `spool`, `tagging`, `api`, `agents`, `trunks`, `transfer`, `callbacks`, `queues`"), "{got}");
}

#[test]
fn several_errors_reported_at_once() {
    let text = "nubmers: {}\nlanguages: [EN]\nhooks:\n  a:\n    kind: webhok\n    url: http://x/\n    tiemout: 2s\ncrm:\n  fields:\n    tier: txt\n";
    let codes: Vec<String> = load(text).1.iter().map(|d| d.code.to_string()).collect();
    assert_eq!(codes, ["F0502", "F0503", "F0503", "F0502", "F0503"]);
}

#[test]
fn diagnostics_in_file_order() {
    let (_, diagnostics) = load("hooks:\n  a: { kind: x, url: http://x/ }\nlanguages: [EN]\n");
    let starts: Vec<u32> = diagnostics
        .iter()
        .map(|d| d.primary_label().unwrap().span.start)
        .collect();
    assert_eq!(starts.len(), 2);
    assert!(starts[0] < starts[1]);
}

#[test]
fn duplicate_keys() {
    let all = summaries(
        "numbers: {}\nnumbers: {}\nhooks:\n  a:\n    kind: webhook\n    kind: crm\n    url: http://x/\n",
    );
    assert_eq!(all.len(), 2, "{all:#?}");
    assert!(
        all[0].starts_with("F0503 `numbers`: duplicate key `numbers` at the top level"),
        "{}",
        all[0]
    );
    assert!(
        all[1].starts_with("F0503 `kind`: duplicate key `kind` in `hooks.a`"),
        "{}",
        all[1]
    );
    let (_, diagnostics) = load("numbers: {}\nnumbers: {}\n");
    let secondary = diagnostics[0].labels.iter().find(|l| !l.primary).unwrap();
    assert_eq!(secondary.span.start, 0);
}

#[test]
fn yaml_syntax_error() {
    let got = only("numbers:\n  \"+386: support\n");
    assert!(got.starts_with("F0503 ``: invalid YAML:"), "{got}");
    let got = only("languages: [en, sl\nhooks: {}\n");
    assert!(got.starts_with("F0503"), "{got}");
}

#[test]
fn root_must_be_a_map() {
    let got = only("- numbers\n- hooks\n");
    assert!(
        got.contains("invalid value at the top level: expected a map, found a list"),
        "{got}"
    );
}

#[test]
fn keys_must_be_text() {
    let got = only("hooks:\n  ? [a, b]\n  : {}\n");
    assert!(
        got.contains("invalid key in `hooks`: expected a name, found a list"),
        "{got}"
    );
}

#[test]
fn aliases_keep_spelling() {
    let (config, diagnostics) =
        load("numbers:\n  &n \"+386\": support\n  \"123\": &f sales\n  \"456\": *f\n");
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert_eq!(config.numbers["456"], "sales");
}

#[test]
fn deep_nesting_does_not_overflow() {
    let text = format!("numbers: {}{}", "[".repeat(5_000), "]".repeat(5_000));
    let (_, diagnostics) = load(&text);
    assert_eq!(diagnostics.len(), 1);
}

proptest! {
    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        let _ = load(&text);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = load(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn yaml_like_text_never_panics(text in "([a-z_:{}\\[\\],\\-\"'&*!|>#? ]|\n  ){0,120}") {
        let _ = load(&text);
    }
}

#[test]
fn contact_center_sections_accepted() {
    let text = r##"sip:
  realm: tok
  auth_failures: 5
agents:
  ring_timeout: 15s
  feature_codes: { pause: "*51" }
trunks:
  carrier: { uri: "sip:127.0.0.1:5070", transport: udp }
transfer:
  allow: ["+3861*", "sip:*@pbx.example.com"]
  trunk: carrier
callbacks:
  attempts: 3
queues:
  average_handle_default: 3m
"##;
    assert_eq!(summaries(text), Vec::<String>::new());
}
