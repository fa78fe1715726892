//! A flowd Server on a test flow written into a temporary folder, with a
//! store, and SIPp calls to it whose audio comes to a socket of the test.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use flowd::call::{CallRecord, Server, load_flows};
use flowd::config;
use flowd::media::prompt::PromptLibrary;
use flowd::sip::transport::Transport;
use flowd::store::Store;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::broadcast;

/// Maximum wait for anything flowd or SIPp does; it only stops a hung test.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// The number every test flow answers.
pub const SERVICE: &str = "+38615550300";

/// Returns the shipped prompts folder.
pub fn prompts_folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../flows/prompts")
}

/// A flowd on one test flow.
pub struct Flowd {
    pub server: Server,
    pub udp: SocketAddr,
    pub records: broadcast::Receiver<CallRecord>,
    pub folder: PathBuf,
    pub recordings: PathBuf,
}

impl Flowd {
    /// Writes `flow` and a tok.yaml with `extra` config lines into
    /// `folder`, and starts flowd on it with `store`.
    pub async fn start(
        folder: &Path,
        flow: &str,
        extra: &str,
        rtp_ports: RangeInclusive<u16>,
        store: Option<Store>,
    ) -> Flowd {
        Flowd::start_ringing(folder, flow, extra, rtp_ports, store, Duration::ZERO).await
    }

    /// Starts flowd as [`Flowd::start`] does, ringing for `ring`
    /// (`sip.ring`) before each answer.
    pub async fn start_ringing(
        folder: &Path,
        flow: &str,
        extra: &str,
        rtp_ports: RangeInclusive<u16>,
        store: Option<Store>,
        ring: Duration,
    ) -> Flowd {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let flows = folder.join("flows");
        std::fs::create_dir_all(&flows).unwrap();
        std::fs::write(flows.join("test.flow"), flow).unwrap();
        let recordings = folder.join("recordings");
        let spool = folder.join("spool");
        let yaml = format!(
            "country_code: 386\nlanguages: [en, sl]\nprompts:\n  dir: \"{prompts}\"\nsip:\n  listen: [\"udp:127.0.0.1:0\"]\n  ring: {ring}ms\nrtp:\n  ports: {first}-{last}\nrecordings: \"{recordings}\"\nspool: \"{spool}\"\ndatabase: \"sqlite://{database}\"\n{extra}",
            prompts = prompts_folder().display(),
            first = rtp_ports.start(),
            last = rtp_ports.end(),
            recordings = recordings.display(),
            spool = spool.display(),
            database = folder.join("unused.db").display(),
            ring = ring.as_millis(),
        );
        let config_path = flows.join("tok.yaml");
        std::fs::write(&config_path, &yaml).unwrap();
        let config = config::parse(&yaml, "tok.yaml", flows.clone()).unwrap();
        let prompts = PromptLibrary::load(&prompts_folder()).unwrap();
        let compiled = load_flows(&flows, Some(&config_path), prompts.inventory())
            .unwrap_or_else(|message| panic!("{message}"));
        let server = Server::start_with_store(
            &config,
            compiled,
            prompts,
            Arc::new(jiff::Timestamp::now),
            store,
        )
        .await
        .unwrap();
        let udp = server
            .endpoint()
            .local_addrs()
            .iter()
            .find(|(kind, _)| *kind == Transport::Udp)
            .map(|(_, address)| *address)
            .unwrap();
        let records = server.finished_calls();
        Flowd {
            server,
            udp,
            records,
            folder: folder.to_path_buf(),
            recordings,
        }
    }

    /// Returns the end of the next call.
    pub async fn next_record(&mut self) -> CallRecord {
        tokio::time::timeout(PATIENCE, self.records.recv())
            .await
            .expect("no call ended")
            .unwrap()
    }

    /// Waits until no call runs and no RTP port is leased.
    pub async fn wait_idle(&self) {
        let stats = self.server.stats();
        let idle = async {
            while stats.active_calls() != 0 || stats.ports_in_use() != 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(PATIENCE, idle)
            .await
            .expect("calls still active");
    }
}

/// Returns a local port free for UDP, for SIPp's SIP socket. Another
/// process may still take it before SIPp binds it.
fn free_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

/// Returns a free even UDP port whose port two above is free too: SIPp
/// binds its audio and video RTP sockets there.
fn free_media_port() -> u16 {
    loop {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port() & !1;
        let free = |port: u16| std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok();
        drop(socket);
        if port < 65_000 && free(port) && free(port + 2) {
            return port;
        }
    }
}

/// The RTP packets flowd sent during a call, with their arrival times.
pub struct CallAudio {
    pub arrivals: Vec<std::time::Instant>,
}

impl CallAudio {
    /// Returns the longest time between two packets.
    pub fn longest_gap(&self) -> Duration {
        self.arrivals
            .windows(2)
            .map(|pair| pair[1].duration_since(pair[0]))
            .max()
            .unwrap_or_default()
    }
}

/// Runs one SIPp call with scenario `name` from `caller` to flowd, with
/// `[key]` fields replaced by `keys` and `-d` set to `hold_ms`; flowd's RTP
/// comes to a socket here. Returns what arrived there; fails the test when
/// SIPp fails.
pub async fn call(
    target: SocketAddr,
    name: &str,
    caller: &str,
    keys: &[(&str, &str)],
    hold_ms: u64,
) -> CallAudio {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let rtp_port = socket.local_addr().unwrap().port().to_string();
    let folder = std::env::temp_dir().join(format!("flowd-records-sipp-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let mut text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/scenarios")
            .join(name),
    )
    .unwrap();
    text = text.replace("[caller]", caller);
    text = text.replace("[rtp_port]", &rtp_port);
    for (key, value) in keys {
        text = text.replace(&format!("[{key}]"), value);
    }
    let mut attempts = 0;
    let run = loop {
        let local_port = free_port().to_string();
        let rendered = folder.join(format!("{local_port}-{name}"));
        std::fs::write(&rendered, &text).unwrap();
        let mut command = Command::new("sipp");
        command
            .current_dir(&folder)
            .args(["-sf", &rendered.display().to_string(), "-s", SERVICE])
            .args(["-m", "1", "-l", "1"])
            .args(["-i", "127.0.0.1", "-p", &local_port])
            .args(["-mp", &free_media_port().to_string()])
            .args(["-d", &hold_ms.to_string()])
            .args(["-timeout", "80s", "-nostdin", "-t", "u1"])
            .arg(target.to_string());
        let mut sipp = tokio::task::spawn_blocking(move || command.output());
        let mut arrivals = Vec::new();
        let mut buffer = vec![0u8; 2048];
        let output = loop {
            tokio::select! {
                result = &mut sipp => break result.unwrap().unwrap_or_else(|error| {
                    panic!("cannot run `sipp` ({error}); install it with `apt-get install sip-tester`")
                }),
                received = socket.recv_from(&mut buffer) => {
                    if received.is_ok() {
                        arrivals.push(std::time::Instant::now());
                    }
                }
            }
        };
        let _ = std::fs::remove_file(&rendered);
        attempts += 1;
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        if attempts < 3 && stderr.contains("Unable to bind") {
            continue;
        }
        break (output, arrivals);
    };
    let (output, arrivals) = run;
    assert!(
        output.status.success(),
        "sipp {name} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    CallAudio { arrivals }
}
