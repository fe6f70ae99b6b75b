//! `/api/chat/*`: conversations and the assistant's replies, plain or streamed.
//!
//! A turn stores the user's message, reserves an estimate of its tokens from the tenant's
//! budget, asks the model with the conversation's recent history (as much as fits the
//! model's window) after the system prompt, then stores the reply and settles the budget
//! with the tokens the provider reported. A failed call stores no reply: the turn is marked
//! failed and the error returned (502, 504, or an `error` event mid-stream). A client that
//! goes away mid-stream cancels the upstream call; what was used is still recorded.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};
use http::{HeaderMap, Method, StatusCode, header};
use hydronet_core::{Plan, Problem, TenantContext, TenantId, UserId};
use hydronet_llm::{ChatRequest, LlmError, Message, StreamEvent, Usage};
use hydronet_tenancy::rbac::Permission;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Access, Endpoint, endpoint, page_limit};
use crate::body::{Fields, JsonObject};
use crate::charge::{Charge, estimate};
use crate::chat_store::{self, NewMessage};
use crate::counts::{self, Resource};
use crate::error::{ApiError, ApiResult};
use crate::mcp::Toolbox;
use crate::state::AppState;

/// The chat endpoints.
pub fn endpoints() -> Vec<Endpoint> {
    use Permission::{ConversationsRead as Read, ConversationsWrite as Write};
    let one = "/api/chat/conversations/{id}";
    vec![
        endpoint(
            Method::POST,
            "/api/chat/conversations",
            Access::Requires(Write),
            create,
        ),
        endpoint(
            Method::GET,
            "/api/chat/conversations",
            Access::Requires(Read),
            list,
        ),
        endpoint(Method::GET, one, Access::Requires(Read), show),
        endpoint(Method::PATCH, one, Access::Requires(Write), rename),
        endpoint(Method::DELETE, one, Access::Requires(Write), remove),
        endpoint(
            Method::POST,
            "/api/chat/conversations/{id}/messages",
            Access::Requires(Write),
            send,
        ),
    ]
}

/// What the assistant is told before every conversation, unless the tenant says otherwise.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are HydroNet, an assistant for engineers who \
design and operate water supply and distribution networks: pipes, pumps, tanks, valves, \
pressure zones, hydraulics and water quality. Answer precisely, give formulas with their \
units, state your assumptions, and say so when you are not sure.";

const MAX_MESSAGE_CHARS: usize = 32_000;
const MAX_TITLE_CHARS: usize = 200;

fn owner(ctx: &TenantContext) -> Result<(TenantId, UserId), Problem> {
    let user = ctx.user_id().ok_or_else(Problem::forbidden)?;
    Ok((ctx.tenant_id(), user))
}

fn title_of(fields: &mut Fields, required: bool) -> Option<String> {
    let title = if required {
        fields.required_str("title")
    } else {
        fields.optional_str("title")
    };
    let title = title.map(|t| t.trim().to_owned());
    match &title {
        Some(t) if t.is_empty() => fields.reject("title", "must not be empty"),
        Some(t) if t.chars().count() > MAX_TITLE_CHARS => {
            fields.reject("title", "must be at most 200 characters")
        }
        _ => {}
    }
    title
}

