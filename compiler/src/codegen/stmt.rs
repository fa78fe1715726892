//! Statements and handlers: code blocks.

use super::expr::{UnitBuilder, is_digits, literal_text};
use super::{Compiled, Generator, Work};
use crate::bytecode::{
    BlockId, BlockKind, CmpOp, Const, ConstId, Input, Instr, Key, LineEntry, Position, ProbeId,
    ProbeOutcome, SlotId, Type, UnitOp,
};
use crate::config::HookKind;
use crate::diag::Span;
use crate::syntax::ast::{
    Block, Collect, Expr, ExprKind, FailureArm, FailureKind, Ident, Lookup, MatchArm, Menu,
    Pattern, Stmt, StmtKind, StringLit, TicketMode,
};

/// Default wait for a menu key or the first digit, in milliseconds.
const DEFAULT_INPUT_TIMEOUT_MS: u64 = 5_000;
/// Default wait between digits, in milliseconds.
const DEFAULT_INTERDIGIT_MS: u64 = 3_000;
/// Default CRM lookup timeout, in milliseconds.
const DEFAULT_LOOKUP_TIMEOUT_MS: u64 = 3_000;
/// Default length range of collected digits.
const DEFAULT_LENGTH: (u32, u32) = (1, 20);

/// The instructions of one block under construction.
#[derive(Default)]
pub(super) struct Code {
    instrs: Vec<Instr>,
    /// The latest position jumps were pointed at, and those jumps.
    label: Option<(usize, Vec<usize>)>,
    /// Line entries; their positions hold a [`crate::diag::FileId`] as the
    /// source until [`super::Generator::finish`] maps it to a source index.
    lines: Vec<LineEntry>,
}

/// A finished block: its instructions and line table.
pub(super) struct BlockCode {
    pub instrs: Vec<Instr>,
    pub lines: Vec<LineEntry>,
}

impl Code {
    /// Marks the next instruction as the start of a statement at `at`. A
    /// statement that emitted nothing loses its entry to the next one.
    pub fn mark(&mut self, at: Position) {
        let instr = self.here();
        if let Some(last) = self.lines.last_mut()
            && last.instr >= instr
        {
            *last = LineEntry { instr, at };
            return;
        }
        self.lines.push(LineEntry { instr, at });
    }

    pub fn emit(&mut self, instr: Instr) -> usize {
        self.instrs.push(instr);
        self.instrs.len() - 1
    }

    pub fn here(&self) -> u32 {
        self.instrs.len() as u32
    }

    /// True when the next instruction can be reached.
    pub fn falls_through(&self) -> bool {
        self.label_at(self.instrs.len()) || self.instrs.last().is_none_or(|i| !i.is_terminal())
    }

    fn label_at(&self, position: usize) -> bool {
        self.label.as_ref().is_some_and(|(at, _)| *at == position)
    }

    /// Emits a jump to be bound later, when the next instruction can be
    /// reached.
    pub fn jump_if_reachable(&mut self) -> Option<usize> {
        self.falls_through().then(|| self.emit(Instr::Jump(0)))
    }

    /// Points the jumps at these positions to the next instruction. When
    /// the last instruction is one of them, a jump to the next instruction,
    /// it is dropped, and the jumps that pointed past it are moved back.
    pub fn bind_all(&mut self, jumps: &[usize]) {
        let len = self.instrs.len();
        let mut bound = match self.label.take() {
            Some((at, earlier)) if at == len => earlier,
            _ => Vec::new(),
        };
        let last_is_bound_jump = len > 0
            && jumps.contains(&(len - 1))
            && matches!(self.instrs.last(), Some(Instr::Jump(_)));
        if last_is_bound_jump {
            self.instrs.pop();
        }
        let here = self.instrs.len();
        for entry in &mut self.lines {
            entry.instr = entry.instr.min(here as u32);
        }
        bound.extend(jumps.iter().copied().filter(|&at| at < here));
        for &at in &bound {
            if let Some(instr) = self.instrs.get_mut(at) {
                instr.set_target(here as u32);
            }
        }
        self.label = Some((here, bound));
    }

    pub fn bind(&mut self, jump: usize) {
        self.bind_all(&[jump]);
    }

    pub fn bind_opt(&mut self, jump: Option<usize>) {
        if let Some(jump) = jump {
            self.bind(jump);
        }
    }

