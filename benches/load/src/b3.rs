//! B3, limiter accuracy: two reference-server instances sharing one Redis take a burst for
//! one tenant split across both; the requests admitted must not exceed the plan's limit.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Plan;
use crate::child::Server;
use crate::client::{BoxError, Conn, Req};
use crate::report::{Section, Table, Target, fmt};
use crate::saas::{self, Deployment, Scratch};

/// The configured limit: requests per minute for the tenant, and for its user.
const LIMIT: u32 = 120;
/// Concurrent connections per instance.
const CONNS_PER_INSTANCE: usize = 16;

/// Runs B3, or reports it skipped without `HYDRONET_BENCH_REDIS_URL`.
pub(crate) async fn run(plan: Plan, _charts: PathBuf) -> Result<Section, BoxError> {
    const TITLE: &str = "B3: limiter accuracy across instances";
    let Ok(redis) = std::env::var("HYDRONET_BENCH_REDIS_URL") else {
        return Ok(Section::skipped(
            TITLE,
            "HYDRONET_BENCH_REDIS_URL is unset: two instances can only share a limit \
             through Redis. Set it (for example `redis://127.0.0.1:6379`) to run B3.",
        ));
    };
    let scratch = Scratch::new("b3")?;
    let mut deployment = Deployment::new(&scratch, None);
    deployment.set("REDIS_URL", redis);
    deployment.set(
        "HYDRONET_REDIS_KEY_PREFIX",
        format!("hnload{}:", saas::unique()),
    );
    deployment.set("HYDRONET_PLAN_FREE_REQUESTS_PER_MINUTE", LIMIT.to_string());
    deployment.set(
        "HYDRONET_PLAN_FREE_USER_REQUESTS_PER_MINUTE",
        LIMIT.to_string(),
    );
    // One at a time: the second starts on a migrated database.
    let a = Server::start("saas", &deployment.instance(&scratch, 0))?;
    let b = Server::start("saas", &deployment.instance(&scratch, 1))?;
    let token = saas::register(a.addr, 0).await?.token;

    let rounds = if plan.quick { 1 } else { 2 };
    let burst = 3 * LIMIT as u64;
    let mut table = Table::new(&[
        "round",
        "requests",
        "admitted (2xx)",
        "refused (429)",
        "other",
        "burst took (ms)",
        "limit",
        "limit + refill during burst",
    ]);
    let mut worst_excess = i64::MIN;
    for round in 0..rounds {
        if round > 0 {
            // Let the allowance recover fully before the next burst.
            tokio::time::sleep(std::time::Duration::from_secs(61)).await;
        }
        let counts = burst_round(&[a.addr, b.addr], &token, burst).await?;
        // GCRA keeps refilling at LIMIT per minute while the burst runs.
        let refill = (counts.elapsed_ms / 60_000.0 * f64::from(LIMIT)).floor() as u64;
        let allowed = u64::from(LIMIT) + refill;
        worst_excess = worst_excess.max(counts.admitted as i64 - allowed as i64);
        table.row(vec![
            (round + 1).to_string(),
            burst.to_string(),
            counts.admitted.to_string(),
            counts.refused.to_string(),
            counts.other.to_string(),
            fmt(counts.elapsed_ms, 1),
            LIMIT.to_string(),
            allowed.to_string(),
        ]);
        if counts.other > 0 {
            return Err(format!("{} requests neither admitted nor refused", counts.other).into());
        }
    }

    let mut section = Section::new(TITLE, METHOD);
    section.tables.push((
        "Bursts of `GET /api/auth/me`, split evenly across both instances:".into(),
        table,
    ));
    section.targets.push(Target::new(
        "admitted ≤ limit (plus refill during the burst)",
        "excess ≤ 0",
        format!("worst excess {worst_excess}"),
        worst_excess <= 0,
        "the Redis script's decision is not atomic with respect to both instances",
    ));
    Ok(section)
}

const METHOD: &str = "Two `hydronet-saas` instances (child processes) share one Redis (a \
fresh key prefix per run) and one SQLite file. The tenant's plan allows 120 requests per \
minute (tenant and user alike, burst 120). A burst of three times the limit is sent at \
once over 16 connections to each instance, alternating; every reply is counted. GCRA \
refills the allowance continuously, so the bound is the limit plus what refilled while \
the burst lasted.";

struct Counts {
    admitted: u64,
    refused: u64,
    other: u64,
    elapsed_ms: f64,
}

async fn burst_round(
    addrs: &[std::net::SocketAddr],
    token: &str,
    total: u64,
) -> Result<Counts, BoxError> {
    let next = Arc::new(AtomicU64::new(0));
    let mut conns = Vec::new();
    for &addr in addrs {
        for _ in 0..CONNS_PER_INSTANCE {
            conns.push(Conn::open(addr).await?);
        }
    }
    let req = Req::get("/api/auth/me").bearer(token);
    let started = tokio::time::Instant::now();
    let mut workers = Vec::new();
    for mut conn in conns {
        let (next, req) = (next.clone(), req.clone());
        workers.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                statuses.push(conn.send(&req).await.map(|r| r.status).unwrap_or(0));
            }
            statuses
        }));
    }
    let mut counts = Counts {
        admitted: 0,
        refused: 0,
        other: 0,
        elapsed_ms: 0.0,
    };
    for worker in workers {
        for status in worker.await? {
            match status {
                200..=299 => counts.admitted += 1,
                429 => counts.refused += 1,
                _ => counts.other += 1,
            }
        }
    }
    counts.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(counts)
}
