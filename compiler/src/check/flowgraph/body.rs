//! The walk of one body (`on call`, a step or a sub-flow) along its control
//! flow.
//!
//! Inside a body, control moves only forward through the syntax tree: a
//! menu's or a collect's retries are bounded by `attempts`, and `goto` and
//! `run` leave the body. So one pass over the tree computes, for each point,
//! whether some path reaches it ([`Flow`] is `None` when none does) and
//! whether some path reaches it from the body's entry without input from the
//! caller. The pass reports paths that fall off the end of an `enqueue ...
//! else` arm (F0301) and statements that no path reaches (F0302), and
//! returns the gotos and runs it reached for the analyses across bodies.

use std::collections::HashMap;

use super::escape::{Asker, Escape, push_escape};
use super::report;
use super::spans::{closing, failure_kind_span, keyword_span, pattern_span};
use crate::diag::{Diagnostic, FileId, Span};
use crate::syntax::ast::{
    Block, Collect, FailureArm, FailureKind, Ident, Lookup, MatchArm, Menu, Pattern, Stmt, StmtKind,
};

/// What a body is: it decides what reaching its end and `return` mean.
#[derive(Clone, Copy, Debug)]
pub(super) enum BodyKind<'a> {
    /// `on call`: its end must not be reached.
    OnCall,
    /// A step: its end must not be reached.
    Step(&'a Ident),
    /// A sub-flow: reaching its end or `return` goes back to the `run`.
    Subflow,
}

/// The ways a sub-flow can come back to the statement after its `run`,
/// ordered from the least to the most permissive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Returns {
    /// Every path ends the call.
    Never,
    /// Some path returns, and every returning path takes input from the
    /// caller.
    AfterInput,
    /// Some path returns without any input from the caller.
    Silently,
}

/// The arm that lexically contains a jump, for the loop messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Context {
    /// Not inside a failure or overflow arm.
    Plain,
    /// Inside an `invalid` arm.
    Invalid,
    /// Inside a `no input` arm.
    NoInput,
    /// Inside an `exhausted` arm.
    Exhausted,
    /// Inside a `failed` arm of a lookup.
    Failed,
    /// Inside the `else` arm of an `enqueue`.
    Overflow,
}

impl Context {
    fn of(kind: FailureKind) -> Context {
        match kind {
            FailureKind::Invalid => Context::Invalid,
            FailureKind::NoInput => Context::NoInput,
            FailureKind::Exhausted => Context::Exhausted,
            FailureKind::Failed => Context::Failed,
        }
    }
}

/// A `goto` or `run` that some path reaches.
#[derive(Clone, Copy, Debug)]
pub(super) struct Jump<'a> {
    /// The step or sub-flow it names.
    pub target: &'a Ident,
    /// The whole statement.
    pub span: Span,
    /// True when some path from the body's entry reaches it without input
    /// from the caller.
    pub silent: bool,
    /// The arm it is written in.
    pub context: Context,
}

/// The jumps and returns found by the walk of one body.
#[derive(Debug)]
pub(super) struct BodyFacts<'a> {
    /// The gotos some path reaches, in source order.
    pub gotos: Vec<Jump<'a>>,
    /// The runs some path reaches, in source order.
    pub runs: Vec<Jump<'a>>,
    /// For a sub-flow, how it comes back to its `run`; `Never` otherwise.
    pub returns: Returns,
}

/// The paths that reach one point.
#[derive(Clone, Debug)]
struct Paths {
    /// Some of them took no input from the caller since the body's entry.
    silent: bool,
    /// The latest branches that let them through, for F0301 labels.
    escapes: Vec<Escape>,
}

impl Paths {
    fn with_escape(silent: bool, escape: Escape) -> Paths {
        Paths {
            silent,
            escapes: vec![escape],
        }
    }
}

/// The paths reaching a point, or `None` when no path does.
type Flow = Option<Paths>;

