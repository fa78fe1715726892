//! Agents, agent states and callbacks in the store on SQLite and
//! PostgreSQL: HA1 values, validation, `flowd import agents` on CSV and
//! YAML, the agent routes of the API (no password or HA1 in any answer),
//! state history order, callbacks across a reopened store, and the sticky
//! agent lookup.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod store_support;

use flowd::crm::CrmSchema;
use flowd::http::Api;
use flowd::store::{FinishedCall, NewAgent, NewCallback, NewContact, Store, StoreError};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use store_support::TestDb;

on_both_backends!(
    ha1_values_stored,
    password_kept_when_missing,
    invalid_agents_rejected,
    agents_listed_and_deleted,
    state_history_in_order,
    callbacks_survive_reopen,
    callback_updates_checked,
    last_agent_by_phone_found,
    import_csv_reports_lines,
    import_yaml_reports_lines,
    shipped_sample_imports,
    api_never_returns_password,
);

const REALM: &str = "testrealm@host.com";

fn mufasa() -> NewAgent {
    NewAgent {
        id: String::from("mufasa"),
        name: String::from("Mufasa"),
        sip_user: Some(String::from("Mufasa")),
        password: Some(String::from("Circle Of Life")),
        uri: None,
        skills: BTreeMap::from([(String::from("routers"), 2)]),
        languages: vec![String::from("en")],
        teams: vec![String::from("support")],
        enabled: true,
    }
}

async fn ha1_values_stored(db: &TestDb) {
    let row = db.store.upsert_agent(&mufasa(), REALM).await.unwrap();
    // RFC 2617 section 3.5: user Mufasa, realm testrealm@host.com,
    // password "Circle Of Life".
    assert_eq!(
        row.ha1_md5.as_deref(),
        Some("939e7578ed9e3c518a452acee763bce9")
    );
    assert_eq!(
        row.ha1_sha256.as_deref(),
        Some("3ba6cd94661c5ef34598040c868f13b8775df29109986be50ad35ae537dd3aa4")
    );
    assert_eq!(row.sip_user, "Mufasa");
    assert_eq!(row.skills.get("routers"), Some(&2));
    assert_eq!(row.languages, vec![String::from("en")]);
    assert_eq!(row.teams, vec![String::from("support")]);
    assert!(row.enabled);
    let by_user = db.store.agent_by_sip_user("Mufasa").await.unwrap().unwrap();
    assert_eq!(by_user.id, "mufasa");
    assert_eq!(by_user.ha1_md5, row.ha1_md5);
    assert!(
        db.store
            .agent_by_sip_user("mufasa")
            .await
            .unwrap()
            .is_none()
    );
    let debug = format!("{row:?} {:?}", mufasa());
    assert!(!debug.contains("939e7578"), "{debug}");
    assert!(!debug.contains("Circle Of Life"), "{debug}");
}

async fn password_kept_when_missing(db: &TestDb) {
    let first = db.store.upsert_agent(&mufasa(), REALM).await.unwrap();
    let mut renamed = mufasa();
    renamed.password = None;
    renamed.name = String::from("Mufasa the King");
    let second = db.store.upsert_agent(&renamed, REALM).await.unwrap();
    assert_eq!(second.name, "Mufasa the King");
    assert_eq!(second.ha1_md5, first.ha1_md5);
    assert_eq!(second.ha1_sha256, first.ha1_sha256);
    assert_eq!(second.created_at, first.created_at);

    renamed.sip_user = Some(String::from("simba"));
    let error = db.store.upsert_agent(&renamed, REALM).await.unwrap_err();
    assert!(
        error.to_string().contains("give the password again"),
        "{error}"
    );

    renamed.password = Some(String::from("Hakuna Matata"));
    let third = db.store.upsert_agent(&renamed, REALM).await.unwrap();
    assert_eq!(
        third.ha1_md5.as_deref(),
        Some(flowd::store::ha1_md5("simba", REALM, "Hakuna Matata").as_str())
    );

    let without = NewAgent {
        id: String::from("desk"),
        uri: Some(String::from("sip:1001@127.0.0.1:5099")),
        ..NewAgent::default()
    };
    let row = db.store.upsert_agent(&without, REALM).await.unwrap();
    assert!(!row.has_password());
    assert_eq!(row.name, "desk");
    assert_eq!(row.sip_user, "desk");
    assert_eq!(row.uri.as_deref(), Some("sip:1001@127.0.0.1:5099"));
}

