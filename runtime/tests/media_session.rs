//! The media task over real UDP sockets on 127.0.0.1: a test peer receives
//! and checks the RTP stream, and sends audio and RFC 4733 events.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use flowc::bytecode::Key;
use flowd::media::g711::Codec;
use flowd::media::ports::PortPool;
use flowd::media::prompt::{Prompt, PromptLibrary};
use flowd::media::rtp::{RtpHeader, RtpPacket};
use flowd::media::sdp::{Direction, Negotiated};
use flowd::media::session::{MediaEvent, MediaSession};
use tokio::net::UdpSocket;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// One received RTP packet, owned.
#[derive(Clone, Debug)]
struct Received {
    marker: bool,
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    payload: Vec<u8>,
}

/// The far end of a call: a UDP socket that records what arrives.
struct Peer {
    socket: UdpSocket,
    buffer: Vec<u8>,
}

impl Peer {
    async fn bind() -> Peer {
        Peer {
            socket: UdpSocket::bind((LOOPBACK, 0)).await.unwrap(),
            buffer: vec![0; 2048],
        }
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    async fn receive(&mut self) -> Received {
        let len = self.socket.recv(&mut self.buffer).await.unwrap();
        let packet = RtpPacket::parse(&self.buffer[..len]).unwrap();
        Received {
            marker: packet.marker,
            payload_type: packet.payload_type,
            sequence: packet.sequence,
            timestamp: packet.timestamp,
            ssrc: packet.ssrc,
            payload: packet.payload.to_vec(),
        }
    }

    async fn receive_many(&mut self, count: usize) -> Vec<Received> {
        let mut packets = Vec::with_capacity(count);
        for _ in 0..count {
            packets.push(self.receive().await);
        }
        packets
    }

    async fn send(&self, to: SocketAddr, header: RtpHeader, payload: &[u8]) {
        let mut datagram = Vec::new();
        header.write(&mut datagram);
        datagram.extend_from_slice(payload);
        self.socket.send_to(&datagram, to).await.unwrap();
    }

    /// Sends one key press as RFC 4733 packets: three updates, then the end
    /// packet three times, all with the event's start timestamp.
    async fn press(
        &self,
        to: SocketAddr,
        payload_type: u8,
        event: u8,
        timestamp: u32,
        sequence: &mut u16,
    ) {
        for (duration, end) in [
            (160u16, false),
            (320, false),
            (480, false),
            (640, true),
            (640, true),
            (640, true),
        ] {
            let [d0, d1] = duration.to_be_bytes();
            let flags = if end { 0x80 | 10 } else { 10 };
            let header = RtpHeader {
                marker: duration == 160,
                payload_type,
                sequence: *sequence,
                timestamp,
                ssrc: 0xCA11_E125,
            };
            self.send(to, header, &[event, flags, d0, d1]).await;
            *sequence = sequence.wrapping_add(1);
        }
    }
}

fn negotiated(remote: SocketAddr, codec: Codec, telephone_event: u8) -> Negotiated {
    Negotiated {
        codec,
        payload_type: codec.static_payload_type(),
        telephone_event: Some(telephone_event),
        ptime_ms: 20,
        remote: Some(remote),
        direction: Direction::SendRecv,
    }
}

fn prompts() -> PromptLibrary {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/prompts");
    PromptLibrary::load(&folder).unwrap()
}

fn prompt(name: &str) -> Arc<Prompt> {
    prompts().resolve(name, "en").unwrap()
}

/// Asserts that packets are one stream: same SSRC, sequence numbers one
/// apart, timestamps `samples` apart.
fn assert_continuous(packets: &[Received], samples: u32) {
    for pair in packets.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        assert_eq!(after.ssrc, before.ssrc);
        assert_eq!(
            after.sequence,
            before.sequence.wrapping_add(1),
            "{before:?} then {after:?}"
        );
        assert_eq!(
            after.timestamp,
            before.timestamp.wrapping_add(samples),
            "{before:?} then {after:?}"
        );
        assert!(!after.marker, "marker inside a stream: {after:?}");
    }
}

async fn next_event(session: &mut MediaSession) -> MediaEvent {
    session.next_event().await.unwrap()
}

