//! Durable, tamper-evident audit storage in the application's own SQL database.
//!
//! Records live in two tables, created by the application's migrations from
//! [`SQLITE_SCHEMA`] or [`POSTGRES_SCHEMA`]: `audit_events`, one row per event, and
//! `audit_heads`, one row per tenant naming the last record of its chain. Each record
//! carries the hash of the one before it, so editing, deleting or reordering stored rows
//! shows up in [`SqlAudit::verify`].
//!
//! Security actions call [`append`] inside their own transaction, so the action and its
//! record commit or roll back together. Everything else can go through [`SqlAudit`] as an
//! [`AuditSink`] (one transaction per event) or through the batching
//! [`AuditWriter`](super::AuditWriter).
//!
//! # Example
//!
//! ```
//! use hydronet_core::TenantId;
//! use hydronet_tenancy::audit::{Actor, AuditEvent, AuditSink, Backend, SQLITE_SCHEMA, SqlAudit};
//! use sqlx::any::AnyPoolOptions;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! sqlx::any::install_default_drivers();
//! let pool = AnyPoolOptions::new()
//!     .max_connections(1)
//!     .connect("sqlite::memory:")
//!     .await?;
//! for statement in SQLITE_SCHEMA.split(';').filter(|s| !s.trim().is_empty()) {
//!     sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&pool).await?;
//! }
//!
//! let audit = SqlAudit::new(pool, Backend::Sqlite);
//! let tenant = TenantId::new();
//! audit.record(AuditEvent::new(tenant, Actor::System, "tenant.created")).await?;
//!
//! let reports = audit.verify(Some(tenant)).await?;
//! assert_eq!(reports[0].records, 1);
//! assert!(reports[0].first_problem.is_none());
//! # Ok(())
//! # }
//! ```
//!
//! # Concurrency
//!
//! Appending locks the tenant's head row until the transaction ends: `SELECT … FOR
//! UPDATE` on PostgreSQL (run transactions that append at READ COMMITTED, the default),
//! and SQLite's single writer lock, taken by the first statement, on SQLite. Several
//! writers and several instances therefore extend one valid chain. Tenants are locked in
//! a fixed order within one call, so concurrent batches do not deadlock on each other.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hydronet_core::TenantId;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction};

use super::chain::{GENESIS, Record, outcome_column, storable};
use super::pg;
use super::{AuditError, AuditEvent, AuditSink, Outcome, RecordFuture};

/// The audit tables for SQLite. Statements are separated by `;` and contain none.
pub const SQLITE_SCHEMA: &str = "\
CREATE TABLE audit_events (
    tenant_id   TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    id          TEXT NOT NULL,
    time_ms     BIGINT NOT NULL,
    actor_type  TEXT NOT NULL CHECK (actor_type IN ('user', 'api_key', 'system')),
    actor_id    TEXT,
    token_id    TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('success', 'denied', 'failed')),
    request_id  TEXT,
    client_addr TEXT,
    user_agent  TEXT,
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_events_time_idx ON audit_events (tenant_id, time_ms);
CREATE INDEX audit_events_action_idx ON audit_events (tenant_id, action);
CREATE TABLE audit_heads (
    tenant_id   TEXT PRIMARY KEY,
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    anchor_seq  BIGINT NOT NULL DEFAULT 0,
    anchor_hash TEXT NOT NULL
);
";

/// The audit tables for PostgreSQL: the same columns as [`SQLITE_SCHEMA`], with the action
/// index built for prefix matching (`text_pattern_ops`). No row-level security or grants:
/// add those in the application's migration. Statements are separated by `;` and contain
/// none.
pub const POSTGRES_SCHEMA: &str = "\
CREATE TABLE audit_events (
    tenant_id   TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    id          TEXT NOT NULL,
    time_ms     BIGINT NOT NULL,
    actor_type  TEXT NOT NULL CHECK (actor_type IN ('user', 'api_key', 'system')),
    actor_id    TEXT,
    token_id    TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('success', 'denied', 'failed')),
    request_id  TEXT,
    client_addr TEXT,
    user_agent  TEXT,
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_events_time_idx ON audit_events (tenant_id, time_ms);
CREATE INDEX audit_events_action_idx ON audit_events (tenant_id, action text_pattern_ops);
CREATE TABLE audit_heads (
    tenant_id   TEXT PRIMARY KEY,
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    anchor_seq  BIGINT NOT NULL DEFAULT 0,
    anchor_hash TEXT NOT NULL
);
";

