//! The records the store reads and writes. Every type is serde
//! Serialize/Deserialize, so the HTTP API returns them as JSON as they are.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// A contact's id.
pub type ContactId = i64;

/// A contact as written by an import, the API or a flow.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewContact {
    /// The id of the contact in another system; upserts match on it first.
    pub external_id: Option<String>,
    /// Full name.
    pub name: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Phone numbers in E.164, already normalised, the main one first.
    pub phones: Vec<String>,
    /// Preferred language code such as `sl`.
    pub language: Option<String>,
    /// Whether the contact is a VIP.
    pub vip: bool,
    /// Custom fields of `crm.fields`, as JSON of their declared type.
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// A stored contact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactRecord {
    /// Id.
    pub id: ContactId,
    /// The id of the contact in another system.
    pub external_id: Option<String>,
    /// Full name.
    pub name: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Phone numbers in E.164, the main one first.
    pub phones: Vec<String>,
    /// Preferred language code.
    pub language: Option<String>,
    /// Whether the contact is a VIP.
    pub vip: bool,
    /// Custom fields.
    pub fields: BTreeMap<String, serde_json::Value>,
    /// The agent of the contact's latest call that reached one.
    pub last_agent: Option<String>,
    /// Tickets of the contact that are not closed.
    pub open_tickets: i64,
    /// Creation time.
    pub created_at: Millis,
    /// Time of the last change.
    pub updated_at: Millis,
}

/// An interaction to add to a contact's timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewInteraction {
    /// The contact.
    pub contact_id: ContactId,
    /// `call`, `email`, `chat`, `sms` or `other`.
    pub channel: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Time it happened.
    pub occurred_at: Millis,
    /// Summary of what happened, in a line or a paragraph.
    pub summary: String,
    /// The call, for the `call` channel.
    #[serde(default)]
    pub call_id: Option<String>,
    /// The id in the system it came from; adding the same id twice adds
    /// one interaction.
    #[serde(default)]
    pub external_id: Option<String>,
}

/// A stored interaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// Id.
    pub id: i64,
    /// The contact.
    pub contact_id: ContactId,
    /// `call`, `email`, `chat`, `sms` or `other`.
    pub channel: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Time it happened.
    pub occurred_at: Millis,
    /// Summary of what happened.
    pub summary: String,
    /// The call, for the `call` channel.
    pub call_id: Option<String>,
    /// The id in the system it came from.
    pub external_id: Option<String>,
    /// Time it was stored.
    pub created_at: Millis,
}

/// The channels an interaction may have.
pub const CHANNELS: [&str; 5] = ["call", "email", "chat", "sms", "other"];

/// The directions an interaction may have.
pub const DIRECTIONS: [&str; 2] = ["inbound", "outbound"];

/// A ticket to open.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NewTicket {
    /// The contact it is about.
    #[serde(default)]
    pub contact_id: Option<ContactId>,
    /// Subject line.
    pub subject: String,
    /// The caller's number when no contact is known.
    #[serde(default)]
    pub caller: Option<String>,
}

/// A note on a ticket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// Time it was written.
    pub at: Millis,
    /// Author, when known.
    pub author: Option<String>,
    /// The note.
    pub text: String,
}

/// A note to add to a ticket.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NewNote {
    /// Author.
    #[serde(default)]
    pub author: Option<String>,
    /// The note.
    pub text: String,
}

/// A stored ticket with its notes, tags and calls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// Id.
    pub id: i64,
    /// The contact it is about.
    pub contact_id: Option<ContactId>,
    /// Subject line.
    pub subject: String,
    /// `open`, `pending` or `closed`.
    pub status: String,
    /// The caller's number when no contact is known.
    pub caller: Option<String>,
    /// Notes, oldest first.
    pub notes: Vec<Note>,
    /// Tags in alphabetical order.
    pub tags: Vec<String>,
    /// Linked calls.
    pub call_ids: Vec<String>,
    /// Creation time.
    pub created_at: Millis,
    /// Time of the last change.
    pub updated_at: Millis,
}

