use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn register_returns_tokens_user_and_tenant() {
    let app = TestApp::new().await;

    let reply = app.register("owner@example.com", "Delta Utilities").await;

    let body = &reply.body;
    assert_eq!(body["success"], true);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["refresh_token"].as_str().unwrap().starts_with("hnr_"));
    assert_eq!(body["user"]["email"], "owner@example.com");
    assert_eq!(body["user"]["roles"], json!(["owner"]));
    assert_eq!(body["tenant"]["name"], "Delta Utilities");
    assert_eq!(body["tenant"]["plan"], "free");
    assert_eq!(body["user"]["tenant_id"], body["tenant"]["id"]);
    assert!(body["user"].get("password_hash").is_none());
}

#[tokio::test]
async fn me_and_tenant_info_describe_the_caller() {
    let app = TestApp::new().await;
    let token = app.register("me@example.com", "Me Water").await.token();

    let me = app.get("/api/auth/me", Some(&token)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["user"]["email"], "me@example.com");
    assert_eq!(me.body["tenant"]["name"], "Me Water");

    let info = app.get("/api/tenant/info", Some(&token)).await;
    assert_eq!(info.status, 200);
    assert_eq!(info.body["tenant"]["slug"], "me-water");
    assert_eq!(info.body["tenant"]["usage"]["users"], 1);
    assert_eq!(info.body["tenant"]["limits"]["requests_per_minute"], 60);
}

#[tokio::test]
async fn protected_routes_need_a_token() {
    let app = TestApp::new().await;
    for path in ["/api/auth/me", "/api/tenant/info"] {
        let reply = app.get(path, None).await;
        reply.assert_problem(401, "unauthenticated");
        assert!(reply.headers.contains_key("www-authenticate"));
    }
}

#[tokio::test]
async fn login_with_the_right_password_only() {
    let app = TestApp::new().await;
    app.register("login@example.com", "Login Co").await;

    let ok = app.login("  LOGIN@example.com ", PASSWORD).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["success"], true);
    assert_eq!(ok.body["user"]["email"], "login@example.com");
    let me = app.get("/api/auth/me", Some(&ok.token())).await;
    assert_eq!(me.status, 200);
    assert!(me.body["user"]["last_login_at"].is_string());

    app.login("login@example.com", "wrong-password-1")
        .await
        .assert_problem(401, "invalid_credentials");
}

#[tokio::test]
async fn unknown_email_and_wrong_password_look_the_same() {
    let app = TestApp::new().await;
    app.register("known@example.com", "Known").await;

    let wrong = app.login("known@example.com", "not-the-password").await;
    let unknown = app.login("nobody@example.com", "not-the-password").await;

    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
    wrong.assert_problem(401, "invalid_credentials");
}

#[tokio::test]
async fn repeated_attempts_are_throttled_per_account() {
    let app = TestApp::new().await;
    app.register("target@example.com", "Target").await;

    for _ in 0..10 {
        app.login("target@example.com", "guess-guess-guess")
            .await
            .assert_problem(401, "invalid_credentials");
    }
    let throttled = app.login("target@example.com", PASSWORD).await;
    throttled.assert_problem(429, "rate_limited");
    let retry: u64 = throttled.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=90).contains(&retry), "{retry}");

    // Unknown accounts are throttled the same way, so throttling reveals nothing.
    for _ in 0..10 {
        app.login("ghost@example.com", "guess-guess-guess").await;
    }
    app.login("ghost@example.com", "guess-guess-guess")
        .await
        .assert_problem(429, "rate_limited");

    // Time heals (the in-process limiter reads the application's clock).
    if crate::helpers::redis_url().is_none() {
        app.clock.advance_secs(90);
        assert_eq!(app.login("target@example.com", PASSWORD).await.status, 200);
    }
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = TestApp::new().await;
    let first = app.register("rot@example.com", "Rot").await;

    let second = app
        .post(
            "/api/auth/refresh",
            json!({ "refresh_token": first.refresh() }),
            None,
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_ne!(second.refresh(), first.refresh());
    assert_eq!(
        app.get("/api/auth/me", Some(&second.token())).await.status,
        200
    );

    // The spent token comes back: the whole session is revoked.
    app.post(
        "/api/auth/refresh",
        json!({ "refresh_token": first.refresh() }),
        None,
    )
    .await
    .assert_problem(401, "invalid_refresh_token");
    app.post(
        "/api/auth/refresh",
        json!({ "refresh_token": second.refresh() }),
        None,
    )
    .await
    .assert_problem(401, "invalid_refresh_token");
    app.get("/api/auth/me", Some(&second.token()))
        .await
        .assert_problem(401, "unauthenticated");
    app.get("/api/auth/me", Some(&first.token()))
        .await
        .assert_problem(401, "unauthenticated");
}

#[tokio::test]
async fn bogus_and_expired_refresh_tokens_are_refused() {
    let app = TestApp::new().await;
    let reply = app.register("exp@example.com", "Exp").await;

    app.post(
        "/api/auth/refresh",
        json!({ "refresh_token": "hnr_nonsense" }),
        None,
    )
    .await
    .assert_problem(401, "invalid_refresh_token");

    app.clock.advance_secs(31 * 24 * 3600);
    app.post(
        "/api/auth/refresh",
        json!({ "refresh_token": reply.refresh() }),
        None,
    )
    .await
    .assert_problem(401, "invalid_refresh_token");
}

