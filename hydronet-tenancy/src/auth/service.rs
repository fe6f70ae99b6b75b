use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderValue, Request, Response, header};
use hydronet_core::{Problem, TenantContext};
use tower::Service;

use super::ResponseFuture;
use super::layer::Shared;

/// Authenticates each request; see the [module docs](super).
#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Auth<S> {
    pub(super) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    fn verify_jwt(&self, token: &str) -> Option<TenantContext> {
        let shared = &self.shared;
        let now = shared.codec.now_secs();
        let context = match shared.verified.get(token, now) {
            Some(context) => context,
            None => match shared.codec.verify_access(token) {
                Ok(claims) => {
                    let expires_at = claims.exp;
                    let context = claims.into_context();
                    shared
                        .verified
                        .insert(token, context.clone(), expires_at, now);
                    context
                }
                Err(err) => {
                    tracing::debug!(reason = %err, "access token refused");
                    return None;
                }
            },
        };

        let revoked = context.session_id().is_some_and(|sid| {
            shared
                .revocations
                .as_ref()
                .is_some_and(|list| list.is_revoked(sid))
        });
        if revoked {
            tracing::debug!(tenant_id = %context.tenant_id(), "access token revoked");
            return None;
        }
        Some(context)
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Auth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // A context set by an earlier layer is never replaced.
        if req.extensions().get::<TenantContext>().is_some() {
            return ResponseFuture::inner(self.inner.call(req));
        }

        let context = match bearer_token(req.headers()) {
            Some(token) => match &self.shared.api_keys {
                Some(keys) if keys.recognizes(token) => {
                    let token = token.to_owned();
                    return self.with_api_key(token, req);
                }
                _ => self.verify_jwt(token),
            },
            None if self.shared.optional && !req.headers().contains_key(header::AUTHORIZATION) => {
                return ResponseFuture::inner(self.inner.call(req));
            }
            None => None,
        };

        match context.map(|context| admit(&self.shared, context)) {
            Some(Ok(context)) => {
                req.extensions_mut().insert(context.clone());
                ResponseFuture::authenticated(self.inner.call(req), context)
            }
            Some(Err(problem)) => ResponseFuture::refused(problem.to_response()),
            None => ResponseFuture::refused(unauthenticated()),
        }
    }
}

impl<S> Auth<S> {
    /// Looks the key up, then calls the inner service (the one that was polled ready).
    fn with_api_key<ReqBody, ResBody>(
        &mut self,
        key: String,
        mut req: Request<ReqBody>,
    ) -> ResponseFuture<S::Future, ResBody>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
        S::Future: Send,
        ReqBody: Send + 'static,
        ResBody: From<String> + Send + 'static,
    {
        let shared = self.shared.clone();
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        ResponseFuture::boxed(Box::pin(async move {
            let Some(verifier) = &shared.api_keys else {
                return Ok(unauthenticated());
            };
            let context = match verifier.verify(&key).await {
                Ok(Some(context)) => context,
                Ok(None) => {
                    tracing::debug!("API key refused");
                    return Ok(unauthenticated());
                }
                Err(err) => {
                    tracing::warn!(error = %err, "API key lookup failed");
                    return Ok(auth_unavailable().to_response());
                }
            };
            let context = match admit(&shared, context) {
                Ok(context) => context,
                Err(problem) => return Ok(problem.to_response()),
            };
            req.extensions_mut().insert(context.clone());
            let mut response = inner.call(req).await?;
            response.extensions_mut().insert(context);
            Ok(response)
        }))
    }
}

fn admit(shared: &Shared, context: TenantContext) -> Result<TenantContext, Problem> {
    match &shared.gate {
        Some(gate) => gate.admit(context),
        None => Ok(context),
    }
}

fn auth_unavailable() -> Problem {
    Problem::new(
        http::StatusCode::SERVICE_UNAVAILABLE,
        "auth_unavailable",
        "Credentials cannot be checked right now; try again shortly.",
    )
}

