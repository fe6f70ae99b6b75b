//! Call latency, tokens and errors by model through the `metrics` facade
//! (feature `metrics`).
//!
//! [`MetricsLayer`] records, for every call:
//!
//! | name | kind | labels |
//! |---|---|---|
//! | [`LLM_REQUEST_DURATION`] | histogram (seconds) | `model`, `mode` (`complete`, `stream`), `outcome` (`ok`, `error`, `abandoned`) |
//! | [`LLM_TOKENS`] | counter | `model`, `kind` (`prompt`, `completion`) |
//! | [`LLM_ERRORS`] | counter | `model`, `kind` (see [`error_kind`]) |
//!
//! A stream's duration runs until its end or until it is dropped; its outcome is `error` if
//! any item was an error, `abandoned` if it was dropped before its end. The `model` label is the model the request names, when the layer was
//! told about it, or the default model for requests that name none; any other name is
//! counted as `other`, so callers choosing arbitrary model names cannot multiply the
//! series. Nothing is recorded until the application installs a recorder.
//!
//! # Example
//!
//! ```
//! use hydronet_llm::layers::MetricsLayer;
//! use hydronet_llm::{ChatModel, ChatRequest, ScriptedModel};
//! use tower::Layer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let model = MetricsLayer::new("qwen-turbo")
//!     .model("qwen-plus")
//!     .layer(ScriptedModel::new().reply("ok", 5, 2));
//! // Recorded as model="qwen-turbo" by whichever recorder the application installed.
//! assert!(model.complete(ChatRequest::default()).await.is_ok());
//! # }
//! ```

use std::sync::Arc;
use std::time::Instant;

use ::metrics::{SharedString, Unit, counter, describe_counter, describe_histogram, histogram};
use futures_util::{StreamExt, stream};
use tower::Layer;

use crate::model::{BoxFuture, ChatModel, ChatStream, LlmError};
use crate::types::{ChatRequest, ChatResponse, StreamEvent, Usage};

/// How long each call took, from the call to its reply or the end of its stream.
pub const LLM_REQUEST_DURATION: &str = "hydronet_llm_request_duration_seconds";

/// Tokens the provider reported, by kind.
pub const LLM_TOKENS: &str = "hydronet_llm_tokens_total";

/// Failed calls and streams, by [`error_kind`].
pub const LLM_ERRORS: &str = "hydronet_llm_errors_total";

/// The label for a model the layer was not told about.
const OTHER_MODEL: &str = "other";

/// Registers the help text and unit of every metric above with the installed recorder.
pub fn describe() {
    describe_histogram!(
        LLM_REQUEST_DURATION,
        Unit::Seconds,
        "Duration of model calls, to the reply or the end of the stream"
    );
    describe_counter!(LLM_TOKENS, "Tokens reported by the model provider");
    describe_counter!(LLM_ERRORS, "Failed model calls by kind of error");
}

/// The `kind` label of an error: `connect`, `timeout`, `rate_limited` (429),
/// `client_status` (other 4xx), `server_status` (5xx), `status` (any other status),
/// `upstream` or `protocol`.
pub fn error_kind(error: &LlmError) -> &'static str {
    match error {
        LlmError::Connect(_) => "connect",
        LlmError::Timeout => "timeout",
        LlmError::Status { status: 429, .. } => "rate_limited",
        LlmError::Status {
            status: 400..=499, ..
        } => "client_status",
        LlmError::Status {
            status: 500..=599, ..
        } => "server_status",
        LlmError::Status { .. } => "status",
        LlmError::Upstream(_) => "upstream",
        LlmError::Protocol(_) => "protocol",
    }
}

/// Records every call of the model it wraps; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct MetricsLayer {
    models: Arc<Models>,
}

/// The model names that become labels.
#[derive(Debug, Clone)]
struct Models {
    default: Arc<str>,
    known: Vec<Arc<str>>,
}

