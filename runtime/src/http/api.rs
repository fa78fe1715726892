//! The JSON API under `/api/v1`: contacts, interactions, tickets, calls,
//! recordings, the outbox, agents and callbacks, for the agent page, the wallboard and other
//! systems. Every route needs `Authorization: Bearer TOKEN` with the token
//! from the environment variable that `api.token_env` names. Without a
//! token configured, every route returns 401.

mod agents;

use crate::agents::AgentSchema;
use crate::crm::{ContactInput, CrmSchema};
use crate::store::{
    CallQuery, CallRow, ContactQuery, NewInteraction, NewNote, NewTicket, OutboxQuery, Store,
    StoreError, TicketQuery, TicketUpdate, Upserted,
};
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Component, PathBuf};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The state the API serves from.
#[derive(Clone, Debug)]
pub struct Api {
    /// The database.
    pub store: Store,
    /// The bearer token; `None` rejects every request.
    pub token: Option<String>,
    /// The environment variable the token is read from, for messages.
    pub token_env: String,
    /// The recordings folder; downloads never leave it.
    pub recordings: PathBuf,
    /// The country code and custom fields.
    pub schema: CrmSchema,
}

type Shared = Arc<Api>;

impl Api {
    /// Builds the API of a running flowd: the token comes from the
    /// environment variable `api.token_env` names, and a missing or empty
    /// token disables the API with one warning.
    pub fn new(store: Store, schema: CrmSchema, config: &crate::config::RuntimeConfig) -> Api {
        let token = std::env::var(&config.api_token_env)
            .ok()
            .filter(|t| !t.trim().is_empty());
        if token.is_none() {
            tracing::warn!(
                variable = %config.api_token_env,
                "no API token is set, so every /api/v1 request gets 401; set the environment variable to enable the API"
            );
        }
        Api {
            store,
            token,
            token_env: config.api_token_env.clone(),
            recordings: config.recordings.clone(),
            schema,
        }
    }

    /// Returns the `/api/v1` routes with the token check in front; agents
    /// get the default realm and their skills are not checked against
    /// tok.yaml.
    pub fn router(self) -> Router {
        self.router_with_agents(AgentSchema::default())
    }

    /// Returns the `/api/v1` routes with the token check in front; agent
    /// passwords are stored as HA1 values for `agents.realm`, and agent
    /// skills are checked against `agents.skills`.
    pub fn router_with_agents(self, agents: AgentSchema) -> Router {
        self.router_with_queues(agents, None)
    }

    /// Returns the routes like [`Api::router_with_agents`], with agent
    /// states and the live state of queues and agents served by `queues`.
    pub fn router_with_queues(
        self,
        agents: AgentSchema,
        queues: Option<crate::queue::service::QueueService>,
    ) -> Router {
        let shared: Shared = Arc::new(self);
        Router::new()
            .route("/api/v1/contacts", get(list_contacts).post(create_contact))
            .route(
                "/api/v1/contacts/{id}",
                get(get_contact).put(update_contact).delete(delete_contact),
            )
            .route(
                "/api/v1/contacts/{id}/interactions",
                get(contact_interactions),
            )
            .route("/api/v1/contacts/{id}/tickets", get(contact_tickets))
            .route("/api/v1/contacts/{id}/calls", get(contact_calls))
            .route("/api/v1/interactions", post(create_interaction))
            .route("/api/v1/tickets", get(list_tickets).post(create_ticket))
            .route("/api/v1/tickets/{id}", get(get_ticket).patch(update_ticket))
            .route("/api/v1/tickets/{id}/notes", post(add_note))
            .route("/api/v1/tickets/{id}/tags", post(add_tags))
            .route("/api/v1/calls", get(list_calls))
            .route("/api/v1/calls/{id}", get(get_call))
            .route("/api/v1/calls/{id}/recording", get(get_recording))
            .route("/api/v1/outbox", get(list_outbox))
            .merge(agents::routes(agents, queues))
            .fallback(not_found)
            .layer(middleware::from_fn(reject_nul))
            .layer(middleware::from_fn_with_state(shared.clone(), authorize))
            .with_state(shared)
    }
}