/// The columns of `audit_events`, in the order [`insert_rows`] binds them.
pub(super) const COLUMNS: &str = "tenant_id, seq, id, time_ms, actor_type, actor_id, token_id, \
    action, target, outcome, request_id, client_addr, user_agent, details, prev_hash, hash";

/// How many columns [`COLUMNS`] names.
const COLUMN_COUNT: usize = 16;

/// Rows per `INSERT`: 800 parameters, far below SQLite's and PostgreSQL's limits.
const INSERT_CHUNK: usize = 50;

/// The most rows [`SqlAudit::query`] returns.
pub const MAX_QUERY_LIMIT: u32 = 1000;

/// Which database server is behind a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A tenant's `audit_heads` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Head {
    pub(super) seq: i64,
    pub(super) hash: String,
    pub(super) anchor_seq: i64,
    pub(super) anchor_hash: String,
}

impl Head {
    /// The head of a tenant with no records yet.
    pub(super) fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS.to_owned(),
            anchor_seq: 0,
            anchor_hash: GENESIS.to_owned(),
        }
    }
}

/// One row of `audit_events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StoredRow {
    pub(super) seq: i64,
    pub(super) record: Record,
    pub(super) prev_hash: String,
    pub(super) hash: String,
}

/// An audit error for `err`, met while doing `context`. The message names the kind of
/// failure and the database's error code, never SQL or values; the full error goes to
/// DEBUG.
pub(super) fn store_error(context: &'static str) -> impl FnOnce(sqlx::Error) -> AuditError {
    move |err| {
        tracing::debug!(target: "hydronet::audit", error = %err, context, "audit store error");
        let cause = match &err {
            sqlx::Error::Database(db) => match db.code() {
                Some(code) => format!("database error {code}"),
                None => "database error".to_owned(),
            },
            sqlx::Error::PoolTimedOut => "no database connection available".to_owned(),
            sqlx::Error::PoolClosed => "the connection pool is closed".to_owned(),
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) => "database connection failed".to_owned(),
            _ => "database error".to_owned(),
        };
        AuditError(format!("{context}: {cause}"))
    }
}

/// Appends `events` to their tenants' chains within `conn`'s open transaction; nothing is
/// visible to others until the caller commits, and a rollback removes the records with
/// the rest of the transaction.
///
/// Events are grouped by tenant; within a tenant, records follow the order of `events`.
/// Details are redacted once more before they are stored.
///
/// On PostgreSQL each tenant's head row is locked (`SELECT … FOR UPDATE`) until the caller
/// commits, so concurrent writers and several instances produce one valid chain; the
/// transaction should run at READ COMMITTED (the default). On SQLite the transaction
/// serialises writers: the first statement here is a write, so a deferred transaction
/// takes the write lock before reading the head. If the caller's transaction has already
/// read (but not written) on SQLite, the upgrade can fail with `SQLITE_BUSY` under
/// contention; write first, or append before reading.
///
/// ```no_run
/// use hydronet_tenancy::audit::{append, Actor, AuditEvent, Backend};
/// # async fn demo(pool: sqlx::AnyPool, event: AuditEvent) -> Result<(), Box<dyn std::error::Error>> {
/// let mut tx = pool.begin().await?;
/// // … the security action itself, on `tx` …
/// append(&mut tx, Backend::Postgres, &[event]).await?;
/// tx.commit().await?;
/// # Ok(())
/// # }
/// ```
pub async fn append(
    conn: &mut AnyConnection,
    backend: Backend,
    events: &[AuditEvent],
) -> Result<(), AuditError> {
    match backend {
        Backend::Postgres => append_set(conn, events).await,
        Backend::Sqlite => {
            for (tenant, group) in by_tenant(events) {
                append_tenant(conn, backend, &tenant.to_string(), &group).await?;
            }
            Ok(())
        }
    }
}

/// [`append`] on PostgreSQL: every tenant of the batch at once (see [`super::pg`]).
async fn append_set(conn: &mut AnyConnection, events: &[AuditEvent]) -> Result<(), AuditError> {
    let groups = by_tenant(events);
    if groups.is_empty() {
        return Ok(());
    }
    let tenants: Vec<String> = groups.keys().map(ToString::to_string).collect();
    let mut heads = pg::lock_heads(conn, &tenants).await?;

    let mut rows = Vec::with_capacity(events.len());
    let mut moved = Vec::with_capacity(tenants.len());
    for (tenant, group) in tenants.into_iter().zip(groups.values()) {
        let head = heads
            .remove(&tenant)
            .ok_or_else(|| AuditError("an audit head could not be locked".to_owned()))?;
        let linked = link(&head, group);
        if let Some(last) = linked.last() {
            moved.push((tenant, last.seq, last.hash.clone()));
        }
        rows.extend(linked);
    }
    pg::insert_rows(conn, &rows).await?;
    pg::set_heads(conn, &moved).await
}

