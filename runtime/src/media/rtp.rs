//! RTP packets (RFC 3550 section 5.1), the sending side of one stream, and
//! the pacing schedule that keeps it at one packet per `ptime`.

use std::time::Duration;

/// Length of the fixed RTP header in bytes.
pub const HEADER_LEN: usize = 12;

/// An error parsing an RTP packet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// Shorter than the header it announces.
    #[error("RTP packet of {len} bytes is shorter than its {needed}-byte header")]
    Truncated {
        /// Datagram length.
        len: usize,
        /// Bytes the header needs.
        needed: usize,
    },
    /// Version field other than 2.
    #[error("RTP version {0} is not supported; only version 2 is")]
    Version(u8),
    /// The padding count exceeds the payload.
    #[error("RTP padding of {padding} bytes exceeds the {available}-byte payload")]
    Padding {
        /// The padding count in the last byte.
        padding: usize,
        /// Bytes after the header.
        available: usize,
    },
}

/// A parsed RTP packet that borrows its payload from the datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The marker bit: the first packet of a talkspurt or of a DTMF event.
    pub marker: bool,
    /// The payload type, 0 to 127.
    pub payload_type: u8,
    /// The sequence number.
    pub sequence: u16,
    /// The media timestamp, in clock-rate units.
    pub timestamp: u32,
    /// The synchronisation source.
    pub ssrc: u32,
    /// Number of contributing sources in the header.
    pub csrc_count: u8,
    /// The header extension's profile field and data, when present.
    pub extension: Option<(u16, &'a [u8])>,
    /// The payload without padding.
    pub payload: &'a [u8],
}

/// Returns true when a datagram on the RTP port is RTCP multiplexed with it
/// (RFC 5761 section 4: the second byte is 192 to 223).
pub fn is_rtcp(datagram: &[u8]) -> bool {
    matches!(datagram.get(1), Some(192..=223))
}

impl<'a> RtpPacket<'a> {
    /// Parses a datagram; every length is checked, so any input is safe.
    pub fn parse(datagram: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        let truncated = |needed| RtpError::Truncated {
            len: datagram.len(),
            needed,
        };
        let Some(fixed) = datagram.get(..HEADER_LEN) else {
            return Err(truncated(HEADER_LEN));
        };
        let [first, second, s0, s1, t0, t1, t2, t3, c0, c1, c2, c3] = *fixed else {
            return Err(truncated(HEADER_LEN));
        };
        let version = first >> 6;
        if version != 2 {
            return Err(RtpError::Version(version));
        }
        let has_padding = first & 0x20 != 0;
        let has_extension = first & 0x10 != 0;
        let csrc_count = first & 0x0F;

        let mut offset = HEADER_LEN + 4 * usize::from(csrc_count);
        if datagram.len() < offset {
            return Err(truncated(offset));
        }
        let mut extension = None;
        if has_extension {
            let Some(&[p0, p1, l0, l1]) = datagram.get(offset..offset + 4) else {
                return Err(truncated(offset + 4));
            };
            let words = usize::from(u16::from_be_bytes([l0, l1]));
            let start = offset + 4;
            let end = start + 4 * words;
            let Some(data) = datagram.get(start..end) else {
                return Err(truncated(end));
            };
            extension = Some((u16::from_be_bytes([p0, p1]), data));
            offset = end;
        }
        let mut payload = datagram.get(offset..).unwrap_or_default();
        if has_padding {
            let padding = usize::from(payload.last().copied().unwrap_or(0));
            if padding == 0 || padding > payload.len() {
                return Err(RtpError::Padding {
                    padding,
                    available: payload.len(),
                });
            }
            payload = payload.get(..payload.len() - padding).unwrap_or_default();
        }
        Ok(RtpPacket {
            marker: second & 0x80 != 0,
            payload_type: second & 0x7F,
            sequence: u16::from_be_bytes([s0, s1]),
            timestamp: u32::from_be_bytes([t0, t1, t2, t3]),
            ssrc: u32::from_be_bytes([c0, c1, c2, c3]),
            csrc_count,
            extension,
            payload,
        })
    }
}

/// The header fields a sender sets; no CSRC list, extension or padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpHeader {
    /// The marker bit.
    pub marker: bool,
    /// The payload type, 0 to 127; higher bits are dropped.
    pub payload_type: u8,
    /// The sequence number.
    pub sequence: u16,
    /// The media timestamp.
    pub timestamp: u32,
    /// The synchronisation source.
    pub ssrc: u32,
}

