//! Contacts and their interactions.

use super::rows::{flag, get, json, like_pattern, to_json};
use super::{
    CHANNELS, ContactId, ContactQuery, ContactRecord, DIRECTIONS, Interaction, Millis, NewContact,
    NewInteraction, Store, StoreError, effective_limit, now_millis,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

/// The columns of a [`ContactRecord`], for `FROM contacts c`.
pub(super) const CONTACT_COLUMNS: &str = "c.id, c.external_id, c.name, c.company, c.email, \
     c.phones, c.language, c.vip, c.fields, c.last_agent, c.created_at, c.updated_at, \
     (SELECT COUNT(*) FROM tickets t WHERE t.contact_id = c.id AND t.status <> 'closed') AS open_tickets";

/// Whether an upsert added a contact or changed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upserted {
    /// A new contact with this id.
    Created(ContactId),
    /// The existing contact with this id.
    Updated(ContactId),
}

impl Upserted {
    /// Returns the contact's id.
    pub fn id(self) -> ContactId {
        match self {
            Upserted::Created(id) | Upserted::Updated(id) => id,
        }
    }
}

impl Store {
    /// Adds a contact or updates the one it matches: by `external_id`,
    /// else by any of its phones, else by email.
    pub async fn upsert_contact(&self, c: &NewContact) -> Result<ContactId, StoreError> {
        let mut tx = self.begin_write().await?;
        let upserted = upsert(&mut tx, c, now_millis()).await?;
        tx.commit().await?;
        Ok(upserted.id())
    }

    /// Upserts a batch of contacts in one transaction. An invalid contact,
    /// such as one with a phone of another contact, gets its error in the
    /// list while the others are written. A database failure fails the
    /// whole batch.
    pub async fn upsert_contacts(
        &self,
        batch: &[NewContact],
    ) -> Result<Vec<Result<Upserted, StoreError>>, StoreError> {
        let now = now_millis();
        let mut tx = self.begin_write().await?;
        let mut results = Vec::with_capacity(batch.len());
        for contact in batch {
            match upsert(&mut tx, contact, now).await {
                Ok(upserted) => results.push(Ok(upserted)),
                Err(error @ StoreError::Invalid(_)) => results.push(Err(error)),
                Err(error) => return Err(error),
            }
        }
        tx.commit().await?;
        Ok(results)
    }

    /// Returns a contact by id.
    pub async fn contact(&self, id: ContactId) -> Result<Option<ContactRecord>, StoreError> {
        let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts c WHERE c.id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(contact_from_row).transpose()
    }

    /// Returns the contact with this E.164 number: one primary-key seek in
    /// `contact_phones`, then the contact by id.
    pub async fn contact_by_phone(&self, e164: &str) -> Result<Option<ContactRecord>, StoreError> {
        let sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM contact_phones p JOIN contacts c ON c.id = p.contact_id \
             WHERE p.phone = $1"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(e164)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(contact_from_row).transpose()
    }

    /// Lists contacts that match every given field of the query, by id.
    pub async fn contacts(&self, q: &ContactQuery) -> Result<Vec<ContactRecord>, StoreError> {
        let mut sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts c WHERE 1 = 1");
        let mut next = 1;
        if q.phone.is_some() {
            sql.push_str(&format!(
                " AND c.id IN (SELECT contact_id FROM contact_phones WHERE phone = ${next})"
            ));
            next += 1;
        }
        if q.text.is_some() {
            sql.push_str(&format!(
                " AND (LOWER(COALESCE(c.name, '')) LIKE ${next} ESCAPE '\\' \
                 OR LOWER(COALESCE(c.company, '')) LIKE ${next} ESCAPE '\\' \
                 OR LOWER(COALESCE(c.email, '')) LIKE ${next} ESCAPE '\\')"
            ));
            next += 1;
        }
        sql.push_str(&format!(
            " ORDER BY c.id LIMIT ${next} OFFSET ${}",
            next + 1
        ));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some(phone) = &q.phone {
            query = query.bind(phone.clone());
        }
        if let Some(text) = &q.text {
            query = query.bind(like_pattern(text));
        }
        let rows = query
            .bind(effective_limit(q.limit))
            .bind(i64::from(q.offset))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(contact_from_row).collect()
    }

