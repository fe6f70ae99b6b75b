//! The audit log through the real server: one event per security action with no secret in
//! any of them, the log API with filters and exports, isolation between tenants, actions
//! refused when they cannot be audited, and a queue drained at shutdown.

use hydronet_core::TenantId;
use hydronet_tenancy::audit::{Actor, AuditEvent};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp};

/// Every audit row of `tenant` as text, all columns.
async fn rows(app: &TestApp, tenant: &str) -> Vec<(String, String)> {
    let mut tx = app.state.db.system().await.unwrap();
    let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT action, outcome, details, COALESCE(target, ''), COALESCE(user_agent, '') \
         FROM audit_events WHERE tenant_id = $1 ORDER BY seq",
    )
    .bind(tenant)
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    rows.into_iter()
        .map(|(action, outcome, details, target, agent)| {
            (action, format!("{outcome} {details} {target} {agent}"))
        })
        .collect()
}

#[tokio::test]
async fn each_security_action_is_recorded_once_without_secrets() {
    let app = TestApp::new().await;
    let canary_old = "canary-old-pass-4417";
    let canary_new = "canary-new-pass-9823";
    let reply = app
        .post(
            "/api/auth/register",
            json!({ "email": "sec@audit.example", "password": canary_old, "tenant_name": "Sec" }),
            None,
        )
        .await;
    assert_eq!(reply.status, 201);
    let tenant = reply.body["tenant"]["id"].as_str().unwrap().to_owned();

    app.login("sec@audit.example", "wrong-guess-canary-771")
        .await;
    let login = app.login("sec@audit.example", canary_old).await;
    let refreshed = app
        .post(
            "/api/auth/refresh",
            json!({ "refresh_token": login.refresh() }),
            None,
        )
        .await;
    app.post(
        "/api/auth/refresh",
        json!({ "refresh_token": login.refresh() }),
        None,
    )
    .await; // reuse
    let changed = app
        .put(
            "/api/auth/change-password",
            json!({ "old_password": canary_old, "new_password": canary_new }),
            Some(&reply.token()),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    app.post("/api/auth/logout", json!({}), Some(&changed.token()))
        .await;

    let rows = rows(&app, &tenant).await;
    let actions: Vec<&str> = rows.iter().map(|(a, _)| a.as_str()).collect();
    for (action, times) in [
        ("auth.registered", 1),
        ("auth.login_failed", 1),
        ("auth.login", 1),
        ("auth.refresh_reused", 1),
        ("user.password_changed", 1),
        ("auth.logout", 1),
    ] {
        let found = actions.iter().filter(|a| **a == action).count();
        assert_eq!(found, times, "{action} in {actions:?}");
    }

    let secrets = [
        canary_old.to_owned(),
        canary_new.to_owned(),
        "wrong-guess-canary-771".to_owned(),
        reply.token(),
        reply.refresh(),
        login.refresh(),
        refreshed.refresh(),
        changed.token(),
        // The server's own secrets, as the test settings set them.
        "test-secret-key-0123456789abcdefghijklmnop".to_owned(),
        "test-jwt-secret-0123456789abcdefghijklmnop".to_owned(),
    ];
    let mut everything: Vec<String> = rows.iter().map(|(a, rest)| format!("{a} {rest}")).collect();
    everything.extend(
        app.audit
            .events()
            .iter()
            .map(|e| serde_json::to_string(e).unwrap()),
    );
    for text in &everything {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret leaked into the audit log: {text}"
            );
        }
    }
}

async fn operator(app: &TestApp) -> String {
    let ops = app.register("ops@auditops.example", "Ops").await;
    let tenant = ops.body["tenant"]["id"].as_str().unwrap().to_owned();
    app.add_user(&tenant, "root@auditops.example", &["system_admin"])
        .await
        .1
        .token()
}

#[tokio::test]
async fn admins_see_their_tenants_log_only() {
    let app = TestApp::new().await;
    let a = app.register("a@audit-a.example", "A").await;
    let b = app.register("b@audit-b.example", "B").await;
    let b_tenant = b.body["tenant"]["id"].as_str().unwrap().to_owned();
    app.login("a@audit-a.example", PASSWORD).await;
    app.login("b@audit-b.example", PASSWORD).await;

    let log = app.get("/api/admin/audit-logs", Some(&a.token())).await;
    assert_eq!(log.status, 200, "{}", log.body);
    let events = log.body["events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e["tenant_id"] == a.body["tenant"]["id"]),
        "{events:?}"
    );

    app.get(
        &format!("/api/admin/audit-logs?tenant_id={b_tenant}"),
        Some(&a.token()),
    )
    .await
    .assert_problem(403, "forbidden");

    let root = operator(&app).await;
    let as_operator = app
        .get(
            &format!("/api/admin/audit-logs?tenant_id={b_tenant}"),
            Some(&root),
        )
        .await;
    assert_eq!(as_operator.status, 200);
    let events = as_operator.body["events"].as_array().unwrap();
    assert!(!events.is_empty() && events.iter().all(|e| e["tenant_id"] == b_tenant.as_str()));
}