fn invalid(error: StoreError) -> String {
    match error {
        StoreError::Invalid(message) => message,
        other => panic!("expected an invalid-request error, got {other}"),
    }
}

async fn invalid_agents_rejected(db: &TestDb) {
    let cases: Vec<(NewAgent, &str)> = vec![
        (
            NewAgent {
                id: String::from("Ana Novak"),
                ..NewAgent::default()
            },
            "invalid id `Ana Novak`",
        ),
        (
            NewAgent {
                id: String::from("ana"),
                skills: BTreeMap::from([(String::from("routers"), 0)]),
                ..NewAgent::default()
            },
            "invalid level 0 of skill `routers`",
        ),
        (
            NewAgent {
                id: String::from("ana"),
                uri: Some(String::from("http://example.com")),
                ..NewAgent::default()
            },
            "invalid uri `http://example.com`",
        ),
        (
            NewAgent {
                id: String::from("ana"),
                password: Some(String::new()),
                ..NewAgent::default()
            },
            "the password is empty",
        ),
        (
            NewAgent {
                id: String::from("ana"),
                languages: vec![String::from("English")],
                ..NewAgent::default()
            },
            "invalid language `English`",
        ),
        (
            NewAgent {
                id: String::from("ana"),
                sip_user: Some(String::from("ana:1")),
                ..NewAgent::default()
            },
            "invalid sip_user `ana:1`",
        ),
    ];
    for (agent, expected) in cases {
        let message = invalid(db.store.upsert_agent(&agent, REALM).await.unwrap_err());
        assert!(message.contains(expected), "{message}");
    }
    assert!(db.store.agents().await.unwrap().is_empty());

    db.store.upsert_agent(&mufasa(), REALM).await.unwrap();
    let taken = NewAgent {
        id: String::from("scar"),
        sip_user: Some(String::from("Mufasa")),
        ..NewAgent::default()
    };
    let message = invalid(db.store.upsert_agent(&taken, REALM).await.unwrap_err());
    assert!(
        message.contains("sip_user `Mufasa` already belongs to agent `mufasa`"),
        "{message}"
    );
}

async fn agents_listed_and_deleted(db: &TestDb) {
    for id in ["cene", "ana", "bor"] {
        let agent = NewAgent {
            id: id.to_string(),
            ..NewAgent::default()
        };
        db.store.upsert_agent(&agent, REALM).await.unwrap();
    }
    let ids: Vec<String> = db
        .store
        .agents()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(ids, ["ana", "bor", "cene"]);
    db.store
        .record_agent_state("bor", "ready", None, 1_000, None)
        .await
        .unwrap();
    assert!(db.store.delete_agent("bor").await.unwrap());
    assert!(!db.store.delete_agent("bor").await.unwrap());
    assert!(db.store.agent("bor").await.unwrap().is_none());
    // The history of a deleted agent stays.
    assert_eq!(db.store.agent_states("bor", 0, 0).await.unwrap().len(), 1);
}

