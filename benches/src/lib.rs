//! Fixtures shared by the HydroNet benchmarks.
//!
//! Run them with `cargo bench -p hydronet-benches`. Each benchmark measures one layer of
//! the request path against the same work without it, so the numbers read as overhead.

pub mod stack;

use std::sync::Arc;

use hydronet_core::{ManualClock, Plan, SessionId, TenantId, UserId};
use hydronet_tenancy::token::{AccessGrant, JwtCodec, JwtKey};

/// A codec with a fixed HS256 key and a frozen clock, and a valid token it issued.
pub fn hs256_fixture() -> (JwtCodec, String) {
    let key = JwtKey::hs256("bench", &[0x5a; 32]).expect("a 32-byte key is strong enough");
    let codec = JwtCodec::builder(key)
        .clock(Arc::new(ManualClock::now()))
        .build();
    let roles = ["member".to_owned()];
    let grant = AccessGrant {
        tenant_id: TenantId::new(),
        user_id: UserId::new(),
        session_id: SessionId::new(),
        roles: &roles,
        plan: Plan::Pro,
    };
    let token = codec.issue_access(&grant).expect("signing works").token;
    (codec, token)
}
