//! Sends every RFC 4475 torture-test message to a running endpoint over
//! UDP and over TCP and checks the answer, that the server keeps serving,
//! and that an OPTIONS works right after.
//!
//! Choices where RFC 4475 allows one:
//! - `lwsstart` (several spaces in the Request-Line) is rejected with 400:
//!   the grammar has exactly one SP between the parts.
//! - `trws` (white space after `SIP/2.0`) is accepted: trailing white
//!   space cannot be confused with anything else.
//! - `baddate` (a Date not in GMT) is accepted: flowd never reads Date.
//! - REGISTER and MESSAGE get 405 with Allow, because flowd is not a
//!   registrar; this covers `escnull`, `dblreq`, `cparam01`, `cparam02`,
//!   `regescrt`, `regaut01`, `unksm2` and `mpart01`.
//! - Over TCP a message without Content-Length cannot be framed, so
//!   `inv2543` gets 400 there (RFC 3261 section 18.3), and the rest of a
//!   stream after a framing error is not read.

#[path = "common/rfc4475.rs"]
mod corpus;

use corpus::{EXPECTED, check, corpus_dir, probe, read_case, tcp_case, udp_case};
use flowd::sip::endpoint::{Endpoint, EndpointConfig};
use flowd::sip::transaction::Timers;
use flowd::sip::transport::Transport;
use flowd::sip::uas::{NumberPlan, UasEvent, answer_without_calls};
use std::net::SocketAddr;
use std::sync::Arc;

/// The number the test server treats as a flow's: the corpus sends most
/// INVITEs to `sip:user@example.com`.
struct UserIsKnown;

impl NumberPlan for UserIsKnown {
    fn is_known(&self, user: &str) -> bool {
        user == "user"
    }
}

/// Starts an endpoint on ephemeral ports whose call layer answers as
/// flowd does before calls are wired: 480 to a new INVITE, 481 inside a
/// dialog (`wsinv` carries a To tag, so it is a re-INVITE).
async fn start_server() -> (Endpoint, SocketAddr, SocketAddr) {
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let config = EndpointConfig {
        listen: vec![(Transport::Udp, loopback), (Transport::Tcp, loopback)],
        timers: Timers::default(),
        force_rport: true,
        queue: 64,
    };
    let started = Endpoint::start(config, Arc::new(UserIsKnown)).await;
    let (endpoint, mut events) = started.unwrap_or_else(|error| unreachable!("start: {error}"));
    let handle = endpoint.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let UasEvent::Request(incoming) = event {
                handle.respond(&incoming.key, answer_without_calls(&incoming));
            }
        }
    });
    let address = |kind| {
        endpoint
            .local_addrs()
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, a)| *a)
            .unwrap_or(loopback)
    };
    let (udp, tcp) = (address(Transport::Udp), address(Transport::Tcp));
    (endpoint, udp, tcp)
}

/// Returns the answer of this test's endpoint, which differs from the
/// table's (the answer of the server with the shipped flows) for `esc01`:
/// its To user `%75se%72` decodes to `user`, a number of this test's plan,
/// so the INVITE reaches the call layer through the To fallback and gets 480.
fn expected(name: &str, listed: Option<u16>) -> Option<u16> {
    if name == "esc01" { Some(480) } else { listed }
}

#[tokio::test]
async fn corpus_answers_over_udp() {
    let (_endpoint, udp, _) = start_server().await;
    let mut failures = Vec::new();
    for (name, listed) in EXPECTED {
        let expected = expected(name, listed);
        let answers = udp_case(udp, name, &read_case(name), expected).await;
        failures.extend(check("UDP", name, expected, &answers));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let options = probe("normal-options-udp");
    let after = udp_case(udp, "normal", &options, Some(200)).await;
    assert_eq!(after, vec![200]);
}

#[tokio::test]
async fn corpus_answers_over_tcp() {
    let (_endpoint, _, tcp) = start_server().await;
    let mut failures = Vec::new();
    for (name, listed) in EXPECTED {
        let expected = expected(name, listed);
        let expected = if name == "inv2543" {
            Some(400)
        } else {
            expected
        };
        let answers = tcp_case(tcp, name, &read_case(name), expected).await;
        failures.extend(check("TCP", name, expected, &answers));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let options = probe("normal-options-tcp");
    let after = tcp_case(tcp, "normal", &options, Some(200)).await;
    assert_eq!(after, vec![200]);
}

#[test]
fn corpus_lists_every_file() {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    e.file_name()
                        .to_str()?
                        .strip_suffix(".dat")
                        .map(String::from)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut listed: Vec<String> = EXPECTED.iter().map(|(n, _)| (*n).to_string()).collect();
    listed.sort();
    assert_eq!(names, listed);
}
