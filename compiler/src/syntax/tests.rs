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
    let text = std::fs::read_to_string("/tmp/tok/support.flow").unwrap_or_default();
    let file = parse_ok(&text);
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
