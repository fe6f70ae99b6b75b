//! The router: every route with the layers in front of it.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use hydronet_core::Problem;
use hydronet_tenancy::audit::{AuditEvent, AuditLayer, AuditPolicy, AuditSink, RecordFuture};
use hydronet_tenancy::quota::{PlanRates, RateLimitLayer};
use hydronet_tenancy::rbac::{AuthorizeLayer, RoutePermissions};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::body::MAX_BODY_BYTES;
use crate::routes::{self, Access};
use crate::state::AppState;

/// Builds the application. Tests drive it in-process; `serve` binds it to a socket.
///
/// Layers, outermost first: request id (set, then echoed on the response), a tracing span
/// per request carrying that id, a panic catcher answering a generic 500 problem, the body
/// size limit; then, on every route that is not public, authentication, rate limiting by
/// the tenant's plan, and authorization. When metrics are on, the outermost layer counts
/// and times every request (panics and refusals included) by route template.
pub fn router(state: AppState) -> Router {
    let mut public = Router::new();
    let mut private = Router::new();
    let mut permissions = RoutePermissions::new();
    for endpoint in routes::all() {
        match endpoint.access {
            Access::Public => public = public.route(endpoint.path, endpoint.handler),
            Access::Requires(permission) => {
                permissions.insert(endpoint.method, endpoint.path, permission);
                private = private.route(endpoint.path, endpoint.handler);
            }
        }
    }
    // Outermost last: audit, authenticate, rate-limit, count for usage, authorize.
    let audited_reads = AuditPolicy::new()
        .sensitive_read(http::Method::GET, "/api/admin/audit-logs")
        .sensitive_read(http::Method::GET, "/api/admin/tenants/{id}/limits");
    let private = private
        .route_layer(AuthorizeLayer::new(state.rbac.clone(), permissions))
        .route_layer(middleware::from_fn_with_state(state.clone(), count_request))
        .route_layer(RateLimitLayer::with_policy(
            state.limiter.clone(),
            PlanRates::new(state.limits.clone()),
        ))
        .route_layer(state.auth_layer())
        .route_layer(AuditLayer::new(
            Arc::new(QueuedAudit(state.clone())),
            audited_reads,
        ));

    let router = Router::new()
        .merge(public)
        .merge(private)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::proxies::resolve,
        ))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(request_span))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(CatchPanicLayer::custom(|_| panic_response())),
        );
    let router = match state.metrics {
        Some(_) => router.layer(middleware::from_fn(crate::metrics::track_http)),
        None => router,
    };
    router.with_state(state)
}

/// Request events go through the batching queue (and the mirror sink).
struct QueuedAudit(AppState);

impl AuditSink for QueuedAudit {
    fn record(&self, event: AuditEvent) -> RecordFuture<'_> {
        Box::pin(async move {
            self.0.audit_later(event).await;
            Ok(())
        })
    }
}

/// Counts each admitted, authenticated request in the tenant's daily usage.
async fn count_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(ctx) = request.extensions().get::<hydronet_core::TenantContext>() {
        state.usage.request(ctx.tenant_id());
    }
    next.run(request).await
}

fn request_span<B>(request: &http::Request<B>) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    // The path only: query strings may carry things that must not be logged.
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
    )
}

async fn not_found() -> Problem {
    Problem::not_found()
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This method is not allowed on this resource.",
    )
}

fn panic_response() -> Response {
    tracing::error!("handler panicked");
    Problem::internal().into_response()
}

/// Every endpoint's method, route template and access rule, for listings and tests.
pub fn route_table() -> Vec<(http::Method, &'static str, Access)> {
    routes::all()
        .into_iter()
        .map(|e| (e.method, e.path, e.access))
        .collect()
}
