//! An OpenAI-compatible gateway for tenants' own programs: `POST /v1/chat/completions`
//! (plain and streamed) and `GET /v1/models`, so OpenAI SDKs and tools work against
//! HydroNet unchanged — with the tenant's credentials, quotas, metering and audit, and
//! without ever seeing the upstream key.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};
use http::Method;
use hydronet_core::{Problem, TenantContext};
use hydronet_llm::{ChatRequest, LlmError, StreamEvent, Usage};
use hydronet_tenancy::rbac::Permission;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::chat::upstream_problem;
use super::{Access, Endpoint, endpoint};
use crate::body::JsonObject;
use crate::charge::{Charge, estimate};
use crate::error::ApiResult;
use crate::state::{AppState, model_name};

/// The gateway's endpoints.
pub fn endpoints() -> Vec<Endpoint> {
    use Permission::{ConversationsRead, ConversationsWrite};
    vec![
        endpoint(
            Method::POST,
            "/v1/chat/completions",
            Access::Requires(ConversationsWrite),
            completions,
        ),
        endpoint(
            Method::GET,
            "/v1/models",
            Access::Requires(ConversationsRead),
            models,
        ),
    ]
}

/// `GET /v1/models`: the models the caller's plan allows, its default first.
async fn models(State(state): State<AppState>, ctx: TenantContext) -> Json<Value> {
    let data: Vec<Value> = crate::models::allowed(&state.settings, ctx.plan())
        .into_iter()
        .map(|id| json!({ "id": id, "object": "model", "owned_by": "hydronet" }))
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

fn created(state: &AppState) -> i64 {
    state.now()
}

/// `POST /v1/chat/completions`.
async fn completions(
    State(state): State<AppState>,
    ctx: TenantContext,
    JsonObject(body): JsonObject,
) -> ApiResult<Response> {
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let mut request: ChatRequest = serde_json::from_value(Value::Object(body)).map_err(|err| {
        Problem::invalid_field("messages", format!("is not a valid chat request: {err}"))
    })?;
    if request.messages.is_empty() {
        return Err(Problem::invalid_field("messages", "must not be empty").into());
    }
    let tenant = ctx.tenant_id();
    let mut tx = state.db.tenant_reader(tenant).await?;
    let tenant_row = crate::store::tenant(&mut tx, tenant)
        .await?
        .ok_or_else(Problem::not_found)?;
    tx.commit().await?;
    request.model = Some(crate::models::choose(
        &state.settings,
        ctx.plan(),
        tenant_row.default_model.as_deref(),
        request.model.as_deref(),
    )?);
    request.extra.remove("stream");
    request.extra.remove("stream_options");
    let max_tokens = *request
        .max_tokens
        .get_or_insert(state.settings.llm_max_tokens);

    let prompt: u64 = request
        .messages
        .iter()
        .filter_map(|m| m.content.as_deref())
        .map(estimate)
        .sum();
    let tokens = prompt + u64::from(max_tokens);
    let call = Charge::reserve(&state, ctx.tenant_id(), ctx.plan(), tokens).await?;

    if stream {
        return Ok(streamed(call, request).into_response());
    }
    match state.model.complete(request).await {
        Ok(reply) => {
            let usage = reply.usage.clone().unwrap_or_default();
            call.meter(&usage).await;
            let model = if reply.model.is_empty() {
                model_name(&state.settings).to_owned()
            } else {
                reply.model
            };
            Ok(Json(json!({
                "id": format!("chatcmpl-{}", uuid::Uuid::now_v7().simple()),
                "object": "chat.completion",
                "created": created(&state),
                "model": model,
                "choices": [{ "index": 0, "message": reply.message, "finish_reason": reply.finish_reason }],
                "usage": usage,
            }))
            .into_response())
        }
        Err(err) => {
            call.release().await;
            Err(upstream_problem(&err).into())
        }
    }
}

fn chunk(id: &str, model: &str, created: i64, choices: Value, usage: Option<&Usage>) -> Event {
    let mut body = json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": choices });
    if let Some(usage) = usage {
        body["usage"] = json!(usage);
    }
    Event::default().data(body.to_string())
}

fn streamed(
    call: Charge,
    request: ChatRequest,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let (sender, receiver) = mpsc::channel::<Event>(64);
    tokio::spawn(relay(call, request, sender));
    let events = stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Relays the model's stream as OpenAI chunks, then a usage chunk and `[DONE]`; stops the
/// upstream call as soon as the client is gone, metering what was used either way.
async fn relay(call: Charge, request: ChatRequest, sender: mpsc::Sender<Event>) {
    let id = format!("chatcmpl-{}", uuid::Uuid::now_v7().simple());
    let model = request
        .model
        .clone()
        .unwrap_or_else(|| model_name(&call.state.settings).to_owned());
    let created = created(&call.state);
    let prompt: u64 = request
        .messages
        .iter()
        .filter_map(|m| m.content.as_deref())
        .map(estimate)
        .sum();

    let mut upstream = match call.state.model.stream(request).await {
        Ok(upstream) => upstream,
        Err(err) => {
            call.release().await;
            let _ = sender.send(error_chunk(&err)).await;
            return;
        }
    };
    let mut usage = None;
    let mut text = String::new();
    let mut failed = None;
    loop {
        let item = tokio::select! {
            () = sender.closed() => break,
            item = upstream.next() => item,
        };
        let event = match item {
            None => break,
            Some(Err(err)) => {
                failed = Some(err);
                break;
            }
            Some(Ok(StreamEvent::Usage(reported))) => {
                usage = Some(reported);
                continue;
            }
            Some(Ok(StreamEvent::Delta {
                content, reasoning, ..
            })) => {
                text.push_str(content.as_deref().unwrap_or_default());
                let delta = json!({ "content": content, "reasoning_content": reasoning });
                chunk(
                    &id,
                    &model,
                    created,
                    json!([{ "index": 0, "delta": delta, "finish_reason": null }]),
                    None,
                )
            }
            Some(Ok(StreamEvent::Finished { reason })) => chunk(
                &id,
                &model,
                created,
                json!([{ "index": 0, "delta": {}, "finish_reason": reason }]),
                None,
            ),
        };
        if sender.send(event).await.is_err() {
            break;
        }
    }
    drop(upstream);

    let usage = usage.unwrap_or_else(|| {
        let completion = estimate(&text);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            ..Usage::default()
        }
    });
    call.meter(&usage).await;
    if let Some(err) = failed {
        let _ = sender.send(error_chunk(&err)).await;
        return;
    }
    let _ = sender
        .send(chunk(&id, &model, created, json!([]), Some(&usage)))
        .await;
    let _ = sender.send(Event::default().data("[DONE]")).await;
}

/// An error mid-stream, as OpenAI-compatible servers send it: a data line with `error`.
fn error_chunk(err: &LlmError) -> Event {
    let problem = upstream_problem(err);
    let body = json!({ "error": { "message": problem.detail(), "type": problem.code(), "code": problem.status().as_u16() } });
    Event::default().data(body.to_string())
}
