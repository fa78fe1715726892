//! Snapshots of the call-shape diagnostics: paths that do not end the call
//! (F0301), unreachable code (F0302) and unbounded loops (F0303), and the
//! examples of their documentation pages.

#![allow(clippy::panic)]

mod common;

const QUEUE: &str = "queue technical {\n  overflow voicemail \"technical\"\n}\n";

fn flow(body: &str) -> String {
    format!("flow support\n\n{QUEUE}\n{body}")
}

#[test]
fn f0301_path_without_end() {
    let source = flow(
        r#"on call {
  play "welcome"
  if call.anonymous {
    hangup
  }
  menu {
    prompt "choose-department"
    attempts 3
    1 => enqueue technical
    2 => play "closed"
    no input => play "no-input"
  }
}
"#,
    );
    insta::assert_snapshot!(common::report(&[("support.flow", &source)]));
}

#[test]
fn f0301_overflow_arm_without_end() {
    let source = flow(
        r#"on call {
  enqueue technical else {
    play "closed"
  }
}
"#,
    );
    insta::assert_snapshot!(common::report(&[("support.flow", &source)]));
}

#[test]
fn f0302_unreachable_code() {
    let source = flow(
        r#"on call {
  if call.anonymous {
    hangup
  } else {
    goto department
  }
  play "goodbye"
  hangup
}

step department {
  enqueue technical
}

step sales {
  hangup
}
"#,
    );
    insta::assert_snapshot!(common::report(&[("support.flow", &source)]));
}

#[test]
fn f0303_goto_loop_without_input() {
    let source = flow(
        r#"on call {
  goto main
}

step main {
  menu {
    prompt "choose-department"
    attempts 3
    1 => enqueue technical
    invalid => play "invalid-choice"
    no input => goto main
    exhausted => hangup
  }
}
"#,
    );
    insta::assert_snapshot!(common::report(&[("support.flow", &source)]));
}

#[test]
fn f0303_subflow_runs_itself() {
    let source = r#"flow support

subflow greet {
  play "welcome"
  run confirm
}

subflow confirm {
  run greet
}

on call {
  run greet
  hangup
}
"#;
    insta::assert_snapshot!(common::report(&[("support.flow", source)]));
}

/// A flow whose `on call` runs `s1`, which runs `s2`, and so on to `sN`.
fn subflow_chain(length: usize) -> String {
    let mut source = String::from("flow support\n\non call {\n  run s1\n  hangup\n}\n");
    for i in 1..=length {
        let body = if i < length {
            format!("  run s{}", i + 1)
        } else {
            String::from("  play \"welcome\"")
        };
        source.push_str(&format!("\nsubflow s{i} {{\n{body}\n}}\n"));
    }
    source
}

#[test]
fn f0004_subflow_chain_too_deep() {
    let source = subflow_chain(65);
    let diagnostics = common::diagnostics(&[("support.flow", &source)]);
    let deep: Vec<_> = diagnostics
        .iter()
        .filter(|d| d.code == flowc::diag::Code::TooDeep)
        .collect();
    let [only] = deep.as_slice() else {
        panic!("expected one F0004: {diagnostics:#?}");
    };
    assert!(only.message.contains("65 deep"), "{}", only.message);
}

#[test]
fn f0004_subflow_chain_at_limit_passes() {
    let source = subflow_chain(64);
    let codes = common::codes(&[("support.flow", &source)]);
    assert!(!codes.iter().any(|c| c == "F0004"), "{codes:?}");
}
