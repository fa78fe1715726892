//! Recording to 8 kHz 16-bit WAV files: mono with the caller's audio (voicemail),
//! or stereo with the caller on the left and what the caller hears from
//! flowd on the right (call recordings).
//!
//! In stereo the sending side is the clock. flowd builds one frame per
//! packet slot whether or not the peer receives it. Each frame is written
//! beside the same number of the caller's samples, or silence where the
//! caller sent nothing. The caller's audio waits in a buffer of at most
//! [`MAX_BUFFERED_SAMPLES`], so the two sides stay aligned within the
//! network jitter.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::g711::{CLOCK_RATE, Codec};

/// Samples between two header updates: the file on disk is a valid WAV
/// holding all but at most this much audio, even if the process dies.
pub const FLUSH_SAMPLES: u64 = CLOCK_RATE as u64;

/// Maximum gap in RTP timestamps filled with silence, in samples. A longer
/// jump is taken as a new timeline (the sender restarted) and not filled.
const MAX_GAP_SAMPLES: u32 = 5 * CLOCK_RATE;

/// The maximum caller samples a stereo recording buffers ahead of flowd's
/// frames. Older ones are dropped, so a caller whose clock runs fast cannot
/// push the left channel ever later.
pub const MAX_BUFFERED_SAMPLES: usize = CLOCK_RATE as usize / 2;

