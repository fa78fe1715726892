//! The outbox deliverer against real HTTP receivers (axum on 127.0.0.1)
//! and a real store: SQLite in a temporary folder and PostgreSQL at
//! `TOK_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//! with a database of its own per test.

// `unsafe_code`: the secret tests set environment variables (unsafe since
// Rust 2024), each test under a name of its own.
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use flowc::config::{Hook, HookKind};
use flowd::config::OutboxConfig;
use flowd::outbox::{self, Deliverer};
use flowd::store::testing::{self, PostgresDatabase};
use flowd::store::{FinishedCall, NewOutboxItem, OutboxItem, OutboxQuery, Store, TagSource};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpListener;

/// How long any wait in these tests may take before it fails instead of
/// hanging; delivery normally takes milliseconds.
const PATIENCE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------- backends

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database, removed when this value is dropped (SQLite) or by
/// [`Database::remove`] (PostgreSQL).
struct Database {
    url: String,
    _folder: Option<tempfile::TempDir>,
    postgres: Option<PostgresDatabase>,
}

impl Database {
    async fn remove(self) {
        if let Some(postgres) = self.postgres {
            let _ = postgres.drop_database().await;
        }
    }
}

async fn fresh_database(backend: Backend) -> Database {
    match backend {
        Backend::Sqlite => {
            let folder = tempfile::tempdir().expect("temporary folder");
            Database {
                url: testing::sqlite_url(folder.path(), "tok.db"),
                _folder: Some(folder),
                postgres: None,
            }
        }
        Backend::Postgres => {
            let postgres = PostgresDatabase::create()
                .await
                .unwrap_or_else(|error| panic!("{error}"));
            Database {
                url: postgres.url.clone(),
                _folder: None,
                postgres: Some(postgres),
            }
        }
    }
}

async fn open_store(database: &Database) -> Store {
    Store::open(&database.url)
        .await
        .unwrap_or_else(|error| panic!("open {}: {error}", database.url))
}

