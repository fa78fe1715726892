//! The media of one call: a tokio task that owns the call's RTP and RTCP
//! sockets, sends a continuous paced stream (prompts, music on hold or
//! comfort silence), receives RTP, turns telephone-events into keys, and
//! records on request: the caller alone for voicemail, and the call in
//! stereo (caller left, what flowd sends right).
//!
//! The call's task drives it through [`MediaSession`] commands and reads
//! [`MediaEvent`]s. Dropping the handle ends the task at its next wake-up,
//! and the task's end releases its port pair.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flowc::bytecode::Key;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::bridge::Relay;
use super::dtmf::EventReceiver;
use super::g711::{CLOCK_RATE, Codec};
use super::ports::{BoundPorts, PortError, PortPool};
use super::prompt::{Playback, Prompt};
use super::record::Recorder;
use super::rtp::{self, Pacer, RtpPacket, RtpSender, Tick};
use super::sdp::{DEFAULT_PTIME_MS, Negotiated};

/// Events buffered for the call's task; more are dropped and counted.
const EVENT_CAPACITY: usize = 64;
/// Slots a late sender may catch up in a burst before it skips instead.
const MAX_LAG_SLOTS: u64 = 5;
/// Receive buffer for RTP, in bytes: a G.711 packet of up to 500 ms fits.
/// It is allocated per call, so it is kept far below the 64 KB UDP limit.
const RTP_BUFFER: usize = 4096;
/// Receive buffer for RTCP, in bytes; RTCP is read only to be discarded, so
/// a longer datagram is truncated without harm.
const RTCP_BUFFER: usize = 512;

/// A request from the call's task to the media task.
#[derive(Debug)]
enum Command {
    Configure(Negotiated),
    Play {
        id: u64,
        playback: Playback,
        barge_in: bool,
    },
    Stop,
    Key(Key),
    Record(PathBuf),
    StopRecording,
    RecordCall(PathBuf),
    PauseCallRecording(bool),
    StopCallRecording,
    WatchInactivity(InactivityLimits),
    Relay(Option<Relay>),
}

/// A way to bridge or unbridge a session that does not keep its task
/// alive: [`MediaSession::finish`] still ends the task while a bridge
/// exists.
#[derive(Debug)]
pub(super) struct RelayHandle(mpsc::WeakUnboundedSender<Command>);

impl RelayHandle {
    /// Starts relaying through `relay`, or stops with `None`. Does
    /// nothing once the task has ended.
    pub(super) fn set(&self, relay: Option<Relay>) {
        if let Some(commands) = self.0.upgrade() {
            let _ = commands.send(Command::Relay(relay));
        }
    }
}

/// How long the caller may send neither RTP nor RTCP; `None` turns the
/// check off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InactivityLimits {
    /// While flowd sends RTP to the caller.
    pub active: Option<Duration>,
    /// While the caller has put the call on hold, so flowd sends nothing.
    pub hold: Option<Duration>,
}

/// A report from the media task to the call's task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaEvent {
    /// The caller pressed a key (RFC 4733 or SIP INFO).
    Key(Key),
    /// A playback ended: played to the end, or stopped by a key (barge-in),
    /// by [`MediaSession::stop_playback`] or by a newer playback.
    PlaybackEnded {
        /// The id [`MediaSession::play`] returned.
        id: u64,
        /// True when it was stopped before the end.
        interrupted: bool,
    },
    /// A recording was completed and its file closed.
    RecordingEnded {
        /// The WAV file.
        path: PathBuf,
        /// Samples recorded, at 8000 per second.
        samples: u64,
    },
    /// Writing a recording failed; the recording is stopped.
    RecordingFailed {
        /// The WAV file.
        path: PathBuf,
        /// What failed.
        error: String,
    },
    /// Neither RTP nor RTCP came from the caller for the limit set with
    /// [`MediaSession::watch_inactivity`]. Reported once.
    Inactive {
        /// How long nothing came.
        silent: Duration,
        /// Whether the call was on hold.
        on_hold: bool,
    },
}

/// Counters of one media task, returned when it ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MediaStats {
    /// RTP packets sent.
    pub packets_sent: u64,
    /// RTP packets received, telephone-events included.
    pub packets_received: u64,
    /// Datagrams on the RTP port that were not valid RTP.
    pub invalid_packets: u64,
    /// Keys reported.
    pub keys: u64,
    /// Events dropped because the call's task did not read them.
    pub events_dropped: u64,
    /// Sends that failed.
    pub send_errors: u64,
}

