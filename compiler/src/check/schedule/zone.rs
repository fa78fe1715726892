//! Time zone names (F0401), checked against the IANA time zone database
//! that jiff bundles into the binary (its `tzdb-bundle-always` feature), so
//! the check reads no files and gives the same result on every machine.

use jiff::tz::TimeZoneDatabase;

use crate::diag::{Code, Diagnostic, FileId, did_you_mean};
use crate::syntax::ast::StringLit;

/// Reports a zone name that is not in the database, with a suggestion.
/// IANA names are case-sensitive, so a name with the wrong case is unknown
/// too, and the help gives the right case.
pub(super) fn check(file: FileId, zone: &StringLit, diagnostics: &mut Vec<Diagnostic>) {
    let database = TimeZoneDatabase::bundled();
    if database.available().any(|name| name.as_str() == zone.value) {
        return;
    }
    let names: Vec<String> = database
        .available()
        .map(|name| name.as_str().to_string())
        .collect();
    let help = match suggest(&zone.value, &names) {
        Some(Suggestion::Case(name)) => {
            format!("time zone names are case-sensitive: write `{name}`")
        }
        Some(Suggestion::Close(name)) => format!("did you mean `{name}`?"),
        None => String::from(
            "write an IANA time zone name, such as `Europe/Ljubljana` or `America/New_York`",
        ),
    };
    diagnostics.push(
        Diagnostic::new(
            Code::UnknownTimeZone,
            format!("unknown time zone `{}`", zone.value),
        )
        .primary(file, zone.span, "not in the IANA time zone database")
        .help(help),
    );
}

/// A zone name to propose instead of an unknown one.
#[derive(Debug, PartialEq, Eq)]
enum Suggestion<'a> {
    /// The same name in its right case.
    Case(&'a str),
    /// A name close to it, or a zone named after the city written.
    Close(&'a str),
}

fn suggest<'a>(written: &str, names: &'a [String]) -> Option<Suggestion<'a>> {
    if let Some(name) = names.iter().find(|name| name.eq_ignore_ascii_case(written)) {
        return Some(Suggestion::Case(name));
    }
    if let Some(name) = did_you_mean(written, names.iter().map(String::as_str)) {
        return Some(Suggestion::Close(name));
    }
    // A city alone, such as "Ljubljana" or "new york": IANA names end in
    // the city with underscores for spaces.
    let city = written.trim().replace(' ', "_");
    names
        .iter()
        .find(|name| {
            name.rsplit('/')
                .next()
                .is_some_and(|last| last.eq_ignore_ascii_case(&city))
        })
        .map(|name| Suggestion::Close(name))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::diag::Span;

    fn help_for(value: &str) -> Option<String> {
        let zone = StringLit {
            value: value.to_string(),
            span: Span::default(),
        };
        let mut diagnostics = Vec::new();
        check(FileId(0), &zone, &mut diagnostics);
        diagnostics.pop().map(|d| d.help.unwrap_or_default())
    }

    #[test]
    fn known_zones_pass() {
        for zone in [
            "Europe/Ljubljana",
            "America/New_York",
            "UTC",
            "Asia/Kolkata",
        ] {
            assert_eq!(help_for(zone), None, "{zone}");
        }
    }

    #[test]
    fn wrong_case_is_unknown_with_the_right_case() {
        assert_eq!(
            help_for("europe/ljubljana").unwrap(),
            "time zone names are case-sensitive: write `Europe/Ljubljana`"
        );
    }

    #[test]
    fn typo_gets_did_you_mean() {
        assert_eq!(
            help_for("Europe/Ljubjana").unwrap(),
            "did you mean `Europe/Ljubljana`?"
        );
    }

    #[test]
    fn city_alone_gets_its_zone() {
        assert_eq!(
            help_for("new york").unwrap(),
            "did you mean `America/New_York`?"
        );
    }

    #[test]
    fn nonsense_gets_examples() {
        assert!(help_for("Mars/Olympus").unwrap().contains("IANA"));
        assert!(help_for("").unwrap().contains("IANA"));
    }
}
