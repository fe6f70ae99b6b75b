//! The tower layer that applies rate limits to authenticated requests.

use std::fmt::{self, Write as _};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, Request, Response, header};
use hydronet_core::{Plan, PlanCatalog, PlanLimits, Principal, Problem, TenantContext, TenantId};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::{Decision, LimiterError, Rate, RateLimiter};
use crate::routing::route_template;

/// The limits that apply to one request.
pub trait RatePolicy: Send + Sync + 'static {
    /// Each limit the request is checked against, in order, and the request's cost in
    /// units.
    fn limits<B>(&self, ctx: &TenantContext, req: &Request<B>) -> (Limits, u32);
}

/// A limiter key, formatted in place: keys up to 62 bytes (a prefix and a UUID fit
/// easily) never touch the heap.
///
/// ```
/// use hydronet_tenancy::quota::LimitKey;
///
/// let key = LimitKey::new(format_args!("t:{}", 42));
/// assert_eq!(key.as_str(), "t:42");
/// let long = LimitKey::new(format_args!("{}", "x".repeat(100)));
/// assert_eq!(long.as_str().len(), 100);
/// ```
#[derive(Clone)]
pub struct LimitKey(KeyRepr);

#[derive(Clone)]
enum KeyRepr {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Box<str>),
}

const INLINE_KEY: usize = 62;

impl LimitKey {
    /// The key `args` formats to.
    pub fn new(args: fmt::Arguments<'_>) -> Self {
        let mut key = Self(KeyRepr::Inline {
            len: 0,
            bytes: [0; INLINE_KEY],
        });
        key.write_fmt(args)
            .expect("formatting into a LimitKey cannot fail");
        key
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            KeyRepr::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)])
                .expect("only whole strs are written"),
            KeyRepr::Heap(key) => key,
        }
    }
}

impl fmt::Write for LimitKey {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        match &mut self.0 {
            KeyRepr::Inline { len, bytes } => {
                let at = usize::from(*len);
                match bytes.get_mut(at..at + s.len()) {
                    Some(room) => {
                        room.copy_from_slice(s.as_bytes());
                        *len = u8::try_from(at + s.len()).expect("INLINE_KEY fits in u8");
                    }
                    None => {
                        let mut spilled = String::with_capacity(at + s.len());
                        spilled
                            .push_str(std::str::from_utf8(&bytes[..at]).map_err(|_| fmt::Error)?);
                        spilled.push_str(s);
                        self.0 = KeyRepr::Heap(spilled.into_boxed_str());
                    }
                }
            }
            KeyRepr::Heap(key) => {
                let mut grown = String::from(std::mem::take(key));
                grown.push_str(s);
                *key = grown.into_boxed_str();
            }
        }
        Ok(())
    }
}

impl fmt::Debug for LimitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// One limit a request is checked against.
#[derive(Debug, Clone)]
pub struct Limit {
    /// The policy name shown in the `RateLimit` headers.
    pub name: &'static str,
    /// What is counted: a tenant, a user, a key.
    pub key: LimitKey,
    /// How fast.
    pub rate: Rate,
}

/// The limits of one request: two are kept inline, more spill to the heap.
///
/// ```
/// use hydronet_tenancy::quota::{Limit, LimitKey, Limits, Rate};
///
/// let mut limits = Limits::new();
/// for name in ["tenant", "principal", "route"] {
///     let key = LimitKey::new(format_args!("{name}:1"));
///     limits.push(Limit { name, key, rate: Rate::per_minute(60) });
/// }
/// let names: Vec<_> = limits.iter().map(|l| l.name).collect();
/// assert_eq!(names, ["tenant", "principal", "route"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Limits {
    inline: [Option<Limit>; 2],
    more: Vec<Limit>,
}

