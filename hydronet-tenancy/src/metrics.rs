//! What the layers of this crate report through the `metrics` facade
//! (feature `metrics`).
//!
//! Nothing is recorded until the application installs a recorder (a Prometheus exporter,
//! say); until then every call is a no-op. Labels take a few fixed values only: the plan
//! name, the limit's policy name and the decision. Tenant and user ids are never labels,
//! since there is no bound on how many there are.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | [`RATE_LIMIT_DECISIONS`] | counter | `decision` (`allowed`, `limited`, `error`), `plan` |
//! | [`RATE_LIMIT_FALLBACK_DECISIONS`] | counter | none |
//! | [`RATE_LIMIT_DEGRADED`] | gauge | none |
//! | [`AUDIT_QUEUE_DEPTH`] | gauge | none |
//! | [`AUDIT_ENQUEUE_WAIT`] | histogram (seconds) | none |
//! | [`AUDIT_EVENTS_WRITTEN`] | counter | none |
//! | [`AUDIT_EVENTS_LOST`] | counter | none |
//! | [`AUDIT_WRITE_FAILURES`] | counter | none |
//!
//! # Example
//!
//! ```
//! // After installing a recorder, give each metric its help text.
//! hydronet_tenancy::metrics::describe();
//! ```

use ::metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram};

/// Requests checked by [`RateLimit`](crate::quota::RateLimit), by outcome: `allowed`,
/// `limited` (429) or `error` (the limiter could not decide: 503).
pub const RATE_LIMIT_DECISIONS: &str = "hydronet_rate_limit_decisions_total";

/// Limit checks a [`Fallback`](crate::quota::Fallback) left to its secondary backend
/// because the primary was unreachable.
pub const RATE_LIMIT_FALLBACK_DECISIONS: &str = "hydronet_rate_limit_fallback_decisions_total";

/// 1 while a [`Fallback`](crate::quota::Fallback) considers its primary unreachable, else 0.
pub const RATE_LIMIT_DEGRADED: &str = "hydronet_rate_limit_degraded";

/// Events waiting in the queue of an `AuditWriter`.
pub const AUDIT_QUEUE_DEPTH: &str = "hydronet_audit_queue_depth";

/// How long `AuditWriter::send` took to queue an event; long waits mean a full queue.
pub const AUDIT_ENQUEUE_WAIT: &str = "hydronet_audit_enqueue_wait_seconds";

/// Events an `AuditWriter` wrote to the database.
pub const AUDIT_EVENTS_WRITTEN: &str = "hydronet_audit_events_written_total";

/// Accepted events an `AuditWriter` gave up on (the database stayed down at shutdown, or
/// spooled lines could not be read back).
pub const AUDIT_EVENTS_LOST: &str = "hydronet_audit_events_lost_total";

/// Batch writes that failed and were retried.
pub const AUDIT_WRITE_FAILURES: &str = "hydronet_audit_write_failures_total";

/// Registers the help text and unit of every metric above with the installed recorder.
pub fn describe() {
    describe_counter!(
        RATE_LIMIT_DECISIONS,
        "Rate-limited requests by decision: allowed, limited or error"
    );
    describe_counter!(
        RATE_LIMIT_FALLBACK_DECISIONS,
        "Limit checks decided by the fallback limiter while the shared one was unreachable"
    );
    describe_gauge!(
        RATE_LIMIT_DEGRADED,
        "1 while the shared rate limiter is unreachable"
    );
    describe_gauge!(AUDIT_QUEUE_DEPTH, "Audit events waiting to be written");
    describe_histogram!(
        AUDIT_ENQUEUE_WAIT,
        Unit::Seconds,
        "Time taken to queue an audit event"
    );
    describe_counter!(
        AUDIT_EVENTS_WRITTEN,
        "Audit events written by the batch writer"
    );
    describe_counter!(AUDIT_EVENTS_LOST, "Accepted audit events given up on");
    describe_counter!(AUDIT_WRITE_FAILURES, "Failed audit batch writes (retried)");
}

/// Counts one rate-limit decision on a request of a tenant on `plan`.
pub(crate) fn rate_limit_decision(decision: &'static str, plan: hydronet_core::Plan) {
    counter!(RATE_LIMIT_DECISIONS, "decision" => decision, "plan" => plan.as_str()).increment(1);
}

/// Sets the audit queue's depth.
#[cfg(feature = "sqlx")]
pub(crate) fn audit_queue_depth(depth: usize) {
    ::metrics::gauge!(AUDIT_QUEUE_DEPTH).set(depth as f64);
}

/// Records an event queued after `wait`, leaving `depth` events in the queue.
#[cfg(feature = "sqlx")]
pub(crate) fn audit_enqueued(wait: std::time::Duration, depth: usize) {
    ::metrics::histogram!(AUDIT_ENQUEUE_WAIT).record(wait.as_secs_f64());
    audit_queue_depth(depth);
}

/// Counts `events` written in one batch.
#[cfg(feature = "sqlx")]
pub(crate) fn audit_written(events: usize) {
    counter!(AUDIT_EVENTS_WRITTEN).increment(events as u64);
}

/// Counts a failed batch write.
#[cfg(feature = "sqlx")]
pub(crate) fn audit_write_failed() {
    counter!(AUDIT_WRITE_FAILURES).increment(1);
}

/// Counts `events` given up on.
#[cfg(feature = "sqlx")]
pub(crate) fn audit_lost(events: u64) {
    counter!(AUDIT_EVENTS_LOST).increment(events);
}
