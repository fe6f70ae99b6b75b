use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use hydronet_core::{Problem, TenantContext};
use tower::Service;

use super::{PermissionSet, Rbac, RoutePermissions};
use crate::auth::ResponseFuture;
use crate::routing::route_template;

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
        // An API key acts for its holder: it needs the permission in its own scope and
        // in the holder's roles, so it never outgrows the holder.
        let in_scope = ctx
            .scope()
            .is_none_or(|scope| PermissionSet::from(scope).contains(permission));
        let allowed = in_scope
            && ctx
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

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::{Method, StatusCode};
    use hydronet_core::{ApiKeyId, Plan, Principal, TenantId, UserId};
    use tower::{Layer, ServiceExt, service_fn};

    use super::*;
    use crate::rbac::{AuthorizeLayer, Permission};

    async fn call(
        rbac: Arc<Rbac>,
        method: Method,
        path: &str,
        ctx: Option<TenantContext>,
    ) -> StatusCode {
        let routes = RoutePermissions::new()
            .route(Method::GET, "/audit", Permission::AuditRead)
            .route(Method::POST, "/chat", Permission::ConversationsWrite);
        let service =
            AuthorizeLayer::new(rbac, routes).layer(service_fn(|_req: Request<String>| async {
                Ok::<_, Infallible>(Response::new(String::new()))
            }));
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .body(String::new())
            .unwrap();
        if let Some(ctx) = ctx {
            request.extensions_mut().insert(ctx);
        }
        service.oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn enforces_the_route_table_for_the_credentials_tenant() {
        let rbac = Arc::new(Rbac::new(casbin::MemoryAdapter::default()).await.unwrap());
        let (tenant, other, user) = (TenantId::new(), TenantId::new(), UserId::new());
        rbac.set_roles(tenant, user, &["auditor".to_owned()])
            .await
            .unwrap();
        let ctx = |t| Some(TenantContext::new(t, Principal::User(user), Plan::Free));

        assert_eq!(
            call(rbac.clone(), Method::GET, "/audit", ctx(tenant)).await,
            StatusCode::OK
        );
        assert_eq!(
            call(rbac.clone(), Method::POST, "/chat", ctx(tenant)).await,
            StatusCode::FORBIDDEN
        );
        // Same user, another tenant: no roles there.
        assert_eq!(
            call(rbac.clone(), Method::GET, "/audit", ctx(other)).await,
            StatusCode::FORBIDDEN
        );
        // A route missing from the table is denied.
        assert_eq!(
            call(rbac.clone(), Method::GET, "/unmapped", ctx(tenant)).await,
            StatusCode::FORBIDDEN
        );
        // No context at all: the authentication layer did not run.
        assert_eq!(
            call(rbac.clone(), Method::GET, "/audit", None).await,
            StatusCode::UNAUTHORIZED
        );
        // A key acting for nobody has no permission.
        let key = Some(TenantContext::new(
            tenant,
            Principal::ApiKey(ApiKeyId::new()),
            Plan::Free,
        ));
        assert_eq!(
            call(rbac, Method::GET, "/audit", key).await,
            StatusCode::FORBIDDEN
        );
    }

    #[tokio::test]
    async fn api_keys_need_both_their_scope_and_their_holders_roles() {
        let rbac = Arc::new(Rbac::new(casbin::MemoryAdapter::default()).await.unwrap());
        let (tenant, holder) = (TenantId::new(), UserId::new());
        rbac.set_roles(tenant, holder, &["auditor".to_owned()])
            .await
            .unwrap();
        let key = |scope: &[Permission]| {
            Some(
                TenantContext::new(tenant, Principal::ApiKey(ApiKeyId::new()), Plan::Free)
                    .with_acting_user(holder)
                    .with_scope(PermissionSet::of(scope).into()),
            )
        };

        // In scope and held by the holder.
        assert_eq!(
            call(
                rbac.clone(),
                Method::GET,
                "/audit",
                key(&[Permission::AuditRead])
            )
            .await,
            StatusCode::OK
        );
        // Held by the holder, but outside the key's scope.
        assert_eq!(
            call(
                rbac.clone(),
                Method::GET,
                "/audit",
                key(&[Permission::ConversationsWrite])
            )
            .await,
            StatusCode::FORBIDDEN
        );
        // In the key's scope, but the holder (an auditor) lacks it.
        assert_eq!(
            call(
                rbac,
                Method::POST,
                "/chat",
                key(&[Permission::ConversationsWrite])
            )
            .await,
            StatusCode::FORBIDDEN
        );
    }
}
