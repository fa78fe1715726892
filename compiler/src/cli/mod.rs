//! The command line. This is the only part of `flowc` that reads or writes
//! files; the library gets texts and file lists from here.

#![allow(clippy::disallowed_methods)]

mod build;
mod check;
mod explain;
mod format;
mod load;
mod simulate;
mod test;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: the input has errors (or warnings with `--deny-warnings`).
pub const EXIT_ERRORS: u8 = 1;
/// Exit status: the command was used wrongly or a file could not be read.
pub const EXIT_USAGE: u8 = 2;

/// Check, build, format, inspect, simulate and test Tok call flows.
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

/// Output format of `simulate` and `test`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ReportFormat {
    /// Readable text.
    Human,
    /// JSON data.
    Json,
}

/// The options of `flowc simulate`.
#[derive(Args, Debug)]
struct SimulateArgs {
    /// The flow file; the other flows of its folder and its tok.yaml are read too.
    file: PathBuf,
    /// The dialled number; default: the flow's first number.
    #[arg(long)]
    to: Option<String>,
    /// The caller's number; default: an unknown caller.
    #[arg(long, conflicts_with = "anonymous")]
    from: Option<String>,
    /// The caller withholds their number.
    #[arg(long)]
    anonymous: bool,
    /// When the call starts, local time such as `2026-12-24T17:59`, or with an offset such as `2026-10-25T02:30+01:00`; default: now.
    #[arg(long)]
    at: Option<String>,
    /// The time zone of --at; default: the zone of the flow's first schedule, else UTC.
    #[arg(long)]
    tz: Option<String>,
    /// The caller's next answer, once per ask: `1`, `none`, `41234567#@2s` (keys 2 s after the ask), `2@prompt` (typed during the prompts).
    #[arg(long = "input", value_name = "INPUT")]
    inputs: Vec<String>,
    /// The CRM's answer: `found:vip=true,language=sl,name=Ana`, `missing`, `timeout` or `error`, optionally with `@300ms`.
    #[arg(long)]
    crm: Option<String>,
    /// Another lookup source's answer: `orders=found:order_status=shipped`.
    #[arg(long = "lookup", value_name = "SOURCE=ANSWER")]
    lookups: Vec<String>,
    /// A queue outcome, used in order: `answered:alice@45s+3m`, `technical=callback`, `max-wait`, `full`, `no-agents`, `abandoned@30s`.
    #[arg(long = "queue", value_name = "OUTCOME")]
    queues: Vec<String>,
    /// The caller's survey rating, 1 to 5; default: none.
    #[arg(long)]
    rating: Option<String>,
    /// The caller hangs up this long after the call starts, such as `20s`.
    #[arg(long, value_name = "DURATION")]
    hangup_after: Option<String>,
    /// How to print the trace.
    #[arg(long, value_enum, default_value = "human")]
    format: ReportFormat,
    /// Run a flow with check errors if it still compiles; its errors are printed as warnings.
    #[arg(long)]
    force: bool,
    /// Instructions the flow may run between two effects.
    #[arg(long, value_name = "INSTRUCTIONS")]
    budget: Option<u32>,
    /// The deployment config; default: tok.yaml beside the flow.
    #[arg(long)]
    config: Option<PathBuf>,
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
    /// Run one call of a flow against a scripted caller and print each step.
    ///
    /// With no options: an unknown caller dials the flow's first number now
    /// and presses nothing; every lookup answers missing and every queue is
    /// answered by a simulated agent. docs/testing.md describes every option.
    Simulate(Box<SimulateArgs>),
    /// Run the scenarios of `*.test.yaml` files and report path coverage.
    Test {
        /// Scenario files or folders to search for `*.test.yaml`.
        #[arg(default_value = ".")]
        paths: Vec<PathBuf>,
        /// Exit with status 1 when a flow's coverage is below this percentage.
        #[arg(long, value_name = "PERCENT", value_parser = parse_percent)]
        min_coverage: Option<f64>,
        /// List every missed outcome and print the trace of failed scenarios.
        #[arg(long, short)]
        verbose: bool,
        /// How to print the report.
        #[arg(long, value_enum, default_value = "human")]
        format: ReportFormat,
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
        Command::Simulate(args) => {
            let options = simulate_options(*args);
            with_json_errors(options.json, || simulate::run(&options))
        }
        Command::Test {
            paths,
            min_coverage,
            verbose,
            format,
        } => {
            let json = matches!(format, ReportFormat::Json);
            with_json_errors(json, || test::run(&paths, min_coverage, verbose, json))
        }
    };
    ExitCode::from(status)
}

