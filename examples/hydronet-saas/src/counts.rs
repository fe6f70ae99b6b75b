//! Counted resources: how many users, conversations and MCP servers a tenant holds, checked
//! against its plan when one is created.
//!
//! ```no_run
//! use hydronet_core::{Plan, TenantId};
//! use hydronet_saas::counts::{self, Resource};
//! use hydronet_saas::error::ApiError;
//! use hydronet_saas::state::AppState;
//!
//! async fn add_mcp_server(state: &AppState, tenant: TenantId, plan: Plan) -> Result<(), ApiError> {
//!     let limits = state.settings.plans.limits(plan);
//!     let mut tx = state.db.tenant(tenant).await?;
//!     let resource = Resource::McpServers;
//!     counts::take_slot(&mut tx, tenant, resource, resource.limit(&limits)).await?;
//!     // Insert the server's own row here, in the same transaction.
//!     tx.commit().await?;
//!     Ok(())
//! }
//! ```
//!
//! # Why a counter row
//!
//! Counting the existing rows with `COUNT(*)` and inserting when there is room is a race:
//! two requests both count `limit - 1` and both insert. Instead each tenant has one row per
//! resource in `resource_counts`, and taking a slot is a single conditional statement,
//! `UPDATE ... SET count = count + 1 WHERE ... AND count < limit`. The database decides
//! whether it matched, so exactly `limit` takers succeed however many arrive at once:
//!
//! - on SQLite a write transaction holds the database's single write lock, so the updates
//!   run one after another, each seeing the previous one's count;
//! - on PostgreSQL (read committed, the default) a concurrent update waits for the row lock
//!   and then re-evaluates its `WHERE` against the committed row.
//!
//! The slot belongs to the caller's transaction: if it rolls back, so does the slot. The
//! row stays locked until commit, so creations of one resource in one tenant are
//! serialised; keep those transactions short. On SQLite, take the slot before reading
//! anything else in the transaction, so it starts as a writer and waits its turn instead of
//! failing with a stale snapshot.
//!
//! Deleting a resource gives its slot back with [`free_slot`], in the transaction that
//! deletes the row.

use http::StatusCode;
use hydronet_core::{PlanLimits, Problem, TenantId};

use crate::db::Tx;
use crate::error::ApiError;

/// A resource counted against a plan limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// User accounts of the tenant.
    Users,
    /// Conversations kept at once.
    Conversations,
    /// Registered MCP tool servers.
    McpServers,
}

impl Resource {
    /// The name stored in `resource_counts.resource`.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Users => "users",
            Resource::Conversations => "conversations",
            Resource::McpServers => "mcp_servers",
        }
    }

    /// How many of this resource `limits` allow.
    pub fn limit(self, limits: &PlanLimits) -> u32 {
        match self {
            Resource::Users => limits.max_users,
            Resource::Conversations => limits.max_conversations,
            Resource::McpServers => limits.max_mcp_servers,
        }
    }

    /// The name shown to people.
    fn label(self) -> &'static str {
        match self {
            Resource::Users => "users",
            Resource::Conversations => "conversations",
            Resource::McpServers => "MCP servers",
        }
    }
}

/// Takes one slot of `resource` for `tenant` inside `tx` if fewer than `limit` are taken.
///
/// Atomic on both backends (see the [module docs](self)). When every slot is taken the
/// answer is a 403 problem with code `quota_exceeded`, naming the resource and the limit.
pub async fn take_slot(
    tx: &mut Tx,
    tenant: TenantId,
    resource: Resource,
    limit: u32,
) -> Result<(), ApiError> {
    let tenant_id = tenant.to_string();

    // The UPDATE needs a row to match; if another transaction creates it first, this
    // insert waits for it and then does nothing.
    sqlx::query(
        "INSERT INTO resource_counts (tenant_id, resource, count) VALUES ($1, $2, 0) \
         ON CONFLICT (tenant_id, resource) DO NOTHING",
    )
    .bind(&tenant_id)
    .bind(resource.as_str())
    .execute(&mut **tx)
    .await?;

    let taken = sqlx::query(
        "UPDATE resource_counts SET count = count + 1 \
         WHERE tenant_id = $1 AND resource = $2 AND count < $3",
    )
    .bind(&tenant_id)
    .bind(resource.as_str())
    .bind(i64::from(limit))
    .execute(&mut **tx)
    .await?;
    if taken.rows_affected() == 1 {
        return Ok(());
    }

    tracing::debug!(tenant_id = %tenant, resource = resource.as_str(), limit, "plan limit reached");
    Err(quota_exceeded(resource, limit).into())
}

/// Gives a slot of `resource` back (never below zero), in the transaction that deletes it.
pub async fn free_slot(
    tx: &mut Tx,
    tenant: TenantId,
    resource: Resource,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE resource_counts SET count = count - 1 \
         WHERE tenant_id = $1 AND resource = $2 AND count > 0",
    )
    .bind(tenant.to_string())
    .bind(resource.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How many slots of `resource` `tenant` holds, as `tx` sees it.
pub async fn count(tx: &mut Tx, tenant: TenantId, resource: Resource) -> Result<i64, sqlx::Error> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT count FROM resource_counts WHERE tenant_id = $1 AND resource = $2")
            .bind(tenant.to_string())
            .bind(resource.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row.map_or(0, |(count,)| count))
}

fn quota_exceeded(resource: Resource, limit: u32) -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "quota_exceeded",
        format!(
            "This tenant has reached its plan's limit of {} ({limit}); delete one or upgrade \
             the plan.",
            resource.label()
        ),
    )
}

#[cfg(test)]
mod tests {
    use hydronet_core::Plan;

    use super::*;

    #[test]
    fn each_resource_reads_its_own_limit() {
        let limits = PlanLimits {
            max_users: 7,
            max_conversations: 8,
            max_mcp_servers: 9,
            ..Plan::Free.limits()
        };
        assert_eq!(Resource::Users.limit(&limits), 7);
        assert_eq!(Resource::Conversations.limit(&limits), 8);
        assert_eq!(Resource::McpServers.limit(&limits), 9);
    }

    #[test]
    fn the_problem_names_the_resource_and_the_limit() {
        let problem = quota_exceeded(Resource::McpServers, 3);
        assert_eq!(problem.status(), StatusCode::FORBIDDEN);
        assert_eq!(problem.code(), "quota_exceeded");
        assert!(
            problem.detail().contains("MCP servers (3)"),
            "{}",
            problem.detail()
        );
    }
}
