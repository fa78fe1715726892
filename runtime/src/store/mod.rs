//! flowd's database: the built-in CRM, call records, the outbox of
//! follow-ups, agents with their state history, and callbacks, on SQLite (the embedded default) or PostgreSQL.
//!
//! One `Store` runs the same SQL on both backends through sqlx's `Any`
//! driver: every statement uses `$1`-style parameters, which SQLite reads
//! too, and only integers and text cross the driver (booleans are 0 or 1,
//! lists and maps are JSON text). Each backend has its own migrations
//! folder, embedded in the binary and run by [`Store::open`].

mod agents;
mod callbacks;
mod calls;
mod contacts;
mod error;
mod outbox;
mod registrations;
mod rows;
pub mod testing;
mod tickets;
mod types;

pub use agents::{
    MAX_NAME_LENGTH, MAX_PASSWORD_LENGTH, check_agent, check_agent_name, check_sip_user, ha1_md5,
    ha1_sha256,
};
pub use contacts::Upserted;

pub use error::StoreError;
pub use registrations::RegistrationRow;
pub use types::*;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{AnyPool, ConnectOptions, Connection};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The migrations of the SQLite schema.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

/// The migrations of the PostgreSQL schema.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// The table where sqlx records applied migrations.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// How long a SQLite statement waits for another connection's write lock.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a statement waits for a free pool connection before the store
/// reports the database unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The database behind a [`Store`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// Returns the backend's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A connection pool to flowd's database. Cloning is cheap and shares the
/// pool.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Opens the database named by `database` in tok.yaml (`sqlite://tok.db`,
    /// `sqlite:///var/lib/tok/tok.db`, `postgres://user@host/db`): creates
    /// a SQLite file and its folder on first start in WAL mode, runs the
    /// embedded migrations of that backend, and rejects a database migrated
    /// by a newer flowd. Nothing is retried.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, any_url) = match backend_of(url) {
            Some(Backend::Sqlite) => (Backend::Sqlite, prepare_sqlite(url).await?),
            Some(Backend::Postgres) => (Backend::Postgres, url.to_string()),
            None => {
                return Err(StoreError::Url {
                    url: redact_url(url),
                    reason: String::from("the scheme is neither `sqlite:` nor `postgres:`"),
                });
            }
        };
        let options = AnyConnectOptions::from_str(&any_url)
            .map_err(|error| StoreError::Url {
                url: redact_url(url),
                reason: error.to_string(),
            })?
            .disable_statement_logging();
        let mut pool_options = AnyPoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
        if backend == Backend::Sqlite {
            // One writer at a time is SQLite's model; a few readers in WAL
            // mode run beside it.
            pool_options = pool_options.max_connections(4);
        }
        // One direct attempt first: the pool retries a refused connection
        // until its acquire timeout, and `open` reports a dead database at
        // once.
        let probe = sqlx::AnyConnection::connect_with(&options)
            .await
            .map_err(|source| StoreError::Connect {
                url: redact_url(url),
                source,
            })?;
        probe.close().await?;
        let pool =
            pool_options
                .connect_with(options)
                .await
                .map_err(|source| StoreError::Connect {
                    url: redact_url(url),
                    source,
                })?;
        let store = Store { pool, backend };
        store.migrate().await?;
        tracing::info!(backend = backend.as_str(), "database opened");
        Ok(store)
    }

    /// Returns which database the store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs `SELECT 1`, to find out whether the database is reachable again
    /// after an error that `is_unavailable`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection of the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Returns the pool, for tests and benchmarks that fill the database in
    /// bulk.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a transaction that writes. On SQLite it takes the write lock
    /// at `BEGIN IMMEDIATE`, so concurrent writers wait for the busy timeout
    /// instead of failing when a read lock cannot be upgraded.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let transaction = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(transaction)
    }

    /// Returns the migrations this binary applies to its backend.
    pub fn migrator(backend: Backend) -> &'static Migrator {
        match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// Rejects a database with a migration this binary does not have, then
    /// applies the missing ones.
    async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = Store::migrator(self.backend);
        let mut conn = self.pool.acquire().await?;
        conn.ensure_migrations_table(MIGRATIONS_TABLE)
            .await
            .map_err(StoreError::Migrate)?;
        let applied = conn
            .list_applied_migrations(MIGRATIONS_TABLE)
            .await
            .map_err(StoreError::Migrate)?;
        let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
        if let Some(newer) = applied.iter().find(|a| !migrator.version_exists(a.version)) {
            return Err(StoreError::NewerDatabase {
                version: newer.version,
                known,
            });
        }
        migrator
            .run(&mut *conn)
            .await
            .map_err(StoreError::Migrate)?;
        Ok(())
    }
}

