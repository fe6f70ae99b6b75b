//! HTTP routes, one module per resource.

pub mod admin;
pub mod auth;
pub mod health;
pub mod roles;
pub mod tenant;
pub mod usage;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter, on};
use http::Method;
use http::header::USER_AGENT;
use http::request::Parts;
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
        roles::endpoints(),
        admin::endpoints(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Who is on the other end of the connection, as far as the server can tell.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// The peer address of the connection.
    pub ip: Option<IpAddr>,
    /// The `User-Agent` header, cut to 256 characters.
    pub user_agent: Option<String>,
}

impl Client {
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
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect());
        Ok(Self { ip, user_agent })
    }
}
