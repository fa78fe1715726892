//! The durable outbox of follow-ups (webhooks, notifications, tagger
//! requests): items wait here until delivered or expired, with every
//! attempt recorded.

use super::rows::{get, json};
use super::{
    Attempt, AttemptOutcome, Millis, OutboxItem, OutboxQuery, Store, StoreError, effective_limit,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

const OUTBOX_COLUMNS: &str = "o.id, o.call_id, o.seq, o.kind, o.hook, o.url, o.method, o.headers, \
     o.body, o.idempotency_key, o.status, o.attempts, o.next_attempt_at, o.last_error, o.expires_at, \
     o.created_at, o.delivered_at";

impl Store {
    /// Returns the items whose next attempt is due at `now`, at most one per
    /// call: each call's oldest pending item (by seq), so a call's items are
    /// delivered in order. Earliest due first.
    pub async fn due_outbox(&self, now: Millis, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= $1 \
             AND o.seq = (SELECT MIN(p.seq) FROM outbox p WHERE p.call_id = o.call_id AND p.status = 'pending') \
             ORDER BY o.next_attempt_at, o.id LIMIT $2"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(now)
            .bind(effective_limit(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(item_from_row).collect()
    }

    /// Records one delivery attempt and its outcome: delivered, a retry at
    /// a later time, or expired.
    pub async fn record_attempt(
        &self,
        id: i64,
        a: &Attempt,
        outcome: AttemptOutcome,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO outbox_attempts (outbox_id, at, status_code, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(a.at)
        .bind(a.status_code.map(i64::from))
        .bind(a.error.clone())
        .bind(a.duration_ms)
        .execute(&mut *tx)
        .await
        .map_err(|error| match StoreError::from(error) {
            e if e.is_constraint() => StoreError::Invalid(format!(
                "outbox item {id} not found; record attempts of items returned by due_outbox"
            )),
            e => e,
        })?;
        let (status, next, delivered) = match outcome {
            AttemptOutcome::Delivered => ("delivered", None, Some(a.at)),
            AttemptOutcome::Retry(at) => ("pending", Some(at), None),
            AttemptOutcome::Expired => ("expired", None, None),
        };
        sqlx::query(
            "UPDATE outbox SET status = $1, attempts = attempts + 1, \
             next_attempt_at = COALESCE($2, next_attempt_at), last_error = $3, delivered_at = $4 \
             WHERE id = $5",
        )
        .bind(status)
        .bind(next)
        .bind(a.error.clone())
        .bind(delivered)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Lists outbox items with their attempts, oldest first.
    pub async fn outbox(&self, q: &OutboxQuery) -> Result<Vec<OutboxItem>, StoreError> {
        let mut sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox o WHERE 1 = 1");
        let mut next = 1;
        if q.call_id.is_some() {
            sql.push_str(&format!(" AND o.call_id = ${next}"));
            next += 1;
        }
        if q.status.is_some() {
            sql.push_str(&format!(" AND o.status = ${next}"));
            next += 1;
        }
        sql.push_str(&format!(" ORDER BY o.id LIMIT ${next}"));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some(call_id) = &q.call_id {
            query = query.bind(call_id.clone());
        }
        if let Some(status) = &q.status {
            query = query.bind(status.clone());
        }
        let mut conn = self.pool.acquire().await?;
        let rows = query
            .bind(effective_limit(q.limit))
            .fetch_all(&mut *conn)
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut item = item_from_row(row)?;
            item.attempt_log = attempts_of(&mut conn, item.id).await?;
            items.push(item);
        }
        Ok(items)
    }
}

async fn attempts_of(conn: &mut AnyConnection, id: i64) -> Result<Vec<Attempt>, StoreError> {
    const T: &str = "outbox_attempts";
    sqlx::query(
        "SELECT at, status_code, error, duration_ms FROM outbox_attempts WHERE outbox_id = $1 ORDER BY at, id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| {
        let status: Option<i64> = get(row, T, "status_code")?;
        Ok(Attempt {
            at: get(row, T, "at")?,
            status_code: status.and_then(|s| u16::try_from(s).ok()),
            error: get(row, T, "error")?,
            duration_ms: get(row, T, "duration_ms")?,
        })
    })
    .collect()
}

fn item_from_row(row: &AnyRow) -> Result<OutboxItem, StoreError> {
    const T: &str = "outbox";
    let attempts: i64 = get(row, T, "attempts")?;
    Ok(OutboxItem {
        id: get(row, T, "id")?,
        call_id: get(row, T, "call_id")?,
        seq: get(row, T, "seq")?,
        kind: get(row, T, "kind")?,
        hook: get(row, T, "hook")?,
        url: get(row, T, "url")?,
        method: get(row, T, "method")?,
        headers: json(row, T, "headers")?,
        body: get(row, T, "body")?,
        idempotency_key: get(row, T, "idempotency_key")?,
        status: get(row, T, "status")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at: get(row, T, "next_attempt_at")?,
        last_error: get(row, T, "last_error")?,
        expires_at: get(row, T, "expires_at")?,
        created_at: get(row, T, "created_at")?,
        delivered_at: get(row, T, "delivered_at")?,
        attempt_log: Vec::new(),
    })
}
