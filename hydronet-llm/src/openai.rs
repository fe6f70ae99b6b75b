//! A provider for any OpenAI-compatible endpoint: DashScope (Qwen) by default, OpenAI,
//! vLLM, Ollama.

use std::fmt;
use std::time::Duration;

use futures_util::{Stream, StreamExt, stream};
use reqwest::header::RETRY_AFTER;
use serde_json::{Map, Value, json};

use crate::model::{BoxFuture, ChatModel, ChatStream, LlmError};
use crate::sse::{SseParser, is_done};
use crate::types::{ChatRequest, ChatResponse, Message, StreamEvent, ToolCallDelta, Usage};

/// DashScope's OpenAI-compatible endpoint.
pub const DASHSCOPE_BASE_URL: &str = "https://dashscope.aliyuncs.com/compatible-mode/v1";

/// The default model.
pub const DEFAULT_MODEL: &str = "qwen-turbo";

/// Where and how to reach the provider.
#[derive(Clone)]
pub struct OpenAiConfig {
    base_url: String,
    model: String,
    api_key: Option<String>,
    connect_timeout: Duration,
    read_timeout: Duration,
    total_timeout: Duration,
}

impl fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("total_timeout", &self.total_timeout)
            .finish()
    }
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        Self {
            base_url: DASHSCOPE_BASE_URL.to_owned(),
            model: DEFAULT_MODEL.to_owned(),
            api_key: None,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            total_timeout: Duration::from_secs(120),
        }
    }
}

impl OpenAiConfig {
    /// The base URL, up to and including `/v1`. Default DashScope's compatible mode.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// The model used when a request names none. Default `qwen-turbo`.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// The API key, sent as a bearer token. Default none.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// How long to wait for a connection. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The longest silence while reading a response or stream. Default 60 s.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The longest a non-streamed call may take in all. Default 120 s.
    pub fn total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = timeout;
        self
    }
}

/// Talks to an OpenAI-compatible `/chat/completions`.
///
/// Streams ask for usage (`stream_options.include_usage`) and are parsed leniently: CRLF,
/// multi-line data, keep-alive comments, a final chunk with empty `choices` carrying usage,
/// `reasoning_content`, a missing `[DONE]`. An error object in the stream, an invalid
/// line and a line over 1 MiB end the stream with an error instead.
#[derive(Debug, Clone)]
pub struct OpenAiModel {
    client: reqwest::Client,
    config: OpenAiConfig,
}

impl OpenAiModel {
    /// A provider for `config`.
    pub fn new(config: OpenAiConfig) -> Result<Self, LlmError> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .build()
            .map_err(|err| LlmError::Connect(err.to_string()))?;
        Ok(Self { client, config })
    }

    /// The model used when a request names none.
    pub fn default_model(&self) -> &str {
        &self.config.model
    }

    fn body(&self, request: ChatRequest, stream: bool) -> Value {
        let model = request
            .model
            .clone()
            .unwrap_or_else(|| self.config.model.clone());
        let mut body = serde_json::to_value(&request).unwrap_or_else(|_| json!({}));
        body["model"] = json!(model);
        body["stream"] = json!(stream);
        if stream {
            body["stream_options"] = json!({ "include_usage": true });
        }
        body
    }

    async fn send(
        &self,
        body: Value,
        total: Option<Duration>,
    ) -> Result<reqwest::Response, LlmError> {
        let url = format!("{}/chat/completions", self.config.base_url);
        let mut request = self.client.post(url).json(&body);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        if let Some(total) = total {
            request = request.timeout(total);
        }
        let response = request.send().await.map_err(transport)?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(status_error(response).await)
    }

    async fn complete_inner(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let body = self.body(request, false);
        let response = self.send(body, Some(self.config.total_timeout)).await?;
        let value: Value = response.json().await.map_err(transport)?;
        parse_completion(value)
    }

    async fn stream_inner(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        let body = self.body(request, true);
        let response = self.send(body, None).await?;
        let bytes = response
            .bytes_stream()
            .map(|chunk| chunk.map_err(transport));
        Ok(Box::pin(events(bytes)))
    }
}

