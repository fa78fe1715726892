//! SIPp calls to a running flowd on the shipped flows, over UDP and TCP:
//! menu choices by RFC 4733 and by SIP INFO, a late offer, hold and
//! resume, CANCEL while ringing, a hangup mid-prompt, offer and message
//! syntax variations, and the RTP flowd sends, read by a receiver here.
//!
//! The flows read a clock started at a fixed time, so office hours give
//! the same answer whenever the tests run. Each call's end is read from
//! [`Server::finished_calls`], and the voicemail folder tells which
//! department the menu reached. SIPp exits 0 only when its scenario ran as
//! written, including the `ereg` checks of flowd's answers.
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

use flowd::call::{CallRecord, Party, Server, load_flows};
use flowd::config;
use flowd::media::prompt::PromptLibrary;
use flowd::sip::transport::Transport;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::broadcast;

/// The support flow's short number.
const SUPPORT: &str = "0805550";

/// Thursday 2026-12-03 10:00 in Ljubljana: the office is open.
const OPEN: &str = "2026-12-03T09:00:00Z";

/// Thursday 2026-12-03 23:00 in Ljubljana: the office is closed.
const CLOSED: &str = "2026-12-03T22:00:00Z";

/// Maximum wait for anything flowd or SIPp does, which only stops a hung
/// test.
const PATIENCE: Duration = Duration::from_secs(60);

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

/// A flowd listening on UDP and TCP, with its own RTP ports and voicemail
/// folder.
struct Flowd {
    server: Server,
    udp: SocketAddr,
    tcp: SocketAddr,
    records: broadcast::Receiver<CallRecord>,
    recordings: PathBuf,
}

impl Flowd {
    async fn start(name: &str, rtp_ports: RangeInclusive<u16>, at: &str, ring: Duration) -> Flowd {
        let folder = flows_folder();
        let mut config = config::defaults(folder.clone());
        let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
        config.listen = vec![(Transport::Udp, loopback), (Transport::Tcp, loopback)];
        config.rtp_ports = rtp_ports;
        config.ring = ring;
        // Tests of one binary share a process id when run by `cargo test`,
        // so each server gets its own folder.
        static SERVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let serial = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let recordings =
            std::env::temp_dir().join(format!("flowd-sipp-{name}-{}-{serial}", std::process::id()));
        let _ = std::fs::remove_dir_all(&recordings);
        config.recordings = recordings.clone();
        let prompts = PromptLibrary::load(&folder.join("prompts")).unwrap();
        let flows = load_flows(&folder, None, prompts.inventory()).unwrap();
        let start: jiff::Timestamp = at.parse().unwrap();
        let began = std::time::Instant::now();
        let clock = Arc::new(move || start.checked_add(began.elapsed()).unwrap_or(start));
        let server = Server::start_with_clock(&config, flows, prompts, clock)
            .await
            .unwrap();
        let address = |kind| {
            server
                .endpoint()
                .local_addrs()
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, a)| *a)
                .unwrap()
        };
        let (udp, tcp) = (address(Transport::Udp), address(Transport::Tcp));
        let records = server.finished_calls();
        Flowd {
            server,
            udp,
            tcp,
            records,
            recordings,
        }
    }

    fn address(&self, transport: Transport) -> SocketAddr {
        match transport {
            Transport::Udp => self.udp,
            Transport::Tcp => self.tcp,
        }
    }

    /// Returns the record of the next call that ends.
    async fn next_record(&mut self) -> CallRecord {
        tokio::time::timeout(PATIENCE, self.records.recv())
            .await
            .expect("no call ended")
            .unwrap()
    }

    /// Waits until no call task runs and no RTP port is leased.
    async fn wait_idle(&self) {
        let stats = self.server.stats();
        let idle = async {
            while stats.active_calls() != 0 || stats.ports_in_use() != 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(PATIENCE, idle)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "calls still active: {}, ports in use: {}",
                    stats.active_calls(),
                    stats.ports_in_use()
                )
            });
    }

    /// Returns the voicemail folders that hold at least one WAV file.
    fn mailboxes(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.recordings)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|entry| has_wav(&entry.path()))
                    .filter_map(|entry| entry.file_name().to_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

fn has_wav(folder: &Path) -> bool {
    std::fs::read_dir(folder).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|entry| entry.path().extension().is_some_and(|e| e == "wav"))
    })
}