/// `POST /api/chat/conversations` `{title?}`.
async fn create(
    State(state): State<AppState>,
    ctx: TenantContext,
    body: JsonObject,
) -> ApiResult<Response> {
    let (tenant, user) = owner(&ctx)?;
    let mut fields = Fields::new(body);
    let title = title_of(&mut fields, false);
    fields.finish()?;
    let title = title.unwrap_or_else(|| "New conversation".to_owned());

    let mut tx = state.db.tenant(tenant).await?;
    let limit = Resource::Conversations.limit(&state.limits.effective(tenant, ctx.plan()));
    counts::take_slot(&mut tx, tenant, Resource::Conversations, limit).await?;
    let row = chat_store::insert_conversation(&mut tx, tenant, user, &title, state.now()).await?;
    tx.commit().await?;

    let body = json!({ "success": true, "conversation": row.to_json() });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /api/chat/conversations?cursor=&limit=`: the caller's own, newest first.
async fn list(
    State(state): State<AppState>,
    ctx: TenantContext,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let (tenant, user) = owner(&ctx)?;
    let limit = page_limit(&query, 20, 100)?;
    let mut tx = state.db.tenant_reader(tenant).await?;
    let rows = chat_store::conversations(
        &mut tx,
        tenant,
        user,
        query.get("cursor").map(String::as_str),
        limit,
    )
    .await?;
    tx.commit().await?;

    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id.clone()))
        .flatten();
    let conversations: Vec<Value> = rows.iter().map(|r| r.to_json()).collect();
    Ok(Json(
        json!({ "success": true, "conversations": conversations, "next_cursor": next }),
    ))
}

/// `GET /api/chat/conversations/{id}`: with its messages.
async fn show(
    State(state): State<AppState>,
    ctx: TenantContext,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (tenant, user) = owner(&ctx)?;
    let mut tx = state.db.tenant_reader(tenant).await?;
    let row = chat_store::conversation(&mut tx, tenant, user, &id)
        .await?
        .ok_or_else(Problem::not_found)?;
    let messages = chat_store::messages(&mut tx, tenant, &id, 1_000).await?;
    tx.commit().await?;

    let mut body = row.to_json();
    body["messages"] = messages.iter().map(|m| m.to_json()).collect();
    Ok(Json(json!({ "success": true, "conversation": body })))
}

/// `PATCH /api/chat/conversations/{id}` `{title}`.
async fn rename(
    State(state): State<AppState>,
    ctx: TenantContext,
    Path(id): Path<String>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    let (tenant, user) = owner(&ctx)?;
    let mut fields = Fields::new(body);
    let title = title_of(&mut fields, true);
    fields.finish()?;
    let title = title.unwrap_or_default();

    let mut tx = state.db.tenant(tenant).await?;
    if !chat_store::rename(&mut tx, tenant, user, &id, &title, state.now()).await? {
        return Err(Problem::not_found().into());
    }
    let row = chat_store::conversation(&mut tx, tenant, user, &id)
        .await?
        .ok_or_else(Problem::not_found)?;
    tx.commit().await?;
    Ok(Json(
        json!({ "success": true, "conversation": row.to_json() }),
    ))
}

/// `DELETE /api/chat/conversations/{id}`.
async fn remove(
    State(state): State<AppState>,
    ctx: TenantContext,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (tenant, user) = owner(&ctx)?;
    let mut tx = state.db.tenant(tenant).await?;
    if !chat_store::delete(&mut tx, tenant, user, &id).await? {
        return Err(Problem::not_found().into());
    }
    counts::free_slot(&mut tx, tenant, Resource::Conversations).await?;
    tx.commit().await?;
    Ok(Json(json!({ "success": true })))
}

/// The request for a turn: the system prompt, as much recent history as fits the window,
/// and the new message. Returns it with its estimated prompt tokens.
fn context(
    state: &AppState,
    system_prompt: &str,
    history: &[chat_store::MessageRow],
    message: &str,
) -> (ChatRequest, u64) {
    let window = u64::from(state.settings.llm_context_tokens);
    let mut used = estimate(system_prompt) + estimate(message);
    let mut kept = Vec::new();
    for row in history.iter().rev().filter(|m| m.status == "ok") {
        let cost = estimate(&row.content);
        if used + cost > window {
            break;
        }
        used += cost;
        kept.push(match row.role.as_str() {
            "assistant" => Message::assistant(&row.content),
            _ => Message::user(&row.content),
        });
    }
    kept.reverse();

    let mut messages = vec![Message::system(system_prompt)];
    messages.extend(kept);
    messages.push(Message::user(message));
    let mut request = ChatRequest::new(messages);
    request.max_tokens = Some(state.settings.llm_max_tokens);
    (request, used)
}

pub(crate) fn upstream_problem(err: &LlmError) -> Problem {
    tracing::warn!(error = %err, "model call failed");
    match err {
        LlmError::Timeout => Problem::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            "The language model did not answer in time.",
        ),
        _ => Problem::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            "The language model could not answer this message.",
        ),
    }
}

/// Everything a turn needs after its user message is stored.
struct Turn {
    charge: Charge,
    state: AppState,
    tenant: TenantId,
    user: UserId,
    toolbox: Toolbox,
    conversation: String,
    user_message: String,
    prompt_estimate: u64,
}

impl Turn {
    /// Records what a call used.
    async fn meter(&self, usage: &Usage) {
        self.charge.meter(usage).await;
    }

    /// Stores the reply; returns its id.
    async fn store_reply(&self, text: &str, usage: &Usage) -> Result<String, ApiError> {
        let mut tx = self.state.db.tenant(self.tenant).await?;
        let message = NewMessage {
            role: "assistant",
            content: text,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
        };
        let id = chat_store::insert_message(
            &mut tx,
            self.tenant,
            &self.conversation,
            &message,
            self.state.now(),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Marks the turn failed and gives the whole reservation back (nothing was used).
    async fn fail(&self) {
        self.charge.release().await;
        self.mark_failed().await;
    }

    /// Marks the turn failed; what it used is metered separately.
    async fn mark_failed(&self) {
        let marked = async {
            let mut tx = self.state.db.tenant(self.tenant).await?;
            chat_store::mark_failed(&mut tx, self.tenant, &self.user_message).await?;
            tx.commit().await
        };
        if let Err(err) = marked.await {
            tracing::error!(error = %err, "failed turn not marked");
        }
    }

    /// Usage for a call that reported none: estimated from what was sent and received.
    fn estimated(&self, reply: &str) -> Usage {
        let completion = estimate(reply);
        Usage {
            prompt_tokens: self.prompt_estimate,
            completion_tokens: completion,
            total_tokens: self.prompt_estimate + completion,
            ..Usage::default()
        }
    }
}

/// `POST /api/chat/conversations/{id}/messages` `{message, stream?}`.
async fn send(
    State(state): State<AppState>,
    ctx: TenantContext,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: JsonObject,
) -> ApiResult<Response> {
    let (tenant, user) = owner(&ctx)?;
    let wants_stream = body
        .0
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/event-stream"));
    let mut fields = Fields::new(body);
    let message = fields.required_str("message").map(|m| m.trim().to_owned());
    match &message {
        Some(m) if m.is_empty() => fields.reject("message", "must not be empty"),
        Some(m) if m.chars().count() > MAX_MESSAGE_CHARS => {
            fields.reject("message", "must be at most 32000 characters")
        }
        _ => {}
    }
    fields.finish()?;
    let message = message.unwrap_or_default();

    let prepared = prepare(&state, tenant, ctx.plan(), user, &id, &message).await?;
    if wants_stream && prepared.turn.toolbox.is_empty() {
        return Ok(stream_reply(prepared.turn, prepared.request).into_response());
    }
    let answer = answer(prepared).await?;
    if wants_stream {
        // With tools the reply is known only after the tool rounds: sent as one delta.
        return Ok(answered_stream(answer).into_response());
    }
    Ok(Json(json!({
        "success": true,
        "message": { "id": answer.message_id, "role": "assistant", "content": answer.text },
        "usage": answer.usage,
        "tool_calls": answer.tools,
    }))
    .into_response())
}

/// A user's message stored in its conversation, with the budget reserved and the model
/// request built: ready to be answered, plainly ([`answer`]) or streamed.
pub struct Prepared {
    turn: Turn,
    request: ChatRequest,
}

/// The assistant's stored reply.
#[derive(Debug)]
pub struct Answer {
    /// The stored reply's id.
    pub message_id: String,
    /// The reply's text.
    pub text: String,
    /// What the call used.
    pub usage: Usage,
    /// The names of the tools called on the way, in order.
    pub tools: Vec<String>,
}

/// Stores `message` from `user` in `tenant`'s `conversation` (which must be theirs) and
/// reserves its tokens from the budget of `plan`.
pub async fn prepare(
    state: &AppState,
    tenant: TenantId,
    plan: Plan,
    user: UserId,
    conversation: &str,
    message: &str,
) -> ApiResult<Prepared> {
    let mut tx = state.db.tenant_reader(tenant).await?;
    chat_store::conversation(&mut tx, tenant, user, conversation)
        .await?
        .ok_or_else(Problem::not_found)?;
    let history = chat_store::messages(&mut tx, tenant, conversation, 200).await?;
    let tenant_row = crate::store::tenant(&mut tx, tenant)
        .await?
        .ok_or_else(Problem::not_found)?;
    tx.commit().await?;
    let prompt = tenant_row
        .system_prompt
        .as_deref()
        .unwrap_or(DEFAULT_SYSTEM_PROMPT);
    let (mut request, prompt_estimate) = context(state, prompt, &history, message);
    request.model = Some(crate::models::choose(
        &state.settings,
        plan,
        tenant_row.default_model.as_deref(),
        None,
    )?);

    let tokens = prompt_estimate + u64::from(state.settings.llm_max_tokens);
    let charge = Charge::reserve(state, tenant, plan, tokens).await?;

    let stored = async {
        let mut tx = state.db.tenant(tenant).await?;
        let new = NewMessage {
            role: "user",
            content: message,
            prompt_tokens: 0,
            completion_tokens: 0,
        };
        let id =
            chat_store::insert_message(&mut tx, tenant, conversation, &new, state.now()).await?;
        tx.commit().await?;
        Ok::<_, ApiError>(id)
    }
    .await;
    let user_message = match stored {
        Ok(stored) => stored,
        Err(err) => {
            charge.release().await;
            return Err(err);
        }
    };

    let toolbox = Toolbox::for_user(state, tenant, &state.rbac.roles_of(tenant, user)).await?;
    request.tools = toolbox.definitions();
    let turn = Turn {
        charge,
        state: state.clone(),
        tenant,
        user,
        toolbox,
        conversation: conversation.to_owned(),
        user_message,
        prompt_estimate,
    };
    Ok(Prepared { turn, request })
}

/// Asks the model and stores its reply; a failed call marks the turn failed and returns
/// the problem (502 or 504).
///
/// When the model asks for tools, they run (each bounded, audited and counted) and the
/// model is asked again with their results, for at most `HYDRONET_MCP_MAX_STEPS` rounds;
/// the last round offers no tools, so it must answer in words.
pub async fn answer(prepared: Prepared) -> ApiResult<Answer> {
    let Prepared { turn, mut request } = prepared;
    let mut used = Usage::default();
    let mut tools = Vec::new();
    let max_steps = turn.state.settings.mcp_max_steps;
    let mut step = 0;
    let reply = loop {
        if step == max_steps {
            request.tools.clear();
        }
        let reply = match turn.state.model.complete(request.clone()).await {
            Ok(reply) => reply,
            Err(err) if step == 0 => {
                turn.fail().await;
                return Err(upstream_problem(&err).into());
            }
            Err(err) => {
                // Tool rounds already used tokens: meter them, then fail the turn.
                turn.meter(&used).await;
                turn.mark_failed().await;
                return Err(upstream_problem(&err).into());
            }
        };
        let text = reply.message.content.clone().unwrap_or_default();
        add_usage(
            &mut used,
            &reply.usage.clone().unwrap_or_else(|| turn.estimated(&text)),
        );
        if reply.message.tool_calls.is_empty() || request.tools.is_empty() {
            break reply;
        }
        step += 1;
        let calls = reply.message.tool_calls.clone();
        request.messages.push(reply.message);
        for call in calls {
            tools.push(call.function.name.clone());
            let output = turn
                .toolbox
                .call(
                    &turn.state,
                    turn.user,
                    &call.function.name,
                    &call.function.arguments,
                )
                .await;
            request.messages.push(Message::tool(call.id, output));
        }
    };
    let text = reply.message.content.clone().unwrap_or_default();
    let usage = used;
    turn.meter(&usage).await;
    let message_id = turn.store_reply(&text, &usage).await?;
    Ok(Answer {
        message_id,
        text,
        usage,
        tools,
    })
}

/// Adds one call's usage to a turn's.
fn add_usage(total: &mut Usage, more: &Usage) {
    total.prompt_tokens += more.prompt_tokens;
    total.completion_tokens += more.completion_tokens;
    total.total_tokens += more
        .total_tokens
        .max(more.prompt_tokens + more.completion_tokens);
}

/// A finished answer as the events of a stream: a `tool` event per tool called
/// (`{name}`), one `delta` and `done`.
fn answered_stream(
    answer: Answer,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let tools = answer.tools.iter().map(|name| {
        Event::default()
            .event("tool")
            .data(json!({ "name": name }).to_string())
    });
    let events: Vec<Event> = tools
        .chain([
            Event::default()
                .event("delta")
                .data(json!({ "content": answer.text }).to_string()),
            Event::default().event("done").data(
                json!({ "message_id": answer.message_id, "usage": answer.usage }).to_string(),
            ),
        ])
        .collect();
    Sse::new(stream::iter(events.into_iter().map(Ok)))
}

/// Streams the reply as Server-Sent Events: `delta` events with text, then `done` with the
/// stored message's id and the usage, or `error`. A task drives the model call and ends
/// it as soon as the client is gone.
fn stream_reply(
    turn: Turn,
    request: ChatRequest,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let (sender, receiver) = mpsc::channel::<Event>(64);
    tokio::spawn(drive(turn, request, sender));
    let events = stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

enum Ending {
    Completed,
    Failed(LlmError),
    ClientGone,
}

async fn drive(turn: Turn, request: ChatRequest, sender: mpsc::Sender<Event>) {
    let mut upstream = match turn.state.model.stream(request).await {
        Ok(upstream) => upstream,
        Err(err) => {
            turn.fail().await;
            let _ = sender.send(error_event(&err)).await;
            return;
        }
    };

    let mut text = String::new();
    let mut usage = None;
    let ending = loop {
        let item = tokio::select! {
            () = sender.closed() => break Ending::ClientGone,
            item = upstream.next() => item,
        };
        match item {
            None => break Ending::Completed,
            Some(Err(err)) => break Ending::Failed(err),
            Some(Ok(StreamEvent::Usage(reported))) => usage = Some(reported),
            Some(Ok(StreamEvent::Delta {
                content: Some(piece),
                ..
            })) => {
                text.push_str(&piece);
                let event = Event::default()
                    .event("delta")
                    .data(json!({ "content": piece }).to_string());
                if sender.send(event).await.is_err() {
                    break Ending::ClientGone;
                }
            }
            Some(Ok(_)) => {}
        }
    };
    // Dropping the upstream stream cancels the provider call.
    drop(upstream);
    let usage = usage.unwrap_or_else(|| turn.estimated(&text));

    match ending {
        Ending::Completed => {
            turn.meter(&usage).await;
            let event = match turn.store_reply(&text, &usage).await {
                Ok(id) => Event::default()
                    .event("done")
                    .data(json!({ "message_id": id, "usage": usage }).to_string()),
                Err(_) => error_event(&LlmError::Protocol("the reply could not be stored".into())),
            };
            let _ = sender.send(event).await;
        }
        Ending::Failed(err) => {
            turn.meter(&usage).await;
            turn.mark_failed().await;
            let _ = sender.send(error_event(&err)).await;
        }
        Ending::ClientGone => {
            tracing::debug!("client left mid-stream; upstream call cancelled");
            turn.meter(&usage).await;
            turn.mark_failed().await;
        }
    }
}

fn error_event(err: &LlmError) -> Event {
    let problem = upstream_problem(err);
    let body = json!({ "code": problem.code(), "detail": problem.detail(), "status": problem.status().as_u16() });
    Event::default().event("error").data(body.to_string())
}
