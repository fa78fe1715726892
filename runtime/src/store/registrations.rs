//! Registered contacts of agents' phones, kept so a restart of flowd does
//! not log out agents whose phones registered before it.

use super::rows::get;
use super::{Millis, Store, StoreError};
use sqlx::any::AnyRow;

/// One registered contact of an agent's phone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationRow {
    /// The agent.
    pub agent_id: String,
    /// The Contact URI the phone registered.
    pub contact_uri: String,
    /// `udp` or `tcp`.
    pub transport: String,
    /// The address the REGISTER came from.
    pub remote: String,
    /// The listener address the REGISTER came to.
    pub local: String,
    /// When the registration lapses, in milliseconds since the Unix epoch.
    pub expires_at: Millis,
}

impl Store {
    /// Stores a registered contact, replacing the same agent's same contact.
    pub async fn save_registration(&self, row: &RegistrationRow) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query("DELETE FROM registrations WHERE agent_id = $1 AND contact_uri = $2")
            .bind(row.agent_id.clone())
            .bind(row.contact_uri.clone())
            .execute(&mut *transaction)
            .await?;
        sqlx::query(
            "INSERT INTO registrations (agent_id, contact_uri, transport, remote, local, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(row.agent_id.clone())
        .bind(row.contact_uri.clone())
        .bind(row.transport.clone())
        .bind(row.remote.clone())
        .bind(row.local.clone())
        .bind(row.expires_at)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// Removes every stored contact of an agent.
    pub async fn delete_registrations(&self, agent_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM registrations WHERE agent_id = $1")
            .bind(agent_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Returns the contacts that have not expired at `now`, oldest agent
    /// id first; expired ones are deleted.
    pub async fn registrations(&self, now: Millis) -> Result<Vec<RegistrationRow>, StoreError> {
        sqlx::query("DELETE FROM registrations WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let rows = sqlx::query(
            "SELECT agent_id, contact_uri, transport, remote, local, expires_at \
             FROM registrations ORDER BY agent_id, contact_uri",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(registration_from_row).collect()
    }
}

fn registration_from_row(row: &AnyRow) -> Result<RegistrationRow, StoreError> {
    const T: &str = "registrations";
    Ok(RegistrationRow {
        agent_id: get(row, T, "agent_id")?,
        contact_uri: get(row, T, "contact_uri")?,
        transport: get(row, T, "transport")?,
        remote: get(row, T, "remote")?,
        local: get(row, T, "local")?,
        expires_at: get(row, T, "expires_at")?,
    })
}
