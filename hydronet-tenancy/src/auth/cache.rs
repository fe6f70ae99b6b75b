//! Access tokens already verified, so a client that sends its token again costs a map
//! lookup instead of a signature check and a JSON parse.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ConcurrentMap;
use hydronet_core::TenantContext;

/// Verified tokens and the context each one yields, until the token expires.
///
/// Keyed by the whole token, so only the exact bytes that were verified hit. An entry
/// holds what the token alone says; revocation and the tenant gate are checked on every
/// request, cached or not. Bounded: past `capacity` tokens, expired ones are dropped, and
/// while the cache is full of live tokens new ones are verified without being cached.
#[derive(Debug)]
pub(super) struct VerifiedTokens {
    entries: ConcurrentMap<Box<str>, Verified>,
    /// `entries.len()` kept beside the map: reading the map's length locks every shard.
    tracked: AtomicUsize,
    capacity: usize,
}

#[derive(Debug)]
struct Verified {
    context: TenantContext,
    /// Unix seconds; the entry is stale from then on.
    expires_at: i64,
}

impl VerifiedTokens {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            entries: ConcurrentMap::default(),
            tracked: AtomicUsize::new(0),
            capacity,
        }
    }

    /// The context of `token` if it was verified and has not expired at `now`.
    pub(super) fn get(&self, token: &str, now: i64) -> Option<TenantContext> {
        let entry = self.entries.get(token)?;
        (now < entry.expires_at).then(|| entry.context.clone())
    }

    /// Remembers that `token` verified to `context`, until `expires_at`.
    pub(super) fn insert(&self, token: &str, context: TenantContext, expires_at: i64, now: i64) {
        if self.capacity == 0 || expires_at <= now {
            return;
        }
        if self.tracked.load(Ordering::Relaxed) >= self.capacity {
            self.entries.retain(|_, verified| now < verified.expires_at);
            let live = self.entries.len();
            self.tracked.store(live, Ordering::Relaxed);
            if live >= self.capacity {
                return;
            }
        }
        let verified = Verified {
            context,
            expires_at,
        };
        if self.entries.insert(token.into(), verified).is_none() {
            self.tracked.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The most tokens remembered.
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use hydronet_core::{Plan, Principal, TenantId, UserId};

    use super::*;

    fn context() -> TenantContext {
        TenantContext::new(TenantId::new(), Principal::User(UserId::new()), Plan::Free)
    }

    #[test]
    fn hits_until_expiry_and_only_for_the_same_token() {
        let cache = VerifiedTokens::new(10);
        let ctx = context();
        cache.insert("a.b.c", ctx.clone(), 100, 50);
        assert_eq!(cache.get("a.b.c", 99).unwrap().tenant_id(), ctx.tenant_id());
        assert!(cache.get("a.b.c", 100).is_none());
        assert!(cache.get("a.b.d", 60).is_none());
        assert!(cache.get("a.b.", 60).is_none());
    }

    #[test]
    fn stays_bounded_dropping_expired_tokens_first() {
        let cache = VerifiedTokens::new(3);
        for (i, exp) in [10, 10, 100].into_iter().enumerate() {
            cache.insert(&format!("t{i}"), context(), exp, 0);
        }
        // Full: the two expired by 20 make room.
        cache.insert("t3", context(), 100, 20);
        assert_eq!(cache.len(), 2);
        assert!(cache.get("t3", 21).is_some());
        cache.insert("t4", context(), 100, 20);
        // Full of live tokens: a new one is not cached.
        cache.insert("t5", context(), 100, 20);
        assert_eq!(cache.len(), 3);
        assert!(cache.get("t5", 21).is_none());
    }

    #[test]
    fn a_zero_capacity_caches_nothing() {
        let cache = VerifiedTokens::new(0);
        cache.insert("t", context(), 100, 0);
        assert!(cache.get("t", 1).is_none());
    }
}