    /// Replaces a contact's fields; returns false when there is no such
    /// contact.
    pub async fn update_contact(&self, id: ContactId, c: &NewContact) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT id FROM contacts WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Ok(false);
        }
        if let Some(external_id) = &c.external_id {
            let other = sqlx::query("SELECT id FROM contacts WHERE external_id = $1 AND id <> $2")
                .bind(external_id.clone())
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = other {
                let other: i64 = get(&row, "contacts", "id")?;
                return Err(StoreError::Invalid(format!(
                    "external_id `{external_id}` already belongs to contact {other}; use another id or update contact {other}"
                )));
            }
        }
        write_contact(&mut tx, id, c, now_millis()).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Deletes a contact with its phones and interactions; its tickets and
    /// calls stay, without the contact. Returns false when there is no such
    /// contact.
    pub async fn delete_contact(&self, id: ContactId) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM contacts WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Adds an interaction to a contact's timeline and returns its id. An
    /// interaction whose `external_id` is stored already is not added
    /// again: the stored one's id is returned.
    pub async fn add_interaction(&self, i: &NewInteraction) -> Result<i64, StoreError> {
        check_interaction(i)?;
        let mut tx = self.begin_write().await?;
        if let Some(external_id) = &i.external_id {
            let row = sqlx::query("SELECT id FROM interactions WHERE external_id = $1")
                .bind(external_id.clone())
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = row {
                return get(&row, "interactions", "id");
            }
        }
        let exists = sqlx::query("SELECT id FROM contacts WHERE id = $1")
            .bind(i.contact_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Err(StoreError::Invalid(format!(
                "contact {} not found; create the contact first or use the id of an existing one",
                i.contact_id
            )));
        }
        let id = insert_interaction(&mut tx, i, now_millis()).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Returns a contact's interactions, newest first.
    pub async fn interactions(&self, contact: ContactId) -> Result<Vec<Interaction>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, contact_id, channel, direction, occurred_at, summary, call_id, external_id, created_at \
             FROM interactions WHERE contact_id = $1 ORDER BY occurred_at DESC, id DESC",
        )
        .bind(contact)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(interaction_from_row).collect()
    }
}

fn check_interaction(i: &NewInteraction) -> Result<(), StoreError> {
    if !CHANNELS.contains(&i.channel.as_str()) {
        return Err(StoreError::Invalid(format!(
            "invalid channel `{}`; use one of {}",
            i.channel,
            CHANNELS.join(", ")
        )));
    }
    if !DIRECTIONS.contains(&i.direction.as_str()) {
        return Err(StoreError::Invalid(format!(
            "invalid direction `{}`; use `inbound` or `outbound`",
            i.direction
        )));
    }
    Ok(())
}

