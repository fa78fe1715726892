//! Sends every RFC 4475 torture-test message to the full flowd server on
//! the shipped flows, over UDP and over TCP, then places a normal SIPp
//! call. The expected answers are those of the bare endpoint test (see
//! `rfc4475.rs` for the choices), except that a new INVITE to
//! `sip:user@example.com` gets 404: no shipped flow answers `user`.
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

#[path = "common/rfc4475.rs"]
mod corpus;

use corpus::{EXPECTED, check, read_case, tcp_case, udp_case};
use flowd::call::{Server, load_flows};
use flowd::config;
use flowd::media::prompt::PromptLibrary;
use flowd::sip::transport::Transport;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The corpus INVITEs to the number `user`.
const UNKNOWN_NUMBER: [&str; 2] = ["longreq", "baddate"];

/// Maximum wait for flowd or SIPp, which only stops a hung test.
const PATIENCE: Duration = Duration::from_secs(60);

async fn start(transport: Transport, rtp_ports: RangeInclusive<u16>) -> (Server, SocketAddr) {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../flows");
    let mut config = config::defaults(folder.clone());
    // The shipped support flow records every call.
    config.recordings = std::env::temp_dir().join(format!(
        "flowd-sipp_rfc4475-recordings-{}",
        std::process::id()
    ));
    config.listen = vec![(transport, ([127, 0, 0, 1], 0).into())];
    config.rtp_ports = rtp_ports;
    let prompts = PromptLibrary::load(&folder.join("prompts")).unwrap();
    let flows = load_flows(&folder, None, prompts.inventory()).unwrap();
    let server = Server::start(&config, flows, prompts).await.unwrap();
    let address = server.endpoint().local_addrs()[0].1;
    (server, address)
}

/// The answer the full server gives to a corpus file.
fn expected(name: &str, transport: Transport, endpoint: Option<u16>) -> Option<u16> {
    // Over TCP a message without Content-Length cannot be framed.
    if name == "inv2543" && transport == Transport::Tcp {
        return Some(400);
    }
    // These INVITEs are for `sip:user@example.com`, which the bare
    // endpoint treats as a known number and answers 480. No shipped flow
    // answers `user`. The body checks (415 for invut, 406 for sdp01) come
    // before the number check, so those files get the same answer here.
    if UNKNOWN_NUMBER.contains(&name) {
        return Some(404);
    }
    endpoint
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

/// Places one call with SIPp's built-in `uac` scenario; SIPp exits 0 only
/// when the call succeeded.
async fn normal_call(server: SocketAddr, transport: Transport, media_port: u16) {
    let local_port = free_port().to_string();
    let mode = if transport == Transport::Udp {
        "u1"
    } else {
        "t1"
    };
    let folder = std::env::temp_dir();
    let mut command = Command::new("sipp");
    command
        .current_dir(folder)
        .args([
            "-sn", "uac", "-s", "0805550", "-m", "1", "-l", "1", "-d", "500",
        ])
        .args(["-i", "127.0.0.1", "-p", &local_port])
        .args(["-mp", &media_port.to_string(), "-t", mode])
        .args(["-timeout", "60s", "-nostdin", &server.to_string()]);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap_or_else(|error| panic!("cannot run `sipp` ({error}); install sip-tester"));
    assert!(
        output.status.success(),
        "sipp call after the corpus failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn wait_idle(server: &Server) {
    let stats = server.stats();
    let idle = async {
        while stats.active_calls() != 0 || stats.ports_in_use() != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(PATIENCE, idle)
        .await
        .expect("calls still active after the corpus");
}

async fn corpus_then_call(transport: Transport, rtp_ports: RangeInclusive<u16>, media_port: u16) {
    let (server, address) = start(transport, rtp_ports).await;
    let mut failures = Vec::new();
    for (name, endpoint_answer) in EXPECTED {
        let wanted = expected(name, transport, endpoint_answer);
        let bytes = read_case(name);
        let answers = match transport {
            Transport::Udp => udp_case(address, name, &bytes, wanted).await,
            Transport::Tcp => tcp_case(address, name, &bytes, wanted).await,
        };
        failures.extend(check(transport.as_str(), name, wanted, &answers));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    wait_idle(&server).await;
    assert_eq!(server.stats().panics(), 0);
    normal_call(address, transport, media_port).await;
    wait_idle(&server).await;
    assert_eq!(server.stats().calls_started(), 1);
    assert_eq!(server.stats().panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_then_call_over_udp() {
    corpus_then_call(Transport::Udp, 23200..=23209, 27200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_then_call_over_tcp() {
    corpus_then_call(Transport::Tcp, 23210..=23219, 27210).await;
}
