//! flowd's limits and counts on the wire, with a caller written here over
//! UDP on 127.0.0.1. The tests cover the dialled number in the spellings
//! carriers send, 503 beyond `sip.max_calls` or without a free RTP port, a
//! silent caller ended by `rtp.timeout`, and `/metrics` read over HTTP.
//!
//! Fixed RTP and SIPp media ports lie below 32768, the start of Linux's
//! ephemeral range, so a socket bound to port 0 by a parallel test never
//! takes them.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use flowd::call::{Server, load_flows};
use flowd::config::{self, RuntimeConfig};
use flowd::media::prompt::PromptLibrary;
use flowd::sip::message::{Message, Request, Response};
use flowd::sip::parse::parse_datagram;
use flowd::sip::transport::Transport;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

fn flows_folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../flows")
}

/// Starts flowd on the shipped flows with a UDP listener on an ephemeral
/// port, after `adjust` has changed the config. `config_file` replaces the
/// shipped `tok.yaml`.
async fn start(
    rtp_ports: RangeInclusive<u16>,
    config_file: Option<&Path>,
    adjust: impl FnOnce(&mut RuntimeConfig),
) -> (Server, SocketAddr) {
    let folder = flows_folder();
    let mut config = config::defaults(folder.clone());
    // The shipped support flow records every call.
    config.recordings =
        std::env::temp_dir().join(format!("flowd-limits-recordings-{}", std::process::id()));
    config.listen = vec![(Transport::Udp, ([127, 0, 0, 1], 0).into())];
    config.rtp_ports = rtp_ports;
    config.t1 = Duration::from_millis(50);
    adjust(&mut config);
    let prompts = PromptLibrary::load(&folder.join("prompts")).unwrap();
    let flows = load_flows(&folder, config_file, prompts.inventory()).unwrap();
    let server = Server::start(&config, flows, prompts).await.unwrap();
    let address = server.endpoint().local_addrs()[0].1;
    (server, address)
}

/// A caller with a SIP socket and an RTP socket.
struct Caller {
    sip: UdpSocket,
    rtp: UdpSocket,
    server: SocketAddr,
    call_id: String,
    request_uri: String,
    to: String,
    cseq: u32,
}

impl Caller {
    async fn new(server: SocketAddr, call_id: &str, request_uri: &str, to: &str) -> Caller {
        Caller {
            sip: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            rtp: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            server,
            call_id: call_id.to_string(),
            request_uri: request_uri.to_string(),
            to: to.to_string(),
            cseq: 1,
        }
    }

    /// Calls the support flow's short number.
    async fn support(server: SocketAddr, call_id: &str) -> Caller {
        let uri = "sip:0805550@127.0.0.1";
        Caller::new(server, call_id, uri, &format!("<{uri}>")).await
    }

    fn offer(&self) -> String {
        format!(
            "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n",
            self.rtp.local_addr().unwrap().port()
        )
    }

    fn request(&self, method: &str, cseq: u32, body: &str) -> Vec<u8> {
        let port = self.sip.local_addr().unwrap().port();
        let content_type = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        format!(
            "{method} {uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{call_id}{method}{cseq};rport\r\n\
             From: <sip:+38640111222@127.0.0.1>;tag=caller\r\nTo: {to}\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n\
             Contact: <sip:caller@127.0.0.1:{port}>\r\n{content_type}Content-Length: {length}\r\n\r\n{body}",
            uri = self.request_uri,
            to = self.to,
            call_id = self.call_id,
            length = body.len(),
        )
        .into_bytes()
    }

    async fn send(&self, bytes: &[u8]) {
        self.sip.send_to(bytes, self.server).await.unwrap();
    }

    async fn next_message(&self) -> Message {
        let mut buffer = vec![0u8; 65_535];
        loop {
            let (length, _) = self.sip.recv_from(&mut buffer).await.unwrap();
            if let Ok(message) = parse_datagram(&buffer[..length]) {
                return message;
            }
        }
    }

