//! The command line. This is the only part of `flowc` that reads or writes
//! files; the library gets texts and file lists from here.

#![allow(clippy::disallowed_methods)]

mod build;
mod check;
mod explain;
mod format;
mod load;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: the input has errors (or warnings with `--deny-warnings`).
pub const EXIT_ERRORS: u8 = 1;
/// Exit status: the command was used wrongly or a file could not be read.
pub const EXIT_USAGE: u8 = 2;

/// Check, build, format and inspect Tok call flows.
#[derive(Parser, Debug)]
#[command(name = "flowc", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Output format of `check`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum FormatArg {
    /// Reports with source excerpts, for people.
    Human,
    /// A JSON array with one object per diagnostic.
    Json,
    /// GitHub workflow annotation lines.
    Github,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check flows and tok.yaml and report every problem.
    Check {
        /// Flow files or folders; a folder is a project with its tok.yaml.
        #[arg(default_value = ".")]
        paths: Vec<PathBuf>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value = "human")]
        format: FormatArg,
        /// Treat warnings as errors (exit status 1).
        #[arg(long)]
        deny_warnings: bool,
        /// The deployment config; default: tok.yaml in the project folder.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Compile one flow to bytecode.
    Build {
        /// The flow file; the other flows of its folder and its tok.yaml are read too.
        file: PathBuf,
        /// Where to write the bytecode; default: the flow file with extension `.tokb`.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The deployment config; default: tok.yaml beside the flow.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print compiled bytecode in readable form.
    Disasm {
        /// A `.tokb` file written by `flowc build`.
        file: PathBuf,
    },
    /// Format flow files in the canonical layout.
    Fmt {
        /// Flow files or folders.
        #[arg(default_value = ".")]
        paths: Vec<PathBuf>,
        /// Change nothing; list files that are not formatted and exit with 1.
        #[arg(long)]
        check: bool,
    },
    /// Explain a diagnostic code, such as F0102.
    Explain {
        /// The code; `flowc explain --list` lists them all.
        code: Option<String>,
        /// List every code with its title.
        #[arg(long)]
        list: bool,
    },
}

/// Parses the arguments, runs the command and returns the exit status.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let status = match cli.command {
        Command::Check {
            paths,
            format,
            deny_warnings,
            config,
        } => {
            let format = match format {
                FormatArg::Human => flowc::diag::Format::Human,
                FormatArg::Json => flowc::diag::Format::Json,
                FormatArg::Github => flowc::diag::Format::Github,
            };
            check::run(&paths, format, deny_warnings, config.as_deref())
        }
        Command::Build {
            file,
            output,
            config,
        } => build::build(&file, output.as_deref(), config.as_deref()),
        Command::Disasm { file } => build::disasm(&file),
        Command::Fmt { paths, check } => format::run(&paths, check),
        Command::Explain { code, list } => explain::run(code.as_deref(), list),
    };
    ExitCode::from(status)
}

/// Writes text to standard output. A closed pipe (`flowc check | head`) is
/// not an error worth a panic, so write errors are ignored.
fn emit(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Prints an error about the command's use or input files and returns the
/// usage exit status.
fn usage_error(message: &str) -> u8 {
    eprintln!("error: {message}");
    EXIT_USAGE
}
