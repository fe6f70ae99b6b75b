//! The tower layer that applies rate limits to authenticated requests.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hydronet_core::{Plan, PlanCatalog, PlanLimits, Principal, Problem, TenantContext, TenantId};
use tower::{Layer, Service};

use super::{Decision, Rate, RateLimiter};
use crate::routing::route_template;

/// The limits that apply to one request.
pub trait RatePolicy: Send + Sync + 'static {
    /// Each limit as a policy name (shown in the `RateLimit` headers), a limiter key and a
    /// rate; and the request's cost in units.
    fn limits<B>(
        &self,
        ctx: &TenantContext,
        req: &Request<B>,
    ) -> (Vec<(&'static str, String, Rate)>, u32);
}

/// Where a tenant's limits come from: a [`PlanCatalog`], or anything that also knows
/// per-tenant overrides.
pub trait LimitsSource: Send + Sync + 'static {
    /// The limits that apply to `tenant` on `plan`.
    fn limits_for(&self, tenant: TenantId, plan: Plan) -> PlanLimits;
}

impl LimitsSource for PlanCatalog {
    fn limits_for(&self, _tenant: TenantId, plan: Plan) -> PlanLimits {
        self.limits(plan)
    }
}

impl<S: LimitsSource> LimitsSource for Arc<S> {
    fn limits_for(&self, tenant: TenantId, plan: Plan) -> PlanLimits {
        (**self).limits_for(tenant, plan)
    }
}

/// Per tenant and per principal (user or API key), from the tenant's limits: the tenant
/// may make `requests_per_minute` requests a minute, each user or key
/// `user_requests_per_minute`. Every request costs one unit.
///
/// A route may cost more than one unit:
///
/// ```
/// use http::{Method, Request};
/// use hydronet_core::{Plan, PlanCatalog, Principal, TenantContext, TenantId, UserId};
/// use hydronet_tenancy::quota::{PlanRates, RatePolicy};
///
/// let rates = PlanRates::new(PlanCatalog::default()).cost(Method::POST, "/api/chat", 5);
/// let ctx = TenantContext::new(TenantId::new(), Principal::User(UserId::new()), Plan::Free);
/// let chat = Request::post("/api/chat").body(()).unwrap();
/// assert_eq!(rates.limits(&ctx, &chat).1, 5);
/// let other = Request::get("/api/chat").body(()).unwrap();
/// assert_eq!(rates.limits(&ctx, &other).1, 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct PlanRates<S = PlanCatalog> {
    source: S,
    costs: Vec<(Method, Box<str>, u32)>,
}

impl<S: LimitsSource> PlanRates<S> {
    /// Rates from `source`. The default reads the built-in plan limits.
    pub fn new(source: S) -> Self {
        Self {
            source,
            costs: Vec::new(),
        }
    }

    /// Makes `method` on the route `template` cost `units` (default one).
    pub fn cost(mut self, method: Method, template: &str, units: u32) -> Self {
        self.costs.push((method, template.into(), units));
        self
    }

    fn cost_of<B>(&self, req: &Request<B>) -> u32 {
        let template = route_template(req);
        self.costs
            .iter()
            .find(|(method, path, _)| method == req.method() && **path == *template)
            .map_or(1, |(_, _, units)| *units)
    }
}

impl<S: LimitsSource> RatePolicy for PlanRates<S> {
    fn limits<B>(
        &self,
        ctx: &TenantContext,
        req: &Request<B>,
    ) -> (Vec<(&'static str, String, Rate)>, u32) {
        let limits = self.source.limits_for(ctx.tenant_id(), ctx.plan());
        let principal = match ctx.principal() {
            Principal::User(user) => format!("u:{user}"),
            Principal::ApiKey(key) => format!("k:{key}"),
        };
        let tenant = format!("t:{}", ctx.tenant_id());
        let rates = vec![
            (
                "tenant",
                tenant,
                Rate::per_minute(limits.requests_per_minute),
            ),
            (
                "principal",
                principal,
                Rate::per_minute(limits.user_requests_per_minute),
            ),
        ];
        (rates, self.cost_of(req))
    }
}

/// Applies [`RateLimit`] to a service. Cloning is cheap.
#[derive(Debug)]
pub struct RateLimitLayer<L, P = PlanRates> {
    limiter: Arc<L>,
    policy: Arc<P>,
}

impl<L, P> Clone for RateLimitLayer<L, P> {
    fn clone(&self) -> Self {
        Self {
            limiter: self.limiter.clone(),
            policy: self.policy.clone(),
        }
    }
}

impl<L: RateLimiter> RateLimitLayer<L> {
    /// Limits by the tenant's plan ([`PlanRates`]) with `limiter`.
    pub fn new(limiter: Arc<L>) -> Self {
        Self::with_policy(limiter, PlanRates::new(PlanCatalog::default()))
    }
}

impl<L: RateLimiter, P: RatePolicy> RateLimitLayer<L, P> {
    /// Limits by `policy` with `limiter`.
    pub fn with_policy(limiter: Arc<L>, policy: P) -> Self {
        Self {
            limiter,
            policy: Arc::new(policy),
        }
    }
}

impl<S, L, P> Layer<S> for RateLimitLayer<L, P> {
    type Service = RateLimit<S, L, P>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            limiter: self.limiter.clone(),
            policy: self.policy.clone(),
        }
    }
}

