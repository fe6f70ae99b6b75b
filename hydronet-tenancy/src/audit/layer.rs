//! A tower layer that audits requests by route policy.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hydronet_core::{Principal, TenantContext, TenantId};
use pin_project_lite::pin_project;
use serde_json::json;
use tower::{Layer, Service};
use uuid::Uuid;

use super::{Actor, AuditEvent, AuditSink, Outcome};
use crate::routing::Template;

/// Which requests [`AuditLayer`] records: every write (any method but `GET`, `HEAD` and
/// `OPTIONS`), every refusal (`401`, `403`, `429`), and the reads named here.
#[derive(Debug, Clone, Default)]
pub struct AuditPolicy {
    /// Route template → the methods whose successful reads are recorded.
    sensitive_reads: HashMap<Box<str>, Vec<Method>>,
}

impl AuditPolicy {
    /// Writes and refusals only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also records successful `method` requests to the route `template`.
    pub fn sensitive_read(mut self, method: Method, template: &str) -> Self {
        let methods = self.sensitive_reads.entry(template.into()).or_default();
        if !methods.contains(&method) {
            methods.push(method);
        }
        self
    }

    fn records(&self, method: &Method, template: &str, status: StatusCode) -> bool {
        let write = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        let refused = matches!(status.as_u16(), 401 | 403 | 429);
        write
            || refused
            || self
                .sensitive_reads
                .get(template)
                .is_some_and(|methods| methods.contains(method))
    }
}

/// Records requests as `http.request` audit events with their outcome and latency.
///
/// Put it outside authentication, so refusals are seen too: the authentication layer copies
/// the caller's [`TenantContext`] into the response, which is where this layer reads it.
/// Requests without one are recorded under the nil tenant id. The event's target is the
/// method and route template (never the raw path or query, which may carry secrets).
///
/// ```
/// use std::convert::Infallible;
/// use std::sync::Arc;
///
/// use http::{Request, Response};
/// use hydronet_tenancy::audit::{AuditLayer, AuditPolicy, MemorySink};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let sink = MemorySink::new();
/// let service = ServiceBuilder::new()
///     .layer(AuditLayer::new(Arc::new(sink.clone()), AuditPolicy::new()))
///     .service(service_fn(|_req: Request<String>| async {
///         Ok::<_, Infallible>(Response::new(String::new()))
///     }));
///
/// service.oneshot(Request::post("/things").body(String::new()).unwrap()).await.unwrap();
/// assert_eq!(sink.events()[0].target.as_deref(), Some("POST /things"));
/// # }
/// ```
#[derive(Debug)]
pub struct AuditLayer<K> {
    sink: Arc<K>,
    policy: Arc<AuditPolicy>,
}

impl<K> Clone for AuditLayer<K> {
    fn clone(&self) -> Self {
        Self {
            sink: self.sink.clone(),
            policy: self.policy.clone(),
        }
    }
}

impl<K: AuditSink> AuditLayer<K> {
    /// Records into `sink` what `policy` selects.
    pub fn new(sink: Arc<K>, policy: AuditPolicy) -> Self {
        Self {
            sink,
            policy: Arc::new(policy),
        }
    }
}

impl<S, K> Layer<S> for AuditLayer<K> {
    type Service = Audit<S, K>;

    fn layer(&self, inner: S) -> Self::Service {
        Audit {
            inner,
            sink: self.sink.clone(),
            policy: self.policy.clone(),
        }
    }
}

/// The service of [`AuditLayer`].
#[derive(Debug)]
pub struct Audit<S, K> {
    inner: S,
    sink: Arc<K>,
    policy: Arc<AuditPolicy>,
}

impl<S: Clone, K> Clone for Audit<S, K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            sink: self.sink.clone(),
            policy: self.policy.clone(),
        }
    }
}

/// What is known of a request before it is served, kept as cheap clones (shared header
/// bytes, the router's shared template) and turned into text only when recorded.
struct Seen {
    method: Method,
    template: Template,
    request_id: Option<HeaderValue>,
    client_addr: Option<IpAddr>,
    user_agent: Option<HeaderValue>,
    started: Instant,
}

