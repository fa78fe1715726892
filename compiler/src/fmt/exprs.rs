//! Expressions and literals as canonical text.
//!
//! The tree has no node for parentheses, so they are put back by
//! precedence, from loosest to tightest: `if ... then ... else`, `or`,
//! `and`, `not`, comparisons, `+ -`, `* / %`, unary `-`, then field access,
//! calls and literals. Numbers, durations, dates and times are printed as
//! written; texts are re-escaped.

use crate::diag::Span;
use crate::syntax::ast::{BinOp, DurationLit, Expr, ExprKind, StringLit, TextPart};

/// Binding strength of an expression. A child that binds more loosely than
/// its position requires is parenthesised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    IfThenElse,
    Or,
    And,
    Not,
    Compare,
    Sum,
    Product,
    Negate,
    Atom,
}

fn level(expr: &Expr) -> Level {
    match &expr.kind {
        ExprKind::If(..) => Level::IfThenElse,
        ExprKind::Binary(op, ..) => binary_level(*op),
        ExprKind::Not(_) => Level::Not,
        ExprKind::IsFound(_) | ExprKind::IsMissing(_) => Level::Compare,
        ExprKind::Neg(_) => Level::Negate,
        _ => Level::Atom,
    }
}

fn binary_level(op: BinOp) -> Level {
    match op {
        BinOp::Or => Level::Or,
        BinOp::And => Level::And,
        BinOp::Add | BinOp::Sub => Level::Sum,
        BinOp::Mul | BinOp::Div | BinOp::Rem => Level::Product,
        BinOp::Eq
        | BinOp::Ne
        | BinOp::Lt
        | BinOp::Le
        | BinOp::Gt
        | BinOp::Ge
        | BinOp::StartsWith => Level::Compare,
    }
}

/// Returns the minimum levels of a binary operator's left and right
/// operands. `or`, `and`, sums and products chain to the left, and a
/// comparison takes sums on both sides and does not chain.
fn operand_levels(op: BinOp) -> (Level, Level) {
    match binary_level(op) {
        Level::Or => (Level::Or, Level::And),
        Level::And => (Level::And, Level::Not),
        Level::Sum => (Level::Sum, Level::Product),
        Level::Product => (Level::Product, Level::Negate),
        _ => (Level::Sum, Level::Sum),
    }
}

/// Prints expressions, taking literals as written from `src`.
pub(super) struct ExprPrinter<'a> {
    src: &'a str,
}

impl<'a> ExprPrinter<'a> {
    /// Creates a printer over the source the spans point into.
    pub fn new(src: &'a str) -> Self {
        ExprPrinter { src }
    }

    /// Returns the source text of `span`, or `fallback` when the span is
    /// out of bounds.
    fn written(&self, span: Span, fallback: impl FnOnce() -> String) -> String {
        self.src
            .get(span.range())
            .map_or_else(fallback, str::to_string)
    }

    /// Returns the canonical text of an expression.
    pub fn expr(&self, expr: &Expr) -> String {
        self.at_level(expr, Level::IfThenElse)
    }

    /// Prints `expr` in a position that needs at least `min`.
    fn at_level(&self, expr: &Expr, min: Level) -> String {
        let text = self.bare(expr);
        if level(expr) < min {
            format!("({text})")
        } else {
            text
        }
    }

    fn bare(&self, expr: &Expr) -> String {
        match &expr.kind {
            ExprKind::Bool(value) => value.to_string(),
            ExprKind::Int(value) => self.written(expr.span, || value.to_string()),
            ExprKind::Percent(value) => self.written(expr.span, || format!("{value}%")),
            ExprKind::Duration(millis) => self.written(expr.span, || format!("{millis}ms")),
            ExprKind::Date(date) => {
                format!("{:04}-{:02}-{:02}", date.year, date.month, date.day)
            }
            ExprKind::Time(time) => format!("{:02}:{:02}", time.hour, time.minute),
            ExprKind::Text(parts) => self.text(parts),
            ExprKind::Name(name) => name.name.clone(),
            ExprKind::Field(base, field) => {
                format!("{}.{}", self.at_level(base, Level::Atom), field.name)
            }
            ExprKind::Call(name, args) => {
                let args: Vec<_> = args.iter().map(|a| self.expr(a)).collect();
                format!("{}({})", name.name, args.join(", "))
            }
            ExprKind::Not(operand) => format!("not {}", self.at_level(operand, Level::Not)),
            ExprKind::Neg(operand) => negate(&self.at_level(operand, Level::Negate)),
            ExprKind::Binary(op, left, right) => self.binary(*op, left, right),
            ExprKind::IsFound(operand) => {
                format!("{} is found", self.at_level(operand, Level::Sum))
            }
            ExprKind::IsMissing(operand) => {
                format!("{} is missing", self.at_level(operand, Level::Sum))
            }
            ExprKind::If(condition, then, otherwise) => format!(
                "if {} then {} else {}",
                self.expr(condition),
                self.expr(then),
                self.expr(otherwise)
            ),
        }
    }

