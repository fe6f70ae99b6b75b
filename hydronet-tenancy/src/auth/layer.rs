use std::sync::Arc;

use tower::Layer;

use super::Auth;
use crate::revocation::RevocationList;
use crate::token::JwtCodec;

/// Applies [`Auth`] to a service. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    pub(super) shared: Arc<Shared>,
}

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) codec: JwtCodec,
    pub(super) revocations: Option<Arc<RevocationList>>,
    pub(super) optional: bool,
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
            }),
        }
    }

    /// Refuses tokens whose session is on `list` (logged out, password changed, user
    /// disabled). Default: none.
    pub fn revocations(self, list: Arc<RevocationList>) -> Self {
        self.map(|shared| shared.revocations = Some(list))
    }

    /// Lets requests without any credential through, without a context. A credential that
    /// is present but invalid is still refused. Default: a credential is required.
    pub fn optional(self) -> Self {
        self.map(|shared| shared.optional = true)
    }

    fn map(self, change: impl FnOnce(&mut Shared)) -> Self {
        let mut shared = Arc::try_unwrap(self.shared).unwrap_or_else(|arc| Shared {
            codec: arc.codec.clone(),
            revocations: arc.revocations.clone(),
            optional: arc.optional,
        });
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
