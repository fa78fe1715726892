//! `flowc fmt`.

use super::usage_error;
use std::path::PathBuf;

/// Formats flow files in place, or checks them with `check`.
pub fn run(paths: &[PathBuf], check: bool) -> u8 {
    // TODO: wire to the formatter.
    let _ = (paths, check);
    usage_error("not built yet")
}