/// The statuses a ticket may have.
pub const TICKET_STATUSES: [&str; 3] = ["open", "pending", "closed"];

/// Changes to a ticket; `None` and empty lists change nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TicketUpdate {
    /// New status: `open`, `pending` or `closed`.
    pub status: Option<String>,
    /// New subject.
    pub subject: Option<String>,
    /// Notes to add.
    pub notes: Vec<NewNote>,
    /// Tags to add.
    pub tags: Vec<String>,
}

/// The row of a call that has started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallStart {
    /// SIP Call-ID of the caller's leg.
    pub call_id: String,
    /// The flow's name.
    pub flow: String,
    /// The SHA-256 of the flow's module in hex.
    pub flow_version: String,
    /// The caller's number, when known.
    pub caller: Option<String>,
    /// The dialled number.
    pub dialled: String,
    /// Time the INVITE arrived.
    pub started_at: Millis,
    /// Time flowd sent the 2xx. Spool entries written before this field
    /// existed read as `None`.
    #[serde(default)]
    pub answered_at: Option<Millis>,
    /// The call's legs at the answer: the caller's.
    #[serde(default)]
    pub legs: Vec<Leg>,
    /// The recording file, relative to the recordings folder.
    pub recording: Option<String>,
}

/// One SIP leg of a call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Leg {
    /// `caller` or `agent`.
    pub role: String,
    /// The leg's SIP Call-ID.
    pub call_id: String,
    /// From.
    pub from: String,
    /// To.
    pub to: String,
    /// The peer's address.
    pub remote: String,
    /// The audio codec.
    pub codec: Option<String>,
    /// Time the leg started.
    pub started_at: Millis,
    /// Time it was answered.
    pub answered_at: Option<Millis>,
    /// Time it ended.
    pub ended_at: Option<Millis>,
}

/// One step of the path a call took through its flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathStep {
    /// Time of the step.
    pub at: Millis,
    /// `menu`, `digits`, `lookup`, `queue`, `prompt` ...
    pub kind: String,
    /// The choice or input, masked when the flow marks it sensitive.
    pub value: String,
}

/// Source of a call's tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagSource {
    /// The flow's `tag` statement.
    Flow,
    /// A rule of `tok.yaml`.
    Rule,
    /// The tagger hook.
    Tagger,
    /// A person through the API.
    Api,
}

impl TagSource {
    /// Returns the name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            TagSource::Flow => "flow",
            TagSource::Rule => "rule",
            TagSource::Tagger => "tagger",
            TagSource::Api => "api",
        }
    }

    /// Reads a stored name; an unknown name reads as `Api`.
    pub fn parse(text: &str) -> TagSource {
        match text {
            "flow" => TagSource::Flow,
            "rule" => TagSource::Rule,
            "tagger" => TagSource::Tagger,
            _ => TagSource::Api,
        }
    }
}

/// A tag of a call with its source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallTag {
    /// The tag.
    pub tag: String,
    /// Source.
    pub source: TagSource,
}

/// Ticket handling of a finished call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketAction {
    /// Link the call to the contact's latest ticket that is not closed, if
    /// there is one.
    Link,
    /// Open a ticket with this subject and link the call.
    Create(String),
    /// Link to the latest ticket that is not closed, else open one with
    /// this subject.
    LinkOrCreate(String),
}

/// A follow-up to deliver after a call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewOutboxItem {
    /// `webhook`, `notify` or `tagger`.
    pub kind: String,
    /// The hook's name in `tok.yaml`.
    pub hook: String,
    /// The URL to send to.
    pub url: String,
    /// The HTTP method.
    pub method: String,
    /// Headers to send, besides the signature.
    pub headers: Vec<(String, String)>,
    /// The exact body to send and sign.
    pub body: String,
    /// The key receivers drop repeats by; empty means `{call_id}:{seq}`.
    pub idempotency_key: String,
    /// After this time the item is no longer sent.
    pub expires_at: Millis,
}

