//! Loading the flows folder: every `.flow` file is checked and compiled
//! once at start, and each module is loaded as a `vm::Program` keyed by
//! the E.164 form of the numbers that reach it (see `flowc::number`).

use crate::sip::uas::NumberPlan;
use flowc::number::{self, CountryCode};
use flowc::project::{Project, PromptInventory};
use flowc::syntax::ast::Decl;
use flowc::vm::Program;
use sha2::Digest;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The compiled flows, by normalised number; clones share them.
#[derive(Clone, Debug, Default)]
pub struct Flows {
    by_number: Arc<HashMap<String, Arc<Program>>>,
    country_code: Option<CountryCode>,
    /// Hex SHA-256 of each flow's encoded module, by flow name.
    versions: Arc<HashMap<String, String>>,
    /// The checked `tok.yaml`: hooks and CRM field types.
    config: Arc<flowc::config::Config>,
}

impl Flows {
    /// Returns the program that answers `user` (a Request-URI user, a tel
    /// URI number or a number in any spelling `flowc::number` reads).
    pub fn program(&self, user: &str) -> Option<&Arc<Program>> {
        self.find(user).map(|(_, program)| program)
    }

    /// Returns the normalised number `user` matched and its program.
    pub fn find(&self, user: &str) -> Option<(String, &Arc<Program>)> {
        number::normalise(user, self.country_code)
            .candidates()
            .into_iter()
            .find_map(|key| {
                let program = self.by_number.get(&key)?;
                Some((key, program))
            })
    }

    /// Returns the country calling code national numbers are read with.
    pub fn country_code(&self) -> Option<CountryCode> {
        self.country_code
    }

    /// Returns the version of flow `name`: the hex SHA-256 of its encoded
    /// module, or an empty text for an unknown flow.
    pub fn version(&self, name: &str) -> &str {
        self.versions.get(name).map_or("", String::as_str)
    }

    /// Returns the checked config the flows were compiled with.
    pub fn config(&self) -> &flowc::config::Config {
        &self.config
    }

    /// Returns the number of numbers served.
    pub fn numbers(&self) -> usize {
        self.by_number.len()
    }

    /// Returns every queue the flows declare, by name. A queue declared in
    /// a library is compiled into each flow that uses it; the first one
    /// found is returned.
    pub fn queues(&self) -> HashMap<String, flowc::bytecode::Queue> {
        let mut queues = HashMap::new();
        for program in self.by_number.values() {
            for queue in &program.module().queues {
                queues
                    .entry(queue.name.clone())
                    .or_insert_with(|| queue.clone());
            }
        }
        queues
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
/// at `config` (by default `tok.yaml` in `folder`) and the prompt files in
/// `prompts`; check errors are returned in flowc's rendering.
pub fn load_flows(
    folder: &Path,
    config: Option<&Path>,
    prompts: PromptInventory,
) -> Result<Flows, String> {
    let config_path = config
        .map(Path::to_path_buf)
        .unwrap_or_else(|| folder.join(flowc::config::FILE_NAME));
    let config_text = std::fs::read_to_string(&config_path).ok();
    let config_name = config_path.display().to_string();
    let pair = config_text
        .as_deref()
        .map(|text| (config_name.as_str(), text));
    let mut project = Project::new(pair, prompts);

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
    let country_code = project.config.country_code;
    check_shared_numbers(&project, config_name.as_str())?;
    let mut by_number = HashMap::new();
    let mut versions = HashMap::new();
    for module in modules {
        let numbers = module.numbers.clone();
        let digest = sha2::Sha256::digest(module.encode());
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        versions.insert(module.flow.clone(), hex);
        let program = Program::load(module, |name| jiff::tz::db().get(name).ok())
            .map_err(|error| error.to_string())?;
        for written in numbers {
            by_number.insert(number::table_key(&written, country_code), program.clone());
        }
    }
    Ok(Flows {
        by_number: Arc::new(by_number),
        country_code,
        versions: Arc::new(versions),
        config: Arc::new(project.config.clone()),
    })
}

/// Rejects two flows that answer the same number once both are brought to
/// E.164, such as `+386 1 555 0100` in one flow and `015550100` in another
/// with `country_code: 386`. The error names the file of each.
fn check_shared_numbers(project: &Project, config_name: &str) -> Result<(), String> {
    let country_code = project.config.country_code;
    // (flow, file, number as written) by normalised number.
    let mut claims: HashMap<String, (String, String, String)> = HashMap::new();
    let mut entries: Vec<(String, String, String)> = Vec::new();
    for file in &project.files {
        let name = project
            .sources
            .get(file.id)
            .map(|source| source.name.clone())
            .unwrap_or_default();
        for decl in &file.ast.decls {
            if let Decl::Flow(header) = decl {
                for answer in &header.answers {
                    entries.push((header.name.name.clone(), name.clone(), answer.value.clone()));
                }
            }
        }
    }
    for (written, flow) in &project.config.numbers {
        entries.push((flow.clone(), config_name.to_string(), written.clone()));
    }
    for (flow, file, written) in entries {
        let key = number::table_key(&written, country_code);
        match claims.get(&key) {
            Some((first_flow, first_file, first_written)) if *first_flow != flow => {
                return Err(format!(
                    "two flows answer {key}: flow `{first_flow}` in `{first_file}` (as `{first_written}`) and flow `{flow}` in `{file}` (as `{written}`); keep the number in one of them"
                ));
            }
            Some(_) => {}
            None => {
                claims.insert(key, (flow, file, written));
            }
        }
    }
    Ok(())
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
