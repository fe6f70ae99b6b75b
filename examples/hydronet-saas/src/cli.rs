//! The command line: `serve`, `migrate`, `init`, `audit verify|prune`, `backup` and
//! `restore`.
//!
//! Every command reads the same configuration as the server (`DATABASE_URL` and the rest),
//! prints what it did on standard output, and on failure prints one `error: ...` line on
//! standard error and exits with status 1. `backup --out FILE` copies the database while the
//! server may keep running; `restore --from FILE` replaces it (stop the server first on
//! SQLite) and then applies pending migrations. Both refuse to overwrite a file or a
//! database that holds tenants unless given `--force`; see [`crate::backup`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hydronet_core::{Clock, Plan, SystemClock, TenantId, UserId};
use hydronet_tenancy::audit::{self as audit_log, Actor, SqlAudit};
use hydronet_tenancy::password::Password;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::config::{Settings, random_secret};
use crate::counts::{self, Resource};
use crate::db::Db;
use crate::domain::Email;
use crate::state::AppState;
use crate::store;

/// The HydroNet reference server.
#[derive(Debug, Parser)]
#[command(name = "hydronet-saas", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Applies pending migrations, then serves the API until SIGTERM or Ctrl-C.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "HYDRONET_BIND", default_value = "127.0.0.1:5000")]
        bind: SocketAddr,
    },
    /// Applies pending database migrations and exits.
    Migrate,
    /// Checks or prunes the tamper-evident audit log.
    Audit {
        /// What to do.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Writes a backup of the database to a file: `VACUUM INTO` on SQLite (safe while the
    /// server runs), `pg_dump --format=custom` on PostgreSQL.
    Backup {
        /// The backup file to write.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Replaces the database with a backup, then applies pending migrations. Stop the server
    /// first when the database is SQLite.
    Restore {
        /// The backup file to read.
        #[arg(long)]
        from: PathBuf,
        /// Replace the database even if it holds tenants.
        #[arg(long)]
        force: bool,
    },
    /// Creates the first system administrator. The password comes from
    /// HYDRONET_ADMIN_PASSWORD or is generated and printed once.
    Init {
        /// The administrator's email.
        #[arg(
            long,
            env = "HYDRONET_ADMIN_EMAIL",
            default_value = "admin@hydronet.localhost"
        )]
        email: String,
    },
}

/// The `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verifies every tenant's hash chain (or one tenant's) and names the first record that
    /// was edited, deleted or reordered. Exits with status 1 if any chain is broken.
    Verify {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<TenantId>,
    },
    /// Deletes records older than a number of days, keeping what remains verifiable.
    Prune {
        /// Age in days of the newest record to delete.
        #[arg(long)]
        older_than: u32,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<TenantId>,
    },
}

