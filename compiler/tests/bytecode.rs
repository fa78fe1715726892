//! Bytecode: compiling the fixture flows, the encode/decode round trip,
//! rejection of damaged input, the text form, and the diagnostics of the
//! code generator.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use flowc::bytecode::{DecodeError, FORMAT_VERSION, Module, decode, disasm};
use flowc::codegen::{compile, compile_all};
use flowc::config::{Config, FieldType, Hook, HookKind, Skill};
use flowc::diag::{Code, render_human};
use flowc::project::{Project, PromptInventory};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

#[path = "../benches/large_flow.rs"]
#[allow(dead_code)]
mod large_flow;

fn fixture(name: &str) -> String {
    let text = match name {
        "tok.yaml" => include_str!("fixtures/tok.yaml"),
        "support.flow" => include_str!("fixtures/support.flow"),
        "everything.flow" => include_str!("fixtures/everything.flow"),
        "library.flow" => include_str!("fixtures/library.flow"),
        _ => panic!("no fixture {name}"),
    };
    text.to_string()
}

fn hook(kind: HookKind) -> Hook {
    Hook {
        kind,
        url: String::from("http://127.0.0.1:9/hook"),
        method: String::from("POST"),
        headers: BTreeMap::new(),
        timeout_ms: 2000,
        fields: BTreeMap::new(),
        secret_env: None,
        template: None,
    }
}

/// Sets the values of `fixtures/tok.yaml`, so the tests do not depend on
/// the config reader.
fn fill_config(config: &mut Config) {
    config.numbers = BTreeMap::from([
        (String::from("+386 1 555 0100"), String::from("support")),
        (String::from("+386 1 555 0200"), String::from("everything")),
    ]);
    config.languages = vec![String::from("en"), String::from("sl")];
    config.default_language = String::from("en");
    let skill = |max_level| Skill {
        description: None,
        max_level,
    };
    config.skills = BTreeMap::from([
        (String::from("routers"), skill(3)),
        (String::from("billing"), skill(3)),
    ]);
    config.hooks = BTreeMap::from([
        (String::from("orders"), hook(HookKind::Webhook)),
        (String::from("slack"), hook(HookKind::Notify)),
        (String::from("salesforce"), hook(HookKind::Crm)),
    ]);
    config.crm_fields = BTreeMap::from([
        (String::from("tier"), FieldType::Text),
        (String::from("contract_end"), FieldType::Date),
        (String::from("account"), FieldType::Digits),
        (String::from("seats"), FieldType::Integer),
        (String::from("churned"), FieldType::Bool),
    ]);
}

/// Builds a project from sources with the fixture config.
fn project_of(flows: &[(&str, &str)]) -> Project {
    let config = fixture("tok.yaml");
    let mut project = Project::new(Some(("tok.yaml", &config)), PromptInventory::default());
    fill_config(&mut project.config);
    for (name, text) in flows {
        project.add_flow(name, text);
    }
    let syntax: Vec<_> = project
        .diagnostics
        .iter()
        .filter(|d| matches!(d.code, Code::SyntaxError | Code::InvalidLiteral))
        .collect();
    assert!(syntax.is_empty(), "syntax errors: {syntax:#?}");
    project
}

fn fixture_project(files: &[&str]) -> Project {
    let texts: Vec<(String, String)> = files.iter().map(|f| (f.to_string(), fixture(f))).collect();
    let flows: Vec<(&str, &str)> = texts
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    project_of(&flows)
}

fn compiled(project: &Project, flow: &str) -> Module {
    compile(project, flow).unwrap_or_else(|errors| {
        let rendered: Vec<String> = errors
            .iter()
            .map(|d| render_human(d, &project.sources, false))
            .collect();
        panic!("{}", rendered.join("\n"))
    })
}

fn support() -> Module {
    compiled(&fixture_project(&["support.flow"]), "support")
}

fn everything() -> Module {
    compiled(
        &fixture_project(&["everything.flow", "library.flow"]),
        "everything",
    )
}

