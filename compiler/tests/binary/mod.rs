//! Helpers for the tests that run the `flowc` binary on copies of the
//! shipped flows.

#![allow(dead_code, clippy::disallowed_methods, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Returns the repository's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the compiler crate is inside the repository")
        .to_path_buf()
}

/// Copies a folder and everything in it.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("the copy's folder is created");
    for entry in std::fs::read_dir(from)
        .expect("the folder is read")
        .flatten()
    {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("the file is copied");
        }
    }
}

/// Copies the shipped flows, prompts and scenarios into a fresh folder
/// named after the test file and the test.
pub fn shipped_copy(file: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flowc-{file}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&repo_root().join("flows"), &dir);
    dir
}

/// Runs the `flowc` binary in a folder, without colours.
pub fn flowc(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flowc"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("flowc runs")
}

/// Returns standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Returns standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
