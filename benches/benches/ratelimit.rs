//! Rate limiting: one in-process GCRA decision, the layer (two decisions, tenant and
//! principal, plus the policy's keys and headers) against the same handler bare, and,
//! when `HYDRONET_BENCH_REDIS_URL` is set, one decision in Redis.
//!
//! Keys follow a realistic mix: ten hot tenants make 90% of the requests, the rest are
//! spread over a thousand. Limits are high enough that every request is admitted.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode};
use hydronet_benches::{KeyMix, unlimited_plans};
use hydronet_core::{Plan, Principal, TenantContext, TenantId, UserId};
use hydronet_tenancy::bus::RedisBus;
use hydronet_tenancy::quota::{
    LocalLimiter, PlanRates, Rate, RateLimitLayer, RateLimiter, RedisLimiter,
};
use tower::{Layer, Service, ServiceExt, service_fn};

const TENANTS: usize = 1_000;
const RATE: Rate = Rate::per_minute(1_000_000_000);

/// One context per tenant, and the order in which requests pick them.
fn contexts() -> (Vec<TenantContext>, Vec<usize>) {
    let contexts = (0..TENANTS)
        .map(|_| TenantContext::new(TenantId::new(), Principal::User(UserId::new()), Plan::Pro))
        .collect();
    (contexts, KeyMix::new(TENANTS, 10, 0.9).draws(1 << 14, 5))
}

fn request(ctx: &TenantContext) -> Request<String> {
    let mut request = Request::get("/api/things").body(String::new()).unwrap();
    request.extensions_mut().insert(ctx.clone());
    request
}

fn local(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (contexts, order) = contexts();
    let keys: Vec<String> = contexts
        .iter()
        .map(|ctx| format!("t:{}", ctx.tenant_id()))
        .collect();
    let limiter = Arc::new(LocalLimiter::new());
    let handler = service_fn(|_req: Request<String>| async {
        Ok::<_, Infallible>(Response::new(String::from("ok")))
    });
    let layered = RateLimitLayer::with_policy(limiter.clone(), PlanRates::new(unlimited_plans()))
        .layer(handler);

    // The layer must admit and describe the limit, or the bench measures refusals.
    let response = runtime
        .block_on(layered.clone().oneshot(request(&contexts[0])))
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("ratelimit"));

    let mut group = c.benchmark_group("ratelimit/local");
    let mut i = 0usize;
    group.bench_function("check_now", |b| {
        b.iter(|| {
            i = (i + 1) % order.len();
            let decision = limiter.check_now(black_box(&keys[order[i]]), RATE, 1);
            assert!(decision.allowed);
        })
    });
    group.bench_function("bare", |b| {
        b.to_async(&runtime).iter(|| {
            i = (i + 1) % order.len();
            handler.oneshot(request(&contexts[order[i]]))
        })
    });
    group.bench_function("layer", |b| {
        b.to_async(&runtime).iter(|| {
            i = (i + 1) % order.len();
            let request = request(&contexts[order[i]]);
            let mut service = layered.clone();
            async move { service.call(request).await }
        })
    });
    group.finish();
}

fn redis(c: &mut Criterion) {
    let Some(url) = std::env::var("HYDRONET_BENCH_REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        println!("ratelimit/redis skipped: set HYDRONET_BENCH_REDIS_URL to run it");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _context = runtime.enter();
    let limiter = RedisLimiter::new(RedisBus::new(&url).expect("a valid Redis URL"))
        .prefix(format!("hn:bench:{}:", std::process::id()));
    let (contexts, order) = contexts();
    let keys: Vec<String> = contexts
        .iter()
        .map(|ctx| format!("t:{}", ctx.tenant_id()))
        .collect();
    let first = runtime.block_on(limiter.check(&keys[0], RATE, 1));
    assert!(first.expect("Redis answers").allowed);

    let mut group = c.benchmark_group("ratelimit/redis");
    let mut i = 0usize;
    group.bench_function("check", |b| {
        b.to_async(&runtime).iter(|| {
            i = (i + 1) % order.len();
            let key = &keys[order[i]];
            let limiter = &limiter;
            async move { assert!(limiter.check(key, RATE, 1).await.unwrap().allowed) }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = local, redis
}
criterion_main!(benches);
