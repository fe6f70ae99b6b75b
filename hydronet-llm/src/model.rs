//! The [`ChatModel`] trait every provider implements.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;

use crate::types::{ChatRequest, ChatResponse, StreamEvent};

/// A boxed future, so that models can be used as `dyn ChatModel`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The items of a streamed completion. Dropping the stream cancels the call.
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, LlmError>> + Send>>;

/// Why a model call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The provider could not be reached.
    #[error("cannot reach the model provider: {0}")]
    Connect(String),
    /// The provider took too long.
    #[error("the model provider timed out")]
    Timeout,
    /// The provider answered with an error status.
    #[error("the model provider answered {status}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// How long the provider asked us to wait, if it said.
        retry_after: Option<Duration>,
        /// The provider's error message, if it gave one (never our credentials).
        message: Option<String>,
    },
    /// The provider reported an error inside a successful response or stream.
    #[error("the model provider reported an error: {0}")]
    Upstream(String),
    /// The provider's answer did not follow the protocol.
    #[error("the model provider's answer is malformed: {0}")]
    Protocol(String),
}

impl LlmError {
    /// Whether trying again may succeed: connection errors, timeouts, 408, 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Connect(_) | LlmError::Timeout => true,
            LlmError::Status { status, .. } => matches!(status, 408 | 429 | 500..=599),
            LlmError::Upstream(_) | LlmError::Protocol(_) => false,
        }
    }
}

/// Something that answers chat requests: a provider, or a provider wrapped in layers.
pub trait ChatModel: Send + Sync + 'static {
    /// The whole reply at once.
    fn complete(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, LlmError>>;

    /// The reply as it is generated.
    fn stream(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatStream, LlmError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_failures_are_retried() {
        let status = |status| LlmError::Status {
            status,
            retry_after: None,
            message: None,
        };
        assert!(LlmError::Timeout.is_retryable());
        assert!(LlmError::Connect("refused".into()).is_retryable());
        for code in [408, 429, 500, 502, 503] {
            assert!(status(code).is_retryable(), "{code}");
        }
        for code in [400, 401, 403, 404, 422] {
            assert!(!status(code).is_retryable(), "{code}");
        }
        assert!(!LlmError::Upstream("bad request".into()).is_retryable());
    }
}
