//! Access tokens (JWT) and opaque refresh tokens.
//!
//! A signed-in user holds two credentials:
//!
//! - a short-lived **access token**, a JWT made and checked by [`JwtCodec`], whose
//!   [`AccessClaims`] name the user, the tenant, the roles and the plan, and which becomes
//!   a [`TenantContext`](hydronet_core::TenantContext) with [`AccessClaims::to_context`];
//! - a long-lived **refresh token**, an [`OpaqueToken`]: random, meaningless by itself, and
//!   stored only as its [`token_digest`].
//!
//! # Example
//!
//! ```
//! use hydronet_core::{Plan, SessionId, TenantId, UserId};
//! use hydronet_tenancy::token::{AccessGrant, JwtCodec, JwtKey, OpaqueToken, token_digest};
//!
//! let key = JwtKey::hs256("2026-01", b"an example secret of at least 32 bytes")?;
//! let codec = JwtCodec::builder(key).issuer("https://auth.example.com").build();
//!
//! let tenant = TenantId::new();
//! let roles = vec!["member".to_owned()];
//! let grant = AccessGrant {
//!     tenant_id: tenant,
//!     user_id: UserId::new(),
//!     session_id: SessionId::new(),
//!     roles: &roles,
//!     plan: Plan::Pro,
//! };
//! let issued = codec.issue_access(&grant)?;
//! assert_eq!(issued.expires_in, 15 * 60);
//!
//! let claims = codec.verify_access(&issued.token)?;
//! assert_eq!(claims.to_context().tenant_id(), tenant);
//! assert!(codec.verify_access("forged.token.here").is_err());
//!
//! let refresh = OpaqueToken::generate("hnr_");
//! assert_eq!(refresh.digest(), token_digest(refresh.secret()));
//! # Ok::<(), hydronet_tenancy::token::TokenError>(())
//! ```
//!
//! # What verification checks
//!
//! [`JwtCodec::verify_access`] refuses a token unless, in this order:
//!
//! 1. it has three base64url parts and a JSON header;
//! 2. the header's `alg` is HS256 or EdDSA (never `none`), it has a `kid`, the `kid` names
//!    a configured key, and `alg` is that key's algorithm, so a public key can never be
//!    used as an HMAC secret;
//! 3. the signature verifies (no claim is read before this);
//! 4. every claim of [`AccessClaims`] is present, `iss` and `aud` equal the configured
//!    values, and `typ` is `"access"`;
//! 5. `exp` has not passed and neither `nbf` nor `iat` lies in the future, against the
//!    codec's [`Clock`](hydronet_core::Clock) and within its leeway.
//!
//! Each failure has its own [`TokenError`] variant for logs and tests; a server answers
//! all of them with the same 401.
//!
//! # Key rotation
//!
//! Every key has a `kid`. To rotate, sign with the new key and keep the old one with
//! [`JwtCodecBuilder::verify_key`] for at least one access-token lifetime, then drop it.
//! Tokens naming an unknown `kid` are refused.

mod jwt;
mod opaque;

pub use jwt::{
    AccessClaims, AccessGrant, IssuedAccess, JwtCodec, JwtCodecBuilder, JwtKey, TokenError,
};
pub use opaque::{OpaqueToken, token_digest};
