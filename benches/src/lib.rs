//! Fixtures shared by the HydroNet benchmarks.
//!
//! Run them with `cargo bench -p hydronet-benches`. Each benchmark measures one layer of
//! the request path against the same work without it, so the numbers read as overhead.
//!
//! - [`hs256_fixture`] and [`eddsa_fixture`]: a codec and a token it issued;
//! - [`KeyMix`]: a reproducible sequence of indices where a few hot entries take most of
//!   the draws, as a few busy tenants do;
//! - [`StackFixture`] and [`full_stack`]: the server's layer stack (request id, trace,
//!   audit, authentication, rate limit, authorization) in front of any router, with signed-in
//!   users to call it as. The load program reuses them.
//!
//! # Example
//!
//! ```
//! use axum::Router;
//! use axum::body::Body;
//! use axum::routing::get;
//! use http::{Method, Request, StatusCode};
//! use hydronet_benches::{StackFixture, full_stack};
//! use hydronet_tenancy::rbac::{Permission, RoutePermissions};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let fixture = StackFixture::new(2, 3).await;
//! let routes = Router::new().route("/hello", get(|| async { "hi" }));
//! let permissions =
//!     RoutePermissions::new().route(Method::GET, "/hello", Permission::ConversationsRead);
//! let app = full_stack(routes, permissions, &fixture, fixture.sink());
//!
//! let request = Request::get("/hello")
//!     .header("authorization", fixture.bearer(0))
//!     .body(Body::empty())
//!     .unwrap();
//! assert_eq!(app.oneshot(request).await.unwrap().status(), StatusCode::OK);
//! # }
//! ```

pub mod stack;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use casbin::{Adapter, MemoryAdapter};
use hydronet_core::{ManualClock, Plan, PlanCatalog, SessionId, TenantId, UserId};
use hydronet_tenancy::audit::{AuditEvent, AuditLayer, AuditPolicy, AuditSink, RecordFuture};
use hydronet_tenancy::auth::AuthLayer;
use hydronet_tenancy::quota::{LocalLimiter, PlanRates, RateLimitLayer};
use hydronet_tenancy::rbac::{AuthorizeLayer, Rbac, RoutePermissions};
use hydronet_tenancy::revocation::RevocationList;
use hydronet_tenancy::token::{AccessGrant, JwtCodec, JwtKey};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

// A bench-only Ed25519 pair, generated with `openssl genpkey -algorithm ed25519` for these
// benchmarks. It protects nothing; never use it anywhere else.
const BENCH_ED25519_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIDdPzcWv5FsHx7Ubd/DVHy9R27U0pKfeDcib5OiYhY7C
-----END PRIVATE KEY-----
";
const BENCH_ED25519_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAXdTdOGAQ6lNy1qcuxUS5Q7iDcHNxbKrLUl2WXhJvpRM=
-----END PUBLIC KEY-----
";

/// A codec with a fixed HS256 key and a frozen clock, and a valid token it issued.
pub fn hs256_fixture() -> (JwtCodec, String) {
    let key = JwtKey::hs256("bench", &[0x5a; 32]).expect("a 32-byte key is strong enough");
    signed_fixture(key)
}

/// A codec with a fixed Ed25519 key and a frozen clock, and a valid token it issued.
pub fn eddsa_fixture() -> (JwtCodec, String) {
    let key = JwtKey::ed25519_pem(
        "bench-ed",
        Some(BENCH_ED25519_PRIVATE.as_bytes()),
        BENCH_ED25519_PUBLIC.as_bytes(),
    )
    .expect("the bench key pair is valid");
    signed_fixture(key)
}

fn signed_fixture(key: JwtKey) -> (JwtCodec, String) {
    let codec = JwtCodec::builder(key)
        .clock(Arc::new(ManualClock::now()))
        .build();
    let token = issue(&codec, TenantId::new(), UserId::new());
    (codec, token)
}

