//! Numbers that enter flows, from `answers` lists and from `numbers:` in
//! `tok.yaml`: each must be a phone number, name a known flow and reach
//! only one flow, and every flow should be reached by some number. The
//! destination of a `transfer` written as text must be a phone number or a
//! SIP address.

use super::names::Env;
use crate::config::check_number;
use crate::diag::{Code, Diagnostic, FileId, Span, unknown_name_help};
use crate::syntax::ast::StringLit;
use std::collections::{HashMap, HashSet};

/// One place where a number is mapped to a flow.
struct Mapping<'a> {
    number: &'a str,
    flow: &'a str,
    at: Option<(FileId, Span)>,
}

/// Returns a number with spaces, dashes, dots and brackets removed, so that
/// `"+386 1 555 0100"` and `"+38615550100"` compare equal.
pub fn normalise(number: &str) -> String {
    number
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '(' | ')' | '[' | ']'))
        .collect()
}

/// Reports numbers mapped to unknown flows, numbers reaching two flows and
/// flows no number reaches.
pub fn check(env: &Env<'_>, out: &mut Vec<Diagnostic>) {
    let flows = &env.index.flows;
    let mut mappings: Vec<Mapping<'_>> = Vec::new();
    // Flows with a number in `answers`, valid or not: an invalid number is
    // reported as such, not also as a flow no number reaches.
    let mut answered: HashSet<&str> = HashSet::new();
    for entry in &flows.entries {
        for number in &entry.decl.answers {
            answered.insert(&entry.decl.name.name);
            if let Err(reason) = check_number(&number.value) {
                out.push(invalid_answer(entry.file, number, reason));
                continue;
            }
            mappings.push(Mapping {
                number: &number.value,
                flow: &entry.decl.name.name,
                at: Some((entry.file, number.span)),
            });
        }
    }
    for (number, flow) in &env.config.numbers {
        let at = env.config.location(&format!("numbers.{number}"));
        if flows.get(flow).is_some() || flows.is_broken(flow) {
            mappings.push(Mapping { number, flow, at });
            continue;
        }
        let mut diagnostic = Diagnostic::new(
            Code::UnknownFlow,
            format!("number `{number}` is mapped to unknown flow `{flow}`"),
        )
        .help(unknown_name_help("flow", flow, flows.names()));
        if let Some((file, span)) = at {
            diagnostic = diagnostic.primary(file, span, "no flow of this name");
        }
        out.push(diagnostic);
    }
    report_conflicts(&mappings, out);
    if !env.trust.numbers() {
        // A number left out for a problem in `numbers:` may be the one
        // that reaches a flow.
        return;
    }
    let mut reached: HashSet<&str> = mappings.iter().map(|m| m.flow).collect();
    reached.extend(answered);
    for entry in &flows.entries {
        let name = entry.decl.name.name.as_str();
        if reached.contains(name) {
            continue;
        }
        out.push(
            Diagnostic::new(Code::FlowWithoutNumber, format!("no number reaches flow `{name}`"))
                .primary(entry.file, entry.decl.name.span, "no call can enter this flow")
                .help(format!(
                    "add `answers \"+38615550100\"` to the header, or map a number to `{name}` under `numbers:` in tok.yaml"
                )),
        );
    }
}

fn invalid_answer(file: FileId, number: &StringLit, reason: &str) -> Diagnostic {
    let message = if number.value.is_empty() {
        String::from("empty text in `answers` is not a phone number")
    } else {
        format!("`{}` in `answers` is not a phone number", number.value)
    };
    let help = lookalike_help(&number.value).unwrap_or_else(|| {
        format!("{reason}; write the number the callers dial, such as `\"+386 1 555 0100\"`")
    });
    Diagnostic::new(Code::InvalidLiteral, message)
        .primary(file, number.span, "not a phone number")
        .help(help)
}

