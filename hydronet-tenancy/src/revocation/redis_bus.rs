//! Broadcasting revocations between instances through Redis pub/sub.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use hydronet_core::SessionId;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::RevocationList;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

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
/// use std::sync::Arc;
/// use hydronet_core::SessionId;
/// use hydronet_tenancy::revocation::{RedisRevocations, RevocationList};
///
/// let list = Arc::new(RevocationList::new());
/// let bus = RedisRevocations::new("redis://127.0.0.1:6379", "hydronet:revocations")?;
/// bus.publish(SessionId::new(), 1_700_000_900).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisRevocations {
    client: redis::Client,
    connection: ConnectionManager,
    channel: Arc<str>,
}

impl std::fmt::Debug for RedisRevocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: show only the channel.
        f.debug_struct("RedisRevocations")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl RedisRevocations {
    /// Prepares a bus on `url` using the pub/sub `channel`. Nothing is connected yet, so an
    /// unreachable Redis does not stop start-up.
    pub fn new(url: &str, channel: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Self {
            client,
            connection,
            channel: channel.into(),
        })
    }

    /// Tells every listening instance that `session` is revoked until `until`.
    pub async fn publish(&self, session: SessionId, until: i64) -> Result<(), redis::RedisError> {
        let payload = format!("{session} {until}");
        let mut connection = self.connection.clone();
        redis::cmd("PUBLISH")
            .arg(&*self.channel)
            .arg(payload)
            .query_async::<i64>(&mut connection)
            .await?;
        Ok(())
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop)
    }

    /// Runs forever: subscribes, reloads `source` into `list`, applies every message, and
    /// reconnects with backoff whenever the connection drops. Spawn it on the runtime.
    pub async fn listen<S: RevocationSource>(self, list: Arc<RevocationList>, source: S) {
        let mut backoff = Duration::from_millis(100);
        let mut reported = false;
        loop {
            match self.listen_once(&list, &source).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(err) if !reported => {
                    tracing::warn!(error = %err, "revocation listener lost Redis; retrying");
                    reported = true;
                }
                Err(_) => {}
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn listen_once<S: RevocationSource>(
        &self,
        list: &RevocationList,
        source: &S,
    ) -> Result<(), String> {
        let mut pubsub = tokio::time::timeout(CONNECT_TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| "connection timed out".to_owned())?
            .map_err(|err| err.to_string())?;
        pubsub
            .subscribe(&*self.channel)
            .await
            .map_err(|err| err.to_string())?;

        // Subscribed first, then reloaded: nothing revoked in between is missed.
        for (session, until) in source.load().await? {
            list.revoke(session, until);
        }
        tracing::info!(channel = %self.channel, "listening for token revocations");

        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            match parse(message.get_payload_bytes()) {
                Some((session, until)) => list.revoke(session, until),
                None => tracing::warn!("ignored a malformed revocation message"),
            }
        }
        Err("subscription closed".to_owned())
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