/// Everything known about a call when it ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinishedCall {
    /// SIP Call-ID of the caller's leg.
    pub call_id: String,
    /// The flow's name.
    pub flow: String,
    /// The SHA-256 of the flow's module in hex.
    pub flow_version: String,
    /// The caller's number.
    pub caller: Option<String>,
    /// The dialled number.
    pub dialled: String,
    /// The contact the call was from, when the lookup found one.
    pub contact_id: Option<ContactId>,
    /// Time the INVITE arrived.
    pub started_at: Millis,
    /// Time flowd answered.
    pub answered_at: Option<Millis>,
    /// Time the call ended.
    pub ended_at: Millis,
    /// The flow's outcome name.
    pub outcome: String,
    /// Side that hung up: `caller`, `flowd` or `none`.
    pub ended_by: String,
    /// The SIP status and reason that ended the call.
    pub sip_reason: Option<String>,
    /// The call's legs.
    pub legs: Vec<Leg>,
    /// The path through the flow.
    pub path: Vec<PathStep>,
    /// The queue the call waited in.
    pub queue: Option<String>,
    /// The agent who took the call.
    pub agent: Option<String>,
    /// Time in the queue.
    pub wait_ms: i64,
    /// Time talking to the agent.
    pub talk_ms: i64,
    /// The agent's wrap-up time.
    pub wrapup_ms: i64,
    /// The caller's 1-5 survey rating.
    pub rating: Option<u8>,
    /// The recording file, relative to the recordings folder.
    pub recording: Option<String>,
    /// Tags with their source.
    pub tags: Vec<(String, TagSource)>,
    /// Lines for the contact's timeline entry of this call.
    pub timeline: Vec<String>,
    /// Ticket handling: link, open or either.
    pub ticket: Option<TicketAction>,
    /// Follow-ups, delivered in this order.
    pub outbox: Vec<NewOutboxItem>,
}

/// A stored call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallRow {
    /// SIP Call-ID of the caller's leg.
    pub call_id: String,
    /// `active`, `ended` or `interrupted`.
    pub status: String,
    /// The flow's name.
    pub flow: String,
    /// The SHA-256 of the flow's module in hex.
    pub flow_version: String,
    /// The caller's number.
    pub caller: Option<String>,
    /// The dialled number.
    pub dialled: String,
    /// The contact.
    pub contact_id: Option<ContactId>,
    /// Time the INVITE arrived.
    pub started_at: Millis,
    /// Time flowd answered.
    pub answered_at: Option<Millis>,
    /// Time the call ended.
    pub ended_at: Option<Millis>,
    /// The flow's outcome name, `interrupted` after a crash.
    pub outcome: Option<String>,
    /// Side that hung up.
    pub ended_by: Option<String>,
    /// The SIP status and reason that ended the call.
    pub sip_reason: Option<String>,
    /// The queue.
    pub queue: Option<String>,
    /// The agent.
    pub agent: Option<String>,
    /// Time in the queue.
    pub wait_ms: i64,
    /// Time talking.
    pub talk_ms: i64,
    /// Wrap-up time.
    pub wrapup_ms: i64,
    /// Survey rating.
    pub rating: Option<u8>,
    /// The recording file, relative to the recordings folder.
    pub recording: Option<String>,
    /// The linked ticket.
    pub ticket_id: Option<i64>,
    /// Legs.
    pub legs: Vec<Leg>,
    /// Path through the flow.
    pub path: Vec<PathStep>,
    /// Timeline lines.
    pub timeline: Vec<String>,
    /// Tags in alphabetical order.
    pub tags: Vec<CallTag>,
}

/// One delivery attempt of an outbox item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Start time.
    pub at: Millis,
    /// The HTTP status received, if any.
    pub status_code: Option<u16>,
    /// Failure reason, if it failed.
    pub error: Option<String>,
    /// Duration.
    pub duration_ms: i64,
}

/// Result of an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptOutcome {
    /// The receiver took the item.
    Delivered,
    /// Try again at this time.
    Retry(Millis),
    /// Give up: the item has expired.
    Expired,
}

