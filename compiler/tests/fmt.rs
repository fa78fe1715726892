//! The canonical formatter: golden outputs for each construct, comments,
//! idempotence, and a property test over randomly laid out flows checking
//! that formatting keeps the syntax tree and every comment.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use flowc::diag::{Code, FileId, SourceMap, render_human};
use flowc::fmt::{comments, format, format_file, is_formatted, spanless_debug};
use flowc::syntax::parse;
use proptest::prelude::*;

const SUPPORT: &str = include_str!("fmt/support.flow");
const SUPPORT_FORMATTED: &str = include_str!("fmt/support.formatted.flow");

/// Input and expected output, one pair per construct.
const GOLDEN: &[(&str, &str, &str)] = &[
    (
        "flow header",
        "flow   support answers \"+386 1\" ,\"080\"\n",
        "flow support answers \"+386 1\", \"080\"\n",
    ),
    ("bare flow header", "flow x", "flow x\n"),
    (
        "hours",
        "hours office in \"Europe/Ljubljana\"{mon..fri , sat 08:00 .. 12:00,13:00..17:00\n\
         fri 22:00..02:00   overnight\nmon..mon 10:00..11:00\n\
         holiday 2026-12-25,2026-12-31 ..2027-01-01\non 2026-12-24 08:00..12:00 on 2026-12-30 closed}",
        "hours office in \"Europe/Ljubljana\" {\n  mon..fri, sat 08:00..12:00, 13:00..17:00\n  \
         fri 22:00..02:00 overnight\n  mon..mon 10:00..11:00\n  \
         holiday 2026-12-25, 2026-12-31..2027-01-01\n  on 2026-12-24 08:00..12:00\n  \
         on 2026-12-30 closed\n}\n",
    ),
    (
        "queue options in written order",
        "queue technical {\nwrapup 30s strategy   longest_idle\nneeds language,routers>=2, \"two words\" ,billing\n\
         after 60s relax routers >= 1\nafter 2m drop \"two words\"\nsticky for 20s\n\
         priority (if (customer is found) and customer.vip then 100 else 0)\ntarget 99.5% within 20s\n\
         announce position and wait every 45s announce position announce wait\n\
         announce \"tech-tip\" every 1m30s\nmusic \"hold\"\ncallback after 60s callback after 2m key #\n\
         max wait 15m max callers 20\noverflow enqueue sales else{voicemail \"sales\"}\n}",
        "queue technical {\n  wrapup 30s\n  strategy longest_idle\n  \
         needs language, routers >= 2, \"two words\", billing\n  after 60s relax routers >= 1\n  \
         after 2m drop \"two words\"\n  sticky for 20s\n  \
         priority if customer is found and customer.vip then 100 else 0\n  \
         target 99.5% within 20s\n  announce position and wait every 45s\n  announce position\n  \
         announce wait\n  announce \"tech-tip\" every 1m30s\n  music \"hold\"\n  \
         callback after 60s\n  callback after 2m key #\n  max wait 15m\n  max callers 20\n  \
         overflow enqueue sales else {\n    voicemail \"sales\"\n  }\n}\n",
    ),
    (
        "simple statements",
        "on call{play \"a\",\"b\" let x=1 set x = x+1 goto s run f return transfer \"sip:a@b\"\n\
         voicemail \"box\" record on record off record pause record resume tag \"a\" ,x timeline \"t\"\n\
         ticket link ticket create \"c\" ticket link or create \"d\" survey \"q\" survey \"q\",\"t\"\n\
         webhook orders notify slack \"m\" enqueue q hangup}",
        "on call {\n  play \"a\", \"b\"\n  let x = 1\n  set x = x + 1\n  goto s\n  run f\n  return\n  \
         transfer \"sip:a@b\"\n  voicemail \"box\"\n  record on\n  record off\n  record pause\n  \
         record resume\n  tag \"a\", x\n  timeline \"t\"\n  ticket link\n  ticket create \"c\"\n  \
         ticket link or create \"d\"\n  survey \"q\"\n  survey \"q\", \"t\"\n  webhook orders\n  \
         notify slack \"m\"\n  enqueue q\n  hangup\n}\n",
    ),
    (
        "semicolons",
        "step s {;play \"a\"; play \"b\";;\n hangup;}",
        "step s {\n  play \"a\"\n  play \"b\"\n  hangup\n}\n",
    ),
    (
        "if else chain",
        "subflow f { if a==1{play \"a\"}else if a==2 {play \"b\"} else{ return } }",
        "subflow f {\n  if a == 1 {\n    play \"a\"\n  } else if a == 2 {\n    play \"b\"\n  } else {\n    \
         return\n  }\n}\n",
    ),
    (
        "match keeps braces as written",
        "after call { match x { \"1\",\"2\" => hangup starts with \"4\" => { tag \"four\" }\n\
         else=>enqueue q else hangup } }",
        "after call {\n  match x {\n    \"1\", \"2\" => hangup\n    starts with \"4\" => {\n      \
         tag \"four\"\n    }\n    else => enqueue q else hangup\n  }\n}\n",
    ),
    (
        "menu in written order with nesting",
        "on call { menu { 1 => menu { prompt \"sub\" * => return } timeout 5s prompt \"a\",\"b\"\n\
         # => { hangup } attempts 3 no   input => play \"n\" invalid => play \"i\" exhausted => hangup } }",
        "on call {\n  menu {\n    1 => menu {\n      prompt \"sub\"\n      * => return\n    }\n    \
         timeout 5s\n    prompt \"a\", \"b\"\n    # => {\n      hangup\n    }\n    attempts 3\n    \
         no input => play \"n\"\n    invalid => play \"i\"\n    exhausted => hangup\n  }\n}\n",
    ),
    (
        "collect in written order",
        "on call { collect order { sensitive valid if order starts with \"4\" length 6..8\n\
         terminator * interdigit 3s timeout 10s attempts 3 prompt \"enter\"\n\
         exhausted => hangup } }",
        "on call {\n  collect order {\n    sensitive\n    valid if order starts with \"4\"\n    \
         length 6..8\n    terminator *\n    interdigit 3s\n    timeout 10s\n    attempts 3\n    \
         prompt \"enter\"\n    exhausted => hangup\n  }\n}\n",
    ),
    (
        "collect options",
        "on call { collect pin { length 4 terminator # sensitive prompt \"pin\" } }",
        "on call {\n  collect pin {\n    length 4\n    terminator #\n    sensitive\n    \
         prompt \"pin\"\n  }\n}\n",
    ),
    (
        "lookup",
        "on call { lookup customer in crm by call.from { failed => tag \"down\" timeout 800ms } }",
        "on call {\n  lookup customer in crm by call.from {\n    failed => tag \"down\"\n    \
         timeout 800ms\n  }\n}\n",
    ),
    (
        "empty blocks",
        "queue q {\n}\non call {   }\nstep s {\n\n}\non call { menu {} }",
        "queue q {}\n\non call {}\n\nstep s {}\n\non call {\n  menu {}\n}\n",
    ),
    (
        "expressions",
        "on call { let a = ((1 + 2)) * 3 - -x let b = not (a and b) or (c and d)\n\
         let c = f( x , (y) ) . z let d = (a - b) - (c - d) let e = 1 + (if a then 2 else 3)\n\
         let g = (not a) == (b is missing) let h = 2026-01-02 + 08:05 + 1h30m + 12 % 5 + 007 }",
        "on call {\n  let a = (1 + 2) * 3 - -x\n  let b = not (a and b) or c and d\n  \
         let c = f(x, y).z\n  let d = a - b - (c - d)\n  let e = 1 + (if a then 2 else 3)\n  \
         let g = (not a) == (b is missing)\n  let h = 2026-01-02 + 08:05 + 1h30m + 12 % 5 + 007\n}\n",
    ),
    (
        "strings re-escaped",
        "on call { play \"a\\\"b\", \"c\\\\d\", \"e\\{f}\", \"g\\}h\" let t = \"x{ n + 1 }y\\n\\t\" }",
        "on call {\n  play \"a\\\"b\", \"c\\\\d\", \"e\\{f}\", \"g}h\"\n  let t = \"x{n + 1}y\\n\\t\"\n}\n",
    ),
    (
        "blank lines",
        "\n\n\nflow a\n\n\n\non call {\n\n\n  play \"a\"\n\n\n\n  play \"b\"\n  play \"c\"\n\n\n}\nstep s {\nhangup\n}\n\n\n",
        "flow a\n\non call {\n  play \"a\"\n\n  play \"b\"\n  play \"c\"\n}\n\nstep s {\n  hangup\n}\n",
    ),
    (
        "crlf and trailing spaces",
        "on call {  \r\n  hangup   \r\n}   \r\n",
        "on call {\n  hangup\n}\n",
    ),
    ("empty file", "\n\n  \n", ""),
];