/// The media task has ended, so the command was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the call's media task has ended")]
pub struct MediaClosed;

/// The call's handle on its media task.
#[derive(Debug)]
pub struct MediaSession {
    local: SocketAddr,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::Receiver<MediaEvent>,
    task: JoinHandle<MediaStats>,
    next_play_id: u64,
}

impl MediaSession {
    /// Binds a port pair from `pool` on `ip` and starts the media task. It
    /// sends nothing until [`configure`](Self::configure) gives it a peer.
    /// Must run inside a tokio runtime.
    pub fn start(pool: &PortPool, ip: IpAddr) -> Result<MediaSession, PortError> {
        let ports = pool.bind(ip)?;
        let local = SocketAddr::new(ip, ports.lease.port());
        let (command_sender, commands) = mpsc::unbounded_channel();
        let (event_sender, events) = mpsc::channel(EVENT_CAPACITY);
        let task = MediaTask::new(ports, commands, event_sender);
        Ok(MediaSession {
            local,
            commands: command_sender,
            events,
            // The task logs in the caller's span, so its lines carry the call-id.
            task: tokio::spawn(tracing::Instrument::in_current_span(task.run())),
            next_play_id: 0,
        })
    }

    /// Returns the local RTP address; RTCP is on the port above.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Sets or changes the negotiated stream (after an answer, a re-INVITE
    /// or an UPDATE). Sequence numbers and timestamps continue.
    pub fn configure(&self, negotiated: Negotiated) -> Result<(), MediaClosed> {
        self.send(Command::Configure(negotiated))
    }

    /// Plays prompts in order, replacing any current playback, and returns
    /// the id its [`MediaEvent::PlaybackEnded`] will carry. With `barge_in`,
    /// a key stops it at the next frame.
    pub fn play(&mut self, prompts: Vec<Arc<Prompt>>, barge_in: bool) -> Result<u64, MediaClosed> {
        self.start_playback(Playback::new(prompts), barge_in)
    }

    /// Loops `music` until stopped or replaced; keys do not stop it.
    pub fn play_music(&mut self, music: Arc<Prompt>) -> Result<u64, MediaClosed> {
        self.start_playback(Playback::looping(music), false)
    }

    fn start_playback(&mut self, playback: Playback, barge_in: bool) -> Result<u64, MediaClosed> {
        self.next_play_id += 1;
        let id = self.next_play_id;
        self.send(Command::Play {
            id,
            playback,
            barge_in,
        })?;
        Ok(id)
    }

    /// Stops the current playback at the next frame.
    pub fn stop_playback(&self) -> Result<(), MediaClosed> {
        self.send(Command::Stop)
    }

    /// Feeds a key received by SIP INFO, handled like an RFC 4733 key.
    pub fn key(&self, key: Key) -> Result<(), MediaClosed> {
        self.send(Command::Key(key))
    }

    /// Starts recording the caller to a WAV file, ending any recording in
    /// progress.
    pub fn record(&self, path: PathBuf) -> Result<(), MediaClosed> {
        self.send(Command::Record(path))
    }

    /// Starts the call recording: a stereo WAV file with the caller on the
    /// left and what flowd sends on the right, ending any call recording
    /// in progress. It runs beside a voicemail recording.
    pub fn record_call(&self, path: PathBuf) -> Result<(), MediaClosed> {
        self.send(Command::RecordCall(path))
    }

    /// Pauses (true) or resumes (false) the call recording; paused time is
    /// left out of the file.
    pub fn pause_call_recording(&self, paused: bool) -> Result<(), MediaClosed> {
        self.send(Command::PauseCallRecording(paused))
    }

    /// Ends the call recording; [`MediaEvent::RecordingEnded`] follows.
    pub fn stop_call_recording(&self) -> Result<(), MediaClosed> {
        self.send(Command::StopCallRecording)
    }

    /// Reports [`MediaEvent::Inactive`] once the caller sends neither RTP
    /// nor RTCP for the limit of the current mode. The silence is counted
    /// from the last datagram, the last negotiation or this call, whichever
    /// is latest.
    pub fn watch_inactivity(&self, limits: InactivityLimits) -> Result<(), MediaClosed> {
        self.send(Command::WatchInactivity(limits))
    }

    /// Ends the recording; [`MediaEvent::RecordingEnded`] follows.
    pub fn stop_recording(&self) -> Result<(), MediaClosed> {
        self.send(Command::StopRecording)
    }