    /// Returns the instructions, with `end` appended when the last one can
    /// fall through, and the line table: sorted, one entry per instruction
    /// at most, each inside the block.
    pub fn finish(mut self, end: Instr) -> BlockCode {
        if self.falls_through() {
            self.instrs.push(end);
        }
        let len = self.instrs.len() as u32;
        let mut lines: Vec<LineEntry> = Vec::with_capacity(self.lines.len());
        for entry in self.lines.into_iter().filter(|e| e.instr < len) {
            match lines.last_mut() {
                Some(last) if last.instr == entry.instr => *last = entry,
                _ => lines.push(entry),
            }
        }
        BlockCode {
            instrs: self.instrs,
            lines,
        }
    }
}

/// The retry loop of a menu or collect after a failed attempt.
struct Retry {
    /// Probes of the invalid, no-input and exhausted outcomes.
    probes: [ProbeId; 3],
    /// The jump taken when nothing was entered.
    no_input: usize,
    /// The hidden attempt counter.
    counter: SlotId,
    /// How many attempts in all.
    attempts: u32,
    /// Position of the prompt, where each attempt starts.
    ask: u32,
    /// For `collect`: the variable that gets empty digits once the attempts
    /// are used up.
    cleared: Option<SlotId>,
}

/// Returns the first failure arm of a kind.
fn arm(arms: &[FailureArm], kind: FailureKind) -> Option<&FailureArm> {
    arms.iter().find(|a| a.kind == kind)
}

impl<'p> Generator<'p> {
    /// Compiles `on call`, `after call` and every step of the flow.
    pub(super) fn compile_handlers(&mut self) {
        let flow = self.flow;
        let mut bodies: Vec<&'p Block> = Vec::new();
        bodies.extend(flow.on_call.map(|h| &h.body));
        bodies.extend(flow.after_call.map(|h| &h.body));
        bodies.extend(flow.steps.iter().map(|s| &s.body));
        let on_call = self.add_block(BlockKind::OnCall);
        let after_call = flow
            .after_call
            .map(|_| self.add_block(BlockKind::AfterCall));
        let mut steps = Vec::new();
        for step in &flow.steps {
            if !self.steps.contains_key(step.name.name.as_str()) {
                let id = self.add_block(BlockKind::Step(step.name.name.clone()));
                self.steps.insert(&step.name.name, id);
                steps.push((id, &step.body));
            }
        }
        let scope = self.open_scope(None, flow.file, &bodies);
        match flow.on_call {
            Some(handler) => {
                let mut code = Code::default();
                code.mark(self.position(handler.span));
                code.emit(Instr::Answer);
                self.block(&mut code, scope, &handler.body);
                self.set_block(on_call, code.finish(Instr::End));
            }
            None => {
                let span = flow.header.span;
                self.fail(span, "the flow has no `on call`", "flow without `on call`");
            }
        }
        if let (Some(id), Some(handler)) = (after_call, flow.after_call) {
            self.handler_block(id, scope, &handler.body, Instr::End);
        }
        for (id, body) in steps {
            self.handler_block(id, scope, body, Instr::End);
        }
    }

    fn handler_block(&mut self, id: BlockId, scope: usize, body: &'p Block, end: Instr) {
        let mut code = Code::default();
        self.block(&mut code, scope, body);
        self.set_block(id, code.finish(end));
    }

    /// Compiles the sub-flows and queues found while compiling, and those
    /// they reference in turn.
    pub(super) fn drain_work(&mut self) {
        while let Some(work) = self.work.pop() {
            match work {
                Work::Subflow { block, file, decl } => {
                    self.file = file;
                    let scope = self.open_scope(Some(&decl.name.name), file, &[&decl.body]);
                    self.handler_block(block, scope, &decl.body, Instr::Return);
                }
                Work::Queue {
                    id,
                    file,
                    decl,
                    scope,
                    overflow,
                } => {
                    self.file = file;
                    self.compile_queue(id, decl, scope, overflow);
                }
            }
        }
    }

    pub(super) fn block(&mut self, code: &mut Code, scope: usize, block: &'p Block) {
        for stmt in &block.stmts {
            // A failed statement was reported; the next one is still compiled
            // so that one run reports every problem.
            let _ = self.stmt(code, scope, stmt);
        }
    }

