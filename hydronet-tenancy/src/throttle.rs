//! Throttling of login attempts, per account and per client address.
//!
//! Guessing passwords is slowed down twice: each account may fail a few times in a row
//! and then only once a minute, and each client address a few dozen times and then every
//! few seconds. Only failures count, so a user who types the right password is never
//! held back by their own earlier success. The key of an account is the email as typed
//! (normalised), whether or not such an account exists, so throttling reveals nothing.
//!
//! Both limits use GCRA (the generic cell rate algorithm): one timestamp per key, no
//! timers, memory bounded by evicting keys whose allowance has fully recovered.
//!
//! # Example
//!
//! ```
//! use hydronet_tenancy::throttle::{Gcra, KeyedGcra};
//! use std::time::Duration;
//!
//! // Three in a burst, then one per second.
//! let limit = KeyedGcra::new(Gcra::new(3, Duration::from_secs(1)), 10_000);
//! let now = 1_000_000;
//! for _ in 0..3 {
//!     assert!(limit.check("alice", now).is_ok());
//!     limit.record("alice", now);
//! }
//! let wait = limit.check("alice", now).unwrap_err();
//! assert_eq!(wait, Duration::from_secs(1));
//! assert!(limit.check("alice", now + 1_000).is_ok());
//! ```

use std::net::IpAddr;
use std::time::Duration;

use dashmap::DashMap;

/// A rate: `burst` events at once, then one per `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    interval_ms: i64,
    tolerance_ms: i64,
}

impl Gcra {
    /// Allows `burst` events at once (at least one), refilling one per `interval`.
    pub fn new(burst: u32, interval: Duration) -> Self {
        let interval_ms = i64::try_from(interval.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let burst = i64::from(burst.max(1));
        Self {
            interval_ms,
            tolerance_ms: interval_ms.saturating_mul(burst - 1),
        }
    }

    /// Whether an event at `now_ms` is allowed given the key's theoretical arrival time
    /// `tat_ms`; when it is not, how long to wait.
    fn wait(&self, tat_ms: i64, now_ms: i64) -> Option<Duration> {
        let ahead = tat_ms.max(now_ms) - now_ms;
        let excess = ahead - self.tolerance_ms;
        (excess > 0).then(|| Duration::from_millis(excess.unsigned_abs()))
    }

    fn next_tat(&self, tat_ms: i64, now_ms: i64) -> i64 {
        tat_ms.max(now_ms).saturating_add(self.interval_ms)
    }
}

/// A [`Gcra`] limit applied separately to each key, in process memory.
#[derive(Debug)]
pub struct KeyedGcra {
    rate: Gcra,
    max_keys: usize,
    tats: DashMap<String, i64>,
}

impl KeyedGcra {
    /// A limit of `rate` per key, evicting recovered keys once more than `max_keys` are
    /// tracked.
    pub fn new(rate: Gcra, max_keys: usize) -> Self {
        Self {
            rate,
            max_keys,
            tats: DashMap::new(),
        }
    }

    /// `Ok` if an event for `key` at `now_ms` (Unix milliseconds) is within the limit,
    /// otherwise how long until it will be. Does not count the event.
    pub fn check(&self, key: &str, now_ms: i64) -> Result<(), Duration> {
        let tat = self.tats.get(key).map_or(now_ms, |entry| *entry);
        self.rate.wait(tat, now_ms).map_or(Ok(()), Err)
    }

    /// Counts an event for `key` at `now_ms`.
    pub fn record(&self, key: &str, now_ms: i64) {
        if self.tats.len() >= self.max_keys {
            self.sweep(now_ms);
        }
        let mut entry = self.tats.entry(key.to_owned()).or_insert(now_ms);
        *entry = self.rate.next_tat(*entry, now_ms);
    }

    /// Forgets `key`, as if it had never been seen.
    pub fn reset(&self, key: &str) {
        self.tats.remove(key);
    }

    /// Drops every key whose allowance has fully recovered by `now_ms`.
    pub fn sweep(&self, now_ms: i64) {
        self.tats.retain(|_, tat| *tat > now_ms);
    }

