//! The generic cell rate algorithm, shared by every backend so they decide alike.

use std::time::Duration;

/// A rate limit: `limit` units per `period`, all of which may be spent at once (the burst).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Units allowed per period; also the burst.
    pub limit: u32,
    /// The period over which `limit` units refill.
    pub period: Duration,
}

impl Rate {
    /// `limit` units per minute.
    pub const fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            period: Duration::from_secs(60),
        }
    }

    /// `limit` units per `period`.
    pub const fn new(limit: u32, period: Duration) -> Self {
        Self { limit, period }
    }

    /// Microseconds between two units at the sustained rate.
    pub(crate) fn interval_us(self) -> i64 {
        let period = i64::try_from(self.period.as_micros()).unwrap_or(i64::MAX);
        (period / i64::from(self.limit.max(1))).max(1)
    }

    /// How far ahead of now the theoretical arrival time may run: the whole burst.
    pub(crate) fn tolerance_us(self) -> i64 {
        self.interval_us()
            .saturating_mul(i64::from(self.limit.max(1)))
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the units were granted (and counted).
    pub allowed: bool,
    /// The limit checked against.
    pub limit: u32,
    /// Units still available right after this decision.
    pub remaining: u32,
    /// Until the allowance is full again.
    pub reset_after: Duration,
    /// When denied, how long until the same request would be allowed.
    pub retry_after: Option<Duration>,
}

/// Decides a request of `cost` units at `now_us` for a key whose theoretical arrival time
/// is `tat_us` (`None`: never seen). Returns the decision and, when allowed, the new TAT.
pub(crate) fn decide(
    rate: Rate,
    cost: u32,
    now_us: i64,
    tat_us: Option<i64>,
) -> (Decision, Option<i64>) {
    let interval = rate.interval_us();
    let tolerance = rate.tolerance_us();
    let tat = tat_us.unwrap_or(now_us).max(now_us);
    let new_tat = tat.saturating_add(interval.saturating_mul(i64::from(cost)));
    let allow_at = new_tat - tolerance;

    if allow_at > now_us {
        let decision = Decision {
            allowed: false,
            limit: rate.limit,
            remaining: remaining(tat, now_us, interval, tolerance),
            reset_after: micros(tat - now_us),
            retry_after: Some(micros(allow_at - now_us)),
        };
        return (decision, None);
    }

    let decision = Decision {
        allowed: true,
        limit: rate.limit,
        remaining: remaining(new_tat, now_us, interval, tolerance),
        reset_after: micros(new_tat - now_us),
        retry_after: None,
    };
    (decision, Some(new_tat))
}

fn remaining(tat: i64, now: i64, interval: i64, tolerance: i64) -> u32 {
    let free = (now + tolerance - tat).max(0) / interval;
    u32::try_from(free).unwrap_or(u32::MAX)
}

fn micros(us: i64) -> Duration {
    Duration::from_micros(us.max(0).unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_is_the_limit_then_one_per_interval() {
        let rate = Rate::new(3, Duration::from_secs(3));
        let mut tat = None;
        for expected_remaining in [2, 1, 0] {
            let (decision, next) = decide(rate, 1, 0, tat);
            assert!(decision.allowed);
            assert_eq!(decision.remaining, expected_remaining);
            tat = next;
        }
        let (denied, next) = decide(rate, 1, 0, tat);
        assert!(!denied.allowed && next.is_none());
        assert_eq!(denied.retry_after, Some(Duration::from_secs(1)));
        assert_eq!(denied.reset_after, Duration::from_secs(3));

        let (later, _) = decide(rate, 1, 1_000_000, tat);
        assert!(later.allowed);
    }

    #[test]
    fn costs_above_one_spend_several_units() {
        let rate = Rate::per_minute(10);
        let (first, tat) = decide(rate, 7, 0, None);
        assert!(first.allowed);
        assert_eq!(first.remaining, 3);
        let (second, _) = decide(rate, 4, 0, tat);
        assert!(!second.allowed);
        let (third, _) = decide(rate, 3, 0, tat);
        assert!(third.allowed);
        assert_eq!(third.remaining, 0);
    }

    #[test]
    fn a_cost_above_the_limit_is_never_allowed() {
        let (decision, _) = decide(Rate::per_minute(5), 6, 0, None);
        assert!(!decision.allowed);
    }
}
