//! Trunks (`trunks`) and the destinations a flow may send a caller to
//! (`transfer`). A transfer or callback destination often comes from digits
//! a caller typed, so [`TransferPolicy::check`] allows only what
//! `transfer.allow` lists and builds the SIP URI itself, without any
//! parameter or header of the input.

use super::{ConfigError, YamlScalar, invalid};
use crate::sip::header::Uri;
use crate::sip::transport::Transport;
use flowc::number::{CountryCode, Number, normalise};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The port of a SIP URI without one (RFC 3261 section 19.1.2).
const DEFAULT_SIP_PORT: u16 = 5060;

/// A carrier or SBC that numbers are called through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trunk {
    /// Host name or IP address, without brackets for IPv6.
    pub host: String,
    /// SIP port.
    pub port: u16,
    /// Transport requests are sent on.
    pub transport: Transport,
    /// The caller number presented on calls through this trunk, in E.164;
    /// `None` presents the original caller or the deployment's number.
    pub from: Option<String>,
}

impl Trunk {
    /// Returns `host:port`, with brackets around an IPv6 host.
    pub fn host_port(&self) -> String {
        format!("{}:{}", bracketed(&self.host), self.port)
    }

    /// Returns the SIP URI of `number` at this trunk, such as
    /// `sip:+38615550100@192.0.2.1:5060;user=phone`.
    pub fn number_uri(&self, number: &str) -> String {
        let transport = match self.transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        };
        format!("sip:{number}@{};user=phone{transport}", self.host_port())
    }
}

/// The target of an allowed transfer or callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// The Request-URI to send the INVITE to.
    pub uri: String,
    /// The trunk of `trunks` for a number, or `None` for a SIP URI, which
    /// is sent to its own host.
    pub trunk: Option<String>,
}

/// A transfer or callback destination that the policy rejects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transfer to `{target}` denied: {reason}")]
pub struct TransferDenied {
    /// The destination as the flow gave it.
    pub target: String,
    /// The reason for the denial.
    pub reason: String,
}

/// The `transfer` section: allowed destinations and the trunk for numbers.
/// The default allows nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransferPolicy {
    allow: Vec<Pattern>,
    /// The trunk numbers go through, by name, with its settings.
    trunk: Option<(String, Trunk)>,
}

/// One entry of `transfer.allow`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    /// An E.164 number, or a prefix when written with a trailing `*`.
    Number { e164: String, prefix: bool },
    /// A SIP URI whose user part is exact, a prefix (`100*`) or any (`*`).
    Sip {
        user: String,
        user_prefix: bool,
        host: String,
        port: u16,
    },
}

impl TransferPolicy {
    /// Returns the trunk numbers go through, when one is configured.
    pub fn trunk(&self) -> Option<&str> {
        self.trunk.as_ref().map(|(name, _)| name.as_str())
    }

    /// Returns true when `transfer.allow` is empty, so every destination
    /// is denied.
    pub fn denies_all(&self) -> bool {
        self.allow.is_empty()
    }

    /// Checks a destination against `transfer.allow` and returns where to
    /// send the call. A number in any spelling `flowc::number::normalise`
    /// reads as E.164 (`+386...`, `00386...`, national with `country`) is
    /// matched in E.164 form and sent through `transfer.trunk`. A `sip:`
    /// URI is matched by user, host and port. `*` and `#`, URI parameters and
    /// headers, and numbers that are not unambiguous E.164 are denied.
    pub fn check(
        &self,
        target: &str,
        country: Option<CountryCode>,
    ) -> Result<Destination, TransferDenied> {
        let deny = |reason: String| TransferDenied {
            target: target.to_string(),
            reason,
        };
        let trimmed = target.trim();
        if trimmed.is_empty() {
            return Err(deny(String::from("the destination is empty")));
        }
        let lower = trimmed.to_ascii_lowercase();
        if lower.starts_with("sip:") || lower.starts_with("sips:") {
            return self.check_uri(trimmed).map_err(deny);
        }
        self.check_number(trimmed, country).map_err(deny)
    }

    fn check_number(
        &self,
        text: &str,
        country: Option<CountryCode>,
    ) -> Result<Destination, String> {
        if text.contains(['*', '#']) {
            return Err(String::from(
                "it contains `*` or `#`, which carriers read as service codes; a destination number has only digits and `+`",
            ));
        }
        let number = match normalise(text, country) {
            Number::E164(number) => number,
            Number::Ambiguous(readings) => {
                return Err(format!(
                    "the number is ambiguous ({}); write it with `+` and the country code",
                    readings.join(" or ")
                ));
            }
            Number::Other(_) => {
                return Err(String::from(
                    "not an E.164 phone number; write it with `+` and the country code, such as `+38615550100`",
                ));
            }
        };
        let allowed = self.allow.iter().any(|pattern| match pattern {
            Pattern::Number { e164, prefix: true } => number.starts_with(e164.as_str()),
            Pattern::Number {
                e164,
                prefix: false,
            } => number == *e164,
            Pattern::Sip { .. } => false,
        });
        if !allowed {
            return Err(format!("{number} is not allowed by `transfer.allow`"));
        }
        let Some((name, trunk)) = &self.trunk else {
            return Err(String::from(
                "no trunk for numbers; set `transfer.trunk` to a trunk of `trunks`",
            ));
        };
        Ok(Destination {
            uri: trunk.number_uri(&number),
            trunk: Some(name.clone()),
        })
    }

