//! B5, login storm: chat latency through the gateway alone, and while other clients
//! hammer `POST /api/auth/login` (each attempt an argon2 verification).

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;

use crate::Plan;
use crate::b2::{Setup, rates};
use crate::client::{BoxError, MakeReq, Req, closed_loop, open_loop};
use crate::report::{Section, Table, Target, fmt};
use crate::stats::Summary;

const OPEN_CONNS: usize = 32;
const STORM_CONNS: usize = 8;

struct Outcome {
    config: String,
    rate: f64,
    alone: Summary,
    storm: Summary,
    logins_per_sec: f64,
    errors: u64,
}

/// Runs B5.
pub(crate) async fn run(plan: Plan, _charts: PathBuf) -> Result<Section, BoxError> {
    let mut outcomes = Vec::new();
    for concurrency in [None, Some(1)] {
        outcomes.push(one(plan, concurrency).await?);
    }

    let mut section = Section::new("B5: chat during a login storm", METHOD);
    let mut table = Table::new(&[
        "password hashing",
        "chat rate (req/s)",
        "alone p50",
        "alone p99",
        "storm p50",
        "storm p99",
        "p99 change",
        "logins/s during storm",
        "chat errors",
    ]);
    for o in &outcomes {
        table.row(vec![
            o.config.clone(),
            fmt(o.rate, 0),
            fmt(o.alone.p50, 0),
            fmt(o.alone.p99, 0),
            fmt(o.storm.p50, 0),
            fmt(o.storm.p99, 0),
            format!("{:+.0}%", change(o)),
            fmt(o.logins_per_sec, 0),
            o.errors.to_string(),
        ]);
    }
    section.tables.push((
        "Non-streamed `POST /v1/chat/completions` through the gateway, latency in µs:".into(),
        table,
    ));
    let default = &outcomes[0];
    let rise = change(default);
    section.targets.push(Target::new(
        "chat p99 rise during the storm (default settings)",
        "≤ +10%",
        format!("{:+.0}%", rise),
        rise <= 10.0,
        "argon2 is CPU- and memory-bound (19 MiB per hash): hashes run on half the CPUs at \
         nice 10, so the scheduler favours requests, but the chat still shares caches, \
         memory bandwidth and the client's CPUs with the hashing threads",
    ));
    Ok(section)
}

fn change(o: &Outcome) -> f64 {
    (o.storm.p99 / o.alone.p99 - 1.0) * 100.0
}

const METHOD: &str = "The gateway of B2 (mock upstream), trusting `X-Forwarded-For` from \
loopback so each failed login comes from its own address and account and none is \
throttled before its password is checked. Chat is sent open-loop at a quarter of the \
gateway's capacity, first alone, then while 8 connections send logins back to back. Run \
with the default hashing concurrency and again with `HYDRONET_PASSWORD_HASH_CONCURRENCY=1`.";

async fn one(plan: Plan, concurrency: Option<u32>) -> Result<Outcome, BoxError> {
    let setup = Setup::start("b5", |d| {
        d.set("HYDRONET_TRUSTED_PROXIES", "127.0.0.1");
        if let Some(n) = concurrency {
            d.set("HYDRONET_PASSWORD_HASH_CONCURRENCY", n.to_string());
        }
    })
    .await?;
    let chat = setup.completion(true, false);
    let addr = setup.saas.addr;
    closed_loop(addr, 4, plan.warmup, chat.clone()).await?;
    let capacity = closed_loop(addr, 8, plan.capacity / 2, chat.clone()).await?;
    let rate = rates(capacity.throughput(), &[0.25])[0];

    let mut alone = open_loop(addr, OPEN_CONNS, rate, plan.step, chat.clone()).await?;
    let logins: MakeReq = Arc::new(|i| {
        let body =
            json!({ "email": format!("storm{i}@example.com"), "password": "Not-the-password-1" });
        let forwarded = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        Req::post("/api/auth/login", &body).header("x-forwarded-for", forwarded)
    });
    let (storm, logins) = tokio::join!(
        open_loop(addr, OPEN_CONNS, rate, plan.step, chat),
        closed_loop(addr, STORM_CONNS, plan.step, logins),
    );
    let (mut storm, logins) = (storm?, logins?);
    // Failed logins answer 401; anything else (429 above all) means the storm was blunted.
    if logins.ok > 0 || logins.failed > 0 {
        return Err("login storm requests were not plain refusals".into());
    }
    Ok(Outcome {
        config: match concurrency {
            None => "default (half the CPUs)".into(),
            Some(n) => format!("HYDRONET_PASSWORD_HASH_CONCURRENCY={n}"),
        },
        rate,
        errors: alone.failed + alone.refused + storm.failed + storm.refused,
        alone: alone.latency.summary(),
        storm: storm.latency.summary(),
        logins_per_sec: logins.refused as f64 / logins.elapsed.as_secs_f64(),
    })
}