    pub(super) fn stmt(&mut self, code: &mut Code, scope: usize, stmt: &'p Stmt) -> Compiled<()> {
        code.mark(self.position(stmt.span));
        match &stmt.kind {
            StmtKind::Play(prompts) => {
                self.play(code, prompts);
            }
            StmtKind::Menu(menu) => self.menu(code, scope, menu, stmt.span)?,
            StmtKind::Collect(collect) => self.collect(code, scope, collect, stmt.span)?,
            StmtKind::Lookup(lookup) => self.lookup(code, scope, lookup, stmt.span)?,
            StmtKind::Let(name, value) | StmtKind::Set(name, value) => {
                self.assign(code, scope, name, value)?
            }
            StmtKind::If {
                branches,
                otherwise,
            } => self.if_stmt(code, scope, branches, otherwise.as_ref(), stmt.span)?,
            StmtKind::Match(subject, arms) => {
                self.match_stmt(code, scope, subject, arms, stmt.span)?
            }
            StmtKind::Goto(step) => self.goto(code, scope, step)?,
            StmtKind::Run(name) => {
                let block = self.subflow_block(name)?;
                code.emit(Instr::Run(block));
            }
            StmtKind::Return => {
                if self.scopes.get(scope).is_none_or(|s| s.subflow.is_none()) {
                    return Err(self.fail(
                        stmt.span,
                        "`return` outside a sub-flow",
                        "not in a sub-flow",
                    ));
                }
                code.emit(Instr::Return);
            }
            StmtKind::Enqueue(queue, otherwise) => {
                self.enqueue(code, scope, queue, otherwise.as_ref(), stmt.span)?
            }
            StmtKind::Transfer(target) => {
                self.text_value(code, scope, target)?;
                code.emit(Instr::Transfer);
            }
            StmtKind::Voicemail(mailbox) => {
                let name = self.constant(Const::Name(mailbox.value.clone()));
                code.emit(Instr::Voicemail(name));
            }
            StmtKind::Hangup => {
                code.emit(Instr::Hangup);
            }
            StmtKind::Record(mode) => {
                code.emit(Instr::Record(*mode));
            }
            StmtKind::Tag(tags) => {
                for tag in tags {
                    self.text_value(code, scope, tag)?;
                    code.emit(Instr::Tag);
                }
            }
            StmtKind::Timeline(entry) => {
                self.text_value(code, scope, entry)?;
                code.emit(Instr::Timeline);
            }
            StmtKind::Ticket(mode, subject) => {
                self.ticket(code, scope, *mode, subject.as_ref(), stmt.span)?
            }
            StmtKind::Survey(question, thanks) => {
                let question = self.prompt(question);
                let thanks = thanks.as_ref().map(|t| self.prompt(t));
                code.emit(Instr::Survey { question, thanks });
            }
            StmtKind::Webhook(hook) => {
                let name = self.hook(hook, HookKind::Webhook)?;
                code.emit(Instr::Webhook(name));
            }
            StmtKind::Notify(hook, message) => {
                let name = self.hook(hook, HookKind::Notify)?;
                self.text_value(code, scope, message)?;
                code.emit(Instr::Notify(name));
            }
        }
        Ok(())
    }

    fn prompt(&mut self, prompt: &StringLit) -> ConstId {
        self.constant(Const::Prompt(prompt.value.clone()))
    }

    fn play(&mut self, code: &mut Code, prompts: &[StringLit]) {
        if !prompts.is_empty() {
            let ids = prompts.iter().map(|p| self.prompt(p)).collect();
            code.emit(Instr::Play(ids));
        }
    }

    /// Pushes the value of an expression and returns its type: a literal or
    /// a variable directly, anything else through a unit.
    pub(super) fn value(
        &mut self,
        code: &mut Code,
        scope: usize,
        expr: &Expr,
        want: Option<Type>,
    ) -> Compiled<Type> {
        if let ExprKind::Bool(b) = expr.kind {
            code.emit(Instr::PushBool(b));
            return Ok(Type::Bool);
        }
        if let Some(constant) = self.literal_const(expr, want)? {
            let ty = constant.value_type().unwrap_or(Type::Text);
            let id = self.constant(constant);
            code.emit(Instr::PushConst(id));
            return Ok(ty);
        }
        if let ExprKind::Name(name) = &expr.kind
            && let Some(found) = self.variable(scope, &name.name)
        {
            let (slot, ty) = found?;
            code.emit(Instr::Load(slot));
            return Ok(ty);
        }
        let (unit, ty) = self.unit(scope, expr, want, false)?;
        code.emit(Instr::Eval(unit));
        Ok(ty)
    }