    fn check_uri(&self, text: &str) -> Result<Destination, String> {
        let (user, host, port) = parse_target_uri(text)?;
        let allowed = self.allow.iter().any(|pattern| match pattern {
            Pattern::Sip {
                user: pattern_user,
                user_prefix,
                host: pattern_host,
                port: pattern_port,
            } => {
                let user_matches = if *user_prefix {
                    user.starts_with(pattern_user.as_str())
                } else {
                    user == *pattern_user
                };
                user_matches && host.eq_ignore_ascii_case(pattern_host) && port == *pattern_port
            }
            Pattern::Number { .. } => false,
        });
        if !allowed {
            return Err(String::from("the URI is not allowed by `transfer.allow`"));
        }
        Ok(Destination {
            uri: format!("sip:{user}@{}:{port}", bracketed(&host)),
            trunk: None,
        })
    }
}

/// Returns the user, host and port of a `sip:user@host[:port]` target, or
/// why it is denied.
fn parse_target_uri(text: &str) -> Result<(String, String, u16), String> {
    // `;maddr=` and `;transport=` change where a request goes, and `?`
    // headers add to it, so a destination has none.
    if text.contains([';', '?']) {
        return Err(String::from(
            "URI parameters and headers are not allowed in a destination; write `sip:user@host`",
        ));
    }
    let Ok(Uri::Sip {
        secure,
        user,
        host,
        port,
        ..
    }) = Uri::parse(text)
    else {
        return Err(String::from(
            "not a valid SIP URI such as `sip:1001@pbx.example.com`",
        ));
    };
    if secure {
        return Err(String::from("`sips:` is not supported; write a `sip:` URI"));
    }
    let Some(user) = user.filter(|user| !user.is_empty()) else {
        return Err(String::from(
            "the URI has no user part; write `sip:user@host`",
        ));
    };
    if !user
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_'))
    {
        return Err(String::from(
            "the user part may contain only letters, digits, `+`, `-`, `.` and `_`",
        ));
    }
    Ok((user, host, port.unwrap_or(DEFAULT_SIP_PORT)))
}

fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// One trunk as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TrunkText {
    uri: String,
    #[serde(default)]
    from: Option<YamlScalar>,
    #[serde(default)]
    transport: Option<String>,
}

/// The `transfer` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct TransferSection {
    allow: Vec<YamlScalar>,
    trunk: Option<String>,
}

pub(super) fn build_trunks(
    texts: BTreeMap<String, TrunkText>,
    country: Option<CountryCode>,
) -> Result<BTreeMap<String, Trunk>, ConfigError> {
    let mut trunks = BTreeMap::new();
    for (name, text) in texts {
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return Err(invalid(
                "trunks",
                &name,
                "name a trunk with letters, digits, `_` and `-`, such as `carrier`",
            ));
        }
        let trunk = build_trunk(&name, text, country)?;
        trunks.insert(name, trunk);
    }
    Ok(trunks)
}

fn build_trunk(
    name: &str,
    text: TrunkText,
    country: Option<CountryCode>,
) -> Result<Trunk, ConfigError> {
    let key = format!("trunks.{name}");
    let uri_help = "write `sip:` and the carrier's host and port, such as `sip:192.0.2.1:5060`";
    if text.uri.contains([';', '?', '@']) {
        return Err(invalid(&format!("{key}.uri"), &text.uri, uri_help));
    }
    let (host, port) = match Uri::parse(text.uri.trim()) {
        Ok(Uri::Sip {
            secure: false,
            user: None,
            host,
            port,
            has_headers: false,
        }) if !host.is_empty() => (host, port.unwrap_or(DEFAULT_SIP_PORT)),
        _ => return Err(invalid(&format!("{key}.uri"), &text.uri, uri_help)),
    };
    let transport = match text.transport.as_deref().map(str::trim) {
        None | Some("udp") => Transport::Udp,
        Some("tcp") => Transport::Tcp,
        Some(other) => {
            return Err(invalid(
                &format!("{key}.transport"),
                other,
                "write `udp` or `tcp`",
            ));
        }
    };
    let from = text
        .from
        .map(|value| {
            let written = value.text();
            match normalise(&written, country) {
                Number::E164(number) => Ok(number),
                _ => Err(invalid(
                    &format!("{key}.from"),
                    &written,
                    "write the caller number to present with `+` and the country code, such as `\"+38615550100\"`",
                )),
            }
        })
        .transpose()?;
    Ok(Trunk {
        host,
        port,
        transport,
        from,
    })
}

