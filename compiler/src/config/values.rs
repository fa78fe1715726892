//! Checks of single config values: dialled numbers, names, language codes,
//! durations, URLs, JSON pointers, header and environment variable names.
//!
//! Each check returns `Err` with a short reason, or a proposed spelling, that
//! the caller puts into a diagnostic.

/// Characters that may separate digit groups in a dialled number.
const NUMBER_SEPARATORS: [char; 5] = [' ', '-', '.', '(', ')'];

/// Returns the digits of a dialled number, with its leading `+` if any, so
/// that `+386 1 555 0100` and `+38615550100` compare equal.
pub fn number_digits(number: &str) -> String {
    number
        .chars()
        .filter(|c| !NUMBER_SEPARATORS.contains(c))
        .collect()
}

/// Most digits a phone number has (ITU-T E.164).
const MAX_NUMBER_DIGITS: usize = 15;

/// Checks a dialled number as written: digits, an optional leading `+`, and
/// spaces, dashes, dots or brackets between digit groups; at most 15
/// digits.
pub fn check_number(number: &str) -> Result<(), &'static str> {
    let digits = number_digits(number);
    let body = digits.strip_prefix('+').unwrap_or(&digits);
    if body.is_empty() {
        return Err("a number needs at least one digit");
    }
    if !body.chars().all(|c| c.is_ascii_digit()) {
        return Err(
            "a number contains only digits, an optional leading `+`, and spaces, dashes, dots or brackets between digit groups",
        );
    }
    if number.trim() != number {
        return Err("a number must not start or end with a space");
    }
    if body.len() > MAX_NUMBER_DIGITS {
        return Err("a phone number has at most 15 digits");
    }
    Ok(())
}

/// True for a name the flow language can refer to: a letter or underscore,
/// then letters, digits and underscores.
pub fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks a language code: a BCP 47 primary language subtag of two or three
/// lowercase letters, optionally followed by a region of two capital
/// letters or three digits (`en`, `sl`, `en-GB`, `es-419`). On failure,
/// returns the corrected spelling when one is obvious.
pub fn check_language(code: &str) -> Result<(), Option<String>> {
    if is_language(code) {
        return Ok(());
    }
    let fixed = normalize_language(code);
    Err(is_language(&fixed).then_some(fixed))
}

fn is_language(code: &str) -> bool {
    let (primary, region) = match code.split_once('-') {
        Some((primary, region)) => (primary, Some(region)),
        None => (code, None),
    };
    let primary_ok =
        (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_lowercase());
    let region_ok = region.is_none_or(|r| {
        (r.len() == 2 && r.chars().all(|c| c.is_ascii_uppercase()))
            || (r.len() == 3 && r.chars().all(|c| c.is_ascii_digit()))
    });
    primary_ok && region_ok
}

/// Rewrites `EN_gb` as `en-GB`: lowercase language, uppercase region, dash.
fn normalize_language(code: &str) -> String {
    let code = code.trim().replace('_', "-");
    match code.split_once('-') {
        Some((primary, region)) => {
            format!("{}-{}", primary.to_lowercase(), region.to_uppercase())
        }
        None => code.to_lowercase(),
    }
}

/// Parses a duration written as in flows: one or more groups of digits and a
/// unit (`ms`, `s`, `m`, `h`), such as `500ms`, `2s` or `1m30s`. Returns
/// milliseconds, or `None` when the text is not a duration or overflows.
pub fn parse_duration(text: &str) -> Option<u64> {
    let mut rest = text;
    let mut total: u64 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (digits, after) = rest.split_at(digits_end);
        let amount: u64 = digits.parse().ok()?;
        let (unit_ms, after) = split_unit(after)?;
        total = total.checked_add(amount.checked_mul(unit_ms)?)?;
        rest = after;
    }
    Some(total)
}

/// Splits a duration unit off the front of `text` and returns its length in
/// milliseconds. `ms` is tried before `m`.
fn split_unit(text: &str) -> Option<(u64, &str)> {
    const UNITS: [(&str, u64); 4] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)];
    UNITS
        .iter()
        .find_map(|(unit, ms)| text.strip_prefix(unit).map(|rest| (*ms, rest)))
}

