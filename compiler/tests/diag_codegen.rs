//! Snapshots of the diagnostics of the code generator: the sources, then
//! each report as `flowc build` prints it.

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::project;
use flowc::codegen::compile;
use flowc::diag::{Code, render_human};
use flowc::project::Project;
use insta::assert_snapshot;

fn report(project: &Project, flow: &str) -> String {
    let errors = compile(project, flow).unwrap_err();
    let mut out = String::new();
    for (_, file) in project.sources.iter() {
        if file.name.ends_with(".flow") {
            out.push_str(&format!("--- {}\n{}\n", file.name, file.text));
        }
    }
    out.push_str("=== diagnostics\n");
    for error in &errors {
        out.push_str(&render_human(error, &project.sources, false));
        out.push('\n');
    }
    out
}

#[test]
fn f0601_unknown_flow_name() {
    let project = project(&[("support.flow", "flow support\n\non call {\n  hangup\n}\n")]);
    assert_snapshot!(report(&project, "suport"));
}

#[test]
fn f0602_cannot_compile() {
    let source = "flow support\n\non call {\n  play \"welcome\"\n  if vip {\n    enqueue technical\n  }\n  hangup\n}\n";
    let project = project(&[("support.flow", source)]);
    let errors = compile(&project, "support").unwrap_err();
    let codes: Vec<Code> = errors.iter().map(|e| e.code).collect();
    assert_eq!(codes, [Code::CannotCompile, Code::CannotCompile]);
    assert_snapshot!(report(&project, "support"));
}
