#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::{format, is_formatted};

/// Formats `text`, checks that the result is a fixed point, and returns it.
fn fmt(text: &str) -> String {
    let formatted = match format(text) {
        Ok(formatted) => formatted,
        Err(diagnostics) => panic!("cannot format: {diagnostics:#?}"),
    };
    assert_eq!(
        format(&formatted).as_deref(),
        Ok(formatted.as_str()),
        "not idempotent"
    );
    formatted
}

fn in_handler(body: &str) -> String {
    format!("on call {{\n{body}}}\n")
}

#[test]
fn trailing_comment_after_semicolon() {
    assert_eq!(
        fmt("on call { hangup; // bye\n}"),
        in_handler("  hangup // bye\n")
    );
}

#[test]
fn trailing_comment_after_parenthesis() {
    assert_eq!(
        fmt("on call {\n  let x = (a + b) // sum\n}\n"),
        in_handler("  let x = a + b // sum\n")
    );
}

#[test]
fn trailing_comment_belongs_to_last_statement_on_line() {
    assert_eq!(
        fmt("on call {\n  play \"a\"; play \"b\" // both\n}\n"),
        in_handler("  play \"a\"\n  play \"b\" // both\n")
    );
}

#[test]
fn comment_in_interpolation_moves_above() {
    assert_eq!(
        fmt("on call {\n  let t = \"x{a // inside\n}\"\n}\n"),
        in_handler("  // inside\n  let t = \"x{a}\"\n")
    );
}

#[test]
fn comment_after_closing_brace_of_if() {
    assert_eq!(
        fmt("on call {\n  if a { hangup } // done\n  return\n}\n"),
        in_handler("  if a {\n    hangup\n  } // done\n  return\n")
    );
}

#[test]
fn comment_between_brace_and_else_moves_into_else() {
    assert_eq!(
        fmt("on call {\n  if a {\n    hangup\n  }\n  // other\n  else {\n    return\n  }\n}\n"),
        in_handler("  if a {\n    hangup\n  } else {\n    // other\n    return\n  }\n")
    );
}

#[test]
fn blank_lines_between_comments() {
    assert_eq!(
        fmt("on call {\n\n  // one\n\n\n  // two\n  hangup\n\n  // last\n\n}\n"),
        in_handler("  // one\n\n  // two\n  hangup\n\n  // last\n")
    );
}

#[test]
fn comment_after_declaration_brace() {
    assert_eq!(
        fmt("queue q { // routing\n  strategy random\n}\n"),
        "queue q { // routing\n  strategy random\n}\n"
    );
}

#[test]
fn comment_inside_arm_header_moves_above_arm() {
    assert_eq!(
        fmt("on call {\n  menu {\n    1 // one\n    => hangup\n  }\n}\n"),
        in_handler("  menu {\n    // one\n    1 => hangup\n  }\n")
    );
}

#[test]
fn comment_in_empty_block_keeps_the_block_open() {
    assert_eq!(
        fmt("on call {\n  // later\n}\n"),
        in_handler("  // later\n")
    );
    assert_eq!(fmt("on call { // later\n}\n"), "on call { // later\n}\n");
}

#[test]
fn sensitive_stays_where_written() {
    assert_eq!(
        fmt("on call { collect pin { prompt \"p\" sensitive length 4 } }"),
        in_handler("  collect pin {\n    prompt \"p\"\n    sensitive\n    length 4\n  }\n")
    );
}

#[test]
fn length_and_levels_as_written() {
    assert_eq!(
        fmt("on call { collect a { length 6 } collect b { length 6..6 } }"),
        in_handler("  collect a {\n    length 6\n  }\n  collect b {\n    length 6..6\n  }\n")
    );
    assert_eq!(
        fmt("queue q { needs routers , billing >= 1 }"),
        "queue q {\n  needs routers, billing >= 1\n}\n"
    );
}

#[test]
fn semicolon_kept_before_starts_with_arm() {
    let text = "on call {\n  match x {\n    \"1\" => transfer a;\n    starts with \"4\" => hangup\n  }\n}\n";
    assert_eq!(fmt(text), text);
    let braced =
        "on call {\n  match x {\n    \"1\" => hangup;\n    starts with \"4\" => hangup\n  }\n}\n";
    assert_eq!(fmt(braced), braced.replace("hangup;", "hangup"));
}

#[test]
fn duplicate_option_points_at_both() {
    let text = "on call {\n  collect pin {\n    length 4\n    attempts 3\n    length 5\n  }\n}\n";
    let diagnostics = format(text).unwrap_err();
    assert_eq!(diagnostics.len(), 1);
    let mut starts: Vec<u32> = diagnostics[0].labels.iter().map(|l| l.span.start).collect();
    starts.sort_unstable();
    assert_eq!(starts, vec![30, 58]);
    assert!(diagnostics[0].message.contains("collect"));
}

#[test]
fn duplicate_lookup_timeout_is_rejected() {
    let text = "on call {\n  lookup c in crm by x {\n    timeout 1s\n    timeout 2s\n  }\n}\n";
    assert!(format(text).is_err());
}

#[test]
fn nothing_to_format() {
    assert_eq!(fmt(""), "");
    assert_eq!(fmt(" \n\n"), "");
    assert_eq!(fmt("// only\n\n\n// comments"), "// only\n\n// comments\n");
}

#[test]
fn is_formatted_reports_layout() {
    assert_eq!(is_formatted("flow a\n"), Ok(true));
    assert_eq!(is_formatted("flow a"), Ok(false));
    assert_eq!(is_formatted("flow  a\n"), Ok(false));
    assert!(is_formatted("flow").is_err());
}

#[test]
fn declarations_are_separated_by_one_blank_line() {
    assert_eq!(
        fmt("flow a\nstep s { hangup }\n\n\n\nstep t { hangup }"),
        "flow a\n\nstep s {\n  hangup\n}\n\nstep t {\n  hangup\n}\n"
    );
}

#[test]
fn comment_between_closing_parentheses() {
    let text = "on call {\n  collect d {\n    valid if (a) / (b <= (c()) // c\n)\n  }\n}\n";
    assert_eq!(
        fmt(text),
        in_handler("  collect d {\n    valid if a / (b <= c()) // c\n  }\n")
    );
}
