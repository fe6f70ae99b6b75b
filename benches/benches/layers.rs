//! The authentication layer's cost: JWT verification alone, and a request through the
//! layer compared with the same handler bare.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use hydronet_benches::hs256_fixture;
use hydronet_tenancy::auth::AuthLayer;
use hydronet_tenancy::revocation::RevocationList;
use tower::{Layer, Service, ServiceExt, service_fn};

fn jwt(c: &mut Criterion) {
    let (codec, token) = hs256_fixture();
    c.bench_function("jwt/verify_hs256", |b| {
        b.iter(|| codec.verify_access(black_box(&token)).unwrap())
    });
}

fn auth_layer(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (codec, token) = hs256_fixture();
    let bearer = format!("Bearer {token}");
    let handler = service_fn(|_req: Request<String>| async {
        Ok::<_, Infallible>(Response::new(String::from("ok")))
    });
    let revocations = Arc::new(RevocationList::new());
    let layered = AuthLayer::new(codec)
        .revocations(revocations)
        .layer(handler);

    let mut group = c.benchmark_group("auth_layer");
    group.bench_function("bare_handler", |b| {
        b.to_async(&runtime).iter(|| {
            let request = Request::get("/")
                .header("authorization", &bearer)
                .body(String::new())
                .unwrap();
            handler.oneshot(request)
        })
    });
    group.bench_function("authenticated", |b| {
        b.to_async(&runtime).iter(|| {
            let request = Request::get("/")
                .header("authorization", &bearer)
                .body(String::new())
                .unwrap();
            let mut service = layered.clone();
            async move { service.call(request).await }
        })
    });
    group.finish();
}

criterion_group!(benches, jwt, auth_layer);
criterion_main!(benches);
