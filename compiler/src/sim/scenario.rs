//! Scenario files (`*.test.yaml`): scripted calls of one flow with the
//! outcome, variables, tags, language and trace lines each must produce.
//!
//! The file is read as a spanned YAML tree and walked by hand, so every
//! unknown key and invalid value is reported with its line and column.

use super::host::Simulation;
use super::script::{
    self, Input, LookupAnswer, QueueAnswer, Script, parse_rating, parse_source_answer, parse_time,
};
use crate::config::yaml::{self, Node, ScalarKind, Value};
use crate::diag::Span;
use std::collections::BTreeMap;

/// A parsed scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioFile {
    /// The flow file, relative to the scenario file's folder, when given.
    pub flow: Option<String>,
    /// The line and column of the `flow:` value, for errors about it.
    pub flow_at: (usize, usize),
    /// The scenarios in file order.
    pub scenarios: Vec<Scenario>,
}

/// One scripted call and what it must produce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The scenario's name.
    pub name: String,
    /// The line where the scenario starts.
    pub line: usize,
    /// The call.
    pub call: CallSpec,
    /// The scripted caller and outside world.
    pub script: Script,
    /// The expectations.
    pub expect: Expect,
    /// The line and column of each `call` value by key (`at`, `tz`, `to`,
    /// `from`), for errors found when the call is set up.
    pub call_at: BTreeMap<&'static str, (usize, usize)>,
}

/// The call a scenario makes; what is not given takes the `flowc simulate`
/// defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallSpec {
    /// The dialled number.
    pub to: Option<String>,
    /// The caller's number.
    pub from: Option<String>,
    /// True when the caller withholds their number.
    pub anonymous: bool,
    /// The local start time, as `--at` takes it.
    pub at: Option<String>,
    /// The time zone of `at`.
    pub tz: Option<String>,
}

/// The expectations of a scenario; only those given are checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    /// `call.outcome`, such as `voicemail`.
    pub outcome: Option<String>,
    /// A text the runtime error must contain; without it, any error fails.
    pub error: Option<String>,
    /// The call's language at the end.
    pub language: Option<String>,
    /// Every tag of the call, in any order.
    pub tags: Option<Vec<String>>,
    /// Variables and their values as the trace prints them.
    pub variables: Vec<(String, String)>,
    /// Trace lines that must appear in this order, gaps allowed.
    pub trace: Vec<String>,
}

/// Reads a scenario file. Returns every problem as
/// `FILE:LINE:COLUMN: message`.
pub fn parse(file: &str, text: &str) -> Result<ScenarioFile, Vec<String>> {
    let root = yaml::load(text).map_err(|e| {
        let (line, column) = line_column(text, e.span);
        vec![format!(
            "{file}:{line}:{column}: invalid YAML: {}",
            e.message
        )]
    })?;
    let mut walker = Walker {
        file,
        text,
        problems: Vec::new(),
    };
    let parsed = walker.file(&root);
    if walker.problems.is_empty() {
        Ok(parsed)
    } else {
        Err(walker.problems)
    }
}

fn line_column(text: &str, span: Span) -> (usize, usize) {
    let offset = (span.start as usize).min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(1, |l| l.chars().count() + 1);
    (line, column)
}

struct Walker<'a> {
    file: &'a str,
    text: &'a str,
    problems: Vec<String>,
}

const FILE_KEYS: [&str; 2] = ["flow", "scenarios"];
const SCENARIO_KEYS: [&str; 9] = [
    "name",
    "call",
    "crm",
    "lookups",
    "inputs",
    "queues",
    "rating",
    "hangup_after",
    "expect",
];
const CALL_KEYS: [&str; 5] = ["to", "from", "anonymous", "at", "tz"];
/// The values of `call.outcome`, as [`crate::vm::Outcome::as_str`] writes them.
pub const OUTCOMES: [&str; 7] = [
    "answered",
    "voicemail",
    "transferred",
    "abandoned",
    "callback",
    "hangup",
    "overflow",
];

const EXPECT_KEYS: [&str; 6] = ["outcome", "error", "language", "tags", "variables", "trace"];

