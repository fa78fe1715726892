//! Lookups from a flow over real SIPp calls: the built-in CRM on SQLite
//! and PostgreSQL finds a known caller and misses an unknown one; a CRM
//! hook (an axum server here) that answers after 30 s takes the failed
//! branch after the flow's timeout while flowd's RTP keeps coming; a
//! caller who hangs up during a lookup ends the call at once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod call_support;
mod store_support;

use call_support::{Flowd, call};
use flowd::store::{NewContact, TagSource};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use store_support::TestDb;

/// A flow that looks the caller up in `SOURCE` with `TIMEOUT`, tags the
/// result and hangs up after a prompt.
const LOOKUP_FLOW: &str = r#"flow lookup_test answers "+386 1 555 0300"

on call {
  lookup customer in SOURCE by call.from {
    timeout TIMEOUT
    failed => tag "crm-failed"
  }
  if customer is found {
    tag "known"
    if customer.vip {
      tag "vip"
    }
  } else {
    tag "unknown"
  }
  play "goodbye"
  hangup
}
"#;

fn lookup_flow(source: &str, timeout: &str) -> String {
    LOOKUP_FLOW
        .replace("SOURCE", source)
        .replace("TIMEOUT", timeout)
}

fn tags(row: &flowd::store::CallRow) -> Vec<String> {
    let mut tags: Vec<String> = row.tags.iter().map(|tag| tag.tag.clone()).collect();
    tags.sort();
    tags
}

async fn known_caller_found(db: &TestDb) {
    let contact = NewContact {
        external_id: None,
        name: Some(String::from("Ana Novak")),
        company: Some(String::from("Example d.o.o.")),
        email: None,
        phones: vec![String::from("+38615550111")],
        language: Some(String::from("sl")),
        vip: true,
        fields: BTreeMap::new(),
    };
    let id = db.store.upsert_contact(&contact).await.unwrap();
    let mut flowd = Flowd::start(
        db.folder(),
        &lookup_flow("crm", "2s"),
        "",
        23400..=23409,
        Some(db.store.clone()),
    )
    .await;
    // The national spelling reaches the CRM as +38615550111.
    call(flowd.udp, "caller_await_bye.xml", "015550111", &[], 0).await;
    let record = flowd.next_record().await;
    flowd.wait_idle().await;
    let row = db
        .store
        .call(&record.call_id)
        .await
        .unwrap()
        .expect("call row");
    assert_eq!(row.status, "ended");
    assert_eq!(row.contact_id, Some(id));
    assert_eq!(tags(&row), ["known", "vip"]);
    assert!(row.tags.iter().all(|tag| tag.source == TagSource::Flow));
    assert_eq!(row.outcome.as_deref(), Some("hangup"));
    assert_eq!(row.ended_by.as_deref(), Some("flowd"));
    let lookup = row.path.iter().find(|step| step.kind == "lookup").unwrap();
    assert_eq!(lookup.value, "crm: found");
    assert_eq!(row.legs.len(), 1);
    assert_eq!(row.legs[0].codec.as_deref(), Some("PCMU"));
    assert_eq!(row.flow, "lookup_test");
    assert_eq!(row.flow_version.len(), 64);
}

async fn unknown_caller_missing(db: &TestDb) {
    let mut flowd = Flowd::start(
        db.folder(),
        &lookup_flow("crm", "2s"),
        "",
        23410..=23419,
        Some(db.store.clone()),
    )
    .await;
    call(flowd.udp, "caller_await_bye.xml", "+38615550999", &[], 0).await;
    let record = flowd.next_record().await;
    flowd.wait_idle().await;
    let row = db
        .store
        .call(&record.call_id)
        .await
        .unwrap()
        .expect("call row");
    assert_eq!(row.contact_id, None);
    assert_eq!(tags(&row), ["unknown"]);
    let lookup = row.path.iter().find(|step| step.kind == "lookup").unwrap();
    assert_eq!(lookup.value, "crm: missing");
}

on_both_backends!(known_caller_found, unknown_caller_missing);