    /// Pushes an expression as a text-like value, converting it when needed.
    fn text_value(&mut self, code: &mut Code, scope: usize, expr: &Expr) -> Compiled<()> {
        let direct = literal_text(expr).is_some()
            || matches!(&expr.kind, ExprKind::Name(name)
                if matches!(self.variable(scope, &name.name), Some(Ok((_, ty))) if ty.is_text_like()));
        if direct {
            self.value(code, scope, expr, None)?;
        } else {
            let (unit, _) = self.unit(scope, expr, None, true)?;
            code.emit(Instr::Eval(unit));
        }
        Ok(())
    }

    /// Pushes a condition.
    fn condition(&mut self, code: &mut Code, scope: usize, expr: &Expr) -> Compiled<()> {
        // A variable alone still goes through a unit, so that traces show
        // the value it read (`because vip = true`).
        let ty = if matches!(expr.kind, ExprKind::Name(_)) {
            let (unit, ty) = self.unit(scope, expr, Some(Type::Bool), false)?;
            code.emit(Instr::Eval(unit));
            ty
        } else {
            self.value(code, scope, expr, Some(Type::Bool))?
        };
        if ty == Type::Bool {
            Ok(())
        } else {
            let message = format!("a condition must be a bool, not {}", ty.as_str());
            Err(self.fail(expr.span, message, "not a condition"))
        }
    }

    fn required_attempts(
        &mut self,
        attempts: Option<crate::syntax::ast::IntLit>,
        span: Span,
        what: &str,
    ) -> Compiled<u32> {
        match attempts {
            Some(attempts) => Ok(attempts.value),
            None => Err(self.fail(
                span,
                format!("the {what} has no `attempts`"),
                "attempts missing",
            )),
        }
    }

    fn check_arms(
        &mut self,
        arms: &[FailureArm],
        allowed: &[FailureKind],
        what: &str,
    ) -> Compiled<()> {
        for arm in arms {
            if !allowed.contains(&arm.kind) {
                let message = format!("a {what} has no `{}` arm", arm.kind.as_str());
                return Err(self.fail(arm.span, message, "arm not allowed here"));
            }
        }
        Ok(())
    }

    fn failure_arm(
        &mut self,
        code: &mut Code,
        scope: usize,
        arms: &'p [FailureArm],
        kind: FailureKind,
    ) {
        if let Some(arm) = arm(arms, kind) {
            self.block(code, scope, &arm.body);
        }
    }

    fn menu(&mut self, code: &mut Code, scope: usize, menu: &'p Menu, span: Span) -> Compiled<()> {
        let attempts = self.required_attempts(menu.attempts, span, "menu")?;
        let input_arms = [
            FailureKind::Invalid,
            FailureKind::NoInput,
            FailureKind::Exhausted,
        ];
        self.check_arms(&menu.failures, &input_arms, "menu")?;
        let mut keys = Vec::new();
        for (key, body) in &menu.keys {
            match Key::new(key.key) {
                Some(k) => keys.push((k, body)),
                None => {
                    return Err(self.fail(
                        key.span,
                        format!("`{}` is not a key", key.key),
                        "not a key",
                    ));
                }
            }
        }
        let at = self.position(span);
        let site = match menu.prompts.first() {
            Some(prompt) => format!("menu {:?}", prompt.value),
            None => String::from("menu"),
        };
        let key_probes: Vec<ProbeId> = keys
            .iter()
            .map(|(key, _)| self.probe(at, &site, ProbeOutcome::Key(*key)))
            .collect();
        let probes = self.retry_probes(at, &site);
        let counter = self.reset_counter(code, span);
        let ask = code.here();
        self.play(code, &menu.prompts);
        let timeout_ms = menu.timeout.map_or(DEFAULT_INPUT_TIMEOUT_MS, |t| t.millis);
        code.emit(Instr::CollectKey { timeout_ms });
        let no_input = code.emit(Instr::JumpIfNoInput(0));
        let key_jumps: Vec<_> = keys
            .iter()
            .map(|(key, body)| {
                (
                    code.emit(Instr::JumpIfKey {
                        key: *key,
                        target: 0,
                    }),
                    *body,
                )
            })
            .collect();
        code.emit(Instr::Pop);
        let retry = Retry {
            probes,
            no_input,
            counter,
            attempts,
            ask,
            cleared: None,
        };
        self.retry_arms(code, scope, &menu.failures, retry);
        let mut ends: Vec<usize> = code.jump_if_reachable().into_iter().collect();
        for ((jump, body), probe) in key_jumps.into_iter().zip(key_probes) {
            code.bind(jump);
            code.emit(Instr::Probe(probe));
            self.block(code, scope, body);
            ends.extend(code.jump_if_reachable());
        }
        code.bind_all(&ends);
        Ok(())
    }