/// A stored outbox item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Id.
    pub id: i64,
    /// The call it follows.
    pub call_id: String,
    /// Its place among the call's items, from 1.
    pub seq: i64,
    /// `webhook`, `notify` or `tagger`.
    pub kind: String,
    /// The hook's name.
    pub hook: String,
    /// URL.
    pub url: String,
    /// HTTP method.
    pub method: String,
    /// Headers, besides the signature.
    pub headers: Vec<(String, String)>,
    /// The exact body.
    pub body: String,
    /// The key receivers drop repeats by.
    pub idempotency_key: String,
    /// `pending`, `delivered` or `expired`.
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// Time the next attempt is due.
    pub next_attempt_at: Millis,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// After this time the item is no longer sent.
    pub expires_at: Millis,
    /// Time it was stored.
    pub created_at: Millis,
    /// Time it was delivered.
    pub delivered_at: Option<Millis>,
    /// Every attempt, oldest first; empty in `due_outbox` results.
    pub attempt_log: Vec<Attempt>,
}

/// A contact search; every given field must match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContactQuery {
    /// A number in E.164.
    pub phone: Option<String>,
    /// Text in the name, company or email, case-insensitive.
    pub text: Option<String>,
    /// Most results; 0 means the default of 100.
    pub limit: u32,
    /// Results to skip.
    pub offset: u32,
}

/// A ticket search.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TicketQuery {
    /// The contact.
    pub contact_id: Option<ContactId>,
    /// The status.
    pub status: Option<String>,
    /// Most results; 0 means the default of 100.
    pub limit: u32,
    /// Results to skip.
    pub offset: u32,
}

/// A call search, newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallQuery {
    /// The contact.
    pub contact_id: Option<ContactId>,
    /// The caller's number.
    pub caller: Option<String>,
    /// Calls started at or after this time.
    pub since: Option<Millis>,
    /// Most results; 0 means the default of 100.
    pub limit: u32,
    /// Results to skip.
    pub offset: u32,
}

/// An outbox search, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutboxQuery {
    /// The call.
    pub call_id: Option<String>,
    /// `pending`, `delivered` or `expired`.
    pub status: Option<String>,
    /// Most results; 0 means the default of 100.
    pub limit: u32,
}

/// Results returned when a query gives no limit.
pub const DEFAULT_LIMIT: u32 = 100;

/// Most results one query returns.
pub const MAX_LIMIT: u32 = 1000;

/// Returns the limit to use for a query's `limit`.
pub fn effective_limit(limit: u32) -> i64 {
    match limit {
        0 => i64::from(DEFAULT_LIMIT),
        limit => i64::from(limit.min(MAX_LIMIT)),
    }
}

/// An agent as imported or sent to the API. A missing `enabled` is true.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewAgent {
    /// Short id such as `ana`: 1-64 characters of `a-z`, `0-9`, `.`, `_`
    /// and `-`.
    pub id: String,
    /// Display name; empty means the id.
    pub name: String,
    /// The SIP user name the phone registers with; `None` means the id.
    pub sip_user: Option<String>,
    /// The SIP password. Only its HA1 digests are stored; `None` keeps the
    /// stored ones.
    pub password: Option<String>,
    /// A fixed SIP URI for an agent whose phone does not register.
    pub uri: Option<String>,
    /// Skill name to level, from 1.
    pub skills: BTreeMap<String, u32>,
    /// Language codes such as `sl`.
    pub languages: Vec<String>,
    /// Team names.
    pub teams: Vec<String>,
    /// Whether queues may offer calls to the agent.
    pub enabled: bool,
}

impl Default for NewAgent {
    fn default() -> NewAgent {
        NewAgent {
            id: String::new(),
            name: String::new(),
            sip_user: None,
            password: None,
            uri: None,
            skills: BTreeMap::new(),
            languages: Vec::new(),
            teams: Vec::new(),
            enabled: true,
        }
    }
}