#[tokio::test]
async fn logout_stops_the_sessions_tokens_at_once() {
    let app = TestApp::new().await;
    let reply = app.register("bye@example.com", "Bye").await;
    let other = app.login("bye@example.com", PASSWORD).await;
    let token = reply.token();

    let out = app.post("/api/auth/logout", json!({}), Some(&token)).await;
    assert_eq!(out.status, 200);
    assert_eq!(out.body["success"], true);

    app.get("/api/auth/me", Some(&token))
        .await
        .assert_problem(401, "unauthenticated");
    app.post(
        "/api/auth/refresh",
        json!({ "refresh_token": reply.refresh() }),
        None,
    )
    .await
    .assert_problem(401, "invalid_refresh_token");
    // Another session of the same user is untouched.
    assert_eq!(
        app.get("/api/auth/me", Some(&other.token())).await.status,
        200
    );
}

#[tokio::test]
async fn change_password_revokes_earlier_tokens() {
    let app = TestApp::new().await;
    let first = app.register("pw@example.com", "Pw").await;
    let second = app.login("pw@example.com", PASSWORD).await;
    let new_password = "heron-sluice-gate-77";

    let wrong = app
        .put(
            "/api/auth/change-password",
            json!({ "old_password": "not-it-at-all", "new_password": new_password }),
            Some(&first.token()),
        )
        .await;
    wrong.assert_problem(422, "validation_failed");
    assert_eq!(wrong.body["errors"]["old_password"][0], "is incorrect");

    let weak = app
        .put(
            "/api/auth/change-password",
            json!({ "old_password": PASSWORD, "new_password": "password" }),
            Some(&first.token()),
        )
        .await;
    weak.assert_problem(422, "validation_failed");

    let changed = app
        .put(
            "/api/auth/change-password",
            json!({ "old_password": PASSWORD, "new_password": new_password }),
            Some(&first.token()),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);

    for old in [first.token(), second.token()] {
        app.get("/api/auth/me", Some(&old))
            .await
            .assert_problem(401, "unauthenticated");
    }
    app.post(
        "/api/auth/refresh",
        json!({ "refresh_token": second.refresh() }),
        None,
    )
    .await
    .assert_problem(401, "invalid_refresh_token");
    assert_eq!(
        app.get("/api/auth/me", Some(&changed.token())).await.status,
        200
    );
    app.login("pw@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    assert_eq!(app.login("pw@example.com", new_password).await.status, 200);
}

#[tokio::test]
async fn disabling_a_user_stops_their_tokens() {
    let app = TestApp::new().await;
    let reply = app.register("off@example.com", "Off").await;
    let token = reply.token();
    let user = reply.body["user"]["id"].as_str().unwrap().parse().unwrap();
    let tenant = reply.body["tenant"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let mut tx = app.state.db.tenant(tenant).await.unwrap();
    sqlx::query("UPDATE users SET status = 'disabled' WHERE id = $1")
        .bind(reply.body["user"]["id"].as_str().unwrap())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    app.state.revoke_user(tenant, user).await.unwrap();

    app.get("/api/auth/me", Some(&token))
        .await
        .assert_problem(401, "unauthenticated");
    app.login("off@example.com", PASSWORD)
        .await
        .assert_problem(403, "account_disabled");
}

#[tokio::test]
async fn access_tokens_expire() {
    let app = TestApp::new().await;
    let token = app.register("ttl@example.com", "Ttl").await.token();

    app.clock.advance_secs(14 * 60);
    assert_eq!(app.get("/api/auth/me", Some(&token)).await.status, 200);

    app.clock.advance_secs(2 * 60);
    app.get("/api/auth/me", Some(&token))
        .await
        .assert_problem(401, "unauthenticated");
}

#[tokio::test]
async fn a_restarted_instance_remembers_revocations() {
    let first = TestApp::new().await;
    let reply = first.register("restart@example.com", "Restart").await;
    first
        .post("/api/auth/logout", json!({}), Some(&reply.token()))
        .await;

    // Same database, fresh process memory.
    let restarted = TestApp::on(first.database_url.clone(), None, None).await;
    restarted
        .get("/api/auth/me", Some(&reply.token()))
        .await
        .assert_problem(401, "unauthenticated");
}

#[tokio::test]
async fn login_rehashes_a_password_stored_with_old_parameters() {
    use hydronet_tenancy::password::{HashParams, PasswordHasher, PasswordPolicy};

    let app = TestApp::new().await;
    let reply = app.register("old@example.com", "Old Hashes").await;
    let user_id = reply.body["user"]["id"].as_str().unwrap().to_owned();
    let tenant: hydronet_core::TenantId = reply.body["tenant"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let weak = HashParams {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };
    let password = PasswordPolicy::new().check_candidate(PASSWORD).unwrap();
    let old_hash = PasswordHasher::with_params(weak, 1)
        .hash(&password)
        .await
        .unwrap();
    let stored = |app: &TestApp| {
        let state = app.state.clone();
        let user_id = user_id.clone();
        async move {
            let mut tx = state.db.tenant(tenant).await.unwrap();
            let (hash,): (String,) =
                sqlx::query_as("SELECT password_hash FROM users WHERE id = $1")
                    .bind(user_id)
                    .fetch_one(&mut *tx)
                    .await
                    .unwrap();
            hash
        }
    };
    let mut tx = app.state.db.tenant(tenant).await.unwrap();
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(&old_hash)
        .bind(&user_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(stored(&app).await.contains("m=1024,t=1,p=1"));

    assert_eq!(app.login("old@example.com", PASSWORD).await.status, 200);

    let rehashed = stored(&app).await;
    assert!(rehashed.starts_with("$argon2id$"), "{rehashed}");
    assert!(rehashed.contains("m=19456,t=2,p=1"), "{rehashed}");
    assert_eq!(app.login("old@example.com", PASSWORD).await.status, 200);
}
