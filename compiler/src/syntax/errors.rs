//! Turning pest's errors into Tok diagnostics that name what was expected in
//! the words of the language.

use super::Rule;
use crate::diag::{Code, Diagnostic, FileId, Span};
use pest::error::{Error, ErrorVariant, InputLocation};

/// Converts a pest error in the piece starting at `offset` to a diagnostic.
pub fn syntax_error(error: &Error<Rule>, piece: &str, offset: usize, file: FileId) -> Diagnostic {
    let at = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((start, _)) => start,
    };
    if at >= piece.trim_end().len()
        && let Some(open) = unclosed_brace(piece)
    {
        return missing_brace(piece, offset, open, file);
    }
    let found = token_at(piece, at);
    let span = Span::new(offset + at, offset + at + found.len());
    let expected = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => describe_expected(positives),
        ErrorVariant::CustomError { message } => message.clone(),
    };
    let found_text = if found.is_empty() {
        String::from("end of file")
    } else {
        format!("`{found}`")
    };
    let message = format!("unexpected {found_text}: expected {expected}");
    let mut diagnostic =
        Diagnostic::new(Code::SyntaxError, message).primary(file, span, "not expected here");
    if let Some(help) = help_for(piece, at, found) {
        diagnostic = diagnostic.help(help);
    }
    diagnostic
}

/// Returns the byte offset of the outermost `{` that is never closed,
/// skipping strings and comments.
fn unclosed_brace(piece: &str) -> Option<usize> {
    let mut open = Vec::new();
    let mut in_string = false;
    let mut chars = piece.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if in_string => {
                chars.next();
            }
            '"' => in_string = !in_string,
            '\n' => in_string = false,
            '/' if !in_string && chars.peek().is_some_and(|(_, n)| *n == '/') => {
                while chars.next_if(|(_, n)| *n != '\n').is_some() {}
            }
            '{' if !in_string => open.push(i),
            '}' if !in_string => {
                open.pop();
            }
            _ => {}
        }
    }
    open.first().copied()
}

fn missing_brace(piece: &str, offset: usize, open: usize, file: FileId) -> Diagnostic {
    let end = piece.trim_end().len();
    Diagnostic::new(Code::SyntaxError, "missing `}`: a `{` is never closed")
        .primary(file, Span::new(offset + end, offset + end), "`}` expected here")
        .secondary(file, Span::new(offset + open, offset + open + 1), "this `{` is never closed")
        .help("add the missing `}`; a declaration ends where the next one starts at the beginning of a line")
}

/// Returns the word, number or symbol at byte `at`.
fn token_at(piece: &str, at: usize) -> &str {
    let rest = piece.get(at..).unwrap_or("");
    let first = rest.chars().next();
    let len = match first {
        None => 0,
        Some(c) if c.is_alphanumeric() || c == '_' => rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '-'))
            .unwrap_or(rest.len()),
        Some('"') => rest
            .get(1..)
            .and_then(|r| r.find(['"', '\n']))
            .map_or(rest.len(), |i| i + 2),
        Some(c) => c.len_utf8(),
    };
    rest.get(..len).unwrap_or("").trim_end_matches('\n')
}

fn help_for(piece: &str, at: usize, found: &str) -> Option<String> {
    let line_start = piece
        .get(..at)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1);
    let line_before = piece.get(line_start..at).unwrap_or("");
    match open_text(line_before) {
        OpenText::Interpolation => {
            return Some(String::from(
                "a `{` in a text starts a value: close it with `}`, or write `\\{` for a brace",
            ));
        }
        OpenText::Text => {
            return Some(String::from(
                "this text is not closed: add the closing `\"` on the same line",
            ));
        }
        OpenText::None => {}
    }
    let assigns = ["let ", "set "]
        .iter()
        .any(|w| line_before.trim_start().starts_with(w));
    if found == "=" && assigns && line_before.trim_end().ends_with('=') {
        return Some(String::from("`let` and `set` take one `=`; `==` compares"));
    }
    if found == "=" {
        return Some(String::from(
            "compare with `==`; to change a variable write `set NAME = VALUE`",
        ));
    }
    if found == "}" {
        return Some(String::from(
            "the block ends before it is complete; check the line above",
        ));
    }
    if found
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() && !c.is_ascii())
    {
        return Some(String::from(
            "names use ASCII letters, digits and `_`; other letters may appear inside quoted texts",
        ));
    }
    let declaration_words = ["flow", "hours", "queue", "on", "after", "step", "subflow"];
    if declaration_words.contains(&found) && !line_before.trim().is_empty() {
        return Some(String::from(
            "a declaration starts at the beginning of its own line",
        ));
    }
    let number = !found.is_empty() && found.chars().all(|c| c.is_ascii_digit());
    let after = rest_after(piece, at, found).trim_start_matches([' ', '\t']);
    let unit_follows = ["ms", "s", "m", "h"].iter().any(|u| {
        after
            .strip_prefix(u)
            .is_some_and(|r| !r.starts_with(|c: char| c.is_alphanumeric()))
    });
    if number && unit_follows {
        return Some(format!(
            "write the duration without a space, such as `{found}s`"
        ));
    }
    let in_menu = piece
        .get(..at)
        .is_some_and(|before| before.contains("menu"));
    if in_menu && number && found.len() > 1 {
        return Some(String::from("menu keys are single keys: 0-9, * or #"));
    }
    None
}

