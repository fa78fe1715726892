//! Recorded prompts: loading the WAV files of a prompts folder once per
//! process, resolving a name per language, and playing a queue of prompts
//! as G.711 frames.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::g711::{CLOCK_RATE, Codec};

/// Folder of language-independent prompts, used when a language has none.
pub const COMMON: &str = "common";

/// An error loading or resolving prompts.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// A folder or file could not be read.
    #[error("cannot read prompts at {path}: {source}")]
    Io {
        /// The folder or file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not a WAV file hound can read.
    #[error("invalid WAV file {path}: {source}")]
    Wav {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: hound::Error,
    },
    /// A WAV file in another format than 8 kHz mono 16-bit PCM.
    #[error(
        "prompt {path} is {sample_rate} Hz, {channels} channel(s), {bits} bits; \
         convert it to 8000 Hz mono 16-bit PCM, for example with `sox IN -r 8000 -c 1 -b 16 OUT`"
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// Its sample rate.
        sample_rate: u32,
        /// Its channel count.
        channels: u16,
        /// Its bits per sample.
        bits: u16,
    },
    /// No prompt of that name in the language or in `common/`.
    #[error("prompt `{name}` not found in `{language}/` or `common/`")]
    NotFound {
        /// The prompt name.
        name: String,
        /// The language.
        language: String,
    },
}

/// One prompt, encoded once in both G.711 variants so that playing it costs
/// no per-call encoding.
#[derive(Debug)]
pub struct Prompt {
    name: String,
    pcmu: Box<[u8]>,
    pcma: Box<[u8]>,
}

impl Prompt {
    /// Encodes 8 kHz linear samples.
    pub fn from_samples(name: &str, samples: &[i16]) -> Prompt {
        let mut pcmu = Vec::with_capacity(samples.len());
        let mut pcma = Vec::with_capacity(samples.len());
        Codec::Pcmu.encode_into(samples, &mut pcmu);
        Codec::Pcma.encode_into(samples, &mut pcma);
        Prompt {
            name: name.to_owned(),
            pcmu: pcmu.into_boxed_slice(),
            pcma: pcma.into_boxed_slice(),
        }
    }

    /// Returns the prompt's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the prompt encoded with `codec`, one byte per sample.
    pub fn encoded(&self, codec: Codec) -> &[u8] {
        match codec {
            Codec::Pcmu => &self.pcmu,
            Codec::Pcma => &self.pcma,
        }
    }

    /// Returns the number of samples.
    pub fn samples(&self) -> usize {
        self.pcmu.len()
    }

    /// Returns the length in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.samples() as u64 * 1000 / u64::from(CLOCK_RATE)
    }
}

/// Every prompt of a prompts folder: `<language>/<name>.wav` and
/// `common/<name>.wav`.
#[derive(Debug, Default)]
pub struct PromptLibrary {
    prompts: HashMap<(String, String), Arc<Prompt>>,
}

impl PromptLibrary {
    /// Loads every `.wav` file in the subfolders of `folder`. Files in other
    /// formats than 8 kHz mono 16-bit PCM are an error, so a bad prompt is
    /// found at start-up rather than during a call.
    pub fn load(folder: &Path) -> Result<PromptLibrary, PromptError> {
        let io_error = |path: &Path| {
            let path = path.to_owned();
            move |source| PromptError::Io { path, source }
        };
        let mut library = PromptLibrary::default();
        for entry in std::fs::read_dir(folder).map_err(io_error(folder))? {
            let language_folder = entry.map_err(io_error(folder))?.path();
            if !language_folder.is_dir() {
                continue;
            }
            let Some(language) = language_folder.file_name().and_then(|name| name.to_str()) else {
                continue;
            };
            let language = language.to_owned();
            for file in std::fs::read_dir(&language_folder).map_err(io_error(&language_folder))? {
                let path = file.map_err(io_error(&language_folder))?.path();
                let is_wav = path
                    .extension()
                    .is_some_and(|ext| ext.eq_ignore_ascii_case("wav"));
                let Some(name) = path.file_stem().and_then(|stem| stem.to_str()) else {
                    continue;
                };
                if !is_wav {
                    continue;
                }
                let samples = read_wav(&path)?;
                let prompt = Arc::new(Prompt::from_samples(name, &samples));
                library.insert(&language, prompt);
            }
        }
        Ok(library)
    }

