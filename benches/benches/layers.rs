//! The authentication layer's cost: JWT verification alone (HS256 and EdDSA), and a
//! request through the layer compared with the same handler bare.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use hydronet_benches::{eddsa_fixture, hs256_fixture};
use hydronet_tenancy::auth::AuthLayer;
use hydronet_tenancy::revocation::RevocationList;
use tower::{Layer, Service, ServiceExt, service_fn};

fn jwt(c: &mut Criterion) {
    let mut group = c.benchmark_group("jwt");
    for (name, (codec, token)) in [
        ("verify_hs256", hs256_fixture()),
        ("verify_eddsa", eddsa_fixture()),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| codec.verify_access(black_box(&token)).unwrap())
        });
    }
    group.finish();
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

    // A valid token must be admitted, or the bench measures refusals.
    let request = Request::get("/")
        .header("authorization", &bearer)
        .body(String::new())
        .unwrap();
    let response = runtime.block_on(layered.clone().oneshot(request)).unwrap();
    assert_eq!(response.status(), http::StatusCode::OK);

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

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = jwt, auth_layer
}
criterion_main!(benches);