async fn state_history_in_order(db: &TestDb) {
    let store = &db.store;
    store
        .record_agent_state("ana", "logged_out", None, 1_000, None)
        .await
        .unwrap();
    store
        .record_agent_state("ana", "ready", None, 2_000, None)
        .await
        .unwrap();
    store
        .record_agent_state("ana", "ringing", None, 3_000, Some("call-1"))
        .await
        .unwrap();
    // Two changes in the same millisecond keep the order they were written.
    store
        .record_agent_state("ana", "on_call", None, 3_000, Some("call-1"))
        .await
        .unwrap();
    store
        .record_agent_state("ana", "wrap_up", None, 9_000, Some("call-1"))
        .await
        .unwrap();
    store
        .record_agent_state("ana", "paused", Some("lunch"), 10_000, None)
        .await
        .unwrap();
    store
        .record_agent_state("bor", "ready", None, 5_000, None)
        .await
        .unwrap();
    let error = store
        .record_agent_state("ana", "asleep", None, 11_000, None)
        .await
        .unwrap_err();
    assert!(invalid(error).contains("invalid agent state `asleep`"));

    let states: Vec<String> = store
        .agent_states("ana", 0, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(
        states,
        [
            "logged_out",
            "ready",
            "ringing",
            "on_call",
            "wrap_up",
            "paused"
        ]
    );
    let since = store.agent_states("ana", 3_000, 2).await.unwrap();
    assert_eq!(since.len(), 2);
    assert_eq!(since[0].state, "ringing");
    assert_eq!(since[1].state, "on_call");
    assert_eq!(since[1].call_id.as_deref(), Some("call-1"));

    let latest = store.latest_agent_states().await.unwrap();
    assert_eq!(latest.len(), 2);
    assert_eq!(latest[0].agent_id, "ana");
    assert_eq!(latest[0].state, "paused");
    assert_eq!(latest[0].reason.as_deref(), Some("lunch"));
    assert_eq!(latest[0].at_ms, 10_000);
    assert_eq!(latest[1].agent_id, "bor");
    assert_eq!(latest[1].state, "ready");
}

fn callback(call_id: &str, entered_at: i64) -> NewCallback {
    NewCallback {
        call_id: call_id.to_string(),
        flow: String::from("support"),
        queue: String::from("technical"),
        number: String::from("+38615550100"),
        language: Some(String::from("sl")),
        priority: 100,
        entered_at,
    }
}

async fn callbacks_survive_reopen(db: &TestDb) {
    let first = db
        .store
        .insert_callback(&callback("call-2", 2_000))
        .await
        .unwrap();
    let second = db
        .store
        .insert_callback(&callback("call-1", 1_000))
        .await
        .unwrap();
    let third = db
        .store
        .insert_callback(&callback("call-3", 3_000))
        .await
        .unwrap();
    assert_eq!(first.status, "pending");
    assert_eq!(first.attempts, 0);
    db.store
        .update_callback(first.id, "dialing", 1, 0, Some("ana"), None, None)
        .await
        .unwrap();
    db.store
        .update_callback(third.id, "done", 1, 0, Some("bor"), Some("answered"), None)
        .await
        .unwrap();

    db.store.close().await;
    let reopened = Store::open(&db.url).await.unwrap();
    let pending = reopened.pending_callbacks().await.unwrap();
    let ids: Vec<i64> = pending.iter().map(|c| c.id).collect();
    // Oldest enqueue first; the one cut while dialing is still there.
    assert_eq!(ids, [second.id, first.id]);
    assert_eq!(pending[0].entered_at, 1_000);
    assert_eq!(pending[0].language.as_deref(), Some("sl"));
    assert_eq!(pending[0].priority, 100);
    assert_eq!(pending[1].status, "dialing");
    assert_eq!(pending[1].agent.as_deref(), Some("ana"));
    let done = reopened.callbacks(Some("done"), 0).await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].outcome.as_deref(), Some("answered"));
    assert_eq!(reopened.callbacks(None, 0).await.unwrap().len(), 3);
    reopened.close().await;
}

async fn callback_updates_checked(db: &TestDb) {
    let mut bad = callback("call-1", 1_000);
    bad.number = String::from("015550100");
    let message = invalid(db.store.insert_callback(&bad).await.unwrap_err());
    assert!(
        message.contains("invalid callback number `015550100`"),
        "{message}"
    );
    let row = db
        .store
        .insert_callback(&callback("call-1", 1_000))
        .await
        .unwrap();
    let message = invalid(
        db.store
            .update_callback(row.id, "lost", 1, 0, None, None, None)
            .await
            .unwrap_err(),
    );
    assert!(
        message.contains("invalid callback status `lost`"),
        "{message}"
    );
    let message = invalid(
        db.store
            .update_callback(row.id + 100, "done", 1, 0, None, None, None)
            .await
            .unwrap_err(),
    );
    assert!(message.contains("not found"), "{message}");
    db.store
        .update_callback(
            row.id,
            "pending",
            2,
            90_000,
            None,
            None,
            Some("486 Busy Here"),
        )
        .await
        .unwrap();
    let pending = db.store.pending_callbacks().await.unwrap();
    assert_eq!(pending[0].attempts, 2);
    assert_eq!(pending[0].next_attempt_at, 90_000);
    assert_eq!(pending[0].last_error.as_deref(), Some("486 Busy Here"));
    let message = invalid(db.store.callbacks(Some("lost"), 0).await.unwrap_err());
    assert!(message.contains("invalid callback status"), "{message}");
}

