//! Agents with their SIP credentials, skills, languages and teams; the
//! append-only history of their states; and the sticky-agent lookup.
//!
//! A password is turned into its digest HA1 values (RFC 7616:
//! `H(user:realm:password)` with MD5 and with SHA-256, in hex) before
//! anything is written, and the plain text is neither stored nor logged.
//! The HA1 values depend on the realm, so changing `sip.realm` needs every
//! password to be set again.

use super::rows::{flag, get, json, to_json};
use super::{
    AGENT_STATES, AgentRow, AgentStateRow, ContactId, Millis, NewAgent, Store, StoreError,
    effective_limit, now_millis,
};
use md5::Md5;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use std::fmt::Write as _;

/// Maximum length in bytes of an agent id, SIP user name, team or skill name.
pub const MAX_NAME_LENGTH: usize = 64;

/// Maximum length in bytes of a password.
pub const MAX_PASSWORD_LENGTH: usize = 128;

const AGENT_COLUMNS: &str = "id, name, sip_user, ha1_md5, ha1_sha256, uri, skills, languages, \
     teams, enabled, created_at, updated_at";

const STATE_COLUMNS: &str = "s.id, s.agent_id, s.state, s.reason, s.at_ms, s.call_id";

/// Returns MD5 of `user:realm:password` in lower-case hex, the HA1 of
/// digest authentication with `algorithm=MD5`.
pub fn ha1_md5(user: &str, realm: &str, password: &str) -> String {
    hex(&Md5::digest(format!("{user}:{realm}:{password}")))
}

/// Returns SHA-256 of `user:realm:password` in lower-case hex, the HA1 of
/// digest authentication with `algorithm=SHA-256`.
pub fn ha1_sha256(user: &str, realm: &str, password: &str) -> String {
    hex(&Sha256::digest(format!("{user}:{realm}:{password}")))
}

fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// Checks an agent id or skill name: 1-64 characters of `a-z`, `0-9`,
/// `.`, `_` and `-`.
pub fn check_agent_name(field: &str, value: &str) -> Result<(), String> {
    let valid = !value.is_empty()
        && value.len() <= MAX_NAME_LENGTH
        && value.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid {field} `{value}`: use 1-{MAX_NAME_LENGTH} characters of a-z, 0-9, `.`, `_` and `-`, such as `ana`"
        ))
    }
}

/// Checks a SIP user name: 1-64 characters of `A-Z`, `a-z`, `0-9`, `.`,
/// `_`, `-` and `+`. SIP compares user names case-sensitively, and a `:`
/// would make `user:realm:password` ambiguous.
pub fn check_sip_user(value: &str) -> Result<(), String> {
    let valid = !value.is_empty()
        && value.len() <= MAX_NAME_LENGTH
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid sip_user `{value}`: use 1-{MAX_NAME_LENGTH} characters of A-Z, a-z, 0-9, `.`, `_`, `-` and `+`, such as `ana` or `1001`"
        ))
    }
}

