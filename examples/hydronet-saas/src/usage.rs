//! Usage counters: requests and tokens per tenant per UTC day.
//!
//! Counting happens in memory on the request path (one sharded-map increment) and is
//! written to `usage_daily` in batches by [`UsageRecorder::flush`], every few seconds and
//! at shutdown. Readers add what is still pending, so numbers are exact without a write
//! per request. A flush that fails puts its counts back for the next one.

use std::sync::Arc;

use dashmap::DashMap;
use hydronet_core::{Clock, TenantId};
use hydronet_tenancy::quota::periods;

use crate::db::Db;

/// Counts of one tenant on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayUsage {
    /// API requests admitted.
    pub requests: i64,
    /// LLM prompt tokens.
    pub prompt_tokens: i64,
    /// LLM completion tokens.
    pub completion_tokens: i64,
    /// Calls of MCP tools the model made.
    pub tool_calls: i64,
}

impl DayUsage {
    fn add(&mut self, other: DayUsage) {
        self.requests += other.requests;
        self.prompt_tokens += other.prompt_tokens;
        self.tool_calls += other.tool_calls;
        self.completion_tokens += other.completion_tokens;
    }
}

/// Counts usage in memory and writes it to the database in batches.
#[derive(Debug)]
pub struct UsageRecorder {
    pending: DashMap<(TenantId, u32), DayUsage>,
    clock: Arc<dyn Clock>,
}

impl UsageRecorder {
    /// A recorder dating usage by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            pending: DashMap::new(),
            clock,
        }
    }

    fn today(&self) -> u32 {
        periods(self.clock.now_secs()).0
    }

    /// Counts one admitted request of `tenant`.
    pub fn request(&self, tenant: TenantId) {
        self.pending
            .entry((tenant, self.today()))
            .or_default()
            .requests += 1;
    }

    /// Counts LLM tokens of `tenant`.
    pub fn tokens(&self, tenant: TenantId, prompt: u64, completion: u64) {
        let mut entry = self.pending.entry((tenant, self.today())).or_default();
        entry.prompt_tokens += i64::try_from(prompt).unwrap_or(i64::MAX);
        entry.completion_tokens += i64::try_from(completion).unwrap_or(i64::MAX);
    }

    /// Counts one call of an MCP tool by `tenant`'s assistant.
    pub fn tool_call(&self, tenant: TenantId) {
        self.pending
            .entry((tenant, self.today()))
            .or_default()
            .tool_calls += 1;
    }

    /// What `tenant` has counted but not yet written, per day.
    pub fn pending(&self, tenant: TenantId) -> Vec<(u32, DayUsage)> {
        self.pending
            .iter()
            .filter(|entry| entry.key().0 == tenant)
            .map(|entry| (entry.key().1, *entry.value()))
            .collect()
    }

    /// Writes everything pending in one transaction.
    pub async fn flush(&self, db: &Db) -> Result<(), sqlx::Error> {
        let keys: Vec<(TenantId, u32)> = self.pending.iter().map(|e| *e.key()).collect();
        let drained: Vec<((TenantId, u32), DayUsage)> = keys
            .into_iter()
            .filter_map(|key| self.pending.remove(&key))
            .collect();
        if drained.is_empty() {
            return Ok(());
        }

        let result = write(db, &drained).await;
        if result.is_err() {
            // Nothing is lost: the counts wait for the next flush.
            for (key, usage) in drained {
                self.pending.entry(key).or_default().add(usage);
            }
        }
        result
    }
}

async fn write(db: &Db, rows: &[((TenantId, u32), DayUsage)]) -> Result<(), sqlx::Error> {
    let mut tx = db.system().await?;
    for ((tenant, day), usage) in rows {
        sqlx::query(
            "INSERT INTO usage_daily (tenant_id, day, requests, prompt_tokens, completion_tokens, tool_calls) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, day) DO UPDATE SET \
               requests = usage_daily.requests + excluded.requests, \
               prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens, \
               completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens, \
               tool_calls = usage_daily.tool_calls + excluded.tool_calls",
        )
        .bind(tenant.to_string())
        .bind(i64::from(*day))
        .bind(usage.requests)
        .bind(usage.prompt_tokens)
        .bind(usage.completion_tokens)
        .bind(usage.tool_calls)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Stored usage of `tenant` for days `from..=to` (YYYYMMDD), in a tenant transaction.
pub async fn stored(
    db: &Db,
    tenant: TenantId,
    from: u32,
    to: u32,
) -> Result<Vec<(u32, DayUsage)>, sqlx::Error> {
    let mut tx = db.tenant_reader(tenant).await?;
    let rows: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT day, requests, prompt_tokens, completion_tokens, tool_calls FROM usage_daily \
         WHERE tenant_id = $1 AND day >= $2 AND day <= $3 ORDER BY day",
    )
    .bind(tenant.to_string())
    .bind(i64::from(from))
    .bind(i64::from(to))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(day, requests, prompt_tokens, completion_tokens, tool_calls)| {
                let usage = DayUsage {
                    requests,
                    prompt_tokens,
                    completion_tokens,
                    tool_calls,
                };
                Some((u32::try_from(day).ok()?, usage))
            },
        )
        .collect())
}
