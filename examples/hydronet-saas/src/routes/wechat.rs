//! The WeChat channel's endpoints: the tenant's account settings
//! (`GET`/`PUT /api/tenant/wechat`) and the callback WeChat calls (`/wechat/{tenant}`).
//!
//! The callback is public and authenticated by its signature. `GET` is WeChat's check of
//! the URL: a valid signature echoes `echostr`. `POST` carries one message, plain or
//! encrypted (`encrypt_type=aes`). A text message is answered by the assistant in the
//! WeChat user's own conversation: passively, in the reply's XML, when the answer is
//! ready within `HYDRONET_WECHAT_REPLY_WITHIN_MS`; otherwise the reply is `success` at
//! once and the answer follows through the customer-service API. A delivery WeChat
//! retries is claimed once (by `MsgId`, or sender and time for events), so a retry never
//! causes a second model call; it is answered `success`.
//!
//! Refusals are problems: 404 when the tenant, its account or the channel is off, 401
//! for a wrong signature or a timestamp more than five minutes away, 400 for XML that is
//! malformed, declares a DTD or fails to decrypt, 413 above 64 KiB.

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{Method, StatusCode, header};
use hydronet_core::{Plan, Problem, TenantContext, TenantId};
use hydronet_tenancy::rbac::Permission;
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;

use super::chat::{answer, prepare};
use super::{Access, Client, Endpoint, endpoint};
use crate::body::JsonObject;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{self, TenantRow};
use crate::wechat::account::{self, Account, AccountRow};
use crate::wechat::crypto::{self, AesKey};
use crate::wechat::{store as channel, xml};

/// The WeChat endpoints.
pub fn endpoints() -> Vec<Endpoint> {
    let settings = "/api/tenant/wechat";
    let callback = "/wechat/{tenant}";
    vec![
        endpoint(
            Method::GET,
            settings,
            Access::Requires(Permission::TenantManage),
            show_settings,
        ),
        endpoint(
            Method::PUT,
            settings,
            Access::Requires(Permission::TenantManage),
            update_settings,
        ),
        endpoint(Method::GET, callback, Access::Public, verify_url),
        endpoint(Method::POST, callback, Access::Public, receive),
    ]
}

/// The largest callback body accepted.
pub const MAX_XML_BYTES: usize = 64 * 1024;

/// How far a callback's timestamp may be from the server's clock, in seconds.
pub const TIMESTAMP_WINDOW_SECS: i64 = 300;

/// The longest text sent back: WeChat refuses text messages above 2048 bytes.
const MAX_REPLY_BYTES: usize = 2000;

/// The longest user message passed to the assistant, in characters.
const MAX_MESSAGE_CHARS: usize = 4000;

const WELCOME: &str = "Welcome! Ask me anything about water supply and distribution networks.";
const UNSUPPORTED: &str = "Sorry, I can only read text messages. Please type your question.";
const UNAVAILABLE: &str = "Sorry, this service is unavailable at the moment.";
const LIMIT_REACHED: &str =
    "Sorry, this assistant has reached its usage limit for now. Please try again later.";
const FAILED: &str = "Sorry, I could not answer just now. Please try again in a moment.";

// ---------------------------------------------------------------------------------------
// Settings

/// `GET /api/tenant/wechat`: the account's app id, whether it is on and each secret set,
/// and the callback path to give WeChat. Never a secret.
async fn show_settings(
    State(state): State<AppState>,
    ctx: TenantContext,
) -> ApiResult<Json<Value>> {
    let tenant_id = ctx.tenant_id();
    let mut tx = state.db.tenant(tenant_id).await?;
    let tenant = store::tenant(&mut tx, tenant_id)
        .await?
        .ok_or_else(Problem::not_found)?;
    let stored = account::row(&mut tx, tenant_id).await?;
    tx.commit().await?;
    Ok(Json(json!({
        "success": true,
        "wechat": settings_json(&state, &tenant, stored.as_ref()),
    })))
}

