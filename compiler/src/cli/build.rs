//! `flowc build` and `flowc disasm`.

use super::{EXIT_ERRORS, EXIT_OK, check, emit, load, usage_error};
use flowc::diag::{self, Diagnostic};
use flowc::project::Project;
use flowc::syntax::ast::Decl;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Bytecode files get this extension by default.
const BYTECODE_EXTENSION: &str = "tokb";

/// Checks the project of one flow file and compiles that flow to bytecode.
pub fn build(file: &Path, output: Option<&Path>, config: Option<&Path>) -> u8 {
    if file.is_dir() {
        let shown = load::display(file);
        return usage_error(&format!(
            "`{shown}` is a folder; build one flow file, such as `{shown}/support.flow`"
        ));
    }
    let targets = match load::targets(&[file.to_path_buf()]) {
        Ok(targets) => targets,
        Err(message) => return usage_error(&message),
    };
    let Some(target) = targets.first() else {
        return usage_error("no flow file given");
    };
    let project = match load::project(&target.root, config, &target.only) {
        Ok(project) => project,
        Err(message) => return usage_error(&message),
    };
    let Some(flow) = flow_name(&project, file) else {
        let shown = load::display(file);
        return usage_error(&format!(
            "`{shown}` declares no flow; build a file that starts with `flow NAME`"
        ));
    };
    let problems = check::check_project(&project, &[]);
    if problems.iter().any(Diagnostic::is_error) {
        return report_errors(&project, &problems);
    }
    let module = match flowc::codegen::compile(&project, &flow) {
        Ok(module) => module,
        Err(problems) => return report_errors(&project, &problems),
    };
    let output = output.map_or_else(|| file.with_extension(BYTECODE_EXTENSION), PathBuf::from);
    let bytes = module.encode();
    if let Err(error) = std::fs::write(&output, &bytes) {
        return usage_error(&format!("cannot write `{}`: {error}", output.display()));
    }
    eprintln!(
        "compiled flow `{flow}` to {} ({} bytes)",
        load::display(&output),
        bytes.len()
    );
    EXIT_OK
}

/// Returns the name of the flow declared in `file`, if it declares one.
fn flow_name(project: &Project, file: &Path) -> Option<String> {
    let shown = load::display(file);
    let flow_file = project
        .files
        .iter()
        .find(|f| project.sources.get(f.id).is_some_and(|s| s.name == shown))?;
    flow_file.ast.decls.iter().find_map(|decl| match decl {
        Decl::Flow(header) => Some(header.name.name.clone()),
        _ => None,
    })
}

fn report_errors(project: &Project, problems: &[Diagnostic]) -> u8 {
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let errors = problems.iter().filter(|d| d.is_error()).count();
    for problem in problems {
        emit(&diag::render_human(problem, &project.sources, color));
    }
    emit(&format!(
        "build failed: {}\n",
        diag::summary_line(project.files.len(), errors, problems.len() - errors)
    ));
    EXIT_ERRORS
}

/// Prints a bytecode file in readable form.
pub fn disasm(file: &Path) -> u8 {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(error) => return usage_error(&format!("cannot read `{}`: {error}", file.display())),
    };
    match flowc::bytecode::decode(&bytes) {
        Ok(module) => {
            emit(&flowc::bytecode::disasm(&module));
            EXIT_OK
        }
        Err(error) => {
            eprintln!(
                "error: `{}` is not valid Tok bytecode: {error}",
                file.display()
            );
            EXIT_ERRORS
        }
    }
}
