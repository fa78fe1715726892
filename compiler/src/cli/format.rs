//! `flowc fmt`: rewrite flow files in the canonical layout, or with
//! `--check` list the files that are not.

use super::{EXIT_ERRORS, EXIT_OK, emit, load, usage_error};
use flowc::diag::{self, SourceMap};
use std::path::{Path, PathBuf};

/// Formats the flow files under `paths` in place, or only checks them.
pub fn run(paths: &[PathBuf], check: bool) -> u8 {
    let mut files = Vec::new();
    for path in paths {
        match collect(path) {
            Ok(mut found) => files.append(&mut found),
            Err(message) => return usage_error(&message),
        }
    }
    let mut failed = false;
    let mut changed = 0;
    for file in &files {
        match format_one(file, check) {
            Ok(true) => changed += 1,
            Ok(false) => {}
            Err(()) => failed = true,
        }
    }
    let total = files.len();
    if check {
        emit(&format!(
            "{changed} of {total} flow files need formatting\n"
        ));
    } else {
        emit(&format!(
            "formatted {total} flow files, {changed} changed\n"
        ));
    }
    if failed || (check && changed > 0) {
        EXIT_ERRORS
    } else {
        EXIT_OK
    }
}

fn collect(path: &Path) -> Result<Vec<PathBuf>, String> {
    let metadata =
        std::fs::metadata(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if metadata.is_dir() {
        load::flow_files(path)
    } else {
        Ok(vec![path.to_path_buf()])
    }
}

/// Formats one file; returns whether it changed (or would change). A file
/// with syntax errors is reported and left untouched.
fn format_one(path: &Path, check: bool) -> Result<bool, ()> {
    let text = load::read(path).map_err(|message| {
        eprintln!("error: {message}");
    })?;
    let mut sources = SourceMap::new();
    let file = sources.add(load::display(path), text.clone());
    let formatted = match flowc::fmt::format_file(&text, file) {
        Ok(formatted) => formatted,
        Err(problems) => {
            for problem in &problems {
                emit(&diag::render_human(problem, &sources, false));
            }
            eprintln!(
                "error: `{}` not formatted: fix the errors above first",
                load::display(path)
            );
            return Err(());
        }
    };
    if formatted == text {
        return Ok(false);
    }
    if check {
        emit(&format!("would reformat {}\n", load::display(path)));
    } else if let Err(error) = std::fs::write(path, formatted) {
        eprintln!("error: cannot write `{}`: {error}", path.display());
        return Err(());
    }
    Ok(true)
}
