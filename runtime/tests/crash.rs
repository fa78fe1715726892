//! SIGKILL in the middle of 20 calls: the real `flowd` binary with a
//! temporary `tok.yaml` (SQLite in a temporary folder, recordings on, a
//! webhook to a receiver written here) takes 10 SIPp calls that stay in a
//! menu and 10 that hang up after a second. flowd is killed with SIGKILL
//! as soon as SIPp has the short calls' BYEs answered, and started again
//! on the same folder. The receiver answers 503 until the restart, so no
//! webhook is delivered before the kill.
//! Then every ended call has its record, every cut call is `interrupted`,
//! every webhook reached the receiver (repeats with the same key and
//! body), and every recording is a valid WAV whose data is at least as
//! long as its header says.
//!
//! Fixed RTP and SIPp media ports lie below 32768, the start of Linux's
//! ephemeral range, so a socket bound to port 0 by a parallel test never
//! takes them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use flowd::store::{CallQuery, CallRow, NewContact, OutboxQuery, Store, TagSource};
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long any wait may take before the test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(120);

/// The number dialled, which the test flow's `answers` line lists.
const NUMBER: &str = "+38615550777";

/// flowd's RTP ports: 100 pairs for 20 calls.
const RTP_PORTS: &str = "27000-27199";

/// SIPp's media ports, one per SIPp run.
const SIPP_MEDIA_LONG: u16 = 27400;
const SIPP_MEDIA_SHORT: u16 = 27500;

/// Calls in each SIPp run.
const CALLS: usize = 10;

/// The VIP contact's number, which every call of the flow looks up.
const VIP_NUMBER: &str = "+38615550888";

const FLOW: &str = r#"// Looks up the VIP contact, keeps the caller in a menu for minutes while
// recording the call, and sends the call record to the test's receiver
// after the call.
flow crash answers "+38615550777"

on call {
  lookup customer in crm by "+38615550888" {
    timeout 8s
    failed => tag "crm-failed"
  }
  record on
  menu {
    prompt "choose-language"
    timeout 30s
    attempts 10
    1 => play "invalid-choice"
    invalid => play "invalid-choice"
    no input => play "no-input"
    exhausted => play "no-input"
  }
  hangup
}

after call {
  tag "crash-test"
  webhook receiver
}
"#;

// ---------------------------------------------------------------- receiver

/// The receiver's log, and whether it accepts requests (200) or replies
/// 503 as a receiver that is down for maintenance.
#[derive(Clone, Default)]
struct Log {
    requests: Arc<Mutex<Vec<(String, Bytes)>>>,
    accepting: Arc<AtomicBool>,
}

async fn receive(State(log): State<Log>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let key = headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    log.requests.lock().unwrap().push((key, body));
    if log.accepting.load(Ordering::SeqCst) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn start_receiver() -> (String, Log) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let log = Log::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(log.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}/hook"), log)
}

// ---------------------------------------------------------------- flowd

/// A flowd process whose log goes to a file.
struct Flowd {
    child: Child,
    log: PathBuf,
}

