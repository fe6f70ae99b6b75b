//! A model that plays back a script, for tests of code that calls models.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use futures_util::stream;

use crate::model::{BoxFuture, ChatModel, ChatStream, LlmError};
use crate::types::{
    ChatRequest, ChatResponse, FunctionCall, Message, StreamEvent, ToolCall, ToolCallDelta, Usage,
};

/// What the next call answers.
#[derive(Debug, Clone)]
pub enum Turn {
    /// A reply with this text and usage.
    Reply {
        /// The text.
        text: String,
        /// The usage reported.
        usage: Usage,
    },
    /// A reply asking for tool calls, with this usage.
    Calls {
        /// The calls: `(name, arguments as JSON text)`.
        calls: Vec<(String, String)>,
        /// The usage reported.
        usage: Usage,
    },
    /// A failure.
    Fail(LlmError),
}

/// Answers calls from a queue of [`Turn`]s, in order, and remembers the requests it got.
/// When the queue is empty, calls fail with a protocol error naming the problem.
///
/// ```
/// use hydronet_llm::{ChatModel, ChatRequest, LlmError, Message, ScriptedModel};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let model = ScriptedModel::new().reply("Pipe friction dominates.", 12, 4).fail(LlmError::Timeout);
/// let first = model.complete(ChatRequest::new(vec![Message::user("why?")])).await.unwrap();
/// assert_eq!(first.usage.unwrap().completion_tokens, 4);
/// assert_eq!(model.complete(ChatRequest::default()).await.unwrap_err(), LlmError::Timeout);
/// assert_eq!(model.requests().len(), 2);
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ScriptedModel {
    turns: Arc<Mutex<VecDeque<Turn>>>,
    requests: Arc<Mutex<Vec<ChatRequest>>>,
}

impl ScriptedModel {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a reply of `text` costing the given tokens.
    pub fn reply(self, text: &str, prompt_tokens: u64, completion_tokens: u64) -> Self {
        let usage = Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            ..Usage::default()
        };
        self.push(Turn::Reply {
            text: text.to_owned(),
            usage,
        })
    }

    /// Adds a reply that calls the tool `name` with `arguments` (a JSON text).
    pub fn call_tool(
        self,
        name: &str,
        arguments: &str,
        prompt_tokens: u64,
        completion_tokens: u64,
    ) -> Self {
        let usage = Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            ..Usage::default()
        };
        self.push(Turn::Calls {
            calls: vec![(name.to_owned(), arguments.to_owned())],
            usage,
        })
    }

    /// Adds a failure.
    pub fn fail(self, error: LlmError) -> Self {
        self.push(Turn::Fail(error))
    }

    /// Adds any turn.
    pub fn push(self, turn: Turn) -> Self {
        self.turns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(turn);
        self
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn next(&self, request: ChatRequest) -> Result<(Message, Usage), LlmError> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(request);
        let turn = self
            .turns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        match turn {
            Some(Turn::Reply { text, usage }) => Ok((Message::assistant(text), usage)),
            Some(Turn::Calls { calls, usage }) => {
                let mut message = Message::assistant("");
                message.content = None;
                message.tool_calls = calls
                    .into_iter()
                    .enumerate()
                    .map(|(i, (name, arguments))| ToolCall {
                        id: format!("call_{i}"),
                        kind: "function".to_owned(),
                        function: FunctionCall { name, arguments },
                        extra: serde_json::Map::new(),
                    })
                    .collect();
                Ok((message, usage))
            }
            Some(Turn::Fail(error)) => Err(error),
            None => Err(LlmError::Protocol(
                "the scripted model has no turn left".into(),
            )),
        }
    }
}

impl ChatModel for ScriptedModel {
    fn complete(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatResponse, LlmError>> {
        let result = self.next(request).map(|(message, usage)| ChatResponse {
            id: "scripted".to_owned(),
            model: "scripted".to_owned(),
            finish_reason: Some(
                if message.tool_calls.is_empty() {
                    "stop"
                } else {
                    "tool_calls"
                }
                .to_owned(),
            ),
            message,
            usage: Some(usage),
        });
        Box::pin(async move { result })
    }

    fn stream(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatStream, LlmError>> {
        let result = self.next(request).map(|(message, usage)| {
            let text = message.content.unwrap_or_default();
            let mut events: Vec<Result<StreamEvent, LlmError>> = text
                .split_inclusive(' ')
                .map(|piece| {
                    Ok(StreamEvent::Delta {
                        content: Some(piece.to_owned()),
                        reasoning: None,
                        tool_calls: Vec::new(),
                    })
                })
                .collect();
            for (i, call) in message.tool_calls.into_iter().enumerate() {
                events.push(Ok(StreamEvent::Delta {
                    content: None,
                    reasoning: None,
                    tool_calls: vec![ToolCallDelta {
                        index: u32::try_from(i).unwrap_or(u32::MAX),
                        id: Some(call.id),
                        name: Some(call.function.name),
                        arguments: call.function.arguments,
                    }],
                }));
            }
            events.push(Ok(StreamEvent::Finished {
                reason: "stop".to_owned(),
            }));
            events.push(Ok(StreamEvent::Usage(usage)));
            Box::pin(stream::iter(events)) as ChatStream
        });
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    #[tokio::test]
    async fn tool_call_turns_ask_for_the_tool_plain_and_streamed() {
        let model = ScriptedModel::new()
            .call_tool("pump_power", r#"{"flow":0.1}"#, 5, 2)
            .call_tool("tank_drain_time", "{}", 1, 1);
        let reply = model.complete(ChatRequest::default()).await.unwrap();
        assert_eq!(reply.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(reply.message.content, None);
        assert_eq!(reply.message.tool_calls[0].function.name, "pump_power");
        assert_eq!(
            reply.message.tool_calls[0].function.arguments,
            r#"{"flow":0.1}"#
        );

        let mut stream = model.stream(ChatRequest::default()).await.unwrap();
        let mut names = Vec::new();
        while let Some(event) = stream.next().await {
            if let StreamEvent::Delta { tool_calls, .. } = event.unwrap() {
                names.extend(tool_calls.into_iter().filter_map(|c| c.name));
            }
        }
        assert_eq!(names, ["tank_drain_time"]);
    }

    #[tokio::test]
    async fn turns_are_played_in_order_then_it_says_it_ran_out() {
        let model = ScriptedModel::new()
            .reply("one two", 1, 2)
            .reply("three", 3, 1);
        let mut stream = model.stream(ChatRequest::default()).await.unwrap();
        let mut pieces = Vec::new();
        while let Some(event) = stream.next().await {
            if let StreamEvent::Delta {
                content: Some(text),
                ..
            } = event.unwrap()
            {
                pieces.push(text);
            }
        }
        assert_eq!(pieces, ["one ", "two"]);
        let second = model.complete(ChatRequest::default()).await.unwrap();
        assert_eq!(second.message.content.as_deref(), Some("three"));
        assert!(matches!(
            model.complete(ChatRequest::default()).await,
            Err(LlmError::Protocol(_))
        ));
    }
}