fn merge(a: Flow, b: Flow) -> Flow {
    match (a, b) {
        (None, other) | (other, None) => other,
        (Some(mut a), Some(b)) => {
            a.silent |= b.silent;
            for escape in b.escapes {
                push_escape(&mut a.escapes, escape);
            }
            Some(a)
        }
    }
}

/// Walks one body; see the module documentation.
pub(super) struct Walker<'a, 'd> {
    file: FileId,
    kind: BodyKind<'a>,
    /// Each sub-flow's way of coming back to its `run`, by name.
    subflows: &'d HashMap<&'a str, Returns>,
    diagnostics: &'d mut Vec<Diagnostic>,
    context: Context,
    facts: BodyFacts<'a>,
}

impl<'a, 'd> Walker<'a, 'd> {
    /// Creates a walker for one body.
    pub(super) fn new(
        file: FileId,
        kind: BodyKind<'a>,
        subflows: &'d HashMap<&'a str, Returns>,
        diagnostics: &'d mut Vec<Diagnostic>,
    ) -> Self {
        Walker {
            file,
            kind,
            subflows,
            diagnostics,
            context: Context::Plain,
            facts: BodyFacts {
                gotos: Vec::new(),
                runs: Vec::new(),
                returns: Returns::Never,
            },
        }
    }