impl std::fmt::Debug for NewAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAgent")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("sip_user", &self.sip_user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("uri", &self.uri)
            .field("skills", &self.skills)
            .field("languages", &self.languages)
            .field("teams", &self.teams)
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// A stored agent. The HA1 digests are never serialized, so no API answer
/// or log line built from this type carries them.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRow {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The SIP user name the phone registers with.
    pub sip_user: String,
    /// MD5 of `sip_user:realm:password` in hex; `None` without a password.
    #[serde(skip_serializing, default)]
    pub ha1_md5: Option<String>,
    /// SHA-256 of `sip_user:realm:password` in hex; `None` without a
    /// password.
    #[serde(skip_serializing, default)]
    pub ha1_sha256: Option<String>,
    /// A fixed SIP URI for an agent whose phone does not register.
    pub uri: Option<String>,
    /// Skill name to level, from 1.
    pub skills: BTreeMap<String, u32>,
    /// Language codes.
    pub languages: Vec<String>,
    /// Team names.
    pub teams: Vec<String>,
    /// Whether queues may offer calls to the agent.
    pub enabled: bool,
    /// Creation time.
    pub created_at: Millis,
    /// Time of the last change.
    pub updated_at: Millis,
}

impl AgentRow {
    /// True when a password was set, so the phone can register.
    pub fn has_password(&self) -> bool {
        self.ha1_md5.is_some() && self.ha1_sha256.is_some()
    }
}

impl std::fmt::Debug for AgentRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("sip_user", &self.sip_user)
            .field("has_password", &self.has_password())
            .field("uri", &self.uri)
            .field("skills", &self.skills)
            .field("languages", &self.languages)
            .field("teams", &self.teams)
            .field("enabled", &self.enabled)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// The states an agent may be in.
pub const AGENT_STATES: [&str; 6] = [
    "logged_out",
    "ready",
    "ringing",
    "on_call",
    "wrap_up",
    "paused",
];

/// One change of an agent's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentStateRow {
    /// Id, increasing in the order the changes were written.
    pub id: i64,
    /// The agent.
    pub agent_id: String,
    /// One of [`AGENT_STATES`].
    pub state: String,
    /// Why, for `paused` (such as `lunch`) and other states that have one.
    pub reason: Option<String>,
    /// Time of the change.
    pub at_ms: Millis,
    /// The call that caused it, for `ringing`, `on_call` and `wrap_up`.
    pub call_id: Option<String>,
}

/// The statuses a callback may have.
pub const CALLBACK_STATUSES: [&str; 4] = ["pending", "dialing", "done", "failed"];

/// A callback a caller asked for while waiting in a queue.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NewCallback {
    /// The SIP Call-ID of the call that asked for it.
    pub call_id: String,
    /// The flow's name.
    pub flow: String,
    /// The queue the caller waited in.
    pub queue: String,
    /// The number to call, in E.164.
    pub number: String,
    /// The caller's language code.
    pub language: Option<String>,
    /// The caller's priority in the queue.
    pub priority: i64,
    /// Time the caller entered the queue; the callback keeps that place.
    pub entered_at: Millis,
}

/// A stored callback.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallbackRow {
    /// Id.
    pub id: i64,
    /// The SIP Call-ID of the call that asked for it.
    pub call_id: String,
    /// The flow's name.
    pub flow: String,
    /// The queue.
    pub queue: String,
    /// The number to call, in E.164.
    pub number: String,
    /// The caller's language code.
    pub language: Option<String>,
    /// The caller's priority in the queue.
    pub priority: i64,
    /// Time the caller entered the queue.
    pub entered_at: Millis,
    /// One of [`CALLBACK_STATUSES`].
    pub status: String,
    /// Attempts to call the customer so far.
    pub attempts: u32,
    /// Time the next attempt may start.
    pub next_attempt_at: Millis,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// The agent who took it.
    pub agent: Option<String>,
    /// The final outcome, such as `answered` or `no_answer`.
    pub outcome: Option<String>,
    /// Time it was stored.
    pub created_at: Millis,
    /// Time of the last change.
    pub updated_at: Millis,
}