/// Comment placement: input and expected output.
const COMMENTS: &[(&str, &str, &str)] = &[
    (
        "leading and trailing",
        "// head\nflow a // named\n// lead\non call { // open\n  // before play\n  play \"a\" // after play\n}\n",
        "// head\nflow a // named\n\n// lead\non call { // open\n  // before play\n  play \"a\" // after play\n}\n",
    ),
    (
        "end of block and file",
        "on call {\n  hangup\n  // last words\n}\n// the end\n",
        "on call {\n  hangup\n  // last words\n}\n// the end\n",
    ),
    (
        "blank line before a comment is kept",
        "// licence\n\n// about a\nflow a\n\n\n// end\n",
        "// licence\n\n// about a\nflow a\n\n// end\n",
    ),
    (
        "comment inside a line moves above it",
        "on call {\n  let x = 1 + // one\n    2 // two\n}\n",
        "on call {\n  // one\n  let x = 1 + 2 // two\n}\n",
    ),
    (
        "comment inside a header moves above it",
        "queue // q\n  q {\n  strategy // s\n    random\n}\n",
        "// q\nqueue q {\n  // s\n  strategy random\n}\n",
    ),
    (
        "comments in option blocks stay with their option",
        "on call {\n  menu {\n    // keys\n    1 => hangup // one\n    timeout 5s // wait\n    \
         // end of menu\n  }\n}\n",
        "on call {\n  menu {\n    // keys\n    1 => hangup // one\n    timeout 5s // wait\n    \
         // end of menu\n  }\n}\n",
    ),
    (
        "comment in an only-comment block",
        "step s {\n  // nothing yet\n}\n",
        "step s {\n  // nothing yet\n}\n",
    ),
    (
        "comment text kept as written",
        "flow a //no space, \"quote\" { brace // again\n",
        "flow a //no space, \"quote\" { brace // again\n",
    ),
    (
        "comment-only file",
        "// one\n\n\n// two\n",
        "// one\n\n// two\n",
    ),
    (
        "comment after schedule rule",
        "hours h in \"UTC\" {\n  mon 08:00..12:00 // morning\n\n  // afternoon\n  mon 13:00..17:00\n}\n",
        "hours h in \"UTC\" {\n  mon 08:00..12:00 // morning\n\n  // afternoon\n  mon 13:00..17:00\n}\n",
    ),
];