    /// Walks the body and reports a path that reaches the end of `on call`
    /// or of a step.
    pub(super) fn walk(mut self, body: &'a Block) -> BodyFacts<'a> {
        let entry = Paths {
            silent: true,
            escapes: Vec::new(),
        };
        let end = self.block(body, Some(entry));
        if let Some(end) = end {
            match self.kind {
                BodyKind::Subflow => self.add_return(end.silent),
                BodyKind::OnCall => self.report_end(
                    String::from("a path through `on call` does not end the call"),
                    String::from("the call reaches the end of `on call` here"),
                    body,
                    &end,
                ),
                BodyKind::Step(name) => self.report_end(
                    format!("a path through step `{}` does not end the call", name.name),
                    format!("the call reaches the end of step `{}` here", name.name),
                    body,
                    &end,
                ),
            }
        }
        self.facts
    }

    fn add_return(&mut self, silent: bool) {
        let returns = if silent {
            Returns::Silently
        } else {
            Returns::AfterInput
        };
        self.facts.returns = self.facts.returns.max(returns);
    }

    // ------------------------------------------------------------ blocks

    fn block(&mut self, block: &'a Block, entry: Flow) -> Flow {
        let mut flow = entry;
        let mut previous: Option<&Stmt> = None;
        for stmt in &block.stmts {
            let Some(paths) = flow.take() else {
                if let Some(previous) = previous {
                    self.report_unreachable(stmt, previous);
                }
                return None;
            };
            flow = self.stmt(stmt, paths);
            previous = Some(stmt);
        }
        flow
    }

    /// Walks an arm with `context` as the lexical context of its jumps.
    fn arm(&mut self, block: &'a Block, entry: Flow, context: Context) -> Flow {
        let outer = std::mem::replace(&mut self.context, context);
        let flow = self.block(block, entry);
        self.context = outer;
        flow
    }

    fn stmt(&mut self, stmt: &'a Stmt, paths: Paths) -> Flow {
        match &stmt.kind {
            StmtKind::Play(_)
            | StmtKind::Let(..)
            | StmtKind::Set(..)
            | StmtKind::Record(_)
            | StmtKind::Tag(_)
            | StmtKind::Timeline(_)
            | StmtKind::Ticket(..)
            | StmtKind::Survey(..)
            | StmtKind::Webhook(_)
            | StmtKind::Notify(..) => Some(paths),
            StmtKind::Menu(menu) => self.menu(menu, stmt, paths),
            StmtKind::Collect(collect) => self.collect(collect, stmt, paths),
            StmtKind::Lookup(lookup) => self.lookup(lookup, paths),
            StmtKind::If {
                branches,
                otherwise,
            } => self.if_stmt(branches, otherwise.as_ref(), stmt, paths),
            StmtKind::Match(_, arms) => self.match_stmt(arms, stmt, paths),
            StmtKind::Goto(target) => {
                if matches!(self.kind, BodyKind::Subflow) {
                    // A sub-flow may not use `goto`, which is reported
                    // elsewhere; counting it as a return keeps the sub-flow's
                    // callers from more reports.
                    self.add_return(false);
                } else {
                    let jump = self.jump(target, stmt, &paths);
                    self.facts.gotos.push(jump);
                }
                None
            }
            StmtKind::Run(target) => self.run(target, stmt, paths),
            StmtKind::Return => {
                // Outside a sub-flow `return` is reported elsewhere; it ends
                // the path either way.
                if matches!(self.kind, BodyKind::Subflow) {
                    self.add_return(paths.silent);
                }
                None
            }
            StmtKind::Enqueue(queue, Some(overflow)) => {
                let end = self.arm(overflow, Some(paths), Context::Overflow);
                if let Some(end) = end {
                    self.report_overflow_end(queue, overflow, &end);
                }
                None
            }
            StmtKind::Enqueue(_, None)
            | StmtKind::Transfer(_)
            | StmtKind::Voicemail(_)
            | StmtKind::Hangup => None,
        }
    }

    fn jump(&self, target: &'a Ident, stmt: &Stmt, paths: &Paths) -> Jump<'a> {
        Jump {
            target,
            span: stmt.span,
            silent: paths.silent,
            context: self.context,
        }
    }

    fn run(&mut self, target: &'a Ident, stmt: &'a Stmt, paths: Paths) -> Flow {
        let jump = self.jump(target, stmt, &paths);
        self.facts.runs.push(jump);
        // An unknown sub-flow is reported elsewhere; treat it as returning.
        match self.subflows.get(target.name.as_str()) {
            Some(Returns::Never) => None,
            Some(Returns::AfterInput) => Some(Paths {
                silent: false,
                escapes: paths.escapes,
            }),
            Some(Returns::Silently) | None => Some(paths),
        }
    }

    // ------------------------------------------------------------ decisions

    fn if_stmt(
        &mut self,
        branches: &'a [(crate::syntax::ast::Expr, Block)],
        otherwise: Option<&'a Block>,
        stmt: &Stmt,
        paths: Paths,
    ) -> Flow {
        let mut out = None;
        for body in branches.iter().map(|(_, body)| body).chain(otherwise) {
            let entry = Paths::with_escape(paths.silent, Escape::Branch(closing(body)));
            out = merge(out, self.arm(body, Some(entry), self.context));
        }
        if otherwise.is_none() {
            let skip = Escape::IfWithoutElse(keyword_span(stmt));
            out = merge(out, Some(Paths::with_escape(paths.silent, skip)));
        }
        out
    }

    fn match_stmt(&mut self, arms: &'a [MatchArm], stmt: &Stmt, paths: Paths) -> Flow {
        let mut out = None;
        let mut catch_all: Option<Span> = None;
        for arm in arms {
            if let Some(catch_all) = catch_all {
                self.report_arm_after_else(arm, catch_all);
                return out;
            }
            let entry = Paths::with_escape(paths.silent, Escape::MatchArm(pattern_span(arm)));
            out = merge(out, self.arm(&arm.body, Some(entry), self.context));
            if let Pattern::Else(span) = arm.pattern {
                catch_all = Some(span);
            }
        }
        if catch_all.is_none() {
            let skip = Escape::MatchWithoutElse(keyword_span(stmt));
            out = merge(out, Some(Paths::with_escape(paths.silent, skip)));
        }
        out
    }

    // ------------------------------------------------------------ input

    fn menu(&mut self, menu: &'a Menu, stmt: &Stmt, paths: Paths) -> Flow {
        let mut out = None;
        for (key, body) in &menu.keys {
            // The caller pressed this key: the arm starts after input.
            let entry = Paths::with_escape(false, Escape::KeyArm(key.span, key.key));
            out = merge(out, self.arm(body, Some(entry), Context::Plain));
        }
        let retry = self.retry(&menu.failures, &paths);
        let exhausted = self.exhausted(&menu.failures, retry, Asker::Menu, stmt);
        merge(out, exhausted)
    }

    fn collect(&mut self, collect: &'a Collect, stmt: &Stmt, paths: Paths) -> Flow {
        // Valid digits continue after the collect, after input.
        let success = Some(Paths {
            silent: false,
            escapes: paths.escapes.clone(),
        });
        let retry = self.retry(&collect.failures, &paths);
        let exhausted = self.exhausted(&collect.failures, retry, Asker::Collect, stmt);
        merge(success, exhausted)
    }

    /// Returns the paths that reach the next attempt, or the `exhausted`
    /// case after the last one: an invalid entry or no input runs its arm
    /// when written, then asks again. An arm that always leaves cuts its
    /// case off.
    fn retry(&mut self, failures: &'a [FailureArm], paths: &Paths) -> Flow {
        let mut retry = None;
        for kind in [FailureKind::Invalid, FailureKind::NoInput] {
            let after = match failures.iter().find(|arm| arm.kind == kind) {
                Some(arm) => self.arm(&arm.body, Some(paths.clone()), Context::of(kind)),
                None => Some(paths.clone()),
            };
            retry = merge(retry, after);
        }
        retry
    }

    /// Returns the paths that continue after a menu or collect once every
    /// attempt has failed.
    fn exhausted(
        &mut self,
        failures: &'a [FailureArm],
        retry: Flow,
        asker: Asker,
        stmt: &Stmt,
    ) -> Flow {
        let arm = failures
            .iter()
            .find(|arm| arm.kind == FailureKind::Exhausted);
        match (arm, retry) {
            (Some(arm), Some(retry)) => {
                let escape = Escape::ExhaustedArm(failure_kind_span(arm), asker);
                let entry = Paths::with_escape(retry.silent, escape);
                self.arm(&arm.body, Some(entry), Context::Exhausted)
            }
            (Some(arm), None) => {
                self.report_unreachable_exhausted(arm, failures, asker);
                None
            }
            (None, retry) => retry.map(|retry| {
                Paths::with_escape(retry.silent, Escape::NoExhausted(keyword_span(stmt), asker))
            }),
        }
    }

    fn lookup(&mut self, lookup: &'a Lookup, paths: Paths) -> Flow {
        let failed = lookup
            .failures
            .iter()
            .find(|arm| arm.kind == FailureKind::Failed);
        let Some(failed) = failed else {
            return Some(paths);
        };
        let after_failure = self.arm(&failed.body, Some(paths.clone()), Context::Failed);
        merge(Some(paths), after_failure)
    }

    // ------------------------------------------------------------ reports

    fn report_end(&mut self, message: String, label: String, body: &Block, end: &Paths) {
        let diagnostic = report::path_end(self.file, message, label, body, &end.escapes);
        self.diagnostics.push(diagnostic);
    }

    fn report_overflow_end(&mut self, queue: &Ident, overflow: &Block, end: &Paths) {
        let in_subflow = matches!(self.kind, BodyKind::Subflow);
        let diagnostic = report::overflow_end(self.file, queue, overflow, &end.escapes, in_subflow);
        self.diagnostics.push(diagnostic);
    }

    fn report_unreachable(&mut self, stmt: &Stmt, previous: &Stmt) {
        let diagnostic = report::unreachable(self.file, stmt, previous, self.subflows);
        self.diagnostics.push(diagnostic);
    }

    fn report_arm_after_else(&mut self, arm: &MatchArm, catch_all: Span) {
        let diagnostic = report::arm_after_else(self.file, arm, catch_all);
        self.diagnostics.push(diagnostic);
    }

    fn report_unreachable_exhausted(
        &mut self,
        arm: &FailureArm,
        failures: &[FailureArm],
        asker: Asker,
    ) {
        let diagnostic = report::unreachable_exhausted(self.file, arm, failures, asker);
        self.diagnostics.push(diagnostic);
    }
}