/// Returns the trunk `key` names, or the only declared trunk when `name`
/// is unset. An unknown name is an error listing the declared trunks.
pub(super) fn resolve_trunk(
    key: &str,
    name: Option<String>,
    trunks: &BTreeMap<String, Trunk>,
) -> Result<Option<String>, ConfigError> {
    let Some(name) = name else {
        return Ok(match trunks.len() {
            1 => trunks.keys().next().cloned(),
            _ => None,
        });
    };
    if trunks.contains_key(&name) {
        return Ok(Some(name));
    }
    let help = if trunks.is_empty() {
        String::from("declare the trunk under `trunks` first")
    } else {
        let names: Vec<String> = trunks.keys().map(|name| format!("`{name}`")).collect();
        format!("write one of {}", names.join(", "))
    };
    Err(invalid(key, &name, &help))
}

pub(super) fn build_transfer(
    section: TransferSection,
    trunks: &BTreeMap<String, Trunk>,
    country: Option<CountryCode>,
) -> Result<TransferPolicy, ConfigError> {
    let allow = section
        .allow
        .iter()
        .enumerate()
        .map(|(index, value)| pattern(&format!("transfer.allow[{index}]"), &value.text(), country))
        .collect::<Result<Vec<_>, _>>()?;
    let trunk_name = resolve_trunk("transfer.trunk", section.trunk, trunks)?;
    let trunk = trunk_name.and_then(|name| {
        let trunk = trunks.get(&name).cloned()?;
        Some((name, trunk))
    });
    let allows_numbers = allow
        .iter()
        .any(|pattern| matches!(pattern, Pattern::Number { .. }));
    if allows_numbers && trunk.is_none() {
        let help = if trunks.is_empty() {
            "numbers are called through a trunk; declare one under `trunks`"
        } else {
            "numbers are called through a trunk; name one of `trunks` in `transfer.trunk`"
        };
        return Err(invalid("transfer.trunk", "(unset)", help));
    }
    Ok(TransferPolicy { allow, trunk })
}

/// Reads one entry of `transfer.allow`.
fn pattern(key: &str, text: &str, country: Option<CountryCode>) -> Result<Pattern, ConfigError> {
    let written = text.trim();
    let lower = written.to_ascii_lowercase();
    if lower.starts_with("sip:") || lower.starts_with("sips:") {
        return sip_pattern(key, written);
    }
    let number_help = "write an E.164 number with `+`, optionally ending in `*` for a prefix, such as `\"+3861*\"`, or a SIP URI such as `\"sip:*@pbx.example.com\"`";
    let (body, prefix) = match written.strip_suffix('*') {
        Some(body) => (body, true),
        None => (written, false),
    };
    if body.contains(['*', '#']) {
        return Err(invalid(key, written, number_help));
    }
    match normalise(body, country) {
        Number::E164(e164) => Ok(Pattern::Number { e164, prefix }),
        _ => Err(invalid(key, written, number_help)),
    }
}

/// Reads `sip:USER@HOST[:PORT]`, where USER is exact, ends in `*` for a
/// prefix, or is `*` for any user.
fn sip_pattern(key: &str, written: &str) -> Result<Pattern, ConfigError> {
    let help = "write `sip:USER@HOST` with USER exact, ending in `*`, or `*`, and a host without `*`, such as `\"sip:*@pbx.example.com\"`";
    if written.contains([';', '?']) {
        return Err(invalid(key, written, help));
    }
    let Some((user_part, host_part)) = written
        .split_once(':')
        .and_then(|(_, rest)| rest.rsplit_once('@'))
    else {
        return Err(invalid(key, written, help));
    };
    let (user, user_prefix) = match user_part.strip_suffix('*') {
        Some(user) => (user.to_string(), true),
        None => (user_part.to_string(), false),
    };
    let user_valid = user
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_'));
    if !user_valid || (user.is_empty() && !user_prefix) || host_part.contains('*') {
        return Err(invalid(key, written, help));
    }
    // The host and port are read from a URI with a placeholder user, so
    // the `*` of the pattern does not reach the URI parser.
    let scheme = written.split(':').next().unwrap_or_default();
    match Uri::parse(&format!("{scheme}:x@{host_part}")) {
        Ok(Uri::Sip {
            secure: false,
            host,
            port,
            ..
        }) if !host.is_empty() => Ok(Pattern::Sip {
            user,
            user_prefix,
            host,
            port: port.unwrap_or(DEFAULT_SIP_PORT),
        }),
        _ => Err(invalid(key, written, help)),
    }
}

#[cfg(test)]
mod tests;