/// Inserts an interaction without checks.
pub(super) async fn insert_interaction(
    conn: &mut AnyConnection,
    i: &NewInteraction,
    now: Millis,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO interactions (contact_id, channel, direction, occurred_at, summary, call_id, external_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(i.contact_id)
    .bind(i.channel.clone())
    .bind(i.direction.clone())
    .bind(i.occurred_at)
    .bind(i.summary.clone())
    .bind(i.call_id.clone())
    .bind(i.external_id.clone())
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    get(&row, "interactions", "id")
}

/// Finds the contact `c` matches and writes it, or inserts it.
async fn upsert(
    conn: &mut AnyConnection,
    c: &NewContact,
    now: Millis,
) -> Result<Upserted, StoreError> {
    let existing = match_contact(conn, c).await?;
    let upserted = match existing {
        Some(id) => Upserted::Updated(id),
        None => {
            let row = sqlx::query(
                "INSERT INTO contacts (created_at, updated_at) VALUES ($1, $1) RETURNING id",
            )
            .bind(now)
            .fetch_one(&mut *conn)
            .await?;
            Upserted::Created(get(&row, "contacts", "id")?)
        }
    };
    write_contact(conn, upserted.id(), c, now).await?;
    Ok(upserted)
}

async fn match_contact(
    conn: &mut AnyConnection,
    c: &NewContact,
) -> Result<Option<ContactId>, StoreError> {
    if let Some(external_id) = &c.external_id {
        let row = sqlx::query("SELECT id FROM contacts WHERE external_id = $1")
            .bind(external_id.clone())
            .fetch_optional(&mut *conn)
            .await?;
        // A new external id makes a new contact even when a phone matches,
        // and `write_contact` then reports the phone as taken.
        return row.map(|row| get(&row, "contacts", "id")).transpose();
    }
    for phone in &c.phones {
        let row = sqlx::query("SELECT contact_id FROM contact_phones WHERE phone = $1")
            .bind(phone.clone())
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = row {
            return Ok(Some(get(&row, "contact_phones", "contact_id")?));
        }
    }
    if let Some(email) = &c.email {
        let row = sqlx::query("SELECT id FROM contacts WHERE email = $1 ORDER BY id LIMIT 1")
            .bind(email.clone())
            .fetch_optional(&mut *conn)
            .await?;
        return row.map(|row| get(&row, "contacts", "id")).transpose();
    }
    Ok(None)
}

/// Writes every field of `c` to contact `id` and replaces its phones.
/// A phone of another contact is an `Invalid` error, found before anything
/// is written.
async fn write_contact(
    conn: &mut AnyConnection,
    id: ContactId,
    c: &NewContact,
    now: Millis,
) -> Result<(), StoreError> {
    for phone in &c.phones {
        let row = sqlx::query("SELECT contact_id FROM contact_phones WHERE phone = $1")
            .bind(phone.clone())
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = row {
            let owner: i64 = get(&row, "contact_phones", "contact_id")?;
            if owner != id {
                return Err(StoreError::Invalid(format!(
                    "phone {phone} already belongs to contact {owner}; remove it there first or update contact {owner}"
                )));
            }
        }
    }
    let mut phones: Vec<&String> = Vec::with_capacity(c.phones.len());
    for phone in &c.phones {
        if !phones.contains(&phone) {
            phones.push(phone);
        }
    }
    sqlx::query(
        "UPDATE contacts SET external_id = $1, name = $2, company = $3, email = $4, phones = $5, \
         language = $6, vip = $7, fields = $8, updated_at = $9 WHERE id = $10",
    )
    .bind(c.external_id.clone())
    .bind(c.name.clone())
    .bind(c.company.clone())
    .bind(c.email.clone())
    .bind(to_json(&phones))
    .bind(c.language.clone())
    .bind(i64::from(c.vip))
    .bind(to_json(&c.fields))
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM contact_phones WHERE contact_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for phone in phones {
        sqlx::query("INSERT INTO contact_phones (phone, contact_id) VALUES ($1, $2)")
            .bind(phone.clone())
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Reads a row selected with [`CONTACT_COLUMNS`].
pub(super) fn contact_from_row(row: &AnyRow) -> Result<ContactRecord, StoreError> {
    const T: &str = "contacts";
    Ok(ContactRecord {
        id: get(row, T, "id")?,
        external_id: get(row, T, "external_id")?,
        name: get(row, T, "name")?,
        company: get(row, T, "company")?,
        email: get(row, T, "email")?,
        phones: json(row, T, "phones")?,
        language: get(row, T, "language")?,
        vip: flag(row, T, "vip")?,
        fields: json(row, T, "fields")?,
        last_agent: get(row, T, "last_agent")?,
        open_tickets: get(row, T, "open_tickets")?,
        created_at: get(row, T, "created_at")?,
        updated_at: get(row, T, "updated_at")?,
    })
}

fn interaction_from_row(row: &AnyRow) -> Result<Interaction, StoreError> {
    const T: &str = "interactions";
    Ok(Interaction {
        id: get(row, T, "id")?,
        contact_id: get(row, T, "contact_id")?,
        channel: get(row, T, "channel")?,
        direction: get(row, T, "direction")?,
        occurred_at: get(row, T, "occurred_at")?,
        summary: get(row, T, "summary")?,
        call_id: get(row, T, "call_id")?,
        external_id: get(row, T, "external_id")?,
        created_at: get(row, T, "created_at")?,
    })
}
