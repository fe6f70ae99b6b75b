//! Surviving an outage of the shared backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use hydronet_core::{Clock, SystemClock};

use super::gcra::Rate;
use super::{Decision, LimiterError, RateLimiter};

/// What a [`Fallback`] does while its primary backend is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnOutage {
    /// Decide with the secondary backend (each instance on its own).
    UseSecondary,
    /// Refuse to decide: callers answer 503.
    FailClosed,
}

/// A primary limiter (usually Redis) with a secondary (usually in-process) for outages.
///
/// The first failure is logged once at WARN and the limiter turns *degraded*: for the next
/// second every decision goes straight to the secondary (or fails, with
/// [`OnOutage::FailClosed`]) without waiting on the primary; then one request probes the
/// primary again. Recovery is logged once too. [`Fallback::is_degraded`] feeds health
/// checks and [`Fallback::fallback_decisions`] counts what the secondary decided (as do the
/// `hydronet_rate_limit_fallback_decisions_total` counter and the
/// `hydronet_rate_limit_degraded` gauge with the `metrics` feature).
#[derive(Debug)]
pub struct Fallback<P, S> {
    primary: P,
    secondary: S,
    on_outage: OnOutage,
    clock: Arc<dyn Clock>,
    degraded: AtomicBool,
    probe_at_ms: AtomicI64,
    fallback_decisions: AtomicU64,
}

const PROBE_AFTER_MS: i64 = 1_000;

impl<P: RateLimiter, S: RateLimiter> Fallback<P, S> {
    /// `primary`, with `secondary` deciding during outages.
    pub fn new(primary: P, secondary: S) -> Self {
        Self {
            primary,
            secondary,
            on_outage: OnOutage::UseSecondary,
            clock: Arc::new(SystemClock),
            degraded: AtomicBool::new(false),
            probe_at_ms: AtomicI64::new(0),
            fallback_decisions: AtomicU64::new(0),
        }
    }

    /// What to do during an outage. Default [`OnOutage::UseSecondary`].
    pub fn on_outage(mut self, on_outage: OnOutage) -> Self {
        self.on_outage = on_outage;
        self
    }

    /// The clock that times probes. Default the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Whether the primary is currently considered unreachable.
    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// How many decisions were made without the primary since start.
    pub fn fallback_decisions(&self) -> u64 {
        self.fallback_decisions.load(Ordering::Relaxed)
    }

    async fn degraded_decision(
        &self,
        key: &str,
        rate: Rate,
        cost: u32,
    ) -> Result<Decision, LimiterError> {
        match self.on_outage {
            OnOutage::FailClosed => Err(LimiterError::Unavailable(
                "primary limiter down; failing closed".into(),
            )),
            OnOutage::UseSecondary => {
                self.fallback_decisions.fetch_add(1, Ordering::Relaxed);
                #[cfg(feature = "metrics")]
                metrics::counter!(crate::metrics::RATE_LIMIT_FALLBACK_DECISIONS).increment(1);
                self.secondary.check(key, rate, cost).await
            }
        }
    }
}

impl<P: RateLimiter, S: RateLimiter> RateLimiter for Fallback<P, S> {
    async fn check(&self, key: &str, rate: Rate, cost: u32) -> Result<Decision, LimiterError> {
        let now = self.clock.now_millis();
        if self.is_degraded() && now < self.probe_at_ms.load(Ordering::Relaxed) {
            return self.degraded_decision(key, rate, cost).await;
        }

        match self.primary.check(key, rate, cost).await {
            Ok(decision) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("shared rate limiter reachable again; leaving fallback");
                    #[cfg(feature = "metrics")]
                    metrics::gauge!(crate::metrics::RATE_LIMIT_DEGRADED).set(0.0);
                }
                Ok(decision)
            }
            Err(err) => {
                self.probe_at_ms
                    .store(now + PROBE_AFTER_MS, Ordering::Relaxed);
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %err, mode = ?self.on_outage, "shared rate limiter unreachable; falling back");
                    #[cfg(feature = "metrics")]
                    metrics::gauge!(crate::metrics::RATE_LIMIT_DEGRADED).set(1.0);
                }
                self.degraded_decision(key, rate, cost).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    use hydronet_core::ManualClock;

    use super::*;
    use crate::quota::LocalLimiter;

    /// A primary that can be switched off.
    #[derive(Default)]
    struct Flaky {
        down: AtomicBool,
        inner: LocalLimiter,
        calls: AtomicU64,
    }

    impl RateLimiter for Arc<Flaky> {
        async fn check(&self, key: &str, rate: Rate, cost: u32) -> Result<Decision, LimiterError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            if self.down.load(Ordering::Relaxed) {
                return Err(LimiterError::Unavailable("down".into()));
            }
            self.inner.check(key, rate, cost).await
        }
    }

    #[tokio::test]
    async fn falls_back_counts_and_recovers() {
        let clock = ManualClock::at_secs(100);
        let primary = Arc::new(Flaky::default());
        let limiter =
            Fallback::new(primary.clone(), LocalLimiter::new()).clock(Arc::new(clock.clone()));
        let rate = Rate::new(100, Duration::from_secs(60));

        assert!(limiter.check("k", rate, 1).await.unwrap().allowed);
        assert!(!limiter.is_degraded());

        primary.down.store(true, Ordering::Relaxed);
        for _ in 0..5 {
            assert!(limiter.check("k", rate, 1).await.unwrap().allowed);
        }
        assert!(limiter.is_degraded());
        assert_eq!(limiter.fallback_decisions(), 5);
        // Only the first failing call waited on the primary; the rest went straight past.
        assert_eq!(primary.calls.load(Ordering::Relaxed), 2);

        primary.down.store(false, Ordering::Relaxed);
        clock.advance_secs(2);
        assert!(limiter.check("k", rate, 1).await.unwrap().allowed);
        assert!(!limiter.is_degraded());
        assert_eq!(limiter.fallback_decisions(), 5);
    }

    #[cfg(feature = "metrics")]
    #[tokio::test]
    async fn an_outage_shows_in_the_metrics() {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};

        use crate::metrics::{RATE_LIMIT_DEGRADED, RATE_LIMIT_FALLBACK_DECISIONS};

        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let _guard = metrics::set_default_local_recorder(&recorder);
        let primary = Arc::new(Flaky::default());
        primary.down.store(true, Ordering::Relaxed);
        let limiter = Fallback::new(primary, LocalLimiter::new());

        for _ in 0..3 {
            limiter.check("k", Rate::per_minute(10), 1).await.unwrap();
        }

        let values: std::collections::HashMap<_, _> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| (key.key().name().to_owned(), value))
            .collect();
        assert_eq!(
            values[RATE_LIMIT_FALLBACK_DECISIONS],
            DebugValue::Counter(3)
        );
        assert_eq!(values[RATE_LIMIT_DEGRADED], DebugValue::Gauge(1.0.into()));
    }

    #[tokio::test]
    async fn fail_closed_refuses_to_decide() {
        let primary = Arc::new(Flaky::default());
        primary.down.store(true, Ordering::Relaxed);
        let limiter = Fallback::new(primary, LocalLimiter::new()).on_outage(OnOutage::FailClosed);

        let result = limiter.check("k", Rate::per_minute(10), 1).await;
        assert!(matches!(result, Err(LimiterError::Unavailable(_))));
        assert!(limiter.is_degraded());
        assert_eq!(limiter.fallback_decisions(), 0);
    }
}
