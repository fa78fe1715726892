//! The one error type of the store.

use sqlx::error::ErrorKind;

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL cannot be used.
    #[error(
        "invalid database URL `{url}`: {reason}; set `database` in tok.yaml to `sqlite://tok.db`, `sqlite:///var/lib/tok/tok.db` or `postgres://user@host/dbname`"
    )]
    Url {
        /// The URL, password redacted.
        url: String,
        /// The problem with it.
        reason: String,
    },
    /// The database could not be reached or opened.
    #[error("cannot open the database `{url}`: {source}; check that it is running and reachable")]
    Connect {
        /// The URL, password redacted.
        url: String,
        /// sqlx's error.
        source: sqlx::Error,
    },
    /// The database has a migration this binary does not know.
    #[error(
        "the database was migrated by a newer flowd: it has migration {version}, and this flowd knows migrations up to {known}; upgrade flowd to the version that wrote it"
    )]
    NewerDatabase {
        /// The unknown migration's version.
        version: i64,
        /// The newest migration this binary has.
        known: i64,
    },
    /// Applying the migrations failed.
    #[error("cannot migrate the database: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    /// The request is invalid; retrying it will not help.
    #[error("{0}")]
    Invalid(String),
    /// A stored value cannot be read back.
    #[error("corrupt stored value in {table}.{column}: {reason}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// Column.
        column: &'static str,
        /// The problem.
        reason: String,
    },
    /// The database failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// True when the database could not be reached or was busy, so the same
    /// request may succeed later; false for a request that is wrong.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Connect { .. } => true,
            StoreError::Database(error) => sqlx_unavailable(error),
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(error)) => {
                sqlx_unavailable(error)
            }
            _ => false,
        }
    }

    /// True when a unique or foreign-key constraint rejected the request.
    pub fn is_constraint(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(error)) => matches!(
                error.kind(),
                ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation
            ),
            _ => false,
        }
    }
}

fn sqlx_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(error) => {
            let code = error.code().unwrap_or_default();
            // SQLite: SQLITE_BUSY (5), SQLITE_LOCKED (6), SQLITE_IOERR (10)
            // and SQLITE_FULL (13), with or without extended bits.
            // PostgreSQL: class 08 (connection exception), 53 (insufficient
            // resources), 57 (operator intervention) and 40001/40P01
            // (serialization failure, deadlock).
            let primary_sqlite = code.parse::<i32>().map(|c| c & 0xff).ok();
            matches!(primary_sqlite, Some(5 | 6 | 10 | 13))
                || code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57")
                || code == "40001"
                || code == "40P01"
        }
        _ => false,
    }
}
