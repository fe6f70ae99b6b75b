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

    fn authenticate(&self, token: &str) -> Option<TenantContext> {
        let claims = match self.shared.codec.verify_access(token) {
            Ok(claims) => claims,
            Err(err) => {
                tracing::debug!(reason = %err, "access token refused");
                return None;
            }
        };

        let revoked = self
            .shared
            .revocations
            .as_ref()
            .is_some_and(|list| list.is_revoked(claims.sid));
        if revoked {
            tracing::debug!(tenant_id = %claims.tid, user_id = %claims.sub, "access token revoked");
            return None;
        }

        Some(claims.to_context())
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Auth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<String>,
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
            Some(token) => self.authenticate(token),
            None if self.shared.optional && !req.headers().contains_key(header::AUTHORIZATION) => {
                return ResponseFuture::inner(self.inner.call(req));
            }
            None => None,
        };

        match context {
            Some(context) => {
                req.extensions_mut().insert(context.clone());
                ResponseFuture::authenticated(self.inner.call(req), context)
            }
            None => ResponseFuture::refused(unauthenticated()),
        }
    }
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
    use crate::auth::AuthLayer;
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