impl RtpHeader {
    /// Appends the 12-byte header to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(0x80);
        out.push(u8::from(self.marker) << 7 | (self.payload_type & 0x7F));
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
    }
}

/// The sending state of one RTP stream: one SSRC whose sequence numbers and
/// timestamps stay continuous across prompts, silence and pauses.
///
/// Packet slot `n` of the schedule carries timestamp `first + n * samples`.
/// A slot that is skipped (on hold, or too late to send) advances the
/// timestamp but not the sequence number, as RFC 3550 section 5.1 requires.
#[derive(Clone, Debug)]
pub struct RtpSender {
    ssrc: u32,
    next_sequence: u16,
    first_timestamp: u32,
    samples_per_packet: u32,
    marker_pending: bool,
}

impl RtpSender {
    /// Creates a sender; the SSRC, first sequence number and first timestamp
    /// should be random (RFC 3550 section 5.1).
    pub fn new(ssrc: u32, first_sequence: u16, first_timestamp: u32, samples: u32) -> RtpSender {
        RtpSender {
            ssrc,
            next_sequence: first_sequence,
            first_timestamp,
            samples_per_packet: samples,
            marker_pending: true,
        }
    }

    /// Returns the SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Returns the sequence number of the next packet.
    pub fn next_sequence(&self) -> u16 {
        self.next_sequence
    }

    /// Restarts slot numbering for a new packet size: slot 0 then carries
    /// `first_timestamp`. The SSRC and sequence numbers continue.
    pub fn restart(&mut self, first_timestamp: u32, samples: u32) {
        self.first_timestamp = first_timestamp;
        self.samples_per_packet = samples;
    }

    /// Returns the samples carried by one packet.
    pub fn samples_per_packet(&self) -> u32 {
        self.samples_per_packet
    }

    /// Returns the timestamp of schedule slot `slot`.
    pub fn timestamp_of(&self, slot: u64) -> u32 {
        // RTP timestamps wrap modulo 2^32, so truncating the product is the
        // wanted arithmetic.
        let offset = slot.wrapping_mul(u64::from(self.samples_per_packet)) as u32;
        self.first_timestamp.wrapping_add(offset)
    }

    /// Marks the next packet as the start of a talkspurt, after a pause in
    /// sending such as a hold.
    pub fn mark_next(&mut self) {
        self.marker_pending = true;
    }

    /// Writes the packet of schedule slot `slot` into `out` (cleared first):
    /// the header with the next sequence number, then `payload`.
    pub fn write_packet(&mut self, slot: u64, payload_type: u8, payload: &[u8], out: &mut Vec<u8>) {
        out.clear();
        let header = RtpHeader {
            marker: self.marker_pending,
            payload_type,
            sequence: self.next_sequence,
            timestamp: self.timestamp_of(slot),
            ssrc: self.ssrc,
        };
        header.write(out);
        out.extend_from_slice(payload);
        self.marker_pending = false;
        self.next_sequence = self.next_sequence.wrapping_add(1);
    }
}

/// The sending task's next action on the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tick {
    /// Send the packet of this slot now.
    Send(u64),
    /// Wait until this offset from the start, then ask again.
    Wait(Duration),
}

/// An absolute pacing schedule: slot `n` is due at `start + n * ptime`, so
/// rounding and wake-up delays never add up to drift.
///
/// Times are offsets from the stream's start, which keeps the schedule free
/// of any clock and lets tests compute due times without sleeping.
#[derive(Clone, Debug)]
pub struct Pacer {
    ptime: Duration,
    next_slot: u64,
    max_lag_slots: u64,
}

impl Pacer {
    /// Creates a schedule with one slot per `ptime`. A sender that wakes more
    /// than `max_lag_slots` slots late skips the missed slots instead of
    /// sending them in a burst.
    pub fn new(ptime: Duration, max_lag_slots: u64) -> Pacer {
        Pacer {
            ptime,
            next_slot: 0,
            max_lag_slots,
        }
    }

    /// Returns the offset from the start at which `slot` is due.
    pub fn due(&self, slot: u64) -> Duration {
        // u128 nanoseconds cover any call length without overflow.
        let nanos = self.ptime.as_nanos().saturating_mul(u128::from(slot));
        let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
        Duration::new(secs, (nanos % 1_000_000_000) as u32)
    }