impl Limits {
    /// No limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `limit` after the others.
    pub fn push(&mut self, limit: Limit) {
        match self.inline.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(limit),
            None => self.more.push(limit),
        }
    }

    /// The limits in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = &Limit> {
        self.inline.iter().flatten().chain(&self.more)
    }

    /// How many limits there are.
    pub fn len(&self) -> usize {
        self.inline.iter().flatten().count() + self.more.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, i: usize) -> Option<&Limit> {
        self.iter().nth(i)
    }
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
    fn limits<B>(&self, ctx: &TenantContext, req: &Request<B>) -> (Limits, u32) {
        let limits = self.source.limits_for(ctx.tenant_id(), ctx.plan());
        let principal = match ctx.principal() {
            Principal::User(user) => LimitKey::new(format_args!("u:{user}")),
            Principal::ApiKey(key) => LimitKey::new(format_args!("k:{key}")),
        };
        let mut rates = Limits::new();
        rates.push(Limit {
            name: "tenant",
            key: LimitKey::new(format_args!("t:{}", ctx.tenant_id())),
            rate: Rate::per_minute(limits.requests_per_minute),
        });
        rates.push(Limit {
            name: "principal",
            key: principal,
            rate: Rate::per_minute(limits.user_requests_per_minute),
        });
        (rates, self.cost_of(req))
    }
}

/// Applies [`RateLimit`] to a service. Cloning is cheap.
#[derive(Debug)]
pub struct RateLimitLayer<L, P = PlanRates> {
    limiter: Arc<L>,
    policy: Arc<P>,
    policy_values: Arc<PolicyValues>,
}

impl<L, P> Clone for RateLimitLayer<L, P> {
    fn clone(&self) -> Self {
        Self {
            limiter: self.limiter.clone(),
            policy: self.policy.clone(),
            policy_values: self.policy_values.clone(),
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
            policy_values: Arc::default(),
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
            policy_values: self.policy_values.clone(),
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
    policy_values: Arc<PolicyValues>,
}

impl<S: Clone, L, P> Clone for RateLimit<S, L, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
            policy: self.policy.clone(),
            policy_values: self.policy_values.clone(),
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
    type Future = RateLimitFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let Some(ctx) = req.extensions().get::<TenantContext>() else {
            return RateLimitFuture::admitted(self.inner.call(req), None);
        };
        let (limits, cost) = self.policy.limits(ctx, &req);

        // In-process backends decide here, without a future of their own.
        let mut decisions = Decisions::new(ctx);
        let mut checked = 0;
        while let Some(limit) = limits.get(checked) {
            let Some(result) = self
                .limiter
                .check_sync(limit.key.as_str(), limit.rate, cost)
            else {
                break;
            };
            if let Some(refusal) = decisions.add(limit.name, result, &limits, &self.policy_values) {
                return RateLimitFuture::refused(refusal);
            }
            checked += 1;
        }
        if checked == limits.len() {
            let headers = decisions.admit(&limits, &self.policy_values);
            return RateLimitFuture::admitted(self.inner.call(req), headers);
        }

        // The rest waits on the backend.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let limiter = self.limiter.clone();
        let policy_values = self.policy_values.clone();
        RateLimitFuture::boxed(Box::pin(async move {
            for limit in limits.iter().skip(checked) {
                let result = limiter.check(limit.key.as_str(), limit.rate, cost).await;
                if let Some(refusal) = decisions.add(limit.name, result, &limits, &policy_values) {
                    return Ok(refusal);
                }
            }
            let headers = decisions.admit(&limits, &policy_values);
            let mut response = inner.call(req).await?;
            if let Some(headers) = headers {
                headers.apply(&mut response);
            }
            Ok(response)
        }))
    }
}

/// The decisions on one request so far, and the most constrained of them.
struct Decisions {
    tenant: TenantId,
    /// The metrics' label.
    #[cfg(feature = "metrics")]
    plan: Plan,
    tightest: Option<(&'static str, Decision)>,
}

impl Decisions {
    fn new(ctx: &TenantContext) -> Self {
        Self {
            tenant: ctx.tenant_id(),
            #[cfg(feature = "metrics")]
            plan: ctx.plan(),
            tightest: None,
        }
    }

    /// Takes one limit's decision; the response to send at once when it refuses.
    fn add<B: From<String>>(
        &mut self,
        name: &'static str,
        result: Result<Decision, LimiterError>,
        limits: &Limits,
        policies: &PolicyValues,
    ) -> Option<Response<B>> {
        let decision = match result {
            Ok(decision) => decision,
            Err(err) => {
                tracing::error!(error = %err, "rate limiter unavailable; refusing");
                #[cfg(feature = "metrics")]
                crate::metrics::rate_limit_decision("error", self.plan);
                let problem = Problem::unavailable("Rate limiting is unavailable; retry shortly.");
                return Some(problem.to_response());
            }
        };
        if !decision.allowed {
            tracing::debug!(tenant_id = %self.tenant, limit = name, "rate limited");
            #[cfg(feature = "metrics")]
            crate::metrics::rate_limit_decision("limited", self.plan);
            let mut response = Problem::too_many_requests().to_response();
            RateHeaders::new(policies, limits, name, &decision).apply(&mut response);
            return Some(response);
        }
        if self
            .tightest
            .is_none_or(|(_, t)| decision.remaining < t.remaining)
        {
            self.tightest = Some((name, decision));
        }
        None
    }

