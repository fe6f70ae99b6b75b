use axum::body::Body;
use http::{Method, Request};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::new().await;
    let request = Request::post("/api/auth/register")
        .header("content-type", "application/json")
        .body(Body::from("{\"email\": "))
        .unwrap();

    app.send(request)
        .await
        .assert_problem(400, "malformed_json");
}

#[tokio::test]
async fn a_json_array_is_not_an_object() {
    let app = TestApp::new().await;
    app.post("/api/auth/login", json!([1, 2]), None)
        .await
        .assert_problem(400, "malformed_json");
}

#[tokio::test]
async fn invalid_fields_are_all_listed_in_one_422() {
    let app = TestApp::new().await;

    let reply = app
        .post(
            "/api/auth/register",
            json!({ "email": "not-an-email", "password": "short", "tenant_name": 7 }),
            None,
        )
        .await;

    reply.assert_problem(422, "validation_failed");
    let errors = &reply.body["errors"];
    assert_eq!(errors["email"][0], "is not an email address");
    assert_eq!(errors["password"][0], "must be at least 8 characters");
    assert_eq!(errors["tenant_name"][0], "must be a string");
}

#[tokio::test]
async fn missing_fields_are_required() {
    let app = TestApp::new().await;
    let reply = app.post("/api/auth/register", json!({}), None).await;
    reply.assert_problem(422, "validation_failed");
    for field in ["email", "password", "tenant_name"] {
        assert_eq!(reply.body["errors"][field][0], "is required", "{field}");
    }
}

#[tokio::test]
async fn password_policy_is_enforced_at_sign_up() {
    let app = TestApp::new().await;
    let cases = [
        ("password123", "is too common"),
        (
            "river@example.com",
            "must not be the same as the email address",
        ),
    ];
    for (password, reason) in cases {
        let reply = app
            .post(
                "/api/auth/register",
                json!({ "email": "river@example.com", "password": password, "tenant_name": "R" }),
                None,
            )
            .await;
        reply.assert_problem(422, "validation_failed");
        let got = reply.body["errors"]["password"][0].as_str().unwrap();
        assert!(got.starts_with(reason), "{password}: {got}");
    }
}

#[tokio::test]
async fn overlong_password_is_a_fast_400() {
    let app = TestApp::new().await;
    let long = "x".repeat(129);
    app.post(
        "/api/auth/register",
        json!({ "email": "a@example.com", "password": long, "tenant_name": "A" }),
        None,
    )
    .await
    .assert_problem(400, "password_too_long");
    app.login("a@example.com", &"y".repeat(10_000))
        .await
        .assert_problem(400, "password_too_long");
}

#[tokio::test]
async fn duplicate_email_is_409() {
    let app = TestApp::new().await;
    app.register("dup@example.com", "First").await;

    let reply = app
        .post(
            "/api/auth/register",
            json!({ "email": "DUP@example.com", "password": PASSWORD, "tenant_name": "Second" }),
            None,
        )
        .await;

    reply.assert_problem(409, "email_taken");
}

#[tokio::test]
async fn body_over_one_mebibyte_is_413() {
    let app = TestApp::new().await;
    let huge = format!("{{\"email\":\"{}\"}}", "a".repeat(1024 * 1024 + 10));
    let request = Request::post("/api/auth/login")
        .header("content-type", "application/json")
        .body(Body::from(huge))
        .unwrap();

    app.send(request)
        .await
        .assert_problem(413, "payload_too_large");
}

#[tokio::test]
async fn unknown_route_is_404_and_wrong_method_405() {
    let app = TestApp::new().await;
    app.get("/api/nope", None)
        .await
        .assert_problem(404, "not_found");
    app.request(Method::DELETE, "/api/auth/login", None, None)
        .await
        .assert_problem(405, "method_not_allowed");
}

#[tokio::test]
async fn slugs_stay_unique() {
    let app = TestApp::new().await;
    let a = app.register("one@example.com", "Acme Water").await;
    let b = app.register("two@example.com", "Acme  Water!").await;
    let c = app.register("three@example.com", "深圳水务").await;
    assert_eq!(a.body["tenant"]["slug"], "acme-water");
    assert_eq!(b.body["tenant"]["slug"], "acme-water-2");
    assert_eq!(c.body["tenant"]["slug"], "tenant");
}
