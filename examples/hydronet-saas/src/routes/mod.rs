//! HTTP routes, one module per resource.

pub mod auth;
pub mod health;
pub mod tenant;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use http::header::USER_AGENT;
use http::request::Parts;

use crate::store::ClientInfo;

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
