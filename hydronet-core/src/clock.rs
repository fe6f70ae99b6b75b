//! The source of time.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Tells the current time. Code that makes decisions from time (token expiry, rate limits)
/// reads it from a `Clock`, so tests can control time instead of sleeping.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> i64;

    /// Whole seconds since the Unix epoch.
    fn now_secs(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A clock that only moves when told to. Clones share the same time.
///
/// ```
/// use hydronet_core::{Clock, ManualClock};
///
/// let clock = ManualClock::at_secs(1_700_000_000);
/// clock.advance_secs(90);
/// assert_eq!(clock.now_secs(), 1_700_000_090);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    millis: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock showing the given Unix time in seconds.
    pub fn at_secs(secs: i64) -> Self {
        Self {
            millis: Arc::new(AtomicI64::new(secs * 1000)),
        }
    }

    /// A clock showing the current system time, frozen.
    pub fn now() -> Self {
        Self {
            millis: Arc::new(AtomicI64::new(SystemClock.now_millis())),
        }
    }

    /// Moves the clock forward (or back, with a negative value) by whole seconds.
    pub fn advance_secs(&self, secs: i64) {
        self.millis.fetch_add(secs * 1000, Ordering::SeqCst);
    }

    /// Moves the clock by milliseconds.
    pub fn advance_millis(&self, millis: i64) {
        self.millis.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.millis.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_clones_share_time() {
        let a = ManualClock::at_secs(10);
        let b = a.clone();
        a.advance_millis(1500);
        assert_eq!(b.now_millis(), 11_500);
        assert_eq!(b.now_secs(), 11);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_secs() > 1_577_836_800);
    }
}