    /// Sends INVITE with an offer and returns the final response; a 2xx is
    /// acknowledged.
    async fn invite(&mut self) -> Response {
        let offer = self.offer();
        self.send(&self.request("INVITE", 1, &offer)).await;
        let response = loop {
            if let Message::Response(response) = self.next_message().await
                && response.status >= 200
            {
                break response;
            }
        };
        if response.status < 300 {
            self.to = response.headers.get("To").unwrap().to_string();
            self.send(&self.request("ACK", 1, "")).await;
        }
        response
    }

    async fn bye(&mut self) -> Response {
        self.cseq += 1;
        self.send(&self.request("BYE", self.cseq, "")).await;
        loop {
            if let Message::Response(response) = self.next_message().await
                && response.status >= 200
            {
                return response;
            }
        }
    }

    /// Waits for the next request flowd sends.
    async fn next_request(&self) -> Request {
        loop {
            if let Message::Request(request) = self.next_message().await {
                return request;
            }
        }
    }
}

async fn wait_idle(server: &Server) {
    while server.stats().active_calls() != 0 || server.stats().ports_in_use() != 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends a GET over HTTP/1.1 and returns the status line and the body.
async fn http_get(address: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.lines().next().unwrap().to_string();
    (status, body.to_string())
}

/// Returns the value of an unlabelled metric in Prometheus text.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn dialled_number_spellings_reach_support() {
    let folder = std::env::temp_dir().join(format!("flowd-limits-numbers-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let shipped = std::fs::read_to_string(flows_folder().join("tok.yaml")).unwrap();
    let config_file = folder.join("tok.yaml");
    std::fs::write(&config_file, format!("{shipped}\ncountry_code: 386\n")).unwrap();
    let (server, address) = start(22300..=22319, Some(&config_file), |_| {}).await;

    // (Request-URI, To): the support flow answers +386 1 555 0100.
    let spellings = [
        ("sip:+38615550100@127.0.0.1", "<sip:+38615550100@127.0.0.1>"),
        (
            "sip:+38615550100@127.0.0.1;user=phone",
            "<sip:+38615550100@127.0.0.1;user=phone>",
        ),
        ("sip:38615550100@127.0.0.1", "<sip:38615550100@127.0.0.1>"),
        (
            "sip:0038615550100@127.0.0.1",
            "<sip:0038615550100@127.0.0.1>",
        ),
        ("sip:015550100@127.0.0.1", "<sip:015550100@127.0.0.1>"),
        (
            "sip:+386-1-555-0100@127.0.0.1",
            "<sip:+386-1-555-0100@127.0.0.1>",
        ),
        ("tel:+386-1-555-0100", "<tel:+386-1-555-0100>"),
        ("sip:sbc@127.0.0.1", "<sip:+386-1-555-0100@127.0.0.1>"),
    ];
    for (index, (uri, to)) in spellings.into_iter().enumerate() {
        let call_id = format!("numbers-{index}");
        let mut caller = Caller::new(address, &call_id, uri, to).await;
        let response = caller.invite().await;
        assert_eq!(response.status, 200, "{uri} with To {to}");
        assert_eq!(caller.bye().await.status, 200, "{uri}");
        wait_idle(&server).await;
    }

    let unknown = "sip:+38615559999@127.0.0.1";
    let mut caller =
        Caller::new(address, "numbers-unknown", unknown, &format!("<{unknown}>")).await;
    assert_eq!(caller.invite().await.status, 404);
    assert_eq!(server.stats().calls_started(), spellings.len() as u64);
}

#[tokio::test]
async fn calls_beyond_max_calls_get_503() {
    let (server, address) = start(22320..=22339, None, |config| config.max_calls = Some(1)).await;
    assert_eq!(server.max_calls(), 1);
    let mut first = Caller::support(address, "max-1").await;
    assert_eq!(first.invite().await.status, 200);

    let mut second = Caller::support(address, "max-2").await;
    let busy = second.invite().await;
    assert_eq!(busy.status, 503);
    assert_eq!(busy.headers.get("Retry-After"), Some("5"));
    assert_eq!(server.stats().rejected().get(&503), Some(&1));

    assert_eq!(first.bye().await.status, 200);
    wait_idle(&server).await;
    let mut third = Caller::support(address, "max-3").await;
    assert_eq!(third.invite().await.status, 200);
    assert_eq!(third.bye().await.status, 200);
    wait_idle(&server).await;
}

#[tokio::test]
async fn max_calls_defaults_to_port_pairs() {
    let (server, _) = start(22340..=22359, None, |_| {}).await;
    assert_eq!(server.max_calls(), 10);
}

#[tokio::test]
async fn no_free_rtp_port_gets_503() {
    // One port pair, and a call limit above it.
    let (server, address) = start(22360..=22361, None, |config| config.max_calls = Some(5)).await;
    let mut first = Caller::support(address, "ports-1").await;
    assert_eq!(first.invite().await.status, 200);
    assert_eq!(server.stats().ports_in_use(), 1);

    let mut second = Caller::support(address, "ports-2").await;
    let busy = second.invite().await;
    assert_eq!(busy.status, 503);
    assert_eq!(busy.headers.get("Retry-After"), Some("5"));

    assert_eq!(first.bye().await.status, 200);
    wait_idle(&server).await;
}

#[tokio::test]
async fn silent_caller_ended_and_metrics_zero() {
    let (server, address) = start(22380..=22399, None, |config| {
        config.rtp_timeout = Some(Duration::from_secs(1));
    })
    .await;
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_address = http.local_addr().unwrap();
    tokio::spawn(flowd::http::serve(http, server.stats().clone()));

    let mut caller = Caller::support(address, "silent").await;
    assert_eq!(caller.invite().await.status, 200);
    // The answered count rises just after the 200 OK is sent.
    while server.stats().answered_calls() != 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, body) = http_get(http_address, "/metrics").await;
    assert!(status.contains("200"), "{status}");
    assert_eq!(metric(&body, "flowd_calls_active"), Some(1), "{body}");
    assert_eq!(metric(&body, "flowd_rtp_ports_in_use"), Some(1), "{body}");

    // The caller vanishes: it sends no RTP and does not answer the BYE,
    // so flowd ends the call after the timeout and gives up on the BYE
    // after timer F.
    let bye = caller.next_request().await;
    assert_eq!(bye.method, "BYE");
    wait_idle(&server).await;

    let (_, body) = http_get(http_address, "/metrics").await;
    assert_eq!(metric(&body, "flowd_calls_active"), Some(0), "{body}");
    assert_eq!(metric(&body, "flowd_call_tasks"), Some(0), "{body}");
    assert_eq!(metric(&body, "flowd_rtp_ports_in_use"), Some(0), "{body}");
    assert_eq!(
        metric(&body, "flowd_calls_started_total"),
        Some(1),
        "{body}"
    );
    assert_eq!(metric(&body, "flowd_call_panics_total"), Some(0), "{body}");
    let sent = metric(&body, "flowd_rtp_packets_sent_total").unwrap_or_default();
    assert!(sent > 0, "{body}");
    let (status, body) = http_get(http_address, "/health").await;
    assert!(status.contains("200"), "{status}");
    assert_eq!(body, "ok\n");
}

#[tokio::test]
async fn caller_sending_rtp_is_not_ended() {
    let (server, address) = start(22400..=22419, None, |config| {
        config.rtp_timeout = Some(Duration::from_millis(500));
    })
    .await;
    let mut caller = Caller::support(address, "talking").await;
    let ok = caller.invite().await;
    assert_eq!(ok.status, 200);
    let media = String::from_utf8_lossy(&ok.body)
        .lines()
        .find_map(|line| line.strip_prefix("m=audio "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|port| port.parse::<u16>().ok())
        .map(|port| SocketAddr::from(([127, 0, 0, 1], port)))
        .unwrap();

    // 100 packets of PCMU silence, one per packet received from flowd
    // (20 ms each), span four times the timeout.
    let mut buffer = [0u8; 2048];
    for sequence in 0..100u16 {
        caller.rtp.recv_from(&mut buffer).await.unwrap();
        let mut packet = vec![0x80, 0];
        packet.extend_from_slice(&sequence.to_be_bytes());
        packet.extend_from_slice(&(u32::from(sequence) * 160).to_be_bytes());
        packet.extend_from_slice(&0x0102_0304u32.to_be_bytes());
        packet.extend_from_slice(&[0xff; 160]);
        caller.rtp.send_to(&packet, media).await.unwrap();
    }
    assert_eq!(server.stats().active_calls(), 1);
    let mut pending = [0u8; 2048];
    assert!(
        caller.sip.try_recv_from(&mut pending).is_err(),
        "flowd sent a request to a caller that sends RTP"
    );
    assert_eq!(caller.bye().await.status, 200);
    wait_idle(&server).await;
}

#[tokio::test]
async fn held_call_uses_hold_timeout() {
    let (server, address) = start(22420..=22439, None, |config| {
        config.rtp_timeout = None;
        config.rtp_hold_timeout = Some(Duration::from_secs(1));
    })
    .await;
    let mut caller = Caller::support(address, "held").await;
    assert_eq!(caller.invite().await.status, 200);

    // The caller puts the call on hold and then sends nothing.
    caller.cseq += 1;
    let hold = caller.offer().replace("a=sendrecv", "a=sendonly");
    caller
        .send(&caller.request("INVITE", caller.cseq, &hold))
        .await;
    let held = loop {
        if let Message::Response(response) = caller.next_message().await
            && response.status >= 200
        {
            break response;
        }
    };
    assert_eq!(held.status, 200);
    assert!(String::from_utf8_lossy(&held.body).contains("a=recvonly"));
    caller.send(&caller.request("ACK", caller.cseq, "")).await;

    let bye = caller.next_request().await;
    assert_eq!(bye.method, "BYE");
    let ok = bye.response(200, None);
    caller.send(&ok.to_bytes()).await;
    wait_idle(&server).await;
}

/// Returns a free local UDP port for SIPp's SIP socket.
fn free_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_sipp_caller_leaks_nothing() {
    let (server, address) = start(22440..=22459, None, |config| {
        config.rtp_timeout = Some(Duration::from_secs(1));
    })
    .await;
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_address = http.local_addr().unwrap();
    tokio::spawn(flowd::http::serve(http, server.stats().clone()));

    // SIPp's built-in caller stays in the call for 10 minutes, so it is
    // still in the call when it is killed.
    let folder = std::env::temp_dir().join(format!("flowd-limits-sipp-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let mut sipp = std::process::Command::new("sipp")
        .current_dir(&folder)
        .args(["-sn", "uac", "-s", "0805550", "-m", "1", "-d", "600000"])
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string()])
        .args(["-mp", "26300", "-nostdin", &address.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("cannot run `sipp` ({error}); install it with `apt-get install sip-tester` or run scripts/test")
        });
    while server.stats().answered_calls() != 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sipp.kill().unwrap();
    sipp.wait().unwrap();

    wait_idle(&server).await;
    let (_, body) = http_get(http_address, "/metrics").await;
    assert_eq!(metric(&body, "flowd_calls_active"), Some(0), "{body}");
    assert_eq!(metric(&body, "flowd_call_tasks"), Some(0), "{body}");
    assert_eq!(metric(&body, "flowd_rtp_ports_in_use"), Some(0), "{body}");
    assert_eq!(
        metric(&body, "flowd_calls_started_total"),
        Some(1),
        "{body}"
    );
}
