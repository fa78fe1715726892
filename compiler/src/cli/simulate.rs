//! `flowc simulate`: run one call of a flow offline against a scripted
//! caller and print what happens, step by step.

use super::{
    EXIT_ERRORS, EXIT_OK, EXIT_USAGE, check, emit, load, record_json_error, report_error,
    usage_error,
};
use flowc::config;
use flowc::diag::{self, Diagnostic};
use flowc::project::Project;
use flowc::sim::scenario::CallSpec;
use flowc::sim::script::{self, Input, LookupAnswer, QueueAnswer, Script};
use flowc::sim::{PromptLengths, Setup, moment};
use flowc::syntax::ast::Decl;
use flowc::vm::{CallInfo, DEFAULT_BUDGET, Program};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The caller's number when none is given: a fictional number that no CRM
/// has a contact for.
pub const UNKNOWN_CALLER: &str = "+15555550100";

/// Bytes read from the start of a WAV file to find its length.
const WAV_HEADER_BYTES: u64 = 4_096;

/// The options of `flowc simulate`, as the command line gives them.
#[derive(Debug, Default)]
pub struct Options {
    /// The flow file.
    pub file: PathBuf,
    /// The call.
    pub call: CallSpec,
    /// `--input`, in order.
    pub inputs: Vec<String>,
    /// `--crm`.
    pub crm: Option<String>,
    /// `--lookup`, in order.
    pub lookups: Vec<String>,
    /// `--queue`, in order.
    pub queues: Vec<String>,
    /// `--rating`.
    pub rating: Option<String>,
    /// `--hangup-after`.
    pub hangup_after: Option<String>,
    /// `--format json`.
    pub json: bool,
    /// `--force`.
    pub force: bool,
    /// `--budget`.
    pub budget: Option<u32>,
    /// `--config`.
    pub config: Option<PathBuf>,
}

/// Runs `flowc simulate` and returns the exit status.
pub fn run(options: &Options) -> u8 {
    if options.budget == Some(0) {
        return usage_error(
            "invalid --budget 0: the flow needs at least 1 instruction between two effects; give 1 or more, or leave it out for the default",
        );
    }
    let script = match build_script(options) {
        Ok(script) => script,
        Err(message) => return usage_error(&message),
    };
    let loaded = match load_flow(
        &options.file,
        options.config.as_deref(),
        Some(options.force),
    ) {
        Ok(loaded) => loaded,
        Err(status) => return status,
    };
    let problems =
        flowc::sim::validate::check_script(loaded.program.module(), &script, &loaded.hooks);
    if !problems.is_empty() {
        for problem in &problems {
            report_error(problem);
        }
        return EXIT_USAGE;
    }
    let budget = options.budget.unwrap_or(DEFAULT_BUDGET);
    let (setup, header, call) = match setup_call(&loaded, &options.call, budget) {
        Ok(setup) => setup,
        Err((_, message)) => return usage_error(&message),
    };
    let simulation = flowc::sim::simulate(&loaded.program, &setup, &script);
    if options.json {
        let json = serde_json::to_string_pretty(&simulation.to_json(&header, call))
            .unwrap_or_else(|_| String::from("{}"));
        emit(&format!("{json}\n"));
    } else {
        emit(&simulation.render_human(&header));
    }
    match &simulation.failure {
        // A scripted answer the flow could not get is an input error.
        Some(failure) if failure.kind == "script" => EXIT_USAGE,
        Some(_) => EXIT_ERRORS,
        None => EXIT_OK,
    }
}

fn build_script(options: &Options) -> Result<Script, String> {
    let mut script = Script::default();
    for input in &options.inputs {
        script.inputs.push(Input::parse(input)?);
    }
    if let Some(crm) = &options.crm {
        script::add_lookup(&mut script, "crm", LookupAnswer::parse(crm)?)?;
    }
    for lookup in &options.lookups {
        let (source, answer) = script::parse_source_answer(lookup)?;
        script::add_lookup(&mut script, &source, answer)?;
    }
    for queue in &options.queues {
        script.queues.push(QueueAnswer::parse(queue)?);
    }
    if let Some(rating) = &options.rating {
        script.rating = Some(script::parse_rating(rating)?);
    }
    if let Some(after) = &options.hangup_after {
        script.hangup_after_ms = Some(script::parse_time("--hangup-after", after)?);
    }
    Ok(script)
}

