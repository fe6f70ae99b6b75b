//! A fresh database per test: an SQLite file in the temporary directory, or a new
//! PostgreSQL database on the server named by `HYDRONET_TEST_DATABASE_URL`.
//!
//! [`on_both_backends!`] turns a test body `async fn name(db: TestDb)` into a module with
//! an `sqlite` test and an ignored `postgres` one. A configured server that cannot be
//! reached fails the test; nothing is skipped.

use std::path::PathBuf;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyConnection, AnyPool, Connection};

use super::{Backend, POSTGRES_SCHEMA, SQLITE_SCHEMA, SqlAudit};

/// One test's database.
pub(super) struct TestDb {
    pub(super) pool: AnyPool,
    pub(super) backend: Backend,
    pub(super) url: String,
    file: Option<PathBuf>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
    }
}

impl TestDb {
    /// A new SQLite file in WAL mode, as the reference server runs it.
    pub(super) async fn sqlite() -> Self {
        let file = std::env::temp_dir().join(format!(
            "hydronet-audit-{}.db",
            uuid::Uuid::now_v7().simple()
        ));
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let db = Self::open(url, Backend::Sqlite, Some(file)).await;
        sqlx::query("PRAGMA journal_mode = WAL")
            .fetch_optional(&db.pool)
            .await
            .unwrap();
        db.create_tables(SQLITE_SCHEMA).await;
        db
    }

    /// A new database on the configured PostgreSQL server.
    pub(super) async fn postgres() -> Self {
        let admin_url = std::env::var("HYDRONET_TEST_DATABASE_URL")
            .ok()
            .filter(|v| !v.is_empty())
            .expect("set HYDRONET_TEST_DATABASE_URL");
        install_default_drivers();
        let mut admin = AnyConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|err| {
                panic!("HYDRONET_TEST_DATABASE_URL is set but unreachable: {err}")
            });

        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        drop_stale_databases(&mut admin, now).await;
        let name = format!(
            "hn_t_{now}_{}",
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;

        let (base, _) = admin_url.rsplit_once('/').expect("database URL has a path");
        let db = Self::open(format!("{base}/{name}"), Backend::Postgres, None).await;
        db.create_tables(POSTGRES_SCHEMA).await;
        db
    }

    async fn open(url: String, backend: Backend, file: Option<PathBuf>) -> Self {
        install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect(&url)
            .await
            .unwrap_or_else(|err| panic!("test database {url} unreachable: {err}"));
        Self {
            pool,
            backend,
            url,
            file,
        }
    }

    async fn create_tables(&self, schema: &str) {
        for statement in schema.split(';').filter(|s| !s.trim().is_empty()) {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&self.pool)
                .await
                .unwrap_or_else(|err| panic!("{statement}: {err}"));
        }
    }

    /// The store under test.
    pub(super) fn audit(&self) -> SqlAudit {
        SqlAudit::new(self.pool.clone(), self.backend)
    }

    /// Runs `sql` (trusted test SQL), as an attacker with direct access would.
    pub(super) async fn exec(&self, sql: &str) {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&self.pool)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
    }

    /// One number selected by `sql`.
    pub(super) async fn number(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
        n
    }

    /// A connection of its own that holds the write lock on the audit tables until
    /// [`release`] is called with it.
    pub(super) async fn hold_write_lock(&self) -> AnyConnection {
        let mut conn = AnyConnection::connect(&self.url).await.unwrap();
        let statements: &[&'static str] = match self.backend {
            Backend::Sqlite => &["BEGIN IMMEDIATE"],
            Backend::Postgres => &["BEGIN", "LOCK TABLE audit_heads IN EXCLUSIVE MODE"],
        };
        for statement in statements {
            sqlx::query(*statement).execute(&mut conn).await.unwrap();
        }
        conn
    }
}

/// Ends the lock taken by [`TestDb::hold_write_lock`].
pub(super) async fn release(mut conn: AnyConnection) {
    sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
    let _ = conn.close().await;
}

/// Test databases left by runs more than an hour old (a crashed run cannot clean up).
async fn drop_stale_databases(admin: &mut AnyConnection, now: u64) {
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'hn\\_t\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    for (name,) in names {
        let created: Option<u64> = name.split('_').nth(2).and_then(|t| t.parse().ok());
        if created.is_some_and(|t| t + 3600 < now) {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut *admin)
            .await;
        }
    }
}

/// For each `name`, a module `name` running `async fn name(db: TestDb)` (in the calling
/// module) on a fresh SQLite database, and on PostgreSQL when asked for.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use crate::audit::test_db::TestDb;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(TestDb::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs HYDRONET_TEST_DATABASE_URL"]
            async fn postgres() {
                super::$name(TestDb::postgres().await).await;
            }
        }
    )*};
}

pub(super) use on_both_backends;
