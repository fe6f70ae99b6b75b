//! The reference request path, assembled once so the micro-benchmarks and the load program
//! measure the same thing: a trivial handler bare, and the same handler behind every layer
//! the reference server puts in front of its private routes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::routing::get;
use casbin::MemoryAdapter;
use http::Method;
use hydronet_core::{ManualClock, Plan, PlanCatalog, SessionId, TenantId, UserId};
use hydronet_tenancy::audit::{
    AuditError, AuditEvent, AuditLayer, AuditPolicy, AuditSink, RecordFuture,
};
use hydronet_tenancy::auth::AuthLayer;
use hydronet_tenancy::quota::{LocalLimiter, PlanRates, RateLimitLayer};
use hydronet_tenancy::rbac::{AuthorizeLayer, Permission, Rbac, RoutePermissions};
use hydronet_tenancy::revocation::RevocationList;
use hydronet_tenancy::token::{AccessGrant, JwtCodec, JwtKey};
use tokio::sync::mpsc;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// The benchmarked route. `GET` reads, `POST` writes (and so is audited).
pub const PATH: &str = "/api/hello";

/// The handler every variant serves: a short constant body.
pub fn handlers() -> Router {
    Router::new().route(PATH, get(hello).post(hello))
}

async fn hello() -> &'static str {
    "hello"
}

/// The full stack and what a client needs to pass it.
#[derive(Debug)]
pub struct Stack {
    /// [`handlers`] behind request id, trace, audit, authentication, rate limiting and
    /// authorization, in the reference server's order.
    pub router: Router,
    /// A valid access token for a `member` of a `pro` tenant.
    pub token: String,
    /// The codec that verifies [`Stack::token`], for measuring verification alone.
    pub codec: JwtCodec,
    /// The audit queue behind the audit layer.
    pub audit: QueueSink,
}

/// Builds [`handlers`] behind the full layer stack. Rate limits are set far above any
/// benchmark's rate so every request is admitted and still pays for the decision.
///
/// Call it inside a tokio runtime: the audit queue's consumer is spawned on it.
pub async fn full_stack() -> Stack {
    let key = JwtKey::hs256("bench", &[0x5a; 32]).expect("a 32-byte key is strong enough");
    // A frozen clock keeps the token valid however long a run lasts.
    let codec = JwtCodec::builder(key)
        .clock(Arc::new(ManualClock::now()))
        .build();
    let (tenant, user) = (TenantId::new(), UserId::new());
    let roles = ["member".to_owned()];
    let grant = AccessGrant {
        tenant_id: tenant,
        user_id: user,
        session_id: SessionId::new(),
        roles: &roles,
        plan: Plan::Pro,
    };
    let token = codec.issue_access(&grant).expect("signing works").token;

    let rbac = Rbac::new(MemoryAdapter::default())
        .await
        .expect("an empty policy loads");
    rbac.set_roles(tenant, user, &roles)
        .await
        .expect("the member role exists");
    let permissions = RoutePermissions::new()
        .route(Method::GET, PATH, Permission::ConversationsRead)
        .route(Method::POST, PATH, Permission::ConversationsWrite);

    let mut plans = PlanCatalog::default();
    let mut pro = Plan::Pro.limits();
    pro.requests_per_minute = u32::MAX / 2;
    pro.user_requests_per_minute = u32::MAX / 2;
    plans.set(Plan::Pro, pro);

    let audit = QueueSink::spawn(65_536);
    let router = handlers()
        .route_layer(AuthorizeLayer::new(Arc::new(rbac), permissions))
        .route_layer(RateLimitLayer::with_policy(
            Arc::new(LocalLimiter::new()),
            PlanRates::new(plans),
        ))
        .route_layer(AuthLayer::new(codec.clone()).revocations(Arc::new(RevocationList::new())))
        .route_layer(AuditLayer::new(Arc::new(audit.clone()), AuditPolicy::new()))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http())
                .layer(PropagateRequestIdLayer::x_request_id()),
        );
    Stack {
        router,
        token,
        codec,
        audit,
    }
}

/// An audit sink that hands events to a bounded queue drained by a background task, as the
/// reference server's batching writer does, minus the database.
#[derive(Debug, Clone)]
pub struct QueueSink {
    queue: mpsc::Sender<AuditEvent>,
    drained: Arc<AtomicU64>,
}

impl QueueSink {
    /// A queue of `capacity` events and its consumer, spawned on the current runtime.
    pub fn spawn(capacity: usize) -> Self {
        let (queue, mut events) = mpsc::channel::<AuditEvent>(capacity);
        let drained = Arc::new(AtomicU64::new(0));
        let counter = drained.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                drop(event);
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        Self { queue, drained }
    }

    /// Events the consumer has taken off the queue so far.
    pub fn drained(&self) -> u64 {
        self.drained.load(Ordering::Relaxed)
    }
}

impl AuditSink for QueueSink {
    fn record(&self, event: AuditEvent) -> RecordFuture<'_> {
        Box::pin(async move {
            self.queue
                .send(event)
                .await
                .map_err(|_| AuditError("audit queue closed".to_owned()))
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    fn request(method: Method, token: Option<&str>) -> Request<Body> {
        let mut builder = Request::builder().method(method).uri(PATH);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        builder.body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn the_stack_admits_its_token_audits_writes_and_refuses_strangers() {
        let stack = full_stack().await;
        let ok = stack
            .router
            .clone()
            .oneshot(request(Method::GET, Some(&stack.token)))
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        assert!(ok.headers().contains_key("x-request-id"));
        assert!(ok.headers().contains_key("ratelimit"));

        let write = stack
            .router
            .clone()
            .oneshot(request(Method::POST, Some(&stack.token)))
            .await
            .unwrap();
        assert_eq!(write.status(), StatusCode::OK);

        let stranger = stack
            .router
            .clone()
            .oneshot(request(Method::GET, None))
            .await
            .unwrap();
        assert_eq!(stranger.status(), StatusCode::UNAUTHORIZED);

        // The write and the refusal are audited; the plain read is not.
        for _ in 0..100 {
            if stack.audit.drained() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(stack.audit.drained(), 2);
    }

    #[tokio::test]
    async fn the_bare_handlers_answer_without_credentials() {
        let response = handlers()
            .oneshot(request(Method::GET, None))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}
