//! The call supervisor over real sockets on 127.0.0.1: a call task that
//! panics is logged, its caller gets BYE, and a normal call works after it.
//!
//! Fixed RTP and SIPp media ports lie below 32768, the start of Linux's
//! ephemeral range, so a socket bound to port 0 by a parallel test never
//! takes them.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use super::*;
use crate::config;
use crate::sip::message::{Message, Response};
use crate::sip::parse::parse_datagram;
use crate::sip::transport::{Source, Transport};
use crate::sip::uas::Dialog;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;
use tokio::net::UdpSocket;

async fn start_server(rtp_ports: RangeInclusive<u16>) -> Server {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../flows");
    let mut config = config::defaults(folder.clone());
    config.listen = vec![(Transport::Udp, ([127, 0, 0, 1], 0).into())];
    config.rtp_ports = rtp_ports;
    config.t1 = Duration::from_millis(50);
    // The shipped support flow records every call.
    config.recordings =
        std::env::temp_dir().join(format!("flowd-unit-recordings-{}", std::process::id()));
    let prompts = PromptLibrary::load(&folder.join("prompts")).unwrap();
    let flows = load_flows(&folder, None, prompts.inventory()).unwrap();
    Server::start(&config, flows, prompts).await.unwrap()
}

fn request_text(
    method: &str,
    call_id: &str,
    cseq: u32,
    peer: SocketAddr,
    to: &str,
    body: &str,
) -> String {
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:0805550@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {peer};branch=z9hG4bK{call_id}{method}{cseq};rport\r\n\
         From: <sip:+38640111222@127.0.0.1>;tag=caller\r\nTo: {to}\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n\
         Contact: <sip:caller@{peer}>\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

async fn next_message(socket: &UdpSocket) -> (Message, SocketAddr) {
    let mut buffer = vec![0u8; 65_535];
    loop {
        let (length, from) = socket.recv_from(&mut buffer).await.unwrap();
        if let Ok(message) = parse_datagram(&buffer[..length]) {
            return (message, from);
        }
    }
}

async fn final_response(socket: &UdpSocket) -> Response {
    loop {
        if let (Message::Response(response), _) = next_message(socket).await
            && response.status >= 200
        {
            return response;
        }
    }
}

async fn wait_idle(server: &Server) {
    while server.stats().active_calls() != 0 || server.stats().ports_in_use() != 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn panicking_call_gets_bye_and_next_call_works() {
    let server = start_server(22200..=22219).await;
    let flowd = server.endpoint().local_addrs()[0].1;
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_address = peer.local_addr().unwrap();

    // A call whose task has answered (its dialog is in `answered`) and
    // then panics.
    let invite = request_text(
        "INVITE",
        "panic-1",
        1,
        peer_address,
        "<sip:0805550@127.0.0.1>",
        "",
    );
    let Ok(Message::Request(invite)) = parse_datagram(invite.as_bytes()) else {
        panic!("the test's INVITE does not parse");
    };
    let source = Source {
        transport: Transport::Udp,
        remote: peer_address,
        local: flowd,
        connection: None,
    };
    let dialog = Dialog::from_invite(&invite, "flowd-tag", source).unwrap();
    let shared = server.shared.clone();
    let _events = shared.register("panic-1").unwrap();
    assert_eq!(server.stats().active_calls(), 1);
    let answered = Arc::new(Mutex::new(None));
    let slot = answered.clone();
    supervise(
        &shared,
        String::from("panic-1"),
        answered,
        None,
        async move {
            *slot.lock().unwrap() = Some(dialog);
            panic!("a call task panics on purpose in this test");
        },
    );

    let (bye, from) = loop {
        if let (Message::Request(request), from) = next_message(&peer).await {
            break (request, from);
        }
    };
    assert_eq!(bye.method, "BYE");
    assert_eq!(bye.headers.get("Call-ID"), Some("panic-1"));
    let ok = bye.response(200, None);
    peer.send_to(&ok.to_bytes(), from).await.unwrap();
    while server.stats().panics() != 1 || server.stats().active_calls() != 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.stats().calls_started(), 1);

    // The next call through the same server is answered and ends cleanly.
    let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let offer = format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        rtp.local_addr().unwrap().port()
    );
    let to = "<sip:0805550@127.0.0.1>";
    let invite = request_text("INVITE", "after-panic", 1, peer_address, to, &offer);
    peer.send_to(invite.as_bytes(), flowd).await.unwrap();
    let ok = final_response(&peer).await;
    assert_eq!(ok.status, 200);
    let to = ok.headers.get("To").unwrap().to_string();
    let ack = request_text("ACK", "after-panic", 1, peer_address, &to, "");
    peer.send_to(ack.as_bytes(), flowd).await.unwrap();
    let mut buffer = [0u8; 2048];
    rtp.recv_from(&mut buffer).await.unwrap();
    let bye = request_text("BYE", "after-panic", 2, peer_address, &to, "");
    peer.send_to(bye.as_bytes(), flowd).await.unwrap();
    assert_eq!(final_response(&peer).await.status, 200);
    wait_idle(&server).await;
    assert_eq!(server.stats().calls_started(), 2);
    assert_eq!(server.stats().panics(), 1);
}

#[tokio::test]
async fn supervisor_counts_call_without_dialog() {
    let server = start_server(22220..=22239).await;
    let shared = server.shared.clone();
    let _events = shared.register("panic-early").unwrap();
    let answered = Arc::new(Mutex::new(None));
    supervise(
        &shared,
        String::from("panic-early"),
        answered,
        None,
        async {
            panic!("a call task panics before answering in this test");
        },
    );
    while server.stats().panics() != 1 || server.stats().active_calls() != 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The Call-ID is free again.
    assert!(shared.register("panic-early").is_some());
}
