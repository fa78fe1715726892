//! Calls to the shipped flows over real sockets on 127.0.0.1: a caller
//! written here sends INVITE, ACK, RFC 4733 keys, INFO and BYE to flowd's
//! library entry point and reads the RTP it sends. Progress is measured in
//! received RTP packets (20 ms each), never by a wall-clock limit.
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
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// The support flow's short number.
const SUPPORT: &str = "0805550";

fn flows_folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../flows")
}

/// Starts flowd on the shipped flows with a UDP listener on an ephemeral
/// port and its own RTP port range. Returns the server and its address.
async fn start(rtp_ports: RangeInclusive<u16>, name: &str) -> (Server, SocketAddr) {
    start_with(rtp_ports, name, |_| {}).await
}

/// Starts like [`start`], with `configure` changing the config first.
async fn start_with(
    rtp_ports: RangeInclusive<u16>,
    name: &str,
    configure: impl FnOnce(&mut RuntimeConfig),
) -> (Server, SocketAddr) {
    let folder = flows_folder();
    let mut config: RuntimeConfig = config::defaults(folder.clone());
    config.listen = vec![(Transport::Udp, ([127, 0, 0, 1], 0).into())];
    config.rtp_ports = rtp_ports;
    config.t1 = Duration::from_millis(50);
    config.recordings =
        std::env::temp_dir().join(format!("flowd-call-{name}-{}", std::process::id()));
    configure(&mut config);
    let prompts = PromptLibrary::load(&folder.join("prompts"))
        .unwrap_or_else(|e| unreachable!("prompts: {e}"));
    let flows = load_flows(&folder, None, prompts.inventory())
        .unwrap_or_else(|e| unreachable!("flows: {e}"));
    let server = Server::start(&config, flows, prompts)
        .await
        .unwrap_or_else(|e| unreachable!("start: {e}"));
    let address = server
        .endpoint()
        .local_addrs()
        .first()
        .map(|(_, a)| *a)
        .unwrap_or_else(|| unreachable!("no listener"));
    (server, address)
}

/// A caller with a SIP socket and an RTP socket.
struct Caller {
    sip: UdpSocket,
    rtp: UdpSocket,
    server: SocketAddr,
    call_id: String,
    to: String,
    cseq: u32,
}

impl Caller {
    async fn new(server: SocketAddr, call_id: &str) -> Caller {
        let sip = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        Caller {
            sip,
            rtp,
            server,
            call_id: call_id.to_string(),
            to: format!("<sip:{SUPPORT}@127.0.0.1>"),
            cseq: 1,
        }
    }

    fn sip_port(&self) -> u16 {
        self.sip.local_addr().unwrap().port()
    }

    fn rtp_port(&self) -> u16 {
        self.rtp.local_addr().unwrap().port()
    }

    /// Builds an offer of PCMU, PCMA and telephone-event on payload type 96.
    fn offer(&self) -> String {
        format!(
            "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {} RTP/AVP 0 8 96\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
            self.rtp_port()
        )
    }

    fn request(&self, method: &str, cseq: u32, extra: &str, body: &str) -> Vec<u8> {
        let port = self.sip_port();
        let branch = format!("z9hG4bK{}{method}{cseq}", self.call_id);
        format!(
            "{method} sip:{SUPPORT}@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport\r\n\
             From: \"Caller\" <sip:+38640111222@127.0.0.1>;tag=caller1\r\nTo: {to}\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n\
             Contact: <sip:caller@127.0.0.1:{port}>\r\n{extra}Content-Length: {length}\r\n\r\n{body}",
            to = self.to,
            call_id = self.call_id,
            length = body.len(),
        )
        .into_bytes()
    }

    async fn send(&self, bytes: &[u8]) {
        self.sip.send_to(bytes, self.server).await.unwrap();
    }

    /// Sends INVITE (with `body`) and returns the final response, after
    /// sending ACK for a 2xx with `ack_body`.
    async fn invite(&mut self, body: &str, ack_body: &str) -> Response {
        let extra = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        let invite = self.request("INVITE", 1, extra, body);
        self.send(&invite).await;
        let response = loop {
            match self.next_message().await {
                Message::Response(r) if r.status >= 200 => break r,
                _ => {}
            }
        };
        if response.status < 300 {
            self.to = response.headers.get("To").unwrap().to_string();
            let extra = if ack_body.is_empty() {
                ""
            } else {
                "Content-Type: application/sdp\r\n"
            };
            let ack = self.request("ACK", 1, extra, ack_body);
            self.send(&ack).await;
        }
        response
    }