fn settings_json(state: &AppState, tenant: &TenantRow, stored: Option<&AccountRow>) -> Value {
    let mut body = json!({
        "channel_enabled": state.settings.wechat_enabled,
        "callback_path": format!("/wechat/{}", tenant.slug),
    });
    let details = match (stored, account::environment(state, tenant)) {
        (Some(row), _) => json!({
            "configured": true,
            "source": "tenant",
            "app_id": row.app_id,
            "enabled": row.enabled != 0,
            "token_set": true,
            "app_secret_set": true,
            "encoding_aes_key_set": row.aes_key_sealed.is_some(),
            "updated_at": store::rfc3339(row.updated_at),
        }),
        (None, Some(env)) => json!({
            "configured": true,
            "source": env.source.as_str(),
            "app_id": env.app_id,
            "enabled": true,
            "token_set": true,
            "app_secret_set": true,
            "encoding_aes_key_set": env.aes_key.is_some(),
            "updated_at": null,
        }),
        (None, None) => json!({
            "configured": false,
            "source": null,
            "app_id": null,
            "enabled": false,
            "token_set": false,
            "app_secret_set": false,
            "encoding_aes_key_set": false,
            "updated_at": null,
        }),
    };
    if let (Some(body), Value::Object(details)) = (body.as_object_mut(), details) {
        body.extend(details);
    }
    body
}

/// What a `PUT` asks to change; `None` keeps the stored value.
struct Changes {
    app_id: Option<String>,
    token: Option<String>,
    app_secret: Option<String>,
    /// `Some(None)` removes the key.
    aes_key: Option<Option<String>>,
    enabled: Option<bool>,
}

/// `PUT /api/tenant/wechat` `{app_id, token, app_secret, encoding_aes_key?, enabled?}`:
/// the first time every field but the key is required; later, absent secrets stay.
/// Secrets are sealed at rest and never returned. Audited, without the secrets.
async fn update_settings(
    State(state): State<AppState>,
    ctx: TenantContext,
    client: Client,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<Value>> {
    let tenant_id = ctx.tenant_id();
    let changes = read_changes(&body)?;

    let mut tx = state.db.tenant(tenant_id).await?;
    let tenant = store::tenant(&mut tx, tenant_id)
        .await?
        .ok_or_else(Problem::not_found)?;
    let existing = account::row(&mut tx, tenant_id).await?;
    let row = merge(&state, tenant_id, existing.as_ref(), &changes)?;
    account::save(&mut tx, tenant_id, &row).await?;

    let key_change = match &changes.aes_key {
        None => "unchanged",
        Some(None) => "removed",
        Some(Some(_)) => "set",
    };
    let details = json!({
        "app_id": row.app_id,
        "enabled": row.enabled != 0,
        "token_changed": changes.token.is_some(),
        "app_secret_changed": changes.app_secret.is_some(),
        "encoding_aes_key": key_change,
    });
    let event = client
        .caller_event(&state, &ctx, "wechat.settings_changed")
        .target(format!("tenant:{tenant_id}"))
        .details(details);
    state.audit_in(&mut tx, event).await?;
    tx.commit().await?;

    Ok(Json(json!({
        "success": true,
        "wechat": settings_json(&state, &tenant, Some(&row)),
    })))
}

/// The changes in a `PUT` body, every field checked (422 lists each refused one).
fn read_changes(body: &Map<String, Value>) -> Result<Changes, Problem> {
    let mut errors = hydronet_core::FieldErrors::new();
    let mut reject = |field: &str, reason: &str| {
        errors
            .entry(field.to_owned())
            .or_default()
            .push(reason.to_owned());
    };
    let mut text = |field: &str, valid: fn(&str) -> bool, reason: &str| match body.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(value)) if valid(value.trim()) => Some(value.trim().to_owned()),
        Some(_) => {
            reject(field, reason);
            None
        }
    };
    let app_id = text(
        "app_id",
        valid_app_id,
        "must be 1 to 64 letters, digits, '_' or '-'",
    );
    let token = text("token", valid_token, "must be 3 to 32 letters or digits");
    let app_secret = text(
        "app_secret",
        valid_app_secret,
        "must be 1 to 128 characters without spaces",
    );
    let aes_key = match body.get("encoding_aes_key") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(key)) if AesKey::parse(key.trim()).is_ok() => {
            Some(Some(key.trim().to_owned()))
        }
        Some(_) => {
            reject(
                "encoding_aes_key",
                "must be the 43-character EncodingAESKey, or null",
            );
            None
        }
    };
    let enabled = match body.get("enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(on)) => Some(*on),
        Some(_) => {
            reject("enabled", "must be true or false");
            None
        }
    };
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    Ok(Changes {
        app_id,
        token,
        app_secret,
        aes_key,
        enabled,
    })
}

