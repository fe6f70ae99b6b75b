//! Every forged, expired or misused credential is a 401 through the real router.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// The JWT secret the test settings use.
const SECRET: &[u8] = b"test-jwt-secret-0123456789abcdefghijklmnop";

fn parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let header = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
    let payload = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
    (
        serde_json::from_slice(&header).unwrap(),
        serde_json::from_slice(&payload).unwrap(),
    )
}

fn sign(kid: &str, claims: &Value, secret: &[u8]) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret).unwrap()).unwrap()
}

fn with(claims: &Value, field: &str, value: Value) -> Value {
    let mut changed = claims.clone();
    changed[field] = value;
    changed
}

fn without(claims: &Value, field: &str) -> Value {
    let mut changed = claims.clone();
    changed.as_object_mut().unwrap().remove(field);
    changed
}

#[tokio::test]
async fn forged_and_misused_tokens_are_all_401() {
    let app = TestApp::new().await;
    let victim = app.register("victim@example.com", "Victim").await;
    let attacker = app.register("attacker@example.com", "Attacker").await;
    let genuine = attacker.token();
    let (header, claims) = parts(&genuine);
    let kid = header["kid"].as_str().unwrap();
    let now = claims["iat"].as_i64().unwrap();

    // The genuine token works, and signing our own claims with the right key works too,
    // so every refusal below is due to the one thing that was changed.
    assert_eq!(app.get("/api/auth/me", Some(&genuine)).await.status, 200);
    assert_eq!(
        app.get("/api/auth/me", Some(&sign(kid, &claims, SECRET)))
            .await
            .status,
        200
    );

    let payload = genuine.split('.').nth(1).unwrap();
    let signature = genuine.split('.').nth(2).unwrap();
    let none_header =
        URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT", "kid": kid }).to_string());
    let victim_tenant = victim.body["tenant"]["id"].clone();
    let tampered_payload = URL_SAFE_NO_PAD.encode(with(&claims, "tid", victim_tenant).to_string());
    let owner_payload =
        URL_SAFE_NO_PAD.encode(with(&claims, "roles", json!(["system_admin"])).to_string());

    let cases: Vec<(&str, String)> = vec![
        ("alg none", format!("{none_header}.{payload}.")),
        (
            "foreign key",
            sign(kid, &claims, b"some-other-secret-that-is-long-enough-0000"),
        ),
        (
            "tampered tenant",
            format!(
                "{}.{tampered_payload}.{signature}",
                genuine.split('.').next().unwrap()
            ),
        ),
        (
            "tampered roles",
            format!(
                "{}.{owner_payload}.{signature}",
                genuine.split('.').next().unwrap()
            ),
        ),
        (
            "expired",
            sign(
                kid,
                &with(
                    &with(&claims, "exp", json!(now - 60)),
                    "iat",
                    json!(now - 1000),
                ),
                SECRET,
            ),
        ),
        (
            "not yet valid",
            sign(kid, &with(&claims, "nbf", json!(now + 600)), SECRET),
        ),
        (
            "issued in the future",
            sign(kid, &with(&claims, "iat", json!(now + 600)), SECRET),
        ),
        (
            "refresh type",
            sign(kid, &with(&claims, "typ", json!("refresh")), SECRET),
        ),
        (
            "wrong issuer",
            sign(kid, &with(&claims, "iss", json!("someone-else")), SECRET),
        ),
        (
            "wrong audience",
            sign(kid, &with(&claims, "aud", json!("other-api")), SECRET),
        ),
        ("no exp", sign(kid, &without(&claims, "exp"), SECRET)),
        ("no nbf", sign(kid, &without(&claims, "nbf"), SECRET)),
        ("no iat", sign(kid, &without(&claims, "iat"), SECRET)),
        ("no sub", sign(kid, &without(&claims, "sub"), SECRET)),
        ("no tenant", sign(kid, &without(&claims, "tid"), SECRET)),
        ("no type", sign(kid, &without(&claims, "typ"), SECRET)),
        ("unknown kid", sign("hs-000000000000", &claims, SECRET)),
        ("opaque refresh token as bearer", attacker.refresh()),
        ("garbage", "not.a.jwt".to_owned()),
        ("empty", String::new()),
    ];

    for (name, token) in cases {
        let reply = app.get("/api/auth/me", Some(&token)).await;
        assert_eq!(reply.status, 401, "{name}: {}", reply.body);
        reply.assert_problem(401, "unauthenticated");
    }
}

#[tokio::test]
async fn a_tenant_cannot_be_chosen_by_header_or_query() {
    let app = TestApp::new().await;
    let a = app.register("a@example.com", "Tenant A").await;
    let b = app.register("b@example.com", "Tenant B").await;
    let a_id = a.body["tenant"]["id"].as_str().unwrap();

    let request = http::Request::get(format!("/api/tenant/info?tenant_id={a_id}"))
        .header("authorization", format!("Bearer {}", b.token()))
        .header("x-tenant-id", a_id)
        .body(axum::body::Body::empty())
        .unwrap();
    let reply = app.send(request).await;

    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["tenant"]["id"], b.body["tenant"]["id"]);
}