    /// Returns the next slot that has not been sent or skipped.
    pub fn next_slot(&self) -> u64 {
        self.next_slot
    }

    /// Decides what to do at `elapsed` since the start and advances the
    /// schedule when a slot is sent.
    pub fn tick(&mut self, elapsed: Duration) -> Tick {
        let due = self.due(self.next_slot);
        if elapsed < due {
            return Tick::Wait(due);
        }
        let late_slots = self.slots_before(elapsed) - self.next_slot;
        if late_slots > self.max_lag_slots {
            // Too far behind to catch up without a burst: drop the missed
            // slots and send the one that is due now.
            self.next_slot += late_slots;
        }
        let slot = self.next_slot;
        self.next_slot += 1;
        Tick::Send(slot)
    }

    /// Returns the last slot due at or before `elapsed`.
    fn slots_before(&self, elapsed: Duration) -> u64 {
        let ptime = self.ptime.as_nanos().max(1);
        u64::try_from(elapsed.as_nanos() / ptime).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_round_trip() {
        let header = RtpHeader {
            marker: true,
            payload_type: 101,
            sequence: 65535,
            timestamp: 0xDEAD_BEEF,
            ssrc: 0x1234_5678,
        };
        let mut buffer = Vec::new();
        header.write(&mut buffer);
        buffer.extend_from_slice(&[1, 2, 3]);
        let packet = RtpPacket::parse(&buffer);
        let Ok(packet) = packet else {
            panic!("valid packet rejected: {packet:?}");
        };
        assert!(packet.marker);
        assert_eq!(packet.payload_type, 101);
        assert_eq!(packet.sequence, 65535);
        assert_eq!(packet.timestamp, 0xDEAD_BEEF);
        assert_eq!(packet.ssrc, 0x1234_5678);
        assert_eq!(packet.payload, &[1, 2, 3]);
        assert_eq!(packet.extension, None);
    }

    #[test]
    fn parse_csrc_extension_and_padding() {
        let mut datagram = vec![
            0x80 | 0x20 | 0x10 | 0x02,
            0x08,
            0,
            7,
            0,
            0,
            0,
            160,
            0,
            0,
            0,
            9,
        ];
        datagram.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]); // two CSRCs
        datagram.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0xAA, 0xBB, 0xCC, 0xDD]); // extension
        datagram.extend_from_slice(&[5, 6, 7]); // payload
        datagram.extend_from_slice(&[0, 0, 3]); // padding of 3
        let packet = RtpPacket::parse(&datagram);
        let Ok(packet) = packet else {
            panic!("valid packet rejected: {packet:?}");
        };
        assert_eq!(packet.csrc_count, 2);
        assert_eq!(packet.payload_type, 8);
        assert!(!packet.marker);
        assert_eq!(
            packet.extension,
            Some((0xBEDE, &[0xAA, 0xBB, 0xCC, 0xDD][..]))
        );
        assert_eq!(packet.payload, &[5, 6, 7]);
    }

    #[test]
    fn parse_rejects_bad_packets() {
        assert_eq!(
            RtpPacket::parse(&[0x80, 0]),
            Err(RtpError::Truncated { len: 2, needed: 12 })
        );
        let mut v1 = vec![0x40; 12];
        v1.push(0);
        assert_eq!(RtpPacket::parse(&v1), Err(RtpError::Version(1)));
        let csrc = [0x83, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            RtpPacket::parse(&csrc),
            Err(RtpError::Truncated {
                len: 14,
                needed: 24
            })
        );
        let padding = [0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 9];
        assert_eq!(
            RtpPacket::parse(&padding),
            Err(RtpError::Padding {
                padding: 9,
                available: 2
            })
        );
    }

    #[test]
    fn rtcp_is_recognised() {
        assert!(is_rtcp(&[0x80, 200, 0, 6]));
        assert!(is_rtcp(&[0x81, 201, 0, 1]));
        assert!(!is_rtcp(&[0x80, 0, 0, 1]));
        assert!(!is_rtcp(&[0x80, 0x80 | 101]));
        assert!(!is_rtcp(&[0x80]));
    }

    #[test]
    fn sender_continuity_across_skips() {
        let mut sender = RtpSender::new(7, 65534, u32::MAX - 100, 160);
        let mut out = Vec::new();
        let mut parsed = Vec::new();
        // Slots 2 and 3 are skipped, as on hold.
        for slot in [0, 1, 4, 5] {
            sender.write_packet(slot, 0, &[0xFF; 160], &mut out);
            let packet = RtpPacket::parse(&out);
            let Ok(packet) = packet else {
                panic!("sender wrote an invalid packet: {packet:?}");
            };
            parsed.push((packet.marker, packet.sequence, packet.timestamp));
        }
        let first = u32::MAX - 100;
        assert_eq!(
            parsed,
            vec![
                (true, 65534, first),
                (false, 65535, first.wrapping_add(160)),
                (false, 0, first.wrapping_add(640)),
                (false, 1, first.wrapping_add(800)),
            ]
        );
    }

    #[test]
    fn pacer_has_no_drift_over_ten_minutes() {
        let ptime = Duration::from_millis(20);
        let mut pacer = Pacer::new(ptime, 5);
        // Wake each packet 0.7 ms late, as a busy timer would; every slot is
        // still due at an exact multiple of 20 ms.
        let slots = 10 * 60 * 50;
        for slot in 0..slots {
            let due = pacer.due(slot);
            assert_eq!(due, ptime * u32::try_from(slot).unwrap_or(u32::MAX));
            if slot > 0 {
                let early = due - Duration::from_micros(1);
                assert_eq!(pacer.tick(early), Tick::Wait(due));
            }
            assert_eq!(
                pacer.tick(due + Duration::from_micros(700)),
                Tick::Send(slot)
            );
        }
        assert_eq!(pacer.due(slots), Duration::from_secs(600));
        assert_eq!(pacer.next_slot(), slots);
    }

    #[test]
    fn pacer_catches_up_small_delays() {
        let mut pacer = Pacer::new(Duration::from_millis(20), 5);
        // Woken 70 ms late: slots 0 to 3 are due and sent at once.
        let now = Duration::from_millis(70);
        let sent: Vec<Tick> = (0..5).map(|_| pacer.tick(now)).collect();
        assert_eq!(
            sent,
            vec![
                Tick::Send(0),
                Tick::Send(1),
                Tick::Send(2),
                Tick::Send(3),
                Tick::Wait(Duration::from_millis(80)),
            ]
        );
    }

    #[test]
    fn pacer_skips_long_stalls() {
        let mut pacer = Pacer::new(Duration::from_millis(20), 5);
        assert_eq!(pacer.tick(Duration::ZERO), Tick::Send(0));
        // Stalled for a second: the missed slots are dropped, not burst.
        assert_eq!(pacer.tick(Duration::from_millis(1005)), Tick::Send(50));
        assert_eq!(
            pacer.tick(Duration::from_millis(1005)),
            Tick::Wait(Duration::from_millis(1020))
        );
    }

    #[test]
    fn pacer_supports_other_ptimes() {
        let pacer = Pacer::new(Duration::from_millis(30), 5);
        assert_eq!(pacer.due(20_000), Duration::from_secs(600));
        let fine = Pacer::new(Duration::from_micros(333), 5);
        assert_eq!(fine.due(3), Duration::from_micros(999));
    }

    proptest! {
        #[test]
        fn parse_never_panics(datagram in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = RtpPacket::parse(&datagram);
        }

        #[test]
        fn written_headers_parse_back(
            marker in any::<bool>(),
            payload_type in 0u8..128,
            sequence in any::<u16>(),
            timestamp in any::<u32>(),
            ssrc in any::<u32>(),
            payload in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            let header = RtpHeader { marker, payload_type, sequence, timestamp, ssrc };
            let mut buffer = Vec::new();
            header.write(&mut buffer);
            buffer.extend_from_slice(&payload);
            let packet = RtpPacket::parse(&buffer);
            prop_assert!(packet.is_ok());
            if let Ok(packet) = packet {
                prop_assert_eq!(packet.marker, marker);
                prop_assert_eq!(packet.payload_type, payload_type);
                prop_assert_eq!(packet.sequence, sequence);
                prop_assert_eq!(packet.timestamp, timestamp);
                prop_assert_eq!(packet.ssrc, ssrc);
                prop_assert_eq!(packet.payload, &payload[..]);
            }
        }
    }
}
