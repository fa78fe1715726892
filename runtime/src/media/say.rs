//! Spoken numbers and durations: pure functions that turn a count into the
//! list of recorded prompts to play, in the grammar of the call's language.
//!
//! Numbers are built from whole-word prompts: `num-0` to `num-99` (so
//! compounds such as "twenty-one" and "enaindvajset" are one recording),
//! the hundreds `num-100` to `num-900`, `num-thousand` and the four forms
//! of "million". Nouns after a number take the form of the number's CLDR
//! plural category (`minute-one`, `minute-two`, `minute-few`,
//! `minute-other`). Slovenian uses all four categories by `n % 100` and
//! agrees 1 to 4 with the noun's gender, while English uses `one` and `other`.
//! Any other language is spoken with the English rules from its own
//! recordings of the same prompt names. `docs/announcements.md` lists the
//! phrases and their prompts.

/// The grammatical gender of the noun a number counts. Only Slovenian
/// distinguishes it, in 1 to 4 and in the last two digits of larger numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gender {
    /// "en klicatelj", "dva klicatelja", "trije klicatelji".
    Masculine,
    /// "ena minuta", "dve minuti", "tri minute".
    Feminine,
    /// "eno okno", "dve okni", "tri okna".
    Neuter,
}

/// The CLDR plural category of a count, which picks a noun's form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PluralCategory {
    /// Slovenian `n % 100 == 1`, English `n == 1`.
    One,
    /// Slovenian `n % 100 == 2`.
    Two,
    /// Slovenian `n % 100` of 3 or 4.
    Few,
    /// Every other count, 0 included.
    Other,
}

impl PluralCategory {
    /// Returns the suffix of the prompt names of this form, such as `few`
    /// in `minute-few`.
    pub fn suffix(self) -> &'static str {
        match self {
            PluralCategory::One => "one",
            PluralCategory::Two => "two",
            PluralCategory::Few => "few",
            PluralCategory::Other => "other",
        }
    }

    const ALL: [PluralCategory; 4] = [
        PluralCategory::One,
        PluralCategory::Two,
        PluralCategory::Few,
        PluralCategory::Other,
    ];
}

/// The largest number spoken as words. Larger numbers are spoken digit by
/// digit, which no queue announcement reaches.
pub const MAX_WORDS: u64 = 999_999_999;

/// The lead-in before the estimated wait in minutes.
pub const WAIT_INTRO: &str = "wait-intro";

/// The whole sentence for an estimated wait under one minute.
pub const WAIT_UNDER_MINUTE: &str = "wait-less-than-minute";

/// The whole sentence for a caller with nobody ahead.
pub const QUEUE_NEXT: &str = "queue-next";

/// The prompt spoken for a `+` in a phone number.
pub const PLUS: &str = "num-plus";

/// The grammar rules a language is spoken with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rules {
    English,
    Slovenian,
}

impl Rules {
    /// Picks the rules by the primary subtag of a BCP 47 code, so `sl-SI`
    /// is Slovenian and `en-GB` English.
    fn of(language: &str) -> Rules {
        let primary = language.split(['-', '_']).next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("sl") {
            Rules::Slovenian
        } else {
            Rules::English
        }
    }
}

/// The agreement of the digits 1 to 4 inside a number: a noun's gender, or
/// the form before "tisoč" ("dva tisoč" but "tri tisoč").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Agreement {
    Noun(Gender),
    Thousands,
}

/// Returns the plural category of `n` in `language`.
pub fn plural_category(language: &str, n: u64) -> PluralCategory {
    match Rules::of(language) {
        Rules::English if n == 1 => PluralCategory::One,
        Rules::English => PluralCategory::Other,
        Rules::Slovenian => match n % 100 {
            1 => PluralCategory::One,
            2 => PluralCategory::Two,
            3 | 4 => PluralCategory::Few,
            _ => PluralCategory::Other,
        },
    }
}

/// Returns the prompts that speak `n` counting a noun of `gender`, such as
/// `["num-100", "num-2-f"]` for Slovenian 102 feminine ("sto dve").
pub fn number(language: &str, n: u64, gender: Gender) -> Vec<String> {
    let rules = Rules::of(language);
    let mut prompts = Vec::new();
    if n > MAX_WORDS {
        digits_of(n, &mut prompts);
        return prompts;
    }
    if n == 0 {
        prompts.push(String::from("num-0"));
        return prompts;
    }

    let millions = n / 1_000_000;
    let thousands = n / 1000 % 1000;
    let rest = n % 1000;
    if millions > 0 {
        // "milijon" alone for one million, as "tisoč" for one thousand.
        if !(rules == Rules::Slovenian && millions == 1) {
            group(
                rules,
                millions,
                Agreement::Noun(Gender::Masculine),
                &mut prompts,
            );
        }
        let category = plural_category(language, millions);
        prompts.push(format!("num-million-{}", category.suffix()));
    }
    if thousands > 0 {
        if !(rules == Rules::Slovenian && thousands == 1) {
            group(rules, thousands, Agreement::Thousands, &mut prompts);
        }
        prompts.push(String::from("num-thousand"));
    }
    if rest > 0 {
        group(rules, rest, Agreement::Noun(gender), &mut prompts);
    }
    prompts
}