impl Seen {
    fn of<B>(req: &Request<B>) -> Self {
        Self {
            method: req.method().clone(),
            template: Template::of(req),
            request_id: req.headers().get("x-request-id").cloned(),
            client_addr: client_addr(req),
            user_agent: req.headers().get(header::USER_AGENT).cloned(),
            started: Instant::now(),
        }
    }

    fn event(self, status: StatusCode, ctx: Option<&TenantContext>) -> AuditEvent {
        let (tenant, actor, token) = match ctx {
            Some(ctx) => {
                let actor = match ctx.principal() {
                    Principal::User(user) => Actor::User(user),
                    Principal::ApiKey(key) => Actor::ApiKey(key),
                };
                (ctx.tenant_id(), actor, ctx.token_id().map(str::to_owned))
            }
            None => (TenantId::from_uuid(Uuid::nil()), Actor::System, None),
        };
        let outcome = match status.as_u16() {
            401 | 403 | 429 => Outcome::Denied,
            code if code >= 400 => Outcome::Failed,
            _ => Outcome::Success,
        };
        let latency_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let text =
            |value: Option<HeaderValue>| value.and_then(|v| v.to_str().ok().map(str::to_owned));
        let (method, template) = (self.method.as_str(), self.template.as_str());
        let mut target = String::with_capacity(method.len() + 1 + template.len());
        target.push_str(method);
        target.push(' ');
        target.push_str(template);
        let mut event = AuditEvent::new(tenant, actor, "http.request")
            .target(target)
            .outcome(outcome)
            .details(json!({ "status": status.as_u16(), "latency_ms": latency_ms }));
        event.request_id = text(self.request_id);
        event.client_addr = self.client_addr.map(|ip| ip.to_string());
        event.user_agent = self
            .user_agent
            .and_then(|v| v.to_str().ok().map(|ua| cut_chars(ua, USER_AGENT_CHARS)));
        event.token_id = token;
        event
    }
}

/// How much of a `User-Agent` is kept.
const USER_AGENT_CHARS: usize = 256;

/// The first `max` characters of `text`, copied.
fn cut_chars(text: &str, max: usize) -> String {
    // No more characters than bytes: the common short text needs no counting.
    if text.len() <= max {
        return text.to_owned();
    }
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

fn client_addr<B>(req: &Request<B>) -> Option<IpAddr> {
    if let Some(addr) = req.extensions().get::<hydronet_core::ClientAddr>() {
        return Some(addr.0);
    }
    #[cfg(feature = "axum")]
    if let Some(info) = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        return Some(info.0.ip());
    }
    let _ = req;
    None
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, K, ReqBody, ResBody> Service<Request<ReqBody>> for Audit<S, K>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Send + 'static,
    K: AuditSink,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = AuditFuture<S::Future, K>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let seen = Seen::of(&req);
        AuditFuture {
            state: State::Serving {
                future: self.inner.call(req),
                seen: Some(seen),
                sink: self.sink.clone(),
                policy: self.policy.clone(),
            },
        }
    }
}

