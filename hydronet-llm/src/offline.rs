//! A model for running without any provider: it answers, clearly, that none is configured.

use futures_util::stream;

use crate::model::{BoxFuture, ChatModel, ChatStream, LlmError};
use crate::types::{ChatRequest, ChatResponse, Message, StreamEvent, Usage};

/// The reply of the [`OfflineModel`].
pub const OFFLINE_REPLY: &str = "No language model is configured for this HydroNet server, \
so this is an automatic reply and your question was not answered. An administrator can \
connect a model by setting ALIYUN_API_KEY (or DASHSCOPE_API_KEY), and optionally \
HYDRONET_LLM_BASE_URL and HYDRONET_LLM_MODEL for another OpenAI-compatible endpoint.";

/// Answers every request with [`OFFLINE_REPLY`], so a zero-setup server works end to end
/// and nobody mistakes the reply for the model's. Usage is estimated (four characters a
/// token) so metering paths run too.
///
/// ```
/// use hydronet_llm::{ChatModel, ChatRequest, Message, OfflineModel, OFFLINE_REPLY};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let reply = OfflineModel.complete(ChatRequest::new(vec![Message::user("hi")])).await.unwrap();
/// assert_eq!(reply.message.content.as_deref(), Some(OFFLINE_REPLY));
/// assert_eq!(reply.model, "offline");
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct OfflineModel;

fn estimate(text: &str) -> u64 {
    u64::try_from(text.chars().count().div_ceil(4)).unwrap_or(u64::MAX)
}

fn usage(request: &ChatRequest) -> Usage {
    let prompt: u64 = request
        .messages
        .iter()
        .filter_map(|m| m.content.as_deref())
        .map(estimate)
        .sum();
    let completion = estimate(OFFLINE_REPLY);
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        ..Usage::default()
    }
}

impl ChatModel for OfflineModel {
    fn complete(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, LlmError>> {
        let response = ChatResponse {
            id: format!("offline-{}", uuid::Uuid::now_v7().simple()),
            model: "offline".to_owned(),
            message: Message::assistant(OFFLINE_REPLY),
            finish_reason: Some("stop".to_owned()),
            usage: Some(usage(&request)),
        };
        Box::pin(async move { Ok(response) })
    }

    fn stream(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatStream, LlmError>> {
        let mut events: Vec<Result<StreamEvent, LlmError>> = OFFLINE_REPLY
            .split_inclusive(' ')
            .map(|word| {
                Ok(StreamEvent::Delta {
                    content: Some(word.to_owned()),
                    reasoning: None,
                    tool_calls: Vec::new(),
                })
            })
            .collect();
        events.push(Ok(StreamEvent::Finished {
            reason: "stop".to_owned(),
        }));
        events.push(Ok(StreamEvent::Usage(usage(&request))));
        let stream: ChatStream = Box::pin(stream::iter(events));
        Box::pin(async move { Ok(stream) })
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    #[tokio::test]
    async fn the_stream_spells_out_the_same_reply_then_usage() {
        let request =
            ChatRequest::new(vec![Message::user("how much head loss in 100 m of DN100?")]);
        let mut stream = OfflineModel.stream(request.clone()).await.unwrap();
        let mut text = String::new();
        let mut last = None;
        while let Some(event) = stream.next().await {
            match event.unwrap() {
                StreamEvent::Delta { content, .. } => text.push_str(&content.unwrap()),
                other => last = Some(other),
            }
        }
        assert_eq!(text, OFFLINE_REPLY);
        let Some(StreamEvent::Usage(usage)) = last else {
            panic!("usage comes last")
        };
        assert_eq!(usage.prompt_tokens, 10);
        assert_eq!(
            usage.total_tokens,
            usage.prompt_tokens + usage.completion_tokens
        );
    }
}
