//! A plain axum app made multi-tenant with the HydroNet layers.
//!
//! Every request to `/hello` must carry a HydroNet access token; the handler receives the
//! verified `TenantContext` and answers for that tenant only. At start-up the example mints
//! a token for a made-up tenant and prints a `curl` command that uses it.
//!
//! ```text
//! HELLO_JWT_SECRET=$(openssl rand -base64 48) cargo run -p tenant-hello
//! ```

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use hydronet_core::{Plan, SessionId, TenantContext, TenantId, UserId};
use hydronet_tenancy::auth::AuthLayer;
use hydronet_tenancy::token::{AccessGrant, JwtCodec, JwtKey};

async fn hello(ctx: TenantContext) -> String {
    format!(
        "Hello, tenant {} (plan {}, roles {:?})\n",
        ctx.tenant_id(),
        ctx.plan(),
        ctx.roles()
    )
}

/// The whole app: one route behind the authentication layer.
fn app(codec: JwtCodec) -> Router {
    Router::new()
        .route("/hello", get(hello))
        .layer(AuthLayer::new(codec))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("HELLO_JWT_SECRET")
        .map_err(|_| "set HELLO_JWT_SECRET to a random string of at least 32 characters")?;
    let codec = JwtCodec::builder(JwtKey::hs256("hello", secret.as_bytes())?).build();

    let app = app(codec.clone());

    // A token for a demo tenant, as your login endpoint would issue it.
    let roles = ["member".to_owned()];
    let grant = AccessGrant {
        tenant_id: TenantId::new(),
        user_id: UserId::new(),
        session_id: SessionId::new(),
        roles: &roles,
        plan: Plan::Free,
    };
    let token = codec.issue_access(&grant)?.token;

    let addr = SocketAddr::from(([127, 0, 0, 1], 5001));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("try: curl -H 'Authorization: Bearer {token}' http://{addr}/hello");
    axum::serve(listener, app).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn answers_for_the_tokens_tenant_only() {
        let codec = JwtCodec::builder(JwtKey::hs256("t", &[9; 32]).unwrap()).build();
        let roles = ["owner".to_owned()];
        let tenant = TenantId::new();
        let grant = AccessGrant {
            tenant_id: tenant,
            user_id: UserId::new(),
            session_id: SessionId::new(),
            roles: &roles,
            plan: Plan::Pro,
        };
        let token = codec.issue_access(&grant).unwrap().token;

        let request = axum::http::Request::get("/hello")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let response = app(codec.clone()).oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            text.contains(&tenant.to_string()) && text.contains("pro"),
            "{text}"
        );

        let anonymous = axum::http::Request::get("/hello")
            .body(Body::empty())
            .unwrap();
        let response = app(codec).oneshot(anonymous).await.unwrap();
        assert_eq!(response.status(), 401);
    }
}