fn issue(codec: &JwtCodec, tenant: TenantId, user: UserId) -> String {
    let roles = [MEMBER.to_owned()];
    let grant = AccessGrant {
        tenant_id: tenant,
        user_id: user,
        session_id: SessionId::new(),
        roles: &roles,
        plan: Plan::Pro,
    };
    codec.issue_access(&grant).expect("signing works").token
}

/// A reproducible stream of indices into `0..len` where a few hot indices take most of the
/// draws and the rest are spread evenly: the shape of traffic where a handful of busy
/// tenants make most requests.
///
/// ```
/// use hydronet_benches::KeyMix;
///
/// let mix = KeyMix::new(1_000, 10, 0.9).draws(10_000, 7);
/// let hot = mix.iter().filter(|&&i| i < 10).count();
/// assert!((8_500..9_500).contains(&hot), "{hot}");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct KeyMix {
    len: usize,
    hot: usize,
    hot_share: f64,
}

impl KeyMix {
    /// Indices into `0..len`; the first `hot` of them take `hot_share` (0 to 1) of the draws.
    pub fn new(len: usize, hot: usize, hot_share: f64) -> Self {
        assert!(
            len > 0 && hot <= len,
            "hot indices must be a subset of a non-empty range"
        );
        Self {
            len,
            hot,
            hot_share: hot_share.clamp(0.0, 1.0),
        }
    }

    /// `count` draws from a generator seeded with `seed`.
    pub fn draws(self, count: usize, seed: u64) -> Vec<usize> {
        let mut rng = SplitMix64(seed);
        (0..count)
            .map(|_| {
                let coin = rng.unit();
                if self.hot > 0 && coin < self.hot_share {
                    rng.below(self.hot)
                } else {
                    rng.below(self.len)
                }
            })
            .collect()
    }
}

/// Every index of `0..len` once, in a reproducible shuffled order.
pub fn shuffled(len: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix64(seed);
    let mut order: Vec<usize> = (0..len).collect();
    for i in (1..len).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order
}

/// SplitMix64: tiny, fast and good enough to pick keys; not for anything secret.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (the modulo bias is negligible for bench-sized `n`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The built-in role every fixture user holds.
const MEMBER: &str = "member";

/// Loads an RBAC store with `users` role assignments, `users_per_tenant` to a tenant,
/// roles in rotation, straight through the adapter (one compile, not one per user).
/// Returns the store and every `(tenant, user)` pair in assignment order.
pub async fn loaded_rbac(
    users: usize,
    users_per_tenant: usize,
    roles: &[&str],
) -> (Rbac, Vec<(TenantId, UserId)>) {
    let mut adapter = MemoryAdapter::default();
    let mut keys = Vec::with_capacity(users);
    let mut tenant = TenantId::new();
    for i in 0..users {
        if i % users_per_tenant.max(1) == 0 {
            tenant = TenantId::new();
        }
        let user = UserId::new();
        let rule = vec![
            format!("u:{user}"),
            roles[i % roles.len()].to_owned(),
            tenant.to_string(),
        ];
        adapter
            .add_policy("g", "g", rule)
            .await
            .expect("the memory adapter accepts any rule");
        keys.push((tenant, user));
    }
    let rbac = Rbac::new(adapter)
        .await
        .expect("the memory adapter cannot fail");
    (rbac, keys)
}

/// An [`AuditSink`] that only counts: the audit layer's own work, without storage.
#[derive(Debug, Default)]
pub struct CountingSink {
    recorded: AtomicU64,
}

impl CountingSink {
    /// How many events were recorded.
    pub fn recorded(&self) -> u64 {
        self.recorded.load(Ordering::Relaxed)
    }
}