fn format_ok(name: &str, text: &str) -> String {
    match format(text) {
        Ok(formatted) => formatted,
        Err(diagnostics) => panic!("{name}: cannot format: {diagnostics:#?}"),
    }
}

fn tree(text: &str) -> String {
    let (file, diagnostics) = parse(text, FileId(0));
    assert!(
        diagnostics.is_empty(),
        "does not parse: {diagnostics:#?}\n{text}"
    );
    spanless_debug(&file)
}

fn comment_texts(text: &str) -> Vec<String> {
    comments(text).into_iter().map(|c| c.text).collect()
}

/// Checks everything formatting promises about `text`.
fn check_properties(name: &str, text: &str) -> String {
    let formatted = format_ok(name, text);
    assert_eq!(tree(&formatted), tree(text), "{name}: tree changed");
    assert_eq!(
        comment_texts(&formatted),
        comment_texts(text),
        "{name}: comments changed"
    );
    assert_eq!(
        format_ok(name, &formatted),
        formatted,
        "{name}: not idempotent"
    );
    assert_layout(name, &formatted);
    formatted
}

/// Checks the layout rules that hold for every formatted text.
fn assert_layout(name: &str, formatted: &str) {
    if formatted.is_empty() {
        return;
    }
    assert!(formatted.ends_with('\n'), "{name}: no final newline");
    assert!(
        !formatted.ends_with("\n\n"),
        "{name}: blank line at the end"
    );
    assert!(
        !formatted.starts_with('\n'),
        "{name}: blank line at the start"
    );
    let lines: Vec<&str> = formatted.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        assert_eq!(
            line.trim_end(),
            *line,
            "{name}: trailing space on line {index}"
        );
        assert!(
            !line.contains('\t') || line.contains("//") || line.contains('"'),
            "{name}: tab"
        );
        let indent = line.len() - line.trim_start_matches(' ').len();
        assert_eq!(indent % 2, 0, "{name}: odd indentation on line {index}");
        let next = lines.get(index + 1).copied().unwrap_or("x");
        if line.is_empty() {
            assert!(!next.is_empty(), "{name}: two blank lines at line {index}");
            assert!(
                !next.trim_start().starts_with('}'),
                "{name}: blank line before `}}`"
            );
        }
        if line.ends_with('{') && !line.contains("//") {
            assert!(
                !next.is_empty(),
                "{name}: blank line after `{{` at line {index}"
            );
        }
    }
}

#[test]
fn golden_outputs() {
    for (name, input, expected) in GOLDEN.iter().chain(COMMENTS) {
        let formatted = check_properties(name, input);
        assert_eq!(formatted, *expected, "{name}");
    }
}

#[test]
fn golden_outputs_are_fixed_points() {
    for (name, _, expected) in GOLDEN.iter().chain(COMMENTS) {
        assert_eq!(format_ok(name, expected), *expected, "{name}");
        assert_eq!(is_formatted(expected), Ok(true), "{name}");
    }
}

#[test]
fn support_fixture() {
    let formatted = check_properties("support", SUPPORT);
    assert_eq!(formatted, SUPPORT_FORMATTED);
    assert_eq!(is_formatted(SUPPORT), Ok(false));
    assert_eq!(is_formatted(SUPPORT_FORMATTED), Ok(true));
}

#[test]
fn syntax_errors_are_returned() {
    let text = "on call {\n  play 5\n}\n\nstep s {\n  hangup\n}\n";
    let diagnostics = format(text).unwrap_err();
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].code, Code::SyntaxError);
    assert!(is_formatted(text).is_err());
}

#[test]
fn option_written_twice_is_rejected() {
    let text = "on call {\n  menu {\n    timeout 5s\n    timeout 6s\n    1 => hangup\n  }\n}\n";
    let diagnostics = format(text).unwrap_err();
    assert_eq!(diagnostics.len(), 1);
    let diagnostic = &diagnostics[0];
    assert_eq!(diagnostic.code, Code::DuplicateName);
    assert!(
        diagnostic.message.contains("`timeout`"),
        "{}",
        diagnostic.message
    );
    let label = diagnostic.primary_label().unwrap();
    assert_eq!(&text[label.span.range()], "timeout 6s");
}

