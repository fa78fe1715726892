//! Server transactions, CANCEL, response routing, TCP framing and requests
//! sent in a dialog, over real sockets on 127.0.0.1. T1 is short so the
//! retransmissions come quickly; no test measures time.

use flowd::sip::endpoint::{Endpoint, EndpointConfig};
use flowd::sip::message::{Message, Response};
use flowd::sip::parse::parse_datagram;
use flowd::sip::transaction::Timers;
use flowd::sip::transport::{Source, Transport};
use flowd::sip::uas::{Dialog, NumberPlan, UasEvent};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

struct Numbers;

impl NumberPlan for Numbers {
    fn is_known(&self, user: &str) -> bool {
        user == "100"
    }
}

async fn start(
    force_rport: bool,
    queue: usize,
) -> (Endpoint, mpsc::Receiver<UasEvent>, SocketAddr, SocketAddr) {
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let config = EndpointConfig {
        listen: vec![(Transport::Udp, loopback), (Transport::Tcp, loopback)],
        timers: Timers {
            t1: Duration::from_millis(20),
            t2: Duration::from_millis(80),
            t4: Duration::from_millis(100),
        },
        force_rport,
        queue,
    };
    let started = Endpoint::start(config, Arc::new(Numbers)).await;
    let (endpoint, events) = started.unwrap_or_else(|error| unreachable!("start: {error}"));
    let find = |kind| {
        endpoint
            .local_addrs()
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, a)| *a)
    };
    let udp = find(Transport::Udp).unwrap_or(loopback);
    let tcp = find(Transport::Tcp).unwrap_or(loopback);
    (endpoint, events, udp, tcp)
}

