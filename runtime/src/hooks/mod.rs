//! The one reqwest client of the process (rustls with the ring provider),
//! shared by `crm` hook lookups and the outbox, and a lookup that fills the
//! URL template,
//! sends the hook's headers, and maps the JSON response to a contact through
//! the hook's JSON pointers.

use flowc::config::{FieldType, Hook};
use flowc::vm::{Contact, Reply, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

/// The maximum response body read from a CRM hook, in bytes. A contact is
/// far smaller, so a larger body means a misconfigured URL.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// An HTTP client shared by every call; clones share its connection pool.
#[derive(Clone, Debug)]
pub struct HookClient {
    client: reqwest::Client,
}

/// Installs rustls's ring provider as the process default once, so every
/// rustls user in flowd (reqwest included) uses the same provider.
pub fn install_crypto_provider() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // rustls 0.23.48 deprecates the ring provider because it lacks
        // post-quantum key exchange. flowd still builds with ring alone,
        // so the aws-lc provider stays out of the build.
        #[allow(deprecated)]
        let provider = rustls::crypto::ring::default_provider();
        // An error means a provider is installed already, which is as good.
        let _ = provider.install_default();
    });
}

/// How long connecting to a hook's server may take; the hook's `timeout`
/// bounds the whole request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle pooled connection to a hook's server is kept.
const POOL_IDLE: Duration = Duration::from_secs(60);

/// Returns the process's HTTP client, built on first use; clones share its
/// connection pool and TLS configuration. Redirects are not followed: a
/// redirected POST may turn into a GET, so a 3xx is a failure that is
/// logged and the hook's URL gets fixed. Fails only when the TLS setup
/// fails.
pub fn shared_client() -> Result<reqwest::Client, String> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client.clone());
    }
    // reqwest is built without a crypto provider of its own.
    install_crypto_provider();
    let client = reqwest::Client::builder()
        .user_agent(concat!("flowd/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_idle_timeout(POOL_IDLE)
        .build()
        .map_err(|error| format!("cannot build the HTTP client of the hooks: {error}"))?;
    // A client built by a racing thread wins, so every caller gets one pool.
    Ok(CLIENT.get_or_init(|| client).clone())
}

impl HookClient {
    /// Returns a handle on the process's [`shared_client`]. Fails only
    /// when the TLS setup fails.
    pub fn new() -> Result<HookClient, String> {
        Ok(HookClient {
            client: shared_client()?,
        })
    }

    /// Looks `key` up through the `crm` hook `name`. The request is
    /// limited by `timeout` (the caller passes the shorter of the flow's
    /// and the hook's). A 404, a 204 or an empty body is [`Reply::Missing`];
    /// any other failure is [`Reply::LookupFailed`]. `types` are the
    /// declared types of the custom contact fields.
    pub async fn lookup(
        &self,
        name: &str,
        hook: &Hook,
        key: &str,
        types: &BTreeMap<String, FieldType>,
        timeout: Duration,
    ) -> Reply {
        let url = hook.url.replace("{key}", &percent_encode(key));
        let method = match reqwest::Method::from_bytes(hook.method.as_bytes()) {
            Ok(method) => method,
            Err(_) => {
                return failed(
                    false,
                    format!("hook `{name}` has invalid method `{}`", hook.method),
                );
            }
        };
        let mut request = self.client.request(method, &url).timeout(timeout);
        for (header, value) in &hook.headers {
            request = request.header(header.as_str(), expand_env(value));
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                // reqwest's message includes the URL, which may carry the
                // key; it never includes header values such as tokens.
                tracing::warn!(hook = name, %error, "CRM hook request failed");
                return failed(error.is_timeout(), format!("hook `{name}`: {error}"));
            }
        };
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::NO_CONTENT {
            return Reply::Missing;
        }
        if !status.is_success() {
            tracing::warn!(
                hook = name,
                status = status.as_u16(),
                "CRM hook responded with an error status"
            );
            return failed(false, format!("hook `{name}` responded with HTTP {status}"));
        }
        let body = match read_limited(response).await {
            Ok(body) => body,
            Err(error) => return failed(error.is_timeout(), format!("hook `{name}`: {error}")),
        };
        match contact_from_answer(&body, &hook.fields, types) {
            Ok(Some(contact)) => Reply::Found(contact),
            Ok(None) => Reply::Missing,
            Err(reason) => {
                tracing::warn!(hook = name, %reason, "CRM hook response is not a usable contact");
                failed(false, format!("hook `{name}`: {reason}"))
            }
        }
    }
}

