//! Loading the flows folder: every `.flow` file is checked and compiled
//! once at start, and each module is loaded as a `vm::Program` keyed by
//! the normalised numbers that reach it.

use crate::sip::uas::NumberPlan;
use flowc::project::{Project, PromptInventory};
use flowc::vm::Program;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The compiled flows, by normalised number; clones share them.
#[derive(Clone, Debug, Default)]
pub struct Flows {
    by_number: Arc<HashMap<String, Arc<Program>>>,
}

impl Flows {
    /// Returns the program that answers `user` (a Request-URI user or a
    /// number in any spelling `flowc` accepts).
    pub fn program(&self, user: &str) -> Option<&Arc<Program>> {
        // NOTE: the match is exact after removing spaces and punctuation, so
        // a carrier that sends `38615550100` for `+386 1 555 0100` gets 404.
        self.by_number.get(&flowc::config::number_digits(user))
    }

    /// Returns the number of numbers served.
    pub fn numbers(&self) -> usize {
        self.by_number.len()
    }

    /// Returns the names of the flows served, sorted and without repeats.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .by_number
            .values()
            .map(|p| p.module().flow.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

impl NumberPlan for Flows {
    fn is_known(&self, user: &str) -> bool {
        self.program(user).is_some()
    }
}

/// Checks and compiles every `.flow` file under `folder` with the config
/// at `config` (by default `tok.yaml` in `folder`); check errors are
/// returned in flowc's rendering.
pub fn load_flows(folder: &Path, config: Option<&Path>) -> Result<Flows, String> {
    let config_path = config
        .map(Path::to_path_buf)
        .unwrap_or_else(|| folder.join(flowc::config::FILE_NAME));
    let config_text = std::fs::read_to_string(&config_path).ok();
    let config_name = config_path.display().to_string();
    let pair = config_text
        .as_deref()
        .map(|text| (config_name.as_str(), text));
    // NOTE: prompt files are not listed here, so missing prompts are left to `flowc check`.
    let mut project = Project::new(pair, PromptInventory::default());

    let files = flow_files(folder)
        .map_err(|error| format!("cannot list the flows in `{}`: {error}", folder.display()))?;
    if files.is_empty() {
        return Err(format!(
            "no `.flow` files in `{}`; set `flows:` in tok.yaml or start flowd where `flows/` is",
            folder.display()
        ));
    }
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|error| format!("cannot read `{}`: {error}", file.display()))?;
        project.add_flow(&file.display().to_string(), &text);
    }

    let mut diagnostics = project.diagnostics.clone();
    diagnostics.extend(flowc::check::check(&project));
    let errors: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| flowc::diag::render_human(d, &project.sources, false))
        .collect();
    if !errors.is_empty() {
        return Err(format!(
            "the flows have errors; fix them and run `flowc check`:\n{}",
            errors.join("\n")
        ));
    }
    let modules = flowc::codegen::compile_all(&project).map_err(|diagnostics| {
        let rendered: Vec<String> = diagnostics
            .iter()
            .map(|d| flowc::diag::render_human(d, &project.sources, false))
            .collect();
        format!("the flows could not be compiled:\n{}", rendered.join("\n"))
    })?;
    let mut by_number = HashMap::new();
    for module in modules {
        let numbers = module.numbers.clone();
        let program = Program::load(module, |name| jiff::tz::db().get(name).ok())
            .map_err(|error| error.to_string())?;
        for number in numbers {
            by_number.insert(flowc::config::number_digits(&number), program.clone());
        }
    }
    Ok(Flows {
        by_number: Arc::new(by_number),
    })
}

fn flow_files(folder: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "flow") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}
