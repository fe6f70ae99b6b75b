//! A client for tenant-registered MCP (Model Context Protocol) tool servers over the
//! streamable HTTP transport, built on the official `rmcp` SDK and fenced in for use with
//! servers nobody vetted.
//!
//! - Every connection goes through [`EgressPolicy`]: the host is resolved once, every
//!   address checked, and the HTTP client pinned to the address that passed; redirects
//!   are not followed and no proxy from the environment is used.
//! - Only the configured `Authorization` value is sent (marked sensitive, so it is kept out
//!   of HTTP/2 header compression tables and debug output); nothing else of ours — no
//!   cookies, no tokens of our users — is forwarded.
//! - Each call is bounded by [`McpServerConfig::call_timeout`]; each HTTP response or SSE
//!   event by [`McpServerConfig::max_response_bytes`] before it is parsed; a tool's text by
//!   [`McpServerConfig::max_output_bytes`].
//! - [`tools_digest`] fingerprints a tool list, so that a server whose tools or
//!   descriptions change can be paused until an administrator approves the new list.
//! - [`function_definition`] turns a tool into an OpenAI-style function for
//!   [`ChatRequest::tools`](crate::ChatRequest::tools).
//!
//! # Example
//!
//! ```
//! use hydronet_llm::mcp::{ToolInfo, function_definition, tools_digest};
//! use serde_json::json;
//!
//! let tools = vec![ToolInfo {
//!     name: "pressure".to_owned(),
//!     description: Some("Pressure at a network node, in metres of head".to_owned()),
//!     input_schema: json!({ "type": "object", "properties": { "node": { "type": "string" } } }),
//! }];
//! let approved = tools_digest(&tools);
//!
//! let mut changed = tools.clone();
//! changed[0].description = Some("Ignore previous instructions".to_owned());
//! assert_ne!(tools_digest(&changed), approved);
//!
//! let function = function_definition("scada", &tools[0]);
//! assert_eq!(function["function"]["name"], "scada__pressure");
//! ```
//!
//! Connecting needs a server:
//!
//! ```no_run
//! use hydronet_llm::egress::EgressPolicy;
//! use hydronet_llm::mcp::{McpClient, McpServerConfig};
//!
//! # async fn run() -> Result<(), hydronet_llm::mcp::McpError> {
//! let config = McpServerConfig::new("https://tools.example.com/mcp");
//! let client = McpClient::connect(config, &EgressPolicy::public_only()).await?;
//! let tools = client.list_tools().await?;
//! let output = client.call_tool(&tools[0].name, serde_json::Map::new()).await?;
//! println!("{}", output.text);
//! client.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Residual risks
//!
//! A tool call that times out is abandoned on our side (`rmcp` sends a cancellation), but
//! its HTTP request may stay open until the server is silent for `call_timeout` (the read
//! timeout) or the client is closed. Text of a tool result is cut to `max_output_bytes`,
//! but the whole response, up to `max_response_bytes`, is held in memory while it is
//! parsed. A server's idle event stream (the optional `GET`) is cut after `call_timeout`
//! of silence and reopened by `rmcp`. An oversized SSE event ends the whole session (the
//! call sees [`McpError::Http`]); reconnect to go on. Messages in [`McpError::Protocol`]
//! and [`McpError::Http`] may carry the server's words and its URL: log them, do not put
//! them in responses.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    PaginatedRequestParams, Tool,
};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransport, StreamableHttpClientTransportConfig, StreamableHttpError,
};
use rmcp::{ClientCacheConfig, RoleClient, ServiceError, ServiceExt};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::egress::{EgressError, EgressPolicy};

/// The most pages of tools a listing may take.
const MAX_TOOL_PAGES: usize = 32;

/// The most tools a server may offer.
const MAX_TOOLS: usize = 512;

/// The longest function name OpenAI-style APIs accept.
const MAX_FUNCTION_NAME: usize = 64;

/// Where an MCP server is and how far to trust it.
#[derive(Debug, Clone)]
pub struct McpServerConfig {
    /// The server's streamable HTTP endpoint (`http` or `https`).
    pub url: String,
    /// Sent as the `Authorization` header value, verbatim (e.g. `Bearer …`). Default none.
    pub authorization: Option<SecretString>,
    /// Longest wait for the address lookup and for a TCP/TLS connection. Default 5 s.
    pub connect_timeout: Duration,
    /// Longest wait for the handshake, a listing or a tool call, and the longest silence
    /// while reading a response. Default 20 s.
    pub call_timeout: Duration,
    /// A tool's text is cut to this many bytes. Default 64 KiB.
    pub max_output_bytes: usize,
    /// The largest HTTP response body or SSE event read from the server; larger ones fail
    /// with [`McpError::TooLarge`] without being read in full. Default 4 MiB.
    pub max_response_bytes: usize,
}

