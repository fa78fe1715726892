//! `flowd [--config PATH]`: loads `tok.yaml` and the flows, compiles every
//! flow with flowc, starts the SIP listeners and serves until SIGTERM or
//! ctrl-c.

use clap::Parser;
use flowc::bytecode::Module;
use flowc::project::{Project, PromptInventory};
use flowd::config::{self, RuntimeConfig};
use flowd::sip::endpoint::{Endpoint, EndpointConfig};
use flowd::sip::transaction::Timers;
use flowd::sip::uas::{NumberPlan, UasEvent, answer_without_calls};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Command-line options.
#[derive(Parser)]
#[command(
    name = "flowd",
    version,
    about = "Answers SIP calls and runs compiled Tok flows"
)]
struct Options {
    /// The config file; by default `flows/tok.yaml` when it exists.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

/// The normalised numbers of every compiled flow.
struct CompiledNumbers(BTreeSet<String>);

impl NumberPlan for CompiledNumbers {
    fn is_known(&self, user: &str) -> bool {
        self.0.contains(&flowc::config::number_digits(user))
    }
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let options = Options::parse();
    let config = match load_config(options.config.as_deref()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("flowd: error: {message}");
            return ExitCode::from(2);
        }
    };
    let modules = match compile_flows(&config.flows, options.config.as_deref()) {
        Ok(modules) => modules,
        Err(message) => {
            eprintln!("flowd: error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("flowd: error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config, modules)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("flowd: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the config file, or uses the defaults when there is none.
fn load_config(path: Option<&Path>) -> Result<RuntimeConfig, String> {
    let default_path = Path::new("flows").join(flowc::config::FILE_NAME);
    let path = match path {
        Some(path) => path.to_path_buf(),
        None if default_path.is_file() => default_path,
        None => return Ok(config::defaults(PathBuf::from("flows"))),
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|error| format!("cannot read the config `{}`: {error}", path.display()))?;
    let folder = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let folder = if folder.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        folder
    };
    config::parse(&text, &path.display().to_string(), folder).map_err(|e| e.to_string())
}

/// Compiles every `.flow` file under `folder`; check errors stop flowd
/// with flowc's rendering of each.
fn compile_flows(folder: &Path, config: Option<&Path>) -> Result<Vec<Module>, String> {
    let config_path = config
        .map(Path::to_path_buf)
        .unwrap_or_else(|| folder.join(flowc::config::FILE_NAME));
    let config_text = std::fs::read_to_string(&config_path).ok();
    let config_name = config_path.display().to_string();
    let pair = config_text
        .as_deref()
        .map(|text| (config_name.as_str(), text));
    // NOTE: prompt files are not listed here, so missing prompts are left to `flowc check`.
    let mut project = Project::new(pair, PromptInventory::default());

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
    flowc::codegen::compile_all(&project).map_err(|diagnostics| {
        let rendered: Vec<String> = diagnostics
            .iter()
            .map(|d| flowc::diag::render_human(d, &project.sources, false))
            .collect();
        format!("the flows could not be compiled:\n{}", rendered.join("\n"))
    })
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

async fn serve(config: RuntimeConfig, modules: Vec<Module>) -> Result<(), String> {
    let numbers: BTreeSet<String> = modules
        .iter()
        .flat_map(|m| m.numbers.iter().cloned())
        .collect();
    let flow_names: Vec<&str> = modules.iter().map(|m| m.flow.as_str()).collect();
    tracing::info!(flows = ?flow_names, numbers = numbers.len(), "flows compiled");
    let endpoint_config = EndpointConfig {
        listen: config.listen.clone(),
        timers: Timers {
            t1: config.t1,
            ..Timers::default()
        },
        force_rport: config.force_rport,
        queue: 1024,
    };
    let (endpoint, mut events) =
        Endpoint::start(endpoint_config, Arc::new(CompiledNumbers(numbers)))
            .await
            .map_err(|error| {
                format!(
                    "cannot start the SIP listeners {:?}: {error}",
                    config.listen
                )
            })?;
    for (transport, address) in endpoint.local_addrs() {
        tracing::info!(transport = transport.as_str(), %address, "listening for SIP");
    }

    let handler = endpoint.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            handle_without_calls(&handler, event);
        }
    });
    wait_for_shutdown().await;
    tracing::info!("shutting down");
    endpoint.set_accepting(false);
    endpoint.stop();
    Ok(())
}

/// Responds to the requests the call layer will take over.
// TODO: hand INVITEs to known numbers to the call layer instead of answering 480.
fn handle_without_calls(endpoint: &Endpoint, event: UasEvent) {
    let UasEvent::Request(incoming) = event else {
        return;
    };
    let call_id = incoming
        .request
        .headers
        .get("Call-ID")
        .unwrap_or_default()
        .to_string();
    let _span = tracing::info_span!("dialog", %call_id).entered();
    let response = answer_without_calls(&incoming);
    tracing::info!(method = %incoming.request.method, status = response.status, "no call layer yet; responded");
    endpoint.respond(&incoming.key, response);
}

async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
