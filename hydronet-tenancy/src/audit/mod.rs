//! Audit events, the sinks that record them, and a tamper-evident SQL log.
//!
//! Every sensitive action becomes an [`AuditEvent`] handed to an [`AuditSink`]:
//!
//! - [`TracingSink`] writes one structured `tracing` event per record (target
//!   `hydronet::audit`); [`MemorySink`] keeps events for tests; [`FanOut`] sends to several.
//! - With the `sqlx` feature, `SqlAudit` stores events in PostgreSQL or SQLite as one
//!   SHA-256 hash chain per tenant, which `SqlAudit::verify` checks and `SqlAudit::prune`
//!   shortens without breaking; `append` writes inside the caller's own transaction, so an
//!   action and its record commit together; `AuditWriter` batches ordinary events through
//!   a bounded queue and drains it on shutdown.
//! - [`AuditLayer`] records requests by route policy: writes, refusals and chosen reads.
//!
//! # Example
//!
//! ```
//! use hydronet_core::{TenantId, UserId};
//! use hydronet_tenancy::audit::{Actor, AuditEvent, AuditSink, MemorySink, Outcome};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let sink = MemorySink::new();
//! let event = AuditEvent::new(TenantId::new(), Actor::User(UserId::new()), "role.assigned")
//!     .target("user:42")
//!     .outcome(Outcome::Success)
//!     .details(serde_json::json!({ "roles": ["admin"] }));
//! sink.record(event).await.unwrap();
//! assert_eq!(sink.events()[0].action, "role.assigned");
//! # }
//! ```

mod layer;

pub use layer::{Audit, AuditFuture, AuditLayer, AuditPolicy};

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use hydronet_core::{ApiKeyId, Clock, SystemClock, TenantId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[cfg(feature = "sqlx")]
mod batch;
#[cfg(feature = "sqlx")]
mod chain;
#[cfg(feature = "sqlx")]
mod pg;
#[cfg(feature = "sqlx")]
mod spool;
#[cfg(feature = "sqlx")]
mod sql;
#[cfg(all(test, feature = "sqlx"))]
mod test_db;
#[cfg(feature = "sqlx")]
mod verify;

#[cfg(feature = "sqlx")]
pub use batch::{AuditWriter, BatchConfig, WriterTask};
#[cfg(feature = "sqlx")]
pub use sql::{
    AuditFilter, Backend, MAX_QUERY_LIMIT, POSTGRES_SCHEMA, SQLITE_SCHEMA, SqlAudit, StoredEvent,
    append,
};
#[cfg(feature = "sqlx")]
pub use verify::{ChainProblem, ChainReport, ProblemKind};

/// Who performed an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A signed-in user.
    User(UserId),
    /// A program with an API key.
    ApiKey(ApiKeyId),
    /// The service itself.
    System,
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It took effect.
    Success,
    /// It was refused by policy.
    Denied,
    /// It was attempted and failed.
    Failed,
}

/// One audited action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Time-ordered unique id.
    pub id: Uuid,
    /// Unix milliseconds, UTC.
    pub time_ms: i64,
    /// The tenant the action happened in.
    pub tenant_id: TenantId,
    /// Who did it.
    pub actor: Actor,
    /// Dotted action name, such as `role.assigned`.
    pub action: String,
    /// What it was done to, such as `user:<id>` or `role:<name>`.
    pub target: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// The request it happened in.
    pub request_id: Option<String>,
    /// The id of the credential used (a JWT's `jti`, an API key's id).
    pub token_id: Option<String>,
    /// The client's address, as established from trusted proxies only.
    pub client_addr: Option<String>,
    /// The client's `User-Agent`, cut to 256 characters.
    pub user_agent: Option<String>,
    /// Structured details, with secrets redacted (see [`redact`]).
    pub details: Value,
}

impl AuditEvent {
    /// A successful action by `actor` in `tenant`, stamped with the system clock.
    pub fn new(tenant_id: TenantId, actor: Actor, action: impl Into<String>) -> Self {
        Self::at(&SystemClock, tenant_id, actor, action)
    }

    /// As [`AuditEvent::new`], stamped with `clock`.
    pub fn at(
        clock: &dyn Clock,
        tenant_id: TenantId,
        actor: Actor,
        action: impl Into<String>,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            time_ms: clock.now_millis(),
            tenant_id,
            actor,
            action: action.into(),
            target: None,
            outcome: Outcome::Success,
            request_id: None,
            token_id: None,
            client_addr: None,
            user_agent: None,
            details: Value::Null,
        }
    }

    /// Sets the credential id.
    pub fn token_id(mut self, token_id: impl Into<String>) -> Self {
        self.token_id = Some(token_id.into());
        self
    }

    /// Sets the client's address.
    pub fn client_addr(mut self, addr: impl Into<String>) -> Self {
        self.client_addr = Some(addr.into());
        self
    }

    /// Sets the client's user agent (cut to 256 characters).
    pub fn user_agent(mut self, agent: &str) -> Self {
        self.user_agent = Some(agent.chars().take(256).collect());
        self
    }

    /// Sets the target.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Sets the outcome.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// Sets the request id.
    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// Sets the details, redacting anything that looks like a secret.
    pub fn details(mut self, details: Value) -> Self {
        self.details = redact(details);
        self
    }
}

