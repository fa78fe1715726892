//! The built-in CRM: contacts as people and imports write them (phone
//! numbers normalised to E.164, custom fields typed by `crm.fields` of
//! tok.yaml), and the conversion of a stored contact to the
//! `flowc::vm::Contact` a flow's lookup returns.

pub mod import;

use crate::store::{ContactRecord, NewContact, Store, StoreError};
use flowc::bytecode::Date;
use flowc::config::FieldType;
use flowc::number::{CountryCode, Number, normalise};
use flowc::vm::{Contact, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The settings the CRM reads from tok.yaml: the country code for national
/// numbers and the custom fields with their types.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CrmSchema {
    /// The deployment's country calling code.
    pub country_code: Option<CountryCode>,
    /// `crm.fields`: custom field names and types.
    pub fields: BTreeMap<String, FieldType>,
}

/// The built-in fields of a contact as the API and imports name them.
pub const BUILTIN_COLUMNS: [&str; 9] = [
    "external_id",
    "name",
    "company",
    "email",
    "phone",
    "phones",
    "language",
    "vip",
    "fields",
];

/// A contact as a person writes it: numbers in any spelling, custom field
/// values as JSON or text. [`CrmSchema::contact`] checks it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContactInput {
    /// The id in another system.
    pub external_id: Option<String>,
    /// Full name.
    pub name: Option<String>,
    /// Company.
    pub company: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// One phone number, added before `phones`.
    pub phone: Option<String>,
    /// Phone numbers.
    pub phones: Vec<String>,
    /// Preferred language code such as `sl`.
    pub language: Option<String>,
    /// Whether the contact is a VIP.
    pub vip: Option<bool>,
    /// Custom fields of `crm.fields`.
    pub fields: BTreeMap<String, serde_json::Value>,
}

