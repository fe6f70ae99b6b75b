//! B4, the audit sink: events per second into PostgreSQL through the batching writer
//! (plain, and with the disk spool `hydronet-saas` uses), against a raw `COPY` of the same
//! rows; every acknowledged event must be in the table. Also the enqueue cost a request
//! pays.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use hydronet_core::{TenantId, UserId};
use hydronet_tenancy::audit::{
    Actor, AuditEvent, AuditWriter, Backend, BatchConfig, POSTGRES_SCHEMA, SqlAudit,
};
use sqlx::any::AnyPoolOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::Plan;
use crate::client::BoxError;
use crate::report::{Section, Table, Target, fmt};
use crate::saas::{Scratch, unique};
use crate::stats::{Samples, Summary};

const TITLE: &str = "B4: audit sink into PostgreSQL";
const TENANTS: usize = 8;
const SENDERS: usize = 4;

/// Runs B4, or reports it skipped without `HYDRONET_BENCH_DATABASE_URL`.
pub(crate) async fn run(plan: Plan, _charts: PathBuf) -> Result<Section, BoxError> {
    let Ok(url) = std::env::var("HYDRONET_BENCH_DATABASE_URL") else {
        return Ok(Section::skipped(
            TITLE,
            "HYDRONET_BENCH_DATABASE_URL is unset: the audit sink is measured against a real \
             PostgreSQL. Set it (for example `postgres://root@127.0.0.1:5432/test`) to run B4.",
        ));
    };
    let schema = format!("hnload_{}", unique());
    let mut admin = PgConnection::connect(&url).await?;
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await?;
    let result = measure(plan, &url, &schema).await;
    // Dropped whatever happened.
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut admin)
        .await?;
    result
}

/// One writer run.
struct WriterRun {
    name: &'static str,
    events_per_sec: f64,
    acknowledged: u64,
    stored: u64,
    lost: u64,
    enqueue: Summary,
}

async fn measure(plan: Plan, url: &str, schema: &str) -> Result<Section, BoxError> {
    let events = if plan.quick { 5_000 } else { 100_000 };
    let mut conn = PgConnection::connect(url).await?;
    sqlx::query(AssertSqlSafe(format!("SET search_path TO {schema}")))
        .execute(&mut conn)
        .await?;
    for statement in POSTGRES_SCHEMA.split(';').filter(|s| !s.trim().is_empty()) {
        sqlx::query(AssertSqlSafe(statement))
            .execute(&mut conn)
            .await?;
    }

    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(4)
        .connect(url)
        .await?;
    let store = SqlAudit::new(pool, Backend::Postgres)
        .on_begin(vec![format!("SET LOCAL search_path TO {schema}")]);

    let spool = Scratch::new("b4")?;
    let plain = writer_run("batching writer", &store, None, events, &mut conn).await?;
    let spooled = writer_run(
        "batching writer + disk spool (as hydronet-saas)",
        &store,
        Some(spool.dir.as_path()),
        events,
        &mut conn,
    )
    .await?;
    let copy_rate = copy_run(&mut conn, schema, events).await?;

    let mut section = Section::new(TITLE, METHOD);
    let mut table = Table::new(&[
        "path",
        "events/s",
        "vs COPY",
        "acknowledged",
        "rows in table",
        "lost",
        "enqueue p50 (µs)",
        "enqueue p99 (µs)",
        "enqueue mean (µs)",
    ]);
    for run in [&plain, &spooled] {
        table.row(vec![
            run.name.into(),
            fmt(run.events_per_sec, 0),
            format!("{}×", fmt(run.events_per_sec / copy_rate, 2)),
            run.acknowledged.to_string(),
            run.stored.to_string(),
            run.lost.to_string(),
            fmt(run.enqueue.p50, 2),
            fmt(run.enqueue.p99, 2),
            fmt(run.enqueue.mean, 2),
        ]);
    }
    table.row(vec![
        "raw COPY (baseline)".into(),
        fmt(copy_rate, 0),
        "1.00×".into(),
        events.to_string(),
        events.to_string(),
        "0".into(),
        "–".into(),
        "–".into(),
        "–".into(),
    ]);
    section
        .tables
        .push((format!("{events} events over {TENANTS} tenants:"), table));

    for run in [&plain, &spooled] {
        section.targets.push(Target::new(
            &format!("rows stored = events acknowledged ({})", run.name),
            "equal",
            format!("{} / {}", run.stored, run.acknowledged),
            run.stored == run.acknowledged && run.lost == 0,
            "events were acknowledged but not written",
        ));
    }
    let ratio = plain.events_per_sec / copy_rate;
    section.targets.push(Target::new(
        "batching writer vs raw COPY",
        "≥ 0.80×",
        format!("{}×", fmt(ratio, 2)),
        ratio >= 0.8,
        "the writer keeps a SHA-256 hash chain per tenant, so one batch is in flight at a \
         time: it locks the batch's chain heads, builds, redacts and hashes each record in \
         the writer task, then inserts the rows in one statement (columns as arrays, \
         `unnest`, since sqlx's database-neutral driver has no COPY) and commits; building \
         the next batch does not overlap the database's work on this one, while the COPY \
         baseline streams rows prepared in advance",
    ));
    section.targets.push(Target::new(
        "enqueue on the request path (batching writer, p50)",
        "≤ 2 µs",
        format!("{} µs", fmt(plain.enqueue.p50, 2)),
        plain.enqueue.p50 <= 2.0,
        "a bounded tokio mpsc send plus the task wake-up, contended by four senders",
    ));
    section.targets.push(Target::new(
        "enqueue on the request path (with the disk spool, p50)",
        "≤ 2 µs",
        format!("{} µs", fmt(spooled.enqueue.p50, 2)),
        spooled.enqueue.p50 <= 2.0,
        "each event is serialised to JSON and appended to the spool file with one write \
         system call before it is queued, so that a crash loses nothing accepted: the request \
         pays for that write; grouping appends would trade it for a wait on the group",
    ));
    Ok(section)
}

