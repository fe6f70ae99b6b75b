//! Checking stored chains, and pruning old records without breaking them.
//!
//! [`SqlAudit::verify`] walks each tenant's records in `seq` order from its anchor, a page
//! at a time inside one snapshot, and reports the first place where the stored rows stop
//! being the chain that was written. [`SqlAudit::prune`] deletes old records and moves the
//! anchor past them, so what remains still verifies.
//!
//! # Example
//!
//! ```
//! use hydronet_core::TenantId;
//! use hydronet_tenancy::audit::{Actor, AuditEvent, Backend, SQLITE_SCHEMA, SqlAudit};
//! use sqlx::any::AnyPoolOptions;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! sqlx::any::install_default_drivers();
//! let pool = AnyPoolOptions::new().max_connections(1).connect("sqlite::memory:").await?;
//! for statement in SQLITE_SCHEMA.split(';').filter(|s| !s.trim().is_empty()) {
//!     sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&pool).await?;
//! }
//! let audit = SqlAudit::new(pool, Backend::Sqlite);
//! let tenant = TenantId::new();
//! let mut old = AuditEvent::new(tenant, Actor::System, "tenant.created");
//! old.time_ms = 1_000;
//! let new = AuditEvent::new(tenant, Actor::System, "plan.changed");
//! audit.record_batch(&[old, new]).await?;
//!
//! // Drop everything before 2 000 ms after the epoch; the rest still verifies.
//! assert_eq!(audit.prune(Some(tenant), 2_000).await?, 1);
//! let report = &audit.verify(Some(tenant)).await?[0];
//! assert_eq!((report.records, report.first_problem.is_none()), (1, true));
//! # Ok(())
//! # }
//! ```
//!
//! # What verification can and cannot show
//!
//! The chain has no secret: someone able to rewrite the tables can recompute every hash
//! and the head. It exposes partial tampering (one row edited, removed or moved) and, when
//! heads are copied somewhere else from time to time, rewrites before the copied head.

use hydronet_core::TenantId;
use serde::Serialize;
use sqlx::AnyConnection;

use super::AuditError;
use super::sql::{COLUMNS, Head, SqlAudit, StoredRow, find_head, lock_head, read_row, store_error};

/// Rows read per query while verifying.
const PAGE: i64 = 1000;

/// The state of one tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// The tenant.
    pub tenant_id: TenantId,
    /// How many records are stored after the anchor.
    pub records: u64,
    /// The first place the chain is broken, if any.
    pub first_problem: Option<ChainProblem>,
}

/// Where and how a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainProblem {
    /// The position of the record concerned. For [`ProblemKind::Deleted`], the first
    /// missing position, or the first one the head does not account for.
    pub seq: i64,
    /// The id of the record found at `seq`; empty when no record is there.
    pub id: String,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// How a chain is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The record's content no longer matches its hash.
    Edited,
    /// A record is missing: a gap in `seq`, or the head names a last record other than the
    /// last one stored (missing at the end, or records past the head).
    Deleted,
    /// The record is intact but does not follow the record before it: records were
    /// swapped or moved, or the record before was rewritten along with its hash.
    Reordered,
}

impl SqlAudit {
    /// Checks the chain of `tenant`, or of every tenant with records or a head.
    ///
    /// Each tenant is read in one snapshot, so appends and prunes running meanwhile do not
    /// show up as problems. On SQLite that takes WAL mode (the reference server's): in
    /// rollback-journal mode the reading transaction holds writers off until it ends.
    pub async fn verify(&self, tenant: Option<TenantId>) -> Result<Vec<ChainReport>, AuditError> {
        let tenants = match tenant {
            Some(tenant) => vec![tenant],
            None => self.tenants(true).await?,
        };

        let mut reports = Vec::with_capacity(tenants.len());
        for tenant in tenants {
            reports.push(self.verify_tenant(tenant).await?);
        }
        Ok(reports)
    }