    /// Sends an in-dialog request and returns its final response. Requests
    /// from flowd that arrive meanwhile get 200.
    async fn in_dialog(&mut self, method: &str, extra: &str, body: &str) -> Response {
        self.cseq += 1;
        let request = self.request(method, self.cseq, extra, body);
        self.send(&request).await;
        loop {
            match self.next_message().await {
                Message::Response(r) if r.status >= 200 => return r,
                Message::Request(request) => self.answer(&request).await,
                Message::Response(_) => {}
            }
        }
    }

    /// Responds 200 OK to a request from flowd.
    async fn answer(&self, request: &Request) {
        let response = request.response(200, None);
        self.send(&response.to_bytes()).await;
    }

    /// Sends an in-dialog request with the next CSeq and returns its final
    /// response, skipping retransmitted responses to earlier requests.
    /// Requests from flowd that arrive meanwhile get 200.
    async fn in_dialog_exact(&mut self, method: &str, extra: &str, body: &str) -> Response {
        self.cseq += 1;
        let request = self.request(method, self.cseq, extra, body);
        self.send(&request).await;
        let cseq = format!("{} {method}", self.cseq);
        loop {
            match self.next_message().await {
                Message::Response(r) if r.status >= 200 && r.headers.get("CSeq") == Some(&cseq) => {
                    return r;
                }
                Message::Request(request) => self.answer(&request).await,
                Message::Response(_) => {}
            }
        }
    }

    /// Waits for the next request from flowd, ignoring responses.
    async fn next_request(&self) -> Request {
        loop {
            if let Message::Request(request) = self.next_message().await {
                return request;
            }
        }
    }

    async fn next_message(&self) -> Message {
        let mut buffer = vec![0u8; 65_535];
        loop {
            let (length, _) = self.sip.recv_from(&mut buffer).await.unwrap();
            if let Ok(message) = parse_datagram(buffer.get(..length).unwrap_or_default()) {
                return message;
            }
        }
    }

    /// Receives one RTP packet: (payload type, sequence, timestamp, payload).
    async fn rtp_packet(&self) -> (u8, u16, u32, Vec<u8>) {
        let mut buffer = vec![0u8; 2048];
        let (length, _) = self.rtp.recv_from(&mut buffer).await.unwrap();
        let packet = &buffer[..length];
        assert!(length >= 12, "an RTP packet has a 12-byte header");
        assert_eq!(packet[0] >> 6, 2, "RTP version 2");
        let payload_type = packet[1] & 0x7f;
        let sequence = u16::from_be_bytes([packet[2], packet[3]]);
        let timestamp = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        (payload_type, sequence, timestamp, packet[12..].to_vec())
    }

    /// Sends one key as an RFC 4733 event on payload type 96 to `media`:
    /// two updates and the three end packets, all with one timestamp.
    async fn key(&self, media: SocketAddr, event: u8) {
        for (index, (end, duration)) in [
            (false, 160u16),
            (false, 320),
            (true, 480),
            (true, 480),
            (true, 480),
        ]
        .into_iter()
        .enumerate()
        {
            let mut packet = vec![0x80, 96 | if index == 0 { 0x80 } else { 0 }];
            packet.extend_from_slice(&(1000 + index as u16).to_be_bytes());
            packet.extend_from_slice(&48_000u32.to_be_bytes());
            packet.extend_from_slice(&0x1234_5678u32.to_be_bytes());
            packet.push(event);
            packet.push(if end { 0x80 | 10 } else { 10 });
            packet.extend_from_slice(&duration.to_be_bytes());
            self.rtp.send_to(&packet, media).await.unwrap();
        }
    }
}

