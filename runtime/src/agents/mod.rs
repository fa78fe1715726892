//! Agents: the settings their records are checked against, `flowd
//! import agents`, and agents' phones (SIP registration with digest
//! authentication, and the feature codes agents dial to change their
//! state). The records themselves live in the store (`Store::upsert_agent`
//! and the functions beside it).

pub mod features;
pub mod import;
pub mod registrar;

use crate::store::NewAgent;
use std::collections::BTreeMap;

/// The digest realm when `sip.realm` is not set in tok.yaml.
pub const DEFAULT_REALM: &str = "tok";

/// The settings an agent record is checked against: the digest realm of
/// its password's HA1 values, and the skills of tok.yaml.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentSchema {
    /// The digest realm (`sip.realm`, default `tok`).
    pub realm: String,
    /// The max level of each skill declared under `skills:`. When empty,
    /// skills are checked only for a level of at least 1.
    pub skills: BTreeMap<String, u32>,
}

impl Default for AgentSchema {
    fn default() -> AgentSchema {
        AgentSchema {
            realm: String::from(DEFAULT_REALM),
            skills: BTreeMap::new(),
        }
    }
}

impl AgentSchema {
    /// Reads the realm and skills of a tok.yaml text. Config errors are
    /// returned as one line, since the same file stops flowd's start.
    pub fn from_config_text(text: &str) -> Result<AgentSchema, String> {
        let (config, diagnostics) = flowc::config::parse(text, flowc::diag::FileId(0));
        let errors: Vec<String> = diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.message.clone())
            .collect();
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        let skills = config
            .skills
            .iter()
            .map(|(name, skill)| (name.clone(), skill.max_level))
            .collect();
        Ok(AgentSchema {
            realm: realm_of(text),
            skills,
        })
    }

    /// Reads the settings of a config file; no file gives the defaults.
    pub fn load(path: Option<&std::path::Path>) -> Result<AgentSchema, String> {
        let Some(path) = path else {
            return Ok(AgentSchema::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read the config `{}`: {error}", path.display()))?;
        AgentSchema::from_config_text(&text)
            .map_err(|errors| format!("invalid config `{}`: {errors}", path.display()))
    }

    /// Checks an agent's skills against the skills of tok.yaml: each must
    /// be declared, with a level from 1 to its `max_level`.
    pub fn check_skills(&self, agent: &NewAgent) -> Vec<String> {
        if self.skills.is_empty() {
            return Vec::new();
        }
        let mut problems = Vec::new();
        for (skill, level) in &agent.skills {
            match self.skills.get(skill) {
                None => {
                    let known: Vec<&str> = self.skills.keys().map(String::as_str).collect();
                    problems.push(format!(
                        "unknown skill `{skill}`; use one of {} or declare it under `skills:` in tok.yaml",
                        known.join(", ")
                    ));
                }
                Some(&max) if *level > max => problems.push(format!(
                    "invalid level {level} of skill `{skill}`: its max_level in tok.yaml is {max}; give a level from 1 to {max}"
                )),
                Some(_) => {}
            }
        }
        problems
    }
}

/// Reads `sip.realm` from a tok.yaml text, else the default.
// TODO: take the realm from `RuntimeConfig` once flowd's config reads `sip.realm`.
fn realm_of(text: &str) -> String {
    let value: Option<serde_json::Value> = serde_saphyr::from_str(text).ok().flatten();
    value
        .as_ref()
        .and_then(|v| v.get("sip"))
        .and_then(|sip| sip.get("realm"))
        .and_then(serde_json::Value::as_str)
        .filter(|realm| !realm.trim().is_empty())
        .map_or_else(|| String::from(DEFAULT_REALM), str::to_string)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::{AgentSchema, DEFAULT_REALM};
    use crate::store::NewAgent;
    use std::collections::BTreeMap;

    #[test]
    fn realm_read_from_sip_section() {
        let schema = AgentSchema::from_config_text("sip:\n  realm: example.com\n").unwrap();
        assert_eq!(schema.realm, "example.com");
        let schema = AgentSchema::from_config_text("languages: [en]\n").unwrap();
        assert_eq!(schema.realm, DEFAULT_REALM);
    }

    #[test]
    fn skills_checked_against_config() {
        let schema =
            AgentSchema::from_config_text("skills:\n  routers:\n    max_level: 3\n  sales: {}\n")
                .unwrap();
        let agent = |skill: &str, level: u32| NewAgent {
            id: String::from("ana"),
            skills: BTreeMap::from([(skill.to_string(), level)]),
            ..NewAgent::default()
        };
        assert!(schema.check_skills(&agent("routers", 3)).is_empty());
        let too_high = schema.check_skills(&agent("routers", 4));
        assert_eq!(too_high.len(), 1);
        assert!(too_high[0].contains("max_level"), "{too_high:?}");
        let unknown = schema.check_skills(&agent("billing", 1));
        assert!(
            unknown[0].contains("unknown skill `billing`"),
            "{unknown:?}"
        );
    }
}
