//! Revoked login sessions, checked on every request without I/O.
//!
//! Access tokens are short-lived and stateless, so logging out, changing a password or
//! disabling a user must also stop the tokens already handed out. Each access token names
//! its login session (`sid`); revoking the session puts it on a [`RevocationList`], which
//! the [authentication layer](crate::auth) consults in memory. An entry is kept until
//! the last token of that session would have expired anyway, then pruned.
//!
//! The database stays the source of truth: on start-up an application loads the sessions
//! revoked within the last access-token lifetime. With several instances, the `redis`
//! feature's `RedisRevocations` broadcasts each revocation to the others and reloads from
//! the source after every reconnect, so nothing published during an outage is missed.
//!
//! # Example
//!
//! ```
//! use hydronet_core::SessionId;
//! use hydronet_tenancy::revocation::RevocationList;
//!
//! let list = RevocationList::new();
//! let session = SessionId::new();
//! list.revoke(session, 1_700_000_900);
//! assert!(list.is_revoked(session));
//!
//! // Once every token of the session has expired, the entry can go.
//! list.prune(1_700_001_000);
//! assert!(!list.is_revoked(session));
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ConcurrentMap;
use hydronet_core::SessionId;

/// Sessions whose tokens must be refused, each with the Unix time after which no token of
/// it can still be valid.
#[derive(Debug, Default)]
pub struct RevocationList {
    sessions: ConcurrentMap<SessionId, i64>,
    len: AtomicUsize,
}

impl RevocationList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses every token of `session` until `until` (Unix seconds).
    pub fn revoke(&self, session: SessionId, until: i64) {
        let previous = self.sessions.insert(session, until);
        match previous {
            None => {
                self.len.fetch_add(1, Ordering::Relaxed);
            }
            // A later expiry wins if the same session is reported twice.
            Some(old) if old > until => {
                self.sessions.insert(session, old);
            }
            Some(_) => {}
        }
    }

    /// Whether tokens of `session` must be refused.
    pub fn is_revoked(&self, session: SessionId) -> bool {
        // Usually nothing is revoked: skip the map entirely.
        self.len.load(Ordering::Relaxed) != 0 && self.sessions.contains_key(&session)
    }

    /// Drops entries whose tokens have all expired by `now` (Unix seconds).
    pub fn prune(&self, now: i64) {
        self.sessions.retain(|_, until| *until >= now);
        self.len.store(self.sessions.len(), Ordering::Relaxed);
    }

    /// How many sessions are on the list.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(feature = "redis")]
mod redis_bus;

#[cfg(feature = "redis")]
pub use redis_bus::{RedisRevocations, RevocationSource};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoke_then_prune() {
        let list = RevocationList::new();
        let (a, b) = (SessionId::new(), SessionId::new());
        list.revoke(a, 100);
        list.revoke(b, 200);
        assert!(list.is_revoked(a) && list.is_revoked(b));

        list.prune(150);
        assert!(!list.is_revoked(a));
        assert!(list.is_revoked(b));
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn later_expiry_wins() {
        let list = RevocationList::new();
        let session = SessionId::new();
        list.revoke(session, 500);
        list.revoke(session, 100);
        list.prune(300);
        assert!(list.is_revoked(session));
    }

    #[test]
    fn unknown_sessions_pass() {
        let list = RevocationList::new();
        assert!(!list.is_revoked(SessionId::new()));
        list.revoke(SessionId::new(), 10);
        assert!(!list.is_revoked(SessionId::new()));
    }
}
