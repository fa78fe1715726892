//! Loops that can repeat without bound (F0303): cycles of gotos that a call
//! can go round without the caller giving valid input, and sub-flows that
//! run themselves.

use std::collections::{HashMap, HashSet};

use super::body::{BodyFacts, Context, Jump};
use super::scc;
use crate::diag::{Code, Diagnostic, FileId};
use crate::syntax::ast::Named;

/// Reports each cycle of silent gotos among the steps of one file. Only a
/// goto that some path reaches from its step's entry without caller input
/// is an edge, so a strongly connected component with a cycle is a loop a
/// silent caller can go round forever.
pub(super) fn report_step_loops(
    file: FileId,
    steps: &[&Named],
    index: &HashMap<&str, usize>,
    facts: &[Option<BodyFacts<'_>>],
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut successors: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (from, targets) in successors.iter_mut().enumerate() {
        for goto in silent_gotos(facts, from) {
            if let Some(&to) = index.get(goto.target.name.as_str()) {
                targets.push(to);
            }
        }
    }
    for component in scc::components(&successors) {
        if !scc::is_cycle(&component, &successors) {
            continue;
        }
        let members: HashSet<usize> = component.iter().copied().collect();
        let mut jumps: Vec<&Jump<'_>> = component
            .iter()
            .flat_map(|&from| silent_gotos(facts, from))
            .filter(|goto| {
                index
                    .get(goto.target.name.as_str())
                    .is_some_and(|to| members.contains(to))
            })
            .collect();
        jumps.sort_by_key(|jump| jump.span.start);
        let names: Vec<&str> = component
            .iter()
            .filter_map(|&i| steps.get(i).map(|step| step.name.name.as_str()))
            .collect();
        diagnostics.push(step_loop(file, &names, &jumps));
    }
}

fn silent_gotos<'f, 'a>(
    facts: &'f [Option<BodyFacts<'a>>],
    step: usize,
) -> impl Iterator<Item = &'f Jump<'a>> {
    facts
        .get(step)
        .and_then(Option::as_ref)
        .into_iter()
        .flat_map(|facts| facts.gotos.iter())
        .filter(|goto| goto.silent)
}

