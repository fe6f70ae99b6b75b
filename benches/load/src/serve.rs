//! The hidden `serve <kind>` subcommand: what the benchmarks measure, in a child process.
//!
//! Each kind binds `127.0.0.1:0`, prints `listening <addr>` on stdout, and serves until
//! its parent closes stdin.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::client::BoxError;

/// Environment: content chunks per streamed mock reply.
pub(crate) const CHUNKS_VAR: &str = "HYDRONET_LOAD_MOCK_CHUNKS";
/// Environment: the mock's pause between chunks, in microseconds.
pub(crate) const GAP_VAR: &str = "HYDRONET_LOAD_MOCK_GAP_US";

/// Runs server `kind` (`bare`, `stack`, `mock`, `saas` or `hash`) until the parent goes
/// away.
pub(crate) fn run(kind: &str) -> Result<(), BoxError> {
    crate::child::exit_with_parent();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (router, info) = match kind {
            "bare" => (hydronet_benches::stack::handlers(), String::new()),
            "stack" => {
                let stack = hydronet_benches::stack::full_stack().await;
                (stack.router, stack.token)
            }
            "mock" => (mock(), String::new()),
            "saas" => return saas().await,
            "hash" => return hash().await,
            other => return Err(format!("unknown server kind `{other}`").into()),
        };
        // Small writes go out at once (no Nagle), as a real provider's streams do.
        let listener = announce(&info).await?.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        axum::serve(listener, router).await?;
        Ok(())
    })
}

/// Binds, then tells the parent where (and `info`, if any) on one line.
async fn announce(info: &str) -> Result<TcpListener, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("listening {} {info}", listener.local_addr()?);
    Ok(listener)
}

/// The reference server as `hydronet-saas serve` runs it, configured by the environment
/// the parent passed, without a log subscriber.
async fn saas() -> Result<(), BoxError> {
    use hydronet_saas::{app, config::Settings, state::AppState};

    let vars: HashMap<String, String> = std::env::vars().collect();
    let settings = Settings::from_map(&vars, None)?;
    let state = AppState::new(settings).await?;
    state.spawn_background();
    let router = app::router(state);
    let listener = announce("").await?;
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).await?;
    Ok(())
}

/// Not a server: password hashing back to back, exactly as a login storm makes the
/// reference server do it (argon2id with its parameters, on one hashing thread at its
/// priority), without any request to handle. It listens nowhere and says so with the
/// unspecified address.
async fn hash() -> Result<(), BoxError> {
    use hydronet_tenancy::password::{PasswordHasher, PasswordPolicy};

    let hasher = PasswordHasher::new(1);
    let password = PasswordPolicy::new().check_candidate("Not-the-password-1")?;
    println!("listening 0.0.0.0:0");
    loop {
        hasher.verify_dummy(&password).await;
    }
}

/// An OpenAI-compatible upstream with a fixed reply: whole, or streamed in chunks.
fn mock() -> Router {
    let chunks: usize = env_number(CHUNKS_VAR, 8);
    let gap = Duration::from_micros(env_number(GAP_VAR, 2_000));
    Router::new().route(
        "/v1/chat/completions",
        post(move |axum::Json(body): axum::Json<Value>| async move {
            if body.get("stream").and_then(Value::as_bool) == Some(true) {
                streamed(chunks, gap)
            } else {
                axum::Json(whole(chunks)).into_response()
            }
        }),
    )
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn usage(chunks: usize) -> Value {
    json!({ "prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks })
}

fn whole(chunks: usize) -> Value {
    json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "mock",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": "flow ".repeat(chunks) },
            "finish_reason": "stop",
        }],
        "usage": usage(chunks),
    })
}

fn streamed(chunks: usize, gap: Duration) -> Response {
    let event = |value: Value| Bytes::from(format!("data: {value}\n\n"));
    let delta = |content: Value, finish: Value| {
        json!({
            "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": "mock",
            "choices": [{ "index": 0, "delta": content, "finish_reason": finish }],
        })
    };
    let stream = futures_util::stream::unfold(0usize, move |i| async move {
        let frame = match i {
            i if i < chunks => {
                if i > 0 {
                    tokio::time::sleep(gap).await;
                }
                event(delta(json!({ "content": "flow " }), Value::Null))
            }
            i if i == chunks => event(delta(json!({}), json!("stop"))),
            i if i == chunks + 1 => {
                let mut last = json!({ "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "mock", "choices": [] });
                last["usage"] = usage(chunks);
                event(last)
            }
            i if i == chunks + 2 => Bytes::from_static(b"data: [DONE]\n\n"),
            _ => return None,
        };
        Some((Ok::<_, Infallible>(frame), i + 1))
    });
    (
        [(http::header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}
