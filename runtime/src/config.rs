//! The runtime sections of `tok.yaml`: where flowd listens and keeps its
//! data, how agents' phones register, and where calls may be transferred.
//! Every value has a default, so flowd runs with no file at all and
//! serves `./flows` on 127.0.0.1. The sections `flowc` reads (numbers,
//! prompts, hooks ...) are skipped here.

mod agents;
mod transfer;

pub use agents::{
    AgentsConfig, CallbacksConfig, FeatureCodes, NoAnswerState, QueuesConfig, RegistrarConfig,
};
pub use transfer::{Destination, TransferDenied, TransferPolicy, Trunk};

use crate::sip::transport::Transport;
use flowc::number::CountryCode;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

/// An invalid runtime setting.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The YAML did not match the expected shape.
    #[error("invalid config `{file}`: {message}")]
    Yaml {
        /// The config file.
        file: String,
        /// serde-saphyr's message, with the line and column.
        message: String,
    },
    /// A value is present but invalid.
    #[error("invalid value `{value}` at `{key}`: {help}")]
    Value {
        /// Dotted key such as `sip.listen`.
        key: String,
        /// The value as written.
        value: String,
        /// Help text with a valid example.
        help: String,
    },
}

/// The runtime settings, with defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeConfig {
    /// SIP listeners.
    pub listen: Vec<(Transport, SocketAddr)>,
    /// Peers whose P-Asserted-Identity is believed.
    pub trusted: Vec<IpAddr>,
    /// Most calls at once; `None` means one per RTP port pair.
    pub max_calls: Option<usize>,
    /// The deployment's country calling code, for national numbers.
    pub country_code: Option<CountryCode>,
    /// Whether UDP responses go to the source port even without `rport`.
    pub force_rport: bool,
    /// RTP port range, even ports for RTP and the odd ones above for RTCP.
    pub rtp_ports: RangeInclusive<u16>,
    /// The media address written in SDP.
    pub advertise: IpAddr,
    /// How long a call may go without RTP or RTCP from the caller before
    /// it is ended with BYE; `None` turns the check off.
    pub rtp_timeout: Option<Duration>,
    /// The same while the caller has put the call on hold (flowd sends no RTP).
    pub rtp_hold_timeout: Option<Duration>,
    /// The prompts folder: `<language>/<name>.wav` and `common/<name>.wav`.
    pub prompts: PathBuf,
    /// The folder of the `.flow` files.
    pub flows: PathBuf,
    /// Database URL.
    pub database: String,
    /// Folder for recordings and voicemail.
    pub recordings: PathBuf,
    /// Folder of the journal spool: call records written there while the
    /// database is unreachable, replayed when it is back.
    pub spool: PathBuf,
    /// Rules that tag a call when it ends.
    pub tagging: Vec<TagRule>,
    /// HTTP listener of the agent page, wallboard and metrics.
    pub http: SocketAddr,
    /// How long active calls may go on after SIGTERM before they get BYE.
    pub shutdown_grace: Duration,
    /// SIP timer T1.
    pub t1: Duration,
    /// How long a new call rings (180 Ringing) before it is answered;
    /// zero answers at once.
    pub ring: Duration,
    /// Delivery of webhooks, notifications and tagger requests.
    pub outbox: OutboxConfig,
    /// The environment variable holding the API's bearer token
    /// (`api.token_env`); the token itself is never in the file.
    pub api_token_env: String,
    /// Digest authentication and registration limits for agents' phones.
    pub registrar: RegistrarConfig,
    /// Ring timeout, no-answer handling and feature codes of agents.
    pub agents: AgentsConfig,
    /// Carriers and SBCs that numbers are called through, by name.
    pub trunks: BTreeMap<String, Trunk>,
    /// The destinations transfers and callbacks may reach.
    pub transfer: TransferPolicy,
    /// Calling back customers who kept their place in a queue.
    pub callbacks: CallbacksConfig,
    /// Queue defaults.
    pub queues: QueuesConfig,
}

/// The `outbox` section: how webhooks, notifications and tagger requests
/// are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboxConfig {
    /// Delay before the first retry; each later retry doubles it.
    pub backoff: Duration,
    /// Maximum delay between two attempts, before jitter.
    pub max_backoff: Duration,
    /// How long after its creation an undelivered item is given up.
    pub expire: Duration,
    /// Maximum number of calls whose items are sent at once.
    pub concurrency: usize,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5 * 60),
            expire: Duration::from_secs(24 * 60 * 60),
            concurrency: 16,
        }
    }
}

/// The default of `api.token_env`.
pub const DEFAULT_API_TOKEN_ENV: &str = "TOK_API_TOKEN";

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct File {
    country_code: Option<YamlScalar>,
    sip: SipSection,
    rtp: RtpSection,
    prompts: PromptsSection,
    flows: Option<String>,
    database: Option<String>,
    recordings: Option<String>,
    spool: Option<String>,
    http: Option<String>,
    shutdown: ShutdownSection,
    outbox: OutboxSection,
    tagging: TaggingSection,
    api: ApiSection,
    agents: agents::AgentsSection,
    trunks: BTreeMap<String, transfer::TrunkText>,
    transfer: transfer::TransferSection,
    callbacks: agents::CallbacksSection,
    queues: agents::QueuesSection,
}

/// The `tagging` section.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct TaggingSection {
    rules: Vec<TagRuleText>,
}

/// One rule as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TagRuleText {
    tag: String,
    #[serde(default)]
    when: ConditionText,
}

/// The conditions of a rule as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ConditionText {
    outcome: Option<OneOrMany>,
    wait_over: Option<String>,
    wait_under: Option<String>,
    talk_over: Option<String>,
    path_contains: Option<String>,
    known_contact: Option<bool>,
    vip: Option<bool>,
}