impl Walker<'_> {
    fn problem(&mut self, node: &Node, message: String) {
        let (line, column) = line_column(self.text, node.span);
        self.problems
            .push(format!("{}:{line}:{column}: {message}", self.file));
    }

    fn line(&self, node: &Node) -> usize {
        line_column(self.text, node.span).0
    }

    /// Returns a map's entries with their keys as text; reports unknown
    /// keys.
    fn entries<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        known: &[&str],
    ) -> Vec<(String, &'n Node)> {
        let Value::Map(pairs) = &node.value else {
            if !node.is_null() {
                self.problem(
                    node,
                    format!("{what} must be a map, not {}", node.describe()),
                );
            }
            return Vec::new();
        };
        let mut entries = Vec::new();
        for (key, value) in pairs {
            let name = key.scalar().map(|s| s.text.clone()).unwrap_or_default();
            if !known.contains(&name.as_str()) {
                self.problem(
                    key,
                    format!(
                        "unknown key `{name}` in {what}; expected one of {}",
                        known.join(", ")
                    ),
                );
                continue;
            }
            if entries.iter().any(|(n, _)| *n == name) {
                self.problem(key, format!("key `{name}` is given twice in {what}"));
                continue;
            }
            entries.push((name, value));
        }
        entries
    }

    /// Returns a scalar as text: strings, numbers and booleans as written.
    fn text(&mut self, node: &Node, what: &str) -> Option<String> {
        match node.scalar() {
            Some(scalar) if scalar.kind != ScalarKind::Null => Some(scalar.text.clone()),
            _ => {
                self.problem(
                    node,
                    format!("{what} must be a text, not {}", node.describe()),
                );
                None
            }
        }
    }

    fn texts(&mut self, node: &Node, what: &str) -> Vec<(String, Node)> {
        let Value::Seq(items) = &node.value else {
            self.problem(
                node,
                format!("{what} must be a list, not {}", node.describe()),
            );
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| self.text(item, what).map(|t| (t, item.clone())))
            .collect()
    }

    /// Reads expected trace lines. A line such as `hours office: open`
    /// written without quotes is a one-entry map to YAML; it is joined
    /// back into the line it was written as.
    fn trace_lines(&mut self, node: &Node) -> Vec<String> {
        let Value::Seq(items) = &node.value else {
            self.problem(
                node,
                format!("`trace` must be a list, not {}", node.describe()),
            );
            return Vec::new();
        };
        let mut lines = Vec::new();
        for item in items {
            let joined = match &item.value {
                Value::Map(pairs) => match pairs.as_slice() {
                    [(key, value)] => match (key.scalar(), value.scalar()) {
                        (Some(key), Some(value)) => Some(format!("{}: {}", key.text, value.text)),
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            };
            let line = match joined {
                Some(line) => Some(line),
                None => self.text(item, "a trace line"),
            };
            let Some(line) = line else {
                continue;
            };
            if line.trim().is_empty() {
                self.problem(
                    item,
                    String::from("an expected trace line is empty; write the step to look for, such as `play \"closed\"`, or remove the line"),
                );
                continue;
            }
            lines.push(line);
        }
        lines
    }

    fn parsed<T>(
        &mut self,
        node: &Node,
        what: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let text = self.text(node, what)?;
        match parse(&text) {
            Ok(value) => Some(value),
            Err(message) => {
                self.problem(node, message);
                None
            }
        }
    }

    fn file(&mut self, root: &Node) -> ScenarioFile {
        let mut parsed = ScenarioFile {
            flow: None,
            flow_at: (1, 1),
            scenarios: Vec::new(),
        };
        let mut has_scenarios = false;
        for (key, value) in self.entries(root, "the scenario file", &FILE_KEYS) {
            match key.as_str() {
                "flow" => {
                    parsed.flow = self.text(value, "`flow`");
                    parsed.flow_at = line_column(self.text, value.span);
                }
                _ => {
                    has_scenarios = true;
                    let Value::Seq(items) = &value.value else {
                        self.problem(
                            value,
                            format!("`scenarios` must be a list, not {}", value.describe()),
                        );
                        continue;
                    };
                    if items.is_empty() {
                        self.problem(
                            value,
                            String::from("no scenarios: the `scenarios:` list is empty; add at least one scenario"),
                        );
                    }
                    for item in items {
                        let Some(scenario) = self.scenario(item) else {
                            continue;
                        };
                        if let Some(first) =
                            parsed.scenarios.iter().find(|s| s.name == scenario.name)
                        {
                            let message = format!(
                                "scenario name `{}` is already used on line {}; give each scenario its own name",
                                scenario.name, first.line
                            );
                            self.problem(item, message);
                        }
                        parsed.scenarios.push(scenario);
                    }
                }
            }
        }
        if !has_scenarios {
            self.problem(
                root,
                String::from("the scenario file has no `scenarios:` list"),
            );
        }
        parsed
    }

    fn scenario(&mut self, node: &Node) -> Option<Scenario> {
        let mut scenario = Scenario {
            name: String::new(),
            line: self.line(node),
            call: CallSpec::default(),
            script: Script::default(),
            expect: Expect::default(),
            call_at: BTreeMap::new(),
        };
        let mut named = false;
        for (key, value) in self.entries(node, "a scenario", &SCENARIO_KEYS) {
            match key.as_str() {
                "name" => {
                    named = true;
                    scenario.name = self.text(value, "`name`").unwrap_or_default();
                    if scenario.name.trim().is_empty() {
                        self.problem(
                            value,
                            String::from(
                                "a scenario's `name` is empty; name what the scenario checks",
                            ),
                        );
                    }
                }
                "call" => {
                    scenario.call = self.call(value);
                    scenario.call_at = self.call_places(value);
                }
                "crm" => {
                    if let Some(answer) = self.parsed(value, "`crm`", LookupAnswer::parse)
                        && let Err(message) =
                            script::add_lookup(&mut scenario.script, "crm", answer)
                    {
                        self.problem(value, message);
                    }
                }
                "lookups" => self.lookups(value, &mut scenario.script),
                "inputs" => {
                    for (text, item) in self.texts(value, "`inputs`") {
                        match Input::parse(&text) {
                            Ok(input) => scenario.script.inputs.push(input),
                            Err(message) => self.problem(&item, message),
                        }
                    }
                }
                "queues" => {
                    for (text, item) in self.texts(value, "`queues`") {
                        match QueueAnswer::parse(&text) {
                            Ok(answer) => scenario.script.queues.push(answer),
                            Err(message) => self.problem(&item, message),
                        }
                    }
                }
                "rating" => scenario.script.rating = self.parsed(value, "`rating`", parse_rating),
                "hangup_after" => {
                    scenario.script.hangup_after_ms =
                        self.parsed(value, "`hangup_after`", |t| parse_time("hang-up time", t));
                }
                _ => scenario.expect = self.expect(value),
            }
        }
        if !named {
            self.problem(node, String::from("a scenario needs a `name`"));
            return None;
        }
        Some(scenario)
    }

    fn call(&mut self, node: &Node) -> CallSpec {
        let mut call = CallSpec::default();
        for (key, value) in self.entries(node, "`call`", &CALL_KEYS) {
            match key.as_str() {
                "to" => call.to = self.text(value, "`to`"),
                "from" => call.from = self.text(value, "`from`"),
                "anonymous" => match value.scalar().map(|s| (s.kind, s.text.as_str())) {
                    Some((ScalarKind::Bool, text)) => call.anonymous = text == "true",
                    _ => self.problem(value, String::from("`anonymous` must be true or false")),
                },
                "at" => call.at = self.text(value, "`at`"),
                _ => call.tz = self.text(value, "`tz`"),
            }
        }
        if call.anonymous && call.from.is_some() {
            self.problem(
                node,
                String::from("a call cannot have both `from` and `anonymous: true`; remove one"),
            );
        }
        call
    }

    /// Returns the line and column of each value of `call`.
    fn call_places(&self, node: &Node) -> BTreeMap<&'static str, (usize, usize)> {
        let mut places = BTreeMap::new();
        let Value::Map(pairs) = &node.value else {
            return places;
        };
        for (key, value) in pairs {
            let name = key.scalar().map(|s| s.text.as_str()).unwrap_or_default();
            if let Some(known) = CALL_KEYS.iter().find(|k| **k == name) {
                places.insert(*known, line_column(self.text, value.span));
            }
        }
        places
    }

    fn lookups(&mut self, node: &Node, script: &mut Script) {
        let Value::Map(pairs) = &node.value else {
            self.problem(
                node,
                format!(
                    "`lookups` must be a map of source to answer, not {}",
                    node.describe()
                ),
            );
            return;
        };
        for (key, value) in pairs {
            let Some(source) = self.text(key, "a lookup source") else {
                continue;
            };
            let Some(answer) = self.text(value, "a lookup answer") else {
                continue;
            };
            match parse_source_answer(&format!("{source}={answer}")) {
                Ok((source, answer)) => {
                    if let Err(message) = script::add_lookup(script, &source, answer) {
                        self.problem(value, message);
                    }
                }
                Err(message) => self.problem(value, message),
            }
        }
    }

    fn expect(&mut self, node: &Node) -> Expect {
        let mut expect = Expect::default();
        for (key, value) in self.entries(node, "`expect`", &EXPECT_KEYS) {
            match key.as_str() {
                "outcome" => {
                    expect.outcome = self.text(value, "`outcome`");
                    if let Some(outcome) = &expect.outcome
                        && !OUTCOMES.contains(&outcome.as_str())
                    {
                        let message = format!(
                            "invalid `outcome` `{outcome}`; expected one of {}",
                            OUTCOMES.join(", ")
                        );
                        self.problem(value, message);
                    }
                }
                "error" => expect.error = self.text(value, "`error`"),
                "language" => expect.language = self.text(value, "`language`"),
                "tags" => {
                    let tags = self.texts(value, "`tags`");
                    expect.tags = Some(tags.into_iter().map(|(t, _)| t).collect());
                }
                "variables" => {
                    let Value::Map(pairs) = &value.value else {
                        self.problem(
                            value,
                            format!(
                                "`variables` must be a map of name to value, not {}",
                                value.describe()
                            ),
                        );
                        continue;
                    };
                    for (name, wanted) in pairs {
                        if let (Some(name), Some(wanted)) = (
                            self.text(name, "a variable name"),
                            self.text(wanted, "a variable value"),
                        ) {
                            expect.variables.push((name, wanted));
                        }
                    }
                }
                _ => expect.trace = self.trace_lines(value),
            }
        }
        expect
    }
}