fn step_loop(file: FileId, names: &[&str], jumps: &[&Jump<'_>]) -> Diagnostic {
    let message = match names {
        [name] => {
            format!("step `{name}` can start itself again forever without input from the caller")
        }
        _ => format!(
            "steps {} can go round in a loop forever without input from the caller",
            quoted_list(names)
        ),
    };
    let mut diagnostic = Diagnostic::new(Code::UnboundedLoop, message);
    for (i, jump) in jumps.iter().enumerate() {
        let label = goto_label(jump);
        diagnostic = if i == 0 {
            diagnostic.primary(file, jump.span, label)
        } else {
            diagnostic.secondary(file, jump.span, label)
        };
    }
    diagnostic.help(loop_help(jumps))
}

fn goto_label(jump: &Jump<'_>) -> String {
    let target = &jump.target.name;
    match jump.context {
        Context::NoInput => format!("when the caller presses nothing, this goes to `{target}`"),
        Context::Invalid => format!("after an invalid entry, this goes to `{target}`"),
        Context::Exhausted => format!("after the last attempt fails, this goes to `{target}`"),
        Context::Failed => format!("when the lookup fails, this goes to `{target}`"),
        Context::Overflow => format!("when the queue overflows, this goes to `{target}`"),
        Context::Plain => {
            format!("this goes to `{target}` without waiting for input from the caller")
        }
    }
}

fn loop_help(jumps: &[&Jump<'_>]) -> &'static str {
    let has = |context: Context| jumps.iter().any(|jump| jump.context == context);
    if has(Context::NoInput) || has(Context::Invalid) {
        "going back to the step that asks starts its `attempts` count again, so the limit never \
         ends the loop; remove the `goto` so the menu asks again by itself, and end the call in \
         its `exhausted` arm"
    } else if has(Context::Overflow) {
        "a queue with no agent logged in overflows at once, so this loop never waits; end the \
         `else` arm with `voicemail`, `transfer` or `hangup`"
    } else {
        "go back only after input from the caller (from a menu key arm or after a successful \
         `collect`), or end the call on the way with `hangup`, `transfer`, `enqueue` or \
         `voicemail`"
    }
}

/// One walked sub-flow, for the recursion check.
pub(super) struct SubflowFacts<'f, 'a> {
    /// The file it is declared in.
    pub file: FileId,
    /// Its name.
    pub name: &'a str,
    /// The facts its walk found.
    pub facts: &'f BodyFacts<'a>,
}

/// Reports each group of sub-flows that run themselves, directly or
/// through each other: every `run` waits for its sub-flow to return, so
/// such a group can only grow the call's stack.
pub(super) fn report_recursion(
    subflows: &[SubflowFacts<'_, '_>],
    index: &HashMap<&str, usize>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let successors: Vec<Vec<usize>> = subflows
        .iter()
        .map(|subflow| {
            subflow
                .facts
                .runs
                .iter()
                .filter_map(|run| index.get(run.target.name.as_str()).copied())
                .collect()
        })
        .collect();
    for component in scc::components(&successors) {
        if !scc::is_cycle(&component, &successors) {
            continue;
        }
        let members: HashSet<usize> = component.iter().copied().collect();
        let mut runs: Vec<(FileId, &str, &Jump<'_>)> = Vec::new();
        let mut names = Vec::new();
        for &i in &component {
            let Some(subflow) = subflows.get(i) else {
                continue;
            };
            names.push(subflow.name);
            for run in &subflow.facts.runs {
                let target = index.get(run.target.name.as_str());
                if target.is_some_and(|to| members.contains(to)) {
                    runs.push((subflow.file, subflow.name, run));
                }
            }
        }
        runs.sort_by_key(|(file, _, run)| (*file, run.span.start));
        diagnostics.push(recursion(&names, &runs));
    }
    report_depth(subflows, &successors, diagnostics);
}

/// The deepest chain of sub-flows a call can hold, one frame per sub-flow
/// that has not returned yet.
const MAX_SUBFLOW_DEPTH: u32 = crate::vm::MAX_RUN_DEPTH as u32;

/// Reports the longest chain of sub-flows that run each other when it is
/// longer than [`MAX_SUBFLOW_DEPTH`]. Sub-flows in a cycle are reported
/// above and count as depth 1 here.
fn report_depth(
    subflows: &[SubflowFacts<'_, '_>],
    successors: &[Vec<usize>],
    diagnostics: &mut Vec<Diagnostic>,
) {
    // depth[i]: sub-flows in the longest chain that starts at i; computed
    // by an iterative post-order walk, because chains may be long.
    let count = subflows.len();
    let mut depth: Vec<u32> = vec![0; count];
    let mut state: Vec<u8> = vec![0; count];
    for root in 0..count {
        let mut stack = vec![(root, 0usize)];
        while let Some((node, next)) = stack.pop() {
            if next == 0 {
                match state.get(node) {
                    Some(0) => {}
                    _ => continue,
                }
                if let Some(s) = state.get_mut(node) {
                    *s = 1;
                }
            }
            let children = successors.get(node).map_or(&[][..], Vec::as_slice);
            if let Some(&child) = children.get(next) {
                stack.push((node, next + 1));
                if state.get(child) == Some(&0) {
                    stack.push((child, 0));
                }
                continue;
            }
            let deepest = children
                .iter()
                .filter(|&&child| state.get(child) == Some(&2))
                .filter_map(|&child| depth.get(child).copied())
                .max()
                .unwrap_or(0);
            if let Some(d) = depth.get_mut(node) {
                *d = deepest.saturating_add(1);
            }
            if let Some(s) = state.get_mut(node) {
                *s = 2;
            }
        }
    }
    let Some((top, &deepest)) = depth.iter().enumerate().max_by_key(|(_, d)| **d) else {
        return;
    };
    if deepest <= MAX_SUBFLOW_DEPTH {
        return;
    }
    // Follow the chain from its top to name it and point at its first run.
    let mut chain = Vec::new();
    let mut node = top;
    while let Some(subflow) = subflows.get(node) {
        chain.push(subflow.name);
        let below = depth.get(node).copied().unwrap_or(0).saturating_sub(1);
        let next = successors
            .get(node)
            .and_then(|children| {
                children
                    .iter()
                    .find(|&&child| depth.get(child) == Some(&below) && below > 0)
            })
            .copied();
        match next {
            Some(child) if chain.len() < count => node = child,
            _ => break,
        }
    }
    let Some(first) = subflows.get(top) else {
        return;
    };
    let second = chain.get(1).copied().unwrap_or_default();
    let Some(run) = first
        .facts
        .runs
        .iter()
        .find(|run| run.target.name == second)
    else {
        return;
    };
    let shown = match chain.as_slice() {
        [a, b, .., y, z] if chain.len() > 4 => format!("`{a}`, `{b}`, ..., `{y}`, `{z}`"),
        _ => quoted_list(&chain),
    };
    let message = format!(
        "sub-flows run each other {deepest} deep ({shown}); a call can hold at most \
         {MAX_SUBFLOW_DEPTH}"
    );
    diagnostics.push(
        Diagnostic::new(Code::TooDeep, message)
            .primary(
                first.file,
                run.span,
                "the longest chain of `run` starts here",
            )
            .help(
                "let a sub-flow return and `run` the next one from its caller, so fewer \
                 sub-flows wait for each other at once",
            ),
    );
}

/// Builds the report of one group; each run comes with the sub-flow it is
/// written in.
fn recursion(names: &[&str], runs: &[(FileId, &str, &Jump<'_>)]) -> Diagnostic {
    let message = match names {
        [name] => format!("sub-flow `{name}` runs itself"),
        _ => format!("sub-flows {} run each other", quoted_list(names)),
    };
    let mut diagnostic = Diagnostic::new(Code::UnboundedLoop, message);
    for (i, (file, caller, run)) in runs.iter().enumerate() {
        let target = &run.target.name;
        let label = if target == caller {
            format!("runs `{target}` again before it has returned")
        } else {
            format!("runs `{target}`, which leads back to `{caller}`")
        };
        diagnostic = if i == 0 {
            diagnostic.primary(*file, run.span, label)
        } else {
            diagnostic.secondary(*file, run.span, label)
        };
    }
    diagnostic.help(
        "a sub-flow cannot run itself, directly or through others; repeat a question with a \
         menu's `attempts`, or move the repeating part into a step and use `goto`",
    )
}

/// Formats names as "`a`, `b` and `c`".
fn quoted_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}