/// An API error: a status and a message naming the bad value and the fix,
/// sent as `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Invalid(message) => ApiError::bad_request(message),
            error if error.is_unavailable() => {
                tracing::warn!(%error, "the database is unavailable for an API request");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is unavailable; retry later",
                )
            }
            error => {
                tracing::error!(%error, "an API request failed in the database");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the database failed the request; see flowd's log",
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        ApiError::new(
            rejection.status(),
            format!(
                "invalid JSON body: {}; send `Content-Type: application/json` and the fields listed in docs/api.md",
                rejection.body_text()
            ),
        )
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::bad_request(format!("invalid query string: {}", rejection.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::bad_request(format!(
            "invalid id in the path: {}; ids of contacts and tickets are whole numbers",
            rejection.body_text()
        ))
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: &self.message,
            }),
        )
            .into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Lets a request through only with the configured bearer token.
async fn authorize(State(api): State<Shared>, request: Request, next: Next) -> Response {
    let Some(token) = &api.token else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            format!(
                "the API is disabled because no token is configured; set the environment variable {} for flowd and send `Authorization: Bearer <token>`",
                api.token_env
            ),
        )
        .into_response();
    };
    match bearer(request.headers()) {
        Some(given) if tokens_equal(given, token) => next.run(request).await,
        Some(_) => {
            unauthorized("invalid bearer token; send the token flowd reads from its environment")
        }
        None => unauthorized("missing `Authorization: Bearer <token>` header"),
    }
}

