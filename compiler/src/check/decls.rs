//! The project's declarations by name: flows with their handlers and steps,
//! schedules, queues and sub-flows. Building the index reports declarations
//! in the wrong place (F0003) and names declared twice (F0110).
//!
//! A declaration with a syntax error is missing from the syntax tree. The
//! index still notes its name, read from the first words of its text, so
//! that references to it are not reported as unknown on top of the syntax
//! error.

use crate::diag::{Code, Diagnostic, FileId, Span, did_you_mean};
use crate::project::Project;
use crate::syntax::ast::{Decl, FlowHeader, Handler, Hours, Named, Queue};
use crate::syntax::split_declarations;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};

/// A project-wide declaration with the file it is in.
#[derive(Debug)]
pub struct Entry<'a, T> {
    /// The file.
    pub file: FileId,
    /// The declaration.
    pub decl: &'a T,
    /// True once something refers to it.
    pub used: Cell<bool>,
    /// True when an unknown name resembles it: the did-you-mean of that
    /// error names it, so it is not also reported as unused.
    pub guessed: Cell<bool>,
}

/// Project-wide declarations of one kind, in source order.
#[derive(Debug)]
pub struct Table<'a, T> {
    /// Entries in the order they were declared; a later duplicate is left
    /// out.
    pub entries: Vec<Entry<'a, T>>,
    by_name: HashMap<&'a str, usize>,
    /// Names of declarations of this kind that failed to parse.
    pub broken: HashSet<String>,
}

impl<T> Default for Table<'_, T> {
    fn default() -> Self {
        Table {
            entries: Vec::new(),
            by_name: HashMap::new(),
            broken: HashSet::new(),
        }
    }
}

impl<'a, T> Table<'a, T> {
    /// Finds a declaration by name.
    pub fn get(&self, name: &str) -> Option<&Entry<'a, T>> {
        self.entries.get(*self.by_name.get(name)?)
    }

    /// True when a declaration of this name failed to parse.
    pub fn is_broken(&self, name: &str) -> bool {
        self.broken.contains(name)
    }

    /// Names, for did-you-mean.
    pub fn names(&self) -> impl Iterator<Item = &'a str> + Clone + '_ {
        self.by_name.keys().copied()
    }

    /// Notes that an unknown `name` was written: the declaration it
    /// resembles, if any, is the one meant.
    pub fn guess(&self, name: &str) {
        if let Some(entry) = did_you_mean(name, self.names()).and_then(|close| self.get(close)) {
            entry.guessed.set(true);
        }
    }

    /// Adds a declaration; returns the earlier one when the name is taken.
    fn add(&mut self, name: &'a str, file: FileId, decl: &'a T) -> Option<&Entry<'a, T>> {
        if let Some(&i) = self.by_name.get(name) {
            return self.entries.get(i);
        }
        self.by_name.insert(name, self.entries.len());
        self.entries.push(Entry {
            file,
            decl,
            used: Cell::new(false),
            guessed: Cell::new(false),
        });
        None
    }
}

/// The handlers and steps of one flow file.
#[derive(Debug)]
pub struct Unit<'a> {
    /// The file.
    pub file: FileId,
    /// The `flow` header; `None` when the file has none or it failed to
    /// parse.
    pub header: Option<&'a FlowHeader>,
    /// `on call`.
    pub on_call: Option<&'a Handler>,
    /// `after call`.
    pub after_call: Option<&'a Handler>,
    /// Steps in source order, without duplicates.
    pub steps: Vec<&'a Named>,
    /// Step names to indexes in `steps`.
    pub step_index: HashMap<&'a str, usize>,
    /// Names of steps that failed to parse.
    pub broken_steps: HashSet<String>,
    /// Variables that declarations which failed to parse may create.
    pub broken_vars: HashSet<String>,
    /// True when a declaration of this file failed to parse.
    pub broken_parts: bool,
}

impl Unit<'_> {
    /// True when a declaration of this file failed to parse, so it may
    /// hold uses the checker cannot see.
    pub fn has_broken_parts(&self) -> bool {
        self.broken_parts
    }

    /// Returns the flow's name for messages.
    pub fn describe(&self) -> String {
        match self.header {
            Some(header) => format!("flow `{}`", header.name.name),
            None => String::from("this flow"),
        }
    }
}

/// Every declaration of the project.
#[derive(Debug, Default)]
pub struct Index<'a> {
    /// Files with a `flow` header, `on call`, `after call` or steps.
    pub units: Vec<Unit<'a>>,
    /// Flow headers by flow name.
    pub flows: Table<'a, FlowHeader>,
    /// Schedules.
    pub schedules: Table<'a, Hours>,
    /// Queues.
    pub queues: Table<'a, Queue>,
    /// Sub-flows.
    pub subflows: Table<'a, Named>,
    /// True when a declaration of any file failed to parse.
    pub any_broken: bool,
}