/// Checks every limit of a request before passing it on.
///
/// Over a limit: `429` problem (`rate_limited`) with `Retry-After`. Limiter unavailable
/// while failing closed: `503`. Every answer carries `RateLimit-Policy` and `RateLimit`
/// headers describing the most constrained limit. Requests without a
/// [`TenantContext`] pass untouched: put this layer after authentication. With the
/// `metrics` feature, every decision is counted by plan in
/// `hydronet_rate_limit_decisions_total`.
#[derive(Debug)]
pub struct RateLimit<S, L, P> {
    inner: S,
    limiter: Arc<L>,
    policy: Arc<P>,
}

impl<S: Clone, L, P> Clone for RateLimit<S, L, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
            policy: self.policy.clone(),
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, L, P, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimit<S, L, P>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    L: RateLimiter,
    P: RatePolicy,
    ReqBody: Send + 'static,
    ResBody: From<String>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The clone is ready only if polled; swap so the ready one serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let Some(ctx) = req.extensions().get::<TenantContext>().cloned() else {
            return Box::pin(inner.call(req));
        };
        let (limits, cost) = self.policy.limits(&ctx, &req);
        let limiter = self.limiter.clone();

        Box::pin(async move {
            let mut tightest: Option<(&'static str, Decision)> = None;
            for (name, key, rate) in &limits {
                let decision = match limiter.check(key, *rate, cost).await {
                    Ok(decision) => decision,
                    Err(err) => {
                        tracing::error!(error = %err, "rate limiter unavailable; refusing");
                        #[cfg(feature = "metrics")]
                        crate::metrics::rate_limit_decision("error", ctx.plan());
                        let problem =
                            Problem::unavailable("Rate limiting is unavailable; retry shortly.");
                        return Ok(problem.to_response());
                    }
                };
                if !decision.allowed {
                    tracing::debug!(tenant_id = %ctx.tenant_id(), limit = name, "rate limited");
                    #[cfg(feature = "metrics")]
                    crate::metrics::rate_limit_decision("limited", ctx.plan());
                    let mut response = Problem::too_many_requests().to_response();
                    set_headers(&mut response, &limits, name, &decision);
                    return Ok(response);
                }
                if tightest.is_none_or(|(_, t)| decision.remaining < t.remaining) {
                    tightest = Some((name, decision));
                }
            }

            #[cfg(feature = "metrics")]
            crate::metrics::rate_limit_decision("allowed", ctx.plan());
            let mut response = inner.call(req).await?;
            if let Some((name, decision)) = tightest {
                set_headers(&mut response, &limits, name, &decision);
            }
            Ok(response)
        })
    }
}

fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// `RateLimit-Policy` lists every limit; `RateLimit` reports the one named `name`
/// (IETF draft "RateLimit header fields for HTTP"); `Retry-After` when denied.
fn set_headers<B>(
    response: &mut Response<B>,
    limits: &[(&'static str, String, Rate)],
    name: &str,
    decision: &Decision,
) {
    let policies: Vec<String> = limits
        .iter()
        .map(|(n, _, rate)| {
            format!(
                "\"{n}\";q={};w={}",
                rate.limit,
                rate.period.as_secs().max(1)
            )
        })
        .collect();
    let current = format!(
        "\"{name}\";r={};t={}",
        decision.remaining,
        ceil_secs(decision.reset_after)
    );
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&policies.join(", ")) {
        headers.insert("ratelimit-policy", value);
    }
    if let Ok(value) = HeaderValue::from_str(&current) {
        headers.insert("ratelimit", value);
    }
    if let Some(wait) = decision.retry_after {
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from(ceil_secs(wait).max(1)),
        );
    }
    debug_assert!(response.status() != StatusCode::OK || decision.allowed);
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use hydronet_core::{ManualClock, Plan, TenantId, UserId};
    use tower::{ServiceExt, service_fn};

    use super::*;
    use crate::quota::LocalLimiter;

    fn service(
        limiter: Arc<LocalLimiter>,
    ) -> impl Service<Request<String>, Response = Response<String>, Error = Infallible> + Clone
    {
        RateLimitLayer::new(limiter).layer(service_fn(|_req: Request<String>| async {
            Ok::<_, Infallible>(Response::new("ok".to_owned()))
        }))
    }

    fn request(ctx: &TenantContext) -> Request<String> {
        let mut req = Request::get("/").body(String::new()).unwrap();
        req.extensions_mut().insert(ctx.clone());
        req
    }

    #[tokio::test]
    async fn allows_within_the_plan_then_429_with_headers() {
        let clock = ManualClock::at_secs(1_000);
        let limiter = Arc::new(LocalLimiter::with_clock(Arc::new(clock.clone())));
        let ctx = TenantContext::new(TenantId::new(), Principal::User(UserId::new()), Plan::Free);
        let per_user = Plan::Free.limits().user_requests_per_minute;

        for i in 0..per_user {
            let response = service(limiter.clone())
                .oneshot(request(&ctx))
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "request {i}");
            let policy = response.headers()["ratelimit-policy"].to_str().unwrap();
            assert!(policy.contains("\"tenant\";q=60;w=60"), "{policy}");
        }
        let denied = service(limiter.clone())
            .oneshot(request(&ctx))
            .await
            .unwrap();
        assert_eq!(denied.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(denied.body().contains("rate_limited"));
        assert_eq!(denied.headers()[header::RETRY_AFTER], "2");
        assert_eq!(denied.headers()["ratelimit"], "\"principal\";r=0;t=60");

        clock.advance_secs(2);
        let again = service(limiter).oneshot(request(&ctx)).await.unwrap();
        assert_eq!(again.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn the_tenant_limit_binds_across_users() {
        let limiter = Arc::new(LocalLimiter::with_clock(Arc::new(ManualClock::at_secs(0))));
        let tenant = TenantId::new();
        let mut statuses = Vec::new();
        for _ in 0..70 {
            let ctx = TenantContext::new(tenant, Principal::User(UserId::new()), Plan::Free);
            statuses.push(
                service(limiter.clone())
                    .oneshot(request(&ctx))
                    .await
                    .unwrap()
                    .status(),
            );
        }
        let allowed = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(
            allowed,
            usize::try_from(Plan::Free.limits().requests_per_minute).unwrap()
        );
    }

    #[tokio::test]
    async fn a_configured_catalog_sets_the_rates() {
        let mut catalog = PlanCatalog::default();
        let mut free = Plan::Free.limits();
        free.user_requests_per_minute = 2;
        catalog.set(Plan::Free, free);
        let limiter = Arc::new(LocalLimiter::with_clock(Arc::new(ManualClock::at_secs(0))));
        let layer = RateLimitLayer::with_policy(limiter, PlanRates::new(catalog));
        let service = layer.layer(service_fn(|_req: Request<String>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        }));
        let ctx = TenantContext::new(TenantId::new(), Principal::User(UserId::new()), Plan::Free);

        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(
                service
                    .clone()
                    .oneshot(request(&ctx))
                    .await
                    .unwrap()
                    .status(),
            );
        }
        assert_eq!(
            statuses,
            [
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::TOO_MANY_REQUESTS
            ]
        );
    }

    #[cfg(feature = "metrics")]
    #[tokio::test]
    async fn decisions_are_counted_by_outcome_and_plan() {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};

        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        // The runtime of this test has one thread, so the layer's futures see it.
        let _guard = metrics::set_default_local_recorder(&recorder);
        let limiter = Arc::new(LocalLimiter::with_clock(Arc::new(ManualClock::at_secs(0))));
        let ctx = TenantContext::new(TenantId::new(), Principal::User(UserId::new()), Plan::Pro);

        let per_user = Plan::Pro.limits().user_requests_per_minute;
        for _ in 0..=per_user {
            service(limiter.clone())
                .oneshot(request(&ctx))
                .await
                .unwrap();
        }

        let mut counts = std::collections::HashMap::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            assert_eq!(key.name(), crate::metrics::RATE_LIMIT_DECISIONS);
            let labels: Vec<_> = key.labels().map(|l| (l.key(), l.value())).collect();
            assert!(labels.contains(&("plan", "pro")), "{labels:?}");
            let decision = labels.iter().find(|(k, _)| *k == "decision").unwrap().1;
            let DebugValue::Counter(n) = value else {
                panic!("not a counter")
            };
            counts.insert(decision.to_owned(), n);
        }
        assert_eq!(counts["allowed"], u64::from(per_user));
        assert_eq!(counts["limited"], 1);
        assert!(!counts.contains_key("error"));
    }

    #[tokio::test]
    async fn anonymous_requests_pass_untouched() {
        let limiter = Arc::new(LocalLimiter::new());
        let response = service(limiter)
            .oneshot(Request::get("/").body(String::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!response.headers().contains_key("ratelimit"));
    }
}
