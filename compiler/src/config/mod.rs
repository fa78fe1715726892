//! The deployment config, `tok.yaml`: which numbers enter which flow, the
//! languages and prompts, skills, named HTTP hooks and custom CRM fields.
//!
//! [`parse`] takes the text and returns the config with every problem as a
//! diagnostic; unknown keys are errors with a did-you-mean. The runtime
//! will extend the same file with its own sections, each one row in
//! `sections::SECTIONS`. `docs/config.md` documents every key.

mod hooks;
mod parse;
mod reader;
mod sections;
#[cfg(test)]
mod tests;
mod values;
pub(crate) mod yaml;

pub use parse::parse;
pub(crate) use values::parse_duration;
pub use values::{check_number, number_digits};

use crate::diag::{FileId, Span};
use std::collections::BTreeMap;

/// The default config file name, looked up beside the flows.
pub const FILE_NAME: &str = "tok.yaml";

/// A parsed `tok.yaml`. Every field has a default, so an empty file is a
/// valid config.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The deployment's country calling code, for national numbers.
    pub country_code: Option<crate::number::CountryCode>,
    /// Dialled number, as written, to flow name.
    pub numbers: BTreeMap<String, String>,
    /// Languages every prompt must exist in, such as `en` and `sl`.
    pub languages: Vec<String>,
    /// The language a call starts in; the first of `languages` by default.
    pub default_language: String,
    /// Where prompt files live.
    pub prompts: PromptsConfig,
    /// Declared skills by name.
    pub skills: BTreeMap<String, Skill>,
    /// Named HTTP hooks.
    pub hooks: BTreeMap<String, Hook>,
    /// Custom CRM contact fields and their types.
    pub crm_fields: BTreeMap<String, FieldType>,
    /// The file the config came from, when there was one.
    pub file: Option<FileId>,
    /// Where each key is written, by dotted path such as `hooks.orders.url`
    /// or `numbers.+38615550100`, for diagnostics that point into the
    /// config. Entries of `languages`, and of `skills` written as a list,
    /// are recorded as `languages.sl` and `skills.routers` with the span of
    /// the list item.
    pub locations: BTreeMap<String, Span>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            country_code: None,
            numbers: BTreeMap::new(),
            languages: vec![String::from("en")],
            default_language: String::from("en"),
            prompts: PromptsConfig::default(),
            skills: BTreeMap::new(),
            hooks: BTreeMap::new(),
            crm_fields: BTreeMap::new(),
            file: None,
            locations: BTreeMap::new(),
        }
    }
}

impl Config {
    /// Returns where a key is written in the config file, if known.
    pub fn location(&self, path: &str) -> Option<(FileId, Span)> {
        Some((self.file?, *self.locations.get(path)?))
    }
}

/// The `prompts` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromptsConfig {
    /// Folder of prompt files, relative to the config file:
    /// `DIR/LANGUAGE/NAME.wav`, and `DIR/common/NAME.wav` for prompts that
    /// are the same in every language.
    pub dir: String,
}

impl Default for PromptsConfig {
    fn default() -> Self {
        PromptsConfig {
            dir: String::from("prompts"),
        }
    }
}

/// A declared skill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skill {
    /// What the skill means, for people.
    pub description: Option<String>,
    /// Highest level an agent can have; levels run from 1.
    pub max_level: u32,
}

/// What a hook is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookKind {
    /// An external CRM for `lookup`.
    Crm,
    /// Receives the call record (`webhook`).
    Webhook,
    /// Sends a message (`notify`).
    Notify,
    /// Returns tags for a finished call.
    Tagger,
}

impl HookKind {
    /// Returns the kind as written in `tok.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            HookKind::Crm => "crm",
            HookKind::Webhook => "webhook",
            HookKind::Notify => "notify",
            HookKind::Tagger => "tagger",
        }
    }
}

/// A named HTTP hook.
#[derive(Clone, Debug, PartialEq)]
pub struct Hook {
    /// What it is used for.
    pub kind: HookKind,
    /// URL template; `{key}` is replaced by the lookup key.
    pub url: String,
    /// HTTP method; `GET` for CRM hooks, `POST` otherwise.
    pub method: String,
    /// Extra request headers; values may name environment variables as
    /// `${NAME}` so secrets stay out of the file.
    pub headers: BTreeMap<String, String>,
    /// Request timeout in milliseconds.
    pub timeout_ms: u64,
    /// For CRM hooks: contact field to JSON pointer in the response.
    pub fields: BTreeMap<String, String>,
    /// Environment variable holding the HMAC secret that signs the body.
    pub secret_env: Option<String>,
    /// For notify hooks: body template; `{message}` is the flow's text.
    pub template: Option<String>,
}

/// The type of a CRM field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Free text.
    Text,
    /// A whole number.
    Integer,
    /// Yes or no.
    Bool,
    /// A calendar date.
    Date,
    /// Digits only, such as an account number.
    Digits,
}

impl FieldType {
    /// Returns the type as written in `tok.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Integer => "integer",
            FieldType::Bool => "bool",
            FieldType::Date => "date",
            FieldType::Digits => "digits",
        }
    }
}

/// The built-in contact fields, always present, with their types.
pub const BUILTIN_CONTACT_FIELDS: [(&str, FieldType); 9] = [
    ("id", FieldType::Text),
    ("name", FieldType::Text),
    ("company", FieldType::Text),
    ("email", FieldType::Text),
    ("phone", FieldType::Text),
    ("language", FieldType::Text),
    ("vip", FieldType::Bool),
    ("last_agent", FieldType::Text),
    ("open_tickets", FieldType::Integer),
];
