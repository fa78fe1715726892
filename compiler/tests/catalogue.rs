//! Every diagnostic code is documented and has at least one snapshot.

#![allow(clippy::disallowed_methods)]

use flowc::diag::all_codes;

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
