//! The `flowc` binary as a user runs it: exit statuses, output formats and
//! files written.

#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod binary;

use binary::{flowc, repo_root, stderr, stdout};

/// Copies the shipped flows into a fresh folder that the test may change.
fn shipped_copy(name: &str) -> PathBuf {
    binary::shipped_copy("cli", name)
}
use std::path::{Path, PathBuf};

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "`{from}` not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn check_shipped_flows_prints_one_line() {
    let output = flowc(&["check", "flows/"], &repo_root());
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert_eq!(stdout(&output), "checked 3 files: no problems\n");
    assert_eq!(stderr(&output), "");
}

#[test]
fn check_reports_several_mistakes_with_positions() {
    let dir = shipped_copy("mistakes");
    edit(
        &dir.join("support.flow"),
        "goto technical\n    }",
        "goto tehnical\n    }",
    );
    edit(
        &dir.join("support.flow"),
        "    failed => tag \"crm-down\"\n",
        "",
    );
    edit(
        &dir.join("office.flow"),
        "\"Europe/Ljubljana\"",
        "\"Europe/Ljubjana\"",
    );
    let output = flowc(&["check", "--format", "json", "."], &dir);
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("valid JSON");
    let items = json.as_array().expect("an array");
    let found: Vec<(String, String, u64, u64)> = items
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["file"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap(),
                d["column"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        found.contains(&("F0401".into(), "office.flow".into(), 6, 17)),
        "{found:?}"
    );
    assert!(
        found.contains(&("F0306".into(), "support.flow".into(), 12, 3)),
        "{found:?}"
    );
    // The misspelt goto's line follows the shipped flow as it changes.
    let support = std::fs::read_to_string(dir.join("support.flow")).unwrap();
    let goto_line = support
        .lines()
        .position(|line| line.contains("goto tehnical"))
        .unwrap() as u64
        + 1;
    assert!(
        found.contains(&("F0106".into(), "support.flow".into(), goto_line, 12)),
        "{found:?}"
    );
    for item in items {
        for field in ["severity", "end_line", "end_column", "message", "help"] {
            assert!(item.get(field).is_some(), "missing `{field}` in {item}");
        }
    }
    assert!(stderr(&output).contains("errors"), "{}", stderr(&output));
}

#[test]
fn check_github_format_prints_annotations() {
    let dir = shipped_copy("github");
    edit(
        &dir.join("support.flow"),
        "enqueue sales\n}",
        "enqueue saless\n}",
    );
    let output = flowc(&["check", "--format", "github", "."], &dir);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let line = text
        .lines()
        .find(|l| l.contains("F0102"))
        .expect("an F0102 annotation");
    assert!(
        line.starts_with("::error title=F0102,file=support.flow,line="),
        "{line}"
    );
    assert!(line.contains(",col="), "{line}");
    assert!(line.contains("::unknown queue `saless`"), "{line}");
}

#[test]
fn deny_warnings_fails_on_a_warning() {
    let dir = shipped_copy("warnings");
    edit(
        &dir.join("support.flow"),
        "  enqueue technical\n}",
        "  enqueue technical\n  hangup\n}",
    );
    let lenient = flowc(&["check", "."], &dir);
    assert_eq!(lenient.status.code(), Some(0), "{}", stdout(&lenient));
    assert!(stdout(&lenient).contains("1 warning"));
    let strict = flowc(&["check", "--deny-warnings", "."], &dir);
    assert_eq!(strict.status.code(), Some(1));
}

#[test]
fn missing_path_is_a_usage_error() {
    let output = flowc(&["check", "no/such/folder"], &repo_root());
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no/such/folder"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn unknown_option_is_a_usage_error() {
    let output = flowc(&["check", "--colour"], &repo_root());
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn build_and_disasm_round_trip() {
    let dir = shipped_copy("build");
    let output = flowc(&["build", "support.flow", "-o", "support.tokb"], &dir);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let listing = flowc(&["disasm", "support.tokb"], &dir);
    assert_eq!(listing.status.code(), Some(0));
    assert!(
        stdout(&listing).starts_with("flow support\n"),
        "{}",
        stdout(&listing)
    );
}

#[test]
fn build_refuses_a_flow_with_errors() {
    let dir = shipped_copy("build-errors");
    edit(
        &dir.join("support.flow"),
        "enqueue sales\n}",
        "enqueue saless\n}",
    );
    let output = flowc(&["build", "support.flow", "-o", "out.tokb"], &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(!dir.join("out.tokb").exists());
}

#[test]
fn corrupted_bytecode_is_an_error_not_a_panic() {
    let dir = shipped_copy("corrupt");
    let built = flowc(&["build", "support.flow", "-o", "good.tokb"], &dir);
    assert_eq!(built.status.code(), Some(0));
    let bytes = std::fs::read(dir.join("good.tokb")).unwrap();
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x5a;
    let cases = [
        ("flipped.tokb", flipped),
        ("truncated.tokb", bytes[..bytes.len() / 3].to_vec()),
        ("empty.tokb", Vec::new()),
    ];
    for (name, content) in cases {
        std::fs::write(dir.join(name), content).unwrap();
        let output = flowc(&["disasm", name], &dir);
        assert_eq!(output.status.code(), Some(1), "{name}");
        assert!(
            stderr(&output).contains("not valid Tok bytecode"),
            "{name}: {}",
            stderr(&output)
        );
        assert!(
            !stderr(&output).contains("panicked"),
            "{name}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn explain_prints_the_code_page() {
    let output = flowc(&["explain", "F0102"], &repo_root());
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).starts_with("# F0102: unknown queue"));
    let unknown = flowc(&["explain", "F9999"], &repo_root());
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn fmt_check_then_rewrite() {
    let dir = shipped_copy("fmt");
    edit(
        &dir.join("support.flow"),
        "  enqueue technical\n}",
        "      enqueue   technical ;\n}",
    );
    let check = flowc(&["fmt", "--check", "."], &dir);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        stdout(&check).contains("would reformat support.flow"),
        "{}",
        stdout(&check)
    );
    let rewrite = flowc(&["fmt", "."], &dir);
    assert_eq!(rewrite.status.code(), Some(0));
    let shipped = std::fs::read_to_string(repo_root().join("flows/support.flow")).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("support.flow")).unwrap(),
        shipped
    );
    let again = flowc(&["fmt", "--check", "."], &dir);
    assert_eq!(again.status.code(), Some(0));
}

#[test]
fn fmt_leaves_a_file_with_syntax_errors_alone() {
    let dir = shipped_copy("fmt-errors");
    edit(
        &dir.join("support.flow"),
        "play \"connecting-sales\"",
        "play connecting-sales",
    );
    let before = std::fs::read_to_string(dir.join("support.flow")).unwrap();
    let output = flowc(&["fmt", "."], &dir);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("F0001"), "{}", stdout(&output));
    assert_eq!(
        std::fs::read_to_string(dir.join("support.flow")).unwrap(),
        before
    );
}

