//! `GET /api/openapi.json` and the interactive reference at `/docs` that reads it.
//!
//! The document is built once, on first request, from the route list (see
//! [`openapi`](crate::openapi)). The reference is a page, a script and a style sheet
//! compiled into the binary; it loads nothing from any other host, and the page is served
//! with a Content-Security-Policy that would stop it if it tried.

use std::sync::OnceLock;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use http::{HeaderValue, Method};

use super::{Access, Endpoint, endpoint};
use crate::openapi;

/// The documentation endpoints.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(Method::GET, "/api/openapi.json", Access::Public, document),
        endpoint(Method::GET, "/docs", Access::Public, page),
        endpoint(Method::GET, "/docs/app.js", Access::Public, script),
        endpoint(Method::GET, "/docs/style.css", Access::Public, style),
    ]
}

/// Same-origin scripts, styles and requests only; no inline code, no framing, no forms.
pub const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

const PAGE: &str = include_str!("../../assets/docs/index.html");
const SCRIPT: &str = include_str!("../../assets/docs/app.js");
const STYLE: &str = include_str!("../../assets/docs/style.css");

/// `GET /api/openapi.json`.
async fn document() -> Response {
    static DOCUMENT: OnceLock<Bytes> = OnceLock::new();
    let body = DOCUMENT.get_or_init(|| Bytes::from(openapi::to_json()));
    asset("application/json", body.clone())
}

/// `GET /docs`.
async fn page() -> Response {
    let mut response = asset(
        "text/html; charset=utf-8",
        Bytes::from_static(PAGE.as_bytes()),
    );
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_CSP));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// `GET /docs/app.js`.
async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        Bytes::from_static(SCRIPT.as_bytes()),
    )
}

/// `GET /docs/style.css`.
async fn style() -> Response {
    asset(
        "text/css; charset=utf-8",
        Bytes::from_static(STYLE.as_bytes()),
    )
}

/// A static body of `media` type that browsers must not reinterpret, revalidated on use.
fn asset(media: &'static str, body: Bytes) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(media));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
