//! flowd's HTTP listener: `/metrics` in the Prometheus text exposition
//! format (version 0.0.4), `/health` for load balancers and probes, and the
//! JSON API under `/api/v1` (see [`api`]).

pub mod api;

pub use api::Api;

use crate::call::Stats;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use std::fmt::Write;
use tokio::net::TcpListener;

/// The Content-Type of the Prometheus text format.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves `/metrics` and `/health` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, stats: Stats) -> std::io::Result<()> {
    axum::serve(listener, monitoring(stats)).await
}

/// Serves `/metrics`, `/health` and the API under `/api/v1` on `listener`
/// until the task is dropped.
pub async fn serve_with_api(listener: TcpListener, stats: Stats, api: Api) -> std::io::Result<()> {
    axum::serve(listener, monitoring(stats).merge(api.router())).await
}

fn monitoring(stats: Stats) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(stats)
}

async fn health() -> &'static str {
    "ok\n"
}

async fn metrics(State(stats): State<Stats>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        render_metrics(&stats),
    )
}

/// Renders the call layer's counts as Prometheus metrics.
pub fn render_metrics(stats: &Stats) -> String {
    let mut text = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(text, "# HELP {name} {help}");
        let _ = writeln!(text, "# TYPE {name} {kind}");
        let _ = writeln!(text, "{name} {value}");
    };
    let (rtp_sent, rtp_received) = stats.rtp_packets();
    metric(
        "flowd_calls_active",
        "gauge",
        "Calls answered with 200 OK and not yet ended.",
        stats.answered_calls() as u64,
    );
    metric(
        "flowd_call_tasks",
        "gauge",
        "Call tasks running, from the INVITE to the end of the call.",
        stats.active_calls() as u64,
    );
    metric(
        "flowd_rtp_ports_in_use",
        "gauge",
        "RTP port pairs leased to calls.",
        stats.ports_in_use() as u64,
    );
    metric(
        "flowd_rtp_ports_capacity",
        "gauge",
        "RTP port pairs in the configured range.",
        stats.port_capacity() as u64,
    );
    metric(
        "flowd_calls_started_total",
        "counter",
        "INVITEs that started a call task.",
        stats.calls_started(),
    );
    metric(
        "flowd_call_panics_total",
        "counter",
        "Call tasks that panicked.",
        stats.panics(),
    );
    metric(
        "flowd_effects_total",
        "counter",
        "Flow effects carried out.",
        stats.effects(),
    );
    metric(
        "flowd_rtp_packets_sent_total",
        "counter",
        "RTP packets sent, counted when each call ends.",
        rtp_sent,
    );
    metric(
        "flowd_rtp_packets_received_total",
        "counter",
        "RTP packets received, counted when each call ends.",
        rtp_received,
    );
    let journal = stats.journal();
    metric(
        "flowd_call_records_written_total",
        "counter",
        "Call starts and call records written to the database.",
        journal.written(),
    );
    metric(
        "flowd_call_records_spooled_total",
        "counter",
        "Call starts and call records kept in the spool while the database was unavailable.",
        journal.spooled(),
    );
    metric(
        "flowd_call_records_rejected_total",
        "counter",
        "Call records the database rejected as invalid, kept in the spool's rejected file.",
        journal.rejected(),
    );
    metric(
        "flowd_call_record_queue_full_total",
        "counter",
        "Times a call waited because the call record writer's queue was full.",
        journal.queue_full(),
    );
    // TODO: count the rejections the SIP core sends itself (404, 415, 420 ...).
    let name = "flowd_calls_rejected_total";
    let _ = writeln!(
        text,
        "# HELP {name} INVITEs the call layer answered with an error status."
    );
    let _ = writeln!(text, "# TYPE {name} counter");
    for (status, count) in stats.rejected() {
        let _ = writeln!(text, "{name}{{status=\"{status}\"}} {count}");
    }
    text
}
