//! The RFC 4475 torture-test corpus and a client that sends each message
//! over UDP or TCP and collects the final answers, shared by the tests
//! against the SIP endpoint alone and against the full flowd server.

#![allow(dead_code)]

use flowd::sip::message::{Message, Response};
use flowd::sip::parse::{Framed, frame_stream, parse_datagram, parse_parts, split_head};
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Expected final status per file; `None` means the message is dropped.
pub const EXPECTED: [(&str, Option<u16>); 49] = [
    ("wsinv", Some(481)),
    ("intmeth", Some(501)),
    ("esc01", Some(404)),
    ("escnull", Some(405)),
    ("esc02", Some(501)),
    ("lwsdisp", Some(200)),
    ("longreq", Some(480)),
    ("dblreq", Some(405)),
    ("semiuri", Some(200)),
    ("transports", Some(200)),
    ("mpart01", Some(405)),
    ("unreason", None),
    ("noreason", None),
    ("badinv01", Some(400)),
    ("clerr", Some(400)),
    ("ncl", Some(400)),
    ("scalar02", Some(400)),
    ("scalarlg", None),
    ("quotbal", Some(400)),
    ("ltgtruri", Some(400)),
    ("lwsruri", Some(400)),
    ("lwsstart", Some(400)),
    ("trws", Some(200)),
    ("escruri", Some(400)),
    ("baddate", Some(480)),
    ("regbadct", Some(400)),
    ("badaspec", Some(400)),
    ("baddn", Some(400)),
    ("badvers", Some(505)),
    ("mismatch01", Some(400)),
    ("mismatch02", Some(400)),
    ("bigcode", None),
    ("badbranch", Some(200)),
    ("insuf", Some(400)),
    ("unkscm", Some(416)),
    ("novelsc", Some(416)),
    ("unksm2", Some(405)),
    ("bext01", Some(420)),
    ("invut", Some(415)),
    ("regaut01", Some(405)),
    ("multi01", Some(400)),
    ("mcl01", Some(400)),
    ("bcast", None),
    ("zeromf", Some(200)),
    ("cparam01", Some(405)),
    ("cparam02", Some(405)),
    ("regescrt", Some(405)),
    ("sdp01", Some(406)),
    ("inv2543", Some(404)),
];

pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/rfc4475")
}

pub fn read_case(name: &str) -> Vec<u8> {
    let path = corpus_dir().join(format!("{name}.dat"));
    std::fs::read(&path)
        .unwrap_or_else(|error| unreachable!("cannot read {}: {error}", path.display()))
}

/// Returns the first Call-ID (or, without one, the CSeq) written in a file,
/// which the answer copies.
pub fn identity(bytes: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(bytes);
    for line in text.lines() {
        let lower = line.to_ascii_lowercase();
        for prefix in ["call-id:", "i:"] {
            if let Some(value) = lower.strip_prefix(prefix) {
                let start = line.len() - value.len();
                return (
                    "Call-ID".into(),
                    line.get(start..).unwrap_or_default().trim().into(),
                );
            }
        }
    }
    let cseq = text
        .lines()
        .find_map(|l| l.strip_prefix("CSeq:"))
        .unwrap_or_default()
        .trim()
        .to_string();
    ("CSeq".into(), cseq)
}

pub fn matches(response: &Response, (header, value): &(String, String)) -> bool {
    response.headers.get(header) == Some(value.as_str())
}

pub fn probe(call_id: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{call_id}\r\n\
         From: <sip:t@127.0.0.1>;tag=p\r\nTo: <sip:probe@127.0.0.1>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Collects final responses until the probe's answer and, when an answer
/// is expected, until that answer has come too.
pub fn finished(
    finals: &[Response],
    probe_id: &str,
    case: &(String, String),
    expected: Option<u16>,
) -> bool {
    let probe_seen = finals
        .iter()
        .any(|r| r.headers.get("Call-ID") == Some(probe_id));
    let case_seen = finals.iter().any(|r| matches(r, case));
    probe_seen && (expected.is_none() || case_seen)
}

pub async fn udp_case(
    server: SocketAddr,
    name: &str,
    bytes: &[u8],
    expected: Option<u16>,
) -> Vec<u16> {
    let socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| unreachable!("{e}"));
    let case = identity(bytes);
    let probe_id = format!("probe-udp-{name}");
    let _ = socket.send_to(bytes, server).await;
    let _ = socket.send_to(&probe(&probe_id), server).await;
    let mut finals = Vec::new();
    let mut buffer = vec![0u8; 65_535];
    while !finished(&finals, &probe_id, &case, expected) {
        let (length, _) = socket
            .recv_from(&mut buffer)
            .await
            .unwrap_or_else(|e| unreachable!("{e}"));
        if let Ok(Message::Response(response)) =
            parse_datagram(buffer.get(..length).unwrap_or_default())
            && response.status >= 200
        {
            finals.push(response);
        }
    }
    finals
        .iter()
        .filter(|r| matches(r, &case))
        .map(|r| r.status)
        .collect()
}

pub async fn tcp_case(
    server: SocketAddr,
    name: &str,
    bytes: &[u8],
    expected: Option<u16>,
) -> Vec<u16> {
    let mut stream = TcpStream::connect(server)
        .await
        .unwrap_or_else(|e| unreachable!("{e}"));
    let case = identity(bytes);
    let probe_id = format!("probe-tcp-{name}");
    let _ = stream.write_all(bytes).await;
    let _ = stream.write_all(&probe(&probe_id)).await;
    // `clerr` promises more body than it has: only the end of the stream
    // lets the server see that.
    if name == "clerr" {
        let _ = stream.shutdown().await;
    }
    let mut finals: Vec<Response> = Vec::new();
    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; 65_535];
    let framing_error = name == "inv2543" || name == "clerr";
    loop {
        while let Framed::Message(length) = frame_stream(&buffer) {
            let message: Vec<u8> = buffer.drain(..length).collect();
            if let Some((head, body)) = split_head(&message)
                && let Ok(Message::Response(response)) =
                    parse_parts(head, message.get(body..).unwrap_or_default(), true)
                && response.status >= 200
            {
                finals.push(response);
            }
        }
        let done = if framing_error {
            finals.iter().any(|r| matches(r, &case))
        } else {
            finished(&finals, &probe_id, &case, expected)
        };
        if done {
            break;
        }
        let read = stream.read(&mut chunk).await.unwrap_or(0);
        if read == 0 {
            break;
        }
        buffer.extend_from_slice(chunk.get(..read).unwrap_or_default());
    }
    finals
        .iter()
        .filter(|r| matches(r, &case))
        .map(|r| r.status)
        .collect()
}

pub fn check(
    transport: &str,
    name: &str,
    expected: Option<u16>,
    answers: &[u16],
) -> Option<String> {
    let wanted: Vec<u16> = expected.into_iter().collect();
    (answers.first().copied() != wanted.first().copied())
        .then(|| format!("{transport} {name}: expected {wanted:?}, got {answers:?}"))
}