fn request(method: &str, user: &str, call_id: &str, via: &str, extra: &str) -> Vec<u8> {
    format!(
        "{method} sip:{user}@127.0.0.1 SIP/2.0\r\nVia: {via}\r\nFrom: <sip:caller@127.0.0.1>;tag=c1\r\n\
         To: <sip:{user}@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n\
         Contact: <sip:caller@127.0.0.1>\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

async fn udp_client() -> (UdpSocket, u16) {
    let socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| unreachable!("{e}"));
    let port = socket.local_addr().map(|a| a.port()).unwrap_or_default();
    (socket, port)
}

async fn receive(socket: &UdpSocket) -> Response {
    let mut buffer = vec![0u8; 65_535];
    loop {
        let (length, _) = socket
            .recv_from(&mut buffer)
            .await
            .unwrap_or_else(|e| unreachable!("{e}"));
        if let Ok(Message::Response(response)) =
            parse_datagram(buffer.get(..length).unwrap_or_default())
        {
            return response;
        }
    }
}

async fn next_request(events: &mut mpsc::Receiver<UasEvent>) -> flowd::sip::uas::Incoming {
    loop {
        match events.recv().await {
            Some(UasEvent::Request(incoming)) => return incoming,
            Some(_) => {}
            None => unreachable!("the endpoint stopped"),
        }
    }
}

#[tokio::test]
async fn invite_final_retransmitted_until_ack() {
    let (endpoint, mut events, server, _) = start(false, 8).await;
    let (socket, port) = udp_client().await;
    let via = format!("SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKinv1;rport");
    let invite = request("INVITE", "100", "inv1", &via, "");
    let _ = socket.send_to(&invite, server).await;
    assert_eq!(receive(&socket).await.status, 100);
    let incoming = next_request(&mut events).await;
    endpoint.respond(
        &incoming.key,
        incoming.request.response(486, Some(&incoming.to_tag)),
    );
    let first = receive(&socket).await;
    assert_eq!(first.status, 486);
    let again = receive(&socket).await;
    assert_eq!(again.status, 486, "timer G retransmits the final response");
    // A retransmitted INVITE is absorbed and answered with the last response.
    let _ = socket.send_to(&invite, server).await;
    assert_eq!(receive(&socket).await.status, 486);
    let to = first.headers.get("To").unwrap_or_default();
    let ack = request("ACK", "100", "inv1", &via, "")
        .iter()
        .map(|b| *b as char)
        .collect::<String>()
        .replace("To: <sip:100@127.0.0.1>", &format!("To: {to}"));
    let _ = socket.send_to(ack.as_bytes(), server).await;
    // Timer I then ends the transaction; the loop hangs if nothing does.
    while endpoint.transaction_count() > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn cancel_answers_200_and_487() {
    let (_endpoint, mut events, server, _) = start(false, 8).await;
    let (socket, port) = udp_client().await;
    let via = format!("SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKcan1;rport");
    let _ = socket
        .send_to(&request("INVITE", "100", "can1", &via, ""), server)
        .await;
    assert_eq!(receive(&socket).await.status, 100);
    let incoming = next_request(&mut events).await;
    let _ = socket
        .send_to(&request("CANCEL", "100", "can1", &via, ""), server)
        .await;
    let mut statuses = [receive(&socket).await, receive(&socket).await];
    statuses.sort_by_key(|r| r.status);
    assert_eq!(statuses.first().map(|r| r.status), Some(200));
    assert_eq!(
        statuses.first().and_then(|r| r.headers.get("CSeq")),
        Some("1 CANCEL")
    );
    assert_eq!(statuses.get(1).map(|r| r.status), Some(487));
    let cancelled = events.recv().await;
    assert!(
        matches!(cancelled, Some(UasEvent::Cancelled { ref call_id, .. }) if call_id == "can1")
    );
    assert_eq!(incoming.request.method, "INVITE");
}

#[tokio::test]
async fn rport_reply_goes_to_source() {
    let (_endpoint, _events, server, _) = start(false, 8).await;
    let (socket, port) = udp_client().await;
    let via = "SIP/2.0/UDP 192.0.2.7:5099;branch=z9hG4bKrp1;rport";
    let _ = socket
        .send_to(&request("OPTIONS", "x", "rp1", via, ""), server)
        .await;
    let response = receive(&socket).await;
    let top = response
        .headers
        .list("Via")
        .into_iter()
        .next()
        .unwrap_or_default();
    assert!(top.contains("received=127.0.0.1"), "{top}");
    assert!(top.contains(&format!("rport={port}")), "{top}");
}

#[tokio::test]
async fn reply_without_rport_uses_sent_by_port() {
    let (_endpoint, _events, server, _) = start(false, 8).await;
    let (sender, _) = udp_client().await;
    let (listener, listener_port) = udp_client().await;
    let via = format!("SIP/2.0/UDP localhost:{listener_port};branch=z9hG4bKsb1");
    let _ = sender
        .send_to(&request("OPTIONS", "x", "sb1", &via, ""), server)
        .await;
    let response = receive(&listener).await;
    assert_eq!(response.status, 200);
    let top = response
        .headers
        .list("Via")
        .into_iter()
        .next()
        .unwrap_or_default();
    assert!(top.contains("received=127.0.0.1"), "{top}");
}

#[tokio::test]
async fn large_datagram_is_read() {
    let (_endpoint, _events, server, _) = start(true, 8).await;
    let (socket, _) = udp_client().await;
    let padding = format!("X-Padding: {}\r\n", "a".repeat(60_000));
    let via = "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbig1";
    let _ = socket
        .send_to(&request("OPTIONS", "x", "big1", via, &padding), server)
        .await;
    assert_eq!(receive(&socket).await.status, 200);
}

#[tokio::test]
async fn full_queue_answers_503() {
    let (_endpoint, _events, server, _) = start(true, 1).await;
    let (socket, _) = udp_client().await;
    let first = request(
        "INVITE",
        "100",
        "q1",
        "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKq1",
        "",
    );
    let second = request(
        "INVITE",
        "100",
        "q2",
        "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKq2",
        "",
    );
    let _ = socket.send_to(&first, server).await;
    let _ = socket.send_to(&second, server).await;
    let mut response = receive(&socket).await;
    while response.status == 100 {
        response = receive(&socket).await;
    }
    assert_eq!(response.status, 503);
    assert_eq!(response.headers.get("Call-ID"), Some("q2"));
    assert_eq!(response.headers.get("Retry-After"), Some("5"));
}

async fn read_responses(stream: &mut TcpStream, count: usize) -> Vec<Response> {
    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; 4096];
    let mut responses = Vec::new();
    while responses.len() < count {
        while let flowd::sip::parse::Framed::Message(length) =
            flowd::sip::parse::frame_stream(&buffer)
        {
            let message: Vec<u8> = buffer.drain(..length).collect();
            if let Ok(Message::Response(response)) = parse_datagram(&message) {
                responses.push(response);
            }
        }
        if responses.len() >= count {
            break;
        }
        let read = stream.read(&mut chunk).await.unwrap_or(0);
        assert!(read > 0, "the server closed the connection");
        buffer.extend_from_slice(chunk.get(..read).unwrap_or_default());
    }
    responses
}

#[tokio::test]
async fn tcp_two_messages_in_one_segment() {
    let (_endpoint, _events, _, server) = start(false, 8).await;
    let mut stream = TcpStream::connect(server)
        .await
        .unwrap_or_else(|e| unreachable!("{e}"));
    let mut both = request(
        "OPTIONS",
        "x",
        "t1",
        "SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKt1",
        "",
    );
    both.extend(request(
        "OPTIONS",
        "x",
        "t2",
        "SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKt2",
        "",
    ));
    let _ = stream.write_all(&both).await;
    let responses = read_responses(&mut stream, 2).await;
    let ids: Vec<&str> = responses
        .iter()
        .filter_map(|r| r.headers.get("Call-ID"))
        .collect();
    assert_eq!(ids, vec!["t1", "t2"]);
}

#[tokio::test]
async fn tcp_message_split_over_segments() {
    let (_endpoint, _events, _, server) = start(false, 8).await;
    let mut stream = TcpStream::connect(server)
        .await
        .unwrap_or_else(|e| unreachable!("{e}"));
    let _ = stream.set_nodelay(true);
    let bytes = request(
        "OPTIONS",
        "x",
        "s1",
        "SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKs1",
        "",
    );
    let (first, second) = bytes.split_at(bytes.len() / 2);
    let _ = stream.write_all(first).await;
    let _ = stream.flush().await;
    tokio::task::yield_now().await;
    let _ = stream.write_all(second).await;
    let responses = read_responses(&mut stream, 1).await;
    assert_eq!(responses.first().map(|r| r.status), Some(200));
}

#[tokio::test]
async fn bye_in_dialog_gets_final_response() {
    let (endpoint, mut events, server, _) = start(false, 8).await;
    let (socket, port) = udp_client().await;
    let via = format!("SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKbye1;rport");
    let _ = socket
        .send_to(&request("INVITE", "100", "bye1", &via, ""), server)
        .await;
    let incoming = next_request(&mut events).await;
    let dialog = Dialog::from_invite(&incoming.request, &incoming.to_tag, incoming.source);
    let Some(mut dialog) = dialog else {
        unreachable!("the INVITE has a From tag and a Contact");
    };
    let bye = dialog.request("BYE");

    let peer: Source = dialog.peer;
    let sending = tokio::spawn({
        let endpoint = endpoint.clone();
        async move { endpoint.send_request(bye, peer).await }
    });
    // Skip the 100 Trying, read the BYE and send 200 for it.
    let mut buffer = vec![0u8; 65_535];
    let bye = loop {
        let (length, from) = socket
            .recv_from(&mut buffer)
            .await
            .unwrap_or_else(|e| unreachable!("{e}"));
        if let Ok(Message::Request(request)) =
            parse_datagram(buffer.get(..length).unwrap_or_default())
        {
            break (request, from);
        }
    };

    assert_eq!(bye.0.method, "BYE");
    assert_eq!(
        bye.0.headers.get("To"),
        Some("<sip:caller@127.0.0.1>;tag=c1")
    );
    let _ = socket
        .send_to(&bye.0.response(200, None).to_bytes(), bye.1)
        .await;
    let result = sending
        .await
        .map(|r| r.map(|response| response.status).ok());
    assert_eq!(result.ok().flatten(), Some(200));
}

#[tokio::test]
async fn ok_retransmitted_until_ack_delivered() {
    let (endpoint, mut events, server, _) = start(false, 8).await;
    let (socket, port) = udp_client().await;
    let via = format!("SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKok1;rport");
    let _ = socket
        .send_to(&request("INVITE", "100", "ok1", &via, ""), server)
        .await;
    assert_eq!(receive(&socket).await.status, 100);
    let incoming = next_request(&mut events).await;
    endpoint.respond(
        &incoming.key,
        incoming.request.response(200, Some(&incoming.to_tag)),
    );
    let first = receive(&socket).await;
    assert_eq!(first.status, 200);
    let again = receive(&socket).await;
    assert_eq!(again.status, 200, "the 2xx is retransmitted until ACK");

    // The ACK of a 2xx is a new transaction with its own branch.
    let to = first.headers.get("To").unwrap_or_default();
    let ack_via = format!("SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKok1ack;rport");
    let ack = String::from_utf8_lossy(&request("ACK", "100", "ok1", &ack_via, ""))
        .replace("To: <sip:100@127.0.0.1>", &format!("To: {to}"));
    let _ = socket.send_to(ack.as_bytes(), server).await;
    let delivered = loop {
        match events.recv().await {
            Some(UasEvent::Ack(ack)) => break ack,
            Some(_) => {}
            None => unreachable!("the endpoint stopped"),
        }
    };
    assert_eq!(delivered.headers.get("Call-ID"), Some("ok1"));
}

#[tokio::test]
async fn sips_request_uri_gets_416() {
    let (_endpoint, _events, server, _) = start(true, 8).await;
    let (socket, _) = udp_client().await;
    let via = "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKsips1";
    let message = String::from_utf8_lossy(&request("INVITE", "100", "sips1", via, "")).into_owned();
    let message = message.replacen("INVITE sip:", "INVITE sips:", 1);
    let _ = socket.send_to(message.as_bytes(), server).await;
    let mut response = receive(&socket).await;
    while response.status < 200 {
        response = receive(&socket).await;
    }
    assert_eq!(response.status, 416);
}

#[tokio::test]
async fn options_while_stopping_gets_503() {
    let (endpoint, _events, server, _) = start(true, 8).await;
    endpoint.set_accepting(false);
    let (socket, _) = udp_client().await;
    let via = "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKstop1";
    let _ = socket
        .send_to(&request("OPTIONS", "x", "stop1", via, ""), server)
        .await;
    let response = receive(&socket).await;
    assert_eq!(response.status, 503);
    assert!(response.headers.get("Retry-After").is_some());
}
