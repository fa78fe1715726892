#![allow(clippy::panic, clippy::indexing_slicing, clippy::unwrap_used)]

use super::ast::*;
use super::parse;
use crate::diag::FileId;

fn parse_ok(text: &str) -> File {
    let (file, diagnostics) = parse(text, FileId(0));
    assert!(
        diagnostics.is_empty(),
        "unexpected diagnostics: {diagnostics:#?}"
    );
    file
}

#[test]
fn parses_header_and_handler() {
    let file = parse_ok(
        "flow support answers \"+38615550100\", \"080 5550\"\n\non call {\n  play \"welcome\"\n  hangup\n}\n",
    );
    assert_eq!(file.decls.len(), 2);
    let Some(Decl::Flow(header)) = file.decls.first() else {
        panic!("no header")
    };
    assert_eq!(header.name.name, "support");
    assert_eq!(header.answers.len(), 2);
}

#[test]
fn reports_errors_in_several_declarations() {
    let text =
        "on call {\n  play 5\n}\n\nstep a {\n  hangup hangup )\n}\n\nstep b {\n  hangup\n}\n";
    let (file, diagnostics) = parse(text, FileId(0));
    assert_eq!(diagnostics.len(), 2, "{diagnostics:#?}");
    assert_eq!(file.decls.len(), 1);
}

#[test]
fn parses_sample_flow() {
    let file = parse_ok(include_str!("testdata/tour.flow"));
    assert_eq!(file.decls.len(), 6);
}

#[test]
fn keyword_prefix_is_a_name() {
    let file = parse_ok("on call {\n  let notes = 1\n  let order = notes\n  hangup\n}\n");
    assert_eq!(file.decls.len(), 1);
}

#[test]
fn keyword_rules_are_contiguous() {
    use super::{Rule, is_keyword_rule};
    assert!(is_keyword_rule(Rule::kw_after));
    assert!(is_keyword_rule(Rule::kw_not));
    assert!(is_keyword_rule(Rule::kw_wrapup));
    assert!(!is_keyword_rule(Rule::ident));
    assert!(!is_keyword_rule(Rule::word_char));
}

/// Renders an expression with every operation in brackets.
fn lisp(expr: &Expr) -> String {
    match &expr.kind {
        ExprKind::Name(name) => name.name.clone(),
        ExprKind::Int(value) => value.to_string(),
        ExprKind::Bool(value) => value.to_string(),
        ExprKind::Field(base, field) => format!("{}.{}", lisp(base), field.name),
        ExprKind::Not(inner) => format!("(not {})", lisp(inner)),
        ExprKind::Neg(inner) => format!("(- {})", lisp(inner)),
        ExprKind::IsFound(inner) => format!("(found {})", lisp(inner)),
        ExprKind::IsMissing(inner) => format!("(missing {})", lisp(inner)),
        ExprKind::Binary(op, left, right) => {
            format!("({} {} {})", op.as_str(), lisp(left), lisp(right))
        }
        ExprKind::If(c, a, b) => format!("(if {} {} {})", lisp(c), lisp(a), lisp(b)),
        ExprKind::Call(name, args) => {
            let args: Vec<String> = args.iter().map(lisp).collect();
            format!("({} {})", name.name, args.join(" "))
        }
        other => format!("{other:?}"),
    }
}

fn parse_expr(text: &str) -> String {
    let file = parse_ok(&format!("on call {{\n  let x = {text}\n  hangup\n}}\n"));
    let Some(Decl::OnCall(handler)) = file.decls.first() else {
        panic!("no handler")
    };
    let Some(StmtKind::Let(_, expr)) = handler.body.stmts.first().map(|s| &s.kind) else {
        panic!("no let")
    };
    lisp(expr)
}

#[test]
fn operators_group_by_precedence() {
    assert_eq!(parse_expr("a or b and c"), "(or a (and b c))");
    assert_eq!(parse_expr("not a == b"), "(not (== a b))");
    assert_eq!(parse_expr("1 + 2 * 3 - 4"), "(- (+ 1 (* 2 3)) 4)");
    assert_eq!(parse_expr("- a.b * 2"), "(* (- a.b) 2)");
    assert_eq!(parse_expr("c is found and c.vip"), "(and (found c) c.vip)");
    assert_eq!(parse_expr("not c is missing"), "(not (missing c))");
    assert_eq!(
        parse_expr("x starts with \"4\" or y"),
        "(or (starts with x Text([Literal(\"4\")])) y)"
    );
    assert_eq!(parse_expr("(1 + 2) * 3"), "(* (+ 1 2) 3)");
    assert_eq!(parse_expr("if a then 1 else 2"), "(if a 1 2)");
    assert_eq!(
        parse_expr("open(office) and not f(1, b.c)"),
        "(and (open office) (not (f 1 b.c)))"
    );
    assert_eq!(parse_expr("a - -1"), "(- a (- 1))");
}

#[test]
fn spans_end_at_the_last_token() {
    let text = "on call {\n  play \"a//b\" // comment\n  tag \"x {\"//\"}\"  \n  hangup\n}\n\
                hours h in \"UTC\" {\n  fri  08:00..09:00  \n  holiday 2026-01-01\n}\n";
    let file = parse_ok(text);
    let written = |span: crate::diag::Span| text.get(span.range()).unwrap_or_default();
    let stmts: Vec<&str> = match file.decls.first() {
        Some(Decl::OnCall(handler)) => handler.body.stmts.iter().map(|s| written(s.span)).collect(),
        _ => Vec::new(),
    };
    assert_eq!(stmts, ["play \"a//b\"", "tag \"x {\"//\"}\"", "hangup"]);
    let rules = match file.decls.get(1) {
        Some(Decl::Hours(hours)) => hours.rules.clone(),
        _ => Vec::new(),
    };
    let mut parts = Vec::new();
    for rule in &rules {
        match rule {
            HoursRule::Weekly { days, ranges, .. } => {
                parts.extend(days.iter().map(|d| written(d.span)));
                parts.extend(ranges.iter().map(|r| written(r.span)));
            }
            HoursRule::Holiday { dates, .. } => parts.extend(dates.iter().map(|d| written(d.span))),
            HoursRule::Exception { .. } => {}
        }
    }
    assert_eq!(parts, ["fri", "08:00..09:00", "2026-01-01"]);
}

#[test]
fn starts_with_pattern_after_expression_arm() {
    let file = parse_ok(
        "on call {\n  match x {\n    \"1\" => transfer a\n    starts with \"4\" => hangup\n    else => set b = c starts with \"5\"\n  }\n}\n",
    );
    let Some(Decl::OnCall(handler)) = file.decls.first() else {
        panic!("no handler")
    };
    let Some(StmtKind::Match(_, arms)) = handler.body.stmts.first().map(|s| &s.kind) else {
        panic!("no match")
    };
    assert_eq!(arms.len(), 3);
    assert!(matches!(arms[1].pattern, Pattern::StartsWith(_)));
}

#[test]
fn error_at_end_of_file_points_inside_the_text() {
    let text = "on call {\n  play \"a\"\n  hangup\n}\nstep s {\n  goto";
    let (_, diagnostics) = parse(text, FileId(0));
    assert!(!diagnostics.is_empty());
    for diagnostic in &diagnostics {
        for label in &diagnostic.labels {
            assert!(label.span.end as usize <= text.len(), "{label:?}");
        }
    }
}
