use super::*;
use std::collections::HashSet;
use std::path::PathBuf;

/// Joins prompt names with spaces, so the tables below stay one line a case.
fn joined(prompts: &[String]) -> String {
    prompts.join(" ")
}

#[test]
fn english_numbers() {
    let cases: [(u64, &str); 22] = [
        (0, "num-0"),
        (1, "num-1"),
        (2, "num-2"),
        (3, "num-3"),
        (4, "num-4"),
        (5, "num-5"),
        (11, "num-11"),
        (12, "num-12"),
        (13, "num-13"),
        (14, "num-14"),
        (21, "num-21"),
        (22, "num-22"),
        (101, "num-100 num-1"),
        (105, "num-100 num-5"),
        (111, "num-100 num-11"),
        (1000, "num-1 num-thousand"),
        (2000, "num-2 num-thousand"),
        (1001, "num-1 num-thousand num-1"),
        (999_999, "num-900 num-99 num-thousand num-900 num-99"),
        (1_000_000, "num-1 num-million-one"),
        (2_000_000, "num-2 num-million-other"),
        (
            1_000_000_000,
            "num-1 num-0 num-0 num-0 num-0 num-0 num-0 num-0 num-0 num-0",
        ),
    ];
    for (n, expected) in cases {
        for gender in [Gender::Masculine, Gender::Feminine, Gender::Neuter] {
            let prompts = number("en", n, gender);
            assert_eq!(joined(&prompts), expected, "{n} {gender:?}");
        }
    }
}

#[test]
fn slovenian_numbers_feminine() {
    let cases: [(u64, &str); 30] = [
        (0, "num-0"),
        (1, "num-1-f"),
        (2, "num-2-f"),
        (3, "num-3"),
        (4, "num-4"),
        (5, "num-5"),
        (11, "num-11"),
        (12, "num-12"),
        (13, "num-13"),
        (14, "num-14"),
        (21, "num-21"),
        (22, "num-22"),
        (100, "num-100"),
        (101, "num-100 num-1-f"),
        (102, "num-100 num-2-f"),
        (103, "num-100 num-3"),
        (104, "num-100 num-4"),
        (105, "num-100 num-5"),
        (111, "num-100 num-11"),
        (200, "num-200"),
        (1000, "num-thousand"),
        (1001, "num-thousand num-1-f"),
        (2000, "num-2-m num-thousand"),
        (3000, "num-3 num-thousand"),
        (4000, "num-4 num-thousand"),
        (101_000, "num-100 num-1-m num-thousand"),
        (1_000_000, "num-million-one"),
        (2_000_000, "num-2-m num-million-two"),
        (3_000_000, "num-3-m num-million-few"),
        (5_000_000, "num-5 num-million-other"),
    ];
    for (n, expected) in cases {
        let prompts = number("sl", n, Gender::Feminine);
        assert_eq!(joined(&prompts), expected, "{n}");
    }
}

#[test]
fn slovenian_numbers_by_gender() {
    let cases: [(u64, Gender, &str); 12] = [
        (1, Gender::Masculine, "num-1-m"),
        (1, Gender::Neuter, "num-1-n"),
        (2, Gender::Masculine, "num-2-m"),
        (2, Gender::Neuter, "num-2-f"),
        (3, Gender::Masculine, "num-3-m"),
        (3, Gender::Neuter, "num-3"),
        (4, Gender::Masculine, "num-4-m"),
        (4, Gender::Neuter, "num-4"),
        (5, Gender::Masculine, "num-5"),
        (21, Gender::Masculine, "num-21"),
        (103, Gender::Masculine, "num-100 num-3-m"),
        (2001, Gender::Neuter, "num-2-m num-thousand num-1-n"),
    ];
    for (n, gender, expected) in cases {
        let prompts = number("sl", n, gender);
        assert_eq!(joined(&prompts), expected, "{n} {gender:?}");
    }
}

