//! `flowc`: check, build, format and inspect Tok call flows.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
