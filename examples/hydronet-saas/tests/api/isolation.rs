//! Two tenants, every endpoint so far: each sees and counts only its own data.

use hydronet_core::{TenantId, UserId};
use hydronet_saas::store;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn tenants_see_and_count_only_their_own_data() {
    let app = TestApp::new().await;
    let a = app.register("alice@a.example", "Tenant A").await;
    let b = app.register("bob@b.example", "Tenant B").await;
    let a_id: TenantId = a.body["tenant"]["id"].as_str().unwrap().parse().unwrap();

    // Give A a second user directly, so the counts differ.
    let mut tx = app.state.db.tenant(a_id).await.unwrap();
    store::insert_user(&mut tx, a_id, UserId::new(), "carol@a.example", "x", 0)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let a_token = a.token();
    let b_token = b.token();

    let b_info = app.get("/api/tenant/info", Some(&b_token)).await;
    assert_eq!(b_info.body["tenant"]["id"], b.body["tenant"]["id"]);
    assert_eq!(b_info.body["tenant"]["usage"]["users"], 1);
    let a_info = app.get("/api/tenant/info", Some(&a_token)).await;
    assert_eq!(a_info.body["tenant"]["usage"]["users"], 2);

    let b_me = app.get("/api/auth/me", Some(&b_token)).await;
    assert_eq!(b_me.body["user"]["email"], "bob@b.example");
    assert_eq!(b_me.body["tenant"]["id"], b.body["tenant"]["id"]);

    // B's session operations touch only B: logging B out leaves A signed in.
    app.post("/api/auth/logout", json!({}), Some(&b_token))
        .await;
    assert_eq!(app.get("/api/auth/me", Some(&a_token)).await.status, 200);

    // B cannot use A's refresh token family even by changing B's own password.
    let b2 = app.login("bob@b.example", PASSWORD).await;
    let changed = app
        .put(
            "/api/auth/change-password",
            json!({ "old_password": PASSWORD, "new_password": "egret-weir-culvert-9" }),
            Some(&b2.token()),
        )
        .await;
    assert_eq!(changed.status, 200);
    assert_eq!(app.get("/api/auth/me", Some(&a_token)).await.status, 200);
    let a_refresh = app
        .post(
            "/api/auth/refresh",
            json!({ "refresh_token": a.refresh() }),
            None,
        )
        .await;
    assert_eq!(a_refresh.status, 200);
}

#[tokio::test]
async fn tenant_scoped_queries_never_return_other_tenants_rows() {
    let app = TestApp::new().await;
    let a = app.register("x@a.example", "A").await;
    let b = app.register("y@b.example", "B").await;
    let b_id: TenantId = b.body["tenant"]["id"].as_str().unwrap().parse().unwrap();
    let a_user: UserId = a.body["user"]["id"].as_str().unwrap().parse().unwrap();

    let mut tx = app.state.db.tenant(b_id).await.unwrap();
    assert!(store::user(&mut tx, b_id, a_user).await.unwrap().is_none());
    tx.commit().await.unwrap();
    assert!(app.state.rbac.roles_of(b_id, a_user).is_empty());
    assert!(app.state.rbac.permissions(b_id, a_user).is_empty());
}
