//! The moment a simulated call starts: a local date and time in a zone,
//! with a defined answer for times that a DST change skips or repeats.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};

/// A resolved start instant and what was done to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moment {
    /// The instant.
    pub at: Timestamp,
    /// A sentence for the trace header when the local time was skipped or
    /// repeated by a DST change.
    pub note: Option<String>,
}

/// Resolves `--at` in a zone. `text` is `YYYY-MM-DDTHH:MM[:SS]` (a space
/// may replace the `T`), read in `zone`, or the same with an offset such as
/// `+01:00` or `Z`, which picks the instant exactly.
///
/// A local time that a DST change skips is moved forward by the length of
/// the gap (02:30 on a spring-forward night becomes 03:30). A local time
/// that a DST change repeats takes the earlier of its two instants, the one
/// still on summer time; an explicit offset picks either.
pub fn resolve(text: &str, zone: &TimeZone, zone_name: &str) -> Result<Moment, String> {
    let text = text.trim();
    let normalized = normalize(text);
    if text.contains('[') {
        return Err(format!(
            "invalid time `{text}`: a zone in brackets is not read; give the zone with `--tz` or `tz:` and write the local time, such as `2026-12-24T17:59`"
        ));
    }
    if let (false, Ok(date)) = (
        normalized.contains(['T', 't']),
        normalized.parse::<jiff::civil::Date>(),
    ) {
        return Err(format!(
            "invalid time `{text}`: a date alone has no time of day; write one, such as `{date}T00:00`"
        ));
    }
    if let Ok(at) = normalized.parse::<Timestamp>() {
        check_offset(text, &normalized)?;
        check_year(text, zone.to_datetime(at).year())?;
        return Ok(Moment { at, note: None });
    }
    // An instant with an offset near the end of the computable range does
    // not parse as a timestamp; report its year rather than its form.
    if let Some(year) = normalized.get(..4).and_then(|y| y.parse::<i16>().ok()) {
        check_year(text, year)?;
    }
    let local: DateTime = normalized.parse().map_err(|_| {
        format!(
            "invalid time `{text}`: write a local time such as `2026-12-24T17:59`, or one with an offset such as `2026-10-25T02:30+01:00`"
        )
    })?;
    check_year(text, local.year())?;
    let ambiguous = zone.to_ambiguous_timestamp(local);
    let offset = ambiguous.offset();
    let at = ambiguous
        .compatible()
        .map_err(|e| format!("invalid time `{text}` in {zone_name}: {e}"))?;
    let note = match offset {
        AmbiguousOffset::Unambiguous { .. } => None,
        AmbiguousOffset::Gap { .. } => Some(format!(
            "{local} does not exist in {zone_name} (clocks move forward there); it was moved forward by the gap to {}",
            show(at, zone)
        )),
        AmbiguousOffset::Fold { before, after } => Some(format!(
            "{local} happens twice in {zone_name} (clocks move back there); the earlier one, at offset {before}, was taken; write `{}{after}` for the later one",
            local.strftime("%Y-%m-%dT%H:%M")
        )),
    };
    Ok(Moment { at, note })
}

/// The latest year a call may start in. Later instants are near the end of
/// the range that times can be computed in, and a call moves the clock on.
pub const MAX_YEAR: i16 = 9_000;

/// The largest UTC offset accepted either way, in minutes. Zones use
/// -12:00 to +14:00 (Kiribati); -14:00 is accepted for symmetry.
const MAX_OFFSET_MINUTES: i32 = 14 * 60;

fn check_year(text: &str, year: i16) -> Result<(), String> {
    if (1..=MAX_YEAR).contains(&year) {
        Ok(())
    } else {
        Err(format!(
            "invalid time `{text}`: the year {year} is out of range; give a year from 1 to {MAX_YEAR}"
        ))
    }
}

