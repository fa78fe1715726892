//! Compiling checked syntax trees to bytecode.
//!
//! [`compile`] turns one flow of a [`Project`] into a [`Module`]: the flow's
//! `on call`, `after call` and steps, plus the sub-flows, queues and
//! schedules it references, found anywhere in the project. Each is visited
//! once, so compiling takes time linear in the size of the sources.
//!
//! The compiler expects a project that `flowc check` accepted. It does not
//! repeat the checks, but when it meets something it cannot compile (an
//! unknown name, a type it cannot work out, a missing `attempts`) it
//! reports it as [`Code::CannotCompile`] instead of panicking.
//!
//! How statements become instructions:
//!
//! - Expressions that are a literal or a variable are pushed directly;
//!   every other expression becomes an [`ExprUnit`] run with `eval`.
//! - `menu` and `collect` count attempts in a hidden slot. The prompt plays,
//!   the input is waited for, and the arms branch on it. After an invalid
//!   or missing input, the matching failure arm runs and the counter goes
//!   up; while it is below `attempts` the prompt plays again. Otherwise the
//!   `exhausted` arm runs. The failure arm also runs on the last attempt,
//!   before `exhausted`.
//! - `collect` stores the digits first and then evaluates one unit that
//!   checks the length and the `valid if` condition.
//! - `enqueue` continues with `end` unless the queue overflows; then the
//!   `else` arm runs, or the queue's overflow block. A queue's priority
//!   and overflow ending use the variables where it is enqueued, so a queue
//!   enqueued from the flow and from a sub-flow has one entry for each.
//! - `on call` starts with `answer` and every handler ends with `end`
//!   (`return` for sub-flows), so no block runs past its last instruction.

mod expr;
mod index;
mod stmt;
mod tables;
mod vars;

#[cfg(test)]
mod tests;

use crate::bytecode::{
    Block, BlockId, BlockKind, Const, ConstId, ExprUnit, Module, Position, Probe, ProbeId,
    ProbeOutcome, Queue, QueueId, Schedule, ScheduleId, Slot, SlotId,
};
use crate::diag::{Code, Diagnostic, FileId, Span, unknown_name_help};
use crate::project::Project;
use crate::syntax::ast;
use index::Index;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use stmt::BlockCode;
use vars::Scope;

/// The longest probe site, in characters; longer conditions are cut.
const MAX_SITE_CHARS: usize = 80;

/// Compiles the flow named `flow` with everything it references.
pub fn compile(project: &Project, flow: &str) -> Result<Module, Vec<Diagnostic>> {
    let index = Index::new(project);
    compile_flow(&index, flow)
}

/// Compiles every flow of the project, in file order; returns the errors of
/// all of them when any fails.
pub fn compile_all(project: &Project) -> Result<Vec<Module>, Vec<Diagnostic>> {
    let index = Index::new(project);
    let mut modules = Vec::new();
    let mut errors = Vec::new();
    for flow in index.flow_names() {
        match compile_flow(&index, flow) {
            Ok(module) => modules.push(module),
            Err(mut flow_errors) => errors.append(&mut flow_errors),
        }
    }
    if errors.is_empty() {
        Ok(modules)
    } else {
        Err(errors)
    }
}

fn compile_flow(index: &Index<'_>, flow: &str) -> Result<Module, Vec<Diagnostic>> {
    let Some(found) = index.flow(flow) else {
        let help = unknown_name_help("flow", flow, index.flow_names());
        return Err(vec![
            Diagnostic::new(Code::UnknownFlowName, format!("no flow is named `{flow}`")).help(help),
        ]);
    };
    let mut generator = Generator::new(index, found);
    generator.compile_handlers();
    generator.drain_work();
    generator.finish()
}

/// Marks an error that was already added to [`Generator::errors`].
#[derive(Clone, Copy, Debug)]
struct Reported;

type Compiled<T> = Result<T, Reported>;

/// Work found while compiling: items compiled once, after the handlers.
enum Work<'p> {
    Subflow {
        block: BlockId,
        file: FileId,
        decl: &'p ast::Named,
    },
    Queue {
        id: QueueId,
        file: FileId,
        decl: &'p ast::Queue,
        scope: usize,
        overflow: Option<BlockId>,
    },
}

/// The state of compiling one flow.
struct Generator<'p> {
    index: &'p Index<'p>,
    flow: &'p index::FlowDecls<'p>,
    /// The file of the declaration being compiled, for diagnostics.
    file: FileId,
    consts: Vec<Const>,
    const_ids: HashMap<Const, ConstId>,
    slots: Vec<Slot>,
    slot_names: BTreeSet<String>,
    scopes: Vec<Scope<'p>>,
    units: Vec<ExprUnit>,
    blocks: Vec<Block>,
    steps: HashMap<&'p str, BlockId>,
    subflows: HashMap<&'p str, BlockId>,
    /// Queues by name and by the scope of the `enqueue`: the priority and
    /// the overflow ending are compiled in that scope.
    queue_ids: HashMap<(&'p str, usize), (QueueId, Option<BlockId>)>,
    queues: Vec<Option<Queue>>,
    schedule_ids: HashMap<&'p str, ScheduleId>,
    schedules: Vec<Schedule>,
    work: Vec<Work<'p>>,
    used_files: BTreeSet<FileId>,
    /// Probes; their positions hold a [`FileId`] as the source until
    /// [`Generator::finish`] maps it to a source index.
    probes: Vec<Probe>,
    errors: Vec<Diagnostic>,
}

