#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::check;
use crate::diag::{Code, Diagnostic, FileId};
use crate::project::{Project, PromptInventory};
use std::collections::HashSet;

/// Checks one file and returns the project and this module's diagnostics.
fn run(files: &[&str]) -> (Project, Vec<Diagnostic>) {
    let mut project = Project::new(None, PromptInventory::default());
    for (i, text) in files.iter().enumerate() {
        project.add_flow(&format!("f{i}.flow"), text);
    }
    assert!(
        project.diagnostics.is_empty(),
        "syntax errors: {:#?}",
        project.diagnostics
    );
    let mut diagnostics = Vec::new();
    check(&project, &HashSet::new(), &mut diagnostics);
    diagnostics.sort_by_key(|d| d.primary_label().map(|l| (l.file, l.span.start)));
    (project, diagnostics)
}

/// Returns "CODE line:column" of each diagnostic's primary label.
fn found(text: &str) -> Vec<String> {
    found_in(&[text])
}

fn found_in(files: &[&str]) -> Vec<String> {
    let (project, diagnostics) = run(files);
    diagnostics
        .iter()
        .map(|d| {
            let label = d.primary_label().unwrap();
            let at = project
                .sources
                .get(label.file)
                .unwrap()
                .line_col(label.span.start);
            format!("{} {}:{}", d.code, at.line, at.column)
        })
        .collect()
}

/// Returns the secondary labels' texts of the only diagnostic.
fn secondary_labels(text: &str) -> Vec<String> {
    let (_, diagnostics) = run(&[text]);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    diagnostics[0]
        .labels
        .iter()
        .filter(|l| !l.primary)
        .map(|l| l.message.clone())
        .collect()
}

const MENU_OPTIONS: &str = "prompt \"choose\"\n    attempts 3";

#[test]
fn ending_paths_are_clean() {
    let text = "flow f\non call {\n  play \"welcome\"\n  hangup\n}\n";
    assert_eq!(found(text), Vec::<String>::new());
}

#[test]
fn falling_off_on_call() {
    let text = "flow f\non call {\n  play \"welcome\"\n}\n";
    assert_eq!(found(text), ["F0301 4:1"]);
    assert!(secondary_labels(text).is_empty());
}

#[test]
fn if_without_else_lets_path_through() {
    let text = "flow f\non call {\n  if call.anonymous {\n    hangup\n  }\n}\n";
    assert_eq!(found(text), ["F0301 6:1"]);
    let labels = secondary_labels(text);
    assert_eq!(labels.len(), 1);
    assert!(labels[0].contains("has no `else`"), "{labels:?}");
}

#[test]
fn else_if_chain_without_else() {
    let text = "flow f\non call {\n  if call.anonymous { hangup } else if true { hangup }\n}\n";
    assert_eq!(found(text), ["F0301 4:1"]);
}

#[test]
fn unreachable_after_if_whose_branches_end() {
    let text = "flow f\non call {\n  if call.anonymous {\n    hangup\n  } else {\n    \
                voicemail \"x\"\n  }\n  play \"never\"\n  play \"never either\"\n}\n";
    // One warning for the run of unreachable statements, and no F0301: no
    // path reaches the end.
    assert_eq!(found(text), ["F0302 8:3"]);
}

#[test]
fn unreachable_after_hangup_in_arm() {
    let text = "flow f\non call {\n  if true {\n    hangup\n    play \"x\"\n  }\n  hangup\n}\n";
    assert_eq!(found(text), ["F0302 5:5"]);
}

#[test]
fn match_without_else_falls_through() {
    let text = "flow f\non call {\n  let x = \"1\"\n  match x {\n    \"1\" => hangup\n    \
                starts with \"2\" => transfer \"+1\"\n  }\n}\n";
    assert_eq!(found(text), ["F0301 8:1"]);
    let labels = secondary_labels(text);
    assert_eq!(labels.len(), 1);
    assert!(labels[0].contains("no arm matches"), "{labels:?}");
}

