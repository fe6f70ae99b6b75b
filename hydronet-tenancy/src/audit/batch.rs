//! Batched audit writes for events that need not commit with the action they record.
//!
//! [`AuditWriter::spawn`] starts a task that takes events from a bounded queue and writes
//! them through [`SqlAudit`] in batches: one transaction per batch, when the batch is full
//! or its interval has passed. A full queue makes [`AuditWriter::send`] wait, so a slow or
//! unreachable database slows callers down rather than losing events; a failed batch is
//! retried with backoff, keeping its events. [`WriterTask::shutdown`] closes the queue and
//! writes everything accepted before it returns.
//!
//! With the `metrics` feature the writer reports its queue depth, how long senders waited,
//! and the events written and lost (see `hydronet_tenancy::metrics`).
//!
//! Security actions that must not happen without their record use
//! [`append`](super::append) inside their own transaction instead.
//!
//! # Example
//!
//! ```
//! use hydronet_core::TenantId;
//! use hydronet_tenancy::audit::{
//!     Actor, AuditEvent, AuditFilter, AuditWriter, Backend, BatchConfig, SQLITE_SCHEMA, SqlAudit,
//! };
//! use sqlx::any::AnyPoolOptions;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! sqlx::any::install_default_drivers();
//! let pool = AnyPoolOptions::new().max_connections(1).connect("sqlite::memory:").await?;
//! for statement in SQLITE_SCHEMA.split(';').filter(|s| !s.trim().is_empty()) {
//!     sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&pool).await?;
//! }
//! let store = SqlAudit::new(pool, Backend::Sqlite);
//! let (writer, task) = AuditWriter::spawn(store.clone(), BatchConfig::default());
//!
//! let tenant = TenantId::new();
//! writer.send(AuditEvent::new(tenant, Actor::System, "report.viewed")).await?;
//! assert_eq!(task.shutdown().await, 0, "every accepted event was written");
//!
//! assert_eq!(store.query(&AuditFilter::new(tenant)).await?.len(), 1);
//! # Ok(())
//! # }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use super::spool::Spool;
use super::sql::SqlAudit;
use super::{AuditError, AuditEvent, AuditSink, RecordFuture};

/// The first pause after a failed batch; it doubles up to [`BatchConfig::max_backoff`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// How an [`AuditWriter`] queues and batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchConfig {
    capacity: usize,
    max_batch: usize,
    interval: Duration,
    max_backoff: Duration,
    shutdown_timeout: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            max_batch: 500,
            interval: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

impl BatchConfig {
    /// How many events wait in the queue before [`AuditWriter::send`] waits too (at least
    /// 1). Default 10 000.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// The most events written in one transaction (at least 1). Default 500.
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    /// How long the first event of a batch waits for others. Default 200 ms.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The longest pause between attempts to write a failed batch. Default 10 s.
    pub fn max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = max_backoff;
        self
    }

    /// How long [`WriterTask::shutdown`] keeps retrying while the database fails before it
    /// gives up on the events left. Default 30 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }
}

/// A cheap, cloneable handle that queues events for the writer task.
///
/// As an [`AuditSink`], an event counts as recorded once it is queued.
#[derive(Debug, Clone)]
pub struct AuditWriter {
    queue: mpsc::Sender<AuditEvent>,
    /// Wakes the worker once a full batch is queued (see [`Worker::collect`]).
    full: Arc<Notify>,
    /// How many queued events make a full batch.
    full_at: usize,
    lost: Arc<AtomicU64>,
    spool: Option<Arc<Mutex<Spool>>>,
    recovered: Arc<AtomicU64>,
}

/// The task behind an [`AuditWriter`]. Dropping it detaches the task, which then runs
/// until every [`AuditWriter`] is dropped.
#[derive(Debug)]
pub struct WriterTask {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<()>,
    lost: Arc<AtomicU64>,
}

impl AuditWriter {
    /// Starts the writer task on the current tokio runtime.
    pub fn spawn(store: SqlAudit, config: BatchConfig) -> (AuditWriter, WriterTask) {
        Self::spawn_inner(store, config, None)
    }

