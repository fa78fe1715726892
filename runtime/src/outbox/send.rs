//! One attempt at one outbox item: the request with its headers and
//! signature, the response's class, and for a tagger the tags it returns.

use super::retry::{StatusClass, classify, parse_retry_after};
use super::sign::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use crate::store::{OutboxItem, Store, TagSource};
use flowc::config::Hook;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The header that carries `{call_id}:{seq}`, the same on every attempt.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Maximum bytes read of a response body: a tagger's reply, or the start
/// of an error page for the attempt log.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Maximum characters of an error response kept in the attempt log.
const MAX_ERROR_EXCERPT: usize = 200;

/// Maximum tags one tagger reply may add.
const MAX_TAGS: usize = 50;

/// Maximum characters in one tag.
const MAX_TAG_CHARS: usize = 100;

/// The cause of a failed attempt.
#[derive(Debug)]
pub struct Failure {
    /// The response status, when a response came.
    pub status: Option<u16>,
    /// The error for the attempt log, without any secret.
    pub error: String,
    /// The receiver's `Retry-After`, when it sent a valid one.
    pub retry_after: Option<Duration>,
    /// Whether the failure points at a misconfigured receiver or hook (a
    /// status such as 400 or 404, a bad tagger reply, a missing secret)
    /// rather than a receiver that is busy or down.
    pub misconfigured: bool,
}

impl Failure {
    /// Builds a failure of the network, a timeout, or the store while
    /// saving the reply.
    fn network(error: String) -> Failure {
        Failure {
            status: None,
            error,
            retry_after: None,
            misconfigured: false,
        }
    }

    /// Builds a failure of the hook's settings or environment, found before
    /// sending.
    fn setup(error: String) -> Failure {
        Failure {
            status: None,
            error,
            retry_after: None,
            misconfigured: true,
        }
    }
}

/// Sends items over one shared HTTP client.
pub struct Sender {
    pub(super) client: reqwest::Client,
    pub(super) hooks: BTreeMap<String, Hook>,
    pub(super) store: Store,
}

impl Sender {
    /// Makes one attempt; returns the 2xx status on delivery.
    pub async fn attempt(&self, item: &OutboxItem) -> Result<u16, Failure> {
        let hook = self.hooks.get(&item.hook).ok_or_else(|| {
            Failure::setup(format!(
                "hook `{}` is not in tok.yaml any more; add it back under `hooks` to deliver this item",
                item.hook
            ))
        })?;
        let method = reqwest::Method::from_bytes(item.method.as_bytes()).map_err(|_| {
            Failure::setup(format!(
                "invalid method `{}` of hook `{}`",
                item.method, item.hook
            ))
        })?;
        let headers = self.headers(item, hook)?;
        let request = self
            .client
            .request(method, &item.url)
            .headers(headers)
            .timeout(Duration::from_millis(hook.timeout_ms.max(1)))
            .body(item.body.clone());
        let mut response = request.send().await.map_err(|error| {
            Failure::network(format!(
                "request to hook `{}` failed: {}",
                item.hook,
                error_chain(&error)
            ))
        })?;
        let status = response.status().as_u16();
        let body = read_body(&mut response).await;
        match classify(status) {
            StatusClass::Delivered => {
                if item.kind == "tagger" {
                    let body = body.map_err(|error| Failure {
                        status: Some(status),
                        error,
                        retry_after: None,
                        misconfigured: true,
                    })?;
                    self.store_tags(item, status, &body).await?;
                }
                Ok(status)
            }
            class => {
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| parse_retry_after(value, SystemTime::now()));
                let excerpt = body.map(|bytes| excerpt(&bytes)).unwrap_or_default();
                let error = if excerpt.is_empty() {
                    format!("hook `{}` answered HTTP {status}", item.hook)
                } else {
                    format!("hook `{}` answered HTTP {status}: {excerpt}", item.hook)
                };
                Err(Failure {
                    status: Some(status),
                    error,
                    retry_after,
                    misconfigured: class == StatusClass::Rejected,
                })
            }
        }
    }

    /// Builds the request headers: the stored ones with `${NAME}` replaced
    /// from the environment, a default `Content-Type`, the idempotency key
    /// and, when the hook has `secret_env`, the timestamp and signature.
    /// The headers Tok sets replace stored ones of the same name.
    fn headers(&self, item: &OutboxItem, hook: &Hook) -> Result<HeaderMap, Failure> {
        let mut headers = HeaderMap::new();
        for (name, value) in &item.headers {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                Failure::setup(format!(
                    "invalid header name `{name}` in hook `{}`",
                    item.hook
                ))
            })?;
            let value = expand_env(value).map_err(|variable| {
                Failure::setup(format!(
                    "environment variable `{variable}` named in header `{name}` of hook `{}` is not set; set it and the item is retried",
                    item.hook
                ))
            })?;
            // The value may contain an expanded secret, so it is never
            // quoted in the error.
            let value = HeaderValue::from_str(&value).map_err(|_| {
                Failure::setup(format!(
                    "header `{name}` of hook `{}` has a value with characters HTTP does not allow",
                    item.hook
                ))
            })?;
            headers.append(header, value);
        }
        if !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let key = HeaderValue::from_str(&item.idempotency_key).map_err(|_| {
            Failure::setup(format!(
                "idempotency key `{}` is not a valid header value",
                item.idempotency_key
            ))
        })?;
        headers.insert(IDEMPOTENCY_HEADER, key);
        if let Some(variable) = &hook.secret_env {
            let secret = std::env::var(variable)
                .ok()
                .filter(|secret| !secret.is_empty())
                .ok_or_else(|| {
                    Failure::setup(format!(
                        "environment variable `{variable}` (`hooks.{}.secret_env`) is not set or empty; set it to the HMAC secret and the item is retried",
                        item.hook
                    ))
                })?;
            let timestamp = unix_seconds().to_string();
            let signature = sign(secret.as_bytes(), &timestamp, item.body.as_bytes());
            for (name, value) in [(TIMESTAMP_HEADER, timestamp), (SIGNATURE_HEADER, signature)] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
        }
        Ok(headers)
    }

    /// Reads a tagger's answer and adds its tags to the call.
    async fn store_tags(&self, item: &OutboxItem, status: u16, body: &[u8]) -> Result<(), Failure> {
        let bad_answer = |error: String| Failure {
            status: Some(status),
            error,
            retry_after: None,
            misconfigured: true,
        };
        let tags = parse_tags(body).map_err(|reason| {
            bad_answer(format!(
                "tagger `{}` answered HTTP {status} with {reason}; it must answer {{\"tags\": [\"...\"]}}",
                item.hook
            ))
        })?;
        if tags.is_empty() {
            return Ok(());
        }
        self.store
            .add_call_tags(&item.call_id, &tags, TagSource::Tagger)
            .await
            .map_err(|error| {
                Failure::network(format!(
                    "cannot store the tags of tagger `{}`: {error}",
                    item.hook
                ))
            })
    }
}

