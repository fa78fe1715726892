//! The top-level sections of `tok.yaml` and how each is read.
//!
//! [`SECTIONS`] is the one list of top-level keys: adding a section means
//! adding a row and its reader. Sections are read in the order of the list,
//! whatever their order in the file, so a reader may use what an earlier
//! row read (`default_language` checks against `languages`, hooks check
//! contact fields against `crm`).

use super::hooks::read_hooks;
use super::reader::{Entry, Reader, quoted_list};
use super::values::{check_language, check_number, is_name};
use super::yaml::Value;
use super::{BUILTIN_CONTACT_FIELDS, Config, FieldType, Skill};
use crate::diag::{Span, did_you_mean, unknown_name_help};
use crate::number::{CountryCode, table_key};
use std::collections::BTreeMap;

/// Reads one section's value into the config.
type SectionReader = fn(&mut Reader, &Entry, &mut Config);

/// Every top-level key, in reading order, with its reader.
pub const SECTIONS: [(&str, SectionReader); 24] = [
    ("country_code", read_country_code),
    ("numbers", read_numbers),
    ("languages", read_languages),
    ("default_language", read_default_language),
    ("prompts", read_prompts),
    ("skills", read_skills),
    ("crm", read_crm),
    ("hooks", read_hooks),
    ("sip", read_runtime_section),
    ("rtp", read_runtime_section),
    ("flows", read_runtime_section),
    ("database", read_runtime_section),
    ("recordings", read_runtime_section),
    ("http", read_runtime_section),
    ("shutdown", read_runtime_section),
    ("outbox", read_runtime_section),
    ("spool", read_runtime_section),
    ("tagging", read_runtime_section),
    ("api", read_runtime_section),
    ("agents", read_runtime_section),
    ("trunks", read_runtime_section),
    ("transfer", read_runtime_section),
    ("callbacks", read_runtime_section),
    ("queues", read_runtime_section),
];

/// Accepts a section that only the runtime reads: `flowd` validates it
/// when it starts and names the key and value it rejects.
// TODO: validate the runtime sections here too, so `flowc check` reports their errors with spans.
fn read_runtime_section(_reader: &mut Reader, _section: &Entry, _config: &mut Config) {}

/// Default highest skill level.
const DEFAULT_MAX_LEVEL: u32 = 5;

/// Highest `max_level` a skill may declare.
const MAX_MAX_LEVEL: u32 = 100;

fn read_numbers(reader: &mut Reader, section: &Entry, config: &mut Config) {
    let mut seen: BTreeMap<String, Span> = BTreeMap::new();
    for entry in reader.entries(section, "{ \"+38615550100\": support }") {
        if let Err(reason) = check_number(&entry.key) {
            let message = format!("invalid number `{}` at {}", entry.key, entry.place());
            reader.invalid(
                entry.key_span,
                message,
                "not a phone number",
                reason.to_string(),
            );
            continue;
        }
        let digits = table_key(&entry.key, config.country_code);
        if let Some(first) = seen.get(&digits) {
            let message = format!("number `{}` is listed twice under `numbers`", entry.key);
            let help = format!(
                "keep one entry for {digits}; spaces, dashes and prefixes do not make a different number"
            );
            reader.repeated(entry.key_span, *first, message, &help);
            continue;
        }
        seen.insert(digits, entry.key_span);
        if let Some(flow) = read_flow_name(reader, &entry) {
            config.numbers.insert(entry.key.clone(), flow);
        }
    }
}

/// Reads the deployment's country calling code, which national numbers
/// such as `015550100` are read with.
fn read_country_code(reader: &mut Reader, entry: &Entry, config: &mut Config) {
    if entry.value.is_null() {
        return;
    }
    let Some(text) = entry.value.scalar().map(|scalar| scalar.text.clone()) else {
        reader.wrong_type(entry, "a country calling code", entry.write("386"));
        return;
    };
    match CountryCode::parse(&text) {
        Ok(code) => config.country_code = Some(code),
        Err(reason) => {
            let message = format!("invalid value `{text}` at `country_code`");
            reader.invalid(
                entry.value.span,
                message,
                "not a country calling code",
                reason,
            );
        }
    }
}