    /// Adds the probes of the invalid, no-input and exhausted outcomes,
    /// which every menu and collect has whether or not it writes the arms.
    fn retry_probes(&mut self, at: Position, site: &str) -> [ProbeId; 3] {
        [
            self.probe(at, site, ProbeOutcome::Invalid),
            self.probe(at, site, ProbeOutcome::NoInput),
            self.probe(at, site, ProbeOutcome::Exhausted),
        ]
    }

    fn reset_counter(&mut self, code: &mut Code, span: Span) -> SlotId {
        let counter = self.hidden_counter(span);
        let zero = self.constant(Const::Int(0));
        code.emit(Instr::PushConst(zero));
        code.emit(Instr::Store(counter));
        counter
    }

    /// Emits the part menus and collects share, after an invalid input: the
    /// `invalid` arm, the `no input` arm (where the `no_input` jump lands),
    /// the count and the jump back to `ask`, and, once the attempts are used
    /// up, the `exhausted` arm.
    fn retry_arms(&mut self, code: &mut Code, scope: usize, arms: &'p [FailureArm], retry: Retry) {
        let [invalid, no_input, exhausted] = retry.probes;
        code.emit(Instr::Probe(invalid));
        self.failure_arm(code, scope, arms, FailureKind::Invalid);
        let to_retry = code.jump_if_reachable();
        code.bind(retry.no_input);
        code.emit(Instr::Probe(no_input));
        self.failure_arm(code, scope, arms, FailureKind::NoInput);
        code.bind_opt(to_retry);
        code.emit(Instr::Inc(retry.counter));
        code.emit(Instr::JumpIfBelow {
            slot: retry.counter,
            limit: retry.attempts,
            target: retry.ask,
        });
        code.emit(Instr::Probe(exhausted));
        if let Some(slot) = retry.cleared {
            let empty = self.constant(Const::Digits(String::new()));
            code.emit(Instr::PushConst(empty));
            code.emit(Instr::Store(slot));
        }
        self.failure_arm(code, scope, arms, FailureKind::Exhausted);
    }

    fn collect(
        &mut self,
        code: &mut Code,
        scope: usize,
        collect: &'p Collect,
        span: Span,
    ) -> Compiled<()> {
        let attempts = self.required_attempts(collect.attempts, span, "collect")?;
        let input_arms = [
            FailureKind::Invalid,
            FailureKind::NoInput,
            FailureKind::Exhausted,
        ];
        self.check_arms(&collect.failures, &input_arms, "collect")?;
        let Some(found) = self.variable(scope, &collect.var.name) else {
            return Err(self.fail(
                collect.var.span,
                "the collected variable has no slot",
                "no slot",
            ));
        };
        let (slot, _) = found?;
        let (min, max) = collect
            .length
            .map_or(DEFAULT_LENGTH, |(min, max)| (min.value, max.value));
        if min > max || max == 0 {
            let span = collect.length.map_or(span, |(a, b)| a.span.to(b.span));
            return Err(self.fail(
                span,
                format!("length {min}..{max} allows no input"),
                "empty range",
            ));
        }
        let terminator = match collect.terminator {
            None => Key::new('#'),
            Some(key) => Key::new(key.key),
        };
        let Some(terminator) = terminator else {
            return Err(self.fail(span, "the terminator is not a key", "not a key"));
        };
        let valid = self.validity_unit(scope, collect, slot, min, max, span)?;
        let at = self.position(span);
        let site = format!("collect {}", collect.var.name);
        let valid_probe = self.probe(at, &site, ProbeOutcome::Valid);
        let probes = self.retry_probes(at, &site);

        let counter = self.reset_counter(code, span);
        let ask = code.here();
        self.play(code, &collect.prompts);
        code.emit(Instr::CollectDigits {
            min,
            max,
            terminator,
            timeout_ms: collect
                .timeout
                .map_or(DEFAULT_INPUT_TIMEOUT_MS, |t| t.millis),
            interdigit_ms: collect
                .interdigit
                .map_or(DEFAULT_INTERDIGIT_MS, |t| t.millis),
            sensitive: collect.sensitive,
        });
        let no_input = code.emit(Instr::JumpIfNoInput(0));
        code.emit(Instr::Store(slot));
        code.emit(Instr::Eval(valid));
        let accepted = code.emit(Instr::JumpIf(0));
        let retry = Retry {
            probes,
            no_input,
            counter,
            attempts,
            ask,
            cleared: Some(slot),
        };
        self.retry_arms(code, scope, &collect.failures, retry);
        let exhausted_end = code.jump_if_reachable();
        code.bind(accepted);
        code.emit(Instr::Probe(valid_probe));
        code.bind_opt(exhausted_end);
        Ok(())
    }

