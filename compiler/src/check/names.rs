//! Names and types: every reference in the flows resolves against the
//! project's declarations and `tok.yaml`, every value has the type its place
//! needs, and every variable is set before it is read.
//!
//! The work is split by concept: [`super::decls`] indexes declarations,
//! [`super::stmts`] walks statements, [`super::exprs`] types expressions,
//! [`super::options`] checks options, [`super::prompts`] checks prompt files
//! and [`super::numbers`] checks which numbers reach which flows.

use super::decls::Index;
use super::prompts::{self, PromptUse};
use super::trust::Trust;
use super::types::Type;
use super::{numbers, options, stmts};
use crate::config::{BUILTIN_CONTACT_FIELDS, Config};
use crate::diag::{Code, Diagnostic, FileId, Span};
use crate::project::Project;
use std::cell::RefCell;
use std::collections::HashSet;

/// The part of a flow a statement or expression is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// `on call`.
    OnCall,
    /// A step.
    Step,
    /// `after call`.
    AfterCall,
    /// A sub-flow.
    Subflow,
}

/// The data every check of one project shares.
pub struct Env<'a> {
    /// The project.
    pub project: &'a Project,
    /// Its config.
    pub config: &'a Config,
    /// Its declarations.
    pub index: Index<'a>,
    /// What the config can be relied on for.
    pub trust: Trust,
    /// Every place that plays a prompt, for [`prompts::report`].
    pub prompt_uses: RefCell<Vec<PromptUse>>,
    /// Problems of queue options already reported, by code, place and
    /// message, so a queue entered from many places reports each once.
    reported: RefCell<HashSet<(Code, FileId, Span, String)>>,
}

impl<'a> Env<'a> {
    /// Returns the source text at `span`, on one line and shortened.
    pub fn snippet(&self, file: FileId, span: Span) -> String {
        const MAX_CHARS: usize = 40;
        let text = self
            .project
            .sources
            .get(file)
            .and_then(|f| f.text.get(span.range()))
            .unwrap_or("");
        let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.chars().count() <= MAX_CHARS {
            return line;
        }
        let short: String = line.chars().take(MAX_CHARS - 3).collect();
        format!("{short}...")
    }

    /// Returns the type of a contact field: built-in, or declared under
    /// `crm.fields`.
    pub fn contact_field(&self, name: &str) -> Option<Type> {
        BUILTIN_CONTACT_FIELDS
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, ty)| Type::of_field(*ty))
            .or_else(|| {
                self.config
                    .crm_fields
                    .get(name)
                    .map(|ty| Type::of_field(*ty))
            })
    }

    /// Names of all contact fields, for did-you-mean.
    pub fn contact_field_names(&self) -> impl Iterator<Item = &str> + Clone {
        BUILTIN_CONTACT_FIELDS
            .iter()
            .map(|(name, _)| *name)
            .chain(self.config.crm_fields.keys().map(String::as_str))
    }

    /// Names of every prompt file, for did-you-mean.
    pub fn prompt_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.project
            .prompts
            .files
            .iter()
            .map(|(_, name)| name.as_str())
    }

    /// Returns true the first time a diagnostic with this code, primary
    /// place and message is seen.
    pub fn first_report(&self, diagnostic: &Diagnostic) -> bool {
        let place = diagnostic
            .primary_label()
            .map(|label| (label.file, label.span))
            .unwrap_or_default();
        let key = (
            diagnostic.code,
            place.0,
            place.1,
            diagnostic.message.clone(),
        );
        self.reported.borrow_mut().insert(key)
    }
}

/// Adds this module's problems to `diagnostics`.
pub fn check(project: &Project, diagnostics: &mut Vec<Diagnostic>) {
    let index = Index::build(project, diagnostics);
    let env = Env {
        project,
        config: &project.config,
        index,
        trust: Trust::new(project),
        prompt_uses: RefCell::new(Vec::new()),
        reported: RefCell::new(HashSet::new()),
    };
    for entry in &env.index.queues.entries {
        options::queue(&env, entry, diagnostics);
    }
    for unit in &env.index.units {
        stmts::check_unit(&env, unit, diagnostics);
    }
    for entry in &env.index.subflows.entries {
        stmts::check_subflow(&env, entry, diagnostics);
    }
    let unentered: Vec<_> = env
        .index
        .queues
        .entries
        .iter()
        .filter(|entry| !entry.used.get())
        .collect();
    for entry in unentered {
        stmts::check_unentered_queue(&env, entry, diagnostics);
    }
    if !env.index.any_broken {
        report_unused(&env, diagnostics);
    }
    numbers::check(&env, diagnostics);
    prompts::report(&env, diagnostics);
}

/// Reports schedules, queues and sub-flows that nothing refers to.
fn report_unused(env: &Env<'_>, out: &mut Vec<Diagnostic>) {
    let index = &env.index;
    let unused = |used: bool, guessed: bool| !used && !guessed;
    for entry in &index.schedules.entries {
        if unused(entry.used.get(), entry.guessed.get()) {
            let name = &entry.decl.name.name;
            let help = format!("test it with `open({name})`, or remove it");
            out.push(unused_report(
                entry.file,
                &entry.decl.name,
                "schedule",
                "declared here, never tested",
                help,
            ));
        }
    }
    for entry in &index.queues.entries {
        if unused(entry.used.get(), entry.guessed.get()) {
            let name = &entry.decl.name.name;
            let help = format!("send calls there with `enqueue {name}`, or remove it");
            out.push(unused_report(
                entry.file,
                &entry.decl.name,
                "queue",
                "no call enters this queue",
                help,
            ));
        }
    }
    for entry in &index.subflows.entries {
        if unused(entry.used.get(), entry.guessed.get()) {
            let name = &entry.decl.name.name;
            let help = format!("run it with `run {name}`, or remove it");
            out.push(unused_report(
                entry.file,
                &entry.decl.name,
                "sub-flow",
                "nothing runs this sub-flow",
                help,
            ));
        }
    }
}

fn unused_report(
    file: FileId,
    name: &crate::syntax::ast::Ident,
    kind: &str,
    label: &str,
    help: String,
) -> Diagnostic {
    Diagnostic::new(
        Code::UnusedDeclaration,
        format!("{kind} `{}` is never used", name.name),
    )
    .primary(file, name.span, label)
    .help(help)
}