impl Models {
    /// The label of a request naming `model`.
    fn label(&self, model: Option<&str>) -> SharedString {
        let Some(model) = model else {
            return SharedString::from(self.default.clone());
        };
        std::iter::once(&self.default)
            .chain(&self.known)
            .find(|known| ***known == *model)
            .map_or(SharedString::const_str(OTHER_MODEL), |known| {
                SharedString::from(known.clone())
            })
    }
}

impl MetricsLayer {
    /// Labels requests that name no model, or name `default_model`, as `default_model`
    /// (usually the provider's configured default).
    pub fn new(default_model: impl Into<String>) -> Self {
        Self {
            models: Arc::new(Models {
                default: Arc::from(default_model.into()),
                known: Vec::new(),
            }),
        }
    }

    /// Labels requests naming `model` by its name too. By default only the default model
    /// has a label of its own; every other name is counted as `other`.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.models)
            .known
            .push(Arc::from(model.into()));
        self
    }
}

impl<M> Layer<M> for MetricsLayer {
    type Service = WithMetrics<M>;

    fn layer(&self, inner: M) -> Self::Service {
        WithMetrics {
            inner,
            models: self.models.clone(),
        }
    }
}

/// A model whose calls are recorded; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct WithMetrics<M> {
    inner: M,
    models: Arc<Models>,
}

/// One call being timed; records its duration when dropped.
struct Call {
    model: SharedString,
    mode: &'static str,
    outcome: &'static str,
    started: Instant,
}

impl Call {
    fn start(model: SharedString, mode: &'static str) -> Self {
        Self {
            model,
            mode,
            outcome: "abandoned",
            started: Instant::now(),
        }
    }

    fn usage(&self, usage: &Usage) {
        counter!(LLM_TOKENS, "model" => self.model.clone(), "kind" => "prompt")
            .increment(usage.prompt_tokens);
        counter!(LLM_TOKENS, "model" => self.model.clone(), "kind" => "completion")
            .increment(usage.completion_tokens);
    }

    fn failed(&mut self, error: &LlmError) {
        self.outcome = "error";
        counter!(LLM_ERRORS, "model" => self.model.clone(), "kind" => error_kind(error))
            .increment(1);
    }

    fn succeeded(&mut self) {
        self.outcome = "ok";
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        histogram!(
            LLM_REQUEST_DURATION,
            "model" => self.model.clone(),
            "mode" => self.mode,
            "outcome" => self.outcome,
        )
        .record(self.started.elapsed().as_secs_f64());
    }
}

impl<M: ChatModel> WithMetrics<M> {
    async fn complete_inner(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let mut call = Call::start(self.models.label(request.model.as_deref()), "complete");
        let result = self.inner.complete(request).await;
        match &result {
            Ok(reply) => {
                if let Some(usage) = &reply.usage {
                    call.usage(usage);
                }
                call.succeeded();
            }
            Err(err) => call.failed(err),
        }
        result
    }

    async fn stream_inner(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        let mut call = Call::start(self.models.label(request.model.as_deref()), "stream");
        let stream = match self.inner.stream(request).await {
            Ok(stream) => stream,
            Err(err) => {
                call.failed(&err);
                return Err(err);
            }
        };
        let measured = stream::unfold((stream, call), |(mut stream, mut call)| async move {
            let item = stream.next().await;
            match &item {
                Some(Ok(StreamEvent::Usage(usage))) => call.usage(usage),
                Some(Ok(_)) => {}
                Some(Err(err)) => call.failed(err),
                None if call.outcome == "abandoned" => call.succeeded(),
                None => {}
            }
            // Dropping `call` with the finished stream records its duration.
            item.map(|item| (item, (stream, call)))
        });
        Ok(Box::pin(measured) as ChatStream)
    }
}