/// Checks every field of an agent, naming the field, the value and the fix
/// of each problem.
pub fn check_agent(agent: &NewAgent) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    if let Err(problem) = check_agent_name("id", &agent.id) {
        problems.push(problem);
    }
    if let Some(user) = &agent.sip_user
        && let Err(problem) = check_sip_user(user)
    {
        problems.push(problem);
    }
    if agent.name.chars().any(char::is_control) {
        problems.push(format!(
            "invalid name `{}`: remove the control characters",
            agent.name.escape_debug()
        ));
    }
    if let Some(password) = &agent.password {
        if password.is_empty() {
            problems.push(String::from(
                "the password is empty; give a password or leave the field out to keep the stored one",
            ));
        } else if password.len() > MAX_PASSWORD_LENGTH {
            problems.push(format!(
                "the password is longer than {MAX_PASSWORD_LENGTH} bytes; choose a shorter one"
            ));
        } else if password.chars().any(char::is_control) {
            // The password itself is not repeated in the message.
            problems.push(String::from(
                "the password contains a control character; use printable characters",
            ));
        }
    }
    if let Some(uri) = &agent.uri {
        match crate::sip::header::Uri::parse(uri) {
            Ok(crate::sip::header::Uri::Sip { host, .. }) if !host.is_empty() => {}
            _ => problems.push(format!(
                "invalid uri `{uri}`: write a SIP URI such as `sip:1001@192.0.2.10:5060`, or leave it out for a phone that registers"
            )),
        }
    }
    for (skill, level) in &agent.skills {
        if check_agent_name("skill", skill).is_err() {
            problems.push(format!(
                "invalid skill name `{skill}`: use 1-{MAX_NAME_LENGTH} characters of a-z, 0-9, `.`, `_` and `-` as in `skills:` of tok.yaml"
            ));
        }
        if *level < 1 {
            problems.push(format!(
                "invalid level {level} of skill `{skill}`: levels start at 1; remove the skill instead of giving level 0"
            ));
        }
    }
    for language in &agent.languages {
        let valid = (2..=8).contains(&language.len())
            && language
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            problems.push(format!(
                "invalid language `{language}`: write a lower-case language code such as `en` or `sl`"
            ));
        }
    }
    for team in &agent.teams {
        if team.trim().is_empty()
            || team.len() > MAX_NAME_LENGTH
            || team.chars().any(char::is_control)
        {
            problems.push(format!(
                "invalid team `{}`: write a name of 1-{MAX_NAME_LENGTH} printable characters",
                team.escape_debug()
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

impl Store {
    /// Adds an agent or replaces every field of the agent with this id.
    /// A password is stored only as its HA1 values for `realm`. `None`
    /// keeps the stored values, so it is rejected when the SIP user name
    /// changes: the stored values contain the old name.
    pub async fn upsert_agent(
        &self,
        agent: &NewAgent,
        realm: &str,
    ) -> Result<AgentRow, StoreError> {
        check_agent(agent).map_err(|problems| StoreError::Invalid(problems.join("; ")))?;
        let sip_user = agent.sip_user.clone().unwrap_or_else(|| agent.id.clone());
        let name = match agent.name.trim() {
            "" => agent.id.clone(),
            name => name.to_string(),
        };
        let now = now_millis();

        let mut tx = self.begin_write().await?;
        let owner = sqlx::query("SELECT id FROM agents WHERE sip_user = $1 AND id <> $2")
            .bind(sip_user.clone())
            .bind(agent.id.clone())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = owner {
            let other: String = get(&row, "agents", "id")?;
            return Err(StoreError::Invalid(format!(
                "sip_user `{sip_user}` already belongs to agent `{other}`; choose another sip_user or update agent `{other}`"
            )));
        }

        let existing = agent_by(&mut tx, "id", &agent.id).await?;
        let (ha1_md5_value, ha1_sha256_value) = match (&agent.password, &existing) {
            (Some(password), _) => (
                Some(ha1_md5(&sip_user, realm, password)),
                Some(ha1_sha256(&sip_user, realm, password)),
            ),
            (None, Some(stored)) if stored.has_password() && stored.sip_user != sip_user => {
                return Err(StoreError::Invalid(format!(
                    "sip_user of agent `{}` changes from `{}` to `{sip_user}` without a password; the stored digests contain the old user name, so give the password again",
                    agent.id, stored.sip_user
                )));
            }
            (None, Some(stored)) => (stored.ha1_md5.clone(), stored.ha1_sha256.clone()),
            (None, None) => (None, None),
        };

        let sql = if existing.is_some() {
            "UPDATE agents SET name = $2, sip_user = $3, ha1_md5 = $4, ha1_sha256 = $5, uri = $6, \
             skills = $7, languages = $8, teams = $9, enabled = $10, updated_at = $11 WHERE id = $1"
        } else {
            "INSERT INTO agents (id, name, sip_user, ha1_md5, ha1_sha256, uri, skills, languages, \
             teams, enabled, updated_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)"
        };
        sqlx::query(sql)
            .bind(agent.id.clone())
            .bind(name)
            .bind(sip_user)
            .bind(ha1_md5_value)
            .bind(ha1_sha256_value)
            .bind(agent.uri.clone())
            .bind(to_json(&agent.skills))
            .bind(to_json(&agent.languages))
            .bind(to_json(&agent.teams))
            .bind(i64::from(agent.enabled))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|error| match StoreError::from(error) {
                // Another request wrote the same id or SIP user name
                // between the checks above and this statement.
                e if e.is_constraint() => StoreError::Invalid(format!(
                    "agent `{}` or its sip_user was written by another request at the same time; retry the request",
                    agent.id
                )),
                e => e,
            })?;

        let row = agent_by(&mut tx, "id", &agent.id).await?.ok_or_else(|| {
            StoreError::Invalid(format!(
                "agent `{}` was not written; retry the request",
                agent.id
            ))
        })?;
        tx.commit().await?;
        tracing::info!(
            agent = %row.id,
            created = existing.is_none(),
            password_set = agent.password.is_some(),
            "agent stored"
        );
        Ok(row)
    }

    /// Returns an agent by id.
    pub async fn agent(&self, id: &str) -> Result<Option<AgentRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        agent_by(&mut conn, "id", id).await
    }

    /// Returns the agent whose phone registers as `user`.
    pub async fn agent_by_sip_user(&self, user: &str) -> Result<Option<AgentRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        agent_by(&mut conn, "sip_user", user).await
    }

    /// Lists every agent by id.
    pub async fn agents(&self) -> Result<Vec<AgentRow>, StoreError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(agent_from_row).collect()
    }

    /// Deletes an agent; its state history stays. Returns false when there
    /// is no such agent.
    pub async fn delete_agent(&self, id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM agents WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        let deleted = result.rows_affected() > 0;
        if deleted {
            tracing::info!(agent = %id, "agent deleted");
        }
        Ok(deleted)
    }

    /// Appends a change of an agent's state to its history. The agent need
    /// not exist in the `agents` table, so a state written while the agent
    /// is deleted is kept.
    pub async fn record_agent_state(
        &self,
        agent: &str,
        state: &str,
        reason: Option<&str>,
        at_ms: Millis,
        call_id: Option<&str>,
    ) -> Result<(), StoreError> {
        if !AGENT_STATES.contains(&state) {
            return Err(StoreError::Invalid(format!(
                "invalid agent state `{state}`; use one of {}",
                AGENT_STATES.join(", ")
            )));
        }
        sqlx::query(
            "INSERT INTO agent_states (agent_id, state, reason, at_ms, call_id) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(agent.to_string())
        .bind(state.to_string())
        .bind(reason.map(str::to_string))
        .bind(at_ms)
        .bind(call_id.map(str::to_string))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Returns an agent's state changes at or after `since_ms`, oldest
    /// first; changes at the same millisecond keep the order they were
    /// written in. `limit` 0 means the default of 100.
    pub async fn agent_states(
        &self,
        agent: &str,
        since_ms: Millis,
        limit: u32,
    ) -> Result<Vec<AgentStateRow>, StoreError> {
        let sql = format!(
            "SELECT {STATE_COLUMNS} FROM agent_states s WHERE s.agent_id = $1 AND s.at_ms >= $2 \
             ORDER BY s.at_ms, s.id LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(agent.to_string())
            .bind(since_ms)
            .bind(effective_limit(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(state_from_row).collect()
    }

    /// Returns the latest state change of every agent with a history, by
    /// agent id, so a restarted flowd can see where each agent was.
    pub async fn latest_agent_states(&self) -> Result<Vec<AgentStateRow>, StoreError> {
        let sql = format!(
            "SELECT {STATE_COLUMNS} FROM agent_states s WHERE s.id = \
             (SELECT p.id FROM agent_states p WHERE p.agent_id = s.agent_id \
              ORDER BY p.at_ms DESC, p.id DESC LIMIT 1) \
             ORDER BY s.agent_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(state_from_row).collect()
    }

    /// Sets the agent of a contact's latest call; returns false when there
    /// is no such contact.
    pub async fn set_last_agent(
        &self,
        contact: ContactId,
        agent: &str,
    ) -> Result<bool, StoreError> {
        let result =
            sqlx::query("UPDATE contacts SET last_agent = $1, updated_at = $2 WHERE id = $3")
                .bind(agent.to_string())
                .bind(now_millis())
                .bind(contact)
                .execute(&self.pool)
                .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Returns the agent who last talked to the caller with this E.164
    /// number: the `last_agent` of the contact with that number, else the
    /// agent of the latest call from that number that reached one.
    pub async fn last_agent_by_phone(&self, e164: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let row = sqlx::query(
            "SELECT c.last_agent FROM contact_phones p JOIN contacts c ON c.id = p.contact_id \
             WHERE p.phone = $1",
        )
        .bind(e164.to_string())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = row {
            let agent: Option<String> = get(&row, "contacts", "last_agent")?;
            if agent.is_some() {
                return Ok(agent);
            }
        }
        let row = sqlx::query(
            "SELECT agent FROM calls WHERE caller = $1 AND agent IS NOT NULL \
             ORDER BY started_at DESC LIMIT 1",
        )
        .bind(e164.to_string())
        .fetch_optional(&mut *conn)
        .await?;
        row.map(|row| get(&row, "calls", "agent")).transpose()
    }
}

/// Reads the agent whose `column` (`id` or `sip_user`) is `value`.
async fn agent_by(
    conn: &mut AnyConnection,
    column: &'static str,
    value: &str,
) -> Result<Option<AgentRow>, StoreError> {
    let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE {column} = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(agent_from_row).transpose()
}

fn agent_from_row(row: &AnyRow) -> Result<AgentRow, StoreError> {
    const T: &str = "agents";
    Ok(AgentRow {
        id: get(row, T, "id")?,
        name: get(row, T, "name")?,
        sip_user: get(row, T, "sip_user")?,
        ha1_md5: get(row, T, "ha1_md5")?,
        ha1_sha256: get(row, T, "ha1_sha256")?,
        uri: get(row, T, "uri")?,
        skills: json(row, T, "skills")?,
        languages: json(row, T, "languages")?,
        teams: json(row, T, "teams")?,
        enabled: flag(row, T, "enabled")?,
        created_at: get(row, T, "created_at")?,
        updated_at: get(row, T, "updated_at")?,
    })
}

fn state_from_row(row: &AnyRow) -> Result<AgentStateRow, StoreError> {
    const T: &str = "agent_states";
    Ok(AgentStateRow {
        id: get(row, T, "id")?,
        agent_id: get(row, T, "agent_id")?,
        state: get(row, T, "state")?,
        reason: get(row, T, "reason")?,
        at_ms: get(row, T, "at_ms")?,
        call_id: get(row, T, "call_id")?,
    })
}

#[cfg(test)]
mod tests {
    use super::{Digest, Md5, Sha256, check_agent_name, ha1_md5, ha1_sha256, hex};

    /// Returns the qop=auth digest response to `GET /dir/index.html`
    /// computed from an HA1 value, as in the examples of RFC 2617 and 7616.
    fn response<D: Digest>(ha1: &str, nonce: &str, cnonce: &str) -> String {
        let ha2 = hex(&D::digest("GET:/dir/index.html"));
        hex(&D::digest(format!(
            "{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}"
        )))
    }

    #[test]
    fn ha1_gives_rfc_responses() {
        // RFC 2617 section 3.5.
        let ha1 = ha1_md5("Mufasa", "testrealm@host.com", "Circle Of Life");
        assert_eq!(ha1, "939e7578ed9e3c518a452acee763bce9");
        assert_eq!(
            response::<Md5>(&ha1, "dcd98b7102dd2f0e8b11d0f600bfb0c093", "0a4f113b"),
            "6629fae49393a05397450978507c4ef1"
        );
        // RFC 7616 section 3.9.1, both algorithms.
        let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let md5 = ha1_md5("Mufasa", "http-auth@example.org", "Circle of Life");
        assert_eq!(
            response::<Md5>(&md5, nonce, cnonce),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        let sha256 = ha1_sha256("Mufasa", "http-auth@example.org", "Circle of Life");
        assert_eq!(
            response::<Sha256>(&sha256, nonce, cnonce),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn agent_names_checked() {
        assert!(check_agent_name("id", "ana").is_ok());
        assert!(check_agent_name("id", "ana.novak-2_x").is_ok());
        assert!(check_agent_name("id", "").is_err());
        assert!(check_agent_name("id", "Ana").is_err());
        assert!(check_agent_name("id", "ana novak").is_err());
        assert!(check_agent_name("id", &"a".repeat(65)).is_err());
    }
}