    /// Deletes the records of `tenant` (or of every tenant with a head) written before
    /// `older_than_ms` (Unix milliseconds), and returns how many were deleted.
    ///
    /// Each tenant is pruned in a transaction of its own, holding its head's lock: the
    /// oldest records up to the first one at or after the cutoff are deleted, and the
    /// head's anchor moves to the last of them, where verification then starts. A record
    /// stamped before the cutoff but following a newer one (clocks of different instances
    /// disagree) is kept with it, so nothing newer than the cutoff is ever deleted.
    pub async fn prune(
        &self,
        tenant: Option<TenantId>,
        older_than_ms: i64,
    ) -> Result<u64, AuditError> {
        let tenants = match tenant {
            Some(tenant) => vec![tenant],
            None => self.tenants(false).await?,
        };

        let mut deleted = 0;
        for tenant in tenants {
            deleted += self
                .prune_tenant(&tenant.to_string(), older_than_ms)
                .await?;
        }
        Ok(deleted)
    }

    /// Tenants with a head and, if `with_records`, tenants with records but no head.
    async fn tenants(&self, with_records: bool) -> Result<Vec<TenantId>, AuditError> {
        let sql = if with_records {
            "SELECT tenant_id FROM audit_heads UNION SELECT tenant_id FROM audit_events"
        } else {
            "SELECT tenant_id FROM audit_heads"
        };
        let mut tx = self.begin().await?;
        let ids: Vec<(String,)> = sqlx::query_as(sql)
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error("listing audited tenants"))?;
        tx.commit()
            .await
            .map_err(store_error("listing audited tenants"))?;

        Ok(ids.iter().filter_map(|(id,)| parse_tenant(id)).collect())
    }

    async fn verify_tenant(&self, tenant: TenantId) -> Result<ChainReport, AuditError> {
        let tenant_str = tenant.to_string();
        let mut tx = self.begin_snapshot().await?;
        let head = find_head(&mut tx, &tenant_str)
            .await?
            .unwrap_or_else(Head::genesis);

        let mut walk = Walk::new(&head);
        loop {
            let page = page_after(&mut tx, &tenant_str, walk.last_seq).await?;
            for row in &page {
                walk.step(row);
            }
            if page.len() < PAGE as usize {
                break;
            }
        }
        tx.commit()
            .await
            .map_err(store_error("verifying audit records"))?;

        Ok(walk.finish(tenant))
    }

    async fn prune_tenant(&self, tenant: &str, cutoff: i64) -> Result<u64, AuditError> {
        let mut tx = self.begin().await?;
        let head = lock_head(&mut tx, self.backend(), tenant).await?;

        let Some((seq, hash)) = prune_boundary(&mut tx, tenant, &head, cutoff).await? else {
            tx.commit()
                .await
                .map_err(store_error("pruning audit records"))?;
            return Ok(0);
        };
        let deleted = cut(&mut tx, tenant, seq, &hash).await?;
        tx.commit()
            .await
            .map_err(store_error("pruning audit records"))?;

        tracing::info!(target: "hydronet::audit", tenant_id = %tenant, deleted, anchor_seq = seq, "audit records pruned");
        Ok(deleted)
    }
}

fn parse_tenant(id: &str) -> Option<TenantId> {
    let parsed = id.parse().ok();
    if parsed.is_none() {
        tracing::warn!(target: "hydronet::audit", tenant_id = %id, "audit rows with a malformed tenant id are not checked");
    }
    parsed
}

/// Up to [`PAGE`] records of `tenant` after `seq`, in order.
async fn page_after(
    conn: &mut AnyConnection,
    tenant: &str,
    seq: i64,
) -> Result<Vec<StoredRow>, AuditError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_events WHERE tenant_id = $1 AND seq > $2 \
         ORDER BY seq LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(seq)
        .bind(PAGE)
        .fetch_all(&mut *conn)
        .await
        .map_err(store_error("verifying audit records"))?;
    rows.iter()
        .map(|row| read_row(row).map_err(store_error("verifying audit records")))
        .collect()
}

