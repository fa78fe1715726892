//! `flowd [--config PATH]`: loads `tok.yaml` and the flows, compiles every
//! flow with flowc, starts the SIP listeners and serves until SIGTERM or
//! ctrl-c.

use clap::Parser;
use flowd::call::{Flows, Server, load_flows};
use flowd::config::{self, RuntimeConfig};
use flowd::media::prompt::PromptLibrary;
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
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only when a person reads the log in a terminal.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .init();
    let options = Options::parse();
    let config = match load_config(options.config.as_deref()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("flowd: error: {message}");
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
    match runtime.block_on(serve(config, flows, prompts)) {
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

async fn serve(config: RuntimeConfig, flows: Flows, prompts: PromptLibrary) -> Result<(), String> {
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
    let server = Server::start(&config, flows, prompts).await?;
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
        tracing::info!(%address, "listening for HTTP: /metrics and /health");
    }
    let stats = server.stats().clone();
    tokio::spawn(async move {
        if let Err(error) = flowd::http::serve(http, stats).await {
            tracing::error!(%error, "the HTTP listener failed");
        }
    });
    wait_for_shutdown().await;
    tracing::info!(
        active_calls = server.stats().active_calls(),
        "shutting down"
    );
    server.shut_down(config.shutdown_grace).await;
    Ok(())
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
