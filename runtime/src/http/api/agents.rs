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

/// Returns the agent and callback routes; `schema` gives the digest realm
/// and the skills of tok.yaml.
pub(super) fn routes(schema: AgentSchema) -> Router<Shared> {
    Router::new()
        .route("/api/v1/agents", get(list_agents).post(create_agent))
        .route(
            "/api/v1/agents/{id}",
            get(get_agent).put(update_agent).delete(delete_agent),
        )
        .route("/api/v1/agents/{id}/states", get(agent_states))
        // TODO: POST /api/v1/agents/{id}/state (log in, pause, ready) and
        // GET /api/v1/queues need the queue service's live state and are
        // added beside these routes when it is wired in.
        .route("/api/v1/callbacks", get(list_callbacks))
        .layer(Extension(Arc::new(schema)))
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
async fn write_agent(api: &Shared, schema: &AgentSchema, agent: &NewAgent) -> ApiResult<Response> {
    let problems = schema.check_skills(agent);
    if !problems.is_empty() {
        return Err(ApiError::bad_request(problems.join("; ")));
    }
    let existed = api.store.agent(&agent.id).await?.is_some();
    let row = api.store.upsert_agent(agent, &schema.realm).await?;
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
    body: Result<Json<NewAgent>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(agent) = body?;
    write_agent(&api, &schema, &agent).await
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
    write_agent(&api, &schema, &agent).await
}

async fn delete_agent(State(api): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    if api.store.delete_agent(&id).await? {
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
