//! A project: every flow file of one deployment, its config and the prompt
//! files that exist, as handed over by the caller (the CLI, the LSP or the
//! runtime), which did the reading.

use crate::config::Config;
use crate::diag::{Diagnostic, FileId, SourceMap};
use crate::syntax::{self, ast};
use std::collections::BTreeSet;

/// The prompt files that exist, as (folder, name) pairs: the folder is a
/// language such as `en`, or `common`; the name has no `.wav`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PromptInventory {
    /// False when the prompt folder could not be listed; prompt checks are
    /// then skipped.
    pub listed: bool,
    /// The files found.
    pub files: BTreeSet<(String, String)>,
}

impl PromptInventory {
    /// True when `name` exists for `language`, or in `common`.
    pub fn has(&self, language: &str, name: &str) -> bool {
        let has = |folder: &str| self.files.contains(&(folder.to_string(), name.to_string()));
        has(language) || has("common")
    }
}

/// One parsed flow file.
#[derive(Clone, Debug)]
pub struct FlowFile {
    /// Its id in the source map.
    pub id: FileId,
    /// The syntax tree of the declarations that parsed.
    pub ast: ast::File,
}

/// Everything one check or build looks at.
#[derive(Clone, Debug, Default)]
pub struct Project {
    /// Texts of flows and config, for diagnostics.
    pub sources: SourceMap,
    /// Parsed flow files.
    pub files: Vec<FlowFile>,
    /// The deployment config; defaults when there is no file.
    pub config: Config,
    /// Prompt files that exist.
    pub prompts: PromptInventory,
    /// Syntax and config problems found while loading.
    pub diagnostics: Vec<Diagnostic>,
}

impl Project {
    /// Creates a project with a config; `config_text` is `(name, text)` of
    /// the config file when there is one.
    pub fn new(config_text: Option<(&str, &str)>, prompts: PromptInventory) -> Self {
        let mut project = Project {
            prompts,
            ..Project::default()
        };
        if let Some((name, text)) = config_text {
            let id = project.sources.add(name, text);
            let (config, mut diagnostics) = crate::config::parse(text, id);
            project.config = config;
            project.diagnostics.append(&mut diagnostics);
        }
        project
    }

    /// Adds and parses a flow file.
    pub fn add_flow(&mut self, name: &str, text: &str) -> FileId {
        let id = self.sources.add(name, text);
        let (ast, mut diagnostics) = syntax::parse(text, id);
        self.files.push(FlowFile { id, ast });
        self.diagnostics.append(&mut diagnostics);
        id
    }
}
