//! A tenant's life under the system administrator: plan changes, suspension (on every
//! instance, for JWTs and API keys alike), export as JSON Lines, guarded deletion, and
//! the service overview.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, redis_url};

/// An operator (system administrator in their own tenant) and a customer tenant with
/// its owner's token and an API key.
struct World {
    operator: String,
    tenant: String,
    owner: String,
    key: String,
}

async fn world(app: &TestApp, name: &str) -> World {
    let domain = name.to_lowercase();
    let ops = app
        .register(
            &format!("root@{domain}-ops.example"),
            &format!("{name} Ops"),
        )
        .await;
    let ops_tenant = ops.body["tenant"]["id"].as_str().unwrap().to_owned();
    let (_, operator) = app
        .add_user(
            &ops_tenant,
            &format!("admin@{domain}-ops.example"),
            &["system_admin"],
        )
        .await;
    let customer = app.register(&format!("owner@{domain}.example"), name).await;
    let owner = customer.token();
    let key = app
        .post(
            "/api/tenant/api-keys",
            json!({ "name": "bot", "scopes": ["tenant:read"] }),
            Some(&owner),
        )
        .await;
    assert_eq!(key.status, 201, "{}", key.body);
    World {
        operator: operator.token(),
        tenant: customer.body["tenant"]["id"].as_str().unwrap().to_owned(),
        owner,
        key: key.body["key"].as_str().unwrap().to_owned(),
    }
}

async fn admin_post(app: &TestApp, w: &World, action: &str) -> Reply {
    app.post(
        &format!("/api/admin/tenants/{}/{action}", w.tenant),
        json!({}),
        Some(&w.operator),
    )
    .await
}

#[tokio::test]
async fn suspension_stops_every_credential_at_once_and_reactivation_restores_them() {
    let app = TestApp::new().await;
    let w = world(&app, "Suspended").await;
    assert_eq!(
        app.get("/api/tenant/info", Some(&w.owner)).await.status,
        200
    );

    let suspended = admin_post(&app, &w, "suspend").await;
    assert_eq!(suspended.status, 200, "{}", suspended.body);
    assert_eq!(suspended.body["tenant"]["status"], "suspended");
    for credential in [&w.owner, &w.key] {
        app.get("/api/tenant/info", Some(credential))
            .await
            .assert_problem(403, "tenant_suspended");
    }
    app.login("owner@suspended.example", crate::helpers::PASSWORD)
        .await
        .assert_problem(403, "tenant_suspended");

    admin_post(&app, &w, "reactivate").await;
    for credential in [&w.owner, &w.key] {
        assert_eq!(
            app.get("/api/tenant/info", Some(credential)).await.status,
            200
        );
    }
    let actions: Vec<String> = app.audit.events().into_iter().map(|e| e.action).collect();
    assert!(actions.contains(&"tenant.suspended".to_owned()));
    assert!(actions.contains(&"tenant.reactivated".to_owned()));
}

#[tokio::test]
async fn plan_changes_apply_to_credentials_issued_before() {
    let app = TestApp::new().await;
    let w = world(&app, "Upgraded").await;
    let before = app.get("/api/tenant/usage", Some(&w.owner)).await;
    assert_eq!(before.body["plan"], "free");

    let changed = app
        .put(
            &format!("/api/admin/tenants/{}/plan", w.tenant),
            json!({ "plan": "pro" }),
            Some(&w.operator),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body["tenant"]["plan"], "pro");

    // The owner's token still says "free"; the server knows better.
    let after = app.get("/api/tenant/usage", Some(&w.owner)).await;
    assert_eq!(after.body["plan"], "pro", "{}", after.body);
    assert!(
        after.body["limits"]["tokens_per_day"].as_u64()
            > before.body["limits"]["tokens_per_day"].as_u64()
    );

    app.put(
        &format!("/api/admin/tenants/{}/plan", w.tenant),
        json!({ "plan": "platinum" }),
        Some(&w.operator),
    )
    .await
    .assert_problem(422, "validation_failed");
}

