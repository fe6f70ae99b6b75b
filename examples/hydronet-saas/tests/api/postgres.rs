//! PostgreSQL's second wall: row-level security on every tenant table, enforced against
//! the role the application runs as. Runs only against a configured PostgreSQL server
//! (`HYDRONET_TEST_DATABASE_URL`); the CI run sets it and includes ignored tests.

use std::time::{Duration, Instant};

use hydronet_core::TenantId;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, postgres_url, redis_url};

fn require_postgres() {
    assert!(
        postgres_url().is_some(),
        "set HYDRONET_TEST_DATABASE_URL to run the PostgreSQL tests"
    );
}

#[tokio::test]
#[ignore = "needs HYDRONET_TEST_DATABASE_URL"]
async fn every_tenant_table_has_rls_enabled_and_forced() {
    require_postgres();
    let app = TestApp::new().await;
    let tables: Vec<(String, bool, bool)> = sqlx::query_as(
        "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> '_sqlx_migrations'",
    )
    .fetch_all(app.state.db.pool())
    .await
    .unwrap();

    assert!(tables.len() >= 5, "{tables:?}");
    for (table, enabled, forced) in tables {
        assert!(
            enabled && forced,
            "{table}: rls enabled={enabled} forced={forced}"
        );
    }
}

#[tokio::test]
#[ignore = "needs HYDRONET_TEST_DATABASE_URL"]
async fn the_app_role_cannot_bypass_rls() {
    require_postgres();
    let app = TestApp::new().await;
    let (superuser, bypass): (bool, bool) = sqlx::query_as(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'hydronet_app'",
    )
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert!(!superuser && !bypass);

    let owned: Vec<(String,)> = sqlx::query_as(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tableowner = 'hydronet_app'",
    )
    .fetch_all(app.state.db.pool())
    .await
    .unwrap();
    assert!(owned.is_empty(), "{owned:?}");

    // Inside a tenant transaction the effective role is the app role.
    let mut tx = app.state.db.tenant(TenantId::new()).await.unwrap();
    let (role,): (String,) = sqlx::query_as("SELECT current_user::text")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(role, "hydronet_app");
}

