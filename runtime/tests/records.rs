//! Call records over real SIPp calls: the path with the menu key and the
//! masked digits, outcome, hang-up side, rule and flow tags, timeline,
//! ticket and outbox items, on SQLite and PostgreSQL; the stereo recording
//! without its paused part; and a database that is unreachable while a
//! call runs (a TCP proxy here in front of PostgreSQL, stopped and
//! restarted), whose record is written once it is back.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod call_support;
mod store_support;

use call_support::{Flowd, call};
use flowd::store::{NewContact, OutboxQuery, TagSource, TicketQuery};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store_support::TestDb;
use tokio::net::{TcpListener, TcpStream};

/// A flow that records the call, pauses the recording while the caller
/// enters four sensitive digits, and sends its record to a webhook.
const RECORD_FLOW: &str = r#"flow record_test answers "+386 1 555 0300"

on call {
  lookup customer in crm by call.from {
    timeout 2s
    failed => tag "crm-failed"
  }
  record on
  menu {
    prompt "choose-department"
    timeout 6s
    attempts 1
    1 => tag "menu-one"
    2 => tag "menu-two"
  }
  record pause
  collect card {
    prompt "enter-order"
    length 4
    timeout 10s
    interdigit 3s
    attempts 1
    sensitive
  }
  record resume
  play "goodbye"
  hangup
}

after call {
  timeline "Test call: {call.outcome}"
  ticket link or create "Call from {call.from}"
  webhook call_records
}
"#;

/// Config lines: the webhook hook and a tagging rule on the menu path.
const RECORD_CONFIG: &str = "hooks:\n  call_records:\n    kind: webhook\n    url: \"http://127.0.0.1:9/calls\"\ntagging:\n  rules:\n    - tag: chose-two\n      when: { path_contains: \"2\", outcome: hangup, known_contact: true }\n    - tag: never\n      when: { outcome: answered }\n";

async fn ana(db: &TestDb) -> i64 {
    let contact = NewContact {
        external_id: None,
        name: Some(String::from("Ana Novak")),
        company: None,
        email: None,
        phones: vec![String::from("+38615550111")],
        language: None,
        vip: false,
        fields: BTreeMap::new(),
    };
    db.store.upsert_contact(&contact).await.unwrap()
}

/// The keys of the record call: menu 2, then digits 1 3 4 5. No key
/// repeats, because each pcap replays the same RTP timestamps and flowd
/// reads a repeated event timestamp as the same key press.
const KEYS: [(&str, &str); 5] = [
    ("menu", "2"),
    ("d1", "1"),
    ("d2", "3"),
    ("d3", "4"),
    ("d4", "5"),
];

async fn record_has_path_and_follow_ups(db: &TestDb) {
    let contact_id = ana(db).await;
    let mut flowd = Flowd::start(
        db.folder(),
        RECORD_FLOW,
        RECORD_CONFIG,
        23440..=23449,
        Some(db.store.clone()),
    )
    .await;
    call(flowd.udp, "record_call.xml", "+38615550111", &KEYS, 0).await;
    let record = flowd.next_record().await;
    flowd.wait_idle().await;
    let row = db
        .store
        .call(&record.call_id)
        .await
        .unwrap()
        .expect("call row");

    assert_eq!(row.status, "ended");
    assert_eq!(row.outcome.as_deref(), Some("hangup"));
    assert_eq!(row.ended_by.as_deref(), Some("flowd"));
    assert_eq!(row.contact_id, Some(contact_id));
    let steps: Vec<(&str, &str)> = row
        .path
        .iter()
        .map(|step| (step.kind.as_str(), step.value.as_str()))
        .collect();
    assert!(steps.contains(&("menu", "2")), "{steps:?}");
    // The digits are stored masked, never as typed.
    assert!(steps.contains(&("digits", "xxxx")), "{steps:?}");
    assert!(
        !steps.iter().any(|(_, value)| value.contains("1345")),
        "{steps:?}"
    );

    let mut tags: Vec<(String, TagSource)> = row
        .tags
        .iter()
        .map(|tag| (tag.tag.clone(), tag.source))
        .collect();
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        tags,
        [
            (String::from("chose-two"), TagSource::Rule),
            (String::from("menu-two"), TagSource::Flow),
        ]
    );
    assert_eq!(row.timeline, ["Test call: hangup"]);

    let tickets = db
        .store
        .tickets(&TicketQuery {
            contact_id: Some(contact_id),
            ..TicketQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0].call_ids, std::slice::from_ref(&record.call_id));
    assert_eq!(row.ticket_id, Some(tickets[0].id));

    let outbox = db
        .store
        .outbox(&OutboxQuery {
            call_id: Some(record.call_id.clone()),
            ..OutboxQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].kind, "webhook");
    assert_eq!(outbox[0].idempotency_key, format!("{}:1", record.call_id));
    let body: serde_json::Value = serde_json::from_str(&outbox[0].body).unwrap();
    assert_eq!(body["call_id"], record.call_id.as_str());
    assert_eq!(body["contact_name"], "Ana Novak");

    // The recording: stereo, 8 kHz, 16-bit, linked from the record, and
    // shorter than the call by at least the paused time.
    let recording = row.recording.clone().expect("recording linked");
    let path = flowd.recordings.join(&recording);
    let reader = hound::WavReader::open(&path).unwrap();
    let spec = reader.spec();
    assert_eq!(spec.channels, 2);
    assert_eq!(spec.sample_rate, 8000);
    assert_eq!(spec.bits_per_sample, 16);
    let frames = reader.duration();
    let samples: Vec<i16> = reader.into_samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(samples.len() as u64, u64::from(frames) * 2);
    // The right channel carries the prompts flowd played.
    assert!(
        samples
            .iter()
            .skip(1)
            .step_by(2)
            .any(|sample| sample.unsigned_abs() > 1000)
    );
    let recorded_ms = i64::from(frames) / 8;
    let menu_at = row.path.iter().find(|step| step.kind == "menu").unwrap().at;
    let digits_at = row
        .path
        .iter()
        .find(|step| step.kind == "digits")
        .unwrap()
        .at;
    let paused_ms = digits_at - menu_at;
    let call_ms = row.ended_at.unwrap() - row.answered_at.unwrap();
    assert!(paused_ms > 1000, "paused {paused_ms} ms");
    assert!(recorded_ms > 0);
    // Frames written while flowd's BYE awaits its answer may add a little.
    assert!(
        recorded_ms <= call_ms - paused_ms + 500,
        "recorded {recorded_ms} ms of a {call_ms} ms call paused {paused_ms} ms"
    );
}

