//! Durable callbacks: a caller who asked to be called back keeps the place
//! of their original enqueue (`entered_at`), and the row stays `pending`
//! or `dialing` until a final `done` or `failed`, across restarts.

use super::rows::get;
use super::{
    CALLBACK_STATUSES, CallbackRow, Millis, NewCallback, Store, StoreError, effective_limit,
    now_millis,
};
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

const CALLBACK_COLUMNS: &str = "id, call_id, flow, queue, number, language, priority, entered_at, \
     status, attempts, next_attempt_at, last_error, agent, outcome, created_at, updated_at";

/// Checks that `number` is E.164: `+` and 7 to 15 digits.
fn check_number(number: &str) -> Result<(), StoreError> {
    let digits = number.strip_prefix('+').unwrap_or_default();
    if (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "invalid callback number `{number}`: write it in E.164 as `+` and 7 to 15 digits, such as `+38615550100`"
        )))
    }
}

fn check_status(status: &str) -> Result<(), StoreError> {
    if CALLBACK_STATUSES.contains(&status) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "invalid callback status `{status}`; use one of {}",
            CALLBACK_STATUSES.join(", ")
        )))
    }
}

impl Store {
    /// Stores a new `pending` callback whose first attempt is due now.
    pub async fn insert_callback(&self, cb: &NewCallback) -> Result<CallbackRow, StoreError> {
        check_number(&cb.number)?;
        for (field, value) in [
            ("call_id", &cb.call_id),
            ("flow", &cb.flow),
            ("queue", &cb.queue),
        ] {
            if value.trim().is_empty() {
                return Err(StoreError::Invalid(format!(
                    "the callback's {field} is empty; give the {field} of the call that asked for it"
                )));
            }
        }
        let now = now_millis();
        let sql = format!(
            "INSERT INTO callbacks (call_id, flow, queue, number, language, priority, entered_at, \
             status, attempts, next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8, $8) RETURNING {CALLBACK_COLUMNS}"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(cb.call_id.clone())
            .bind(cb.flow.clone())
            .bind(cb.queue.clone())
            .bind(cb.number.clone())
            .bind(cb.language.clone())
            .bind(cb.priority)
            .bind(cb.entered_at)
            .bind(now)
            .fetch_one(&self.pool)
            .await?;
        let callback = callback_from_row(&row)?;
        tracing::info!(
            call_id = %callback.call_id,
            callback = callback.id,
            queue = %callback.queue,
            "callback stored"
        );
        Ok(callback)
    }

    /// Returns the callbacks still to be made: `pending` ones and `dialing`
    /// ones, which a crash or restart cut off. Oldest enqueue first.
    pub async fn pending_callbacks(&self) -> Result<Vec<CallbackRow>, StoreError> {
        let sql = format!(
            "SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE status IN ('pending', 'dialing') \
             ORDER BY entered_at, id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(callback_from_row).collect()
    }

    /// Writes a callback's progress: its status, attempts so far, next
    /// attempt time, agent, outcome and last error.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_callback(
        &self,
        id: i64,
        status: &str,
        attempts: u32,
        next_attempt_at: Millis,
        agent: Option<&str>,
        outcome: Option<&str>,
        last_error: Option<&str>,
    ) -> Result<(), StoreError> {
        check_status(status)?;
        let result = sqlx::query(
            "UPDATE callbacks SET status = $1, attempts = $2, next_attempt_at = $3, agent = $4, \
             outcome = $5, last_error = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(status.to_string())
        .bind(i64::from(attempts))
        .bind(next_attempt_at)
        .bind(agent.map(str::to_string))
        .bind(outcome.map(str::to_string))
        .bind(last_error.map(str::to_string))
        .bind(now_millis())
        .bind(id)
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::Invalid(format!(
                "callback {id} not found; update callbacks returned by pending_callbacks or insert_callback"
            )));
        }
        tracing::debug!(callback = id, status, attempts, "callback updated");
        Ok(())
    }

    /// Lists callbacks, optionally of one status, newest first. `limit` 0
    /// means the default of 100.
    pub async fn callbacks(
        &self,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CallbackRow>, StoreError> {
        if let Some(status) = status {
            check_status(status)?;
        }
        let filter = match status {
            Some(_) => "WHERE status = $1 ORDER BY id DESC LIMIT $2",
            None => "ORDER BY id DESC LIMIT $1",
        };
        let sql = format!("SELECT {CALLBACK_COLUMNS} FROM callbacks {filter}");
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some(status) = status {
            query = query.bind(status.to_string());
        }
        let rows = query
            .bind(effective_limit(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(callback_from_row).collect()
    }
}

fn callback_from_row(row: &AnyRow) -> Result<CallbackRow, StoreError> {
    const T: &str = "callbacks";
    let attempts: i64 = get(row, T, "attempts")?;
    Ok(CallbackRow {
        id: get(row, T, "id")?,
        call_id: get(row, T, "call_id")?,
        flow: get(row, T, "flow")?,
        queue: get(row, T, "queue")?,
        number: get(row, T, "number")?,
        language: get(row, T, "language")?,
        priority: get(row, T, "priority")?,
        entered_at: get(row, T, "entered_at")?,
        status: get(row, T, "status")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at: get(row, T, "next_attempt_at")?,
        last_error: get(row, T, "last_error")?,
        agent: get(row, T, "agent")?,
        outcome: get(row, T, "outcome")?,
        created_at: get(row, T, "created_at")?,
        updated_at: get(row, T, "updated_at")?,
    })
}