    /// Builds the unit that accepts collected digits: the length is within
    /// `min..=max` and the `valid if` condition holds.
    fn validity_unit(
        &mut self,
        scope: usize,
        collect: &'p Collect,
        slot: SlotId,
        min: u32,
        max: u32,
        span: Span,
    ) -> Compiled<crate::bytecode::UnitId> {
        let mut unit = UnitBuilder::default();
        let mut exits = Vec::new();
        for (i, (bound, op)) in [(min, CmpOp::Ge), (max, CmpOp::Le)].into_iter().enumerate() {
            if i > 0 {
                exits.push(unit.op(UnitOp::JumpIfFalseOrPop(0), 1, 0));
            }
            unit.read(UnitOp::Load(slot), Input::Slot(slot));
            unit.op(UnitOp::Length, 1, 1);
            let bound = self.constant(Const::Int(i64::from(bound)));
            unit.op(UnitOp::Const(bound), 0, 1);
            unit.op(UnitOp::Compare { op, ty: Type::Int }, 2, 1);
        }
        if let Some(valid) = &collect.valid {
            exits.push(unit.op(UnitOp::JumpIfFalseOrPop(0), 1, 0));
            let ty = self.emit(&mut unit, scope, valid, Some(Type::Bool))?;
            if ty != Type::Bool {
                let message = format!("`valid if` needs a bool, not {}", ty.as_str());
                return Err(self.fail(valid.span, message, "not a condition"));
            }
        }
        for exit in exits {
            unit.bind(exit);
        }
        self.finish_unit(unit, Type::Bool, span)
    }

    fn lookup(
        &mut self,
        code: &mut Code,
        scope: usize,
        lookup: &'p Lookup,
        span: Span,
    ) -> Compiled<()> {
        self.check_arms(&lookup.failures, &[FailureKind::Failed], "lookup")?;
        let source = if lookup.source.name == "crm" {
            self.constant(Const::Name(String::from("crm")))
        } else {
            self.hook(&lookup.source, HookKind::Crm)?
        };
        let Some(found) = self.variable(scope, &lookup.var.name) else {
            return Err(self.fail(
                lookup.var.span,
                "the lookup's variable has no slot",
                "no slot",
            ));
        };
        let (slot, _) = found?;
        self.text_value(code, scope, &lookup.key)?;
        let timeout_ms = lookup
            .timeout
            .map_or(DEFAULT_LOOKUP_TIMEOUT_MS, |t| t.millis);
        let at = self.position(span);
        let site = format!("lookup {} in {}", lookup.var.name, lookup.source.name);
        let found = self.probe(at, &site, ProbeOutcome::Found);
        let missing = self.probe(at, &site, ProbeOutcome::Missing);
        let failed_probe = self.probe(at, &site, ProbeOutcome::Failed);
        let failed = code.emit(Instr::Lookup {
            source,
            timeout_ms,
            on_failure: 0,
        });
        code.emit(Instr::Store(slot));
        code.emit(Instr::ProbeContact {
            slot,
            found,
            missing,
        });
        let done = code.emit(Instr::Jump(0));
        code.bind(failed);
        code.emit(Instr::Store(slot));
        code.emit(Instr::Probe(failed_probe));
        self.failure_arm(code, scope, &lookup.failures, FailureKind::Failed);
        code.bind(done);
        Ok(())
    }