fn answered_call(call_id: &str, caller: &str, agent: &str, started_at: i64) -> FinishedCall {
    FinishedCall {
        call_id: call_id.to_string(),
        flow: String::from("support"),
        flow_version: String::from("ab12"),
        caller: Some(caller.to_string()),
        dialled: String::from("+38615559000"),
        contact_id: None,
        started_at,
        answered_at: Some(started_at + 500),
        ended_at: started_at + 60_000,
        outcome: String::from("completed"),
        ended_by: String::from("caller"),
        sip_reason: None,
        legs: Vec::new(),
        path: Vec::new(),
        queue: Some(String::from("technical")),
        agent: Some(agent.to_string()),
        wait_ms: 1_000,
        talk_ms: 50_000,
        wrapup_ms: 0,
        rating: None,
        recording: None,
        tags: Vec::new(),
        timeline: Vec::new(),
        ticket: None,
        outbox: Vec::new(),
    }
}

async fn last_agent_by_phone_found(db: &TestDb) {
    let store = &db.store;
    assert_eq!(
        store.last_agent_by_phone("+38615550100").await.unwrap(),
        None
    );
    store
        .call_finished(&answered_call("c1", "+38615550100", "bor", 1_000))
        .await
        .unwrap();
    store
        .call_finished(&answered_call("c2", "+38615550100", "cene", 2_000))
        .await
        .unwrap();
    store
        .call_finished(&answered_call("c3", "+38615550999", "dora", 3_000))
        .await
        .unwrap();
    // Without a contact, the latest call from the number that reached an
    // agent.
    assert_eq!(
        store
            .last_agent_by_phone("+38615550100")
            .await
            .unwrap()
            .as_deref(),
        Some("cene")
    );
    let contact = NewContact {
        name: Some(String::from("Ana Novak")),
        phones: vec![String::from("+38615550100")],
        ..NewContact::default()
    };
    let id = store.upsert_contact(&contact).await.unwrap();
    // A contact without last_agent falls back to the calls.
    assert_eq!(
        store
            .last_agent_by_phone("+38615550100")
            .await
            .unwrap()
            .as_deref(),
        Some("cene")
    );
    assert!(store.set_last_agent(id, "ana").await.unwrap());
    assert!(!store.set_last_agent(id + 100, "ana").await.unwrap());
    assert_eq!(
        store
            .last_agent_by_phone("+38615550100")
            .await
            .unwrap()
            .as_deref(),
        Some("ana")
    );
    assert_eq!(
        store
            .contact(id)
            .await
            .unwrap()
            .unwrap()
            .last_agent
            .as_deref(),
        Some("ana")
    );
}