fn read_flow_name(reader: &mut Reader, entry: &Entry) -> Option<String> {
    let flow = reader.nonempty_text(entry, "support")?;
    if is_name(&flow) {
        return Some(flow);
    }
    let message = format!("invalid flow name `{flow}` at {}", entry.place());
    let help = String::from(
        "write the name from the flow's `flow NAME` line: letters, digits and underscores",
    );
    reader.invalid(entry.value.span, message, "not a flow name", help);
    None
}

fn read_languages(reader: &mut Reader, section: &Entry, config: &mut Config) {
    if section.value.is_null() {
        return;
    }
    let Some(items) = list_items(reader, section, "[en, sl]") else {
        return;
    };
    if items.is_empty() {
        let message = String::from("invalid value at `languages`: the list is empty");
        let help = String::from("list at least one language, such as `languages: [en]`");
        reader.invalid(section.value_span(), message, "no language", help);
        return;
    }
    let languages = read_language_codes(reader, &items);
    if let Some(first) = languages.first() {
        config.default_language = first.clone();
        config.languages = languages;
    }
}

/// Returns the valid codes in order, reporting invalid and repeated ones.
fn read_language_codes(reader: &mut Reader, items: &[Entry]) -> Vec<String> {
    let mut languages: Vec<String> = Vec::new();
    let mut seen: BTreeMap<String, Span> = BTreeMap::new();
    for item in items {
        let Some(code) = reader.text(item, "en") else {
            continue;
        };
        if let Err(fixed) = check_language(&code) {
            report_language(reader, item, &code, fixed);
        } else if let Some(first) = seen.get(&code) {
            report_repeated_item(reader, item, &code, *first);
        } else {
            seen.insert(code.clone(), item.value.span);
            reader.record(format!("languages.{code}"), item.value.span);
            languages.push(code);
        }
    }
    languages
}

fn report_language(reader: &mut Reader, item: &Entry, code: &str, fixed: Option<String>) {
    let message = format!(
        "invalid language code `{code}` at `languages`: expected a BCP 47 code such as `en`, `sl` or `en-GB`"
    );
    let help = match fixed {
        Some(fixed) => format!("write `{fixed}`"),
        None => String::from(
            "use two or three lowercase letters, optionally a dash and a region: `en`, `sl`, `en-GB`",
        ),
    };
    reader.invalid(item.value.span, message, "not a language code", help);
}

fn report_repeated_item(reader: &mut Reader, item: &Entry, name: &str, first: Span) {
    let message = format!("duplicate entry `{name}` in {}", item.place());
    reader.repeated(
        item.value.span,
        first,
        message,
        "list each entry once; remove this one",
    );
}

/// Returns the items of a list as entries whose path is the list's, or
/// reports a value that is not a list. An empty value is an empty list.
fn list_items<'n>(
    reader: &mut Reader,
    section: &Entry<'n>,
    example: &str,
) -> Option<Vec<Entry<'n>>> {
    match &section.value.value {
        Value::Seq(items) => Some(
            items
                .iter()
                .map(|item| Entry {
                    key: section.key.clone(),
                    path: section.path.clone(),
                    key_span: item.span,
                    value: item,
                })
                .collect(),
        ),
        _ if section.value.is_null() => Some(Vec::new()),
        _ => {
            reader.wrong_type(section, "a list", section.write(example));
            None
        }
    }
}

fn read_default_language(reader: &mut Reader, entry: &Entry, config: &mut Config) {
    let Some(code) = reader.nonempty_text(entry, "en") else {
        return;
    };
    if config.languages.contains(&code) {
        config.default_language = code;
        return;
    }
    let names: Vec<&str> = config.languages.iter().map(String::as_str).collect();
    let message = format!(
        "invalid default language `{code}` at `default_language`: it is not one of `languages` ({})",
        names.join(", ")
    );
    let help = match did_you_mean(&code, names.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None => format!(
            "add `{code}` to `languages`, or write one of {}",
            quoted_list(&names)
        ),
    };
    reader.invalid(entry.value.span, message, "not a declared language", help);
}

