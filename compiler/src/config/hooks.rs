//! The `hooks` section: named HTTP endpoints for CRM lookups, webhooks,
//! notifications and taggers.

use super::reader::{Entry, Reader, quoted_list};
use super::sections::unknown_contact_field_help;
use super::values::{
    check_json_pointer, check_url, format_duration, is_env_name, is_header_name, is_name,
    parse_duration,
};
use super::yaml::Value;
use super::{BUILTIN_CONTACT_FIELDS, Config, Hook, HookKind};
use std::collections::BTreeMap;

/// The keys of one hook.
const HOOK_KEYS: [&str; 8] = [
    "kind",
    "url",
    "method",
    "headers",
    "timeout",
    "fields",
    "secret_env",
    "template",
];

const KINDS: [(&str, HookKind); 4] = [
    ("crm", HookKind::Crm),
    ("webhook", HookKind::Webhook),
    ("notify", HookKind::Notify),
    ("tagger", HookKind::Tagger),
];

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Default timeout of a CRM lookup, during which the caller waits.
const CRM_TIMEOUT_MS: u64 = 3_000;

/// Maximum timeout of a CRM hook, because the caller hears silence during
/// the lookup.
const CRM_MAX_TIMEOUT_MS: u64 = 8_000;

/// Default timeout of webhook, notify and tagger hooks, which run after the
/// call or beside it.
const OTHER_TIMEOUT_MS: u64 = 10_000;

/// Reads the `hooks` section. A hook whose kind is missing or invalid is
/// left out after its problems are reported.
pub fn read_hooks(reader: &mut Reader, section: &Entry, config: &mut Config) {
    for entry in reader.entries(
        section,
        "{ orders: { kind: webhook, url: \"https://...\" } }",
    ) {
        check_hook_name(reader, &entry);
        if let Some(hook) = read_hook(reader, &entry, config) {
            config.hooks.insert(entry.key.clone(), hook);
        }
    }
}

fn check_hook_name(reader: &mut Reader, entry: &Entry) {
    if is_name(&entry.key) {
        return;
    }
    let message = format!("invalid hook name `{}` at {}", entry.key, entry.place());
    let help = String::from(
        "flows name the hook as a word, as in `webhook orders`, so use letters, digits and underscores",
    );
    reader.invalid(entry.key_span, message, "not a name", help);
}

fn read_hook(reader: &mut Reader, entry: &Entry, config: &Config) -> Option<Hook> {
    let fields = reader.fields(entry, &HOOK_KEYS);
    if !matches!(entry.value.value, Value::Map(_)) && !entry.value.is_null() {
        return None;
    }
    let kind_field = fields.iter().find(|f| f.key == "kind");
    let kind = kind_field.and_then(|f| reader.choice(f, "hook kind", &KINDS));
    for required in ["kind", "url"] {
        if !fields.iter().any(|f| f.key == required) {
            report_missing(reader, entry, required);
        }
    }
    let mut hook = default_hook(kind.unwrap_or(HookKind::Webhook));
    for field in fields.iter().filter(|f| f.key != "kind") {
        read_hook_field(reader, field, kind, &mut hook, config);
    }
    kind.map(|_| hook)
}

fn report_missing(reader: &mut Reader, entry: &Entry, key: &str) {
    let example = match key {
        "kind" => format!("kind: {}", KINDS.map(|(name, _)| name).join("|")),
        _ => String::from("url: \"https://crm.example.com/contacts/{key}\""),
    };
    let message = format!("missing key `{key}` in hook {}", entry.place());
    let help = format!("add `{example}` under `{}`", entry.key);
    reader.invalid(
        entry.key_span,
        message,
        &format!("this hook has no `{key}`"),
        help,
    );
}

/// Returns a hook of `kind` with every optional setting at its default.
fn default_hook(kind: HookKind) -> Hook {
    let crm = kind == HookKind::Crm;
    Hook {
        kind,
        url: String::new(),
        method: String::from(if crm { "GET" } else { "POST" }),
        headers: BTreeMap::new(),
        timeout_ms: if crm {
            CRM_TIMEOUT_MS
        } else {
            OTHER_TIMEOUT_MS
        },
        fields: BTreeMap::new(),
        secret_env: None,
        template: None,
    }
}

/// Reads one setting of a hook. `kind` is `None` when the hook's kind is
/// unknown; checks that depend on it are then skipped.
fn read_hook_field(
    reader: &mut Reader,
    field: &Entry,
    kind: Option<HookKind>,
    hook: &mut Hook,
    config: &Config,
) {
    match field.key.as_str() {
        "url" => hook.url = read_url(reader, field).unwrap_or_default(),
        "method" => hook.method = read_method(reader, field).unwrap_or(hook.method.clone()),
        "headers" => hook.headers = read_headers(reader, field),
        "timeout" => hook.timeout_ms = read_timeout(reader, field, kind).unwrap_or(hook.timeout_ms),
        "fields" => {
            check_kind(reader, field, kind, HookKind::Crm);
            hook.fields = read_contact_fields(reader, field, config);
        }
        "secret_env" => hook.secret_env = read_env_name(reader, field),
        _ => {
            check_kind(reader, field, kind, HookKind::Notify);
            hook.template = reader.text(field, "\"Call from {message}\"");
        }
    }
}

/// Reports a setting that only hooks of kind `only` use.
fn check_kind(reader: &mut Reader, field: &Entry, kind: Option<HookKind>, only: HookKind) {
    let Some(kind) = kind.filter(|k| *k != only) else {
        return;
    };
    let hook = field.path.rsplit('.').nth(1).unwrap_or_default();
    let message = format!(
        "`{}` at {} applies only to {} hooks, but `{hook}` is a {} hook",
        field.key,
        field.place(),
        only.as_str(),
        kind.as_str()
    );
    let help = format!("remove `{}`, or set `kind: {}`", field.key, only.as_str());
    reader.invalid(
        field.key_span,
        message,
        &format!("not used by {} hooks", kind.as_str()),
        help,
    );
}

