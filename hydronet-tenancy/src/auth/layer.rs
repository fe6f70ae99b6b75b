use std::fmt;
use std::sync::Arc;

use tower::Layer;

use super::cache::VerifiedTokens;
use super::{ApiKeyVerifier, Auth, TenantGate};
use crate::revocation::RevocationList;
use crate::token::JwtCodec;

/// Verified access tokens remembered by default.
const DEFAULT_VERIFIED_TOKENS: usize = 10_000;

/// Applies [`Auth`] to a service. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    pub(super) shared: Arc<Shared>,
}

#[derive(Clone)]
pub(super) struct Shared {
    pub(super) codec: JwtCodec,
    pub(super) revocations: Option<Arc<RevocationList>>,
    pub(super) optional: bool,
    pub(super) api_keys: Option<Arc<dyn ApiKeyVerifier>>,
    pub(super) gate: Option<Arc<dyn TenantGate>>,
    pub(super) verified: Arc<VerifiedTokens>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("codec", &self.codec)
            .field("revocations", &self.revocations.is_some())
            .field("optional", &self.optional)
            .field("api_keys", &self.api_keys.is_some())
            .field("gate", &self.gate.is_some())
            .field("verified", &self.verified.capacity())
            .finish()
    }
}

impl AuthLayer {
    /// Requires a valid access token on every request, verified by `codec`.
    ///
    /// By default no revocation list is consulted and a credential is required.
    pub fn new(codec: JwtCodec) -> Self {
        Self {
            shared: Arc::new(Shared {
                codec,
                revocations: None,
                optional: false,
                api_keys: None,
                gate: None,
                verified: Arc::new(VerifiedTokens::new(DEFAULT_VERIFIED_TOKENS)),
            }),
        }
    }

    /// Refuses tokens whose session is on `list` (logged out, password changed, user
    /// disabled). Default: none.
    pub fn revocations(self, list: Arc<RevocationList>) -> Self {
        self.map(|shared| shared.revocations = Some(list))
    }

    /// Also accepts API keys: a bearer credential that `verifier` recognizes is looked up
    /// by it instead of being verified as a JWT. A failed lookup answers 503
    /// (`auth_unavailable`), never lets the request through. Default: JWTs only.
    pub fn api_keys(self, verifier: Arc<dyn ApiKeyVerifier>) -> Self {
        self.map(|shared| shared.api_keys = Some(verifier))
    }

    /// Passes every verified context, from a JWT or an API key, through `gate`, which may
    /// refuse it (a suspended tenant) or update it (the tenant's current plan).
    /// Default: none.
    pub fn gate(self, gate: Arc<dyn TenantGate>) -> Self {
        self.map(|shared| shared.gate = Some(gate))
    }

    /// Remembers up to `capacity` verified access tokens until they expire, so a client
    /// sending its token again skips the signature check and the JSON parse; revocation
    /// and the tenant gate are still checked on every request. 0 turns the cache off.
    /// Default: 10,000 tokens.
    pub fn verified_tokens(self, capacity: usize) -> Self {
        self.map(|shared| shared.verified = Arc::new(VerifiedTokens::new(capacity)))
    }

    /// Lets requests without any credential through, without a context. A credential that
    /// is present but invalid is still refused. Default: a credential is required.
    pub fn optional(self) -> Self {
        self.map(|shared| shared.optional = true)
    }

    fn map(self, change: impl FnOnce(&mut Shared)) -> Self {
        let mut shared = Arc::try_unwrap(self.shared).unwrap_or_else(|arc| Shared::clone(&arc));
        change(&mut shared);
        Self {
            shared: Arc::new(shared),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth::new(inner, self.shared.clone())
    }
}
