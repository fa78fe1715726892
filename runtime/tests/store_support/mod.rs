//! A store on a throwaway database of either backend, shared by the store,
//! import and API tests.

#![allow(dead_code, clippy::expect_used, clippy::panic)]

use flowd::store::testing::{PostgresDatabase, sqlite_url};
use flowd::store::{Backend, Store};

/// A store on a database that is removed when the test ends.
pub struct TestDb {
    /// The open store.
    pub store: Store,
    /// The database URL.
    pub url: String,
    postgres: Option<PostgresDatabase>,
    _folder: tempfile::TempDir,
}

impl TestDb {
    /// Opens a new database of `backend`. When no PostgreSQL server is
    /// reachable, the test fails with how to provide one.
    pub async fn new(backend: Backend) -> TestDb {
        let folder = tempfile::tempdir().expect("create a temporary folder");
        let (url, postgres) = match backend {
            Backend::Sqlite => (sqlite_url(folder.path(), "tok.db"), None),
            Backend::Postgres => {
                let database = PostgresDatabase::create()
                    .await
                    .unwrap_or_else(|message| panic!("{message}"));
                (database.url.clone(), Some(database))
            }
        };
        let store = Store::open(&url).await.expect("open the test database");
        TestDb {
            store,
            url,
            postgres,
            _folder: folder,
        }
    }

    /// Returns a folder that lives as long as the database.
    pub fn folder(&self) -> &std::path::Path {
        self._folder.path()
    }

    /// Closes the store and drops a PostgreSQL database.
    pub async fn finish(self) {
        self.store.close().await;
        if let Some(database) = self.postgres {
            database
                .drop_database()
                .await
                .expect("drop the test database");
        }
    }
}

/// Defines `NAME::sqlite` and `NAME::postgres` tests that run the async
/// function `NAME(&TestDb)` on a new database of each backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let db = $crate::store_support::TestDb::new(flowd::store::Backend::Sqlite).await;
                    super::$name(&db).await;
                    db.finish().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let db = $crate::store_support::TestDb::new(flowd::store::Backend::Postgres).await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            }
        )*
    };
}
