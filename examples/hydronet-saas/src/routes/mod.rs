//! HTTP routes, one module per resource.

pub mod admin;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod chat;
pub mod console;
pub mod docs;
pub mod gateway;
pub mod health;
pub mod lifecycle;
pub mod mcp;
pub mod metrics;
pub mod roles;
pub mod tenant;
pub mod usage;
pub mod users;
pub mod wechat;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter, on};
use http::Method;
use http::header::USER_AGENT;
use http::request::Parts;
use hydronet_core::{ClientAddr, Principal, Problem, TenantContext, TenantId};
use hydronet_tenancy::audit::{Actor, AuditEvent};
use hydronet_tenancy::rbac::Permission;

use crate::state::AppState;
use crate::store::ClientInfo;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a credential.
    Public,
    /// An authenticated caller holding this permission in their tenant.
    Requires(Permission),
}

/// One method on one route, with who may call it.
pub struct Endpoint {
    /// The HTTP method.
    pub method: Method,
    /// The route template, as axum matches it (`/api/tenant/roles/{name}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// The handler.
    pub handler: MethodRouter<AppState>,
}

/// An endpoint serving `handler` for `method` on `path`.
pub fn endpoint<H, T>(method: Method, path: &'static str, access: Access, handler: H) -> Endpoint
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("endpoints use standard methods");
    Endpoint {
        method,
        path,
        access,
        handler: on(filter, handler),
    }
}

/// Every endpoint of the server. The router and the authorization table are both built
/// from this list, so a route cannot exist without a decision about who may call it.
pub fn all() -> Vec<Endpoint> {
    [
        health::endpoints(),
        auth::endpoints(),
        tenant::endpoints(),
        usage::endpoints(),
        chat::endpoints(),
        gateway::endpoints(),
        roles::endpoints(),
        users::endpoints(),
        api_keys::endpoints(),
        mcp::endpoints(),
        admin::endpoints(),
        lifecycle::endpoints(),
        audit::endpoints(),
        docs::endpoints(),
        console::endpoints(),
        metrics::endpoints(),
        wechat::endpoints(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The `limit` query parameter of a listing: `default` when absent, else 1 to `max`.
pub fn page_limit(query: &HashMap<String, String>, default: i64, max: i64) -> Result<i64, Problem> {
    match query.get("limit") {
        None => Ok(default),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| Problem::invalid_field("limit", format!("must be between 1 and {max}"))),
    }
}

/// A `LIKE … ESCAPE '\'` pattern matching the lowercased `search` query parameter
/// anywhere, its own `%`, `_` and `\` taken literally (everything when absent).
pub fn search_pattern(query: &HashMap<String, String>) -> String {
    let search = query
        .get("search")
        .map(|s| s.trim().to_lowercase())
        .unwrap_or_default();
    let escaped = search
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Who is on the other end of the connection, as far as the server can tell.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// The peer address of the connection.
    pub ip: Option<IpAddr>,
    /// The `User-Agent` header, cut to 256 characters.
    pub user_agent: Option<String>,
    /// The request id set by the request-id layer.
    pub request_id: Option<String>,
}

impl Client {
    /// An audit event of this request: `actor` did `action` in `tenant`, stamped with the
    /// state's clock, the request id, and the client's address and user agent.
    pub fn event(
        &self,
        state: &AppState,
        tenant: TenantId,
        actor: Actor,
        action: &str,
    ) -> AuditEvent {
        let mut event = AuditEvent::at(&*state.clock, tenant, actor, action);
        event.request_id = self.request_id.clone();
        event.client_addr = self.ip.map(|ip| ip.to_string());
        event.user_agent = self.user_agent.clone();
        event
    }

    /// As [`Client::event`] for the authenticated caller of `ctx`, with its credential id.
    pub fn caller_event(&self, state: &AppState, ctx: &TenantContext, action: &str) -> AuditEvent {
        let actor = match ctx.principal() {
            Principal::User(user) => Actor::User(user),
            Principal::ApiKey(key) => Actor::ApiKey(key),
        };
        let mut event = self.event(state, ctx.tenant_id(), actor, action);
        event.token_id = ctx.token_id().map(str::to_owned);
        event
    }

    /// What is stored with a new session.
    pub fn info(&self) -> ClientInfo {
        ClientInfo {
            user_agent: self.user_agent.clone(),
            address: self.ip.map(|ip| ip.to_string()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // The address resolved behind trusted proxies, else the connection's peer.
        let ip = match parts.extensions.get::<ClientAddr>() {
            Some(ClientAddr(ip)) => Some(*ip),
            None => parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        };
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect());
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Self {
            ip,
            user_agent,
            request_id,
        })
    }
}
