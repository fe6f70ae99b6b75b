//! The two hooks [`AuthLayer`](super::AuthLayer) calls beyond JWT verification: an API-key
//! verifier and a tenant gate.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use hydronet_core::{Problem, TenantContext, TenantId};

use crate::token::OpaqueToken;

/// The prefix of every API key made by [`generate_api_key`]: it tells keys from JWTs at a
/// glance and lets secret scanners find leaked keys.
pub const API_KEY_PREFIX: &str = "hnk_";

/// Characters of a key shown in listings to recognise it: the prefix and eight more.
const DISPLAY_LEN: usize = API_KEY_PREFIX.len() + 8;

/// A new API key: the secret to show once, the digest to store, and the part of the secret
/// that may be shown later to recognise it.
///
/// ```
/// use hydronet_tenancy::auth::{API_KEY_PREFIX, generate_api_key, is_api_key};
/// use hydronet_tenancy::token::token_digest;
///
/// let key = generate_api_key();
/// assert!(key.secret.starts_with(API_KEY_PREFIX) && is_api_key(&key.secret));
/// assert!(key.secret.starts_with(&key.display_prefix));
/// assert_eq!(token_digest(&key.secret), key.digest);
/// ```
pub struct NewApiKey {
    /// The whole key, for the client; never stored.
    pub secret: String,
    /// Its SHA-256, what the store keeps and looks keys up by.
    pub digest: String,
    /// Its first characters, safe to list.
    pub display_prefix: String,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey")
            .field("secret", &"[redacted]")
            .field("display_prefix", &self.display_prefix)
            .finish()
    }
}

/// Makes a key of 256 random bits behind [`API_KEY_PREFIX`].
pub fn generate_api_key() -> NewApiKey {
    let token = OpaqueToken::generate(API_KEY_PREFIX);
    let digest = token.digest();
    let secret = token.into_secret();
    let display_prefix = secret[..DISPLAY_LEN].to_owned();
    NewApiKey {
        secret,
        digest,
        display_prefix,
    }
}

/// Whether a presented credential has the shape of an API key (not whether it is valid).
pub fn is_api_key(credential: &str) -> bool {
    credential.len() > DISPLAY_LEN && credential.starts_with(API_KEY_PREFIX)
}

/// The store could not be asked about a key; the request gets a 503, never a pass.
#[derive(Debug, thiserror::Error)]
#[error("API keys cannot be checked: {0}")]
pub struct KeyLookupError(pub String);

/// What [`ApiKeyVerifier::verify`] returns.
pub type VerifyFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<TenantContext>, KeyLookupError>> + Send + 'a>>;

/// Turns a presented API key into the context it grants, or `None` when the key is
/// unknown, revoked or expired. Implemented by whatever stores the keys.
///
/// The context's tenant must come from the stored key, never from the request.
pub trait ApiKeyVerifier: Send + Sync + 'static {
    /// Whether `credential` should be checked as an API key rather than as a JWT.
    /// By default: it starts with [`API_KEY_PREFIX`].
    fn recognizes(&self, credential: &str) -> bool {
        is_api_key(credential)
    }

    /// Looks the key up.
    fn verify<'a>(&'a self, credential: &'a str) -> VerifyFuture<'a>;
}

/// The last word on a verified context, asked on every request: refuse it (a suspended
/// tenant gets [`Problem::tenant_suspended`]) or bring it up to date (the tenant's current
/// plan instead of the one in the token). Must be quick and must not block: it runs on
/// the request path.
pub trait TenantGate: Send + Sync + 'static {
    /// The context to use, or the problem to answer with.
    fn admit(&self, context: TenantContext) -> Result<TenantContext, Problem>;
}

/// A [`TenantGate`] that refuses the tenants in a set.
///
/// ```
/// use hydronet_core::{Plan, Principal, TenantContext, TenantId, UserId};
/// use hydronet_tenancy::auth::{SuspendedTenants, TenantGate};
///
/// let tenant = TenantId::new();
/// let ctx = TenantContext::new(tenant, Principal::User(UserId::new()), Plan::Free);
/// let gate = SuspendedTenants::default();
/// assert!(gate.admit(ctx.clone()).is_ok());
///
/// gate.suspend(tenant);
/// assert_eq!(gate.admit(ctx).unwrap_err().code(), "tenant_suspended");
/// ```
#[derive(Debug, Default)]
pub struct SuspendedTenants {
    // Suspensions are rare and the set small; a read lock held for one lookup is cheap
    // next to everything else a request does.
    set: RwLock<HashSet<TenantId>>,
}

impl SuspendedTenants {
    /// Refuses `tenant` from now on.
    pub fn suspend(&self, tenant: TenantId) {
        self.write().insert(tenant);
    }

    /// Admits `tenant` again.
    pub fn reactivate(&self, tenant: TenantId) {
        self.write().remove(&tenant);
    }

    /// Replaces the whole set, e.g. after loading it from the database.
    pub fn replace(&self, tenants: impl IntoIterator<Item = TenantId>) {
        *self.write() = tenants.into_iter().collect();
    }

    /// Whether `tenant` is suspended.
    pub fn contains(&self, tenant: TenantId) -> bool {
        self.set
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(&tenant)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashSet<TenantId>> {
        self.set
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl TenantGate for SuspendedTenants {
    fn admit(&self, context: TenantContext) -> Result<TenantContext, Problem> {
        if self.contains(context.tenant_id()) {
            Err(Problem::tenant_suspended())
        } else {
            Ok(context)
        }
    }
}

impl<T: TenantGate> TenantGate for Arc<T> {
    fn admit(&self, context: TenantContext) -> Result<TenantContext, Problem> {
        (**self).admit(context)
    }
}