/// A compiled flow ready to simulate, with what the trace header needs.
pub struct LoadedFlow {
    /// The program.
    pub program: Arc<Program>,
    /// The flow file as shown.
    pub shown: String,
    /// The config's hook names and kinds, to explain scripted lookups.
    pub hooks: BTreeMap<String, String>,
    /// Prompt lengths read from the prompt folder.
    pub prompts: PromptLengths,
}

/// Loads the project around a flow file, checks it and compiles the flow.
/// A flow with check errors is refused unless `force` is `Some(true)`, in
/// which case its errors are printed as warnings and a flow that still
/// compiles runs. `None` means the command has no `--force` option, so the
/// error does not offer it. Errors are printed here; the exit status is
/// returned.
pub fn load_flow(
    file: &Path,
    config: Option<&Path>,
    force: Option<bool>,
) -> Result<LoadedFlow, u8> {
    let forced = force == Some(true);
    let shown = load::display(file);
    if file.is_dir() {
        return Err(usage_error(&format!(
            "`{shown}` is a folder; simulate one flow file, such as `{shown}/support.flow`"
        )));
    }
    let targets = load::targets(&[file.to_path_buf()]).map_err(|m| usage_error(&m))?;
    let Some(target) = targets.first() else {
        return Err(usage_error("no flow file given"));
    };
    let project = load::project(&target.root, config, &target.only).map_err(|m| usage_error(&m))?;
    let Some(flow) = flow_name(&project, &shown) else {
        return Err(usage_error(&format!(
            "`{shown}` declares no flow; simulate a file that starts with `flow NAME`"
        )));
    };
    let problems = check::check_project(&project, &[]);
    let compiled = flowc::codegen::compile(&project, &flow);
    // Only problems in the files the flow is built from (the flow file, the
    // library files it uses and the config) are the flow's problems.
    let used: BTreeSet<String> = match &compiled {
        Ok(module) => module.sources.iter().cloned().collect(),
        Err(_) => [Some(shown.clone()), config_name(&project)]
            .into_iter()
            .flatten()
            .collect(),
    };
    let (own, others): (Vec<Diagnostic>, Vec<Diagnostic>) = problems
        .into_iter()
        .partition(|d| concerns(&project, d, &used));
    let errors = own.iter().filter(|d| d.is_error()).count();
    let module = match compiled {
        Ok(module) => module,
        Err(failures) => {
            // The check errors explain a compile failure best; the compile
            // errors are shown when the checker found none. Neither is
            // shown as ignored, because --force cannot run this flow.
            if errors > 0 {
                print_diagnostics(&project, &own, false);
            } else {
                print_diagnostics(&project, &failures, false);
            }
            report_error(&format!(
                "flow `{flow}` cannot be compiled, so it cannot be simulated"
            ));
            return Err(EXIT_USAGE);
        }
    };
    if errors > 0 && !forced {
        print_diagnostics(&project, &own, false);
        let fix = match force {
            Some(_) => "fix them, or pass --force to run it anyway",
            None => {
                "fix them; `flowc test` has no --force, but `flowc simulate --force` runs one call despite them"
            }
        };
        report_error(&format!(
            "flow `{flow}` has {errors} check error(s), so it is not simulated; {fix}"
        ));
        return Err(EXIT_USAGE);
    }
    if errors > 0 {
        print_diagnostics(&project, &own, true);
        eprintln!(
            "warning: simulating flow `{flow}` despite {errors} check error(s), because of --force"
        );
    }
    note_other_errors(&project, &others, &flow);
    let program = Program::load(module, |name| jiff::tz::db().get(name).ok())
        .map_err(|e| usage_error(&e.to_string()))?;
    let prompts = prompt_lengths(&target.root, &project);
    let hooks = project
        .config
        .hooks
        .iter()
        .map(|(name, hook)| (name.clone(), hook.kind.as_str().to_string()))
        .collect();
    Ok(LoadedFlow {
        program,
        shown,
        hooks,
        prompts,
    })
}

