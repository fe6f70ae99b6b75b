//! Resilience and metering as tower [`Layer`]s around any [`ChatModel`].
//!
//! - [`RetryLayer`]: retries connection errors, timeouts, 408, 429 and 5xx with jittered
//!   exponential backoff, honouring `Retry-After`, a few attempts at most. A stream is
//!   retried only while nothing of it has been passed on: once its first item is out, an
//!   error ends it.
//! - [`ConcurrencyLimitLayer`]: at most N calls at once; a stream holds its slot until it
//!   ends or is dropped.
//! - [`MeterLayer`]: reports every call to a [`Meter`] — usage, and whether it completed —
//!   streamed or not, finished or aborted.
//! - `MetricsLayer` (feature `metrics`): latency, tokens and errors by model through the
//!   `metrics` facade; see the `metrics` submodule.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! use hydronet_llm::layers::{ConcurrencyLimitLayer, RetryLayer};
//! use hydronet_llm::{ChatModel, ChatRequest, LlmError, ScriptedModel};
//! use tower::ServiceBuilder;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let scripted = ScriptedModel::new().fail(LlmError::Timeout).reply("ok", 1, 1);
//! let model = ServiceBuilder::new()
//!     .layer(ConcurrencyLimitLayer::new(8))
//!     .layer(RetryLayer::new().base_delay(Duration::from_millis(1)))
//!     .service(scripted.clone());
//! let reply = model.complete(ChatRequest::default()).await.unwrap();
//! assert_eq!(reply.message.content.as_deref(), Some("ok"));
//! assert_eq!(scripted.requests().len(), 2);
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, stream};
use tokio::sync::Semaphore;
use tower::Layer;

use crate::model::{BoxFuture, ChatModel, ChatStream, LlmError};
use crate::types::{ChatRequest, ChatResponse, StreamEvent, Usage};

#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "metrics")]
pub use metrics::{MetricsLayer, WithMetrics};

/// Retries transient failures; see the [module docs](self).
#[derive(Debug, Clone, Copy)]
pub struct RetryLayer {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
}

impl Default for RetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryLayer {
    /// Three attempts in all, backing off from 250 ms up to 10 s.
    pub fn new() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
        }
    }

    /// Attempts in all, including the first (at least 1). Default 3.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The first backoff; each next one doubles. Default 250 ms.
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The longest wait between attempts, also for `Retry-After`. Default 10 s.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// How long to wait before attempt `attempt + 1` after `error`: the provider's
    /// `Retry-After` if it gave one, else an exponential backoff with full jitter.
    fn delay(&self, attempt: u32, error: &LlmError) -> Duration {
        if let LlmError::Status {
            retry_after: Some(wait),
            ..
        } = error
        {
            return (*wait).min(self.max_delay);
        }
        let ceiling = self
            .base_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        ceiling.mul_f64(jitter())
    }
}

/// A number in `[0.5, 1.0)`, different on every call.
fn jitter() -> f64 {
    let mut bytes = [0u8; 2];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.75;
    }
    0.5 + f64::from(u16::from_le_bytes(bytes)) / f64::from(u16::MAX) / 2.0
}

impl<M> Layer<M> for RetryLayer {
    type Service = Retry<M>;

    fn layer(&self, inner: M) -> Self::Service {
        Retry {
            inner,
            policy: *self,
        }
    }
}

/// A model whose transient failures are retried.
#[derive(Debug, Clone)]
pub struct Retry<M> {
    inner: M,
    policy: RetryLayer,
}

