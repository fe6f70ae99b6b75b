//! A small Redis pub/sub bus that keeps instances of a service in step.
//!
//! Every instance publishes what it changed on a channel and listens on it for what the
//! others changed. Messages can be lost while an instance is disconnected, so a
//! [`BusHandler`] also resynchronises from the source of truth after every (re)connection.
//!
//! ```no_run
//! # async fn run() -> Result<(), redis::RedisError> {
//! use hydronet_tenancy::bus::{BusHandler, RedisBus};
//!
//! struct Reload;
//!
//! impl BusHandler for Reload {
//!     async fn resync(&self) -> Result<(), String> {
//!         Ok(()) // reload everything from the database
//!     }
//!     async fn message(&self, payload: &[u8]) {
//!         println!("changed: {}", String::from_utf8_lossy(payload));
//!     }
//! }
//!
//! let bus = RedisBus::new("redis://127.0.0.1:6379")?;
//! tokio::spawn(bus.clone().listen("app:changes", Reload));
//! bus.publish("app:changes", "tenant-42").await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a listener does with the bus.
pub trait BusHandler: Send + Sync + 'static {
    /// Catches up from the source of truth; called after every (re)subscription, before
    /// any message of that subscription.
    fn resync(&self) -> impl Future<Output = Result<(), String>> + Send;

    /// Applies one message.
    fn message(&self, payload: &[u8]) -> impl Future<Output = ()> + Send;
}

/// A Redis connection for publishing and a client for subscribing. Cloning is cheap.
#[derive(Clone)]
pub struct RedisBus {
    client: redis::Client,
    connection: ConnectionManager,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("RedisBus").finish_non_exhaustive()
    }
}

impl RedisBus {
    /// Prepares a bus on `url`. Nothing is connected yet, so an unreachable Redis does not
    /// stop start-up; operations fail until it is reachable.
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Self { client, connection })
    }

    /// Publishes `payload` on `channel`.
    pub async fn publish(
        &self,
        channel: &str,
        payload: impl AsRef<[u8]>,
    ) -> Result<(), redis::RedisError> {
        let mut connection = self.connection.clone();
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload.as_ref())
            .query_async::<i64>(&mut connection)
            .await
            .map(drop)
    }

    /// The shared, self-reconnecting connection, for commands of one's own.
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop)
    }

    /// Runs forever: subscribes to `channel`, resynchronises, applies every message, and
    /// reconnects with backoff whenever the connection drops. Spawn it on the runtime.
    pub async fn listen<H: BusHandler>(self, channel: &'static str, handler: H) {
        let mut backoff = Duration::from_millis(100);
        let mut reported = false;
        loop {
            match self.listen_once(channel, &handler).await {
                Ok(()) => {}
                Err(err) if !reported => {
                    tracing::warn!(channel, error = %err, "lost the Redis subscription; retrying");
                    reported = true;
                }
                Err(_) => {}
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn listen_once<H: BusHandler>(&self, channel: &str, handler: &H) -> Result<(), String> {
        let mut pubsub = tokio::time::timeout(CONNECT_TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| "connection timed out".to_owned())?
            .map_err(|err| err.to_string())?;
        pubsub
            .subscribe(channel)
            .await
            .map_err(|err| err.to_string())?;

        // Subscribed first, then resynchronised: nothing changed in between is missed.
        handler.resync().await?;
        tracing::info!(channel, "listening on Redis");

        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            handler.message(message.get_payload_bytes()).await;
        }
        Err("subscription closed".to_owned())
    }
}
