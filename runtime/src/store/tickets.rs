//! Tickets with their notes, tags and linked calls.

use super::rows::get;
use super::{
    ContactId, Millis, NewTicket, Note, Store, StoreError, TICKET_STATUSES, Ticket, TicketQuery,
    TicketUpdate, effective_limit, now_millis,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

const TICKET_COLUMNS: &str = "id, contact_id, subject, status, caller, created_at, updated_at";

impl Store {
    /// Opens a ticket and returns its id.
    pub async fn create_ticket(&self, t: &NewTicket) -> Result<i64, StoreError> {
        if t.subject.trim().is_empty() {
            return Err(StoreError::Invalid(String::from(
                "the ticket subject is empty; write a short subject such as \"Router does not connect\"",
            )));
        }
        let mut tx = self.begin_write().await?;
        if let Some(contact) = t.contact_id {
            require_contact(&mut tx, contact).await?;
        }
        let id = insert_ticket(
            &mut tx,
            t.contact_id,
            &t.subject,
            t.caller.as_deref(),
            now_millis(),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Returns a ticket with its notes, tags and calls.
    pub async fn ticket(&self, id: i64) -> Result<Option<Ticket>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        match row {
            Some(row) => Ok(Some(load_ticket(&mut conn, &row).await?)),
            None => Ok(None),
        }
    }

    /// Lists tickets that match the query, most recently changed first.
    pub async fn tickets(&self, q: &TicketQuery) -> Result<Vec<Ticket>, StoreError> {
        let mut sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE 1 = 1");
        let mut next = 1;
        if q.contact_id.is_some() {
            sql.push_str(&format!(" AND contact_id = ${next}"));
            next += 1;
        }
        if q.status.is_some() {
            sql.push_str(&format!(" AND status = ${next}"));
            next += 1;
        }
        sql.push_str(&format!(
            " ORDER BY updated_at DESC, id DESC LIMIT ${next} OFFSET ${}",
            next + 1
        ));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some(contact) = q.contact_id {
            query = query.bind(contact);
        }
        if let Some(status) = &q.status {
            query = query.bind(status.clone());
        }
        let mut conn = self.pool.acquire().await?;
        let rows = query
            .bind(effective_limit(q.limit))
            .bind(i64::from(q.offset))
            .fetch_all(&mut *conn)
            .await?;
        let mut tickets = Vec::with_capacity(rows.len());
        for row in &rows {
            tickets.push(load_ticket(&mut conn, row).await?);
        }
        Ok(tickets)
    }

    /// Changes a ticket's status or subject and adds notes and tags; returns
    /// false when there is no such ticket.
    pub async fn update_ticket(&self, id: i64, u: &TicketUpdate) -> Result<bool, StoreError> {
        if let Some(status) = &u.status
            && !TICKET_STATUSES.contains(&status.as_str())
        {
            return Err(StoreError::Invalid(format!(
                "invalid ticket status `{status}`; use `open`, `pending` or `closed`"
            )));
        }
        if let Some(subject) = &u.subject
            && subject.trim().is_empty()
        {
            return Err(StoreError::Invalid(String::from(
                "the ticket subject is empty; write a short subject or leave `subject` out",
            )));
        }
        if let Some(note) = u.notes.iter().find(|n| n.text.trim().is_empty()) {
            return Err(StoreError::Invalid(format!(
                "a note{} is empty; write the note's text",
                note.author
                    .as_deref()
                    .map(|a| format!(" by {a}"))
                    .unwrap_or_default()
            )));
        }
        if u.tags.iter().any(|t| t.trim().is_empty()) {
            return Err(StoreError::Invalid(String::from(
                "a tag is empty; write tags such as \"billing\"",
            )));
        }
        let now = now_millis();
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "UPDATE tickets SET status = COALESCE($1, status), subject = COALESCE($2, subject), \
             updated_at = $3 WHERE id = $4",
        )
        .bind(u.status.clone())
        .bind(u.subject.clone())
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        for note in &u.notes {
            sqlx::query(
                "INSERT INTO ticket_notes (ticket_id, at, author, text) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(now)
            .bind(note.author.clone())
            .bind(note.text.clone())
            .execute(&mut *tx)
            .await?;
        }
        for tag in &u.tags {
            sqlx::query(
                "INSERT INTO ticket_tags (ticket_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(tag.trim().to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// Fails with `Invalid` when the contact does not exist.
pub(super) async fn require_contact(
    conn: &mut AnyConnection,
    id: ContactId,
) -> Result<(), StoreError> {
    let exists = sqlx::query("SELECT id FROM contacts WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    if exists {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "contact {id} not found; use the id of an existing contact or leave `contact_id` out"
        )))
    }
}

/// Inserts an open ticket and returns its id.
pub(super) async fn insert_ticket(
    conn: &mut AnyConnection,
    contact: Option<ContactId>,
    subject: &str,
    caller: Option<&str>,
    now: Millis,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "INSERT INTO tickets (contact_id, subject, status, caller, created_at, updated_at) \
         VALUES ($1, $2, 'open', $3, $4, $4) RETURNING id",
    )
    .bind(contact)
    .bind(subject.to_string())
    .bind(caller.map(str::to_string))
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    get(&row, "tickets", "id")
}

/// Returns the contact's most recently changed ticket that is not closed.
pub(super) async fn open_ticket_of(
    conn: &mut AnyConnection,
    contact: ContactId,
) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query(
        "SELECT id FROM tickets WHERE contact_id = $1 AND status <> 'closed' \
         ORDER BY updated_at DESC, id DESC LIMIT 1",
    )
    .bind(contact)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| get(&row, "tickets", "id")).transpose()
}

async fn load_ticket(conn: &mut AnyConnection, row: &AnyRow) -> Result<Ticket, StoreError> {
    const T: &str = "tickets";
    let id: i64 = get(row, T, "id")?;
    let notes = sqlx::query(
        "SELECT at, author, text FROM ticket_notes WHERE ticket_id = $1 ORDER BY at, id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| {
        Ok(Note {
            at: get(row, "ticket_notes", "at")?,
            author: get(row, "ticket_notes", "author")?,
            text: get(row, "ticket_notes", "text")?,
        })
    })
    .collect::<Result<Vec<_>, StoreError>>()?;
    let tags = sqlx::query("SELECT tag FROM ticket_tags WHERE ticket_id = $1 ORDER BY tag")
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| get(row, "ticket_tags", "tag"))
        .collect::<Result<Vec<String>, StoreError>>()?;
    let call_ids =
        sqlx::query("SELECT call_id FROM ticket_calls WHERE ticket_id = $1 ORDER BY call_id")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| get(row, "ticket_calls", "call_id"))
            .collect::<Result<Vec<String>, StoreError>>()?;
    Ok(Ticket {
        id,
        contact_id: get(row, T, "contact_id")?,
        subject: get(row, T, "subject")?,
        status: get(row, T, "status")?,
        caller: get(row, T, "caller")?,
        notes,
        tags,
        call_ids,
        created_at: get(row, T, "created_at")?,
        updated_at: get(row, T, "updated_at")?,
    })
}