    fn hook(&mut self, hook: &Ident, kind: HookKind) -> Compiled<ConstId> {
        let hooks = &self.index.project.config.hooks;
        match hooks.get(&hook.name) {
            Some(found) if found.kind == kind => Ok(self.constant(Const::Name(hook.name.clone()))),
            Some(found) => {
                let message = format!(
                    "hook `{}` is a {} hook, not a {} hook",
                    hook.name,
                    found.kind.as_str(),
                    kind.as_str()
                );
                Err(self.fail(hook.span, message, "wrong kind of hook"))
            }
            None => {
                let message = format!("no hook is named `{}`", hook.name);
                Err(self.fail(hook.span, message, "unknown hook"))
            }
        }
    }

    fn assign(
        &mut self,
        code: &mut Code,
        scope: usize,
        name: &Ident,
        value: &Expr,
    ) -> Compiled<()> {
        let Some(found) = self.variable(scope, &name.name) else {
            if name.name == "language" {
                return self.set_language(code, scope, value);
            }
            let message = format!("`{}` is not a variable", name.name);
            return Err(self.fail(name.span, message, "unknown name"));
        };
        let (slot, slot_type) = found?;
        let ty = self.value(code, scope, value, Some(slot_type))?;
        if ty != slot_type {
            let message = format!(
                "`{}` holds {}, but the value is {}",
                name.name,
                slot_type.as_str(),
                ty.as_str()
            );
            return Err(self.fail(value.span, message, "wrong type"));
        }
        code.emit(Instr::Store(slot));
        Ok(())
    }

    fn set_language(&mut self, code: &mut Code, scope: usize, value: &Expr) -> Compiled<()> {
        if let Some(language) = literal_text(value) {
            let languages = &self.index.project.config.languages;
            if !languages.contains(&language) {
                let message = format!("language `{language}` is not declared in the config");
                return Err(self.fail(value.span, message, "unknown language"));
            }
        }
        self.text_value(code, scope, value)?;
        code.emit(Instr::SetLanguage);
        Ok(())
    }

    fn if_stmt(
        &mut self,
        code: &mut Code,
        scope: usize,
        branches: &'p [(Expr, Block)],
        otherwise: Option<&'p Block>,
        span: Span,
    ) -> Compiled<()> {
        let at = self.position(span);
        let site = match branches.first() {
            Some((condition, _)) => format!("if {}", self.site_text(condition.span)),
            None => String::from("if"),
        };
        let mut ends = Vec::new();
        for (n, (condition, body)) in branches.iter().enumerate() {
            if self.condition(code, scope, condition).is_err() {
                // Reported; the branches are still compiled to report
                // their problems too.
                code.emit(Instr::PushBool(false));
            }
            let skip = code.emit(Instr::JumpIfNot(0));
            let probe = self.probe(at, &site, ProbeOutcome::Then(n as u32));
            code.emit(Instr::Probe(probe));
            self.block(code, scope, body);
            ends.extend(code.jump_if_reachable());
            code.bind(skip);
        }
        let probe = self.probe(at, &site, ProbeOutcome::Else);
        code.emit(Instr::Probe(probe));
        if let Some(body) = otherwise {
            self.block(code, scope, body);
        }
        code.bind_all(&ends);
        Ok(())
    }