/// Replaces the checksum at the end with the hash of the rest.
fn reseal(bytes: &mut [u8]) {
    let body_end = bytes.len() - 32;
    let checksum: [u8; 32] = Sha256::digest(&bytes[..body_end]).into();
    bytes[body_end..].copy_from_slice(&checksum);
}

#[test]
fn fixtures_round_trip() {
    for module in [support(), everything()] {
        let bytes = module.encode();
        let decoded = decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", module.flow));
        assert_eq!(decoded, module);
        assert_eq!(decoded.encode(), bytes);
    }
}

#[test]
fn shipped_flows_compile_and_round_trip() {
    let config = include_str!("../../flows/tok.yaml");
    let mut project = Project::new(Some(("tok.yaml", config)), PromptInventory::default());
    project.add_flow("office.flow", include_str!("../../flows/office.flow"));
    project.add_flow("support.flow", include_str!("../../flows/support.flow"));
    assert!(project.diagnostics.is_empty(), "{:#?}", project.diagnostics);
    let modules = compile_all(&project).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(modules.len(), 1);
    for module in modules {
        let bytes = module.encode();
        assert_eq!(decode(&bytes).unwrap(), module);
    }
}

#[test]
fn fixtures_pass_the_checker() {
    for files in [&["support.flow"][..], &["everything.flow", "library.flow"]] {
        let project = fixture_project(files);
        let errors: Vec<_> = flowc::check::check(&project)
            .into_iter()
            // Each fixture project has one of the two flows `tok.yaml` maps.
            .filter(|d| d.is_error() && d.code != Code::UnknownFlow)
            .map(|d| render_human(&d, &project.sources, false))
            .collect();
        assert!(errors.is_empty(), "{}", errors.join("\n"));
    }
}

#[test]
fn large_flow_compiles_and_round_trips() {
    let mut project = Project::new(
        Some(("tok.yaml", large_flow::CONFIG)),
        PromptInventory::default(),
    );
    project.add_flow("large.flow", &large_flow::generate(5_000));
    let module = compiled(&project, "large");
    let bytes = module.encode();
    assert_eq!(decode(&bytes).unwrap(), module);
}

#[test]
fn compile_all_compiles_every_flow() {
    let project = fixture_project(&["everything.flow", "library.flow"]);
    let modules = compile_all(&project).unwrap();
    let names: Vec<&str> = modules.iter().map(|m| m.flow.as_str()).collect();
    assert_eq!(names, ["everything"]);
}

#[test]
fn header_lists_sources_numbers_languages() {
    let module = everything();
    assert_eq!(
        module.sources,
        ["tok.yaml", "everything.flow", "library.flow"]
    );
    assert_eq!(module.numbers, ["+38615550200", "015550200", "0805551"]);
    assert_eq!(module.languages, ["en", "sl"]);
    assert_eq!(module.default_language, "en");
}

#[test]
fn source_hash_changes_with_any_source() {
    let base = everything().source_hash;
    let library = fixture("library.flow").replace("sales-music", "other-music");
    let changed = compiled(
        &project_of(&[
            ("everything.flow", &fixture("everything.flow")),
            ("library.flow", &library),
        ]),
        "everything",
    );
    assert_ne!(changed.source_hash, base);
}

#[test]
fn disasm_support() {
    insta::assert_snapshot!(disasm(&support()));
}

#[test]
fn disasm_everything() {
    insta::assert_snapshot!(disasm(&everything()));
}

#[test]
fn truncation_at_every_length_is_rejected() {
    let bytes = everything().encode();
    for len in 0..bytes.len() {
        assert!(decode(&bytes[..len]).is_err(), "truncated to {len} bytes");
    }
}

#[test]
fn every_single_byte_flip_is_rejected() {
    let bytes = support().encode();
    for i in 0..bytes.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[i] ^= mask;
            assert!(
                decode(&damaged).is_err(),
                "byte {i} flipped with {mask:#04x}"
            );
        }
    }
}