/// Returns the RTP address of an SDP body.
fn media_address(sdp: &[u8]) -> SocketAddr {
    let text = String::from_utf8_lossy(sdp);
    let port: u16 = text
        .lines()
        .find_map(|line| line.strip_prefix("m=audio "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| unreachable!("no m=audio line in {text}"));
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Waits until no call is active and no port is leased. The counts drop
/// once the call's task has run its `after call` and its media task has
/// stopped. A leak makes this wait forever, so the test runner reports a
/// hung test.
async fn wait_idle(server: &Server) {
    while server.stats().active_calls() != 0 || server.stats().ports_in_use() != 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn menu_key_then_bye_frees_ports() {
    let (server, address) = start(22000..=22019, "menu").await;
    let mut caller = Caller::new(address, "call-menu").await;
    let offer = caller.offer();
    let ok = caller.invite(&offer, "").await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.headers.get("Content-Type"), Some("application/sdp"));
    let answer = String::from_utf8_lossy(&ok.body).to_string();
    assert!(answer.contains("a=rtpmap:0 PCMU/8000"), "{answer}");
    assert!(
        answer.contains("a=rtpmap:96 telephone-event/8000"),
        "{answer}"
    );
    let media = media_address(&ok.body);
    assert_eq!(server.stats().active_calls(), 1);
    assert_eq!(server.stats().ports_in_use(), 1);

    // 100 packets of the language menu's prompt: PCMU, 160 bytes each,
    // consecutive sequence numbers and timestamps 160 apart, not silence.
    let (payload_type, mut sequence, mut timestamp, _) = caller.rtp_packet().await;
    assert_eq!(payload_type, 0);
    let first = Instant::now();
    let mut audible = 0;
    for _ in 0..100 {
        let (payload_type, next_sequence, next_timestamp, payload) = caller.rtp_packet().await;
        assert_eq!(payload_type, 0);
        assert_eq!(payload.len(), 160);
        assert_eq!(next_sequence, sequence.wrapping_add(1));
        assert_eq!(next_timestamp, timestamp.wrapping_add(160));
        if payload.iter().any(|&b| b != 0xff && b != 0x7f) {
            audible += 1;
        }
        (sequence, timestamp) = (next_sequence, next_timestamp);
    }
    // Paced at 50 packets a second: 100 packets cannot arrive in much less
    // than two seconds (a burst would).
    let elapsed = first.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1800),
        "100 packets in {elapsed:?}"
    );
    assert!(audible > 50, "only {audible} of 100 packets carry audio");

    // Key 1 chooses English and stops the 4.5 s prompt at once (barge-in),
    // so the flow moves on within one second of media.
    let before = server.stats().effects();
    caller.key(media, 1).await;
    let mut packets = 0;
    while server.stats().effects() == before {
        caller.rtp_packet().await;
        packets += 1;
        assert!(packets < 50, "the flow did not move on after key 1");
    }

    let bye = caller.in_dialog("BYE", "", "").await;
    assert_eq!(bye.status, 200);
    wait_idle(&server).await;
    assert_eq!(server.stats().panics(), 0);
    assert_eq!(server.stats().calls_started(), 1);
}

#[tokio::test]
async fn late_offer_with_info_key() {
    let (server, address) = start(22020..=22039, "late").await;
    let mut caller = Caller::new(address, "call-late").await;
    // The ACK's answer is built after the 200's offer is known, so the
    // INVITE is sent by hand here.
    let invite = caller.request("INVITE", 1, "", "");
    caller.send(&invite).await;
    let ok = loop {
        match caller.next_message().await {
            Message::Response(r) if r.status >= 200 => break r,
            _ => {}
        }
    };
    assert_eq!(ok.status, 200);
    let offer = String::from_utf8_lossy(&ok.body).to_string();
    assert!(
        offer.contains("m=audio "),
        "the 200 carries an offer: {offer}"
    );
    caller.to = ok.headers.get("To").unwrap().to_string();
    let answer = format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        caller.rtp_port()
    );
    let ack = caller.request("ACK", 1, "Content-Type: application/sdp\r\n", &answer);
    caller.send(&ack).await;
    let (payload_type, _, _, _) = caller.rtp_packet().await;
    assert_eq!(payload_type, 8, "PCMA, as the ACK's answer chose");

    let before = server.stats().effects();
    // No final line break, as some phones send it.
    let info = caller
        .in_dialog(
            "INFO",
            "Content-Type: application/dtmf-relay\r\n",
            "Signal=2\r\nDuration=160",
        )
        .await;
    assert_eq!(info.status, 200);
    let mut packets = 0;
    while server.stats().effects() == before {
        caller.rtp_packet().await;
        packets += 1;
        assert!(packets < 50, "the flow did not move on after the INFO key");
    }
    let bye = caller.in_dialog("BYE", "", "").await;
    assert_eq!(bye.status, 200);
    wait_idle(&server).await;
}

#[tokio::test]
async fn offer_without_g711_gets_488() {
    let (server, address) = start(22040..=22059, "codec").await;
    let mut caller = Caller::new(address, "call-codec").await;
    let offer = format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n",
        caller.rtp_port()
    );
    let response = caller.invite(&offer, "").await;
    assert_eq!(response.status, 488);
    wait_idle(&server).await;
    assert_eq!(server.stats().calls_started(), 1);
}