    /// As [`AuditWriter::spawn`], with accepted events also kept in a spool file in
    /// `spool_dir` until they are written, so a crash loses none of them. Events left by
    /// processes that are gone are written first (those already in the database are
    /// skipped); lines that cannot be read back are counted as lost.
    pub async fn spawn_spooled(
        store: SqlAudit,
        config: BatchConfig,
        spool_dir: &std::path::Path,
    ) -> Result<(AuditWriter, WriterTask), AuditError> {
        let (spool, orphans) =
            Spool::open(spool_dir).map_err(|err| AuditError(format!("audit spool: {err}")))?;
        let missing = store.missing(orphans.events).await?;
        if !missing.is_empty() {
            store.record_batch(&missing).await?;
            tracing::warn!(target: "hydronet::audit", recovered = missing.len(), "audit events of a stopped process recovered");
        }

        let (writer, task) = Self::spawn_inner(store, config, Some(spool));
        writer
            .recovered
            .store(missing.len() as u64, Ordering::Relaxed);
        writer.lost.fetch_add(orphans.unreadable, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        crate::metrics::audit_lost(orphans.unreadable);
        Ok((writer, task))
    }

    fn spawn_inner(
        store: SqlAudit,
        config: BatchConfig,
        spool: Option<Spool>,
    ) -> (AuditWriter, WriterTask) {
        let (queue, events) = mpsc::channel(config.capacity);
        let (stop, stopped) = oneshot::channel();
        let lost = Arc::new(AtomicU64::new(0));
        let spool = spool.map(|s| Arc::new(Mutex::new(s)));
        let full = Arc::new(Notify::new());
        let full_at = config.max_batch.min(config.capacity);

        let worker = Worker {
            store,
            config,
            events,
            full: full.clone(),
            stopped: Some(stopped),
            deadline: None,
            outage: false,
            lost: lost.clone(),
            spool: spool.clone(),
        };
        let handle = tokio::spawn(worker.run());

        let writer = AuditWriter {
            queue,
            full,
            full_at,
            lost: lost.clone(),
            spool,
            recovered: Arc::new(AtomicU64::new(0)),
        };
        (writer, WriterTask { stop, handle, lost })
    }

    /// How many events of stopped processes were recovered from the spool at start.
    pub fn recovered(&self) -> u64 {
        self.recovered.load(Ordering::Relaxed)
    }

    /// Queues `event`, waiting while the queue is full. Fails only once the writer has
    /// stopped.
    pub async fn send(&self, event: AuditEvent) -> Result<(), AuditError> {
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        let stopped = || AuditError("the audit writer has stopped".to_owned());
        match &self.spool {
            None => self.queue.send(event).await.map_err(|_| stopped())?,
            Some(spool) => {
                // Serialised before the lock; a place in the queue is held before the
                // append, so the event is spooled and queued in one short critical
                // section and the worker never empties the spool between the two.
                let line = Spool::line(&event).map_err(spool_error)?;
                let slot = self.queue.reserve().await.map_err(|_| stopped())?;
                let mut spool = spool.lock().unwrap_or_else(PoisonError::into_inner);
                spool.append(&line).map_err(spool_error)?;
                slot.send(event);
            }
        }

        let queued = self.queue.max_capacity() - self.queue.capacity();
        if queued >= self.full_at {
            self.full.notify_one();
        }
        #[cfg(feature = "metrics")]
        crate::metrics::audit_enqueued(started.elapsed(), queued);
        Ok(())
    }

    /// How many accepted events were given up on because the database kept failing when
    /// the writer stopped.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

impl AuditSink for AuditWriter {
    fn record(&self, event: AuditEvent) -> RecordFuture<'_> {
        Box::pin(self.send(event))
    }
}

impl WriterTask {
    /// Closes the queue (later sends fail), writes every event accepted before, and waits
    /// for the task to end. Returns how many events had to be given up on because the
    /// database kept failing (see [`BatchConfig::shutdown_timeout`]): 0 when all were
    /// written.
    pub async fn shutdown(self) -> u64 {
        let _ = self.stop.send(());
        if let Err(err) = self.handle.await {
            tracing::error!(target: "hydronet::audit", error = %err, "the audit writer task failed");
        }
        self.lost.load(Ordering::Relaxed)
    }

    /// As [`AuditWriter::lost`].
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

/// What waiting for events ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Received {
    /// Events were added to the batch (or there were none yet, for a non-waiting take).
    Events,
    /// The queue is closed and empty.
    Closed,
    /// Shutdown was asked for (or the handle was dropped); the caller waits again.
    Signal,
}

struct Worker {
    store: SqlAudit,
    config: BatchConfig,
    events: mpsc::Receiver<AuditEvent>,
    /// Notified by senders when a full batch is queued.
    full: Arc<Notify>,
    /// Resolves on shutdown; `None` once it has.
    stopped: Option<oneshot::Receiver<()>>,
    /// When to give up on a failing database, once the queue is closed.
    deadline: Option<Instant>,
    /// Whether the last write failed (so an outage is logged once).
    outage: bool,
    lost: Arc<AtomicU64>,
    spool: Option<Arc<Mutex<Spool>>>,
}

impl Worker {
    async fn run(mut self) {
        let mut batch = Vec::with_capacity(self.config.max_batch);
        while self.collect(&mut batch).await {
            self.flush(&mut batch).await;
        }
    }

