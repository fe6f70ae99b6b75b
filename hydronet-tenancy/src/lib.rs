//! Multi-tenancy for tower services.
//!
//! Each concern is a trait or a plain type plus a tower layer, usable on its own:
//!
//! - [`auth`]: bearer-token authentication that puts a
//!   [`TenantContext`](hydronet_core::TenantContext) in every request;
//! - [`token`]: signed access tokens (JWT) and opaque refresh tokens;
//! - [`password`]: password policy and argon2id hashing on low-priority threads of its own;
//! - [`revocation`]: revoked sessions, checked in memory, shared through Redis;
//! - [`quota`]: rate limits by GCRA, in process or in Redis, with fallback, and login
//!   throttling per account and per address;
//! - [`rbac`] (feature `rbac`): casbin roles per tenant and the authorization layer;
//! - [`audit`]: audit events and sinks;
//! - `metrics` (feature `metrics`): the names of what the layers record;
//! - `bus` (feature `redis`): keeping instances in step through Redis pub/sub.
//!
//! # Features
//!
//! - `axum`: extractors, and matched route templates for authorization;
//! - `rbac`: role-based access control (casbin);
//! - `sqlx`: a casbin adapter over an sqlx pool;
//! - `redis`: share revocations between instances;
//! - `metrics`: rate-limit decisions and audit queue figures through the `metrics`
//!   facade ([`metrics`]).
#![warn(missing_docs)]

pub mod audit;
pub mod auth;
#[cfg(feature = "redis")]
pub mod bus;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod password;
pub mod quota;
#[cfg(feature = "rbac")]
pub mod rbac;
pub mod revocation;
mod routing;
pub mod token;

/// The concurrent maps every request reads whose keys the server made or verified
/// (verified tokens, revoked sessions, tenants' token budgets) hash with foldhash, seeded
/// at random per map: several times faster than the standard SipHash on such keys. Maps
/// keyed by what a client may choose freely (the in-process limiter's keys include login
/// accounts) keep SipHash, which resists hash flooding.
pub(crate) type ConcurrentMap<K, V> = dashmap::DashMap<K, V, foldhash::fast::RandomState>;