/// `events` grouped by tenant, in tenant order (the order locks are taken in), each group
/// in the order of `events`.
fn by_tenant(events: &[AuditEvent]) -> BTreeMap<TenantId, Vec<&AuditEvent>> {
    let mut groups: BTreeMap<TenantId, Vec<&AuditEvent>> = BTreeMap::new();
    for event in events {
        groups.entry(event.tenant_id).or_default().push(event);
    }
    groups
}

async fn append_tenant(
    conn: &mut AnyConnection,
    backend: Backend,
    tenant: &str,
    events: &[&AuditEvent],
) -> Result<(), AuditError> {
    let head = lock_head(conn, backend, tenant).await?;

    let rows = link(&head, events);
    for chunk in rows.chunks(INSERT_CHUNK) {
        insert_rows(conn, chunk).await?;
    }

    match rows.last() {
        Some(last) => set_head(conn, tenant, last.seq, &last.hash).await,
        None => Ok(()),
    }
}

/// Locks `tenant`'s head row for the rest of the transaction, creating it first if needed,
/// and reads it.
pub(super) async fn lock_head(
    conn: &mut AnyConnection,
    backend: Backend,
    tenant: &str,
) -> Result<Head, AuditError> {
    // A write first: on SQLite it takes the write lock before anything is read.
    sqlx::query(
        "INSERT INTO audit_heads (tenant_id, seq, hash, anchor_seq, anchor_hash) \
         VALUES ($1, 0, $2, 0, $3) ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind(tenant)
    .bind(GENESIS)
    .bind(GENESIS)
    .execute(&mut *conn)
    .await
    .map_err(store_error("creating an audit head"))?;

    let sql = match backend {
        Backend::Postgres => {
            "SELECT seq, hash, anchor_seq, anchor_hash FROM audit_heads \
             WHERE tenant_id = $1 FOR UPDATE"
        }
        Backend::Sqlite => {
            "SELECT seq, hash, anchor_seq, anchor_hash FROM audit_heads WHERE tenant_id = $1"
        }
    };
    let row = sqlx::query(sql)
        .bind(tenant)
        .fetch_one(&mut *conn)
        .await
        .map_err(store_error("locking an audit head"))?;
    read_head(&row).map_err(store_error("reading an audit head"))
}

/// Reads `tenant`'s head without locking it, if there is one.
pub(super) async fn find_head(
    conn: &mut AnyConnection,
    tenant: &str,
) -> Result<Option<Head>, AuditError> {
    let row = sqlx::query(
        "SELECT seq, hash, anchor_seq, anchor_hash FROM audit_heads WHERE tenant_id = $1",
    )
    .bind(tenant)
    .fetch_optional(&mut *conn)
    .await
    .map_err(store_error("reading an audit head"))?;
    row.as_ref()
        .map(read_head)
        .transpose()
        .map_err(store_error("reading an audit head"))
}

pub(super) fn read_head(row: &AnyRow) -> Result<Head, sqlx::Error> {
    Ok(Head {
        seq: row.try_get("seq")?,
        hash: row.try_get("hash")?,
        anchor_seq: row.try_get("anchor_seq")?,
        anchor_hash: row.try_get("anchor_hash")?,
    })
}

/// The rows of `events`, numbered and hashed to follow `head`.
fn link(head: &Head, events: &[&AuditEvent]) -> Vec<StoredRow> {
    let mut prev_hash = head.hash.clone();
    let mut rows = Vec::with_capacity(events.len());
    for (seq, event) in (head.seq + 1..).zip(events) {
        let record = Record::from_event(event);
        let hash = record.hash(&prev_hash);
        let row = StoredRow {
            seq,
            record,
            prev_hash: std::mem::replace(&mut prev_hash, hash.clone()),
            hash,
        };
        rows.push(row);
    }
    rows
}

/// One multi-row `INSERT` of `rows`.
async fn insert_rows(conn: &mut AnyConnection, rows: &[StoredRow]) -> Result<(), AuditError> {
    let mut sql = format!("INSERT INTO audit_events ({COLUMNS}) VALUES ");
    for r in 0..rows.len() {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 1..=COLUMN_COUNT {
            let sep = if c == 1 { "" } else { ", " };
            let _ = write!(sql, "{sep}${}", r * COLUMN_COUNT + c);
        }
        sql.push(')');
    }

    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(rows.len() == INSERT_CHUNK);
    for row in rows {
        let r = &row.record;
        query = query
            .bind(r.tenant_id.clone())
            .bind(row.seq)
            .bind(r.id.clone())
            .bind(r.time_ms)
            .bind(r.actor_type.clone())
            .bind(r.actor_id.clone())
            .bind(r.token_id.clone())
            .bind(r.action.clone())
            .bind(r.target.clone())
            .bind(r.outcome.clone())
            .bind(r.request_id.clone())
            .bind(r.client_addr.clone())
            .bind(r.user_agent.clone())
            .bind(r.details.clone())
            .bind(row.prev_hash.clone())
            .bind(row.hash.clone());
    }
    query
        .execute(&mut *conn)
        .await
        .map_err(store_error("inserting audit records"))
        .map(drop)
}

async fn set_head(
    conn: &mut AnyConnection,
    tenant: &str,
    seq: i64,
    hash: &str,
) -> Result<(), AuditError> {
    sqlx::query("UPDATE audit_heads SET seq = $2, hash = $3 WHERE tenant_id = $1")
        .bind(tenant)
        .bind(seq)
        .bind(hash)
        .execute(&mut *conn)
        .await
        .map_err(store_error("moving an audit head"))
        .map(drop)
}

/// Reads one row selected with [`COLUMNS`].
pub(super) fn read_row(row: &AnyRow) -> Result<StoredRow, sqlx::Error> {
    Ok(StoredRow {
        seq: row.try_get("seq")?,
        record: Record {
            tenant_id: row.try_get("tenant_id")?,
            id: row.try_get("id")?,
            time_ms: row.try_get("time_ms")?,
            actor_type: row.try_get("actor_type")?,
            actor_id: row.try_get("actor_id")?,
            token_id: row.try_get("token_id")?,
            action: row.try_get("action")?,
            target: row.try_get("target")?,
            outcome: row.try_get("outcome")?,
            request_id: row.try_get("request_id")?,
            client_addr: row.try_get("client_addr")?,
            user_agent: row.try_get("user_agent")?,
            details: row.try_get("details")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// Stores audit records in an sqlx pool (SQLite or PostgreSQL through the `Any` driver)
/// and checks, prunes and searches them.
///
/// As an [`AuditSink`] it writes each event in a transaction of its own. Statements given
/// to [`SqlAudit::on_begin`] run at the start of every transaction it opens, for instance
/// to switch role and scope on PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlAudit {
    pool: AnyPool,
    backend: Backend,
    on_begin: Vec<String>,
}

impl SqlAudit {
    /// Audit storage on `pool`, whose server is `backend`.
    pub fn new(pool: AnyPool, backend: Backend) -> Self {
        Self {
            pool,
            backend,
            on_begin: Vec::new(),
        }
    }

    /// Statements run at the start of each transaction (trusted input: they are run as
    /// given). Default: none.
    pub fn on_begin(mut self, statements: Vec<String>) -> Self {
        self.on_begin = statements;
        self
    }

    /// Which backend this stores to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A transaction with the [`on_begin`](Self::on_begin) statements run.
    pub(super) async fn begin(&self) -> Result<Transaction<'static, Any>, AuditError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(store_error("starting a transaction"))?;
        self.run_on_begin(&mut tx).await?;
        Ok(tx)
    }

    /// As [`begin`](Self::begin), but every read sees one snapshot: REPEATABLE READ on
    /// PostgreSQL; an SQLite read transaction sees one snapshot already (in WAL mode; in
    /// rollback-journal mode it blocks writers instead).
    pub(super) async fn begin_snapshot(&self) -> Result<Transaction<'static, Any>, AuditError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(store_error("starting a transaction"))?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await
                .map_err(store_error("starting a transaction"))?;
        }
        self.run_on_begin(&mut tx).await?;
        Ok(tx)
    }

    async fn run_on_begin(&self, conn: &mut AnyConnection) -> Result<(), AuditError> {
        for statement in &self.on_begin {
            sqlx::query(sqlx::AssertSqlSafe(statement.as_str()))
                .execute(&mut *conn)
                .await
                .map_err(store_error("preparing a transaction"))?;
        }
        Ok(())
    }

    /// Appends `events` in one transaction of their own: all are stored, or none.
    pub async fn record_batch(&self, events: &[AuditEvent]) -> Result<(), AuditError> {
        let mut tx = self.begin().await?;
        append(&mut tx, self.backend, events).await?;
        tx.commit()
            .await
            .map_err(store_error("committing audit records"))
    }

    /// The events of `events` not yet stored (matched by id), in their order.
    pub async fn missing(&self, events: Vec<AuditEvent>) -> Result<Vec<AuditEvent>, AuditError> {
        if events.is_empty() {
            return Ok(events);
        }
        let mut tx = self.begin().await?;
        let mut stored = std::collections::HashSet::new();
        let mut tenants: Vec<TenantId> = events.iter().map(|e| e.tenant_id).collect();
        tenants.sort();
        tenants.dedup();
        for tenant in tenants {
            let since = events
                .iter()
                .filter(|e| e.tenant_id == tenant)
                .map(|e| e.time_ms)
                .min()
                .unwrap_or(0);
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT id FROM audit_events WHERE tenant_id = $1 AND time_ms >= $2",
            )
            .bind(tenant.to_string())
            .bind(since)
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error("reading audit ids"))?;
            stored.extend(rows.into_iter().map(|(id,)| id));
        }
        tx.commit()
            .await
            .map_err(store_error("reading audit ids"))?;
        Ok(events
            .into_iter()
            .filter(|e| !stored.contains(&e.id.to_string()))
            .collect())
    }

    /// The newest records of one tenant matching `filter`, newest first (by `seq`), at most
    /// `filter.limit` of them and never more than [`MAX_QUERY_LIMIT`].
    pub async fn query(&self, filter: &AuditFilter) -> Result<Vec<StoredEvent>, AuditError> {
        let limit = filter.limit.min(MAX_QUERY_LIMIT);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (sql, binds) = filter_sql(filter, limit);

        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for bind in binds {
            query = match bind {
                Bind::Text(text) => query.bind(text),
                Bind::Int(n) => query.bind(n),
            };
        }
        let mut tx = self.begin().await?;
        let rows = query
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error("searching audit records"))?;
        tx.commit()
            .await
            .map_err(store_error("searching audit records"))?;

        rows.iter().map(stored_event).collect()
    }
}

