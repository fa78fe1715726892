//! `flowc`: check, build, format and inspect Tok call flows.

mod cli;

use std::process::ExitCode;

/// Stack for the thread that does the work. The compiler walks flows
/// recursively; nesting limits keep the depth bounded, and this leaves a
/// wide margin for unoptimised builds.
const STACK_BYTES: usize = 64 * 1024 * 1024;

fn main() -> ExitCode {
    let worker = std::thread::Builder::new()
        .name(String::from("flowc"))
        .stack_size(STACK_BYTES)
        .spawn(cli::run);
    match worker.map(|handle| handle.join()) {
        Ok(Ok(status)) => status,
        Ok(Err(_)) => {
            eprintln!(
                "error: flowc stopped on an internal error; please report it with the input that caused it"
            );
            ExitCode::from(101)
        }
        Err(error) => {
            eprintln!("error: cannot start the flowc worker thread: {error}");
            ExitCode::from(101)
        }
    }
}
