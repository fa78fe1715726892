//! Statements of flows and sub-flows: where each may be written, the names
//! they refer to, and the facts along every path of the call.
//!
//! A flow is walked in two phases. The first works out which variables are
//! set, and which contacts are known to be found, when each step starts. A
//! step's entry state is the intersection of the states at every `goto`
//! into it, so steps are walked again until no entry state changes. The
//! second phase walks `on call`, every step and `after call` once with
//! those entry states and reports.

use super::decls::{Entry, Unit, keyword_span};
use super::exprs::{ExprCx, facts, is_key_text, plain_literal, with_article};
use super::names::{Env, Place};
use super::scope::{Bits, Origin, State, TypeSlot, Var, Vars};
use super::types::Type;
use super::{builtins, numbers, options, prompts};
use crate::config::HookKind;
use crate::diag::{Code, Diagnostic, FileId, Span, did_you_mean, unknown_name_help};
use crate::syntax::ast::{
    Block, Collect, Expr, FailureKind, Ident, Lookup, MatchArm, Menu, Named, Pattern, Queue,
    QueueOption, RecordMode, Stmt, StmtKind, StringLit,
};
use std::collections::{HashMap, HashSet, VecDeque};

/// Checks the handlers and steps of one flow file.
pub fn check_unit<'a>(env: &Env<'a>, unit: &Unit<'a>, out: &mut Vec<Diagnostic>) {
    let mut blocks: Vec<(u32, &'a Block)> = Vec::new();
    if let Some(handler) = unit.on_call {
        blocks.push((handler.span.start, &handler.body));
    }
    if let Some(handler) = unit.after_call {
        blocks.push((handler.span.start, &handler.body));
    }
    blocks.extend(unit.steps.iter().map(|step| (step.span.start, &step.body)));
    blocks.sort_by_key(|(start, _)| *start);
    let owner = unit.describe();
    let mut vars = collect_vars(unit.file, &owner, blocks.iter().map(|(_, b)| *b), out);
    vars.maybe = unit.broken_vars.clone();
    let len = vars.len();

    let mut walker = Walker::new(
        env,
        &vars,
        unit.file,
        Place::OnCall,
        &unit.step_index,
        &unit.broken_steps,
    );
    walker.entries = vec![State::unreachable(len); unit.steps.len()];
    walker.queued = vec![false; unit.steps.len()];

    // Phase one: entry states of the steps, to a fixpoint. A step is walked
    // again only when its entry state loses a fact, and it has at most two
    // per variable (set, found), so the loop ends.
    walker.recording = true;
    if let Some(handler) = unit.on_call {
        walker.place = Place::OnCall;
        walker.block(&handler.body, &mut State::start(len));
    }
    while let Some(i) = walker.pending.pop_front() {
        if let Some(flag) = walker.queued.get_mut(i) {
            *flag = false;
        }
        let (Some(step), Some(entry)) = (unit.steps.get(i), walker.entries.get(i)) else {
            continue;
        };
        let mut state = entry.clone();
        walker.place = Place::Step;
        walker.block(&step.body, &mut state);
    }

    // Phase two: report.
    walker.recording = false;
    walker.emit = true;
    if let Some(handler) = unit.on_call {
        walker.place = Place::OnCall;
        walker.block(&handler.body, &mut State::start(len));
    }
    for (i, step) in unit.steps.iter().enumerate() {
        let mut state = walker
            .entries
            .get(i)
            .cloned()
            .unwrap_or_else(|| State::unreachable(len));
        walker.place = Place::Step;
        walker.block(&step.body, &mut state);
    }
    if let Some(handler) = unit.after_call {
        // `after call` runs however the call ended. A variable the call did
        // not reach has the empty value of its type, so every variable is
        // set there, but no contact is known to be found.
        let mut state = State {
            set: Bits::full(len),
            found: Bits::empty(len),
        };
        walker.place = Place::AfterCall;
        walker.block(&handler.body, &mut state);
    }
    out.append(&mut walker.out);
    if !unit.has_broken_parts() {
        report_unused(&vars, out);
    }
}

/// Checks a sub-flow, which has variables of its own.
pub fn check_subflow<'a>(env: &Env<'a>, entry: &Entry<'a, Named>, out: &mut Vec<Diagnostic>) {
    let sub = entry.decl;
    let owner = format!("sub-flow `{}`", sub.name.name);
    let vars = collect_vars(entry.file, &owner, std::iter::once(&sub.body), out);
    let no_steps = HashMap::new();
    let no_broken = HashSet::new();
    let mut walker = Walker::new(
        env,
        &vars,
        entry.file,
        Place::Subflow,
        &no_steps,
        &no_broken,
    );
    walker.emit = true;
    walker.block(&sub.body, &mut State::start(vars.len()));
    out.append(&mut walker.out);
    report_unused(&vars, out);
}