fn simulate_options(args: SimulateArgs) -> simulate::Options {
    simulate::Options {
        file: args.file,
        call: flowc::sim::scenario::CallSpec {
            to: args.to,
            from: args.from,
            anonymous: args.anonymous,
            at: args.at,
            tz: args.tz,
        },
        inputs: args.inputs,
        crm: args.crm,
        lookups: args.lookups,
        queues: args.queues,
        rating: args.rating,
        hangup_after: args.hangup_after,
        json: matches!(args.format, ReportFormat::Json),
        force: args.force,
        budget: args.budget,
        config: args.config,
    }
}

/// Parses a percentage, with or without a `%` sign; `flowc test` checks
/// that it is from 0 to 100.
fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%').trim();
    match number.parse::<f64>() {
        Ok(percent) => Ok(percent),
        Err(_) => Err(format!(
            "`{text}` is not a percentage; give a number from 0 to 100, such as `90` or `90%`"
        )),
    }
}

/// Writes text to standard output. A closed pipe (`flowc check | head`) is
/// not an error worth a panic, so write errors are ignored.
fn emit(text: &str) {
    use std::io::Write;
    REPORT_EMITTED.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Prints an error about the command's use or input files and returns the
/// usage exit status.
fn usage_error(message: &str) -> u8 {
    report_error(message);
    EXIT_USAGE
}

/// True once a command wrote its report to standard output.
static REPORT_EMITTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Errors recorded for the JSON report of a failed `simulate` or `test`;
/// `None` unless the command runs with `--format json`.
static JSON_ERRORS: std::sync::Mutex<Option<Vec<serde_json::Value>>> = std::sync::Mutex::new(None);

/// Prints `error: MESSAGE` to standard error and records it for the JSON
/// report.
fn report_error(message: &str) {
    eprintln!("error: {message}");
    record_json_error(serde_json::json!({"message": message}));
}

/// Records one error for the JSON report, when there is one.
fn record_json_error(error: serde_json::Value) {
    if let Ok(mut errors) = JSON_ERRORS.lock()
        && let Some(errors) = errors.as_mut()
    {
        errors.push(error);
    }
}

/// Runs a command that prints JSON with `--format json`. When it stops
/// with the usage status without printing its report, the errors it
/// printed to standard error are printed to standard output too, as
/// `{"errors": [...], "exit_status": 2}`, so a tool reading the output
/// always gets JSON.
fn with_json_errors(json: bool, command: impl FnOnce() -> u8) -> u8 {
    if !json {
        return command();
    }
    if let Ok(mut errors) = JSON_ERRORS.lock() {
        *errors = Some(Vec::new());
    }
    let status = command();
    let errors = JSON_ERRORS
        .lock()
        .ok()
        .and_then(|mut errors| errors.take())
        .unwrap_or_default();
    let emitted = REPORT_EMITTED.load(std::sync::atomic::Ordering::Relaxed);
    if status == EXIT_USAGE && !emitted {
        let report = serde_json::json!({"errors": errors, "exit_status": status});
        let text = serde_json::to_string_pretty(&report).unwrap_or_else(|_| String::from("{}"));
        emit(&format!("{text}\n"));
    }
    status
}