#[test]
fn option_written_twice_report() {
    let text =
        "on call {\n  collect pin {\n    timeout 5s\n    length 4\n    timeout 10s\n  }\n}\n";
    let mut sources = SourceMap::new();
    let file = sources.add("pin.flow", text);
    let diagnostics = format_file(text, file).unwrap_err();
    let mut report = format!("--- pin.flow\n{text}=== diagnostics\n");
    for diagnostic in &diagnostics {
        report.push_str(&render_human(diagnostic, &sources, false));
        report.push('\n');
    }
    insta::assert_snapshot!(report);
}

#[test]
fn sensitive_written_twice_is_rejected() {
    let text = "on call {\n  collect pin {\n    sensitive\n    length 4\n    sensitive\n  }\n}\n";
    assert!(format(text).is_err());
}

#[test]
fn option_words_as_names_are_not_options() {
    let text = "on call {\n  collect timeout {\n    valid if timeout == sensitive\n    \
                invalid => set prompt = attempts\n    sensitive\n  }\n}\n";
    assert_eq!(check_properties("names", text), text);
}

#[test]
fn comments_never_cross_declarations() {
    let text = "step a {\n  hangup\n  // end of a\n}\n// before b\nstep b {\n  hangup // in b\n}\n";
    let formatted = check_properties("cross", text);
    let (a, b) = formatted.split_once("step b").unwrap();
    assert!(a.contains("// end of a"));
    assert!(a.contains("// before b"));
    assert!(b.contains("// in b"));
    let end_of_a = a.find("// end of a").unwrap();
    assert!(
        end_of_a < a.find("\n}\n").unwrap(),
        "comment left its block:\n{formatted}"
    );
}

// ------------------------------------------------------------ generator

/// Marks the start of a declaration, which must begin a line.
const DECL: &str = "\u{0}decl";

type Tokens = Vec<String>;

fn tokens(words: &[&str]) -> Tokens {
    words.iter().map(|w| (*w).to_string()).collect()
}

fn pick(options: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    proptest::sample::select(options).prop_map(str::to_string)
}

fn name() -> impl Strategy<Value = String> + Clone {
    pick(&[
        "a",
        "b",
        "order",
        "notes",
        "timeout",
        "sensitive",
        "valid",
        "prompt",
        "key",
        "language",
    ])
}

fn string_lit() -> impl Strategy<Value = String> + Clone {
    pick(&[
        "\"a\"",
        "\"hello world\"",
        "\"q\\\"uote\"",
        "\"back\\\\slash\"",
        "\"brace \\{x}\"",
        "\"tab\\tnew\\nline\"",
        "\"closing \\} escape\"",
        "\"\u{17e}ivjo\"",
        "\"// not a comment\"",
        "\"\"",
    ])
}

fn literal() -> impl Strategy<Value = String> + Clone {
    pick(&[
        "0",
        "7",
        "007",
        "42",
        "5s",
        "1m30s",
        "800ms",
        "2h",
        "2026-12-25",
        "08:00",
        "true",
        "false",
    ])
}

/// An expression as tokens, and whether it needs no parentheses anywhere.
#[derive(Clone, Debug)]
struct Expression {
    tokens: Tokens,
    atom: bool,
}

fn atom(tokens: Tokens) -> Expression {
    Expression { tokens, atom: true }
}

fn compound(tokens: Tokens) -> Expression {
    Expression {
        tokens,
        atom: false,
    }
}

/// Wraps a compound operand in parentheses; the formatter removes those
/// that precedence makes redundant.
fn operand(expr: &Expression, extra: bool) -> Tokens {
    if expr.atom && !extra {
        return expr.tokens.clone();
    }
    let mut out = tokens(&["("]);
    out.extend(expr.tokens.iter().cloned());
    out.push(")".to_string());
    out
}

fn leaf_expr() -> impl Strategy<Value = Expression> {
    prop_oneof![
        name().prop_map(|n| atom(vec![n])),
        (name(), pick(&["from", "vip", "tier", "outcome"])).prop_map(|(n, f)| atom(vec![
            n,
            ".".into(),
            f
        ])),
        literal().prop_map(|l| atom(vec![l])),
        string_lit().prop_map(|s| atom(vec![s])),
        name().prop_map(|n| atom(vec![n, "(".into(), ")".into()])),
    ]
}

/// Returns a text interpolating `expr`. Texts inside the interpolation
/// become names, because the parser's declaration splitter does not follow
/// nested quotes.
fn interpolated(expr: &Expression) -> Expression {
    let inner: Vec<&str> = expr
        .tokens
        .iter()
        .map(|t| if t.starts_with('"') { "a" } else { t.as_str() })
        .collect();
    atom(vec![format!("\"x {{{}}} y\"", inner.join(" "))])
}