    /// How many keys are tracked.
    pub fn len(&self) -> usize {
        self.tats.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.tats.is_empty()
    }
}

/// Failed-login throttling by account and by client address.
#[derive(Debug)]
pub struct LoginThrottle {
    accounts: KeyedGcra,
    addresses: KeyedGcra,
}

impl Default for LoginThrottle {
    /// Five failures per account, then one a minute; thirty per address, then one every
    /// six seconds.
    fn default() -> Self {
        Self::new(
            Gcra::new(5, Duration::from_secs(60)),
            Gcra::new(30, Duration::from_secs(6)),
        )
    }
}

impl LoginThrottle {
    /// Throttles with the given per-account and per-address rates.
    pub fn new(per_account: Gcra, per_address: Gcra) -> Self {
        Self {
            accounts: KeyedGcra::new(per_account, 100_000),
            addresses: KeyedGcra::new(per_address, 100_000),
        }
    }

    /// `Ok` if a login attempt may be checked now; otherwise how long to wait.
    pub fn check(
        &self,
        account: &str,
        address: Option<IpAddr>,
        now_ms: i64,
    ) -> Result<(), Duration> {
        let by_account = self.accounts.check(account, now_ms);
        let by_address = match address {
            Some(ip) => self.addresses.check(&ip.to_string(), now_ms),
            None => Ok(()),
        };
        match (by_account, by_address) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(a.max(b)),
            (Err(wait), _) | (_, Err(wait)) => Err(wait),
        }
    }

    /// Counts a failed attempt against both keys.
    pub fn record_failure(&self, account: &str, address: Option<IpAddr>, now_ms: i64) {
        self.accounts.record(account, now_ms);
        if let Some(ip) = address {
            self.addresses.record(&ip.to_string(), now_ms);
        }
    }

    /// Clears the account's failures after a successful login.
    pub fn record_success(&self, account: &str) {
        self.accounts.reset(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn burst_then_steady_rate() {
        let limit = KeyedGcra::new(Gcra::new(2, Duration::from_millis(500)), 100);
        limit.record("k", 0);
        limit.record("k", 0);
        assert_eq!(limit.check("k", 0), Err(Duration::from_millis(500)));
        assert_eq!(limit.check("k", 499), Err(Duration::from_millis(1)));
        assert_eq!(limit.check("k", 500), Ok(()));
        assert_eq!(limit.check("other", 0), Ok(()));
    }

    #[test]
    fn sweep_evicts_recovered_keys_only() {
        let limit = KeyedGcra::new(Gcra::new(1, Duration::from_secs(10)), 100);
        limit.record("old", 0);
        limit.record("new", 9_000);
        limit.sweep(10_000);
        assert_eq!(limit.len(), 1);
        assert!(limit.check("new", 10_000).is_err());
    }

    #[test]
    fn memory_stays_bounded() {
        let limit = KeyedGcra::new(Gcra::new(1, Duration::from_millis(10)), 50);
        for i in 0..1_000 {
            limit.record(&format!("k{i}"), i64::from(i) * 100);
        }
        assert!(limit.len() <= 51, "{} keys tracked", limit.len());
    }

    #[test]
    fn account_locks_after_failures_and_success_resets() {
        let throttle = LoginThrottle::default();
        for _ in 0..5 {
            assert!(throttle.check("a@example.com", IP, 0).is_ok());
            throttle.record_failure("a@example.com", IP, 0);
        }
        assert!(throttle.check("a@example.com", IP, 0).is_err());
        assert!(throttle.check("b@example.com", IP, 0).is_ok());

        throttle.record_success("a@example.com");
        assert!(throttle.check("a@example.com", IP, 0).is_ok());
    }

    #[test]
    fn address_locks_across_accounts() {
        let throttle = LoginThrottle::default();
        for i in 0..30 {
            throttle.record_failure(&format!("user{i}@example.com"), IP, 0);
        }
        assert!(throttle.check("fresh@example.com", IP, 0).is_err());
        assert!(throttle.check("fresh@example.com", None, 0).is_ok());
    }
}
