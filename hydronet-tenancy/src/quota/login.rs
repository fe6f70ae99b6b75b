//! Throttling login attempts with the same limiter as every other rate limit.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{Rate, RateLimiter};

/// Why a login attempt may not proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Too many attempts; retry after this long.
    Throttled(Duration),
    /// The limiter cannot decide (its backend is down and it fails closed).
    Unavailable,
}

/// Limits login attempts per account and per client address.
///
/// Every attempt counts, successful or not, before the password is checked, so guessing
/// costs the same whether or not the account exists. The account key is the identifier as
/// typed (normalised), whether or not such an account exists. The default rates — ten
/// attempts per account and sixty per address in fifteen minutes — leave room for typos
/// and shared addresses while making guessing slow.
///
/// ```
/// use std::sync::Arc;
/// use hydronet_tenancy::quota::{LocalLimiter, LoginGuard, LoginRefusal};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let guard = LoginGuard::new(Arc::new(LocalLimiter::new()));
/// for _ in 0..10 {
///     assert!(guard.check("ada@example.com", None).await.is_ok());
/// }
/// assert!(matches!(guard.check("ada@example.com", None).await, Err(LoginRefusal::Throttled(_))));
/// assert!(guard.check("bob@example.com", None).await.is_ok());
/// # }
/// ```
#[derive(Debug)]
pub struct LoginGuard<L> {
    limiter: Arc<L>,
    per_account: Rate,
    per_address: Rate,
}

impl<L: RateLimiter> LoginGuard<L> {
    /// Guards logins with `limiter` at the default rates.
    pub fn new(limiter: Arc<L>) -> Self {
        let window = Duration::from_secs(15 * 60);
        Self {
            limiter,
            per_account: Rate::new(10, window),
            per_address: Rate::new(60, window),
        }
    }

    /// Attempts allowed per account. Default ten per fifteen minutes.
    pub fn per_account(mut self, rate: Rate) -> Self {
        self.per_account = rate;
        self
    }

    /// Attempts allowed per client address. Default sixty per fifteen minutes.
    pub fn per_address(mut self, rate: Rate) -> Self {
        self.per_address = rate;
        self
    }

    /// Counts an attempt on `account` from `address`; `Ok` if it may proceed.
    pub async fn check(&self, account: &str, address: Option<IpAddr>) -> Result<(), LoginRefusal> {
        let mut keys = vec![(format!("login:a:{account}"), self.per_account)];
        if let Some(ip) = address {
            keys.push((format!("login:ip:{ip}"), self.per_address));
        }
        for (key, rate) in keys {
            let decision = self
                .limiter
                .check(&key, rate, 1)
                .await
                .map_err(|_| LoginRefusal::Unavailable)?;
            if !decision.allowed {
                return Err(LoginRefusal::Throttled(
                    decision.retry_after.unwrap_or_default(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hydronet_core::ManualClock;

    use super::*;
    use crate::quota::{Fallback, LimiterError, LocalLimiter, OnOutage};

    #[tokio::test]
    async fn addresses_are_limited_across_accounts() {
        let guard = LoginGuard::new(Arc::new(LocalLimiter::new()))
            .per_address(Rate::new(3, Duration::from_secs(60)));
        let ip = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        for i in 0..3 {
            assert!(
                guard
                    .check(&format!("user{i}@example.com"), ip)
                    .await
                    .is_ok()
            );
        }
        assert!(guard.check("fresh@example.com", ip).await.is_err());
        assert!(guard.check("fresh@example.com", None).await.is_ok());
    }

    #[tokio::test]
    async fn attempts_recover_with_time() {
        let clock = ManualClock::at_secs(0);
        let limiter = Arc::new(LocalLimiter::with_clock(Arc::new(clock.clone())));
        let guard = LoginGuard::new(limiter);
        for _ in 0..10 {
            guard.check("a@example.com", None).await.unwrap();
        }
        let Err(LoginRefusal::Throttled(wait)) = guard.check("a@example.com", None).await else {
            panic!("the eleventh attempt must be throttled");
        };
        assert_eq!(wait, Duration::from_secs(90));
        clock.advance_secs(90);
        assert!(guard.check("a@example.com", None).await.is_ok());
    }

    struct Down;

    impl RateLimiter for Down {
        async fn check(
            &self,
            _: &str,
            _: Rate,
            _: u32,
        ) -> Result<super::super::Decision, LimiterError> {
            Err(LimiterError::Unavailable("down".into()))
        }
    }

    #[tokio::test]
    async fn an_unavailable_limiter_refuses_logins_when_failing_closed() {
        let limiter = Fallback::new(Down, LocalLimiter::new()).on_outage(OnOutage::FailClosed);
        let guard = LoginGuard::new(Arc::new(limiter));
        assert_eq!(
            guard.check("a@example.com", None).await,
            Err(LoginRefusal::Unavailable)
        );
    }
}
