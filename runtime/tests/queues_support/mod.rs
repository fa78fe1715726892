//! The harness of the queue tests. It starts a flowd with a store, the
//! agents and the flows of one test, and SIPp agents, callers, registering
//! phones and customers. It also has RTP peers and a copy of flowd's log.
//!
//! Every fixed port is in 24500-24999: each test owns a block of 24 from
//! its `base`, laid out by [`Ports`].

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    dead_code
)]

use flowd::call::{CallRecord, Server, load_flows};
use flowd::config::{self, RuntimeConfig};
use flowd::media::prompt::PromptLibrary;
use flowd::queue::AgentState;
use flowd::sip::transport::Transport;
use flowd::store::{AgentStateRow, CallRow, NewAgent, Store};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::broadcast;

/// The number that the flow of most tests is reached on.
pub const SERVICE: &str = "200";

/// The caller's number, in E.164 so that a callback may dial it.
pub const CALLER: &str = "+38640111222";

/// The password of every agent in the store.
pub const PASSWORD: &str = "secret";

/// Maximum wait for anything flowd or SIPp does, which only stops a hung
/// test.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// SIPp's own limit on a run, so a SIPp that waits for a message that
/// never comes ends by itself.
const SIPP_TIMEOUT: &str = "120s";

/// The fixed ports of one test, in a block of 24 from an even `base`.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub base: u16,
}

impl Ports {
    /// SIP port of agent `index` (0-2).
    pub fn agent_sip(self, index: u16) -> u16 {
        assert!(index < 3);
        self.base + index
    }

    /// SIP port of caller, customer or registering phone `index` (0-2).
    pub fn caller_sip(self, index: u16) -> u16 {
        assert!(index < 3);
        self.base + 3 + index
    }

    /// The test's RTP socket that every agent's SDP points at.
    pub fn agent_rtp(self) -> u16 {
        self.base + 6
    }

    /// The test's RTP socket that every caller's SDP points at.
    pub fn caller_rtp(self) -> u16 {
        self.base + 7
    }

    /// flowd's RTP range: four port pairs.
    pub fn flowd_rtp(self) -> std::ops::RangeInclusive<u16> {
        self.base + 8..=self.base + 15
    }

    /// SIPp's media port of slot `slot` (0-3). SIPp binds the port and the
    /// one two above it, so slots interleave: 16 and 18, 17 and 19, 20
    /// and 22, 21 and 23. Two SIPps running at once need two slots.
    pub fn media(self, slot: u16) -> u16 {
        assert!(slot < 4);
        self.base + 16 + [0, 1, 4, 5][usize::from(slot)]
    }
}

/// Returns the fixed URI of agent `id` whose SIPp listens on `port`.
pub fn agent_uri(id: &str, port: u16) -> String {
    format!("sip:{id}@127.0.0.1:{port}")
}

/// Returns an agent speaking English with `skills`, the password
/// [`PASSWORD`] and, when `port` is given, a fixed URI on it.
pub fn agent(id: &str, port: Option<u16>, skills: &[(&str, u32)]) -> NewAgent {
    NewAgent {
        id: id.to_string(),
        name: String::new(),
        sip_user: None,
        password: Some(PASSWORD.to_string()),
        uri: port.map(|port| agent_uri(id, port)),
        skills: skills
            .iter()
            .map(|(skill, level)| (skill.to_string(), *level))
            .collect::<BTreeMap<_, _>>(),
        languages: vec![String::from("en")],
        teams: Vec::new(),
        enabled: true,
    }
}

/// The shipped prompts, which have hold music, callback prompts and
/// spoken numbers.
fn shipped_prompts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../flows/prompts")
}

/// Returns the config lines every test shares: English, the shipped
/// prompts and the `routers` skill.
fn base_config() -> String {
    format!(
        "languages: [en]\ndefault_language: en\nprompts:\n  dir: \"{}\"\nskills:\n  routers:\n    max_level: 3\n",
        shipped_prompts().display()
    )
}

/// A flowd with a SQLite store, the agents of one test and its flows.
pub struct Flowd {
    pub server: Server,
    pub store: Store,
    pub udp: SocketAddr,
    pub records: broadcast::Receiver<CallRecord>,
    pub recordings: PathBuf,
    config: RuntimeConfig,
    folder: PathBuf,
    /// The folder of the flows, the database and the recordings, removed
    /// on drop.
    root: PathBuf,
}

