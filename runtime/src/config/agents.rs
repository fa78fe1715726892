//! The settings of agents and their phones: digest authentication and
//! registration limits under `sip`, and the sections `agents`, `callbacks`
//! and `queues`.

use super::{ConfigError, MAX_DURATION, YamlScalar, invalid, positive_duration};
use serde::Deserialize;
use std::time::Duration;

/// Digest authentication and registration limits of agents' phones
/// (`sip.realm`, `sip.auth_*`, `sip.min_expires`, `sip.max_expires`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// The digest realm of 401 challenges. Stored HA1 hashes depend on it.
    pub realm: String,
    /// Failed authentications from one source address within
    /// `auth_window` that block the address.
    pub auth_failures: u32,
    /// The window in which failures are counted.
    pub auth_window: Duration,
    /// How long a blocked address gets 403 without a check.
    pub auth_block: Duration,
    /// Shortest registration accepted, in seconds. Shorter requests get
    /// 423 Interval Too Brief with this value in Min-Expires.
    pub min_expires: u32,
    /// Longest registration granted, in seconds. Longer requests are cut
    /// to this value.
    pub max_expires: u32,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            realm: String::from("tok"),
            auth_failures: 5,
            auth_window: Duration::from_secs(60),
            auth_block: Duration::from_secs(60),
            min_expires: 60,
            max_expires: 3600,
        }
    }
}

/// The `agents` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentsConfig {
    /// How long an agent's phone rings before the next agent is tried.
    pub ring_timeout: Duration,
    /// The state an agent is put in after a call rang out unanswered.
    pub no_answer_state: NoAnswerState,
    /// The pause reason written with [`NoAnswerState::Paused`].
    pub no_answer_reason: String,
    /// Codes agents dial from their phones to change state.
    pub feature_codes: FeatureCodes,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            ring_timeout: Duration::from_secs(15),
            no_answer_state: NoAnswerState::Paused,
            no_answer_reason: String::from("no answer"),
            feature_codes: FeatureCodes::default(),
        }
    }
}

/// What happens to an agent who did not answer an offered call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoAnswerState {
    /// Paused with `agents.no_answer_reason`, until they dial `ready`.
    Paused,
    /// Stays ready and is offered the next call.
    Ready,
    /// Logged out.
    LoggedOut,
}

impl NoAnswerState {
    const CHOICES: [(&'static str, NoAnswerState); 3] = [
        ("paused", NoAnswerState::Paused),
        ("ready", NoAnswerState::Ready),
        ("logged_out", NoAnswerState::LoggedOut),
    ];

    /// Returns the state as written in `tok.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            NoAnswerState::Paused => "paused",
            NoAnswerState::Ready => "ready",
            NoAnswerState::LoggedOut => "logged_out",
        }
    }
}

/// Feature codes: `*` or `#` and digits, dialled by an agent's phone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureCodes {
    /// Pause (reason "feature code").
    pub pause: String,
    /// Back to ready.
    pub ready: String,
    /// Log in.
    pub login: String,
    /// Log out.
    pub logout: String,
}

impl Default for FeatureCodes {
    fn default() -> Self {
        FeatureCodes {
            pause: String::from("*51"),
            ready: String::from("*52"),
            login: String::from("*50"),
            logout: String::from("*59"),
        }
    }
}

/// The `callbacks` section: calling back customers who kept their place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbacksConfig {
    /// The trunk of `trunks` callbacks go out through, or `None` when no
    /// trunk is declared and callbacks cannot be placed.
    pub trunk: Option<String>,
    /// Calls to the customer before the callback is given up.
    pub attempts: u32,
    /// Delay between two attempts.
    pub retry: Duration,
    /// How long the customer's phone rings on each attempt.
    pub ring_timeout: Duration,
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        CallbacksConfig {
            trunk: None,
            attempts: 3,
            retry: Duration::from_secs(120),
            ring_timeout: Duration::from_secs(30),
        }
    }
}

/// The `queues` section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueuesConfig {
    /// The handling time the wait estimate uses for a queue before it has
    /// answered calls of its own.
    pub average_handle_default: Duration,
}

impl Default for QueuesConfig {
    fn default() -> Self {
        QueuesConfig {
            average_handle_default: Duration::from_secs(180),
        }
    }
}

