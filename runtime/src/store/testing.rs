//! Throwaway databases for tests and benchmarks: a SQLite file in a folder
//! the caller owns, or a new PostgreSQL database per test on the server
//! `TOK_TEST_POSTGRES_URL` names (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), so tests run in
//! parallel. `scripts/test` starts a server when none is reachable.

use super::{StoreError, redact_url};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// The variable naming the PostgreSQL server tests use.
pub const POSTGRES_URL_ENV: &str = "TOK_TEST_POSTGRES_URL";

/// The server used when the variable is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Returns the URL of a SQLite file `name` in `folder`.
pub fn sqlite_url(folder: &Path, name: &str) -> String {
    format!("sqlite://{}", folder.join(name).display())
}

/// A PostgreSQL database created for one test.
#[derive(Debug)]
pub struct PostgresDatabase {
    /// The URL of the new database.
    pub url: String,
    admin_url: String,
    name: String,
}

impl PostgresDatabase {
    /// Creates a database `tok_test_<random>` on the test server. The error
    /// explains how to provide a server.
    pub async fn create() -> Result<PostgresDatabase, String> {
        let admin_url =
            std::env::var(POSTGRES_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string());
        let mut conn = PgConnection::connect(&admin_url).await.map_err(|error| {
            format!(
                "cannot reach the test PostgreSQL server `{}`: {error}; run the tests through scripts/test, which starts one, or set {POSTGRES_URL_ENV} to the URL of a server with trust authentication",
                redact_url(&admin_url)
            )
        })?;
        let name = format!("tok_test_{:016x}", random_u64());
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .map_err(|error| format!("cannot create the test database {name}: {error}"))?;
        let _ = conn.close().await;
        Ok(PostgresDatabase {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        })
    }

    /// Drops the database, ending its open connections first.
    pub async fn drop_database(self) -> Result<(), StoreError> {
        let mut conn = PgConnection::connect(&self.admin_url).await?;
        conn.execute(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .await?;
        let _ = conn.close().await;
        Ok(())
    }
}

/// Replaces the database name of a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = base.get(scheme_end..).unwrap_or_default();
    let prefix = match host_part.find('/') {
        Some(slash) => base.get(..scheme_end + slash).unwrap_or(base),
        None => base,
    };
    match query {
        Some(query) => format!("{prefix}/{name}?{query}"),
        None => format!("{prefix}/{name}"),
    }
}

/// Returns a random number from the standard library's per-process hash
/// keys, the time and a counter, which is unique enough for database names.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5433", "t3"),
            "postgres://h:5433/t3"
        );
    }
}