#[test]
fn flips_with_valid_checksum_never_panic() {
    // The checksum is recomputed, so every flip reaches the structural
    // checks and the verifier. Each must give an error, or a module that
    // encodes back to the same bytes.
    let bytes = everything().encode();
    let mut rejected = 0;
    for i in 0..bytes.len() - 32 {
        for mask in [0x01, 0x02, 0x10, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[i] ^= mask;
            reseal(&mut damaged);
            match decode(&damaged) {
                Ok(module) => assert_eq!(module.encode(), damaged, "byte {i}"),
                Err(_) => rejected += 1,
            }
        }
    }
    assert!(rejected > 0);
}

#[test]
fn wrong_magic_is_rejected() {
    let mut bytes = support().encode();
    bytes[0] = b'X';
    let error = decode(&bytes).unwrap_err();
    assert!(matches!(error, DecodeError::BadMagic { .. }), "{error}");
    assert!(error.to_string().contains("TOKB"), "{error}");
    assert!(matches!(
        decode(b"PK\x03\x04"),
        Err(DecodeError::BadMagic { .. })
    ));
}

#[test]
fn newer_version_names_both_versions() {
    let mut bytes = support().encode();
    let newer = FORMAT_VERSION + 1;
    bytes[4..6].copy_from_slice(&newer.to_le_bytes());
    reseal(&mut bytes);
    let error = decode(&bytes).unwrap_err();
    assert_eq!(
        error,
        DecodeError::NewerVersion {
            found: newer,
            supported: FORMAT_VERSION
        }
    );
    let message = error.to_string();
    assert!(message.contains(&format!("version {newer}")), "{message}");
    assert!(
        message.contains(&format!("version {FORMAT_VERSION}")),
        "{message}"
    );
}

#[test]
fn older_version_is_rejected() {
    let mut bytes = support().encode();
    bytes[4..6].copy_from_slice(&0u16.to_le_bytes());
    reseal(&mut bytes);
    assert!(matches!(
        decode(&bytes),
        Err(DecodeError::OlderVersion { found: 0, .. })
    ));
}

#[test]
fn short_inputs_are_truncated() {
    assert!(matches!(decode(b""), Err(DecodeError::Truncated { .. })));
    assert!(matches!(
        decode(b"TOKB"),
        Err(DecodeError::Truncated { .. })
    ));
    assert!(matches!(
        decode(b"TOKB\x02\x00"),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn checksum_mismatch_names_offset() {
    let mut bytes = support().encode();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let error = decode(&bytes).unwrap_err();
    assert_eq!(
        error,
        DecodeError::ChecksumMismatch {
            offset: bytes.len() - 32
        }
    );
}

#[test]
fn forged_count_is_rejected_before_allocating() {
    let module = support();
    let mut bytes = module.encode();
    // The source list count follows the header, the flow name and the hash.
    let at = 6 + 4 + module.flow.len() + 32;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    reseal(&mut bytes);
    let error = decode(&bytes).unwrap_err();
    assert!(
        matches!(error, DecodeError::TooLong { offset, count: u32::MAX, .. } if offset == at),
        "{error}"
    );
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut bytes = support().encode();
    let body_end = bytes.len() - 32;
    bytes.splice(body_end..body_end, [0u8; 3]);
    reseal(&mut bytes);
    let error = decode(&bytes).unwrap_err();
    assert!(
        matches!(error, DecodeError::TrailingBytes { count: 3, .. }),
        "{error}"
    );
}

// ---------------------------------------------------------------- generated flows

fn int_expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(String::from("n")),
        (0i64..1000).prop_map(|v| v.to_string()),
        Just(String::from("length(t)")),
        Just(String::from("length(pin)")),
    ];
    leaf.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                inner.clone(),
                prop::sample::select(vec!["+", "-", "*", "/", "%"])
            )
                .prop_map(|(a, b, op)| format!("({a} {op} {b})")),
            inner.clone().prop_map(|a| format!("-({a})")),
        ]
    })
}

fn text_expr() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::from("t")),
        "[a-z ]{0,6}".prop_map(|s| format!("\"{s}\"")),
        int_expr().prop_map(|i| format!("\"n={{{i}}}\"")),
        Just(String::from("\"{call.from}/{pin}/{d}\"")),
        Just(String::from("t + pin")),
    ]
}