/// The `agents` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct AgentsSection {
    ring_timeout: Option<String>,
    no_answer_state: Option<String>,
    no_answer_reason: Option<String>,
    feature_codes: FeatureCodesSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FeatureCodesSection {
    pause: Option<YamlScalar>,
    ready: Option<YamlScalar>,
    login: Option<YamlScalar>,
    logout: Option<YamlScalar>,
}

/// The `callbacks` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct CallbacksSection {
    pub(super) trunk: Option<String>,
    attempts: Option<YamlScalar>,
    retry: Option<String>,
    ring_timeout: Option<String>,
}

/// The `queues` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct QueuesSection {
    average_handle_default: Option<String>,
}

/// The registrar keys of the `sip` section as written.
pub(super) struct RegistrarText {
    pub(super) realm: Option<String>,
    pub(super) auth_failures: Option<YamlScalar>,
    pub(super) auth_window: Option<String>,
    pub(super) auth_block: Option<String>,
    pub(super) min_expires: Option<YamlScalar>,
    pub(super) max_expires: Option<YamlScalar>,
}

/// The longest registration `sip.max_expires` may grant: one day.
const MAX_EXPIRES: u32 = 24 * 60 * 60;

pub(super) fn build_registrar(text: RegistrarText) -> Result<RegistrarConfig, ConfigError> {
    let defaults = RegistrarConfig::default();
    let realm = text.realm.unwrap_or(defaults.realm);
    // The realm is sent in a quoted string and hashed into HA1, so quotes,
    // backslashes and control characters would break both.
    let realm_valid = !realm.is_empty()
        && realm.chars().count() <= 64
        && !realm
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\');
    if !realm_valid {
        return Err(invalid(
            "sip.realm",
            &realm,
            "write 1 to 64 characters without quotes, backslashes or control characters, such as `tok`",
        ));
    }
    let auth_failures = whole_number(
        "sip.auth_failures",
        text.auth_failures,
        1..=1000,
        defaults.auth_failures,
        "write a whole number of failed attempts from 1 to 1000, such as `5`",
    )?;
    let positive = "write a positive duration such as `60s`";
    let auth_window = match text.auth_window {
        Some(value) => positive_duration("sip.auth_window", &value, MAX_DURATION, positive)?,
        None => defaults.auth_window,
    };
    let auth_block = match text.auth_block {
        Some(value) => positive_duration("sip.auth_block", &value, MAX_DURATION, positive)?,
        None => defaults.auth_block,
    };
    let min_expires = whole_number(
        "sip.min_expires",
        text.min_expires,
        1..=MAX_EXPIRES,
        defaults.min_expires,
        "write a whole number of seconds from 1 to 86400, such as `60`",
    )?;
    let max_expires = whole_number(
        "sip.max_expires",
        text.max_expires,
        1..=MAX_EXPIRES,
        defaults.max_expires.max(min_expires),
        "write a whole number of seconds from 1 to 86400, such as `3600`",
    )?;
    if max_expires < min_expires {
        return Err(invalid(
            "sip.max_expires",
            &max_expires.to_string(),
            &format!("write at least `sip.min_expires` ({min_expires})"),
        ));
    }
    Ok(RegistrarConfig {
        realm,
        auth_failures,
        auth_window,
        auth_block,
        min_expires,
        max_expires,
    })
}

pub(super) fn build_agents(section: AgentsSection) -> Result<AgentsConfig, ConfigError> {
    let defaults = AgentsConfig::default();
    let ring_timeout = match section.ring_timeout {
        Some(text) => positive_duration(
            "agents.ring_timeout",
            &text,
            Duration::from_secs(600),
            "write a positive duration of at most 10 minutes, such as `15s`",
        )?,
        None => defaults.ring_timeout,
    };
    let no_answer_state = match section.no_answer_state {
        Some(text) => NoAnswerState::CHOICES
            .iter()
            .find(|(name, _)| *name == text.trim())
            .map(|(_, state)| *state)
            .ok_or_else(|| {
                invalid(
                    "agents.no_answer_state",
                    &text,
                    "write `paused`, `ready` or `logged_out`",
                )
            })?,
        None => defaults.no_answer_state,
    };
    let no_answer_reason = section
        .no_answer_reason
        .map(|reason| reason.trim().to_string())
        .unwrap_or(defaults.no_answer_reason);
    if no_answer_reason.is_empty()
        || no_answer_reason.chars().count() > 64
        || no_answer_reason.chars().any(char::is_control)
    {
        return Err(invalid(
            "agents.no_answer_reason",
            &no_answer_reason,
            "write a reason of 1 to 64 characters without control characters, such as `no answer`",
        ));
    }
    Ok(AgentsConfig {
        ring_timeout,
        no_answer_state,
        no_answer_reason,
        feature_codes: build_feature_codes(section.feature_codes)?,
    })
}