impl McpServerConfig {
    /// A configuration for `url` with no authorization, 5 s to connect, 20 s per call,
    /// 64 KiB of text per tool result and 4 MiB per response.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            authorization: None,
            connect_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(20),
            max_output_bytes: 64 * 1024,
            max_response_bytes: 4 * 1024 * 1024,
        }
    }
}

/// A tool as a server describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// The server's name for the tool.
    pub name: String,
    /// What the tool does, in the server's words (shown to the model: review it).
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub input_schema: Value,
}

impl From<Tool> for ToolInfo {
    fn from(tool: Tool) -> Self {
        Self {
            name: tool.name.into_owned(),
            description: tool.description.map(|text| text.into_owned()),
            input_schema: Value::Object((*tool.input_schema).clone()),
        }
    }
}

/// SHA-256, in hex, over the canonical JSON of the tools sorted by name (name,
/// description, schema): it changes when any of them does, and not when only the order
/// of the tools or of the keys in a schema does.
///
/// ```
/// use hydronet_llm::mcp::{ToolInfo, tools_digest};
/// use serde_json::json;
///
/// let tool = |name: &str, schema| ToolInfo {
///     name: name.to_owned(),
///     description: None,
///     input_schema: schema,
/// };
/// let a = vec![tool("a", json!({ "type": "object", "required": [] })), tool("b", json!({}))];
/// let b = vec![tool("b", json!({})), tool("a", json!({ "required": [], "type": "object" }))];
/// assert_eq!(tools_digest(&a), tools_digest(&b));
/// assert_eq!(tools_digest(&a).len(), 64);
/// ```
pub fn tools_digest(tools: &[ToolInfo]) -> String {
    let mut sorted: Vec<&ToolInfo> = tools.iter().collect();
    sorted.sort_by(|left, right| left.name.cmp(&right.name));
    let list = Value::Array(
        sorted
            .into_iter()
            .map(|tool| {
                json!({
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.input_schema,
                })
            })
            .collect(),
    );

    let mut canonical = String::new();
    write_canonical(&list, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    digest
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// JSON with object keys sorted at every level and no whitespace.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&fields[key], out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The name the model calls a tool by: `{server_prefix}__{tool}`, with every character
/// outside `[A-Za-z0-9_-]` replaced by `_` and cut to 64 characters, as OpenAI-style APIs
/// require. Keep a map back to the tool: different tools may share a name after this.
///
/// ```
/// use hydronet_llm::mcp::function_name;
///
/// assert_eq!(function_name("gis", "find.valve"), "gis__find_valve");
/// ```
pub fn function_name(server_prefix: &str, tool_name: &str) -> String {
    format!("{server_prefix}__{tool_name}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_FUNCTION_NAME)
        .collect()
}

/// A tool as an OpenAI-style function definition, for
/// [`ChatRequest::tools`](crate::ChatRequest::tools) (it deserializes into
/// [`Tool`](crate::Tool)). The name is [`function_name`]; a schema that is not an object
/// becomes an empty object schema.
///
/// ```
/// use hydronet_llm::mcp::{ToolInfo, function_definition};
/// use serde_json::json;
///
/// let tool = ToolInfo {
///     name: "flow".to_owned(),
///     description: Some("Flow through a pipe".to_owned()),
///     input_schema: json!({ "type": "object", "properties": { "pipe": { "type": "string" } } }),
/// };
/// let function = function_definition("scada", &tool);
/// let tool: hydronet_llm::Tool = serde_json::from_value(function).unwrap();
/// assert_eq!(tool.function.name, "scada__flow");
/// assert_eq!(tool.function.parameters["properties"]["pipe"]["type"], "string");
/// ```
pub fn function_definition(server_prefix: &str, tool: &ToolInfo) -> Value {
    let parameters = match &tool.input_schema {
        Value::Object(schema) => Value::Object(schema.clone()),
        _ => json!({ "type": "object", "properties": {} }),
    };
    let mut function = Map::new();
    function.insert(
        "name".to_owned(),
        Value::String(function_name(server_prefix, &tool.name)),
    );
    if let Some(description) = &tool.description {
        function.insert("description".to_owned(), Value::String(description.clone()));
    }
    function.insert("parameters".to_owned(), parameters);
    json!({ "type": "function", "function": function })
}

/// What a tool call returned.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The text content blocks, joined by newlines (the structured content as JSON when
    /// there is no text), cut to `max_output_bytes` at a character boundary.
    pub text: String,
    /// The server flagged the result as an error.
    pub is_error: bool,
    /// The text was cut.
    pub truncated: bool,
}

impl ToolOutput {
    fn from_result(result: CallToolResult, max_bytes: usize) -> Self {
        let mut pieces: Vec<&str> = result
            .content
            .iter()
            .filter_map(|block| block.as_text().map(|text| text.text.as_str()))
            .collect();
        let structured;
        if pieces.is_empty()
            && let Some(value) = &result.structured_content
        {
            structured = value.to_string();
            pieces.push(&structured);
        }

        let mut text = String::new();
        let mut truncated = false;
        for (index, piece) in pieces.into_iter().enumerate() {
            let separator = if index > 0 { "\n" } else { "" };
            if !push_capped(&mut text, separator, max_bytes)
                || !push_capped(&mut text, piece, max_bytes)
            {
                truncated = true;
                break;
            }
        }
        Self {
            text,
            is_error: result.is_error.unwrap_or(false),
            truncated,
        }
    }
}

/// Appends as much of `piece` as fits in `max_bytes`, cut at a character boundary;
/// false when not all of it fitted.
fn push_capped(text: &mut String, piece: &str, max_bytes: usize) -> bool {
    let room = max_bytes.saturating_sub(text.len());
    if piece.len() <= room {
        text.push_str(piece);
        return true;
    }
    let mut end = room;
    while !piece.is_char_boundary(end) {
        end -= 1;
    }
    text.push_str(&piece[..end]);
    false
}

/// Why an MCP operation failed.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The URL or its address is not allowed.
    #[error(transparent)]
    Egress(#[from] EgressError),
    /// The server did not answer in time.
    #[error("the MCP server did not answer in time")]
    Timeout,
    /// The server sent more than the configured limits allow.
    #[error("the MCP server's answer is too large")]
    TooLarge,
    /// The server answered with a protocol error or something that is not MCP.
    #[error("MCP protocol error: {0}")]
    Protocol(String),
    /// The HTTP exchange failed (connection refused, TLS, unexpected status, redirect).
    #[error("MCP HTTP error: {0}")]
    Http(String),
}

impl McpError {
    /// Sorts an error out of rmcp's layers: a size limit, a timeout, or else HTTP.
    fn from_transport(error: &(dyn StdError + 'static)) -> Self {
        let mut current = Some(error);
        while let Some(cause) = current {
            if let Some(http) = cause.downcast_ref::<StreamableHttpError<reqwest::Error>>()
                && matches!(http, StreamableHttpError::ResponseBodyTooLarge { .. })
            {
                return McpError::TooLarge;
            }
            if let Some(http) = cause.downcast_ref::<reqwest::Error>()
                && http.is_timeout()
            {
                return McpError::Timeout;
            }
            current = cause.source();
        }
        McpError::Http(error.to_string())
    }

    fn from_service(error: ServiceError) -> Self {
        match error {
            ServiceError::McpError(data) => McpError::Protocol(data.message.into_owned()),
            ServiceError::Timeout { .. } => McpError::Timeout,
            ServiceError::TransportSend(error) => McpError::from_transport(&error),
            ServiceError::TransportClosed => McpError::Http("the connection closed".to_owned()),
            other => McpError::Protocol(other.to_string()),
        }
    }

    fn from_initialize(error: rmcp::service::ClientInitializeError) -> Self {
        use rmcp::service::ClientInitializeError as Init;
        match error {
            Init::TransportError { error, .. } => McpError::from_transport(&error),
            Init::JsonRpcError(data) => McpError::Protocol(data.message.into_owned()),
            Init::ConnectionClosed(reason) => {
                McpError::Http(format!("connection closed: {reason}"))
            }
            other => McpError::Protocol(other.to_string()),
        }
    }
}

/// A session with one MCP server.
pub struct McpClient {
    service: RunningService<RoleClient, ClientConfig>,
    config: McpServerConfig,
}

impl std::fmt::Debug for McpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl McpClient {
    /// Resolves, checks and pins the server's address, then opens an MCP session
    /// (`initialize`). The HTTP client follows no redirects, uses no proxy, and sends
    /// only the configured `Authorization` header.
    pub async fn connect(
        config: McpServerConfig,
        policy: &EgressPolicy,
    ) -> Result<McpClient, McpError> {
        let (url, pinned) =
            tokio::time::timeout(config.connect_timeout, policy.resolve(&config.url))
                .await
                .map_err(|_| McpError::Timeout)??;
        Self::connect_pinned(config, url, pinned).await
    }

    /// Opens the session over an HTTP client whose only address for the URL's host is
    /// `pinned`.
    async fn connect_pinned(
        config: McpServerConfig,
        url: Url,
        pinned: SocketAddr,
    ) -> Result<McpClient, McpError> {
        let http = pinned_http_client(&config, &url, pinned)?;
        let transport_config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
            .max_json_response_size(config.max_response_bytes)
            .max_sse_event_size(config.max_response_bytes)
            .control_request_timeout(config.connect_timeout)
            .reinit_on_expired_session(false);
        let transport = StreamableHttpClientTransport::with_client(http, transport_config);

        let handshake = client_config().serve(transport);
        let service = tokio::time::timeout(config.call_timeout, handshake)
            .await
            .map_err(|_| McpError::Timeout)?
            .map_err(McpError::from_initialize)?;

        // A tool list must be fetched afresh every time, or a change could go unseen.
        service
            .peer()
            .set_response_cache_config(ClientCacheConfig::disabled())
            .await;
        tracing::debug!(server = %redacted(&url), "MCP session opened");
        Ok(McpClient { service, config })
    }

    /// Every tool the server offers, all pages, within one `call_timeout`. More than 32
    /// pages or 512 tools is [`McpError::TooLarge`].
    pub async fn list_tools(&self) -> Result<Vec<ToolInfo>, McpError> {
        tokio::time::timeout(self.config.call_timeout, self.list_all_pages())
            .await
            .map_err(|_| McpError::Timeout)?
    }

    async fn list_all_pages(&self) -> Result<Vec<ToolInfo>, McpError> {
        let mut tools = Vec::new();
        let mut cursor = None;
        for _ in 0..MAX_TOOL_PAGES {
            let params = PaginatedRequestParams::default().with_cursor(cursor);
            let page = self
                .service
                .peer()
                .list_tools(Some(params))
                .await
                .map_err(McpError::from_service)?;
            tools.extend(page.tools.into_iter().map(ToolInfo::from));
            if tools.len() > MAX_TOOLS {
                return Err(McpError::TooLarge);
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(tools),
            }
        }
        Err(McpError::TooLarge)
    }

    /// Calls a tool, bounded by `call_timeout`; its text content is joined and cut to
    /// `max_output_bytes` at a character boundary (`truncated` then says so).
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Map<String, Value>,
    ) -> Result<ToolOutput, McpError> {
        let params = CallToolRequestParams::new(name.to_owned()).with_arguments(arguments);
        let call = self.service.peer().call_tool(params);
        let result = tokio::time::timeout(self.config.call_timeout, call)
            .await
            .map_err(|_| McpError::Timeout)?
            .map_err(McpError::from_service)?;
        Ok(ToolOutput::from_result(
            result,
            self.config.max_output_bytes,
        ))
    }

    /// Ends the session (waiting at most `connect_timeout` for the server to hear it).
    pub async fn close(self) {
        let mut service = self.service;
        if let Err(error) = service
            .close_with_timeout(self.config.connect_timeout)
            .await
        {
            tracing::debug!(%error, "MCP session did not close cleanly");
        }
    }
}

/// How we introduce ourselves: no capabilities, so the server has nothing to ask of us.
fn client_config() -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("hydronet", env!("CARGO_PKG_VERSION")),
    )
}

