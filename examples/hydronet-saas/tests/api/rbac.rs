//! Authorization through the real router: the route × role matrix, escalation guards,
//! cross-tenant isolation of roles, and audit records of every change.

use std::collections::HashMap;

use http::Method;
use hydronet_saas::app::route_table;
use hydronet_saas::routes::Access;
use hydronet_tenancy::audit::Outcome;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Reply, TestApp};

const ROLES: [&str; 5] = ["owner", "admin", "member", "auditor", "system_admin"];
const EVERYONE: &[&str] = &ROLES;
const MANAGERS: &[&str] = &["owner", "admin"];
const CHATTERS: &[&str] = &["owner", "admin", "member"];
const USAGE_READERS: &[&str] = &["owner", "admin", "auditor"];
const OPERATORS: &[&str] = &["system_admin"];
const AUDIT_READERS: &[&str] = &["owner", "admin", "auditor", "system_admin"];

/// Who may call each route, written out by hand as the specification. Every route of the
/// server must appear here.
fn expected() -> HashMap<(Method, &'static str), Option<&'static [&'static str]>> {
    HashMap::from([
        ((Method::GET, "/api/health"), None),
        ((Method::GET, "/api/health/live"), None),
        ((Method::GET, "/api/health/ready"), None),
        ((Method::GET, "/api/openapi.json"), None),
        ((Method::GET, "/docs"), None),
        ((Method::GET, "/docs/app.js"), None),
        ((Method::GET, "/docs/style.css"), None),
        ((Method::GET, "/"), None),
        ((Method::GET, "/console/{file}"), None),
        ((Method::GET, "/metrics"), None),
        ((Method::POST, "/api/auth/register"), None),
        ((Method::POST, "/api/auth/login"), None),
        ((Method::POST, "/api/auth/refresh"), None),
        ((Method::POST, "/api/auth/logout"), Some(EVERYONE)),
        ((Method::PUT, "/api/auth/change-password"), Some(EVERYONE)),
        ((Method::GET, "/api/auth/me"), Some(EVERYONE)),
        ((Method::GET, "/api/tenant/info"), Some(EVERYONE)),
        ((Method::GET, "/api/tenant/settings"), Some(EVERYONE)),
        ((Method::PUT, "/api/tenant/settings"), Some(MANAGERS)),
        ((Method::GET, "/api/tenant/wechat"), Some(MANAGERS)),
        ((Method::PUT, "/api/tenant/wechat"), Some(MANAGERS)),
        ((Method::GET, "/wechat/{tenant}"), None),
        ((Method::POST, "/wechat/{tenant}"), None),
        ((Method::GET, "/api/tenant/usage"), Some(USAGE_READERS)),
        ((Method::POST, "/api/chat/conversations"), Some(CHATTERS)),
        ((Method::GET, "/api/chat/conversations"), Some(CHATTERS)),
        (
            (Method::GET, "/api/chat/conversations/{id}"),
            Some(CHATTERS),
        ),
        (
            (Method::PATCH, "/api/chat/conversations/{id}"),
            Some(CHATTERS),
        ),
        (
            (Method::DELETE, "/api/chat/conversations/{id}"),
            Some(CHATTERS),
        ),
        (
            (Method::POST, "/api/chat/conversations/{id}/messages"),
            Some(CHATTERS),
        ),
        ((Method::POST, "/v1/chat/completions"), Some(CHATTERS)),
        ((Method::GET, "/v1/models"), Some(CHATTERS)),
        (
            (Method::GET, "/api/admin/tenants/{id}/limits"),
            Some(OPERATORS),
        ),
        (
            (Method::PUT, "/api/admin/tenants/{id}/limits"),
            Some(OPERATORS),
        ),
        ((Method::GET, "/api/admin/audit-logs"), Some(AUDIT_READERS)),
        ((Method::GET, "/api/admin/tenants"), Some(OPERATORS)),
        ((Method::GET, "/api/admin/overview"), Some(OPERATORS)),
        (
            (Method::PUT, "/api/admin/tenants/{id}/plan"),
            Some(OPERATORS),
        ),
        (
            (Method::POST, "/api/admin/tenants/{id}/suspend"),
            Some(OPERATORS),
        ),
        (
            (Method::POST, "/api/admin/tenants/{id}/reactivate"),
            Some(OPERATORS),
        ),
        (
            (Method::GET, "/api/admin/tenants/{id}/export"),
            Some(OPERATORS),
        ),
        ((Method::DELETE, "/api/admin/tenants/{id}"), Some(OPERATORS)),
        ((Method::GET, "/api/admin/tenants/{id}"), Some(OPERATORS)),
        ((Method::GET, "/api/tenant/roles"), Some(MANAGERS)),
        ((Method::GET, "/api/tenant/mcp-servers"), Some(CHATTERS)),
        ((Method::POST, "/api/tenant/mcp-servers"), Some(MANAGERS)),
        (
            (Method::GET, "/api/tenant/mcp-servers/{id}"),
            Some(CHATTERS),
        ),
        (
            (Method::PATCH, "/api/tenant/mcp-servers/{id}"),
            Some(MANAGERS),
        ),
        (
            (Method::DELETE, "/api/tenant/mcp-servers/{id}"),
            Some(MANAGERS),
        ),
        (
            (Method::POST, "/api/tenant/mcp-servers/{id}/refresh"),
            Some(MANAGERS),
        ),
        (
            (Method::POST, "/api/tenant/mcp-servers/{id}/approve"),
            Some(MANAGERS),
        ),
        (
            (Method::PUT, "/api/tenant/mcp-servers/{id}/tools"),
            Some(MANAGERS),
        ),
        ((Method::GET, "/api/tenant/api-keys"), Some(MANAGERS)),
        ((Method::POST, "/api/tenant/api-keys"), Some(MANAGERS)),
        (
            (Method::DELETE, "/api/tenant/api-keys/{id}"),
            Some(MANAGERS),
        ),
        ((Method::GET, "/api/tenant/users"), Some(MANAGERS)),
        ((Method::POST, "/api/tenant/users"), Some(MANAGERS)),
        (
            (Method::POST, "/api/tenant/users/{id}/disable"),
            Some(MANAGERS),
        ),
        (
            (Method::POST, "/api/tenant/users/{id}/enable"),
            Some(MANAGERS),
        ),
        ((Method::DELETE, "/api/tenant/users/{id}"), Some(MANAGERS)),
        ((Method::POST, "/api/auth/set-password"), None),
        ((Method::POST, "/api/tenant/roles/{name}"), Some(MANAGERS)),
        ((Method::PUT, "/api/tenant/roles/{name}"), Some(MANAGERS)),
        ((Method::DELETE, "/api/tenant/roles/{name}"), Some(MANAGERS)),
        (
            (Method::PUT, "/api/tenant/users/{id}/roles"),
            Some(MANAGERS),
        ),
    ])
}

fn concrete(path: &str) -> String {
    path.replace("{name}", "probe-role")
        .replace("{tenant}", "probe-tenant")
        .replace("{id}", &uuid::Uuid::now_v7().to_string())
}

async fn call(app: &TestApp, method: &Method, path: &str, token: Option<&str>) -> Reply {
    let body = matches!(*method, Method::POST | Method::PUT).then(|| json!({}));
    app.request(method.clone(), &concrete(path), body, token)
        .await
}

#[tokio::test]
async fn every_route_times_every_role() {
    let app = TestApp::new().await;
    let owner = app.register("owner@matrix.example", "Matrix").await;
    let tenant = owner.body["tenant"]["id"].as_str().unwrap().to_owned();
    for role in &ROLES[1..] {
        app.add_user(&tenant, &format!("{role}@matrix.example"), &[role])
            .await;
    }
    // Room for every request of the matrix within the tenant's rate limit.
    let roomy = hydronet_saas::limits::LimitOverrides {
        requests_per_minute: Some(10_000),
        user_requests_per_minute: Some(10_000),
        ..Default::default()
    };
    app.state.limits.set(tenant.parse().unwrap(), roomy);

    let expected = expected();
    let routes = route_table();
    for (method, path, access) in &routes {
        let Some(allowed) = expected.get(&(method.clone(), *path)) else {
            panic!("{method} {path} is missing from the authorization matrix");
        };
        assert_eq!(
            allowed.is_none(),
            *access == Access::Public,
            "{method} {path}"
        );

        let anonymous = call(&app, method, path, None).await;
        match allowed {
            None => assert!(
                !matches!(anonymous.status.as_u16(), 401 | 403),
                "{method} {path}: {}",
                anonymous.status
            ),
            Some(_) => anonymous.assert_problem(401, "unauthenticated"),
        }

        let Some(allowed) = allowed else { continue };
        for role in ROLES {
            // A fresh session each time: logout ends the one it is called with.
            let token = app.session_token(&format!("{role}@matrix.example")).await;
            let reply = call(&app, method, path, Some(&token)).await;
            if allowed.contains(&role) {
                assert!(
                    !matches!(reply.status.as_u16(), 401 | 403),
                    "{role} {method} {path}: {} {}",
                    reply.status,
                    reply.body
                );
            } else {
                assert_eq!(reply.status, 403, "{role} {method} {path}: {}", reply.body);
                assert_eq!(reply.body["code"], "forbidden");
            }
        }
    }
    assert_eq!(
        routes.len(),
        expected.len(),
        "the matrix lists routes the server lacks"
    );
}

/// A tenant with an owner, an admin and a member, each signed in.
struct Team {
    tenant: String,
    owner: (String, String),
    admin: (String, String),
    member: (String, String),
}

async fn team(app: &TestApp, name: &str) -> Team {
    let owner = app.register(&format!("owner@{name}.example"), name).await;
    let tenant = owner.body["tenant"]["id"].as_str().unwrap().to_owned();
    let owner_id = owner.body["user"]["id"].as_str().unwrap().to_owned();
    let (admin_id, admin) = app
        .add_user(&tenant, &format!("admin@{name}.example"), &["admin"])
        .await;
    let (member_id, member) = app
        .add_user(&tenant, &format!("member@{name}.example"), &["member"])
        .await;
    Team {
        tenant,
        owner: (owner_id, owner.token()),
        admin: (admin_id.to_string(), admin.token()),
        member: (member_id.to_string(), member.token()),
    }
}

async fn assign(app: &TestApp, token: &str, user: &str, roles: Value) -> Reply {
    app.put(
        &format!("/api/tenant/users/{user}/roles"),
        json!({ "roles": roles }),
        Some(token),
    )
    .await
}

#[tokio::test]
async fn roles_are_listed_with_permissions() {
    let app = TestApp::new().await;
    let t = team(&app, "list").await;
    let reply = app.get("/api/tenant/roles", Some(&t.admin.1)).await;
    assert_eq!(reply.status, 200);
    let roles = reply.body["roles"].as_array().unwrap();
    let names: Vec<&str> = roles.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ROLES);
    let auditor = &roles[3];
    assert_eq!(auditor["builtin"], true);
    assert_eq!(
        auditor["permissions"],
        json!([
            "profile:read",
            "profile:write",
            "tenant:read",
            "audit:read",
            "usage:read"
        ])
    );
}

