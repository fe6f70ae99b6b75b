//! Tenant user administration: create (with a password or invited), list and search,
//! disable and re-enable, delete; the guards and the plan's user count.

use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn users_are_created_listed_disabled_enabled_and_deleted() {
    let app = TestApp::new().await;
    let owner = app.register("boss@users.example", "Users").await;
    let token = owner.token();

    let created = app
        .post(
            "/api/tenant/users",
            json!({ "email": "Ann@Users.example", "role": "member", "password": PASSWORD }),
            Some(&token),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["user"]["email"], "ann@users.example");
    assert_eq!(created.body["user"]["roles"], json!(["member"]));
    assert!(created.body.get("set_password_token").is_none());
    let ann = created.body["user"]["id"].as_str().unwrap().to_owned();
    let ann_token = app.login("ann@users.example", PASSWORD).await.token();

    let listed = app.get("/api/tenant/users?search=ANN", Some(&token)).await;
    assert_eq!(listed.body["users"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.get("/api/tenant/users", Some(&token)).await.body["users"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let disabled = app
        .post(
            &format!("/api/tenant/users/{ann}/disable"),
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(disabled.body["user"]["status"], "disabled");
    app.get("/api/auth/me", Some(&ann_token))
        .await
        .assert_problem(401, "unauthenticated");
    app.login("ann@users.example", PASSWORD)
        .await
        .assert_problem(403, "account_disabled");

    app.post(
        &format!("/api/tenant/users/{ann}/enable"),
        json!({}),
        Some(&token),
    )
    .await;
    assert_eq!(app.login("ann@users.example", PASSWORD).await.status, 200);

    let deleted = app
        .request(
            http::Method::DELETE,
            &format!("/api/tenant/users/{ann}"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(deleted.status, 200);
    app.login("ann@users.example", PASSWORD)
        .await
        .assert_problem(401, "invalid_credentials");
    app.post(
        &format!("/api/tenant/users/{ann}/disable"),
        json!({}),
        Some(&token),
    )
    .await
    .assert_problem(404, "not_found");
}

#[tokio::test]
async fn an_invited_user_sets_a_first_password_once() {
    let app = TestApp::new().await;
    let token = app.register("boss@invite.example", "Invite").await.token();

    let invited = app
        .post(
            "/api/tenant/users",
            json!({ "email": "new@invite.example", "role": "auditor" }),
            Some(&token),
        )
        .await;
    assert_eq!(invited.status, 201, "{}", invited.body);
    assert_eq!(invited.body["user"]["status"], "invited");
    let secret = invited.body["set_password_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("hns_"));
    app.login("new@invite.example", "anything-at-all-1")
        .await
        .assert_problem(401, "invalid_credentials");

    app.post(
        "/api/auth/set-password",
        json!({ "token": secret, "password": "password" }),
        None,
    )
    .await
    .assert_problem(422, "validation_failed");
    let set = app
        .post(
            "/api/auth/set-password",
            json!({ "token": secret, "password": "sluice-gate-9931" }),
            None,
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(
        app.login("new@invite.example", "sluice-gate-9931")
            .await
            .status,
        200
    );
    app.post(
        "/api/auth/set-password",
        json!({ "token": secret, "password": "another-one-4452" }),
        None,
    )
    .await
    .assert_problem(400, "invalid_token");
}

#[tokio::test]
async fn guards_and_the_user_count_hold() {
    let app = TestApp::new().await;
    let owner = app.register("o@guard-users.example", "GuardUsers").await;
    let tenant = owner.body["tenant"]["id"].as_str().unwrap().to_owned();
    let owner_id = owner.body["user"]["id"].as_str().unwrap().to_owned();
    let (_, admin) = app
        .add_user(&tenant, "a@guard-users.example", &["admin"])
        .await;
    let admin_token = admin.token();

    app.post(
        "/api/tenant/users",
        json!({ "email": "x@guard-users.example", "role": "owner", "password": PASSWORD }),
        Some(&admin_token),
    )
    .await
    .assert_problem(403, "privilege_escalation");
    app.post(
        "/api/tenant/users",
        json!({ "email": "y@guard-users.example", "role": "system_admin", "password": PASSWORD }),
        Some(&admin_token),
    )
    .await
    .assert_problem(403, "privilege_escalation");
    app.post(
        &format!("/api/tenant/users/{owner_id}/disable"),
        json!({}),
        Some(&admin_token),
    )
    .await
    .assert_problem(403, "owner_required");
    app.post(
        &format!("/api/tenant/users/{owner_id}/disable"),
        json!({}),
        Some(&owner.token()),
    )
    .await
    .assert_problem(403, "cannot_act_on_self");
    app.post(
        "/api/tenant/users",
        json!({ "email": "bad", "role": "nope" }),
        Some(&admin_token),
    )
    .await
    .assert_problem(422, "validation_failed");

    // The free plan allows five users; the owner and the admin (added behind the API's
    // back, so not counted) leave room for four more created here.
    for i in 0..4 {
        let reply = app
            .post(
                "/api/tenant/users",
                json!({ "email": format!("m{i}@guard-users.example"), "role": "member" }),
                Some(&admin_token),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    app.post(
        "/api/tenant/users",
        json!({ "email": "one-too-many@guard-users.example", "role": "member" }),
        Some(&admin_token),
    )
    .await
    .assert_problem(403, "quota_exceeded");

    // Another tenant's admin sees and touches none of these users.
    let other = app.register("z@other-users.example", "OtherUsers").await;
    let listed = app.get("/api/tenant/users", Some(&other.token())).await;
    assert_eq!(listed.body["users"].as_array().unwrap().len(), 1);
    app.request(
        http::Method::DELETE,
        &format!("/api/tenant/users/{owner_id}"),
        None,
        Some(&other.token()),
    )
    .await
    .assert_problem(404, "not_found");
}
