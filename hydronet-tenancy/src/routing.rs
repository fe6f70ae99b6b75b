//! What the layers know about routes.

use http::Request;

/// The route template the router matched (`/api/users/{id}`), or, without a router that
/// records one, the raw path.
pub(crate) fn route_template<B>(req: &Request<B>) -> &str {
    #[cfg(feature = "axum")]
    if let Some(matched) = req.extensions().get::<axum::extract::MatchedPath>() {
        return matched.as_str();
    }
    req.uri().path()
}