/// Parses `{"tags": ["..."]}`: every tag a non-empty string without
/// control characters, trimmed, repeats dropped.
pub fn parse_tags(body: &[u8]) -> Result<Vec<String>, String> {
    let answer: serde_json::Value =
        serde_json::from_slice(body).map_err(|error| format!("invalid JSON ({error})"))?;
    let list = answer
        .get("tags")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| String::from("no `tags` list"))?;
    if list.len() > MAX_TAGS {
        return Err(format!("{} tags, more than {MAX_TAGS}", list.len()));
    }
    let mut tags: Vec<String> = Vec::with_capacity(list.len());
    for value in list {
        let tag = value
            .as_str()
            .map(str::trim)
            .ok_or_else(|| format!("the tag {value}, which is not a string"))?;
        if tag.is_empty()
            || tag.chars().count() > MAX_TAG_CHARS
            || tag.chars().any(char::is_control)
        {
            return Err(format!(
                "the tag {value}; a tag has 1 to {MAX_TAG_CHARS} characters and no control characters"
            ));
        }
        if !tags.iter().any(|known| known == tag) {
            tags.push(tag.to_string());
        }
    }
    Ok(tags)
}

/// Replaces each `${NAME}` with the environment variable's value; returns
/// the name of the first variable that is not set.
pub fn expand_env(value: &str) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let (before, after) = rest.split_at(start);
        out.push_str(before);
        let after = after.get(2..).unwrap_or_default();
        let Some(end) = after.find('}') else {
            out.push_str("${");
            rest = after;
            continue;
        };
        let (name, tail) = after.split_at(end);
        let value = std::env::var(name).map_err(|_| name.to_string())?;
        out.push_str(&value);
        rest = tail.get(1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

/// Reads at most [`MAX_RESPONSE_BYTES`] of the body.
async fn read_body(response: &mut reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(format!(
                        "a response body longer than {MAX_RESPONSE_BYTES} bytes"
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(error) => return Err(format!("a broken response body ({})", error_chain(&error))),
        }
    }
}

/// Returns the start of an error body on one line.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_ERROR_EXCERPT)
        .collect();
    line.trim().to_string()
}

/// Joins an error with its sources, so "error sending request" gets its
/// cause.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_parsed_and_deduplicated() {
        let tags = parse_tags(br#"{"tags": ["billing", " vip ", "billing"]}"#);
        assert_eq!(tags, Ok(vec![String::from("billing"), String::from("vip")]));
        assert_eq!(parse_tags(br#"{"tags": []}"#), Ok(Vec::new()));
    }

    #[test]
    fn bad_tag_answers_rejected() {
        for body in [
            &b"not json"[..],
            br#"{"labels": ["a"]}"#,
            br#"{"tags": "a"}"#,
            br#"{"tags": [1]}"#,
            br#"{"tags": [""]}"#,
            br#"{"tags": ["a\nb"]}"#,
        ] {
            let text = String::from_utf8_lossy(body);
            assert!(parse_tags(body).is_err(), "{text}");
        }
    }

    #[test]
    fn env_expanded_in_headers() {
        // Cargo runs tests with PATH set.
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(expand_env("a ${PATH} b"), Ok(format!("a {path} b")));
        assert_eq!(expand_env("plain"), Ok(String::from("plain")));
        assert_eq!(expand_env("open ${ only"), Ok(String::from("open ${ only")));
        assert_eq!(
            expand_env("${TOK_TEST_UNSET_VARIABLE_X}"),
            Err(String::from("TOK_TEST_UNSET_VARIABLE_X"))
        );
    }
}