// ---------------------------------------------------------------- receiver

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
struct Received {
    key: String,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

/// The receiver's reply to the `n`th request (1 for the first) that
/// carries an idempotency key: status, extra headers and body.
type Respond =
    Arc<dyn Fn(&str, usize) -> (StatusCode, Vec<(&'static str, String)>, String) + Send + Sync>;

#[derive(Clone)]
struct ReceiverState {
    log: Arc<Mutex<Vec<Received>>>,
    respond: Respond,
}

/// An HTTP receiver on 127.0.0.1 that logs every request.
struct Receiver {
    address: SocketAddr,
    log: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(listener: TcpListener, respond: Respond) -> Receiver {
        let address = listener.local_addr().expect("receiver address");
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = ReceiverState {
            log: log.clone(),
            respond,
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { address, log, task }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    fn requests(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(state): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> Response {
    let key = headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let seen = {
        let mut log = state.log.lock().unwrap();
        log.push(Received {
            key: key.clone(),
            headers: headers.clone(),
            body,
            at: Instant::now(),
        });
        log.iter().filter(|request| request.key == key).count()
    };
    let (status, extra, body) = (state.respond)(&key, seen);
    let mut response = (status, body).into_response();
    for (name, value) in extra {
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn always(status: StatusCode) -> Respond {
    Arc::new(move |_, _| (status, Vec::new(), String::new()))
}

/// A port on 127.0.0.1 with nothing listening on it, so connections to it
/// are refused until a receiver binds it.
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a port");
    listener.local_addr().expect("address")
}

// ---------------------------------------------------------------- items

fn hook(kind: HookKind, url: &str, secret_env: Option<&str>) -> Hook {
    Hook {
        kind,
        url: url.to_string(),
        method: String::from("POST"),
        headers: BTreeMap::from([(String::from("X-Test"), String::from("outbox"))]),
        timeout_ms: 5_000,
        fields: BTreeMap::new(),
        secret_env: secret_env.map(str::to_string),
        template: None,
    }
}

fn fast_config() -> OutboxConfig {
    OutboxConfig {
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        expire: Duration::from_secs(3600),
        concurrency: 4,
    }
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

/// Writes a finished call with `items` as its outbox, the way the call
/// layer does.
async fn finish_call(store: &Store, call_id: &str, items: Vec<NewOutboxItem>) {
    let now = now_millis();
    let call = FinishedCall {
        call_id: call_id.to_string(),
        flow: String::from("support"),
        flow_version: String::from("00"),
        caller: Some(String::from("+38615550100")),
        dialled: String::from("+38615550199"),
        contact_id: None,
        started_at: now - 10_000,
        answered_at: Some(now - 9_000),
        ended_at: now,
        outcome: String::from("hangup"),
        ended_by: String::from("caller"),
        sip_reason: None,
        legs: Vec::new(),
        path: Vec::new(),
        queue: None,
        agent: None,
        wait_ms: 0,
        talk_ms: 9_000,
        wrapup_ms: 0,
        rating: None,
        recording: None,
        tags: Vec::new(),
        timeline: Vec::new(),
        ticket: None,
        outbox: items,
    };
    // An unavailable database is retried, as the call layer's journal does.
    let started = Instant::now();
    loop {
        match store.call_finished(&call).await {
            Ok(()) => return,
            Err(error) if error.is_unavailable() && started.elapsed() < PATIENCE => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(error) => panic!("finish call {call_id}: {error}"),
        }
    }
}

/// `count` webhook items of one call, with bodies naming their seq (the
/// store numbers a call's items from 1).
fn webhook_items(name: &str, hook: &Hook, call_id: &str, count: u32) -> Vec<NewOutboxItem> {
    (1..=count)
        .map(|seq| {
            let body = format!("{{\"call_id\":\"{call_id}\",\"seq\":{seq}}}");
            outbox::new_item(name, hook, body, now_millis(), &fast_config())
        })
        .collect()
}

async fn items_of(store: &Store, call_id: &str) -> Vec<OutboxItem> {
    let query = OutboxQuery {
        call_id: Some(call_id.to_string()),
        ..OutboxQuery::default()
    };
    let mut items = store.outbox(&query).await.expect("read the outbox");
    items.sort_by_key(|item| item.seq);
    items
}

/// Waits until `check` returns true; fails after [`PATIENCE`] with `what`.
async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn all_delivered(store: &Store, call_ids: &[String]) -> bool {
    for call_id in call_ids {
        let items = items_of(store, call_id).await;
        if items.is_empty() || items.iter().any(|item| item.status != "delivered") {
            return false;
        }
    }
    true
}

/// Checks that the first receipt of each key came in seq order per call.
fn assert_in_order_per_call(requests: &[Received]) {
    let mut last_seq: HashMap<String, i64> = HashMap::new();
    let mut seen: Vec<&str> = Vec::new();
    for request in requests {
        if seen.contains(&request.key.as_str()) {
            continue;
        }
        seen.push(&request.key);
        let (call_id, seq) = request.key.rsplit_once(':').expect("key is call_id:seq");
        let seq: i64 = seq.parse().expect("seq is a number");
        let previous = last_seq.insert(call_id.to_string(), seq);
        assert_eq!(
            previous.map_or(1, |previous| previous + 1),
            seq,
            "call {call_id}: key {} arrived out of order",
            request.key
        );
    }
}

// ---------------------------------------------------------------- scenarios

macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario(super::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$scenario(super::Backend::Postgres).await;
                }
            }
        )*
    };
}

on_both_backends!(
    receiver_down_then_up,
    signature_verifies,
    missing_secret_is_attempt_error,
    retry_after_honoured,
    expired_item_unblocks_call,
    tagger_answer_stored_as_tags,
    restart_delivers_pending,
);

/// Every item reaches a receiver that was down and then came up, at least
/// once, in seq order per call, with the same key and body on repeats,
/// and every attempt is in the store.
async fn receiver_down_then_up(backend: Backend) {
    let database = fresh_database(backend).await;
    let store = open_store(&database).await;
    let address = closed_port().await;
    let url = format!("http://{address}/hook");
    let orders = hook(HookKind::Webhook, &url, None);
    let hooks = BTreeMap::from([(String::from("orders"), orders.clone())]);
    let deliverer = Deliverer::start(
        store.clone(),
        hooks,
        fast_config(),
        outbox::http_client().unwrap(),
    );
    let calls: Vec<String> = (0..6).map(|n| format!("down-up-{n}")).collect();
    for call_id in &calls {
        finish_call(
            &store,
            call_id,
            webhook_items("orders", &orders, call_id, 3),
        )
        .await;
        deliverer.outbox().wake();
    }

    wait_for("two failed attempts at every first item", || async {
        for call_id in &calls {
            let items = items_of(&store, call_id).await;
            if items.first().is_none_or(|item| item.attempts < 2) {
                return false;
            }
        }
        true
    })
    .await;
    for call_id in &calls {
        let items = items_of(&store, call_id).await;
        assert_eq!(items.len(), 3, "{call_id}");
        let first = &items[0];
        assert_eq!(first.status, "pending", "{call_id}");
        assert!(
            first.attempt_log.len() >= 2,
            "{call_id}: {:?}",
            first.attempt_log
        );
        assert!(
            first
                .attempt_log
                .iter()
                .all(|attempt| attempt.status_code.is_none() && attempt.error.is_some()),
            "{call_id}: {:?}",
            first.attempt_log
        );
        assert!(first.last_error.is_some(), "{call_id}");
        for later in &items[1..] {
            assert_eq!(
                later.attempts, 0,
                "{call_id}: seq {} was tried before seq 0",
                later.seq
            );
        }
    }

    // The receiver comes up and fails the first receipt of every key, so
    // each item is sent at least twice.
    let listener = TcpListener::bind(address)
        .await
        .expect("bind the receiver's port again");
    let receiver = Receiver::start(
        listener,
        Arc::new(|_, seen| {
            let status = if seen == 1 {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::NO_CONTENT
            };
            (status, Vec::new(), String::new())
        }),
    )
    .await;
    wait_for("every item delivered", || all_delivered(&store, &calls)).await;

    let requests = receiver.requests();
    assert_in_order_per_call(&requests);
    for call_id in &calls {
        for item in items_of(&store, call_id).await {
            let key = format!("{call_id}:{}", item.seq);
            assert_eq!(item.idempotency_key, key);
            let repeats: Vec<&Received> = requests
                .iter()
                .filter(|request| request.key == key)
                .collect();
            assert!(
                repeats.len() >= 2,
                "{key} reached the receiver {} times",
                repeats.len()
            );
            let expected_body = format!("{{\"call_id\":\"{call_id}\",\"seq\":{}}}", item.seq);
            for request in &repeats {
                assert_eq!(request.body, expected_body.as_bytes(), "{key}");
                assert_eq!(request.headers["content-type"], "application/json", "{key}");
                assert_eq!(request.headers["x-test"], "outbox", "{key}");
            }
            assert!(item.delivered_at.is_some(), "{key}");
            let last = item.attempt_log.last().expect("attempts recorded");
            assert_eq!(last.status_code, Some(204), "{key}");
            assert!(
                item.attempt_log
                    .iter()
                    .any(|attempt| attempt.status_code == Some(503)),
                "{key}: {:?}",
                item.attempt_log
            );
            assert_eq!(item.attempts as usize, item.attempt_log.len(), "{key}");
        }
    }
    drop(deliverer);
    store.close().await;
    database.remove().await;
}

/// A signed request verifies with the hook's secret and not with another.
async fn signature_verifies(backend: Backend) {
    let variable = format!("TOK_TEST_SIGNING_SECRET_{backend:?}").to_uppercase();
    // SAFETY: no other thread of this test binary reads or writes this
    // variable: each test uses its own name.
    unsafe { std::env::set_var(&variable, "s3cret-for-tests") };
    let database = fresh_database(backend).await;
    let store = open_store(&database).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = Receiver::start(listener, always(StatusCode::OK)).await;
    let token_variable = format!("TOK_TEST_BEARER_TOKEN_{backend:?}").to_uppercase();
    // SAFETY: as above, the name is this test's own.
    unsafe { std::env::set_var(&token_variable, "bearer-for-tests") };
    let mut signed = hook(HookKind::Webhook, &receiver.url(), Some(&variable));
    // The hook's own Content-Type is kept; its forged signature and key
    // are replaced by the ones flowd computes.
    signed.headers.extend([
        (
            String::from("Content-Type"),
            String::from("application/cloudevents+json"),
        ),
        (
            String::from("Authorization"),
            format!("Bearer ${{{token_variable}}}"),
        ),
        (String::from("X-Tok-Signature"), String::from("v1=forged")),
        (String::from("Idempotency-Key"), String::from("forged")),
    ]);
    let hooks = BTreeMap::from([(String::from("signed"), signed.clone())]);
    let deliverer = Deliverer::start(
        store.clone(),
        hooks,
        fast_config(),
        outbox::http_client().unwrap(),
    );
    let calls = vec![String::from("signed-1")];
    finish_call(
        &store,
        &calls[0],
        webhook_items("signed", &signed, &calls[0], 1),
    )
    .await;
    deliverer.outbox().wake();
    wait_for("the signed item delivered", || {
        all_delivered(&store, &calls)
    })
    .await;

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.key, "signed-1:1");
    assert_eq!(
        request.headers["content-type"],
        "application/cloudevents+json"
    );
    assert_eq!(request.headers["authorization"], "Bearer bearer-for-tests");
    assert_eq!(request.headers.get_all("x-tok-signature").iter().count(), 1);
    let stored = items_of(&store, &calls[0]).await.remove(0);
    let stored_authorization = stored
        .headers
        .iter()
        .find(|(name, _)| name == "Authorization")
        .map(|(_, value)| value.clone());
    assert_eq!(
        stored_authorization,
        Some(format!("Bearer ${{{token_variable}}}")),
        "the token must stay in the environment, not in the store"
    );
    let timestamp = request.headers["x-tok-timestamp"].to_str().unwrap();
    let signature = request.headers["x-tok-signature"].to_str().unwrap();
    let seconds: u64 = timestamp.parse().expect("timestamp in Unix seconds");
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(seconds <= now, "timestamp {seconds} after now {now}");
    assert!(now - seconds < 3600, "timestamp {seconds}, now {now}");
    assert!(signature.starts_with("v1="), "{signature}");
    assert!(outbox::verify(
        b"s3cret-for-tests",
        timestamp,
        &request.body,
        signature
    ));
    assert!(!outbox::verify(
        b"another-secret",
        timestamp,
        &request.body,
        signature
    ));
    assert!(!outbox::verify(
        b"s3cret-for-tests",
        "1",
        &request.body,
        signature
    ));
    let mut tampered = request.body.to_vec();
    tampered.push(b' ');
    assert!(!outbox::verify(
        b"s3cret-for-tests",
        timestamp,
        &tampered,
        signature
    ));
    drop(deliverer);
    store.close().await;
    database.remove().await;
}

/// A hook whose secret variable is not set gets attempt errors naming the
/// variable, and is delivered once the variable is set.
async fn missing_secret_is_attempt_error(backend: Backend) {
    let variable = format!("TOK_TEST_MISSING_SECRET_{backend:?}").to_uppercase();
    // SAFETY: as in `signature_verifies`, the name is this test's own.
    unsafe { std::env::remove_var(&variable) };
    let database = fresh_database(backend).await;
    let store = open_store(&database).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = Receiver::start(listener, always(StatusCode::OK)).await;
    let signed = hook(HookKind::Webhook, &receiver.url(), Some(&variable));
    let hooks = BTreeMap::from([(String::from("signed"), signed.clone())]);
    let deliverer = Deliverer::start(
        store.clone(),
        hooks,
        fast_config(),
        outbox::http_client().unwrap(),
    );
    let calls = vec![String::from("unsigned-1")];
    finish_call(
        &store,
        &calls[0],
        webhook_items("signed", &signed, &calls[0], 1),
    )
    .await;
    deliverer.outbox().wake();
    wait_for("two failed attempts", || async {
        items_of(&store, &calls[0])
            .await
            .first()
            .is_some_and(|item| item.attempts >= 2)
    })
    .await;
    let item = items_of(&store, &calls[0]).await.remove(0);
    let error = item.last_error.clone().unwrap_or_default();
    assert!(error.contains(&variable), "{error}");
    assert!(
        receiver.requests().is_empty(),
        "an unsigned request was sent"
    );

    // SAFETY: as above.
    unsafe { std::env::set_var(&variable, "now-set") };
    wait_for("the item delivered after the secret was set", || {
        all_delivered(&store, &calls)
    })
    .await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    let timestamp = request.headers["x-tok-timestamp"].to_str().unwrap();
    let signature = request.headers["x-tok-signature"].to_str().unwrap();
    assert!(outbox::verify(
        b"now-set",
        timestamp,
        &request.body,
        signature
    ));
    drop(deliverer);
    store.close().await;
    database.remove().await;
}

/// A 503 with `Retry-After: 2` delays the next attempt by two seconds,
/// although the back-off alone would retry after 50 ms.
async fn retry_after_honoured(backend: Backend) {
    let database = fresh_database(backend).await;
    let store = open_store(&database).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = Receiver::start(
        listener,
        Arc::new(|_, seen| {
            if seen == 1 {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    vec![("retry-after", String::from("2"))],
                    String::new(),
                )
            } else {
                (StatusCode::OK, Vec::new(), String::new())
            }
        }),
    )
    .await;
    let orders = hook(HookKind::Webhook, &receiver.url(), None);
    let hooks = BTreeMap::from([(String::from("orders"), orders.clone())]);
    let deliverer = Deliverer::start(
        store.clone(),
        hooks,
        fast_config(),
        outbox::http_client().unwrap(),
    );
    let calls = vec![String::from("retry-after-1")];
    finish_call(
        &store,
        &calls[0],
        webhook_items("orders", &orders, &calls[0], 1),
    )
    .await;
    deliverer.outbox().wake();
    wait_for("the item delivered", || all_delivered(&store, &calls)).await;

    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].at.duration_since(requests[0].at);
    assert!(gap >= Duration::from_millis(1900), "retried after {gap:?}");
    let item = items_of(&store, &calls[0]).await.remove(0);
    let first = &item.attempt_log[0];
    let second = &item.attempt_log[1];
    assert_eq!(first.status_code, Some(503));
    assert!(second.at - first.at >= 1900, "{:?}", item.attempt_log);
    drop(deliverer);
    store.close().await;
    database.remove().await;
}

/// An item the receiver keeps rejecting expires with its attempts kept,
/// and the call's next item is delivered after it.
async fn expired_item_unblocks_call(backend: Backend) {
    let database = fresh_database(backend).await;
    let store = open_store(&database).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = Receiver::start(
        listener,
        Arc::new(|key, _| {
            if key.ends_with(":1") {
                (
                    StatusCode::BAD_REQUEST,
                    Vec::new(),
                    String::from("missing field `order`"),
                )
            } else {
                (StatusCode::OK, Vec::new(), String::new())
            }
        }),
    )
    .await;
    let orders = hook(HookKind::Webhook, &receiver.url(), None);
    let hooks = BTreeMap::from([(String::from("orders"), orders.clone())]);
    let deliverer = Deliverer::start(
        store.clone(),
        hooks,
        fast_config(),
        outbox::http_client().unwrap(),
    );
    let call_id = String::from("expiry-1");
    let mut items = webhook_items("orders", &orders, &call_id, 2);
    items[0].expires_at = now_millis() + 600;
    finish_call(&store, &call_id, items).await;
    deliverer.outbox().wake();
    wait_for("the second item delivered", || async {
        items_of(&store, &call_id)
            .await
            .get(1)
            .is_some_and(|item| item.status == "delivered")
    })
    .await;

    let items = items_of(&store, &call_id).await;
    let expired = &items[0];
    assert_eq!(expired.status, "expired");
    assert!(expired.delivered_at.is_none());
    assert!(expired.attempts >= 2, "{} attempts", expired.attempts);
    assert!(
        expired
            .attempt_log
            .iter()
            .all(|attempt| attempt.status_code == Some(400))
    );
    let error = expired.last_error.clone().unwrap_or_default();
    assert!(error.contains("400"), "{error}");
    assert!(error.contains("missing field"), "{error}");
    let last = expired.attempt_log.last().unwrap();
    let second_at = items[1].attempt_log[0].at;
    assert!(last.at <= second_at, "seq 1 was sent before seq 0 expired");
    let keys: Vec<String> = receiver
        .requests()
        .iter()
        .map(|request| request.key.clone())
        .collect();
    assert_eq!(
        keys.last().map(String::as_str),
        Some("expiry-1:2"),
        "{keys:?}"
    );
    drop(deliverer);
    store.close().await;
    database.remove().await;
}

/// A tagger's answer becomes tags of the call with source `tagger`; a bad
/// answer is an attempt error and the item is retried.
async fn tagger_answer_stored_as_tags(backend: Backend) {
    let database = fresh_database(backend).await;
    let store = open_store(&database).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = Receiver::start(
        listener,
        Arc::new(|_, seen| {
            if seen == 1 {
                (
                    StatusCode::OK,
                    Vec::new(),
                    String::from("{\"labels\": [\"x\"]}"),
                )
            } else {
                (
                    StatusCode::OK,
                    Vec::new(),
                    String::from("{\"tags\": [\"angry\", \"billing\"]}"),
                )
            }
        }),
    )
    .await;
    let tagger = hook(HookKind::Tagger, &receiver.url(), None);
    let hooks = BTreeMap::from([(String::from("ai"), tagger.clone())]);
    let deliverer = Deliverer::start(
        store.clone(),
        hooks,
        fast_config(),
        outbox::http_client().unwrap(),
    );
    let calls = vec![String::from("tagger-1")];
    let body = String::from("{\"call_id\":\"tagger-1\",\"recording\":\"tagger-1.wav\"}");
    let item = outbox::new_item("ai", &tagger, body, now_millis(), &fast_config());
    assert_eq!(item.kind, "tagger");
    finish_call(&store, &calls[0], vec![item]).await;
    deliverer.outbox().wake();
    wait_for("the tagger item delivered", || {
        all_delivered(&store, &calls)
    })
    .await;

    let item = items_of(&store, &calls[0]).await.remove(0);
    assert_eq!(item.attempts, 2);
    let error = item.attempt_log[0].error.clone().unwrap_or_default();
    assert!(error.contains("no `tags` list"), "{error}");
    let call = store.call(&calls[0]).await.unwrap().expect("call row");
    for tag in ["angry", "billing"] {
        assert!(
            call.tags
                .iter()
                .any(|call_tag| call_tag.tag == tag && call_tag.source == TagSource::Tagger),
            "{tag} missing from {:?}",
            call.tags
        );
    }
    drop(deliverer);
    store.close().await;
    database.remove().await;
}

/// Items left pending by a deliverer that stopped are delivered by the
/// next one on the same database, with their attempt counts kept.
async fn restart_delivers_pending(backend: Backend) {
    let database = fresh_database(backend).await;
    let address = closed_port().await;
    let url = format!("http://{address}/hook");
    let orders = hook(HookKind::Webhook, &url, None);
    let hooks = BTreeMap::from([(String::from("orders"), orders.clone())]);
    let calls: Vec<String> = (0..3).map(|n| format!("restart-{n}")).collect();
    let tried_before = {
        let store = open_store(&database).await;
        let deliverer = Deliverer::start(
            store.clone(),
            hooks.clone(),
            fast_config(),
            outbox::http_client().unwrap(),
        );
        for call_id in &calls {
            finish_call(
                &store,
                call_id,
                webhook_items("orders", &orders, call_id, 2),
            )
            .await;
        }
        deliverer.outbox().wake();
        wait_for("a failed attempt at every first item", || async {
            for call_id in &calls {
                if items_of(&store, call_id)
                    .await
                    .first()
                    .is_none_or(|item| item.attempts < 1)
                {
                    return false;
                }
            }
            true
        })
        .await;
        drop(deliverer);
        let mut tried = HashMap::new();
        for call_id in &calls {
            let first = items_of(&store, call_id).await.remove(0);
            tried.insert(call_id.clone(), first.attempts);
        }
        tried
    };

    let listener = TcpListener::bind(address)
        .await
        .expect("bind the receiver's port again");
    let receiver = Receiver::start(listener, always(StatusCode::OK)).await;
    let store = open_store(&database).await;
    let deliverer = Deliverer::start(
        store.clone(),
        hooks,
        fast_config(),
        outbox::http_client().unwrap(),
    );
    wait_for("every item delivered after the restart", || {
        all_delivered(&store, &calls)
    })
    .await;

    let requests = receiver.requests();
    assert_in_order_per_call(&requests);
    for call_id in &calls {
        let items = items_of(&store, call_id).await;
        assert!(items[0].attempts > tried_before[call_id], "{call_id}");
        for item in &items {
            assert!(
                requests
                    .iter()
                    .any(|request| request.key == item.idempotency_key),
                "{} never reached the receiver",
                item.idempotency_key
            );
        }
    }
    drop(deliverer);
    store.close().await;
    database.remove().await;
}