#[test]
fn match_with_else_that_ends_is_clean() {
    let text = "flow f\non call {\n  let x = \"1\"\n  match x {\n    \"1\" => hangup\n    \
                else => hangup\n  }\n}\n";
    assert_eq!(found(text), Vec::<String>::new());
}

#[test]
fn match_arm_after_else_is_unreachable() {
    let text = "flow f\non call {\n  let x = \"1\"\n  match x {\n    else => hangup\n    \
                \"1\" => hangup\n  }\n}\n";
    assert_eq!(found(text), ["F0302 6:5"]);
}

#[test]
fn menu_failure_arms_ask_again() {
    let text = format!(
        "flow f\non call {{\n  menu {{\n    {MENU_OPTIONS}\n    1 => hangup\n    \
         invalid => play \"invalid\"\n    no input => play \"no-input\"\n    \
         exhausted => hangup\n  }}\n}}\n"
    );
    assert_eq!(found(&text), Vec::<String>::new());
}

#[test]
fn menu_without_exhausted_falls_through() {
    let text =
        format!("flow f\non call {{\n  menu {{\n    {MENU_OPTIONS}\n    1 => hangup\n  }}\n}}\n");
    assert_eq!(found(&text), ["F0301 8:1"]);
    let labels = secondary_labels(&text);
    assert_eq!(labels.len(), 1);
    assert!(labels[0].contains("no `exhausted` arm"), "{labels:?}");
}

#[test]
fn key_arm_that_continues_is_labelled() {
    let text = format!(
        "flow f\non call {{\n  menu {{\n    {MENU_OPTIONS}\n    1 => hangup\n    \
         2 => play \"x\"\n    exhausted => hangup\n  }}\n}}\n"
    );
    assert_eq!(found(&text), ["F0301 10:1"]);
    let labels = secondary_labels(&text);
    assert_eq!(labels, ["after key `2`, the call goes on past the `menu`"]);
}

#[test]
fn key_arms_may_continue_to_an_ending() {
    // The sample's language menu: every arm continues, then a goto ends.
    let text = format!(
        "flow f\non call {{\n  menu {{\n    {MENU_OPTIONS}\n    1 => set language = \"en\"\n    \
         2 => set language = \"sl\"\n  }}\n  goto next\n}}\nstep next {{\n  hangup\n}}\n"
    );
    assert_eq!(found(&text), Vec::<String>::new());
}

#[test]
fn nested_menus_report_one_falling_off_point() {
    let inner =
        format!("menu {{\n      {MENU_OPTIONS}\n      1 => hangup\n      2 => play \"x\"\n    }}");
    let text = format!(
        "flow f\non call {{\n  menu {{\n    {MENU_OPTIONS}\n    1 => {inner}\n    \
         2 => {inner}\n    exhausted => hangup\n  }}\n}}\n"
    );
    // Many paths fall off the end, through both inner menus; one report.
    let found = found(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("F0301"));
}

#[test]
fn nested_menus_that_end_are_clean() {
    let inner = format!(
        "menu {{\n      {MENU_OPTIONS}\n      1 => hangup\n      exhausted => goto bye\n    }}"
    );
    let text = format!(
        "flow f\non call {{\n  menu {{\n    {MENU_OPTIONS}\n    1 => {inner}\n    \
         2 => {inner}\n    exhausted => hangup\n  }}\n}}\nstep bye {{\n  hangup\n}}\n"
    );
    assert_eq!(found(&text), Vec::<String>::new());
}

#[test]
fn many_paths_one_report() {
    let mut text = String::from("flow f\non call {\n");
    for _ in 0..40 {
        text.push_str("  if call.anonymous { play \"a\" } else { play \"b\" }\n");
    }
    text.push_str("}\n");
    assert_eq!(found(&text), ["F0301 43:1"]);
}

