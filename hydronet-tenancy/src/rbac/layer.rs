use std::sync::Arc;

use tower::Layer;

use super::{Authorize, Rbac, RoutePermissions};

/// Applies [`Authorize`] to a service. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct AuthorizeLayer {
    rbac: Arc<Rbac>,
    routes: Arc<RoutePermissions>,
}

impl AuthorizeLayer {
    /// Enforces `routes` with the permissions compiled in `rbac`.
    pub fn new(rbac: Arc<Rbac>, routes: RoutePermissions) -> Self {
        Self {
            rbac,
            routes: Arc::new(routes),
        }
    }
}

impl<S> Layer<S> for AuthorizeLayer {
    type Service = Authorize<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authorize::new(inner, self.rbac.clone(), self.routes.clone())
    }
}