/// Reads a response body up to [`MAX_ANSWER_BYTES`].
async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER_BYTES {
            body.truncate(MAX_ANSWER_BYTES + 1);
            break;
        }
    }
    Ok(body)
}

fn failed(timed_out: bool, reason: String) -> Reply {
    Reply::LookupFailed { timed_out, reason }
}

/// Maps a hook's JSON answer to a contact: each field of `fields` is read
/// at its JSON pointer. An empty body, `null`, `{}` or `[]` means no
/// contact; a JSON array answer uses its first element, as search APIs
/// answer with a list.
pub fn contact_from_answer(
    body: &[u8],
    fields: &BTreeMap<String, String>,
    types: &BTreeMap<String, FieldType>,
) -> Result<Option<Contact>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if body.len() > MAX_ANSWER_BYTES {
        return Err(format!(
            "the answer is larger than {MAX_ANSWER_BYTES} bytes"
        ));
    }
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|error| format!("the answer is not JSON: {error}"))?;
    let json = match json {
        serde_json::Value::Array(mut items) => {
            if items.is_empty() {
                return Ok(None);
            }
            items.swap_remove(0)
        }
        other => other,
    };
    match &json {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Object(map) if map.is_empty() => return Ok(None),
        serde_json::Value::Object(_) => {}
        _ => return Err(String::from("the answer is not a JSON object")),
    }
    let mut contact = Contact::default();
    for (field, pointer) in fields {
        let Some(found) = json.pointer(pointer) else {
            continue;
        };
        let declared = declared_type(field, types);
        if let Some(value) = json_to_value(found, declared) {
            contact.fields.insert(field.clone(), value);
        }
    }
    Ok(Some(contact))
}

/// Returns the type of a contact field: a built-in field's, else the one
/// declared under `crm.fields`, else text.
fn declared_type(field: &str, types: &BTreeMap<String, FieldType>) -> FieldType {
    flowc::config::BUILTIN_CONTACT_FIELDS
        .iter()
        .find(|(name, _)| *name == field)
        .map(|(_, ty)| *ty)
        .or_else(|| types.get(field).copied())
        .unwrap_or(FieldType::Text)
}

/// Converts a JSON value to the VM value of the declared type. A value of
/// another JSON type keeps its own type, so the VM reads the field as
/// empty and writes a `FieldType` trace event; `null` is left out.
pub fn json_to_value(json: &serde_json::Value, declared: FieldType) -> Option<Value> {
    use serde_json::Value as Json;
    // A NUL is never part of a real name or number, and PostgreSQL cannot
    // store it in text, so it is dropped at the border.
    if let Json::String(text) = json
        && text.contains('\0')
    {
        return json_to_value(&Json::String(text.replace('\0', "")), declared);
    }
    match (json, declared) {
        (Json::Null, _) => None,
        (Json::Bool(flag), _) => Some(Value::Bool(*flag)),
        (Json::Number(number), FieldType::Text) => Some(Value::Text(number.to_string())),
        (Json::Number(number), FieldType::Digits) if number.is_u64() => {
            Some(Value::Digits(number.to_string()))
        }
        (Json::Number(number), _) => match number.as_i64() {
            Some(int) => Some(Value::Int(int)),
            None => Some(Value::Text(number.to_string())),
        },
        (Json::String(text), FieldType::Date) => match parse_date(text) {
            Some(date) => Some(Value::Date(date)),
            None => Some(Value::Text(text.clone())),
        },
        (Json::String(text), FieldType::Integer) => match text.trim().parse::<i64>() {
            Ok(int) => Some(Value::Int(int)),
            Err(_) => Some(Value::Text(text.clone())),
        },
        (Json::String(text), FieldType::Digits)
            if !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '*' || c == '#') =>
        {
            Some(Value::Digits(text.clone()))
        }
        (Json::String(text), _) => Some(Value::Text(text.clone())),
        (other, _) => Some(Value::Text(other.to_string())),
    }
}