#[tokio::test]
async fn custom_roles_can_be_created_changed_assigned_and_deleted() {
    let app = TestApp::new().await;
    let t = team(&app, "custom").await;
    let admin = &t.admin.1;

    let created = app
        .post(
            "/api/tenant/roles/reporter",
            json!({ "permissions": ["usage:read", "audit:read"] }),
            Some(admin),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    app.post(
        "/api/tenant/roles/reporter",
        json!({ "permissions": ["usage:read"] }),
        Some(admin),
    )
    .await
    .assert_problem(409, "role_exists");
    app.post(
        "/api/tenant/roles/owner",
        json!({ "permissions": ["usage:read"] }),
        Some(admin),
    )
    .await
    .assert_problem(409, "role_exists");
    let bad = app
        .post(
            "/api/tenant/roles/BadName",
            json!({ "permissions": ["nope:nope"] }),
            Some(admin),
        )
        .await;
    bad.assert_problem(422, "validation_failed");

    // The member gains audit:read through the new role, on the very next request.
    let member_token = &t.member.1;
    app.get("/api/tenant/roles", Some(member_token))
        .await
        .assert_problem(403, "forbidden");
    let assigned = assign(&app, admin, &t.member.0, json!(["member", "reporter"])).await;
    assert_eq!(assigned.status, 200, "{}", assigned.body);
    let me = app.get("/api/auth/me", Some(member_token)).await;
    assert!(
        me.body["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("audit:read"))
    );

    app.delete_role(admin, "reporter")
        .await
        .assert_problem(409, "role_in_use");
    let updated = app
        .put(
            "/api/tenant/roles/reporter",
            json!({ "permissions": ["usage:read"] }),
            Some(admin),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    let me = app.get("/api/auth/me", Some(member_token)).await;
    assert!(
        !me.body["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("audit:read"))
    );

    assign(&app, admin, &t.member.0, json!(["member"])).await;
    assert_eq!(app.delete_role(admin, "reporter").await.status, 200);
    app.delete_role(admin, "reporter")
        .await
        .assert_problem(404, "not_found");
    app.delete_role(admin, "member")
        .await
        .assert_problem(409, "builtin_role");

    let actions: Vec<String> = app
        .audit
        .events()
        .iter()
        .map(|e| e.action.clone())
        .collect();
    for action in [
        "role.created",
        "role.assigned",
        "role.updated",
        "role.deleted",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} not audited: {actions:?}"
        );
    }
}

#[tokio::test]
async fn a_revoked_role_stops_working_on_the_next_request() {
    let app = TestApp::new().await;
    let t = team(&app, "revoke").await;
    assert_eq!(
        app.get("/api/tenant/roles", Some(&t.admin.1)).await.status,
        200
    );

    let demoted = assign(&app, &t.owner.1, &t.admin.0, json!(["member"])).await;
    assert_eq!(demoted.status, 200, "{}", demoted.body);

    // Same access token as before: its roles claim is stale, the decision is not.
    app.get("/api/tenant/roles", Some(&t.admin.1))
        .await
        .assert_problem(403, "forbidden");
}

#[tokio::test]
async fn escalation_attempts_are_refused_and_audited() {
    let app = TestApp::new().await;
    let t = team(&app, "esc").await;
    let (tenant, admin) = (&t.tenant, &t.admin.1);

    // An admin cannot make an owner, nor unmake one.
    assign(&app, admin, &t.member.0, json!(["owner"]))
        .await
        .assert_problem(403, "owner_required");
    assign(&app, admin, &t.owner.0, json!(["member"]))
        .await
        .assert_problem(403, "owner_required");

    // Nobody changes their own roles.
    assign(&app, admin, &t.admin.0, json!(["admin", "auditor"]))
        .await
        .assert_problem(403, "cannot_change_own_roles");
    assign(&app, &t.owner.1, &t.owner.0, json!(["member"]))
        .await
        .assert_problem(403, "cannot_change_own_roles");

    // Nobody grants what they do not hold: the service-wide admin permission, directly or
    // through a custom role.
    assign(&app, admin, &t.member.0, json!(["system_admin"]))
        .await
        .assert_problem(403, "privilege_escalation");
    app.post(
        "/api/tenant/roles/sneaky",
        json!({ "permissions": ["admin:manage"] }),
        Some(admin),
    )
    .await
    .assert_problem(403, "privilege_escalation");

    // The last owner stays an owner.
    let (second_owner, _) = app.add_user(tenant, "owner2@esc.example", &["owner"]).await;
    let second = app.login("owner2@esc.example", PASSWORD).await.token();
    let demote_first = assign(&app, &second, &t.owner.0, json!(["admin"])).await;
    assert_eq!(demote_first.status, 200, "{}", demote_first.body);
    let first_as_admin = app.login("owner@esc.example", PASSWORD).await.token();
    assign(
        &app,
        &first_as_admin,
        &second_owner.to_string(),
        json!(["admin"]),
    )
    .await
    .assert_problem(403, "owner_required");
    let promote_back = assign(&app, &second, &t.owner.0, json!(["owner"])).await;
    assert_eq!(promote_back.status, 200);

    let denied = app
        .audit
        .events()
        .iter()
        .filter(|e| e.outcome == Outcome::Denied)
        .count();
    assert!(denied >= 6, "{denied} denied attempts audited");
}

#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    let app = TestApp::new().await;
    let t = team(&app, "last").await;
    let (co_owner, co) = app.add_user(&t.tenant, "co@last.example", &["owner"]).await;
    let (first, co_token, co_id) = (t.owner.0.clone(), co.token(), co_owner.to_string());

    let (a, b) = tokio::join!(
        assign(&app, &co_token, &first, json!(["member"])),
        assign(&app, &t.owner.1, &co_id, json!(["member"])),
    );

    let statuses = [a.status.as_u16(), b.status.as_u16()];
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses.contains(&403) || statuses.contains(&409),
        "{statuses:?}"
    );
    let owners = app.state.rbac.holders(t.tenant.parse().unwrap(), "owner");
    assert_eq!(owners.len(), 1, "{owners:?}");
}