impl CrmSchema {
    /// Reads the CRM settings of a tok.yaml text. Config errors are
    /// returned as rendered lines, since the same file stops flowd's start.
    pub fn from_config_text(text: &str) -> Result<CrmSchema, String> {
        let (config, diagnostics) = flowc::config::parse(text, flowc::diag::FileId(0));
        let errors: Vec<String> = diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.message.clone())
            .collect();
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        Ok(CrmSchema {
            country_code: config.country_code,
            fields: config.crm_fields,
        })
    }

    /// Reads the CRM settings of a config file; no file gives the defaults.
    pub fn load(path: Option<&std::path::Path>) -> Result<CrmSchema, String> {
        let Some(path) = path else {
            return Ok(CrmSchema::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read the config `{}`: {error}", path.display()))?;
        CrmSchema::from_config_text(&text)
            .map_err(|errors| format!("invalid config `{}`: {errors}", path.display()))
    }

    /// Normalises a phone number to E.164, or returns why it cannot be.
    pub fn phone(&self, text: &str) -> Result<String, String> {
        match normalise(text, self.country_code) {
            // The shortest numbers in use (Niue, Saint Helena) have 7
            // digits with the country code; fewer is a typing mistake.
            Number::E164(number) if number.len() < 8 => Err(format!(
                "phone number `{text}` is too short: a full number has at least 7 digits with the country code, such as `+38615550100`"
            )),
            Number::E164(number) => Ok(number),
            Number::Ambiguous(readings) if self.country_code.is_none() => Err(format!(
                "ambiguous phone number `{text}`: without a country code it may be {} or a national number; write it with `+` and the country code, or set `country_code` in tok.yaml",
                readings.join(" or ")
            )),
            Number::Ambiguous(readings) => Err(format!(
                "ambiguous phone number `{text}`: it may be {}; write it with `+` and the country code, or with the trunk prefix `0`",
                readings.join(" or ")
            )),
            Number::Other(_) => Err(format!(
                "invalid phone number `{text}`: write an E.164 number such as `+38615550100`{}",
                if self.country_code.is_some() {
                    " or a national number with its trunk prefix"
                } else {
                    ""
                }
            )),
        }
    }

    /// Checks a custom field value against its declared type and returns
    /// it as stored: text, integer and bool as JSON of that type, a date as
    /// `YYYY-MM-DD` text, digits as text. Text input is converted, so CSV
    /// cells work. `Ok(None)` means the value is empty and not stored.
    pub fn field(
        &self,
        name: &str,
        value: &serde_json::Value,
    ) -> Result<Option<serde_json::Value>, String> {
        let Some(field_type) = self.fields.get(name) else {
            let declared: Vec<&str> = self.fields.keys().map(String::as_str).collect();
            return Err(format!(
                "unknown field `{name}`; declare it under `crm.fields` in tok.yaml{}",
                if declared.is_empty() {
                    String::new()
                } else {
                    format!(" (declared: {})", declared.join(", "))
                }
            ));
        };
        typed_value(name, *field_type, value)
    }

    /// Checks a contact as written and returns it ready to store: numbers
    /// in E.164 without repeats, email in lower case, custom fields typed.
    /// Every problem of the contact is listed.
    pub fn contact(&self, input: &ContactInput) -> Result<NewContact, Vec<String>> {
        let mut problems = Vec::new();
        let mut phones: Vec<String> = Vec::new();
        let written = input.phone.iter().chain(input.phones.iter());
        for text in written.filter(|t| !t.trim().is_empty()) {
            match self.phone(text) {
                Ok(number) if !phones.contains(&number) => phones.push(number),
                Ok(_) => {}
                Err(problem) => problems.push(problem),
            }
        }
        let email = clean(&input.email).map(|e| e.to_lowercase());
        if let Some(email) = &email
            && (!email.contains('@') || email.contains(char::is_whitespace))
        {
            problems.push(format!(
                "invalid email `{email}`: write an address such as `ana@example.com`"
            ));
        }
        let name = clean(&input.name);
        if name.is_none() && phones.is_empty() && problems.is_empty() {
            problems.push(String::from(
                "missing name and phone: a contact needs at least one of them",
            ));
        }
        let mut fields = BTreeMap::new();
        for (key, value) in &input.fields {
            match self.field(key, value) {
                Ok(Some(value)) => {
                    fields.insert(key.clone(), value);
                }
                Ok(None) => {}
                Err(problem) => problems.push(problem),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(NewContact {
            external_id: clean(&input.external_id),
            name,
            company: clean(&input.company),
            email,
            phones,
            language: clean(&input.language),
            vip: input.vip.unwrap_or(false),
            fields,
        })
    }

    /// Converts a stored contact to the record a flow's lookup returns:
    /// the built-in fields (`id`, `name`, `company`, `email`, `phone`,
    /// `language`, `vip`, `last_agent`, `open_tickets`) and every custom
    /// field of `crm.fields` the contact has, each as the value of its
    /// declared type. A stored custom value that no longer fits its type
    /// (the config changed) is left out, so the flow reads the empty value.
    pub fn vm_contact(&self, record: &ContactRecord) -> Contact {
        let text = |value: &Option<String>| Value::Text(value.clone().unwrap_or_default());
        let mut fields = BTreeMap::new();
        fields.insert(String::from("id"), Value::Text(record.id.to_string()));
        fields.insert(String::from("name"), text(&record.name));
        fields.insert(String::from("company"), text(&record.company));
        fields.insert(String::from("email"), text(&record.email));
        fields.insert(
            String::from("phone"),
            Value::Text(record.phones.first().cloned().unwrap_or_default()),
        );
        fields.insert(String::from("language"), text(&record.language));
        fields.insert(String::from("vip"), Value::Bool(record.vip));
        fields.insert(String::from("last_agent"), text(&record.last_agent));
        fields.insert(
            String::from("open_tickets"),
            Value::Int(record.open_tickets),
        );
        for (name, field_type) in &self.fields {
            let Some(stored) = record.fields.get(name) else {
                continue;
            };
            if let Some(value) = vm_value(*field_type, stored) {
                fields.insert(name.clone(), value);
            }
        }
        Contact { fields }
    }
}

/// Finds the contact of a caller's number written in any spelling: its
/// E.164 form, or each reading of an ambiguous spelling in lookup order. A
/// number that is not E.164 (a short code) finds no contact.
pub async fn find_caller(
    store: &Store,
    schema: &CrmSchema,
    number: &str,
) -> Result<Option<ContactRecord>, StoreError> {
    let candidates = match normalise(number, schema.country_code) {
        Number::Other(_) => return Ok(None),
        number => number.candidates(),
    };
    for candidate in candidates {
        if let Some(contact) = store.contact_by_phone(&candidate).await? {
            return Ok(Some(contact));
        }
    }
    Ok(None)
}

/// Trims a text and drops it when empty.
fn clean(text: &Option<String>) -> Option<String> {
    text.as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

fn typed_value(
    name: &str,
    field_type: FieldType,
    value: &serde_json::Value,
) -> Result<Option<serde_json::Value>, String> {
    use serde_json::Value as Json;
    let text = match value {
        Json::Null => return Ok(None),
        Json::String(text) if text.trim().is_empty() => return Ok(None),
        Json::String(text) => Some(text.trim()),
        _ => None,
    };
    let wrong = |example: &str| {
        Err(format!(
            "invalid value `{}` for field `{name}` ({}): write {example}",
            text.map_or_else(|| value.to_string(), str::to_string),
            field_type.as_str()
        ))
    };
    match field_type {
        FieldType::Text => match value {
            Json::String(text) => Ok(Some(Json::String(text.trim().to_string()))),
            Json::Number(_) | Json::Bool(_) => Ok(Some(Json::String(value.to_string()))),
            _ => wrong("text"),
        },
        FieldType::Integer => {
            let number = match (value, text) {
                (Json::Number(n), _) => n.as_i64(),
                (_, Some(text)) => text.parse::<i64>().ok(),
                _ => None,
            };
            match number {
                Some(number) => Ok(Some(Json::from(number))),
                None => wrong("a whole number such as `42`"),
            }
        }
        FieldType::Bool => {
            let flag = match (value, text) {
                (Json::Bool(b), _) => Some(*b),
                (_, Some(text)) => parse_bool(text),
                _ => None,
            };
            match flag {
                Some(flag) => Ok(Some(Json::Bool(flag))),
                None => wrong("`true` or `false`"),
            }
        }
        FieldType::Date => match text.and_then(parse_date) {
            Some(date) => Ok(Some(Json::String(format!(
                "{:04}-{:02}-{:02}",
                date.year, date.month, date.day
            )))),
            None => wrong("a date such as `2026-12-31`"),
        },
        FieldType::Digits => {
            let digits = match (value, text) {
                (Json::Number(n), _) => n.as_u64().map(|n| n.to_string()),
                (_, Some(text)) => Some(text.to_string()),
                _ => None,
            };
            match digits {
                Some(digits) if digits.chars().all(|c| c.is_ascii_digit()) => {
                    Ok(Some(Json::String(digits)))
                }
                _ => wrong("digits only, such as `0012345`"),
            }
        }
    }
}

/// Reads `true`/`false`, `yes`/`no` and `1`/`0`, in any case.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "y" => Some(true),
        "false" | "no" | "0" | "n" => Some(false),
        _ => None,
    }
}

/// Reads a `YYYY-MM-DD` date that exists in the calendar.
fn parse_date(text: &str) -> Option<Date> {
    let date: jiff::civil::Date = text.trim().parse().ok()?;
    Some(Date {
        year: date.year(),
        month: u8::try_from(date.month()).ok()?,
        day: u8::try_from(date.day()).ok()?,
    })
}

fn vm_value(field_type: FieldType, stored: &serde_json::Value) -> Option<Value> {
    match field_type {
        FieldType::Text => stored.as_str().map(|t| Value::Text(t.to_string())),
        FieldType::Integer => stored.as_i64().map(Value::Int),
        FieldType::Bool => stored.as_bool().map(Value::Bool),
        FieldType::Date => stored.as_str().and_then(parse_date).map(Value::Date),
        FieldType::Digits => stored
            .as_str()
            .filter(|t| t.chars().all(|c| c.is_ascii_digit()))
            .map(|t| Value::Digits(t.to_string())),
    }
}

#[cfg(test)]
mod tests;
