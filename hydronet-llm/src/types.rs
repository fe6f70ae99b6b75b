//! The chat vocabulary, in the OpenAI wire format that DashScope, vLLM and Ollama share.
//!
//! Every type keeps fields it does not know in `extra`, so a provider's additions (such as
//! DashScope's `reasoning_content` or vendor usage details) survive a round trip instead
//! of being dropped.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions to the model.
    System,
    /// The person asking.
    User,
    /// The model.
    Assistant,
    /// A tool's result.
    Tool,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// The text; absent on assistant messages that only call tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Tools the assistant asks to call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For tool messages: the call this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Message {
    fn text(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(content.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
            extra: Map::new(),
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::text(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::text(Role::User, content)
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::text(Role::Assistant, content)
    }

    /// A tool's result for the call `call_id`.
    pub fn tool(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        let mut message = Self::text(Role::Tool, content);
        message.tool_call_id = Some(call_id.into());
        message
    }
}

/// A tool call requested by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id, echoed in the tool's answer.
    pub id: String,
    /// Always `function` today.
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    /// What to call.
    pub function: FunctionCall,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn function_kind() -> String {
    "function".to_owned()
}

/// The function of a [`ToolCall`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The function's name.
    pub name: String,
    /// Its arguments as a JSON text, exactly as the model wrote them.
    #[serde(default)]
    pub arguments: String,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// Always `function` today.
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    /// The function's definition.
    pub function: FunctionSpec,
}

/// A function definition: name, description and JSON Schema of its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionSpec {
    /// The name the model calls it by.
    pub name: String,
    /// What it does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    #[serde(default)]
    pub parameters: Value,
}

/// A request for a completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ChatRequest {
    /// The model; the provider's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// The longest reply, in tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Other provider parameters, passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    /// A request with these messages and provider defaults for everything else.
    pub fn new(messages: Vec<Message>) -> Self {
        Self {
            messages,
            ..Self::default()
        }
    }
}

/// Tokens a call used, as the provider reported them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Usage {
    /// Tokens of the prompt.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens of the reply.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Their sum.
    #[serde(default)]
    pub total_tokens: u64,
    /// Provider details (cached tokens, reasoning tokens, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A finished completion.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// The provider's id of the completion.
    pub id: String,
    /// The model that answered.
    pub model: String,
    /// The reply.
    pub message: Message,
    /// Why generation stopped (`stop`, `length`, `tool_calls`, …).
    pub finish_reason: Option<String>,
    /// What it cost.
    pub usage: Option<Usage>,
}

/// A piece of a tool call, as streams deliver them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToolCallDelta {
    /// Which call of the message this continues.
    pub index: u32,
    /// The call's id, on its first piece.
    pub id: Option<String>,
    /// The function's name, on its first piece.
    pub name: Option<String>,
    /// More of the arguments text.
    pub arguments: String,
}

/// One item of a streamed completion.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// More of the reply.
    Delta {
        /// Visible text.
        content: Option<String>,
        /// The model's reasoning, from models that show it (`reasoning_content`).
        reasoning: Option<String>,
        /// Pieces of tool calls.
        tool_calls: Vec<ToolCallDelta>,
    },
    /// Generation stopped, and why.
    Finished {
        /// The reason (`stop`, `length`, `tool_calls`, …).
        reason: String,
    },
    /// What the call cost; usually the last item.
    Usage(Usage),
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let wire = json!({
            "role": "assistant",
            "content": "hi",
            "reasoning_content": "thinking…",
            "vendor": { "x": 1 }
        });
        let message: Message = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(message.extra["reasoning_content"], "thinking…");
        assert_eq!(serde_json::to_value(&message).unwrap(), wire);
    }

    #[test]
    fn tool_calls_parse_with_their_arguments_text() {
        let wire = json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{
                "id": "call_1",
                "type": "function",
                "function": { "name": "head_loss", "arguments": "{\"flow\": 0.2}" }
            }]
        });
        let message: Message = serde_json::from_value(wire).unwrap();
        assert_eq!(message.content, None);
        assert_eq!(message.tool_calls[0].function.arguments, "{\"flow\": 0.2}");
        assert_eq!(message.tool_calls[0].kind, "function");
    }

    #[test]
    fn requests_omit_what_is_unset() {
        let request = ChatRequest::new(vec![Message::system("be brief"), Message::user("hello")]);
        let wire = serde_json::to_value(&request).unwrap();
        assert_eq!(
            wire,
            json!({ "messages": [
                { "role": "system", "content": "be brief" },
                { "role": "user", "content": "hello" }
            ] })
        );
    }

    #[test]
    fn usage_keeps_vendor_details() {
        let usage: Usage = serde_json::from_value(json!({
            "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
            "prompt_tokens_details": { "cached_tokens": 4 }
        }))
        .unwrap();
        assert_eq!(usage.total_tokens, 15);
        assert_eq!(usage.extra["prompt_tokens_details"]["cached_tokens"], 4);
    }
}