/// Parses `YYYY-MM-DD`, also at the start of an RFC 3339 time stamp.
fn parse_date(text: &str) -> Option<flowc::bytecode::Date> {
    let day_part = text.get(..10).unwrap_or(text);
    let date: jiff::civil::Date = day_part.parse().ok()?;
    Some(flowc::bytecode::Date {
        year: date.year(),
        month: u8::try_from(date.month()).ok()?,
        day: u8::try_from(date.day()).ok()?,
    })
}

/// Percent-encodes every byte of `text` outside RFC 3986's unreserved set,
/// so a key such as `+38615550100` stays one path segment or query value.
pub fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Replaces `${NAME}` in a header value by the environment variable NAME
/// (empty when unset), so secrets stay out of tok.yaml.
pub fn expand_env(value: &str) -> String {
    let mut expanded = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let (before, after) = rest.split_at(start);
        expanded.push_str(before);
        let Some(end) = after.find('}') else {
            expanded.push_str(after);
            return expanded;
        };
        let name = after.get(2..end).unwrap_or_default();
        if let Ok(found) = std::env::var(name) {
            expanded.push_str(&found);
        } else {
            tracing::warn!(
                variable = name,
                "environment variable of a hook header is not set"
            );
        }
        rest = after.get(end + 1..).unwrap_or_default();
    }
    expanded.push_str(rest);
    expanded
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn percent_encode_keeps_unreserved() {
        assert_eq!(percent_encode("+386 1/5"), "%2B386%201%2F5");
        assert_eq!(percent_encode("a-b.c_d~"), "a-b.c_d~");
    }

    #[test]
    fn answer_fields_typed() {
        let fields = BTreeMap::from([
            (String::from("name"), String::from("/data/name")),
            (String::from("vip"), String::from("/data/vip")),
            (String::from("plan"), String::from("/data/plan")),
            (String::from("since"), String::from("/data/since")),
            (String::from("seats"), String::from("/data/seats")),
        ]);
        let types = BTreeMap::from([
            (String::from("plan"), FieldType::Text),
            (String::from("since"), FieldType::Date),
            (String::from("seats"), FieldType::Integer),
        ]);
        let body = br#"{"data":{"name":"Ana","vip":true,"plan":"gold","since":"2024-02-29T10:00:00Z","seats":"12"}}"#;
        let contact = contact_from_answer(body, &fields, &types).unwrap().unwrap();
        assert_eq!(contact.fields["name"], Value::Text("Ana".into()));
        assert_eq!(contact.fields["vip"], Value::Bool(true));
        assert_eq!(
            contact.fields["since"],
            Value::Date(flowc::bytecode::Date {
                year: 2024,
                month: 2,
                day: 29
            })
        );
        assert_eq!(contact.fields["seats"], Value::Int(12));
    }

    #[test]
    fn wrong_type_keeps_json_type() {
        let fields = BTreeMap::from([(String::from("vip"), String::from("/vip"))]);
        let contact = contact_from_answer(br#"{"vip":"yes"}"#, &fields, &BTreeMap::new())
            .unwrap()
            .unwrap();
        assert_eq!(contact.fields["vip"], Value::Text("yes".into()));
    }

    #[test]
    fn empty_answers_are_missing() {
        for body in [&b""[..], b"  ", b"null", b"{}", b"[]"] {
            let found = contact_from_answer(body, &BTreeMap::new(), &BTreeMap::new()).unwrap();
            assert!(found.is_none(), "{body:?}");
        }
    }

    #[test]
    fn invalid_answer_is_error() {
        assert!(contact_from_answer(b"<html>", &BTreeMap::new(), &BTreeMap::new()).is_err());
        assert!(contact_from_answer(b"42", &BTreeMap::new(), &BTreeMap::new()).is_err());
    }

    #[test]
    fn nul_is_dropped_from_text() {
        let json = serde_json::json!("Nul\u{0}Name");
        assert_eq!(
            json_to_value(&json, FieldType::Text),
            Some(Value::Text("NulName".into()))
        );
    }
}