/// A reqwest client that reaches `url`'s host only at `pinned`, follows no redirects,
/// ignores proxy settings, and carries the configured `Authorization` and nothing else.
fn pinned_http_client(
    config: &McpServerConfig,
    url: &Url,
    pinned: SocketAddr,
) -> Result<reqwest::Client, McpError> {
    let mut headers = HeaderMap::new();
    if let Some(secret) = &config.authorization {
        let mut value = HeaderValue::from_str(secret.expose_secret())
            .map_err(|_| McpError::Http("the authorization value is not a valid header".into()))?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }

    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(config.connect_timeout)
        .read_timeout(config.call_timeout)
        .default_headers(headers);
    if let Some(host) = url.domain() {
        builder = builder.resolve(host, pinned);
    }
    builder
        .build()
        .map_err(|error| McpError::Http(error.to_string()))
}

/// The URL without its query, for logs.
fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::http::{HeaderMap, StatusCode};
    use rmcp::model::ContentBlock;

    use super::*;

    fn tool(name: &str, description: Option<&str>, schema: Value) -> ToolInfo {
        ToolInfo {
            name: name.to_owned(),
            description: description.map(str::to_owned),
            input_schema: schema,
        }
    }

    /// Compile-time check: the client can be shared and its futures sent across threads,
    /// as axum handlers and spawned tasks need.
    #[allow(dead_code)]
    fn the_client_and_its_futures_are_send(client: &McpClient, policy: &EgressPolicy) {
        fn send<T: Send>(_: T) {}
        fn send_sync<T: Send + Sync>(_: &T) {}
        send_sync(client);
        send(client.list_tools());
        send(client.call_tool("t", Map::new()));
        send(McpClient::connect(McpServerConfig::new("http://a"), policy));
    }

    #[test]
    fn the_digest_follows_names_descriptions_and_schemas() {
        let base = vec![
            tool("a", Some("first"), json!({ "type": "object" })),
            tool(
                "b",
                None,
                json!({ "type": "object", "properties": { "x": {} } }),
            ),
        ];
        let digest = tools_digest(&base);
        assert_eq!(digest.len(), 64);
        assert!(digest.chars().all(|c| c.is_ascii_hexdigit()));

        let mut renamed = base.clone();
        renamed[0].name = "c".to_owned();
        let mut described = base.clone();
        described[1].description = Some(String::new());
        let mut widened = base.clone();
        widened[1].input_schema["properties"]["y"] = json!({});
        let mut fewer = base.clone();
        fewer.pop();
        for changed in [renamed, described, widened, fewer] {
            assert_ne!(tools_digest(&changed), digest);
        }

        let mut reordered = base.clone();
        reordered.reverse();
        assert_eq!(tools_digest(&reordered), digest);
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let mut out = String::new();
        write_canonical(
            &json!({ "b": [ { "d": 1, "c": "é\"" } ], "a": null }),
            &mut out,
        );
        assert_eq!(out, r#"{"a":null,"b":[{"c":"é\"","d":1}]}"#);
    }

    #[test]
    fn function_names_keep_to_the_allowed_characters_and_length() {
        assert_eq!(function_name("gis", "find valve/ø"), "gis__find_valve__");
        let long = function_name("server", &"t".repeat(100));
        assert_eq!(long.len(), MAX_FUNCTION_NAME);
        assert!(long.starts_with("server__ttt"));
    }

    #[test]
    fn a_schema_that_is_not_an_object_becomes_an_empty_object_schema() {
        let function = function_definition("s", &tool("t", None, Value::Null));
        assert_eq!(function["function"]["parameters"]["type"], "object");
        assert!(function["function"].get("description").is_none());
    }

    #[test]
    fn text_is_cut_at_a_char_boundary() {
        let mut text = String::new();
        assert!(push_capped(&mut text, "ab", 5));
        assert!(!push_capped(&mut text, "€€", 5));
        assert_eq!(text, "ab€");
        assert!(!push_capped(&mut text, "x", 5));
        assert_eq!(text, "ab€");
    }

    #[test]
    fn structured_content_stands_in_when_there_is_no_text() {
        let mut result = CallToolResult::success(Vec::<ContentBlock>::new());
        result.structured_content = Some(json!({ "head_m": 42 }));
        let output = ToolOutput::from_result(result, 1024);
        assert_eq!(output.text, r#"{"head_m":42}"#);
        assert!(!output.truncated);
        assert!(!output.is_error);
    }

    #[test]
    fn a_cut_between_blocks_is_reported() {
        let result =
            CallToolResult::success(vec![ContentBlock::text("1234"), ContentBlock::text("5")]);
        let output = ToolOutput::from_result(result, 4);
        assert_eq!(output.text, "1234");
        assert!(output.truncated);
    }

    #[tokio::test]
    async fn the_connection_goes_to_the_pinned_address_without_a_second_lookup() {
        let hosts = Arc::new(Mutex::new(Vec::new()));
        let seen = hosts.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push(headers["host"].to_str().unwrap().to_owned());
                StatusCode::SERVICE_UNAVAILABLE
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pinned = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        // `.invalid` never resolves: reaching the server proves the pin was used.
        let url = format!("http://mcp.invalid:{}/mcp", pinned.port());
        let config = McpServerConfig::new(url.clone());
        let refused = McpClient::connect_pinned(config, Url::parse(&url).unwrap(), pinned).await;
        assert!(refused.is_err());
        let hosts = hosts.lock().unwrap().clone();
        assert!(!hosts.is_empty());
        assert!(
            hosts
                .iter()
                .all(|host| *host == format!("mcp.invalid:{}", pinned.port()))
        );
    }
}
