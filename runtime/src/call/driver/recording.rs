//! The call recording (`record on/off/pause/resume`) and the post-call
//! survey.

use super::{Leg, Wake, file_name};
use crate::call::persist::JournalEntry;
use crate::call::record::CallLog;
use flowc::bytecode::RecordMode;
use flowc::vm::Reply;
use std::path::PathBuf;
use std::time::Duration;
use tokio::time::Instant;

/// How long the survey waits for a key after its question.
const SURVEY_TIMEOUT: Duration = Duration::from_secs(5);

/// The call recording's state in the call's task.
#[derive(Debug, Default)]
pub(super) struct CallRecording {
    /// The WAV file, once started.
    path: Option<PathBuf>,
    /// The file name relative to the recordings folder.
    relative: Option<String>,
    /// True while the media task writes it.
    running: bool,
    /// True once `record off` in `after call` asked for the file to go.
    discard: bool,
    /// True once the file's name is queued for the store.
    journaled: bool,
}

impl CallRecording {
    /// Applies the end of the call to the record once the media task has
    /// closed the file: a discarded recording is deleted and unlinked.
    pub(super) fn settle(&mut self, log: &mut CallLog) {
        if !self.discard {
            log.recording.clone_from(&self.relative);
            return;
        }
        log.recording = None;
        if let Some(path) = &self.path {
            match std::fs::remove_file(path) {
                Ok(()) => {
                    tracing::debug!(path = %path.display(), "recording deleted as the flow asked")
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    tracing::error!(path = %path.display(), %error, "cannot delete the recording");
                }
            }
        }
    }
}

impl Leg {
    /// Starts, stops, pauses or resumes the call recording. `record off`
    /// in `after call` also deletes the file when the call ends.
    pub(super) fn record(&mut self, mode: RecordMode) {
        match mode {
            RecordMode::On | RecordMode::Resume if self.recording.running => {
                let _ = self.media.pause_call_recording(false);
            }
            RecordMode::On | RecordMode::Resume => self.start_recording(),
            RecordMode::Pause => {
                let _ = self.media.pause_call_recording(true);
            }
            RecordMode::Off => {
                let _ = self.media.stop_call_recording();
                self.recording.running = false;
                if self.after_call {
                    self.recording.discard = true;
                }
            }
        }
    }

    /// Queues the recording's path for the call's row once, so a crash
    /// leaves the WAV named in the record; the call does not wait for it.
    pub(super) async fn journal_recording(&mut self) {
        if self.recording.journaled || !self.recording.running {
            return;
        }
        let (Some(journal), Some(relative)) = (&self.shared.journal, &self.recording.relative)
        else {
            return;
        };
        let entry = JournalEntry::Recording {
            call_id: self.log.call_id.clone(),
            recording: relative.clone(),
        };
        let _ = journal.enqueue(entry).await;
        self.recording.journaled = true;
    }

    fn start_recording(&mut self) {
        if self.hung_up {
            return;
        }
        let folder = self.shared.recordings.clone();
        if let Err(error) = std::fs::create_dir_all(&folder) {
            tracing::error!(folder = %folder.display(), %error, "cannot create the recordings folder; the call is not recorded");
            return;
        }
        // One file per call; a second `record on` after `record off`
        // starts the file again.
        let relative = format!("{}.wav", file_name(&self.dialog.call_id));
        let path = folder.join(&relative);
        if self.media.record_call(path.clone()).is_err() {
            return;
        }
        tracing::debug!(path = %path.display(), "recording the call");
        self.recording.path = Some(path);
        self.recording.relative = Some(relative);
        self.recording.running = true;
        self.recording.discard = false;
    }

    /// Plays the question, waits for one key 1-5 (asking once more after
    /// another key or silence), thanks the caller and returns the rating.
    pub(super) async fn survey(
        &mut self,
        question: &str,
        thanks: Option<&str>,
        language: &str,
    ) -> Reply {
        for _ in 0..2 {
            let key = match self.play(&[question.to_string()], language, true).await {
                Reply::HungUp => return Reply::HungUp,
                Reply::Played { keys } => keys.chars().next(),
                _ => None,
            };
            let key = match key {
                Some(key) => Some(key),
                None => match self.wait_key(SURVEY_TIMEOUT).await {
                    Err(()) => return Reply::HungUp,
                    Ok(key) => key,
                },
            };
            let rating = key
                .and_then(|key| key.to_digit(10))
                .and_then(|digit| u8::try_from(digit).ok())
                .filter(|digit| (1..=5).contains(digit));
            if let Some(rating) = rating {
                if let Some(thanks) = thanks
                    && let Reply::HungUp = self.play(&[thanks.to_string()], language, false).await
                {
                    tracing::debug!(rating, "the caller hung up during the thanks");
                }
                return Reply::Rating(Some(rating));
            }
            tracing::debug!(?key, "survey answer not 1-5; asking again");
        }
        Reply::Rating(None)
    }

    /// Waits up to `timeout` for one key; `Err` when the caller hung up.
    async fn wait_key(&mut self, timeout: Duration) -> Result<Option<char>, ()> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.wait(Some(deadline)).await {
                Wake::Key(key) => return Ok(Some(key.as_char())),
                Wake::HungUp => return Err(()),
                Wake::Timeout => return Ok(None),
                Wake::PlaybackEnded(_) => {}
            }
        }
    }
}
