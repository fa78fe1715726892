//! Outbound legs and the media bridge, with SIPp as the agent's phone.
//!
//! Calls go through a flow that records the call and transfers it to
//! `sip:agent@127.0.0.1:PORT`, where a SIPp UAS scenario plays the agent:
//! answering, busy, never answering, hanging up first, or answering as the
//! CANCEL arrives. A SIPp UAC is the caller. The SDP of both SIPps points
//! at RTP sockets of the test, which answer every packet flowd sends with
//! a loud one, so the test sees audio cross the bridge both ways. Some
//! tests drive [`OutboundLeg`] directly.
//!
//! SIPp exits 0 only when its scenario ran as written, so an agent
//! scenario that expects CANCEL, ACK or BYE checks that flowd sent it.
//!
//! Every fixed port is in 24300-24499, below Linux's ephemeral range.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use flowd::call::leg::{DialRequest, LegEvent, LegIdentity, OutboundLeg};
use flowd::call::{CallRecord, Party, Server, load_flows};
use flowd::config;
use flowd::media::bridge::bridge;
use flowd::media::g711::Codec;
use flowd::media::ports::PortPool;
use flowd::media::prompt::{Prompt, PromptLibrary};
use flowd::media::sdp::{Direction, Negotiated};
use flowd::media::session::MediaSession;
use flowd::sip::transport::Transport;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::broadcast;

/// The number the test flow answers.
const SERVICE: &str = "200";

/// The caller's number.
const CALLER: &str = "+38640111222";

/// Maximum wait for anything flowd or SIPp does, which only stops a hung
/// test.
const PATIENCE: Duration = Duration::from_secs(60);

/// The fixed ports of one test, from its `base`: SIP of the agent and the
/// caller, the test's RTP sockets of each, SIPp's own media ports, and
/// flowd's RTP range of two port pairs (the caller's and the leg's).
#[derive(Clone, Copy)]
struct Ports {
    base: u16,
}

impl Ports {
    fn agent_sip(self) -> u16 {
        self.base
    }
    fn caller_sip(self) -> u16 {
        self.base + 1
    }
    fn agent_rtp(self) -> u16 {
        self.base + 2
    }
    fn caller_rtp(self) -> u16 {
        self.base + 3
    }
    fn agent_media(self) -> u16 {
        self.base + 4
    }
    fn caller_media(self) -> u16 {
        self.base + 8
    }
    fn flowd_rtp(self) -> std::ops::RangeInclusive<u16> {
        self.base + 12..=self.base + 15
    }
}

/// A flowd whose only flow records the call and transfers it to the
/// agent's SIPp.
struct Flowd {
    server: Server,
    store: flowd::store::Store,
    udp: SocketAddr,
    records: broadcast::Receiver<CallRecord>,
    recordings: PathBuf,
    /// The folder of the flow, the database and the recordings, removed
    /// on drop.
    root: PathBuf,
}

impl Drop for Flowd {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl Flowd {
    async fn start(name: &str, ports: Ports) -> Flowd {
        let t1 = Duration::from_millis(500);
        Flowd::start_with(name, ports.agent_sip(), ports.flowd_rtp(), t1).await
    }