impl Flowd {
    fn start(config: &Path, log: PathBuf) -> Flowd {
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_flowd"))
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("start flowd");
        Flowd { child, log }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until flowd logs that it listens for SIP.
    async fn wait_ready(&mut self) {
        let started = Instant::now();
        loop {
            if self.log_text().contains("listening for SIP") {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("flowd exited with {status}:\n{}", self.log_text());
            }
            assert!(
                started.elapsed() < PATIENCE,
                "flowd did not start:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGKILL and reaps the process.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL flowd");
        let _ = self.child.wait();
    }
}

impl Drop for Flowd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Returns a local port free for both UDP and TCP.
fn free_port() -> u16 {
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Starts SIPp's built-in `uac` scenario: `calls` calls at once, each
/// hanging up after `pause`.
fn start_sipp(folder: &Path, target: &str, media_port: u16, pause: Duration) -> Child {
    let local_port = free_port().to_string();
    let calls = CALLS.to_string();
    let pause_ms = pause.as_millis().to_string();
    Command::new("sipp")
        .current_dir(folder)
        .args(["-sn", "uac", "-s", NUMBER])
        .args(["-m", &calls, "-l", &calls, "-r", &calls, "-d", &pause_ms])
        .args(["-i", "127.0.0.1", "-p", &local_port])
        .args(["-mp", &media_port.to_string()])
        .args(["-t", "u1", "-nostdin", "-trace_err", target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("cannot run `sipp` ({error}); install it with `apt-get install sip-tester`")
        })
}

/// A child process killed when the test ends, also when it fails, so a
/// SIPp run that keeps its calls for minutes does not outlive the test and
/// hold its media port.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SIPp's Call-IDs are `{call number}-{SIPp's pid}@{address}`.
fn calls_of(rows: &[CallRow], sipp: u32) -> Vec<CallRow> {
    let marker = format!("-{sipp}@");
    rows.iter()
        .filter(|row| row.call_id.contains(&marker))
        .cloned()
        .collect()
}

async fn all_calls(store: &Store) -> Vec<CallRow> {
    let query = CallQuery {
        limit: 1000,
        ..CallQuery::default()
    };
    store.calls(&query).await.unwrap_or_default()
}

/// Waits until `check` returns true; fails after [`PATIENCE`] with `what`
/// and flowd's log.
async fn wait_for<F, Fut>(what: &str, flowd: &Flowd, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < PATIENCE,
            "timed out waiting for {what}; flowd's log:\n{}",
            flowd.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------- WAV

/// Checks the RIFF layout of a WAV file: the `data` chunk's size fits in
/// the file, and the RIFF size does not claim more than the file contains.
fn check_wav_layout(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.len() >= 12,
        "{}: shorter than a RIFF header",
        path.display()
    );
    assert_eq!(&bytes[0..4], b"RIFF", "{}", path.display());
    assert_eq!(&bytes[8..12], b"WAVE", "{}", path.display());
    let riff_size = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    assert!(
        riff_size + 8 <= bytes.len(),
        "{}: RIFF size {riff_size} beyond the file's {} bytes",
        path.display(),
        bytes.len()
    );
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
        if id == b"data" {
            let end = at + 8 + size as usize;
            assert!(
                end <= bytes.len(),
                "{}: data chunk of {size} bytes ends at {end}, beyond the file's {} bytes",
                path.display(),
                bytes.len()
            );
            return;
        }
        at += 8 + size as usize + (size as usize & 1);
    }
    panic!("{}: no data chunk", path.display());
}

/// Reads every sample with hound and checks the count against the header.
fn check_wav_samples(path: &Path) {
    let reader = hound::WavReader::open(path)
        .unwrap_or_else(|error| panic!("{}: not a WAV file: {error}", path.display()));
    let declared = reader.len() as usize;
    let spec = reader.spec();
    assert_eq!(spec.sample_rate, 8000, "{}", path.display());
    let samples: Vec<i16> = reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|error| panic!("{}: unreadable sample: {error}", path.display()));
    assert_eq!(samples.len(), declared, "{}", path.display());
}

fn wav_files(folder: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut folders = vec![folder.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|extension| extension == "wav") {
                found.push(path);
            }
        }
    }
    found
}

