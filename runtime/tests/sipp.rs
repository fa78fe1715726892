//! A SIPp caller (Debian's `sip-tester`, which `scripts/test` installs)
//! calls the shipped support flow: over UDP and over TCP with SIPp's
//! built-in `uac` scenario (INVITE with an SDP offer, ACK, two seconds of
//! call, BYE), and with `scenarios/dtmf.xml`, which presses 1 in the
//! language menu from Debian's RFC 2833 pcap. SIPp exits 0 only when the
//! call succeeded.
//!
//! Fixed RTP and SIPp media ports lie below 32768, the start of Linux's
//! ephemeral range, so a socket bound to port 0 by a parallel test never
//! takes them.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use flowd::call::{Server, load_flows};
use flowd::config;
use flowd::media::prompt::PromptLibrary;
use flowd::sip::transport::Transport;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn flows_folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../flows")
}

async fn start(transport: Transport, rtp_ports: RangeInclusive<u16>) -> (Server, SocketAddr) {
    let folder = flows_folder();
    let mut config = config::defaults(folder.clone());
    // The shipped support flow records every call.
    config.recordings =
        std::env::temp_dir().join(format!("flowd-sipp-recordings-{}", std::process::id()));
    config.listen = vec![(transport, ([127, 0, 0, 1], 0).into())];
    config.rtp_ports = rtp_ports;
    let prompts = PromptLibrary::load(&folder.join("prompts")).unwrap();
    let flows = load_flows(&folder, None, prompts.inventory()).unwrap();
    let server = Server::start(&config, flows, prompts).await.unwrap();
    let address = server.endpoint().local_addrs()[0].1;
    (server, address)
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

/// Runs one SIPp call to the support flow with SIPp's arguments `scenario`
/// (such as `-sn uac`) and returns SIPp's output.
async fn sipp_call(
    server: SocketAddr,
    transport: &str,
    media_port: u16,
    scenario: &[&str],
) -> String {
    let folder =
        std::env::temp_dir().join(format!("flowd-sipp-{transport}-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let local_port = free_port().to_string();
    let media_port = media_port.to_string();
    let target = server.to_string();
    let transport = transport.to_string();
    let scenario: Vec<String> = scenario.iter().map(|a| a.to_string()).collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("sipp")
            .current_dir(&folder)
            .args(&scenario)
            .args(["-s", "0805550", "-m", "1", "-l", "1", "-d", "2000"])
            .args(["-i", "127.0.0.1", "-p", &local_port, "-mp", &media_port])
            .args(["-t", &transport, "-nostdin", &target])
            .output()
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
    assert!(output.status.success(), "sipp failed:\n{text}");
    text
}

async fn wait_idle(server: &Server) {
    while server.stats().active_calls() != 0 || server.stats().ports_in_use() != 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_call_over_udp() {
    let (server, address) = start(Transport::Udp, 22100..=22119).await;
    sipp_call(address, "u1", 26000, &["-sn", "uac"]).await;
    wait_idle(&server).await;
    assert_eq!(server.stats().calls_started(), 1);
    assert_eq!(server.stats().panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_call_over_tcp() {
    let (server, address) = start(Transport::Tcp, 22120..=22139).await;
    sipp_call(address, "t1", 26100, &["-sn", "uac"]).await;
    wait_idle(&server).await;
    assert_eq!(server.stats().calls_started(), 1);
    assert_eq!(server.stats().panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_rfc2833_key_moves_menu() {
    let (server, address) = start(Transport::Udp, 22160..=22179).await;
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/dtmf.xml");
    let scenario = scenario.display().to_string();
    sipp_call(address, "u1", 26200, &["-sf", &scenario]).await;
    wait_idle(&server).await;
    // Answer, lookup, `record on` and the language menu's prompt, then,
    // because key 1 ends the menu, the next step's prompt, which the BYE
    // interrupts. After call adds timeline, ticket, webhook and the end:
    // 9 effects. Without the key the menu would still be playing at the
    // BYE: 8.
    assert_eq!(server.stats().effects(), 9);
    assert_eq!(server.stats().panics(), 0);
}
