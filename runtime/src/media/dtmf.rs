//! DTMF input: RFC 4733 telephone-events received over RTP, and the bodies
//! of SIP INFO requests. Both produce the flow's [`Key`].

use flowc::bytecode::Key;

/// Number of recent events remembered, so that a late duplicate of an
/// earlier event (reordered behind a newer one) is still recognised.
const RECENT_EVENTS: usize = 4;

/// An error reading a key from a telephone-event payload or an INFO body.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DtmfError {
    /// A telephone-event payload shorter than 4 bytes.
    #[error("telephone-event payload of {0} bytes is shorter than 4 bytes")]
    ShortPayload(usize),
    /// An INFO body with a content type that carries no DTMF.
    #[error("content type `{0}` carries no DTMF; use application/dtmf-relay or application/dtmf")]
    UnsupportedContentType(String),
    /// A dtmf-relay body without a `Signal=` line.
    #[error("application/dtmf-relay body has no `Signal=` line")]
    MissingSignal,
    /// A signal that is not one of 0-9, `*`, `#` or the event codes 10, 11.
    #[error("DTMF signal `{0}` is not a key; expected 0-9, * or #")]
    InvalidSignal(String),
}

/// One telephone-event payload (RFC 4733 section 2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event code: 0-9 are digits, 10 is `*`, 11 is `#`, 12-15 are A-D.
    pub event: u8,
    /// The E bit: the event has ended.
    pub end: bool,
    /// The tone's power in -dBm0.
    pub volume: u8,
    /// The duration so far, in RTP timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first 4 bytes of a payload; later bytes are ignored.
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, DtmfError> {
        let Some(&[event, flags, d0, d1]) = payload.get(..4) else {
            return Err(DtmfError::ShortPayload(payload.len()));
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// Returns the key for the event, or `None` for A-D and non-DTMF events.
    pub fn key(&self) -> Option<Key> {
        key_for_event(self.event)
    }
}

/// Returns the key for an RFC 4733 event code.
fn key_for_event(event: u8) -> Option<Key> {
    match event {
        0..=9 => Key::from_byte(b'0' + event),
        10 => Key::new('*'),
        11 => Key::new('#'),
        _ => None,
    }
}

/// The event being received or last received.
#[derive(Clone, Copy, Debug)]
struct CurrentEvent {
    event: u8,
    timestamp: u32,
    duration: u16,
    ended: bool,
}

/// Turns a stream of telephone-event packets into one key per key press.
///
/// Every packet of one event carries the event's start timestamp, so a key
/// is reported on the first packet with a new timestamp, and the updates
/// and the three end packets that follow are ignored however many arrive.
/// A key held longer than the 16-bit duration field is sent as several
/// segments (RFC 4733 section 2.5.1.3). A segment that starts where the
/// unfinished previous one ended continues the same key press.
#[derive(Clone, Debug, Default)]
pub struct EventReceiver {
    current: Option<CurrentEvent>,
    recent: [Option<u32>; RECENT_EVENTS],
    next_recent: usize,
}

impl EventReceiver {
    /// Creates a receiver that has seen no event.
    pub fn new() -> EventReceiver {
        EventReceiver::default()
    }

    /// Handles one packet of the negotiated telephone-event payload type and
    /// returns the key when the packet starts a new key press.
    pub fn receive(&mut self, timestamp: u32, payload: &[u8]) -> Result<Option<Key>, DtmfError> {
        let event = TelephoneEvent::parse(payload)?;
        if let Some(current) = self.current.as_mut()
            && current.timestamp == timestamp
        {
            current.duration = current.duration.max(event.duration);
            current.ended |= event.end;
            return Ok(None);
        }
        if self.recent.contains(&Some(timestamp)) {
            return Ok(None);
        }
        let continues_previous = self.current.is_some_and(|previous| {
            !previous.ended
                && previous.event == event.event
                && previous
                    .timestamp
                    .wrapping_add(u32::from(previous.duration))
                    == timestamp
        });
        self.current = Some(CurrentEvent {
            event: event.event,
            timestamp,
            duration: event.duration,
            ended: event.end,
        });
        self.remember(timestamp);
        if continues_previous {
            return Ok(None);
        }
        Ok(event.key())
    }

    fn remember(&mut self, timestamp: u32) {
        if let Some(slot) = self.recent.get_mut(self.next_recent) {
            *slot = Some(timestamp);
        }
        self.next_recent = (self.next_recent + 1) % RECENT_EVENTS;
    }
}

/// Parses the body of a SIP INFO request carrying one key.
///
/// `content_type` is the Content-Type header value; parameters and case are
/// ignored. `application/dtmf-relay` bodies hold lines such as `Signal=5`
/// and `Duration=160`; `application/dtmf` bodies hold just the key. Either
/// may lack the final line break, and the signal may also be the event code
/// 10 for `*` or 11 for `#`, as some phones send.
pub fn parse_info(content_type: &str, body: &[u8]) -> Result<Key, DtmfError> {
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let text = String::from_utf8_lossy(body);
    match media_type.as_str() {
        "application/dtmf-relay" => {
            let signal = text
                .lines()
                .filter_map(|line| line.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("signal"))
                .map(|(_, value)| value.trim())
                .ok_or(DtmfError::MissingSignal)?;
            parse_signal(signal)
        }
        "application/dtmf" => parse_signal(text.trim()),
        _ => Err(DtmfError::UnsupportedContentType(content_type.to_owned())),
    }
}

fn parse_signal(signal: &str) -> Result<Key, DtmfError> {
    let invalid = || DtmfError::InvalidSignal(signal.to_owned());
    let mut chars = signal.chars();
    match (chars.next(), chars.next()) {
        (Some(key), None) => Key::new(key).ok_or_else(invalid),
        _ => match signal.parse::<u8>() {
            Ok(event @ 10..=11) => key_for_event(event).ok_or_else(invalid),
            _ => Err(invalid()),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;
    use proptest::prelude::*;

    fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
        let [d0, d1] = duration.to_be_bytes();
        [event, if end { 0x80 | 10 } else { 10 }, d0, d1]
    }

    fn key(c: char) -> Option<Key> {
        Key::new(c)
    }

    #[test]
    fn one_key_per_event_with_three_ends() {
        let mut receiver = EventReceiver::new();
        let mut keys = Vec::new();
        for (duration, end) in [(160, false), (320, false), (480, false)] {
            keys.push(receiver.receive(1000, &payload(5, end, duration)));
        }
        for _ in 0..3 {
            keys.push(receiver.receive(1000, &payload(5, true, 640)));
        }
        assert_eq!(keys.first(), Some(&Ok(key('5'))));
        assert_eq!(keys.iter().filter(|k| **k == Ok(key('5'))).count(), 1);
    }

    #[test]
    fn same_digit_twice_gives_two_keys() {
        let mut receiver = EventReceiver::new();
        assert_eq!(
            receiver.receive(1000, &payload(1, false, 160)),
            Ok(key('1'))
        );
        assert_eq!(receiver.receive(1000, &payload(1, true, 800)), Ok(None));
        assert_eq!(
            receiver.receive(3000, &payload(1, false, 160)),
            Ok(key('1'))
        );
        assert_eq!(receiver.receive(3000, &payload(1, true, 800)), Ok(None));
    }

    #[test]
    fn end_packets_only_still_give_key() {
        let mut receiver = EventReceiver::new();
        assert_eq!(receiver.receive(500, &payload(11, true, 800)), Ok(key('#')));
        assert_eq!(receiver.receive(500, &payload(11, true, 800)), Ok(None));
        assert_eq!(receiver.receive(500, &payload(11, true, 800)), Ok(None));
    }

    #[test]
    fn long_key_segments_are_one_press() {
        let mut receiver = EventReceiver::new();
        assert_eq!(receiver.receive(0, &payload(10, false, 160)), Ok(key('*')));
        assert_eq!(receiver.receive(0, &payload(10, false, u16::MAX)), Ok(None));
        // The next segment starts where the first one ended.
        let second = u32::from(u16::MAX);
        assert_eq!(receiver.receive(second, &payload(10, false, 160)), Ok(None));
        assert_eq!(receiver.receive(second, &payload(10, true, 4000)), Ok(None));
        assert_eq!(
            receiver.receive(second + 8000, &payload(10, false, 160)),
            Ok(key('*'))
        );
    }

    #[test]
    fn late_duplicate_of_older_event_is_ignored() {
        let mut receiver = EventReceiver::new();
        assert_eq!(receiver.receive(1000, &payload(2, true, 800)), Ok(key('2')));
        assert_eq!(
            receiver.receive(2000, &payload(3, false, 160)),
            Ok(key('3'))
        );
        assert_eq!(receiver.receive(1000, &payload(2, true, 800)), Ok(None));
    }

    #[test]
    fn non_key_events_give_nothing() {
        let mut receiver = EventReceiver::new();
        assert_eq!(receiver.receive(1000, &payload(12, false, 160)), Ok(None));
        assert_eq!(receiver.receive(2000, &payload(16, false, 160)), Ok(None));
        assert_eq!(
            receiver.receive(3000, &[1, 2]),
            Err(DtmfError::ShortPayload(2))
        );
    }

    #[test]
    fn every_event_code_maps_to_its_key() {
        let expected = "0123456789*#";
        for (event, c) in expected.chars().enumerate() {
            assert_eq!(key_for_event(event as u8), key(c), "event {event}");
        }
    }

    #[test]
    fn info_dtmf_relay_bodies() {
        let relay = "application/dtmf-relay";
        assert_eq!(
            parse_info(relay, b"Signal=5\r\nDuration=160\r\n").ok(),
            key('5')
        );
        assert_eq!(
            parse_info(relay, b"Signal=5\r\nDuration=160").ok(),
            key('5')
        );
        assert_eq!(
            parse_info(relay, b"Signal= #\nDuration= 250").ok(),
            key('#')
        );
        assert_eq!(
            parse_info("Application/DTMF-Relay; charset=x", b"signal=*").ok(),
            key('*')
        );
        assert_eq!(parse_info(relay, b"Signal=11\r\n").ok(), key('#'));
        assert_eq!(
            parse_info(relay, b"Duration=160\r\n"),
            Err(DtmfError::MissingSignal)
        );
        assert_eq!(
            parse_info(relay, b"Signal=A\r\n"),
            Err(DtmfError::InvalidSignal("A".to_owned()))
        );
    }

    #[test]
    fn info_dtmf_bodies() {
        assert_eq!(parse_info("application/dtmf", b"7").ok(), key('7'));
        assert_eq!(parse_info("application/dtmf", b"7\r\n").ok(), key('7'));
        assert_eq!(parse_info("application/dtmf", b" 10 ").ok(), key('*'));
        assert_eq!(
            parse_info("application/dtmf", b""),
            Err(DtmfError::InvalidSignal(String::new()))
        );
        assert_eq!(
            parse_info("text/plain", b"7"),
            Err(DtmfError::UnsupportedContentType("text/plain".to_owned()))
        );
    }

    proptest! {
        #[test]
        fn receiver_never_panics(packets in proptest::collection::vec((any::<u32>(), proptest::collection::vec(any::<u8>(), 0..8)), 0..50)) {
            let mut receiver = EventReceiver::new();
            for (timestamp, payload) in packets {
                let _ = receiver.receive(timestamp, &payload);
            }
        }

        #[test]
        fn repeated_packets_give_one_key(event in 0u8..12, timestamp in any::<u32>(), repeats in 1usize..20) {
            let mut receiver = EventReceiver::new();
            let keys: Vec<_> = (0..repeats)
                .filter_map(|i| receiver.receive(timestamp, &payload(event, i + 1 == repeats, 160)).ok().flatten())
                .collect();
            prop_assert_eq!(keys.len(), 1);
        }

        #[test]
        fn info_never_panics(body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_info("application/dtmf-relay", &body);
            let _ = parse_info("application/dtmf", &body);
        }
    }
}
