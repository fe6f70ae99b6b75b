//! The relational store: SQLite by default, PostgreSQL when `DATABASE_URL` names one.
//!
//! Both backends go through sqlx's `Any` driver with portable column types (UUIDs as
//! text, times as Unix seconds), so every query is written once. Tenant isolation is
//! enforced twice on PostgreSQL: each query filters by `tenant_id`, and row-level security
//! refuses rows of other tenants even when a query forgets to. Every transaction switches
//! to the `hydronet_app` role (which cannot bypass RLS) and names its tenant; a transaction
//! that needs to look across tenants (login by email, refresh by token digest) says so
//! explicitly with [`Db::system`].
//!
//! Paths that only read open [`Db::tenant_reader`] or [`Db::system_reader`] instead: on
//! SQLite they take no write lock, so reads never queue behind writers (audit batches,
//! logins); on PostgreSQL they are `READ ONLY`.

use std::time::Duration;

use hydronet_core::TenantId;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Transaction};

/// A transaction on either backend.
pub type Tx = Transaction<'static, Any>;

/// Which database server is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Whether a transaction may write.
#[derive(Debug, Clone, Copy)]
enum Access {
    Read,
    Write,
}

/// Whose rows a transaction may touch.
#[derive(Debug, Clone, Copy)]
enum Scope {
    Tenant(TenantId),
    System,
}

/// A connection pool plus the knowledge of which backend it reaches.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

impl Db {
    /// Connects to `url` (`sqlite:` or `postgres:`).
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(sqlx::Error::Configuration(
                "DATABASE_URL must start with sqlite: or postgres:".into(),
            ));
        };

        let max_connections = match backend {
            Backend::Sqlite => 8,
            Backend::Postgres => 16,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;

        if backend == Backend::Sqlite {
            // WAL lets readers proceed during a write; the mode is stored in the file.
            sqlx::query("PRAGMA journal_mode = WAL")
                .fetch_optional(&pool)
                .await?;
        }
        Ok(Self { pool, backend })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for code that manages its own transactions (tests, migrations).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    fn migrator(&self) -> sqlx::migrate::Migrator {
        migrator_for(self.backend)
    }

    /// The newest migration version this build knows for `backend`: a database (or a
    /// backup) with a newer one was written by a newer HydroNet.
    pub fn latest_migration(backend: Backend) -> i64 {
        migrator_for(backend)
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap_or(0)
    }

    /// Applies the migrations of this backend that have not run yet.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        self.migrator().run(&self.pool).await
    }

    /// How many of this build's migrations the database has not applied (successfully).
    pub async fn pending_migrations(&self) -> Result<usize, sqlx::Error> {
        let applied: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_all(&self.pool)
                .await?;
        let applied: std::collections::HashSet<i64> = applied.into_iter().map(|(v,)| v).collect();
        Ok(self
            .migrator()
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .count())
    }

    /// A new transaction. On SQLite a writing one takes the write lock at once (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads and then writes fails with
    /// `SQLITE_BUSY`, without waiting, when another connection wrote in between; taking
    /// the lock first makes it wait its turn (up to the busy timeout) instead. A reading
    /// one takes no lock: it reads one snapshot and neither waits for writers nor holds
    /// them up (WAL). On PostgreSQL a reading one is `READ ONLY`.
    async fn begin(&self, access: Access) -> Result<Tx, sqlx::Error> {
        let statement = match (self.backend, access) {
            (Backend::Sqlite, Access::Write) => "BEGIN IMMEDIATE",
            (Backend::Sqlite, Access::Read) => "BEGIN",
            (Backend::Postgres, Access::Write) => "BEGIN",
            (Backend::Postgres, Access::Read) => "BEGIN READ ONLY",
        };
        self.pool.begin_with(statement).await
    }

    /// Opens a transaction in `scope`: on PostgreSQL as the `hydronet_app` role, with the
    /// scope the row-level security policies read.
    async fn scoped(&self, access: Access, scope: Scope) -> Result<Tx, sqlx::Error> {
        let mut tx = self.begin(access).await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET LOCAL ROLE hydronet_app")
                .execute(&mut *tx)
                .await?;
            let set = match scope {
                Scope::Tenant(tenant) => {
                    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
                        .bind(tenant.to_string())
                }
                Scope::System => sqlx::query("SELECT set_config('app.scope', 'system', true)"),
            };
            set.fetch_one(&mut *tx).await?;
        }
        Ok(tx)
    }

    /// A transaction confined to `tenant`'s rows.
    pub async fn tenant(&self, tenant: TenantId) -> Result<Tx, sqlx::Error> {
        self.scoped(Access::Write, Scope::Tenant(tenant)).await
    }

    /// A transaction confined to `tenant`'s rows that only reads: it waits for no writer
    /// and holds none up. Use it on paths that write nothing (every request of the
    /// gateway reads its tenant's settings, say), so that reads never queue behind writes.
    pub async fn tenant_reader(&self, tenant: TenantId) -> Result<Tx, sqlx::Error> {
        self.scoped(Access::Read, Scope::Tenant(tenant)).await
    }

    /// A transaction that may read and write across tenants. Use it only where the tenant
    /// is not known yet (login, refresh) or the operation is service-wide.
    pub async fn system(&self) -> Result<Tx, sqlx::Error> {
        self.scoped(Access::Write, Scope::System).await
    }

    /// [`Db::system`] for paths that only read (a login's account lookup, an API key's).
    pub async fn system_reader(&self) -> Result<Tx, sqlx::Error> {
        self.scoped(Access::Read, Scope::System).await
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .fetch_one(&self.pool)
            .await
            .map(drop)
    }

    /// Closes every connection, waiting for those in use.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn migrator_for(backend: Backend) -> sqlx::migrate::Migrator {
    match backend {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
    }
}
