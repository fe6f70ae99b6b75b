//! Rate limits with one definition and interchangeable backends.
//!
//! A [`RateLimiter`] decides whether a key (a tenant, a user, an API key) may spend some
//! units now, by GCRA (the generic cell rate algorithm: one timestamp per key). Backends
//! share the algorithm, so they decide alike:
//!
//! - [`LocalLimiter`]: in process, sharded, memory bounded by evicting keys whose
//!   allowance has fully recovered;
//! - `RedisLimiter` (feature `redis`): one atomic Lua script per decision, the clock read
//!   from Redis `TIME`, every key with a TTL, so any number of instances share one limit;
//! - [`Fallback`]: a primary backend with a secondary for outages — by default each
//!   instance falls back to its own in-process limits, logs the outage once, counts the
//!   decisions made meanwhile and returns to the primary by itself; or it fails closed.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//!
//! use hydronet_core::ManualClock;
//! use hydronet_tenancy::quota::{LocalLimiter, Rate, RateLimiter};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let limiter = LocalLimiter::with_clock(Arc::new(ManualClock::at_secs(1_700_000_000)));
//! let rate = Rate::per_minute(2);
//! assert!(limiter.check("tenant:a", rate, 1).await.unwrap().allowed);
//! assert!(limiter.check("tenant:a", rate, 1).await.unwrap().allowed);
//! let third = limiter.check("tenant:a", rate, 1).await.unwrap();
//! assert!(!third.allowed);
//! assert_eq!(third.retry_after.unwrap().as_secs(), 30);
//! # }
//! ```

mod budget;
mod fallback;
mod gcra;
mod layer;
mod local;
mod login;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod redis_budget;

use std::future::Future;

pub use budget::{
    BudgetError, BudgetLimits, BudgetUse, LocalBudget, Period, Reservation, TokenBudget, periods,
};
pub use fallback::{Fallback, OnOutage};
pub use gcra::{Decision, Rate};
pub use layer::{
    Limit, LimitKey, Limits, LimitsSource, PlanRates, RateLimit, RateLimitFuture, RateLimitLayer,
    RatePolicy,
};
pub use local::LocalLimiter;
pub use login::{LoginGuard, LoginRefusal};
#[cfg(feature = "redis")]
pub use redis::RedisLimiter;
#[cfg(feature = "redis")]
pub use redis_budget::RedisBudget;

/// Why a limiter could not decide.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LimiterError {
    /// The backend could not be reached.
    #[error("rate limiter backend unavailable: {0}")]
    Unavailable(String),
}

/// Decides whether `key` may spend `cost` units of `rate` now, and counts them if so.
pub trait RateLimiter: Send + Sync + 'static {
    /// Checks and, when allowed, records.
    fn check(
        &self,
        key: &str,
        rate: Rate,
        cost: u32,
    ) -> impl Future<Output = Result<Decision, LimiterError>> + Send;

    /// Decides at once when the backend needs no I/O, as an in-process one; `None` when it
    /// must wait (the default), and then [`check`](Self::check) is called instead.
    ///
    /// [`RateLimit`] tries this first, so requests limited in process cost no future and
    /// no allocation. A backend answers either always or never.
    fn check_sync(
        &self,
        key: &str,
        rate: Rate,
        cost: u32,
    ) -> Option<Result<Decision, LimiterError>> {
        let _ = (key, rate, cost);
        None
    }
}

#[cfg(test)]
pub(crate) mod behaviour;