/// Checks the destination of a `transfer` written as plain text: a phone
/// number, or a `sip:`, `sips:` or `tel:` address.
pub fn check_destination(file: FileId, text: &str, span: Span) -> Option<Diagnostic> {
    let lower = text.to_ascii_lowercase();
    let scheme = ["sip:", "sips:", "tel:"]
        .into_iter()
        .find(|scheme| lower.starts_with(scheme));
    let reason = match scheme {
        Some(scheme) => {
            let rest = text.get(scheme.len()..).unwrap_or("");
            if !rest.is_empty() && !rest.contains(char::is_whitespace) {
                return None;
            }
            "an address needs a user or number after the scheme, and no spaces"
        }
        None => check_number(text).err()?,
    };
    let message = if text.is_empty() {
        String::from("the destination of `transfer` is empty")
    } else {
        format!("transfer destination `{text}` is neither a phone number nor a SIP address")
    };
    let help = lookalike_help(text).unwrap_or_else(|| {
        format!(
            "{reason}; write a number such as `\"+386 1 555 0199\"` or an address such as `\"sip:desk@pbx.example.com\"`"
        )
    });
    Some(
        Diagnostic::new(Code::InvalidLiteral, message)
            .primary(file, span, "not a number or SIP address")
            .help(help),
    )
}

/// Returns a did-you-mean help line when reading the letters O, o, I and
/// l as the digits they resemble turns `text` into a phone number.
fn lookalike_help(text: &str) -> Option<String> {
    let fixed: String = text
        .chars()
        .map(|c| match c {
            'O' | 'o' => '0',
            'I' | 'l' => '1',
            other => other,
        })
        .collect();
    (fixed != text && check_number(&fixed).is_ok()).then(|| {
        format!("did you mean `\"{fixed}\"`? The number has letters that look like digits")
    })
}

fn report_conflicts(mappings: &[Mapping<'_>], out: &mut Vec<Diagnostic>) {
    let mut first: HashMap<String, &Mapping<'_>> = HashMap::new();
    for mapping in mappings {
        let key = normalise(mapping.number);
        let Some(earlier) = first.get(&key) else {
            first.insert(key, mapping);
            continue;
        };
        if earlier.flow == mapping.flow {
            continue;
        }
        let mut diagnostic = Diagnostic::new(
            Code::NumberConflict,
            format!(
                "number `{}` reaches both flow `{}` and flow `{}`",
                mapping.number, earlier.flow, mapping.flow
            ),
        )
        .help(format!(
            "a number enters one flow; remove it from `{}` or from `{}`",
            mapping.flow, earlier.flow
        ));
        if let Some((file, span)) = mapping.at {
            diagnostic =
                diagnostic.primary(file, span, format!("reaches flow `{}` here", mapping.flow));
        }
        if let Some((file, span)) = earlier.at {
            diagnostic =
                diagnostic.secondary(file, span, format!("reaches flow `{}` here", earlier.flow));
        }
        out.push(diagnostic);
    }
}

#[cfg(test)]
mod tests {
    use super::{check_destination, lookalike_help, normalise};
    use crate::diag::{FileId, Span};

    #[test]
    fn normalise_removes_separators() {
        assert_eq!(normalise("+386 (1) 555-01.00"), "+38615550100");
        assert_eq!(normalise("080 5550"), "0805550");
    }

    fn destination_ok(text: &str) -> bool {
        check_destination(FileId(0), text, Span::new(0, 1)).is_none()
    }

    #[test]
    fn destinations() {
        assert!(destination_ok("+386 1 555 0199"));
        assert!(destination_ok("112"));
        assert!(destination_ok("sip:desk@pbx.example.com"));
        assert!(destination_ok("SIPS:desk@pbx.example.com"));
        assert!(destination_ok("tel:+38615550199"));
        assert!(!destination_ok(""));
        assert!(!destination_ok("sip:"));
        assert!(!destination_ok("sip:a b"));
        assert!(!destination_ok("not a number"));
        assert!(!destination_ok("+386 1 555 01O0"));
    }

    #[test]
    fn lookalike_letters_are_named() {
        let help = lookalike_help("+386 1 555 01O0").unwrap_or_default();
        assert!(help.contains("\"+386 1 555 0100\""), "{help}");
        assert_eq!(lookalike_help("abc"), None);
        assert_eq!(lookalike_help("+386"), None);
    }
}