/// Returns a local port free for both UDP and TCP, for SIPp's own SIP
/// socket. Another process may still take it before SIPp binds it.
fn free_port() -> u16 {
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
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

/// Builds the SIPp command for [`sipp`] on a fresh local port, and returns
/// it with the paths of its message trace and its rendered scenario.
fn sipp_command(
    folder: &Path,
    target: SocketAddr,
    transport: Transport,
    media_port: u16,
    name: &str,
    keys: &[(&str, &str)],
) -> (Command, PathBuf, PathBuf) {
    let local_port = free_port().to_string();
    let trace = folder.join(format!("{name}-{local_port}.log"));
    // SIPp replaces `-key` values in messages but not in the file name of
    // an `exec`, so the keys are written into a copy of the scenario.
    // SIPp drops the leading white space of each scenario line when it
    // loads the file, so values that must keep it (folded header lines)
    // stay `-key` values, which SIPp inserts as they are.
    let (folds, written): (Vec<_>, Vec<_>) = keys
        .iter()
        .partition(|(_, value)| value.starts_with([' ', '\t']));
    let mut text = std::fs::read_to_string(scenario(name)).unwrap();
    for (key, value) in written {
        text = text.replace(&format!("[{key}]"), value);
    }
    let rendered = folder.join(format!("{local_port}-{name}"));
    std::fs::write(&rendered, text).unwrap();
    let mut command = Command::new("sipp");
    command
        .current_dir(folder)
        .args(["-sf", &rendered.display().to_string(), "-s", SUPPORT])
        .args(["-m", "1", "-l", "1"])
        .args(["-i", "127.0.0.1", "-p", &local_port])
        .args(["-mp", &media_port.to_string()])
        .args(["-trace_msg", "-message_file", &trace.display().to_string()])
        .args(["-timeout", "60s", "-nostdin"]);
    let mode = match transport {
        Transport::Udp => "u1",
        Transport::Tcp => "t1",
    };
    command.args(["-t", mode]);
    for (key, value) in folds {
        command.args(["-key", key, value]);
    }
    // A scenario's `<pause/>` lasts SIPp's `-d`.
    if let Some((_, hold)) = keys.iter().find(|(key, _)| *key == "hold") {
        command.args(["-d", hold]);
    }
    command.arg(target.to_string());
    (command, trace, rendered)
}

/// Runs one SIPp call to the support number with the scenario file `name`,
/// whose `[key]` fields are replaced by `keys` (`hold` also sets how long
/// `<pause/>` lasts, in milliseconds), and returns SIPp's message trace.
/// `media_port` is SIPp's own RTP port (it binds it and the port two
/// above).
async fn sipp(
    target: SocketAddr,
    transport: Transport,
    media_port: u16,
    name: &str,
    keys: &[(&str, &str)],
) -> String {
    let folder = std::env::temp_dir().join(format!("flowd-sipp-trace-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    // A SIP or media port taken before SIPp binds it gets another try.
    let mut attempts = 0;
    let (output, trace, rendered) = loop {
        // Another process, such as a test run in another checkout, may
        // hold the fixed media port, so a retry takes a free one.
        let media_port = if attempts == 0 {
            media_port
        } else {
            free_media_port()
        };
        let (mut command, trace, rendered) =
            sipp_command(&folder, target, transport, media_port, name, keys);
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap_or_else(|error| {
                panic!("cannot run `sipp` ({error}); install it with `apt-get install sip-tester` or run scripts/test")
            });
        attempts += 1;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if attempts < 3 && stderr.contains("Unable to bind") {
            let _ = std::fs::remove_file(&rendered);
            continue;
        }
        break (output, trace, rendered);
    };
    let messages = std::fs::read_to_string(&trace).unwrap_or_default();
    let _ = std::fs::remove_file(&trace);
    let _ = std::fs::remove_file(&rendered);
    assert!(
        output.status.success(),
        "sipp {name} failed:\n{}{}\nmessages:\n{messages}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    messages
}

/// Runs [`sipp`] in a task, so the test can handle the call's RTP meanwhile.
fn spawn_sipp(
    target: SocketAddr,
    transport: Transport,
    media_port: u16,
    name: &'static str,
    keys: &[(&str, &str)],
) -> tokio::task::JoinHandle<String> {
    let owned: Vec<(String, String)> = keys
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    tokio::spawn(async move {
        let keys: Vec<(&str, &str)> = owned
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        sipp(target, transport, media_port, name, &keys).await
    })
}

/// Checks that the call was answered, ended by the caller's BYE, and that
/// the flow reached voicemail in `mailbox` only.
async fn expect_voicemail(flowd: &mut Flowd, mailbox: &str) {
    let record = flowd.next_record().await;
    assert_eq!(record.status, 200);
    assert_eq!(record.outcome.as_deref(), Some("voicemail"));
    assert_eq!(record.ended_by, Some(Party::Caller));
    flowd.wait_idle().await;
    assert_eq!(flowd.mailboxes(), vec![mailbox.to_string()]);
    std::fs::remove_dir_all(&flowd.recordings).unwrap();
}

/// A menu choice: the language key, the department key, the clock and
/// the voicemail the flow reaches. The hold time after the second key
/// outlasts the prompts before voicemail: 1.9 s welcome and 3.3 s
/// connecting in hours, 6.5 s closed and 2.1 s voicemail introduction
/// after hours.
type Choice = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

/// Choices whose two keys differ. SIPp replays a pcap with its recorded
/// RTP timestamp, so the same pcap twice is one RFC 4733 event.
const DISTINCT_KEYS: [Choice; 3] = [
    ("1", "2", OPEN, "sales", "8000"),
    ("2", "1", OPEN, "technical", "8000"),
    // After hours the second key falls into the closed message.
    ("1", "2", CLOSED, "support", "12000"),
];

/// Every choice, for keys sent by INFO.
const ALL_CHOICES: [Choice; 5] = [
    ("1", "1", OPEN, "technical", "8000"),
    ("2", "2", OPEN, "sales", "8000"),
    ("1", "2", OPEN, "sales", "8000"),
    ("2", "1", OPEN, "technical", "8000"),
    ("1", "1", CLOSED, "support", "12000"),
];

/// Calls the support menu once per choice: the caller presses two keys
/// and hangs up during the voicemail the flow reaches.
async fn menu_choices(
    transport: Transport,
    scenario: &str,
    choices: &[Choice],
    rtp: RangeInclusive<u16>,
    media: u16,
) {
    for &(first, second, at, mailbox, hold) in choices {
        let mut flowd = Flowd::start(scenario, rtp.clone(), at, Duration::ZERO).await;
        let keys = [("first", first), ("second", second), ("hold", hold)];
        sipp(flowd.address(transport), transport, media, scenario, &keys).await;
        expect_voicemail(&mut flowd, mailbox).await;
        assert_eq!(flowd.server.stats().panics(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc4733_menu_choices_over_udp() {
    menu_choices(
        Transport::Udp,
        "menu_rfc4733.xml",
        &DISTINCT_KEYS,
        23000..=23009,
        27000,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc4733_menu_choices_over_tcp() {
    menu_choices(
        Transport::Tcp,
        "menu_rfc4733.xml",
        &DISTINCT_KEYS,
        23010..=23019,
        27010,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_menu_choices_over_udp() {
    menu_choices(
        Transport::Udp,
        "menu_info.xml",
        &ALL_CHOICES,
        23020..=23029,
        27020,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_menu_choices_over_tcp() {
    menu_choices(
        Transport::Tcp,
        "menu_info.xml",
        &ALL_CHOICES,
        23030..=23039,
        27030,
    )
    .await;
}

/// A call that presses 1 in the language menu and hangs up during the
/// next prompt: the flow ends as a hangup after 9 effects (answer,
/// lookup, `record on`, the menu, the greeting, then the after-call
/// timeline, ticket, webhook and the end). Without the key it would be 8.
async fn expect_key_then_hangup(flowd: &mut Flowd) {
    let record = flowd.next_record().await;
    assert_eq!(record.status, 200);
    assert_eq!(record.outcome.as_deref(), Some("hangup"));
    assert_eq!(record.ended_by, Some(Party::Caller));
    flowd.wait_idle().await;
    assert_eq!(flowd.server.stats().effects(), 9);
    assert_eq!(flowd.server.stats().panics(), 0);
}

async fn late_offer(transport: Transport, rtp: RangeInclusive<u16>, media: u16) {
    let mut flowd = Flowd::start("late", rtp, OPEN, Duration::ZERO).await;
    let messages = sipp(
        flowd.address(transport),
        transport,
        media,
        "late_offer.xml",
        &[],
    )
    .await;
    assert!(messages.contains("a=rtpmap:101 telephone-event/8000"));
    expect_key_then_hangup(&mut flowd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_offer_over_udp() {
    late_offer(Transport::Udp, 23040..=23049, 27040).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_offer_over_tcp() {
    late_offer(Transport::Tcp, 23050..=23059, 27050).await;
}

/// Holds and resumes the call by re-INVITE while reading flowd's RTP. Each
/// hold lasts at least one 300 ms pause of the scenario, with no RTP from
/// flowd, and RTP comes again after the last resume.
async fn hold_and_resume(transport: Transport, rtp: RangeInclusive<u16>, media: u16) {
    let mut flowd = Flowd::start("hold", rtp, OPEN, Duration::ZERO).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let own_port = socket.local_addr().unwrap().port().to_string();
    let keys = [("rtp_port", own_port.as_str())];
    let mut call = spawn_sipp(
        flowd.address(transport),
        transport,
        media,
        "hold.xml",
        &keys,
    );
    let mut arrivals = Vec::new();
    let mut buffer = vec![0u8; 2048];
    loop {
        tokio::select! {
            result = &mut call => {
                result.unwrap();
                break;
            }
            received = socket.recv_from(&mut buffer) => {
                if received.is_ok() {
                    arrivals.push(std::time::Instant::now());
                }
            }
        }
    }

    let gaps: Vec<(usize, Duration)> = arrivals
        .windows(2)
        .enumerate()
        .map(|(index, pair)| (index, pair[1].duration_since(pair[0])))
        .filter(|(_, gap)| *gap >= Duration::from_millis(250))
        .collect();
    // The sendonly hold, then c=0.0.0.0 and inactive in a row.
    assert!(gaps.len() >= 2, "RTP went on during hold: gaps {gaps:?}");
    let (last_gap, _) = gaps[gaps.len() - 1];
    assert!(
        arrivals.len() > last_gap + 1,
        "no RTP after the last resume"
    );
    let record = flowd.next_record().await;
    assert_eq!(record.outcome.as_deref(), Some("hangup"));
    assert_eq!(record.ended_by, Some(Party::Caller));
    flowd.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_and_resume_over_udp() {
    hold_and_resume(Transport::Udp, 23060..=23069, 27060).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_and_resume_over_tcp() {
    hold_and_resume(Transport::Tcp, 23070..=23079, 27070).await;
}

async fn cancel_while_ringing(transport: Transport, rtp: RangeInclusive<u16>, media: u16) {
    let ring = Duration::from_secs(10);
    let mut flowd = Flowd::start("cancel", rtp, OPEN, ring).await;
    sipp(
        flowd.address(transport),
        transport,
        media,
        "cancel.xml",
        &[],
    )
    .await;
    let record = flowd.next_record().await;
    assert_eq!(record.status, 487);
    assert_eq!(record.outcome, None);
    assert_eq!(record.ended_by, None);
    flowd.wait_idle().await;
    assert_eq!(flowd.server.stats().effects(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_ringing_over_udp() {
    cancel_while_ringing(Transport::Udp, 23080..=23089, 27080).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_ringing_over_tcp() {
    cancel_while_ringing(Transport::Tcp, 23090..=23099, 27090).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ringing_call_is_answered_after_ring() {
    let ring = Duration::from_millis(300);
    let mut flowd = Flowd::start("ring", 23100..=23109, OPEN, ring).await;
    let keys = [("hold", "300")];
    let messages = sipp(flowd.udp, Transport::Udp, 27100, "hangup.xml", &keys).await;
    assert!(messages.contains("SIP/2.0 180 Ringing"), "{messages}");
    let record = flowd.next_record().await;
    assert_eq!(record.status, 200);
    assert_eq!(record.outcome.as_deref(), Some("hangup"));
}

/// Hangs up while the language menu's prompt (4.5 s) plays.
async fn hangup_mid_prompt(transport: Transport, rtp: RangeInclusive<u16>, media: u16) {
    let mut flowd = Flowd::start("hangup", rtp, OPEN, Duration::ZERO).await;
    let keys = [("hold", "700")];
    sipp(
        flowd.address(transport),
        transport,
        media,
        "hangup.xml",
        &keys,
    )
    .await;
    let record = flowd.next_record().await;
    assert_eq!(record.status, 200);
    assert_eq!(record.outcome.as_deref(), Some("hangup"));
    assert_eq!(record.ended_by, Some(Party::Caller));
    flowd.wait_idle().await;
    assert_eq!(flowd.server.stats().calls_started(), 1);
    assert_eq!(flowd.server.stats().panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hangup_mid_prompt_over_udp() {
    hangup_mid_prompt(Transport::Udp, 23110..=23119, 27110).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hangup_mid_prompt_over_tcp() {
    hangup_mid_prompt(Transport::Tcp, 23120..=23129, 27120).await;
}

/// Shuts flowd down with no grace time during the language menu: flowd
/// ends the call with BYE, which SIPp answers.
async fn shutdown_sends_bye(transport: Transport, rtp: RangeInclusive<u16>, media: u16) {
    let mut flowd = Flowd::start("shutdown", rtp, OPEN, Duration::ZERO).await;
    let call = spawn_sipp(
        flowd.address(transport),
        transport,
        media,
        "await_bye.xml",
        &[],
    );
    // Answer, lookup, `record on` and the menu's prompt: the call is
    // answered.
    let answered = async {
        while flowd.server.stats().effects() < 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(PATIENCE, answered)
        .await
        .expect("the call was not answered");
    flowd.server.shut_down(Duration::ZERO).await;
    call.await.unwrap();
    let record = flowd.next_record().await;
    assert_eq!(record.status, 200);
    assert_eq!(record.outcome.as_deref(), Some("hangup"));
    assert_eq!(record.ended_by, Some(Party::Flowd));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sends_bye_over_udp() {
    shutdown_sends_bye(Transport::Udp, 23220..=23229, 27220).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_sends_bye_over_tcp() {
    shutdown_sends_bye(Transport::Tcp, 23230..=23239, 27230).await;
}

async fn compact_and_folded_syntax(transport: Transport, rtp: RangeInclusive<u16>, media: u16) {
    let mut flowd = Flowd::start("syntax", rtp, OPEN, Duration::ZERO).await;
    let keys = [
        ("fold", " <sip:0805550@127.0.0.1>"),
        ("fold_subject", " call"),
    ];
    let messages = sipp(
        flowd.address(transport),
        transport,
        media,
        "syntax.xml",
        &keys,
    )
    .await;
    assert!(
        messages.contains("\r\n <sip:0805550@127.0.0.1>\r\n"),
        "{messages}"
    );
    expect_key_then_hangup(&mut flowd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_and_folded_syntax_over_udp() {
    compact_and_folded_syntax(Transport::Udp, 23130..=23139, 27130).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_and_folded_syntax_over_tcp() {
    compact_and_folded_syntax(Transport::Tcp, 23140..=23149, 27140).await;
}

/// One RTP packet as received.
struct Packet {
    arrival: std::time::Instant,
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    payload: Vec<u8>,
}

fn parse_rtp(bytes: &[u8]) -> Option<(u8, u16, u32, u32, Vec<u8>)> {
    if bytes.len() < 12 || bytes[0] >> 6 != 2 {
        return None;
    }
    let csrc = usize::from(bytes[0] & 0x0f) * 4;
    let payload_type = bytes[1] & 0x7f;
    let sequence = u16::from_be_bytes([bytes[2], bytes[3]]);
    let timestamp = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let ssrc = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    let payload = bytes.get(12 + csrc..)?.to_vec();
    Some((payload_type, sequence, timestamp, ssrc, payload))
}

/// Receives `count` RTP packets on `socket`, skipping RTCP.
async fn receive(socket: &UdpSocket, count: usize) -> Vec<Packet> {
    let mut packets = Vec::new();
    let mut buffer = vec![0u8; 2048];
    while packets.len() < count {
        let (length, _) = tokio::time::timeout(PATIENCE, socket.recv_from(&mut buffer))
            .await
            .expect("no RTP from flowd")
            .unwrap();
        let arrival = std::time::Instant::now();
        let Some((payload_type, sequence, timestamp, ssrc, payload)) = parse_rtp(&buffer[..length])
        else {
            continue;
        };
        // RTCP shares the first byte's version bits; its types are 200..=204.
        if (72..=76).contains(&payload_type) {
            continue;
        }
        packets.push(Packet {
            arrival,
            payload_type,
            sequence,
            timestamp,
            ssrc,
            payload,
        });
    }
    packets
}

/// Sends key `event` as RFC 4733 packets with `payload_type` to `to`: a
/// start, two updates and the end packet three times.
async fn send_key(socket: &UdpSocket, to: SocketAddr, payload_type: u8, event: u8) {
    let durations: [(u16, bool); 6] = [
        (160, false),
        (320, false),
        (480, false),
        (640, true),
        (640, true),
        (640, true),
    ];
    for (index, (duration, end)) in durations.into_iter().enumerate() {
        let mut packet = vec![0x80, payload_type, 0, index as u8];
        if index == 0 {
            packet[1] |= 0x80;
        }
        packet.extend_from_slice(&16_000u32.to_be_bytes());
        packet.extend_from_slice(&0x5eed_u32.to_be_bytes());
        packet.push(event);
        packet.push(if end { 0x80 | 10 } else { 10 });
        packet.extend_from_slice(&duration.to_be_bytes());
        socket.send_to(&packet, to).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Returns the line of `messages` that starts with `prefix`, from
/// flowd's answer.
fn answer_line<'a>(messages: &'a str, prefix: &str) -> &'a str {
    messages
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in the answer:\n{messages}"))
}

/// Reads the 16-bit mono samples of a WAV file.
fn wav_samples(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap();
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        if id == b"data" {
            let data = &bytes[at + 8..(at + 8 + size).min(bytes.len())];
            return data
                .chunks_exact(2)
                .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
                .collect();
        }
        at += 8 + size + size % 2;
    }
    panic!("no data chunk in {}", path.display());
}

/// One offer variation: flowd's RTP port is the only one of its range, so
/// the test's socket can send keys to it; SIPp carries the signalling.
struct Variation {
    name: &'static str,
    formats: &'static str,
    telephone_event: u8,
    ptime: u32,
    /// The codec flowd must answer first and send in.
    payload_type: u8,
}

async fn offer_variation(transport: Transport, variation: &Variation, rtp_port: u16, media: u16) {
    let mut flowd = Flowd::start(
        variation.name,
        rtp_port..=rtp_port + 1,
        OPEN,
        Duration::ZERO,
    )
    .await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let own_port = socket.local_addr().unwrap().port().to_string();
    let video_port = (media + 10).to_string();
    let te = variation.telephone_event.to_string();
    let ptime = variation.ptime.to_string();
    let keys = [
        ("rtp_port", own_port.as_str()),
        ("video_port", video_port.as_str()),
        ("formats", variation.formats),
        ("te", te.as_str()),
        ("ptime", ptime.as_str()),
        ("hold", "1500"),
    ];
    let target = flowd.address(transport);
    let call = spawn_sipp(target, transport, media, "offer.xml", &keys);
    let packets = receive(&socket, 10).await;
    let flowd_rtp: SocketAddr = ([127, 0, 0, 1], rtp_port).into();
    send_key(&socket, flowd_rtp, variation.telephone_event, 1).await;
    let messages = call.await.unwrap();

    let audio = answer_line(&messages, &format!("m=audio {rtp_port} "));
    let first = audio.split_whitespace().nth(3).unwrap_or_default();
    assert_eq!(first, variation.payload_type.to_string(), "{audio}");
    assert!(
        audio.ends_with(&format!(" {}", variation.telephone_event)),
        "{audio}"
    );
    assert!(messages.contains("m=video 0 "), "{messages}");
    for packet in &packets {
        assert_eq!(packet.payload_type, variation.payload_type);
        assert_eq!(packet.payload.len(), variation.ptime as usize * 8);
    }
    expect_key_then_hangup(&mut flowd).await;
}

const VARIATIONS: [Variation; 3] = [
    Variation {
        name: "pcma-first",
        formats: "8 0 101",
        telephone_event: 101,
        ptime: 20,
        payload_type: 8,
    },
    Variation {
        name: "event-96-ptime-30",
        formats: "0 8 96",
        telephone_event: 96,
        ptime: 30,
        payload_type: 0,
    },
    Variation {
        name: "event-127-ptime-40",
        formats: "0 127",
        telephone_event: 127,
        ptime: 40,
        payload_type: 0,
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offer_variations_over_udp() {
    for (index, variation) in VARIATIONS.iter().enumerate() {
        let offset = 2 * index as u16;
        offer_variation(Transport::Udp, variation, 23150 + offset, 27150).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offer_variations_over_tcp() {
    for (index, variation) in VARIATIONS.iter().enumerate() {
        let offset = 2 * index as u16;
        offer_variation(Transport::Tcp, variation, 23160 + offset, 27170).await;
    }
}

/// Receives the start of the call's RTP and checks the header fields, the
/// pacing and that the payload is the language menu's prompt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_stream_is_the_prompt() {
    let rtp_port = 23170;
    let mut flowd = Flowd::start("stream", rtp_port..=rtp_port + 1, OPEN, Duration::ZERO).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let own_port = socket.local_addr().unwrap().port().to_string();
    let keys = [
        ("rtp_port", own_port.as_str()),
        ("video_port", "27192"),
        ("formats", "0 101"),
        ("te", "101"),
        ("ptime", "20"),
        ("hold", "4000"),
    ];
    let target = flowd.udp;
    let call = spawn_sipp(target, Transport::Udp, 27180, "offer.xml", &keys);
    // 3 s of the 4.5 s prompt.
    let packets = receive(&socket, 150).await;
    call.await.unwrap();

    let first = &packets[0];
    for (n, pair) in packets.windows(2).enumerate() {
        let (before, after) = (&pair[0], &pair[1]);
        assert_eq!(after.payload_type, 0, "packet {n}");
        assert_eq!(after.ssrc, first.ssrc, "packet {n}");
        assert_eq!(
            after.sequence,
            before.sequence.wrapping_add(1),
            "packet {n}"
        );
        assert_eq!(
            after.timestamp,
            before.timestamp.wrapping_add(160),
            "packet {n}"
        );
        assert_eq!(after.payload.len(), 160, "packet {n}");
    }
    // Lateness comes from load, but being early cannot: packet n is never
    // sent before n * 20 ms after packet 0, less a margin for a receiver
    // that read packet 0 late.
    let margin = Duration::from_millis(1000);
    for (n, packet) in packets.iter().enumerate() {
        let schedule = Duration::from_millis(20 * n as u64);
        let elapsed = packet.arrival.duration_since(first.arrival);
        assert!(
            elapsed + margin >= schedule,
            "packet {n} came {elapsed:?} after packet 0, ahead of its {schedule:?}"
        );
    }

    let received: Vec<i16> = packets
        .iter()
        .flat_map(|p| {
            p.payload
                .iter()
                .map(|&code| audio_codec_algorithms::decode_ulaw(code))
        })
        .collect();
    let prompt = wav_samples(&flows_folder().join("prompts/en/choose-language.wav"));
    let start = received
        .iter()
        .position(|s| s.abs() > 64)
        .expect("only silence received");
    let prompt_start = prompt.iter().position(|s| s.abs() > 64).unwrap();
    // The prompt may start a few samples away from the first loud sample
    // after G.711 rounding; take the closest alignment near it.
    let window = 8000
        .min(received.len() - start)
        .min(prompt.len() - prompt_start);
    let error = |shift: usize| -> i64 {
        (0..window)
            .map(|i| {
                let got = received.get(start + i + shift).copied().unwrap_or(0);
                let want = prompt[prompt_start + i];
                (i64::from(got) - i64::from(want)).abs()
            })
            .sum()
    };
    let shift = (0..8).min_by_key(|&shift| error(shift)).unwrap();
    let mut mismatches = 0;
    for i in 0..window {
        let got = i32::from(received[start + shift + i]);
        let want = i32::from(prompt[prompt_start + i]);
        // G.711 keeps about 1/16 of the magnitude as error, at most.
        if (got - want).abs() > want.abs() / 16 + 16 {
            mismatches += 1;
        }
    }
    assert!(
        window >= 4000,
        "only {window} samples of the prompt received"
    );
    assert_eq!(
        mismatches, 0,
        "{mismatches} of {window} samples differ from the prompt"
    );
    let record = flowd.next_record().await;
    assert_eq!(record.outcome.as_deref(), Some("hangup"));
    flowd.wait_idle().await;
}