/// The last record to prune (its `seq` and hash): the one before the first record at or
/// after `cutoff`, or the head's when all are older. `None` when there is nothing to prune.
async fn prune_boundary(
    conn: &mut AnyConnection,
    tenant: &str,
    head: &Head,
    cutoff: i64,
) -> Result<Option<(i64, String)>, AuditError> {
    let first_kept: Option<(i64,)> = sqlx::query_as(
        "SELECT seq FROM audit_events WHERE tenant_id = $1 AND seq > $2 AND time_ms >= $3 \
         ORDER BY seq LIMIT 1",
    )
    .bind(tenant)
    .bind(head.anchor_seq)
    .bind(cutoff)
    .fetch_optional(&mut *conn)
    .await
    .map_err(store_error("pruning audit records"))?;

    let seq = first_kept.map_or(head.seq, |(seq,)| seq - 1);
    if seq <= head.anchor_seq {
        return Ok(None);
    }
    if seq == head.seq {
        return Ok(Some((seq, head.hash.clone())));
    }

    let hash: Option<(String,)> =
        sqlx::query_as("SELECT hash FROM audit_events WHERE tenant_id = $1 AND seq = $2")
            .bind(tenant)
            .bind(seq)
            .fetch_optional(&mut *conn)
            .await
            .map_err(store_error("pruning audit records"))?;
    match hash {
        Some((hash,)) => Ok(Some((seq, hash))),
        None => Err(AuditError(format!(
            "the audit chain of tenant {tenant} has no record {seq}; verify it before pruning"
        ))),
    }
}

/// Moves the anchor of `tenant` to (`seq`, `hash`) and deletes the records up to `seq`.
async fn cut(
    conn: &mut AnyConnection,
    tenant: &str,
    seq: i64,
    hash: &str,
) -> Result<u64, AuditError> {
    sqlx::query("UPDATE audit_heads SET anchor_seq = $2, anchor_hash = $3 WHERE tenant_id = $1")
        .bind(tenant)
        .bind(seq)
        .bind(hash)
        .execute(&mut *conn)
        .await
        .map_err(store_error("pruning audit records"))?;

    let result = sqlx::query("DELETE FROM audit_events WHERE tenant_id = $1 AND seq <= $2")
        .bind(tenant)
        .bind(seq)
        .execute(&mut *conn)
        .await
        .map_err(store_error("pruning audit records"))?;
    Ok(result.rows_affected())
}

/// A walk along one chain, record by record.
#[derive(Debug)]
struct Walk {
    head_seq: i64,
    head_hash: String,
    /// The `seq` and hash of the last record seen (the anchor's before the first).
    last_seq: i64,
    last_hash: String,
    last_id: String,
    records: u64,
    problem: Option<ChainProblem>,
}

impl Walk {
    fn new(head: &Head) -> Self {
        Self {
            head_seq: head.seq,
            head_hash: head.hash.clone(),
            last_seq: head.anchor_seq,
            last_hash: head.anchor_hash.clone(),
            last_id: String::new(),
            records: 0,
            problem: None,
        }
    }

    /// Takes the next stored record.
    fn step(&mut self, row: &StoredRow) {
        if self.problem.is_none() {
            self.problem = self.check(row);
        }
        self.records += 1;
        self.last_seq = row.seq;
        self.last_hash.clone_from(&row.hash);
        self.last_id.clone_from(&row.record.id);
    }

    /// What is wrong with `row` as the successor of the last record, if anything.
    fn check(&self, row: &StoredRow) -> Option<ChainProblem> {
        let problem = |seq, id: &str, kind| {
            Some(ChainProblem {
                seq,
                id: id.to_owned(),
                kind,
            })
        };

        if row.seq != self.last_seq + 1 {
            return problem(self.last_seq + 1, "", ProblemKind::Deleted);
        }
        if row.seq > self.head_seq {
            return problem(row.seq, &row.record.id, ProblemKind::Deleted);
        }
        if row.record.hash(&row.prev_hash) != row.hash {
            return problem(row.seq, &row.record.id, ProblemKind::Edited);
        }
        if row.prev_hash != self.last_hash {
            return problem(row.seq, &row.record.id, ProblemKind::Reordered);
        }
        None
    }

    /// The report, once every record has been seen: the last one must be the head's.
    fn finish(mut self, tenant_id: TenantId) -> ChainReport {
        if self.problem.is_none() {
            self.problem = self.check_head();
        }
        ChainReport {
            tenant_id,
            records: self.records,
            first_problem: self.problem,
        }
    }