impl<M: ChatModel> Retry<M> {
    async fn complete_inner(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let mut attempt = 1;
        loop {
            match self.inner.complete(request.clone()).await {
                Err(err) if err.is_retryable() && attempt < self.policy.max_attempts => {
                    let wait = self.policy.delay(attempt, &err);
                    tracing::debug!(attempt, error = %err, ?wait, "retrying model call");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn stream_inner(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        let mut attempt = 1;
        loop {
            let opened = match self.inner.stream(request.clone()).await {
                Ok(mut stream) => match stream.next().await {
                    // Nothing passed on yet: a failing first item may still be retried.
                    Some(Err(err)) => Err(err),
                    Some(Ok(first)) => {
                        Ok(Box::pin(stream::once(async { Ok(first) }).chain(stream)) as ChatStream)
                    }
                    None => Ok(Box::pin(stream::empty()) as ChatStream),
                },
                Err(err) => Err(err),
            };
            match opened {
                Err(err) if err.is_retryable() && attempt < self.policy.max_attempts => {
                    let wait = self.policy.delay(attempt, &err);
                    tracing::debug!(attempt, error = %err, ?wait, "retrying model stream");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }
}

impl<M: ChatModel> ChatModel for Retry<M> {
    fn complete(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, LlmError>> {
        Box::pin(self.complete_inner(request))
    }

    fn stream(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatStream, LlmError>> {
        Box::pin(self.stream_inner(request))
    }
}

/// At most `max` calls at once; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer {
    permits: Arc<Semaphore>,
}

impl ConcurrencyLimitLayer {
    /// Allows `max` concurrent calls (at least one); the rest wait.
    pub fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max.max(1))),
        }
    }
}

impl<M> Layer<M> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimit<M>;

    fn layer(&self, inner: M) -> Self::Service {
        ConcurrencyLimit {
            inner,
            permits: self.permits.clone(),
        }
    }
}

/// A model with a bound on concurrent calls.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit<M> {
    inner: M,
    permits: Arc<Semaphore>,
}

impl<M: ChatModel> ChatModel for ConcurrencyLimit<M> {
    fn complete(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, LlmError>> {
        Box::pin(async move {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| LlmError::Connect("model closed".into()))?;
            self.inner.complete(request).await
        })
    }

    fn stream(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatStream, LlmError>> {
        Box::pin(async move {
            let permit = self
                .permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| LlmError::Connect("model closed".into()))?;
            let stream = self.inner.stream(request).await?;
            // The slot is held until the stream is finished or dropped.
            let held = stream.map(move |item| {
                let _ = &permit;
                item
            });
            Ok(Box::pin(held) as ChatStream)
        })
    }
}

/// One finished or abandoned model call, as reported to a [`Meter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metered {
    /// Whether it was streamed.
    pub streamed: bool,
    /// Whether it ran to its end (false: failed, or the stream was dropped early).
    pub completed: bool,
    /// The usage the provider reported, if it did before the end.
    pub usage: Option<Usage>,
}

/// Receives a report of every call.
pub trait Meter: Send + Sync + 'static {
    /// Called once per call, when it ends or is abandoned.
    fn record(&self, call: Metered);
}

/// Reports every call to a [`Meter`]; see the [module docs](self).
#[derive(Clone)]
pub struct MeterLayer {
    meter: Arc<dyn Meter>,
}

impl std::fmt::Debug for MeterLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeterLayer").finish_non_exhaustive()
    }
}

impl MeterLayer {
    /// Reports to `meter`.
    pub fn new(meter: Arc<dyn Meter>) -> Self {
        Self { meter }
    }
}

impl<M> Layer<M> for MeterLayer {
    type Service = Metering<M>;

    fn layer(&self, inner: M) -> Self::Service {
        Metering {
            inner,
            meter: self.meter.clone(),
        }
    }
}

/// A model whose calls are reported to a [`Meter`].
#[derive(Clone)]
pub struct Metering<M> {
    inner: M,
    meter: Arc<dyn Meter>,
}

impl<M: std::fmt::Debug> std::fmt::Debug for Metering<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metering")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// Reports a stream's call when the stream ends or is dropped.
struct StreamReport {
    meter: Arc<dyn Meter>,
    usage: Option<Usage>,
    completed: bool,
}

impl StreamReport {
    fn finish(&mut self) {
        self.completed = true;
    }
}

impl Drop for StreamReport {
    fn drop(&mut self) {
        self.meter.record(Metered {
            streamed: true,
            completed: self.completed,
            usage: self.usage.take(),
        });
    }
}