fn expr() -> impl Strategy<Value = Expression> {
    leaf_expr().prop_recursive(3, 24, 3, |inner| {
        let op = pick(&[
            "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or",
        ]);
        prop_oneof![
            (inner.clone(), op, inner.clone(), any::<(bool, bool)>()).prop_map(
                |(left, op, right, (extra_left, extra_right))| {
                    let mut out = operand(&left, extra_left);
                    out.push(op);
                    out.extend(operand(&right, extra_right));
                    compound(out)
                }
            ),
            inner.clone().prop_map(|e| {
                let mut out = tokens(&["not"]);
                out.extend(operand(&e, false));
                compound(out)
            }),
            inner.clone().prop_map(|e| {
                let mut out = tokens(&["-"]);
                out.extend(operand(&e, false));
                compound(out)
            }),
            (inner.clone(), pick(&["found", "missing"])).prop_map(|(e, word)| {
                let mut out = operand(&e, false);
                out.extend([String::from("is"), word]);
                compound(out)
            }),
            (inner.clone(), inner.clone()).prop_map(|(e, prefix)| {
                let mut out = operand(&e, false);
                out.extend(tokens(&["starts", "with"]));
                out.extend(operand(&prefix, false));
                compound(out)
            }),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(|(c, a, b)| {
                let mut out = tokens(&["(", "if"]);
                out.extend(c.tokens);
                out.push("then".into());
                out.extend(a.tokens);
                out.push("else".into());
                out.extend(b.tokens);
                out.push(")".into());
                atom(out)
            }),
            (name(), prop::collection::vec(inner.clone(), 1..3)).prop_map(|(f, args)| {
                let mut out = vec![f, "(".into()];
                for (index, arg) in args.iter().enumerate() {
                    if index > 0 {
                        out.push(",".into());
                    }
                    out.extend(arg.tokens.iter().cloned());
                }
                out.push(")".into());
                atom(out)
            }),
            inner.prop_map(|e| interpolated(&e)),
        ]
    })
}

fn strings_list() -> impl Strategy<Value = Tokens> {
    prop::collection::vec(string_lit().prop_map(|s| vec![s]), 1..3).prop_map(comma_list)
}

fn expr_tokens() -> impl Strategy<Value = Tokens> {
    expr().prop_map(|e| e.tokens)
}

fn simple_stmt() -> impl Strategy<Value = Tokens> {
    let with = |head: &'static [&'static str]| {
        move |rest: Tokens| {
            let mut out = tokens(head);
            out.extend(rest);
            out
        }
    };
    prop_oneof![
        strings_list().prop_map(with(&["play"])),
        (pick(&["let", "set"]), name(), expr_tokens()).prop_map(|(kw, n, e)| {
            let mut out = vec![kw, n, "=".into()];
            out.extend(e);
            out
        }),
        (pick(&["goto", "run", "webhook", "enqueue"]), name()).prop_map(|(kw, n)| vec![kw, n]),
        pick(&["return", "hangup"]).prop_map(|kw| vec![kw]),
        expr_tokens().prop_map(with(&["transfer"])),
        string_lit().prop_map(|s| vec!["voicemail".into(), s]),
        pick(&["on", "off", "pause", "resume"]).prop_map(|m| vec!["record".into(), m]),
        prop::collection::vec(expr_tokens(), 1..3).prop_map(|tags| {
            let mut out = tokens(&["tag"]);
            for (index, tag) in tags.into_iter().enumerate() {
                if index > 0 {
                    out.push(",".into());
                }
                out.extend(tag);
            }
            out
        }),
        expr_tokens().prop_map(with(&["timeline"])),
        Just(tokens(&["ticket", "link"])),
        expr_tokens().prop_map(with(&["ticket", "create"])),
        expr_tokens().prop_map(with(&["ticket", "link", "or", "create"])),
        (string_lit(), proptest::option::of(string_lit())).prop_map(|(q, t)| {
            let mut out = vec!["survey".into(), q];
            if let Some(t) = t {
                out.extend([",".into(), t]);
            }
            out
        }),
        (name(), expr_tokens()).prop_map(|(hook, message)| {
            let mut out = vec!["notify".into(), hook];
            out.extend(message);
            out
        }),
    ]
}

/// Returns a statement followed by zero to two semicolons.
fn with_semicolons(stmt: impl Strategy<Value = Tokens>) -> impl Strategy<Value = Tokens> {
    (stmt, 0..3usize).prop_map(|(mut stmt, count)| {
        stmt.extend(std::iter::repeat_n(";".to_string(), count));
        stmt
    })
}

fn block(stmt: BoxedStrategy<Tokens>) -> impl Strategy<Value = Tokens> {
    prop::collection::vec(with_semicolons(stmt), 0..4).prop_map(|stmts| {
        let mut out = tokens(&["{"]);
        out.extend(stmts.into_iter().flatten());
        out.push("}".into());
        out
    })
}

fn arm_body(stmt: BoxedStrategy<Tokens>) -> impl Strategy<Value = Tokens> {
    prop_oneof![block(stmt.clone()), stmt]
}

