//! Every diagnostic code is documented and has at least one snapshot.

#![allow(clippy::disallowed_methods)]

use flowc::diag::all_codes;

mod common;

#[test]
fn every_code_page_has_its_sections() {
    for code in all_codes() {
        let info = code.info();
        let heading = format!("# {}: {}", info.id, info.title);
        assert!(
            info.page.starts_with(&heading),
            "{} page must start with `{heading}`",
            info.id
        );
        for section in ["## What", "## Why", "## Example", "## Fix"] {
            assert!(
                info.page.contains(section),
                "{} page lacks `{section}`",
                info.id
            );
        }
        assert!(
            !info.page.contains("TODO"),
            "{} page is unfinished",
            info.id
        );
    }
}

#[test]
fn every_code_has_a_snapshot() {
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots");
    let mut snapshots = String::new();
    for entry in std::fs::read_dir(folder).into_iter().flatten().flatten() {
        snapshots.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    for code in all_codes() {
        let id = code.info().id;
        let rendered = snapshots.lines().any(|line| line.trim() == id);
        assert!(rendered, "no snapshot in tests/snapshots renders {id}");
    }
}

/// Returns the ```flow block of a page section, if it has one.
fn flow_block<'p>(page: &'p str, heading: &str) -> Option<&'p str> {
    let section = page.split(heading).nth(1)?;
    let section = section.split("\n## ").next()?;
    let block = section.split("```flow\n").nth(1)?;
    block.split("```").next()
}

/// Codes whose page examples are not one flow that `check` reports: F0501
/// needs prompt files, F0505 two flow files, and F0601 and F0602 come from
/// `flowc build`.
const NEEDS_FILES: [&str; 4] = ["F0501", "F0505", "F0601", "F0602"];

#[test]
fn code_pages_examples_give_their_code() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for code in all_codes() {
        let info = code.info();
        let (Some(example), Some(fix)) = (
            flow_block(info.page, "## Example"),
            flow_block(info.page, "## Fix"),
        ) else {
            continue;
        };
        if NEEDS_FILES.contains(&info.id) {
            continue;
        }
        let example_codes = common::codes(&[("example.flow", example)]);
        let syntax_error = info.id != "F0001" && example_codes.iter().any(|c| c == "F0001");
        if !example_codes.iter().any(|c| c == info.id) || syntax_error {
            failures.push(format!("{}: example gives {example_codes:?}", info.id));
        }
        let fix_codes = common::codes(&[("fix.flow", fix)]);
        if fix_codes.iter().any(|c| c == info.id || c == "F0001") {
            failures.push(format!("{}: fix gives {fix_codes:?}", info.id));
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        checked >= 30,
        "only {checked} pages have a flow example and fix"
    );
}