fn valid_app_id(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn valid_token(value: &str) -> bool {
    (3..=32).contains(&value.len()) && value.chars().all(|c| c.is_ascii_alphanumeric())
}

fn valid_app_secret(value: &str) -> bool {
    (1..=128).contains(&value.len()) && !value.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The row to store: the changes over `existing`, secrets sealed. A first configuration
/// must name the app id, the token and the app secret.
fn merge(
    state: &AppState,
    tenant: TenantId,
    existing: Option<&AccountRow>,
    changes: &Changes,
) -> Result<AccountRow, Problem> {
    let seal =
        |field: &str, value: &str| state.sealer.seal(&account::context(field, tenant), value);
    let mut missing = hydronet_core::FieldErrors::new();
    let mut need = |field: &str, value: Option<String>| {
        if value.is_none() {
            missing.insert(field.to_owned(), vec!["is required".to_owned()]);
        }
        value.unwrap_or_default()
    };
    let app_id = need(
        "app_id",
        changes
            .app_id
            .clone()
            .or(existing.map(|r| r.app_id.clone())),
    );
    let token = need(
        "token",
        changes
            .token
            .as_deref()
            .map(|t| seal("token", t))
            .or(existing.map(|r| r.token_sealed.clone())),
    );
    let app_secret = need(
        "app_secret",
        changes
            .app_secret
            .as_deref()
            .map(|s| seal("app_secret", s))
            .or(existing.map(|r| r.app_secret_sealed.clone())),
    );
    if !missing.is_empty() {
        return Err(Problem::validation(missing));
    }
    let aes_key_sealed = match &changes.aes_key {
        None => existing.and_then(|r| r.aes_key_sealed.clone()),
        Some(None) => None,
        Some(Some(key)) => Some(seal("encoding_aes_key", key)),
    };
    let enabled = changes
        .enabled
        .unwrap_or_else(|| existing.is_none_or(|r| r.enabled != 0));
    Ok(AccountRow {
        app_id,
        token_sealed: token,
        app_secret_sealed: app_secret,
        aes_key_sealed,
        enabled: i64::from(enabled),
        updated_at: state.now(),
    })
}

// ---------------------------------------------------------------------------------------
// Callback

/// A verified callback's tenant and account.
struct Channel {
    tenant: TenantRow,
    tenant_id: TenantId,
    account: Account,
}

fn invalid_signature() -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
        "The request's signature does not match.",
    )
}

fn invalid_message(detail: &'static str) -> Problem {
    Problem::bad_request("invalid_message", detail)
}

fn param<'a>(query: &'a HashMap<String, String>, name: &str) -> &'a str {
    query.get(name).map_or("", String::as_str)
}

/// The tenant named in the path and its enabled account; 404 for anything else, and for
/// every tenant while `WECHAT_ENABLED=false`.
async fn channel(state: &AppState, reference: &str) -> ApiResult<Channel> {
    if !state.settings.wechat_enabled {
        return Err(Problem::not_found().into());
    }
    let mut tx = state.db.system().await?;
    let tenant = store::tenant_by_reference(&mut tx, reference).await?;
    tx.commit().await?;
    let tenant = tenant
        .filter(|t| t.status != "deleted")
        .ok_or_else(Problem::not_found)?;
    let account = account::load(state, &tenant)
        .await?
        .filter(|a| a.enabled)
        .ok_or_else(Problem::not_found)?;
    let tenant_id = tenant.id.parse().map_err(ApiError::internal)?;
    Ok(Channel {
        tenant,
        tenant_id,
        account,
    })
}

/// Refuses a timestamp more than [`TIMESTAMP_WINDOW_SECS`] from now, then checks
/// `signature` over the token, timestamp and nonce.
fn authenticate(
    state: &AppState,
    account: &Account,
    query: &HashMap<String, String>,
) -> Result<(), Problem> {
    fresh(state, query)?;
    let parts = [
        account.token.expose_secret(),
        param(query, "timestamp"),
        param(query, "nonce"),
    ];
    if crypto::signature_matches(param(query, "signature"), &parts) {
        Ok(())
    } else {
        tracing::debug!("WeChat callback with a wrong signature");
        Err(invalid_signature())
    }
}