#[tokio::test]
async fn the_log_filters_pages_and_exports() {
    let app = TestApp::new().await;
    let owner = app.register("f@audit-f.example", "F").await;
    let token = owner.token();
    for _ in 0..3 {
        app.login("f@audit-f.example", "not-the-password").await;
    }
    app.login("f@audit-f.example", PASSWORD).await;

    let failed = app
        .get(
            "/api/admin/audit-logs?action=auth.login_&outcome=denied",
            Some(&token),
        )
        .await;
    let events = failed.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{}", failed.body);
    assert!(events.iter().all(|e| e["action"] == "auth.login_failed"));

    let first = app.get("/api/admin/audit-logs?limit=2", Some(&token)).await;
    assert_eq!(first.body["events"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"].as_i64().expect("a next page");
    let second = app
        .get(
            &format!("/api/admin/audit-logs?limit=2&cursor={cursor}"),
            Some(&token),
        )
        .await;
    let seqs = |v: &Value| -> Vec<i64> {
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect()
    };
    assert!(
        seqs(&second.body).iter().all(|s| *s < cursor),
        "{:?} after {cursor}",
        seqs(&second.body)
    );

    let jsonl = app
        .get("/api/admin/audit-logs?format=jsonl", Some(&token))
        .await;
    assert_eq!(jsonl.headers["content-type"], "application/x-ndjson");
    let lines: Vec<&str> = jsonl.body.as_str().unwrap().lines().collect();
    assert!(lines.len() >= 5, "{lines:?}");
    for line in &lines {
        let event: Value = serde_json::from_str(line).unwrap();
        assert!(event["action"].is_string());
    }

    let request = http::Request::get("/api/admin/audit-logs")
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "text/csv")
        .body(axum::body::Body::empty())
        .unwrap();
    let csv = app.send(request).await;
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.body.as_str().unwrap();
    assert!(text.starts_with("seq,id,time_ms,tenant_id,actor_type"));
    assert_eq!(text.lines().count(), lines.len() + 1);

    app.get("/api/admin/audit-logs?outcome=maybe", Some(&token))
        .await
        .assert_problem(422, "validation_failed");
    app.get("/api/admin/audit-logs?limit=100000", Some(&token))
        .await
        .assert_problem(422, "validation_failed");
}

#[tokio::test]
async fn an_action_that_cannot_be_audited_does_not_happen() {
    let app = TestApp::new().await;
    let owner = app.register("u@audit-u.example", "U").await;
    let new_password = "stilling-basin-58";

    sqlx::query("ALTER TABLE audit_events RENAME TO audit_events_offline")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let refused = app
        .put(
            "/api/auth/change-password",
            json!({ "old_password": PASSWORD, "new_password": new_password }),
            Some(&owner.token()),
        )
        .await;
    refused.assert_problem(503, "audit_unavailable");
    sqlx::query("ALTER TABLE audit_events_offline RENAME TO audit_events")
        .execute(app.state.db.pool())
        .await
        .unwrap();

    assert_eq!(app.login("u@audit-u.example", PASSWORD).await.status, 200);
    app.login("u@audit-u.example", new_password)
        .await
        .assert_problem(401, "invalid_credentials");
    // The earlier token still works: its session was not revoked either.
    assert_eq!(
        app.get("/api/auth/me", Some(&owner.token())).await.status,
        200
    );
}

#[tokio::test]
async fn queued_events_are_all_written_at_shutdown() {
    let app = TestApp::new().await;
    let tenant = TenantId::new();
    for i in 0..250 {
        let event =
            AuditEvent::new(tenant, Actor::System, "test.queued").details(json!({ "i": i }));
        app.state.audit_later(event).await;
    }
    app.state.shutdown().await;

    let rows = rows(&app, &tenant.to_string()).await;
    assert_eq!(rows.len(), 250);
}

#[tokio::test]
async fn refused_requests_and_writes_are_recorded_by_the_layer() {
    let app = TestApp::new().await;
    let owner = app.register("l@audit-l.example", "L").await;
    let tenant = owner.body["tenant"]["id"].as_str().unwrap().to_owned();
    let (_, member) = app
        .add_user(&tenant, "m@audit-l.example", &["member"])
        .await;

    app.get("/api/tenant/roles", Some(&member.token()))
        .await
        .assert_problem(403, "forbidden");
    app.post("/api/auth/logout", json!({}), Some(&owner.token()))
        .await;
    app.get("/api/auth/me", Some("not-a-token"))
        .await
        .assert_problem(401, "unauthenticated");
    app.state.shutdown().await;

    let rows = rows(&app, &tenant).await;
    let requests: Vec<&String> = rows
        .iter()
        .filter(|(a, _)| a == "http.request")
        .map(|(_, r)| r)
        .collect();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("denied") && r.contains("GET /api/tenant/roles")),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("success") && r.contains("POST /api/auth/logout")),
        "{requests:?}"
    );
    let anonymous = rows_of_nil(&app).await;
    assert!(
        anonymous.iter().any(|r| r.contains("GET /api/auth/me")),
        "{anonymous:?}"
    );
}

