//! The in-process backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;
use hydronet_core::{Clock, SystemClock};

use super::gcra::{Rate, decide};
use super::{Decision, LimiterError, RateLimiter};

/// Rate limits in process memory: a sharded map from key to its GCRA timestamp.
///
/// Each decision holds one shard's lock for a few instructions; keys whose allowance has
/// fully recovered are evicted once more than `max_keys` are tracked, so memory stays
/// bounded whatever the number of distinct keys.
#[derive(Debug)]
pub struct LocalLimiter {
    tats: DashMap<Box<str>, i64>,
    /// `tats.len()` kept beside the map: reading the map's length locks every shard.
    tracked: AtomicUsize,
    clock: Arc<dyn Clock>,
    max_keys: usize,
}

impl Default for LocalLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalLimiter {
    /// A limiter on the system clock, evicting past 100,000 keys.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A limiter reading time from `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            tats: DashMap::new(),
            tracked: AtomicUsize::new(0),
            clock,
            max_keys: 100_000,
        }
    }

    /// Evicts recovered keys once more than `max_keys` are tracked. Default 100,000.
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// How many keys are tracked.
    pub fn len(&self) -> usize {
        self.tats.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.tats.is_empty()
    }

    /// Decides synchronously; the trait method wraps this.
    pub fn check_now(&self, key: &str, rate: Rate, cost: u32) -> Decision {
        let now = self.clock.now_millis().saturating_mul(1000);
        if self.tracked.load(Ordering::Relaxed) >= self.max_keys {
            self.tats.retain(|_, tat| *tat > now);
            self.tracked.store(self.tats.len(), Ordering::Relaxed);
        }

        if let Some(mut tat) = self.tats.get_mut(key) {
            let (decision, next) = decide(rate, cost, now, Some(*tat));
            if let Some(next) = next {
                *tat = next;
            }
            return decision;
        }

        let mut entry = self.tats.entry(key.into()).or_insert_with(|| {
            self.tracked.fetch_add(1, Ordering::Relaxed);
            now
        });
        let (decision, next) = decide(rate, cost, now, Some(*entry));
        if let Some(next) = next {
            *entry = next;
        }
        decision
    }
}

impl RateLimiter for LocalLimiter {
    async fn check(&self, key: &str, rate: Rate, cost: u32) -> Result<Decision, LimiterError> {
        Ok(self.check_now(key, rate, cost))
    }

    fn check_sync(
        &self,
        key: &str,
        rate: Rate,
        cost: u32,
    ) -> Option<Result<Decision, LimiterError>> {
        Some(Ok(self.check_now(key, rate, cost)))
    }
}

#[cfg(test)]
mod tests {
    use hydronet_core::ManualClock;

    use super::*;
    use crate::quota::behaviour;

    #[tokio::test]
    async fn behaves_like_every_limiter() {
        let clock = ManualClock::at_secs(1_700_000_000);
        let limiter = Arc::new(LocalLimiter::with_clock(Arc::new(clock.clone())));
        behaviour::run(limiter, &|secs| clock.advance_secs(secs)).await;
    }

    #[test]
    fn memory_stays_bounded() {
        let clock = ManualClock::at_secs(0);
        let limiter = LocalLimiter::with_clock(Arc::new(clock.clone())).max_keys(100);
        for i in 0..10_000 {
            limiter.check_now(&format!("k{i}"), Rate::per_minute(600), 1);
            clock.advance_millis(200);
        }
        assert!(limiter.len() <= 101, "{} keys", limiter.len());
    }
}
