//! Usage reporting and per-tenant limit overrides.

use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, redis_url};

#[tokio::test]
async fn usage_counts_requests_per_day_and_shows_budget_and_limits() {
    let app = TestApp::new().await;
    let owner = app.register("usage@usage.example", "Usage").await;
    let token = owner.token();
    let other = app.register("other@usage2.example", "Other").await.token();

    for _ in 0..3 {
        assert_eq!(app.get("/api/auth/me", Some(&token)).await.status, 200);
    }
    app.get("/api/auth/me", Some(&other)).await;
    // Half of the counts reach the database, half are still pending: both are reported.
    app.state.usage.flush(&app.state.db).await.unwrap();
    app.get("/api/tenant/info", Some(&token)).await;

    let reply = app.get("/api/tenant/usage", Some(&token)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let days = reply.body["days"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    let today = days.last().unwrap();
    // Three calls to `me`, one to `info`, and this request itself.
    assert_eq!(today["requests"], 5, "{today}");
    assert_eq!(today["prompt_tokens"], 0);
    assert!(days[..29].iter().all(|d| d["requests"] == 0));
    assert_eq!(reply.body["budget"]["day"]["used"], 0);
    assert_eq!(reply.body["budget"]["day"]["limit"], 50_000);
    assert_eq!(reply.body["budget"]["month"]["remaining"], 1_000_000);
    assert_eq!(reply.body["limits"]["requests_per_minute"], 60);
    assert_eq!(reply.body["plan"], "free");
    assert_eq!(
        reply.body["in_use"],
        serde_json::json!({ "users": 1, "conversations": 0, "mcp_servers": 0 })
    );

    let created = app
        .post(
            "/api/chat/conversations",
            serde_json::json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let reply = app.get("/api/tenant/usage", Some(&token)).await;
    assert_eq!(reply.body["in_use"]["conversations"], 1, "{}", reply.body);
}

#[tokio::test]
async fn usage_ranges_are_validated() {
    let app = TestApp::new().await;
    let token = app.register("range@usage.example", "Range").await.token();

    let one = app
        .get(
            "/api/tenant/usage?from=2026-01-01&to=2026-01-01",
            Some(&token),
        )
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["days"].as_array().unwrap().len(), 1);
    assert_eq!(one.body["days"][0]["date"], "2026-01-01");

    app.get("/api/tenant/usage?from=yesterday", Some(&token))
        .await
        .assert_problem(422, "validation_failed");
    app.get(
        "/api/tenant/usage?from=2026-02-01&to=2026-01-01",
        Some(&token),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.get(
        "/api/tenant/usage?from=2020-01-01&to=2026-01-01",
        Some(&token),
    )
    .await
    .assert_problem(422, "validation_failed");
}

#[tokio::test]
async fn a_system_admin_overrides_one_tenants_limits() {
    let app = TestApp::new().await;
    let ops = app.register("ops@ops.example", "Operators").await;
    let ops_tenant = ops.body["tenant"]["id"].as_str().unwrap().to_owned();
    let (_, admin) = app
        .add_user(&ops_tenant, "root@ops.example", &["system_admin"])
        .await;
    let customer = app.register("customer@cust.example", "Customer").await;
    let customer_id = customer.body["tenant"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/admin/tenants/{customer_id}/limits");

    let set = app
        .put(
            &path,
            json!({ "user_requests_per_minute": 2, "tokens_per_day": 7 }),
            Some(&admin.token()),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["limits"]["user_requests_per_minute"], 2);
    assert_eq!(set.body["limits"]["requests_per_minute"], 60);
    assert!(
        app.audit
            .events()
            .iter()
            .any(|e| e.action == "tenant.limits_changed")
    );

    // The override applies on the customer's next requests, and only to that tenant.
    let token = app.login("customer@cust.example", PASSWORD).await.token();
    let statuses: Vec<u16> = futures_statuses(&app, &token, 3).await;
    assert_eq!(statuses, [200, 200, 429]);
    let usage = app.get("/api/tenant/usage", Some(&ops.token())).await;
    assert_eq!(usage.body["limits"]["user_requests_per_minute"], 30);

    app.put(&path, json!({ "max_users": "lots" }), Some(&admin.token()))
        .await
        .assert_problem(422, "validation_failed");
    app.put(&path, json!({ "no_such_limit": 1 }), Some(&admin.token()))
        .await
        .assert_problem(422, "validation_failed");
    app.get(
        &format!("/api/admin/tenants/{}/limits", uuid::Uuid::now_v7()),
        Some(&admin.token()),
    )
    .await
    .assert_problem(404, "not_found");

    let cleared = app.put(&path, json!({}), Some(&admin.token())).await;
    assert_eq!(cleared.body["overrides"], json!({}));
    assert_eq!(cleared.body["limits"]["user_requests_per_minute"], 30);

    // Restarted instances load overrides from the database.
    app.put(&path, json!({ "tokens_per_day": 9 }), Some(&admin.token()))
        .await;
    if redis_url().is_none() {
        let restarted = TestApp::on(app.database_url.clone(), None, None).await;
        let reply = restarted.get(&path, Some(&admin.token())).await;
        assert_eq!(reply.body["limits"]["tokens_per_day"], 9);
    }
}

async fn futures_statuses(app: &TestApp, token: &str, n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..n {
        statuses.push(app.get("/api/auth/me", Some(token)).await.status.as_u16());
    }
    statuses
}

#[tokio::test]
async fn a_system_admin_lists_tenants_and_sees_ones_details() {
    let app = TestApp::new().await;
    let root = operator_token(&app).await;
    let customer = app.register("c@listed.example", "Listed Water Board").await;
    let id = customer.body["tenant"]["id"].as_str().unwrap().to_owned();
    app.post(
        "/api/chat/conversations",
        json!({ "title": "t" }),
        Some(&customer.token()),
    )
    .await;

    let found = app
        .get("/api/admin/tenants?search=listed%20water", Some(&root))
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    let tenants = found.body["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 1);
    assert_eq!(tenants[0]["id"], id.as_str());

    let page = app.get("/api/admin/tenants?limit=1", Some(&root)).await;
    let cursor = page.body["next_cursor"]
        .as_str()
        .expect("more than one tenant")
        .to_owned();
    let next = app
        .get(
            &format!("/api/admin/tenants?limit=1&cursor={cursor}"),
            Some(&root),
        )
        .await;
    assert_ne!(next.body["tenants"][0]["id"], page.body["tenants"][0]["id"]);

    let details = app
        .get(&format!("/api/admin/tenants/{id}"), Some(&root))
        .await;
    assert_eq!(
        details.body["tenant"]["counts"],
        json!({ "users": 1, "conversations": 1 })
    );
    assert_eq!(details.body["tenant"]["limits"]["max_users"], 5);
    app.get(&format!("/api/admin/tenants/{id}"), Some(&customer.token()))
        .await
        .assert_problem(403, "forbidden");
}

async fn operator_token(app: &TestApp) -> String {
    let ops = app.register("ops@list-ops.example", "Ops").await;
    let tenant = ops.body["tenant"]["id"].as_str().unwrap().to_owned();
    app.add_user(&tenant, "root@list-ops.example", &["system_admin"])
        .await
        .1
        .token()
}

/// The daily counters agree with the tables they summarise: tokens with the stored
/// messages, requests with the audit records of the same requests, and the service
/// overview with the tenant's own report.
#[tokio::test]
async fn usage_agrees_with_the_message_and_audit_tables() {
    let app = TestApp::new().await;
    let owner = app.register("sums@agree.example", "Agree").await;
    let token = owner.token();
    let tenant = owner.body["tenant"]["id"].as_str().unwrap().to_owned();
    let conversation = app
        .post(
            "/api/chat/conversations",
            json!({ "title": "sums" }),
            Some(&token),
        )
        .await;
    let id = conversation.body["conversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (i, (prompt, completion)) in [(11, 5), (23, 7), (31, 13)].into_iter().enumerate() {
        app.model
            .clone()
            .reply(&format!("answer {i}"), prompt, completion);
        let sent = app
            .post(
                &format!("/api/chat/conversations/{id}/messages"),
                json!({ "message": format!("question {i}") }),
                Some(&token),
            )
            .await;
        assert_eq!(sent.status, 200, "{}", sent.body);
    }
    // Every request so far was a write, and every write is audited.
    let audited = app
        .audit
        .events()
        .into_iter()
        .filter(|e| e.action == "http.request" && e.tenant_id.to_string() == tenant)
        .count();
    assert_eq!(audited, 4);

    let report = app.get("/api/tenant/usage", Some(&token)).await;
    let today = report.body["days"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    // The audited writes, and the report's own request.
    assert_eq!(today["requests"], audited + 1, "{today}");

    let mut tx = app.state.db.tenant(tenant.parse().unwrap()).await.unwrap();
    let (prompt, completion): (i64, i64) = sqlx::query_as(
        "SELECT CAST(SUM(prompt_tokens) AS BIGINT), CAST(SUM(completion_tokens) AS BIGINT) \
         FROM messages WHERE tenant_id = $1",
    )
    .bind(&tenant)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((prompt, completion), (65, 25));
    assert_eq!(today["prompt_tokens"], prompt);
    assert_eq!(today["completion_tokens"], completion);
    assert_eq!(report.body["budget"]["day"]["used"], prompt + completion);

    let operator = operator_token(&app).await;
    let overview = app.get("/api/admin/overview", Some(&operator)).await;
    let service_today = overview.body["days"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(service_today["total_tokens"], prompt + completion);
    assert_eq!(service_today["prompt_tokens"], prompt);
}
