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