#[test]
fn plural_categories() {
    use PluralCategory::{Few, One, Other, Two};
    let cases: [(u64, PluralCategory, PluralCategory); 22] = [
        (0, Other, Other),
        (1, One, One),
        (2, Two, Other),
        (3, Few, Other),
        (4, Few, Other),
        (5, Other, Other),
        (11, Other, Other),
        (12, Other, Other),
        (13, Other, Other),
        (14, Other, Other),
        (21, Other, Other),
        (22, Other, Other),
        (101, One, Other),
        (102, Two, Other),
        (103, Few, Other),
        (104, Few, Other),
        (105, Other, Other),
        (111, Other, Other),
        (1000, Other, Other),
        (2000, Other, Other),
        (1_000_000, Other, Other),
        (1_000_001, One, Other),
    ];
    for (n, slovenian, english) in cases {
        assert_eq!(plural_category("sl", n), slovenian, "sl {n}");
        assert_eq!(plural_category("en", n), english, "en {n}");
    }
}

#[test]
fn language_rules_by_primary_subtag() {
    assert_eq!(plural_category("sl-SI", 2), PluralCategory::Two);
    assert_eq!(plural_category("SL", 2), PluralCategory::Two);
    assert_eq!(plural_category("en-GB", 2), PluralCategory::Other);
    assert_eq!(plural_category("de", 2), PluralCategory::Other);
    assert_eq!(joined(&number("de", 21, Gender::Feminine)), "num-21");
}

#[test]
fn slovenian_minutes() {
    let cases: [(u64, &str); 19] = [
        (0, "num-0 minute-other"),
        (1, "num-1-f minute-one"),
        (2, "num-2-f minute-two"),
        (3, "num-3 minute-few"),
        (4, "num-4 minute-few"),
        (5, "num-5 minute-other"),
        (11, "num-11 minute-other"),
        (12, "num-12 minute-other"),
        (13, "num-13 minute-other"),
        (14, "num-14 minute-other"),
        (21, "num-21 minute-other"),
        (22, "num-22 minute-other"),
        (101, "num-100 num-1-f minute-one"),
        (102, "num-100 num-2-f minute-two"),
        (103, "num-100 num-3 minute-few"),
        (104, "num-100 num-4 minute-few"),
        (105, "num-100 num-5 minute-other"),
        (111, "num-100 num-11 minute-other"),
        (1_000_000, "num-million-one minute-other"),
    ];
    for (n, expected) in cases {
        assert_eq!(joined(&minutes("sl", n)), expected, "{n}");
    }
}

#[test]
fn english_minutes() {
    let cases: [(u64, &str); 8] = [
        (0, "num-0 minute-other"),
        (1, "num-1 minute-one"),
        (2, "num-2 minute-other"),
        (3, "num-3 minute-other"),
        (11, "num-11 minute-other"),
        (21, "num-21 minute-other"),
        (101, "num-100 num-1 minute-other"),
        (2000, "num-2 num-thousand minute-other"),
    ];
    for (n, expected) in cases {
        assert_eq!(joined(&minutes("en", n)), expected, "{n}");
    }
}

#[test]
fn position_counts_callers_ahead() {
    let cases: [(&str, usize, &str); 13] = [
        ("en", 0, "queue-next"),
        ("en", 1, "queue-next"),
        ("en", 2, "ahead-intro-one num-1 callers-ahead-one"),
        ("en", 3, "ahead-intro-other num-2 callers-ahead-other"),
        ("en", 22, "ahead-intro-other num-21 callers-ahead-other"),
        ("sl", 1, "queue-next"),
        ("sl", 2, "ahead-intro-one num-1-m callers-ahead-one"),
        ("sl", 3, "ahead-intro-two num-2-m callers-ahead-two"),
        ("sl", 4, "ahead-intro-few num-3-m callers-ahead-few"),
        ("sl", 5, "ahead-intro-few num-4-m callers-ahead-few"),
        ("sl", 6, "ahead-intro-other num-5 callers-ahead-other"),
        ("sl", 13, "ahead-intro-other num-12 callers-ahead-other"),
        (
            "sl",
            102,
            "ahead-intro-one num-100 num-1-m callers-ahead-one",
        ),
    ];
    for (language, place, expected) in cases {
        assert_eq!(
            joined(&position(language, place)),
            expected,
            "{language} {place}"
        );
    }
}

