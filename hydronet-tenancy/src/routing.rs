//! What the layers know about routes.

use http::{Request, Uri};

/// The route template the router matched (`/api/users/{id}`), or, without a router that
/// records one, the raw path.
pub(crate) fn route_template<B>(req: &Request<B>) -> &str {
    #[cfg(feature = "axum")]
    if let Some(matched) = req.extensions().get::<axum::extract::MatchedPath>() {
        return matched.as_str();
    }
    req.uri().path()
}

/// [`route_template`] kept past the request, as a cheap clone (the router's shared
/// template, or the request's URI).
pub(crate) enum Template {
    #[cfg(feature = "axum")]
    Matched(axum::extract::MatchedPath),
    Path(Uri),
}

impl Template {
    pub(crate) fn of<B>(req: &Request<B>) -> Self {
        #[cfg(feature = "axum")]
        if let Some(matched) = req.extensions().get::<axum::extract::MatchedPath>() {
            return Self::Matched(matched.clone());
        }
        Self::Path(req.uri().clone())
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            #[cfg(feature = "axum")]
            Self::Matched(matched) => matched.as_str(),
            Self::Path(uri) => uri.path(),
        }
    }
}
