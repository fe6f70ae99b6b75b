//! Each tenant's effective limits: its current plan's, from configuration, with the
//! overrides a system administrator set for that tenant; and whether it is suspended.
//!
//! Plans and status live in `tenants.plan`/`tenants.status`, overrides in `tenants.limits`
//! (a JSON object of the fields that differ); in memory all three sit in an immutable map
//! swapped atomically on change, so the request path reads them without a lock or I/O.
//! Other instances reload the map when a change is announced on the policy channel.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hydronet_core::{Plan, PlanCatalog, PlanLimits, Problem, TenantContext, TenantId};
use hydronet_tenancy::auth::TenantGate;
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

/// What the request path needs to know of a tenant, kept in memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct TenantState {
    plan: Option<Plan>,
    suspended: bool,
    overrides: LimitOverrides,
}

/// The plan catalog plus every tenant's current plan, suspension and overrides.
///
/// It is also the authentication layer's [`TenantGate`]: a suspended tenant is refused on
/// its next request whatever credential it presents, and a credential issued before a
/// plan change is served on the new plan.
#[derive(Debug)]
pub struct TenantLimits {
    catalog: PlanCatalog,
    tenants: ArcSwap<HashMap<TenantId, TenantState>>,
}

impl TenantLimits {
    /// Limits from `catalog`, no tenant known yet.
    pub fn new(catalog: PlanCatalog) -> Self {
        Self {
            catalog,
            tenants: ArcSwap::from_pointee(HashMap::new()),
        }
    }

    /// The plan catalog.
    pub fn catalog(&self) -> &PlanCatalog {
        &self.catalog
    }

    /// What `tenant` may use; `plan` (from the credential) counts only when the tenant's
    /// current plan is not known here yet. Lock-free.
    pub fn effective(&self, tenant: TenantId, plan: Plan) -> PlanLimits {
        match self.tenants.load().get(&tenant) {
            Some(state) => state
                .overrides
                .apply(self.catalog.limits(state.plan.unwrap_or(plan))),
            None => self.catalog.limits(plan),
        }
    }

    /// `tenant`'s current plan, or `fallback` when not known here.
    pub fn plan(&self, tenant: TenantId, fallback: Plan) -> Plan {
        self.tenants
            .load()
            .get(&tenant)
            .and_then(|state| state.plan)
            .unwrap_or(fallback)
    }

    /// Whether `tenant` is suspended.
    pub fn is_suspended(&self, tenant: TenantId) -> bool {
        self.tenants
            .load()
            .get(&tenant)
            .is_some_and(|state| state.suspended)
    }

    /// `tenant`'s overrides.
    pub fn overrides(&self, tenant: TenantId) -> LimitOverrides {
        self.tenants
            .load()
            .get(&tenant)
            .map(|state| state.overrides)
            .unwrap_or_default()
    }

    /// Replaces `tenant`'s overrides in memory (the caller stores them).
    pub fn set(&self, tenant: TenantId, overrides: LimitOverrides) {
        self.update(tenant, |state| state.overrides = overrides);
    }

    /// Records `tenant`'s plan and suspension in memory (the caller stores them).
    pub fn set_status(&self, tenant: TenantId, plan: Plan, suspended: bool) {
        self.update(tenant, |state| {
            state.plan = Some(plan);
            state.suspended = suspended;
        });
    }

    /// Forgets `tenant` (deleted).
    pub fn forget(&self, tenant: TenantId) {
        self.tenants.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.remove(&tenant);
            next
        });
    }

    fn update(&self, tenant: TenantId, change: impl Fn(&mut TenantState)) {
        self.tenants.rcu(|current| {
            let mut next = HashMap::clone(current);
            change(next.entry(tenant).or_default());
            next
        });
    }

    /// Loads every tenant's plan, status and overrides from the database.
    pub async fn load(&self, db: &Db) -> Result<(), sqlx::Error> {
        let mut tx = db.system().await?;
        let rows: Vec<(String, String, String, Option<String>)> =
            sqlx::query_as("SELECT id, plan, status, limits FROM tenants")
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;

        let map = rows
            .into_iter()
            .filter_map(|(id, plan, status, limits)| {
                let state = TenantState {
                    plan: Some(plan.parse().unwrap_or_default()),
                    suspended: status != "active",
                    overrides: limits
                        .and_then(|json| serde_json::from_str(&json).ok())
                        .unwrap_or_default(),
                };
                Some((id.parse().ok()?, state))
            })
            .collect();
        self.tenants.store(Arc::new(map));
        Ok(())
    }
}

impl TenantGate for TenantLimits {
    fn admit(&self, context: TenantContext) -> Result<TenantContext, Problem> {
        let tenants = self.tenants.load();
        let Some(state) = tenants.get(&context.tenant_id()) else {
            return Ok(context);
        };
        if state.suspended {
            return Err(Problem::tenant_suspended());
        }
        match state.plan {
            Some(plan) if plan != context.plan() => Ok(context.with_plan(plan)),
            _ => Ok(context),
        }
    }
}

impl LimitsSource for TenantLimits {
    fn limits_for(&self, tenant: TenantId, plan: Plan) -> PlanLimits {
        self.effective(tenant, plan)
    }
}
