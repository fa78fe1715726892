//! Variables: which names a scope creates, their types and their slots.
//!
//! The flow's handlers and steps share one scope; each sub-flow has its
//! own. A variable's type comes from what creates it: `collect` makes
//! digits, `lookup` a contact, `let` the type of its value. A `let` may use
//! variables created further down the file (a step written before the
//! handler that enters it), so types are worked out on demand and
//! remembered, which visits each `let` once.

use super::{Compiled, Generator, Reported};
use crate::bytecode::{Slot, SlotId, Type};
use crate::diag::{FileId, Span};
use crate::syntax::ast::{Block, Expr, FailureArm, StmtKind};
use std::collections::HashMap;

/// The statement that creates a variable.
#[derive(Clone, Copy)]
enum Origin<'p> {
    Let(&'p Expr),
    Collect { sensitive: bool },
    Lookup,
}

#[derive(Clone, Copy)]
enum State {
    Unknown,
    Resolving,
    Known(Type, SlotId),
    Failed,
}

struct Var<'p> {
    origin: Origin<'p>,
    span: Span,
    state: State,
}

/// The variables of the flow or of one sub-flow.
pub(super) struct Scope<'p> {
    /// The sub-flow's name; `None` for the flow's scope.
    pub subflow: Option<&'p str>,
    /// The file its declarations are in.
    pub file: FileId,
    vars: HashMap<&'p str, Var<'p>>,
    order: Vec<&'p str>,
}

impl<'p> Scope<'p> {
    fn declare(&mut self, name: &'p str, span: Span, origin: Origin<'p>) {
        if !self.vars.contains_key(name) {
            self.order.push(name);
            self.vars.insert(
                name,
                Var {
                    origin,
                    span,
                    state: State::Unknown,
                },
            );
        }
    }

    fn gather(&mut self, block: &'p Block) {
        for stmt in &block.stmts {
            match &stmt.kind {
                StmtKind::Let(name, value) => {
                    self.declare(&name.name, name.span, Origin::Let(value))
                }
                StmtKind::Menu(menu) => {
                    for (_, body) in &menu.keys {
                        self.gather(body);
                    }
                    self.gather_arms(&menu.failures);
                }
                StmtKind::Collect(collect) => {
                    let origin = Origin::Collect {
                        sensitive: collect.sensitive,
                    };
                    self.declare(&collect.var.name, collect.var.span, origin);
                    self.gather_arms(&collect.failures);
                }
                StmtKind::Lookup(lookup) => {
                    self.declare(&lookup.var.name, lookup.var.span, Origin::Lookup);
                    self.gather_arms(&lookup.failures);
                }
                StmtKind::If {
                    branches,
                    otherwise,
                } => {
                    for (_, body) in branches {
                        self.gather(body);
                    }
                    if let Some(body) = otherwise {
                        self.gather(body);
                    }
                }
                StmtKind::Match(_, arms) => {
                    for arm in arms {
                        self.gather(&arm.body);
                    }
                }
                StmtKind::Enqueue(_, Some(body)) => self.gather(body),
                _ => {}
            }
        }
    }

    fn gather_arms(&mut self, arms: &'p [FailureArm]) {
        for arm in arms {
            self.gather(&arm.body);
        }
    }

    /// Returns the names a variable could have been meant as.
    pub fn names(&self) -> impl Iterator<Item = &'p str> + Clone + '_ {
        self.order.iter().copied()
    }
}

impl<'p> Generator<'p> {
    /// Creates the scope of the given blocks, gives every variable a slot in
    /// the order they are written, and returns the scope's index.
    pub(super) fn open_scope(
        &mut self,
        subflow: Option<&'p str>,
        file: FileId,
        blocks: &[&'p Block],
    ) -> usize {
        let mut scope = Scope {
            subflow,
            file,
            vars: HashMap::new(),
            order: Vec::new(),
        };
        for block in blocks {
            scope.gather(block);
        }
        let names = scope.order.clone();
        let index = self.scopes.len();
        self.scopes.push(scope);
        for name in names {
            // Failures are reported where they happen.
            let _ = self.variable(index, name);
        }
        index
    }

    /// Returns the slot and type of a variable, or `None` when the scope
    /// creates no variable of that name.
    pub(super) fn variable(
        &mut self,
        scope: usize,
        name: &str,
    ) -> Option<Compiled<(SlotId, Type)>> {
        let var = self.scopes.get_mut(scope)?.vars.get_mut(name)?;
        match var.state {
            State::Known(ty, slot) => return Some(Ok((slot, ty))),
            State::Failed => return Some(Err(Reported)),
            State::Resolving => {
                var.state = State::Failed;
                let span = var.span;
                let message = format!("the type of `{name}` depends on itself");
                return Some(Err(self.fail(span, message, "defined in terms of itself")));
            }
            State::Unknown => var.state = State::Resolving,
        }
        let origin = var.origin;
        let (subflow, file) = self
            .scopes
            .get(scope)
            .map_or((None, self.file), |s| (s.subflow, s.file));
        let saved = std::mem::replace(&mut self.file, file);
        let ty = match origin {
            Origin::Let(value) => self.infer(scope, value),
            Origin::Collect { .. } => Ok(Type::Digits),
            Origin::Lookup => Ok(Type::Contact),
        };
        self.file = saved;
        let state = match ty {
            Ok(ty) => {
                let slot = self.add_slot(Slot {
                    name: match subflow {
                        Some(sub) => format!("{sub}.{name}"),
                        None => name.to_string(),
                    },
                    ty,
                    sensitive: matches!(origin, Origin::Collect { sensitive: true }),
                    hidden: false,
                });
                State::Known(ty, slot)
            }
            Err(Reported) => State::Failed,
        };
        if let Some(var) = self
            .scopes
            .get_mut(scope)
            .and_then(|s| s.vars.get_mut(name))
        {
            var.state = state;
        }
        Some(match state {
            State::Known(ty, slot) => Ok((slot, ty)),
            _ => Err(Reported),
        })
    }

    /// Adds a hidden integer slot named after the line of `span`.
    pub(super) fn hidden_counter(&mut self, span: Span) -> SlotId {
        let line = self.line(span);
        self.add_slot(Slot {
            name: format!("%attempts@{line}"),
            ty: Type::Int,
            sensitive: false,
            hidden: true,
        })
    }
}