const METHOD: &str = "In the benchmark process: `AuditWriter` (default batches of 500 or \
200 ms, queue sized to hold every event so senders never wait on the database) over a \
4-connection pool into a fresh PostgreSQL schema, fed by four concurrent senders; the time \
runs from the first send until `shutdown` has written everything. The baseline streams the \
same number of rows with `COPY … FROM STDIN` (text format) into a copy of the table, indexes \
included. Rows are counted in the table afterwards; the schema is dropped at the end.";

fn event(n: usize, tenants: &[TenantId], user: UserId, action: &str) -> AuditEvent {
    AuditEvent::new(tenants[n % tenants.len()], Actor::User(user), action)
        .target(format!("conversation:{n}"))
        .request_id(format!("req-{n}"))
        .details(serde_json::json!({ "n": n }))
}

async fn writer_run(
    name: &'static str,
    store: &SqlAudit,
    spool: Option<&std::path::Path>,
    events: usize,
    conn: &mut PgConnection,
) -> Result<WriterRun, BoxError> {
    let config = BatchConfig::default().capacity(events + 1);
    let (writer, task) = match spool {
        Some(dir) => AuditWriter::spawn_spooled(store.clone(), config, dir).await?,
        None => AuditWriter::spawn(store.clone(), config),
    };
    let writer = Arc::new(writer);
    let tenants: Arc<Vec<TenantId>> = Arc::new((0..TENANTS).map(|_| TenantId::new()).collect());
    let user = UserId::new();
    let action = format!("bench.{}", unique());

    let started = Instant::now();
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let (writer, tenants, action) = (writer.clone(), tenants.clone(), action.clone());
        senders.push(tokio::spawn(async move {
            let (mut acked, mut samples) = (0u64, Samples::default());
            for n in (s..events).step_by(SENDERS) {
                let event = event(n, &tenants, user, &action);
                let sent = Instant::now();
                let result = writer.send(event).await;
                samples.push(sent.elapsed());
                acked += u64::from(result.is_ok());
            }
            (acked, samples)
        }));
    }
    let (mut acknowledged, mut enqueue) = (0, Samples::default());
    for sender in senders {
        let (acked, samples) = sender.await?;
        acknowledged += acked;
        enqueue.extend(samples);
    }
    drop(writer);
    let lost = task.shutdown().await;
    let elapsed = started.elapsed();

    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = $1")
        .bind(&action)
        .fetch_one(&mut *conn)
        .await?;
    Ok(WriterRun {
        name,
        events_per_sec: acknowledged as f64 / elapsed.as_secs_f64(),
        acknowledged,
        stored: u64::try_from(stored).unwrap_or(0),
        lost,
        enqueue: enqueue.summary(),
    })
}

/// Rows per second of a raw `COPY` of `events` rows shaped like audit records.
async fn copy_run(conn: &mut PgConnection, schema: &str, events: usize) -> Result<f64, BoxError> {
    sqlx::query(AssertSqlSafe(format!(
        "CREATE TABLE {schema}.copy_scratch (LIKE {schema}.audit_events INCLUDING ALL)"
    )))
    .execute(&mut *conn)
    .await?;
    let tenants: Vec<TenantId> = (0..TENANTS).map(|_| TenantId::new()).collect();
    let user = UserId::new();
    let mut rows = String::with_capacity(events * 300);
    let hash = "0".repeat(64);
    for n in 0..events {
        let tenant = tenants[n % TENANTS];
        let seq = n / TENANTS + 1;
        let _ = writeln!(
            rows,
            "{tenant}\t{seq}\tevt-{n}\t1700000000000\tuser\t{user}\t\\N\tbench.copy\t\
             conversation:{n}\tsuccess\treq-{n}\t\\N\t\\N\t{{\"n\":{n}}}\t{hash}\t{hash}"
        );
    }

    let started = Instant::now();
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY {schema}.copy_scratch (tenant_id, seq, id, time_ms, actor_type, actor_id, \
             token_id, action, target, outcome, request_id, client_addr, user_agent, details, \
             prev_hash, hash) FROM STDIN"
        ))
        .await?;
    for chunk in rows.as_bytes().chunks(1 << 20) {
        copy.send(chunk).await?;
    }
    let copied = copy.finish().await?;
    let elapsed = started.elapsed();
    if copied != events as u64 {
        return Err(format!("COPY stored {copied} of {events} rows").into());
    }
    Ok(events as f64 / elapsed.as_secs_f64())
}
