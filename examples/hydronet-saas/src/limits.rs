//! Each tenant's effective limits: its plan's, from configuration, with the overrides a
//! system administrator set for that tenant.
//!
//! Overrides live in `tenants.limits` (a JSON object of the fields that differ) and in an
//! immutable map swapped atomically on change, so the request path reads them without a
//! lock or I/O.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hydronet_core::{Plan, PlanCatalog, PlanLimits, TenantId};
use hydronet_tenancy::quota::LimitsSource;
use serde::{Deserialize, Serialize};

use crate::db::Db;

/// Limits that replace the plan's for one tenant; absent fields keep the plan's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// API requests per minute for the tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    /// API requests per minute for each user or key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_requests_per_minute: Option<u32>,
    /// LLM tokens per UTC day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_day: Option<u64>,
    /// LLM tokens per UTC month.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_month: Option<u64>,
    /// Users.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_users: Option<u32>,
    /// Conversations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_conversations: Option<u32>,
    /// MCP servers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_mcp_servers: Option<u32>,
}

impl LimitOverrides {
    /// `base` with these overrides applied.
    pub fn apply(&self, base: PlanLimits) -> PlanLimits {
        PlanLimits {
            requests_per_minute: self.requests_per_minute.unwrap_or(base.requests_per_minute),
            user_requests_per_minute: self
                .user_requests_per_minute
                .unwrap_or(base.user_requests_per_minute),
            tokens_per_day: self.tokens_per_day.unwrap_or(base.tokens_per_day),
            tokens_per_month: self.tokens_per_month.unwrap_or(base.tokens_per_month),
            max_users: self.max_users.unwrap_or(base.max_users),
            max_conversations: self.max_conversations.unwrap_or(base.max_conversations),
            max_mcp_servers: self.max_mcp_servers.unwrap_or(base.max_mcp_servers),
        }
    }

    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The plan catalog plus every tenant's overrides.
#[derive(Debug)]
pub struct TenantLimits {
    catalog: PlanCatalog,
    overrides: ArcSwap<HashMap<TenantId, LimitOverrides>>,
}

impl TenantLimits {
    /// Limits from `catalog`, no overrides yet.
    pub fn new(catalog: PlanCatalog) -> Self {
        Self {
            catalog,
            overrides: ArcSwap::from_pointee(HashMap::new()),
        }
    }

    /// What `tenant` on `plan` may use. Lock-free.
    pub fn effective(&self, tenant: TenantId, plan: Plan) -> PlanLimits {
        let base = self.catalog.limits(plan);
        match self.overrides.load().get(&tenant) {
            Some(overrides) => overrides.apply(base),
            None => base,
        }
    }

    /// `tenant`'s overrides.
    pub fn overrides(&self, tenant: TenantId) -> LimitOverrides {
        self.overrides
            .load()
            .get(&tenant)
            .copied()
            .unwrap_or_default()
    }

    /// Replaces `tenant`'s overrides in memory (the caller stores them).
    pub fn set(&self, tenant: TenantId, overrides: LimitOverrides) {
        self.overrides.rcu(|current| {
            let mut next = HashMap::clone(current);
            if overrides.is_empty() {
                next.remove(&tenant);
            } else {
                next.insert(tenant, overrides);
            }
            next
        });
    }

    /// Loads every tenant's overrides from the database.
    pub async fn load(&self, db: &Db) -> Result<(), sqlx::Error> {
        let mut tx = db.system().await?;
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, limits FROM tenants WHERE limits IS NOT NULL")
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;

        let map = rows
            .into_iter()
            .filter_map(|(id, json)| Some((id.parse().ok()?, serde_json::from_str(&json).ok()?)))
            .collect();
        self.overrides.store(Arc::new(map));
        Ok(())
    }
}

impl LimitsSource for TenantLimits {
    fn limits_for(&self, tenant: TenantId, plan: Plan) -> PlanLimits {
        self.effective(tenant, plan)
    }
}