/// A YAML value written as one text or a list of texts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A tagging rule: when every condition of `when` holds for an ended
/// call, the call gets `tag` with source `rule`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagRule {
    /// The tag to add.
    pub tag: String,
    /// The conditions, all of which must hold.
    pub when: TagCondition,
}

/// Conditions on a call record; an unset condition always holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagCondition {
    /// The call's outcome is one of these (empty: any outcome).
    pub outcomes: Vec<String>,
    /// The caller waited in a queue longer than this.
    pub wait_over: Option<Duration>,
    /// The caller waited in a queue less than this.
    pub wait_under: Option<Duration>,
    /// The caller talked to an agent longer than this.
    pub talk_over: Option<Duration>,
    /// The caller chose this key in a menu.
    pub path_contains: Option<String>,
    /// Whether the caller was found in the CRM.
    pub known_contact: Option<bool>,
    /// Whether the caller is a VIP contact.
    pub vip: Option<bool>,
}

/// The outcomes a call record can have: the flow's outcomes, plus
/// `interrupted` for a call cut by a restart of flowd.
pub const OUTCOMES: [&str; 8] = [
    "answered",
    "voicemail",
    "transferred",
    "abandoned",
    "callback",
    "hangup",
    "overflow",
    "interrupted",
];

/// A YAML scalar written as a number or as text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum YamlScalar {
    Number(i64),
    Text(String),
}

impl YamlScalar {
    fn text(&self) -> String {
        match self {
            YamlScalar::Number(number) => number.to_string(),
            YamlScalar::Text(text) => text.clone(),
        }
    }
}