/// Returns the text after the token found at `at`.
fn rest_after<'a>(piece: &'a str, at: usize, found: &str) -> &'a str {
    piece.get(at + found.len()..).unwrap_or("")
}

/// The context a line ends in, so far.
enum OpenText {
    /// Not inside a text.
    None,
    /// Inside a quoted text.
    Text,
    /// Inside a `{...}` value of a quoted text.
    Interpolation,
}

/// Tells whether the line so far ends inside a text or its `{...}`.
fn open_text(line: &str) -> OpenText {
    let mut in_text = false;
    let mut braces = 0usize;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_text => {
                chars.next();
            }
            '/' if !in_text && chars.peek() == Some(&'/') => break,
            '"' if braces == 0 => in_text = !in_text,
            '{' if in_text => braces += 1,
            '}' if in_text && braces > 0 => braces -= 1,
            _ => {}
        }
    }
    match (in_text, braces) {
        (false, _) => OpenText::None,
        (true, 0) => OpenText::Text,
        (true, _) => OpenText::Interpolation,
    }
}

/// Lists the expected rules in plain words, without repeats.
fn describe_expected(rules: &[Rule]) -> String {
    let mut words: Vec<String> = Vec::new();
    let statements = rules
        .iter()
        .filter(|r| STATEMENT_KEYWORDS.contains(r))
        .count();
    if statements >= 5 {
        words.push(String::from("a statement"));
    }
    for rule in rules
        .iter()
        .filter(|r| statements < 5 || !STATEMENT_KEYWORDS.contains(r))
    {
        let name = format!("{rule:?}");
        let word = match name.strip_prefix("kw_") {
            Some(keyword) => format!("`{keyword}`"),
            None => describe(*rule).to_string(),
        };
        if !words.contains(&word) {
            words.push(word);
        }
    }
    match words.as_slice() {
        [] => String::from("something else"),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Keywords that start a statement; a long list of them reads as "a
/// statement".
const STATEMENT_KEYWORDS: [Rule; 22] = [
    Rule::kw_play,
    Rule::kw_menu,
    Rule::kw_collect,
    Rule::kw_lookup,
    Rule::kw_let,
    Rule::kw_set,
    Rule::kw_if,
    Rule::kw_match,
    Rule::kw_goto,
    Rule::kw_run,
    Rule::kw_return,
    Rule::kw_enqueue,
    Rule::kw_transfer,
    Rule::kw_voicemail,
    Rule::kw_hangup,
    Rule::kw_record,
    Rule::kw_tag,
    Rule::kw_timeline,
    Rule::kw_ticket,
    Rule::kw_survey,
    Rule::kw_webhook,
    Rule::kw_notify,
];

fn describe(rule: Rule) -> &'static str {
    match rule {
        Rule::EOI => "end of file",
        Rule::declaration_only | Rule::file => {
            "a declaration (`flow`, `hours`, `queue`, `on call`, `after call`, `step` or `subflow`)"
        }
        Rule::flow_header => "`flow`",
        Rule::hours_decl => "`hours`",
        Rule::queue_decl => "`queue`",
        Rule::call_handler => "`on call`",
        Rule::after_handler => "`after call`",
        Rule::step_decl => "`step`",
        Rule::subflow_decl => "`subflow`",
        Rule::answers => "`answers`",
        Rule::ident | Rule::field_name => "a name",
        Rule::integer => "a whole number",
        Rule::duration => "a duration such as `5s` or `2m`",
        Rule::percent => "a percentage such as `80%`",
        Rule::date => "a date such as `2026-12-24`",
        Rule::time => "a time such as `08:00`",
        Rule::boolean => "`true` or `false`",
        Rule::string | Rule::string_text | Rule::string_escape => "a quoted text",
        Rule::interpolation => "`{`",
        Rule::key => "a key (0-9, * or #)",
        Rule::weekly_rule | Rule::day_set | Rule::day_range | Rule::day => {
            "a weekday (`mon` .. `sun`), `holiday` or `on DATE`"
        }
        Rule::time_ranges | Rule::time_range => "a time range such as `08:00..17:00`",
        Rule::overnight => "`overnight`",
        Rule::holiday_rule => "`holiday`",
        Rule::date_item => "a date",
        Rule::exception_rule => "`on DATE`",
        Rule::closed => "`closed`",
        Rule::strategy => {
            "a strategy (`ring_all`, `longest_idle`, `least_busy`, `fewest_calls`, `round_robin`, `linear`, `random`)"
        }
        Rule::strategy_option
        | Rule::needs_option
        | Rule::relax_option
        | Rule::sticky_option
        | Rule::priority_option
        | Rule::target_option
        | Rule::announce_option
        | Rule::music_option
        | Rule::callback_option
        | Rule::max_wait_option
        | Rule::max_callers_option
        | Rule::overflow_option
        | Rule::wrapup_option => "a queue option",
        Rule::need_language | Rule::need_skill => "a skill or `language`",
        Rule::relax_level => "`relax`",
        Rule::relax_drop => "`drop`",
        Rule::announce_position_wait | Rule::announce_position | Rule::announce_wait => {
            "`position`, `wait` or a prompt"
        }
        Rule::block => "`{`",
        Rule::arm_body => "a statement or `{`",
        Rule::play_stmt
        | Rule::menu_stmt
        | Rule::collect_stmt
        | Rule::lookup_stmt
        | Rule::let_stmt
        | Rule::set_stmt
        | Rule::if_stmt
        | Rule::match_stmt
        | Rule::goto_stmt
        | Rule::run_stmt
        | Rule::return_stmt
        | Rule::enqueue_stmt
        | Rule::transfer_stmt
        | Rule::voicemail_stmt
        | Rule::hangup_stmt
        | Rule::record_stmt
        | Rule::tag_stmt
        | Rule::timeline_stmt
        | Rule::ticket_stmt
        | Rule::survey_stmt
        | Rule::webhook_stmt
        | Rule::notify_stmt => "a statement",
        Rule::record_mode => "`on`, `off`, `pause` or `resume`",
        Rule::ticket_link_or_create | Rule::ticket_create | Rule::ticket_link => {
            "`link`, `create` or `link or create`"
        }
        Rule::else_if | Rule::else_block => "`else`",
        Rule::match_arm | Rule::pattern_else | Rule::pattern_starts | Rule::pattern_exact => {
            "a pattern (`\"123\"`, `starts with \"4\"` or `else`)"
        }
        Rule::key_arm => "a key arm such as `1 => ...`",
        Rule::prompt_option => "`prompt`",
        Rule::timeout_option => "`timeout`",
        Rule::attempts_option => "`attempts`",
        Rule::length_option => "`length`",
        Rule::terminator_option => "`terminator`",
        Rule::interdigit_option => "`interdigit`",
        Rule::valid_option => "`valid if`",
        Rule::sensitive_option => "`sensitive`",
        Rule::failure_arm
        | Rule::arm_invalid
        | Rule::arm_no_input
        | Rule::arm_exhausted
        | Rule::arm_failed => "an arm (`invalid`, `no input`, `exhausted` or `failed`)",
        Rule::expr
        | Rule::if_expr
        | Rule::operand
        | Rule::not_op
        | Rule::negate
        | Rule::call_expr => "a value",
        Rule::or_op => "`or`",
        Rule::and_op => "`and`",
        Rule::is_found | Rule::is_missing => "`is found` or `is missing`",
        Rule::starts_with => "`starts with`",
        Rule::compare_op => "a comparison",
        Rule::add_op | Rule::mul_op => "an operator",
        Rule::field_access => "`.`",
        _ => "a word",
    }
}
