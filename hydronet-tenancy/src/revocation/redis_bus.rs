//! Broadcasting revocations between instances through Redis pub/sub.

use std::future::Future;
use std::sync::Arc;

use hydronet_core::SessionId;

use super::RevocationList;
use crate::bus::{BusHandler, RedisBus};

/// Where revocations are recorded for good (usually the application's database).
///
/// The listener calls it after every (re)connection to Redis, so revocations published
/// while this instance was not listening are still applied.
pub trait RevocationSource: Send + Sync + 'static {
    /// Sessions revoked recently enough that some of their tokens may still be unexpired,
    /// each with the Unix time after which none is.
    fn load(&self) -> impl Future<Output = Result<Vec<(SessionId, i64)>, String>> + Send;
}

/// Publishes revocations to every instance and applies those published by others.
///
/// ```no_run
/// # async fn run() -> Result<(), redis::RedisError> {
/// use hydronet_core::SessionId;
/// use hydronet_tenancy::bus::RedisBus;
/// use hydronet_tenancy::revocation::RedisRevocations;
///
/// let bus = RedisRevocations::new(RedisBus::new("redis://127.0.0.1:6379")?, "app:revocations");
/// bus.publish(SessionId::new(), 1_700_000_900).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RedisRevocations {
    bus: RedisBus,
    channel: &'static str,
}

impl RedisRevocations {
    /// Revocations on `channel` of `bus`.
    pub fn new(bus: RedisBus, channel: &'static str) -> Self {
        Self { bus, channel }
    }

    /// Tells every listening instance that `session` is revoked until `until`.
    pub async fn publish(&self, session: SessionId, until: i64) -> Result<(), redis::RedisError> {
        self.bus
            .publish(self.channel, format!("{session} {until}"))
            .await
    }

    /// Runs forever, applying revocations published by any instance to `list` and
    /// reloading `source` after every reconnection. Spawn it on the runtime.
    pub async fn listen<S: RevocationSource>(self, list: Arc<RevocationList>, source: S) {
        let handler = Apply { list, source };
        self.bus.listen(self.channel, handler).await;
    }
}

struct Apply<S> {
    list: Arc<RevocationList>,
    source: S,
}

impl<S: RevocationSource> BusHandler for Apply<S> {
    async fn resync(&self) -> Result<(), String> {
        for (session, until) in self.source.load().await? {
            self.list.revoke(session, until);
        }
        Ok(())
    }

    async fn message(&self, payload: &[u8]) {
        match parse(payload) {
            Some((session, until)) => self.list.revoke(session, until),
            None => tracing::warn!("ignored a malformed revocation message"),
        }
    }
}

fn parse(payload: &[u8]) -> Option<(SessionId, i64)> {
    let text = std::str::from_utf8(payload).ok()?;
    let (session, until) = text.split_once(' ')?;
    Some((session.parse().ok()?, until.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_publish_sends() {
        let session = SessionId::new();
        let payload = format!("{session} 1700000000");
        assert_eq!(parse(payload.as_bytes()), Some((session, 1_700_000_000)));
        assert_eq!(parse(b"garbage"), None);
        assert_eq!(parse(b"not-a-uuid 12"), None);
    }
}
