//! The whole layer stack in process: request id, trace span, audit, authentication (HS256),
//! rate limit and authorization in front of a trivial handler, against the same router bare.
//!
//! - `stack/bare`: the router alone;
//! - `stack/ids_trace`: only the outer layers (request id, trace span, id echoed);
//! - `stack/full`: an API write (`POST`), which the audit layer records;
//! - `stack/full_read`: a plain read (`GET`), which it does not.
//!
//! Requests come from 1,000 members of 100 tenants, ten hot tenants making 90% of them. No
//! tracing subscriber is installed, so spans cost what they cost when disabled.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Method, Request, StatusCode};
use hydronet_benches::{KeyMix, StackFixture, full_stack, with_request_id_and_trace};
use hydronet_tenancy::rbac::{Permission, RoutePermissions};
use tower::ServiceExt;

const PATH: &str = "/api/things";
const USERS_PER_TENANT: usize = 10;

fn routes() -> (Router, RoutePermissions) {
    let router = Router::new().route(PATH, get(|| async { "ok" }).post(|| async { "ok" }));
    let permissions = RoutePermissions::new()
        .route(Method::GET, PATH, Permission::ConversationsRead)
        .route(Method::POST, PATH, Permission::ConversationsWrite);
    (router, permissions)
}

fn request(method: Method, bearer: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(PATH)
        .header("authorization", bearer)
        .header("user-agent", "hydronet-bench/0.1")
        .body(Body::empty())
        .unwrap()
}

fn stack(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fixture = runtime.block_on(StackFixture::new(100, USERS_PER_TENANT));
    let (bare, permissions) = routes();
    // `with_state` turns each router into the service a server runs, its route layers
    // applied once; a router used as a service directly re-applies them per request.
    let full = full_stack(bare.clone(), permissions, &fixture, fixture.sink()).with_state(());
    let outer = with_request_id_and_trace(bare.clone()).with_state(());
    let bare = bare.with_state(());
    // Hot tenants' users are the first ones: draw tenants, then a member of each.
    let order: Vec<usize> = KeyMix::new(fixture.users() / USERS_PER_TENANT, 10, 0.9)
        .draws(1 << 12, 3)
        .into_iter()
        .enumerate()
        .map(|(i, tenant)| tenant * USERS_PER_TENANT + i % USERS_PER_TENANT)
        .collect();

    // The stack must admit members, refuse strangers, audit writes and echo the request id.
    runtime.block_on(async {
        let admitted = full
            .clone()
            .oneshot(request(Method::POST, fixture.bearer(0)))
            .await
            .unwrap();
        assert_eq!(admitted.status(), StatusCode::OK);
        assert!(admitted.headers().contains_key("x-request-id"));
        assert_eq!(fixture.sink().recorded(), 1);
        let stranger = full
            .clone()
            .oneshot(request(Method::POST, "Bearer nope"))
            .await
            .unwrap();
        assert_eq!(stranger.status(), StatusCode::UNAUTHORIZED);
    });

    let mut group = c.benchmark_group("stack");
    let mut i = 0usize;
    for (name, router, method) in [
        ("bare", &bare, Method::POST),
        ("ids_trace", &outer, Method::POST),
        ("full", &full, Method::POST),
        ("full_read", &full, Method::GET),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| {
                i = (i + 1) % order.len();
                let request = request(method.clone(), fixture.bearer(order[i]));
                router.clone().oneshot(request)
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = stack
}
criterion_main!(benches);