#[tokio::test]
async fn hangup_mid_prompt_ends_call() {
    let (server, address) = start(22060..=22079, "hangup").await;
    let mut caller = Caller::new(address, "call-hangup").await;
    let offer = caller.offer();
    assert_eq!(caller.invite(&offer, "").await.status, 200);
    for _ in 0..10 {
        caller.rtp_packet().await;
    }
    assert_eq!(caller.in_dialog("BYE", "", "").await.status, 200);
    wait_idle(&server).await;
    // A second call works after the first.
    let mut again = Caller::new(address, "call-hangup-2").await;
    let offer = again.offer();
    assert_eq!(again.invite(&offer, "").await.status, 200);
    again.rtp_packet().await;
    assert_eq!(again.in_dialog("BYE", "", "").await.status, 200);
    wait_idle(&server).await;
    assert_eq!(server.stats().calls_started(), 2);
}

#[tokio::test]
async fn hold_and_resume_reinvite() {
    let (server, address) = start(22080..=22099, "hold").await;
    let mut caller = Caller::new(address, "call-hold").await;
    let offer = caller.offer();
    assert_eq!(caller.invite(&offer, "").await.status, 200);
    caller.rtp_packet().await;

    let hold = caller.offer().replace("a=sendrecv", "a=sendonly");
    let held = caller
        .in_dialog("INVITE", "Content-Type: application/sdp\r\n", &hold)
        .await;
    assert_eq!(held.status, 200);
    let answer = String::from_utf8_lossy(&held.body).to_string();
    assert!(answer.contains("a=recvonly"), "{answer}");
    let ack = caller.request("ACK", caller.cseq, "", "");
    caller.send(&ack).await;

    let resume = caller.offer();
    let resumed = caller
        .in_dialog("INVITE", "Content-Type: application/sdp\r\n", &resume)
        .await;
    assert_eq!(resumed.status, 200);
    let answer = String::from_utf8_lossy(&resumed.body).to_string();
    assert!(answer.contains("a=sendrecv"), "{answer}");
    let ack = caller.request("ACK", caller.cseq, "", "");
    caller.send(&ack).await;
    // The stream goes on after the resume.
    caller.rtp_packet().await;

    assert_eq!(caller.in_dialog("BYE", "", "").await.status, 200);
    wait_idle(&server).await;
}

#[tokio::test]
async fn shutdown_ends_calls_with_bye() {
    let (server, address) = start(22140..=22159, "shutdown").await;
    let mut caller = Caller::new(address, "call-shutdown").await;
    let offer = caller.offer();
    assert_eq!(caller.invite(&offer, "").await.status, 200);
    caller.rtp_packet().await;

    // No grace: the call is ended at once, and shutting down completes
    // only after the caller has answered the BYE.
    let hang_up = async {
        loop {
            if let Message::Request(request) = caller.next_message().await {
                caller.answer(&request).await;
                return request.method;
            }
        }
    };
    let ((), method) = tokio::join!(server.shut_down(Duration::ZERO), hang_up);
    assert_eq!(method, "BYE");
    assert_eq!(server.stats().active_calls(), 0);
    wait_idle(&server).await;
}