fn read_prompts(reader: &mut Reader, section: &Entry, config: &mut Config) {
    for field in reader.fields(section, &["dir"]) {
        if let Some(dir) = reader.nonempty_text(&field, "prompts") {
            config.prompts.dir = dir;
        }
    }
}

fn read_skills(reader: &mut Reader, section: &Entry, config: &mut Config) {
    if matches!(section.value.value, Value::Seq(_)) {
        read_skill_list(reader, section, config);
        return;
    }
    for entry in reader.entries(section, "{ routers: { max_level: 3 } }") {
        let skill = read_skill(reader, &entry);
        config.skills.insert(entry.key.clone(), skill);
    }
}

/// Reads `skills: [routers, billing]`, each skill with the defaults.
fn read_skill_list(reader: &mut Reader, section: &Entry, config: &mut Config) {
    let items = list_items(reader, section, "[routers, billing]").unwrap_or_default();
    for item in items {
        let Some(name) = reader.nonempty_text(&item, "routers") else {
            continue;
        };
        if let Some(first) = reader.locations.get(&format!("skills.{name}")) {
            let first = *first;
            report_repeated_item(reader, &item, &name, first);
            continue;
        }
        reader.record(format!("skills.{name}"), item.value.span);
        config.skills.insert(name, default_skill());
    }
}

fn default_skill() -> Skill {
    Skill {
        description: None,
        max_level: DEFAULT_MAX_LEVEL,
    }
}

fn read_skill(reader: &mut Reader, entry: &Entry) -> Skill {
    let mut skill = default_skill();
    for field in reader.fields(entry, &["description", "max_level"]) {
        match field.key.as_str() {
            "description" => skill.description = reader.text(&field, "\"Home routers\""),
            _ => {
                let level = reader.integer(&field, 1, MAX_MAX_LEVEL, "5");
                skill.max_level = level.unwrap_or(DEFAULT_MAX_LEVEL);
            }
        }
    }
    skill
}

fn read_crm(reader: &mut Reader, section: &Entry, config: &mut Config) {
    for field in reader.fields(section, &["fields"]) {
        for entry in reader.entries(&field, "{ tier: text }") {
            if let Some(field_type) = read_field_type(reader, &entry) {
                config.crm_fields.insert(entry.key.clone(), field_type);
            }
        }
    }
}

const FIELD_TYPES: [(&str, FieldType); 5] = [
    ("text", FieldType::Text),
    ("integer", FieldType::Integer),
    ("bool", FieldType::Bool),
    ("date", FieldType::Date),
    ("digits", FieldType::Digits),
];

fn read_field_type(reader: &mut Reader, entry: &Entry) -> Option<FieldType> {
    if !is_name(&entry.key) {
        let message = format!(
            "invalid CRM field name `{}` at {}",
            entry.key,
            entry.place()
        );
        let help = String::from(
            "flows read a field after a dot, as in `caller.tier`, so use letters, digits and underscores",
        );
        reader.invalid(entry.key_span, message, "not a field name", help);
        return None;
    }
    let builtin = BUILTIN_CONTACT_FIELDS
        .iter()
        .find(|(name, _)| *name == entry.key);
    if let Some((name, field_type)) = builtin {
        let message = format!(
            "custom CRM field `{name}` at {} is already a built-in contact field",
            entry.place()
        );
        let help = format!(
            "remove it to use the built-in `{name}` ({}), or give the custom field another name",
            field_type.as_str()
        );
        reader.invalid(entry.key_span, message, "built-in field", help);
        return None;
    }
    reader.choice(entry, "CRM field type", &FIELD_TYPES)
}

/// Returns the help line for a contact field that is neither built in nor
/// declared under `crm.fields`.
pub fn unknown_contact_field_help(name: &str, config: &Config) -> String {
    let builtin = BUILTIN_CONTACT_FIELDS.iter().map(|(name, _)| *name);
    let custom = config.crm_fields.keys().map(String::as_str);
    let candidates: Vec<&str> = builtin.chain(custom).collect();
    unknown_name_help("contact field", name, candidates.iter().copied())
}