/// Writes a tok.yaml that points at the test database and declares the
/// shipped skills. The realm is the default `tok`.
fn write_config(db: &TestDb) -> PathBuf {
    let path = db.folder().join("tok.yaml");
    let text = format!(
        "database: \"{}\"\nskills:\n  routers:\n    max_level: 3\n  sales:\n    max_level: 3\n",
        db.url
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn run_import(config: &Path, file: &Path) -> Output {
    let config = config.to_path_buf();
    let file = file.to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_flowd"))
            .arg("import")
            .arg("agents")
            .arg(&file)
            .arg("--config")
            .arg(&config)
            .env_remove("RUST_LOG")
            .output()
            .expect("run flowd")
    })
    .await
    .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const CSV: &str = "\
id,name,password,uri,skills,languages,teams
ana,Ana Novak,ana-secret,,routers:2;sales:1,en;sl,support

Bor,Bor Kranjc,bor-secret,,routers:1,sl,support
cene,Cene Zupan,cene-secret,,routers:4,en,
dora,Dora Horvat,,sip:1001@127.0.0.1:5099,sales:1,en;sl,sales
eva,Eva,eva-secret,,billing:1,en,
ana,Ana Again,x,,,,
fran,Fran,fran-secret,,routers,en,
\"gal\",\"Gal, Jr.\",gal-secret,,sales:2,en,sales
";

async fn import_csv_reports_lines(db: &TestDb) {
    let config = write_config(db);
    let file = db.folder().join("agents.csv");
    std::fs::write(&file, CSV).unwrap();
    let output = run_import(&config, &file).await;
    let report = stdout(&output);
    assert!(output.status.success(), "{report}");
    assert!(
        report.starts_with("imported 3, updated 0, rejected 5"),
        "{report}"
    );
    let lines: Vec<&str> = report.lines().skip(1).collect();
    assert_eq!(lines.len(), 5, "{report}");
    assert!(lines[0].starts_with("line 4: invalid id `Bor`"), "{report}");
    assert!(
        lines[1].starts_with("line 5: invalid level 4 of skill `routers`"),
        "{report}"
    );
    assert!(
        lines[2].starts_with("line 7: unknown skill `billing`"),
        "{report}"
    );
    assert!(
        lines[3].starts_with("line 8: duplicate of line 2"),
        "{report}"
    );
    assert!(
        lines[4].starts_with("line 9: invalid skill `routers`"),
        "{report}"
    );
    assert!(!report.contains("secret"), "{report}");

    let ana = db.store.agent("ana").await.unwrap().unwrap();
    assert_eq!(
        ana.ha1_md5.as_deref(),
        Some(flowd::store::ha1_md5("ana", "tok", "ana-secret").as_str())
    );
    assert_eq!(ana.languages, ["en", "sl"]);
    let dora = db.store.agent("dora").await.unwrap().unwrap();
    assert!(!dora.has_password());
    assert_eq!(dora.uri.as_deref(), Some("sip:1001@127.0.0.1:5099"));
    let gal = db.store.agent("gal").await.unwrap().unwrap();
    assert_eq!(gal.name, "Gal, Jr.");

    // A second import updates, and an empty password keeps the stored one.
    let again = "id,name,password\nana,Ana N.,\n";
    std::fs::write(&file, again).unwrap();
    let output = run_import(&config, &file).await;
    let report = stdout(&output);
    assert!(
        report.starts_with("imported 0, updated 1, rejected 0"),
        "{report}"
    );
    let updated = db.store.agent("ana").await.unwrap().unwrap();
    assert_eq!(updated.name, "Ana N.");
    assert_eq!(updated.ha1_md5, ana.ha1_md5);
}

const YAML: &str = "\
agents:
  - id: ana
    name: Ana Novak
    password: \"0042\"
    skills: { routers: 3 }
    languages: [en, sl]
  - id: bor
    password: 1234
  - just text
  - id: cene
    skills: \"sales:2\"
    teams: sales; support
    enabled: false
  - id: dora
    colour: blue
";

async fn import_yaml_reports_lines(db: &TestDb) {
    let config = write_config(db);
    let file = db.folder().join("agents.yaml");
    std::fs::write(&file, YAML).unwrap();
    let output = run_import(&config, &file).await;
    let report = stdout(&output);
    assert!(output.status.success(), "{report}");
    assert!(
        report.starts_with("imported 2, updated 0, rejected 3"),
        "{report}"
    );
    let lines: Vec<&str> = report.lines().skip(1).collect();
    assert!(
        lines[0].starts_with("line 7: the password is not text"),
        "{report}"
    );
    assert!(lines[1].starts_with("line 9: the item is"), "{report}");
    assert!(
        lines[2].starts_with("line 14: unknown column `colour`"),
        "{report}"
    );
    assert!(!report.contains("1234"), "{report}");
    let ana = db.store.agent("ana").await.unwrap().unwrap();
    assert_eq!(
        ana.ha1_sha256.as_deref(),
        Some(flowd::store::ha1_sha256("ana", "tok", "0042").as_str())
    );
    let cene = db.store.agent("cene").await.unwrap().unwrap();
    assert!(!cene.enabled);
    assert_eq!(cene.teams, ["sales", "support"]);
    assert_eq!(cene.skills.get("sales"), Some(&2));

    // A plain list works too; an unreadable file exits 1.
    std::fs::write(&file, "- id: eva\n").unwrap();
    let report = stdout(&run_import(&config, &file).await);
    assert!(
        report.starts_with("imported 1, updated 0, rejected 0"),
        "{report}"
    );
    std::fs::write(&file, "agents: 7\n").unwrap();
    let output = run_import(&config, &file).await;
    assert_eq!(output.status.code(), Some(1));
    let missing = run_import(&config, &db.folder().join("none.csv")).await;
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("none.csv"), "{stderr}");
}

async fn shipped_sample_imports(db: &TestDb) {
    let config = db.folder().join("tok.yaml");
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/tok.yaml"))
            .unwrap();
    std::fs::write(&config, format!("{shipped}\ndatabase: \"{}\"\n", db.url)).unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/agents.yaml");
    let output = run_import(&config, &sample).await;
    let report = stdout(&output);
    assert!(output.status.success(), "{report}");
    assert!(
        report.starts_with("imported 4, updated 0, rejected 0"),
        "{report}"
    );
    let ana = db.store.agent("ana").await.unwrap().unwrap();
    assert_eq!(
        ana.ha1_md5.as_deref(),
        Some(flowd::store::ha1_md5("ana", "tok", "ana-secret-1").as_str())
    );
}