    fn check_head(&self) -> Option<ChainProblem> {
        let (seq, id) = if self.last_seq < self.head_seq {
            (self.last_seq + 1, String::new())
        } else if self.last_seq > self.head_seq {
            // Only when the anchor is past the head: later rows were caught in `check`.
            (self.head_seq + 1, String::new())
        } else if self.last_hash != self.head_hash {
            (self.last_seq, self.last_id.clone())
        } else {
            return None;
        };
        Some(ChainProblem {
            seq,
            id,
            kind: ProblemKind::Deleted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::Record;
    use crate::audit::test_db::{TestDb, on_both_backends};
    use crate::audit::{Actor, AuditEvent, AuditSink};

    on_both_backends!(
        an_intact_chain_verifies,
        an_edited_record_is_found,
        an_edit_with_a_recomputed_hash_is_found,
        a_deleted_record_is_found,
        a_deleted_last_record_is_found,
        a_swapped_pair_is_found,
        pruning_keeps_the_rest_verifiable,
        pruning_stops_at_the_first_newer_record,
    );

    /// Ten records for a new tenant, at 1 000, 2 000, … 10 000 ms.
    async fn ten(db: &TestDb) -> (TenantId, Vec<AuditEvent>) {
        let tenant = TenantId::new();
        let events: Vec<AuditEvent> = (1..=10)
            .map(|n| {
                let mut event = AuditEvent::new(tenant, Actor::System, format!("step.{n}"));
                event.time_ms = n * 1000;
                event
            })
            .collect();
        db.audit().record_batch(&events).await.unwrap();
        (tenant, events)
    }

    async fn problem(db: &TestDb, tenant: TenantId) -> Option<(ProblemKind, i64, String)> {
        let reports = db.audit().verify(Some(tenant)).await.unwrap();
        reports[0]
            .first_problem
            .clone()
            .map(|p| (p.kind, p.seq, p.id))
    }

    fn id(events: &[AuditEvent], seq: usize) -> String {
        events[seq - 1].id.to_string()
    }

    async fn an_intact_chain_verifies(db: TestDb) {
        let (a, _) = ten(&db).await;
        let (b, _) = ten(&db).await;

        let reports = db.audit().verify(None).await.unwrap();
        assert_eq!(reports.len(), 2);
        for report in reports {
            assert!([a, b].contains(&report.tenant_id));
            assert_eq!((report.records, report.first_problem), (10, None));
        }

        let unknown = db.audit().verify(Some(TenantId::new())).await.unwrap();
        assert_eq!((unknown[0].records, &unknown[0].first_problem), (0, &None));
    }

    async fn an_edited_record_is_found(db: TestDb) {
        let (tenant, events) = ten(&db).await;
        let (other, _) = ten(&db).await;

        db.exec(&format!(
            "UPDATE audit_events SET details = '{{\"role\":\"owner\"}}' \
             WHERE tenant_id = '{tenant}' AND seq = 5"
        ))
        .await;

        assert_eq!(
            problem(&db, tenant).await,
            Some((ProblemKind::Edited, 5, id(&events, 5)))
        );
        assert_eq!(problem(&db, other).await, None);
        let report = &db.audit().verify(Some(tenant)).await.unwrap()[0];
        assert_eq!(report.records, 10);
    }

    async fn an_edit_with_a_recomputed_hash_is_found(db: TestDb) {
        let (tenant, events) = ten(&db).await;

        // A forger who rewrites record 5 and its hash breaks the link from record 6.
        let mut forged = Record::from_event(&events[4]);
        forged.action = "step.forged".to_owned();
        let prev: (String,) =
            sqlx::query_as("SELECT prev_hash FROM audit_events WHERE tenant_id = $1 AND seq = 5")
                .bind(tenant.to_string())
                .fetch_one(&db.pool)
                .await
                .unwrap();
        db.exec(&format!(
            "UPDATE audit_events SET action = 'step.forged', hash = '{}' \
             WHERE tenant_id = '{tenant}' AND seq = 5",
            forged.hash(&prev.0)
        ))
        .await;

        assert_eq!(
            problem(&db, tenant).await,
            Some((ProblemKind::Reordered, 6, id(&events, 6)))
        );
    }

    async fn a_deleted_record_is_found(db: TestDb) {
        let (tenant, _) = ten(&db).await;

        db.exec(&format!(
            "DELETE FROM audit_events WHERE tenant_id = '{tenant}' AND seq = 5"
        ))
        .await;

        assert_eq!(
            problem(&db, tenant).await,
            Some((ProblemKind::Deleted, 5, String::new()))
        );
    }

    async fn a_deleted_last_record_is_found(db: TestDb) {
        let (tenant, events) = ten(&db).await;

        db.exec(&format!(
            "DELETE FROM audit_events WHERE tenant_id = '{tenant}' AND seq = 10"
        ))
        .await;
        assert_eq!(
            problem(&db, tenant).await,
            Some((ProblemKind::Deleted, 10, String::new()))
        );

        // Rolling the head back as well leaves the chain consistent up to 9: that is what
        // a hash chain without an outside copy of its head cannot see.
        db.exec(&format!(
            "UPDATE audit_heads SET seq = 9, hash = \
             (SELECT hash FROM audit_events WHERE tenant_id = '{tenant}' AND seq = 9) \
             WHERE tenant_id = '{tenant}'"
        ))
        .await;
        assert_eq!(problem(&db, tenant).await, None);

        // A head moved back while the records stay is found.
        db.exec(&format!(
            "UPDATE audit_heads SET seq = 8 WHERE tenant_id = '{tenant}'"
        ))
        .await;
        assert_eq!(
            problem(&db, tenant).await,
            Some((ProblemKind::Deleted, 9, id(&events, 9)))
        );
    }

    async fn a_swapped_pair_is_found(db: TestDb) {
        let (tenant, events) = ten(&db).await;

        // Every column but the key moves: record 5's data now sits at seq 4 and back.
        for (from, to) in [(4, -1), (5, 4), (-1, 5)] {
            db.exec(&format!(
                "UPDATE audit_events SET seq = {to} WHERE tenant_id = '{tenant}' AND seq = {from}"
            ))
            .await;
        }

        assert_eq!(
            problem(&db, tenant).await,
            Some((ProblemKind::Reordered, 4, id(&events, 5)))
        );
    }

    async fn pruning_keeps_the_rest_verifiable(db: TestDb) {
        let audit = db.audit();
        let (tenant, _) = ten(&db).await;
        let (other, _) = ten(&db).await;

        // Records 1–4 are older than 5 000 ms.
        assert_eq!(audit.prune(Some(tenant), 5_000).await.unwrap(), 4);
        assert_eq!(audit.prune(Some(tenant), 5_000).await.unwrap(), 0);
        let report = &audit.verify(Some(tenant)).await.unwrap()[0];
        assert_eq!((report.records, &report.first_problem), (6, &None));

        // The chain goes on from the head, and verifies from the anchor.
        audit
            .record(AuditEvent::new(tenant, Actor::System, "after.prune"))
            .await
            .unwrap();
        let report = &audit.verify(Some(tenant)).await.unwrap()[0];
        assert_eq!((report.records, &report.first_problem), (7, &None));

        // Deleting the first record after the anchor is still found.
        db.exec(&format!(
            "DELETE FROM audit_events WHERE tenant_id = '{tenant}' AND seq = 5"
        ))
        .await;
        assert_eq!(
            problem(&db, tenant).await,
            Some((ProblemKind::Deleted, 5, String::new()))
        );

        // Every tenant at once, up to all their records.
        assert_eq!(audit.prune(None, i64::MAX).await.unwrap(), 10 + 6);
        for report in audit.verify(None).await.unwrap() {
            assert_eq!((report.records, &report.first_problem), (0, &None));
        }
        assert_eq!(db.number("SELECT COUNT(*) FROM audit_events").await, 0);
        assert!(
            audit.verify(Some(other)).await.unwrap()[0]
                .first_problem
                .is_none()
        );
    }

    async fn pruning_stops_at_the_first_newer_record(db: TestDb) {
        let audit = db.audit();
        let tenant = TenantId::new();
        // Instances' clocks disagree: record 3 is stamped later than records 4 and 5.
        let events: Vec<AuditEvent> = [1_000, 2_000, 9_000, 3_000, 4_000]
            .into_iter()
            .map(|time_ms| AuditEvent {
                time_ms,
                ..AuditEvent::new(tenant, Actor::System, "step")
            })
            .collect();
        audit.record_batch(&events).await.unwrap();

        assert_eq!(audit.prune(Some(tenant), 5_000).await.unwrap(), 2);
        let report = &audit.verify(Some(tenant)).await.unwrap()[0];
        assert_eq!((report.records, &report.first_problem), (3, &None));
    }
}
