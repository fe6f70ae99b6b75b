//! The web console's files at `/` and `/console/{file}`, and the browser session that
//! keeps the refresh token in a cookie (`X-HydroNet-Session: cookie`).

use axum::body::Body;
use http::{Method, Request};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Reply, TestApp};

const SESSION: (&str, &str) = ("x-hydronet-session", "cookie");

/// A POST with a JSON body and extra headers.
async fn post_with(app: &TestApp, path: &str, body: Value, headers: &[(&str, &str)]) -> Reply {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    app.send(builder.body(Body::from(body.to_string())).unwrap())
        .await
}

/// The value of the `hn_refresh` cookie a reply sets, and the whole `Set-Cookie` line.
fn set_cookie(reply: &Reply) -> (String, String) {
    let line = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("hn_refresh="))
        .unwrap_or_else(|| panic!("no hn_refresh cookie in {:?}", reply.headers));
    let value = line["hn_refresh=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    (value, line)
}

fn assert_session_cookie(line: &str) {
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/auth"] {
        assert!(
            line.split("; ").any(|a| a == attribute),
            "{attribute} missing: {line}"
        );
    }
}

#[tokio::test]
async fn register_and_login_in_cookie_mode_set_the_cookie_and_omit_the_token() {
    let app = TestApp::new().await;
    let registered = post_with(
        &app,
        "/api/auth/register",
        json!({ "email": "cookie@console.example", "password": PASSWORD, "tenant_name": "Cookie" }),
        &[SESSION],
    )
    .await;
    assert_eq!(registered.status, 201, "{}", registered.body);
    assert!(registered.body.get("refresh_token").is_none());
    assert!(registered.body["access_token"].is_string());
    assert_eq!(registered.headers["cache-control"], "no-store");
    let (value, line) = set_cookie(&registered);
    assert_session_cookie(&line);
    assert!(line.contains("Max-Age=2592000"), "{line}");
    assert!(!value.is_empty());

    let login = post_with(
        &app,
        "/api/auth/login",
        json!({ "email": "cookie@console.example", "password": PASSWORD }),
        &[SESSION],
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(login.body.get("refresh_token").is_none());
    assert_session_cookie(&set_cookie(&login).1);
}

#[tokio::test]
async fn refresh_reads_the_cookie_only_with_the_session_header() {
    let app = TestApp::new().await;
    let login = post_with(
        &app,
        "/api/auth/register",
        json!({ "email": "refresh@console.example", "password": PASSWORD, "tenant_name": "Refresh" }),
        &[SESSION],
    )
    .await;
    let (token, _) = set_cookie(&login);
    let cookie = format!("other=1; hn_refresh={token}");

    // Without the custom header the cookie alone is not enough (CSRF defence).
    let bare = post_with(&app, "/api/auth/refresh", json!({}), &[("cookie", &cookie)]).await;
    bare.assert_problem(422, "validation_failed");

    let refreshed = post_with(
        &app,
        "/api/auth/refresh",
        json!({}),
        &[SESSION, ("cookie", &cookie)],
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert!(refreshed.body.get("refresh_token").is_none());
    let access = refreshed.token();
    let (next, line) = set_cookie(&refreshed);
    assert_session_cookie(&line);
    assert_ne!(next, token, "the refresh token rotates");
    let me = app.get("/api/auth/me", Some(&access)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["user"]["email"], "refresh@console.example");

    // The spent cookie is refused and cleared.
    let replay = post_with(
        &app,
        "/api/auth/refresh",
        json!({}),
        &[SESSION, ("cookie", &cookie)],
    )
    .await;
    replay.assert_problem(401, "invalid_refresh_token");
    let (cleared, line) = set_cookie(&replay);
    assert!(cleared.is_empty() && line.contains("Max-Age=0"), "{line}");

    // No cookie at all: refused, nothing else happens.
    let none = post_with(&app, "/api/auth/refresh", json!({}), &[SESSION]).await;
    none.assert_problem(401, "invalid_refresh_token");
}

#[tokio::test]
async fn the_body_flow_is_unchanged() {
    let app = TestApp::new().await;
    let registered = app.register("body@console.example", "Body").await;
    assert!(registered.headers.get("set-cookie").is_none());
    let refreshed = app
        .post(
            "/api/auth/refresh",
            json!({ "refresh_token": registered.refresh() }),
            None,
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert!(refreshed.body["refresh_token"].is_string());
    assert!(refreshed.headers.get("set-cookie").is_none());

    // A body token wins over the cookie, even in cookie mode.
    let mixed = post_with(
        &app,
        "/api/auth/refresh",
        json!({ "refresh_token": refreshed.refresh() }),
        &[SESSION, ("cookie", "hn_refresh=bogus")],
    )
    .await;
    assert_eq!(mixed.status, 200, "{}", mixed.body);
    assert!(mixed.body.get("refresh_token").is_none());
    assert_session_cookie(&set_cookie(&mixed).1);
}

#[tokio::test]
async fn logout_clears_the_cookie() {
    let app = TestApp::new().await;
    let login = app.register("logout@console.example", "Logout").await;
    let reply = app
        .post("/api/auth/logout", json!({}), Some(&login.token()))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let (value, line) = set_cookie(&reply);
    assert!(value.is_empty(), "{line}");
    assert!(line.contains("Max-Age=0"), "{line}");
    assert_session_cookie(&line);
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy() {
    let app = TestApp::new().await;
    let page = app.get("/", None).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{directive} missing: {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    let html = page.body.as_str().unwrap();
    assert!(html.contains("/console/app.js"), "{html}");
}

#[tokio::test]
async fn files_have_their_types_and_revalidate_by_etag() {
    let app = TestApp::new().await;
    for (name, media) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("chat.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let reply = app.get(&format!("/console/{name}"), None).await;
        assert_eq!(reply.status, 200, "{name}");
        assert_eq!(reply.headers["content-type"], media, "{name}");
        assert_eq!(reply.headers["cache-control"], "no-cache");
        let etag = reply.headers["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.len() == 26, "{etag}");

        let again = Request::builder()
            .uri(format!("/console/{name}"))
            .header("if-none-match", &etag)
            .body(Body::empty())
            .unwrap();
        let cached = app.send(again).await;
        assert_eq!(cached.status, 304, "{name}");
        assert_eq!(cached.body, Value::Null);
    }
    let scripts = [
        app.get("/console/app.js", None).await,
        app.get("/console/api.js", None).await,
    ];
    assert_ne!(scripts[0].headers["etag"], scripts[1].headers["etag"]);

    app.get("/console/index.html.bak", None)
        .await
        .assert_problem(404, "not_found");
    app.get("/console/..%2Fsrc%2Fmain.rs", None)
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn a_password_change_in_cookie_mode_moves_the_session_to_a_new_cookie() {
    let app = TestApp::new().await;
    let login = app.register("change@console.example", "Change").await;
    let request = Request::builder()
        .method(Method::PUT)
        .uri("/api/auth/change-password")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", login.token()))
        .header(SESSION.0, SESSION.1)
        .body(Body::from(
            json!({ "old_password": PASSWORD, "new_password": "a-brand-new-Passw0rd" }).to_string(),
        ))
        .unwrap();
    let changed = app.send(request).await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert!(changed.body.get("refresh_token").is_none());
    let (token, line) = set_cookie(&changed);
    assert_session_cookie(&line);

    let cookie = format!("hn_refresh={token}");
    let refreshed = post_with(
        &app,
        "/api/auth/refresh",
        json!({}),
        &[SESSION, ("cookie", &cookie)],
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
}