/// The token of an `Authorization: Bearer <token>` header, if the request has one.
///
/// ```
/// use http::HeaderMap;
/// use hydronet_tenancy::auth::bearer_token;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("authorization", "Bearer abc.def".parse().unwrap());
/// assert_eq!(bearer_token(&headers), Some("abc.def"));
/// ```
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn unauthenticated<B: From<String>>() -> Response<B> {
    let mut response = Problem::unauthenticated().to_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"hydronet\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::StatusCode;
    use hydronet_core::{ManualClock, Plan, SessionId, TenantId, UserId};
    use tower::{Layer, ServiceExt, service_fn};

    use super::*;
    use crate::auth::{
        ApiKeyVerifier, AuthLayer, KeyLookupError, SuspendedTenants, TenantGate, VerifyFuture,
    };
    use crate::revocation::RevocationList;
    use crate::token::{AccessGrant, JwtCodec, JwtKey};

    fn codec() -> JwtCodec {
        JwtCodec::builder(JwtKey::hs256("test", &[42; 32]).unwrap())
            .clock(Arc::new(ManualClock::now()))
            .build()
    }

    fn grant(session_id: SessionId, roles: &[String]) -> AccessGrant<'_> {
        AccessGrant {
            tenant_id: TenantId::new(),
            user_id: UserId::new(),
            session_id,
            roles,
            plan: Plan::Pro,
        }
    }

    async fn call(layer: AuthLayer, authorization: Option<&str>) -> Response<String> {
        let service = layer.layer(service_fn(|req: Request<String>| async move {
            let body = match req.extensions().get::<TenantContext>() {
                Some(ctx) => ctx.tenant_id().to_string(),
                None => "anonymous".to_owned(),
            };
            Ok::<_, Infallible>(Response::new(body))
        }));
        let mut request = Request::get("/");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        service
            .oneshot(request.body(String::new()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn valid_token_sets_the_tokens_tenant() {
        let codec = codec();
        let roles = vec!["owner".to_owned()];
        let grant = grant(SessionId::new(), &roles);
        let issued = codec.issue_access(&grant).unwrap();

        let bearer = format!("Bearer {}", issued.token);
        let response = call(AuthLayer::new(codec), Some(&bearer)).await;

        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.into_body(), grant.tenant_id.to_string());
    }

    #[tokio::test]
    async fn missing_or_malformed_credentials_are_401_problems() {
        for header in [
            None,
            Some("Bearer"),
            Some("Basic dXNlcjpwdw=="),
            Some("Bearer x.y.z"),
        ] {
            let response = call(AuthLayer::new(codec()), header).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header:?}");
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "application/problem+json"
            );
            assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
            assert!(response.body().contains("\"code\":\"unauthenticated\""));
        }
    }

    #[tokio::test]
    async fn optional_mode_admits_anonymous_but_not_bad_tokens() {
        let anonymous = call(AuthLayer::new(codec()).optional(), None).await;
        assert_eq!(anonymous.status(), StatusCode::OK);
        assert_eq!(anonymous.into_body(), "anonymous");

        let forged = call(AuthLayer::new(codec()).optional(), Some("Bearer nope")).await;
        assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn a_remembered_token_still_expires_and_a_tampered_one_misses() {
        let clock = ManualClock::now();
        let codec = JwtCodec::builder(JwtKey::hs256("test", &[42; 32]).unwrap())
            .clock(Arc::new(clock.clone()))
            .build();
        let roles = Vec::new();
        let token = codec
            .issue_access(&grant(SessionId::new(), &roles))
            .unwrap()
            .token;
        let layer = AuthLayer::new(codec.clone());
        let bearer = format!("Bearer {token}");
        assert_eq!(
            call(layer.clone(), Some(&bearer)).await.status(),
            StatusCode::OK
        );
        assert_eq!(
            call(layer.clone(), Some(&bearer)).await.status(),
            StatusCode::OK
        );

        // The same signature over another payload is not the remembered token.
        let (_, signature) = token.rsplit_once('.').unwrap();
        let other = codec
            .issue_access(&grant(SessionId::new(), &roles))
            .unwrap()
            .token;
        let (unsigned, _) = other.rsplit_once('.').unwrap();
        let spliced = format!("Bearer {unsigned}.{signature}");
        assert_eq!(
            call(layer.clone(), Some(&spliced)).await.status(),
            StatusCode::UNAUTHORIZED
        );

        clock.advance_secs(i64::try_from(codec.access_ttl().as_secs()).unwrap() + 120);
        assert_eq!(
            call(layer, Some(&bearer)).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test]
    async fn revoked_session_is_refused() {
        let codec = codec();
        let session = SessionId::new();
        let roles = Vec::new();
        let token = codec.issue_access(&grant(session, &roles)).unwrap().token;
        let list = Arc::new(RevocationList::new());
        let layer = AuthLayer::new(codec).revocations(list.clone());
        let bearer = format!("Bearer {token}");

        assert_eq!(
            call(layer.clone(), Some(&bearer)).await.status(),
            StatusCode::OK
        );

        list.revoke(session, i64::MAX);
        assert_eq!(
            call(layer, Some(&bearer)).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }

    /// Knows one key; fails on `hnk_broken…`.
    struct OneKey {
        key: String,
        context: TenantContext,
    }

    impl ApiKeyVerifier for OneKey {
        fn verify<'a>(&'a self, credential: &'a str) -> VerifyFuture<'a> {
            Box::pin(async move {
                if credential.starts_with("hnk_broken") {
                    return Err(KeyLookupError("store down".into()));
                }
                Ok((credential == self.key).then(|| self.context.clone()))
            })
        }
    }

    #[tokio::test]
    async fn api_keys_are_looked_up_and_refused_when_unknown_or_unreachable() {
        let tenant = TenantId::new();
        let key = crate::auth::generate_api_key();
        let verifier = OneKey {
            key: key.secret.clone(),
            context: TenantContext::new(
                tenant,
                hydronet_core::Principal::ApiKey(hydronet_core::ApiKeyId::new()),
                Plan::Free,
            ),
        };
        let layer = AuthLayer::new(codec()).api_keys(Arc::new(verifier));

        let ok = call(layer.clone(), Some(&format!("Bearer {}", key.secret))).await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.into_body(), tenant.to_string());

        let unknown = crate::auth::generate_api_key().secret;
        let refused = call(layer.clone(), Some(&format!("Bearer {unknown}"))).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

        let down = call(layer, Some("Bearer hnk_broken_0123456789")).await;
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(down.body().contains("\"code\":\"auth_unavailable\""));
    }

    #[tokio::test]
    async fn the_gate_refuses_suspended_tenants_and_updates_plans() {
        struct ProGate(SuspendedTenants);
        impl TenantGate for ProGate {
            fn admit(&self, ctx: TenantContext) -> Result<TenantContext, Problem> {
                self.0.admit(ctx).map(|ctx| ctx.with_plan(Plan::Enterprise))
            }
        }

        let codec = codec();
        let roles = Vec::new();
        let grant = grant(SessionId::new(), &roles);
        let bearer = format!("Bearer {}", codec.issue_access(&grant).unwrap().token);
        let gate = Arc::new(ProGate(SuspendedTenants::default()));
        let layer = AuthLayer::new(codec).gate(gate.clone());

        let service = layer.layer(service_fn(|req: Request<String>| async move {
            let ctx = req.extensions().get::<TenantContext>().unwrap();
            Ok::<_, Infallible>(Response::new(format!("{:?}", ctx.plan())))
        }));
        let request = || {
            Request::get("/")
                .header(header::AUTHORIZATION, &bearer)
                .body(String::new())
                .unwrap()
        };
        let admitted = service.clone().oneshot(request()).await.unwrap();
        assert_eq!(admitted.into_body(), "Enterprise");

        gate.0.suspend(grant.tenant_id);
        let refused = service.clone().oneshot(request()).await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(refused.body().contains("tenant_suspended"));

        gate.0.reactivate(grant.tenant_id);
        let back = service.oneshot(request()).await.unwrap();
        assert_eq!(back.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn an_existing_context_is_kept() {
        let existing = TenantContext::new(
            TenantId::new(),
            hydronet_core::Principal::User(UserId::new()),
            Plan::Free,
        );
        let expected = existing.tenant_id().to_string();
        let service =
            AuthLayer::new(codec()).layer(service_fn(|req: Request<String>| async move {
                let ctx = req.extensions().get::<TenantContext>().unwrap();
                Ok::<_, Infallible>(Response::new(ctx.tenant_id().to_string()))
            }));
        let mut request = Request::get("/").body(String::new()).unwrap();
        request.extensions_mut().insert(existing);

        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.into_body(), expected);
    }
}