impl<M: ChatModel> ChatModel for Metering<M> {
    fn complete(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, LlmError>> {
        Box::pin(async move {
            let result = self.inner.complete(request).await;
            self.meter.record(Metered {
                streamed: false,
                completed: result.is_ok(),
                usage: result.as_ref().ok().and_then(|r| r.usage.clone()),
            });
            result
        })
    }

    fn stream(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatStream, LlmError>> {
        Box::pin(async move {
            let stream = match self.inner.stream(request).await {
                Ok(stream) => stream,
                Err(err) => {
                    self.meter.record(Metered {
                        streamed: true,
                        completed: false,
                        usage: None,
                    });
                    return Err(err);
                }
            };
            let report = StreamReport {
                meter: self.meter.clone(),
                usage: None,
                completed: false,
            };
            let metered = stream::unfold((stream, report), |(mut stream, mut report)| async move {
                match stream.next().await {
                    Some(item) => {
                        match &item {
                            Ok(StreamEvent::Usage(usage)) => report.usage = Some(usage.clone()),
                            Err(_) => report.completed = false,
                            Ok(_) => {}
                        }
                        Some((item, (stream, report)))
                    }
                    None => {
                        report.finish();
                        None
                    }
                }
            });
            Ok(Box::pin(metered) as ChatStream)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::scripted::ScriptedModel;

    fn status(code: u16, retry_after: Option<u64>) -> LlmError {
        LlmError::Status {
            status: code,
            retry_after: retry_after.map(Duration::from_secs),
            message: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_honouring_retry_after() {
        let scripted = ScriptedModel::new()
            .fail(status(429, Some(7)))
            .fail(status(503, None))
            .reply("ok", 1, 1);
        let model = RetryLayer::new().layer(scripted.clone());
        let started = tokio::time::Instant::now();

        let reply = model.complete(ChatRequest::default()).await.unwrap();

        assert_eq!(reply.message.content.as_deref(), Some("ok"));
        assert_eq!(scripted.requests().len(), 3);
        // Seven seconds asked for by the provider, then a jittered backoff under 500 ms.
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(7) && waited < Duration::from_millis(7_500),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_bounded_and_permanent_errors_are_not_retried() {
        let scripted = ScriptedModel::new()
            .fail(status(500, None))
            .fail(status(500, None))
            .fail(status(500, None))
            .reply("late", 1, 1);
        let model = RetryLayer::new().layer(scripted.clone());
        assert!(matches!(
            model.complete(ChatRequest::default()).await,
            Err(LlmError::Status { status: 500, .. })
        ));
        assert_eq!(scripted.requests().len(), 3);

        let scripted = ScriptedModel::new()
            .fail(status(400, None))
            .reply("never", 1, 1);
        let model = RetryLayer::new().layer(scripted.clone());
        assert!(model.complete(ChatRequest::default()).await.is_err());
        assert_eq!(scripted.requests().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn streams_are_retried_only_before_anything_was_passed_on() {
        let scripted = ScriptedModel::new()
            .fail(LlmError::Timeout)
            .reply("streamed reply", 2, 2);
        let model = RetryLayer::new().layer(scripted.clone());
        let events: Vec<_> = model
            .stream(ChatRequest::default())
            .await
            .unwrap()
            .collect()
            .await;
        assert!(events.iter().all(Result::is_ok));
        assert_eq!(scripted.requests().len(), 2);
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Metered>>);

    impl Meter for Recorder {
        fn record(&self, call: Metered) {
            self.0.lock().unwrap().push(call);
        }
    }

    #[tokio::test]
    async fn every_call_is_metered_completed_or_abandoned() {
        let recorder = Arc::new(Recorder::default());
        let scripted = ScriptedModel::new()
            .reply("plain", 3, 4)
            .reply("streamed to the end", 5, 6)
            .reply("abandoned after one piece", 7, 8)
            .fail(LlmError::Timeout);
        let model = MeterLayer::new(recorder.clone()).layer(scripted);

        model.complete(ChatRequest::default()).await.unwrap();
        let _: Vec<_> = model
            .stream(ChatRequest::default())
            .await
            .unwrap()
            .collect()
            .await;
        let mut stream = model.stream(ChatRequest::default()).await.unwrap();
        stream.next().await;
        drop(stream);
        assert!(model.complete(ChatRequest::default()).await.is_err());

        let calls = recorder.0.lock().unwrap().clone();
        assert_eq!(calls.len(), 4);
        assert_eq!(
            calls[0],
            Metered {
                streamed: false,
                completed: true,
                usage: Some(usage(3, 4))
            }
        );
        assert_eq!(
            calls[1],
            Metered {
                streamed: true,
                completed: true,
                usage: Some(usage(5, 6))
            }
        );
        assert_eq!(
            calls[2],
            Metered {
                streamed: true,
                completed: false,
                usage: None
            }
        );
        assert_eq!(
            calls[3],
            Metered {
                streamed: false,
                completed: false,
                usage: None
            }
        );
    }

    fn usage(prompt: u64, completion: u64) -> Usage {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            ..Usage::default()
        }
    }

    #[tokio::test]
    async fn the_limit_holds_streams_until_they_end() {
        let scripted = ScriptedModel::new().reply("a b", 1, 1).reply("c", 1, 1);
        let model = ConcurrencyLimitLayer::new(1).layer(scripted);
        let first = model.stream(ChatRequest::default()).await.unwrap();

        let second = tokio::time::timeout(
            Duration::from_millis(50),
            model.stream(ChatRequest::default()),
        )
        .await;
        assert!(
            second.is_err(),
            "the second call must wait for the first stream"
        );

        drop(first);
        let second = tokio::time::timeout(
            Duration::from_millis(500),
            model.stream(ChatRequest::default()),
        )
        .await;
        assert!(second.is_ok());
    }
}