impl AuditSink for CountingSink {
    fn record(&self, event: AuditEvent) -> RecordFuture<'_> {
        drop(event);
        self.recorded.fetch_add(1, Ordering::Relaxed);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Everything [`full_stack`] needs: an HS256 codec on a frozen clock, an RBAC store in
/// which every user is a `member` of their tenant, an in-process rate limiter with limits
/// high enough never to refuse, an empty revocation list, and a counting audit sink; plus
/// a bearer header for each user.
#[derive(Debug)]
pub struct StackFixture {
    codec: JwtCodec,
    rbac: Arc<Rbac>,
    limiter: Arc<LocalLimiter>,
    revocations: Arc<RevocationList>,
    sink: Arc<CountingSink>,
    bearers: Vec<String>,
}

impl StackFixture {
    /// `tenants` tenants of `users_per_tenant` signed-in members each.
    pub async fn new(tenants: usize, users_per_tenant: usize) -> Self {
        let (codec, _) = hs256_fixture();
        let (rbac, keys) =
            loaded_rbac(tenants * users_per_tenant, users_per_tenant, &[MEMBER]).await;
        let bearers = keys
            .iter()
            .map(|&(tenant, user)| format!("Bearer {}", issue(&codec, tenant, user)))
            .collect();
        Self {
            codec,
            rbac: Arc::new(rbac),
            limiter: Arc::new(LocalLimiter::new()),
            revocations: Arc::new(RevocationList::new()),
            sink: Arc::new(CountingSink::default()),
            bearers,
        }
    }

    /// The `Authorization` header value of user `i` (wrapping around).
    pub fn bearer(&self, i: usize) -> &str {
        &self.bearers[i % self.bearers.len()]
    }

    /// The codec that issued the fixture's tokens and verifies them in [`full_stack`].
    pub fn codec(&self) -> &JwtCodec {
        &self.codec
    }

    /// How many signed-in users there are.
    pub fn users(&self) -> usize {
        self.bearers.len()
    }

    /// The counting audit sink, for [`full_stack`].
    pub fn sink(&self) -> Arc<CountingSink> {
        self.sink.clone()
    }
}

/// Plan limits so high that the limiter never refuses, whatever the request rate, so a
/// benchmark always does the work of an admitted request. Only `Pro` (the plan fixture
/// tokens carry) is raised.
pub fn unlimited_plans() -> PlanCatalog {
    let mut catalog = PlanCatalog::default();
    let mut limits = Plan::Pro.limits();
    limits.requests_per_minute = 1_000_000_000;
    limits.user_requests_per_minute = 1_000_000_000;
    catalog.set(Plan::Pro, limits);
    catalog
}

/// Puts the server's layer stack in front of `routes`, assembled as
/// `hydronet-saas`'s `app::router` does, minus the database-backed parts (API keys, tenant
/// gate, usage counting).
///
/// Outermost first: set `x-request-id`, a tracing span per request, echo the request id;
/// then, as route layers: audit into `sink`, authenticate (HS256 JWT and the revocation
/// list), rate-limit by plan ([`LocalLimiter`]), authorize against `permissions`. Every
/// route in `routes` must be in `permissions`, or it answers 403.
pub fn full_stack<K: AuditSink>(
    routes: Router,
    permissions: RoutePermissions,
    fixture: &StackFixture,
    sink: Arc<K>,
) -> Router {
    let auth = AuthLayer::new(fixture.codec.clone()).revocations(fixture.revocations.clone());
    let rates = PlanRates::new(unlimited_plans());

    let routes = routes
        .route_layer(AuthorizeLayer::new(fixture.rbac.clone(), permissions))
        .route_layer(RateLimitLayer::with_policy(fixture.limiter.clone(), rates))
        .route_layer(auth)
        .route_layer(AuditLayer::new(sink, AuditPolicy::new()));
    with_request_id_and_trace(routes)
}

/// The outer part of [`full_stack`] alone: set `x-request-id` (a random UUID), open the
/// request's tracing span, and echo the id on the response.
pub fn with_request_id_and_trace(routes: Router) -> Router {
    routes.layer(
        tower::ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(TraceLayer::new_for_http().make_span_with(request_span))
            .layer(PropagateRequestIdLayer::x_request_id()),
    )
}

/// The server's request span: method, path (never the query) and request id.
fn request_span<B>(request: &http::Request<B>) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
    )
}