fn bool_expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(String::from("b")),
        Just(String::from("true")),
        Just(String::from("c is found")),
        Just(String::from("c is missing")),
        Just(String::from("open(office)")),
        Just(String::from("pin starts with \"1\"")),
        Just(String::from("d >= 5s")),
        (
            int_expr(),
            int_expr(),
            prop::sample::select(vec!["<", "<=", ">", ">=", "==", "!="])
        )
            .prop_map(|(a, b, op)| format!("{a} {op} {b}")),
        (text_expr(), text_expr()).prop_map(|(a, b)| format!("{a} == {b}")),
    ];
    leaf.prop_recursive(2, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.clone().prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn simple_stmt() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,6}".prop_map(|p| format!("play \"{p}\"")),
        text_expr().prop_map(|t| format!("tag {t}")),
        int_expr().prop_map(|i| format!("set n = {i}")),
        text_expr().prop_map(|t| format!("set t = {t}")),
        bool_expr().prop_map(|b| format!("set b = {b}")),
        prop::sample::select(vec!["on", "off", "pause", "resume"])
            .prop_map(|m| format!("record {m}")),
        Just(String::from("run helper")),
        Just(String::from("set language = \"sl\"")),
        Just(String::from("set d = d + 1s")),
    ]
}

fn stmt() -> impl Strategy<Value = String> {
    simple_stmt().prop_recursive(3, 24, 4, |inner| {
        let body = prop::collection::vec(inner, 0..3).prop_map(|s| s.join("\n"));
        prop_oneof![
            (bool_expr(), body.clone(), body.clone())
                .prop_map(|(c, a, b)| format!("if {c} {{\n{a}\n}} else {{\n{b}\n}}")),
            (1u32..4, body.clone(), body.clone(), body.clone()).prop_map(|(n, a, b, x)| format!(
                "menu {{\nprompt \"m\"\nattempts {n}\n1 => {{\n{a}\n}}\n# => {{\n{b}\n}}\nno input => {{\n{x}\n}}\nexhausted => hangup\n}}"
            )),
            (body.clone(), body.clone()).prop_map(|(a, b)| format!(
                "match t {{\n\"a\", \"b\" => {{\n{a}\n}}\nstarts with \"c\" => {{\n{b}\n}}\n}}"
            )),
        ]
    })
}

fn ending() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::from("hangup")),
        Just(String::from("enqueue q")),
        Just(String::from("enqueue q else hangup")),
        Just(String::from("voicemail \"box\"")),
        Just(String::from("transfer t")),
        Just(String::from("goto last")),
    ]
}

fn generated_flow() -> impl Strategy<Value = String> {
    (prop::collection::vec(stmt(), 0..6), ending()).prop_map(|(stmts, end)| {
        format!(
            "flow gen\n\nhours office in \"Europe/Ljubljana\" {{\n  mon..fri 08:00..17:00\n}}\n\n\
             queue q {{\n  priority n * 2\n  overflow hangup\n}}\n\n\
             subflow helper {{\n  let x = 1\n  if x > 0 {{\n    return\n  }}\n  play \"h\"\n}}\n\n\
             on call {{\n  let n = 1\n  let t = \"x\"\n  let b = true\n  let d = 5s\n  \
             collect pin {{\n    attempts 2\n  }}\n  \
             lookup c in crm by call.from {{\n    failed => tag \"down\"\n  }}\n{}\n{end}\n}}\n\n\
             step last {{\n  hangup\n}}\n",
            stmts.join("\n")
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn generated_flows_round_trip(source in generated_flow()) {
        let project = project_of(&[("gen.flow", &source)]);
        let module = compiled(&project, "gen");
        let bytes = module.encode();
        let decoded = decode(&bytes).map_err(|e| TestCaseError::fail(format!("{e}\n{source}")))?;
        prop_assert_eq!(&decoded, &module);
        prop_assert_eq!(decoded.encode(), bytes);
    }

    #[test]
    fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode(&body);
        let mut sealed = b"TOKB".to_vec();
        sealed.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        sealed.extend_from_slice(&body);
        sealed.extend_from_slice(&[0; 32]);
        reseal(&mut sealed);
        let _ = decode(&sealed);
    }
}
