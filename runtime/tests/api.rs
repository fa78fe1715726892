//! The JSON API under /api/v1 served over real HTTP on 127.0.0.1 with a
//! store on SQLite and on PostgreSQL: the bearer token, every route, JSON
//! errors, and recording downloads including path escape attempts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod store_support;

use flowc::config::FieldType;
use flowc::number::CountryCode;
use flowd::crm::CrmSchema;
use flowd::http::Api;
use flowd::store::{FinishedCall, NewOutboxItem, TagSource, TicketAction};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use store_support::TestDb;

on_both_backends!(
    token_required,
    no_token_configured,
    contacts_routes,
    contact_errors_name_the_value,
    interactions_routes,
    tickets_routes,
    calls_and_outbox_routes,
    recording_download,
    recording_path_escapes_refused,
    nul_in_text_rejected,
);

const TOKEN: &str = "test-token-5b1f";

/// A running API server and a client for it.
struct Server {
    base: String,
    client: reqwest::Client,
    recordings: PathBuf,
}

fn schema() -> CrmSchema {
    CrmSchema {
        country_code: Some(CountryCode::parse("386").unwrap()),
        fields: BTreeMap::from([
            (String::from("tier"), FieldType::Text),
            (String::from("seats"), FieldType::Integer),
        ]),
    }
}

async fn start(db: &TestDb, token: Option<&str>) -> Server {
    let recordings = db.folder().join("recordings");
    std::fs::create_dir_all(&recordings).unwrap();
    let api = Api {
        store: db.store.clone(),
        token: token.map(str::to_string),
        token_env: String::from("TOK_API_TOKEN"),
        recordings: recordings.clone(),
        schema: schema(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, api.router()).await });
    // reqwest is built without a crypto provider of its own; flowd's is
    // installed before any client is built.
    flowd::hooks::install_crypto_provider();
    Server {
        base: format!("http://{address}/api/v1"),
        client: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap(),
        recordings,
    }
}

/// A response's status and JSON body (`null` when empty).
struct Reply {
    status: u16,
    body: Value,
}

impl Server {
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        Reply { status, body }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, Some(body)).await
    }
}

fn error_of(reply: &Reply) -> String {
    reply.body["error"].as_str().unwrap_or_default().to_string()
}

