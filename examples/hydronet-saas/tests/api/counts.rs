//! Counted resources: a plan's limit holds under concurrent creations, slots come back on
//! deletion and rollback, and each tenant is counted on its own.

use std::sync::Arc;

use hydronet_core::TenantId;
use hydronet_saas::counts::{self, Resource};
use hydronet_saas::error::ApiError;
use hydronet_saas::state::AppState;
use tokio::sync::Barrier;

use crate::helpers::{TestApp, postgres_url};

async fn tenant(app: &TestApp, email: &str, name: &str) -> TenantId {
    let reply = app.register(email, name).await;
    reply.body["tenant"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Takes a slot in a transaction of its own, committed when the slot was granted.
async fn take(
    state: &AppState,
    tenant: TenantId,
    resource: Resource,
    limit: u32,
) -> Result<(), ApiError> {
    let mut tx = state.db.tenant(tenant).await?;
    counts::take_slot(&mut tx, tenant, resource, limit).await?;
    tx.commit().await?;
    Ok(())
}

async fn free(state: &AppState, tenant: TenantId, resource: Resource) {
    let mut tx = state.db.tenant(tenant).await.unwrap();
    counts::free_slot(&mut tx, tenant, resource).await.unwrap();
    tx.commit().await.unwrap();
}

async fn count(state: &AppState, tenant: TenantId, resource: Resource) -> i64 {
    let mut tx = state.db.tenant(tenant).await.unwrap();
    let count = counts::count(&mut tx, tenant, resource).await.unwrap();
    tx.commit().await.unwrap();
    count
}

#[track_caller]
fn assert_quota_exceeded(result: Result<(), ApiError>) {
    match result {
        Err(ApiError::Problem(problem)) => {
            assert_eq!(problem.status().as_u16(), 403, "{problem}");
            assert_eq!(problem.code(), "quota_exceeded");
        }
        other => panic!("expected quota_exceeded, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_the_limit_of_concurrent_takers_get_a_slot() {
    const LIMIT: u32 = 5;
    const TAKERS: usize = 20;
    let app = TestApp::new().await;
    let t = tenant(&app, "race@counts.example", "Race").await;

    // Every task starts its transaction at the same moment, so the updates really overlap.
    let start = Arc::new(Barrier::new(TAKERS));
    let tasks: Vec<_> = (0..TAKERS)
        .map(|_| {
            let state = app.state.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                take(&state, t, Resource::Conversations, LIMIT).await
            })
        })
        .collect();

    let mut granted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => granted += 1,
            refused => assert_quota_exceeded(refused),
        }
    }
    assert_eq!(granted, LIMIT);
    assert_eq!(
        count(&app.state, t, Resource::Conversations).await,
        i64::from(LIMIT)
    );
}

#[tokio::test]
async fn a_freed_slot_can_be_taken_again_and_the_count_never_goes_below_zero() {
    let app = TestApp::new().await;
    let t = tenant(&app, "free@counts.example", "Free").await;
    let state = &app.state;

    take(state, t, Resource::McpServers, 2).await.unwrap();
    take(state, t, Resource::McpServers, 2).await.unwrap();
    assert_quota_exceeded(take(state, t, Resource::McpServers, 2).await);

    free(state, t, Resource::McpServers).await;
    assert_eq!(count(state, t, Resource::McpServers).await, 1);
    take(state, t, Resource::McpServers, 2).await.unwrap();
    assert_quota_exceeded(take(state, t, Resource::McpServers, 2).await);

    for _ in 0..4 {
        free(state, t, Resource::McpServers).await;
    }
    assert_eq!(count(state, t, Resource::McpServers).await, 0);

    // A resource never taken has no row; freeing it creates none and counts nothing.
    free(state, t, Resource::Conversations).await;
    assert_eq!(count(state, t, Resource::Conversations).await, 0);
}

