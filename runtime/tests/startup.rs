//! What flowd checks before it serves: a flow that plays a prompt missing
//! from the prompts folder, two flows answering one number, an invalid
//! `country_code`, and the log line per listener of a good start.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Creates a project folder under the temp dir with `tok.yaml` (the given
/// text plus database, spool and recordings paths in the folder), the flow
/// files given as (name, text), and one English prompt, `hello`.
fn project(name: &str, config: &str, flows: &[(&str, &str)]) -> PathBuf {
    let folder = std::env::temp_dir().join(format!("flowd-startup-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(folder.join("audio/en")).unwrap();
    let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../flows/prompts/en/goodbye.wav");
    std::fs::copy(shipped, folder.join("audio/en/hello.wav")).unwrap();
    // The database, spool and recordings live in the project folder, so a
    // test never writes into the source tree.
    let config = format!(
        "{config}database: \"sqlite://{data}/tok.db\"\nspool: \"{data}/spool\"\nrecordings: \"{data}/recordings\"\n",
        data = folder.display()
    );
    std::fs::write(folder.join("tok.yaml"), config).unwrap();
    for (file, text) in flows {
        std::fs::write(folder.join(file), text).unwrap();
    }
    folder
}

/// Runs flowd with `--config` and returns its exit code and stderr.
fn run_flowd(config: &Path) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_flowd"))
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

const CONFIG: &str = "languages: [en]\nprompts:\n  dir: audio\n";

#[test]
fn missing_prompt_stops_start() {
    let flow = "flow demo answers \"+38615550111\"\non call {\n  play \"nowhere\"\n  hangup\n}\n";
    let folder = project("prompt", CONFIG, &[("demo.flow", flow)]);
    let (code, stderr) = run_flowd(&folder.join("tok.yaml"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("nowhere"), "{stderr}");
    assert!(stderr.contains("demo.flow"), "{stderr}");
}

#[test]
fn shared_number_names_both_files() {
    let config = format!("{CONFIG}country_code: 386\n");
    let first =
        "flow first answers \"+386 1 555 0111\"\non call {\n  play \"hello\"\n  hangup\n}\n";
    let second = "flow second answers \"01 555 0111\"\non call {\n  play \"hello\"\n  hangup\n}\n";
    let folder = project(
        "shared",
        &config,
        &[("first.flow", first), ("second.flow", second)],
    );
    let (code, stderr) = run_flowd(&folder.join("tok.yaml"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("+38615550111"), "{stderr}");
    assert!(stderr.contains("first.flow"), "{stderr}");
    assert!(stderr.contains("second.flow"), "{stderr}");
}

#[test]
fn invalid_country_code_names_key() {
    let flow = "flow demo answers \"+38615550111\"\non call {\n  hangup\n}\n";
    let config = format!("{CONFIG}country_code: SI\n");
    let folder = project("country", &config, &[("demo.flow", flow)]);
    let (code, stderr) = run_flowd(&folder.join("tok.yaml"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("`country_code`"), "{stderr}");
    assert!(stderr.contains("`SI`"), "{stderr}");
}

#[test]
fn start_logs_each_listener() {
    let flow = "flow demo answers \"+38615550111\"\non call {\n  play \"hello\"\n  hangup\n}\n";
    let config = format!(
        "{CONFIG}sip:\n  listen: [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\"]\nrtp:\n  ports: 22500-22519\nhttp: 127.0.0.1:0\n"
    );
    let folder = project("listeners", &config, &[("demo.flow", flow)]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowd"))
        .arg("--config")
        .arg(folder.join("tok.yaml"))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let done = line.contains("listening for HTTP");
        lines.push(line);
        if done {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let log = lines.join("\n");
    let sip_lines = lines
        .iter()
        .filter(|line| line.contains("listening for SIP"))
        .count();
    assert_eq!(sip_lines, 2, "{log}");
    assert!(log.contains("listening for RTP"), "{log}");
    assert!(log.contains("22500-22519"), "{log}");
    assert!(log.contains("listening for HTTP"), "{log}");
}

#[test]
fn unwritable_recordings_stop_start() {
    let flow = "flow demo answers \"+38615550111\"\non call {\n  hangup\n}\n";
    let config = format!("{CONFIG}http: 127.0.0.1:0\n");
    let folder = project("recordings", &config, &[("demo.flow", flow)]);
    // A file where the folder should be: no user can create it.
    let blocker = folder.join("blocker");
    std::fs::write(&blocker, b"").unwrap();
    let text = std::fs::read_to_string(folder.join("tok.yaml")).unwrap();
    let recordings = format!("recordings: \"{}/recordings\"", folder.display());
    let text = text.replace(
        &recordings,
        &format!("recordings: \"{}\"", blocker.join("inside").display()),
    );
    std::fs::write(folder.join("tok.yaml"), text).unwrap();
    let (code, stderr) = run_flowd(&folder.join("tok.yaml"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("`recordings`"), "{stderr}");
    assert!(stderr.contains("blocker"), "{stderr}");
}