    /// Every limit admitted the request: the headers its response carries.
    fn admit(self, limits: &Limits, policies: &PolicyValues) -> Option<RateHeaders> {
        #[cfg(feature = "metrics")]
        crate::metrics::rate_limit_decision("allowed", self.plan);
        let (name, decision) = self.tightest?;
        Some(RateHeaders::new(policies, limits, name, &decision))
    }
}

pin_project! {
    /// The response future of [`RateLimit`]: the inner service's future (decided in
    /// process), an immediate refusal, or the wait on a remote backend.
    pub struct RateLimitFuture<F: Future, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProjection]
    enum Kind<F: Future, B> {
        Admitted { #[pin] future: F, headers: Option<RateHeaders> },
        Refused { response: Option<Response<B>> },
        Boxed { future: BoxFuture<F::Output> },
    }
}

impl<F: Future, B> RateLimitFuture<F, B> {
    fn admitted(future: F, headers: Option<RateHeaders>) -> Self {
        Self {
            kind: Kind::Admitted { future, headers },
        }
    }

    fn refused(response: Response<B>) -> Self {
        Self {
            kind: Kind::Refused {
                response: Some(response),
            },
        }
    }

    fn boxed(future: BoxFuture<F::Output>) -> Self {
        Self {
            kind: Kind::Boxed { future },
        }
    }
}

impl<F, B, E> Future for RateLimitFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProjection::Admitted { future, headers } => {
                let mut response = std::task::ready!(future.poll(cx))?;
                if let Some(headers) = headers.take() {
                    headers.apply(&mut response);
                }
                Poll::Ready(Ok(response))
            }
            KindProjection::Refused { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
            KindProjection::Boxed { future } => future.as_mut().poll(cx),
        }
    }
}

fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// `RateLimit-Policy`, the limits that apply (IETF draft `ratelimit-headers`).
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`, what is left of the limit that decided.
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// How many distinct sets of limits have their `RateLimit-Policy` value kept.
const POLICY_SLOTS: usize = 16;

/// What a `RateLimit-Policy` value says of one limit: its name, quota and window.
type PolicyTerm = (&'static str, u32, u64);

/// `RateLimit-Policy` values already formatted, by the limits they describe. A deployment
/// has few distinct sets of limits (about one a plan), so the first [`POLICY_SLOTS`] are
/// kept and a later request with the same limits clones the value (a reference count)
/// instead of formatting it again; sets beyond those are formatted each time. Slots are
/// filled once and never change, so reading them takes no lock.
#[derive(Debug, Default)]
struct PolicyValues {
    slots: [OnceLock<(Box<[PolicyTerm]>, HeaderValue)>; POLICY_SLOTS],
}

impl PolicyValues {
    /// The `RateLimit-Policy` value of `limits`.
    fn value(&self, limits: &Limits) -> Option<HeaderValue> {
        let terms = || {
            limits
                .iter()
                .map(|l| (l.name, l.rate.limit, window(l.rate)))
        };
        for slot in &self.slots {
            match slot.get() {
                Some((kept, value)) if kept.iter().copied().eq(terms()) => {
                    return Some(value.clone());
                }
                Some(_) => {}
                None => {
                    let value = policy_value(terms())?;
                    // Another request may fill the slot first; then this value is simply
                    // not kept.
                    let _ = slot.set((terms().collect(), value.clone()));
                    return Some(value);
                }
            }
        }
        policy_value(terms())
    }
}

/// A limit's window in whole seconds, at least one.
fn window(rate: Rate) -> u64 {
    rate.period.as_secs().max(1)
}

fn policy_value(terms: impl Iterator<Item = PolicyTerm>) -> Option<HeaderValue> {
    let mut policy = String::with_capacity(96);
    for (i, (n, q, w)) in terms.enumerate() {
        let separator = if i == 0 { "" } else { ", " };
        let _ = write!(policy, "{separator}\"{n}\";q={q};w={w}");
    }
    HeaderValue::try_from(policy).ok()
}

/// `RateLimit-Policy` lists every limit; `RateLimit` reports the one named `name`
/// (IETF draft "RateLimit header fields for HTTP"); `Retry-After` when denied.
struct RateHeaders {
    policy: Option<HeaderValue>,
    current: Option<HeaderValue>,
    retry_after: Option<HeaderValue>,
}

impl RateHeaders {
    fn new(policies: &PolicyValues, limits: &Limits, name: &str, decision: &Decision) -> Self {
        let mut current = String::with_capacity(48);
        let _ = write!(
            current,
            "\"{name}\";r={};t={}",
            decision.remaining,
            ceil_secs(decision.reset_after)
        );
        Self {
            policy: policies.value(limits),
            current: HeaderValue::try_from(current).ok(),
            retry_after: decision
                .retry_after
                .map(|wait| HeaderValue::from(ceil_secs(wait).max(1))),
        }
    }

    fn apply<B>(self, response: &mut Response<B>) {
        let headers = response.headers_mut();
        if let Some(value) = self.policy {
            headers.insert(RATELIMIT_POLICY, value);
        }
        if let Some(value) = self.current {
            headers.insert(RATELIMIT, value);
        }
        if let Some(value) = self.retry_after {
            headers.insert(header::RETRY_AFTER, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::StatusCode;
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

    #[test]
    fn policy_values_are_kept_per_set_of_limits_and_stay_right_past_the_slots() {
        let set = |quota: u32| {
            let mut limits = Limits::new();
            for (name, q) in [("tenant", quota), ("user", quota / 2)] {
                limits.push(Limit {
                    name,
                    key: LimitKey::new(format_args!("{name}:{quota}")),
                    rate: Rate::per_minute(q),
                });
            }
            limits
        };
        let values = PolicyValues::default();
        for quota in (1..=2 * POLICY_SLOTS as u32).map(|n| n * 10) {
            let expected = format!("\"tenant\";q={quota};w=60, \"user\";q={};w=60", quota / 2);
            for _ in 0..2 {
                let value = values.value(&set(quota)).unwrap();
                assert_eq!(value.to_str().unwrap(), expected);
            }
        }
        assert!(values.slots.iter().all(|slot| slot.get().is_some()));
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

    /// A backend that only answers asynchronously, as a remote one does.
    struct Remote(LocalLimiter);

    impl RateLimiter for Remote {
        async fn check(&self, key: &str, rate: Rate, cost: u32) -> Result<Decision, LimiterError> {
            tokio::task::yield_now().await;
            Ok(self.0.check_now(key, rate, cost))
        }
    }

    #[tokio::test]
    async fn an_asynchronous_backend_decides_and_reports_alike() {
        let clock = Arc::new(ManualClock::at_secs(0));
        let local = Arc::new(LocalLimiter::with_clock(clock.clone()));
        let remote = Arc::new(Remote(LocalLimiter::with_clock(clock)));
        let (tenant, user) = (TenantId::new(), UserId::new());
        let ctx = TenantContext::new(tenant, Principal::User(user), Plan::Free);
        let ok = || {
            service_fn(|_req: Request<String>| async {
                Ok::<_, Infallible>(Response::new(String::new()))
            })
        };
        let local = RateLimitLayer::new(local).layer(ok());
        let remote = RateLimitLayer::new(remote).layer(ok());

        for _ in 0..=Plan::Free.limits().user_requests_per_minute {
            let a = local.clone().oneshot(request(&ctx)).await.unwrap();
            let b = remote.clone().oneshot(request(&ctx)).await.unwrap();
            assert_eq!(a.status(), b.status());
            for name in ["ratelimit", "ratelimit-policy", "retry-after"] {
                assert_eq!(a.headers().get(name), b.headers().get(name), "{name}");
            }
        }
        let last = remote.oneshot(request(&ctx)).await.unwrap();
        assert_eq!(last.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    #[test]
    fn long_keys_spill_to_the_heap_intact() {
        let mut key = LimitKey::new(format_args!("{}", "a".repeat(60)));
        key.write_str("bcd").unwrap();
        key.write_str("efg").unwrap();
        assert_eq!(key.as_str(), format!("{}bcdefg", "a".repeat(60)));
        let short = LimitKey::new(format_args!("t:{}", TenantId::from_uuid(uuid::Uuid::nil())));
        assert_eq!(short.as_str(), "t:00000000-0000-0000-0000-000000000000");
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
