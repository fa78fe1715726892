//! Simulated calls: the scripted host behind `flowc simulate` and
//! `flowc test`.
//!
//! [`simulate`] runs one call of a [`Program`](crate::vm::Program) on the
//! same VM that runs live calls, on a simulated clock that starts at a
//! given instant and moves on as prompts play, the caller types, lookups
//! answer and queues wait. Every effect is answered from a [`Script`]; what
//! the script leaves out has a default (an unknown caller, no input, a
//! queue answered by a simulated agent, no rating). The result is a list
//! of [`Step`]s that render as text or JSON, plus the outcome, variables,
//! tags and the probes and schedule outcomes that coverage counts.
//!
//! Like the rest of the library this module does no I/O: the caller passes
//! the start instant, the prompt lengths and the scenario texts.

pub mod coverage;
mod host;
pub mod moment;
pub mod scenario;
pub mod script;
pub mod trace;
pub mod validate;

pub use host::{
    DEFAULT_PROMPT_MS, Failure, MAX_CALL_MS, MAX_EFFECTS, PromptLengths, RATING_MS,
    SIMULATED_AGENT, ScheduleOutcome, Setup, Simulation, VOICEMAIL_MS, simulate,
};
pub use script::Script;
pub use trace::Step;

use serde_json::json;

impl Simulation {
    /// Returns the trace lines as `flowc simulate` prints them.
    pub fn lines(&self) -> Vec<String> {
        self.steps.iter().map(Step::line).collect()
    }

    /// Renders the simulation for people: the header lines, the trace, and
    /// the result with the variables, tags and language.
    pub fn render_human(&self, header: &[String]) -> String {
        let mut text = String::new();
        for line in header {
            text.push_str(line);
            text.push('\n');
        }
        text.push('\n');
        for line in self.lines() {
            text.push_str(&line);
            text.push('\n');
        }
        text.push('\n');
        match &self.failure {
            Some(failure) => text.push_str(&format!("result: error: {}\n", failure.message)),
            None => {
                let outcome = self.outcome.map_or("none", |o| o.as_str());
                let duration = trace::format_offset(self.duration_ms);
                let duration = duration.trim_start_matches('+');
                text.push_str(&format!("result: {outcome} after {duration}\n"));
            }
        }
        for note in &self.unused {
            text.push_str(&format!("note: {note}\n"));
        }
        text.push_str(&format!("language: {}\n", self.language));
        let tags = if self.tags.is_empty() {
            String::from("(none)")
        } else {
            self.tags.join(", ")
        };
        text.push_str(&format!("tags: {tags}\n"));
        if !self.variables.is_empty() {
            text.push_str("variables:\n");
            for (name, value) in &self.variables {
                text.push_str(&format!("  {name} = {value}\n"));
            }
        }
        text
    }

    /// Returns the simulation as JSON data with stable field names. `call`
    /// holds the header's facts as fields.
    pub fn to_json(&self, header: &[String], call: serde_json::Value) -> serde_json::Value {
        let variables: serde_json::Map<String, serde_json::Value> = self
            .variables
            .iter()
            .map(|(name, value)| (name.clone(), json!(value)))
            .collect();
        json!({
            "flow": self.flow,
            "header": header,
            "call": call,
            "steps": self.steps,
            "outcome": self.outcome.map(|o| o.as_str()),
            "error": self.failure.as_ref().map(|f| json!({"kind": f.kind, "message": f.message})),
            "duration_ms": self.duration_ms,
            "language": self.language,
            "tags": self.tags,
            "variables": variables,
            "unused": self.unused,
        })
    }
}

/// Returns the playing time of a WAV file in milliseconds from its first
/// bytes (the RIFF header up to the `data` chunk's size) and the file's
/// length in bytes, or `None` when they are not a WAV header with a byte
/// rate. The data size is the smaller of what the header claims and the
/// bytes the file really has after the header, so a damaged or truncated
/// file cannot play for longer than its data.
pub fn wav_length_ms(header: &[u8], file_len: u64) -> Option<u64> {
    if header.get(0..4)? != b"RIFF" || header.get(8..12)? != b"WAVE" {
        return None;
    }
    let mut offset = 12usize;
    let mut byte_rate: Option<u64> = None;
    while let Some(chunk) = header.get(offset..offset.checked_add(8)?) {
        let id = chunk.get(0..4)?;
        let size = u32::from_le_bytes(chunk.get(4..8)?.try_into().ok()?);
        let body = offset.checked_add(8)?;
        if id == b"fmt " {
            let rate = header.get(body.checked_add(8)?..body.checked_add(12)?)?;
            byte_rate = Some(u64::from(u32::from_le_bytes(rate.try_into().ok()?)));
        } else if id == b"data" {
            let rate = byte_rate.filter(|r| *r > 0)?;
            let present = file_len.saturating_sub(u64::try_from(body).ok()?);
            let size = u64::from(size).min(present);
            return Some(size.saturating_mul(1_000) / rate);
        }
        // Chunks are padded to an even length.
        let padded = usize::try_from(size)
            .ok()?
            .checked_add(usize::try_from(size % 2).ok()?)?;
        offset = body.checked_add(padded)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::wav_length_ms;

    fn wav(byte_rate: u32, data_bytes: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"RIFF");
        bytes.extend_from_slice(&data_bytes.saturating_add(36).to_le_bytes());
        bytes.extend_from_slice(b"WAVEfmt ");
        bytes.extend_from_slice(&16u32.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&8_000u32.to_le_bytes());
        bytes.extend_from_slice(&byte_rate.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&16u16.to_le_bytes());
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&data_bytes.to_le_bytes());
        bytes
    }

    /// Returns the length of a file with this header and `data_bytes` of data.
    fn file_len(header: &[u8], data_bytes: u32) -> u64 {
        header.len() as u64 + u64::from(data_bytes)
    }

    #[test]
    fn wav_length_from_header() {
        let header = wav(16_000, 40_000);
        assert_eq!(
            wav_length_ms(&header, file_len(&header, 40_000)),
            Some(2_500)
        );
        assert_eq!(wav_length_ms(&wav(0, 40_000), 1_000_000), None);
        assert_eq!(wav_length_ms(b"RIFF....AVI ", 12), None);
        assert_eq!(wav_length_ms(b"", 0), None);
    }

    #[test]
    fn wav_length_limited_to_data_present() {
        // The header claims 4 GB, but only 10 bytes of data follow it.
        let header = wav(16_000, u32::MAX);
        assert_eq!(wav_length_ms(&header, file_len(&header, 10)), Some(0));
        let header = wav(16_000, u32::MAX);
        assert_eq!(
            wav_length_ms(&header, file_len(&header, 32_000)),
            Some(2_000)
        );
    }
}