    /// Adds or replaces a prompt of a language (or of [`COMMON`]).
    pub fn insert(&mut self, language: &str, prompt: Arc<Prompt>) {
        let key = (language.to_owned(), prompt.name().to_owned());
        self.prompts.insert(key, prompt);
    }

    /// Returns the prompt `name` in `language`, else in `common/`.
    pub fn resolve(&self, name: &str, language: &str) -> Result<Arc<Prompt>, PromptError> {
        let find = |folder: &str| self.prompts.get(&(folder.to_owned(), name.to_owned()));
        find(language)
            .or_else(|| find(COMMON))
            .cloned()
            .ok_or_else(|| PromptError::NotFound {
                name: name.to_owned(),
                language: language.to_owned(),
            })
    }

    /// Lists the loaded prompts for `flowc`'s checker, which reports a
    /// flow that plays a prompt missing here.
    pub fn inventory(&self) -> flowc::project::PromptInventory {
        flowc::project::PromptInventory {
            listed: true,
            files: self.prompts.keys().cloned().collect(),
        }
    }

    /// Returns the number of prompt files loaded.
    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    /// Returns true when no prompt is loaded.
    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }
}

/// Reads an 8 kHz mono 16-bit PCM WAV file.
pub fn read_wav(path: &Path) -> Result<Vec<i16>, PromptError> {
    let wav_error = |source| PromptError::Wav {
        path: path.to_owned(),
        source,
    };
    let reader = hound::WavReader::open(path).map_err(wav_error)?;
    let spec = reader.spec();
    let supported = spec.sample_rate == CLOCK_RATE
        && spec.channels == 1
        && spec.bits_per_sample == 16
        && spec.sample_format == hound::SampleFormat::Int;
    if !supported {
        return Err(PromptError::Format {
            path: path.to_owned(),
            sample_rate: spec.sample_rate,
            channels: spec.channels,
            bits: spec.bits_per_sample,
        });
    }
    reader
        .into_samples::<i16>()
        .collect::<Result<Vec<i16>, _>>()
        .map_err(wav_error)
}

/// A queue of prompts played frame by frame. Playback stops at a frame
/// boundary by dropping it; a looping playback (music on hold) never ends.
#[derive(Debug)]
pub struct Playback {
    queue: VecDeque<Arc<Prompt>>,
    offset: usize,
    looping: bool,
}

impl Playback {
    /// Plays `prompts` once, in order and without gaps between them.
    pub fn new(prompts: Vec<Arc<Prompt>>) -> Playback {
        Playback {
            queue: prompts.into(),
            offset: 0,
            looping: false,
        }
    }

    /// Plays `prompt` again and again, as music on hold.
    pub fn looping(prompt: Arc<Prompt>) -> Playback {
        Playback {
            queue: VecDeque::from([prompt]),
            offset: 0,
            looping: true,
        }
    }

    /// Returns true when every prompt has been played.
    pub fn is_finished(&self) -> bool {
        self.queue.is_empty()
    }

    /// Writes the next frame of `samples` codes into `out` (cleared first),
    /// padding the end of the last prompt with silence.
    pub fn next_frame(&mut self, codec: Codec, samples: usize, out: &mut Vec<u8>) {
        out.clear();
        while out.len() < samples {
            let Some(prompt) = self.queue.front() else {
                out.resize(samples, codec.silence());
                return;
            };
            let audio = prompt.encoded(codec);
            let remaining = samples - out.len();
            let rest = audio.get(self.offset..).unwrap_or_default();
            let copied = rest.get(..remaining).unwrap_or(rest);
            out.extend_from_slice(copied);
            self.offset += copied.len();
            if self.offset >= audio.len() {
                self.offset = 0;
                if !self.looping || audio.is_empty() {
                    self.queue.pop_front();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