/// An open recording.
pub struct Recorder {
    path: PathBuf,
    writer: hound::WavWriter<BufWriter<File>>,
    /// Sample frames written (one sample per channel each).
    samples: u64,
    unflushed: u64,
    next_timestamp: Option<u32>,
    decoded: Vec<i16>,
    /// Stereo only: the caller's samples waiting for flowd's frames.
    caller: Option<std::collections::VecDeque<i16>>,
    /// While paused nothing is written and the caller's audio is dropped.
    paused: bool,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Creates (or truncates) the WAV file at `path`.
    pub fn create(path: &Path) -> Result<Recorder, hound::Error> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: CLOCK_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        // hound buffers the header: flush it at once, so a file cut before
        // its first second of audio is still an empty, valid WAV.
        let mut writer = hound::WavWriter::create(path, spec)?;
        writer.flush()?;
        Ok(Recorder {
            path: path.to_owned(),
            writer,
            samples: 0,
            unflushed: 0,
            next_timestamp: None,
            decoded: Vec::new(),
            caller: None,
            paused: false,
        })
    }

    /// Creates (or truncates) a stereo WAV file at `path`: the caller on
    /// the left, what flowd sends on the right.
    pub fn create_stereo(path: &Path) -> Result<Recorder, hound::Error> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: CLOCK_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        // hound buffers the header: flush it at once, so a file cut before
        // its first second of audio is still an empty, valid WAV.
        let mut writer = hound::WavWriter::create(path, spec)?;
        writer.flush()?;
        Ok(Recorder {
            path: path.to_owned(),
            writer,
            samples: 0,
            unflushed: 0,
            next_timestamp: None,
            decoded: Vec::new(),
            caller: Some(std::collections::VecDeque::new()),
            paused: false,
        })
    }

    /// Pauses or resumes the recording. Paused time is left out of the
    /// file, not written as silence.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        if let Some(caller) = self.caller.as_mut() {
            caller.clear();
        }
        self.next_timestamp = None;
    }

    /// Returns whether the recording is paused.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Stereo: buffers one RTP payload of the caller for the left channel,
    /// filling a timestamp gap with silence and dropping a late packet.
    pub fn push_caller(&mut self, codec: Codec, timestamp: u32, payload: &[u8]) {
        if self.paused {
            return;
        }
        let Some(caller) = self.caller.as_mut() else {
            return;
        };
        if let Some(expected) = self.next_timestamp {
            let gap = timestamp.wrapping_sub(expected);
            if gap > u32::MAX / 2 {
                return;
            }
            if gap <= MAX_GAP_SAMPLES {
                caller.extend(std::iter::repeat_n(0i16, gap as usize));
            }
        }
        self.decoded.clear();
        codec.decode_into(payload, &mut self.decoded);
        caller.extend(self.decoded.iter().copied());
        self.next_timestamp = Some(timestamp.wrapping_add(payload.len() as u32));
        let excess = caller.len().saturating_sub(MAX_BUFFERED_SAMPLES);
        caller.drain(..excess);
    }

    /// Stereo: writes one frame flowd built for the caller on the right,
    /// beside as many of the caller's buffered samples on the left.
    pub fn push_sent(&mut self, codec: Codec, frame: &[u8]) -> Result<(), hound::Error> {
        if self.paused {
            return Ok(());
        }
        let Some(caller) = self.caller.as_mut() else {
            return Ok(());
        };
        for code in frame {
            let left = caller.pop_front().unwrap_or(0);
            self.writer.write_sample(left)?;
            self.writer.write_sample(codec.decode(*code))?;
        }
        self.count(frame.len() as u64)
    }

    /// Returns the file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the number of samples written.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Appends one RTP payload. A gap in timestamps (lost packets) is filled
    /// with silence; a packet older than the last one written (reordered or
    /// duplicated) is dropped.
    pub fn write_packet(
        &mut self,
        codec: Codec,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<(), hound::Error> {
        if self.caller.is_some() {
            self.push_caller(codec, timestamp, payload);
            return Ok(());
        }
        if self.paused {
            return Ok(());
        }
        if let Some(expected) = self.next_timestamp {
            let gap = timestamp.wrapping_sub(expected);
            if gap > u32::MAX / 2 {
                return Ok(());
            }
            if gap <= MAX_GAP_SAMPLES {
                for _ in 0..gap {
                    self.writer.write_sample(0i16)?;
                }
                self.count(u64::from(gap))?;
            }
        }
        self.decoded.clear();
        codec.decode_into(payload, &mut self.decoded);
        for sample in &self.decoded {
            self.writer.write_sample(*sample)?;
        }
        let written = payload.len() as u64;
        self.next_timestamp = Some(timestamp.wrapping_add(payload.len() as u32));
        self.count(written)
    }

    fn count(&mut self, written: u64) -> Result<(), hound::Error> {
        self.samples += written;
        self.unflushed += written;
        if self.unflushed >= FLUSH_SAMPLES {
            // hound's flush rewrites the header lengths, so the file is
            // complete up to here.
            self.writer.flush()?;
            self.unflushed = 0;
        }
        Ok(())
    }

    /// Completes the file and returns its path and sample count.
    pub fn finish(self) -> Result<(PathBuf, u64), hound::Error> {
        let samples = self.samples;
        self.writer.finalize()?;
        Ok((self.path, samples))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

    use super::*;

    fn scratch(test: &str) -> PathBuf {
        std::env::temp_dir().join(format!("flowd-record-{}-{test}.wav", std::process::id()))
    }

    fn read(path: &Path) -> Vec<i16> {
        let reader = hound::WavReader::open(path).unwrap();
        assert_eq!(reader.spec().sample_rate, 8000);
        assert_eq!(reader.spec().channels, 1);
        reader.into_samples::<i16>().map(Result::unwrap).collect()
    }

    #[test]
    fn records_decoded_audio() {
        let path = scratch("decoded");
        let mut recorder = Recorder::create(&path).unwrap();
        let payload: Vec<u8> = (0..160).map(|i| i as u8).collect();
        recorder.write_packet(Codec::Pcma, 1000, &payload).unwrap();
        recorder.write_packet(Codec::Pcma, 1160, &payload).unwrap();
        let (written, samples) = recorder.finish().unwrap();
        assert_eq!(written, path);
        assert_eq!(samples, 320);
        let expected: Vec<i16> = payload
            .iter()
            .chain(&payload)
            .map(|c| Codec::Pcma.decode(*c))
            .collect();
        assert_eq!(read(&path), expected);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn gaps_filled_and_duplicates_dropped() {
        let path = scratch("gaps");
        let mut recorder = Recorder::create(&path).unwrap();
        let loud = [Codec::Pcmu.encode(8000); 160];
        recorder.write_packet(Codec::Pcmu, 0, &loud).unwrap();
        // One packet lost, then a duplicate of the first.
        recorder.write_packet(Codec::Pcmu, 320, &loud).unwrap();
        recorder.write_packet(Codec::Pcmu, 0, &loud).unwrap();
        let (_, samples) = recorder.finish().unwrap();
        assert_eq!(samples, 480);
        let audio = read(&path);
        assert!(audio[..160].iter().all(|s| *s > 7000));
        assert!(audio[160..320].iter().all(|s| *s == 0));
        assert!(audio[320..].iter().all(|s| *s > 7000));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn stereo_aligns_and_pauses() {
        let path = scratch("stereo");
        let mut recorder = Recorder::create_stereo(&path).unwrap();
        let caller = [Codec::Pcmu.encode(4000); 160];
        let sent = [Codec::Pcmu.encode(-4000); 160];
        // Caller speaks during the first frame only.
        recorder.push_caller(Codec::Pcmu, 0, &caller);
        recorder.push_sent(Codec::Pcmu, &sent).unwrap();
        recorder.push_sent(Codec::Pcmu, &sent).unwrap();
        recorder.set_paused(true);
        recorder.push_caller(Codec::Pcmu, 320, &caller);
        recorder.push_sent(Codec::Pcmu, &sent).unwrap();
        recorder.set_paused(false);
        recorder.push_sent(Codec::Pcmu, &sent).unwrap();
        let (_, samples) = recorder.finish().unwrap();
        assert_eq!(samples, 480);
        let reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.spec().channels, 2);
        let audio: Vec<i16> = reader.into_samples::<i16>().map(Result::unwrap).collect();
        assert_eq!(audio.len(), 960);
        let left: Vec<i16> = audio.iter().step_by(2).copied().collect();
        let right: Vec<i16> = audio.iter().skip(1).step_by(2).copied().collect();
        assert!(left[..160].iter().all(|s| *s > 3000));
        assert!(left[160..].iter().all(|s| *s == 0));
        assert!(right.iter().all(|s| *s < -3000));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn file_is_valid_before_finish() {
        let path = scratch("flush");
        let mut recorder = Recorder::create(&path).unwrap();
        let payload = [Codec::Pcmu.encode(-300); 160];
        for packet in 0..60u32 {
            recorder
                .write_packet(Codec::Pcmu, packet * 160, &payload)
                .unwrap();
        }
        // 9600 samples written; the header covers the first flushed second.
        let on_disk = read(&path);
        assert_eq!(on_disk.len(), 8000);
        assert!(on_disk.iter().all(|s| *s == Codec::Pcmu.decode(payload[0])));
        // Dropping without finish, as an aborted task does, still leaves a
        // complete file.
        drop(recorder);
        assert_eq!(read(&path).len(), 9600);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn new_file_is_valid_before_audio() {
        let path = scratch("empty");
        let _recorder = Recorder::create_stereo(&path).unwrap();
        // The recorder is still open, as in a flowd killed at this point.
        let reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.spec().channels, 2);
        assert_eq!(reader.duration(), 0);
    }
}
