//! RBAC enforcement as requests see it: a lookup in the compiled snapshot, at 1k, 10k and
//! 100k role assignments spread over many tenants.
//!
//! - `rbac/warm/N`: a realistic key mix, where ten hot tenants make 90% of the checks and
//!   the rest are spread over every tenant; a few checks are for strangers (no roles).
//! - `rbac/cold/N`: every user once per pass, in shuffled order, so no check finds its
//!   entry among recently used ones (at 100k the snapshot is larger than the L2 cache).
//!   The store has no lazy cache to fill: the first check after a load does the same work.
//! - `rbac/reload/N`: what a policy change or a reload costs, which is when a new snapshot
//!   (and its cold lines) appears.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hydronet_benches::{KeyMix, loaded_rbac, shuffled};
use hydronet_core::{TenantId, UserId};
use hydronet_tenancy::rbac::{Permission, Rbac};

const ROLES: [&str; 4] = ["owner", "admin", "member", "auditor"];
const USERS_PER_TENANT: usize = 10;
const HOT_TENANTS: usize = 10;
const CHECKS: [Permission; 3] = [
    Permission::ConversationsWrite,
    Permission::AuditRead,
    Permission::UsersManage,
];

type Check = (TenantId, UserId, Permission);

/// The warm mix: tenants drawn hot-heavy, a user of that tenant (one in twenty a stranger),
/// a permission in rotation.
fn warm_checks(keys: &[(TenantId, UserId)]) -> Vec<Check> {
    let tenants = keys.len() / USERS_PER_TENANT;
    let draws = KeyMix::new(tenants, HOT_TENANTS.min(tenants), 0.9).draws(1 << 14, 11);
    draws
        .iter()
        .enumerate()
        .map(|(i, &tenant)| {
            let (tenant_id, user) = keys[tenant * USERS_PER_TENANT + i % USERS_PER_TENANT];
            let user = if i % 20 == 0 { UserId::new() } else { user };
            (tenant_id, user, CHECKS[i % CHECKS.len()])
        })
        .collect()
}

/// The cold sweep: every user once, shuffled.
fn cold_checks(keys: &[(TenantId, UserId)]) -> Vec<Check> {
    shuffled(keys.len(), 13)
        .into_iter()
        .enumerate()
        .map(|(i, k)| (keys[k].0, keys[k].1, CHECKS[i % CHECKS.len()]))
        .collect()
}

/// Fails the run if the snapshot disagrees with casbin's own matcher on a sample, or if
/// the mix is all allowed or all denied (the bench would then measure one path only).
fn check_fixture(runtime: &tokio::runtime::Runtime, rbac: &Rbac, checks: &[Check]) {
    let mut allowed = 0;
    for &(tenant, user, permission) in checks.iter().step_by(97).take(100) {
        let fast = rbac.allows(tenant, user, permission);
        let model = runtime
            .block_on(rbac.check_with_model(tenant, user, permission))
            .unwrap();
        assert_eq!(fast, model, "snapshot and model disagree");
        allowed += usize::from(fast);
    }
    assert!(
        allowed > 0 && allowed < 100,
        "{allowed} of 100 sampled checks allowed"
    );
}

fn run(rbac: &Rbac, checks: &[Check], b: &mut criterion::Bencher<'_>) {
    let mut i = 0usize;
    b.iter(|| {
        i = (i + 1) % checks.len();
        let (tenant, user, permission) = checks[i];
        black_box(rbac.allows(black_box(tenant), black_box(user), permission))
    });
}

fn enforce(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for rules in [1_000, 10_000, 100_000] {
        let (rbac, keys) = runtime.block_on(loaded_rbac(rules, USERS_PER_TENANT, &ROLES));
        let warm = warm_checks(&keys);
        let cold = cold_checks(&keys);
        check_fixture(&runtime, &rbac, &warm);

        runtime.block_on(rbac.reload()).unwrap();
        let started = Instant::now();
        let (tenant, user, permission) = cold[0];
        black_box(rbac.allows(tenant, user, permission));
        println!(
            "rbac/first_check_after_reload/{rules}: {:?} (one sample)",
            started.elapsed()
        );

        let id = BenchmarkId::from_parameter(rules);
        c.benchmark_group("rbac/warm")
            .bench_with_input(id.clone(), &rules, |b, _| run(&rbac, &warm, b));
        c.benchmark_group("rbac/cold")
            .bench_with_input(id.clone(), &rules, |b, _| run(&rbac, &cold, b));
        c.benchmark_group("rbac/reload")
            .sample_size(10)
            .bench_with_input(id, &rules, |b, _| {
                b.iter(|| runtime.block_on(rbac.reload()).unwrap())
            });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = enforce
}
criterion_main!(benches);