/// Checks the priority and overflow of a queue that no flow enters, where
/// the names of a flow are not known.
pub fn check_unentered_queue<'a>(
    env: &Env<'a>,
    entry: &Entry<'a, Queue>,
    out: &mut Vec<Diagnostic>,
) {
    let vars = Vars::new(entry.file);
    let no_steps = HashMap::new();
    let no_broken = HashSet::new();
    let mut walker = Walker::new(env, &vars, entry.file, Place::OnCall, &no_steps, &no_broken);
    walker.emit = true;
    walker.lenient = true;
    walker.queue_options(entry, &State::start(0));
    out.append(&mut walker.out);
}

fn collect_vars<'a>(
    file: FileId,
    owner: &str,
    blocks: impl Iterator<Item = &'a Block>,
    out: &mut Vec<Diagnostic>,
) -> Vars<'a> {
    let mut vars = Vars::new(file);
    for block in blocks {
        collect_block(file, owner, block, &mut vars, out);
    }
    vars
}

fn collect_block<'a>(
    file: FileId,
    owner: &str,
    block: &'a Block,
    vars: &mut Vars<'a>,
    out: &mut Vec<Diagnostic>,
) {
    for stmt in &block.stmts {
        let mut declare =
            |name: &'a Ident, origin: Origin, ty: TypeSlot<'a>, out: &mut Vec<Diagnostic>| {
                declare(file, owner, vars, name, origin, ty, out);
            };
        match &stmt.kind {
            StmtKind::Let(name, value) => declare(name, Origin::Let, TypeSlot::Pending(value), out),
            StmtKind::Collect(collect) => {
                declare(
                    &collect.var,
                    Origin::Collect,
                    TypeSlot::Known(Type::Digits),
                    out,
                );
                for arm in &collect.failures {
                    collect_block(file, owner, &arm.body, vars, out);
                }
            }
            StmtKind::Lookup(lookup) => {
                declare(
                    &lookup.var,
                    Origin::Lookup,
                    TypeSlot::Known(Type::Contact),
                    out,
                );
                for arm in &lookup.failures {
                    collect_block(file, owner, &arm.body, vars, out);
                }
            }
            StmtKind::Menu(menu) => {
                for (_, body) in &menu.keys {
                    collect_block(file, owner, body, vars, out);
                }
                for arm in &menu.failures {
                    collect_block(file, owner, &arm.body, vars, out);
                }
            }
            StmtKind::If {
                branches,
                otherwise,
            } => {
                for (_, body) in branches {
                    collect_block(file, owner, body, vars, out);
                }
                if let Some(body) = otherwise {
                    collect_block(file, owner, body, vars, out);
                }
            }
            StmtKind::Match(_, arms) => {
                for arm in arms {
                    collect_block(file, owner, &arm.body, vars, out);
                }
            }
            StmtKind::Enqueue(_, Some(body)) => collect_block(file, owner, body, vars, out),
            _ => {}
        }
    }
}

fn declare<'a>(
    file: FileId,
    owner: &str,
    vars: &mut Vars<'a>,
    name: &'a Ident,
    origin: Origin,
    ty: TypeSlot<'a>,
    out: &mut Vec<Diagnostic>,
) {
    if builtins::RESERVED_NAMES.contains(&name.name.as_str()) {
        let help = if name.name == builtins::LANGUAGE {
            "change the call's language with `set language = \"en\"`"
        } else {
            "choose another name, such as `caller`"
        };
        out.push(
            Diagnostic::new(
                Code::DuplicateName,
                format!("`{}` is a built-in name and cannot be created", name.name),
            )
            .primary(file, name.span, "built-in name")
            .help(help),
        );
        return;
    }
    let var = Var {
        name: &name.name,
        span: name.span,
        origin,
        ty: std::cell::Cell::new(ty),
        used: std::cell::Cell::new(false),
    };
    if let Err(first) = vars.add(var) {
        let first_span = vars.var(first).map_or(name.span, |v| v.span);
        out.push(
            Diagnostic::new(
                Code::DuplicateName,
                format!("variable `{}` is created twice in {owner}", name.name),
            )
            .primary(file, name.span, "created again here")
            .secondary(file, first_span, "first created here")
            .help(format!(
                "a variable is created once per flow; change it with `set {} = ...`, or choose another name",
                name.name
            )),
        );
    }
}