    /// Starts like [`Flowd::start`] with the agent on `agent_sip`, RTP
    /// ports `rtp` and the transaction timer T1 set to `t1`, which scales
    /// timers A and B.
    async fn start_with(
        name: &str,
        agent_sip: u16,
        rtp: std::ops::RangeInclusive<u16>,
        t1: Duration,
    ) -> Flowd {
        static SERVERS: AtomicUsize = AtomicUsize::new(0);
        let serial = SERVERS.fetch_add(1, Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!(
            "flowd-bridge-{name}-{}-{serial}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        let folder = root.join("flows");
        std::fs::create_dir_all(folder.join("prompts")).unwrap();
        let flow = format!(
            "flow bridge answers \"{SERVICE}\"\n\non call {{\n  record on\n  transfer \"sip:agent@127.0.0.1:{}\"\n}}\n",
            agent_sip
        );
        std::fs::write(folder.join("bridge.flow"), flow).unwrap();
        let mut config = config::defaults(folder.clone());
        // Transfers reach only destinations of `transfer.allow`.
        let allow = format!("transfer:\n  allow: [\"sip:*@127.0.0.1:{agent_sip}\"]\n");
        config.transfer = config::parse(&allow, "tok.yaml", folder.clone())
            .unwrap()
            .transfer;
        config.listen = vec![(Transport::Udp, ([127, 0, 0, 1], 0).into())];
        config.rtp_ports = rtp;
        config.ring = Duration::ZERO;
        config.t1 = t1;
        let recordings = root.join("recordings");
        config.recordings = recordings.clone();
        let prompts = PromptLibrary::load(&folder.join("prompts")).unwrap();
        let flows = load_flows(&folder, None, prompts.inventory()).unwrap();
        config.spool = root.join("spool");
        let store_url = flowd::store::testing::sqlite_url(&root, "tok.db");
        let store = flowd::store::Store::open(&store_url).await.unwrap();
        let clock = Arc::new(jiff::Timestamp::now);
        let server = Server::start_with_store(&config, flows, prompts, clock, Some(store.clone()))
            .await
            .unwrap();
        let udp = server.endpoint().local_addrs()[0].1;
        let records = server.finished_calls();
        Flowd {
            server,
            store,
            udp,
            records,
            recordings,
            root,
        }
    }

    async fn next_record(&mut self) -> CallRecord {
        tokio::time::timeout(PATIENCE, self.records.recv())
            .await
            .expect("no call ended")
            .unwrap()
    }

    /// Waits until no call runs and no RTP port is leased, legs included.
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

    /// Returns the WAV files under the recordings folder.
    fn recordings(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut folders = vec![self.recordings.clone()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|e| e == "wav") {
                    found.push(path);
                }
            }
        }
        found
    }
}

fn scenario(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name)
        .display()
        .to_string()
}

/// SIPp's result: whether the scenario ran as written, its output, and
/// its message trace.
struct SippRun {
    success: bool,
    output: String,
    messages: String,
}

impl SippRun {
    fn assert_success(&self, role: &str) {
        assert!(
            self.success,
            "{role} SIPp failed:\n{}\nmessages:\n{}",
            self.output, self.messages
        );
    }
}