fn build_feature_codes(section: FeatureCodesSection) -> Result<FeatureCodes, ConfigError> {
    let defaults = FeatureCodes::default();
    let codes = FeatureCodes {
        pause: feature_code("pause", section.pause, defaults.pause)?,
        ready: feature_code("ready", section.ready, defaults.ready)?,
        login: feature_code("login", section.login, defaults.login)?,
        logout: feature_code("logout", section.logout, defaults.logout)?,
    };
    let named = [
        ("pause", &codes.pause),
        ("ready", &codes.ready),
        ("login", &codes.login),
        ("logout", &codes.logout),
    ];
    for (index, (name, code)) in named.iter().enumerate() {
        let earlier = named.iter().take(index).find(|(_, other)| other == code);
        if let Some((other, _)) = earlier {
            return Err(invalid(
                &format!("agents.feature_codes.{name}"),
                code,
                &format!("`{other}` has the same code; give each action its own code"),
            ));
        }
    }
    Ok(codes)
}

/// Reads one feature code: `*` or `#` followed by 1 to 8 digits.
fn feature_code(
    name: &str,
    value: Option<YamlScalar>,
    default: String,
) -> Result<String, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    let code = value.text().trim().to_string();
    let digits = code.strip_prefix(['*', '#']).unwrap_or_default();
    let valid = (1..=8).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit());
    if !valid {
        return Err(invalid(
            &format!("agents.feature_codes.{name}"),
            &code,
            "write `*` or `#` followed by 1 to 8 digits, quoted, such as `\"*51\"`",
        ));
    }
    Ok(code)
}

pub(super) fn build_callbacks(
    section: CallbacksSection,
    trunk: Option<String>,
) -> Result<CallbacksConfig, ConfigError> {
    let defaults = CallbacksConfig::default();
    let attempts = whole_number(
        "callbacks.attempts",
        section.attempts,
        1..=20,
        defaults.attempts,
        "write a whole number of calls from 1 to 20, such as `3`",
    )?;
    let retry = match section.retry {
        Some(text) => positive_duration(
            "callbacks.retry",
            &text,
            MAX_DURATION,
            "write a positive duration such as `2m`",
        )?,
        None => defaults.retry,
    };
    let ring_timeout = match section.ring_timeout {
        Some(text) => positive_duration(
            "callbacks.ring_timeout",
            &text,
            Duration::from_secs(600),
            "write a positive duration of at most 10 minutes, such as `30s`",
        )?,
        None => defaults.ring_timeout,
    };
    Ok(CallbacksConfig {
        trunk,
        attempts,
        retry,
        ring_timeout,
    })
}

pub(super) fn build_queues(section: QueuesSection) -> Result<QueuesConfig, ConfigError> {
    let average_handle_default = match section.average_handle_default {
        Some(text) => positive_duration(
            "queues.average_handle_default",
            &text,
            MAX_DURATION,
            "write a positive duration such as `3m`",
        )?,
        None => QueuesConfig::default().average_handle_default,
    };
    Ok(QueuesConfig {
        average_handle_default,
    })
}

/// Reads a whole number within `range`, or returns `default` when unset.
fn whole_number(
    key: &str,
    value: Option<YamlScalar>,
    range: std::ops::RangeInclusive<u32>,
    default: u32,
    help: &str,
) -> Result<u32, ConfigError> {
    let Some(value) = value else {
        return Ok(default);
    };
    let text = value.text();
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|number| range.contains(number))
        .ok_or_else(|| invalid(key, &text, help))
}
