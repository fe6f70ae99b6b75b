//! Authentication: a tower layer that turns a bearer credential into a [`TenantContext`].
//!
//! [`AuthLayer`] reads `Authorization: Bearer <token>`, verifies the token with a
//! [`JwtCodec`], checks it against a [`RevocationList`], and stores the resulting
//! [`TenantContext`] in the request's extensions. The tenant comes only from the verified
//! token: no header, path or body can name it.
//!
//! A request whose credential is missing, malformed, forged, expired or revoked gets a
//! `401` problem response (`code: unauthenticated`) and never reaches the inner service.
//! Every failure produces the same body; the reason is logged at DEBUG. With
//! [`AuthLayer::optional`], a request *without* a credential passes through without a
//! context, which suits routes such as sign-up that serve both kinds of caller.
//!
//! A verified access token is remembered until it expires (up to 10,000 tokens by
//! default, see [`AuthLayer::verified_tokens`]), so a client sending the same token again
//! costs a map lookup rather than a signature check; revocation and the tenant gate are
//! still checked on every request.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//!
//! use http::{Request, Response, StatusCode};
//! use hydronet_core::{Plan, TenantContext, TenantId, UserId, SessionId};
//! use hydronet_tenancy::auth::AuthLayer;
//! use hydronet_tenancy::token::{AccessGrant, JwtCodec, JwtKey};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let codec = JwtCodec::builder(JwtKey::hs256("k1", &[7; 32]).unwrap()).build();
//! let service = ServiceBuilder::new()
//!     .layer(AuthLayer::new(codec.clone()))
//!     .service(service_fn(|req: Request<String>| async move {
//!         let ctx = req.extensions().get::<TenantContext>().unwrap();
//!         Ok::<_, Infallible>(Response::new(ctx.tenant_id().to_string()))
//!     }));
//!
//! let tenant = TenantId::new();
//! let roles = vec!["member".to_owned()];
//! let grant = AccessGrant {
//!     tenant_id: tenant,
//!     user_id: UserId::new(),
//!     session_id: SessionId::new(),
//!     roles: &roles,
//!     plan: Plan::Free,
//! };
//! let token = codec.issue_access(&grant).unwrap().token;
//!
//! let request = Request::get("/")
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(String::new())
//!     .unwrap();
//! let response = service.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.into_body(), tenant.to_string());
//!
//! let anonymous = Request::get("/").body(String::new()).unwrap();
//! let response = service.oneshot(anonymous).await.unwrap();
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! # }
//! ```
//!
//! # API keys and the tenant gate
//!
//! With [`AuthLayer::api_keys`], a bearer credential that looks like an API key
//! ([`API_KEY_PREFIX`]) is checked by an [`ApiKeyVerifier`] the application provides (it
//! owns the key store). With [`AuthLayer::gate`], every verified context passes a
//! [`TenantGate`], which can refuse a suspended tenant with 403 `tenant_suspended` on the
//! very next request, whatever credential it presents.
//!
//! # Layer order
//!
//! Put the layer after request-id and tracing layers (so its log events carry the request's
//! span) and before rate limiting, authorization and audit, which read the context.
//!
//! [`TenantContext`]: hydronet_core::TenantContext
//! [`JwtCodec`]: crate::token::JwtCodec
//! [`RevocationList`]: crate::revocation::RevocationList

mod cache;
mod future;
mod keys;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use keys::{
    API_KEY_PREFIX, ApiKeyVerifier, KeyLookupError, NewApiKey, SuspendedTenants, TenantGate,
    VerifyFuture, generate_api_key, is_api_key,
};
pub use layer::AuthLayer;
pub use service::{Auth, bearer_token};
