#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/prompts")
}

fn scratch(test: &str) -> PathBuf {
    let folder = std::env::temp_dir().join(format!("flowd-prompt-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).unwrap();
    folder
}

fn write_wav(path: &Path, spec: hound::WavSpec, samples: &[i16]) {
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for sample in samples {
        writer.write_sample(*sample).unwrap();
    }
    writer.finalize().unwrap();
}

fn mono_8k() -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

#[test]
fn shipped_prompts_load() {
    let library = PromptLibrary::load(&shipped()).unwrap();
    let welcome = library.resolve("welcome", "en").unwrap();
    let samples = read_wav(&shipped().join("en/welcome.wav")).unwrap();
    assert_eq!(welcome.samples(), samples.len());
    let mut expected = Vec::new();
    Codec::Pcma.encode_into(&samples, &mut expected);
    assert_eq!(welcome.encoded(Codec::Pcma), &expected[..]);
    assert!(library.resolve("welcome", "sl").is_ok());
    assert!(library.len() > 40);
}

#[test]
fn resolve_falls_back_to_common() {
    let library = PromptLibrary::load(&shipped()).unwrap();
    let music = library.resolve("hold-music", "sl").unwrap();
    assert_eq!(music.name(), "hold-music");
    assert_eq!(music.duration_ms(), 20_000);
    let missing = library.resolve("no-such-prompt", "en").unwrap_err();
    assert_eq!(
        missing.to_string(),
        "prompt `no-such-prompt` not found in `en/` or `common/`"
    );
}

#[test]
fn language_prompt_wins_over_common() {
    let mut library = PromptLibrary::default();
    library.insert(COMMON, Arc::new(Prompt::from_samples("beep", &[1000; 8])));
    library.insert("en", Arc::new(Prompt::from_samples("beep", &[0; 4])));
    assert_eq!(library.resolve("beep", "en").unwrap().samples(), 4);
    assert_eq!(library.resolve("beep", "sl").unwrap().samples(), 8);
}

#[test]
fn wrong_format_is_rejected() {
    let folder = scratch("format");
    std::fs::create_dir_all(folder.join("en")).unwrap();
    let stereo = hound::WavSpec {
        channels: 2,
        sample_rate: 16000,
        ..mono_8k()
    };
    write_wav(&folder.join("en/loud.wav"), stereo, &[0; 64]);
    let error = PromptLibrary::load(&folder).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("loud.wav is 16000 Hz, 2 channel(s), 16 bits"),
        "{message}"
    );
    assert!(message.contains("8000 Hz mono 16-bit PCM"), "{message}");
    std::fs::remove_dir_all(&folder).unwrap();
}

#[test]
fn missing_folder_is_an_error() {
    let error = PromptLibrary::load(Path::new("/nonexistent/prompts")).unwrap_err();
    assert!(matches!(error, PromptError::Io { .. }), "{error}");
    assert!(error.to_string().contains("/nonexistent/prompts"));
}

#[test]
fn non_wav_files_are_skipped() {
    let folder = scratch("skip");
    std::fs::create_dir_all(folder.join("en")).unwrap();
    std::fs::write(folder.join("en/notes.txt"), "not audio").unwrap();
    std::fs::write(folder.join("README.md"), "top-level file").unwrap();
    write_wav(&folder.join("en/hello.wav"), mono_8k(), &[5; 10]);
    let library = PromptLibrary::load(&folder).unwrap();
    assert_eq!(library.len(), 1);
    assert_eq!(library.resolve("hello", "en").unwrap().samples(), 10);
    std::fs::remove_dir_all(&folder).unwrap();
}

#[test]
fn playback_joins_prompts_and_pads() {
    let first = Arc::new(Prompt::from_samples("a", &[1000; 250]));
    let second = Arc::new(Prompt::from_samples("b", &[-1000; 100]));
    let mut playback = Playback::new(vec![first, second]);
    let codec = Codec::Pcmu;
    let (high, low, silence) = (codec.encode(1000), codec.encode(-1000), codec.silence());
    let mut frame = Vec::new();

    playback.next_frame(codec, 160, &mut frame);
    assert_eq!(frame, vec![high; 160]);
    assert!(!playback.is_finished());

    playback.next_frame(codec, 160, &mut frame);
    let mut expected = vec![high; 90];
    expected.extend(vec![low; 70]);
    assert_eq!(frame, expected);

    playback.next_frame(codec, 160, &mut frame);
    let mut expected = vec![low; 30];
    expected.extend(vec![silence; 130]);
    assert_eq!(frame, expected);
    assert!(playback.is_finished());

    playback.next_frame(codec, 160, &mut frame);
    assert_eq!(frame, vec![silence; 160]);
}

#[test]
fn music_on_hold_loops() {
    let samples: Vec<i16> = (0..100).map(|i| i * 100).collect();
    let music = Arc::new(Prompt::from_samples("hold-music", &samples));
    let mut playback = Playback::looping(music.clone());
    let mut stream = Vec::new();
    let mut frame = Vec::new();
    for _ in 0..10 {
        playback.next_frame(Codec::Pcma, 80, &mut frame);
        stream.extend_from_slice(&frame);
    }
    assert!(!playback.is_finished());
    let one_loop = music.encoded(Codec::Pcma);
    for chunk in stream.chunks(100) {
        assert_eq!(chunk, one_loop);
    }
}

#[test]
fn empty_prompts_do_not_hang() {
    let empty = Arc::new(Prompt::from_samples("empty", &[]));
    let mut frame = Vec::new();
    let mut looping = Playback::looping(empty.clone());
    looping.next_frame(Codec::Pcmu, 160, &mut frame);
    assert_eq!(frame, vec![0xFF; 160]);
    let mut once = Playback::new(vec![empty.clone(), empty]);
    once.next_frame(Codec::Pcmu, 160, &mut frame);
    assert!(once.is_finished());
}
