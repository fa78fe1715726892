//! `flowc test`: run the scenarios of `*.test.yaml` files, compare each
//! simulated call with its expectations and report path coverage per flow.

use super::simulate::{self, LoadedFlow};
use super::{EXIT_ERRORS, EXIT_OK, EXIT_USAGE, emit, load, report_error, usage_error};
use flowc::sim::coverage::{Coverage, Tracker};
use flowc::sim::scenario::{self, Scenario};
use flowc::vm::DEFAULT_BUDGET;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Scenario files end with this.
pub const SCENARIO_SUFFIX: &str = ".test.yaml";

/// Missed outcomes listed per flow without `--verbose`.
const BRIEF_MISSED: usize = 10;

/// The result of one scenario.
struct ScenarioResult {
    name: String,
    line: usize,
    failures: Vec<scenario::Mismatch>,
    /// Scripted answers the call never used; shown, but not a failure.
    warnings: Vec<String>,
    trace: Vec<String>,
}

/// The results of one scenario file.
struct FileResult {
    file: String,
    flow_file: String,
    scenarios: Vec<ScenarioResult>,
}

/// A flow under test with the outcomes its scenarios reached.
struct FlowUnderTest {
    loaded: LoadedFlow,
    tracker: Tracker,
}

/// Runs `flowc test` and returns the exit status.
pub fn run(paths: &[PathBuf], min_coverage: Option<f64>, verbose: bool, json: bool) -> u8 {
    if let Some(min) = min_coverage
        && !(0.0..=100.0).contains(&min)
    {
        return usage_error(&format!(
            "invalid --min-coverage {min}: give a percentage from 0 to 100"
        ));
    }
    let files = match scenario_files(paths) {
        Ok(files) if files.is_empty() => {
            let shown: Vec<String> = paths.iter().map(|p| load::display(p)).collect();
            return usage_error(&format!(
                "no `*{SCENARIO_SUFFIX}` files in {}; write scenarios beside the flows, as docs/testing.md shows",
                shown.join(", ")
            ));
        }
        Ok(files) => files,
        Err(message) => return usage_error(&message),
    };
    let mut flows: BTreeMap<PathBuf, FlowUnderTest> = BTreeMap::new();
    let mut results = Vec::new();
    for file in &files {
        match run_file(file, &mut flows) {
            Ok(result) => results.push(result),
            Err(status) => return status,
        }
    }
    let coverages: Vec<(String, Coverage)> = flows
        .values()
        .map(|flow| {
            let module = flow.loaded.program.module();
            (flow.loaded.shown.clone(), flow.tracker.coverage(module))
        })
        .collect();
    let failed = results
        .iter()
        .flat_map(|r| &r.scenarios)
        .filter(|s| !s.failures.is_empty())
        .count();
    let below: Vec<&Coverage> = coverages
        .iter()
        .map(|(_, c)| c)
        .filter(|c| min_coverage.is_some_and(|min| c.percent() < min))
        .collect();
    if json {
        emit_json(&results, &coverages, min_coverage);
    } else {
        emit_human(&results, &coverages, verbose);
    }
    for coverage in &below {
        eprintln!(
            "error: coverage of flow `{}` is {:.1}%, below --min-coverage {}%; add scenarios for the missed outcomes",
            coverage.flow,
            coverage.percent(),
            min_coverage.unwrap_or(0.0)
        );
    }
    if failed > 0 || !below.is_empty() {
        EXIT_ERRORS
    } else {
        EXIT_OK
    }
}

/// Finds scenario files: named files as given, folders searched
/// recursively, hidden folders and `target` skipped.
fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path)
            .map_err(|e| format!("cannot read `{}`: {e}", load::display(path)))?;
        if !metadata.is_dir() {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.ends_with(&format!(".{}", load::FLOW_EXTENSION)) {
                return Err(format!(
                    "`{}` is a flow file; pass its folder or its `*{SCENARIO_SUFFIX}` file, such as `flowc test {}`",
                    load::display(path),
                    load::display(
                        path.parent()
                            .filter(|p| !p.as_os_str().is_empty())
                            .unwrap_or(Path::new("."))
                    )
                ));
            }
            found.push(path.clone());
            continue;
        }
        let mut pending = vec![path.clone()];
        while let Some(dir) = pending.pop() {
            let entries = std::fs::read_dir(&dir)
                .map_err(|e| format!("cannot list `{}`: {e}", load::display(&dir)))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_real_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                if is_real_dir && !name.starts_with('.') && name != "target" {
                    pending.push(entry.path());
                } else if name.ends_with(SCENARIO_SUFFIX) && entry.path().is_file() {
                    found.push(entry.path());
                }
            }
        }
    }
    found.sort();
    // A file reached twice, through a link or two spellings of one folder,
    // runs once.
    let mut seen = std::collections::BTreeSet::new();
    found.retain(|file| seen.insert(canonical(file)));
    Ok(found)
}

