//! Finding flow files, the config and the prompt files, and reading them
//! into a [`Project`].

use flowc::config;
use flowc::diag::{Code, Diagnostic, Span};
use flowc::project::{Project, PromptInventory};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The largest flow, config or scenario file read, in bytes: 16 MiB, far
/// above any hand-written file, so a wrong path cannot exhaust memory.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

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
            // `file_type` does not follow symbolic links, so a link to a
            // folder is never entered and a link loop cannot hang the walk.
            let is_real_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_real_dir && !is_hidden {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == FLOW_EXTENSION) && path.is_file() {
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
    if files.is_empty() {
        return Err(format!("no `.flow` files in `{}`", display(root)));
    }
    for file in files {
        add_flow_file(&mut project, &file)?;
    }
    if !prompts_dir.is_dir() {
        report_missing_prompt_folder(&mut project, &prompts_dir);
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

/// Reads a flow file into the project. A file that is not UTF-8 is
/// reported as a diagnostic of that file, so the other files are still
/// checked; a file that cannot be read at all stops the command.
fn add_flow_file(project: &mut Project, path: &Path) -> Result<(), String> {
    let bytes = read_bytes(path)?;
    let name = display(path);
    match String::from_utf8(bytes) {
        Ok(text) => {
            project.add_flow(&name, strip_bom(&text));
        }
        Err(error) => {
            let offset = error.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(error.as_bytes()).into_owned();
            let file = project.sources.add(name.clone(), text);
            let diagnostic =
                Diagnostic::new(Code::SyntaxError, format!("`{name}` is not UTF-8 text"))
                    .primary(file, Span::new(offset, offset + 1), "invalid UTF-8 byte")
                    .help(
                        "save the file as UTF-8; flows may contain any language's letters in UTF-8",
                    );
            project.diagnostics.push(diagnostic);
        }
    }
    Ok(())
}

/// Removes a UTF-8 byte order mark, which some Windows editors write; it is
/// not part of the text and would shift every column of the first line.
fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

fn report_missing_prompt_folder(project: &mut Project, dir: &Path) {
    let message = format!("prompt folder `{}` not found", display(dir));
    let mut diagnostic = Diagnostic::new(Code::PromptFolderMissing, message).help(
        "create it with one folder per language (`en/welcome.wav`), or set `prompts.dir` in tok.yaml",
    );
    let place = project
        .config
        .location("prompts.dir")
        .or_else(|| project.config.location("prompts"));
    if let Some((file, span)) = place {
        diagnostic = diagnostic.primary(file, span, "this folder does not exist");
    }
    project.diagnostics.push(diagnostic);
}

/// Reads a file as UTF-8 text, with an error naming the file.
pub fn read(path: &Path) -> Result<String, String> {
    let bytes = read_bytes(path)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "`{}` is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok(strip_bom(&text).to_string())
}

/// Reads a regular file of at most [`MAX_FILE_BYTES`], with an error
/// naming the file. Devices and pipes are rejected before reading, and a
/// file is read only up to the limit, so `/dev/zero` cannot fill memory.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let shown = display(path);
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    if !metadata.is_file() {
        let kind = if metadata.is_dir() {
            "a folder"
        } else {
            "a device, pipe or socket"
        };
        return Err(format!(
            "cannot read `{shown}`: it is {kind}, not a regular file; give a file"
        ));
    }
    let too_large = || {
        format!(
            "cannot read `{shown}`: it is larger than the limit of {} MiB for flow, config and scenario files",
            MAX_FILE_BYTES / (1024 * 1024)
        )
    };
    if metadata.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Returns the path as it is shown in reports.
pub fn display(path: &Path) -> String {
    let text = path.display().to_string();
    text.strip_prefix("./").map(str::to_string).unwrap_or(text)
}