/// Field names whose values are never recorded: any key containing one of these
/// (case-insensitive) is replaced by `"[redacted]"`, at any depth.
const SECRET_KEYS: [&str; 7] = [
    "password",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
];

/// Replaces the values of secret-looking keys in `details` by `"[redacted]"`.
///
/// ```
/// use hydronet_tenancy::audit::redact;
/// use serde_json::json;
///
/// let clean = redact(json!({ "email": "a@b.c", "new_password": "hunter22", "nested": { "Api_Key": "k" } }));
/// assert_eq!(clean, json!({ "email": "a@b.c", "new_password": "[redacted]", "nested": { "Api_Key": "[redacted]" } }));
/// ```
pub fn redact(mut details: Value) -> Value {
    redact_in_place(&mut details);
    details
}

/// [`redact`] without rebuilding what it keeps: only redacted values are replaced.
fn redact_in_place(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if is_secret_key(key) {
                    *value = Value::String("[redacted]".to_owned());
                } else {
                    redact_in_place(value);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_in_place),
        _ => {}
    }
}

/// Whether `key` contains one of [`SECRET_KEYS`], ignoring ASCII case.
fn is_secret_key(key: &str) -> bool {
    let key = key.as_bytes();
    SECRET_KEYS.iter().any(|secret| {
        key.windows(secret.len())
            .any(|window| window.eq_ignore_ascii_case(secret.as_bytes()))
    })
}

/// Why an event could not be recorded.
#[derive(Debug, thiserror::Error)]
#[error("audit event could not be recorded: {0}")]
pub struct AuditError(pub String);

/// A boxed future returned by [`AuditSink::record`].
pub type RecordFuture<'a> = Pin<Box<dyn Future<Output = Result<(), AuditError>> + Send + 'a>>;

/// Where audit events go.
pub trait AuditSink: Send + Sync + 'static {
    /// Records one event. When this returns `Ok`, the event is as durable as the sink
    /// promises to make it.
    fn record(&self, event: AuditEvent) -> RecordFuture<'_>;
}

/// Writes each event as one structured `tracing` event at INFO, target `hydronet::audit`.
/// With a JSON subscriber this is one JSON line per event.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSink;

impl AuditSink for TracingSink {
    fn record(&self, event: AuditEvent) -> RecordFuture<'_> {
        let details = event.details.to_string();
        tracing::info!(
            target: "hydronet::audit",
            id = %event.id,
            time_ms = event.time_ms,
            tenant_id = %event.tenant_id,
            actor = ?event.actor,
            action = %event.action,
            target = event.target.as_deref().unwrap_or(""),
            outcome = ?event.outcome,
            request_id = event.request_id.as_deref().unwrap_or(""),
            token_id = event.token_id.as_deref().unwrap_or(""),
            client_addr = event.client_addr.as_deref().unwrap_or(""),
            details = %details,
            "audit"
        );
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Keeps events in memory; for tests.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    events: Arc<Mutex<Vec<AuditEvent>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every event recorded so far, oldest first.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl AuditSink for MemorySink {
    fn record(&self, event: AuditEvent) -> RecordFuture<'_> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Sends every event to each of several sinks, in order; fails if any fails.
#[derive(Clone, Default)]
pub struct FanOut {
    sinks: Vec<Arc<dyn AuditSink>>,
}

impl std::fmt::Debug for FanOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanOut")
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

impl FanOut {
    /// A fan-out to `sinks`.
    pub fn new(sinks: Vec<Arc<dyn AuditSink>>) -> Self {
        Self { sinks }
    }
}

impl AuditSink for FanOut {
    fn record(&self, event: AuditEvent) -> RecordFuture<'_> {
        Box::pin(async move {
            for sink in &self.sinks {
                sink.record(event.clone()).await?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use hydronet_core::ManualClock;

    use super::*;

    #[tokio::test]
    async fn fan_out_reaches_every_sink() {
        let (a, b) = (MemorySink::new(), MemorySink::new());
        let fan = FanOut::new(vec![Arc::new(a.clone()), Arc::new(b.clone())]);
        let event = AuditEvent::new(TenantId::new(), Actor::System, "role.created");

        fan.record(event.clone()).await.unwrap();
        TracingSink.record(event.clone()).await.unwrap();

        assert_eq!(a.events(), vec![event.clone()]);
        assert_eq!(b.events(), vec![event]);
    }

    #[test]
    fn events_take_the_clocks_time_and_serialize() {
        let clock = ManualClock::at_secs(1_700_000_000);
        let user = UserId::new();
        let event = AuditEvent::at(&clock, TenantId::new(), Actor::User(user), "role.assigned")
            .target("user:1")
            .outcome(Outcome::Denied);
        assert_eq!(event.time_ms, 1_700_000_000_000);

        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["actor"]["type"], "user");
        assert_eq!(json["actor"]["id"], user.to_string());
        assert_eq!(json["outcome"], "denied");
    }
}