#[tokio::test]
async fn admins_cannot_reach_another_tenants_roles_or_users() {
    let app = TestApp::new().await;
    let a = team(&app, "tenanta").await;
    let b = team(&app, "tenantb").await;
    app.post(
        "/api/tenant/roles/b-only",
        json!({ "permissions": ["usage:read"] }),
        Some(&b.admin.1),
    )
    .await;

    // A's admin names B's user and B's role: both are unknown in A.
    assign(&app, &a.admin.1, &b.member.0, json!(["admin"]))
        .await
        .assert_problem(404, "not_found");
    app.put(
        "/api/tenant/roles/b-only",
        json!({ "permissions": ["usage:read", "audit:read"] }),
        Some(&a.admin.1),
    )
    .await
    .assert_problem(404, "not_found");
    app.delete_role(&a.admin.1, "b-only")
        .await
        .assert_problem(404, "not_found");
    let listed = app.get("/api/tenant/roles", Some(&a.admin.1)).await;
    assert!(!listed.body.to_string().contains("b-only"));
    assign(&app, &a.admin.1, &a.member.0, json!(["b-only"]))
        .await
        .assert_problem(422, "validation_failed");

    // B is untouched.
    let b_roles = app.get("/api/tenant/roles", Some(&b.admin.1)).await;
    assert!(b_roles.body.to_string().contains("b-only"));
    let b_member = app.get("/api/auth/me", Some(&b.member.1)).await;
    assert_eq!(b_member.body["user"]["roles"], json!(["member"]));
}