    /// Waits for the next event; `None` once the task has ended.
    pub async fn next_event(&mut self) -> Option<MediaEvent> {
        self.events.recv().await
    }

    /// Ends the task, completing any recording, and returns its counters.
    pub async fn finish(self) -> Result<MediaStats, tokio::task::JoinError> {
        drop(self.commands);
        self.task.await
    }

    /// Ends the task at once; a recording in progress is closed by drop.
    pub fn abort(&self) {
        self.task.abort();
    }

    pub(super) fn relay_handle(&self) -> RelayHandle {
        RelayHandle(self.commands.downgrade())
    }

    fn send(&self, command: Command) -> Result<(), MediaClosed> {
        self.commands.send(command).map_err(|_| MediaClosed)
    }
}

/// The current playback and whether a key stops it.
struct Playing {
    id: u64,
    playback: Playback,
    barge_in: bool,
}

/// The source that woke the task.
enum Wake {
    Command(Option<Command>),
    Due,
    Rtp(std::io::Result<(usize, SocketAddr)>),
    Rtcp,
    Silent,
}

struct MediaTask {
    ports: BoundPorts,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<MediaEvent>,
    stream: Option<Negotiated>,
    sender: RtpSender,
    pacer: Pacer,
    schedule_start: Instant,
    was_sending: bool,
    playing: Option<Playing>,
    dtmf: EventReceiver,
    recorder: Option<Recorder>,
    call_recorder: Option<Recorder>,
    stats: MediaStats,
    frame: Vec<u8>,
    packet: Vec<u8>,
    inactivity: Option<InactivityLimits>,
    /// When the caller last sent RTP or RTCP, or the stream last changed.
    last_heard: Instant,
    /// The bridge this session is in, if any.
    relay: Option<Relay>,
    /// Linear samples, reused for relayed audio.
    samples: Vec<i16>,
}

impl MediaTask {
    fn new(
        ports: BoundPorts,
        commands: mpsc::UnboundedReceiver<Command>,
        events: mpsc::Sender<MediaEvent>,
    ) -> MediaTask {
        let identity = random_u64();
        let ptime_ms = DEFAULT_PTIME_MS;
        MediaTask {
            ports,
            commands,
            events,
            stream: None,
            // RFC 3550 section 5.1: random SSRC, sequence and timestamp.
            sender: RtpSender::new(
                identity as u32,
                (identity >> 32) as u16,
                random_u64() as u32,
                samples_for(ptime_ms),
            ),
            pacer: Pacer::new(Duration::from_millis(u64::from(ptime_ms)), MAX_LAG_SLOTS),
            schedule_start: Instant::now(),
            was_sending: false,
            playing: None,
            dtmf: EventReceiver::new(),
            recorder: None,
            call_recorder: None,
            stats: MediaStats::default(),
            frame: Vec::new(),
            packet: Vec::new(),
            inactivity: None,
            last_heard: Instant::now(),
            relay: None,
            samples: Vec::new(),
        }
    }

    /// Returns whether the caller has put the call on hold: a stream is negotiated
    /// but flowd sends nothing on it (sendonly or 0.0.0.0 from the caller).
    fn on_hold(&self) -> bool {
        self.stream.as_ref().is_some_and(|stream| !stream.sends())
    }

    /// Returns when the caller counts as gone, if the check is on.
    fn silence_deadline(&self) -> Option<Instant> {
        let limits = self.inactivity?;
        let limit = if self.on_hold() {
            limits.hold
        } else {
            limits.active
        };
        Some(self.last_heard + limit?)
    }

