//! The HydroNet LLM client: one [`ChatModel`] trait for every provider, with the chat
//! vocabulary of the OpenAI wire format that DashScope (Qwen), OpenAI, vLLM and Ollama
//! share.
//!
//! - [`types`]: messages, tool calls, requests, responses, usage and stream events, each
//!   keeping the fields it does not model;
//! - [`ChatModel`]: complete or stream, object-safe so a server can choose a provider at
//!   run time;
//! - [`OfflineModel`]: for running without a provider — it says so in its reply;
//! - [`ScriptedModel`]: plays back a script, for tests;
//! - [`OpenAiModel`]: any OpenAI-compatible endpoint, DashScope's by default;
//! - [`layers`]: retries, a concurrency limit and metering as tower layers;
//! - [`sse`]: an incremental Server-Sent Events parser for streamed replies;
//! - [`egress`]: which addresses outbound connections to tenant-given URLs may reach;
//! - `mcp` (feature `mcp`): a client for tenant-registered MCP tool servers.
//!
//! # Example
//!
//! ```
//! use hydronet_llm::{ChatModel, ChatRequest, Message, ScriptedModel};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let model = ScriptedModel::new().reply("Use Hazen–Williams for water at normal temperatures.", 20, 9);
//! let request = ChatRequest::new(vec![
//!     Message::system("You are a water-network engineering assistant."),
//!     Message::user("Which head-loss formula should I use?"),
//! ]);
//! let reply = model.complete(request).await.unwrap();
//! assert_eq!(reply.usage.unwrap().total_tokens, 29);
//! # }
//! ```
#![warn(missing_docs)]

pub mod egress;
pub mod layers;
#[cfg(feature = "mcp")]
pub mod mcp;
mod model;
mod offline;
mod openai;
mod scripted;
pub mod sse;
pub mod types;

pub use model::{BoxFuture, ChatModel, ChatStream, LlmError};
pub use offline::{OFFLINE_REPLY, OfflineModel};
pub use openai::{DASHSCOPE_BASE_URL, DEFAULT_MODEL, OpenAiConfig, OpenAiModel};
pub use scripted::{ScriptedModel, Turn};
pub use types::{ChatRequest, ChatResponse, Message, Role, StreamEvent, Tool, ToolCall, Usage};