async fn rows_of_nil(app: &TestApp) -> Vec<String> {
    rows(app, &uuid::Uuid::nil().to_string())
        .await
        .into_iter()
        .map(|(a, r)| format!("{a} {r}"))
        .collect()
}

#[tokio::test]
async fn client_addresses_come_from_trusted_proxies_only() {
    use std::net::SocketAddr;

    use axum::extract::ConnectInfo;

    let app = TestApp::new().await;
    let owner = app.register("p@audit-p.example", "P").await;
    let tenant = owner.body["tenant"]["id"].as_str().unwrap().to_owned();

    for (peer, forwarded) in [
        ("127.0.0.1:4000", "198.51.100.7"),
        ("203.0.113.5:4000", "6.6.6.6"),
    ] {
        let mut request = http::Request::post("/api/auth/login")
            .header("content-type", "application/json")
            .header("x-forwarded-for", forwarded)
            .body(axum::body::Body::from(
                json!({ "email": "p@audit-p.example", "password": "nope-nope-nope" }).to_string(),
            ))
            .unwrap();
        let peer: SocketAddr = peer.parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        app.send(request)
            .await
            .assert_problem(401, "invalid_credentials");
    }

    let failures: Vec<Option<String>> = app
        .audit
        .events()
        .iter()
        .filter(|e| e.action == "auth.login_failed" && e.tenant_id.to_string() == tenant)
        .map(|e| e.client_addr.clone())
        .collect();
    assert_eq!(
        failures,
        [
            Some("198.51.100.7".to_owned()),
            Some("203.0.113.5".to_owned())
        ]
    );
}

#[tokio::test]
async fn events_a_crashed_process_had_queued_are_recovered_once() {
    let spool = std::env::temp_dir().join(format!(
        "hydronet-spool-test-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&spool).unwrap();
    let tenant = TenantId::new();
    let events: Vec<AuditEvent> = (0..3)
        .map(|i| AuditEvent::new(tenant, Actor::System, "test.crashed").details(json!({ "i": i })))
        .collect();
    // What a process killed mid-flight leaves: its spool file, with a last line cut short.
    let mut text: String = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    text.push_str("{\"id\":\"0190");
    std::fs::write(spool.join("crashed.jsonl"), text).unwrap();

    let app = TestApp::with_spool(spool.clone()).await;

    let stored = rows(&app, &tenant.to_string()).await;
    assert_eq!(stored.len(), 3);
    let health = app.get("/api/health", None).await;
    assert_eq!(health.body["checks"]["audit"]["recovered_events"], 3);
    assert_eq!(health.body["checks"]["audit"]["lost_events"], 1);
    assert!(!spool.join("crashed.jsonl").exists());

    // Had the crash come after the write, nothing would be written twice.
    std::fs::write(
        spool.join("again.jsonl"),
        serde_json::to_string(&events[0]).unwrap() + "\n",
    )
    .unwrap();
    app.state.shutdown().await;
    let restarted = TestApp::with_model(
        app.database_url.clone(),
        None,
        crate::helpers::redis_url(),
        None,
        Some(spool.clone()),
    )
    .await;
    assert_eq!(
        restarted.get("/api/health", None).await.body["checks"]["audit"]["recovered_events"],
        0
    );
    assert_eq!(rows(&restarted, &tenant.to_string()).await.len(), 3);
    let _ = std::fs::remove_dir_all(&spool);
}
