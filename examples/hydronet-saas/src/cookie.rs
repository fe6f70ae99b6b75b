//! The browser session: the refresh token kept in a cookie scripts cannot read.
//!
//! A client opts in with the request header `X-HydroNet-Session: cookie` on
//! `POST /api/auth/register`, `/login`, `/refresh` and `PUT /api/auth/change-password`.
//! The answer then sets the refresh token as an `HttpOnly`, `Secure`, `SameSite=Strict`
//! cookie scoped to `/api/auth` and leaves `refresh_token` out of the JSON body; the access
//! token stays in the body, for the page to keep in memory. A refresh whose body has no `refresh_token` reads the cookie,
//! but only when the header is present too: a cross-site form cannot set a custom header,
//! so the header doubles as a CSRF defence. Logout clears the cookie.
//!
//! Clients that do not send the header see the JSON-only flow, unchanged.
//!
//! ```
//! use http::HeaderMap;
//! use hydronet_saas::cookie;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert(cookie::SESSION_HEADER, "cookie".parse().unwrap());
//! headers.insert(http::header::COOKIE, "theme=dark; hn_refresh=abc".parse().unwrap());
//! assert!(cookie::wants_cookie(&headers));
//! assert_eq!(cookie::refresh_token(&headers).as_deref(), Some("abc"));
//! ```

use std::time::Duration;

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};

/// The request header by which a client asks for the cookie session.
pub const SESSION_HEADER: &str = "x-hydronet-session";

/// The name of the refresh-token cookie.
pub const REFRESH_COOKIE: &str = "hn_refresh";

/// The path the cookie is sent to: the authentication endpoints only.
const COOKIE_PATH: &str = "/api/auth";

/// Whether the request opted in with `X-HydroNet-Session: cookie`.
pub fn wants_cookie(headers: &HeaderMap) -> bool {
    headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("cookie"))
}

/// The refresh token carried by the request's `Cookie` headers, if any.
pub fn refresh_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == REFRESH_COOKIE)
        .map(|(_, value)| value.trim_matches('"').to_owned())
        .filter(|value| !value.is_empty())
}

/// Adds a `Set-Cookie` that stores `token` for `ttl`.
pub fn set(headers: &mut HeaderMap, token: &str, ttl: Duration) {
    let value = format!(
        "{REFRESH_COOKIE}={token}; Max-Age={}; Path={COOKIE_PATH}; HttpOnly; Secure; \
         SameSite=Strict",
        ttl.as_secs()
    );
    append(headers, &value);
}

/// Adds a `Set-Cookie` that removes the refresh token.
pub fn clear(headers: &mut HeaderMap) {
    let value = format!(
        "{REFRESH_COOKIE}=; Max-Age=0; Path={COOKIE_PATH}; HttpOnly; Secure; SameSite=Strict"
    );
    append(headers, &value);
}

fn append(headers: &mut HeaderMap, value: &str) {
    // Tokens are URL-safe text, so the value is always a valid header.
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.append(SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others_and_needs_a_value() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1"));
        headers.append(COOKIE, HeaderValue::from_static("b=2; hn_refresh=tok"));
        assert_eq!(refresh_token(&headers).as_deref(), Some("tok"));

        let mut empty = HeaderMap::new();
        empty.insert(COOKIE, HeaderValue::from_static("hn_refresh=; x=1"));
        assert_eq!(refresh_token(&empty), None);
        assert_eq!(refresh_token(&HeaderMap::new()), None);
    }

    #[test]
    fn only_the_cookie_value_opts_in() {
        let mut headers = HeaderMap::new();
        assert!(!wants_cookie(&headers));
        headers.insert(SESSION_HEADER, HeaderValue::from_static("body"));
        assert!(!wants_cookie(&headers));
        headers.insert(SESSION_HEADER, HeaderValue::from_static("Cookie"));
        assert!(wants_cookie(&headers));
    }

    #[test]
    fn set_and_clear_carry_every_attribute() {
        let mut headers = HeaderMap::new();
        set(&mut headers, "tok", Duration::from_secs(60));
        clear(&mut headers);
        let values: Vec<&str> = headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            values,
            [
                "hn_refresh=tok; Max-Age=60; Path=/api/auth; HttpOnly; Secure; SameSite=Strict",
                "hn_refresh=; Max-Age=0; Path=/api/auth; HttpOnly; Secure; SameSite=Strict",
            ]
        );
    }
}