pin_project! {
    /// The response future of [`Audit`]: the inner service's future, then, when the
    /// response is one to record, the wait for the sink to take the event.
    pub struct AuditFuture<F: Future, K> {
        #[pin]
        state: State<F, K>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<F: Future, K> {
        Serving {
            #[pin]
            future: F,
            seen: Option<Seen>,
            sink: Arc<K>,
            policy: Arc<AuditPolicy>,
        },
        Recording { future: BoxFuture<F::Output> },
    }
}

impl<F, K, B, E> Future for AuditFuture<F, K>
where
    F: Future<Output = Result<Response<B>, E>>,
    K: AuditSink,
    B: Send + 'static,
    E: Send + 'static,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            let recording = match state.as_mut().project() {
                StateProjection::Serving {
                    future,
                    seen,
                    sink,
                    policy,
                } => {
                    let response = std::task::ready!(future.poll(cx))?;
                    let status = response.status();
                    let seen = seen.take().expect("polled after completion");
                    if !policy.records(&seen.method, seen.template.as_str(), status) {
                        return Poll::Ready(Ok(response));
                    }
                    let event = seen.event(status, response.extensions().get::<TenantContext>());
                    let sink = sink.clone();
                    Box::pin(async move {
                        if let Err(err) = sink.record(event).await {
                            tracing::error!(error = %err, "request audit event lost");
                        }
                        Ok(response)
                    })
                }
                StateProjection::Recording { future } => return future.as_mut().poll(cx),
            };
            state.set(State::Recording { future: recording });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use hydronet_core::{Plan, UserId};
    use tower::{ServiceExt, service_fn};

    use super::*;
    use crate::audit::MemorySink;

    async fn run(
        policy: AuditPolicy,
        req: Request<String>,
        status: StatusCode,
        ctx: Option<TenantContext>,
    ) -> Vec<AuditEvent> {
        let sink = MemorySink::new();
        let service = AuditLayer::new(Arc::new(sink.clone()), policy).layer(service_fn(
            move |_req: Request<String>| {
                let ctx = ctx.clone();
                async move {
                    let mut response = Response::new(String::new());
                    *response.status_mut() = status;
                    if let Some(ctx) = ctx {
                        response.extensions_mut().insert(ctx);
                    }
                    Ok::<_, Infallible>(response)
                }
            },
        ));
        service.oneshot(req).await.unwrap();
        sink.events()
    }

    #[tokio::test]
    async fn writes_and_refusals_are_recorded_plain_reads_are_not() {
        let get = || {
            Request::get("/things?token=secret")
                .body(String::new())
                .unwrap()
        };
        assert!(
            run(AuditPolicy::new(), get(), StatusCode::OK, None)
                .await
                .is_empty()
        );

        let refused = run(AuditPolicy::new(), get(), StatusCode::UNAUTHORIZED, None).await;
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].outcome, Outcome::Denied);
        assert_eq!(refused[0].tenant_id, TenantId::from_uuid(Uuid::nil()));
        assert_eq!(refused[0].target.as_deref(), Some("GET /things"));
        assert!(
            !serde_json::to_string(&refused[0])
                .unwrap()
                .contains("secret")
        );

        let ctx = TenantContext::new(TenantId::new(), Principal::User(UserId::new()), Plan::Free)
            .with_token_id("jti-9");
        let post = Request::post("/things")
            .header("x-request-id", "req-1")
            .body(String::new())
            .unwrap();
        let written = run(
            AuditPolicy::new(),
            post,
            StatusCode::CREATED,
            Some(ctx.clone()),
        )
        .await;
        assert_eq!(written.len(), 1);
        assert_eq!(written[0].tenant_id, ctx.tenant_id());
        assert_eq!(written[0].token_id.as_deref(), Some("jti-9"));
        assert_eq!(written[0].request_id.as_deref(), Some("req-1"));
        assert_eq!(written[0].details["status"], 201);
        assert!(written[0].details["latency_ms"].is_u64());

        let failed = run(
            AuditPolicy::new(),
            Request::delete("/things").body(String::new()).unwrap(),
            StatusCode::CONFLICT,
            None,
        )
        .await;
        assert_eq!(failed[0].outcome, Outcome::Failed);
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        assert_eq!(cut_chars("short", 256), "short");
        assert_eq!(cut_chars(&"a".repeat(300), 256).len(), 256);
        let accented = "é".repeat(200); // 400 bytes, 200 characters
        assert_eq!(cut_chars(&accented, 256), accented);
        assert_eq!(cut_chars(&accented, 150).chars().count(), 150);
    }

    #[tokio::test]
    async fn chosen_reads_are_recorded() {
        let policy = AuditPolicy::new().sensitive_read(Method::GET, "/audit");
        let events = run(
            policy,
            Request::get("/audit").body(String::new()).unwrap(),
            StatusCode::OK,
            None,
        )
        .await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].outcome, Outcome::Success);
    }
}