#[tokio::test]
async fn a_limit_of_zero_refuses_the_first_slot() {
    let app = TestApp::new().await;
    let t = tenant(&app, "zero@counts.example", "Zero").await;

    let mut tx = app.state.db.tenant(t).await.unwrap();
    let refused = counts::take_slot(&mut tx, t, Resource::McpServers, 0).await;
    let Err(ApiError::Problem(problem)) = refused else {
        panic!("expected a problem, got {refused:?}");
    };
    assert_eq!(problem.code(), "quota_exceeded");
    assert!(
        problem.detail().contains("MCP servers (0)"),
        "{}",
        problem.detail()
    );
}

#[tokio::test]
async fn tenants_and_resources_are_counted_separately() {
    let app = TestApp::new().await;
    let a = tenant(&app, "a@counts.example", "A").await;
    let b = tenant(&app, "b@counts.example", "B").await;
    let state = &app.state;

    take(state, a, Resource::McpServers, 1).await.unwrap();
    assert_quota_exceeded(take(state, a, Resource::McpServers, 1).await);

    take(state, b, Resource::McpServers, 1).await.unwrap();
    take(state, a, Resource::Conversations, 1).await.unwrap();
    assert_eq!(count(state, a, Resource::McpServers).await, 1);
    assert_eq!(count(state, b, Resource::McpServers).await, 1);
    assert_eq!(count(state, b, Resource::Conversations).await, 0);

    free(state, b, Resource::McpServers).await;
    assert_eq!(count(state, a, Resource::McpServers).await, 1);
}

#[tokio::test]
async fn a_rolled_back_transaction_does_not_keep_its_slot() {
    let app = TestApp::new().await;
    let t = tenant(&app, "rollback@counts.example", "Rollback").await;

    let mut tx = app.state.db.tenant(t).await.unwrap();
    counts::take_slot(&mut tx, t, Resource::McpServers, 1)
        .await
        .unwrap();
    assert_eq!(
        counts::count(&mut tx, t, Resource::McpServers)
            .await
            .unwrap(),
        1
    );
    tx.rollback().await.unwrap();

    assert_eq!(count(&app.state, t, Resource::McpServers).await, 0);
    take(&app.state, t, Resource::McpServers, 1).await.unwrap();
}

#[tokio::test]
#[ignore = "needs HYDRONET_TEST_DATABASE_URL"]
async fn rls_hides_and_protects_other_tenants_counts() {
    assert!(
        postgres_url().is_some(),
        "set HYDRONET_TEST_DATABASE_URL to run the PostgreSQL tests"
    );
    let app = TestApp::new().await;
    let a = tenant(&app, "rls-a@counts.example", "A").await;
    let b = tenant(&app, "rls-b@counts.example", "B").await;
    take(&app.state, a, Resource::McpServers, 10).await.unwrap();
    take(&app.state, b, Resource::McpServers, 10).await.unwrap();

    // No WHERE clause: the policy alone keeps A's row out of B's view.
    let mut tx = app.state.db.tenant(b).await.unwrap();
    let rows: Vec<(String,)> = sqlx::query_as("SELECT tenant_id FROM resource_counts")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    // B's own rows (its users and MCP servers), none of A's.
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|(t,)| *t == b.to_string()), "{rows:?}");

    let update = sqlx::query("UPDATE resource_counts SET count = 0 WHERE tenant_id = $1")
        .bind(a.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(update.rows_affected(), 0);

    // Taking a slot for A from B's transaction is refused by the policy's check.
    let foreign = counts::take_slot(&mut tx, a, Resource::Conversations, 10).await;
    assert!(matches!(foreign, Err(ApiError::Database(_))), "{foreign:?}");
    drop(tx);

    assert_eq!(count(&app.state, a, Resource::McpServers).await, 1);
}

#[tokio::test]
async fn registering_a_tenant_counts_its_owner() {
    let app = TestApp::new().await;
    let reply = app.register("first@counted.example", "Counted").await;
    let tenant: TenantId = reply.body["tenant"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let mut tx = app.state.db.tenant(tenant).await.unwrap();
    assert_eq!(
        counts::count(&mut tx, tenant, Resource::Users)
            .await
            .unwrap(),
        1
    );
    tx.commit().await.unwrap();
}