    /// Fills `batch` until it is full, its interval has passed since its first event, or
    /// the queue is closed and empty. False when there is nothing left to write.
    ///
    /// Only the first event of a batch wakes the worker. After it, the worker sleeps until
    /// the batch is due or a sender reports a full batch queued, then takes what is
    /// there: a sender on the request path never pays for waking another thread per event.
    async fn collect(&mut self, batch: &mut Vec<AuditEvent>) -> bool {
        let mut due = None;
        while batch.len() < self.config.max_batch {
            let Some(due_at) = due else {
                match self.receive(batch).await {
                    Received::Events => due = Some(later(self.config.interval)),
                    Received::Closed => {
                        self.closing();
                        break;
                    }
                    Received::Signal => {}
                }
                continue;
            };
            if self.take_queued(batch) == Received::Closed {
                self.closing();
                break;
            }
            if batch.len() >= self.config.max_batch {
                break;
            }
            tokio::select! {
                () = sleep_until(due_at) => {
                    if self.take_queued(batch) == Received::Closed {
                        self.closing();
                    }
                    break;
                }
                () = self.full.notified() => {}
                signal = stop_signal(&mut self.stopped) => self.on_signal(signal),
            }
        }
        !batch.is_empty()
    }

    /// Waits for the first events of a batch.
    async fn receive(&mut self, batch: &mut Vec<AuditEvent>) -> Received {
        let room = self.config.max_batch - batch.len();
        tokio::select! {
            received = self.events.recv_many(batch, room) => {
                #[cfg(feature = "metrics")]
                crate::metrics::audit_queue_depth(self.events.len());
                if received == 0 { Received::Closed } else { Received::Events }
            }
            signal = stop_signal(&mut self.stopped) => {
                self.on_signal(signal);
                Received::Signal
            }
        }
    }

    /// Moves queued events into `batch` without waiting, up to a full batch.
    fn take_queued(&mut self, batch: &mut Vec<AuditEvent>) -> Received {
        let mut received = Received::Events;
        while batch.len() < self.config.max_batch {
            match self.events.try_recv() {
                Ok(event) => batch.push(event),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    received = Received::Closed;
                    break;
                }
            }
        }
        #[cfg(feature = "metrics")]
        crate::metrics::audit_queue_depth(self.events.len());
        received
    }

    /// Writes `batch`, retrying with backoff until it succeeds or, once the queue is
    /// closed, the shutdown deadline passes.
    async fn flush(&mut self, batch: &mut Vec<AuditEvent>) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.store.record_batch(batch).await {
                Ok(()) => {
                    self.written(batch);
                    return self.settle_spool();
                }
                Err(err) => self.failed(&err, batch.len()),
            }

            if self
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline)
            {
                return self.give_up(batch);
            }
            self.pause(backoff).await;
            backoff = backoff.saturating_mul(2).min(self.config.max_backoff);
        }
    }

    /// Empties the spool when everything accepted has been written: the batch just was,
    /// and the queue is empty while senders are held off.
    fn settle_spool(&mut self) {
        let Some(spool) = &self.spool else { return };
        let mut spool = spool.lock().unwrap_or_else(PoisonError::into_inner);
        if self.events.is_empty()
            && let Err(err) = spool.clear()
        {
            tracing::error!(target: "hydronet::audit", error = %err, "audit spool not emptied");
        }
    }

    fn written(&mut self, batch: &mut Vec<AuditEvent>) {
        if self.outage {
            tracing::info!(target: "hydronet::audit", "audit writes resumed");
            self.outage = false;
        }
        #[cfg(feature = "metrics")]
        crate::metrics::audit_written(batch.len());
        batch.clear();
    }

    fn failed(&mut self, err: &AuditError, pending: usize) {
        #[cfg(feature = "metrics")]
        crate::metrics::audit_write_failed();
        if !self.outage {
            tracing::error!(target: "hydronet::audit", error = %err, pending, "audit events could not be written; retrying");
            self.outage = true;
        }
    }

    /// Counts the events of `batch` and of the closed queue as lost.
    fn give_up(&mut self, batch: &mut Vec<AuditEvent>) {
        let mut lost = batch.len() as u64;
        batch.clear();
        while self.events.try_recv().is_ok() {
            lost += 1;
        }

        self.lost.fetch_add(lost, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        crate::metrics::audit_lost(lost);
        tracing::error!(target: "hydronet::audit", lost, "audit writer stopped with events unwritten");
    }

    /// Sleeps `backoff` (not past the deadline), noticing a shutdown meanwhile.
    async fn pause(&mut self, backoff: Duration) {
        let mut until = later(backoff);
        if let Some(deadline) = self.deadline {
            until = until.min(deadline);
        }
        tokio::select! {
            () = sleep_until(until) => {}
            signal = stop_signal(&mut self.stopped) => self.on_signal(signal),
        }
    }

    /// Reacts to the stop channel: closes the queue on shutdown; a dropped [`WriterTask`]
    /// only detaches.
    fn on_signal(&mut self, signal: Result<(), oneshot::error::RecvError>) {
        self.stopped = None;
        if signal.is_ok() {
            self.events.close();
            self.closing();
        }
    }

    /// Starts the shutdown deadline, once.
    fn closing(&mut self) {
        self.deadline
            .get_or_insert_with(|| later(self.config.shutdown_timeout));
    }
}