fn arm(
    head: impl Strategy<Value = Tokens>,
    stmt: BoxedStrategy<Tokens>,
) -> impl Strategy<Value = Tokens> {
    (head, arm_body(stmt)).prop_map(|(mut head, body)| {
        head.push("=>".into());
        head.extend(body);
        head
    })
}

fn failure_arm(stmt: BoxedStrategy<Tokens>) -> impl Strategy<Value = Tokens> {
    let kind = prop_oneof![
        Just(tokens(&["invalid"])),
        Just(tokens(&["no", "input"])),
        Just(tokens(&["exhausted"])),
        Just(tokens(&["failed"])),
    ];
    arm(kind, stmt)
}

/// Options written at most once each, in random order, then arms.
fn option_block(
    options: Vec<BoxedStrategy<Option<Tokens>>>,
    arms: BoxedStrategy<Vec<Tokens>>,
) -> impl Strategy<Value = Tokens> {
    (options, arms)
        .prop_flat_map(|(options, arms)| {
            let mut items: Vec<Tokens> = options.into_iter().flatten().collect();
            items.extend(arms);
            Just(items).prop_shuffle()
        })
        .prop_map(|items| {
            let mut out = tokens(&["{"]);
            out.extend(items.into_iter().flatten());
            out.push("}".into());
            out
        })
}

fn optional(strategy: impl Strategy<Value = Tokens> + 'static) -> BoxedStrategy<Option<Tokens>> {
    proptest::option::of(strategy).boxed()
}

fn timeout_and_attempts() -> Vec<BoxedStrategy<Option<Tokens>>> {
    vec![
        optional(pick(&["5s", "1m30s"]).prop_map(|d| vec!["timeout".into(), d])),
        optional(pick(&["1", "3", "03"]).prop_map(|n| vec!["attempts".into(), n])),
    ]
}

fn menu(stmt: BoxedStrategy<Tokens>) -> impl Strategy<Value = Tokens> {
    let mut options = timeout_and_attempts();
    options.push(optional(strings_list().prop_map(|s| {
        let mut out = tokens(&["prompt"]);
        out.extend(s);
        out
    })));
    let key = pick(&["0", "1", "9", "*", "#"]).prop_map(|k| vec![k]);
    let arms = prop::collection::vec(
        prop_oneof![arm(key, stmt.clone()).boxed(), failure_arm(stmt).boxed()],
        0..4,
    )
    .boxed();
    option_block(options, arms).prop_map(|body| {
        let mut out = tokens(&["menu"]);
        out.extend(body);
        out
    })
}

fn collect(stmt: BoxedStrategy<Tokens>) -> impl Strategy<Value = Tokens> {
    let mut options = timeout_and_attempts();
    options.extend([
        optional(strings_list().prop_map(|s| {
            let mut out = tokens(&["prompt"]);
            out.extend(s);
            out
        })),
        optional(prop_oneof![
            Just(tokens(&["length", "4"])),
            Just(tokens(&["length", "6", "..", "8"])),
        ]),
        optional(pick(&["#", "*", "5"]).prop_map(|k| vec!["terminator".into(), k])),
        optional(Just(tokens(&["interdigit", "3s"]))),
        optional(expr_tokens().prop_map(|e| {
            let mut out = tokens(&["valid", "if"]);
            out.extend(e);
            out
        })),
        optional(Just(tokens(&["sensitive"]))),
    ]);
    let arms = prop::collection::vec(failure_arm(stmt), 0..3).boxed();
    (name(), option_block(options, arms)).prop_map(|(var, body)| {
        let mut out = vec!["collect".into(), var];
        out.extend(body);
        out
    })
}

fn lookup(stmt: BoxedStrategy<Tokens>) -> impl Strategy<Value = Tokens> {
    let options = vec![optional(Just(tokens(&["timeout", "800ms"])))];
    let arms = prop::collection::vec(failure_arm(stmt), 0..3).boxed();
    (name(), name(), expr_tokens(), option_block(options, arms)).prop_map(
        |(var, source, key, body)| {
            let mut out = vec!["lookup".into(), var, "in".into(), source, "by".into()];
            out.extend(key);
            out.extend(body);
            out
        },
    )
}

fn if_stmt(stmt: BoxedStrategy<Tokens>) -> impl Strategy<Value = Tokens> {
    (
        expr_tokens(),
        block(stmt.clone()),
        prop::collection::vec((expr_tokens(), block(stmt.clone())), 0..2),
        proptest::option::of(block(stmt)),
    )
        .prop_map(|(condition, body, else_ifs, otherwise)| {
            let mut out = tokens(&["if"]);
            out.extend(condition);
            out.extend(body);
            for (condition, body) in else_ifs {
                out.extend(tokens(&["else", "if"]));
                out.extend(condition);
                out.extend(body);
            }
            if let Some(body) = otherwise {
                out.push("else".into());
                out.extend(body);
            }
            out
        })
}