impl<M: ChatModel> ChatModel for WithMetrics<M> {
    fn complete(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, LlmError>> {
        Box::pin(self.complete_inner(request))
    }

    fn stream(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatStream, LlmError>> {
        Box::pin(self.stream_inner(request))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

    use super::*;
    use crate::scripted::ScriptedModel;

    /// Each metric as `name{label=value,…}` (labels sorted), recorded since the last call.
    fn take(snapshotter: &Snapshotter) -> HashMap<String, DebugValue> {
        let snapshot = snapshotter.snapshot().into_vec();
        snapshot
            .into_iter()
            .map(|(key, _, _, value)| {
                let key = key.key();
                let mut labels: Vec<String> = key
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                labels.sort();
                (format!("{}{{{}}}", key.name(), labels.join(",")), value)
            })
            .collect()
    }

    fn named(model: &str) -> ChatRequest {
        ChatRequest {
            model: Some(model.to_owned()),
            ..ChatRequest::default()
        }
    }

    #[tokio::test]
    async fn tokens_errors_and_durations_are_recorded_by_model() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        // One thread: the calls below run where the local recorder is set.
        let _guard = ::metrics::set_default_local_recorder(&recorder);
        let scripted = ScriptedModel::new()
            .reply("plain", 3, 4)
            .reply("other", 10, 20)
            .reply("streamed", 5, 6)
            .fail(LlmError::Timeout);
        let model = MetricsLayer::new("qwen-turbo")
            .model("qwen-plus")
            .layer(scripted);

        model.complete(ChatRequest::default()).await.unwrap();
        model.complete(named("made-up-by-a-client")).await.unwrap();
        let events: Vec<_> = model
            .stream(named("qwen-plus"))
            .await
            .unwrap()
            .collect()
            .await;
        assert!(events.iter().all(Result::is_ok));
        assert!(model.complete(ChatRequest::default()).await.is_err());

        let values = take(&snapshotter);
        let tokens = |labels: &str| &values[&format!("{LLM_TOKENS}{{{labels}}}")];
        assert_eq!(
            tokens("kind=prompt,model=qwen-turbo"),
            &DebugValue::Counter(3)
        );
        assert_eq!(
            tokens("kind=completion,model=qwen-turbo"),
            &DebugValue::Counter(4)
        );
        assert_eq!(
            tokens("kind=completion,model=other"),
            &DebugValue::Counter(20)
        );
        assert_eq!(
            tokens("kind=prompt,model=qwen-plus"),
            &DebugValue::Counter(5)
        );
        assert_eq!(
            values[&format!("{LLM_ERRORS}{{kind=timeout,model=qwen-turbo}}")],
            DebugValue::Counter(1)
        );
        let durations = |labels: &str| match &values[&format!("{LLM_REQUEST_DURATION}{{{labels}}}")]
        {
            DebugValue::Histogram(samples) => samples.len(),
            other => panic!("not a histogram: {other:?}"),
        };
        assert_eq!(durations("mode=complete,model=qwen-turbo,outcome=ok"), 1);
        assert_eq!(durations("mode=complete,model=qwen-turbo,outcome=error"), 1);
        assert_eq!(durations("mode=complete,model=other,outcome=ok"), 1);
        assert_eq!(durations("mode=stream,model=qwen-plus,outcome=ok"), 1);
        assert_eq!(values.len(), 11, "{:?}", values.keys());
    }

    #[tokio::test]
    async fn a_dropped_stream_is_abandoned() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let _guard = ::metrics::set_default_local_recorder(&recorder);
        let model = MetricsLayer::new("m").layer(ScriptedModel::new().reply("a b c", 1, 1));

        let mut stream = model.stream(ChatRequest::default()).await.unwrap();
        stream.next().await;
        drop(stream);

        let values = take(&snapshotter);
        let key = format!("{LLM_REQUEST_DURATION}{{mode=stream,model=m,outcome=abandoned}}");
        assert!(values.contains_key(&key), "{:?}", values.keys());
    }

    #[test]
    fn error_kinds_are_few_and_fixed() {
        let status = |status| LlmError::Status {
            status,
            retry_after: None,
            message: None,
        };
        assert_eq!(error_kind(&status(429)), "rate_limited");
        assert_eq!(error_kind(&status(404)), "client_status");
        assert_eq!(error_kind(&status(503)), "server_status");
        assert_eq!(error_kind(&LlmError::Protocol("x".into())), "protocol");
    }
}
