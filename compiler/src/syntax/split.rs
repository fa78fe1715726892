//! Splitting a file into top-level declarations before parsing.
//!
//! pest stops at the first syntax error. To report the errors of every
//! declaration, the parser cuts the file at each line that starts a
//! declaration and parses the pieces one by one.

/// Words that start a top-level declaration.
const DECLARATION_WORDS: [&str; 6] = ["flow", "hours", "queue", "step", "subflow", "on"];

/// Returns byte ranges covering the whole text, one per declaration. A piece
/// starts at a line whose first column holds a declaration word, when the
/// braces before it are balanced. A line that clearly opens a new declaration
/// (`step NAME {`, `on call`, `after call`, ...) starts a piece even when an
/// earlier brace was left open, so a missing `}` costs one declaration, not
/// the rest of the file.
pub fn split_declarations(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut starts = vec![0];
    let mut depth: i64 = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if offset > 0 && starts_declaration(line, depth) {
            starts.push(offset);
            depth = 0;
        }
        depth += brace_balance(line);
        offset += line.len();
    }
    let mut ranges: Vec<_> = starts
        .windows(2)
        .filter_map(|w| Some(*w.first()?..*w.get(1)?))
        .collect();
    if let Some(&last) = starts.last() {
        ranges.push(last..text.len());
    }
    ranges
}

fn starts_declaration(line: &str, depth: i64) -> bool {
    let mut words = line
        .split(|c: char| c.is_whitespace() || c == '{')
        .filter(|w| !w.is_empty());
    let Some(first) = words.next() else {
        return false;
    };
    if !line.starts_with(first) {
        return false;
    }
    let second = words.next();
    let is_handler = matches!((first, second), ("on" | "after", Some("call")));
    if is_handler {
        return true;
    }
    if !DECLARATION_WORDS.contains(&first) || first == "on" {
        return false;
    }
    let names_something =
        second.is_some_and(|w| w.chars().all(|c| c.is_alphanumeric() || c == '_'));
    depth <= 0 || (names_something && (first == "flow" || line.contains('{')))
}

/// Counts `{` minus `}` outside strings and comments.
fn brace_balance(line: &str) -> i64 {
    let mut balance = 0;
    let mut in_string = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_string => {
                chars.next();
            }
            '"' => in_string = !in_string,
            '/' if !in_string && chars.peek() == Some(&'/') => break,
            '{' if !in_string => balance += 1,
            '}' if !in_string => balance -= 1,
            _ => {}
        }
    }
    balance
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str) -> Vec<&str> {
        split_declarations(text)
            .into_iter()
            .filter_map(|r| text.get(r))
            .collect()
    }

    #[test]
    fn splits_at_top_level_words() {
        let text =
            "flow a\n\nhours h in \"UTC\" {\n  on 2026-01-01 closed\n}\non call {\n  hangup\n}\n";
        assert_eq!(
            pieces(text),
            vec![
                "flow a\n\n",
                "hours h in \"UTC\" {\n  on 2026-01-01 closed\n}\n",
                "on call {\n  hangup\n}\n"
            ]
        );
    }

    #[test]
    fn missing_brace_costs_one_declaration() {
        let text = "step a {\n  hangup\nstep b {\n  hangup\n}\n";
        assert_eq!(
            pieces(text),
            vec!["step a {\n  hangup\n", "step b {\n  hangup\n}\n"]
        );
    }

    #[test]
    fn braces_in_strings_and_comments_do_not_count() {
        assert_eq!(brace_balance("play \"{\" // }\n"), 0);
        assert_eq!(brace_balance("tag \"a\\\"{\" {\n"), 1);
    }

    #[test]
    fn after_inside_queue_stays_inside() {
        let text = "queue q {\nafter 60s drop routers\n}\n";
        assert_eq!(pieces(text).len(), 1);
    }
}