#[test]
fn missing_prompt_folder_is_an_error() {
    let dir = shipped_copy("prompt-folder");
    edit(&dir.join("tok.yaml"), "dir: prompts", "dir: promts");
    let output = flowc(&["check", "."], &dir);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(stdout(&output));
}

#[test]
fn folder_without_flows_is_a_usage_error() {
    let dir = std::env::temp_dir().join(format!("flowc-cli-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = flowc(&["check", "."], &dir);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no `.flow` files"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn non_utf8_file_is_reported_and_others_checked() {
    let dir = shipped_copy("latin2");
    std::fs::write(
        dir.join("latin2.flow"),
        b"// caf\xe9\nflow other answers \"+38615550123\"\n",
    )
    .unwrap();
    edit(
        &dir.join("support.flow"),
        "enqueue sales\n}",
        "enqueue saless\n}",
    );
    let output = flowc(&["check", "--format", "json", "."], &dir);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("`latin2.flow` is not UTF-8 text"), "{text}");
    assert!(text.contains("unknown queue `saless`"), "{text}");
}

#[test]
fn byte_order_mark_is_ignored() {
    let dir = shipped_copy("bom");
    let text = std::fs::read(dir.join("support.flow")).unwrap();
    std::fs::write(
        dir.join("support.flow"),
        [b"\xef\xbb\xbf".as_slice(), &text].concat(),
    )
    .unwrap();
    let output = flowc(&["check", "."], &dir);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[cfg(unix)]
#[test]
fn symlink_loop_does_not_hang() {
    let dir = shipped_copy("symlink");
    std::os::unix::fs::symlink(".", dir.join("loop")).unwrap();
    std::os::unix::fs::symlink(".", dir.join("loop2")).unwrap();
    let output = flowc(&["check", "."], &dir);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let dir = shipped_copy("deep");
    let nested = format!(
        "flow deep answers \"+38615550177\"\n\non call {{\n{}hangup\n{}}}\n",
        "if true {\n".repeat(5000),
        "}\n".repeat(5000)
    );
    std::fs::write(dir.join("deep.flow"), nested).unwrap();
    let chain = vec!["true"; 50_000].join(" or ");
    let long = format!(
        "flow long answers \"+38615550178\"\n\non call {{\n  let x = {chain}\n  tag \"{{x}}\"\n  hangup\n}}\n"
    );
    std::fs::write(dir.join("long.flow"), long).unwrap();
    for command in [
        vec!["check", "."],
        vec!["fmt", "--check", "."],
        vec!["build", "deep.flow"],
    ] {
        let output = flowc(&command, &dir);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{command:?}: {}",
            stderr(&output)
        );
        assert!(
            stdout(&output).contains("F0004"),
            "{command:?}: {}",
            stdout(&output)
        );
    }
}

#[test]
fn label_on_a_very_long_line_does_not_panic() {
    let dir = shipped_copy("long-line");
    let line = format!(
        "flow wide answers \"+38615550179\"\n\non call {{\n  tag \"{}\", 5\n  hangup\n}}\n",
        "x".repeat(70_000)
    );
    std::fs::write(dir.join("wide.flow"), line).unwrap();
    let output = flowc(&["check", "."], &dir);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("wide.flow:4:70011"),
        "{}",
        stdout(&output)
    );
}
