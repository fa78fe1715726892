//! SIPp phones against flowd's registrar and feature codes: REGISTER with
//! digest authentication over UDP and TCP, a wrong password, the block
//! after repeated failures, unregistering with `Expires: 0`, and the `*51`
//! pause code with and without the right password. SIPp exits 0 only when
//! every step of its scenario got the expected answer.
//!
//! Fixed RTP and SIPp media ports lie in 24200-24299, below 32768, the
//! start of Linux's ephemeral range.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use flowd::agents::features::{FeatureAction, FeatureCodes, FeatureEvent};
use flowd::agents::registrar::{RegistrarConfig, RegistrarEvent};
use flowd::call::{AgentHooks, Server, load_flows};
use flowd::config;
use flowd::media::prompt::PromptLibrary;
use flowd::sip::digest::StaticCredentials;
use flowd::sip::transport::Transport;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a test waits for an event before it fails; generous, because
/// test machines are noisy.
const EVENT_WAIT: Duration = Duration::from_secs(30);

struct Phones {
    server: Server,
    address: SocketAddr,
    registrations: mpsc::UnboundedReceiver<RegistrarEvent>,
    features: mpsc::UnboundedReceiver<FeatureEvent>,
}

fn flows_folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../flows")
}

fn scenario(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name)
        .display()
        .to_string()
}

/// Starts flowd with the shipped flows and two agents: `ana` (password
/// `secret`) and `bo` (password `hunter2`).
async fn start(transport: Transport, rtp_ports: RangeInclusive<u16>) -> Phones {
    let folder = flows_folder();
    let mut config = config::defaults(folder.clone());
    config.recordings =
        std::env::temp_dir().join(format!("flowd-register-recordings-{}", std::process::id()));
    config.listen = vec![(transport, ([127, 0, 0, 1], 0).into())];
    config.rtp_ports = rtp_ports;
    let prompts = PromptLibrary::load(&folder.join("prompts")).unwrap();
    let flows = load_flows(&folder, None, prompts.inventory()).unwrap();

    let registrar = RegistrarConfig::default();
    let credentials = StaticCredentials::new()
        .with_password("ana", "agent-ana", &registrar.realm, "secret")
        .with_password("bo", "agent-bo", &registrar.realm, "hunter2");
    let (registrar_events, registrations) = mpsc::unbounded_channel();
    let (feature_events, features) = mpsc::unbounded_channel();
    let hooks = AgentHooks {
        credentials: Arc::new(credentials),
        registrar,
        features: FeatureCodes::default(),
        registrar_events,
        feature_events,
    };

    let clock = Arc::new(jiff::Timestamp::now);
    let server = Server::start_with_agents(&config, flows, prompts, clock, None, None, Some(hooks))
        .await
        .unwrap();
    let address = server.endpoint().local_addrs()[0].1;
    Phones {
        server,
        address,
        registrations,
        features,
    }
}