#[tokio::test]
#[ignore = "needs HYDRONET_TEST_DATABASE_URL"]
async fn rls_hides_other_tenants_even_without_a_where_clause() {
    require_postgres();
    let app = TestApp::new().await;
    let a = app.register("rls-a@example.com", "A").await;
    let b = app.register("rls-b@example.com", "B").await;
    let a_id = a.body["tenant"]["id"].as_str().unwrap().to_owned();
    let b_id: TenantId = b.body["tenant"]["id"].as_str().unwrap().parse().unwrap();

    let mut tx = app.state.db.tenant(b_id).await.unwrap();
    for table in [
        "tenants",
        "users",
        "casbin_rules",
        "sessions",
        "refresh_tokens",
    ] {
        let column = if table == "tenants" {
            "id"
        } else {
            "tenant_id"
        };
        let sql = format!("SELECT {column} FROM {table}");
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        assert!(!rows.is_empty(), "{table}: B sees its own rows");
        // Policies of the built-in roles (`*`) are shared by every tenant.
        assert!(
            rows.iter().all(|(t,)| *t == b_id.to_string() || t == "*"),
            "{table}: {rows:?}"
        );
        assert!(rows.iter().any(|(t,)| *t == b_id.to_string()), "{table}");
    }
    let update = sqlx::query("UPDATE users SET status = 'disabled' WHERE tenant_id = $1")
        .bind(&a_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(update.rows_affected(), 0);
    tx.rollback().await.unwrap();

    // Writing a row into another tenant is refused by the policy's check.
    let mut tx = app.state.db.tenant(b_id).await.unwrap();
    let insert = sqlx::query(
        "INSERT INTO casbin_rules (tenant_id, ptype, v0, v1, v2) VALUES ($1, 'g', $2, 'owner', $1)",
    )
    .bind(&a_id)
    .bind(format!("u:{}", a.body["user"]["id"].as_str().unwrap()))
    .execute(&mut *tx)
    .await;
    assert!(insert.is_err());
    drop(tx);

    // With no tenant named at all, nothing is visible.
    let mut tx = app.state.db.pool().begin().await.unwrap();
    sqlx::query("SET LOCAL ROLE hydronet_app")
        .execute(&mut *tx)
        .await
        .unwrap();
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
#[ignore = "needs HYDRONET_TEST_DATABASE_URL and HYDRONET_TEST_REDIS_URL"]
async fn logout_on_one_instance_reaches_another_within_seconds() {
    require_postgres();
    assert!(redis_url().is_some(), "set HYDRONET_TEST_REDIS_URL");
    let first = TestApp::new().await;
    let second = TestApp::on(first.database_url.clone(), None, redis_url()).await;
    first.state.spawn_background();
    second.state.spawn_background();
    // Give both listeners a moment to subscribe.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let signed_in = first.register("multi@example.com", "Multi").await;
    let token = signed_in.token();
    assert_eq!(second.get("/api/auth/me", Some(&token)).await.status, 200);

    first
        .post("/api/auth/logout", json!({}), Some(&token))
        .await;

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = second.get("/api/auth/me", Some(&token)).await.status;
        if status == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second instance still accepts the token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A password change on the second instance reaches the first the same way.
    let again = first.login("multi@example.com", PASSWORD).await;
    second
        .put(
            "/api/auth/change-password",
            json!({ "old_password": PASSWORD, "new_password": "grebe-penstock-31" }),
            Some(&again.token()),
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while first.get("/api/auth/me", Some(&again.token())).await.status != 401 {
        assert!(
            Instant::now() < deadline,
            "the first instance still accepts the token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
#[ignore = "needs HYDRONET_TEST_DATABASE_URL and HYDRONET_TEST_REDIS_URL"]
async fn a_policy_change_reaches_another_instance_within_seconds() {
    require_postgres();
    assert!(redis_url().is_some(), "set HYDRONET_TEST_REDIS_URL");
    let first = TestApp::new().await;
    let second = TestApp::on(first.database_url.clone(), None, redis_url()).await;
    first.state.spawn_background();
    second.state.spawn_background();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let owner = first.register("boss@policy.example", "Policy").await;
    let tenant = owner.body["tenant"]["id"].as_str().unwrap().to_owned();
    let (admin_id, admin) = first
        .add_user(&tenant, "admin@policy.example", &["admin"])
        .await;
    // The user was added behind the API's back; let the second instance catch up once.
    second.state.rbac.reload().await.unwrap();
    assert_eq!(
        second
            .get("/api/tenant/roles", Some(&admin.token()))
            .await
            .status,
        200
    );

    let demoted = first
        .put(
            &format!("/api/tenant/users/{admin_id}/roles"),
            json!({ "roles": ["member"] }),
            Some(&owner.token()),
        )
        .await;
    assert_eq!(demoted.status, 200, "{}", demoted.body);

    let deadline = Instant::now() + Duration::from_secs(5);
    while second
        .get("/api/tenant/roles", Some(&admin.token()))
        .await
        .status
        != 403
    {
        assert!(
            Instant::now() < deadline,
            "the second instance still grants the old role"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
#[ignore = "needs HYDRONET_TEST_DATABASE_URL"]
async fn the_app_role_can_only_append_to_the_audit_log() {
    require_postgres();
    let app = TestApp::new().await;
    let reply = app.register("append@only.example", "Append").await;
    let tenant = reply.body["tenant"]["id"].as_str().unwrap().to_owned();

    for statement in [
        "UPDATE audit_events SET details = '{}' WHERE tenant_id = $1",
        "DELETE FROM audit_events WHERE tenant_id = $1",
    ] {
        let mut tx = app.state.db.system().await.unwrap();
        let result = sqlx::query(statement).bind(&tenant).execute(&mut *tx).await;
        let err = result.expect_err(statement).to_string();
        assert!(err.contains("permission denied"), "{statement}: {err}");
    }
}
