//! The reference request path, assembled once so the micro-benchmarks and the load program
//! measure the same thing: a trivial handler bare, and the same handler behind every layer
//! the reference server puts in front of its private routes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::Method;
use hydronet_tenancy::audit::{AuditError, AuditEvent, AuditSink, RecordFuture};
use hydronet_tenancy::rbac::{Permission, RoutePermissions};
use hydronet_tenancy::token::JwtCodec;
use tokio::sync::{Notify, mpsc};

use crate::StackFixture;

/// The benchmarked route. `GET` reads, `POST` writes (and so is audited).
pub const PATH: &str = "/api/hello";

/// The handler every variant serves: a short constant body.
pub fn handlers() -> Router {
    Router::new().route(PATH, get(hello).post(hello))
}

async fn hello() -> &'static str {
    "hello"
}

/// The full stack and what a client needs to pass it.
#[derive(Debug)]
pub struct Stack {
    /// [`handlers`] behind request id, trace, audit, authentication, rate limiting and
    /// authorization, in the reference server's order.
    pub router: Router,
    /// A valid access token for a `member` of a `pro` tenant.
    pub token: String,
    /// The codec that verifies [`Stack::token`], for measuring verification alone.
    pub codec: JwtCodec,
    /// The audit queue behind the audit layer.
    pub audit: QueueSink,
}

/// Builds [`handlers`] behind the full layer stack ([`crate::full_stack`]) for one
/// signed-in member, auditing into a [`QueueSink`]. Rate limits are set far above any
/// benchmark's rate so every request is admitted and still pays for the decision.
///
/// Call it inside a tokio runtime: the audit queue's consumer is spawned on it.
pub async fn full_stack() -> Stack {
    let fixture = StackFixture::new(1, 1).await;
    let permissions = RoutePermissions::new()
        .route(Method::GET, PATH, Permission::ConversationsRead)
        .route(Method::POST, PATH, Permission::ConversationsWrite);
    let audit = QueueSink::spawn(65_536);
    let router = crate::full_stack(handlers(), permissions, &fixture, Arc::new(audit.clone()));
    let token = fixture
        .bearer(0)
        .strip_prefix("Bearer ")
        .expect("fixture bearers carry the scheme")
        .to_owned();
    Stack {
        router,
        token,
        codec: fixture.codec().clone(),
        audit,
    }
}

/// An audit sink that hands events to a bounded queue drained by a background task, as the
/// reference server's batching writer does, minus the database: only the first event of a
/// batch wakes the consumer, which then sleeps until the batch is due (200 ms) or a full
/// batch (500 events) is queued.
#[derive(Debug, Clone)]
pub struct QueueSink {
    queue: mpsc::Sender<AuditEvent>,
    full: Arc<Notify>,
    drained: Arc<AtomicU64>,
}

/// Events that make a full batch.
const BATCH: usize = 500;

impl QueueSink {
    /// A queue of `capacity` events and its consumer, spawned on the current runtime.
    pub fn spawn(capacity: usize) -> Self {
        let (queue, mut events) = mpsc::channel::<AuditEvent>(capacity);
        let full = Arc::new(Notify::new());
        let drained = Arc::new(AtomicU64::new(0));
        let (counter, notified) = (drained.clone(), full.clone());
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while events.recv_many(&mut batch, BATCH).await > 0 {
                let due = tokio::time::sleep(Duration::from_millis(200));
                tokio::select! {
                    () = due => {}
                    () = notified.notified() => {}
                }
                while batch.len() < BATCH
                    && let Ok(event) = events.try_recv()
                {
                    batch.push(event);
                }
                counter.fetch_add(batch.len() as u64, Ordering::Relaxed);
                batch.clear();
            }
        });
        Self {
            queue,
            full,
            drained,
        }
    }

    /// Events the consumer has taken off the queue so far.
    pub fn drained(&self) -> u64 {
        self.drained.load(Ordering::Relaxed)
    }
}

impl AuditSink for QueueSink {
    fn record(&self, event: AuditEvent) -> RecordFuture<'_> {
        Box::pin(async move {
            self.queue
                .send(event)
                .await
                .map_err(|_| AuditError("audit queue closed".to_owned()))?;
            if self.queue.max_capacity() - self.queue.capacity() >= BATCH {
                self.full.notify_one();
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    fn request(method: Method, token: Option<&str>) -> Request<Body> {
        let mut builder = Request::builder().method(method).uri(PATH);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        builder.body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn the_stack_admits_its_token_audits_writes_and_refuses_strangers() {
        let stack = full_stack().await;
        let ok = stack
            .router
            .clone()
            .oneshot(request(Method::GET, Some(&stack.token)))
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        assert!(ok.headers().contains_key("x-request-id"));
        assert!(ok.headers().contains_key("ratelimit"));

        let write = stack
            .router
            .clone()
            .oneshot(request(Method::POST, Some(&stack.token)))
            .await
            .unwrap();
        assert_eq!(write.status(), StatusCode::OK);

        let stranger = stack
            .router
            .clone()
            .oneshot(request(Method::GET, None))
            .await
            .unwrap();
        assert_eq!(stranger.status(), StatusCode::UNAUTHORIZED);

        // The write and the refusal are audited; the plain read is not.
        for _ in 0..300 {
            if stack.audit.drained() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(stack.audit.drained(), 2);
    }

    #[tokio::test]
    async fn the_bare_handlers_answer_without_credentials() {
        let response = handlers()
            .oneshot(request(Method::GET, None))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}