/// A generous bound on waits for an answer flowd must send, so a missing
/// answer fails the test instead of hanging it.
const ANSWER_WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn crossing_bye_gets_200() {
    let (server, address) = start_with(22160..=22179, "crossing", |config| {
        config.rtp_timeout = Some(Duration::from_secs(1));
    })
    .await;
    let mut caller = Caller::new(address, "call-crossing").await;
    let offer = caller.offer();
    assert_eq!(caller.invite(&offer, "").await.status, 200);
    // The caller sends no RTP, so flowd hangs up after rtp.timeout.
    let bye = tokio::time::timeout(ANSWER_WAIT, caller.next_request())
        .await
        .unwrap_or_else(|_| panic!("flowd sent no BYE after rtp.timeout"));
    assert_eq!(bye.method, "BYE");

    // The caller's own BYE crosses flowd's, which gets no response.
    caller.cseq += 1;
    let own_bye = caller.request("BYE", caller.cseq, "", "");
    caller.send(&own_bye).await;
    let cseq = format!("{} BYE", caller.cseq);
    let response = tokio::time::timeout(ANSWER_WAIT, async {
        loop {
            if let Message::Response(r) = caller.next_message().await
                && r.headers.get("CSeq") == Some(&cseq)
            {
                return r;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the caller's BYE got no response"));
    assert_eq!(response.status, 200);
    wait_idle(&server).await;
}

#[tokio::test]
async fn ipv6_offer_gets_488() {
    let (server, address) = start(22180..=22199, "ipv6").await;
    let mut caller = Caller::new(address, "call-ipv6").await;
    let offer = caller.offer().replace("c=IN IP4 127.0.0.1", "c=IN IP6 ::1");
    let response = caller.invite(&offer, "").await;
    assert_eq!(response.status, 488);
    let warning = response.headers.get("Warning").unwrap_or_default();
    assert!(warning.contains("IPv6 media is not supported"), "{warning}");
    wait_idle(&server).await;
    assert_eq!(server.stats().answered_calls(), 0);
}

async fn missing_ack_ends_call(
    rtp_ports: RangeInclusive<u16>,
    name: &str,
    timeout: Option<Duration>,
) {
    let (server, address) = start_with(rtp_ports, name, |config| {
        config.rtp_timeout = timeout;
    })
    .await;
    let caller = Caller::new(address, &format!("call-{name}")).await;
    let offer = caller.offer();
    let invite = caller.request("INVITE", 1, "Content-Type: application/sdp\r\n", &offer);
    caller.send(&invite).await;
    // No ACK: the 200 is retransmitted until 64*T1, then flowd must send
    // BYE at once instead of running the call until the RTP timeout.
    let bye = tokio::time::timeout(ANSWER_WAIT, caller.next_request())
        .await
        .unwrap_or_else(|_| panic!("flowd sent no BYE for the unacknowledged 2xx"));
    assert_eq!(bye.method, "BYE");
    caller.answer(&bye).await;
    wait_idle(&server).await;
    assert_eq!(server.stats().answered_calls(), 0);
}

#[tokio::test]
async fn missing_ack_sends_bye() {
    missing_ack_ends_call(22200..=22219, "noack", Some(Duration::from_secs(600))).await;
}

#[tokio::test]
async fn missing_ack_no_rtp_timeout() {
    missing_ack_ends_call(22220..=22239, "noack-off", None).await;
}

#[tokio::test]
async fn overlapping_reinvites_rejected() {
    let (server, address) = start(22240..=22259, "overlap").await;
    let mut caller = Caller::new(address, "call-overlap").await;
    let offer = caller.offer();
    assert_eq!(caller.invite(&offer, "").await.status, 200);
    let sdp = "Content-Type: application/sdp\r\n";

    // A re-INVITE answered 200 but not yet ACKed is still in progress.
    let first = caller.in_dialog_exact("INVITE", sdp, &offer).await;
    assert_eq!(first.status, 200);
    let first_cseq = caller.cseq;
    let second = caller.in_dialog_exact("INVITE", sdp, &offer).await;
    assert_eq!(second.status, 500);
    let retry: u64 = second
        .headers
        .get("Retry-After")
        .unwrap_or_else(|| panic!("500 without Retry-After"))
        .trim()
        .parse()
        .unwrap();
    assert!(retry <= 10, "Retry-After {retry}");
    let update = caller.in_dialog_exact("UPDATE", sdp, &offer).await;
    assert_eq!(update.status, 500);
    assert!(update.headers.get("Retry-After").is_some());

    // After the ACK a new re-INVITE is accepted.
    let ack = caller.request("ACK", first_cseq, "", "");
    caller.send(&ack).await;
    let third = caller.in_dialog_exact("INVITE", sdp, &offer).await;
    assert_eq!(third.status, 200);
    let ack = caller.request("ACK", caller.cseq, "", "");
    caller.send(&ack).await;

    // A re-INVITE without SDP gets flowd's offer in the 200; an UPDATE
    // with an offer before the ACK's answer is glare.
    let late = caller.in_dialog_exact("INVITE", "", "").await;
    assert_eq!(late.status, 200);
    let late_cseq = caller.cseq;
    let glare = caller.in_dialog_exact("UPDATE", sdp, &offer).await;
    assert_eq!(glare.status, 491);
    let answer = offer.clone();
    let ack = caller.request("ACK", late_cseq, sdp, &answer);
    caller.send(&ack).await;
    let update = caller.in_dialog_exact("UPDATE", sdp, &offer).await;
    assert_eq!(update.status, 200);

    assert_eq!(caller.in_dialog_exact("BYE", "", "").await.status, 200);
    wait_idle(&server).await;
}
