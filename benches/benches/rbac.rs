//! RBAC enforcement as requests see it: a lookup in the compiled snapshot, at 1k, 10k and
//! 100k role assignments spread over many tenants, with a mix of allowed and denied checks.

use std::hint::black_box;

use casbin::{Adapter, MemoryAdapter};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hydronet_core::{TenantId, UserId};
use hydronet_tenancy::rbac::{Permission, Rbac};

const ROLES: [&str; 4] = ["owner", "admin", "member", "auditor"];

/// An enforcer loaded with `rules` assignments: ten users per tenant, roles in rotation.
fn loaded(runtime: &tokio::runtime::Runtime, rules: usize) -> (Rbac, Vec<(TenantId, UserId)>) {
    runtime.block_on(async {
        let mut adapter = MemoryAdapter::default();
        let mut keys = Vec::with_capacity(rules);
        let mut tenant = TenantId::new();
        for i in 0..rules {
            if i % 10 == 0 {
                tenant = TenantId::new();
            }
            let user = UserId::new();
            let rule = vec![
                format!("u:{user}"),
                ROLES[i % ROLES.len()].to_owned(),
                tenant.to_string(),
            ];
            adapter.add_policy("g", "g", rule).await.unwrap();
            keys.push((tenant, user));
        }
        (Rbac::new(adapter).await.unwrap(), keys)
    })
}

fn enforce(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("rbac/allows");
    for rules in [1_000, 10_000, 100_000] {
        let (rbac, keys) = loaded(&runtime, rules);
        let checks = [
            Permission::ConversationsWrite,
            Permission::AuditRead,
            Permission::UsersManage,
        ];
        let mut i = 0usize;
        group.bench_with_input(BenchmarkId::from_parameter(rules), &rules, |b, _| {
            b.iter(|| {
                i = i.wrapping_add(7919);
                let (tenant, user) = keys[i % keys.len()];
                black_box(rbac.allows(tenant, user, checks[i % checks.len()]))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, enforce);
criterion_main!(benches);