/// Removes `folder/..` pairs from a path for display, such as
/// `more/../support.flow` to `support.flow`, when the shorter path names
/// the same file, which a link to a folder may prevent.
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut parts: Vec<Component> = Vec::new();
    for part in path.components() {
        match (part, parts.last()) {
            (Component::ParentDir, Some(Component::Normal(_))) => {
                parts.pop();
            }
            (Component::CurDir, Some(_)) => {}
            _ => parts.push(part),
        }
    }
    let short: PathBuf = parts.iter().collect();
    if short.as_os_str().is_empty() || canonical(&short) != canonical(path) {
        path.to_path_buf()
    } else {
        short
    }
}

/// Returns the path with links and `..` resolved, or the path itself when
/// it does not exist, so one file has one key however it is written.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn run_file(file: &Path, flows: &mut BTreeMap<PathBuf, FlowUnderTest>) -> Result<FileResult, u8> {
    let shown = load::display(file);
    let text = load::read(file).map_err(|m| usage_error(&m))?;
    let parsed = scenario::parse(&shown, &text).map_err(|problems| {
        for problem in &problems {
            report_error(problem);
        }
        EXIT_USAGE
    })?;
    let flow_path = tidy(&flow_path(file, parsed.flow.as_deref()));
    let flow_key = canonical(&flow_path);
    if !flows.contains_key(&flow_key) {
        let (line, column) = parsed.flow_at;
        let place = if parsed.flow.is_some() {
            format!("{shown}:{line}:{column}")
        } else {
            shown.clone()
        };
        let flow_shown = load::display(&flow_path);
        if flow_path.is_dir() {
            return Err(usage_error(&format!(
                "{place}: `{flow_shown}` is a folder, not a flow file; name a `.flow` file with `flow: FILE`"
            )));
        }
        if !flow_path.is_file() {
            return Err(usage_error(&format!(
                "{place}: `{shown}` tests `{flow_shown}`, which does not exist; name the flow with `flow: FILE` in the scenario file"
            )));
        }
        let loaded = simulate::load_flow(&flow_path, None, None)?;
        flows.insert(
            flow_key.clone(),
            FlowUnderTest {
                loaded,
                tracker: Tracker::default(),
            },
        );
    }
    let Some(flow) = flows.get_mut(&flow_key) else {
        return Err(usage_error("internal error: the flow was not loaded"));
    };
    let mut scenarios = Vec::new();
    for scenario in &parsed.scenarios {
        scenarios.push(run_scenario(&shown, scenario, flow)?);
    }
    Ok(FileResult {
        file: shown,
        flow_file: flow.loaded.shown.clone(),
        scenarios,
    })
}

/// Returns the flow a scenario file tests: `flow:` relative to the file's
/// folder, else the `.flow` file with the same stem.
fn flow_path(file: &Path, flow: Option<&str>) -> PathBuf {
    let dir = file.parent().unwrap_or(Path::new(""));
    match flow {
        Some(flow) => dir.join(flow),
        None => {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let stem = name.strip_suffix(SCENARIO_SUFFIX).unwrap_or(&name);
            dir.join(format!("{stem}.{}", load::FLOW_EXTENSION))
        }
    }
}

fn run_scenario(
    file: &str,
    scenario: &Scenario,
    flow: &mut FlowUnderTest,
) -> Result<ScenarioResult, u8> {
    let (setup, _, _) = simulate::setup_call(&flow.loaded, &scenario.call, DEFAULT_BUDGET)
        .map_err(|(key, message)| {
            let (line, column) = scenario
                .call_at
                .get(key)
                .copied()
                .unwrap_or((scenario.line, 1));
            usage_error(&format!(
                "{file}:{line}:{column}: scenario `{}`: {message}",
                scenario.name
            ))
        })?;
    let invalid = |problem: &str| {
        usage_error(&format!(
            "{file}:{}: scenario `{}` is invalid: {problem}",
            scenario.line, scenario.name
        ))
    };
    let module = flow.loaded.program.module();
    let problems = flowc::sim::validate::check_script(module, &scenario.script, &flow.loaded.hooks);
    if let Some((last, others)) = problems.split_last() {
        for problem in others {
            invalid(problem);
        }
        return Err(invalid(last));
    }
    let simulation = flowc::sim::simulate(&flow.loaded.program, &setup, &scenario.script);
    if let Some(failure) = simulation.failure.as_ref().filter(|f| f.kind == "script") {
        return Err(invalid(&failure.message));
    }
    flow.tracker.add(&simulation);
    let trace = simulation.lines();
    let failures = scenario::check(&scenario.expect, &simulation, &trace);
    Ok(ScenarioResult {
        name: scenario.name.clone(),
        line: scenario.line,
        failures,
        warnings: simulation.unused.clone(),
        trace,
    })
}

