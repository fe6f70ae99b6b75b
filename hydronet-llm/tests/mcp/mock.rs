//! A hand-written MCP server speaking JSON-RPC over streamable HTTP (JSON responses), with
//! hostile tools, on 127.0.0.1 and a port of its own.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use futures_util::{StreamExt as _, stream};
use serde_json::{Value, json};

/// Tools per page of `tools/list`.
const PAGE_SIZE: usize = 2;

/// What the server has seen and what it offers.
#[derive(Default)]
pub(crate) struct Seen {
    requests: Mutex<Vec<HeaderMap>>,
    tools: Mutex<Vec<Value>>,
}

impl Seen {
    /// Headers of every request to `/mcp`, in order.
    pub(crate) fn requests(&self) -> Vec<HeaderMap> {
        self.requests.lock().unwrap().clone()
    }

    /// Replaces the tool list.
    pub(crate) fn set_tools(&self, tools: Vec<Value>) {
        *self.tools.lock().unwrap() = tools;
    }
}

/// A running mock server.
pub(crate) struct MockServer {
    pub(crate) addr: SocketAddr,
    pub(crate) seen: Arc<Seen>,
}

impl MockServer {
    /// Starts a server on 127.0.0.1 with [`default_tools`].
    pub(crate) async fn start() -> Self {
        let seen = Arc::new(Seen::default());
        seen.set_tools(default_tools());
        let app = Router::new()
            .route("/mcp", any(mcp))
            .route("/moved", post(moved_here))
            .route("/moved-private", post(moved_private))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, seen }
    }

    /// `http://127.0.0.1:{port}{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Seven tools, so that a listing takes four pages.
pub(crate) fn default_tools() -> Vec<Value> {
    let object = json!({ "type": "object", "properties": { "text": { "type": "string" } } });
    ["echo", "hang", "big", "endless", "endless_sse", "fail", "multi"]
        .into_iter()
        .map(|name| json!({ "name": name, "description": format!("the {name} tool"), "inputSchema": object }))
        .collect()
}

async fn mcp(State(seen): State<Arc<Seen>>, headers: HeaderMap, body: Bytes) -> Response {
    seen.requests.lock().unwrap().push(headers);
    if body.is_empty() {
        // GET (no server-initiated stream here) or DELETE.
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let Some(id) = message.get("id").cloned() else {
        return StatusCode::ACCEPTED.into_response();
    };
    let params = &message["params"];
    match message["method"].as_str().unwrap_or_default() {
        "initialize" => reply(
            id,
            json!({
                "protocolVersion": params["protocolVersion"],
                "capabilities": { "tools": {} },
                "serverInfo": { "name": "mock", "version": "0" }
            }),
        ),
        "tools/list" => list_page(&seen, id, params),
        "tools/call" => call(id, params).await,
        _ => json_response(json!({
            "jsonrpc": "2.0", "id": id,
            "error": { "code": -32601, "message": "method not found" }
        })),
    }
}

fn list_page(seen: &Seen, id: Value, params: &Value) -> Response {
    let tools = seen.tools.lock().unwrap().clone();
    let start: usize = params["cursor"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let end = (start + PAGE_SIZE).min(tools.len());
    let mut result = json!({ "tools": tools[start..end] });
    if end < tools.len() {
        result["nextCursor"] = json!(end.to_string());
    }
    reply(id, result)
}

async fn call(id: Value, params: &Value) -> Response {
    let text = |text: &str| json!({ "type": "text", "text": text });
    match params["name"].as_str().unwrap_or_default() {
        "echo" => reply(
            id,
            json!({ "content": [text(params["arguments"]["text"].as_str().unwrap_or_default())] }),
        ),
        "hang" => std::future::pending().await,
        "big" => reply(id, json!({ "content": [text(&"é".repeat(100_000))] })),
        "endless" => endless(id, "application/json", "{\"jsonrpc\":\"2.0\",\"id\":"),
        "endless_sse" => endless(
            id,
            "text/event-stream",
            "data: {\"jsonrpc\":\"2.0\",\"id\":",
        ),
        "fail" => reply(id, json!({ "content": [text("boom")], "isError": true })),
        "multi" => reply(
            id,
            json!({ "content": [
                text("first"),
                { "type": "image", "data": "AAAA", "mimeType": "image/png" },
                text("second")
            ] }),
        ),
        _ => reply(
            id,
            json!({ "content": [text("no such tool")], "isError": true }),
        ),
    }
}

/// A body that starts like an answer and never ends.
fn endless(id: Value, content_type: &'static str, prefix: &str) -> Response {
    let head = Bytes::from(format!(
        "{prefix}{id},\"result\":{{\"content\":[{{\"type\":\"text\",\"text\":\""
    ));
    let filler = Bytes::from(vec![b'x'; 16 * 1024]);
    let chunks = stream::iter(std::iter::once(head).chain(std::iter::repeat(filler)))
        .map(Ok::<_, Infallible>);
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from_stream(chunks))
        .unwrap()
}

fn reply(id: Value, result: Value) -> Response {
    json_response(json!({ "jsonrpc": "2.0", "id": id, "result": result }))
}

fn json_response(body: Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Redirects to this same server's working endpoint: following it would succeed.
async fn moved_here(headers: HeaderMap) -> Response {
    let host = headers[header::HOST].to_str().unwrap().to_owned();
    redirect(&format!("http://{host}/mcp"))
}

/// Redirects to a private address.
async fn moved_private() -> Response {
    redirect("http://10.0.0.1/mcp")
}

fn redirect(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}