impl ChatModel for OpenAiModel {
    fn complete(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, LlmError>> {
        Box::pin(self.complete_inner(request))
    }

    fn stream(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatStream, LlmError>> {
        Box::pin(self.stream_inner(request))
    }
}

fn transport(err: reqwest::Error) -> LlmError {
    let (timeout, decode) = (err.is_timeout(), err.is_decode());
    // Never the URL: it names the provider and could carry credentials in its query.
    let text = err.without_url().to_string();
    if timeout {
        LlmError::Timeout
    } else if decode {
        LlmError::Protocol(text)
    } else {
        LlmError::Connect(text)
    }
}

async fn status_error(response: reqwest::Response) -> LlmError {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let message = response
        .json::<Value>()
        .await
        .ok()
        .and_then(|body| error_message(&body));
    LlmError::Status {
        status,
        retry_after,
        message,
    }
}

/// The `error.message` (or a string `error`) of a provider's error body.
fn error_message(body: &Value) -> Option<String> {
    let error = body.get("error")?;
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| error.as_str())?;
    Some(message.chars().take(500).collect())
}

fn parse_completion(mut value: Value) -> Result<ChatResponse, LlmError> {
    if let Some(message) = error_message(&value) {
        return Err(LlmError::Upstream(message));
    }
    let choice = value
        .get_mut("choices")
        .and_then(|c| c.get_mut(0))
        .map(Value::take)
        .ok_or_else(|| LlmError::Protocol("the response has no choices".into()))?;
    let message: Message = serde_json::from_value(
        choice.get("message").cloned().unwrap_or_default(),
    )
    .map_err(|err| LlmError::Protocol(format!("the response's message is malformed: {err}")))?;
    let usage = match value.get("usage") {
        Some(usage) if !usage.is_null() => {
            Some(serde_json::from_value(usage.clone()).map_err(|err| {
                LlmError::Protocol(format!("the response's usage is malformed: {err}"))
            })?)
        }
        _ => None,
    };
    Ok(ChatResponse {
        id: text(&value, "id"),
        model: text(&value, "model"),
        message,
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_owned),
        usage,
    })
}

