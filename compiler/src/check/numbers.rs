//! Numbers that enter flows, from `answers` lists and from `numbers:` in
//! `tok.yaml`: each must name a known flow, reach only one flow, and every
//! flow should be reached by some number.

use super::names::Env;
use crate::diag::{Code, Diagnostic, FileId, Span, unknown_name_help};
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
    for entry in &flows.entries {
        for number in &entry.decl.answers {
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
    let reached: HashSet<&str> = mappings.iter().map(|m| m.flow).collect();
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
    use super::normalise;

    #[test]
    fn normalise_removes_separators() {
        assert_eq!(normalise("+386 (1) 555-01.00"), "+38615550100");
        assert_eq!(normalise("080 5550"), "0805550");
    }
}