/// Starts a CRM hook that answers after 30 s and counts its requests;
/// returns its address and the counter and the keys it received.
async fn hanging_crm() -> (
    std::net::SocketAddr,
    Arc<AtomicUsize>,
    Arc<std::sync::Mutex<Vec<String>>>,
) {
    let requests = Arc::new(AtomicUsize::new(0));
    let keys = Arc::new(std::sync::Mutex::new(Vec::new()));
    let counter = requests.clone();
    let seen = keys.clone();
    let app = axum::Router::new().route(
        "/contacts/{key}",
        axum::routing::get(
            move |axum::extract::Path(key): axum::extract::Path<String>| {
                let counter = counter.clone();
                let seen = seen.clone();
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    seen.lock().unwrap().push(key);
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    axum::Json(serde_json::json!({"name": "Too Late"}))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (address, requests, keys)
}

fn hook_config(address: std::net::SocketAddr) -> String {
    format!(
        "hooks:\n  slow:\n    kind: crm\n    url: \"http://{address}/contacts/{{key}}\"\n    timeout: 5s\n    fields:\n      name: /name\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_hook_takes_failed_branch() {
    let db = TestDb::new(flowd::store::Backend::Sqlite).await;
    let (address, requests, keys) = hanging_crm().await;
    let mut flowd = Flowd::start(
        db.folder(),
        &lookup_flow("slow", "1s"),
        &hook_config(address),
        23420..=23429,
        Some(db.store.clone()),
    )
    .await;
    let audio = call(flowd.udp, "caller_await_bye.xml", "+38615550111", &[], 0).await;
    let record = flowd.next_record().await;
    flowd.wait_idle().await;
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    // `+` is percent-encoded, so the key stays one path segment.
    assert_eq!(keys.lock().unwrap().as_slice(), ["+38615550111"]);
    let row = db
        .store
        .call(&record.call_id)
        .await
        .unwrap()
        .expect("call row");
    assert_eq!(tags(&row), ["crm-failed", "unknown"]);
    let lookup = row.path.iter().find(|step| step.kind == "lookup").unwrap();
    assert_eq!(lookup.value, "slow: timeout");
    // The media task kept sending while the call waited for the hook, so
    // no gap reaches the flow's 1 s timeout.
    assert!(
        audio.arrivals.len() > 50,
        "{} packets",
        audio.arrivals.len()
    );
    let gap = audio.longest_gap();
    assert!(gap < Duration::from_secs(1), "RTP gap of {gap:?}");
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_up_cancels_lookup() {
    let db = TestDb::new(flowd::store::Backend::Sqlite).await;
    let (address, requests, _) = hanging_crm().await;
    let mut flowd = Flowd::start(
        db.folder(),
        &lookup_flow("slow", "8s"),
        &hook_config(address).replace("timeout: 5s", "timeout: 8s"),
        23430..=23439,
        Some(db.store.clone()),
    )
    .await;
    // The caller hangs up 1 s after the answer, while the lookup waits.
    call(flowd.udp, "caller_bye.xml", "+38615550111", &[], 1000).await;
    let record = flowd.next_record().await;
    flowd.wait_idle().await;
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    let row = db
        .store
        .call(&record.call_id)
        .await
        .unwrap()
        .expect("call row");
    assert_eq!(row.ended_by.as_deref(), Some("caller"));
    assert_eq!(row.outcome.as_deref(), Some("hangup"));
    let reason = row.sip_reason.clone().unwrap_or_default();
    assert!(reason.contains("Q.850"), "{reason}");
    let lookup = row.path.iter().find(|step| step.kind == "lookup").unwrap();
    assert_eq!(lookup.value, "slow: hung up");
    // The call ended with the caller, not at the lookup's 8 s timeout.
    let answered = row.answered_at.unwrap();
    let ended = row.ended_at.unwrap();
    assert!(
        ended - answered < 8000,
        "the call lasted {} ms",
        ended - answered
    );
    db.finish().await;
}

/// The peer addresses of the requests a server received.
type Peers = Arc<std::sync::Mutex<Vec<std::net::SocketAddr>>>;

/// A CRM lookup and an outbox request to one server use one connection,
/// because both go through the process's single HTTP client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_hook_and_outbox_share_client() {
    use axum::extract::{ConnectInfo, State};
    use std::net::SocketAddr;

    async fn contact(
        State(peers): State<Peers>,
        ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ) -> axum::Json<serde_json::Value> {
        peers.lock().unwrap().push(peer);
        axum::Json(serde_json::json!({ "name": "Ana Novak" }))
    }
    async fn webhook(State(peers): State<Peers>, ConnectInfo(peer): ConnectInfo<SocketAddr>) {
        peers.lock().unwrap().push(peer);
    }

    let peers = Peers::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/contacts/{key}", axum::routing::get(contact))
        .route("/hook", axum::routing::post(webhook))
        .with_state(peers.clone());
    tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(listener, service).await;
    });

    let hook = flowc::config::Hook {
        kind: flowc::config::HookKind::Crm,
        url: format!("http://{address}/contacts/{{key}}"),
        method: String::from("GET"),
        headers: BTreeMap::new(),
        timeout_ms: 2000,
        fields: BTreeMap::from([(String::from("name"), String::from("/name"))]),
        secret_env: None,
        template: None,
    };
    let hooks = flowd::hooks::HookClient::new().unwrap();
    let reply = hooks
        .lookup(
            "crm",
            &hook,
            "+38615550111",
            &BTreeMap::new(),
            Duration::from_secs(5),
        )
        .await;
    assert!(
        matches!(reply, flowc::vm::Reply::Found(_)),
        "lookup reply {reply:?}"
    );
    let outbox = flowd::outbox::http_client().unwrap();
    let response = outbox
        .post(format!("http://{address}/hook"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let peers = peers.lock().unwrap().clone();
    assert_eq!(peers.len(), 2, "requests {peers:?}");
    assert_eq!(
        peers[0], peers[1],
        "the outbox opened its own connection, so it has its own client"
    );
}
