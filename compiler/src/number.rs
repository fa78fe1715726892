//! Phone numbers in the spellings carriers, SBCs and people use, brought to
//! E.164 (`+` and up to 15 digits) so that one number compares equal however
//! it was written.
//!
//! With country code 386 set, these spellings are one number:
//! `+38615550100`, `+386 1 555-0100`, `0038615550100`, `38615550100` and the
//! national `015550100`. Spaces, dashes, dots and brackets may stand
//! anywhere. A `tel:` or `sip:` URI, and parameters such as `;user=phone`
//! or `;phone-context=` after the number, are accepted too.
//!
//! The rules are the ITU-T E.164 ones most countries use: `00` is the
//! international prefix and `0` the trunk prefix. For country code 1 (the
//! North American plan) the international prefix is `011`, and a national
//! number is ten digits, optionally after the trunk prefix `1`.
// NOTE: countries with other prefixes (`8` in parts of the former USSR,
// none in Italy's geographic numbers) are read with the rules above.

use std::fmt;

/// Characters that may separate digit groups (RFC 3966 visual separators
/// and the space).
const SEPARATORS: [char; 5] = [' ', '-', '.', '(', ')'];

/// Most digits of an E.164 number, country code included.
pub const MAX_DIGITS: usize = 15;

/// A country calling code such as 386 (Slovenia) or 1 (North America).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CountryCode(u16);

impl CountryCode {
    /// Parses one to three digits with no leading zero, such as `386`.
    pub fn parse(text: &str) -> Result<CountryCode, String> {
        let text = text.trim();
        let text = text.strip_prefix('+').unwrap_or(text);
        let valid = (1..=3).contains(&text.len())
            && text.chars().all(|c| c.is_ascii_digit())
            && !text.starts_with('0');
        match text.parse::<u16>() {
            Ok(code) if valid => Ok(CountryCode(code)),
            _ => Err(format!(
                "invalid country calling code `{text}`: write one to three digits without a leading zero, such as `386` for Slovenia or `1` for the United States"
            )),
        }
    }

    /// Returns the code as a number.
    pub fn get(self) -> u16 {
        self.0
    }

