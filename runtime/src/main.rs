//! `flowd [--config PATH]`: loads `tok.yaml` and the flows, compiles every
//! flow with flowc, starts the SIP listeners and serves until SIGTERM or
//! ctrl-c. `flowd import contacts FILE` imports contacts into the CRM and
//! `flowd import agents FILE` imports agents.

use clap::{Parser, Subcommand};
use flowd::agents::AgentSchema;
use flowd::call::{Flows, Server, load_flows};
use flowd::config::{self, RuntimeConfig};
use flowd::crm::{CrmSchema, import};
use flowd::http::Api;
use flowd::media::prompt::PromptLibrary;
use flowd::store::Store;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Command-line options.
#[derive(Parser)]
#[command(
    name = "flowd",
    version,
    about = "Answers SIP calls and runs compiled Tok flows"
)]
struct Options {
    /// The config file; by default `flows/tok.yaml` when it exists.
    #[arg(long, value_name = "PATH", global = true)]
    config: Option<PathBuf>,
    /// Starts the flows' clock at this instant (RFC 3339, such as
    /// 2026-12-07T10:00:00+01:00) and lets it run on from there, to try
    /// opening hours and holidays at any time of day. Call records keep
    /// the real time.
    #[arg(long, value_name = "TIMESTAMP")]
    now: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// Subcommands; without one, flowd serves calls.
#[derive(Subcommand)]
enum Command {
    /// Imports data into the built-in CRM.
    Import {
        #[command(subcommand)]
        what: ImportCommand,
    },
}

/// The data kinds `flowd import` reads.
#[derive(Subcommand)]
enum ImportCommand {
    /// Upserts contacts from a CSV or YAML file and prints a report of the
    /// rows imported, updated and rejected. Rejected rows alone exit 0;
    /// a file that cannot be read exits 1.
    Contacts {
        /// The `.csv`, `.yaml` or `.yml` file.
        file: PathBuf,
    },
    /// Upserts agents from a CSV or YAML file and prints a report of the
    /// rows imported, updated and rejected with their lines. Passwords are
    /// stored only as digest HA1 values for `sip.realm`. Rejected rows
    /// alone exit 0; a file that cannot be read exits 1.
    Agents {
        /// The `.csv`, `.yaml` or `.yml` file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let options = Options::parse();
    // A subcommand prints a report on stdout, where the log goes too, so
    // it logs only warnings and errors unless RUST_LOG sets a level.
    let level = if options.command.is_some() {
        "warn"
    } else {
        "info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colour codes only when a person reads the log in a terminal.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .init();
    let config = match load_config(options.config.as_deref()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("flowd: error: {message}");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Import {
        what: ImportCommand::Contacts { file },
    }) = &options.command
    {
        let config_path = config_file(options.config.as_deref());
        return import_contacts(&config, config_path.as_deref(), file);
    }
    if let Some(Command::Import {
        what: ImportCommand::Agents { file },
    }) = &options.command
    {
        let config_path = config_file(options.config.as_deref());
        return import_agents(&config, config_path.as_deref(), file);
    }
    let clock: flowd::call::Clock = match options.now.as_deref().map(str::parse::<jiff::Timestamp>)
    {
        None => std::sync::Arc::new(jiff::Timestamp::now),
        Some(Ok(start)) => {
            tracing::info!(%start, "flows read a clock started at --now");
            let began = std::time::Instant::now();
            std::sync::Arc::new(move || {
                let elapsed = jiff::SignedDuration::try_from(began.elapsed()).unwrap_or_default();
                start.checked_add(elapsed).unwrap_or(start)
            })
        }
        Some(Err(error)) => {
            eprintln!(
                "flowd: error: invalid --now `{}`: {error}; give an RFC 3339 instant such as 2026-12-07T10:00:00+01:00",
                options.now.unwrap_or_default()
            );
            return ExitCode::from(2);
        }
    };
    let prompts = match PromptLibrary::load(&config.prompts) {
        Ok(prompts) => prompts,
        Err(error) => {
            eprintln!(
                "flowd: error: cannot load the prompts in `{}`: {error}; set `prompts.dir` in tok.yaml",
                config.prompts.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let flows = match load_flows(
        &config.flows,
        options.config.as_deref(),
        prompts.inventory(),
    ) {
        Ok(flows) => flows,
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
    let config_path = config_file(options.config.as_deref());
    match runtime.block_on(serve(config, config_path, flows, prompts, clock)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("flowd: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Returns the config file flowd reads: `--config`, else `flows/tok.yaml`
/// when it exists.
fn config_file(path: Option<&Path>) -> Option<PathBuf> {
    let default_path = Path::new("flows").join(flowc::config::FILE_NAME);
    match path {
        Some(path) => Some(path.to_path_buf()),
        None if default_path.is_file() => Some(default_path),
        None => None,
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

/// Checks at start that recordings can be written, so a wrong folder stops
/// flowd with its name instead of failing every recorded call later.
fn check_recordings_folder(folder: &Path) -> Result<(), String> {
    let failed = |error: std::io::Error| {
        format!(
            "cannot write recordings to `{}` (`recordings` in tok.yaml): {error}; create the folder or name a writable one",
            folder.display()
        )
    };
    std::fs::create_dir_all(folder).map_err(failed)?;
    let probe = folder.join(format!(".flowd-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(failed)?;
    std::fs::remove_file(&probe).map_err(failed)
}

async fn serve(
    config: RuntimeConfig,
    config_path: Option<PathBuf>,
    flows: Flows,
    prompts: PromptLibrary,
    clock: flowd::call::Clock,
) -> Result<(), String> {
    tracing::info!(
        flows = ?flows.names(),
        numbers = flows.numbers(),
        prompts = prompts.len(),
        "flows compiled"
    );
    let http = tokio::net::TcpListener::bind(config.http)
        .await
        .map_err(|error| {
            format!(
                "cannot listen for HTTP on {} (`http` in tok.yaml): {error}",
                config.http
            )
        })?;
    let schema = CrmSchema::load(config_path.as_deref())?;
    check_recordings_folder(&config.recordings)?;
    let store = open_store(&config).await?;
    // The deliverer sends the follow-ups that calls write with their
    // records, including those a previous run left pending.
    let client = flowd::outbox::http_client().map_err(|error| error.to_string())?;
    let deliverer = flowd::outbox::Deliverer::start(
        store.clone(),
        flows.config().hooks.clone(),
        config.outbox,
        client,
    );
    let server = Server::start_with_outbox(
        &config,
        flows,
        prompts,
        clock,
        Some(store.clone()),
        Some(deliverer.outbox()),
    )
    .await?;
    for (transport, address) in server.endpoint().local_addrs() {
        tracing::info!(transport = transport.as_str(), %address, "listening for SIP");
    }
    tracing::info!(
        address = %config.advertise,
        ports = %format!("{}-{}", config.rtp_ports.start(), config.rtp_ports.end()),
        max_calls = server.max_calls(),
        "listening for RTP"
    );
    if let Ok(address) = http.local_addr() {
        tracing::info!(%address, "listening for HTTP: /metrics, /health and /api/v1");
    }
    let stats = server.stats().clone();
    let agents = AgentSchema::load(config_path.as_deref())?;
    let queues = server.queues().cloned();
    let api = Api::new(store, schema, &config).router_with_queues(agents, queues.clone());
    tokio::spawn(async move {
        if let Err(error) = flowd::http::serve_with_queues(http, stats, queues, api).await {
            tracing::error!(%error, "the HTTP listener failed");
        }
    });
    wait_for_shutdown().await;
    tracing::info!(
        active_calls = server.stats().active_calls(),
        "shutting down"
    );
    server.shut_down(config.shutdown_grace).await;
    drop(deliverer);
    Ok(())
}

/// Opens the database named by `database` in tok.yaml.
async fn open_store(config: &RuntimeConfig) -> Result<Store, String> {
    Store::open(&config.database)
        .await
        .map_err(|error| error.to_string())
}

/// Runs `flowd import contacts FILE` and prints its report.
fn import_contacts(config: &RuntimeConfig, config_path: Option<&Path>, file: &Path) -> ExitCode {
    let schema = match CrmSchema::load(config_path) {
        Ok(schema) => schema,
        Err(message) => {
            eprintln!("flowd: error: {message}");
            return ExitCode::from(2);
        }
    };
    run_import(config, |store| async move {
        import::import_contacts(&store, &schema, file)
            .await
            .map(|report| report.to_string())
            .map_err(|error| error.to_string())
    })
}

/// Runs `flowd import agents FILE` and prints its report.
fn import_agents(config: &RuntimeConfig, config_path: Option<&Path>, file: &Path) -> ExitCode {
    let schema = match AgentSchema::load(config_path) {
        Ok(schema) => schema,
        Err(message) => {
            eprintln!("flowd: error: {message}");
            return ExitCode::from(2);
        }
    };
    run_import(config, |store| async move {
        flowd::agents::import::import_agents(&store, &schema, file)
            .await
            .map(|report| report.to_string())
            .map_err(|error| error.to_string())
    })
}

/// Opens the database, runs `import` on it and prints the report it
/// returns. Rejected rows alone exit 0; a file or database that cannot be
/// used exits 1.
fn run_import<F, Fut>(config: &RuntimeConfig, import: F) -> ExitCode
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = Result<String, String>>,
{
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("flowd: error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let store = open_store(config).await?;
        let report = import(store.clone()).await;
        store.close().await;
        report
    });
    match result {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("flowd: error: {message}");
            ExitCode::FAILURE
        }
    }
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
