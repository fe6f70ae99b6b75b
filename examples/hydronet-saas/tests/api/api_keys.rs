//! API keys: created with scopes within the creator's permissions, shown once, used
//! beside JWTs (the gateway included), listed with last use, and stopped at once by
//! revocation, expiry, or their user being disabled.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Reply, TestApp};

async fn create_key(app: &TestApp, token: &str, body: Value) -> Reply {
    app.post("/api/tenant/api-keys", body, Some(token)).await
}

fn secret(reply: &Reply) -> String {
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn keys_work_within_their_scope_until_revoked() {
    let app = TestApp::new().await;
    let owner = app.register("owner@keys.example", "Keys").await.token();

    let created = create_key(
        &app,
        &owner,
        json!({ "name": "CI pipeline", "scopes": ["conversations:read", "conversations:write"] }),
    )
    .await;
    let key = secret(&created);
    let id = created.body["api_key"]["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("hnk_"), "{key}");
    assert!(key.starts_with(created.body["api_key"]["prefix"].as_str().unwrap()));
    assert_eq!(
        created.body["api_key"]["scopes"],
        json!(["conversations:read", "conversations:write"])
    );

    // The key works where its scope reaches, and acts for its creator.
    let made = app
        .post(
            "/api/chat/conversations",
            json!({ "title": "From CI" }),
            Some(&key),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let listed = app.get("/api/chat/conversations", Some(&owner)).await;
    assert_eq!(listed.body["conversations"][0]["title"], "From CI");

    // Not beyond it, although its creator could.
    app.get("/api/tenant/users", Some(&key))
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(app.get("/api/tenant/users", Some(&owner)).await.status, 200);

    // Listed without the secret, with its last use.
    let mut last_used = Value::Null;
    for _ in 0..50 {
        let list = app.get("/api/tenant/api-keys", Some(&owner)).await;
        assert!(!list.body.to_string().contains(&key), "secret listed");
        last_used = list.body["api_keys"][0]["last_used_at"].clone();
        if !last_used.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(last_used.is_string(), "last use recorded");

    // Revoked: refused on the very next request.
    let revoked = app
        .request(
            http::Method::DELETE,
            &format!("/api/tenant/api-keys/{id}"),
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(revoked.body["api_key"]["status"], "revoked");
    app.get("/api/chat/conversations", Some(&key))
        .await
        .assert_problem(401, "unauthenticated");

    // The secret never reached the audit log.
    let events = app.audit.events();
    assert!(events.iter().any(|e| e.action == "api_key.created"));
    assert!(events.iter().any(|e| e.action == "api_key.revoked"));
    let dump = format!("{events:?}");
    assert!(!dump.contains(&key), "the key's secret was audited");
}

#[tokio::test]
async fn scopes_cannot_exceed_the_creators_permissions() {
    let app = TestApp::new().await;
    let owner = app.register("owner@scopes.example", "Scopes").await.token();

    // Owners do not hold the operator's permission.
    create_key(
        &app,
        &owner,
        json!({ "name": "too much", "scopes": ["admin:manage"] }),
    )
    .await
    .assert_problem(403, "privilege_escalation");

    // A key that may manage keys cannot mint a wider one.
    let manager = secret(
        &create_key(
            &app,
            &owner,
            json!({ "name": "key maker", "scopes": ["api_keys:manage"] }),
        )
        .await,
    );
    create_key(
        &app,
        &manager,
        json!({ "name": "wider", "scopes": ["users:read"] }),
    )
    .await
    .assert_problem(403, "privilege_escalation");
    let narrower = create_key(
        &app,
        &manager,
        json!({ "name": "same", "scopes": ["api_keys:manage"] }),
    )
    .await;
    assert_eq!(narrower.status, 201, "{}", narrower.body);

    // Bad input is a 422 naming the fields.
    let bad = create_key(
        &app,
        &owner,
        json!({ "name": "", "scopes": ["nope"], "expires_in_days": 0 }),
    )
    .await;
    bad.assert_problem(422, "validation_failed");
    for field in ["name", "scopes", "expires_in_days"] {
        assert!(bad.body["errors"].get(field).is_some(), "{}", bad.body);
    }
}

#[tokio::test]
async fn keys_stop_when_they_expire_or_their_user_is_disabled() {
    let app = TestApp::new().await;
    let registered = app.register("owner@expiry.example", "Expiry").await;
    let owner = registered.token();
    let tenant = registered.body["tenant"]["id"].as_str().unwrap().to_owned();

    let expiring = secret(
        &create_key(
            &app,
            &owner,
            json!({ "name": "day", "scopes": ["tenant:read"], "expires_in_days": 1 }),
        )
        .await,
    );
    assert_eq!(
        app.get("/api/tenant/info", Some(&expiring)).await.status,
        200
    );

    let (admin, _) = app
        .add_user(&tenant, "admin@expiry.example", &["admin"])
        .await;
    let admin_token = app.login("admin@expiry.example", PASSWORD).await.token();
    let admins_key = secret(
        &create_key(
            &app,
            &admin_token,
            json!({ "name": "admin's", "scopes": ["tenant:read"] }),
        )
        .await,
    );
    assert_eq!(
        app.get("/api/tenant/info", Some(&admins_key)).await.status,
        200
    );
    let disabled = app
        .post(
            &format!("/api/tenant/users/{admin}/disable"),
            json!({}),
            Some(&owner),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    app.get("/api/tenant/info", Some(&admins_key))
        .await
        .assert_problem(401, "unauthenticated");

    // A day later the first key has expired.
    app.clock.advance_secs(86_400);
    app.get("/api/tenant/info", Some(&expiring))
        .await
        .assert_problem(401, "unauthenticated");
}

#[tokio::test]
async fn the_gateway_accepts_keys_and_forged_keys_are_refused() {
    let app = TestApp::new().await;
    let owner = app.register("sdk@keys.example", "KeyGateway").await.token();
    let key = secret(
        &create_key(
            &app,
            &owner,
            json!({ "name": "sdk", "scopes": ["conversations:write"] }),
        )
        .await,
    );
    app.model.clone().reply("Check valve V-12.", 5, 4);
    let reply = app
        .post(
            "/v1/chat/completions",
            json!({ "messages": [{ "role": "user", "content": "Leak?" }] }),
            Some(&key),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["choices"][0]["message"]["content"],
        "Check valve V-12."
    );

    // A request made with a key is audited as the key.
    let events = app.audit.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e.actor, hydronet_tenancy::audit::Actor::ApiKey(_))),
        "no event by the key"
    );

    let forged = format!("hnk_{}", "A".repeat(43));
    app.get("/v1/models", Some(&forged))
        .await
        .assert_problem(401, "unauthenticated");
}