    fn international_prefix(self) -> &'static str {
        if self.0 == 1 { "011" } else { "00" }
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A number read by [`normalise`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Number {
    /// The spelling shows which E.164 number it is: a `+`, an international
    /// prefix, or a national number with the country code known.
    E164(String),
    /// Digits without a prefix: an E.164 number written without `+`
    /// (`38615550100`) or, where a country code is known, a national
    /// number without its trunk prefix. The E.164 readings are listed with
    /// the international one first.
    Ambiguous(Vec<String>),
    /// Not an E.164 number (a short code without a country code, too many
    /// digits); compared by its digits as written, separators removed.
    Other(String),
}

impl Number {
    /// Returns the spellings to look the number up by, most likely first.
    pub fn candidates(&self) -> Vec<String> {
        match self {
            Number::E164(number) | Number::Other(number) => vec![number.clone()],
            Number::Ambiguous(readings) => readings.clone(),
        }
    }

    /// Returns the E.164 form when the spelling is unambiguous.
    pub fn e164(&self) -> Option<&str> {
        match self {
            Number::E164(number) => Some(number),
            Number::Ambiguous(_) | Number::Other(_) => None,
        }
    }
}

/// Returns `text` without a `tel:` or `sip:`/`sips:` scheme, URI parameters
/// and the host part, and without visual separators.
pub fn strip_decoration(text: &str) -> String {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    let rest = if lower.starts_with("tel:") || lower.starts_with("sip:") {
        text.get(4..).unwrap_or_default()
    } else if lower.starts_with("sips:") {
        text.get(5..).unwrap_or_default()
    } else {
        text
    };
    let user = rest.split('@').next().unwrap_or_default();
    let number = user.split(';').next().unwrap_or_default();
    number
        .replace("%20", "")
        .chars()
        .filter(|c| !SEPARATORS.contains(c))
        .collect()
}

/// Reads a dialled or calling number in any of the spellings listed in the
/// module documentation. `country` is the deployment's own country code,
/// needed for national numbers.
pub fn normalise(text: &str, country: Option<CountryCode>) -> Number {
    let digits = strip_decoration(text);
    if let Some(rest) = digits.strip_prefix('+') {
        return e164_or_other(rest, &digits);
    }
    if !digits.chars().all(|c| c.is_ascii_digit()) || digits.is_empty() {
        return Number::Other(digits);
    }
    let international = country.map_or("00", CountryCode::international_prefix);
    if let Some(rest) = digits.strip_prefix(international) {
        return e164_or_other(rest, &digits);
    }
    let Some(country) = country else {
        if valid_e164_digits(&digits) {
            return Number::Ambiguous(vec![format!("+{digits}")]);
        }
        return Number::Other(digits);
    };
    if country.get() == 1 {
        return north_american(&digits);
    }
    if let Some(national) = digits.strip_prefix('0') {
        return e164_or_other(&format!("{country}{national}"), &digits);
    }
    let mut readings = Vec::new();
    if valid_e164_digits(&digits) {
        readings.push(format!("+{digits}"));
    }
    let national = format!("{country}{digits}");
    if valid_e164_digits(&national) {
        readings.push(format!("+{national}"));
    }
    match readings.len() {
        0 => Number::Other(digits),
        _ => Number::Ambiguous(readings),
    }
}

/// Reads digits without an international prefix under the North American
/// plan: ten digits are national, eleven starting with `1` carry the trunk
/// prefix, anything else is read as E.164 without `+`.
fn north_american(digits: &str) -> Number {
    if digits.len() == 10 && !digits.starts_with(['0', '1']) {
        return Number::E164(format!("+1{digits}"));
    }
    if digits.len() == 11
        && let Some(national) = digits.strip_prefix('1')
    {
        return Number::E164(format!("+1{national}"));
    }
    if valid_e164_digits(digits) {
        return Number::Ambiguous(vec![format!("+{digits}")]);
    }
    Number::Other(digits.to_string())
}

fn e164_or_other(digits: &str, written: &str) -> Number {
    if valid_e164_digits(digits) {
        Number::E164(format!("+{digits}"))
    } else {
        Number::Other(written.to_string())
    }
}

/// True for 1 to 15 digits that do not start with `0` (no country code
/// starts with 0).
fn valid_e164_digits(digits: &str) -> bool {
    (1..=MAX_DIGITS).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Returns the key a number written in `tok.yaml` or a flow's `answers`
/// line is stored under: its E.164 form, the international reading when it
/// has no prefix, or its digits when it is not E.164 (a short code).
pub fn table_key(text: &str, country: Option<CountryCode>) -> String {
    match normalise(text, country) {
        Number::E164(number) | Number::Other(number) => number,
        Number::Ambiguous(readings) => readings.into_iter().next().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slovenia() -> Option<CountryCode> {
        CountryCode::parse("386").ok()
    }

    #[test]
    fn carrier_spellings_reach_same_number() {
        let expected = "+38615550100";
        let spellings = [
            "+38615550100",
            "0038615550100",
            "015550100",
            "+386 1 555-0100",
            "+386 (1) 555.0100",
            "tel:+386-1-555-0100",
            "tel:+386-1-555-0100;phone-context=example.com",
            "sip:+38615550100@carrier.example;user=phone",
            "00 386 1 555 0100",
            "+386%201%205550100",
        ];
        for spelling in spellings {
            let number = normalise(spelling, slovenia());
            assert_eq!(number.e164(), Some(expected), "{spelling}");
        }
    }

    #[test]
    fn bare_digits_are_ambiguous() {
        let number = normalise("38615550100", slovenia());
        assert_eq!(number.e164(), None);
        assert_eq!(
            number.candidates(),
            vec!["+38615550100".to_string(), "+38638615550100".to_string()]
        );
    }

    #[test]
    fn national_without_trunk_prefix_is_second_reading() {
        let number = normalise("15550100", slovenia());
        assert_eq!(
            number.candidates(),
            vec!["+15550100".to_string(), "+38615550100".to_string()]
        );
    }

    #[test]
    fn bare_digits_without_country_read_as_international() {
        let number = normalise("38615550100", None);
        assert_eq!(number.e164(), None);
        assert_eq!(number.candidates(), vec!["+38615550100".to_string()]);
        assert_eq!(table_key("38615550100", None), "+38615550100");
    }

    #[test]
    fn national_needs_country_code() {
        assert_eq!(
            normalise("015550100", None),
            Number::Other("015550100".to_string())
        );
        assert_eq!(
            normalise("0038615550100", None).e164(),
            Some("+38615550100")
        );
    }

    #[test]
    fn short_code_without_country_keeps_digits() {
        assert_eq!(table_key("080 5550", None), "0805550");
        assert_eq!(table_key("080 5550", slovenia()), "+386805550");
        assert_eq!(normalise("0805550", slovenia()).e164(), Some("+386805550"));
    }

    #[test]
    fn north_american_plan() {
        let us = CountryCode::parse("1").ok();
        for spelling in [
            "2125550100",
            "12125550100",
            "+1 212 555 0100",
            "011 1 212 555 0100",
        ] {
            assert_eq!(
                normalise(spelling, us).e164(),
                Some("+12125550100"),
                "{spelling}"
            );
        }
        assert_eq!(normalise("01138615550100", us).e164(), Some("+38615550100"));
    }

    #[test]
    fn too_long_or_letters_are_other() {
        assert_eq!(
            normalise("+1234567890123456", None),
            Number::Other("+1234567890123456".to_string())
        );
        assert_eq!(
            normalise("sip:support@example.com", None),
            Number::Other("support".to_string())
        );
        assert_eq!(normalise("", None), Number::Other(String::new()));
        assert_eq!(
            normalise("anonymous", slovenia()),
            Number::Other("anonymous".to_string())
        );
    }

    #[test]
    fn table_key_prefers_international_reading() {
        assert_eq!(table_key("38615550100", slovenia()), "+38615550100");
        assert_eq!(table_key("+386 1 555 0100", None), "+38615550100");
    }

    #[test]
    fn country_code_parse() {
        assert_eq!(CountryCode::parse("386").map(CountryCode::get), Ok(386));
        assert_eq!(CountryCode::parse("+44").map(CountryCode::get), Ok(44));
        for bad in ["0", "044", "1000", "SI", "", "3 86"] {
            let error = CountryCode::parse(bad).err().unwrap_or_default();
            assert!(error.contains("such as `386`"), "{bad}: {error}");
        }
    }
}
