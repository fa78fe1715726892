//! The agent routes of the API: agents (a password is accepted and never
//! returned, nor its HA1 values), their state history, and callbacks.

use super::{ApiError, ApiResult, Shared};
use crate::agents::AgentSchema;
use crate::store::{AgentRow, NewAgent};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use std::sync::Arc;

use crate::queue::AgentState;
use crate::queue::service::QueueService;

/// The running queue service, when flowd serves calls beside the API.
#[derive(Clone)]
struct Center(Option<QueueService>);

impl Center {
    fn service(&self) -> ApiResult<&QueueService> {
        self.0.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no queue service runs in this process; live state and agent states need a running flowd",
            )
        })
    }
}

/// Returns the agent and callback routes; `schema` gives the digest realm
/// and the skills of tok.yaml.
pub(super) fn routes(schema: AgentSchema, queues: Option<QueueService>) -> Router<Shared> {
    Router::new()
        .route("/api/v1/agents", get(list_agents).post(create_agent))
        .route(
            "/api/v1/agents/{id}",
            get(get_agent).put(update_agent).delete(delete_agent),
        )
        .route("/api/v1/agents/{id}/states", get(agent_states))
        .route(
            "/api/v1/agents/{id}/state",
            get(live_agent_state).post(set_agent_state),
        )
        .route("/api/v1/queues", get(live_queues))
        .route("/api/v1/queues/{name}", get(live_queue))
        .route("/api/v1/live", get(live_all))
        .route("/api/v1/callbacks", get(list_callbacks))
        .layer(Extension(Arc::new(schema)))
        .layer(Extension(Center(queues)))
}

/// Returns an agent as JSON with `has_password` in place of the HA1
/// values, which `AgentRow` never serializes.
fn agent_json(agent: &AgentRow) -> serde_json::Value {
    let mut value = serde_json::to_value(agent).unwrap_or_default();
    if let serde_json::Value::Object(map) = &mut value {
        map.insert(
            String::from("has_password"),
            serde_json::Value::from(agent.has_password()),
        );
    }
    value
}

fn agent_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "agent `{id}` not found; list agents with GET /api/v1/agents"
    ))
}

async fn list_agents(State(api): State<Shared>) -> ApiResult<Response> {
    let agents: Vec<serde_json::Value> = api.store.agents().await?.iter().map(agent_json).collect();
    Ok(Json(agents).into_response())
}

/// Checks the skills against tok.yaml and writes the agent; 201 when it is
/// new, 200 when it replaced one.
async fn write_agent(
    api: &Shared,
    schema: &AgentSchema,
    center: &Center,
    agent: &NewAgent,
) -> ApiResult<Response> {
    let problems = schema.check_skills(agent);
    if !problems.is_empty() {
        return Err(ApiError::bad_request(problems.join("; ")));
    }
    let existed = api.store.agent(&agent.id).await?.is_some();
    let row = api.store.upsert_agent(agent, &schema.realm).await?;
    if let Some(queues) = &center.0 {
        queues.agent_saved(&row);
    }
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(agent_json(&row))).into_response())
}

async fn create_agent(
    State(api): State<Shared>,
    Extension(schema): Extension<Arc<AgentSchema>>,
    Extension(center): Extension<Center>,
    body: Result<Json<NewAgent>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(agent) = body?;
    write_agent(&api, &schema, &center, &agent).await
}

async fn get_agent(State(api): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    match api.store.agent(&id).await? {
        Some(agent) => Ok(Json(agent_json(&agent)).into_response()),
        None => Err(agent_not_found(&id)),
    }
}

/// Replaces the agent of the path. The body's `id` may be left out; when
/// given it must be the path's.
async fn update_agent(
    State(api): State<Shared>,
    Extension(schema): Extension<Arc<AgentSchema>>,
    Extension(center): Extension<Center>,
    Path(id): Path<String>,
    body: Result<Json<NewAgent>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(mut agent) = body?;
    if agent.id.is_empty() {
        agent.id = id.clone();
    } else if agent.id != id {
        return Err(ApiError::bad_request(format!(
            "the body's id `{}` differs from the path's `{id}`; leave `id` out of the body or send the same one",
            agent.id
        )));
    }
    if api.store.agent(&id).await?.is_none() {
        return Err(agent_not_found(&id));
    }
    write_agent(&api, &schema, &center, &agent).await
}

