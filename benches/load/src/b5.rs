//! B5, login storm: chat latency through the gateway alone, and while other clients
//! hammer `POST /api/auth/login` (each attempt an argon2 verification).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::Plan;
use crate::b2::{Setup, rates};
use crate::child::Server;
use crate::client::{BoxError, MakeReq, Req, closed_loop, open_loop};
use crate::report::{Section, Table, Target, fmt};
use crate::stats::{Samples, Summary};

const OPEN_CONNS: usize = 32;
const STORM_CONNS: usize = 8;
/// Calm and storm windows alternate this many times, so slow drifts (a checkpoint, a
/// neighbour, a timer) fall on both conditions alike.
const ROUNDS: u32 = 3;

/// What disturbs the chat in the storm windows.
#[derive(Clone, Copy)]
enum Storm {
    /// Failed logins, with this password-hashing concurrency (the default when `None`).
    Logins(Option<u32>),
    /// The control: the same hashing back to back in a process of its own, no logins.
    Hashing,
}

struct Outcome {
    kind: Storm,
    config: String,
    rate: f64,
    alone: Summary,
    storm: Summary,
    logins_per_sec: Option<f64>,
    errors: u64,
}

/// Runs B5.
pub(crate) async fn run(plan: Plan, _charts: PathBuf) -> Result<Section, BoxError> {
    // The default against every CPU hashing, to show what the default buys; on a machine
    // where the default is already every CPU, against one.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let default = (cpus / 2).max(1);
    let other = if default == cpus { 1 } else { cpus };
    let mut outcomes = Vec::new();
    for storm in [
        Storm::Logins(None),
        Storm::Logins(Some(other)),
        Storm::Hashing,
    ] {
        outcomes.push(one(plan, storm).await?);
    }

    let mut section = Section::new("B5: chat during a login storm", METHOD);
    let mut table = Table::new(&[
        "storm",
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
            o.logins_per_sec.map_or_else(|| "–".into(), |n| fmt(n, 0)),
            o.errors.to_string(),
        ]);
    }
    section.tables.push((
        "Non-streamed `POST /v1/chat/completions` through the gateway, latency in µs:".into(),
        table,
    ));
    let default = &outcomes[0];
    let rise = change(default);
    let control = outcomes
        .iter()
        .find(|o| matches!(o.kind, Storm::Hashing))
        .map_or(f64::NAN, change);
    section.targets.push(Target::new(
        "chat p99 rise during the storm (default settings)",
        "≤ +10%",
        format!("{:+.0}%", rise),
        rise <= 10.0,
        format!(
            "the control, the same argon2 hashing back to back in a process of its own at \
             the same priority and with no logins at all, raises the chat p99 by {control:+.0}% \
             in the same run: what is left of the rise is the hashing's share of the two CPUs \
             and their caches (each hash streams 19 MiB), which this machine's load \
             generator, mock and gateway also share; the storm rises past the control by \
             what the login requests themselves cost (their handling and audited writes on \
             the same CPUs), no longer by chat reads queuing behind those writes, since \
             reading transactions take no write lock"
        )
        .as_str(),
    ));
    Ok(section)
}

fn change(o: &Outcome) -> f64 {
    (o.storm.p99 / o.alone.p99 - 1.0) * 100.0
}

const METHOD: &str = "The gateway of B2 (mock upstream), trusting `X-Forwarded-For` from \
loopback so each failed login comes from its own address and account and none is \
throttled before its password is checked. Chat is sent open-loop at a quarter of the \
gateway's capacity, in windows that alternate three times between calm and a storm of 8 \
connections sending logins back to back; each condition's latencies are pooled. Run with \
the default hashing concurrency (half the CPUs, at nice 10) and again with every CPU \
hashing (one, where half the CPUs is already every CPU). A control run keeps the chat \
and replaces the logins with the same hashing, back to back, in a separate process \
(`hydronet-load serve hash`: one argon2id verification after another on one thread at \
the server's hashing priority), to tell the hashing's own weight from the login path's.";

async fn one(plan: Plan, storm: Storm) -> Result<Outcome, BoxError> {
    let setup = Setup::start("b5", |d| {
        d.set("HYDRONET_TRUSTED_PROXIES", "127.0.0.1");
        if let Storm::Logins(Some(n)) = storm {
            d.set("HYDRONET_PASSWORD_HASH_CONCURRENCY", n.to_string());
        }
    })
    .await?;
    let chat = setup.completion(true, false);
    let addr = setup.saas.addr;
    closed_loop(addr, 4, plan.warmup, chat.clone()).await?;
    let capacity = closed_loop(addr, 8, plan.capacity / 2, chat.clone()).await?;
    let rate = rates(capacity.throughput(), &[0.25])[0];

    // Every attempt of every round from an account and address of its own, so that no
    // per-account or per-address throttle blunts the storm.
    let logins = |round: u64| -> MakeReq {
        Arc::new(move |i| {
            let i = i + (round << 22);
            let body = json!({
                "email": format!("storm{i}@example.com"),
                "password": "Not-the-password-1",
            });
            let forwarded = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
            Req::post("/api/auth/login", &body).header("x-forwarded-for", forwarded)
        })
    };
    let window = plan.step / 2;
    let (mut alone, mut stormy) = (Samples::default(), Samples::default());
    let (mut errors, mut refused_logins, mut storm_time) = (0, 0, Duration::ZERO);
    for round in 0..u64::from(ROUNDS) {
        let calm = open_loop(addr, OPEN_CONNS, rate, window, chat.clone()).await?;
        errors += calm.failed + calm.refused;
        alone.extend(calm.latency);

        let chats = match storm {
            Storm::Logins(_) => {
                let (chats, storming) = tokio::join!(
                    open_loop(addr, OPEN_CONNS, rate, window, chat.clone()),
                    closed_loop(addr, STORM_CONNS, window, logins(round)),
                );
                let storming = storming?;
                // Failed logins answer 401; anything else (429 above all) means the storm
                // was blunted.
                if storming.ok > 0 || storming.failed > 0 {
                    return Err("login storm requests were not plain refusals".into());
                }
                refused_logins += storming.refused;
                storm_time += storming.elapsed;
                chats?
            }
            Storm::Hashing => {
                let _hashing = Server::start("hash", &[])?;
                open_loop(addr, OPEN_CONNS, rate, window, chat.clone()).await?
            }
        };
        errors += chats.failed + chats.refused;
        stormy.extend(chats.latency);
    }
    Ok(Outcome {
        kind: storm,
        config: match storm {
            Storm::Logins(None) => "logins, default hashing (half the CPUs)".into(),
            Storm::Logins(Some(n)) => {
                format!("logins, HYDRONET_PASSWORD_HASH_CONCURRENCY={n}")
            }
            Storm::Hashing => "control: the same hashing in another process, no logins".into(),
        },
        rate,
        errors,
        alone: alone.summary(),
        storm: stormy.summary(),
        logins_per_sec: matches!(storm, Storm::Logins(_))
            .then(|| refused_logins as f64 / storm_time.as_secs_f64().max(1e-9)),
    })
}