fn report_unused(vars: &Vars<'_>, out: &mut Vec<Diagnostic>) {
    for var in &vars.list {
        if var.used.get() {
            continue;
        }
        let help = match var.origin {
            Origin::Let => format!("use `{}`, or remove `let {}`", var.name, var.name),
            Origin::Collect => format!(
                "use the digits in `{}`, for example in a `match`, or remove the `collect`",
                var.name
            ),
            Origin::Lookup => format!("use `{}`, or remove the `lookup`", var.name),
        };
        out.push(
            Diagnostic::new(
                Code::UnusedVariable,
                format!("variable `{}` is never used", var.name),
            )
            .primary(vars.file, var.span, "created here, never read")
            .help(help),
        );
    }
}

/// Walks the statements of one flow or sub-flow.
struct Walker<'c, 'a> {
    env: &'c Env<'a>,
    vars: &'c Vars<'a>,
    /// The file of the statements being walked; a queue's overflow is in
    /// the queue's file.
    file: FileId,
    place: Place,
    steps: &'c HashMap<&'a str, usize>,
    broken_steps: &'c HashSet<String>,
    /// Report problems; false while solving entry states.
    emit: bool,
    /// Record the state at each `goto` into the entry state of its step.
    recording: bool,
    /// Do not report unknown names: the names of the flow are not known.
    lenient: bool,
    entries: Vec<State>,
    pending: VecDeque<usize>,
    queued: Vec<bool>,
    /// Queues whose options are being checked at an `enqueue`, to stop at
    /// overflows that enter each other.
    queue_stack: Vec<&'a str>,
    out: Vec<Diagnostic>,
}

impl<'c, 'a> Walker<'c, 'a> {
    fn new(
        env: &'c Env<'a>,
        vars: &'c Vars<'a>,
        file: FileId,
        place: Place,
        steps: &'c HashMap<&'a str, usize>,
        broken_steps: &'c HashSet<String>,
    ) -> Self {
        Walker {
            env,
            vars,
            file,
            place,
            steps,
            broken_steps,
            emit: false,
            recording: false,
            lenient: false,
            entries: Vec::new(),
            pending: VecDeque::new(),
            queued: Vec::new(),
            queue_stack: Vec::new(),
            out: Vec::new(),
        }
    }

    fn unreachable(&self) -> State {
        State::unreachable(self.vars.len())
    }