#[tokio::test]
async fn deletion_needs_suspension_and_a_fresh_export() {
    let app = TestApp::new().await;
    let w = world(&app, "Leaving").await;
    app.post(
        "/api/chat/conversations",
        json!({ "title": "Pump curves" }),
        Some(&w.owner),
    )
    .await;
    let path = format!("/api/admin/tenants/{}", w.tenant);
    let delete = || app.request(http::Method::DELETE, &path, None, Some(&w.operator));

    delete().await.assert_problem(409, "tenant_not_suspended");
    admin_post(&app, &w, "suspend").await;
    delete().await.assert_problem(409, "export_required");

    let export = app.get(&format!("{path}/export"), Some(&w.operator)).await;
    assert_eq!(export.status, 200);
    assert_eq!(export.headers["content-type"], "application/x-ndjson");
    let text = export
        .body
        .as_str()
        .expect("JSON Lines are not one JSON value");
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let tables: Vec<&str> = lines.iter().map(|l| l["table"].as_str().unwrap()).collect();
    for table in [
        "tenants",
        "users",
        "api_keys",
        "conversations",
        "audit_events",
    ] {
        assert!(tables.contains(&table), "{table} missing from the export");
    }
    assert!(lines.iter().any(|l| l["row"]["title"] == "Pump curves"));
    assert!(!text.contains("password_hash") && !text.contains("key_digest"));
    assert!(!text.contains(&w.key), "an API key secret was exported");
    assert!(
        lines
            .iter()
            .all(|l| l["row"]["tenant_id"].is_null() || l["row"]["tenant_id"] == w.tenant.as_str()),
        "another tenant's rows were exported"
    );

    let deleted = delete().await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    app.get("/api/tenant/info", Some(&w.owner))
        .await
        .assert_problem(403, "tenant_suspended");
    app.get("/api/tenant/info", Some(&w.key))
        .await
        .assert_problem(401, "unauthenticated");
    app.get(&path, Some(&w.operator)).await;
    delete().await.assert_problem(404, "not_found");
    // The slug is free for a new tenant.
    app.register("new@leaving.example", "Leaving").await;
}

#[tokio::test]
async fn the_operator_cannot_suspend_their_own_tenant() {
    let app = TestApp::new().await;
    let w = world(&app, "SelfOps").await;
    let me = app.get("/api/tenant/info", Some(&w.operator)).await;
    let own = me.body["tenant"]["id"].as_str().unwrap();
    app.post(
        &format!("/api/admin/tenants/{own}/suspend"),
        json!({}),
        Some(&w.operator),
    )
    .await
    .assert_problem(409, "own_tenant");
    app.post(
        "/api/admin/tenants/not-an-id/suspend",
        json!({}),
        Some(&w.operator),
    )
    .await
    .assert_problem(404, "not_found");
}

#[tokio::test]
async fn the_overview_counts_the_whole_service_by_day() {
    let app = TestApp::new().await;
    let w = world(&app, "Overview").await;
    app.model.clone().reply("ok", 7, 3);
    let conversation = app
        .post(
            "/api/chat/conversations",
            json!({ "title": "t" }),
            Some(&w.owner),
        )
        .await;
    let id = conversation.body["conversation"]["id"].as_str().unwrap();
    let sent = app
        .post(
            &format!("/api/chat/conversations/{id}/messages"),
            json!({ "message": "hi" }),
            Some(&w.owner),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);

    let overview = app.get("/api/admin/overview", Some(&w.operator)).await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert_eq!(overview.body["totals"]["tenants"], 2);
    assert_eq!(overview.body["totals"]["users"], 3);
    let today = overview.body["days"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(today["new_tenants"], 2);
    // Two owners signed up today; the operator was inserted with a 1970 date.
    assert_eq!(today["new_users"], 2);
    assert_eq!(today["active_tenants"], 2);
    assert_eq!(today["total_tokens"], 10);
    assert!(today["requests"].as_i64().unwrap() >= 4, "{today}");
    app.get("/api/admin/overview", Some(&w.owner))
        .await
        .assert_problem(403, "forbidden");
}

/// Two instances on one database and one Redis: a suspension made on one is honoured by
/// the other within seconds.
#[tokio::test]
#[ignore = "needs HYDRONET_TEST_REDIS_URL"]
async fn a_suspension_on_one_instance_is_honoured_by_another() {
    assert!(redis_url().is_some(), "HYDRONET_TEST_REDIS_URL must be set");
    let first = TestApp::new().await;
    first.state.spawn_background();
    let second = TestApp::on(first.database_url.clone(), None, redis_url()).await;
    second.state.spawn_background();
    let w = world(&first, "TwoInstances").await;
    assert_eq!(
        second.get("/api/tenant/info", Some(&w.owner)).await.status,
        200
    );
    // Let both listeners subscribe.
    tokio::time::sleep(Duration::from_millis(500)).await;

    admin_post(&first, &w, "suspend").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = second.get("/api/tenant/info", Some(&w.owner)).await;
        if reply.status == 403 {
            reply.assert_problem(403, "tenant_suspended");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the other instance still serves the tenant"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
