//! `flowc check`: load each project, check it, print the diagnostics and a
//! one-line summary.

use super::{EXIT_ERRORS, EXIT_OK, emit, load, usage_error};
use flowc::diag::{self, Diagnostic, Format, SourceMap};
use flowc::project::Project;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Runs `flowc check` and returns the exit status.
pub fn run(paths: &[PathBuf], format: Format, deny_warnings: bool, config: Option<&Path>) -> u8 {
    let targets = match load::targets(paths) {
        Ok(targets) => targets,
        Err(message) => return usage_error(&message),
    };
    let mut report = Report::new(format);
    for target in &targets {
        let project = match load::project(&target.root, config, &target.only) {
            Ok(project) => project,
            Err(message) => return usage_error(&message),
        };
        let diagnostics = check_project(&project, &target.only);
        report.add(
            &project,
            &diagnostics,
            files_checked(&project, &target.only),
        );
    }
    report.finish();
    let failed = report.errors > 0 || (deny_warnings && report.warnings > 0);
    if failed { EXIT_ERRORS } else { EXIT_OK }
}

/// Returns the diagnostics of a project, keeping only those about the named
/// files (and the config) when files were named.
pub fn check_project(project: &Project, only: &[PathBuf]) -> Vec<Diagnostic> {
    let mut all = project.diagnostics.clone();
    all.extend(flowc::check::check(project));
    all.sort_by_key(|d| d.primary_label().map(|l| (l.file, l.span.start)));
    if only.is_empty() {
        return all;
    }
    let wanted: Vec<String> = only.iter().map(|p| load::display(p)).collect();
    let config_file = project.config.file;
    all.retain(|d| {
        let Some(label) = d.primary_label() else {
            return true;
        };
        Some(label.file) == config_file
            || project
                .sources
                .get(label.file)
                .is_some_and(|f| wanted.contains(&f.name))
    });
    all
}

fn files_checked(project: &Project, only: &[PathBuf]) -> usize {
    let flows = if only.is_empty() {
        project.files.len()
    } else {
        only.len()
    };
    flows + usize::from(project.config.file.is_some())
}

/// Collects output across projects, so the summary counts everything.
struct Report {
    format: Format,
    color: bool,
    errors: usize,
    warnings: usize,
    files: usize,
    json: Vec<serde_json::Value>,
}

impl Report {
    fn new(format: Format) -> Self {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Report {
            format,
            color,
            errors: 0,
            warnings: 0,
            files: 0,
            json: Vec::new(),
        }
    }

    fn add(&mut self, project: &Project, diagnostics: &[Diagnostic], files: usize) {
        self.files += files;
        for diagnostic in diagnostics {
            if diagnostic.is_error() {
                self.errors += 1;
            } else {
                self.warnings += 1;
            }
            self.print(diagnostic, &project.sources);
        }
    }

    fn print(&mut self, diagnostic: &Diagnostic, sources: &SourceMap) {
        match self.format {
            Format::Human => emit(&diag::render_human(diagnostic, sources, self.color)),
            Format::Github => emit(&format!("{}\n", diag::render_github(diagnostic, sources))),
            Format::Json => {
                let line = diag::render_json(diagnostic, sources);
                self.json
                    .push(serde_json::from_str(&line).unwrap_or(serde_json::Value::Null));
            }
        }
    }

    fn finish(&self) {
        let summary = diag::summary_line(self.files, self.errors, self.warnings);
        match self.format {
            Format::Json => {
                let json =
                    serde_json::to_string_pretty(&self.json).unwrap_or_else(|_| String::from("[]"));
                emit(&format!("{json}\n"));
                eprintln!("{summary}");
            }
            Format::Human | Format::Github => emit(&format!("{summary}\n")),
        }
    }
}