    fn exprs<'s>(&'s mut self, state: &'s State) -> ExprCx<'s, 'a> {
        ExprCx {
            env: self.env,
            vars: self.vars,
            file: self.file,
            place: self.place,
            state: (!self.lenient).then_some(state),
            out: self.emit.then_some(&mut self.out),
            unset_reported: Vec::new(),
        }
    }

    /// Checks an expression and returns its type; `Unknown` while solving.
    fn expr(&mut self, expr: &Expr, state: &State) -> Type {
        if !self.emit {
            return Type::Unknown;
        }
        self.exprs(state).check(expr, &state.found)
    }

    fn expect(&mut self, expr: &Expr, state: &State, want: Type, role: &str) -> Type {
        if !self.emit {
            return Type::Unknown;
        }
        self.exprs(state).expect(expr, &state.found, want, role)
    }

    /// Checks a value that must be text; interpolation turns any value into
    /// text.
    fn text(&mut self, expr: &Expr, state: &State, role: &str) {
        self.expect(expr, state, Type::Text, role);
    }

    fn prompt(&mut self, lit: &StringLit) {
        if self.emit {
            prompts::used(self.env, self.file, &lit.value, lit.span);
        }
    }

    fn block(&mut self, block: &'a Block, state: &mut State) {
        for stmt in &block.stmts {
            self.stmt(stmt, state);
        }
    }

    fn stmt(&mut self, stmt: &'a Stmt, state: &mut State) {
        if self.emit {
            self.check_place(stmt);
        }
        match &stmt.kind {
            StmtKind::Play(names) => names.iter().for_each(|lit| self.prompt(lit)),
            StmtKind::Menu(menu) => self.menu(stmt.span, menu, state),
            StmtKind::Collect(collect) => self.collect(stmt.span, collect, state),
            StmtKind::Lookup(lookup) => self.lookup(stmt.span, lookup, state),
            StmtKind::Let(name, value) => {
                self.expr(value, state);
                if let Some(id) = self.vars.get(&name.name) {
                    state.assign(id);
                }
            }
            StmtKind::Set(name, value) => self.set(name, value, state),
            StmtKind::If {
                branches,
                otherwise,
            } => self.if_stmt(branches, otherwise.as_ref(), state),
            StmtKind::Match(subject, arms) => self.match_stmt(subject, arms, state),
            StmtKind::Goto(step) => self.goto(step, state),
            StmtKind::Run(sub) => self.run(sub),
            StmtKind::Voicemail(mailbox) => {
                self.mailbox(mailbox);
                *state = self.unreachable();
            }
            StmtKind::Return | StmtKind::Hangup => {
                *state = self.unreachable();
            }
            StmtKind::Enqueue(queue, otherwise) => {
                self.enqueue(stmt.span, queue, otherwise.as_ref(), state);
            }
            StmtKind::Transfer(destination) => {
                self.destination(destination, state);
                *state = self.unreachable();
            }
            StmtKind::Record(_) => {}
            StmtKind::Tag(values) => values
                .iter()
                .for_each(|value| self.text(value, state, "`tag`")),
            StmtKind::Timeline(value) => self.text(value, state, "`timeline`"),
            StmtKind::Ticket(_, subject) => {
                if let Some(subject) = subject {
                    self.text(subject, state, "the ticket subject");
                }
            }
            StmtKind::Survey(question, thanks) => {
                self.prompt(question);
                if let Some(thanks) = thanks {
                    self.prompt(thanks);
                }
            }
            StmtKind::Webhook(hook) => self.hook(hook, HookKind::Webhook, "webhook"),
            StmtKind::Notify(hook, message) => {
                self.hook(hook, HookKind::Notify, "notify");
                self.text(message, state, "`notify`");
            }
        }
    }

    /// Reports a statement written where it cannot run.
    fn check_place(&mut self, stmt: &Stmt) {
        let keyword = StmtKind::keyword(&stmt.kind);
        let span = keyword_span(stmt.span, keyword);
        let call_only = matches!(
            stmt.kind,
            StmtKind::Play(_)
                | StmtKind::Menu(_)
                | StmtKind::Collect(_)
                | StmtKind::Lookup(_)
                | StmtKind::Enqueue(..)
                | StmtKind::Transfer(_)
                | StmtKind::Voicemail(_)
                | StmtKind::Goto(_)
                | StmtKind::Run(_)
                | StmtKind::Hangup
        ) || matches!(stmt.kind, StmtKind::Record(mode) if mode != RecordMode::Off);
        let after_only = matches!(
            stmt.kind,
            StmtKind::Timeline(_)
                | StmtKind::Ticket(..)
                | StmtKind::Survey(..)
                | StmtKind::Webhook(_)
                | StmtKind::Notify(..)
        );
        let (message, help) = match self.place {
            Place::AfterCall if call_only => (
                format!("`{keyword}` is not allowed in `after call`"),
                if let StmtKind::Record(_) = stmt.kind {
                    String::from(
                        "only `record off`, which discards the recording, is allowed in `after call`",
                    )
                } else {
                    format!(
                        "the caller has hung up when `after call` runs; move `{keyword}` into `on call` or a step"
                    )
                },
            ),
            Place::OnCall | Place::Step | Place::Subflow if after_only => (
                format!("`{keyword}` is allowed only in `after call`"),
                format!(
                    "move `{keyword}` into `after call {{ ... }}`, which runs once the call has ended"
                ),
            ),
            Place::OnCall | Place::Step | Place::AfterCall
                if matches!(stmt.kind, StmtKind::Return) =>
            {
                (
                    String::from("`return` outside a sub-flow"),
                    String::from(
                        "end the call with `hangup`, `transfer`, `enqueue` or `voicemail`, or continue with `goto`",
                    ),
                )
            }
            Place::Subflow if matches!(stmt.kind, StmtKind::Goto(_)) => (
                String::from("`goto` is not allowed in a sub-flow"),
                String::from(
                    "a sub-flow cannot enter the steps of a flow; `return` and continue with `goto` after `run`",
                ),
            ),
            _ => return,
        };
        let label = match self.place {
            Place::AfterCall => "not allowed in `after call`",
            Place::Subflow => "not allowed in a sub-flow",
            Place::OnCall => "not allowed in `on call`",
            Place::Step => "not allowed in a step",
        };
        self.out.push(
            Diagnostic::new(Code::MisplacedStatement, message)
                .primary(self.file, span, label)
                .help(help),
        );
    }

    /// Walks the `invalid` and `no input` arms, after which a menu or
    /// collect prompts again, and returns the state at that next attempt. One pass is
    /// enough: an arm only sets variables or clears found contacts.
    fn retry_state(&mut self, arms: &'a [crate::syntax::ast::FailureArm], entry: &State) -> State {
        let mut retry = entry.clone();
        let (emit, recording) = (self.emit, self.recording);
        self.emit = false;
        self.recording = false;
        for arm in arms {
            if matches!(arm.kind, FailureKind::Invalid | FailureKind::NoInput) {
                let mut state = entry.clone();
                self.block(&arm.body, &mut state);
                retry.meet(&state);
            }
        }
        self.emit = emit;
        self.recording = recording;
        retry
    }

    fn menu(&mut self, span: Span, menu: &'a Menu, state: &mut State) {
        if self.emit {
            options::menu(self.file, span, menu, &mut self.out);
            menu.prompts.iter().for_each(|lit| self.prompt(lit));
        }
        let retry = self.retry_state(&menu.failures, state);
        let mut after = self.unreachable();
        for (_, body) in &menu.keys {
            let mut arm = retry.clone();
            self.block(body, &mut arm);
            after.meet(&arm);
        }
        let mut exhausted = false;
        for failure in &menu.failures {
            let mut arm = retry.clone();
            self.block(&failure.body, &mut arm);
            if failure.kind == FailureKind::Exhausted {
                exhausted = true;
                after.meet(&arm);
            }
        }
        if !exhausted {
            after.meet(&retry);
        }
        *state = after;
    }

    fn collect(&mut self, span: Span, collect: &'a Collect, state: &mut State) {
        if self.emit {
            options::collect(self.file, span, collect, &mut self.out);
            collect.prompts.iter().for_each(|lit| self.prompt(lit));
        }
        if let Some(id) = self.vars.get(&collect.var.name) {
            state.assign(id);
        }
        if let Some(valid) = &collect.valid {
            self.expect(valid, state, Type::Bool, "`valid if`");
        }
        let retry = self.retry_state(&collect.failures, state);
        let mut after = retry.clone();
        for failure in &collect.failures {
            let mut arm = retry.clone();
            self.block(&failure.body, &mut arm);
            if failure.kind == FailureKind::Exhausted {
                after.meet(&arm);
            }
        }
        *state = after;
    }

    fn lookup(&mut self, span: Span, lookup: &'a Lookup, state: &mut State) {
        if self.emit {
            options::lookup(self.file, span, lookup, &mut self.out);
            let ty = self.expr(&lookup.key, state);
            if !ty.is_textual() && ty != Type::Unknown {
                let message = format!(
                    "the lookup key needs text or digits, but `{}` is {}",
                    self.env.snippet(self.file, lookup.key.span),
                    with_article(ty)
                );
                self.out.push(
                    Diagnostic::new(Code::TypeMismatch, message)
                        .primary(
                            self.file,
                            lookup.key.span,
                            format!("this is {}", with_article(ty)),
                        )
                        .help("look contacts up by a number, such as `call.from`"),
                );
            }
            if lookup.source.name != "crm" || self.env.config.hooks.contains_key("crm") {
                self.hook(&lookup.source, HookKind::Crm, "lookup");
            }
        }
        if let Some(id) = self.vars.get(&lookup.var.name) {
            state.assign(id);
        }
        let mut after = state.clone();
        for failure in &lookup.failures {
            let mut arm = state.clone();
            self.block(&failure.body, &mut arm);
            after.meet(&arm);
        }
        *state = after;
    }

    fn set(&mut self, name: &Ident, value: &Expr, state: &mut State) {
        if name.name == builtins::LANGUAGE {
            self.expect(value, state, Type::Language, "`set language`");
            return;
        }
        if let Some(id) = self.vars.get(&name.name) {
            if self.emit {
                let want = self.exprs(state).var_type(id);
                self.expect(value, state, want, &format!("`set {}`", name.name));
            }
            state.assign(id);
            return;
        }
        self.expr(value, state);
        if !self.emit || self.vars.maybe.contains(&name.name) {
            return;
        }
        let (message, help) = if name.name == builtins::CALL {
            (
                String::from("`call` cannot be changed"),
                String::from(
                    "keep the value in a variable of your own, such as `let caller = call.from`",
                ),
            )
        } else {
            let help = match did_you_mean(&name.name, self.vars.names()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("create it first with `let {} = ...`", name.name),
            };
            (
                format!(
                    "cannot set `{}`: no variable of this name is created",
                    name.name
                ),
                help,
            )
        };
        self.out.push(
            Diagnostic::new(Code::NotAssignable, message)
                .primary(self.file, name.span, "not a variable")
                .help(help),
        );
    }

    fn if_stmt(
        &mut self,
        branches: &'a [(Expr, Block)],
        otherwise: Option<&'a Block>,
        state: &mut State,
    ) {
        let mut after = self.unreachable();
        // The facts when every condition so far was false.
        let mut rest = state.clone();
        for (condition, body) in branches {
            self.expect(condition, &rest, Type::Bool, "the condition of `if`");
            let facts = facts(self.vars, condition);
            let mut inner = rest.clone();
            facts
                .when_true
                .iter()
                .for_each(|&id| inner.found.insert(id));
            self.block(body, &mut inner);
            after.meet(&inner);
            facts
                .when_false
                .iter()
                .for_each(|&id| rest.found.insert(id));
        }
        if let Some(body) = otherwise {
            self.block(body, &mut rest);
        }
        after.meet(&rest);
        *state = after;
    }

    fn match_stmt(&mut self, subject: &Expr, arms: &'a [MatchArm], state: &mut State) {
        if self.emit {
            let ty = self.expr(subject, state);
            self.check_patterns(subject, ty, arms);
        }
        let mut after = self.unreachable();
        let mut has_else = false;
        for arm in arms {
            has_else |= matches!(arm.pattern, Pattern::Else(_));
            let mut inner = state.clone();
            self.block(&arm.body, &mut inner);
            after.meet(&inner);
        }
        if !has_else {
            after.meet(state);
        }
        *state = after;
    }

    fn check_patterns(&mut self, subject: &Expr, ty: Type, arms: &[MatchArm]) {
        if !matches!(
            ty,
            Type::Text | Type::Digits | Type::Language | Type::Unknown
        ) {
            let message = format!(
                "`match` needs text or digits, but `{}` is {}",
                self.env.snippet(self.file, subject.span),
                with_article(ty)
            );
            self.out.push(
                Diagnostic::new(Code::TypeMismatch, message)
                    .primary(
                        self.file,
                        subject.span,
                        format!("this is {}", with_article(ty)),
                    )
                    .help("use `if` with comparisons for other types"),
            );
            return;
        }
        for arm in arms {
            let literals: &[StringLit] = match &arm.pattern {
                Pattern::Exact(literals) => literals,
                Pattern::StartsWith(literal) => std::slice::from_ref(literal),
                Pattern::Else(_) => &[],
            };
            for literal in literals {
                if ty == Type::Digits && !is_key_text(&literal.value) {
                    self.out.push(
                        Diagnostic::new(
                            Code::TypeMismatch,
                            format!("pattern \"{}\" can never match digits", literal.value),
                        )
                        .primary(self.file, literal.span, "not digits")
                        .secondary(self.file, subject.span, "this is digits")
                        .help("digits hold only the keys 0-9, * and #"),
                    );
                }
                if ty == Type::Language {
                    let state = State::start(0);
                    self.exprs(&state)
                        .check_language(&literal.value, literal.span);
                }
            }
        }
    }

    fn goto(&mut self, step: &Ident, state: &mut State) {
        let target = if self.place == Place::Subflow {
            None
        } else {
            self.steps.get(step.name.as_str()).copied()
        };
        match target {
            Some(i) if self.recording => self.enter_step(i, state),
            Some(_) => {}
            None if self.emit && self.place != Place::Subflow => self.unknown_step(step),
            None => {}
        }
        *state = self.unreachable();
    }

    fn enter_step(&mut self, i: usize, state: &State) {
        let Some(entry) = self.entries.get_mut(i) else {
            return;
        };
        let before = entry.clone();
        entry.meet(state);
        if *entry != before
            && let Some(queued) = self.queued.get_mut(i)
            && !*queued
        {
            *queued = true;
            self.pending.push_back(i);
        }
    }

    fn unknown_step(&mut self, step: &Ident) {
        if self.broken_steps.contains(&step.name) {
            return;
        }
        let index = &self.env.index;
        let (message, help) = if index.subflows.get(&step.name).is_some() {
            (
                format!("unknown step `{}`", step.name),
                format!(
                    "`{}` is a sub-flow; enter it with `run {}`",
                    step.name, step.name
                ),
            )
        } else if index.queues.get(&step.name).is_some() {
            (
                format!("`{}` is a queue, not a step", step.name),
                format!("send the call to the queue with `enqueue {}`", step.name),
            )
        } else if index.schedules.get(&step.name).is_some() {
            (
                format!("`{}` is a schedule, not a step", step.name),
                format!(
                    "test the schedule with `if open({}) {{ ... }}`; `goto` names a step of this flow",
                    step.name
                ),
            )
        } else {
            (
                format!("unknown step `{}`", step.name),
                unknown_name_help("step", &step.name, self.steps.keys().copied()),
            )
        };
        self.out.push(
            Diagnostic::new(Code::UnknownStep, message)
                .primary(self.file, step.span, "no step of this name in this flow")
                .help(help),
        );
    }

    fn run(&mut self, sub: &Ident) {
        let subflows = &self.env.index.subflows;
        if let Some(entry) = subflows.get(&sub.name) {
            entry.used.set(true);
            return;
        }
        if !self.emit || subflows.is_broken(&sub.name) {
            return;
        }
        subflows.guess(&sub.name);
        let help = self.unknown_help("sub-flow", &sub.name, subflows.names());
        self.out.push(
            Diagnostic::new(
                Code::UnknownStep,
                format!("unknown sub-flow `{}`", sub.name),
            )
            .primary(self.file, sub.span, "no sub-flow of this name")
            .help(help),
        );
    }

    /// Returns the help for an unknown sub-flow or queue: `goto` when the
    /// name is a step, else did-you-mean.
    fn unknown_help<'n>(
        &self,
        kind: &str,
        name: &str,
        known: impl IntoIterator<Item = &'n str> + Clone,
    ) -> String {
        if self.steps.contains_key(name) {
            format!("`{name}` is a step; continue there with `goto {name}`")
        } else {
            unknown_name_help(kind, name, known)
        }
    }

    fn enqueue(
        &mut self,
        span: Span,
        queue: &Ident,
        otherwise: Option<&'a Block>,
        state: &mut State,
    ) {
        let queues = &self.env.index.queues;
        match queues.get(&queue.name) {
            Some(entry) => {
                entry.used.set(true);
                if self.emit {
                    self.check_overflow(entry, queue, otherwise.is_some());
                    self.queue_at_enqueue(entry, span, state);
                }
            }
            None if self.emit && !queues.is_broken(&queue.name) => {
                queues.guess(&queue.name);
                let help = self.unknown_help("queue", &queue.name, queues.names());
                self.out.push(
                    Diagnostic::new(
                        Code::UnknownQueue,
                        format!("unknown queue `{}`", queue.name),
                    )
                    .primary(self.file, queue.span, "no queue of this name")
                    .help(help),
                );
            }
            None => {}
        }
        match otherwise {
            Some(body) => {
                let mut arm = state.clone();
                self.block(body, &mut arm);
                *state = arm;
            }
            None => *state = self.unreachable(),
        }
    }

    fn check_overflow(&mut self, entry: &Entry<'a, Queue>, queue: &Ident, has_else: bool) {
        let has_overflow = entry
            .decl
            .options
            .iter()
            .any(|option| matches!(option, QueueOption::Overflow(..)));
        if has_overflow || has_else {
            return;
        }
        self.out.push(
            Diagnostic::new(
                Code::OverflowUnhandled,
                format!("queue `{}` has no `overflow` and this `enqueue` has no `else`", queue.name),
            )
            .primary(self.file, queue.span, "where does the caller go when the queue overflows?")
            .secondary(entry.file, entry.decl.name.span, "queue declared here")
            .help(format!(
                "add `overflow voicemail \"{}\"` to queue `{}`, or write `enqueue {} else {{ ... }}`",
                queue.name, queue.name, queue.name
            )),
        );
    }

    /// Checks a queue's priority and overflow where a call enters it: they
    /// run in the scope of the `enqueue`. A problem is reported once, at
    /// the first `enqueue` that shows it.
    fn queue_at_enqueue(&mut self, entry: &Entry<'a, Queue>, site: Span, state: &State) {
        let name = entry.decl.name.name.as_str();
        if self.queue_stack.contains(&name) {
            return;
        }
        if !self.queue_stack.is_empty() {
            // An overflow into another queue: the outermost `enqueue`
            // collects and reports.
            self.queue_stack.push(name);
            self.queue_options(entry, state);
            self.queue_stack.pop();
            return;
        }
        let outer = std::mem::take(&mut self.out);
        self.queue_stack.push(name);
        self.queue_options(entry, state);
        self.queue_stack.pop();
        let found = std::mem::replace(&mut self.out, outer);
        let file = self.file;
        for diagnostic in found {
            if !self.env.first_report(&diagnostic) {
                continue;
            }
            let diagnostic = if diagnostic
                .primary_label()
                .is_some_and(|l| l.file == entry.file)
            {
                diagnostic.secondary(file, site, format!("queue `{name}` entered here"))
            } else {
                diagnostic
            };
            self.out.push(diagnostic);
        }
    }

    fn queue_options(&mut self, entry: &Entry<'a, Queue>, state: &State) {
        let saved = self.file;
        self.file = entry.file;
        let role = format!("the priority of queue `{}`", entry.decl.name.name);
        for option in &entry.decl.options {
            match option {
                QueueOption::Priority(expr, _) => {
                    self.expect(expr, state, Type::Integer, &role);
                }
                QueueOption::Overflow(stmt, _) => {
                    let mut after = state.clone();
                    self.stmt(stmt, &mut after);
                }
                _ => {}
            }
        }
        self.file = saved;
    }

    fn mailbox(&mut self, mailbox: &StringLit) {
        if !self.emit || !mailbox.value.trim().is_empty() {
            return;
        }
        self.out.push(
            Diagnostic::new(Code::InvalidLiteral, "`voicemail` names no mailbox")
                .primary(self.file, mailbox.span, "empty mailbox name")
                .help("name the mailbox the message goes to, such as `voicemail \"support\"`"),
        );
    }

    fn destination(&mut self, destination: &Expr, state: &State) {
        let ty = self.expr(destination, state);
        if !self.emit {
            return;
        }
        if let Some(text) = plain_literal(destination) {
            // A computed destination is checked when the call runs.
            self.out.extend(numbers::check_destination(
                self.file,
                text,
                destination.span,
            ));
            return;
        }
        if ty.is_textual() || ty == Type::Unknown {
            return;
        }
        let message = format!(
            "`transfer` needs a number or SIP address as text or digits, but `{}` is {}",
            self.env.snippet(self.file, destination.span),
            with_article(ty)
        );
        self.out.push(
            Diagnostic::new(Code::TypeMismatch, message)
                .primary(
                    self.file,
                    destination.span,
                    format!("this is {}", with_article(ty)),
                )
                .help("write the destination as text, such as `transfer \"+38615550199\"`"),
        );
    }

    fn hook(&mut self, hook: &Ident, need: HookKind, statement: &str) {
        if !self.emit {
            return;
        }
        let hooks = &self.env.config.hooks;
        let of_kind = hooks
            .iter()
            .filter(|(_, h)| h.kind == need)
            .map(|(name, _)| name.as_str());
        let diagnostic = match hooks.get(&hook.name) {
            Some(found) if found.kind == need => return,
            None if !self.env.trust.missing_hook(self.env.config, &hook.name) => return,
            Some(found) => {
                let known: Vec<String> = of_kind.map(|n| format!("`{n}`")).collect();
                let others = if known.is_empty() {
                    String::new()
                } else {
                    format!(" such as {}", known.join(", "))
                };
                Diagnostic::new(
                    Code::UnknownHook,
                    format!(
                        "hook `{}` is of kind `{}`, but `{statement}` needs a hook of kind `{}`",
                        hook.name,
                        found.kind.as_str(),
                        need.as_str()
                    ),
                )
                .primary(self.file, hook.span, format!("a `{}` hook", found.kind.as_str()))
                .help(format!(
                    "use a hook of kind `{}`{others}, or change the `kind` of `{}` to `{}` in tok.yaml",
                    need.as_str(),
                    hook.name,
                    need.as_str()
                ))
            }
            None => {
                let candidates: Vec<&str> = if need == HookKind::Crm {
                    of_kind.chain(std::iter::once("crm")).collect()
                } else {
                    of_kind.collect()
                };
                Diagnostic::new(Code::UnknownHook, format!("unknown hook `{}`", hook.name))
                    .primary(
                        self.file,
                        hook.span,
                        "not declared under `hooks` in tok.yaml",
                    )
                    .help(unknown_name_help(
                        &format!("{} hook", need.as_str()),
                        &hook.name,
                        candidates.iter().copied(),
                    ))
            }
        };
        self.out.push(diagnostic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::exprs::plain_literal;

    #[test]
    fn plain_literal_of_digits_is_key_text() {
        let expr = Expr {
            kind: crate::syntax::ast::ExprKind::Text(vec![crate::syntax::ast::TextPart::Literal(
                String::from("12#"),
            )]),
            span: Span::default(),
        };
        assert_eq!(plain_literal(&expr), Some("12#"));
        assert!(is_key_text("12#"));
        assert!(!is_key_text("12a"));
    }
}