fn emit_human(results: &[FileResult], coverages: &[(String, Coverage)], verbose: bool) {
    let mut text = String::new();
    let mut passed = 0usize;
    let mut failed = 0usize;
    for result in results {
        text.push_str(&format!("{} (flow {})\n", result.file, result.flow_file));
        for scenario in &result.scenarios {
            if scenario.failures.is_empty() {
                passed += 1;
                text.push_str(&format!("  ok      {}\n", scenario.name));
                for warning in &scenario.warnings {
                    text.push_str(&format!("          warning: {warning}\n"));
                }
                continue;
            }
            failed += 1;
            text.push_str(&format!(
                "  FAILED  {} ({}:{})\n",
                scenario.name, result.file, scenario.line
            ));
            for failure in &scenario.failures {
                for line in failure.text.lines() {
                    text.push_str(&format!("          {line}\n"));
                }
            }
            for warning in &scenario.warnings {
                text.push_str(&format!("          warning: {warning}\n"));
            }
            if verbose {
                text.push_str("          full trace:\n");
                for line in &scenario.trace {
                    text.push_str(&format!("          {line}\n"));
                }
            }
        }
    }
    text.push_str("\ncoverage\n");
    for (shown, coverage) in coverages {
        text.push_str(&format!(
            "  {} ({shown}): {:.1}% ({} of {} outcomes)\n",
            coverage.flow,
            coverage.percent(),
            coverage.hit,
            coverage.total
        ));
        let missed: Vec<_> = coverage.missed().collect();
        let shown_missed = if verbose { missed.len() } else { BRIEF_MISSED };
        for item in missed.iter().take(shown_missed) {
            let place = item.place.as_deref().unwrap_or("");
            text.push_str(&format!("    missed  {place:<18}  {}\n", item.outcome));
        }
        if missed.len() > shown_missed {
            text.push_str(&format!(
                "    ... {} more missed outcomes; --verbose lists them all\n",
                missed.len() - shown_missed
            ));
        }
    }
    text.push_str(&format!("\nscenarios: {passed} passed, {failed} failed\n"));
    emit(&text);
}

fn emit_json(results: &[FileResult], coverages: &[(String, Coverage)], min_coverage: Option<f64>) {
    let files: Vec<serde_json::Value> = results
        .iter()
        .map(|result| {
            let scenarios: Vec<serde_json::Value> = result
                .scenarios
                .iter()
                .map(|s| {
                    json!({
                        "name": s.name,
                        "line": s.line,
                        "passed": s.failures.is_empty(),
                        "failures": s.failures.iter().map(|f| f.text.clone()).collect::<Vec<_>>(),
                        "mismatches": s.failures,
                        "warnings": s.warnings,
                        "trace": s.trace,
                    })
                })
                .collect();
            json!({"file": result.file, "flow_file": result.flow_file, "scenarios": scenarios})
        })
        .collect();
    let coverage: Vec<serde_json::Value> = coverages
        .iter()
        .map(|(shown, c)| {
            let missed: Vec<_> = c.missed().collect();
            json!({
                "flow": c.flow,
                "file": shown,
                "percent": (c.percent() * 10.0).round() / 10.0,
                "hit": c.hit,
                "total": c.total,
                "below_minimum": min_coverage.is_some_and(|min| c.percent() < min),
                "missed": missed,
            })
        })
        .collect();
    let all = results.iter().flat_map(|r| &r.scenarios);
    let passed = all.clone().filter(|s| s.failures.is_empty()).count();
    let failed = all.filter(|s| !s.failures.is_empty()).count();
    let report = json!({
        "files": files,
        "coverage": coverage,
        "passed": passed,
        "failed": failed,
    });
    let text = serde_json::to_string_pretty(&report).unwrap_or_else(|_| String::from("{}"));
    emit(&format!("{text}\n"));
}