    async fn run(mut self) -> MediaStats {
        let mut datagram = vec![0u8; RTP_BUFFER];
        let mut rtcp = vec![0u8; RTCP_BUFFER];
        loop {
            let due = match self.pacer.tick(self.schedule_start.elapsed()) {
                Tick::Send(slot) => {
                    self.send_slot(slot).await;
                    continue;
                }
                Tick::Wait(offset) => self.schedule_start + offset,
            };
            let silence_deadline = self.silence_deadline();
            let silent = async {
                match silence_deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            let wake = tokio::select! {
                command = self.commands.recv() => Wake::Command(command),
                () = tokio::time::sleep_until(due) => Wake::Due,
                received = self.ports.rtp.recv_from(&mut datagram) => Wake::Rtp(received),
                _ = self.ports.rtcp.recv_from(&mut rtcp) => Wake::Rtcp,
                () = silent => Wake::Silent,
            };
            match wake {
                Wake::Command(Some(command)) => self.handle(command),
                Wake::Command(None) => break,
                Wake::Due => {}
                Wake::Rtcp => self.last_heard = Instant::now(),
                Wake::Silent => {
                    // NOTE: if the event queue is full the report is lost and
                    // the call is not ended by this check.
                    let on_hold = self.on_hold();
                    self.emit(MediaEvent::Inactive {
                        silent: self.last_heard.elapsed(),
                        on_hold,
                    });
                    self.inactivity = None;
                }
                Wake::Rtp(Ok((len, _from))) => {
                    self.last_heard = Instant::now();
                    if let Some(received) = datagram.get(..len) {
                        self.receive(received);
                    }
                }
                Wake::Rtp(Err(error)) => {
                    tracing::debug!(%error, port = self.ports.lease.port(), "rtp_receive_failed");
                }
            }
        }
        self.end_recording();
        self.end_call_recording();
        self.stats
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Configure(negotiated) => self.configure(negotiated),
            Command::Play {
                id,
                playback,
                barge_in,
            } => {
                self.interrupt_playback();
                self.playing = Some(Playing {
                    id,
                    playback,
                    barge_in,
                });
            }
            Command::Stop => self.interrupt_playback(),
            Command::Key(key) => self.key(key),
            Command::Record(path) => {
                self.end_recording();
                match Recorder::create(&path) {
                    Ok(recorder) => self.recorder = Some(recorder),
                    Err(error) => self.report_recording_error(path, &error),
                }
            }
            Command::StopRecording => self.end_recording(),
            Command::RecordCall(path) => {
                self.end_call_recording();
                match Recorder::create_stereo(&path) {
                    Ok(recorder) => self.call_recorder = Some(recorder),
                    Err(error) => self.report_recording_error(path, &error),
                }
            }
            Command::PauseCallRecording(paused) => {
                if let Some(recorder) = self.call_recorder.as_mut() {
                    recorder.set_paused(paused);
                }
            }
            Command::StopCallRecording => self.end_call_recording(),
            Command::WatchInactivity(limits) => {
                self.inactivity = Some(limits);
                self.last_heard = Instant::now();
            }
            Command::Relay(relay) => self.relay = relay,
        }
    }

    /// Applies a new negotiation. A new ptime restarts the schedule now,
    /// at the timestamp of the next slot, so timestamps stay continuous.
    fn configure(&mut self, negotiated: Negotiated) {
        self.last_heard = Instant::now();
        let samples = samples_for(negotiated.ptime_ms);
        if samples != self.sender.samples_per_packet() {
            let next_timestamp = self.sender.timestamp_of(self.pacer.next_slot());
            self.sender.restart(next_timestamp, samples);
            let ptime = Duration::from_millis(u64::from(negotiated.ptime_ms));
            self.pacer = Pacer::new(ptime, MAX_LAG_SLOTS);
            self.schedule_start = Instant::now();
        }
        self.stream = Some(negotiated);
    }

    async fn send_slot(&mut self, slot: u64) {
        let samples = self.sender.samples_per_packet() as usize;
        let codec = self
            .stream
            .as_ref()
            .map_or(Codec::Pcmu, |stream| stream.codec);
        match (self.relay.as_ref(), self.playing.as_mut()) {
            (Some(relay), _) => {
                // A bridged session sends the other side's audio; the
                // playback waits, unadvanced, until it is unbridged.
                relay.inbound.take(samples, &mut self.samples);
                self.frame.clear();
                codec.encode_into(&self.samples, &mut self.frame);
            }
            (None, Some(playing)) => playing.playback.next_frame(codec, samples, &mut self.frame),
            (None, None) => {
                self.frame.clear();
                self.frame.resize(samples, codec.silence());
            }
        }
        if let Some(recorder) = self.call_recorder.as_mut()
            && let Err(error) = recorder.push_sent(codec, &self.frame)
        {
            let path = recorder.path().to_owned();
            self.call_recorder = None;
            self.report_recording_error(path, &error);
        }
        if let Some(playing) = self
            .playing
            .take_if(|playing| playing.playback.is_finished())
        {
            self.emit(MediaEvent::PlaybackEnded {
                id: playing.id,
                interrupted: false,
            });
        }

        // NOTE: RTP goes to the address in the peer's SDP. A peer behind NAT
        // that sends from another address is not followed (no latching).
        let target = self
            .stream
            .as_ref()
            .filter(|stream| stream.sends())
            .and_then(|stream| Some((stream.remote?, stream.payload_type)));
        let Some((remote, payload_type)) = target else {
            self.was_sending = false;
            return;
        };
        if !self.was_sending {
            self.sender.mark_next();
            self.was_sending = true;
        }
        self.sender
            .write_packet(slot, payload_type, &self.frame, &mut self.packet);
        match self.ports.rtp.send_to(&self.packet, remote).await {
            Ok(_) => self.stats.packets_sent += 1,
            Err(error) => {
                self.stats.send_errors += 1;
                // One line per failure would flood the log at 50 packets a
                // second, so only the first failure of a call is logged.
                if self.stats.send_errors == 1 {
                    tracing::warn!(%error, %remote, "rtp_send_failed");
                }
            }
        }
    }