/// Runs the command on a fresh runtime and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    // Logging first, so warnings about the configuration itself are seen.
    init_logging(crate::config::debug_from_env());
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let command = cli.command.unwrap_or(Command::Serve {
        bind: std::env::var("HYDRONET_BIND")
            .ok()
            .and_then(|b| b.parse().ok())
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5000))),
    });
    let result = runtime.block_on(async move {
        match command {
            Command::Serve { bind } => serve(settings, bind).await,
            Command::Migrate => migrate(settings).await,
            Command::Init { email } => init(settings, &email).await,
            Command::Audit { command } => audit(settings, command).await,
            Command::Backup { out, force } => backup(settings, &out, force).await,
            Command::Restore { from, force } => restore(settings, &from, force).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "stopped");
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(debug: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if debug {
        builder.try_init()
    } else {
        builder.json().try_init()
    };
}

type CliResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

async fn serve(settings: Settings, bind: SocketAddr) -> CliResult {
    let backend = settings
        .database_url
        .split(':')
        .next()
        .unwrap_or("?")
        .to_owned();
    let state = AppState::new(settings).await?;
    state.spawn_background();
    let app = crate::app::router(state.clone());

    let listener = TcpListener::bind(bind).await?;
    let metrics = spawn_metrics_listener(&state).await?;
    tracing::info!(address = %listener.local_addr()?, database = %backend, redis = state.redis.is_some(), "HydroNet listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;

    if let Some((stop, task)) = metrics {
        let _ = stop.send(());
        task.await??;
    }
    state.shutdown().await;
    state.db.close().await;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// A running metrics listener: what stops it, and its task.
type MetricsListener = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
);

/// Serves `/metrics` on `HYDRONET_METRICS_BIND` when set; otherwise says once how metrics
/// are turned on, if they are not.
async fn spawn_metrics_listener(
    state: &AppState,
) -> Result<Option<MetricsListener>, std::io::Error> {
    let settings = &state.settings;
    let Some(bind) = settings.metrics_bind else {
        if settings.metrics_token.is_some() {
            tracing::info!("metrics at /metrics, for requests bearing HYDRONET_METRICS_TOKEN");
        } else {
            tracing::info!(
                "metrics are off: set HYDRONET_METRICS_BIND (an address for /metrics) or \
                 HYDRONET_METRICS_TOKEN (/metrics behind a bearer token) to turn them on"
            );
        }
        return Ok(None);
    };
    let listener = TcpListener::bind(bind).await?;
    tracing::info!(address = %listener.local_addr()?, "metrics listening at /metrics");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let task = tokio::spawn(crate::metrics::serve(listener, state.clone(), shutdown));
    Ok(Some((stop, task)))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

async fn migrate(settings: Settings) -> CliResult {
    let db = Db::connect(&settings.database_url).await?;
    db.migrate().await?;
    db.close().await;
    println!("migrations applied");
    Ok(())
}

async fn backup(settings: Settings, out: &Path, force: bool) -> CliResult {
    let done = crate::backup::backup(&settings.database_url, out, force).await?;
    println!("{done}");
    Ok(())
}

async fn restore(settings: Settings, from: &Path, force: bool) -> CliResult {
    if settings.database_url.starts_with("sqlite:") {
        println!("restoring a SQLite database: the server must be stopped until this finishes");
    }
    let done = crate::backup::restore(&settings.database_url, from, force).await?;
    println!("{done}");
    Ok(())
}

async fn audit(settings: Settings, command: AuditCommand) -> CliResult {
    let db = Db::connect(&settings.database_url).await?;
    db.migrate().await?;
    let backend = match db.backend() {
        crate::db::Backend::Sqlite => audit_log::Backend::Sqlite,
        crate::db::Backend::Postgres => audit_log::Backend::Postgres,
    };
    // As the connecting user (the tables' owner, who alone may delete audit records),
    // in the system scope so row-level security shows every tenant.
    let mut store = SqlAudit::new(db.pool().clone(), backend);
    if backend == audit_log::Backend::Postgres {
        store = store.on_begin(vec![
            "SELECT set_config('app.scope', 'system', true)".to_owned(),
        ]);
    }

    match command {
        AuditCommand::Verify { tenant } => {
            let reports = store.verify(tenant).await?;
            let mut broken = 0;
            for report in &reports {
                match &report.first_problem {
                    None => println!("{}: ok ({} records)", report.tenant_id, report.records),
                    Some(problem) => {
                        broken += 1;
                        println!(
                            "{}: BROKEN at seq {} (record {}): {:?}",
                            report.tenant_id, problem.seq, problem.id, problem.kind
                        );
                    }
                }
            }
            db.close().await;
            if broken > 0 {
                return Err(
                    format!("{broken} of {} audit chains are broken", reports.len()).into(),
                );
            }
            println!("{} audit chains verified", reports.len());
        }
        AuditCommand::Prune { older_than, tenant } => {
            let cutoff = SystemClock.now_millis() - i64::from(older_than) * 86_400_000;
            let deleted = store.prune(tenant, cutoff).await?;
            db.close().await;
            println!("pruned {deleted} audit records older than {older_than} days");
        }
    }
    Ok(())
}

/// The roles of the first administrator.
const ADMIN_ROLES: [&str; 2] = ["owner", "system_admin"];

async fn init(settings: Settings, email: &str) -> CliResult {
    let email = Email::parse(email).map_err(|e| format!("HYDRONET_ADMIN_EMAIL {e}"))?;
    let state = AppState::new(settings).await?;

    let mut tx = state.db.system().await?;
    let existing: Option<(String,)> = sqlx::query_as(
        "SELECT v0 FROM casbin_rules WHERE ptype = 'g' AND v1 = 'system_admin' LIMIT 1",
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    if existing.is_some() {
        println!("a system administrator already exists; nothing to do");
        return Ok(());
    }

    let (password, generated) = match std::env::var("HYDRONET_ADMIN_PASSWORD") {
        Ok(given) if !given.is_empty() => (given, false),
        _ => (random_secret()[..24].to_owned(), true),
    };
    let password: Password = state
        .policy
        .check_new(&password, email.as_str())
        .map_err(|e| format!("HYDRONET_ADMIN_PASSWORD {e}"))?;
    let hash = state.hasher.hash(&password).await?;

    let (tenant_id, user_id, now) = (TenantId::new(), UserId::new(), state.now());
    let plan = Plan::Enterprise;
    let roles: Vec<String> = ADMIN_ROLES.iter().map(|r| (*r).to_owned()).collect();
    state.set_roles(tenant_id, user_id, &roles).await?;
    let mut tx = state.db.tenant(tenant_id).await?;
    store::insert_tenant(
        &mut tx,
        tenant_id,
        "HydroNet System",
        &format!("system-{}", &tenant_id.to_string()[..8]),
        plan,
        now,
    )
    .await?;
    let max_users = Resource::Users.limit(&state.limits.effective(tenant_id, plan));
    counts::take_slot(&mut tx, tenant_id, Resource::Users, max_users).await?;
    store::insert_user(&mut tx, tenant_id, user_id, email.as_str(), &hash, now).await?;
    let event = audit_log::AuditEvent::at(
        &*state.clock,
        tenant_id,
        Actor::System,
        "system.admin_created",
    )
    .target(format!("user:{user_id}"))
    .details(serde_json::json!({ "email": email.as_str() }));
    state.audit_in(&mut tx, event).await?;
    tx.commit().await?;
    state.shutdown().await;

    println!("system administrator created: {}", email.as_str());
    if generated {
        println!("generated password (shown only now): {}", password.expose());
    }
    Ok(())
}