fn fresh(state: &AppState, query: &HashMap<String, String>) -> Result<(), Problem> {
    let timestamp: i64 = param(query, "timestamp")
        .parse()
        .map_err(|_| invalid_signature())?;
    if (state.now() - timestamp).abs() > TIMESTAMP_WINDOW_SECS {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "stale_request",
            "The request's timestamp is too far from the server's clock.",
        ));
    }
    Ok(())
}

/// `GET /wechat/{tenant}?signature=&timestamp=&nonce=&echostr=`: WeChat's URL check.
async fn verify_url(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let channel = channel(&state, &reference).await?;
    authenticate(&state, &channel.account, &query)?;
    Ok(plain(param(&query, "echostr").to_owned()))
}

fn plain(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

/// `POST /wechat/{tenant}?signature=&timestamp=&nonce=[&encrypt_type=aes&msg_signature=]`.
async fn receive(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<Response> {
    if body.len() > MAX_XML_BYTES {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The message is larger than 64 KiB.",
        )
        .into());
    }
    let channel = channel(&state, &reference).await?;
    let encrypted = param(&query, "encrypt_type") == "aes";
    let message = if encrypted {
        fresh(&state, &query)?;
        open_encrypted(&channel.account, &query, &body)?
    } else {
        authenticate(&state, &channel.account, &query)?;
        xml::parse(&body).map_err(xml_problem)?
    };
    let incoming = Incoming::read(&message)?;

    let Some(text) = respond(&state, &channel, &incoming).await? else {
        return Ok(plain("success".to_owned()));
    };
    let reply = xml::text_reply(&incoming.from, &incoming.to, state.now(), &fit(&text));
    if !encrypted {
        return Ok(xml_response(reply));
    }
    Ok(xml_response(seal_reply(&channel.account, &query, &reply)))
}