impl AuditSink for SqlAudit {
    fn record(&self, event: AuditEvent) -> RecordFuture<'_> {
        Box::pin(async move { self.record_batch(std::slice::from_ref(&event)).await })
    }
}

fn stored_event(row: &AnyRow) -> Result<StoredEvent, AuditError> {
    let row = read_row(row).map_err(store_error("reading audit records"))?;
    let event = row
        .record
        .to_event()
        .ok_or_else(|| AuditError(format!("audit record {} is malformed", row.seq)))?;
    Ok(StoredEvent {
        seq: row.seq,
        event,
        hash: row.hash,
    })
}

/// Which records [`SqlAudit::query`] returns. Conditions left `None` match everything.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditFilter {
    /// The tenant whose records are searched.
    pub tenant_id: TenantId,
    /// Actions starting with this text, taken literally (`%` and `_` match themselves).
    /// On SQLite the match ignores ASCII case.
    pub action_prefix: Option<String>,
    /// Records by this actor: a user's or an API key's id.
    pub actor_id: Option<String>,
    /// Records with this outcome.
    pub outcome: Option<Outcome>,
    /// Records at or after this time (Unix milliseconds).
    pub from_ms: Option<i64>,
    /// Records before this time (Unix milliseconds, exclusive).
    pub to_ms: Option<i64>,
    /// Records older than this `seq`: pass the last `seq` of one page to get the next.
    pub before_seq: Option<i64>,
    /// The most records to return; capped at [`MAX_QUERY_LIMIT`].
    pub limit: u32,
}