    fn receive(&mut self, datagram: &[u8]) {
        if rtp::is_rtcp(datagram) {
            return;
        }
        let Ok(packet) = RtpPacket::parse(datagram) else {
            self.stats.invalid_packets += 1;
            return;
        };
        self.stats.packets_received += 1;
        let Some(stream) = self.stream.as_ref() else {
            return;
        };
        if stream.telephone_event == Some(packet.payload_type) {
            match self.dtmf.receive(packet.timestamp, packet.payload) {
                Ok(Some(key)) => self.key(key),
                Ok(None) => {}
                Err(_) => self.stats.invalid_packets += 1,
            }
            return;
        }
        let codec = if packet.payload_type == stream.payload_type {
            Some(stream.codec)
        } else {
            match packet.payload_type {
                0 => Some(Codec::Pcmu),
                8 => Some(Codec::Pcma),
                _ => None,
            }
        };
        // NOTE: recording writes block this task while the BufWriter and the
        // once-a-second header update reach the disk; a slow disk delays the
        // call's outgoing packets.
        if let (Some(codec), Some(recorder)) = (codec, self.call_recorder.as_mut()) {
            recorder.push_caller(codec, packet.timestamp, packet.payload);
        }
        if let (Some(codec), Some(relay)) = (codec, self.relay.as_ref()) {
            self.samples.clear();
            codec.decode_into(packet.payload, &mut self.samples);
            relay.outbound.push(&self.samples);
        }
        if let (Some(codec), Some(recorder)) = (codec, self.recorder.as_mut())
            && let Err(error) = recorder.write_packet(codec, packet.timestamp, packet.payload)
        {
            let path = recorder.path().to_owned();
            self.recorder = None;
            self.report_recording_error(path, &error);
        }
    }

    fn key(&mut self, key: Key) {
        self.stats.keys += 1;
        self.emit(MediaEvent::Key(key));
        if self
            .playing
            .as_ref()
            .is_some_and(|playing| playing.barge_in)
        {
            self.interrupt_playback();
        }
    }

    fn interrupt_playback(&mut self) {
        if let Some(playing) = self.playing.take() {
            self.emit(MediaEvent::PlaybackEnded {
                id: playing.id,
                interrupted: true,
            });
        }
    }

    fn end_recording(&mut self) {
        let Some(recorder) = self.recorder.take() else {
            return;
        };
        let path = recorder.path().to_owned();
        match recorder.finish() {
            Ok((path, samples)) => self.emit(MediaEvent::RecordingEnded { path, samples }),
            Err(error) => self.report_recording_error(path, &error),
        }
    }

    fn end_call_recording(&mut self) {
        let Some(recorder) = self.call_recorder.take() else {
            return;
        };
        let path = recorder.path().to_owned();
        match recorder.finish() {
            Ok((path, samples)) => self.emit(MediaEvent::RecordingEnded { path, samples }),
            Err(error) => self.report_recording_error(path, &error),
        }
    }

    fn report_recording_error(&mut self, path: PathBuf, error: &hound::Error) {
        tracing::warn!(%error, path = %path.display(), "recording_failed");
        self.emit(MediaEvent::RecordingFailed {
            path,
            error: error.to_string(),
        });
    }

    fn emit(&mut self, event: MediaEvent) {
        if self.events.try_send(event).is_err() {
            self.stats.events_dropped += 1;
            if self.stats.events_dropped == 1 {
                tracing::warn!(port = self.ports.lease.port(), "media_event_dropped");
            }
        }
    }
}

/// Returns the samples in one packet of `ptime_ms` milliseconds.
fn samples_for(ptime_ms: u32) -> u32 {
    CLOCK_RATE / 1000 * ptime_ms
}

/// Returns a random number for SSRCs and initial sequence numbers. Not for
/// cryptography: it draws on the standard library's per-process hash keys.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}
