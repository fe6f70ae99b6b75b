//! The web console: `GET /` and its scripts and style sheet under `GET /console/{file}`.
//!
//! Every file is compiled into the binary from `console/`; nothing is loaded from another
//! host. The page is served with a strict Content-Security-Policy (same-origin scripts and
//! styles only, no inline code, no framing). Each file carries an `ETag` derived from its
//! content, so browsers revalidate cheaply and a new build is picked up at once.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use hydronet_core::Problem;
use sha2::{Digest, Sha256};

use super::{Access, Endpoint, endpoint};

/// The console endpoints.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(Method::GET, "/", Access::Public, page),
        endpoint(Method::GET, "/console/{file}", Access::Public, file),
    ]
}

/// Same-origin scripts, styles, images and requests only; no inline code, no framing.
pub const CONSOLE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'self'";

/// One embedded file.
struct Asset {
    name: &'static str,
    media: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $media:expr) => {
        Asset {
            name: $name,
            media: $media,
            body: include_bytes!(concat!("../../console/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// The page, then every file it may load.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("i18n.js", JS),
    asset!("dom.js", JS),
    asset!("markdown.js", JS),
    asset!("auth.js", JS),
    asset!("chat.js", JS),
    asset!("usage.js", JS),
    asset!("admin.js", JS),
    asset!("system.js", JS),
    asset!("favicon.svg", "image/svg+xml"),
];

/// The strong validator of each asset, computed once.
fn etag(index: usize) -> &'static HeaderValue {
    static TAGS: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| {
                let digest = Sha256::digest(asset.body);
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header")
            })
            .collect()
    });
    &tags[index]
}

/// `GET /`: the console page.
async fn page(headers: HeaderMap) -> Response {
    let mut response = serve(0, &headers);
    let out = response.headers_mut();
    out.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONSOLE_CSP),
    );
    out.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    out.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// `GET /console/{file}`: one of the page's scripts, its style sheet or its icon.
async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().skip(1).position(|a| a.name == name) {
        Some(index) => serve(index + 1, &headers),
        None => Problem::not_found().into_response(),
    }
}

/// The asset at `index`, or `304 Not Modified` when the client's copy is current.
fn serve(index: usize, headers: &HeaderMap) -> Response {
    let asset = &ASSETS[index];
    let tag = etag(index);
    let current = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|candidate| candidate.trim().trim_start_matches("W/") == tag);
    let mut response = if current {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Bytes::from_static(asset.body).into_response()
    };
    let out = response.headers_mut();
    if !current {
        out.insert(CONTENT_TYPE, HeaderValue::from_static(asset.media));
    }
    out.insert(ETAG, tag.clone());
    out.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_named_once_and_scripts_are_javascript() {
        let mut names: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ASSETS.len());
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            assert_eq!(asset.media, JS, "{}", asset.name);
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_handlers() {
        let page = std::str::from_utf8(ASSETS[0].body).unwrap();
        assert!(page.contains("<script type=\"module\" src=\"/console/app.js\">"));
        assert!(!page.contains("<script>"), "inline script");
        assert!(!page.contains(" onclick="), "inline handler");
        assert!(!page.contains("style=\""), "inline style");
    }
}