impl AuditFilter {
    /// Every record of `tenant_id`, 100 at a time.
    pub fn new(tenant_id: TenantId) -> Self {
        Self {
            tenant_id,
            action_prefix: None,
            actor_id: None,
            outcome: None,
            from_ms: None,
            to_ms: None,
            before_seq: None,
            limit: 100,
        }
    }
}

/// A record as stored: its place in the chain, the event, and its hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    /// Its position in the tenant's chain, from 1.
    pub seq: i64,
    /// The event, its details as stored (redacted).
    pub event: AuditEvent,
    /// Its chain hash, lowercase hex.
    pub hash: String,
}

/// A value bound to a query built at run time.
enum Bind {
    Text(String),
    Int(i64),
}

/// The `SELECT` for `filter` and its values, numbered `$1`, `$2`, … in order.
fn filter_sql(filter: &AuditFilter, limit: u32) -> (String, Vec<Bind>) {
    let mut sql = format!("SELECT {COLUMNS} FROM audit_events WHERE tenant_id = $1");
    let mut binds = vec![Bind::Text(filter.tenant_id.to_string())];
    let mut and = |condition: &str, bind: Bind, suffix: &str| {
        binds.push(bind);
        let _ = write!(sql, " AND {condition}${}{suffix}", binds.len());
    };

    if let Some(prefix) = &filter.action_prefix {
        and(
            "action LIKE ",
            Bind::Text(like_prefix(&storable(prefix))),
            " ESCAPE '\\'",
        );
    }
    if let Some(actor) = &filter.actor_id {
        and("actor_id = ", Bind::Text(storable(actor)), "");
    }
    if let Some(outcome) = filter.outcome {
        and(
            "outcome = ",
            Bind::Text(outcome_column(outcome).to_owned()),
            "",
        );
    }
    if let Some(from) = filter.from_ms {
        and("time_ms >= ", Bind::Int(from), "");
    }
    if let Some(to) = filter.to_ms {
        and("time_ms < ", Bind::Int(to), "");
    }
    if let Some(before) = filter.before_seq {
        and("seq < ", Bind::Int(before), "");
    }

    binds.push(Bind::Int(i64::from(limit)));
    let _ = write!(sql, " ORDER BY seq DESC LIMIT ${}", binds.len());
    (sql, binds)
}