const TOKEN: &str = "test-token-a9c2";

async fn api_never_returns_password(db: &TestDb) {
    let api = Api {
        store: db.store.clone(),
        token: Some(TOKEN.to_string()),
        token_env: String::from("TOK_API_TOKEN"),
        recordings: db.folder().join("recordings"),
        schema: CrmSchema::default(),
    };
    let schema = flowd::agents::AgentSchema::from_config_text(
        "sip:\n  realm: example.com\nskills:\n  routers:\n    max_level: 3\n",
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, api.router_with_agents(schema)).await });
    flowd::hooks::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    let base = format!("http://{address}/api/v1");
    let password = "Zebra-Stripes-77";
    let ha1 = flowd::store::ha1_md5("ana", "example.com", password);
    let ha1_sha = flowd::store::ha1_sha256("ana", "example.com", password);
    let mut bodies = Vec::new();

    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{base}{path}"))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };

    let created = call(
        reqwest::Method::POST,
        "/agents",
        Some(json!({"id": "ana", "name": "Ana", "password": password, "skills": {"routers": 2}})),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let text = created.text().await.unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["has_password"], json!(true));
    assert_eq!(value["sip_user"], json!("ana"));
    bodies.push(text);
    let stored = db.store.agent("ana").await.unwrap().unwrap();
    assert_eq!(stored.ha1_md5.as_deref(), Some(ha1.as_str()));

    let updated = call(
        reqwest::Method::PUT,
        "/agents/ana",
        Some(json!({"name": "Ana Novak", "skills": {"routers": 3}})),
    )
    .await
    .unwrap();
    assert_eq!(updated.status(), 200);
    bodies.push(updated.text().await.unwrap());
    let stored = db.store.agent("ana").await.unwrap().unwrap();
    assert_eq!(stored.name, "Ana Novak");
    assert_eq!(stored.ha1_md5.as_deref(), Some(ha1.as_str()));

    for path in ["/agents", "/agents/ana"] {
        let response = call(reqwest::Method::GET, path, None).await.unwrap();
        assert_eq!(response.status(), 200);
        bodies.push(response.text().await.unwrap());
    }
    for body in &bodies {
        assert!(!body.contains(password), "{body}");
        assert!(!body.contains(&ha1), "{body}");
        assert!(!body.contains(&ha1_sha), "{body}");
        assert!(!body.contains("ha1"), "{body}");
    }

    let too_high = call(
        reqwest::Method::POST,
        "/agents",
        Some(json!({"id": "bor", "skills": {"routers": 9}})),
    )
    .await
    .unwrap();
    assert_eq!(too_high.status(), 400);
    let text = too_high.text().await.unwrap();
    assert!(text.contains("max_level"), "{text}");
    let mismatch = call(
        reqwest::Method::PUT,
        "/agents/ana",
        Some(json!({"id": "bor"})),
    )
    .await
    .unwrap();
    assert_eq!(mismatch.status(), 400);
    let unknown = call(reqwest::Method::PUT, "/agents/zed", Some(json!({})))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    db.store
        .record_agent_state("ana", "ready", None, 1_000, None)
        .await
        .unwrap();
    db.store
        .record_agent_state("ana", "paused", Some("lunch"), 2_000, None)
        .await
        .unwrap();
    let states: Value = call(reqwest::Method::GET, "/agents/ana/states?since=1500", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(states.as_array().unwrap().len(), 1);
    assert_eq!(states[0]["state"], json!("paused"));
    assert_eq!(states[0]["reason"], json!("lunch"));

    db.store
        .insert_callback(&callback("call-9", 5_000))
        .await
        .unwrap();
    let callbacks: Value = call(reqwest::Method::GET, "/callbacks?status=pending", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(callbacks[0]["call_id"], json!("call-9"));
    let bad = call(reqwest::Method::GET, "/callbacks?status=lost", None)
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    let unauthorized = client.get(format!("{base}/agents")).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);

    let deleted = call(reqwest::Method::DELETE, "/agents/ana", None)
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = call(reqwest::Method::GET, "/agents/ana", None)
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
}