async fn token_required(db: &TestDb) {
    let server = start(db, Some(TOKEN)).await;
    let url = format!("{}/contacts", server.base);

    let response = server.client.get(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("missing `Authorization: Bearer")
    );

    let response = server
        .client
        .get(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("invalid bearer token")
    );

    let prefix = &TOKEN[..TOKEN.len() - 1];
    let response = server
        .client
        .get(&url)
        .bearer_auth(prefix)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);

    let response = server
        .client
        .get(&url)
        .header("authorization", format!("Basic {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);

    let response = server
        .client
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    // Unknown routes need the token too, then get 404 in JSON.
    let response = server
        .client
        .get(format!("{}/nothing", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let reply = server.get("/nothing").await;
    assert_eq!(reply.status, 404);
    assert!(error_of(&reply).contains("no such API route"));
}

async fn no_token_configured(db: &TestDb) {
    let server = start(db, None).await;
    for path in [
        "/contacts",
        "/tickets",
        "/calls",
        "/outbox",
        "/calls/x/recording",
    ] {
        let reply = server.get(path).await;
        assert_eq!(reply.status, 401, "{path}");
        assert!(error_of(&reply).contains("TOK_API_TOKEN"), "{path}");
    }
}

async fn contacts_routes(db: &TestDb) {
    let server = start(db, Some(TOKEN)).await;
    let created = server
        .post(
            "/contacts",
            json!({
                "name": "Ana Novak",
                "email": "Ana@Example.com",
                "phones": ["01 555 0100", "+386 41 000 001"],
                "vip": true,
                "external_id": "crm-1",
                "fields": {"tier": "gold", "seats": "3"}
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(
        created.body["phones"],
        json!(["+38615550100", "+38641000001"])
    );
    assert_eq!(created.body["email"], "ana@example.com");
    assert_eq!(created.body["fields"]["seats"], 3);

    // The same external id updates the contact.
    let again = server
        .post(
            "/contacts",
            json!({"name": "Ana N.", "external_id": "crm-1", "phone": "+38615550100"}),
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["id"].as_i64(), Some(id));

    let bo = server
        .post("/contacts", json!({"name": "Bo", "company": "Kranjc"}))
        .await;
    assert_eq!(bo.status, 201);
    let bo_id = bo.body["id"].as_i64().unwrap();

    for spelling in ["%2B386%201%20555%200100", "015550100", "%2B38615550100"] {
        let found = server.get(&format!("/contacts?phone={spelling}")).await;
        assert_eq!(found.status, 200);
        assert_eq!(found.body.as_array().unwrap().len(), 1, "{spelling}");
        assert_eq!(found.body[0]["id"].as_i64(), Some(id));
    }
    let text = server.get("/contacts?q=kranj").await;
    assert_eq!(text.body.as_array().unwrap().len(), 1);
    assert_eq!(text.body[0]["name"], "Bo");
    let page = server.get("/contacts?limit=1&offset=1").await;
    assert_eq!(page.body.as_array().unwrap().len(), 1);
    assert_eq!(page.body[0]["id"].as_i64(), Some(bo_id));

    let one = server.get(&format!("/contacts/{id}")).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["name"], "Ana N.");
    assert_eq!(one.body["open_tickets"], 0);

    let put = server
        .send(
            "PUT",
            &format!("/contacts/{bo_id}"),
            Some(json!({"name": "Bo Kranjc", "phone": "+38615550200", "language": "en"})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["language"], "en");
    assert_eq!(put.body["company"], Value::Null);

    let deleted = server
        .send("DELETE", &format!("/contacts/{bo_id}"), None)
        .await;
    assert_eq!(deleted.status, 204);
    let gone = server.get(&format!("/contacts/{bo_id}")).await;
    assert_eq!(gone.status, 404);
    assert!(error_of(&gone).contains(&format!("contact {bo_id} not found")));
    let gone = server
        .send("DELETE", &format!("/contacts/{bo_id}"), None)
        .await;
    assert_eq!(gone.status, 404);
    let put = server
        .send(
            "PUT",
            &format!("/contacts/{bo_id}"),
            Some(json!({"name": "X"})),
        )
        .await;
    assert_eq!(put.status, 404);
}

async fn contact_errors_name_the_value(db: &TestDb) {
    let server = start(db, Some(TOKEN)).await;
    let reply = server
        .post("/contacts", json!({"name": "A", "phone": "12ab"}))
        .await;
    assert_eq!(reply.status, 400);
    assert!(error_of(&reply).contains("`12ab`"), "{}", reply.body);

    let reply = server
        .post(
            "/contacts",
            json!({"name": "A", "fields": {"colour": "red"}}),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert!(error_of(&reply).contains("unknown field `colour`"));

    let reply = server
        .post(
            "/contacts",
            json!({"name": "A", "fields": {"seats": "many"}}),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert!(error_of(&reply).contains("`many`"));

    let reply = server.post("/contacts", json!({"nmae": "A"})).await;
    assert_eq!(reply.status, 422);
    assert!(error_of(&reply).contains("nmae"), "{}", reply.body);

    let reply = server.post("/contacts", json!({})).await;
    assert_eq!(reply.status, 400);
    assert!(error_of(&reply).contains("missing name and phone"));

    let response = server
        .client
        .post(format!("{}/contacts", server.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON body")
    );

    let reply = server.get("/contacts/abc").await;
    assert_eq!(reply.status, 400);
    assert!(error_of(&reply).contains("whole numbers"));

    let reply = server.get("/contacts?phone=38615550100").await;
    assert_eq!(reply.status, 400);
    assert!(error_of(&reply).contains("ambiguous"));

    let reply = server.get("/contacts?limit=lots").await;
    assert_eq!(reply.status, 400);
    assert!(error_of(&reply).starts_with("invalid query string"));
}

async fn interactions_routes(db: &TestDb) {
    let server = start(db, Some(TOKEN)).await;
    let contact = server.post("/contacts", json!({"name": "Ana"})).await;
    let id = contact.body["id"].as_i64().unwrap();
    let email = json!({
        "contact_id": id,
        "channel": "email",
        "direction": "inbound",
        "occurred_at": 1000,
        "summary": "Invoice 42 is wrong",
        "external_id": "mail-1"
    });
    let first = server.post("/interactions", email.clone()).await;
    assert_eq!(first.status, 201);
    let again = server.post("/interactions", email).await;
    assert_eq!(again.body["id"], first.body["id"]);

    let call = server
        .post(
            "/interactions",
            json!({"contact_id": id, "channel": "call", "direction": "inbound", "occurred_at": 1, "summary": "x"}),
        )
        .await;
    assert_eq!(call.status, 400);
    assert!(error_of(&call).contains("`call`"));
    let fax = server
        .post(
            "/interactions",
            json!({"contact_id": id, "channel": "fax", "direction": "inbound", "occurred_at": 1, "summary": "x"}),
        )
        .await;
    assert_eq!(fax.status, 400);
    assert!(error_of(&fax).contains("`fax`"));
    let nobody = server
        .post(
            "/interactions",
            json!({"contact_id": id + 9, "channel": "sms", "direction": "inbound", "occurred_at": 1, "summary": "x"}),
        )
        .await;
    assert_eq!(nobody.status, 400);

    let timeline = server.get(&format!("/contacts/{id}/interactions")).await;
    assert_eq!(timeline.status, 200);
    assert_eq!(timeline.body.as_array().unwrap().len(), 1);
    assert_eq!(timeline.body[0]["summary"], "Invoice 42 is wrong");
    let missing = server
        .get(&format!("/contacts/{}/interactions", id + 9))
        .await;
    assert_eq!(missing.status, 404);
}

async fn tickets_routes(db: &TestDb) {
    let server = start(db, Some(TOKEN)).await;
    let contact = server.post("/contacts", json!({"name": "Ana"})).await;
    let contact_id = contact.body["id"].as_i64().unwrap();
    let created = server
        .post(
            "/tickets",
            json!({"contact_id": contact_id, "subject": "Router"}),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["status"], "open");
    let id = created.body["id"].as_i64().unwrap();

    let patched = server
        .send(
            "PATCH",
            &format!("/tickets/{id}"),
            Some(json!({"status": "pending"})),
        )
        .await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.body["status"], "pending");
    let bad = server
        .send(
            "PATCH",
            &format!("/tickets/{id}"),
            Some(json!({"status": "done"})),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(error_of(&bad).contains("`done`"));

    let noted = server
        .post(
            &format!("/tickets/{id}/notes"),
            json!({"author": "maja", "text": "Called back"}),
        )
        .await;
    assert_eq!(noted.status, 200);
    assert_eq!(noted.body["notes"][0]["text"], "Called back");
    let tagged = server
        .post(
            &format!("/tickets/{id}/tags"),
            json!({"tags": ["hardware", "b2b"]}),
        )
        .await;
    assert_eq!(tagged.body["tags"], json!(["b2b", "hardware"]));
    let empty = server
        .post(&format!("/tickets/{id}/tags"), json!({"tags": []}))
        .await;
    assert_eq!(empty.status, 400);

    let one = server.get(&format!("/tickets/{id}")).await;
    assert_eq!(one.body["notes"].as_array().unwrap().len(), 1);
    let listed = server.get("/tickets?status=pending").await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    let listed = server.get("/tickets?status=open").await;
    assert!(listed.body.as_array().unwrap().is_empty());
    let mine = server.get(&format!("/contacts/{contact_id}/tickets")).await;
    assert_eq!(mine.body.as_array().unwrap().len(), 1);
    let contact = server.get(&format!("/contacts/{contact_id}")).await;
    assert_eq!(contact.body["open_tickets"], 1);

    let missing = server.get(&format!("/tickets/{}", id + 5)).await;
    assert_eq!(missing.status, 404);
    let missing = server
        .post(&format!("/tickets/{}/notes", id + 5), json!({"text": "x"}))
        .await;
    assert_eq!(missing.status, 404);
    let bad = server.post("/tickets", json!({"subject": ""})).await;
    assert_eq!(bad.status, 400);
}

fn finished(call_id: &str, contact: Option<i64>, recording: Option<&str>) -> FinishedCall {
    FinishedCall {
        call_id: call_id.to_string(),
        flow: String::from("support"),
        flow_version: String::from("ab12"),
        caller: Some(String::from("+38615550100")),
        dialled: String::from("+38615559000"),
        contact_id: contact,
        started_at: 1_000,
        answered_at: Some(1_100),
        ended_at: 9_000,
        outcome: String::from("completed"),
        ended_by: String::from("caller"),
        sip_reason: None,
        legs: Vec::new(),
        path: Vec::new(),
        queue: None,
        agent: Some(String::from("maja")),
        wait_ms: 0,
        talk_ms: 7_000,
        wrapup_ms: 0,
        rating: Some(5),
        recording: recording.map(str::to_string),
        tags: vec![(String::from("vip"), TagSource::Flow)],
        timeline: vec![String::from("Happy caller")],
        ticket: Some(TicketAction::LinkOrCreate(String::from("Follow up"))),
        outbox: vec![NewOutboxItem {
            kind: String::from("webhook"),
            hook: String::from("crm"),
            url: String::from("http://127.0.0.1:9/"),
            method: String::from("POST"),
            headers: Vec::new(),
            body: String::from("{}"),
            idempotency_key: String::new(),
            expires_at: i64::MAX,
        }],
    }
}

async fn calls_and_outbox_routes(db: &TestDb) {
    let server = start(db, Some(TOKEN)).await;
    let contact = server
        .post("/contacts", json!({"name": "Ana", "phone": "+38615550100"}))
        .await;
    let contact_id = contact.body["id"].as_i64().unwrap();
    db.store
        .call_finished(&finished("call-1@host", Some(contact_id), None))
        .await
        .unwrap();

    let calls = server.get("/calls?caller=01%20555%200100").await;
    assert_eq!(calls.status, 200);
    assert_eq!(calls.body.as_array().unwrap().len(), 1);
    assert_eq!(calls.body[0]["call_id"], "call-1@host");
    let one = server.get("/calls/call-1@host").await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["rating"], 5);
    assert_eq!(one.body["tags"][0]["tag"], "vip");
    assert_eq!(one.body["tags"][0]["source"], "flow");
    assert!(one.body["ticket_id"].as_i64().is_some());
    let mine = server.get(&format!("/contacts/{contact_id}/calls")).await;
    assert_eq!(mine.body.as_array().unwrap().len(), 1);
    db.store
        .call_finished(&finished("call-2@host", Some(contact_id), None))
        .await
        .unwrap();
    let page = server
        .get(&format!("/contacts/{contact_id}/calls?limit=1&offset=1"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.body.as_array().unwrap().len(), 1);
    let tickets = server
        .get(&format!("/contacts/{contact_id}/tickets?limit=1"))
        .await;
    assert_eq!(tickets.status, 200, "{}", tickets.body);
    assert_eq!(tickets.body.as_array().unwrap().len(), 1);
    let timeline = server
        .get(&format!("/contacts/{contact_id}/interactions"))
        .await;
    assert_eq!(timeline.body[0]["channel"], "call");
    assert_eq!(timeline.body[0]["summary"], "Happy caller");
    let contact = server.get(&format!("/contacts/{contact_id}")).await;
    assert_eq!(contact.body["last_agent"], "maja");
    let missing = server.get("/calls/nope").await;
    assert_eq!(missing.status, 404);
    assert!(error_of(&missing).contains("`nope`"));

    let outbox = server.get("/outbox?call_id=call-1@host").await;
    assert_eq!(outbox.status, 200);
    assert_eq!(outbox.body.as_array().unwrap().len(), 1);
    assert_eq!(outbox.body[0]["idempotency_key"], "call-1@host:1");
    assert_eq!(outbox.body[0]["attempt_log"], json!([]));
    let none = server.get("/outbox?call_id=other").await;
    assert!(none.body.as_array().unwrap().is_empty());
}

async fn recording_download(db: &TestDb) {
    let server = start(db, Some(TOKEN)).await;
    let audio: Vec<u8> = (0..100_000_u32).map(|i| (i % 251) as u8).collect();
    std::fs::create_dir_all(server.recordings.join("2026")).unwrap();
    std::fs::write(server.recordings.join("2026/c1.wav"), &audio).unwrap();
    db.store
        .call_finished(&finished("c1", None, Some("2026/c1.wav")))
        .await
        .unwrap();
    let call = server.get("/calls/c1").await;
    assert_eq!(call.body["recording_url"], "/api/v1/calls/c1/recording");
    let listed = server.get("/calls").await;
    assert_eq!(
        listed.body[0]["recording_url"],
        "/api/v1/calls/c1/recording"
    );
    let response = server
        .client
        .get(format!("{}/calls/c1/recording", server.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "audio/wav");
    assert_eq!(response.headers()["content-length"], "100000");
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes.as_ref(), audio.as_slice());

    db.store
        .call_finished(&finished("c2", None, None))
        .await
        .unwrap();
    let call = server.get("/calls/c2").await;
    assert_eq!(call.body["recording_url"], Value::Null);
    let reply = server.get("/calls/c2/recording").await;
    assert_eq!(reply.status, 404);
    assert!(error_of(&reply).contains("has no recording"));

    db.store
        .call_finished(&finished("c3", None, Some("gone.wav")))
        .await
        .unwrap();
    let reply = server.get("/calls/c3/recording").await;
    assert_eq!(reply.status, 404);
    assert!(error_of(&reply).contains("missing"));

    let reply = server.get("/calls/c9/recording").await;
    assert_eq!(reply.status, 404);
}

async fn recording_path_escapes_refused(db: &TestDb) {
    let server = start(db, Some(TOKEN)).await;
    let secret = db.folder().join("secret.wav");
    std::fs::write(&secret, b"secret").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&secret, server.recordings.join("link.wav")).unwrap();
    let attempts = [
        ("up", String::from("../secret.wav")),
        ("absolute", secret.display().to_string()),
        ("nested", String::from("2026/../../secret.wav")),
        ("link", String::from("link.wav")),
    ];
    for (call_id, path) in &attempts {
        db.store
            .call_finished(&finished(call_id, None, Some(path)))
            .await
            .unwrap();
        let reply = server.get(&format!("/calls/{call_id}/recording")).await;
        assert_eq!(reply.status, 403, "{call_id}: {path}");
        assert!(
            error_of(&reply).contains("outside the recordings folder"),
            "{call_id}"
        );
    }
    // The request's own path never names a file: dots in the call id are
    // looked up as a call id.
    let reply = server.get("/calls/..%2F..%2Fsecret.wav/recording").await;
    assert_eq!(reply.status, 404);
}

async fn nul_in_text_rejected(db: &TestDb) {
    let server = start(db, Some(TOKEN)).await;
    let reply = server
        .post(
            "/contacts",
            json!({"name": "Nul\u{0}Name", "phone": "+38640111297"}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(error_of(&reply).contains("NUL"), "{}", reply.body);

    let reply = server.get("/contacts?q=%00").await;
    assert_eq!(reply.status, 400, "{}", reply.body);

    // Nothing was stored, and the API still answers.
    let reply = server.get("/contacts?phone=%2B38640111297").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, json!([]));
}
