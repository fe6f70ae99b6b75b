//! Audit on the request path: handing one event to the batching writer.
//!
//! - `audit/enqueue`: [`AuditWriter::send`] of one `http.request` event into a queue with
//!   room, while the writer task runs on another thread and writes to in-memory SQLite, as
//!   in the server. Events are sent in rounds of at most [`ROUND`]; between rounds (not
//!   timed) the writer is shut down, which writes everything, the tables are emptied, and
//!   a fresh writer is started, so no send ever waits for the database.
//! - `audit/sqlite_batch`: what the writer spends per batch of [`BATCH`] events (one
//!   transaction, hash chain included), which bounds how many events a second it can keep
//!   up with.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hydronet_core::{TenantId, UserId};
use hydronet_tenancy::audit::{
    Actor, AuditEvent, AuditFilter, AuditWriter, Backend, BatchConfig, Outcome, SQLITE_SCHEMA,
    SqlAudit,
};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

/// Events sent per round of `audit/enqueue`; the queue holds them all.
const ROUND: u64 = 2_000;
/// Events per transaction in `audit/sqlite_batch`: the writer's default batch.
const BATCH: usize = 500;

async fn store() -> (AnyPool, SqlAudit) {
    sqlx::any::install_default_drivers();
    // One connection: every connection to `sqlite::memory:` is a database of its own.
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .expect("in-memory SQLite opens");
    for statement in SQLITE_SCHEMA.split(';').filter(|s| !s.trim().is_empty()) {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&pool)
            .await
            .expect("the schema applies");
    }
    let store = SqlAudit::new(pool.clone(), Backend::Sqlite);
    (pool, store)
}

/// Empties the log (the hash chains start again), so rounds do not grow the database.
async fn clear(pool: &AnyPool) {
    for table in ["audit_events", "audit_heads"] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
            .execute(pool)
            .await
            .expect("the tables exist");
    }
}

/// An event shaped like the ones the audit layer records for an API write.
fn request_event(tenant: TenantId) -> AuditEvent {
    let mut event = AuditEvent::new(tenant, Actor::User(UserId::new()), "http.request")
        .target("POST /api/conversations/{id}/messages")
        .outcome(Outcome::Success)
        .details(serde_json::json!({ "status": 200, "latency_ms": 3 }));
    event.request_id = Some("0190f3c2-5b7e-7c1a-9a40-3f1d2c4b5a69".to_owned());
    event.token_id = Some("0190f3c2-5b7e-7c1a-9a40-3f1d2c4b5a70".to_owned());
    event.user_agent = Some("hydronet-bench/0.1".to_owned());
    event
}

fn enqueue(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (pool, store) = runtime.block_on(store());
    let tenants: Vec<TenantId> = (0..50).map(|_| TenantId::new()).collect();
    let config = BatchConfig::default().capacity(ROUND as usize);

    // Every timed send is also one (untimed) SQLite write of about 25 µs, so keep the
    // measured time short or the run takes minutes.
    let mut group = c.benchmark_group("audit");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(600));
    group.bench_function("enqueue", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut timed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let round = left.min(ROUND);
                    let (writer, task) = AuditWriter::spawn(store.clone(), config.clone());
                    let events: Vec<AuditEvent> = (0..round as usize)
                        .map(|i| request_event(tenants[i % tenants.len()]))
                        .collect();

                    let started = Instant::now();
                    for event in events {
                        writer.send(event).await.expect("the writer runs");
                    }
                    timed += started.elapsed();

                    drop(writer);
                    assert_eq!(task.shutdown().await, 0, "every event was written");
                    left -= round;
                    if left > 0 {
                        clear(&pool).await;
                    }
                }
                timed
            })
        })
    });

    // The writer really stored what it was given.
    let stored = runtime
        .block_on(store.query(&AuditFilter::new(tenants[0])))
        .unwrap();
    assert!(!stored.is_empty());

    runtime.block_on(clear(&pool));
    group.throughput(Throughput::Elements(BATCH as u64));
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("sqlite_batch", |b| {
        b.iter_batched(
            || {
                (0..BATCH)
                    .map(|i| request_event(tenants[i % tenants.len()]))
                    .collect::<Vec<_>>()
            },
            |events| runtime.block_on(store.record_batch(&events)).unwrap(),
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = enqueue
}
criterion_main!(benches);
