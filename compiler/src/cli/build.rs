//! `flowc build` and `flowc disasm`.

use super::{EXIT_ERRORS, usage_error};
use std::path::Path;

/// Compiles one flow file to bytecode.
pub fn build(file: &Path, output: Option<&Path>, config: Option<&Path>) -> u8 {
    // TODO: wire to the code generator.
    let _ = (file, output, config);
    usage_error("not built yet")
}

/// Prints a bytecode file in readable form.
pub fn disasm(file: &Path) -> u8 {
    let _ = file;
    EXIT_ERRORS
}