/// Formats milliseconds the way a duration is written in the config.
pub fn format_duration(ms: u64) -> String {
    if ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

/// Checks a hook URL: `http://` or `https://`, a host, and no placeholder
/// other than `{key}`.
pub fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("a hook URL starts with `http://` or `https://`")?;
    if rest.is_empty() || rest.starts_with(['/', '?', '#']) {
        return Err(String::from("the URL has no host"));
    }
    if url.chars().any(char::is_whitespace) {
        return Err(String::from(
            "a URL contains no spaces; write a space as `%20`",
        ));
    }
    check_placeholders(url)
}

fn check_placeholders(url: &str) -> Result<(), String> {
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        let after = rest.get(open + 1..).unwrap_or("");
        let close = after.find('}').ok_or("a `{` in the URL is never closed")?;
        let name = after.get(..close).unwrap_or("");
        if name != "key" {
            return Err(format!(
                "`{{{name}}}` is not a placeholder; only `{{key}}` is replaced, by the lookup key"
            ));
        }
        rest = after.get(close + 1..).unwrap_or("");
    }
    Ok(())
}

/// Checks a JSON pointer (RFC 6901) such as `/data/name`: empty segments are
/// allowed, and `~` must be followed by `0` or `1`.
pub fn check_json_pointer(pointer: &str) -> Result<(), &'static str> {
    if !pointer.starts_with('/') {
        return Err("a JSON pointer starts with `/`, such as `/data/name`");
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err("in a JSON pointer `~` is written `~0` and `/` inside a name `~1`");
        }
    }
    Ok(())
}

/// True for a portable environment variable name: letters, digits and
/// underscores, not starting with a digit.
pub fn is_env_name(name: &str) -> bool {
    is_name(name)
}

/// True for an HTTP header name: one or more token characters (RFC 9110,
/// section 5.6.2).
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_with_separators() {
        assert_eq!(check_number("+38615550100"), Ok(()));
        assert_eq!(check_number("080 5550"), Ok(()));
        assert_eq!(check_number("+386 (1) 555-0100"), Ok(()));
        assert_eq!(number_digits("+386 (1) 555-0100"), "+38615550100");
    }

    #[test]
    fn numbers_rejected() {
        assert!(check_number("").is_err());
        assert!(check_number("+").is_err());
        assert!(check_number("sales").is_err());
        assert!(check_number("1+2").is_err());
        assert!(check_number(" 123").is_err());
        assert_eq!(check_number("+386 1 555 0100 1234"), Ok(()));
        assert!(check_number("1234567890123456").is_err());
    }

    #[test]
    fn names() {
        assert!(is_name("support"));
        assert!(is_name("_x9"));
        assert!(!is_name("9x"));
        assert!(!is_name("my-flow"));
        assert!(!is_name(""));
    }

    #[test]
    fn languages() {
        for good in ["en", "sl", "fil", "en-GB", "es-419"] {
            assert_eq!(check_language(good), Ok(()), "{good}");
        }
        assert_eq!(check_language("EN"), Err(Some(String::from("en"))));
        assert_eq!(check_language("en_gb"), Err(Some(String::from("en-GB"))));
        assert_eq!(check_language("english"), Err(None));
        assert_eq!(check_language("e"), Err(None));
        assert_eq!(check_language("en-"), Err(None));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Some(2_000));
        assert_eq!(parse_duration("500ms"), Some(500));
        assert_eq!(parse_duration("1m30s"), Some(90_000));
        assert_eq!(parse_duration("1h"), Some(3_600_000));
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("2"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("2 s"), None);
        assert_eq!(parse_duration("99999999999999999999h"), None);
        assert_eq!(format_duration(3_000), "3s");
        assert_eq!(format_duration(1_500), "1500ms");
    }

    #[test]
    fn urls() {
        assert_eq!(check_url("https://crm.example/contacts/{key}"), Ok(()));
        assert_eq!(check_url("http://127.0.0.1:9/orders"), Ok(()));
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("https://").is_err());
        assert!(check_url("https://x/{id}").is_err());
        assert!(check_url("https://x/{key").is_err());
        assert!(check_url("https://x/a b").is_err());
    }

    #[test]
    fn json_pointers() {
        assert_eq!(check_json_pointer("/data/name"), Ok(()));
        assert_eq!(check_json_pointer("/a~1b/~0c"), Ok(()));
        assert!(check_json_pointer("data/name").is_err());
        assert!(check_json_pointer("/a~2").is_err());
        assert!(check_json_pointer("/a~").is_err());
    }

    #[test]
    fn header_names() {
        assert!(is_header_name("X-Api-Key"));
        assert!(!is_header_name("X Api"));
        assert!(!is_header_name(""));
    }
}
