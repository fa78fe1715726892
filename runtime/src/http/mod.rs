//! flowd's HTTP listener: `/metrics` in the Prometheus text exposition
//! format (version 0.0.4), `/health` for load balancers and probes, and the
//! JSON API under `/api/v1` (see [`api`]).

pub mod api;

pub use api::Api;

use crate::call::Stats;
use crate::queue::service::QueueService;
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
    axum::serve(listener, monitoring(stats, None)).await
}

/// Serves `/metrics`, `/health` and the API under `/api/v1` on `listener`
/// until the task is dropped.
pub async fn serve_with_api(listener: TcpListener, stats: Stats, api: Api) -> std::io::Result<()> {
    axum::serve(listener, monitoring(stats, None).merge(api.router())).await
}

/// Serves `/metrics` with the live state of `queues`, `/health` and the
/// `api` routes on `listener` until the task is dropped.
pub async fn serve_with_queues(
    listener: TcpListener,
    stats: Stats,
    queues: Option<QueueService>,
    api: Router,
) -> std::io::Result<()> {
    axum::serve(listener, monitoring(stats, queues).merge(api)).await
}

/// The state of the monitoring routes.
#[derive(Clone)]
struct Monitoring {
    stats: Stats,
    queues: Option<QueueService>,
}

fn monitoring(stats: Stats, queues: Option<QueueService>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(Monitoring { stats, queues })
}

async fn health() -> &'static str {
    "ok\n"
}

async fn metrics(State(monitoring): State<Monitoring>) -> impl IntoResponse {
    let mut text = render_metrics(&monitoring.stats);
    if let Some(queues) = &monitoring.queues {
        // The queue service answers from memory; the timeout only guards
        // a scrape against a service that has stopped.
        match tokio::time::timeout(std::time::Duration::from_secs(1), queues.live()).await {
            Ok(Some(live)) => text.push_str(&render_queue_metrics(&live)),
            _ => tracing::warn!("queue metrics left out: the queue service did not answer"),
        }
    }
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text)
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

/// Renders the live state of queues and agents as Prometheus metrics, with
/// the queue or agent as a label. Counters run since local midnight.
pub fn render_queue_metrics(live: &crate::queue::service::LiveState) -> String {
    let mut text = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, f64)>| {
        let _ = writeln!(text, "# HELP {name} {help}");
        let _ = writeln!(text, "# TYPE {name} {kind}");
        for (labels, value) in rows {
            let _ = writeln!(text, "{name}{{{labels}}} {value}");
        }
    };
    let queue = |name: &str| format!("queue=\"{}\"", label_value(name));
    let per_queue = |value: &dyn Fn(&crate::queue::QueueLive) -> f64| {
        live.queues
            .iter()
            .map(|q| (queue(&q.name), value(q)))
            .collect::<Vec<_>>()
    };
    family(
        "flowd_queue_callers_waiting",
        "gauge",
        "Callers waiting in the queue, those being offered to an agent included.",
        per_queue(&|q| q.waiting as f64),
    );
    family(
        "flowd_queue_longest_wait_seconds",
        "gauge",
        "Wait of the caller who has waited longest.",
        per_queue(&|q| q.longest_wait_ms as f64 / 1000.0),
    );
    family(
        "flowd_queue_estimated_wait_seconds",
        "gauge",
        "Estimated wait of a caller entering now; absent while no agent is staffed.",
        live.queues
            .iter()
            .filter_map(|q| Some((queue(&q.name), q.estimated_wait_ms? as f64 / 1000.0)))
            .collect(),
    );
    family(
        "flowd_queue_answered_today",
        "gauge",
        "Callers answered since local midnight.",
        per_queue(&|q| q.answered as f64),
    );
    family(
        "flowd_queue_abandoned_today",
        "gauge",
        "Callers who hung up while waiting, since local midnight.",
        per_queue(&|q| q.abandoned as f64),
    );
    family(
        "flowd_queue_service_level_percent",
        "gauge",
        "Share of callers answered within the queue's target since local midnight; absent before the first.",
        live.queues
            .iter()
            .filter_map(|q| Some((queue(&q.name), q.service_level?)))
            .collect(),
    );
    let mut by_state = Vec::new();
    for q in &live.queues {
        let counts = q.agents;
        for (state, count) in [
            ("logged_out", counts.logged_out),
            ("ready", counts.ready),
            ("ringing", counts.ringing),
            ("on_call", counts.on_call),
            ("wrap_up", counts.wrap_up),
            ("paused", counts.paused),
        ] {
            by_state.push((
                format!("{},state=\"{state}\"", queue(&q.name)),
                f64::from(count),
            ));
        }
    }
    family(
        "flowd_queue_agents",
        "gauge",
        "Agents who can serve the queue, by state.",
        by_state,
    );
    family(
        "flowd_agent_state_seconds",
        "gauge",
        "Time the agent has been in its current state, labelled with the state.",
        live.agents
            .iter()
            .map(|agent| {
                let (state, _) = crate::queue::service::state_row(&agent.state);
                (
                    format!("agent=\"{}\",state=\"{state}\"", label_value(&agent.id)),
                    agent.time_in_state_ms as f64 / 1000.0,
                )
            })
            .collect(),
    );
    text
}

/// Escapes a Prometheus label value: backslash, double quote and newline.
fn label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