/// The largest request body the API reads, as axum's JSON extractor
/// allows by default.
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Rejects a NUL character in the query or a JSON body with 400: SQLite
/// would store it and PostgreSQL cannot, so both backends refuse it alike.
async fn reject_nul(request: Request, next: Next) -> Response {
    let nul = "text must not contain the NUL character (`%00` or `\\u0000`); remove it";
    if request
        .uri()
        .query()
        .is_some_and(|query| query.contains("%00"))
    {
        return ApiError::bad_request(format!("invalid query string: {nul}")).into_response();
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {BODY_LIMIT} bytes; send less at once"),
            )
            .into_response();
        }
    };
    if bytes.windows(6).any(|window| window == b"\\u0000") {
        return ApiError::bad_request(format!("invalid JSON body: {nul}")).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn unauthorized(message: &str) -> Response {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compares the SHA-256 digests in constant time, so neither the contents
/// nor the length of the token leak through timing.
fn tokens_equal(given: &str, expected: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    given.as_slice().ct_eq(expected.as_slice()).into()
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such API route; see docs/api.md for the routes under /api/v1")
}

// ---- contacts

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactParams {
    phone: Option<String>,
    q: Option<String>,
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

async fn list_contacts(
    State(api): State<Shared>,
    params: Result<Query<ContactParams>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(params) = params?;
    let phone = params
        .phone
        .as_deref()
        .map(|p| api.schema.phone(p).map_err(ApiError::bad_request))
        .transpose()?;
    let query = ContactQuery {
        phone,
        text: params.q.filter(|q| !q.trim().is_empty()),
        limit: params.limit,
        offset: params.offset,
    };
    Ok(Json(api.store.contacts(&query).await?).into_response())
}

async fn create_contact(
    State(api): State<Shared>,
    body: Result<Json<ContactInput>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(input) = body?;
    let contact = api
        .schema
        .contact(&input)
        .map_err(|problems| ApiError::bad_request(problems.join("; ")))?;
    let result = api
        .store
        .upsert_contacts(std::slice::from_ref(&contact))
        .await?
        .into_iter()
        .next()
        .unwrap_or(Err(StoreError::Invalid(String::from(
            "the contact was not written; retry the request",
        ))))?;
    let (status, id) = match result {
        Upserted::Created(id) => (StatusCode::CREATED, id),
        Upserted::Updated(id) => (StatusCode::OK, id),
    };
    let record = api
        .store
        .contact(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("contact {id} was deleted meanwhile")))?;
    Ok((status, Json(record)).into_response())
}

async fn get_contact(
    State(api): State<Shared>,
    id: Result<Path<i64>, PathRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    match api.store.contact(id).await? {
        Some(record) => Ok(Json(record).into_response()),
        None => Err(contact_not_found(id)),
    }
}

fn contact_not_found(id: i64) -> ApiError {
    ApiError::not_found(format!(
        "contact {id} not found; list contacts with GET /api/v1/contacts"
    ))
}

async fn update_contact(
    State(api): State<Shared>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Json<ContactInput>, JsonRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let Json(input) = body?;
    let contact = api
        .schema
        .contact(&input)
        .map_err(|problems| ApiError::bad_request(problems.join("; ")))?;
    if !api.store.update_contact(id, &contact).await? {
        return Err(contact_not_found(id));
    }
    match api.store.contact(id).await? {
        Some(record) => Ok(Json(record).into_response()),
        None => Err(contact_not_found(id)),
    }
}

async fn delete_contact(
    State(api): State<Shared>,
    id: Result<Path<i64>, PathRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    if api.store.delete_contact(id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(contact_not_found(id))
    }
}

async fn require_contact(api: &Api, id: i64) -> ApiResult<()> {
    match api.store.contact(id).await? {
        Some(_) => Ok(()),
        None => Err(contact_not_found(id)),
    }
}

async fn contact_interactions(
    State(api): State<Shared>,
    id: Result<Path<i64>, PathRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    require_contact(&api, id).await?;
    Ok(Json(api.store.interactions(id).await?).into_response())
}

/// `limit` and `offset` of the lists under one contact.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageParams {
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

async fn contact_tickets(
    State(api): State<Shared>,
    id: Result<Path<i64>, PathRejection>,
    params: Result<Query<PageParams>, QueryRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let Query(page) = params?;
    require_contact(&api, id).await?;
    let query = TicketQuery {
        contact_id: Some(id),
        limit: page.limit,
        offset: page.offset,
        ..TicketQuery::default()
    };
    Ok(Json(api.store.tickets(&query).await?).into_response())
}

async fn contact_calls(
    State(api): State<Shared>,
    id: Result<Path<i64>, PathRejection>,
    params: Result<Query<PageParams>, QueryRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let Query(page) = params?;
    require_contact(&api, id).await?;
    let query = CallQuery {
        contact_id: Some(id),
        limit: page.limit,
        offset: page.offset,
        ..CallQuery::default()
    };
    let calls: Vec<serde_json::Value> = api
        .store
        .calls(&query)
        .await?
        .iter()
        .map(with_recording_url)
        .collect();
    Ok(Json(calls).into_response())
}

// ---- interactions

#[derive(Serialize)]
struct Created {
    id: i64,
}

async fn create_interaction(
    State(api): State<Shared>,
    body: Result<Json<NewInteraction>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(interaction) = body?;
    if interaction.channel == "call" {
        return Err(ApiError::bad_request(
            "invalid channel `call`: flowd writes call interactions itself; use `email`, `chat`, `sms` or `other`",
        ));
    }
    if interaction.summary.trim().is_empty() {
        return Err(ApiError::bad_request(
            "the summary is empty; write what happened in a line or a paragraph",
        ));
    }
    let id = api.store.add_interaction(&interaction).await?;
    Ok((StatusCode::CREATED, Json(Created { id })).into_response())
}

// ---- tickets

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketParams {
    contact_id: Option<i64>,
    status: Option<String>,
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

async fn list_tickets(
    State(api): State<Shared>,
    params: Result<Query<TicketParams>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(params) = params?;
    let query = TicketQuery {
        contact_id: params.contact_id,
        status: params.status,
        limit: params.limit,
        offset: params.offset,
    };
    Ok(Json(api.store.tickets(&query).await?).into_response())
}

fn ticket_not_found(id: i64) -> ApiError {
    ApiError::not_found(format!(
        "ticket {id} not found; list tickets with GET /api/v1/tickets"
    ))
}

async fn ticket_response(api: &Api, id: i64, status: StatusCode) -> ApiResult<Response> {
    match api.store.ticket(id).await? {
        Some(ticket) => Ok((status, Json(ticket)).into_response()),
        None => Err(ticket_not_found(id)),
    }
}

async fn get_ticket(
    State(api): State<Shared>,
    id: Result<Path<i64>, PathRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    ticket_response(&api, id, StatusCode::OK).await
}

async fn create_ticket(
    State(api): State<Shared>,
    body: Result<Json<NewTicket>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(ticket) = body?;
    let id = api.store.create_ticket(&ticket).await?;
    ticket_response(&api, id, StatusCode::CREATED).await
}

async fn apply_ticket_update(api: &Api, id: i64, update: &TicketUpdate) -> ApiResult<Response> {
    if !api.store.update_ticket(id, update).await? {
        return Err(ticket_not_found(id));
    }
    ticket_response(api, id, StatusCode::OK).await
}

async fn update_ticket(
    State(api): State<Shared>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Json<TicketUpdate>, JsonRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let Json(update) = body?;
    apply_ticket_update(&api, id, &update).await
}

async fn add_note(
    State(api): State<Shared>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Json<NewNote>, JsonRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let Json(note) = body?;
    let update = TicketUpdate {
        notes: vec![note],
        ..TicketUpdate::default()
    };
    apply_ticket_update(&api, id, &update).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Tags {
    tags: Vec<String>,
}

async fn add_tags(
    State(api): State<Shared>,
    id: Result<Path<i64>, PathRejection>,
    body: Result<Json<Tags>, JsonRejection>,
) -> ApiResult<Response> {
    let Path(id) = id?;
    let Json(Tags { tags }) = body?;
    if tags.is_empty() {
        return Err(ApiError::bad_request(
            "`tags` is empty; send at least one tag, as in {\"tags\": [\"billing\"]}",
        ));
    }
    let update = TicketUpdate {
        tags,
        ..TicketUpdate::default()
    };
    apply_ticket_update(&api, id, &update).await
}

// ---- calls

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallParams {
    contact_id: Option<i64>,
    caller: Option<String>,
    since: Option<i64>,
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

async fn list_calls(
    State(api): State<Shared>,
    params: Result<Query<CallParams>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(params) = params?;
    let caller = params
        .caller
        .as_deref()
        .map(|p| api.schema.phone(p).map_err(ApiError::bad_request))
        .transpose()?;
    let query = CallQuery {
        contact_id: params.contact_id,
        caller,
        since: params.since,
        limit: params.limit,
        offset: params.offset,
    };
    let calls: Vec<serde_json::Value> = api
        .store
        .calls(&query)
        .await?
        .iter()
        .map(with_recording_url)
        .collect();
    Ok(Json(calls).into_response())
}

fn call_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "call `{id}` not found; list calls with GET /api/v1/calls"
    ))
}

async fn get_call(State(api): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    match api.store.call(&id).await? {
        Some(call) => Ok(Json(with_recording_url(&call)).into_response()),
        None => Err(call_not_found(&id)),
    }
}

/// Returns a call as JSON with `recording_url`, the API path of its
/// recording, or null when it has none.
fn with_recording_url(call: &CallRow) -> serde_json::Value {
    let url = call.recording.as_ref().map(|_| {
        let id: String = call
            .call_id
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'@') {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!("/api/v1/calls/{id}/recording")
    });
    let mut value = serde_json::to_value(call).unwrap_or_default();
    if let serde_json::Value::Object(map) = &mut value {
        map.insert(String::from("recording_url"), serde_json::Value::from(url));
    }
    value
}

/// Streams a call's WAV file. The path comes only from the stored record,
/// and a stored path that would leave the recordings folder (absolute,
/// `..`, or a symbolic link out) is refused.
async fn get_recording(State(api): State<Shared>, Path(id): Path<String>) -> ApiResult<Response> {
    let call = api
        .store
        .call(&id)
        .await?
        .ok_or_else(|| call_not_found(&id))?;
    let Some(relative) = call.recording else {
        return Err(ApiError::not_found(format!(
            "call `{id}` has no recording; only flows that enable recording write one"
        )));
    };
    let relative_path = PathBuf::from(&relative);
    let plain = relative_path
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        tracing::warn!(call_id = %id, recording = %relative, "stored recording path leaves the recordings folder");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("the recording path of call `{id}` is outside the recordings folder"),
        ));
    }
    let missing = || {
        ApiError::not_found(format!(
            "the recording of call `{id}` is missing from the recordings folder"
        ))
    };
    let folder = tokio::fs::canonicalize(&api.recordings)
        .await
        .map_err(|_| missing())?;
    let file_path = tokio::fs::canonicalize(folder.join(&relative_path))
        .await
        .map_err(|_| missing())?;
    if !file_path.starts_with(&folder) {
        tracing::warn!(call_id = %id, recording = %relative, "recording path resolves outside the recordings folder");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("the recording path of call `{id}` is outside the recordings folder"),
        ));
    }
    let file = tokio::fs::File::open(&file_path)
        .await
        .map_err(|_| missing())?;
    let length = file.metadata().await.map_err(|_| missing())?.len();
    let name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.wav\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

// ---- outbox

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxParams {
    call_id: Option<String>,
    status: Option<String>,
    #[serde(default)]
    limit: u32,
}

async fn list_outbox(
    State(api): State<Shared>,
    params: Result<Query<OutboxParams>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(params) = params?;
    let query = OutboxQuery {
        call_id: params.call_id,
        status: params.status,
        limit: params.limit,
    };
    Ok(Json(api.store.outbox(&query).await?).into_response())
}
