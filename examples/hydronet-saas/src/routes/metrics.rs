//! `GET /metrics`: the Prometheus scrape.
//!
//! On the main address it answers only when `HYDRONET_METRICS_TOKEN` is set, and then
//! only to `Authorization: Bearer <token>` (401 otherwise); without a token it does not
//! exist (404). The metrics address (`HYDRONET_METRICS_BIND`) serves it without a
//! credential, unless a token is set, which it then asks for too.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method};
use hydronet_core::Problem;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::{Access, Endpoint, endpoint};
use crate::state::AppState;

/// The content type of the Prometheus text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The scrape endpoint of the main address; the handler checks the token itself.
pub fn endpoints() -> Vec<Endpoint> {
    vec![endpoint(
        Method::GET,
        "/metrics",
        Access::Public,
        scrape_public,
    )]
}

/// `GET /metrics` on the main address: 404 unless a token is configured.
async fn scrape_public(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = &state.settings.metrics_token else {
        return Problem::not_found().into_response();
    };
    if !bears(&headers, token) {
        return Problem::unauthenticated().into_response();
    }
    render(&state)
}

/// `GET /metrics` on the metrics address: open, or behind the token when one is set.
pub async fn scrape_private(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.settings.metrics_token
        && !bears(&headers, token)
    {
        return Problem::unauthenticated().into_response();
    }
    render(&state)
}

fn render(state: &AppState) -> Response {
    let Some(handle) = &state.metrics else {
        return Problem::not_found().into_response();
    };
    let mut response = handle.render().into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(PROMETHEUS_TEXT));
    response
}

/// Whether the request carries `Authorization: Bearer <token>`, compared in constant time.
fn bears(headers: &HeaderMap, token: &SecretString) -> bool {
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .unwrap_or_default();
    constant_time_eq(given, token.expose_secret().as_bytes())
}

/// Compares digests rather than the values, so neither the time taken nor an early
/// length mismatch tells how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let token = SecretString::from("t".repeat(40));
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            bears(&headers, &token)
        };
        assert!(with(&format!("Bearer {}", "t".repeat(40))));
        assert!(!with(&format!("Bearer {}", "t".repeat(39))));
        assert!(!with(&format!("Bearer {}x", "t".repeat(40))));
        assert!(!with(&format!("Basic {}", "t".repeat(40))));
        assert!(!with("Bearer "));
        assert!(!bears(&HeaderMap::new(), &token));
    }
}
