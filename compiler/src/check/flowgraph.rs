//! The shape of every call path: paths that do not end the call (F0301),
//! code and steps that no path reaches (F0302), and loops that can repeat
//! without bound (F0303).
//!
//! Each body is walked once along its syntax tree ([`body`]). Whether the
//! code after a `run` is reached depends on whether the sub-flow comes back,
//! so sub-flows are walked first, callees before callers. The strongly
//! connected components of the `run` graph give that order. Then each
//! file's `on call` is walked, and every step that a reached `goto` names,
//! once. The gotos and runs found form the graphs whose cycles are the
//! loops ([`loops`]). Every part is linear in the size of the project, and
//! no path is enumerated.

mod body;
mod escape;
mod loops;
mod report;
mod scc;
mod spans;

use std::collections::{HashMap, HashSet};

use body::{BodyFacts, BodyKind, Returns, Walker};
use loops::SubflowFacts;

use crate::diag::{Code, Diagnostic, FileId, did_you_mean};
use crate::project::{FlowFile, Project};
use crate::syntax::ast::{Block, Decl, Handler, Named, Stmt, StmtKind};

/// Adds this module's problems to `diagnostics`. Steps of the files in
/// `broken` are not reported as unreached: a declaration of theirs failed
/// to parse and may hold the `goto` that reaches them.
pub fn check(project: &Project, broken: &HashSet<FileId>, diagnostics: &mut Vec<Diagnostic>) {
    let returns = check_subflows(project, diagnostics);
    for file in &project.files {
        check_file(file, broken.contains(&file.id), &returns, diagnostics);
    }
}

/// A sub-flow declaration with its file.
struct SubflowDecl<'a> {
    file: FileId,
    decl: &'a Named,
}

/// Walks every sub-flow, reports sub-flows that run themselves, and
/// returns how each sub-flow, by name, comes back to its `run`.
fn check_subflows<'a>(
    project: &'a Project,
    diagnostics: &mut Vec<Diagnostic>,
) -> HashMap<&'a str, Returns> {
    let decls: Vec<SubflowDecl<'a>> = project
        .files
        .iter()
        .flat_map(|file| {
            file.ast.decls.iter().filter_map(|decl| match decl {
                Decl::Subflow(named) => Some(SubflowDecl {
                    file: file.id,
                    decl: named,
                }),
                _ => None,
            })
        })
        .collect();
    // A name declared twice is reported elsewhere; the first declaration
    // is the one `run` enters.
    let mut index: HashMap<&'a str, usize> = HashMap::new();
    for (i, subflow) in decls.iter().enumerate() {
        index.entry(subflow.decl.name.name.as_str()).or_insert(i);
    }
    let runs: Vec<Vec<usize>> = decls
        .iter()
        .map(|subflow| {
            let mut targets = Vec::new();
            written_runs(&subflow.decl.body, &index, &mut targets);
            targets
        })
        .collect();

    let mut returns: HashMap<&'a str, Returns> = HashMap::new();
    let mut facts: Vec<Option<BodyFacts<'a>>> = decls.iter().map(|_| None).collect();
    for component in scc::components(&runs) {
        if scc::is_cycle(&component, &runs) {
            // A sub-flow that runs itself is F0303. Assuming it comes back
            // keeps its callers from also being reported as unreachable.
            for &i in &component {
                if let Some(subflow) = decls.get(i) {
                    returns.insert(subflow.decl.name.name.as_str(), Returns::AfterInput);
                }
            }
        }
        let mut walked = Vec::new();
        for &i in &component {
            let Some(subflow) = decls.get(i) else {
                continue;
            };
            let walker = Walker::new(subflow.file, BodyKind::Subflow, &returns, diagnostics);
            walked.push((i, walker.walk(&subflow.decl.body)));
        }
        for (i, body) in walked {
            if let Some(subflow) = decls.get(i)
                && index.get(subflow.decl.name.name.as_str()) == Some(&i)
            {
                let name = subflow.decl.name.name.as_str();
                let assumed = returns.get(name).copied().unwrap_or(Returns::Never);
                returns.insert(name, body.returns.max(assumed));
            }
            if let Some(slot) = facts.get_mut(i) {
                *slot = Some(body);
            }
        }
    }

    let walked: Vec<SubflowFacts<'_, 'a>> = decls
        .iter()
        .zip(&facts)
        .filter_map(|(subflow, facts)| {
            facts.as_ref().map(|facts| SubflowFacts {
                file: subflow.file,
                name: subflow.decl.name.name.as_str(),
                facts,
            })
        })
        .collect();
    // `walked` keeps the order of `decls` unless a walk is missing, which
    // `scc::components` rules out; map names to the positions in `walked`.
    let walked_index: HashMap<&str, usize> = walked
        .iter()
        .enumerate()
        .rev()
        .map(|(i, subflow)| (subflow.name, i))
        .collect();
    loops::report_recursion(&walked, &walked_index, diagnostics);
    returns
}