fn text(value: &Value, field: &str) -> String {
    value
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Turns the bytes of a streamed response into stream events.
fn events<S>(bytes: S) -> impl Stream<Item = Result<StreamEvent, LlmError>> + Send
where
    S: Stream<Item = Result<bytes::Bytes, LlmError>> + Send + Unpin + 'static,
{
    struct State<S> {
        bytes: S,
        parser: Option<SseParser>,
        pending: std::collections::VecDeque<Result<StreamEvent, LlmError>>,
        done: bool,
    }

    let state = State {
        bytes,
        parser: Some(SseParser::new()),
        pending: Default::default(),
        done: false,
    };
    stream::unfold(state, |mut state| async move {
        loop {
            if let Some(item) = state.pending.pop_front() {
                if item.is_err() {
                    state.done = true;
                    state.pending.clear();
                }
                return Some((item, state));
            }
            if state.done {
                return None;
            }
            match state.bytes.next().await {
                Some(Ok(chunk)) => {
                    let parser = state.parser.as_mut()?;
                    match parser.push(&chunk) {
                        Ok(sse) => {
                            for event in sse {
                                if is_done(&event) {
                                    state.done = true;
                                    break;
                                }
                                state.pending.extend(chunk_events(&event.data));
                            }
                        }
                        Err(err) => state
                            .pending
                            .push_back(Err(LlmError::Protocol(err.to_string()))),
                    }
                }
                Some(Err(err)) => state.pending.push_back(Err(err)),
                None => {
                    // The upstream closed, with or without `[DONE]`.
                    state.done = true;
                    match state.parser.take().map(SseParser::finish) {
                        Some(Ok(Some(event))) if !is_done(&event) => {
                            state.pending.extend(chunk_events(&event.data))
                        }
                        Some(Err(err)) => state
                            .pending
                            .push_back(Err(LlmError::Protocol(err.to_string()))),
                        _ => {}
                    }
                }
            }
        }
    })
}

/// The events of one streamed chunk (`data:` JSON).
fn chunk_events(data: &str) -> Vec<Result<StreamEvent, LlmError>> {
    let value: Value = match serde_json::from_str(data) {
        Ok(value) => value,
        Err(_) => return vec![Err(LlmError::Protocol("a stream chunk is not JSON".into()))],
    };
    if let Some(message) = error_message(&value) {
        return vec![Err(LlmError::Upstream(message))];
    }

    let mut events = Vec::new();
    if let Some(choice) = value.get("choices").and_then(|c| c.get(0)) {
        let delta = choice.get("delta").cloned().unwrap_or_default();
        let content = delta
            .get("content")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let reasoning = delta
            .get("reasoning_content")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let tool_calls = tool_call_deltas(&delta);
        if content.is_some() || reasoning.is_some() || !tool_calls.is_empty() {
            events.push(Ok(StreamEvent::Delta {
                content,
                reasoning,
                tool_calls,
            }));
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            events.push(Ok(StreamEvent::Finished {
                reason: reason.to_owned(),
            }));
        }
    }
    if let Some(usage) = value.get("usage").filter(|u| !u.is_null()) {
        match serde_json::from_value::<Usage>(usage.clone()) {
            Ok(usage) => events.push(Ok(StreamEvent::Usage(usage))),
            Err(_) => events.push(Err(LlmError::Protocol(
                "a stream chunk's usage is malformed".into(),
            ))),
        }
    }
    events
}

fn tool_call_deltas(delta: &Value) -> Vec<ToolCallDelta> {
    let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) else {
        return Vec::new();
    };
    calls
        .iter()
        .map(|call| {
            let function = call
                .get("function")
                .cloned()
                .unwrap_or(Value::Object(Map::new()));
            ToolCallDelta {
                index: call
                    .get("index")
                    .and_then(Value::as_u64)
                    .and_then(|i| u32::try_from(i).ok())
                    .unwrap_or(0),
                id: call.get("id").and_then(Value::as_str).map(str::to_owned),
                name: function
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                arguments: function
                    .get("arguments")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Body;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::post;
    use bytes::Bytes;

    use super::*;
    use crate::types::Message;

    /// What the mock provider does for the next request, by `model` name.
    #[derive(Clone, Default)]
    struct Mock {
        seen: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
    }

    fn sse(chunks: &[&str]) -> Response {
        let body: String = chunks.concat();
        ([("content-type", "text/event-stream")], body).into_response()
    }

    async fn completions(State(mock): State<Mock>, headers: HeaderMap, body: String) -> Response {
        let request: Value = serde_json::from_str(&body).unwrap_or_default();
        mock.seen.lock().unwrap().push((headers, request.clone()));
        match request["model"].as_str().unwrap_or_default() {
            "plain" => axum::Json(json!({
                "id": "cmpl-1", "model": "plain",
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": "Hello!" }, "finish_reason": "stop" }],
                "usage": { "prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9 }
            }))
            .into_response(),
            "stream" => sse(&[
                ": keep-alive\r\n\r\n",
                "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"think\"}}]}\r\n\r\n",
                "data: {\"choices\":[{\"delta\":{\"content\":\"你\"}}]}\n\n",
                "data: {\"choices\":[{\"delta\":{\"content\":\"好\"},\"finish_reason\":\"stop\"}]}\n\n",
                "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n",
                "data: [DONE]\n\n",
            ]),
            "tools" => sse(&[
                "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"function\":{\"name\":\"head_loss\",\"arguments\":\"{\\\"q\\\"\"}}]}}]}\n\n",
                "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":0.2}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
                "data: [DONE]\n\n",
            ]),
            "no-done" => sse(&["data: {\"choices\":[{\"delta\":{\"content\":\"cut\"}}]}\n\n"]),
            "bad-sse" => sse(&["data: {not json\n\n"]),
            "error-mid" => sse(&[
                "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
                "data: {\"error\":{\"message\":\"quota exhausted upstream\"}}\n\n",
                "data: {\"choices\":[{\"delta\":{\"content\":\"never\"}}]}\n\n",
            ]),
            "flaky" if mock.seen.lock().unwrap().len() == 1 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], "busy").into_response(),
            "flaky" => axum::Json(json!({
                "id": "cmpl-2", "model": "flaky",
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": "second time lucky" }, "finish_reason": "stop" }],
                "usage": { "prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4 }
            }))
            .into_response(),
            "limited" => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "3")], axum::Json(json!({ "error": { "message": "slow down" } }))).into_response(),
            "broken" => (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
            "hang" => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late".into_response()
            }
            "disconnect" => {
                // Half a reply, a pause so it reaches the client, then the connection drops.
                let chunks = futures_util::stream::unfold(0, |step| async move {
                    match step {
                        0 => Some((Ok(Bytes::from_static(b"data: {\"choices\":[{\"delta\":{\"content\":\"half\"}}]}\n\n")), 1)),
                        1 => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            Some((Err(std::io::Error::other("connection dropped")), 2))
                        }
                        _ => None,
                    }
                });
                ([("content-type", "text/event-stream")], Body::from_stream(chunks)).into_response()
            }
            other => (StatusCode::BAD_REQUEST, format!("unknown scenario {other}")).into_response(),
        }
    }

    async fn serve() -> (String, Mock) {
        let mock = Mock::default();
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(mock.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
            Ok::<_, Infallible>(())
        });
        (format!("http://{addr}/v1"), mock)
    }

    async fn model(base: &str) -> OpenAiModel {
        let config = OpenAiConfig::default()
            .base_url(base)
            .api_key("sk-test-key")
            .read_timeout(Duration::from_millis(500))
            .total_timeout(Duration::from_secs(2));
        OpenAiModel::new(config).unwrap()
    }

    fn ask(model: &str) -> ChatRequest {
        let mut request = ChatRequest::new(vec![Message::user("hi")]);
        request.model = Some(model.to_owned());
        request
    }

    async fn collect(stream: ChatStream) -> Vec<Result<StreamEvent, LlmError>> {
        stream.collect().await
    }

    #[tokio::test]
    async fn a_plain_reply_with_usage_and_the_key_as_bearer() {
        let (base, mock) = serve().await;
        let reply = model(&base).await.complete(ask("plain")).await.unwrap();
        assert_eq!(reply.message.content.as_deref(), Some("Hello!"));
        assert_eq!(reply.usage.unwrap().total_tokens, 9);
        assert_eq!(reply.finish_reason.as_deref(), Some("stop"));

        let seen = mock.seen.lock().unwrap();
        assert_eq!(seen[0].0["authorization"], "Bearer sk-test-key");
        assert_eq!(seen[0].1["stream"], false);
    }

    #[tokio::test]
    async fn the_default_model_is_used_when_none_is_named() {
        let (base, mock) = serve().await;
        let model =
            OpenAiModel::new(OpenAiConfig::default().base_url(&base).model("plain")).unwrap();
        model
            .complete(ChatRequest::new(vec![Message::user("hi")]))
            .await
            .unwrap();
        let seen = mock.seen.lock().unwrap();
        assert_eq!(seen[0].1["model"], "plain");
        assert!(seen[0].0.get("authorization").is_none());
    }

    #[tokio::test]
    async fn a_stream_with_keep_alives_reasoning_and_a_usage_chunk() {
        let (base, mock) = serve().await;
        let events = collect(model(&base).await.stream(ask("stream")).await.unwrap()).await;
        let events: Vec<StreamEvent> = events.into_iter().map(Result::unwrap).collect();
        let text: String = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Delta {
                    content: Some(c), ..
                } => Some(c.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "你好");
        assert!(
            matches!(&events[0], StreamEvent::Delta { reasoning: Some(r), .. } if r == "think")
        );
        assert!(events.contains(&StreamEvent::Finished {
            reason: "stop".into()
        }));
        let Some(StreamEvent::Usage(usage)) = events.last() else {
            panic!("usage last: {events:?}")
        };
        assert_eq!(usage.total_tokens, 7);
        assert_eq!(
            mock.seen.lock().unwrap()[0].1["stream_options"]["include_usage"],
            true
        );
    }

    #[tokio::test]
    async fn tool_calls_arrive_in_pieces() {
        let (base, _) = serve().await;
        let events = collect(model(&base).await.stream(ask("tools")).await.unwrap()).await;
        let mut arguments = String::new();
        let mut name = None;
        for event in events {
            if let StreamEvent::Delta { tool_calls, .. } = event.unwrap() {
                for call in tool_calls {
                    name = name.or(call.name);
                    arguments.push_str(&call.arguments);
                }
            }
        }
        assert_eq!(name.as_deref(), Some("head_loss"));
        assert_eq!(arguments, "{\"q\":0.2}");
    }

    #[tokio::test]
    async fn a_stream_without_done_ends_cleanly() {
        let (base, _) = serve().await;
        let events = collect(model(&base).await.stream(ask("no-done")).await.unwrap()).await;
        assert_eq!(events.len(), 1);
        assert!(events[0].is_ok());
    }

    #[tokio::test]
    async fn malformed_sse_and_errors_mid_stream_are_surfaced_and_end_the_stream() {
        let (base, _) = serve().await;
        let bad = collect(model(&base).await.stream(ask("bad-sse")).await.unwrap()).await;
        assert!(
            matches!(bad.last(), Some(Err(LlmError::Protocol(_)))),
            "{bad:?}"
        );

        let mid = collect(model(&base).await.stream(ask("error-mid")).await.unwrap()).await;
        assert_eq!(mid.len(), 2, "nothing after the error: {mid:?}");
        assert_eq!(
            mid[1],
            Err(LlmError::Upstream("quota exhausted upstream".into()))
        );
    }

    #[tokio::test]
    async fn error_statuses_carry_retry_after_and_the_providers_message() {
        let (base, _) = serve().await;
        let limited = model(&base)
            .await
            .complete(ask("limited"))
            .await
            .unwrap_err();
        assert_eq!(
            limited,
            LlmError::Status {
                status: 429,
                retry_after: Some(Duration::from_secs(3)),
                message: Some("slow down".into())
            }
        );
        assert!(limited.is_retryable());
        let broken = model(&base)
            .await
            .stream(ask("broken"))
            .await
            .err()
            .unwrap();
        assert!(matches!(broken, LlmError::Status { status: 500, .. }));
    }

    #[tokio::test]
    async fn a_silent_upstream_times_out() {
        let (base, _) = serve().await;
        let err = model(&base).await.complete(ask("hang")).await.unwrap_err();
        assert_eq!(err, LlmError::Timeout);
    }

    #[tokio::test]
    async fn an_upstream_disconnect_mid_stream_is_an_error_after_what_arrived() {
        let (base, _) = serve().await;
        let events = collect(model(&base).await.stream(ask("disconnect")).await.unwrap()).await;
        assert!(events[0].is_ok(), "{events:?}");
        assert!(events.last().unwrap().is_err(), "{events:?}");
    }

    #[tokio::test]
    async fn an_unreachable_provider_is_a_connect_error_without_the_url() {
        let model = OpenAiModel::new(
            OpenAiConfig::default().base_url("http://127.0.0.1:1/v1?key=secret-in-url"),
        )
        .unwrap();
        let err = model.complete(ask("plain")).await.unwrap_err();
        let LlmError::Connect(text) = &err else {
            panic!("{err:?}")
        };
        assert!(!text.contains("secret-in-url"), "{text}");
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn retries_a_429_then_succeeds_and_gives_up_on_persistent_500s() {
        use tower::Layer;

        use crate::layers::RetryLayer;

        let (base, mock) = serve().await;
        let retrying = RetryLayer::new()
            .base_delay(Duration::from_millis(1))
            .layer(model(&base).await);
        let reply = retrying.complete(ask("flaky")).await.unwrap();
        assert_eq!(reply.message.content.as_deref(), Some("second time lucky"));
        assert_eq!(mock.seen.lock().unwrap().len(), 2);

        let (base, mock) = serve().await;
        let retrying = RetryLayer::new()
            .base_delay(Duration::from_millis(1))
            .layer(model(&base).await);
        let err = retrying.complete(ask("broken")).await.unwrap_err();
        assert!(matches!(err, LlmError::Status { status: 500, .. }));
        assert_eq!(
            mock.seen.lock().unwrap().len(),
            3,
            "three attempts, then the error"
        );
    }

    #[test]
    fn the_key_is_never_printed() {
        let config = OpenAiConfig::default().api_key("sk-very-secret");
        assert!(!format!("{config:?}").contains("sk-very-secret"));
    }
}