/// Appends the prompts of one group of three digits, 1 to 999.
fn group(rules: Rules, n: u64, agreement: Agreement, prompts: &mut Vec<String>) {
    let hundreds = n / 100;
    let rest = n % 100;
    if hundreds > 0 {
        prompts.push(format!("num-{}", hundreds * 100));
    }
    if rest == 0 {
        return;
    }
    match (rules, rest) {
        (Rules::Slovenian, 1..=4) => prompts.push(slovenian_small(rest, agreement).to_string()),
        _ => prompts.push(format!("num-{rest}")),
    }
}

/// Returns the Slovenian prompt of 1 to 4 in the given agreement.
fn slovenian_small(n: u64, agreement: Agreement) -> &'static str {
    use Agreement::{Noun, Thousands};
    use Gender::{Feminine, Masculine, Neuter};
    match (n, agreement) {
        (1, Noun(Masculine) | Thousands) => "num-1-m",
        (1, Noun(Feminine)) => "num-1-f",
        (1, Noun(Neuter)) => "num-1-n",
        (2, Noun(Masculine) | Thousands) => "num-2-m",
        (2, Noun(Feminine | Neuter)) => "num-2-f",
        (3, Noun(Masculine)) => "num-3-m",
        (3, _) => "num-3",
        (4, Noun(Masculine)) => "num-4-m",
        _ => "num-4",
    }
}

/// Appends one `num-D` prompt per decimal digit of `n`.
fn digits_of(n: u64, prompts: &mut Vec<String>) {
    for digit in n.to_string().chars() {
        prompts.push(format!("num-{digit}"));
    }
}

/// Returns the prompts of a count followed by its noun: the number in the
/// noun's gender, then `{noun}-{category}`.
fn count(language: &str, n: u64, gender: Gender, noun: &str) -> Vec<String> {
    let mut prompts = number(language, n, gender);
    let category = plural_category(language, n);
    prompts.push(format!("{noun}-{}", category.suffix()));
    prompts
}

/// Returns the prompts of "N minutes": "1 minute", "2 minutes", and in
/// Slovenian "ena minuta", "dve minuti", "tri minute", "pet minut".
pub fn minutes(language: &str, n: u64) -> Vec<String> {
    count(language, n, Gender::Feminine, "minute")
}

/// Returns the prompts that tell a caller at 1-based `position` how many
/// callers are ahead: "There are 2 callers ahead of you", "Pred vami sta
/// dva klicatelja". Position 1 (and 0) is [`QUEUE_NEXT`].
// TODO: flowc's `check::prompts::POSITION_PROMPTS` still names `position-intro`; list these prompts there.
pub fn position(language: &str, position: usize) -> Vec<String> {
    let ahead = u64::try_from(position.saturating_sub(1)).unwrap_or(u64::MAX);
    if ahead == 0 {
        return vec![String::from(QUEUE_NEXT)];
    }
    let category = plural_category(language, ahead);
    let mut prompts = vec![format!("ahead-intro-{}", category.suffix())];
    prompts.extend(count(language, ahead, Gender::Masculine, "callers-ahead"));
    prompts
}

/// Returns the prompts of an estimated wait: the lead-in and the minutes,
/// rounded up to whole minutes, or [`WAIT_UNDER_MINUTE`] under one minute.
pub fn wait(language: &str, wait_ms: u64) -> Vec<String> {
    if wait_ms < 60_000 {
        return vec![String::from(WAIT_UNDER_MINUTE)];
    }
    let minutes_up = wait_ms.div_ceil(60_000);
    let mut prompts = vec![String::from(WAIT_INTRO)];
    prompts.extend(minutes(language, minutes_up));
    prompts
}

/// Returns the whole announcement a waiting caller hears: the position part
/// when `position` is known, then the wait part when there is an estimate.
/// Both unknown gives an empty list.
pub fn wait_announcement(
    language: &str,
    position: Option<usize>,
    wait_ms: Option<u64>,
) -> Vec<String> {
    let mut prompts = Vec::new();
    if let Some(place) = position {
        prompts.extend(self::position(language, place));
    }
    if let Some(wait_ms) = wait_ms {
        prompts.extend(wait(language, wait_ms));
    }
    prompts
}

/// Returns the prompts that read a phone number digit by digit, such as a
/// callback number to confirm. `+` is [`PLUS`], and separators and other
/// characters are skipped.
pub fn phone_number(number: &str) -> Vec<String> {
    number
        .chars()
        .filter_map(|c| match c {
            '+' => Some(String::from(PLUS)),
            '0'..='9' => Some(format!("num-{c}")),
            _ => None,
        })
        .collect()
}

/// Returns every prompt name the functions of this module can return, in
/// any language, so a prompts folder can be checked for them at start.
pub fn prompt_names() -> Vec<String> {
    let mut names: Vec<String> = (0..100).map(|n| format!("num-{n}")).collect();
    names.extend((1..10).map(|n| format!("num-{}", n * 100)));
    for name in [
        "num-1-m", "num-1-f", "num-1-n", "num-2-m", "num-2-f", "num-3-m", "num-4-m",
    ] {
        names.push(String::from(name));
    }
    names.push(String::from("num-thousand"));
    names.push(String::from(PLUS));
    for category in PluralCategory::ALL {
        let suffix = category.suffix();
        names.push(format!("num-million-{suffix}"));
        names.push(format!("minute-{suffix}"));
        names.push(format!("ahead-intro-{suffix}"));
        names.push(format!("callers-ahead-{suffix}"));
    }
    names.push(String::from(QUEUE_NEXT));
    names.push(String::from(WAIT_INTRO));
    names.push(String::from(WAIT_UNDER_MINUTE));
    names
}

#[cfg(test)]
mod tests;