fn flow_name(project: &Project, shown: &str) -> Option<String> {
    let flow_file = project
        .files
        .iter()
        .find(|f| project.sources.get(f.id).is_some_and(|s| s.name == shown))?;
    flow_file.ast.decls.iter().find_map(|decl| match decl {
        Decl::Flow(header) => Some(header.name.name.clone()),
        _ => None,
    })
}

/// Returns the name of the config file, when the project has one.
fn config_name(project: &Project) -> Option<String> {
    let file = project.config.file?;
    project.sources.get(file).map(|s| s.name.clone())
}

/// Returns true when a diagnostic points into one of the `used` files, or
/// has no place, such as a missing prompt folder.
fn concerns(project: &Project, problem: &Diagnostic, used: &BTreeSet<String>) -> bool {
    let Some(label) = problem.primary_label() else {
        return true;
    };
    project
        .sources
        .get(label.file)
        .is_none_or(|source| used.contains(&source.name))
}

/// Prints one note line for check errors in files the flow does not use.
fn note_other_errors(project: &Project, others: &[Diagnostic], flow: &str) {
    let errors: Vec<&Diagnostic> = others.iter().filter(|d| d.is_error()).collect();
    if errors.is_empty() {
        return;
    }
    let files: BTreeSet<String> = errors
        .iter()
        .filter_map(|d| d.primary_label())
        .filter_map(|l| project.sources.get(l.file).map(|s| s.name.clone()))
        .collect();
    let files: Vec<String> = files.into_iter().collect();
    eprintln!(
        "note: {} check error(s) in {} are not in the files flow `{flow}` uses, so they do not stop it; `flowc check` lists them",
        errors.len(),
        files.join(", ")
    );
}

/// Prints diagnostics to standard error; as warnings when `forced`.
fn print_diagnostics(project: &Project, problems: &[Diagnostic], forced: bool) {
    for problem in problems {
        let rendered = diag::render_human(problem, &project.sources, false);
        if problem.is_error() && !forced {
            let data = diag::render_json(problem, &project.sources);
            record_json_error(
                serde_json::from_str(&data).unwrap_or_else(|_| serde_json::json!(data)),
            );
        }
        if forced && problem.is_error() {
            eprint!("warning (error ignored by --force): {rendered}");
        } else {
            eprint!("{rendered}");
        }
    }
}

/// Reads the length of every prompt from the WAV headers under the
/// project's prompt folder. Unreadable files are left out, so they play for
/// the default length.
fn prompt_lengths(root: &Path, project: &Project) -> PromptLengths {
    let mut lengths = PromptLengths::default();
    let dir = root.join(&project.config.prompts.dir);
    let Ok(folders) = std::fs::read_dir(&dir) else {
        return lengths;
    };
    for folder in folders.flatten().filter(|e| e.path().is_dir()) {
        let language = folder.file_name().to_string_lossy().into_owned();
        let Ok(entries) = std::fs::read_dir(folder.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_wav = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
            if let (true, Some(stem)) = (is_wav, path.file_stem())
                && let Some(ms) = wav_length(&path)
            {
                lengths.insert(&language, &stem.to_string_lossy(), ms);
            }
        }
    }
    lengths
}

fn wav_length(path: &Path) -> Option<u64> {
    let file = std::fs::File::open(path).ok()?;
    let file_len = file.metadata().ok()?.len();
    let mut header = Vec::new();
    file.take(WAV_HEADER_BYTES).read_to_end(&mut header).ok()?;
    flowc::sim::wav_length_ms(&header, file_len)
}