#[test]
fn exhausted_arm_unreachable_when_failures_leave() {
    let text = format!(
        "flow f\non call {{\n  menu {{\n    {MENU_OPTIONS}\n    1 => hangup\n    \
         invalid => hangup\n    no input => hangup\n    exhausted => hangup\n  }}\n}}\n"
    );
    assert_eq!(found(&text), ["F0302 9:5"]);
}

#[test]
fn collect_success_continues() {
    let text = "flow f\non call {\n  collect order {\n    prompt \"p\"\n    attempts 3\n  }\n  \
                hangup\n}\n";
    assert_eq!(found(text), Vec::<String>::new());
}

#[test]
fn collect_that_falls_off() {
    let text = "flow f\non call {\n  collect order {\n    prompt \"p\"\n    attempts 3\n    \
                exhausted => hangup\n  }\n}\n";
    assert_eq!(found(text), ["F0301 8:1"]);
}

#[test]
fn lookup_failed_arm_continues() {
    let text = "flow f\non call {\n  lookup c in crm by call.from {\n    failed => tag \"down\"\n  \
                }\n  hangup\n}\n";
    assert_eq!(found(text), Vec::<String>::new());
}

#[test]
fn enqueue_else_arm_must_end() {
    let text = "flow f\non call {\n  enqueue sales else {\n    play \"sorry\"\n  }\n}\n";
    // The arm's end is reported, not the end of `on call`: `enqueue` ends
    // the path there.
    assert_eq!(found(text), ["F0301 5:3"]);
}

#[test]
fn enqueue_else_arm_that_ends_is_clean() {
    let text = "flow f\non call {\n  enqueue sales else voicemail \"sales\"\n}\n";
    assert_eq!(found(text), Vec::<String>::new());
}

#[test]
fn unreachable_after_enqueue() {
    let text = "flow f\non call {\n  enqueue sales\n  hangup\n}\n";
    assert_eq!(found(text), ["F0302 4:3"]);
}

#[test]
fn run_of_subflow_that_returns_continues() {
    let text = "subflow greet {\n  play \"hi\"\n}\nflow f\non call {\n  run greet\n}\n";
    assert_eq!(found(text), ["F0301 7:1"]);
}

#[test]
fn run_of_subflow_that_always_ends_ends() {
    let text = "subflow bye {\n  play \"bye\"\n  hangup\n}\nflow f\non call {\n  run bye\n  \
                play \"never\"\n}\n";
    assert_eq!(found(text), ["F0302 8:3"]);
}

#[test]
fn subflow_may_return_early() {
    let text = "subflow s {\n  if call.anonymous {\n    return\n  }\n  hangup\n}\nflow f\n\
                on call {\n  run s\n  hangup\n}\n";
    assert_eq!(found(text), Vec::<String>::new());
}

#[test]
fn subflows_across_files() {
    let library = "subflow bye {\n  hangup\n}\n";
    let flow = "flow f\non call {\n  run bye\n}\n";
    assert_eq!(found_in(&[library, flow]), Vec::<String>::new());
}

#[test]
fn unreached_step_is_reported() {
    let text = "flow f\non call {\n  goto a\n}\nstep a {\n  hangup\n}\nstep b {\n  hangup\n}\n";
    assert_eq!(found(text), ["F0302 8:6"]);
}

#[test]
fn step_behind_unreachable_goto_is_unreached() {
    let text = "flow f\non call {\n  hangup\n  goto a\n}\nstep a {\n  hangup\n}\n";
    assert_eq!(found(text), ["F0302 4:3", "F0302 6:6"]);
}

#[test]
fn unreached_steps_are_not_walked() {
    // The step's own end is not reported while nothing reaches it.
    let text = "flow f\non call {\n  hangup\n}\nstep a {\n  play \"x\"\n}\n";
    assert_eq!(found(text), ["F0302 5:6"]);
}

#[test]
fn headerless_file_steps_not_unreached() {
    // The step is reported as misplaced (F0003) by the name checks.
    let text = "on call {\n  hangup\n}\nstep a {\n  hangup\n}\n";
    assert_eq!(found(text), Vec::<String>::new());
}

