//! `flowc explain`: print the page of a diagnostic code.

use super::{EXIT_OK, emit, usage_error};
use flowc::diag::{Code, all_codes};

/// Runs `flowc explain` and returns the exit status.
pub fn run(code: Option<&str>, list: bool) -> u8 {
    if list || code.is_none() {
        for code in all_codes() {
            let info = code.info();
            let severity = if info.severity == flowc::diag::Severity::Error {
                "error"
            } else {
                "warning"
            };
            emit(&format!("{}  {severity:<7}  {}\n", info.id, info.title));
        }
        return EXIT_OK;
    }
    let wanted = code.unwrap_or_default();
    match Code::parse(wanted) {
        Some(code) => {
            emit(code.info().page);
            EXIT_OK
        }
        None => {
            let ids: Vec<&str> = all_codes().iter().map(|c| c.info().id).collect();
            let hint = match flowc::diag::did_you_mean(wanted, ids.iter().copied()) {
                Some(best) => format!("; did you mean `{best}`?"),
                None => String::from("; `flowc explain --list` lists every code"),
            };
            usage_error(&format!("unknown diagnostic code `{wanted}`{hint}"))
        }
    }
}
