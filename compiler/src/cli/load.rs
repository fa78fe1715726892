//! Finding flow files, the config and the prompt files, and reading them
//! into a [`Project`].

use flowc::config;
use flowc::project::{Project, PromptInventory};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Flow files end with this extension.
pub const FLOW_EXTENSION: &str = "flow";

/// A folder of flows with its config, and the files the user named.
pub struct Target {
    /// The project folder.
    pub root: PathBuf,
    /// The flow files to report on; empty means every file of the project.
    pub only: Vec<PathBuf>,
}

/// Groups the paths of the command line by project folder: a folder is its
/// own project; a file belongs to the project of its folder.
pub fn targets(paths: &[PathBuf]) -> Result<Vec<Target>, String> {
    let mut targets: Vec<Target> = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let (root, file) = if metadata.is_dir() {
            (path.clone(), None)
        } else {
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            (
                parent.map_or_else(|| PathBuf::from("."), Path::to_path_buf),
                Some(path.clone()),
            )
        };
        match targets.iter_mut().find(|t| t.root == root) {
            Some(target) => match file {
                Some(file) if !target.only.is_empty() => target.only.push(file),
                _ => target.only.clear(),
            },
            None => targets.push(Target {
                root,
                only: file.into_iter().collect(),
            }),
        }
    }
    Ok(targets)
}

/// Lists the `.flow` files under a folder, subfolders included, sorted.
pub fn flow_files(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot list `{}`: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let is_hidden = entry.file_name().to_string_lossy().starts_with('.');
            if path.is_dir() && !is_hidden {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == FLOW_EXTENSION) {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Reads a project: its config (`config` or `ROOT/tok.yaml` when it exists),
/// every flow file under the folder and the files in `named`, and the list
/// of prompt files.
pub fn project(
    root: &Path,
    config_path: Option<&Path>,
    named: &[PathBuf],
) -> Result<Project, String> {
    let default_config = root.join(config::FILE_NAME);
    let config_path = config_path
        .map(Path::to_path_buf)
        .or_else(|| default_config.exists().then_some(default_config));
    let config_text = match &config_path {
        Some(path) => Some(read(path)?),
        None => None,
    };
    let config_name = config_path.as_ref().map(|p| display(p));
    let config_pair = config_name.as_deref().zip(config_text.as_deref());
    let config_dir = config_path
        .as_ref()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let mut project = Project::new(config_pair, PromptInventory::default());
    let prompts_dir = config_dir
        .unwrap_or_else(|| root.to_path_buf())
        .join(&project.config.prompts.dir);
    project.prompts = prompt_inventory(&prompts_dir);
    let mut files = flow_files(root)?;
    // A file named on the command line is checked even without the `.flow`
    // extension.
    for file in named {
        if !files.iter().any(|f| display(f) == display(file)) {
            files.push(file.clone());
        }
    }
    for file in files {
        let text = read(&file)?;
        project.add_flow(&display(&file), &text);
    }
    Ok(project)
}

fn prompt_inventory(dir: &Path) -> PromptInventory {
    let Ok(folders) = std::fs::read_dir(dir) else {
        return PromptInventory::default();
    };
    let mut files = BTreeSet::new();
    for folder in folders.flatten().filter(|e| e.path().is_dir()) {
        let language = folder.file_name().to_string_lossy().into_owned();
        let Ok(entries) = std::fs::read_dir(folder.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
                && let Some(stem) = path.file_stem()
            {
                files.insert((language.clone(), stem.to_string_lossy().into_owned()));
            }
        }
    }
    PromptInventory {
        listed: true,
        files,
    }
}

/// Reads a file as UTF-8 text, with an error naming the file.
pub fn read(path: &Path) -> Result<String, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "`{}` is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// Returns the path as it is shown in reports.
pub fn display(path: &Path) -> String {
    let text = path.display().to_string();
    text.strip_prefix("./").map(str::to_string).unwrap_or(text)
}