fn match_stmt(stmt: BoxedStrategy<Tokens>) -> impl Strategy<Value = Tokens> {
    let pattern = prop_oneof![
        strings_list(),
        string_lit().prop_map(|s| vec!["starts".into(), "with".into(), s]),
        Just(tokens(&["else"])),
    ];
    (
        expr_tokens(),
        prop::collection::vec(arm(pattern, stmt), 0..3),
    )
        .prop_map(|(subject, arms)| {
            let mut out = tokens(&["match"]);
            out.extend(subject);
            out.push("{".into());
            for arm in arms {
                // An arm body that ends in an expression would take in a
                // following `starts with` pattern; a `;` ends it.
                let ends_open = !matches!(out.last().map(String::as_str), Some("{" | "}" | ";"));
                if ends_open && arm.first().map(String::as_str) == Some("starts") {
                    out.push(";".into());
                }
                out.extend(arm);
            }
            out.push("}".into());
            out
        })
}

fn enqueue_else(stmt: BoxedStrategy<Tokens>) -> impl Strategy<Value = Tokens> {
    (name(), arm_body(stmt)).prop_map(|(queue, body)| {
        let mut out = vec!["enqueue".into(), queue, "else".into()];
        out.extend(body);
        out
    })
}

fn stmt() -> BoxedStrategy<Tokens> {
    simple_stmt()
        .prop_recursive(2, 24, 4, |inner| {
            prop_oneof![
                if_stmt(inner.clone()),
                match_stmt(inner.clone()),
                menu(inner.clone()),
                collect(inner.clone()),
                lookup(inner.clone()),
                enqueue_else(inner),
            ]
        })
        .boxed()
}

fn day_range() -> impl Strategy<Value = Tokens> {
    prop_oneof![
        pick(&["mon", "sat"]).prop_map(|d| vec![d]),
        Just(tokens(&["mon", "..", "fri"])),
        Just(tokens(&["sun", "..", "sun"])),
    ]
}

fn time_range() -> impl Strategy<Value = Tokens> {
    prop_oneof![
        Just(tokens(&["08:00", "..", "12:00"])),
        Just(tokens(&["22:00", "..", "02:00", "overnight"])),
    ]
}

fn comma_list(items: Vec<Tokens>) -> Tokens {
    let mut out = Tokens::new();
    for (index, item) in items.into_iter().enumerate() {
        if index > 0 {
            out.push(",".into());
        }
        out.extend(item);
    }
    out
}

fn hours_rule() -> impl Strategy<Value = Tokens> {
    let ranges = prop::collection::vec(time_range(), 1..3)
        .prop_map(comma_list)
        .boxed();
    prop_oneof![
        (
            prop::collection::vec(day_range(), 1..3).prop_map(comma_list),
            ranges.clone()
        )
            .prop_map(|(mut days, ranges)| {
                days.extend(ranges);
                days
            }),
        prop::collection::vec(
            prop_oneof![
                Just(tokens(&["2026-12-25"])),
                Just(tokens(&["2026-12-31", "..", "2027-01-01"])),
            ],
            1..3
        )
        .prop_map(|dates| {
            let mut out = tokens(&["holiday"]);
            out.extend(comma_list(dates));
            out
        }),
        prop_oneof![Just(tokens(&["closed"])), ranges].prop_map(|what| {
            let mut out = tokens(&["on", "2026-12-24"]);
            out.extend(what);
            out
        }),
    ]
}

fn skill() -> impl Strategy<Value = String> {
    pick(&["routers", "billing", "\"two words\""])
}

fn queue_option() -> impl Strategy<Value = Tokens> {
    let duration = || pick(&["20s", "1m30s", "2m"]);
    let ending = prop_oneof![
        string_lit().prop_map(|s| vec!["voicemail".into(), s]),
        Just(tokens(&["hangup"])),
        expr_tokens().prop_map(|e| {
            let mut out = tokens(&["transfer"]);
            out.extend(e);
            out
        }),
        enqueue_else(simple_stmt().boxed()),
    ];
    let need = prop_oneof![
        Just(tokens(&["language"])),
        skill().prop_map(|s| vec![s]),
        (skill(), pick(&["1", "2"])).prop_map(|(s, n)| vec![s, ">=".into(), n]),
    ];
    prop_oneof![
        pick(&["ring_all", "longest_idle", "random"]).prop_map(|s| vec!["strategy".into(), s]),
        prop::collection::vec(need, 1..3).prop_map(|needs| {
            let mut out = tokens(&["needs"]);
            out.extend(comma_list(needs));
            out
        }),
        (duration(), skill(), pick(&["1", "2"])).prop_map(|(d, s, n)| vec![
            "after".into(),
            d,
            "relax".into(),
            s,
            ">=".into(),
            n
        ]),
        (duration(), skill()).prop_map(|(d, s)| vec!["after".into(), d, "drop".into(), s]),
        duration().prop_map(|d| vec!["sticky".into(), "for".into(), d]),
        expr_tokens().prop_map(|e| {
            let mut out = tokens(&["priority"]);
            out.extend(e);
            out
        }),
        (pick(&["80%", "99.5%"]), duration()).prop_map(|(p, d)| vec![
            "target".into(),
            p,
            "within".into(),
            d
        ]),
        (
            prop_oneof![
                Just(tokens(&["position"])),
                Just(tokens(&["wait"])),
                Just(tokens(&["position", "and", "wait"])),
                string_lit().prop_map(|s| vec![s]),
            ],
            proptest::option::of(duration())
        )
            .prop_map(|(what, every)| {
                let mut out = tokens(&["announce"]);
                out.extend(what);
                if let Some(every) = every {
                    out.extend(["every".into(), every]);
                }
                out
            }),
        string_lit().prop_map(|s| vec!["music".into(), s]),
        (duration(), proptest::option::of(pick(&["1", "#"]))).prop_map(|(d, key)| {
            let mut out = vec!["callback".into(), "after".into(), d];
            if let Some(key) = key {
                out.extend(["key".into(), key]);
            }
            out
        }),
        duration().prop_map(|d| vec!["max".into(), "wait".into(), d]),
        Just(tokens(&["max", "callers", "20"])),
        ending.prop_map(|e| {
            let mut out = tokens(&["overflow"]);
            out.extend(e);
            out
        }),
        duration().prop_map(|d| vec!["wrapup".into(), d]),
    ]
}