fn read_url(reader: &mut Reader, field: &Entry) -> Option<String> {
    let url = reader.text(field, "\"https://crm.example.com/contacts/{key}\"")?;
    if let Err(reason) = check_url(&url) {
        let message = format!("invalid URL `{url}` at {}", field.place());
        reader.invalid(field.value.span, message, "invalid URL", reason);
        return None;
    }
    Some(url)
}

fn read_method(reader: &mut Reader, field: &Entry) -> Option<String> {
    let method = reader.text(field, "POST")?.to_ascii_uppercase();
    if METHODS.contains(&method.as_str()) {
        return Some(method);
    }
    let message = format!(
        "invalid HTTP method `{}` at {}: expected one of {}",
        field.scalar_text().unwrap_or_default(),
        field.place(),
        METHODS.join(", ")
    );
    let help = format!("write one of {}", quoted_list(&METHODS));
    reader.invalid(field.value.span, message, "unknown method", help);
    None
}

fn read_headers(reader: &mut Reader, field: &Entry) -> BTreeMap<String, String> {
    let mut headers = BTreeMap::new();
    for header in reader.entries(field, "{ Authorization: \"Bearer ${CRM_TOKEN}\" }") {
        if !is_header_name(&header.key) {
            let message = format!("invalid header name `{}` at {}", header.key, header.place());
            let help =
                String::from("a header name has letters, digits and dashes, such as `X-Api-Key`");
            reader.invalid(header.key_span, message, "invalid header name", help);
            continue;
        }
        if let Some(value) = read_header_value(reader, &header) {
            headers.insert(header.key.clone(), value);
        }
    }
    headers
}

/// Returns a header value; numbers and booleans are taken as written.
fn read_header_value(reader: &mut Reader, header: &Entry) -> Option<String> {
    let text = header.value.scalar().filter(|_| !header.value.is_null());
    let Some(text) = text.map(|s| s.text.clone()) else {
        reader.wrong_type(header, "text", header.write("\"Bearer ${CRM_TOKEN}\""));
        return None;
    };
    if text.contains(['\r', '\n']) {
        let message = format!(
            "invalid header value at {}: it contains a line break",
            header.place()
        );
        let help = String::from("write the value on one line");
        reader.invalid(header.value.span, message, "line break", help);
        return None;
    }
    Some(text)
}

fn read_timeout(reader: &mut Reader, field: &Entry, kind: Option<HookKind>) -> Option<u64> {
    let text = reader.text(field, "2s")?;
    let Some(ms) = parse_duration(&text).filter(|ms| *ms > 0) else {
        let message = format!(
            "invalid timeout `{text}` at {}: expected a duration such as `2s` or `500ms`",
            field.place()
        );
        let help =
            String::from("write a whole number followed by `ms`, `s` or `m`, with no space: `2s`");
        reader.invalid(field.value.span, message, "not a duration", help);
        return None;
    };
    if kind == Some(HookKind::Crm) && ms > CRM_MAX_TIMEOUT_MS {
        let limit = format_duration(CRM_MAX_TIMEOUT_MS);
        let message = format!(
            "timeout `{text}` at {} is longer than the {limit} allowed for crm hooks",
            field.place()
        );
        let help = format!("the caller hears silence during a lookup; use at most `{limit}`");
        reader.invalid(field.value.span, message, "too long", help);
        return None;
    }
    Some(ms)
}

fn read_contact_fields(
    reader: &mut Reader,
    field: &Entry,
    config: &Config,
) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    for entry in reader.entries(field, "{ name: /data/name }") {
        // A field written under `crm.fields` with an invalid type is
        // reported there; it is not unknown.
        let declared = reader
            .locations
            .contains_key(&format!("crm.fields.{}", entry.key));
        if !declared && !is_contact_field(&entry.key, config) {
            let message = format!("unknown contact field `{}` at {}", entry.key, entry.place());
            let help = unknown_contact_field_help(&entry.key, config);
            reader.invalid(entry.key_span, message, "unknown contact field", help);
            continue;
        }
        if let Some(pointer) = read_json_pointer(reader, &entry) {
            fields.insert(entry.key.clone(), pointer);
        }
    }
    fields
}

fn is_contact_field(name: &str, config: &Config) -> bool {
    BUILTIN_CONTACT_FIELDS
        .iter()
        .any(|(builtin, _)| *builtin == name)
        || config.crm_fields.contains_key(name)
}

fn read_json_pointer(reader: &mut Reader, entry: &Entry) -> Option<String> {
    let pointer = reader.text(entry, "/data/name")?;
    if let Err(reason) = check_json_pointer(&pointer) {
        let message = format!("invalid JSON pointer `{pointer}` at {}", entry.place());
        reader.invalid(
            entry.value.span,
            message,
            "invalid JSON pointer",
            reason.to_string(),
        );
        return None;
    }
    Some(pointer)
}

fn read_env_name(reader: &mut Reader, field: &Entry) -> Option<String> {
    let name = reader.text(field, "ORDERS_SECRET")?;
    if is_env_name(&name) {
        return Some(name);
    }
    let message = format!(
        "invalid environment variable name `{name}` at {}",
        field.place()
    );
    let help = String::from(
        "write the variable's name, not its value: letters, digits and underscores, such as `ORDERS_SECRET`",
    );
    reader.invalid(field.value.span, message, "not a variable name", help);
    None
}