/// Collects the sub-flows that a block's `run` statements name, reached or
/// not; the walk order only needs an over-approximation.
fn written_runs(block: &Block, index: &HashMap<&str, usize>, targets: &mut Vec<usize>) {
    for stmt in &block.stmts {
        for_each_nested_block(stmt, &mut |nested| written_runs(nested, index, targets));
        if let StmtKind::Run(name) = &stmt.kind
            && let Some(&target) = index.get(name.name.as_str())
        {
            targets.push(target);
        }
    }
}

/// Calls `visit` on every block directly inside a statement.
fn for_each_nested_block<'a>(stmt: &'a Stmt, visit: &mut dyn FnMut(&'a Block)) {
    match &stmt.kind {
        StmtKind::Menu(menu) => {
            menu.keys.iter().for_each(|(_, body)| visit(body));
            menu.failures.iter().for_each(|arm| visit(&arm.body));
        }
        StmtKind::Collect(collect) => collect.failures.iter().for_each(|arm| visit(&arm.body)),
        StmtKind::Lookup(lookup) => lookup.failures.iter().for_each(|arm| visit(&arm.body)),
        StmtKind::If {
            branches,
            otherwise,
        } => {
            branches.iter().for_each(|(_, body)| visit(body));
            otherwise.iter().for_each(&mut *visit);
        }
        StmtKind::Match(_, arms) => arms.iter().for_each(|arm| visit(&arm.body)),
        StmtKind::Enqueue(_, Some(overflow)) => visit(overflow),
        _ => {}
    }
}

/// Walks a flow file's `on call` and the steps it reaches, reports the
/// steps it does not reach, and the loops among the steps. A `goto` to an
/// unknown step reaches the step its did-you-mean names, so one misspelt
/// name is not also reported as an unreached step.
fn check_file(
    file: &FlowFile,
    broken: bool,
    returns: &HashMap<&str, Returns>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let on_calls: Vec<&Handler> = file
        .ast
        .decls
        .iter()
        .filter_map(|decl| match decl {
            Decl::OnCall(handler) => Some(handler),
            _ => None,
        })
        .collect();
    // A file without `on call` is a library, or reported elsewhere; its
    // steps have no entry to be reached from.
    if on_calls.is_empty() {
        return;
    }
    let steps: Vec<&Named> = file
        .ast
        .decls
        .iter()
        .filter_map(|decl| match decl {
            Decl::Step(named) => Some(named),
            _ => None,
        })
        .collect();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        index.entry(step.name.name.as_str()).or_insert(i);
    }

    let mut facts: Vec<Option<BodyFacts<'_>>> = steps.iter().map(|_| None).collect();
    let mut queued = vec![false; steps.len()];
    let mut pending: Vec<usize> = Vec::new();
    let mut reach = |body: &BodyFacts<'_>, pending: &mut Vec<usize>| {
        for goto in &body.gotos {
            let name = goto.target.name.as_str();
            let target = index.get(name).or_else(|| {
                let close = did_you_mean(name, steps.iter().map(|s| s.name.name.as_str()))?;
                index.get(close)
            });
            if let Some(&target) = target
                && let Some(queued) = queued.get_mut(target)
                && !*queued
            {
                *queued = true;
                pending.push(target);
            }
        }
    };
    for handler in on_calls {
        let body = Walker::new(file.id, BodyKind::OnCall, returns, diagnostics).walk(&handler.body);
        reach(&body, &mut pending);
    }
    while let Some(i) = pending.pop() {
        let Some(step) = steps.get(i) else {
            continue;
        };
        let walker = Walker::new(file.id, BodyKind::Step(&step.name), returns, diagnostics);
        let body = walker.walk(&step.body);
        reach(&body, &mut pending);
        if let Some(slot) = facts.get_mut(i) {
            *slot = Some(body);
        }
    }

    // A file without a `flow` header is reported as such (F0003); one
    // with a broken declaration may hold the missing `goto`.
    let has_header = file.ast.decls.iter().any(|d| matches!(d, Decl::Flow(_)));
    for (i, step) in steps.iter().enumerate() {
        let first_of_name = index.get(step.name.name.as_str()) == Some(&i);
        if has_header && !broken && first_of_name && facts.get(i).is_some_and(Option::is_none) {
            diagnostics.push(unreached_step(file.id, step));
        }
    }
    loops::report_step_loops(file.id, &steps, &index, &facts, diagnostics);
}

fn unreached_step(file: FileId, step: &Named) -> Diagnostic {
    let name = &step.name.name;
    Diagnostic::new(
        Code::UnreachableCode,
        format!("step `{name}` is never reached"),
    )
    .primary(file, step.name.span, "no path from `on call` leads here")
    .help(format!(
        "add `goto {name}` where the call should continue in this step, or remove the step"
    ))
}

#[cfg(test)]
mod tests;
