//! `water-mcp`: the water-network MCP tool server.

use std::{net::SocketAddr, process::ExitCode};

use clap::Parser;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;
use water_mcp::{LOOPBACK_HOSTS, ServerOptions};

/// Water-network calculations (head loss, Reynolds number, pump power, tank drain time)
/// as MCP tools over streamable HTTP at /mcp.
#[derive(Debug, Parser)]
#[command(name = "water-mcp", version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "WATER_MCP_BIND", default_value = "127.0.0.1:8765")]
    bind: SocketAddr,

    /// A `Host` header value to accept, such as `water-mcp` or `water-mcp:8765`; repeat
    /// for several. Defaults to localhost, 127.0.0.1 and ::1.
    #[arg(
        long = "allowed-host",
        env = "WATER_MCP_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    allowed_hosts: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "stopped");
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    // rmcp logs every stateless request at INFO; keep its warnings only, unless RUST_LOG says.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rmcp=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}

async fn run(cli: Cli) -> std::io::Result<()> {
    let hosts = if cli.allowed_hosts.is_empty() {
        LOOPBACK_HOSTS.iter().map(|host| host.to_string()).collect()
    } else {
        cli.allowed_hosts
    };
    let token = CancellationToken::new();
    let options = ServerOptions::new()
        .allowed_hosts(hosts.clone())
        .shutdown_token(token.clone());

    let listener = TcpListener::bind(cli.bind).await?;
    tracing::info!(
        address = %listener.local_addr()?,
        path = water_mcp::MCP_PATH,
        allowed_hosts = ?hosts,
        "water-mcp listening"
    );
    water_mcp::serve(
        listener,
        water_mcp::router_with(options),
        token,
        shutdown_signal(),
    )
    .await?;
    tracing::info!("shut down cleanly");
    Ok(())
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