/// A `LIKE` pattern matching text that starts with `prefix`, with `\` as escape.
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hydronet_core::UserId;
    use serde_json::json;

    use super::*;
    use crate::audit::Actor;
    use crate::audit::test_db::{TestDb, on_both_backends};

    on_both_backends!(
        records_round_trip_and_verify,
        awkward_text_round_trips_in_a_batch_over_many_tenants,
        a_rolled_back_transaction_leaves_no_record,
        batches_keep_each_tenants_order,
        concurrent_writers_build_one_chain,
        query_filters_and_pages,
        details_are_stored_redacted,
        text_with_nul_characters_is_stored,
    );

    fn event(tenant: TenantId, action: &str) -> AuditEvent {
        AuditEvent::new(tenant, Actor::System, action)
    }

    fn all(tenant: TenantId) -> AuditFilter {
        AuditFilter {
            limit: MAX_QUERY_LIMIT,
            ..AuditFilter::new(tenant)
        }
    }

    async fn records_round_trip_and_verify(db: TestDb) {
        let audit = db.audit();
        let tenant = TenantId::new();
        let user = UserId::new();
        let first = AuditEvent::new(tenant, Actor::User(user), "role.assigned")
            .target("user:1")
            .outcome(Outcome::Denied)
            .request_id("req-1")
            .token_id("jti-1")
            .client_addr("203.0.113.9")
            .user_agent("curl/8")
            .details(json!({ "roles": ["admin"], "n": 1.5 }));
        let second = event(tenant, "role.created");

        audit.record(first.clone()).await.unwrap();
        audit.record(second.clone()).await.unwrap();

        let stored = audit.query(&all(tenant)).await.unwrap();
        assert_eq!(stored.len(), 2);
        assert_eq!((stored[0].seq, &stored[0].event), (2, &second));
        assert_eq!((stored[1].seq, &stored[1].event), (1, &first));
        assert_eq!(stored[1].hash.len(), 64);

        let reports = audit.verify(Some(tenant)).await.unwrap();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].tenant_id, tenant);
        assert_eq!(reports[0].records, 2);
        assert_eq!(reports[0].first_problem, None);
    }

    async fn awkward_text_round_trips_in_a_batch_over_many_tenants(db: TestDb) {
        let audit = db.audit();
        let tenants: Vec<TenantId> = (0..3).map(|_| TenantId::new()).collect();
        let awkward = [
            "NULL",
            "",
            "\"quoted\", back\\slash, {braces}, 'single'",
            "line\nbreak\ttab",
            "水网 ✓ \u{1F4A7}",
        ];
        let events: Vec<AuditEvent> = (0..30)
            .map(|n| {
                let text = awkward[n % awkward.len()];
                AuditEvent::new(tenants[n % 3], Actor::System, "odd.text")
                    .target(text)
                    .user_agent(text)
                    .details(json!({ "text": text, "n": n }))
            })
            .collect();
        audit.record_batch(&events).await.unwrap();

        for tenant in &tenants {
            let mut stored = audit.query(&all(*tenant)).await.unwrap();
            stored.reverse();
            let sent: Vec<&AuditEvent> = events.iter().filter(|e| e.tenant_id == *tenant).collect();
            assert_eq!(stored.len(), sent.len());
            for (seq, (record, event)) in (1..).zip(stored.iter().zip(sent)) {
                assert_eq!((record.seq, &record.event), (seq, event));
            }
            let reports = audit.verify(Some(*tenant)).await.unwrap();
            assert_eq!(reports[0].first_problem, None);
        }
    }

    async fn a_rolled_back_transaction_leaves_no_record(db: TestDb) {
        let audit = db.audit();
        let tenant = TenantId::new();

        let mut tx = db.pool.begin().await.unwrap();
        append(&mut tx, db.backend, &[event(tenant, "user.deleted")])
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        assert!(audit.query(&all(tenant)).await.unwrap().is_empty());

        let mut tx = db.pool.begin().await.unwrap();
        append(&mut tx, db.backend, &[event(tenant, "user.deleted")])
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let stored = audit.query(&all(tenant)).await.unwrap();
        assert_eq!(stored.iter().map(|s| s.seq).collect::<Vec<_>>(), [1]);
        assert_eq!(audit.verify(None).await.unwrap()[0].first_problem, None);
    }

    async fn batches_keep_each_tenants_order(db: TestDb) {
        let audit = db.audit();
        let (a, b) = (TenantId::new(), TenantId::new());
        // 120 events for `a` span three INSERT statements; `b`'s are interleaved.
        let events: Vec<AuditEvent> = (0..180)
            .map(|n| {
                let tenant = if n % 3 == 2 { b } else { a };
                event(tenant, &format!("step.{n}"))
            })
            .collect();

        audit.record_batch(&events).await.unwrap();

        for (tenant, expected) in [(a, 120), (b, 60)] {
            let mut stored = audit.query(&all(tenant)).await.unwrap();
            stored.reverse();
            let wanted: Vec<&AuditEvent> =
                events.iter().filter(|e| e.tenant_id == tenant).collect();
            assert_eq!(stored.len(), expected);
            for (n, (stored, wanted)) in stored.iter().zip(wanted).enumerate() {
                assert_eq!(stored.seq, n as i64 + 1);
                assert_eq!(&stored.event, wanted);
            }
        }
        let reports = audit.verify(None).await.unwrap();
        assert_eq!(reports.len(), 2);
        assert!(reports.iter().all(|r| r.first_problem.is_none()));
    }

    async fn concurrent_writers_build_one_chain(db: TestDb) {
        let audit = Arc::new(db.audit());
        let tenant = TenantId::new();

        let writers: Vec<_> = (0..100)
            .map(|n| {
                let audit = audit.clone();
                tokio::spawn(async move { audit.record(event(tenant, &format!("w.{n}"))).await })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap().unwrap();
        }

        let mut seqs: Vec<i64> = audit
            .query(&all(tenant))
            .await
            .unwrap()
            .iter()
            .map(|s| s.seq)
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>());

        let report = &audit.verify(Some(tenant)).await.unwrap()[0];
        assert_eq!((report.records, &report.first_problem), (100, &None));
    }

    async fn query_filters_and_pages(db: TestDb) {
        let audit = db.audit();
        let (tenant, other) = (TenantId::new(), TenantId::new());
        let (u1, u2) = (UserId::new(), UserId::new());
        let rows = [
            ("role.assigned", Actor::User(u1), Outcome::Success),
            ("role.revoked", Actor::User(u2), Outcome::Denied),
            ("100%.done", Actor::System, Outcome::Success),
            ("100x.done", Actor::User(u1), Outcome::Failed),
            ("user.login", Actor::User(u1), Outcome::Success),
            ("rate_limit.hit", Actor::System, Outcome::Denied),
            ("rateXlimit.hit", Actor::System, Outcome::Success),
        ];
        let mut events = Vec::new();
        for (n, (action, actor, outcome)) in rows.into_iter().enumerate() {
            let mut event = AuditEvent::new(tenant, actor, action).outcome(outcome);
            event.time_ms = (n as i64 + 1) * 1000;
            events.push(event);
        }
        events.push(AuditEvent::new(other, Actor::User(u1), "role.assigned"));
        audit.record_batch(&events).await.unwrap();

        let seqs = |filter: AuditFilter| {
            let audit = audit.clone();
            async move {
                let stored = audit.query(&filter).await.unwrap();
                assert!(stored.iter().all(|s| s.event.tenant_id == tenant));
                stored.iter().map(|s| s.seq).collect::<Vec<_>>()
            }
        };
        let with = |f: fn(&mut AuditFilter)| {
            let mut filter = all(tenant);
            f(&mut filter);
            filter
        };

        assert_eq!(seqs(all(tenant)).await, [7, 6, 5, 4, 3, 2, 1]);
        let prefix = |p: &str| {
            let mut filter = all(tenant);
            filter.action_prefix = Some(p.to_owned());
            filter
        };
        assert_eq!(seqs(prefix("role.")).await, [2, 1]);
        assert_eq!(seqs(prefix("100%")).await, [3]);
        assert_eq!(seqs(prefix("rate_")).await, [6]);
        assert_eq!(seqs(prefix("role.assigned")).await, [1]);
        assert_eq!(seqs(prefix("nothing")).await, Vec::<i64>::new());

        assert_eq!(
            seqs(with(|f| f.outcome = Some(Outcome::Denied))).await,
            [6, 2]
        );
        let mut by_actor = all(tenant);
        by_actor.actor_id = Some(u1.to_string());
        assert_eq!(seqs(by_actor).await, [5, 4, 1]);
        let between = with(|f| {
            f.from_ms = Some(2000);
            f.to_ms = Some(4000);
        });
        assert_eq!(seqs(between).await, [3, 2]);
        assert_eq!(seqs(with(|f| f.limit = 0)).await, Vec::<i64>::new());

        let mut pages = Vec::new();
        let mut filter = with(|f| f.limit = 2);
        loop {
            let page = seqs(filter.clone()).await;
            let Some(&last) = page.last() else { break };
            pages.push(page);
            filter.before_seq = Some(last);
        }
        assert_eq!(pages, [vec![7, 6], vec![5, 4], vec![3, 2], vec![1]]);
    }

    async fn details_are_stored_redacted(db: TestDb) {
        let audit = db.audit();
        let tenant = TenantId::new();
        let built = event(tenant, "user.password_changed")
            .details(json!({ "password": "canary-123", "user": "u1" }));
        // The field is public: details set directly must be redacted on the way in too.
        let mut direct = event(tenant, "token.issued");
        direct.details =
            json!({ "nested": [{ "Refresh_Token": "canary-123" }], "password": "canary-123" });

        audit.record(built).await.unwrap();
        let mut tx = db.pool.begin().await.unwrap();
        append(&mut tx, db.backend, &[direct]).await.unwrap();
        tx.commit().await.unwrap();

        assert_eq!(db.number("SELECT COUNT(*) FROM audit_events").await, 2);
        let leaks = "SELECT COUNT(*) FROM audit_events WHERE details LIKE '%canary%' \
                     OR action LIKE '%canary%' OR COALESCE(target, '') LIKE '%canary%'";
        assert_eq!(db.number(leaks).await, 0);

        let stored = audit.query(&all(tenant)).await.unwrap();
        assert_eq!(stored[0].event.details["password"], "[redacted]");
        assert_eq!(
            stored[0].event.details["nested"][0]["Refresh_Token"],
            "[redacted]"
        );
        assert_eq!(stored[1].event.details["user"], "u1");
        assert_eq!(
            audit.verify(Some(tenant)).await.unwrap()[0].first_problem,
            None
        );
    }

    async fn text_with_nul_characters_is_stored(db: TestDb) {
        let audit = db.audit();
        let tenant = TenantId::new();
        let mut event = event(tenant, "user.renamed").target("user:a\0b");
        event.details = json!({ "name\0": "x\0y" });

        audit.record(event).await.unwrap();

        let stored = audit.query(&all(tenant)).await.unwrap();
        assert_eq!(stored[0].event.target.as_deref(), Some("user:a\u{fffd}b"));
        assert_eq!(stored[0].event.details["name\0"], "x\0y");
        assert_eq!(
            audit.verify(Some(tenant)).await.unwrap()[0].first_problem,
            None
        );
    }

    #[test]
    fn like_prefixes_are_escaped() {
        assert_eq!(like_prefix("a%b_c\\d"), "a\\%b\\_c\\\\d%");
        assert_eq!(like_prefix(""), "%");
    }

    #[test]
    fn schemas_split_into_statements() {
        for schema in [SQLITE_SCHEMA, POSTGRES_SCHEMA] {
            let statements: Vec<&str> =
                schema.split(';').filter(|s| !s.trim().is_empty()).collect();
            assert_eq!(statements.len(), 4);
            assert!(
                statements
                    .iter()
                    .all(|s| s.trim_start().starts_with("CREATE "))
            );
        }
    }
}