/// Returns the backend a database URL names.
pub fn backend_of(url: &str) -> Option<Backend> {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("sqlite:") {
        Some(Backend::Sqlite)
    } else if lower.starts_with("postgres:") || lower.starts_with("postgresql:") {
        Some(Backend::Postgres)
    } else {
        None
    }
}

/// Returns the file a `sqlite:` URL names, without the query string.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.trim();
    let rest = rest
        .strip_prefix("sqlite://")
        .or_else(|| rest.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

/// Returns a `sqlite:` URL whose relative path is taken from `folder`, so
/// `sqlite://tok.db` in a config file means the file beside it. Other URLs
/// are returned unchanged.
pub fn resolve_sqlite_url(url: &str, folder: &Path) -> String {
    let Some(path) = sqlite_path(url) else {
        return url.to_string();
    };
    if path.is_absolute() {
        return url.to_string();
    }
    let query = url
        .split_once('?')
        .map(|(_, query)| format!("?{query}"))
        .unwrap_or_default();
    format!("sqlite://{}{query}", folder.join(path).display())
}

/// Creates the SQLite file and its folder if missing, switches it to WAL
/// (a setting the file keeps), and returns the URL the pool opens.
async fn prepare_sqlite(url: &str) -> Result<String, StoreError> {
    let Some(path) = sqlite_path(url) else {
        return Err(StoreError::Url {
            url: url.to_string(),
            reason: String::from("it names no file; flowd keeps its records in a file"),
        });
    };
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|error| StoreError::Url {
            url: url.to_string(),
            reason: format!("cannot create the folder `{}`: {error}", folder.display()),
        })?;
    }
    let options = sqlite_options(&path);
    // Switching to WAL takes an exclusive lock that a busy timeout does not
    // wait for, so it is done once here, before the pool opens connections.
    let conn = options
        .clone()
        .journal_mode(SqliteJournalMode::Wal)
        .connect()
        .await
        .map_err(|source| StoreError::Connect {
            url: url.to_string(),
            source,
        })?;
    conn.close().await?;
    Ok(format!("sqlite://{}?mode=rw", path.display()))
}

/// Returns the connection settings of flowd's SQLite file.
fn sqlite_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .synchronous(SqliteSynchronous::Normal)
}

/// Returns a database URL with its password replaced by `***`, for
/// messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// Returns the current time in milliseconds since the Unix epoch.
pub fn now_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::{redact_url, resolve_sqlite_url, sqlite_path};
    use std::path::{Path, PathBuf};

    #[test]
    fn sqlite_paths_read() {
        assert_eq!(
            sqlite_path("sqlite://tok.db"),
            Some(PathBuf::from("tok.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/tok.db?mode=rw"),
            Some(PathBuf::from("/var/lib/tok.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://h/db"), None);
    }

    #[test]
    fn relative_sqlite_url_resolved() {
        let folder = Path::new("/etc/tok");
        assert_eq!(
            resolve_sqlite_url("sqlite://tok.db", folder),
            "sqlite:///etc/tok/tok.db"
        );
        assert_eq!(
            resolve_sqlite_url("sqlite://data/tok.db?x=1", folder),
            "sqlite:///etc/tok/data/tok.db?x=1"
        );
        assert_eq!(
            resolve_sqlite_url("sqlite:///var/tok.db", folder),
            "sqlite:///var/tok.db"
        );
        assert_eq!(
            resolve_sqlite_url("postgres://h/db", folder),
            "postgres://h/db"
        );
    }

    #[test]
    fn password_redacted() {
        assert_eq!(
            redact_url("postgres://tok:s3cret@db:5432/tok"),
            "postgres://tok:***@db:5432/tok"
        );
        assert_eq!(redact_url("postgres://tok@db/tok"), "postgres://tok@db/tok");
        assert_eq!(redact_url("sqlite://tok.db"), "sqlite://tok.db");
    }
}