/// The kinds and names read from the first words of declarations that
/// failed to parse.
#[derive(Debug, Default)]
struct Broken {
    flow: bool,
    on_call: bool,
    after_call: bool,
    flows: Vec<String>,
    schedules: Vec<String>,
    queues: Vec<String>,
    subflows: Vec<String>,
    steps: Vec<String>,
    vars: HashSet<String>,
    any: bool,
}

impl<'a> Index<'a> {
    /// Indexes every file of the project and reports misplaced and
    /// duplicate declarations.
    pub fn build(project: &'a Project, out: &mut Vec<Diagnostic>) -> Self {
        let mut index = Index::default();
        let with_errors = files_with_syntax_errors(project);
        for file in &project.files {
            let text = project.sources.get(file.id).map_or("", |f| f.text.as_str());
            let starts: Vec<u32> = file.ast.decls.iter().map(|d| d.span().start).collect();
            let mut broken = broken_declarations(text, &starts);
            broken.any |= with_errors.contains(&file.id);
            index.flows.broken.extend(broken.flows.iter().cloned());
            index
                .schedules
                .broken
                .extend(broken.schedules.iter().cloned());
            index.queues.broken.extend(broken.queues.iter().cloned());
            index
                .subflows
                .broken
                .extend(broken.subflows.iter().cloned());
            index.any_broken |= broken.any;
            index.add_file(file.id, &file.ast.decls, broken, out);
        }
        index
    }

    fn add_file(
        &mut self,
        file: FileId,
        decls: &'a [Decl],
        broken: Broken,
        out: &mut Vec<Diagnostic>,
    ) {
        let mut unit = Unit {
            file,
            header: None,
            on_call: None,
            after_call: None,
            steps: Vec::new(),
            step_index: HashMap::new(),
            broken_steps: broken.steps.into_iter().collect(),
            broken_vars: broken.vars,
            broken_parts: broken.any,
        };
        let mut has_flow_parts = false;
        for decl in decls {
            match decl {
                Decl::Flow(header) => {
                    if let Some(first) = unit.header {
                        out.push(second_header(file, first, header));
                        continue;
                    }
                    unit.header = Some(header);
                    if let Some(first) = self.flows.add(&header.name.name, file, header) {
                        out.push(duplicate(
                            "flow",
                            &header.name.name,
                            file,
                            header.name.span,
                            first.file,
                            first.decl.name.span,
                        ));
                    }
                }
                Decl::Hours(hours) => {
                    if let Some(first) = self.schedules.add(&hours.name.name, file, hours) {
                        out.push(duplicate(
                            "schedule",
                            &hours.name.name,
                            file,
                            hours.name.span,
                            first.file,
                            first.decl.name.span,
                        ));
                    }
                }
                Decl::Queue(queue) => {
                    if let Some(first) = self.queues.add(&queue.name.name, file, queue) {
                        out.push(duplicate(
                            "queue",
                            &queue.name.name,
                            file,
                            queue.name.span,
                            first.file,
                            first.decl.name.span,
                        ));
                    }
                }
                Decl::Subflow(sub) => {
                    if let Some(first) = self.subflows.add(&sub.name.name, file, sub) {
                        out.push(duplicate(
                            "sub-flow",
                            &sub.name.name,
                            file,
                            sub.name.span,
                            first.file,
                            first.decl.name.span,
                        ));
                    }
                }
                Decl::OnCall(handler) => {
                    has_flow_parts = true;
                    match unit.on_call {
                        Some(first) => out.push(second_handler("on call", file, first, handler)),
                        None => unit.on_call = Some(handler),
                    }
                }
                Decl::AfterCall(handler) => {
                    has_flow_parts = true;
                    match unit.after_call {
                        Some(first) => out.push(second_handler("after call", file, first, handler)),
                        None => unit.after_call = Some(handler),
                    }
                }
                Decl::Step(step) => {
                    has_flow_parts = true;
                    if let Some(&i) = unit.step_index.get(step.name.name.as_str()) {
                        if let Some(first) = unit.steps.get(i) {
                            out.push(duplicate(
                                "step",
                                &step.name.name,
                                file,
                                step.name.span,
                                file,
                                first.name.span,
                            ));
                        }
                        continue;
                    }
                    unit.step_index.insert(&step.name.name, unit.steps.len());
                    unit.steps.push(step);
                }
            }
        }
        let is_flow = unit.header.is_some() || broken.flow;
        if !is_flow {
            report_outside_flow(file, decls, out);
        } else if unit.on_call.is_none()
            && !broken.on_call
            && let Some(header) = unit.header
        {
            out.push(flow_without_on_call(file, header));
        }
        if is_flow || has_flow_parts || broken.on_call || broken.after_call {
            self.units.push(unit);
        }
    }
}

fn duplicate(
    kind: &str,
    name: &str,
    file: FileId,
    span: Span,
    first_file: FileId,
    first_span: Span,
) -> Diagnostic {
    Diagnostic::new(
        Code::DuplicateName,
        format!("{kind} `{name}` is declared twice"),
    )
    .primary(file, span, "declared again here")
    .secondary(first_file, first_span, "first declared here")
    .help(format!("rename one of them, or remove the second `{name}`"))
}