    fn match_stmt(
        &mut self,
        code: &mut Code,
        scope: usize,
        subject: &Expr,
        arms: &'p [MatchArm],
        span: Span,
    ) -> Compiled<()> {
        let at = self.position(span);
        let site = format!("match {}", self.site_text(subject.span));
        let ty = self.value(code, scope, subject, None)?;
        if !ty.is_text_like() {
            let message = format!("`match` works on text or digits, not {}", ty.as_str());
            return Err(self.fail(subject.span, message, "cannot match"));
        }
        let pattern_const = |this: &mut Self, text: &StringLit| {
            let value = text.value.clone();
            this.constant(if ty == Type::Digits && is_digits(&value) {
                Const::Digits(value)
            } else {
                Const::Text(value)
            })
        };
        let mut tested = Vec::new();
        let mut fallback = None;
        for (n, arm) in arms.iter().enumerate() {
            let mut jumps = Vec::new();
            match &arm.pattern {
                Pattern::Exact(values) => {
                    for value in values {
                        let value = pattern_const(self, value);
                        jumps.push(code.emit(Instr::JumpIfEqual { value, target: 0 }));
                    }
                }
                Pattern::StartsWith(prefix) => {
                    let prefix = pattern_const(self, prefix);
                    jumps.push(code.emit(Instr::JumpIfPrefix { prefix, target: 0 }));
                }
                Pattern::Else(_) => {
                    fallback = Some(&arm.body);
                    break;
                }
            }
            let probe = self.probe(at, &site, ProbeOutcome::Arm(n as u32));
            tested.push((jumps, &arm.body, probe));
        }
        code.emit(Instr::Pop);
        let probe = self.probe(at, &site, ProbeOutcome::NoMatch);
        code.emit(Instr::Probe(probe));
        if let Some(body) = fallback {
            self.block(code, scope, body);
        }
        let mut ends: Vec<usize> = code.jump_if_reachable().into_iter().collect();
        for (jumps, body, probe) in tested {
            code.bind_all(&jumps);
            code.emit(Instr::Probe(probe));
            self.block(code, scope, body);
            ends.extend(code.jump_if_reachable());
        }
        code.bind_all(&ends);
        Ok(())
    }

    fn goto(&mut self, code: &mut Code, scope: usize, step: &Ident) -> Compiled<()> {
        if self.scopes.get(scope).is_some_and(|s| s.subflow.is_some()) {
            let message = format!(
                "a sub-flow cannot `goto {}`; steps belong to a flow",
                step.name
            );
            return Err(self.fail(step.span, message, "goto in a sub-flow"));
        }
        match self.steps.get(step.name.as_str()) {
            Some(block) => {
                code.emit(Instr::Goto(*block));
                Ok(())
            }
            None => {
                let message = format!("flow `{}` has no step `{}`", self.flow.name, step.name);
                let reported = self.fail(step.span, message, "unknown step");
                let help =
                    crate::diag::unknown_name_help("step", &step.name, self.steps.keys().copied());
                if let Some(last) = self.errors.last_mut() {
                    last.help = Some(help);
                }
                Err(reported)
            }
        }
    }

    fn subflow_block(&mut self, name: &Ident) -> Compiled<BlockId> {
        if let Some(block) = self.subflows.get(name.name.as_str()) {
            return Ok(*block);
        }
        let Some(&(file, decl)) = self.index.subflows.get(name.name.as_str()) else {
            let message = format!("no sub-flow is named `{}`", name.name);
            return Err(self.fail(name.span, message, "unknown sub-flow"));
        };
        let block = self.add_block(BlockKind::Subflow(decl.name.name.clone()));
        self.subflows.insert(&decl.name.name, block);
        self.used_files.insert(file);
        self.work.push(Work::Subflow { block, file, decl });
        Ok(block)
    }

    fn enqueue(
        &mut self,
        code: &mut Code,
        scope: usize,
        queue: &Ident,
        otherwise: Option<&'p Block>,
        span: Span,
    ) -> Compiled<()> {
        let (id, overflow) = self.queue_id(queue, scope)?;
        let at = self.position(span);
        let probe = self.probe(
            at,
            &format!("enqueue {}", queue.name),
            ProbeOutcome::Overflow,
        );
        let jump = code.emit(Instr::Enqueue {
            queue: id,
            on_overflow: 0,
        });
        code.emit(Instr::End);
        code.bind(jump);
        code.emit(Instr::Probe(probe));
        match (otherwise, overflow) {
            (Some(body), _) => self.block(code, scope, body),
            (None, Some(block)) => {
                code.emit(Instr::Goto(block));
            }
            (None, None) => {
                let message = format!(
                    "queue `{}` has no `overflow` and this `enqueue` has no `else` arm",
                    queue.name
                );
                return Err(self.fail(span, message, "overflow not handled"));
            }
        }
        Ok(())
    }

    fn ticket(
        &mut self,
        code: &mut Code,
        scope: usize,
        mode: TicketMode,
        subject: Option<&Expr>,
        span: Span,
    ) -> Compiled<()> {
        if mode != TicketMode::Link {
            let Some(subject) = subject else {
                return Err(self.fail(span, "the ticket has no subject", "subject missing"));
            };
            self.text_value(code, scope, subject)?;
        }
        code.emit(Instr::Ticket(mode));
        Ok(())
    }
}
