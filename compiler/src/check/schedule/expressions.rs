//! Date and time literals in expressions, such as `today(office) ==
//! 2026-02-30`: the same F0402 check as in schedules.

use super::values::{TimeUse, check_date, check_time};
use crate::diag::{Diagnostic, FileId};
use crate::syntax::ast::{
    Block, Decl, Expr, ExprKind, File, QueueOption, Stmt, StmtKind, TextPart,
};

/// Reports impossible dates and times in every expression of a file.
pub(super) fn check_file(file: FileId, ast: &File, diagnostics: &mut Vec<Diagnostic>) {
    let mut walker = Walker { file, diagnostics };
    for decl in &ast.decls {
        match decl {
            Decl::OnCall(handler) | Decl::AfterCall(handler) => walker.block(&handler.body),
            Decl::Step(named) | Decl::Subflow(named) => walker.block(&named.body),
            Decl::Queue(queue) => {
                for option in &queue.options {
                    match option {
                        QueueOption::Priority(expr, _) => walker.expr(expr),
                        QueueOption::Overflow(stmt, _) => walker.stmt(stmt),
                        _ => {}
                    }
                }
            }
            Decl::Flow(_) | Decl::Hours(_) => {}
        }
    }
}

struct Walker<'d> {
    file: FileId,
    diagnostics: &'d mut Vec<Diagnostic>,
}

impl Walker<'_> {
    fn block(&mut self, block: &Block) {
        for stmt in &block.stmts {
            self.stmt(stmt);
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match &stmt.kind {
            StmtKind::Menu(menu) => {
                for (_, body) in &menu.keys {
                    self.block(body);
                }
                for arm in &menu.failures {
                    self.block(&arm.body);
                }
            }
            StmtKind::Collect(collect) => {
                if let Some(valid) = &collect.valid {
                    self.expr(valid);
                }
                for arm in &collect.failures {
                    self.block(&arm.body);
                }
            }
            StmtKind::Lookup(lookup) => {
                self.expr(&lookup.key);
                for arm in &lookup.failures {
                    self.block(&arm.body);
                }
            }
            StmtKind::Let(_, value)
            | StmtKind::Set(_, value)
            | StmtKind::Transfer(value)
            | StmtKind::Timeline(value)
            | StmtKind::Notify(_, value)
            | StmtKind::Ticket(_, Some(value)) => self.expr(value),
            StmtKind::Tag(values) => values.iter().for_each(|value| self.expr(value)),
            StmtKind::If {
                branches,
                otherwise,
            } => {
                for (condition, body) in branches {
                    self.expr(condition);
                    self.block(body);
                }
                if let Some(body) = otherwise {
                    self.block(body);
                }
            }
            StmtKind::Match(subject, arms) => {
                self.expr(subject);
                for arm in arms {
                    self.block(&arm.body);
                }
            }
            StmtKind::Enqueue(_, Some(overflow)) => self.block(overflow),
            StmtKind::Play(_)
            | StmtKind::Ticket(_, None)
            | StmtKind::Goto(_)
            | StmtKind::Run(_)
            | StmtKind::Return
            | StmtKind::Enqueue(_, None)
            | StmtKind::Voicemail(_)
            | StmtKind::Hangup
            | StmtKind::Record(_)
            | StmtKind::Survey(..)
            | StmtKind::Webhook(_) => {}
        }
    }

    fn expr(&mut self, expr: &Expr) {
        match &expr.kind {
            ExprKind::Date(date) => {
                check_date(self.file, date, self.diagnostics);
            }
            ExprKind::Time(time) => {
                check_time(self.file, time, TimeUse::Value, self.diagnostics);
            }
            ExprKind::Text(parts) => {
                for part in parts {
                    if let TextPart::Expr(inner) = part {
                        self.expr(inner);
                    }
                }
            }
            ExprKind::Field(base, _) => self.expr(base),
            ExprKind::Call(_, arguments) => {
                arguments.iter().for_each(|argument| self.expr(argument))
            }
            ExprKind::Not(inner)
            | ExprKind::Neg(inner)
            | ExprKind::IsFound(inner)
            | ExprKind::IsMissing(inner) => self.expr(inner),
            ExprKind::Binary(_, left, right) => {
                self.expr(left);
                self.expr(right);
            }
            ExprKind::If(condition, then, otherwise) => {
                self.expr(condition);
                self.expr(then);
                self.expr(otherwise);
            }
            ExprKind::Bool(_)
            | ExprKind::Int(_)
            | ExprKind::Percent(_)
            | ExprKind::Duration(_)
            | ExprKind::Name(_) => {}
        }
    }
}