/// A call option that could not be used: its key (`at`, `tz`, `to` or
/// `from`) and the message.
pub type CallError = (&'static str, String);

/// Builds the call's setup and the trace header from the call options.
/// The dialled number defaults to the flow's first number and the caller
/// to an unknown number. The moment defaults to now, and the zone to that
/// of the first schedule the flow uses, else UTC.
pub fn setup_call(
    loaded: &LoadedFlow,
    spec: &CallSpec,
    budget: u32,
) -> Result<(Setup, Vec<String>, serde_json::Value), CallError> {
    let module = loaded.program.module();
    let zone_name = match &spec.tz {
        Some(tz) => tz.clone(),
        None => module
            .schedules
            .first()
            .map_or_else(|| String::from("UTC"), |s| s.zone.clone()),
    };
    let zone = jiff::tz::db().get(&zone_name).map_err(|_| {
        (
            "tz",
            format!("unknown time zone `{zone_name}`; write an IANA name such as `Europe/Ljubljana` or `UTC`"),
        )
    })?;
    // The database finds `europe/ljubljana` too; show the name it has.
    let zone_name = zone.iana_name().map_or(zone_name, str::to_string);
    let (start, note) = match &spec.at {
        Some(at) => {
            let moment = moment::resolve(at, &zone, &zone_name).map_err(|m| ("at", m))?;
            (moment.at, moment.note)
        }
        None => (Timestamp::now(), None),
    };
    let to = match &spec.to {
        Some(to) => {
            config::check_number(to)
                .map_err(|why| ("to", format!("invalid dialled number `{to}`: {why}")))?;
            config::number_digits(to)
        }
        None => module.numbers.first().cloned().unwrap_or_default(),
    };
    let from = match (&spec.from, spec.anonymous) {
        (Some(_), true) => {
            return Err((
                "from",
                String::from("give either --from or --anonymous, not both"),
            ));
        }
        (Some(from), false) => {
            config::check_number(from)
                .map_err(|why| ("from", format!("invalid caller number `{from}`: {why}")))?;
            Some(config::number_digits(from))
        }
        (None, true) => None,
        (None, false) => Some(String::from(UNKNOWN_CALLER)),
    };
    let call = serde_json::json!({
        "flow": loaded.program.module().flow,
        "file": loaded.shown,
        "from": from,
        "to": to,
        "anonymous": from.is_none(),
        "start": rfc3339(start, &zone),
        "zone": zone_name,
        "note": note,
    });
    let header = header_lines(
        loaded,
        &zone,
        &zone_name,
        start,
        &to,
        from.as_deref(),
        note,
        spec,
    );
    let setup = Setup {
        call: CallInfo {
            id: String::from("simulated-call"),
            from,
            to,
        },
        start,
        prompts: loaded.prompts.clone(),
        budget,
    };
    Ok((setup, header, call))
}

/// Formats an instant as RFC 3339 local time with its offset in the zone,
/// such as `2026-10-25T02:30:00+02:00`.
fn rfc3339(at: Timestamp, zone: &TimeZone) -> String {
    let local = zone.to_datetime(at).strftime("%Y-%m-%dT%H:%M:%S");
    let seconds = zone.to_offset(at).seconds();
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    format!("{local}{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

#[allow(clippy::too_many_arguments)]
fn header_lines(
    loaded: &LoadedFlow,
    zone: &TimeZone,
    zone_name: &str,
    start: Timestamp,
    to: &str,
    from: Option<&str>,
    note: Option<String>,
    spec: &CallSpec,
) -> Vec<String> {
    let module = loaded.program.module();
    let mut header = vec![format!("flow {} ({})", module.flow, loaded.shown)];
    let caller = match (from, spec.from.is_some()) {
        (None, _) => String::from("an anonymous caller"),
        (Some(from), true) => from.to_string(),
        (Some(from), false) => format!("{from} (the default number; --from sets it)"),
    };
    let to = if to.is_empty() {
        String::from("(the flow has no number)")
    } else {
        to.to_string()
    };
    let when = if spec.at.is_some() { "" } else { " (now)" };
    header.push(format!("call from {caller} to {to}"));
    header.push(format!(
        "starts {}{when} in {zone_name}",
        moment::show(start, zone)
    ));
    if let Some(note) = note {
        header.push(format!("note: {note}"));
    }
    if spec.to.is_some() && !module.numbers.iter().any(|n| n == &to) {
        header.push(format!(
            "note: {to} does not reach flow {} in this project; it runs anyway with call.to = {to}",
            module.flow
        ));
    }
    header
}