#[tokio::test]
async fn prompt_plays_as_paced_rtp() {
    let pool = PortPool::new(31000..=31019).unwrap();
    let mut peer = Peer::bind().await;
    let mut session = MediaSession::start(&pool, LOOPBACK).unwrap();
    session
        .configure(negotiated(peer.addr(), Codec::Pcmu, 101))
        .unwrap();
    let welcome = prompt("welcome");
    let id = session.play(vec![welcome.clone()], false).unwrap();

    // Receive until the playback ends, then one more second of silence.
    let mut packets = Vec::new();
    loop {
        tokio::select! {
            packet = peer.receive() => packets.push(packet),
            event = next_event(&mut session) => {
                assert_eq!(event, MediaEvent::PlaybackEnded { id, interrupted: false });
                break;
            }
        }
    }
    packets.extend(peer.receive_many(50).await);

    assert!(
        packets[0].marker,
        "first packet has no marker: {:?}",
        packets[0]
    );
    assert_continuous(&packets, 160);
    assert!(packets.iter().all(|packet| packet.payload_type == 0));
    assert!(packets.iter().all(|packet| packet.payload.len() == 160));

    // The prompt's PCMU audio appears whole, starting on a frame boundary.
    let stream: Vec<u8> = packets
        .iter()
        .flat_map(|packet| packet.payload.clone())
        .collect();
    let audio = welcome.encoded(Codec::Pcmu);
    let start = (0..packets.len())
        .map(|frame| frame * 160)
        .find(|offset| stream[*offset..].starts_with(audio));
    let Some(start) = start else {
        panic!("prompt audio not found in {} packets", packets.len());
    };
    // Only comfort silence follows it.
    assert!(
        stream[start + audio.len()..]
            .iter()
            .all(|code| *code == 0xFF)
    );

    let stats = session.finish().await.unwrap();
    assert!(stats.packets_sent >= packets.len() as u64);
    assert_eq!(pool.in_use(), 0);
}

#[tokio::test]
async fn keys_once_per_event_on_any_payload_type() {
    let pool = PortPool::new(31020..=31039).unwrap();
    let peer = Peer::bind().await;
    let mut session = MediaSession::start(&pool, LOOPBACK).unwrap();
    session
        .configure(negotiated(peer.addr(), Codec::Pcma, 96))
        .unwrap();
    let media = session.local_addr();

    let mut sequence = 100;
    peer.press(media, 96, 1, 8000, &mut sequence).await;
    peer.press(media, 96, 11, 16000, &mut sequence).await;
    // A late copy of the first event's end packet.
    let header = RtpHeader {
        marker: false,
        payload_type: 96,
        sequence,
        timestamp: 8000,
        ssrc: 0xCA11_E125,
    };
    peer.send(media, header, &[1, 0x80 | 10, 2, 128]).await;
    sequence += 1;
    peer.press(media, 96, 5, 24000, &mut sequence).await;

    let key = |c| MediaEvent::Key(Key::new(c).unwrap());
    assert_eq!(next_event(&mut session).await, key('1'));
    assert_eq!(next_event(&mut session).await, key('#'));
    assert_eq!(next_event(&mut session).await, key('5'));

    // A key from SIP INFO arrives on the same event stream.
    session.key(Key::new('*').unwrap()).unwrap();
    assert_eq!(next_event(&mut session).await, key('*'));

    let stats = session.finish().await.unwrap();
    assert_eq!(stats.keys, 4);
    assert_eq!(stats.packets_received, 19);
}

#[tokio::test]
async fn key_stops_prompt_with_barge_in() {
    let pool = PortPool::new(31040..=31059).unwrap();
    let mut peer = Peer::bind().await;
    let mut session = MediaSession::start(&pool, LOOPBACK).unwrap();
    session
        .configure(negotiated(peer.addr(), Codec::Pcmu, 101))
        .unwrap();
    let long = prompt("callback-offer");
    assert!(long.duration_ms() > 2000);
    let id = session.play(vec![long], true).unwrap();

    // A second into the prompt, the caller presses 2.
    let before = peer.receive_many(50).await;
    assert!(
        before
            .iter()
            .any(|packet| packet.payload.iter().any(|code| *code != 0xFF))
    );
    let mut sequence = 1;
    peer.press(session.local_addr(), 101, 2, 4000, &mut sequence)
        .await;

    assert_eq!(
        next_event(&mut session).await,
        MediaEvent::Key(Key::new('2').unwrap())
    );
    assert_eq!(
        next_event(&mut session).await,
        MediaEvent::PlaybackEnded {
            id,
            interrupted: true
        }
    );
    // Packets already in flight may still carry the prompt; a second later
    // the stream is silence and has had no break.
    let after = peer.receive_many(50).await;
    assert!(
        after[40..]
            .iter()
            .all(|packet| packet.payload.iter().all(|code| *code == 0xFF))
    );
    assert_continuous(&after, 160);
    session.finish().await.unwrap();
}

