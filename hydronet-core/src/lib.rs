//! The shared vocabulary of HydroNet.
//!
//! Every other HydroNet crate speaks in these types:
//!
//! - [`TenantId`], [`UserId`], [`ApiKeyId`] and [`SessionId`]: UUID v7 newtypes, so ids sort
//!   by creation time and one kind of id cannot be passed where another is expected;
//! - [`TenantContext`] and [`Principal`]: who is calling, on behalf of which tenant, with
//!   which roles and plan, as established by a verified credential;
//! - [`Plan`] and [`PlanLimits`]: what a tenant's subscription allows;
//! - [`Problem`]: the error model, rendered as RFC 9457 `application/problem+json` with a
//!   stable machine-readable `code`;
//! - [`Clock`]: the source of time, replaceable in tests.
//!
//! # Example
//!
//! ```
//! use hydronet_core::{Plan, Principal, TenantContext, TenantId, UserId};
//!
//! let ctx = TenantContext::new(TenantId::new(), Principal::User(UserId::new()), Plan::Free)
//!     .with_roles(["owner"]);
//! assert!(ctx.has_role("owner"));
//! assert_eq!(ctx.plan().limits().requests_per_minute, 60);
//! ```
//!
//! # Features
//!
//! - `axum`: `IntoResponse` for [`Problem`] and axum extractors for [`TenantContext`].
#![warn(missing_docs)]

mod clock;
mod context;
mod id;
mod plan;
mod problem;

pub use clock::{Clock, ManualClock, SystemClock};
pub use context::{ClientAddr, Principal, ScopeMask, TenantContext};
pub use id::{ApiKeyId, IdParseError, SessionId, TenantId, UserId};
pub use plan::{Plan, PlanCatalog, PlanLimits, UnknownPlan};
pub use problem::{FieldErrors, PROBLEM_JSON, Problem};
