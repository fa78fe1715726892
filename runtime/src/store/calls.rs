//! Call records: the row written when a call starts, the full record with
//! its timeline entry, ticket link and outbox items when it ends, and the
//! calls a crash interrupted.

use super::contacts::insert_interaction;
use super::rows::{get, json, to_json};
use super::tickets::{insert_ticket, open_ticket_of};
use super::{
    Backend, CallQuery, CallRow, CallStart, CallTag, FinishedCall, Millis, NewInteraction,
    PathStep, Store, StoreError, TagSource, TicketAction, effective_limit, now_millis,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

const CALL_COLUMNS: &str = "call_id, status, flow, flow_version, caller, dialled, contact_id, \
     started_at, answered_at, ended_at, outcome, ended_by, sip_reason, queue, agent, wait_ms, \
     talk_ms, wrapup_ms, rating, recording, ticket_id, legs, path, timeline";

impl Store {
    /// Writes the row of a call that has been answered (status `active`)
    /// with its answer time and legs, so a crash leaves a record that
    /// `interrupt_active_calls` completes. Idempotent by call id: a call
    /// already stored is left as it is.
    pub async fn call_started(&self, c: &CallStart) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO calls (call_id, status, flow, flow_version, caller, dialled, started_at, \
             answered_at, recording, legs) VALUES ($1, 'active', $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (call_id) DO NOTHING",
        )
        .bind(c.call_id.clone())
        .bind(c.flow.clone())
        .bind(c.flow_version.clone())
        .bind(c.caller.clone())
        .bind(c.dialled.clone())
        .bind(c.started_at)
        .bind(c.answered_at)
        .bind(c.recording.clone())
        .bind(to_json(&c.legs))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets the contact a lookup found, and the path up to that lookup, on
    /// a call that is still `active`, so a crash leaves the call in the
    /// contact's calls. A contact deleted meanwhile leaves `contact_id`
    /// null. An ended call keeps its final record and a call not stored is
    /// ignored, so a replay is harmless.
    pub async fn call_contact(
        &self,
        call_id: &str,
        contact_id: i64,
        path: &[PathStep],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE calls SET contact_id = (SELECT id FROM contacts WHERE id = $2), path = $3 \
             WHERE call_id = $1 AND status = 'active'",
        )
        .bind(call_id.to_string())
        .bind(contact_id)
        .bind(to_json(path))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Writes the queue, agent and wait of a call that is still `active`
    /// once an agent answered. An ended call keeps its final record, so a
    /// replay is harmless.
    pub async fn call_bridged(
        &self,
        call_id: &str,
        queue: &str,
        agent: &str,
        wait_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE calls SET queue = $2, agent = $3, wait_ms = $4 \
             WHERE call_id = $1 AND status = 'active'",
        )
        .bind(call_id.to_string())
        .bind(queue.to_string())
        .bind(agent.to_string())
        .bind(wait_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Links the recording `recording` (a path relative to the recordings
    /// folder) to a call that is still `active`, so a crash leaves the
    /// call's WAV named in its record. An ended call keeps its final record
    /// and a call not stored is ignored, so a replay is harmless.
    pub async fn call_recording(&self, call_id: &str, recording: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE calls SET recording = $2 WHERE call_id = $1 AND status = 'active'")
            .bind(call_id.to_string())
            .bind(recording.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Writes a call's record in one transaction. It stores the call row as
    /// `ended` with legs, path, times, outcome, rating, recording and tags.
    /// For a known contact it adds the timeline entry and sets the last
    /// agent. It links the ticket or opens one, and queues the outbox items
    /// in order. A call already `ended` is left as it is and Ok is returned,
    /// so replaying a record after a crash is safe. A call marked
    /// `interrupted` at start-up is overwritten, since the replayed record
    /// is complete.
    pub async fn call_finished(&self, f: &FinishedCall) -> Result<(), StoreError> {
        if let Some(rating) = f.rating
            && !(1..=5).contains(&rating)
        {
            return Err(StoreError::Invalid(format!(
                "invalid rating {rating} for call {}; a survey rating is 1 to 5",
                f.call_id
            )));
        }
        let now = now_millis();
        let mut tx = self.begin_write().await?;
        let status = sqlx::query("SELECT status FROM calls WHERE call_id = $1")
            .bind(f.call_id.clone())
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| get::<String>(&row, "calls", "status"))
            .transpose()?;
        if status.as_deref() == Some("ended") {
            return Ok(());
        }
        // A contact deleted during the call is dropped from the record
        // rather than failing it. On PostgreSQL the contact's row is locked,
        // so two calls of one contact that end together do not both open a
        // ticket; SQLite's write transactions already run one at a time.
        let lock_contact = match self.backend {
            Backend::Sqlite => "SELECT id FROM contacts WHERE id = $1",
            Backend::Postgres => "SELECT id FROM contacts WHERE id = $1 FOR UPDATE",
        };
        let contact_id = match f.contact_id {
            Some(id) => sqlx::query(lock_contact)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|_| id),
            None => None,
        };
        write_call_row(&mut tx, f, contact_id, status.is_some()).await?;
        for (tag, source) in &f.tags {
            insert_call_tag(&mut tx, &f.call_id, tag, *source).await?;
        }
        if let Some(contact) = contact_id {
            let summary = if f.timeline.is_empty() {
                default_summary(f)
            } else {
                f.timeline.join("\n")
            };
            let entry = NewInteraction {
                contact_id: contact,
                channel: String::from("call"),
                direction: String::from("inbound"),
                occurred_at: f.started_at,
                summary,
                call_id: Some(f.call_id.clone()),
                external_id: Some(format!("call:{}", f.call_id)),
            };
            insert_interaction(&mut tx, &entry, now).await?;
            if let Some(agent) = &f.agent {
                sqlx::query("UPDATE contacts SET last_agent = $1, updated_at = $2 WHERE id = $3")
                    .bind(agent.clone())
                    .bind(now)
                    .bind(contact)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if let Some(action) = &f.ticket {
            link_ticket(&mut tx, f, contact_id, action, now).await?;
        }
        let first_seq: i64 =
            sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM outbox WHERE call_id = $1")
                .bind(f.call_id.clone())
                .fetch_one(&mut *tx)
                .await
                .map_err(StoreError::from)
                .and_then(|row| get(&row, "outbox", "seq"))?;
        for (index, item) in f.outbox.iter().enumerate() {
            let seq = first_seq + 1 + i64::try_from(index).unwrap_or(i64::MAX - first_seq - 1);
            let key = if item.idempotency_key.is_empty() {
                format!("{}:{seq}", f.call_id)
            } else {
                item.idempotency_key.clone()
            };
            sqlx::query(
                "INSERT INTO outbox (call_id, seq, kind, hook, url, method, headers, body, idempotency_key, \
                 status, attempts, next_attempt_at, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $11, $10)",
            )
            .bind(f.call_id.clone())
            .bind(seq)
            .bind(item.kind.clone())
            .bind(item.hook.clone())
            .bind(item.url.clone())
            .bind(item.method.clone())
            .bind(to_json(&item.headers))
            .bind(item.body.clone())
            .bind(key)
            .bind(now)
            .bind(item.expires_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks every call still `active` as `interrupted` (ended at `now`,
    /// outcome `interrupted`) and returns their call ids. The answer time,
    /// legs, path, contact and recording journaled during the call stay
    /// as they are. Run at start-up,
    /// before new calls are taken.
    pub async fn interrupt_active_calls(&self, now: Millis) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "UPDATE calls SET status = 'interrupted', ended_at = $1, outcome = 'interrupted' \
             WHERE status = 'active' RETURNING call_id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut ids = rows
            .iter()
            .map(|row| get(row, "calls", "call_id"))
            .collect::<Result<Vec<String>, StoreError>>()?;
        ids.sort();
        Ok(ids)
    }

    /// Returns a call with its tags.
    pub async fn call(&self, call_id: &str) -> Result<Option<CallRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE call_id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(call_id.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        match row {
            Some(row) => Ok(Some(load_call(&mut conn, &row).await?)),
            None => Ok(None),
        }
    }

    /// Lists calls that match the query, newest first.
    pub async fn calls(&self, q: &CallQuery) -> Result<Vec<CallRow>, StoreError> {
        let mut sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE 1 = 1");
        let mut next = 1;
        if q.contact_id.is_some() {
            sql.push_str(&format!(" AND contact_id = ${next}"));
            next += 1;
        }
        if q.caller.is_some() {
            sql.push_str(&format!(" AND caller = ${next}"));
            next += 1;
        }
        if q.since.is_some() {
            sql.push_str(&format!(" AND started_at >= ${next}"));
            next += 1;
        }
        sql.push_str(&format!(
            " ORDER BY started_at DESC, call_id LIMIT ${next} OFFSET ${}",
            next + 1
        ));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some(contact) = q.contact_id {
            query = query.bind(contact);
        }
        if let Some(caller) = &q.caller {
            query = query.bind(caller.clone());
        }
        if let Some(since) = q.since {
            query = query.bind(since);
        }
        let mut conn = self.pool.acquire().await?;
        let rows = query
            .bind(effective_limit(q.limit))
            .bind(i64::from(q.offset))
            .fetch_all(&mut *conn)
            .await?;
        let mut calls = Vec::with_capacity(rows.len());
        for row in &rows {
            calls.push(load_call(&mut conn, row).await?);
        }
        Ok(calls)
    }

    /// Adds tags to a stored call; a tag it has already keeps its first
    /// source.
    pub async fn add_call_tags(
        &self,
        call_id: &str,
        tags: &[String],
        source: TagSource,
    ) -> Result<(), StoreError> {
        if let Some(tag) = tags.iter().find(|t| t.trim().is_empty()) {
            return Err(StoreError::Invalid(format!(
                "a tag is empty (`{tag}`); write tags such as \"billing\""
            )));
        }
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT call_id FROM calls WHERE call_id = $1")
            .bind(call_id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Err(StoreError::Invalid(format!(
                "call `{call_id}` not found; tag a call after its record is stored"
            )));
        }
        for tag in tags {
            insert_call_tag(&mut tx, call_id, tag.trim(), source).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn default_summary(f: &FinishedCall) -> String {
    let caller = f.caller.as_deref().unwrap_or("an anonymous caller");
    match &f.agent {
        Some(agent) => format!(
            "Call from {caller} to {}, {} with {agent}",
            f.dialled, f.outcome
        ),
        None => format!("Call from {caller} to {}, {}", f.dialled, f.outcome),
    }
}

async fn write_call_row(
    conn: &mut AnyConnection,
    f: &FinishedCall,
    contact_id: Option<i64>,
    exists: bool,
) -> Result<(), StoreError> {
    let sql = if exists {
        "UPDATE calls SET status = 'ended', flow = $2, flow_version = $3, caller = $4, dialled = $5, \
         contact_id = $6, started_at = $7, answered_at = $8, ended_at = $9, outcome = $10, ended_by = $11, \
         sip_reason = $12, queue = $13, agent = $14, wait_ms = $15, talk_ms = $16, wrapup_ms = $17, \
         rating = $18, recording = $19, legs = $20, path = $21, timeline = $22 WHERE call_id = $1"
    } else {
        "INSERT INTO calls (call_id, status, flow, flow_version, caller, dialled, contact_id, started_at, \
         answered_at, ended_at, outcome, ended_by, sip_reason, queue, agent, wait_ms, talk_ms, wrapup_ms, \
         rating, recording, legs, path, timeline) VALUES ($1, 'ended', $2, $3, $4, $5, $6, $7, $8, $9, $10, \
         $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
    };
    sqlx::query(sql)
        .bind(f.call_id.clone())
        .bind(f.flow.clone())
        .bind(f.flow_version.clone())
        .bind(f.caller.clone())
        .bind(f.dialled.clone())
        .bind(contact_id)
        .bind(f.started_at)
        .bind(f.answered_at)
        .bind(f.ended_at)
        .bind(f.outcome.clone())
        .bind(f.ended_by.clone())
        .bind(f.sip_reason.clone())
        .bind(f.queue.clone())
        .bind(f.agent.clone())
        .bind(f.wait_ms)
        .bind(f.talk_ms)
        .bind(f.wrapup_ms)
        .bind(f.rating.map(i64::from))
        .bind(f.recording.clone())
        .bind(to_json(&f.legs))
        .bind(to_json(&f.path))
        .bind(to_json(&f.timeline))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn link_ticket(
    conn: &mut AnyConnection,
    f: &FinishedCall,
    contact_id: Option<i64>,
    action: &TicketAction,
    now: Millis,
) -> Result<(), StoreError> {
    let open = match contact_id {
        Some(contact) => open_ticket_of(conn, contact).await?,
        None => None,
    };
    let ticket = match (action, open) {
        (TicketAction::Link, open) => open,
        (TicketAction::LinkOrCreate(_), Some(open)) => Some(open),
        (TicketAction::Create(subject) | TicketAction::LinkOrCreate(subject), _) => {
            Some(insert_ticket(conn, contact_id, subject, f.caller.as_deref(), now).await?)
        }
    };
    let Some(ticket) = ticket else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO ticket_calls (ticket_id, call_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(ticket)
    .bind(f.call_id.clone())
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE tickets SET updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(ticket)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE calls SET ticket_id = $1 WHERE call_id = $2")
        .bind(ticket)
        .bind(f.call_id.clone())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn insert_call_tag(
    conn: &mut AnyConnection,
    call_id: &str,
    tag: &str,
    source: TagSource,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO call_tags (call_id, tag, source) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(call_id.to_string())
    .bind(tag.to_string())
    .bind(source.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn load_call(conn: &mut AnyConnection, row: &AnyRow) -> Result<CallRow, StoreError> {
    const T: &str = "calls";
    let call_id: String = get(row, T, "call_id")?;
    let tags = sqlx::query("SELECT tag, source FROM call_tags WHERE call_id = $1 ORDER BY tag")
        .bind(call_id.clone())
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| {
            Ok(CallTag {
                tag: get(row, "call_tags", "tag")?,
                source: TagSource::parse(&get::<String>(row, "call_tags", "source")?),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let rating: Option<i64> = get(row, T, "rating")?;
    Ok(CallRow {
        call_id,
        status: get(row, T, "status")?,
        flow: get(row, T, "flow")?,
        flow_version: get(row, T, "flow_version")?,
        caller: get(row, T, "caller")?,
        dialled: get(row, T, "dialled")?,
        contact_id: get(row, T, "contact_id")?,
        started_at: get(row, T, "started_at")?,
        answered_at: get(row, T, "answered_at")?,
        ended_at: get(row, T, "ended_at")?,
        outcome: get(row, T, "outcome")?,
        ended_by: get(row, T, "ended_by")?,
        sip_reason: get(row, T, "sip_reason")?,
        queue: get(row, T, "queue")?,
        agent: get(row, T, "agent")?,
        wait_ms: get(row, T, "wait_ms")?,
        talk_ms: get(row, T, "talk_ms")?,
        wrapup_ms: get(row, T, "wrapup_ms")?,
        rating: rating.and_then(|r| u8::try_from(r).ok()),
        recording: get(row, T, "recording")?,
        ticket_id: get(row, T, "ticket_id")?,
        legs: json(row, T, "legs")?,
        path: json(row, T, "path")?,
        timeline: json(row, T, "timeline")?,
        tags,
    })
}