impl Drop for Flowd {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl Flowd {
    /// Starts flowd with the `.flow` files `files` (name, text), the
    /// config lines `extra` after the shared ones, and `agents` in the
    /// store before the start.
    pub async fn start(
        name: &str,
        ports: Ports,
        files: &[(&str, String)],
        extra: &str,
        agents: &[NewAgent],
    ) -> Flowd {
        capture_log();
        static SERVERS: AtomicUsize = AtomicUsize::new(0);
        let serial = SERVERS.fetch_add(1, Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!(
            "flowd-queues-{name}-{}-{serial}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        let folder = root.join("flows");
        std::fs::create_dir_all(&folder).unwrap();
        for (file, text) in files {
            std::fs::write(folder.join(file), text).unwrap();
        }
        let yaml = format!("{}{extra}", base_config());
        std::fs::write(folder.join("tok.yaml"), &yaml).unwrap();
        let mut config = config::parse(&yaml, "tok.yaml", folder.clone())
            .unwrap_or_else(|error| panic!("invalid test config: {error:?}\n{yaml}"));
        config.listen = vec![(Transport::Udp, ([127, 0, 0, 1], 0).into())];
        config.rtp_ports = ports.flowd_rtp();
        config.ring = Duration::ZERO;
        config.t1 = Duration::from_millis(500);
        // The callers' SIPps send no RTP of their own.
        config.rtp_timeout = None;
        config.rtp_hold_timeout = None;
        config.recordings = root.join("recordings");
        config.spool = root.join("spool");

        let store_url = flowd::store::testing::sqlite_url(&root, "tok.db");
        let store = Store::open(&store_url).await.unwrap();
        for agent in agents {
            store
                .upsert_agent(agent, &config.registrar.realm)
                .await
                .unwrap();
        }
        let server = start_server(&config, &folder, &store).await;
        let udp = server.endpoint().local_addrs()[0].1;
        let records = server.finished_calls();
        Flowd {
            server,
            store,
            udp,
            records,
            recordings: config.recordings.clone(),
            config,
            folder,
            root,
        }
    }

    /// Stops this flowd as SIGTERM does and starts a new one on the same
    /// flows, config and database, as a restart would.
    pub async fn restart(&mut self) {
        self.server.shut_down(Duration::from_secs(1)).await;
        let server = start_server(&self.config, &self.folder, &self.store).await;
        let old = std::mem::replace(&mut self.server, server);
        drop(old);
        self.udp = self.server.endpoint().local_addrs()[0].1;
        self.records = self.server.finished_calls();
    }

    /// Sets an agent's state through the queue service.
    pub async fn set_state(&self, agent: &str, state: AgentState) {
        self.server
            .queues()
            .expect("flowd started with a store runs a queue service")
            .set_agent_state(agent, state)
            .await
            .unwrap_or_else(|error| panic!("cannot set the state of agent `{agent}`: {error}"));
    }

    /// Makes agents ready, in this order, 300 ms apart so each has its own
    /// ready time.
    pub async fn ready(&self, agents: &[&str]) {
        for agent in agents {
            self.set_state(agent, AgentState::Ready).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Pauses an agent, which stays logged in, so callers are accepted
    /// into its queues.
    pub async fn pause(&self, agent: &str) {
        self.set_state(agent, AgentState::Paused(String::from("test")))
            .await;
    }

    /// Waits for the next finished call and returns its stored row.
    pub async fn next_call(&mut self) -> CallRow {
        let record = tokio::time::timeout(PATIENCE, self.records.recv())
            .await
            .expect("no call ended")
            .unwrap();
        self.store
            .call(&record.call_id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no stored row of call {}", record.call_id))
    }

    /// Returns an agent's stored state changes, oldest first.
    pub async fn history(&self, agent: &str) -> Vec<AgentStateRow> {
        self.store.agent_states(agent, 0, 1000).await.unwrap()
    }

    /// Waits until the latest stored state of `agent` is `state`, and
    /// returns that change.
    pub async fn wait_state(&self, agent: &str, state: &str) -> AgentStateRow {
        let found = async {
            loop {
                let history = self.history(agent).await;
                if let Some(last) = history.last()
                    && last.state == state
                {
                    return last.clone();
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        match tokio::time::timeout(PATIENCE, found).await {
            Ok(row) => row,
            Err(_) => panic!(
                "agent `{agent}` never reached `{state}` in the store; history: {:?}; live state in the queue service: {:?}",
                states(&self.history(agent).await),
                self.live_state(agent).await
            ),
        }
    }

    /// Returns an agent's state as the queue service has it now.
    pub async fn live_state(&self, agent: &str) -> Option<AgentState> {
        let live = self.server.queues()?.live().await?;
        live.agents
            .into_iter()
            .find(|live| live.id == agent)
            .map(|live| live.state)
    }

    /// Waits until the queue service has `agent` in `state`.
    pub async fn wait_live_state(&self, agent: &str, state: &AgentState) {
        let reached = async {
            while self.live_state(agent).await.as_ref() != Some(state) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        if tokio::time::timeout(PATIENCE, reached).await.is_err() {
            panic!(
                "agent `{agent}` never reached {state:?} in the queue service: {:?}",
                self.live_state(agent).await
            );
        }
    }

    /// Waits until no call runs and no RTP port is leased, legs included.
    pub async fn wait_idle(&self) {
        let stats = self.server.stats();
        let idle = async {
            while stats.active_calls() != 0 || stats.ports_in_use() != 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(PATIENCE, idle)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "calls still active: {}, ports in use: {}",
                    stats.active_calls(),
                    stats.ports_in_use()
                )
            });
    }

    /// Returns the WAV files under the recordings folder.
    pub fn recordings(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut folders = vec![self.recordings.clone()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|e| e == "wav") {
                    found.push(path);
                }
            }
        }
        found
    }
}

async fn start_server(config: &RuntimeConfig, folder: &Path, store: &Store) -> Server {
    let prompts = PromptLibrary::load(&shipped_prompts()).unwrap();
    let flows = load_flows(folder, None, prompts.inventory())
        .unwrap_or_else(|error| panic!("the test flows do not compile:\n{error}"));
    let clock = Arc::new(jiff::Timestamp::now);
    Server::start_with_store(config, flows, prompts, clock, Some(store.clone()))
        .await
        .unwrap()
}

/// Returns the states of a history as `state` or `state(reason)`.
pub fn states(history: &[AgentStateRow]) -> Vec<String> {
    history
        .iter()
        .map(|row| match &row.reason {
            Some(reason) => format!("{}({reason})", row.state),
            None => row.state.clone(),
        })
        .collect()
}

/// flowd's log since the test process started. Lines are also written to
/// the test's captured output, so a failing test shows them.
static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        eprint!("{}", String::from_utf8_lossy(bytes));
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Installs the log subscriber once per test process: `RUST_LOG`, or
/// debug for flowd, which the announcement test needs.
fn capture_log() {
    let buffer = LOG.get_or_init(|| Arc::new(Mutex::new(Vec::new()))).clone();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("flowd=debug"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(move || LogWriter(buffer.clone()))
        .try_init();
}

/// Returns the log lines written so far that contain every one of
/// `needles`.
pub fn log_lines(needles: &[&str]) -> Vec<String> {
    let buffer = LOG.get().map(|log| log.lock().unwrap().clone());
    let text = String::from_utf8_lossy(&buffer.unwrap_or_default()).into_owned();
    text.lines()
        .filter(|line| needles.iter().all(|needle| line.contains(needle)))
        .map(str::to_string)
        .collect()
}

fn scenario(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name)
        .display()
        .to_string()
}

/// SIPp's result: whether the scenario ran as written, its output, and
/// its message trace.
pub struct SippRun {
    pub success: bool,
    pub output: String,
    pub messages: String,
}

impl SippRun {
    pub fn assert_success(&self, role: &str) {
        assert!(
            self.success,
            "{role} SIPp failed:\n{}\nmessages:\n{}",
            self.output, self.messages
        );
    }
}

/// A running SIPp, killed when dropped.
pub struct Sipp {
    child: std::process::Child,
    output: PathBuf,
    trace: PathBuf,
}

/// What one SIPp runs: the scenario, its ports, `[key]` values, `-d`, the
/// number of calls `-m` and, for a UAC, the target and service.
pub struct SippSpec<'a> {
    pub scenario: &'a str,
    pub port: u16,
    pub media: u16,
    pub keys: Vec<(&'a str, String)>,
    pub pause: Duration,
    pub calls: u32,
    pub remote: Option<SocketAddr>,
    pub service: Option<&'a str>,
    pub extra: Vec<String>,
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Sipp {
    pub fn spawn(spec: SippSpec<'_>) -> Sipp {
        let folder =
            std::env::temp_dir().join(format!("flowd-queues-trace-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let stem = format!("{}-{}", spec.port, spec.scenario);
        let trace = folder.join(format!("{stem}.log"));
        let output = folder.join(format!("{stem}.out"));
        let _ = std::fs::remove_file(&trace);
        let mut command = std::process::Command::new("sipp");
        command
            .current_dir(&folder)
            .args(["-sf", &scenario(spec.scenario)])
            .args(["-m", &spec.calls.to_string(), "-l", "1"])
            .args(["-i", "127.0.0.1", "-p", &spec.port.to_string()])
            .args(["-mp", &spec.media.to_string()])
            .args(["-trace_msg", "-message_file", &trace.display().to_string()])
            .args(["-timeout", SIPP_TIMEOUT, "-nostdin", "-t", "u1"])
            .args(["-d", &spec.pause.as_millis().to_string()])
            .args(&spec.extra);
        for (key, value) in &spec.keys {
            command.args(["-key", key, value]);
        }
        if let Some(service) = spec.service {
            command.args(["-s", service]);
        }
        if let Some(remote) = spec.remote {
            command.arg(remote.to_string());
        }
        let file = std::fs::File::create(&output).unwrap();
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        let child = command.spawn().unwrap_or_else(|error| {
            panic!("cannot run `sipp` ({error}); install it with `apt-get install sip-tester`")
        });
        Sipp {
            child,
            output,
            trace,
        }
    }

    /// Waits for SIPp to end by itself.
    pub async fn finish(mut self) -> SippRun {
        let deadline = tokio::time::Instant::now() + PATIENCE * 2;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return self.collect(status.success());
            }
            if tokio::time::Instant::now() >= deadline {
                let run = self.collect(false);
                panic!(
                    "SIPp did not end:\n{}\nmessages:\n{}",
                    run.output, run.messages
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ends SIPp now, for an agent that may get no call; its run counts as
    /// failed.
    pub async fn stop(mut self) -> SippRun {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.collect(false)
    }

    fn collect(&self, success: bool) -> SippRun {
        // SIPp writes its trace as it goes; a killed SIPp may lack its
        // last lines.
        let output = std::fs::read_to_string(&self.output).unwrap_or_default();
        let messages = std::fs::read_to_string(&self.trace).unwrap_or_default();
        let _ = std::fs::remove_file(&self.output);
        let _ = std::fs::remove_file(&self.trace);
        SippRun {
            success,
            output,
            messages,
        }
    }
}

/// Starts an agent's phone on `port` with `scenario` (an `agent_*.xml`),
/// answering in PCMU with RTP to the test's agent socket, for up to
/// `calls` calls; `pause` is the talk time of `agent_bye.xml`.
pub fn spawn_agent(
    scenario: &str,
    ports: Ports,
    port: u16,
    slot: u16,
    calls: u32,
    pause: Duration,
) -> Sipp {
    Sipp::spawn(SippSpec {
        scenario,
        port,
        media: ports.media(slot),
        keys: vec![
            ("agent_rtp", ports.agent_rtp().to_string()),
            ("agent_pt", String::from("0")),
            ("agent_codec", String::from("PCMU")),
        ],
        pause,
        calls,
        remote: None,
        service: None,
        extra: Vec::new(),
    })
}

/// Starts a caller from `number` to flowd's `service` on caller port
/// `index`, with `scenario` (`caller_bye.xml` hangs up `pause` after the
/// answer, `caller_await_bye.xml` waits for flowd's BYE).
#[allow(clippy::too_many_arguments)]
pub fn spawn_caller(
    scenario: &str,
    flowd: &Flowd,
    ports: Ports,
    index: u16,
    slot: u16,
    number: &str,
    service: &str,
    pause: Duration,
) -> Sipp {
    Sipp::spawn(SippSpec {
        scenario,
        port: ports.caller_sip(index),
        media: ports.media(slot),
        keys: vec![
            ("rtp_port", ports.caller_rtp().to_string()),
            ("caller", number.to_string()),
        ],
        pause,
        calls: 1,
        remote: Some(flowd.udp),
        service: Some(service),
        extra: Vec::new(),
    })
}

/// Registers agent `user` with `password` from caller port `index`, with
/// its Contact on `contact_port` for `expires` seconds (0 unregisters).
#[allow(clippy::too_many_arguments)]
pub fn spawn_register(
    scenario: &str,
    flowd: &Flowd,
    ports: Ports,
    index: u16,
    slot: u16,
    user: &str,
    password: &str,
    contact_port: u16,
    expires: u32,
) -> Sipp {
    Sipp::spawn(SippSpec {
        scenario,
        port: ports.caller_sip(index),
        media: ports.media(slot),
        keys: vec![
            ("user", user.to_string()),
            ("contact_port", contact_port.to_string()),
            ("expires", expires.to_string()),
        ],
        pause: Duration::ZERO,
        calls: 1,
        remote: Some(flowd.udp),
        service: None,
        extra: vec![
            String::from("-au"),
            user.to_string(),
            String::from("-ap"),
            password.to_string(),
        ],
    })
}

/// The audio an RTP peer of the test received.
#[derive(Debug, Default)]
pub struct PeerAudio {
    pub packets: usize,
    /// Packets with a byte other than the codec's silence.
    pub loud: usize,
}

/// An RTP peer of the test: every packet from flowd is answered with a
/// packet of one byte value in PCMU, sent back to its source.
pub struct RtpPeer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<PeerAudio>,
}

impl RtpPeer {
    pub async fn start(port: u16, code: u8) -> RtpPeer {
        let socket = UdpSocket::bind(("127.0.0.1", port)).await.unwrap();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut audio = PeerAudio::default();
            let mut buffer = vec![0u8; 2048];
            let mut sequence: u16 = 1;
            let mut timestamp: u32 = 1000;
            loop {
                let (length, from) = tokio::select! {
                    received = socket.recv_from(&mut buffer) => match received {
                        Ok(received) => received,
                        Err(_) => continue,
                    },
                    _ = &mut stopped => return audio,
                };
                let datagram = &buffer[..length];
                if length < 12 || datagram[0] >> 6 != 2 {
                    continue;
                }
                let received_type = datagram[1] & 0x7f;
                // RTCP and telephone-events are not audio.
                if (72..=76).contains(&received_type) || received_type > 34 {
                    continue;
                }
                let csrc = usize::from(datagram[0] & 0x0f) * 4;
                let payload = &datagram[(12 + csrc).min(length)..];
                let silence = if received_type == 8 { 0xd5 } else { 0xff };
                audio.packets += 1;
                if payload.iter().any(|&byte| byte != silence) {
                    audio.loud += 1;
                }
                let mut packet = vec![0x80, 0];
                packet.extend_from_slice(&sequence.to_be_bytes());
                packet.extend_from_slice(&timestamp.to_be_bytes());
                packet.extend_from_slice(&0x7e57_u32.to_be_bytes());
                packet.extend(std::iter::repeat_n(code, 160));
                let _ = socket.send_to(&packet, from).await;
                sequence = sequence.wrapping_add(1);
                timestamp = timestamp.wrapping_add(160);
            }
        });
        RtpPeer { stop, task }
    }

    pub async fn finish(self) -> PeerAudio {
        let _ = self.stop.send(());
        self.task.await.unwrap()
    }
}

/// Returns the first request `method` that a SIPp received, from its
/// message trace, up to the blank line.
pub fn received_request<'a>(messages: &'a str, method: &str) -> &'a str {
    let start = messages
        .find(&format!("{method} sip:"))
        .unwrap_or_else(|| panic!("no {method} in the trace:\n{messages}"));
    let rest = &messages[start..];
    let end = rest
        .find("\r\n\r\n")
        .or_else(|| rest.find("\n\n"))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Returns the left and right channels of a 16-bit stereo WAV file.
pub fn stereo_channels(path: &Path) -> (Vec<i16>, Vec<i16>) {
    let mut reader = hound::WavReader::open(path).unwrap();
    assert_eq!(
        reader.spec().channels,
        2,
        "{} is not stereo",
        path.display()
    );
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let left = samples.iter().step_by(2).copied().collect();
    let right = samples.iter().skip(1).step_by(2).copied().collect();
    (left, right)
}

pub fn loud_samples(channel: &[i16]) -> usize {
    channel
        .iter()
        .filter(|sample| sample.unsigned_abs() > 1000)
        .count()
}