/// Splits a trace line into its time offset, place and event text. The
/// offset and place are optional, so a line copied from `flowc simulate`
/// and a bare event text are both accepted.
pub fn split_line(line: &str) -> (Option<&str>, Option<&str>, &str) {
    let mut rest = line.trim();
    let mut offset = None;
    let mut place = None;
    let (first, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if is_offset(first) {
        offset = Some(first);
        rest = after.trim_start();
    }
    let (first, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if is_place(first) {
        place = Some(first);
        rest = after.trim_start();
    }
    (offset, place, rest)
}

fn is_offset(word: &str) -> bool {
    word.strip_prefix('+').is_some_and(|time| {
        !time.is_empty()
            && time
                .chars()
                .all(|c| c.is_ascii_digit() || c == ':' || c == '.')
    })
}

fn is_place(word: &str) -> bool {
    word.rsplit_once(':').is_some_and(|(file, line)| {
        file.ends_with(".flow") && !line.is_empty() && line.chars().all(|c| c.is_ascii_digit())
    })
}

/// True when an actual trace line satisfies an expected one: the event
/// text starts with the expected event text, and the offset and place
/// match when the expected line gives them.
pub fn line_matches(expected: &str, actual: &str) -> bool {
    let (want_offset, want_place, want_text) = split_line(expected);
    let (offset, place, text) = split_line(actual);
    want_offset.is_none_or(|w| Some(w) == offset)
        && want_place.is_none_or(|w| Some(w) == place)
        && text.starts_with(want_text)
}

/// One expectation a simulation did not meet.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Mismatch {
    /// The expectation that differs: `error`, `outcome`, `language`, `tags`, `variable`
    /// or `trace`.
    pub kind: &'static str,
    /// The variable's name, for `variable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The expected value: a text, a list of tags or of trace
    /// lines.
    pub expected: serde_json::Value,
    /// The actual value, in the same form; `null` when there is
    /// nothing, such as no error or no such variable.
    pub actual: serde_json::Value,
    /// The readable block `flowc test` prints.
    pub text: String,
}

impl Mismatch {
    fn new(
        kind: &'static str,
        expected: serde_json::Value,
        actual: serde_json::Value,
        text: String,
    ) -> Mismatch {
        Mismatch {
            kind,
            name: None,
            expected,
            actual,
            text,
        }
    }
}

/// Checks a simulation against a scenario's expectations. Returns one
/// mismatch per failed expectation.
pub fn check(expect: &Expect, simulation: &Simulation, actual_lines: &[String]) -> Vec<Mismatch> {
    use serde_json::json;
    let mut failures = Vec::new();
    let actual_error = simulation.failure.as_ref().map(|f| f.message.clone());
    match (&actual_error, &expect.error) {
        (Some(actual), Some(wanted)) if !actual.contains(wanted.as_str()) => {
            failures.push(Mismatch::new(
                "error",
                json!(wanted),
                json!(actual),
                format!("error:\n  expected a message containing: {wanted}\n  actual: {actual}"),
            ));
        }
        (Some(actual), None) => failures.push(Mismatch::new(
            "error",
            serde_json::Value::Null,
            json!(actual),
            format!("the call stopped with an error: {actual}"),
        )),
        (None, Some(wanted)) => failures.push(Mismatch::new(
            "error",
            json!(wanted),
            serde_json::Value::Null,
            format!(
                "error:\n  expected a message containing: {wanted}\n  actual: the call finished without an error"
            ),
        )),
        _ => {}
    }
    if let Some(wanted) = &expect.outcome {
        let actual = simulation.outcome.map_or("none", |o| o.as_str());
        if actual != wanted {
            failures.push(Mismatch::new(
                "outcome",
                json!(wanted),
                json!(actual),
                format!("outcome:\n  expected: {wanted}\n  actual:   {actual}"),
            ));
        }
    }
    if let Some(wanted) = &expect.language
        && *wanted != simulation.language
    {
        failures.push(Mismatch::new(
            "language",
            json!(wanted),
            json!(simulation.language),
            format!(
                "language:\n  expected: {wanted}\n  actual:   {}",
                simulation.language
            ),
        ));
    }
    if let Some(wanted) = &expect.tags {
        let mut wanted_sorted = wanted.clone();
        wanted_sorted.sort();
        let mut actual = simulation.tags.clone();
        actual.sort();
        if wanted_sorted != actual {
            failures.push(Mismatch::new(
                "tags",
                json!(wanted),
                json!(simulation.tags),
                format!(
                    "tags:\n  expected: {}\n  actual:   {}",
                    show_list(wanted),
                    show_list(&simulation.tags)
                ),
            ));
        }
    }
    for (name, wanted) in &expect.variables {
        let actual = simulation
            .variables
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        let text = match actual {
            Some(actual) if actual == wanted => continue,
            Some(actual) => format!("variable {name}:\n  expected: {wanted}\n  actual:   {actual}"),
            None => format!(
                "variable {name}:\n  expected: {wanted}\n  actual:   the flow has no visible variable `{name}`"
            ),
        };
        let mut mismatch = Mismatch::new("variable", json!(wanted), json!(actual), text);
        mismatch.name = Some(name.clone());
        failures.push(mismatch);
    }
    if let Some(diff) = trace_diff(&expect.trace, actual_lines) {
        failures.push(Mismatch::new(
            "trace",
            json!(expect.trace),
            json!(actual_lines),
            diff,
        ));
    }
    failures
}

fn show_list(items: &[String]) -> String {
    if items.is_empty() {
        return String::from("(none)");
    }
    items.join(", ")
}

/// Lines of actual trace shown around the place where matching stopped.
const CONTEXT_LINES: usize = 6;

/// Matches expected lines in order against the actual lines, gaps allowed.
/// Returns a diff when an expected line is not found: the expected lines
/// with `=` (matched, with the actual line number) or `-` (not found), then
/// the actual lines after the last match with `+`.
pub fn trace_diff(expected: &[String], actual: &[String]) -> Option<String> {
    let mut next = 0usize;
    let mut matched: Vec<usize> = Vec::new();
    for wanted in expected {
        let found = actual
            .iter()
            .enumerate()
            .skip(next)
            .find(|(_, line)| line_matches(wanted, line))
            .map(|(index, _)| index);
        match found {
            Some(index) => {
                matched.push(index);
                next = index + 1;
            }
            None => break,
        }
    }
    let missing = expected.get(matched.len())?;
    let mut diff = match matched.last() {
        Some(last) => format!(
            "trace: expected line {} not found after actual line {}:\n",
            matched.len() + 1,
            last + 1
        ),
        None => String::from("trace: expected line 1 not found:\n"),
    };
    diff.push_str("  expected:\n");
    for (index, line) in expected.iter().enumerate() {
        match matched.get(index) {
            Some(at) => diff.push_str(&format!("    = {line}    (actual line {})\n", at + 1)),
            None if index == matched.len() => {
                diff.push_str(&format!("    - {missing}    <- not found\n"))
            }
            None => diff.push_str(&format!("    - {line}\n")),
        }
    }
    // Two lines before the search resumed show where the last match was.
    let first = next.saturating_sub(2);
    diff.push_str(&format!("  actual, from line {}:\n", first + 1));
    for (index, line) in actual.iter().enumerate().take(next).skip(first) {
        diff.push_str(&format!("      {:>3} {line}\n", index + 1));
    }
    let shown = actual.iter().enumerate().skip(next).take(CONTEXT_LINES * 2);
    for (index, line) in shown {
        diff.push_str(&format!("    + {:>3} {line}\n", index + 1));
    }
    if actual.len() > next + CONTEXT_LINES * 2 {
        diff.push_str(&format!(
            "    ... {} more lines\n",
            actual.len() - next - CONTEXT_LINES * 2
        ));
    }
    if next >= actual.len() {
        diff.push_str("    (no more actual lines)\n");
    }
    Some(diff.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_file_reads() {
        let text = "flow: support.flow\nscenarios:\n  - name: closed\n    call:\n      at: 2026-12-24T17:59\n      tz: Europe/Ljubljana\n    crm: timeout\n    inputs: [1, none, \"41234567#@2s\"]\n    queues: [technical=callback]\n    expect:\n      outcome: voicemail\n      tags: [crm-down]\n      variables: {vip: false}\n      trace:\n        - play \"closed\"\n";
        let parsed = parse("support.test.yaml", text);
        assert!(parsed.is_ok(), "{parsed:?}");
        let file = parsed.unwrap_or(ScenarioFile {
            flow: None,
            flow_at: (1, 1),
            scenarios: Vec::new(),
        });
        assert_eq!(file.flow.as_deref(), Some("support.flow"));
        let scenario = file.scenarios.first();
        assert_eq!(scenario.map(|s| s.name.as_str()), Some("closed"));
        assert_eq!(scenario.map(|s| s.line), Some(3));
        assert_eq!(scenario.map(|s| s.script.inputs.len()), Some(3));
        assert_eq!(
            scenario.and_then(|s| s.call.at.clone()),
            Some(String::from("2026-12-24T17:59"))
        );
        assert_eq!(
            scenario.map(|s| s.expect.variables.clone()),
            Some(vec![(String::from("vip"), String::from("false"))])
        );
    }

    #[test]
    fn unknown_key_named_with_line() {
        let text = "scenarios:\n  - name: x\n    expct:\n      outcome: voicemail\n";
        let errors = parse("a.test.yaml", text).err().unwrap_or_default();
        assert_eq!(errors.len(), 1);
        let first = errors.first().cloned().unwrap_or_default();
        assert!(
            first.starts_with("a.test.yaml:3:5: unknown key `expct`"),
            "{first}"
        );
    }

    #[test]
    fn bad_input_named_with_line() {
        let text = "scenarios:\n  - name: x\n    inputs: [1, x9]\n";
        let errors = parse("a.test.yaml", text).err().unwrap_or_default();
        let first = errors.first().cloned().unwrap_or_default();
        assert!(
            first.starts_with("a.test.yaml:3:17: invalid input `x9`"),
            "{first}"
        );
    }

    #[test]
    fn lines_match_by_prefix() {
        let actual = "   +0:05.0  support.flow:27      play \"closed\" in en";
        assert!(line_matches("play \"closed\"", actual));
        assert!(line_matches("support.flow:27 play \"closed\"", actual));
        assert!(line_matches("+0:05.0 support.flow:27 play", actual));
        assert!(!line_matches("support.flow:28 play \"closed\"", actual));
        assert!(!line_matches("+0:06.0 play", actual));
        assert!(!line_matches("play \"welcome\"", actual));
    }

    #[test]
    fn diff_names_missing_line() {
        let actual: Vec<String> = ["answer", "play \"welcome\" in en", "hangup"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let expected = vec![String::from("answer"), String::from("play \"closed\"")];
        let diff = trace_diff(&expected, &actual).unwrap_or_default();
        assert!(
            diff.starts_with("trace: expected line 2 not found after actual line 1"),
            "{diff}"
        );
        assert!(diff.contains("- play \"closed\"    <- not found"), "{diff}");
        assert!(diff.contains("+   2 play \"welcome\" in en"), "{diff}");
        let in_order = vec![String::from("answer"), String::from("hangup")];
        assert_eq!(trace_diff(&in_order, &actual), None);
    }
}
