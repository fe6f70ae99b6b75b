use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use hydronet_core::{Problem, TenantContext};
use tower::Service;

use super::{Rbac, RoutePermissions};
use crate::auth::ResponseFuture;

/// Enforces the route table for the request's [`TenantContext`]; see the
/// [module docs](super).
#[derive(Debug, Clone)]
pub struct Authorize<S> {
    inner: S,
    rbac: Arc<Rbac>,
    routes: Arc<RoutePermissions>,
}

impl<S> Authorize<S> {
    pub(super) fn new(inner: S, rbac: Arc<Rbac>, routes: Arc<RoutePermissions>) -> Self {
        Self {
            inner,
            rbac,
            routes,
        }
    }

    fn decide<B>(&self, req: &Request<B>) -> Result<(), Problem> {
        let Some(ctx) = req.extensions().get::<TenantContext>() else {
            // The authentication layer must run first.
            return Err(Problem::unauthenticated());
        };
        let template = route_template(req);
        let Some(permission) = self.routes.required(req.method(), template) else {
            tracing::debug!(route = template, method = %req.method(), "no permission mapped; denied");
            return Err(Problem::forbidden());
        };
        let allowed = ctx
            .user_id()
            .is_some_and(|user| self.rbac.allows(ctx.tenant_id(), user, permission));
        if allowed {
            Ok(())
        } else {
            tracing::debug!(tenant_id = %ctx.tenant_id(), %permission, "permission denied");
            Err(Problem::forbidden())
        }
    }
}

/// The route template the router matched, or the raw path without a router.
fn route_template<B>(req: &Request<B>) -> &str {
    #[cfg(feature = "axum")]
    if let Some(matched) = req.extensions().get::<axum::extract::MatchedPath>() {
        return matched.as_str();
    }
    req.uri().path()
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Authorize<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<String>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        match self.decide(&req) {
            Ok(()) => ResponseFuture::inner(self.inner.call(req)),
            Err(problem) => ResponseFuture::refused(problem.to_response()),
        }
    }
}