impl<'p> Generator<'p> {
    fn new(index: &'p Index<'p>, flow: &'p index::FlowDecls<'p>) -> Self {
        let mut used_files = BTreeSet::new();
        used_files.insert(flow.file);
        if let Some(config) = index.project.config.file {
            used_files.insert(config);
        }
        Generator {
            index,
            flow,
            file: flow.file,
            consts: Vec::new(),
            const_ids: HashMap::new(),
            slots: Vec::new(),
            slot_names: BTreeSet::new(),
            scopes: Vec::new(),
            units: Vec::new(),
            blocks: Vec::new(),
            steps: HashMap::new(),
            subflows: HashMap::new(),
            queue_ids: HashMap::new(),
            queues: Vec::new(),
            schedule_ids: HashMap::new(),
            schedules: Vec::new(),
            work: Vec::new(),
            used_files,
            probes: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Reports a problem at a place in the current file.
    fn fail(&mut self, span: Span, message: impl Into<String>, label: &str) -> Reported {
        let message = format!(
            "cannot compile flow `{}`: {}",
            self.flow.name,
            message.into()
        );
        self.errors.push(
            Diagnostic::new(Code::CannotCompile, message)
                .primary(self.file, span, label)
                .help("run `flowc check` and fix what it reports; the compiler expects a checked project"),
        );
        Reported
    }

    fn constant(&mut self, constant: Const) -> ConstId {
        if let Some(id) = self.const_ids.get(&constant) {
            return *id;
        }
        let id = ConstId(self.consts.len() as u32);
        self.consts.push(constant.clone());
        self.const_ids.insert(constant, id);
        id
    }

    /// Adds a slot; the name gets a suffix when it is taken.
    fn add_slot(&mut self, mut slot: Slot) -> SlotId {
        if self.slot_names.contains(&slot.name) {
            let base = slot.name.clone();
            let mut n = 2;
            while self.slot_names.contains(&format!("{base}#{n}")) {
                n += 1;
            }
            slot.name = format!("{base}#{n}");
        }
        self.slot_names.insert(slot.name.clone());
        let id = SlotId(self.slots.len() as u32);
        self.slots.push(slot);
        id
    }

    fn add_block(&mut self, kind: BlockKind) -> BlockId {
        let id = BlockId(self.blocks.len() as u32);
        self.blocks.push(Block {
            kind,
            code: Vec::new(),
            lines: Vec::new(),
        });
        id
    }

    fn set_block(&mut self, id: BlockId, code: BlockCode) {
        if let Some(block) = self.blocks.get_mut(id.0 as usize) {
            block.code = code.instrs;
            block.lines = code.lines;
        }
    }

    /// Returns the position of a place in the current file, with the file's
    /// id as the source.
    fn position(&self, span: Span) -> Position {
        let at = self
            .index
            .project
            .sources
            .get(self.file)
            .map(|f| f.line_col(span.start));
        Position {
            source: self.file.0,
            line: at.map_or(1, |a| a.line),
            column: at.map_or(1, |a| a.column),
        }
    }

    /// Adds a probe of one outcome of the decision at `at`.
    fn probe(&mut self, at: Position, site: &str, outcome: ProbeOutcome) -> ProbeId {
        let id = ProbeId(self.probes.len() as u32);
        self.probes.push(Probe {
            at,
            site: site.to_string(),
            outcome,
        });
        id
    }

    /// Returns the source text of a place in the current file on one line,
    /// cut to [`MAX_SITE_CHARS`].
    fn site_text(&self, span: Span) -> String {
        let text = self
            .index
            .project
            .sources
            .get(self.file)
            .and_then(|f| f.text.get(span.start as usize..span.end as usize))
            .unwrap_or("");
        let words: Vec<&str> = text.split_whitespace().collect();
        let joined = words.join(" ");
        if joined.chars().count() <= MAX_SITE_CHARS {
            return joined;
        }
        let mut cut: String = joined.chars().take(MAX_SITE_CHARS - 3).collect();
        cut.push_str("...");
        cut
    }

    /// Returns the 1-based line of a place in the current file.
    fn line(&self, span: Span) -> u32 {
        self.index
            .project
            .sources
            .get(self.file)
            .map_or(0, |f| f.line_col(span.start).line)
    }

    fn finish(self) -> Result<Module, Vec<Diagnostic>> {
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        let project = self.index.project;
        let mut hasher = Sha256::new();
        let mut sources = Vec::new();
        let mut source_index = HashMap::new();
        for file in &self.used_files {
            if let Some(source) = project.sources.get(*file) {
                hasher.update((source.text.len() as u64).to_le_bytes());
                hasher.update(source.text.as_bytes());
                source_index.insert(file.0, sources.len() as u32);
                sources.push(source.name.clone());
            }
        }
        let map = |at: &mut Position| {
            at.source = source_index.get(&at.source).copied().unwrap_or(0);
        };
        let mut blocks = self.blocks;
        for entry in blocks.iter_mut().flat_map(|b| b.lines.iter_mut()) {
            map(&mut entry.at);
        }
        let mut probes = self.probes;
        for probe in &mut probes {
            map(&mut probe.at);
        }
        let queues = self.queues.into_iter().flatten().collect();
        Ok(Module {
            flow: self.flow.name.to_string(),
            source_hash: hasher.finalize().into(),
            sources,
            numbers: self.flow.numbers(project),
            languages: project.config.languages.clone(),
            default_language: project.config.default_language.clone(),
            consts: self.consts,
            slots: self.slots,
            schedules: self.schedules,
            units: self.units,
            queues,
            blocks,
            probes,
        })
    }
}