fn second_header(file: FileId, first: &FlowHeader, second: &FlowHeader) -> Diagnostic {
    Diagnostic::new(
        Code::MisplacedDeclaration,
        format!("second `flow` header `{}` in one file", second.name.name),
    )
    .primary(file, second.name.span, "second header")
    .secondary(
        file,
        first.name.span,
        "this file is already flow `".to_string() + &first.name.name + "`",
    )
    .help(format!(
        "a file holds one flow; move `flow {}` and its handlers into a file of its own",
        second.name.name
    ))
}

fn second_handler(what: &str, file: FileId, first: &Handler, second: &Handler) -> Diagnostic {
    Diagnostic::new(
        Code::MisplacedDeclaration,
        format!("second `{what}` in one flow"),
    )
    .primary(
        file,
        keyword_span(second.span, what),
        format!("second `{what}`"),
    )
    .secondary(file, keyword_span(first.span, what), "first written here")
    .help(format!(
        "a flow has one `{what}`; merge the two blocks into one"
    ))
}

fn flow_without_on_call(file: FileId, header: &FlowHeader) -> Diagnostic {
    Diagnostic::new(
        Code::MisplacedDeclaration,
        format!("flow `{}` has no `on call`", header.name.name),
    )
    .primary(file, header.name.span, "this flow never handles a call")
    .help("add `on call { ... }` with what happens when a call arrives")
}

fn report_outside_flow(file: FileId, decls: &[Decl], out: &mut Vec<Diagnostic>) {
    for decl in decls {
        let (what, span) = match decl {
            Decl::OnCall(h) => ("on call", keyword_span(h.span, "on call")),
            Decl::AfterCall(h) => ("after call", keyword_span(h.span, "after call")),
            Decl::Step(s) => ("step", s.name.span),
            _ => continue,
        };
        let message = match decl {
            Decl::Step(s) => format!("step `{}` in a file without a `flow` header", s.name.name),
            _ => format!("`{what}` in a file without a `flow` header"),
        };
        out.push(
            Diagnostic::new(Code::MisplacedDeclaration, message)
                .primary(file, span, "belongs to no flow")
                .help("start the file with `flow NAME`, or move this into the file of the flow it belongs to"),
        );
    }
}

/// Returns the span of the words a declaration or statement starts with.
pub fn keyword_span(span: Span, words: &str) -> Span {
    let len = u32::try_from(words.len()).unwrap_or(0);
    Span {
        start: span.start,
        end: span.start.saturating_add(len).min(span.end.max(span.start)),
    }
}

/// Returns the files that have a syntax error: some declaration of theirs
/// is missing from the syntax tree, or incomplete.
pub fn files_with_syntax_errors(project: &Project) -> HashSet<FileId> {
    project
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::SyntaxError)
        .filter_map(|d| d.primary_label().map(|l| l.file))
        .collect()
}

/// Reads the pieces of a file that did not become declarations.
fn broken_declarations(text: &str, parsed_starts: &[u32]) -> Broken {
    let mut broken = Broken::default();
    for range in split_declarations(text) {
        let parsed = parsed_starts
            .iter()
            .any(|&s| (s as usize) >= range.start && (s as usize) < range.end);
        let Some(piece) = text.get(range) else {
            continue;
        };
        let blank = piece.lines().all(|line| {
            let line = line.trim();
            line.is_empty() || line.starts_with("//")
        });
        if parsed || blank {
            continue;
        }
        broken.any = true;
        let words = words(piece);
        let first = words.first().copied().unwrap_or("");
        let second = words.get(1).map(|w| (*w).to_string());
        match (first, second) {
            ("flow", name) => {
                broken.flow = true;
                broken.flows.extend(name);
            }
            ("on", Some(w)) if w == "call" => broken.on_call = true,
            ("after", Some(w)) if w == "call" => broken.after_call = true,
            ("hours", Some(name)) => broken.schedules.push(name),
            ("queue", Some(name)) => broken.queues.push(name),
            ("subflow", Some(name)) => broken.subflows.push(name),
            ("step", Some(name)) => broken.steps.push(name),
            _ => {}
        }
        for pair in words.windows(2) {
            if let [word, name] = pair
                && matches!(*word, "let" | "collect" | "lookup")
            {
                broken.vars.insert((*name).to_string());
            }
        }
    }
    broken
}

/// Splits a text into words of letters, digits and underscores, skipping
/// `//` comments.
fn words(text: &str) -> Vec<&str> {
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .flat_map(|line| line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .filter(|w| !w.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_pieces_give_their_names() {
        let text = "flow a\n\non call {\n  let x = )\n}\n\nstep s {\n  collect y {\n}\n";
        let broken = broken_declarations(text, &[0]);
        assert!(broken.on_call);
        assert!(!broken.flow);
        assert_eq!(broken.steps, vec![String::from("s")]);
        assert!(broken.vars.contains("x"));
        assert!(broken.vars.contains("y"));
    }

    #[test]
    fn keyword_span_stays_inside() {
        let span = keyword_span(Span::new(10, 12), "after call");
        assert_eq!(span, Span::new(10, 12));
    }
}
