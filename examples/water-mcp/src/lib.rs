//! A water-network tool server speaking the Model Context Protocol (MCP).
//!
//! Five calculation tools for water engineers (pipe head loss by Hazen–Williams and by
//! Darcy–Weisbach, velocity and Reynolds number, pump power, tank drain time), served over
//! MCP's streamable HTTP transport at [`MCP_PATH`] by the official Rust SDK, `rmcp`.
//!
//! - [`hydraulics`]: the calculations as plain functions in SI units.
//! - [`WaterTools`]: the MCP server handler that exposes them as tools.
//! - [`router`], [`serve`], [`spawn_local`]: an axum router, a server loop, and an
//!   in-process server for tests.
//!
//! The server is stateless: it keeps no MCP session between requests, so any number of
//! instances can sit behind one address, and an instance can restart under a client.
//!
//! # Example
//!
//! Start a server on a free local port, as a test would:
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! let (addr, server) = water_mcp::spawn_local().await?;
//! let url = water_mcp::mcp_url(addr); // "http://127.0.0.1:<port>/mcp"
//! // ... connect an MCP client to `url` ...
//! server.abort();
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::Router;
use rmcp::transport::{
    StreamableHttpServerConfig, StreamableHttpService,
    streamable_http_server::session::local::LocalSessionManager,
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

pub mod hydraulics;
mod tools;

pub use tools::{
    DARCY_WEISBACH, FLOW_VELOCITY, HAZEN_WILLIAMS, PUMP_POWER, TANK_DRAIN, WaterTools,
};

/// Path of the MCP endpoint in [`router`].
pub const MCP_PATH: &str = "/mcp";

/// Host names the server answers to unless told otherwise: loopback only.
pub const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// How the MCP endpoint is served; see [`router_with`].
#[derive(Debug, Clone)]
pub struct ServerOptions {
    allowed_hosts: Vec<String>,
    shutdown: CancellationToken,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            allowed_hosts: LOOPBACK_HOSTS.iter().map(|host| host.to_string()).collect(),
            shutdown: CancellationToken::new(),
        }
    }
}

impl ServerOptions {
    /// Options with the defaults below.
    pub fn new() -> Self {
        Self::default()
    }

    /// The values of the `Host` header to accept (`name` or `name:port`), a guard against
    /// DNS rebinding. Defaults to [`LOOPBACK_HOSTS`]; a server reached under another name
    /// must list it. An empty list accepts any host.
    pub fn allowed_hosts(mut self, hosts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.allowed_hosts = hosts.into_iter().map(Into::into).collect();
        self
    }

    /// A token whose cancellation ends every open MCP stream, so a graceful shutdown does
    /// not wait on them. Defaults to a token nobody cancels.
    pub fn shutdown_token(mut self, token: CancellationToken) -> Self {
        self.shutdown = token;
        self
    }
}

/// The MCP endpoint at [`MCP_PATH`], with default [`ServerOptions`].
///
/// ```
/// let app: axum::Router = water_mcp::router();
/// ```
pub fn router() -> Router {
    router_with(ServerOptions::default())
}

/// The MCP endpoint at [`MCP_PATH`], served as the options say.
pub fn router_with(options: ServerOptions) -> Router {
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(options.allowed_hosts)
        .with_cancellation_token(options.shutdown)
        // No sessions and plain JSON answers: every request stands on its own.
        .with_legacy_session_mode(false)
        .with_json_response(true);
    let service = StreamableHttpService::new(
        || Ok(WaterTools::new()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new().nest_service(MCP_PATH, service)
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes the requests in
/// flight. `app` should come from [`router_with`] given `token`, which is cancelled at
/// shutdown so open streams end too.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    token: CancellationToken,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            token.cancel();
        })
        .await
}

/// Starts a server on `127.0.0.1` at a free port, on the current Tokio runtime.
///
/// Returns its address (see [`mcp_url`]) and its task; the server runs until the task is
/// aborted or the runtime stops. Meant for tests: each call gets its own port, so tests can
/// run in parallel.
pub async fn spawn_local() -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let token = CancellationToken::new();
    let app = router_with(ServerOptions::default().shutdown_token(token.clone()));

    let task = tokio::spawn(async move {
        if let Err(err) = serve(listener, app, token, std::future::pending()).await {
            tracing::error!(error = %err, "water-mcp test server stopped");
        }
    });
    Ok((addr, task))
}

/// The URL of the MCP endpoint of a server listening on `addr`.
///
/// ```
/// let addr = "127.0.0.1:8765".parse().expect("an address");
/// assert_eq!(water_mcp::mcp_url(addr), "http://127.0.0.1:8765/mcp");
/// ```
pub fn mcp_url(addr: SocketAddr) -> String {
    format!("http://{addr}{MCP_PATH}")
}
