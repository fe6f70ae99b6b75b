//! Queries of conversations and messages. Every query names the tenant, and those a user
//! makes name the user too: conversations are private to their owner.

use hydronet_core::{TenantId, UserId};
use serde_json::{Value, json};
use sqlx::FromRow;

use crate::db::Tx;
use crate::store::rfc3339;

/// A conversation as stored.
#[derive(Debug, Clone, FromRow)]
pub struct ConversationRow {
    /// Id (UUID v7 text, so ids sort by creation).
    pub id: String,
    /// Title.
    pub title: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl ConversationRow {
    /// The JSON the API returns.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        })
    }
}

/// A message as stored.
#[derive(Debug, Clone, FromRow)]
pub struct MessageRow {
    /// Id.
    pub id: String,
    /// `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
    /// `ok` or `failed`.
    pub status: String,
    /// Prompt tokens of the model call that produced it (assistant messages).
    pub prompt_tokens: i64,
    /// Completion tokens of that call.
    pub completion_tokens: i64,
    /// Unix seconds.
    pub created_at: i64,
}

impl MessageRow {
    /// The JSON the API returns.
    pub fn to_json(&self) -> Value {
        let mut value = json!({
            "id": self.id,
            "role": self.role,
            "content": self.content,
            "status": self.status,
            "created_at": rfc3339(self.created_at),
        });
        if self.role == "assistant" {
            value["usage"] = json!({
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
            });
        }
        value
    }
}

/// Creates a conversation.
pub async fn insert_conversation(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    title: &str,
    now: i64,
) -> Result<ConversationRow, sqlx::Error> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO conversations (id, tenant_id, user_id, title, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(&id)
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(title)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(ConversationRow {
        id,
        title: title.to_owned(),
        created_at: now,
        updated_at: now,
    })
}

/// The user's conversations, newest first, before the id `before` (a cursor).
pub async fn conversations(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<ConversationRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, title, created_at, updated_at FROM conversations \
         WHERE tenant_id = $1 AND user_id = $2 AND ($3 = '' OR id < $3) \
         ORDER BY id DESC LIMIT $4",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(before.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
}

/// One of the user's conversations.
pub async fn conversation(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    id: &str,
) -> Result<Option<ConversationRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, title, created_at, updated_at FROM conversations \
         WHERE tenant_id = $1 AND user_id = $2 AND id = $3",
    )
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

/// Renames one of the user's conversations; false if there is none.
pub async fn rename(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    id: &str,
    title: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE conversations SET title = $1, updated_at = $2 \
         WHERE tenant_id = $3 AND user_id = $4 AND id = $5",
    )
    .bind(title)
    .bind(now)
    .bind(tenant.to_string())
    .bind(user.to_string())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Deletes one of the user's conversations and its messages; false if there is none.
pub async fn delete(
    tx: &mut Tx,
    tenant: TenantId,
    user: UserId,
    id: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM messages WHERE tenant_id = $1 AND conversation_id = $2")
        .bind(tenant.to_string())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let result =
        sqlx::query("DELETE FROM conversations WHERE tenant_id = $1 AND user_id = $2 AND id = $3")
            .bind(tenant.to_string())
            .bind(user.to_string())
            .bind(id)
            .execute(&mut **tx)
            .await?;
    Ok(result.rows_affected() == 1)
}

/// A conversation's messages, oldest first (the newest `limit` of them).
pub async fn messages(
    tx: &mut Tx,
    tenant: TenantId,
    conversation: &str,
    limit: i64,
) -> Result<Vec<MessageRow>, sqlx::Error> {
    let mut rows: Vec<MessageRow> = sqlx::query_as(
        "SELECT id, role, content, status, prompt_tokens, completion_tokens, created_at FROM messages \
         WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(tenant.to_string())
    .bind(conversation)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    rows.reverse();
    Ok(rows)
}

/// What a new message holds.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// `user` or `assistant`.
    pub role: &'a str,
    /// The text.
    pub content: &'a str,
    /// Prompt tokens of the call that produced it.
    pub prompt_tokens: u64,
    /// Completion tokens of that call.
    pub completion_tokens: u64,
}

/// Stores a message and touches its conversation; returns the message's id.
pub async fn insert_message(
    tx: &mut Tx,
    tenant: TenantId,
    conversation: &str,
    message: &NewMessage<'_>,
    now: i64,
) -> Result<String, sqlx::Error> {
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO messages (id, tenant_id, conversation_id, role, content, status, prompt_tokens, completion_tokens, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'ok', $6, $7, $8)",
    )
    .bind(&id)
    .bind(tenant.to_string())
    .bind(conversation)
    .bind(message.role)
    .bind(message.content)
    .bind(i64::try_from(message.prompt_tokens).unwrap_or(i64::MAX))
    .bind(i64::try_from(message.completion_tokens).unwrap_or(i64::MAX))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE conversations SET updated_at = $1 WHERE tenant_id = $2 AND id = $3")
        .bind(now)
        .bind(tenant.to_string())
        .bind(conversation)
        .execute(&mut **tx)
        .await?;
    Ok(id)
}

/// Marks a message's turn as failed.
pub async fn mark_failed(tx: &mut Tx, tenant: TenantId, message: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE messages SET status = 'failed' WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(message)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