#[test]
fn wait_rounds_up_to_minutes() {
    let cases: [(&str, u64, &str); 9] = [
        ("en", 0, "wait-less-than-minute"),
        ("en", 59_999, "wait-less-than-minute"),
        ("en", 60_000, "wait-intro num-1 minute-one"),
        ("en", 60_001, "wait-intro num-2 minute-other"),
        ("en", 125_000, "wait-intro num-3 minute-other"),
        ("sl", 60_000, "wait-intro num-1-f minute-one"),
        ("sl", 120_000, "wait-intro num-2-f minute-two"),
        ("sl", 180_000, "wait-intro num-3 minute-few"),
        ("sl", 300_000, "wait-intro num-5 minute-other"),
    ];
    for (language, wait_ms, expected) in cases {
        assert_eq!(
            joined(&wait(language, wait_ms)),
            expected,
            "{language} {wait_ms}"
        );
    }
}

#[test]
fn wait_announcement_parts() {
    assert!(wait_announcement("en", None, None).is_empty());
    assert_eq!(
        joined(&wait_announcement("en", Some(1), None)),
        "queue-next"
    );
    assert_eq!(
        joined(&wait_announcement("en", None, Some(30_000))),
        "wait-less-than-minute"
    );
    assert_eq!(
        joined(&wait_announcement("sl", Some(3), Some(240_000))),
        "ahead-intro-two num-2-m callers-ahead-two wait-intro num-4 minute-few"
    );
    assert_eq!(
        joined(&wait_announcement("en", Some(6), Some(61_000))),
        "ahead-intro-other num-5 callers-ahead-other wait-intro num-2 minute-other"
    );
}

#[test]
fn huge_wait_does_not_overflow() {
    let prompts = wait("sl", u64::MAX);
    assert_eq!(prompts.first().map(String::as_str), Some(WAIT_INTRO));
    assert_eq!(prompts.last().map(String::as_str), Some("minute-other"));
    let prompts = position("en", usize::MAX);
    assert_eq!(
        prompts.last().map(String::as_str),
        Some("callers-ahead-other")
    );
}

#[test]
fn phone_number_digit_by_digit() {
    assert_eq!(
        joined(&phone_number("+386 40-12")),
        "num-plus num-3 num-8 num-6 num-4 num-0 num-1 num-2"
    );
    assert!(phone_number("abc").is_empty());
}

#[test]
fn every_output_is_listed() {
    let listed: HashSet<String> = prompt_names().into_iter().collect();
    let mut samples: Vec<u64> = (0..=2100).collect();
    samples.extend((1..=999).map(|n| n * 1000 + n));
    samples.extend((1..=999).map(|n| n * 1_000_000 + n));
    samples.extend([MAX_WORDS, MAX_WORDS + 1, u64::MAX]);
    for language in ["en", "sl"] {
        for &n in &samples {
            for gender in [Gender::Masculine, Gender::Feminine, Gender::Neuter] {
                for name in number(language, n, gender) {
                    assert!(listed.contains(&name), "{language} {n}: {name}");
                }
            }
            for name in minutes(language, n) {
                assert!(listed.contains(&name), "{language} {n}: {name}");
            }
            let place = usize::try_from(n).unwrap_or(usize::MAX);
            for name in wait_announcement(language, Some(place), Some(n.saturating_mul(1000))) {
                assert!(listed.contains(&name), "{language} {n}: {name}");
            }
        }
    }
}

/// The shipped prompts folder has a recording of every listed name in each
/// language the shipped flows declare.
#[test]
fn shipped_prompts_complete() {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../flows/prompts");
    for language in ["en", "sl"] {
        for name in prompt_names() {
            let path = folder.join(language).join(format!("{name}.wav"));
            assert!(path.is_file(), "missing {}", path.display());
        }
    }
}