/// The `prompts` section; `flowc` validates it, so other keys are skipped.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PromptsSection {
    dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SipSection {
    listen: Option<Vec<String>>,
    trusted: Vec<String>,
    max_calls: Option<YamlScalar>,
    force_rport: Option<bool>,
    t1: Option<String>,
    ring: Option<String>,
    realm: Option<String>,
    auth_failures: Option<YamlScalar>,
    auth_window: Option<String>,
    auth_block: Option<String>,
    min_expires: Option<YamlScalar>,
    max_expires: Option<YamlScalar>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RtpSection {
    ports: Option<String>,
    advertise: Option<String>,
    timeout: Option<String>,
    hold_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ApiSection {
    token_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ShutdownSection {
    grace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct OutboxSection {
    backoff: Option<String>,
    max_backoff: Option<String>,
    expire: Option<String>,
    concurrency: Option<YamlScalar>,
}

/// Reads the runtime sections from the config text. `file` names the file
/// in errors; `folder` is where it lives, the default flows folder.
pub fn parse(text: &str, file: &str, folder: PathBuf) -> Result<RuntimeConfig, ConfigError> {
    let parsed: Option<File> = serde_saphyr::from_str(text).map_err(|error| ConfigError::Yaml {
        file: file.to_string(),
        message: error.to_string(),
    })?;
    let mut config = build(parsed.unwrap_or_default(), folder.clone())?;
    // Data paths written relative are taken from the config file's
    // folder, as `prompts.dir` is, so a deployment is one folder.
    config.database = crate::store::resolve_sqlite_url(&config.database, &folder);
    config.recordings = folder.join(&config.recordings);
    config.spool = folder.join(&config.spool);
    Ok(config)
}

/// Returns the settings used when there is no config file.
pub fn defaults(flows: PathBuf) -> RuntimeConfig {
    match build(File::default(), flows.clone()) {
        Ok(config) => config,
        // The defaults are literals that parse; this arm is never taken.
        Err(_) => RuntimeConfig {
            listen: Vec::new(),
            trusted: Vec::new(),
            max_calls: None,
            country_code: None,
            force_rport: true,
            rtp_ports: 10_000..=20_000,
            advertise: IpAddr::from([127, 0, 0, 1]),
            rtp_timeout: Some(DEFAULT_RTP_TIMEOUT),
            rtp_hold_timeout: Some(DEFAULT_RTP_HOLD_TIMEOUT),
            prompts: flows.join("prompts"),
            flows,
            database: String::new(),
            recordings: PathBuf::new(),
            spool: PathBuf::new(),
            tagging: Vec::new(),
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            shutdown_grace: Duration::from_secs(30),
            t1: Duration::from_millis(500),
            ring: Duration::ZERO,
            outbox: OutboxConfig::default(),
            api_token_env: String::from(DEFAULT_API_TOKEN_ENV),
            registrar: RegistrarConfig::default(),
            agents: AgentsConfig::default(),
            trunks: BTreeMap::new(),
            transfer: TransferPolicy::default(),
            callbacks: CallbacksConfig::default(),
            queues: QueuesConfig::default(),
        },
    }
}

/// Default time without RTP or RTCP from the caller before the call ends.
/// Asterisk's `rtptimeout` and FreeSWITCH's `media_timeout` are commonly
/// set to 30 s too.
const DEFAULT_RTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Default of the same while the caller holds the call: many phones send
/// no RTP at all while holding, so only a much longer silence ends it.
const DEFAULT_RTP_HOLD_TIMEOUT: Duration = Duration::from_secs(3600);

fn build(mut file: File, folder: PathBuf) -> Result<RuntimeConfig, ConfigError> {
    let registrar = agents::build_registrar(agents::RegistrarText {
        realm: file.sip.realm.take(),
        auth_failures: file.sip.auth_failures.take(),
        auth_window: file.sip.auth_window.take(),
        auth_block: file.sip.auth_block.take(),
        min_expires: file.sip.min_expires.take(),
        max_expires: file.sip.max_expires.take(),
    })?;
    let agents = agents::build_agents(std::mem::take(&mut file.agents))?;
    let queues = agents::build_queues(std::mem::take(&mut file.queues))?;
    let listen_texts = file
        .sip
        .listen
        .unwrap_or_else(|| vec!["udp:127.0.0.1:5060".into(), "tcp:127.0.0.1:5060".into()]);
    if listen_texts.is_empty() {
        return Err(invalid(
            "sip.listen",
            "[]",
            "list at least one address such as `udp:127.0.0.1:5060`",
        ));
    }
    let listen = listen_texts
        .iter()
        .map(|text| parse_listen(text))
        .collect::<Result<Vec<_>, _>>()?;

    let trusted = file
        .sip
        .trusted
        .iter()
        .map(|text| {
            text.parse().map_err(|_| {
                invalid(
                    "sip.trusted",
                    text,
                    "write an IP address such as `192.0.2.10`",
                )
            })
        })
        .collect::<Result<Vec<IpAddr>, _>>()?;

    let t1 = duration("sip.t1", file.sip.t1.as_deref().unwrap_or("500ms"))?;
    if t1.is_zero() {
        return Err(invalid(
            "sip.t1",
            "0",
            "write a positive duration such as `500ms`",
        ));
    }

    let ring = duration("sip.ring", file.sip.ring.as_deref().unwrap_or("0s"))?;

    let ports = file.rtp.ports.unwrap_or_else(|| "10000-20000".into());
    let advertise_text = file.rtp.advertise.unwrap_or_else(|| "127.0.0.1".into());
    let advertise: IpAddr = advertise_text.parse().map_err(|_| {
        invalid(
            "rtp.advertise",
            &advertise_text,
            "write the IP address peers send media to",
        )
    })?;
    // RTP sockets bind to this address, and peers read `0.0.0.0` in SDP as
    // hold (RFC 2543), so it must be one unicast address of this host.
    if advertise.is_unspecified() || advertise.is_multicast() {
        return Err(invalid(
            "rtp.advertise",
            &advertise_text,
            "write one unicast address of this host that peers can reach, such as `192.0.2.10`",
        ));
    }
    let http_text = file.http.unwrap_or_else(|| "127.0.0.1:8080".into());
    let http = http_text.parse().map_err(|_| {
        invalid(
            "http",
            &http_text,
            "write an address and port such as `127.0.0.1:8080`",
        )
    })?;

    let grace = file.shutdown.grace.unwrap_or_else(|| "30s".into());
    let max_calls = file
        .sip
        .max_calls
        .map(|value| {
            let text = value.text();
            text.parse::<usize>()
                .ok()
                .filter(|&calls| calls > 0)
                .ok_or_else(|| {
                    invalid(
                        "sip.max_calls",
                        &text,
                        "write a whole number of calls of at least 1, such as `500`",
                    )
                })
        })
        .transpose()?;
    let country_code = file
        .country_code
        .map(|value| {
            let text = value.text();
            CountryCode::parse(&text).map_err(|reason| ConfigError::Value {
                key: String::from("country_code"),
                value: text,
                help: reason,
            })
        })
        .transpose()?;
    let rtp_timeout = optional_duration("rtp.timeout", file.rtp.timeout, DEFAULT_RTP_TIMEOUT)?;
    let rtp_hold_timeout = optional_duration(
        "rtp.hold_timeout",
        file.rtp.hold_timeout,
        DEFAULT_RTP_HOLD_TIMEOUT,
    )?;
    let rtp_ports = parse_ports(&ports)?;
    if let Some((_, taken)) = listen
        .iter()
        .find(|(_, address)| rtp_ports.contains(&address.port()))
    {
        return Err(invalid(
            "rtp.ports",
            &ports,
            &format!(
                "the range contains the SIP port {}; choose a range without it",
                taken.port()
            ),
        ));
    }
    let prompts = folder.join(file.prompts.dir.unwrap_or_else(|| "prompts".into()));
    let outbox = build_outbox(file.outbox)?;
    let tagging = file
        .tagging
        .rules
        .into_iter()
        .enumerate()
        .map(|(index, rule)| tag_rule(index, rule))
        .collect::<Result<Vec<_>, _>>()?;
    let api_token_env = file
        .api
        .token_env
        .unwrap_or_else(|| DEFAULT_API_TOKEN_ENV.into());
    let valid_name = !api_token_env.is_empty()
        && !api_token_env.starts_with(|c: char| c.is_ascii_digit())
        && api_token_env
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        // The value is not shown: a token written here by mistake must not
        // reach a log.
        return Err(invalid(
            "api.token_env",
            "(not shown)",
            "write the name of an environment variable such as `TOK_API_TOKEN`, not the token itself",
        ));
    }
    let trunks = transfer::build_trunks(std::mem::take(&mut file.trunks), country_code)?;
    let transfer = transfer::build_transfer(file.transfer, &trunks, country_code)?;
    let mut callbacks_section = file.callbacks;
    let callbacks_trunk =
        transfer::resolve_trunk("callbacks.trunk", callbacks_section.trunk.take(), &trunks)?;
    let callbacks = agents::build_callbacks(callbacks_section, callbacks_trunk)?;
    Ok(RuntimeConfig {
        listen,
        trusted,
        max_calls,
        country_code,
        rtp_timeout,
        rtp_hold_timeout,
        prompts,
        force_rport: file.sip.force_rport.unwrap_or(true),
        rtp_ports,
        advertise,
        flows: file.flows.map_or(folder, PathBuf::from),
        database: file.database.unwrap_or_else(|| "sqlite://tok.db".into()),
        recordings: PathBuf::from(file.recordings.unwrap_or_else(|| "recordings".into())),
        spool: PathBuf::from(file.spool.unwrap_or_else(|| "spool".into())),
        tagging,
        http,
        shutdown_grace: duration("shutdown.grace", &grace)?,
        t1,
        ring,
        outbox,
        api_token_env,
        registrar,
        agents,
        trunks,
        transfer,
        callbacks,
        queues,
    })
}

/// The longest `outbox.expire`: a receiver may be down over a long
/// weekend, and items kept longer only grow the table.
const MAX_OUTBOX_EXPIRE: Duration = Duration::from_secs(7 * 24 * 60 * 60);

fn build_outbox(section: OutboxSection) -> Result<OutboxConfig, ConfigError> {
    let defaults = OutboxConfig::default();
    let positive = "write a positive duration such as `1s`";
    let backoff = match section.backoff {
        Some(text) => positive_duration("outbox.backoff", &text, MAX_DURATION, positive)?,
        None => defaults.backoff,
    };
    let max_backoff = match section.max_backoff {
        Some(text) => positive_duration("outbox.max_backoff", &text, MAX_DURATION, positive)?,
        None => defaults.max_backoff.max(backoff),
    };
    if max_backoff < backoff {
        return Err(invalid(
            "outbox.max_backoff",
            &format!("{}ms", max_backoff.as_millis()),
            &format!(
                "write a duration of at least `outbox.backoff` ({}ms)",
                backoff.as_millis()
            ),
        ));
    }
    let expire = match section.expire {
        Some(text) => positive_duration(
            "outbox.expire",
            &text,
            MAX_OUTBOX_EXPIRE,
            "write a positive duration of at most 7 days such as `24h`",
        )?,
        None => defaults.expire,
    };
    let concurrency = section
        .concurrency
        .map(|value| {
            let text = value.text();
            text.parse::<usize>()
                .ok()
                .filter(|&calls| (1..=1024).contains(&calls))
                .ok_or_else(|| {
                    invalid(
                        "outbox.concurrency",
                        &text,
                        "write a whole number of calls from 1 to 1024, such as `16`",
                    )
                })
        })
        .transpose()?
        .unwrap_or(defaults.concurrency);
    Ok(OutboxConfig {
        backoff,
        max_backoff,
        expire,
        concurrency,
    })
}

/// Parses a duration above zero and at most `max`.
fn positive_duration(
    key: &str,
    text: &str,
    max: Duration,
    help: &str,
) -> Result<Duration, ConfigError> {
    let value = duration_up_to(key, text, max)?;
    if value.is_zero() {
        return Err(invalid(key, text, help));
    }
    Ok(value)
}

/// Parses a duration where `0` turns the check off (`None`).
fn optional_duration(
    key: &str,
    text: Option<String>,
    default: Duration,
) -> Result<Option<Duration>, ConfigError> {
    match text {
        None => Ok(Some(default)),
        Some(text) if text.trim() == "0" => Ok(None),
        Some(text) => {
            let value = duration(key, &text)?;
            Ok((!value.is_zero()).then_some(value))
        }
    }
}

fn invalid(key: &str, value: &str, help: &str) -> ConfigError {
    ConfigError::Value {
        key: key.to_string(),
        value: value.to_string(),
        help: help.to_string(),
    }
}

/// Checks one rule of `tagging.rules`; `index` names it in errors.
fn tag_rule(index: usize, rule: TagRuleText) -> Result<TagRule, ConfigError> {
    let key = format!("tagging.rules[{index}]");
    let tag = rule.tag.trim().to_string();
    if tag.is_empty() || tag.chars().any(char::is_control) || tag.chars().count() > 64 {
        return Err(invalid(
            &format!("{key}.tag"),
            &rule.tag,
            "write a tag of 1 to 64 characters without control characters, such as `long_wait`",
        ));
    }
    let when = rule.when;
    let outcomes = match when.outcome {
        None => Vec::new(),
        Some(OneOrMany::One(outcome)) => vec![outcome],
        Some(OneOrMany::Many(outcomes)) => outcomes,
    };
    for outcome in &outcomes {
        if !OUTCOMES.contains(&outcome.as_str()) {
            return Err(invalid(
                &format!("{key}.when.outcome"),
                outcome,
                &format!("write one of {} or a list of them", OUTCOMES.join(", ")),
            ));
        }
    }
    let read = |name: &str, text: Option<String>| {
        text.map(|text| duration(&format!("{key}.when.{name}"), &text))
            .transpose()
    };
    let path_contains = when
        .path_contains
        .map(|key_text| key_text.trim().to_string());
    if let Some(choice) = &path_contains
        && (choice.chars().count() != 1
            || !choice
                .chars()
                .all(|c| c.is_ascii_digit() || c == '*' || c == '#'))
    {
        return Err(invalid(
            &format!("{key}.when.path_contains"),
            choice,
            "write one menu key the caller chose: 0-9, `*` or `#`, such as `\"2\"`",
        ));
    }
    Ok(TagRule {
        tag,
        when: TagCondition {
            outcomes,
            wait_over: read("wait_over", when.wait_over)?,
            wait_under: read("wait_under", when.wait_under)?,
            talk_over: read("talk_over", when.talk_over)?,
            path_contains,
            known_contact: when.known_contact,
            vip: when.vip,
        },
    })
}

/// Parses `udp:ADDRESS:PORT` or `tcp:ADDRESS:PORT` (IPv6 in brackets).
fn parse_listen(text: &str) -> Result<(Transport, SocketAddr), ConfigError> {
    let help = "write `udp:` or `tcp:` and an address with a port, such as `udp:127.0.0.1:5060`";
    let (scheme, address) = text
        .split_once(':')
        .ok_or_else(|| invalid("sip.listen", text, help))?;
    let transport = match scheme.to_ascii_lowercase().as_str() {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        _ => return Err(invalid("sip.listen", text, help)),
    };
    let address = address
        .parse()
        .map_err(|_| invalid("sip.listen", text, help))?;
    Ok((transport, address))
}

/// Parses `FIRST-LAST` with FIRST even, so RTP gets even ports.
fn parse_ports(text: &str) -> Result<RangeInclusive<u16>, ConfigError> {
    let help = "write an even first port and a larger last port, such as `10000-20000`";
    let (first, last) = text
        .split_once('-')
        .ok_or_else(|| invalid("rtp.ports", text, help))?;
    let first: u16 = first
        .trim()
        .parse()
        .map_err(|_| invalid("rtp.ports", text, help))?;
    let last: u16 = last
        .trim()
        .parse()
        .map_err(|_| invalid("rtp.ports", text, help))?;
    if !first.is_multiple_of(2) || last <= first || first < 1024 {
        return Err(invalid("rtp.ports", text, help));
    }
    Ok(first..=last)
}

/// The longest duration any runtime key takes. Deadlines are computed by
/// adding a duration to the current instant, so an unbounded value would
/// overflow there.
const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// Parses `250ms`, `30s`, `2m` or `1h`, at most [`MAX_DURATION`].
fn duration(key: &str, text: &str) -> Result<Duration, ConfigError> {
    duration_up_to(key, text, MAX_DURATION)
}

/// Parses `250ms`, `30s`, `2m`, `1h` or `2d`, at most `max`.
fn duration_up_to(key: &str, text: &str, max: Duration) -> Result<Duration, ConfigError> {
    let help = "write a number with `ms`, `s`, `m`, `h` or `d`, such as `30s`";
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |at| text.split_at(at));
    let value: u64 = number.parse().map_err(|_| invalid(key, text, help))?;
    let value = match unit {
        "ms" => Duration::from_millis(value),
        "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        "h" => Duration::from_secs(value.saturating_mul(60 * 60)),
        "d" => Duration::from_secs(value.saturating_mul(24 * 60 * 60)),
        _ => return Err(invalid(key, text, help)),
    };
    if value > max {
        let hours = max.as_secs() / 3600;
        return Err(invalid(
            key,
            text,
            &format!("write a duration of at most {hours} hours (`{hours}h`)"),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<RuntimeConfig, ConfigError> {
        parse(text, "tok.yaml", PathBuf::from("flows"))
    }

    #[test]
    fn empty_file_gives_loopback_defaults() {
        let config = parse_text("");
        let listen = config
            .as_ref()
            .map(|c| c.listen.clone())
            .unwrap_or_default();
        assert_eq!(listen.len(), 2);
        assert!(listen.iter().all(|(_, a)| a.ip().is_loopback()));
        assert_eq!(config.map(|c| c.flows).ok(), Some(PathBuf::from("flows")));
    }

    #[test]
    fn compiler_sections_are_skipped() {
        let text = "numbers:\n  \"+38615550100\": support\nhooks: {}\nsip:\n  listen: [\"udp:0.0.0.0:5070\"]\n";
        let listen = parse_text(text).map(|c| c.listen);
        assert_eq!(
            listen.ok(),
            Some(vec![(
                Transport::Udp,
                SocketAddr::from(([0, 0, 0, 0], 5070))
            )])
        );
    }

    #[test]
    fn invalid_listen_names_key_and_value() {
        let error = parse_text("sip:\n  listen: [\"sctp:1.2.3.4:5060\"]\n").err();
        let message = error.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("`sip.listen`"), "{message}");
        assert!(message.contains("`sctp:1.2.3.4:5060`"), "{message}");
    }

    #[test]
    fn tagging_rules_parse() {
        let text = "tagging:\n  rules:\n    - tag: long_wait\n      when: { wait_over: 2m, outcome: [abandoned, overflow] }\n    - tag: billing\n      when: { path_contains: \"2\", vip: true }\n";
        let config = parse_text(text)
            .ok()
            .unwrap_or_else(|| defaults(PathBuf::new()));
        assert_eq!(config.tagging.len(), 2);
        let first = config.tagging.first().cloned().unwrap_or(TagRule {
            tag: String::new(),
            when: TagCondition::default(),
        });
        assert_eq!(first.tag, "long_wait");
        assert_eq!(first.when.wait_over, Some(Duration::from_secs(120)));
        assert_eq!(first.when.outcomes, ["abandoned", "overflow"]);
    }

    #[test]
    fn invalid_tagging_rule_names_key() {
        let cases = [
            (
                "when: { outcome: lost }",
                "`tagging.rules[0].when.outcome`",
                "`lost`",
            ),
            (
                "when: { wait_over: soon }",
                "`tagging.rules[0].when.wait_over`",
                "`soon`",
            ),
            (
                "when: { path_contains: \"x\" }",
                "`tagging.rules[0].when.path_contains`",
                "`x`",
            ),
        ];
        for (when, key, value) in cases {
            let text = format!("tagging:\n  rules:\n    - tag: t\n      {when}\n");
            let message = parse_text(&text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(message.contains(key), "{message}");
            assert!(message.contains(value), "{message}");
        }
        let message = parse_text("tagging:\n  rules:\n    - tag: \"\"\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("`tagging.rules[0].tag`"), "{message}");
    }

    #[test]
    fn odd_first_rtp_port_is_rejected() {
        let message = parse_text("rtp:\n  ports: 10001-20000\n")
            .err()
            .map(|e| e.to_string());
        assert!(message.is_some_and(|m| m.contains("`rtp.ports`")));
    }

    #[test]
    fn unknown_sip_key_is_rejected() {
        assert!(parse_text("sip:\n  lisen: []\n").is_err());
    }

    #[test]
    fn max_calls_parse() {
        let config = parse_text("sip:\n  max_calls: 200\n");
        assert_eq!(config.map(|c| c.max_calls).ok(), Some(Some(200)));
        assert_eq!(parse_text("").map(|c| c.max_calls).ok(), Some(None));
        for bad in ["0", "-3", "many"] {
            let message = parse_text(&format!("sip:\n  max_calls: {bad}\n"))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(message.contains("`sip.max_calls`"), "{bad}: {message}");
        }
    }

    #[test]
    fn country_code_parse() {
        let config = parse_text("country_code: 386\n");
        assert_eq!(
            config.map(|c| c.country_code.map(CountryCode::get)).ok(),
            Some(Some(386))
        );
        let message = parse_text("country_code: SI\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("`country_code`"), "{message}");
        assert!(message.contains("`SI`"), "{message}");
        assert!(message.contains("such as `386`"), "{message}");
    }

    #[test]
    fn rtp_timeouts_parse() {
        let defaults = parse_text("");
        assert_eq!(
            defaults.as_ref().map(|c| c.rtp_timeout).ok(),
            Some(Some(Duration::from_secs(30)))
        );
        let config = parse_text("rtp:\n  timeout: 2s\n  hold_timeout: 0\n");
        assert_eq!(
            config.as_ref().map(|c| c.rtp_timeout).ok(),
            Some(Some(Duration::from_secs(2)))
        );
        assert_eq!(config.map(|c| c.rtp_hold_timeout).ok(), Some(None));
        let message = parse_text("rtp:\n  timeout: soon\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("`rtp.timeout`"), "{message}");
    }

    #[test]
    fn prompts_dir_is_beside_config() {
        let config = parse_text("prompts:\n  dir: audio\n");
        assert_eq!(
            config.map(|c| c.prompts).ok(),
            Some(PathBuf::from("flows/audio"))
        );
    }

    #[test]
    fn durations_parse() {
        let config = parse_text("shutdown:\n  grace: 2m\nsip:\n  t1: 20ms\n");
        assert_eq!(
            config.as_ref().map(|c| c.shutdown_grace).ok(),
            Some(Duration::from_secs(120))
        );
        assert_eq!(config.map(|c| c.t1).ok(), Some(Duration::from_millis(20)));
        assert!(parse_text("shutdown:\n  grace: soon\n").is_err());
    }

    #[test]
    fn durations_above_a_day_rejected() {
        let cases = [
            "shutdown:\n  grace: 18446744073709551615s\n",
            "sip:\n  ring: 18446744073709551615m\n",
            "rtp:\n  timeout: 1441m\n",
            "rtp:\n  hold_timeout: 86400001ms\n",
            "sip:\n  t1: 90000s\n",
        ];
        for text in cases {
            let message = parse_text(text).err().map(|e| e.to_string());
            assert!(
                message
                    .as_deref()
                    .is_some_and(|m| m.contains("at most 24 hours")),
                "{text}: {message:?}"
            );
        }
        assert!(parse_text("shutdown:\n  grace: 1440m\n").is_ok());
    }

    #[test]
    fn unspecified_advertise_rejected() {
        for address in ["0.0.0.0", "::", "224.0.0.1"] {
            let text = format!("rtp:\n  advertise: \"{address}\"\n");
            let message = parse_text(&text).err().map(|e| e.to_string());
            assert!(
                message
                    .as_deref()
                    .is_some_and(|m| m.contains("rtp.advertise")),
                "{address}: {message:?}"
            );
        }
    }

    #[test]
    fn rtp_range_containing_sip_port_rejected() {
        let text = "sip:\n  listen: [\"udp:127.0.0.1:10500\"]\nrtp:\n  ports: 10000-11000\n";
        let message = parse_text(text).err().map(|e| e.to_string());
        assert!(
            message
                .as_deref()
                .is_some_and(|m| m.contains("SIP port 10500")),
            "{message:?}"
        );
    }

    #[test]
    fn outbox_defaults() {
        let outbox = parse_text("").map(|c| c.outbox);
        assert_eq!(outbox.ok(), Some(OutboxConfig::default()));
    }

    #[test]
    fn outbox_values_parse() {
        let text = "outbox:\n  backoff: 250ms\n  max_backoff: 1m\n  expire: 3d\n  concurrency: 4\n";
        let outbox = parse_text(text).map(|c| c.outbox);
        assert_eq!(
            outbox.ok(),
            Some(OutboxConfig {
                backoff: Duration::from_millis(250),
                max_backoff: Duration::from_secs(60),
                expire: Duration::from_secs(3 * 24 * 3600),
                concurrency: 4,
            })
        );
    }

    #[test]
    fn invalid_outbox_values_name_key() {
        let cases = [
            ("outbox:\n  backoff: 0s\n", "`outbox.backoff`"),
            (
                "outbox:\n  backoff: 10s\n  max_backoff: 5s\n",
                "`outbox.max_backoff`",
            ),
            ("outbox:\n  expire: 8d\n", "`outbox.expire`"),
            ("outbox:\n  expire: 0h\n", "`outbox.expire`"),
            ("outbox:\n  concurrency: 0\n", "`outbox.concurrency`"),
            ("outbox:\n  concurrency: lots\n", "`outbox.concurrency`"),
        ];
        for (text, key) in cases {
            let message = parse_text(text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(message.contains(key), "{text}: {message}");
        }
        assert!(parse_text("outbox:\n  retries: 3\n").is_err());
    }

    #[test]
    fn ring_defaults_to_zero() {
        let ring = parse_text("").map(|c| c.ring);
        assert_eq!(ring.ok(), Some(Duration::ZERO));
        let ring = parse_text("sip:\n  ring: 1500ms\n").map(|c| c.ring);
        assert_eq!(ring.ok(), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn api_token_env_default_and_set() {
        let default = parse_text("").map(|c| c.api_token_env);
        assert_eq!(default.ok().as_deref(), Some(DEFAULT_API_TOKEN_ENV));
        let set = parse_text("api:\n  token_env: FLOWD_TOKEN\n").map(|c| c.api_token_env);
        assert_eq!(set.ok().as_deref(), Some("FLOWD_TOKEN"));
    }

    #[test]
    fn api_token_env_invalid_not_shown() {
        let message = parse_text("api:\n  token_env: \"s3cr3t token!\"\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("`api.token_env`"), "{message}");
        assert!(!message.contains("s3cr3t"), "{message}");
    }

    #[test]
    fn invalid_ring_names_key() {
        let message = parse_text("sip:\n  ring: 2 seconds\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("`sip.ring`"), "{message}");
    }

    /// Returns the error message of a config text, or an empty string when
    /// it parses.
    fn error_of(text: &str) -> String {
        parse_text(text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn contact_center_defaults() {
        let config = parse_text("")
            .ok()
            .unwrap_or_else(|| defaults(PathBuf::new()));
        assert_eq!(config.registrar, RegistrarConfig::default());
        assert_eq!(config.registrar.realm, "tok");
        assert_eq!(config.registrar.auth_failures, 5);
        assert_eq!(config.registrar.auth_window, Duration::from_secs(60));
        assert_eq!(config.registrar.auth_block, Duration::from_secs(60));
        assert_eq!(config.registrar.min_expires, 60);
        assert_eq!(config.registrar.max_expires, 3600);
        assert_eq!(config.agents.ring_timeout, Duration::from_secs(15));
        assert_eq!(config.agents.no_answer_state, NoAnswerState::Paused);
        assert_eq!(config.agents.no_answer_reason, "no answer");
        assert_eq!(config.agents.feature_codes.pause, "*51");
        assert_eq!(config.agents.feature_codes.ready, "*52");
        assert_eq!(config.agents.feature_codes.login, "*50");
        assert_eq!(config.agents.feature_codes.logout, "*59");
        assert!(config.trunks.is_empty());
        assert!(config.transfer.denies_all());
        assert_eq!(config.callbacks.trunk, None);
        assert_eq!(config.callbacks.attempts, 3);
        assert_eq!(config.callbacks.retry, Duration::from_secs(120));
        assert_eq!(config.callbacks.ring_timeout, Duration::from_secs(30));
        assert_eq!(
            config.queues.average_handle_default,
            Duration::from_secs(180)
        );
        assert_eq!(defaults(PathBuf::new()).agents, AgentsConfig::default());
    }

    #[test]
    fn contact_center_values_parse() {
        let text = r##"
country_code: 386
sip:
  realm: example.com
  auth_failures: 3
  auth_window: 2m
  auth_block: 10m
  min_expires: 30
  max_expires: 600
agents:
  ring_timeout: 20s
  no_answer_state: ready
  feature_codes: { pause: "*41", ready: "#42", login: "*40", logout: "*49" }
trunks:
  carrier:
    uri: "sip:127.0.0.1:5070"
    from: "+386 1 555 0100"
    transport: tcp
  backup:
    uri: "sip:sbc.example.com"
transfer:
  allow: ["+3861*", "sip:*@pbx.example.com"]
  trunk: carrier
callbacks:
  trunk: backup
  attempts: 5
  retry: 90s
  ring_timeout: 25s
queues:
  average_handle_default: 4m
"##;
        let config = parse_text(text);
        assert!(config.is_ok(), "{config:?}");
        let config = config.ok().unwrap_or_else(|| defaults(PathBuf::new()));
        assert_eq!(
            config.registrar,
            RegistrarConfig {
                realm: String::from("example.com"),
                auth_failures: 3,
                auth_window: Duration::from_secs(120),
                auth_block: Duration::from_secs(600),
                min_expires: 30,
                max_expires: 600,
            }
        );
        assert_eq!(config.agents.ring_timeout, Duration::from_secs(20));
        assert_eq!(config.agents.no_answer_state, NoAnswerState::Ready);
        assert_eq!(config.agents.feature_codes.ready, "#42");
        let carrier = config.trunks.get("carrier");
        assert_eq!(
            carrier.map(Trunk::host_port).as_deref(),
            Some("127.0.0.1:5070")
        );
        assert_eq!(carrier.map(|t| t.transport), Some(Transport::Tcp));
        assert_eq!(
            carrier.and_then(|t| t.from.as_deref()),
            Some("+38615550100")
        );
        let backup = config.trunks.get("backup");
        assert_eq!(
            backup.map(Trunk::host_port).as_deref(),
            Some("sbc.example.com:5060")
        );
        assert_eq!(config.transfer.trunk(), Some("carrier"));
        let destination = config.transfer.check("015550100", config.country_code);
        assert_eq!(
            destination.map(|d| d.uri).ok().as_deref(),
            Some("sip:+38615550100@127.0.0.1:5070;user=phone;transport=tcp")
        );
        assert_eq!(
            config.callbacks,
            CallbacksConfig {
                trunk: Some(String::from("backup")),
                attempts: 5,
                retry: Duration::from_secs(90),
                ring_timeout: Duration::from_secs(25),
            }
        );
        assert_eq!(
            config.queues.average_handle_default,
            Duration::from_secs(240)
        );
    }

    #[test]
    fn only_trunk_is_the_default() {
        let text = "trunks:\n  carrier:\n    uri: \"sip:127.0.0.1:5070\"\ntransfer:\n  allow: [\"+3861*\"]\n";
        let config = parse_text(text);
        assert_eq!(
            config.as_ref().map(|c| c.transfer.trunk()).ok().flatten(),
            Some("carrier")
        );
        assert_eq!(
            config.ok().and_then(|c| c.callbacks.trunk).as_deref(),
            Some("carrier")
        );
    }

    #[test]
    fn invalid_contact_center_values_name_key() {
        let cases = [
            ("sip:\n  realm: 'a\"b'\n", "`sip.realm`", "a\"b"),
            ("sip:\n  realm: \"\"\n", "`sip.realm`", "``"),
            ("sip:\n  auth_failures: 0\n", "`sip.auth_failures`", "`0`"),
            ("sip:\n  auth_window: 0s\n", "`sip.auth_window`", "`0s`"),
            ("sip:\n  auth_block: later\n", "`sip.auth_block`", "`later`"),
            ("sip:\n  min_expires: 0\n", "`sip.min_expires`", "`0`"),
            (
                "sip:\n  max_expires: 90000\n",
                "`sip.max_expires`",
                "`90000`",
            ),
            (
                "sip:\n  min_expires: 600\n  max_expires: 300\n",
                "`sip.max_expires`",
                "`300`",
            ),
            (
                "agents:\n  ring_timeout: 0s\n",
                "`agents.ring_timeout`",
                "`0s`",
            ),
            (
                "agents:\n  ring_timeout: 1h\n",
                "`agents.ring_timeout`",
                "`1h`",
            ),
            (
                "agents:\n  no_answer_state: away\n",
                "`agents.no_answer_state`",
                "`away`",
            ),
            (
                "agents:\n  no_answer_reason: \" \"\n",
                "`agents.no_answer_reason`",
                "``",
            ),
            (
                "agents:\n  feature_codes: { pause: 51 }\n",
                "`agents.feature_codes.pause`",
                "`51`",
            ),
            (
                "agents:\n  feature_codes: { ready: \"*5a\" }\n",
                "`agents.feature_codes.ready`",
                "`*5a`",
            ),
            (
                "agents:\n  feature_codes: { login: \"*\" }\n",
                "`agents.feature_codes.login`",
                "`*`",
            ),
            (
                "agents:\n  feature_codes: { logout: \"*51\" }\n",
                "`agents.feature_codes.logout`",
                "`pause` has the same code",
            ),
            (
                "trunks:\n  carrier:\n    uri: \"sip:user@127.0.0.1\"\n",
                "`trunks.carrier.uri`",
                "`sip:user@127.0.0.1`",
            ),
            (
                "trunks:\n  carrier:\n    uri: \"http://127.0.0.1\"\n",
                "`trunks.carrier.uri`",
                "`http://127.0.0.1`",
            ),
            (
                "trunks:\n  carrier:\n    uri: \"sip:127.0.0.1;maddr=1.2.3.4\"\n",
                "`trunks.carrier.uri`",
                "maddr",
            ),
            (
                "trunks:\n  carrier:\n    uri: \"sip:127.0.0.1\"\n    transport: tls\n",
                "`trunks.carrier.transport`",
                "`tls`",
            ),
            (
                "trunks:\n  carrier:\n    uri: \"sip:127.0.0.1\"\n    from: anonymous\n",
                "`trunks.carrier.from`",
                "`anonymous`",
            ),
            (
                "trunks:\n  \"my trunk\":\n    uri: \"sip:127.0.0.1\"\n",
                "`trunks`",
                "`my trunk`",
            ),
            (
                "transfer:\n  allow: [\"+3861*\"]\n",
                "`transfer.trunk`",
                "declare one under `trunks`",
            ),
            (
                "trunks:\n  a: { uri: \"sip:127.0.0.1\" }\ntransfer:\n  trunk: b\n",
                "`transfer.trunk`",
                "write one of `a`",
            ),
            ("callbacks:\n  trunk: none\n", "`callbacks.trunk`", "`none`"),
            ("callbacks:\n  attempts: 0\n", "`callbacks.attempts`", "`0`"),
            (
                "callbacks:\n  attempts: 21\n",
                "`callbacks.attempts`",
                "`21`",
            ),
            ("callbacks:\n  retry: 0s\n", "`callbacks.retry`", "`0s`"),
            (
                "callbacks:\n  ring_timeout: soon\n",
                "`callbacks.ring_timeout`",
                "`soon`",
            ),
            (
                "queues:\n  average_handle_default: 0s\n",
                "`queues.average_handle_default`",
                "`0s`",
            ),
        ];
        for (text, key, value) in cases {
            let message = error_of(text);
            assert!(message.contains(key), "{text}: {message}");
            assert!(message.contains(value), "{text}: {message}");
        }
    }

    #[test]
    fn unknown_contact_center_keys_rejected() {
        for text in [
            "agents:\n  ring_timout: 15s\n",
            "agents:\n  feature_codes: { break: \"*53\" }\n",
            "trunks:\n  carrier: { uri: \"sip:127.0.0.1\", port: 5060 }\n",
            "transfer:\n  deny: []\n",
            "callbacks:\n  retries: 3\n",
            "queues:\n  average_handle: 3m\n",
        ] {
            assert!(parse_text(text).is_err(), "{text}");
        }
    }
}