on_both_backends!(record_has_path_and_follow_ups);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_off_after_call_deletes_file() {
    let db = TestDb::new(flowd::store::Backend::Sqlite).await;
    let flow = RECORD_FLOW.replace(
        "after call {\n",
        "after call {\n  if call.outcome == \"hangup\" {\n    record off\n  }\n",
    );
    let mut flowd = Flowd::start(
        db.folder(),
        &flow,
        RECORD_CONFIG,
        23450..=23459,
        Some(db.store.clone()),
    )
    .await;
    call(flowd.udp, "record_call.xml", "+38615550111", &KEYS, 0).await;
    let record = flowd.next_record().await;
    flowd.wait_idle().await;
    let row = db
        .store
        .call(&record.call_id)
        .await
        .unwrap()
        .expect("call row");
    assert_eq!(row.recording, None);
    let left: Vec<_> = std::fs::read_dir(&flowd.recordings)
        .map(|entries| entries.filter_map(Result::ok).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    db.finish().await;
}

/// A TCP proxy to PostgreSQL that can drop every connection and refuse
/// new ones, then accept again on the same port.
struct Proxy {
    address: SocketAddr,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    target: SocketAddr,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Arc<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let proxy = Arc::new(Proxy {
            address,
            task: Mutex::new(None),
            target,
        });
        proxy.serve(listener);
        proxy
    }

    /// Forwards every connection of `listener` until [`stop`](Self::stop).
    fn serve(&self, listener: TcpListener) {
        let target = self.target;
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    /// Closes the listener and every forwarded connection; the JoinSet is
    /// dropped with the task, which aborts the connections.
    async fn stop(&self) {
        let task = self.task.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same port.
    async fn restart(&self) {
        let listener = TcpListener::bind(self.address).await.unwrap();
        self.serve(listener);
    }
}

/// Starts flowd on a store reached through a proxy, stops the proxy and
/// makes one record call. Returns flowd, the proxy, the proxied store and
/// the call id once the call's record is in the spool.
async fn call_while_database_down(
    db: &TestDb,
    rtp: std::ops::RangeInclusive<u16>,
) -> (Flowd, Arc<Proxy>, flowd::store::Store, String) {
    let url = db.url.clone();
    let target: SocketAddr = url
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .parse()
        .unwrap();
    let proxy = Proxy::start(target).await;
    let proxied_url = url.replace(&target.to_string(), &proxy.address.to_string());
    let store = flowd::store::Store::open(&proxied_url).await.unwrap();
    let mut flowd = Flowd::start(
        db.folder(),
        RECORD_FLOW,
        RECORD_CONFIG,
        rtp,
        Some(store.clone()),
    )
    .await;

    proxy.stop().await;
    call(flowd.udp, "record_call.xml", "+38615550111", &KEYS, 0).await;
    let record = flowd.next_record().await;
    flowd.wait_idle().await;
    // The call ran to its end without the database: the lookup failed,
    // and the record waits in the spool.
    assert_eq!(record.outcome.as_deref(), Some("hangup"));
    let journal = flowd.server.stats().journal();
    assert!(journal.spooled() >= 1, "spooled {}", journal.spooled());
    assert_eq!(db.store.call(&record.call_id).await.unwrap(), None);
    (flowd, proxy, store, record.call_id)
}

fn assert_spooled_record(row: &flowd::store::CallRow) {
    assert_eq!(row.status, "ended");
    assert_eq!(row.outcome.as_deref(), Some("hangup"));
    let mut tags: Vec<String> = row.tags.iter().map(|tag| tag.tag.clone()).collect();
    tags.sort();
    assert_eq!(tags, ["crm-failed", "menu-two"]);
    assert_eq!(row.contact_id, None);
    assert!(
        row.path
            .iter()
            .any(|step| step.kind == "digits" && step.value == "xxxx")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_down_during_call() {
    let db = TestDb::new(flowd::store::Backend::Postgres).await;
    ana(&db).await;
    let (flowd, proxy, store, call_id) = call_while_database_down(&db, 23460..=23469).await;
    let metrics = flowd::http::render_metrics(flowd.server.stats());
    let spooled: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("flowd_call_records_spooled_total "))
        .and_then(|value| value.parse().ok())
        .unwrap();
    assert!(spooled >= 1, "{metrics}");
    proxy.restart().await;
    let record_call_id = call_id.clone();
    let written = async {
        loop {
            if let Some(row) = db.store.call(&record_call_id).await.unwrap()
                && row.status == "ended"
            {
                return row;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let row = tokio::time::timeout(call_support::PATIENCE, written)
        .await
        .expect("the spooled record was never written");
    assert_spooled_record(&row);
    store.close().await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_replayed_at_start() {
    let db = TestDb::new(flowd::store::Backend::Postgres).await;
    ana(&db).await;
    // The proxy stays down, so the first flowd never writes the record:
    // it is only in the spool, as after a kill while the database was down.
    let (_flowd, _proxy, store, call_id) = call_while_database_down(&db, 23470..=23479).await;
    let spool = db.folder().join("spool");
    let journal = flowd::call::journal::Journal::<flowd::call::persist::JournalEntry>::start(
        &spool,
        db.store.clone(),
        flowd::call::journal::JournalStats::default(),
    )
    .await
    .unwrap();
    let row = db
        .store
        .call(&call_id)
        .await
        .unwrap()
        .expect("replayed at start");
    assert_spooled_record(&row);
    assert!(journal.stats().written() >= 1);
    let left = std::fs::read_to_string(spool.join("journal.jsonl")).unwrap();
    assert!(left.is_empty(), "{left}");
    store.close().await;
    db.finish().await;
}

/// A flow whose `on call` ends with the caller still connected (flowd
/// does not carry out transfers yet), so `after call` asks for a rating.
const SURVEY_FLOW: &str = r#"flow survey_test answers "+386 1 555 0300"

on call {
  transfer "+38615550999"
}

after call {
  survey "survey-intro", "survey-thanks"
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survey_retries_then_rates() {
    let db = TestDb::new(flowd::store::Backend::Sqlite).await;
    let mut flowd = Flowd::start(
        db.folder(),
        SURVEY_FLOW,
        "",
        23480..=23489,
        Some(db.store.clone()),
    )
    .await;
    // 7 is not a rating, so the question is asked again; 4 answers it.
    let keys = [("first", "7"), ("second", "4")];
    call(flowd.udp, "survey_call.xml", "+38615550111", &keys, 0).await;
    let record = flowd.next_record().await;
    flowd.wait_idle().await;
    let row = db
        .store
        .call(&record.call_id)
        .await
        .unwrap()
        .expect("call row");
    assert_eq!(row.rating, Some(4));
    assert_eq!(row.outcome.as_deref(), Some("transferred"));
    assert_eq!(row.ended_by.as_deref(), Some("flowd"));
    assert_eq!(row.sip_reason.as_deref(), Some("BYE from flowd; 200 OK"));
    let survey = row.path.iter().find(|step| step.kind == "survey").unwrap();
    assert_eq!(survey.value, "4");
    db.finish().await;
}

/// An INVITE to a flow cancelled while it rings gets a record: outcome
/// `cancelled`, ended by the caller, with the final status as SIP reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_call_has_record() {
    let db = TestDb::new(flowd::store::Backend::Sqlite).await;
    let mut flowd = Flowd::start_ringing(
        db.folder(),
        SURVEY_FLOW,
        "",
        23490..=23499,
        Some(db.store.clone()),
        Duration::from_secs(10),
    )
    .await;
    call(flowd.udp, "cancel.xml", "+38615550111", &[], 0).await;
    let record = flowd.next_record().await;
    assert_eq!(record.status, 487);
    flowd.wait_idle().await;
    let row = db
        .store
        .call(&record.call_id)
        .await
        .unwrap()
        .expect("a record for the cancelled call");
    assert_eq!(row.status, "ended");
    assert_eq!(row.outcome.as_deref(), Some("cancelled"));
    assert_eq!(row.ended_by.as_deref(), Some("caller"));
    assert_eq!(row.sip_reason.as_deref(), Some("487 Request Terminated"));
    assert_eq!(row.answered_at, None);
    assert_eq!(row.flow, "survey_test");
    assert_eq!(row.dialled, "+38615550300");
    db.finish().await;
}