/// Starts SIPp with `scenario` on local SIP port `port` and media port
/// `media`; `remote` makes it a UAC calling flowd's test number. `keys`
/// fill the scenario's `[key]` fields, and `pause` sets `-d`.
fn spawn_sipp(
    scenario_name: &str,
    port: u16,
    media: u16,
    remote: Option<SocketAddr>,
    keys: &[(&str, String)],
    pause: Duration,
) -> tokio::task::JoinHandle<SippRun> {
    let folder = std::env::temp_dir().join(format!("flowd-bridge-trace-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let trace = folder.join(format!("{port}-{scenario_name}.log"));
    let _ = std::fs::remove_file(&trace);
    let mut command = Command::new("sipp");
    command
        .current_dir(&folder)
        .args(["-sf", &scenario(scenario_name)])
        .args(["-m", "1", "-l", "1"])
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mp", &media.to_string()])
        .args(["-trace_msg", "-message_file", &trace.display().to_string()])
        .args(["-timeout", "60s", "-nostdin", "-t", "u1"])
        .args(["-d", &pause.as_millis().to_string()]);
    for (key, value) in keys {
        command.args(["-key", key, value]);
    }
    if let Some(remote) = remote {
        command.args(["-s", SERVICE]).arg(remote.to_string());
    }
    tokio::task::spawn_blocking(move || {
        let output = command.output().unwrap_or_else(|error| {
            panic!("cannot run `sipp` ({error}); install it with `apt-get install sip-tester`")
        });
        let messages = std::fs::read_to_string(&trace).unwrap_or_default();
        let _ = std::fs::remove_file(&trace);
        SippRun {
            success: output.status.success(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
            messages,
        }
    })
}

/// Starts the agent's SIPp answering in `codec` (`PCMU` or `PCMA`).
fn spawn_agent(
    scenario_name: &str,
    ports: Ports,
    codec: &str,
    pause: Duration,
) -> tokio::task::JoinHandle<SippRun> {
    let payload_type = if codec == "PCMA" { "8" } else { "0" };
    let keys = [
        ("agent_rtp", ports.agent_rtp().to_string()),
        ("agent_pt", payload_type.to_string()),
        ("agent_codec", codec.to_string()),
    ];
    spawn_sipp(
        scenario_name,
        ports.agent_sip(),
        ports.agent_media(),
        None,
        &keys,
        pause,
    )
}

/// Starts the caller's SIPp, which hangs up after `pause` in
/// `caller_bye.xml` or waits for flowd's BYE in `caller_await_bye.xml`.
fn spawn_caller(
    scenario_name: &str,
    flowd: &Flowd,
    ports: Ports,
    pause: Duration,
) -> tokio::task::JoinHandle<SippRun> {
    let keys = [
        ("rtp_port", ports.caller_rtp().to_string()),
        ("caller", CALLER.to_string()),
    ];
    spawn_sipp(
        scenario_name,
        ports.caller_sip(),
        ports.caller_media(),
        Some(flowd.udp),
        &keys,
        pause,
    )
}

/// The audio an RTP peer of the test received.
#[derive(Debug, Default)]
struct PeerAudio {
    packets: usize,
    /// Packets with a byte other than the codec's silence.
    loud: usize,
}

/// Runs an RTP peer on `port`: every packet from flowd is answered with a
/// packet of `code` bytes in `payload_type`, sent back to its source,
/// until the returned sender is dropped.
async fn rtp_peer(
    port: u16,
    payload_type: u8,
    code: u8,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<PeerAudio>,
) {
    let socket = UdpSocket::bind(("127.0.0.1", port)).await.unwrap();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut audio = PeerAudio::default();
        let mut buffer = vec![0u8; 2048];
        let mut sequence: u16 = 1;
        let mut timestamp: u32 = 1000;
        loop {
            let (length, from) = tokio::select! {
                received = socket.recv_from(&mut buffer) => match received {
                    Ok(received) => received,
                    Err(_) => continue,
                },
                _ = &mut stopped => return audio,
            };
            let datagram = &buffer[..length];
            if length < 12 || datagram[0] >> 6 != 2 {
                continue;
            }
            let received_type = datagram[1] & 0x7f;
            // RTCP and telephone-events are not audio.
            if (72..=76).contains(&received_type) || received_type > 34 {
                continue;
            }
            let csrc = usize::from(datagram[0] & 0x0f) * 4;
            let payload = &datagram[(12 + csrc).min(length)..];
            let silence = if received_type == 8 { 0xd5 } else { 0xff };
            audio.packets += 1;
            if payload.iter().any(|&byte| byte != silence) {
                audio.loud += 1;
            }
            let mut packet = vec![0x80, payload_type];
            packet.extend_from_slice(&sequence.to_be_bytes());
            packet.extend_from_slice(&timestamp.to_be_bytes());
            packet.extend_from_slice(&0x7e57_u32.to_be_bytes());
            packet.extend(std::iter::repeat_n(code, 160));
            let _ = socket.send_to(&packet, from).await;
            sequence = sequence.wrapping_add(1);
            timestamp = timestamp.wrapping_add(160);
        }
    });
    (stop, task)
}

async fn finish_peer(
    peer: (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<PeerAudio>,
    ),
) -> PeerAudio {
    let _ = peer.0.send(());
    peer.1.await.unwrap()
}

async fn joined(task: tokio::task::JoinHandle<SippRun>) -> SippRun {
    tokio::time::timeout(PATIENCE * 2, task)
        .await
        .expect("SIPp did not end")
        .unwrap()
}

/// Returns the INVITE flowd sent, from the agent SIPp's message trace.
fn received_invite(messages: &str) -> &str {
    let start = messages
        .find("INVITE sip:")
        .unwrap_or_else(|| panic!("no INVITE in the agent's trace:\n{messages}"));
    let rest = &messages[start..];
    let end = rest
        .find("\r\n\r\n")
        .or_else(|| rest.find("\n\n"))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Returns the left and right channels of a 16-bit stereo WAV file.
fn stereo_channels(path: &Path) -> (Vec<i16>, Vec<i16>) {
    let mut reader = hound::WavReader::open(path).unwrap();
    assert_eq!(
        reader.spec().channels,
        2,
        "{} is not stereo",
        path.display()
    );
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    let left = samples.iter().step_by(2).copied().collect();
    let right = samples.iter().skip(1).step_by(2).copied().collect();
    (left, right)
}

fn loud_samples(channel: &[i16]) -> usize {
    channel
        .iter()
        .filter(|sample| sample.unsigned_abs() > 1000)
        .count()
}

async fn answered_call(ports: Ports, agent_codec: &str, name: &str) {
    let mut flowd = Flowd::start(name, ports).await;
    let agent_type = if agent_codec == "PCMA" { 8 } else { 0 };
    let agent_peer = rtp_peer(ports.agent_rtp(), agent_type, 0x25).await;
    let caller_peer = rtp_peer(ports.caller_rtp(), 0, 0x1a).await;
    let agent = spawn_agent("agent_answer.xml", ports, agent_codec, Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller = spawn_caller("caller_bye.xml", &flowd, ports, Duration::from_secs(3));

    joined(caller).await.assert_success("caller");
    let agent = joined(agent).await;
    agent.assert_success("agent");
    let record = flowd.next_record().await;
    assert_eq!(record.status, 200);
    assert_eq!(record.ended_by, Some(Party::Caller));
    flowd.wait_idle().await;
    let agent_audio = finish_peer(agent_peer).await;
    let caller_audio = finish_peer(caller_peer).await;
    assert!(
        agent_audio.loud > 20,
        "the agent heard too little of the caller: {agent_audio:?}"
    );
    assert!(
        caller_audio.loud > 20,
        "the caller heard too little of the agent: {caller_audio:?}"
    );

    let invite = received_invite(&agent.messages);
    assert!(
        invite.contains(&format!(
            "P-Asserted-Identity: \"{CALLER}\" <sip:{CALLER}@127.0.0.1>"
        )),
        "no P-Asserted-Identity with the caller's number:\n{invite}"
    );
    assert!(
        invite.contains(&format!("From: \"{CALLER}\" <sip:{CALLER}@127.0.0.1>;tag=")),
        "the From is not the caller's:\n{invite}"
    );
    assert!(
        !invite.contains("Privacy:"),
        "Privacy on a public caller:\n{invite}"
    );
    assert!(
        invite.contains("X-Tok-Call-Id: "),
        "no X-Tok-Call-Id:\n{invite}"
    );

    let row = flowd.store.call(&record.call_id).await.unwrap().unwrap();
    let roles: Vec<&str> = row.legs.iter().map(|leg| leg.role.as_str()).collect();
    assert_eq!(roles, vec!["caller", "agent"]);
    let agent_leg = &row.legs[1];
    assert_eq!(agent_leg.codec.as_deref(), Some(agent_codec));
    assert!(agent_leg.answered_at.is_some());
    assert!(agent_leg.ended_at.is_some());
    assert!(agent_leg.to.contains(";tag="), "{agent_leg:?}");

    let recordings = flowd.recordings();
    assert_eq!(recordings.len(), 1, "recordings: {recordings:?}");
    let (left, right) = stereo_channels(&recordings[0]);
    assert_eq!(left.len(), right.len());
    assert!(loud_samples(&left) > 8000, "the caller's channel is silent");
    assert!(loud_samples(&right) > 8000, "the agent's channel is silent");
    assert_eq!(flowd.server.stats().panics(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_flows_both_ways() {
    answered_call(Ports { base: 24300 }, "PCMU", "audio").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pcma_agent_is_transcoded() {
    answered_call(Ports { base: 24460 }, "PCMA", "pcma").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_hangs_up_first() {
    let ports = Ports { base: 24340 };
    let mut flowd = Flowd::start("agent-bye", ports).await;
    let agent = spawn_agent("agent_bye.xml", ports, "PCMU", Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller = spawn_caller("caller_await_bye.xml", &flowd, ports, Duration::ZERO);
    joined(agent).await.assert_success("agent");
    // The caller's scenario ends only after flowd's BYE.
    joined(caller).await.assert_success("caller");
    let record = flowd.next_record().await;
    assert_eq!(record.ended_by, Some(Party::Flowd));
    flowd.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_agent_leaves_caller_in_flow() {
    let ports = Ports { base: 24360 };
    let mut flowd = Flowd::start("busy", ports).await;
    let agent = spawn_agent("agent_busy.xml", ports, "PCMU", Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller = spawn_caller("caller_await_bye.xml", &flowd, ports, Duration::ZERO);
    // The agent's scenario ends only after the ACK of its 486.
    joined(agent).await.assert_success("agent");
    joined(caller).await.assert_success("caller");
    let record = flowd.next_record().await;
    assert_eq!(record.status, 200);
    assert_eq!(record.ended_by, Some(Party::Flowd));
    flowd.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_hangs_up_while_agent_rings() {
    let ports = Ports { base: 24400 };
    let mut flowd = Flowd::start("abandon", ports).await;
    let agent = spawn_agent("agent_no_answer.xml", ports, "PCMU", Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller = spawn_caller("caller_bye.xml", &flowd, ports, Duration::from_secs(2));
    joined(caller).await.assert_success("caller");
    // The agent's scenario ends only after CANCEL and the ACK of its 487.
    joined(agent).await.assert_success("agent");
    let record = flowd.next_record().await;
    assert_eq!(record.ended_by, Some(Party::Caller));
    flowd.wait_idle().await;
}

fn dial_request(agent_sip: u16, caller: LegIdentity, ring_timeout: Duration) -> DialRequest {
    DialRequest {
        uri: format!("sip:agent@127.0.0.1:{agent_sip}"),
        destination: None,
        caller,
        ring_timeout,
        headers: vec![(String::from("X-Tok-Queue"), String::from("support"))],
        parent_call_id: String::from("parent-call"),
    }
}

async fn next_leg_event(leg: &mut OutboundLeg) -> LegEvent {
    tokio::time::timeout(PATIENCE, leg.next_event())
        .await
        .expect("no leg event")
}

fn public_caller() -> LegIdentity {
    LegIdentity {
        number: Some(CALLER.to_string()),
        display: Some(String::from("Ana Novak")),
        private: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_timeout_cancels_leg() {
    let ports = Ports { base: 24380 };
    let flowd = Flowd::start("no-answer", ports).await;
    let agent = spawn_agent("agent_no_answer.xml", ports, "PCMU", Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let request = dial_request(ports.agent_sip(), public_caller(), Duration::from_secs(2));
    let mut leg = OutboundLeg::dial(&flowd.server.leg_context(), request)
        .await
        .unwrap();
    assert_eq!(next_leg_event(&mut leg).await, LegEvent::Ringing);
    assert_eq!(next_leg_event(&mut leg).await, LegEvent::Timeout);
    let agent = joined(agent).await;
    agent.assert_success("agent");
    let invite = received_invite(&agent.messages);
    assert!(invite.contains("X-Tok-Queue: support"), "{invite}");
    assert!(
        invite.contains(&format!(
            "P-Asserted-Identity: \"Ana Novak\" <sip:{CALLER}@127.0.0.1>"
        )),
        "{invite}"
    );
    drop(leg);
    flowd.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answer_crossing_cancel_gets_bye() {
    let ports = Ports { base: 24420 };
    let flowd = Flowd::start("cross", ports).await;
    let agent = spawn_agent("agent_cross.xml", ports, "PCMU", Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let request = dial_request(ports.agent_sip(), public_caller(), Duration::from_secs(30));
    let mut leg = OutboundLeg::dial(&flowd.server.leg_context(), request)
        .await
        .unwrap();
    assert_eq!(next_leg_event(&mut leg).await, LegEvent::Ringing);
    tokio::time::timeout(PATIENCE, leg.cancel()).await.unwrap();
    // The agent's scenario ends only after the ACK and the BYE.
    joined(agent).await.assert_success("agent");
    drop(leg);
    flowd.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_caller_is_anonymous() {
    let ports = Ports { base: 24440 };
    let flowd = Flowd::start("private", ports).await;
    let agent = spawn_agent("agent_busy.xml", ports, "PCMU", Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let caller = LegIdentity {
        number: Some(CALLER.to_string()),
        display: None,
        private: true,
    };
    let request = dial_request(ports.agent_sip(), caller, Duration::from_secs(30));
    let mut leg = OutboundLeg::dial(&flowd.server.leg_context(), request)
        .await
        .unwrap();
    let event = next_leg_event(&mut leg).await;
    assert_eq!(
        event,
        LegEvent::Rejected {
            status: 486,
            reason: String::from("Busy Here")
        }
    );
    let agent = joined(agent).await;
    agent.assert_success("agent");
    let invite = received_invite(&agent.messages);
    assert!(
        invite.contains("From: \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag="),
        "{invite}"
    );
    assert!(
        invite.contains(&format!("P-Asserted-Identity: <sip:{CALLER}@127.0.0.1>")),
        "{invite}"
    );
    assert!(invite.contains("Privacy: id"), "{invite}");
    drop(leg);
    flowd.wait_idle().await;
}

/// A SIP peer written out by hand, for what SIPp cannot show: how often
/// flowd sends a request and with which branch.
struct RawPeer {
    socket: UdpSocket,
}

impl RawPeer {
    async fn bind(port: u16) -> RawPeer {
        RawPeer {
            socket: UdpSocket::bind(("127.0.0.1", port)).await.unwrap(),
        }
    }

    /// Receives the next SIP message and its source.
    async fn receive(&self) -> (String, SocketAddr) {
        let mut buffer = vec![0u8; 8192];
        let (length, from) = tokio::time::timeout(PATIENCE, self.socket.recv_from(&mut buffer))
            .await
            .expect("no SIP message from flowd")
            .unwrap();
        (
            String::from_utf8_lossy(&buffer[..length]).into_owned(),
            from,
        )
    }

    /// Sends a response to `request` with `status`, a To tag, and for a
    /// 2xx a Contact and an SDP answer.
    async fn respond(&self, request: &str, status: &str, to: SocketAddr) {
        let mut text = format!("SIP/2.0 {status}\r\n");
        for name in ["Via", "From", "Call-ID", "CSeq"] {
            text.push_str(&format!("{name}: {}\r\n", header(request, name)));
        }
        text.push_str(&format!("To: {};tag=raw1\r\n", header(request, "To")));
        let body = if status.starts_with('2') {
            let port = self.socket.local_addr().unwrap().port();
            text.push_str(&format!("Contact: <sip:agent@127.0.0.1:{port}>\r\n"));
            text.push_str("Content-Type: application/sdp\r\n");
            "v=0\r\no=agent 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        } else {
            ""
        };
        text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        self.socket.send_to(text.as_bytes(), to).await.unwrap();
    }
}

/// Returns the value of the first header `name` of a SIP message.
fn header<'a>(message: &'a str, name: &str) -> &'a str {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    message
        .lines()
        .find(|line| line.to_ascii_lowercase().starts_with(&prefix))
        .map(|line| line[prefix.len()..].trim())
        .unwrap_or_else(|| panic!("no {name} in:\n{message}"))
}

fn method(message: &str) -> &str {
    message.split(' ').next().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_retransmitted_and_2xx_reacked() {
    let ports = Ports { base: 24480 };
    let flowd = Flowd::start("raw", ports).await;
    let agent = RawPeer::bind(ports.agent_sip()).await;
    let request = dial_request(ports.agent_sip(), public_caller(), Duration::from_secs(30));
    let mut leg = OutboundLeg::dial(&flowd.server.leg_context(), request)
        .await
        .unwrap();

    // Timer A: the INVITE comes again, with the same branch.
    let (invite, from) = agent.receive().await;
    let (again, _) = agent.receive().await;
    assert_eq!(method(&invite), "INVITE");
    assert_eq!(method(&again), "INVITE");
    assert_eq!(header(&invite, "Via"), header(&again, "Via"));

    agent.respond(&invite, "180 Ringing", from).await;
    assert_eq!(next_leg_event(&mut leg).await, LegEvent::Ringing);
    agent.respond(&invite, "200 OK", from).await;
    assert_eq!(next_leg_event(&mut leg).await, LegEvent::Answered);
    let (ack, _) = agent.receive().await;
    assert_eq!(method(&ack), "ACK");
    assert_eq!(header(&ack, "CSeq"), "1 ACK");
    assert!(header(&ack, "To").ends_with(";tag=raw1"));
    assert_ne!(header(&ack, "Via"), header(&invite, "Via"));

    // A copy of the 2xx gets the same ACK again.
    agent.respond(&invite, "200 OK", from).await;
    let resent = tokio::time::timeout(Duration::from_millis(500), leg.next_event()).await;
    assert!(
        resent.is_err(),
        "a copy of the 2xx made an event: {resent:?}"
    );
    let (second_ack, _) = agent.receive().await;
    assert_eq!(method(&second_ack), "ACK");
    assert_eq!(header(&second_ack, "Via"), header(&ack, "Via"));

    let hangup = tokio::spawn(async move {
        leg.hangup().await;
        leg
    });
    let (bye, from) = agent.receive().await;
    assert_eq!(method(&bye), "BYE");
    assert!(bye.starts_with(&format!("BYE sip:agent@127.0.0.1:{} ", ports.agent_sip())));
    assert_eq!(header(&bye, "CSeq"), "2 BYE");
    agent.respond(&bye, "200 OK", from).await;
    let leg = tokio::time::timeout(PATIENCE, hangup)
        .await
        .unwrap()
        .unwrap();
    drop(leg);
    flowd.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_invite_fails_after_timer_b() {
    // The ports of the test above that it leaves unused.
    let agent_sip = 24481;
    // Timer B is 64*T1: 3.2 s here.
    let t1 = Duration::from_millis(50);
    let flowd = Flowd::start_with("timer-b", agent_sip, 24484..=24491, t1).await;
    let agent = RawPeer::bind(agent_sip).await;
    let request = dial_request(agent_sip, public_caller(), Duration::from_secs(60));
    let mut leg = OutboundLeg::dial(&flowd.server.leg_context(), request)
        .await
        .unwrap();
    let (invite, _) = agent.receive().await;
    assert_eq!(method(&invite), "INVITE");
    let event = next_leg_event(&mut leg).await;
    assert!(
        matches!(event, LegEvent::Failed(_)),
        "expected a failure after timer B, got {event:?}"
    );
    drop(leg);
    flowd.wait_idle().await;
}

fn negotiated(remote: SocketAddr, codec: Codec) -> Negotiated {
    Negotiated {
        codec,
        payload_type: codec.static_payload_type(),
        telephone_event: None,
        ptime_ms: 20,
        remote: Some(remote),
        direction: Direction::SendRecv,
    }
}

/// Receives RTP on `socket` until a packet's payload is all `code`.
async fn wait_for_code(socket: &UdpSocket, code: u8) {
    let mut buffer = vec![0u8; 2048];
    let found = async {
        loop {
            let (length, _) = socket.recv_from(&mut buffer).await.unwrap();
            let payload = &buffer[12.min(length)..length];
            if !payload.is_empty() && payload.iter().all(|&byte| byte == code) {
                return;
            }
        }
    };
    tokio::time::timeout(PATIENCE, found)
        .await
        .unwrap_or_else(|_| panic!("no packet of code {code:#04x}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbridge_resumes_music() {
    // The ports of the first test's block that it leaves unused.
    let pool = PortPool::new(24316..=24319).unwrap();
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    let mut caller = MediaSession::start(&pool, ip).unwrap();
    let agent = MediaSession::start(&pool, ip).unwrap();
    let caller_phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let agent_phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    caller
        .configure(negotiated(caller_phone.local_addr().unwrap(), Codec::Pcmu))
        .unwrap();
    agent
        .configure(negotiated(agent_phone.local_addr().unwrap(), Codec::Pcma))
        .unwrap();
    let music = Arc::new(Prompt::from_samples("music", &[3000; 8000]));
    caller.play_music(music).unwrap();
    let music_code = Codec::Pcmu.encode(3000);
    wait_for_code(&caller_phone, music_code).await;

    // The agent speaks PCMA; the caller hears it in PCMU.
    let bridged = bridge(&caller, &agent);
    let agent_code = Codec::Pcma.encode(-5000);
    let transcoded = Codec::Pcmu.encode(Codec::Pcma.decode(agent_code));
    let agent_rtp = agent.local_addr();
    let speaking = tokio::spawn(async move {
        for sequence in 0u16..2000 {
            let mut packet = vec![0x80, 8];
            packet.extend_from_slice(&sequence.to_be_bytes());
            packet.extend_from_slice(&(u32::from(sequence) * 160).to_be_bytes());
            packet.extend_from_slice(&0xa6e7_u32.to_be_bytes());
            packet.extend(std::iter::repeat_n(agent_code, 160));
            let _ = agent_phone.send_to(&packet, agent_rtp).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    wait_for_code(&caller_phone, transcoded).await;

    // Unbridged, the caller hears the music again while the agent goes
    // on sending.
    bridged.unbridge();
    wait_for_code(&caller_phone, music_code).await;
    speaking.abort();
    caller.finish().await.unwrap();
    agent.finish().await.unwrap();
}