/// Returns a local port free for both UDP and TCP, for SIPp's own SIP
/// socket.
fn free_port() -> u16 {
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Runs one SIPp call of scenario file `name` with extra `arguments` and
/// returns whether SIPp succeeded, with its output. SIPp's SIP socket
/// takes a free port unless `arguments` set `-p`.
async fn sipp(
    server: SocketAddr,
    transport: &str,
    media_port: u16,
    name: &str,
    arguments: &[&str],
) -> (bool, String) {
    let folder = tempfile::tempdir().unwrap();
    let local_port = match arguments.iter().position(|a| *a == "-p") {
        Some(_) => None,
        None => Some(free_port().to_string()),
    };
    let media_port = media_port.to_string();
    let target = server.to_string();
    let transport = transport.to_string();
    let scenario = scenario(name);
    let arguments: Vec<String> = arguments.iter().map(|a| a.to_string()).collect();
    let output = tokio::task::spawn_blocking(move || {
        let output = Command::new("sipp")
            .current_dir(folder.path())
            .args(["-sf", &scenario])
            .args(&arguments)
            .args(["-m", "1", "-l", "1", "-timeout", "120s"])
            .args(["-i", "127.0.0.1", "-mp", &media_port])
            .args(local_port.iter().flat_map(|port| ["-p", port.as_str()]))
            .args(["-t", &transport, "-nostdin", &target])
            .output();
        drop(folder);
        output
    })
    .await
    .unwrap()
    .unwrap_or_else(|error| {
        panic!("cannot run `sipp` ({error}); install it with `apt-get install sip-tester` or run scripts/test")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Runs a SIPp scenario that must succeed.
async fn sipp_ok(
    server: SocketAddr,
    transport: &str,
    media_port: u16,
    name: &str,
    arguments: &[&str],
) {
    let (success, text) = sipp(server, transport, media_port, name, arguments).await;
    assert!(success, "sipp {name} {arguments:?} failed:\n{text}");
}

async fn next<T>(receiver: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(EVENT_WAIT, receiver.recv())
        .await
        .expect("no event within the wait")
        .expect("the event channel closed")
}

async fn wait_idle(server: &Server) {
    while server.stats().active_calls() != 0 || server.stats().ports_in_use() != 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

const ANA: [&str; 6] = ["-s", "ana", "-au", "ana", "-ap", "secret"];

async fn register_and_unregister(
    transport: Transport,
    sipp_transport: &str,
    rtp: RangeInclusive<u16>,
    media_port: u16,
) {
    let mut phones = start(transport, rtp).await;
    // Both runs use one SIP port, so the unregistering Contact is the
    // registered one.
    let port = free_port().to_string();
    let register = [&ANA[..], &["-p", &port, "-key", "expires", "120"]].concat();
    sipp_ok(
        phones.address,
        sipp_transport,
        media_port,
        "register_ok.xml",
        &register,
    )
    .await;

    match next(&mut phones.registrations).await {
        RegistrarEvent::Registered {
            agent_id,
            contact_uri,
            source,
            expires,
        } => {
            assert_eq!(agent_id, "agent-ana");
            assert!(
                contact_uri.starts_with("sip:ana@127.0.0.1:"),
                "{contact_uri}"
            );
            assert_eq!(source.remote.ip(), std::net::Ipv4Addr::LOCALHOST);
            assert_eq!(expires, Duration::from_secs(120));
        }
        other => panic!("expected Registered, got {other:?}"),
    }
    let registrar = phones.server.registrar().unwrap();
    let bindings = registrar.lookup("agent-ana");
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0].source.transport, transport);

    let unregister = [&ANA[..], &["-p", &port, "-key", "expires", "0"]].concat();
    sipp_ok(
        phones.address,
        sipp_transport,
        media_port,
        "register_ok.xml",
        &unregister,
    )
    .await;
    assert_eq!(
        next(&mut phones.registrations).await,
        RegistrarEvent::Unregistered {
            agent_id: String::from("agent-ana")
        }
    );
    assert!(registrar.lookup("agent-ana").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_and_unregister_over_udp() {
    register_and_unregister(Transport::Udp, "u1", 24200..=24209, 24250).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_and_unregister_over_tcp() {
    register_and_unregister(Transport::Tcp, "t1", 24210..=24219, 24284).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_wrong_password_forbidden() {
    let phones = start(Transport::Udp, 24220..=24229).await;
    let wrong = ["-s", "ana", "-au", "ana", "-ap", "wrong"];
    sipp_ok(
        phones.address,
        "u1",
        24254,
        "register_forbidden.xml",
        &wrong,
    )
    .await;
    let unknown = ["-s", "eve", "-au", "eve", "-ap", "secret"];
    sipp_ok(
        phones.address,
        "u1",
        24254,
        "register_forbidden.xml",
        &unknown,
    )
    .await;
    assert!(
        phones
            .server
            .registrar()
            .unwrap()
            .lookup("agent-ana")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_block_address() {
    let phones = start(Transport::Udp, 24230..=24239).await;
    let wrong = ["-s", "ana", "-au", "ana", "-ap", "wrong"];
    // Five failures within the window: each gets 403 after its challenge.
    for _ in 0..5 {
        sipp_ok(
            phones.address,
            "u1",
            24258,
            "register_forbidden.xml",
            &wrong,
        )
        .await;
    }
    // The sixth attempt is rejected before any challenge, with Retry-After.
    sipp_ok(phones.address, "u1", 24258, "register_blocked.xml", &wrong).await;
    // The right password is blocked too: no challenge comes to answer.
    sipp_ok(phones.address, "u1", 24258, "register_blocked.xml", &ANA).await;
    let register = [&ANA[..], &["-key", "expires", "120"]].concat();
    let (success, text) = sipp(phones.address, "u1", 24258, "register_ok.xml", &register).await;
    assert!(!success, "a blocked address registered:\n{text}");
    assert!(
        phones
            .server
            .registrar()
            .unwrap()
            .lookup("agent-ana")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feature_code_pauses_agent() {
    let mut phones = start(Transport::Udp, 24240..=24249).await;
    let arguments = [
        "-s", "*51", "-au", "ana", "-ap", "secret", "-key", "user", "ana",
    ];
    sipp_ok(phones.address, "u1", 24262, "feature_ok.xml", &arguments).await;
    let event = next(&mut phones.features).await;
    assert_eq!(event.agent_id, "agent-ana");
    assert_eq!(
        event.action,
        FeatureAction::Pause {
            reason: String::from("phone")
        }
    );
    assert!(!event.call_id.is_empty());
    wait_idle(&phones.server).await;
    // The feature code never reached a flow.
    assert_eq!(phones.server.stats().effects(), 0);
    assert_eq!(phones.server.stats().panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feature_code_wrong_password_forbidden() {
    let mut phones = start(Transport::Udp, 24270..=24279).await;
    let wrong = [
        "-s", "*51", "-au", "ana", "-ap", "wrong", "-key", "user", "ana",
    ];
    sipp_ok(phones.address, "u1", 24266, "feature_forbidden.xml", &wrong).await;
    let unknown = [
        "-s", "*52", "-au", "eve", "-ap", "secret", "-key", "user", "eve",
    ];
    sipp_ok(
        phones.address,
        "u1",
        24266,
        "feature_forbidden.xml",
        &unknown,
    )
    .await;
    assert!(phones.features.try_recv().is_err());
    assert_eq!(phones.server.stats().calls_started(), 0);
}