/// Rejects an offset beyond ±14:00, which no zone uses. `normalized` is
/// the text with `T` between date and time.
fn check_offset(text: &str, normalized: &str) -> Result<(), String> {
    let Some((_, time)) = normalized.split_once('T') else {
        return Ok(());
    };
    let Some(sign_at) = time.find(['+', '-']) else {
        return Ok(());
    };
    let Some(offset) = time.get(sign_at + 1..) else {
        return Ok(());
    };
    let digits: String = offset.chars().filter(char::is_ascii_digit).collect();
    let hours: i32 = digits.get(..2).and_then(|h| h.parse().ok()).unwrap_or(0);
    let minutes: i32 = digits.get(2..4).and_then(|m| m.parse().ok()).unwrap_or(0);
    if hours * 60 + minutes > MAX_OFFSET_MINUTES {
        return Err(format!(
            "invalid time `{text}`: the offset is out of range; write an offset of at most 14:00 either way, such as `+01:00`"
        ));
    }
    Ok(())
}

/// Accepts a space between date and time.
fn normalize(text: &str) -> String {
    match text.split_once(' ') {
        Some((date, time)) if date.len() == 10 => format!("{date}T{}", time.trim()),
        _ => text.to_string(),
    }
}

/// Formats an instant as local time with the zone's abbreviation, such as
/// `Thu 2026-12-24 17:59:00 CET`.
pub fn show(at: Timestamp, zone: &TimeZone) -> String {
    let local = zone.to_datetime(at);
    let info = zone.to_offset_info(at);
    format!(
        "{} {}",
        local.strftime("%a %Y-%m-%d %H:%M:%S"),
        info.abbreviation()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ljubljana() -> TimeZone {
        jiff::tz::db()
            .get("Europe/Ljubljana")
            .unwrap_or(TimeZone::UTC)
    }

    #[test]
    fn plain_local_time() {
        let zone = ljubljana();
        let moment = resolve("2026-12-24T17:59", &zone, "Europe/Ljubljana");
        assert_eq!(
            moment.as_ref().map(|m| m.at.to_string()),
            Ok(String::from("2026-12-24T16:59:00Z"))
        );
        assert_eq!(moment.map(|m| m.note), Ok(None));
    }

    #[test]
    fn skipped_time_moves_forward() {
        let zone = ljubljana();
        let moment = resolve("2026-03-29 02:30", &zone, "Europe/Ljubljana");
        assert_eq!(
            moment.as_ref().map(|m| show(m.at, &zone)),
            Ok(String::from("Sun 2026-03-29 03:30:00 CEST"))
        );
        assert!(moment.is_ok_and(|m| m.note.is_some()));
    }

    #[test]
    fn repeated_time_takes_earlier() {
        let zone = ljubljana();
        let moment = resolve("2026-10-25T02:30", &zone, "Europe/Ljubljana");
        assert_eq!(
            moment.as_ref().map(|m| show(m.at, &zone)),
            Ok(String::from("Sun 2026-10-25 02:30:00 CEST"))
        );
        assert!(moment.is_ok_and(|m| m.note.is_some()));
        let later = resolve("2026-10-25T02:30+01:00", &zone, "Europe/Ljubljana");
        assert_eq!(
            later.map(|m| show(m.at, &zone)),
            Ok(String::from("Sun 2026-10-25 02:30:00 CET"))
        );
    }

    #[test]
    fn unusable_times_rejected() {
        let zone = ljubljana();
        let cases = [
            ("2026-12-03", "`2026-12-03T00:00`"),
            ("2026-12-03T10:00+15:00", "offset is out of range"),
            ("2026-12-03T10:00-14:30", "offset is out of range"),
            (
                "2026-12-03T10:00+01:00[America/New_York]",
                "zone in brackets",
            ),
            (
                "9999-12-31T23:59",
                "out of range; give a year from 1 to 9000",
            ),
            ("9999-12-31T23:59Z", "out of range"),
        ];
        for (text, expected) in cases {
            let error = resolve(text, &zone, "Europe/Ljubljana");
            assert!(
                error.as_ref().is_err_and(|e| e.contains(expected)),
                "{text}: {error:?}"
            );
        }
        assert!(resolve("2026-12-03T10:00+14:00", &zone, "Europe/Ljubljana").is_ok());
        assert!(resolve("2026-12-03T10:00-12:00", &zone, "Europe/Ljubljana").is_ok());
    }

    #[test]
    fn invalid_time_names_value() {
        let error = resolve("tomorrow", &ljubljana(), "Europe/Ljubljana");
        assert!(error.is_err_and(|e| e.contains("`tomorrow`")));
    }
}