#[tokio::test]
async fn music_on_hold_ignores_keys() {
    let pool = PortPool::new(31060..=31079).unwrap();
    let mut peer = Peer::bind().await;
    let mut session = MediaSession::start(&pool, LOOPBACK).unwrap();
    session
        .configure(negotiated(peer.addr(), Codec::Pcma, 101))
        .unwrap();
    let music = prompts().resolve("hold-music", "en").unwrap();
    let id = session.play_music(music).unwrap();
    session.key(Key::new('4').unwrap()).unwrap();
    assert_eq!(
        next_event(&mut session).await,
        MediaEvent::Key(Key::new('4').unwrap())
    );
    session.stop_playback().unwrap();
    assert_eq!(
        next_event(&mut session).await,
        MediaEvent::PlaybackEnded {
            id,
            interrupted: true
        }
    );
    let packets = peer.receive_many(10).await;
    assert!(packets.iter().all(|packet| packet.payload_type == 8));
    session.finish().await.unwrap();
}

#[tokio::test]
async fn hold_pauses_and_resume_continues() {
    let pool = PortPool::new(31080..=31099).unwrap();
    let mut peer = Peer::bind().await;
    let session = MediaSession::start(&pool, LOOPBACK).unwrap();
    let active = negotiated(peer.addr(), Codec::Pcmu, 101);
    session.configure(active.clone()).unwrap();
    let mut packets = peer.receive_many(10).await;

    // The caller holds the call (answered recvonly), then resumes it.
    session
        .configure(Negotiated {
            direction: Direction::RecvOnly,
            ..active.clone()
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    session.configure(active).unwrap();
    packets.extend(peer.receive_many(30).await);

    let resumed = packets.iter().skip(1).position(|packet| packet.marker);
    let Some(resumed) = resumed.map(|index| index + 1) else {
        panic!("no marker after resume in {packets:?}");
    };
    let (before, after) = (&packets[resumed - 1], &packets[resumed]);
    assert_eq!(after.sequence, before.sequence.wrapping_add(1));
    let gap = after.timestamp.wrapping_sub(before.timestamp);
    assert!(gap > 160, "timestamp did not advance during hold: {gap}");
    assert_eq!(gap % 160, 0);
    assert_continuous(&packets[..resumed], 160);
    assert_continuous(&packets[resumed..], 160);
    session.finish().await.unwrap();
}

#[tokio::test]
async fn ptime_change_keeps_timestamps() {
    let pool = PortPool::new(31100..=31119).unwrap();
    let mut peer = Peer::bind().await;
    let session = MediaSession::start(&pool, LOOPBACK).unwrap();
    let twenty = negotiated(peer.addr(), Codec::Pcmu, 101);
    session.configure(twenty.clone()).unwrap();
    let mut packets = peer.receive_many(5).await;
    session
        .configure(Negotiated {
            ptime_ms: 30,
            ..twenty
        })
        .unwrap();
    packets.extend(peer.receive_many(20).await);

    let change = packets
        .iter()
        .position(|packet| packet.payload.len() == 240)
        .unwrap();
    assert_continuous(&packets[..change], 160);
    assert_continuous(&packets[change..], 240);
    let (before, after) = (&packets[change - 1], &packets[change]);
    assert_eq!(after.sequence, before.sequence.wrapping_add(1));
    let gap = after.timestamp.wrapping_sub(before.timestamp);
    assert_eq!(gap % 160, 0);
    session.finish().await.unwrap();
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("flowd-media-{}-{name}.wav", std::process::id()))
}

fn read_wav(path: &Path) -> Vec<i16> {
    let reader = hound::WavReader::open(path).unwrap();
    assert_eq!(reader.spec().sample_rate, 8000);
    assert_eq!(reader.spec().channels, 1);
    assert_eq!(reader.spec().bits_per_sample, 16);
    reader.into_samples::<i16>().map(Result::unwrap).collect()
}

#[tokio::test]
async fn caller_audio_is_recorded() {
    let pool = PortPool::new(31120..=31139).unwrap();
    let peer = Peer::bind().await;
    let mut session = MediaSession::start(&pool, LOOPBACK).unwrap();
    session
        .configure(negotiated(peer.addr(), Codec::Pcma, 101))
        .unwrap();
    let path = scratch("voicemail");
    session.record(path.clone()).unwrap();

    // Two seconds of a ramp in 20 ms PCMA packets, then a key as a marker
    // that every packet before it has been handled.
    let codes: Vec<u8> = (0..16_000).map(|i| (i % 251) as u8).collect();
    let media = session.local_addr();
    for (index, frame) in codes.chunks(160).enumerate() {
        let header = RtpHeader {
            marker: index == 0,
            payload_type: 8,
            sequence: index as u16,
            timestamp: 5000 + index as u32 * 160,
            ssrc: 7,
        };
        peer.send(media, header, frame).await;
    }
    let mut sequence = 200;
    peer.press(media, 101, 9, 90_000, &mut sequence).await;
    assert_eq!(
        next_event(&mut session).await,
        MediaEvent::Key(Key::new('9').unwrap())
    );

    // Before the recording ends, the file is already valid up to the last
    // flush, which a crash would leave behind.
    let expected: Vec<i16> = codes.iter().map(|code| Codec::Pcma.decode(*code)).collect();
    let on_disk = read_wav(&path);
    assert_eq!(on_disk.len(), 16_000);
    assert_eq!(on_disk, expected);

    session.stop_recording().unwrap();
    assert_eq!(
        next_event(&mut session).await,
        MediaEvent::RecordingEnded {
            path: path.clone(),
            samples: 16_000
        }
    );
    assert_eq!(read_wav(&path), expected);
    std::fs::remove_file(&path).unwrap();
    session.finish().await.unwrap();
}

#[tokio::test]
async fn recording_to_missing_folder_fails() {
    let pool = PortPool::new(31140..=31159).unwrap();
    let mut session = MediaSession::start(&pool, LOOPBACK).unwrap();
    let path = PathBuf::from("/nonexistent/folder/message.wav");
    session.record(path.clone()).unwrap();
    let event = next_event(&mut session).await;
    let MediaEvent::RecordingFailed {
        path: failed,
        error,
    } = event
    else {
        panic!("expected a failed recording, got {event:?}");
    };
    assert_eq!(failed, path);
    assert!(!error.is_empty());
    session.finish().await.unwrap();
}

#[tokio::test]
async fn ports_released_when_sessions_end() {
    let pool = PortPool::new(31160..=31179).unwrap();
    let finished = MediaSession::start(&pool, LOOPBACK).unwrap();
    let aborted = MediaSession::start(&pool, LOOPBACK).unwrap();
    let dropped = MediaSession::start(&pool, LOOPBACK).unwrap();
    assert_eq!(pool.in_use(), 3);

    finished.finish().await.unwrap();
    assert_eq!(pool.in_use(), 2);

    aborted.abort();
    assert!(aborted.finish().await.unwrap_err().is_cancelled());
    assert_eq!(pool.in_use(), 1);

    // Dropping the handle ends the task on its next wake-up.
    drop(dropped);
    while pool.in_use() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(pool.in_use(), 0);
}

#[tokio::test]
async fn invalid_datagrams_are_counted() {
    let pool = PortPool::new(31180..=31199).unwrap();
    let peer = Peer::bind().await;
    let mut session = MediaSession::start(&pool, LOOPBACK).unwrap();
    session
        .configure(negotiated(peer.addr(), Codec::Pcmu, 101))
        .unwrap();
    let media = session.local_addr();
    for junk in [
        &b"hello"[..],
        &[0x40; 20],
        &[0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 50],
    ] {
        peer.socket.send_to(junk, media).await.unwrap();
    }
    // RTCP multiplexed on the RTP port is ignored, and so is RTCP on its
    // own port.
    peer.socket
        .send_to(&[0x80, 200, 0, 1, 0, 0, 0, 1], media)
        .await
        .unwrap();
    let rtcp = SocketAddr::new(LOOPBACK, media.port() + 1);
    peer.socket
        .send_to(&[0x80, 201, 0, 1, 0, 0, 0, 1], rtcp)
        .await
        .unwrap();
    // A 250 ms packet, far larger than a 20 ms frame, is accepted.
    let header = RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: 1,
        timestamp: 1,
        ssrc: 1,
    };
    peer.send(media, header, &vec![0xFF; 2000]).await;
    let mut sequence = 10;
    peer.press(media, 101, 0, 1000, &mut sequence).await;
    assert_eq!(
        next_event(&mut session).await,
        MediaEvent::Key(Key::new('0').unwrap())
    );

    let stats = session.finish().await.unwrap();
    assert_eq!(stats.invalid_packets, 3);
    assert_eq!(stats.packets_received, 7);
}
