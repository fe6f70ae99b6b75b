//! One behaviour suite that every backend must pass.

use std::sync::Arc;
use std::time::Duration;

use super::{Rate, RateLimiter};

/// Runs the suite against `limiter`; `advance` moves the limiter's clock by whole seconds
/// (a backend on a real clock sleeps instead).
pub(crate) async fn run<L: RateLimiter>(limiter: Arc<L>, advance: &(dyn Fn(i64) + Sync)) {
    let prefix = uuid::Uuid::now_v7().simple().to_string();
    exactly_the_limit_under_concurrency(&limiter, &format!("{prefix}:a")).await;
    refills_over_time(&limiter, &format!("{prefix}:b"), advance).await;
    keys_are_independent(&limiter, &format!("{prefix}:c")).await;
    costs_count(&limiter, &format!("{prefix}:d")).await;
}

async fn exactly_the_limit_under_concurrency<L: RateLimiter>(limiter: &Arc<L>, key: &str) {
    let rate = Rate::new(50, Duration::from_secs(3600));
    let attempts = (0..1_000).map(|_| {
        let (limiter, key) = (limiter.clone(), key.to_owned());
        tokio::spawn(async move { limiter.check(&key, rate, 1).await.unwrap().allowed })
    });
    let mut admitted = 0;
    for attempt in attempts {
        admitted += usize::from(attempt.await.unwrap());
    }
    assert_eq!(admitted, 50);
}

async fn refills_over_time<L: RateLimiter>(
    limiter: &Arc<L>,
    key: &str,
    advance: &(dyn Fn(i64) + Sync),
) {
    let rate = Rate::new(2, Duration::from_secs(2));
    assert!(limiter.check(key, rate, 1).await.unwrap().allowed);
    assert!(limiter.check(key, rate, 1).await.unwrap().allowed);
    let denied = limiter.check(key, rate, 1).await.unwrap();
    assert!(!denied.allowed);
    let wait = denied.retry_after.unwrap();
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_secs(1),
        "{wait:?}"
    );

    advance(1);
    let refilled = limiter.check(key, rate, 1).await.unwrap();
    assert!(refilled.allowed, "{refilled:?}");
    assert!(!limiter.check(key, rate, 1).await.unwrap().allowed);
}

async fn keys_are_independent<L: RateLimiter>(limiter: &Arc<L>, key: &str) {
    let rate = Rate::new(1, Duration::from_secs(3600));
    assert!(limiter.check(key, rate, 1).await.unwrap().allowed);
    assert!(!limiter.check(key, rate, 1).await.unwrap().allowed);
    let other = format!("{key}-other");
    assert!(limiter.check(&other, rate, 1).await.unwrap().allowed);
}

async fn costs_count<L: RateLimiter>(limiter: &Arc<L>, key: &str) {
    let rate = Rate::new(10, Duration::from_secs(3600));
    let first = limiter.check(key, rate, 8).await.unwrap();
    assert!(first.allowed);
    assert_eq!(first.remaining, 2);
    assert_eq!(first.limit, 10);
    assert!(!limiter.check(key, rate, 3).await.unwrap().allowed);
    assert!(limiter.check(key, rate, 2).await.unwrap().allowed);
}