    fn binary(&self, op: BinOp, left: &Expr, right: &Expr) -> String {
        let (left_min, right_min) = operand_levels(op);
        format!(
            "{} {} {}",
            self.at_level(left, left_min),
            op.as_str(),
            self.at_level(right, right_min)
        )
    }

    /// Returns a possibly interpolated text between quotes.
    fn text(&self, parts: &[TextPart]) -> String {
        let mut out = String::from("\"");
        for part in parts {
            match part {
                TextPart::Literal(literal) => escape_into(&mut out, literal),
                TextPart::Expr(expr) => {
                    out.push('{');
                    out.push_str(&self.expr(expr));
                    out.push('}');
                }
            }
        }
        out.push('"');
        out
    }

    /// Returns a duration as written, such as `1m30s`.
    pub fn duration(&self, duration: &DurationLit) -> String {
        self.written(duration.span, || format!("{}ms", duration.millis))
    }
}

/// Puts a space between two minus signs, so `- -1` does not read as `--1`.
fn negate(operand: &str) -> String {
    if operand.starts_with('-') {
        format!("- {operand}")
    } else {
        format!("-{operand}")
    }
}

/// Returns a string literal between quotes with canonical escapes.
pub(super) fn string(lit: &StringLit) -> String {
    let mut out = String::from("\"");
    escape_into(&mut out, &lit.value);
    out.push('"');
    out
}

/// Appends text with `"`, `\`, `{`, newline and tab escaped.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '{' => out.push_str("\\{"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use super::*;
    use crate::diag::FileId;
    use crate::syntax::ast::{Decl, StmtKind};

    /// Parses `let x = EXPR` and prints the expression back.
    fn reprint(expr: &str) -> String {
        let text = format!("on call {{\n  let x = {expr}\n}}\n");
        let (file, diagnostics) = crate::syntax::parse(&text, FileId(0));
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let Some(Decl::OnCall(handler)) = file.decls.first() else {
            panic!("no handler");
        };
        let Some(StmtKind::Let(_, value)) = handler.body.stmts.first().map(|s| &s.kind) else {
            panic!("no let");
        };
        ExprPrinter::new(&text).expr(value)
    }

    #[test]
    fn redundant_parentheses_are_dropped() {
        assert_eq!(reprint("((a))"), "a");
        assert_eq!(reprint("(a * b) + c"), "a * b + c");
        assert_eq!(reprint("(a - b) - c"), "a - b - c");
        assert_eq!(reprint("(a and b) or c"), "a and b or c");
        assert_eq!(reprint("not (a == b)"), "not a == b");
    }

    #[test]
    fn needed_parentheses_are_kept() {
        assert_eq!(reprint("a - (b - c)"), "a - (b - c)");
        assert_eq!(reprint("(a + b) * c"), "(a + b) * c");
        assert_eq!(reprint("a and (b or c)"), "a and (b or c)");
        assert_eq!(reprint("not (a and b)"), "not (a and b)");
        assert_eq!(reprint("(a == b) == c"), "(a == b) == c");
        assert_eq!(reprint("-(a + 1)"), "-(a + 1)");
        assert_eq!(reprint("(a + b).c"), "(a + b).c");
        assert_eq!(reprint("(x is found) == true"), "(x is found) == true");
    }

    #[test]
    fn if_expressions_inside_operators() {
        assert_eq!(
            reprint("1 + (if a then 1 else 2)"),
            "1 + (if a then 1 else 2)"
        );
        assert_eq!(
            reprint("if a then (b or c) else (d)"),
            "if a then b or c else d"
        );
        assert_eq!(reprint("f((if a then 1 else 2))"), "f(if a then 1 else 2)");
    }

    #[test]
    fn literals_as_written() {
        assert_eq!(reprint("1m30s + 007"), "1m30s + 007");
        assert_eq!(reprint("10%3"), "10 % 3");
        assert_eq!(reprint("2026-01-02"), "2026-01-02");
        assert_eq!(reprint("08:05"), "08:05");
        assert_eq!(reprint("- -1"), "- -1");
        assert_eq!(reprint("--1"), "- -1");
    }

    #[test]
    fn texts_are_reescaped() {
        assert_eq!(reprint(r#""a\"b\\c\{d}\}\n\t""#), r#""a\"b\\c\{d}}\n\t""#);
        assert_eq!(reprint(r#""n={ (n) + 1 }, \{x}""#), r#""n={n + 1}, \{x}""#);
        assert_eq!(reprint(r#""{f("in")}""#), r#""{f("in")}""#);
    }

    #[test]
    fn operators_and_calls() {
        assert_eq!(
            reprint("x starts with\"4\"and y is missing or not(z)"),
            "x starts with \"4\" and y is missing or not z"
        );
        assert_eq!(reprint("f( a,b ,c )"), "f(a, b, c)");
        assert_eq!(reprint("call . from"), "call.from");
    }
}