#[test]
fn steps_of_a_broken_file_are_not_unreached() {
    let text = "flow f\non call {\n  hangup\n}\nstep a {\n  hangup\n}\n";
    let mut project = Project::new(None, PromptInventory::default());
    let id = project.add_flow("f.flow", text);
    let broken: HashSet<FileId> = [id].into_iter().collect();
    let mut diagnostics = Vec::new();
    check(&project, &broken, &mut diagnostics);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
}

#[test]
fn misspelt_goto_reaches_the_step_it_resembles() {
    // The unknown step is reported by the name checks, with did-you-mean.
    let text = "flow f\non call {\n  goto salse\n}\nstep sales {\n  hangup\n}\n";
    assert_eq!(found(text), Vec::<String>::new());
}

#[test]
fn library_steps_are_left_alone() {
    let text = "subflow s {\n  play \"x\"\n}\n";
    assert_eq!(found(text), Vec::<String>::new());
}

#[test]
fn goto_cycle_through_key_arm_is_allowed() {
    let text = format!(
        "flow f\non call {{\n  goto main\n}}\nstep main {{\n  menu {{\n    {MENU_OPTIONS}\n    \
         1 => goto main\n    2 => goto other\n    exhausted => hangup\n  }}\n}}\n\
         step other {{\n  play \"x\"\n  goto main\n}}\n"
    );
    assert_eq!(found(&text), Vec::<String>::new());
}

#[test]
fn goto_cycle_through_no_input_is_an_error() {
    let text = format!(
        "flow f\non call {{\n  goto main\n}}\nstep main {{\n  menu {{\n    {MENU_OPTIONS}\n    \
         1 => hangup\n    no input => goto main\n    exhausted => hangup\n  }}\n}}\n"
    );
    assert_eq!(found(&text), ["F0303 10:17"]);
    let (_, diagnostics) = run(&[&text]);
    assert_eq!(diagnostics[0].code, Code::UnboundedLoop);
    assert!(diagnostics[0].labels[0].message.contains("presses nothing"));
}

#[test]
fn goto_cycle_through_invalid_is_an_error() {
    let text = format!(
        "flow f\non call {{\n  goto main\n}}\nstep main {{\n  menu {{\n    {MENU_OPTIONS}\n    \
         1 => hangup\n    invalid => goto main\n    exhausted => hangup\n  }}\n}}\n"
    );
    assert_eq!(found(&text), ["F0303 10:16"]);
}

#[test]
fn goto_cycle_over_two_steps_is_one_report() {
    let text = "flow f\non call {\n  goto a\n}\nstep a {\n  play \"x\"\n  goto b\n}\n\
                step b {\n  play \"y\"\n  goto a\n}\n";
    let (_, diagnostics) = run(&[text]);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    assert_eq!(diagnostics[0].code, Code::UnboundedLoop);
    assert_eq!(diagnostics[0].labels.len(), 2);
    assert!(diagnostics[0].message.contains("`a` and `b`"));
}

#[test]
fn collect_exhausted_fall_through_loops() {
    // The silent path: every attempt fails, the collect continues, and
    // `goto main` starts over.
    let text = "flow f\non call {\n  goto main\n}\nstep main {\n  collect order {\n    \
                prompt \"p\"\n    attempts 3\n  }\n  goto main\n}\n";
    assert_eq!(found(text), ["F0303 10:3"]);
}

#[test]
fn collect_exhausted_that_ends_breaks_the_loop() {
    let text = "flow f\non call {\n  goto main\n}\nstep main {\n  collect order {\n    \
                prompt \"p\"\n    attempts 3\n    exhausted => hangup\n  }\n  goto main\n}\n";
    assert_eq!(found(text), Vec::<String>::new());
}

#[test]
fn loop_through_silent_subflow() {
    let text = "subflow s {\n  play \"x\"\n}\nflow f\non call {\n  goto main\n}\n\
                step main {\n  run s\n  goto main\n}\n";
    assert_eq!(found(text), ["F0303 10:3"]);
}