fn decl() -> impl Strategy<Value = Tokens> {
    let named_block = |kw: &'static str| {
        (name(), block(stmt())).prop_map(move |(n, body)| {
            let mut out = vec![DECL.to_string(), kw.to_string(), n];
            out.extend(body);
            out
        })
    };
    prop_oneof![
        (name(), proptest::option::of(strings_list())).prop_map(|(n, answers)| {
            let mut out = vec![DECL.into(), "flow".into(), n];
            if let Some(answers) = answers {
                out.push("answers".into());
                out.extend(answers);
            }
            out
        }),
        (name(), prop::collection::vec(hours_rule(), 0..4)).prop_map(|(n, rules)| {
            let mut out = vec![
                DECL.into(),
                "hours".into(),
                n,
                "in".into(),
                "\"UTC\"".into(),
                "{".into(),
            ];
            out.extend(rules.into_iter().flatten());
            out.push("}".into());
            out
        }),
        (name(), prop::collection::vec(queue_option(), 0..5)).prop_map(|(n, options)| {
            let mut out = vec![DECL.into(), "queue".into(), n, "{".into()];
            out.extend(options.into_iter().flatten());
            out.push("}".into());
            out
        }),
        (pick(&["on call", "after call"]), block(stmt())).prop_map(|(head, body)| {
            let mut out = vec![DECL.to_string(), head];
            out.extend(body);
            out
        }),
        named_block("step"),
        named_block("subflow"),
    ]
}

/// Renders tokens with white space, comments and blank lines chosen by
/// `layout`; returns the text.
fn render(tokens: &[String], layout: &[u8]) -> String {
    let mut out = String::new();
    let mut choices = layout.iter().copied().cycle();
    let mut comment_number = 0;
    let mut comment = |choice: u8| {
        comment_number += 1;
        let extra = ["", "\"", "{", "}", "// x", "\u{17e}", "=> {", "  spaced  "];
        format!(
            "// c{comment_number}{}",
            extra[usize::from(choice) % extra.len()]
        )
    };
    let mut previous: Option<&str> = None;
    for token in tokens {
        let choice = choices.next().unwrap_or(0);
        if token == DECL {
            if previous.is_some() || choice % 3 == 0 {
                let separator = match choice % 5 {
                    0 => format!("\n{}\n", comment(choice)),
                    1 => "\n\n\n".to_string(),
                    2 => format!("\n\n{}\n\n", comment(choice)),
                    _ => "\n".to_string(),
                };
                out.push_str(if previous.is_none() {
                    separator.trim_start_matches('\n')
                } else {
                    &separator
                });
            }
            previous = None;
            continue;
        }
        if let Some(previous) = previous {
            let glue = [previous, token.as_str()]
                .iter()
                .any(|t| matches!(*t, "(" | ")" | "," | "." | ".."));
            let separator = match choice % 12 {
                0 | 1 => " ".to_string(),
                2 => "  ".to_string(),
                3 => "\t".to_string(),
                4 => "\n".to_string(),
                5 => "\n\n".to_string(),
                6 => "\n    ".to_string(),
                7 => "\n\n\n  ".to_string(),
                8 => format!(" {}\n", comment(choice / 12)),
                9 => format!("\n{}\n  ", comment(choice / 12)),
                10 if glue => String::new(),
                _ => " ".to_string(),
            };
            out.push_str(&separator);
        }
        out.push_str(token);
        previous = Some(token);
    }
    if layout.first().is_some_and(|c| c % 2 == 0) {
        out.push_str(&format!("\n{}", comment(0)));
    }
    out
}

fn flow_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(decl(), 0..5),
        prop::collection::vec(any::<u8>(), 1..64),
    )
        .prop_map(|(decls, layout)| render(&decls.concat(), &layout))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn formatting_keeps_tree_and_comments(text in flow_text()) {
        check_properties("generated", &text);
    }
}