// ---------------------------------------------------------------- the test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_record_webhook_or_recording() {
    let folder = tempfile::tempdir().unwrap();
    let root = folder.path();
    let flows = root.join("flows");
    let recordings = root.join("recordings");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::write(flows.join("crash.flow"), FLOW).unwrap();
    let prompts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../flows/prompts");
    let (hook_url, received) = start_receiver().await;
    let sip_port = free_port();
    let database = format!("sqlite://{}", root.join("tok.db").display());
    let config = format!(
        "languages: [en, sl]
default_language: en
prompts:
  dir: {prompts}
hooks:
  receiver:
    kind: webhook
    url: \"{hook_url}\"
sip:
  listen: [\"udp:127.0.0.1:{sip_port}\"]
rtp:
  ports: {RTP_PORTS}
  timeout: 0
database: \"{database}\"
recordings: \"{recordings}\"
spool: \"{spool}\"
http: 127.0.0.1:0
outbox:
  backoff: 100ms
  max_backoff: 1s
tagging:
  rules:
    - tag: cut-vip
      when: {{ outcome: interrupted, vip: true }}
",
        prompts = prompts.display(),
        recordings = recordings.display(),
        spool = root.join("spool").display(),
    );
    let config_path = flows.join("tok.yaml");
    std::fs::write(&config_path, config).unwrap();
    let target = format!("127.0.0.1:{sip_port}");

    let mut flowd = Flowd::start(&config_path, root.join("flowd-1.log"));
    flowd.wait_ready().await;
    let store = Store::open(&database).await.expect("open the store");
    let vip = NewContact {
        external_id: None,
        name: Some(String::from("Vera Kos")),
        company: None,
        email: None,
        phones: vec![VIP_NUMBER.to_string()],
        language: None,
        vip: true,
        fields: BTreeMap::new(),
    };
    let vip_id = store.upsert_contact(&vip).await.unwrap();

    // Ten calls that stay in the menu, then ten that end after a second.
    // The long calls' rows name the contact their lookup found before the
    // kill, as the journal writes it while the calls run.
    let mut long = KillOnDrop(start_sipp(
        root,
        &target,
        SIPP_MEDIA_LONG,
        Duration::from_secs(600),
    ));
    let long_pid = long.0.id();
    wait_for("ten active calls with their contact", &flowd, || async {
        let long_calls = calls_of(&all_calls(&store).await, long_pid);
        long_calls.len() >= CALLS && long_calls.iter().all(|row| row.contact_id == Some(vip_id))
    })
    .await;
    let mut short = start_sipp(root, &target, SIPP_MEDIA_SHORT, Duration::from_secs(1));
    let short_pid = short.id();
    let status = tokio::task::spawn_blocking(move || short.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "the short SIPp calls failed: {status}");

    // SIPp ends once every BYE has its 200, which flowd sends only after
    // the call's record is fsynced in the spool, so the kill comes right
    // away.
    flowd.kill();
    let _ = long.0.kill();
    let _ = long.0.wait();
    received.accepting.store(true, Ordering::SeqCst);
    let mut flowd = Flowd::start(&config_path, root.join("flowd-2.log"));
    flowd.wait_ready().await;

    wait_for(
        "every short call ended and every long call interrupted",
        &flowd,
        || async {
            let rows = all_calls(&store).await;
            let ended = calls_of(&rows, short_pid);
            let cut = calls_of(&rows, long_pid);
            ended.len() == CALLS
                && cut.len() == CALLS
                && ended.iter().all(|row| row.status == "ended")
                && cut.iter().all(|row| row.status == "interrupted")
        },
    )
    .await;
    let rows = all_calls(&store).await;
    let ended = calls_of(&rows, short_pid);
    let cut = calls_of(&rows, long_pid);
    for row in &ended {
        assert!(row.ended_at.is_some(), "{}", row.call_id);
        assert_eq!(row.ended_by.as_deref(), Some("caller"), "{}", row.call_id);
        assert!(
            row.tags.iter().any(|tag| tag.tag == "crash-test"),
            "{}: {:?}",
            row.call_id,
            row.tags
        );
    }
    for row in &cut {
        assert_eq!(
            row.outcome.as_deref(),
            Some("interrupted"),
            "{}",
            row.call_id
        );
        assert!(row.ended_at.is_some(), "{}", row.call_id);
        // Tagging rules run for cut calls at the restart.
        assert!(
            row.tags
                .iter()
                .any(|tag| tag.tag == "cut-vip" && tag.source == TagSource::Rule),
            "{}: {:?}",
            row.call_id,
            row.tags
        );
        // What was known when flowd was killed stays on the record.
        assert_eq!(row.contact_id, Some(vip_id), "{}", row.call_id);
        assert!(row.answered_at.is_some(), "{}", row.call_id);
        assert_eq!(row.caller, ended[0].caller, "{}", row.call_id);
        assert_eq!(row.dialled, NUMBER, "{}", row.call_id);
        assert_eq!(row.flow, "crash", "{}", row.call_id);
        assert_eq!(row.legs.len(), 1, "{}: {:?}", row.call_id, row.legs);
        assert_eq!(row.legs[0].role, "caller", "{}", row.call_id);
        assert_eq!(row.legs[0].call_id, row.call_id);
        assert_eq!(row.legs[0].answered_at, row.answered_at, "{}", row.call_id);
        assert!(
            row.path
                .iter()
                .any(|step| step.kind == "lookup" && step.value == "crm: found"),
            "{}: {:?}",
            row.call_id,
            row.path
        );
    }
    for row in &ended {
        assert_eq!(row.contact_id, Some(vip_id), "{}", row.call_id);
    }
    // The contact's calls list every call, the interrupted ones included.
    let of_vip = store
        .calls(&CallQuery {
            contact_id: Some(vip_id),
            limit: 1000,
            ..CallQuery::default()
        })
        .await
        .unwrap();
    for row in cut.iter().chain(&ended) {
        assert!(
            of_vip.iter().any(|call| call.call_id == row.call_id),
            "{} is not among the contact's calls",
            row.call_id
        );
    }

    // Every ended call's webhook reaches the receiver; repeats carry the
    // same key and body.
    let keys: Vec<String> = ended
        .iter()
        .map(|row| format!("{}:1", row.call_id))
        .collect();
    wait_for("every webhook at the receiver", &flowd, || {
        let requests = received.requests.lock().unwrap().clone();
        let keys = keys.clone();
        async move {
            keys.iter()
                .all(|key| requests.iter().any(|(received, _)| received == key))
        }
    })
    .await;
    let requests = received.requests.lock().unwrap().clone();
    let mut bodies: HashMap<&str, &Bytes> = HashMap::new();
    for (key, body) in &requests {
        assert!(!key.is_empty(), "a webhook without Idempotency-Key");
        if let Some(first) = bodies.insert(key, body) {
            assert_eq!(first, body, "{key} repeated with another body");
        }
    }
    for row in &ended {
        let key = format!("{}:1", row.call_id);
        let receipts = requests
            .iter()
            .filter(|(received, _)| *received == key)
            .count();
        assert!(receipts >= 1, "{key} reached the receiver {receipts} times");
        let body = bodies[key.as_str()];
        let text = String::from_utf8_lossy(body);
        assert!(text.contains(&row.call_id), "{key}: {text}");
    }
    wait_for("every webhook marked delivered", &flowd, || async {
        let query = OutboxQuery {
            status: Some(String::from("delivered")),
            limit: 1000,
            ..OutboxQuery::default()
        };
        let delivered = store.outbox(&query).await.unwrap_or_default();
        keys.iter()
            .all(|key| delivered.iter().any(|item| &item.idempotency_key == key))
    })
    .await;

    // Every call was recorded, and every recording is a valid WAV. Files
    // are named by call id with `@` written as `_`.
    let files = wav_files(&recordings);
    for row in &ended {
        let recording = row
            .recording
            .as_deref()
            .unwrap_or_else(|| panic!("{} has no recording; recordings: {files:?}", row.call_id));
        let path = recordings.join(recording);
        assert!(
            path.is_file(),
            "{}: {} is missing",
            row.call_id,
            path.display()
        );
    }
    // An interrupted call's row names its recording too, written when the
    // recording started.
    for row in &cut {
        let name = format!("{}.wav", row.call_id.replace('@', "_"));
        assert_eq!(
            row.recording.as_deref(),
            Some(name.as_str()),
            "{}: the interrupted call's record does not name its recording",
            row.call_id
        );
        assert!(
            files
                .iter()
                .any(|path| path.file_name().is_some_and(|file| file == name.as_str())),
            "{}: no {name} in {files:?}",
            row.call_id
        );
    }
    assert!(files.len() >= 2 * CALLS, "{} recordings", files.len());
    for path in &files {
        check_wav_layout(path);
        check_wav_samples(path);
    }
    drop(flowd);
}