fn xml_response(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

fn xml_problem(err: xml::XmlError) -> Problem {
    tracing::debug!(error = %err, "WeChat callback with unusable XML");
    match err {
        xml::XmlError::Doctype | xml::XmlError::Entity => {
            invalid_message("Document type declarations and entities are not accepted.")
        }
        xml::XmlError::Malformed(_) => invalid_message("The message is not well-formed XML."),
    }
}

/// The fields of an encrypted message: `msg_signature` checked over the token,
/// timestamp, nonce and `Encrypt`, then the AES envelope opened.
fn open_encrypted(
    account: &Account,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Result<xml::Fields, Problem> {
    let outer = xml::parse(body).map_err(xml_problem)?;
    let encrypt = outer
        .non_empty("Encrypt")
        .ok_or_else(|| invalid_message("The encrypted message has no Encrypt field."))?;
    let parts = [
        account.token.expose_secret(),
        param(query, "timestamp"),
        param(query, "nonce"),
        encrypt,
    ];
    if !crypto::signature_matches(param(query, "msg_signature"), &parts) {
        tracing::debug!("WeChat callback with a wrong msg_signature");
        return Err(invalid_signature());
    }
    let key = account.aes_key.as_ref().ok_or_else(|| {
        invalid_message("This account has no EncodingAESKey for encrypted messages.")
    })?;
    let inner = key.decrypt(encrypt, &account.app_id).map_err(|err| {
        tracing::debug!(error = %err, "WeChat message does not decrypt");
        invalid_message("The encrypted message could not be decrypted.")
    })?;
    xml::parse(inner.as_bytes()).map_err(xml_problem)
}

/// `reply` encrypted for the account and signed, in WeChat's envelope.
fn seal_reply(account: &Account, query: &HashMap<String, String>, reply: &str) -> String {
    let Some(key) = &account.aes_key else {
        return reply.to_owned();
    };
    let encrypt = key.encrypt(reply, &account.app_id);
    let timestamp = param(query, "timestamp");
    let nonce = param(query, "nonce");
    let signature = crypto::signature(&[account.token.expose_secret(), timestamp, nonce, &encrypt]);
    xml::encrypted_reply(&encrypt, &signature, timestamp, nonce)
}

/// `text` cut to what WeChat accepts, on a character boundary.
fn fit(text: &str) -> String {
    if text.len() <= MAX_REPLY_BYTES {
        return text.to_owned();
    }
    let mut end = MAX_REPLY_BYTES - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The parts of a message the channel uses.
struct Incoming {
    /// The sender's openid.
    from: String,
    /// The official account.
    to: String,
    kind: String,
    event: String,
    content: String,
    /// `MsgId`, or sender, time and event for messages without one.
    delivery: String,
}

impl Incoming {
    fn read(fields: &xml::Fields) -> Result<Self, Problem> {
        let required = |name: &str| {
            fields
                .non_empty(name)
                .map(str::to_owned)
                .ok_or_else(|| invalid_message("The message lacks a required field."))
        };
        let from = required("FromUserName")?;
        let to = required("ToUserName")?;
        let kind = required("MsgType")?;
        let created = required("CreateTime")?;
        let event = fields.non_empty("Event").unwrap_or_default().to_owned();
        let delivery = match fields.non_empty("MsgId") {
            Some(id) => format!("msg:{id}"),
            None => format!("evt:{from}:{created}:{event}"),
        };
        Ok(Self {
            from,
            to,
            kind,
            event,
            content: fields.get("Content").unwrap_or_default().trim().to_owned(),
            delivery,
        })
    }
}

/// What to answer `incoming` with; `None` is `success` (nothing to say now).
async fn respond(
    state: &AppState,
    channel: &Channel,
    incoming: &Incoming,
) -> ApiResult<Option<String>> {
    if !channel::claim_delivery(state, channel.tenant_id, &incoming.delivery).await? {
        tracing::debug!("WeChat delivery already taken; answered success");
        return Ok(None);
    }
    match incoming.kind.as_str() {
        "event" if incoming.event == "subscribe" => Ok(Some(WELCOME.to_owned())),
        "event" => Ok(None),
        "text" if !incoming.content.is_empty() => Ok(ask(state, channel, incoming).await),
        _ => Ok(Some(UNSUPPORTED.to_owned())),
    }
}

/// Asks the assistant in a task: its answer if ready within the configured time, else
/// `None`, and the task sends the answer through the customer-service API when done.
async fn ask(state: &AppState, channel: &Channel, incoming: &Incoming) -> Option<String> {
    if state.limits.is_suspended(channel.tenant_id) {
        return Some(UNAVAILABLE.to_owned());
    }
    let plan = state.limits.plan(channel.tenant_id, channel.tenant.plan());
    let content: String = incoming.content.chars().take(MAX_MESSAGE_CHARS).collect();
    let (sender, mut receiver) = oneshot::channel::<String>();

    let task_state = state.clone();
    let tenant = channel.tenant_id;
    let account = channel.account.clone();
    let openid = incoming.from.clone();
    tokio::spawn(async move {
        let text = converse(&task_state, tenant, plan, &openid, &content).await;
        if let Err(text) = sender.send(text) {
            deliver_later(&task_state, &account, &openid, &text).await;
        }
    });

    let within: Duration = state.settings.wechat_reply_within;
    match tokio::time::timeout(within, &mut receiver).await {
        Ok(answer) => answer.ok(),
        Err(_) => {
            // From here a late answer goes through the API; one that made it in between
            // is still answered passively.
            receiver.close();
            receiver.try_recv().ok()
        }
    }
}

/// The assistant's answer to `content` from `openid`, or a short apology.
async fn converse(
    state: &AppState,
    tenant: TenantId,
    plan: Plan,
    openid: &str,
    content: &str,
) -> String {
    let turn = async {
        let owner = channel::service_user(state, tenant).await?;
        let conversation = channel::conversation_for(state, tenant, plan, owner, openid).await?;
        let prepared = prepare(state, tenant, plan, owner, &conversation, content).await?;
        answer(prepared).await
    };
    match turn.await {
        Ok(answer) => answer.text,
        Err(ApiError::Problem(problem)) if problem.code() == "quota_exceeded" => {
            LIMIT_REACHED.to_owned()
        }
        Err(ApiError::Problem(problem)) => {
            tracing::info!(code = problem.code(), "WeChat message not answered");
            FAILED.to_owned()
        }
        Err(err) => {
            tracing::error!(error = %err, "WeChat message not answered");
            FAILED.to_owned()
        }
    }
}

/// Sends a late answer through the customer-service API.
async fn deliver_later(state: &AppState, account: &Account, openid: &str, text: &str) {
    match state
        .wechat
        .send_text(state.now(), account, openid, &fit(text))
        .await
    {
        Ok(()) => tracing::debug!("late WeChat answer sent"),
        Err(err) => tracing::warn!(error = %err, "late WeChat answer not delivered"),
    }
}