#[test]
fn loop_through_subflow_that_takes_input() {
    let text = "subflow s {\n  collect x {\n    prompt \"p\"\n    attempts 2\n    \
                exhausted => hangup\n  }\n}\nflow f\non call {\n  goto main\n}\n\
                step main {\n  run s\n  goto main\n}\n";
    assert_eq!(found(text), Vec::<String>::new());
}

#[test]
fn overflow_loop_is_an_error() {
    let text = "flow f\non call {\n  goto main\n}\nstep main {\n  enqueue q else goto main\n}\n";
    let (_, diagnostics) = run(&[text]);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    assert_eq!(diagnostics[0].code, Code::UnboundedLoop);
    assert!(
        diagnostics[0]
            .help
            .as_deref()
            .unwrap()
            .contains("overflows")
    );
}

#[test]
fn subflow_recursion_is_an_error() {
    let text = "subflow a {\n  run b\n}\nsubflow b {\n  play \"x\"\n  run a\n}\n\
                subflow c {\n  run c\n}\n";
    let (_, diagnostics) = run(&[text]);
    let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "sub-flows `a` and `b` run each other",
            "sub-flow `c` runs itself"
        ]
    );
}

#[test]
fn recursive_subflow_does_not_cascade() {
    // `s` runs itself. The code after `run s` in its caller is not also
    // reported as unreachable.
    let text = "subflow s {\n  run s\n  hangup\n}\nflow f\non call {\n  run s\n  hangup\n}\n";
    assert_eq!(found(text), ["F0303 2:3"]);
}

#[test]
fn goto_in_subflow_is_not_followed() {
    let text = "subflow s {\n  goto a\n}\nflow f\non call {\n  run s\n  hangup\n}\n\
                step a {\n  hangup\n}\n";
    // The goto is reported elsewhere; here it counts as a return, so
    // `hangup` after `run s` is not reported, and the step stays unreached.
    assert_eq!(found(text), ["F0302 9:6"]);
}

#[test]
fn unknown_targets_do_not_cascade() {
    let text = "flow f\non call {\n  run nowhere\n  goto no_such_step\n}\n";
    assert_eq!(found(text), Vec::<String>::new());
}

#[test]
fn several_errors_in_one_file() {
    let text = format!(
        "flow f\non call {{\n  if call.anonymous {{\n    hangup\n  }}\n  goto main\n  \
         play \"never\"\n}}\nstep main {{\n  menu {{\n    {MENU_OPTIONS}\n    \
         1 => goto sales\n    no input => goto main\n  }}\n}}\nstep sales {{\n  \
         enqueue sales else {{ play \"sorry\" }}\n}}\nstep old {{\n  hangup\n}}\n"
    );
    assert_eq!(
        found(&text),
        [
            "F0302 7:3",
            "F0303 14:17",
            "F0301 16:1",
            "F0301 18:37",
            "F0302 20:6"
        ]
    );
}

#[test]
fn sample_flow_has_one_unreachable_run() {
    let text = include_str!("../../../tests/fixtures/support.flow");
    // Every arm of the sample's `match order` ends the call, so the
    // statements after it never run.
    assert_eq!(found(text), ["F0302 71:3"]);
}

#[test]
fn large_flow_is_walked_once() {
    // 2,000 steps in a chain, each with a menu: the walk stays linear and
    // the tail step's missing ending is found once.
    let mut text = String::from("flow f\non call {\n  goto s0\n}\n");
    let n = 2000;
    for i in 0..n {
        let next = if i + 1 < n {
            format!("goto s{}", i + 1)
        } else {
            String::from("play \"end\"")
        };
        text.push_str(&format!(
            "step s{i} {{\n  menu {{\n    {MENU_OPTIONS}\n    1 => {next}\n    \
             exhausted => hangup\n  }}\n}}\n"
        ));
    }
    let found = found(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("F0301"));
}