fn spool_error(err: std::io::Error) -> AuditError {
    AuditError(format!("audit spool: {err}"))
}

/// `after` from now, or about a year from now if that is further than an [`Instant`] can
/// express.
fn later(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

async fn stop_signal(
    stopped: &mut Option<oneshot::Receiver<()>>,
) -> Result<(), oneshot::error::RecvError> {
    match stopped {
        Some(stopped) => stopped.await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use hydronet_core::TenantId;

    use super::*;
    use crate::audit::test_db::{TestDb, on_both_backends, release};
    use crate::audit::{Actor, AuditFilter, MAX_QUERY_LIMIT};

    on_both_backends!(
        shutdown_drains_every_accepted_event,
        a_full_queue_makes_senders_wait,
        a_full_batch_is_written_at_once_and_the_rest_when_due,
        events_are_counted_lost_when_the_database_stays_down,
    );

    fn event(tenant: TenantId, n: usize) -> AuditEvent {
        AuditEvent::new(tenant, Actor::System, format!("step.{n}"))
    }

    /// The actions of `tenant`'s records, oldest first.
    async fn actions(store: &SqlAudit, tenant: TenantId) -> Vec<String> {
        let mut actions = Vec::new();
        let mut filter = AuditFilter {
            limit: MAX_QUERY_LIMIT,
            ..AuditFilter::new(tenant)
        };
        loop {
            let page = store.query(&filter).await.unwrap();
            let Some(last) = page.last() else { break };
            filter.before_seq = Some(last.seq);
            actions.extend(page.into_iter().map(|s| s.event.action));
        }
        actions.reverse();
        actions
    }

    async fn shutdown_drains_every_accepted_event(db: TestDb) {
        let store = db.audit();
        let config = BatchConfig::default().interval(Duration::from_secs(3600));
        let (writer, task) = AuditWriter::spawn(store.clone(), config);
        let tenants = [TenantId::new(), TenantId::new(), TenantId::new()];

        for n in 0..1234 {
            writer.send(event(tenants[n % 3], n)).await.unwrap();
        }
        assert_eq!(task.shutdown().await, 0);
        assert!(writer.send(event(tenants[0], 0)).await.is_err());

        assert_eq!(db.number("SELECT COUNT(*) FROM audit_events").await, 1234);
        for (t, tenant) in tenants.iter().enumerate() {
            let expected: Vec<String> = (t..1234).step_by(3).map(|n| format!("step.{n}")).collect();
            assert_eq!(actions(&store, *tenant).await, expected);
        }
        let reports = store.verify(None).await.unwrap();
        assert_eq!(reports.len(), 3);
        assert!(reports.iter().all(|r| r.first_problem.is_none()));
        assert_eq!(writer.lost(), 0);
    }

    async fn a_full_batch_is_written_at_once_and_the_rest_when_due(db: TestDb) {
        let store = db.audit();
        let interval = Duration::from_secs(3);
        let config = BatchConfig::default().max_batch(10).interval(interval);
        let (writer, task) = AuditWriter::spawn(store.clone(), config);
        let tenant = TenantId::new();
        let started = std::time::Instant::now();
        for n in 0..25 {
            writer.send(event(tenant, n)).await.unwrap();
        }

        // Two full batches go out long before the interval; the last five wait for it.
        let count = || db.number("SELECT COUNT(*) FROM audit_events");
        while count().await < 20 {
            assert!(
                started.elapsed() < interval,
                "full batches waited for the interval"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(count().await, 20);
        while count().await < 25 {
            assert!(
                started.elapsed() < interval * 4,
                "the last batch was never written"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(started.elapsed() >= interval);
        assert_eq!(task.shutdown().await, 0);
        let expected: Vec<String> = (0..25).map(|n| format!("step.{n}")).collect();
        assert_eq!(actions(&store, tenant).await, expected);
    }

    async fn a_full_queue_makes_senders_wait(db: TestDb) {
        let store = db.audit();
        let config = BatchConfig::default()
            .capacity(2)
            .max_batch(1)
            .interval(Duration::ZERO);
        let (writer, task) = AuditWriter::spawn(store.clone(), config);
        let tenant = TenantId::new();
        let lock = db.hold_write_lock().await;

        let accepted = Arc::new(AtomicUsize::new(0));
        let sender = tokio::spawn({
            let (writer, accepted) = (writer.clone(), accepted.clone());
            async move {
                for n in 0..20 {
                    writer.send(event(tenant, n)).await.unwrap();
                    accepted.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;

        // One batch in flight, two queued: the fourth send waits.
        assert!(accepted.load(Ordering::SeqCst) <= 3);
        assert!(!sender.is_finished());
        assert_eq!(db.number("SELECT COUNT(*) FROM audit_events").await, 0);

        release(lock).await;
        sender.await.unwrap();
        assert_eq!(task.shutdown().await, 0);

        let expected: Vec<String> = (0..20).map(|n| format!("step.{n}")).collect();
        assert_eq!(actions(&store, tenant).await, expected);
        assert!(
            store.verify(Some(tenant)).await.unwrap()[0]
                .first_problem
                .is_none()
        );
    }

    #[cfg(feature = "metrics")]
    #[tokio::test]
    async fn the_queue_depth_gauge_follows_queued_events() {
        use std::collections::HashMap;

        use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

        use crate::metrics::{AUDIT_ENQUEUE_WAIT, AUDIT_EVENTS_WRITTEN, AUDIT_QUEUE_DEPTH};

        /// Each metric by name (these carry no labels), as recorded since the last call.
        fn take(snapshotter: &Snapshotter) -> HashMap<String, DebugValue> {
            let snapshot = snapshotter.snapshot().into_vec();
            snapshot
                .into_iter()
                .map(|(key, _, _, value)| (key.key().name().to_owned(), value))
                .collect()
        }

        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        // A single-threaded runtime: the writer task runs on this thread and sees it too.
        let _guard = metrics::set_default_local_recorder(&recorder);
        let db = TestDb::sqlite().await;
        let config = BatchConfig::default().max_batch(1).interval(Duration::ZERO);
        let (writer, task) = AuditWriter::spawn(db.audit(), config);
        let lock = db.hold_write_lock().await;

        let tenant = TenantId::new();
        for n in 0..5 {
            writer.send(event(tenant, n)).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;

        // One event taken into a batch that waits for the lock; four still queued.
        let queued = take(&snapshotter);
        assert_eq!(queued[AUDIT_QUEUE_DEPTH], DebugValue::Gauge(4.0.into()));
        assert!(matches!(&queued[AUDIT_ENQUEUE_WAIT], DebugValue::Histogram(w) if w.len() == 5));
        assert!(!queued.contains_key(AUDIT_EVENTS_WRITTEN));

        release(lock).await;
        assert_eq!(task.shutdown().await, 0);
        let drained = take(&snapshotter);
        assert_eq!(drained[AUDIT_EVENTS_WRITTEN], DebugValue::Counter(5));
        assert_eq!(drained[AUDIT_QUEUE_DEPTH], DebugValue::Gauge(0.0.into()));
    }

    async fn events_are_counted_lost_when_the_database_stays_down(db: TestDb) {
        db.exec("DROP TABLE audit_events").await;
        let config = BatchConfig::default()
            .max_backoff(Duration::from_millis(20))
            .shutdown_timeout(Duration::from_millis(200));
        let (writer, task) = AuditWriter::spawn(db.audit(), config);
        let tenant = TenantId::new();

        for n in 0..5 {
            writer.record(event(tenant, n)).await.unwrap();
        }

        assert_eq!(task.shutdown().await, 5);
        assert_eq!(writer.lost(), 5);
        assert!(writer.send(event(tenant, 5)).await.is_err());
    }
}
