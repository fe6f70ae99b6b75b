//! Who is calling, for which tenant.

use std::net::IpAddr;
use std::sync::Arc;

use crate::{ApiKeyId, Plan, SessionId, TenantId, UserId};

/// The client's address as the service established it: the connection's peer, or, when
/// that peer is a trusted proxy, the address the proxy reported. Put in the request
/// extensions by whatever knows the deployment's proxies; read by audit and throttling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

/// The authenticated party behind a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A user signed in with a password and holding an access token.
    User(UserId),
    /// A program using an API key.
    ApiKey(ApiKeyId),
}

/// The verified identity of a request: its tenant, principal, roles and plan.
///
/// An authentication layer builds it from a verified credential and stores it in the
/// request's extensions; nothing else may set the tenant. Cloning is cheap (one reference
/// count), so handlers and layers can take it by value.
///
/// ```
/// use hydronet_core::{Plan, Principal, TenantContext, TenantId, UserId};
///
/// let user = UserId::new();
/// let ctx = TenantContext::new(TenantId::new(), Principal::User(user), Plan::Pro)
///     .with_roles(["member"]);
/// assert_eq!(ctx.user_id(), Some(user));
/// assert!(!ctx.has_role("owner"));
/// ```
#[derive(Debug, Clone)]
pub struct TenantContext {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    tenant_id: TenantId,
    principal: Principal,
    plan: Plan,
    roles: Vec<String>,
    session_id: Option<SessionId>,
    token_id: Option<String>,
    acting_user: Option<UserId>,
    scope: Option<ScopeMask>,
}

/// A narrowing of what a credential may do: a bitset whose bits the authorization layer
/// assigns, one per permission (`hydronet_tenancy::rbac::PermissionSet` converts to and
/// from it). A context without one is limited by its roles alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ScopeMask(pub u64);

impl TenantContext {
    /// A context with no roles, no session and no token id.
    pub fn new(tenant_id: TenantId, principal: Principal, plan: Plan) -> Self {
        Self {
            inner: Arc::new(Inner {
                tenant_id,
                principal,
                plan,
                roles: Vec::new(),
                session_id: None,
                token_id: None,
                acting_user: None,
                scope: None,
            }),
        }
    }

    fn inner_mut(&mut self) -> &mut Inner {
        Arc::make_mut(&mut self.inner)
    }

    /// Sets the roles held inside the tenant.
    pub fn with_roles<I, R>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<String>,
    {
        self.inner_mut().roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the login session the credential belongs to.
    pub fn with_session(mut self, session_id: SessionId) -> Self {
        self.inner_mut().session_id = Some(session_id);
        self
    }

    /// Sets the id of the credential itself (a JWT's `jti`), for audit records.
    pub fn with_token_id(mut self, token_id: impl Into<String>) -> Self {
        self.inner_mut().token_id = Some(token_id.into());
        self
    }

    /// Sets the user an API key acts for: the key's holder, whose permissions bound it.
    pub fn with_acting_user(mut self, user: UserId) -> Self {
        self.inner_mut().acting_user = Some(user);
        self
    }

    /// Narrows the credential to `scope`, within what its roles allow.
    pub fn with_scope(mut self, scope: ScopeMask) -> Self {
        self.inner_mut().scope = Some(scope);
        self
    }

    /// Replaces the plan, e.g. with the tenant's current one when it changed after the
    /// credential was issued.
    pub fn with_plan(mut self, plan: Plan) -> Self {
        self.inner_mut().plan = plan;
        self
    }

    /// The tenant every action of this request is confined to.
    pub fn tenant_id(&self) -> TenantId {
        self.inner.tenant_id
    }

    /// The authenticated party.
    pub fn principal(&self) -> Principal {
        self.inner.principal
    }

    /// The user the request acts for: the signed-in user, or the user an API key acts for
    /// (see [`TenantContext::with_acting_user`]).
    pub fn user_id(&self) -> Option<UserId> {
        match self.inner.principal {
            Principal::User(id) => Some(id),
            Principal::ApiKey(_) => self.inner.acting_user,
        }
    }

    /// The narrowing of the credential, if it has one.
    pub fn scope(&self) -> Option<ScopeMask> {
        self.inner.scope
    }

    /// The tenant's plan.
    pub fn plan(&self) -> Plan {
        self.inner.plan
    }

    /// The roles held inside the tenant.
    pub fn roles(&self) -> &[String] {
        &self.inner.roles
    }

    /// Whether the principal holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.inner.roles.iter().any(|r| r == role)
    }

    /// The login session, for user credentials.
    pub fn session_id(&self) -> Option<SessionId> {
        self.inner.session_id
    }

    /// The credential's own id, when it has one.
    pub fn token_id(&self) -> Option<&str> {
        self.inner.token_id.as_deref()
    }
}

#[cfg(feature = "axum")]
mod extract {
    use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
    use http::request::Parts;

    use super::TenantContext;
    use crate::Problem;

    /// Requires an authenticated request: without a context the handler is not called and
    /// the client gets a 401 problem.
    impl<S: Send + Sync> FromRequestParts<S> for TenantContext {
        type Rejection = Problem;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            parts
                .extensions
                .get::<TenantContext>()
                .cloned()
                .ok_or_else(Problem::unauthenticated)
        }
    }

    /// `Option<TenantContext>`: the handler runs either way.
    impl<S: Send + Sync> OptionalFromRequestParts<S> for TenantContext {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<TenantContext>().cloned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_principal_has_no_user() {
        let key = ApiKeyId::new();
        let ctx = TenantContext::new(TenantId::new(), Principal::ApiKey(key), Plan::Free);
        assert_eq!(ctx.user_id(), None);
        assert_eq!(ctx.principal(), Principal::ApiKey(key));
    }

    #[test]
    fn api_key_acts_for_its_holder_within_its_scope() {
        let key = ApiKeyId::new();
        let holder = UserId::new();
        let ctx = TenantContext::new(TenantId::new(), Principal::ApiKey(key), Plan::Free)
            .with_acting_user(holder)
            .with_scope(ScopeMask(0b101));
        assert_eq!(ctx.user_id(), Some(holder));
        assert_eq!(ctx.scope(), Some(ScopeMask(0b101)));

        let shared = ctx.clone();
        let upgraded = ctx.with_plan(Plan::Pro);
        assert_eq!(upgraded.plan(), Plan::Pro);
        assert_eq!(shared.plan(), Plan::Free, "clones keep their own plan");
    }

    #[test]
    fn builder_sets_everything() {
        let session = SessionId::new();
        let ctx = TenantContext::new(TenantId::new(), Principal::User(UserId::new()), Plan::Free)
            .with_roles(["owner", "member"])
            .with_session(session)
            .with_token_id("jti-1");
        assert_eq!(ctx.roles(), ["owner", "member"]);
        assert_eq!(ctx.session_id(), Some(session));
        assert_eq!(ctx.token_id(), Some("jti-1"));
    }
}