async fn delete_agent(
    State(api): State<Shared>,
    Extension(center): Extension<Center>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    if api.store.delete_agent(&id).await? {
        if let Some(queues) = &center.0 {
            queues.remove_agent(&id);
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(agent_not_found(&id))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateParams {
    #[serde(default)]
    since: i64,
    #[serde(default)]
    limit: u32,
}

async fn agent_states(
    State(api): State<Shared>,
    Path(id): Path<String>,
    params: Result<Query<StateParams>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(params) = params?;
    if api.store.agent(&id).await?.is_none() {
        return Err(agent_not_found(&id));
    }
    let states = api
        .store
        .agent_states(&id, params.since, params.limit)
        .await?;
    Ok(Json(states).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallbackParams {
    status: Option<String>,
    #[serde(default)]
    limit: u32,
}

async fn list_callbacks(
    State(api): State<Shared>,
    params: Result<Query<CallbackParams>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(params) = params?;
    let status = params.status.as_deref().filter(|s| !s.is_empty());
    let callbacks = api.store.callbacks(status, params.limit).await?;
    Ok(Json(callbacks).into_response())
}

/// The body of `POST /api/v1/agents/{id}/state`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateChange {
    /// `ready`, `paused` or `logged_out`; `logged_in` is `ready`.
    state: String,
    /// The pause reason; only with `paused`.
    #[serde(default)]
    reason: Option<String>,
}

/// Logs an agent in or out, pauses it or makes it ready. Ringing, on a
/// call and wrap-up are set by calls, never through the API.
async fn set_agent_state(
    State(api): State<Shared>,
    Extension(center): Extension<Center>,
    Path(id): Path<String>,
    body: Result<Json<StateChange>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(change) = body?;
    let queues = center.service()?;
    let state = match (change.state.as_str(), change.reason) {
        ("ready" | "logged_in", None) => AgentState::Ready,
        ("logged_out", None) => AgentState::LoggedOut,
        ("paused", reason) => {
            let reason = reason.unwrap_or_else(|| String::from("api"));
            if reason.trim().is_empty() || reason.len() > 200 {
                return Err(ApiError::bad_request(format!(
                    "invalid pause reason `{reason}`: give 1 to 200 characters, such as \"lunch\""
                )));
            }
            AgentState::Paused(reason)
        }
        ("ready" | "logged_in" | "logged_out", Some(_)) => {
            return Err(ApiError::bad_request(
                "`reason` is only for the state `paused`; leave it out",
            ));
        }
        (other, _) => {
            return Err(ApiError::bad_request(format!(
                "invalid state `{other}`: use `ready`, `paused` or `logged_out`; ringing, on_call and wrap_up follow calls"
            )));
        }
    };
    if api.store.agent(&id).await?.is_none() {
        return Err(agent_not_found(&id));
    }
    if state == AgentState::Ready && !queues.reachable(&id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "agent `{id}` has no registered phone and no fixed `uri`, so no call could reach them; register the phone or set `uri` first"
            ),
        ));
    }
    let previous = queues
        .set_agent_state(&id, state.clone())
        .await
        .map_err(|error| ApiError::not_found(error.to_string()))?;
    Ok(Json(serde_json::json!({
        "agent": id,
        "state": state,
        "previous": previous,
    }))
    .into_response())
}

async fn live_state(center: &Center) -> ApiResult<crate::queue::service::LiveState> {
    center.service()?.live().await.ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the queue service has stopped",
        )
    })
}

/// Returns an agent's current state and time in state.
async fn live_agent_state(
    Extension(center): Extension<Center>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let live = live_state(&center).await?;
    match live.agents.into_iter().find(|agent| agent.id == id) {
        Some(agent) => Ok(Json(agent).into_response()),
        None => Err(agent_not_found(&id)),
    }
}

/// Returns the live state of every queue a flow has used since the start.
async fn live_queues(Extension(center): Extension<Center>) -> ApiResult<Response> {
    Ok(Json(live_state(&center).await?.queues).into_response())
}

async fn live_queue(
    Extension(center): Extension<Center>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let live = live_state(&center).await?;
    match live.queues.into_iter().find(|queue| queue.name == name) {
        Some(queue) => Ok(Json(queue).into_response()),
        None => Err(ApiError::not_found(format!(
            "queue `{name}` has no live state: no caller has entered it since flowd started; list queues with GET /api/v1/queues"
        ))),
    }
}

/// Returns the live state of every queue and agent, for a wallboard.
async fn live_all(Extension(center): Extension<Center>) -> ApiResult<Response> {
    Ok(Json(live_state(&center).await?).into_response())
}
