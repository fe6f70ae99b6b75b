//! API keys: stored as SHA-256 digests in `api_keys`, looked up on every request that
//! presents one.
//!
//! A key acts for the user who made it, within the scopes chosen at creation: the
//! authorization layer requires a permission to be both in the key's scope and in the
//! user's current roles. A key stops working the moment it is revoked, expires, or its
//! user is disabled or deleted, because every request reads the database: there is no
//! cache to go stale on another instance.

use std::sync::Arc;

use hydronet_core::{ApiKeyId, Clock, Principal, ScopeMask, TenantContext, TenantId, UserId};
use hydronet_tenancy::auth::{ApiKeyVerifier, KeyLookupError, VerifyFuture};
use hydronet_tenancy::rbac::{Permission, PermissionSet, Rbac};
use hydronet_tenancy::token::token_digest;
use serde_json::{Value, json};
use sqlx::FromRow;

use crate::db::{Db, Tx};
use crate::store::rfc3339;

/// How stale `last_used_at` may get before a request refreshes it; bounds the writes that
/// a busy key causes to one a minute.
const LAST_USE_GRANULARITY_SECS: i64 = 60;

/// An API key as stored (without its digest).
#[derive(Debug, Clone, FromRow)]
pub struct ApiKeyRow {
    /// Id (UUID text).
    pub id: String,
    /// The user the key acts for.
    pub user_id: String,
    /// The name its creator gave it.
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    /// Permission names separated by spaces.
    pub scopes: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds, if it expires.
    pub expires_at: Option<i64>,
    /// Unix seconds of the last request, to the minute.
    pub last_used_at: Option<i64>,
    /// Unix seconds, once revoked.
    pub revoked_at: Option<i64>,
}

/// The columns of [`ApiKeyRow`], in order.
pub const KEY_COLUMNS: &str =
    "id, user_id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at";

impl ApiKeyRow {
    /// The key's scope.
    pub fn scope(&self) -> PermissionSet {
        parse_scopes(&self.scopes)
    }

    /// `active`, `expired` or `revoked` at `now`.
    pub fn status(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|at| at <= now) {
            "expired"
        } else {
            "active"
        }
    }

    /// The JSON the API returns; never includes the secret.
    pub fn to_json(&self, now: i64) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "user_id": self.user_id,
            "scopes": self.scope().names(),
            "status": self.status(now),
            "created_at": rfc3339(self.created_at),
            "expires_at": self.expires_at.map(rfc3339),
            "last_used_at": self.last_used_at.map(rfc3339),
            "revoked_at": self.revoked_at.map(rfc3339),
        })
    }
}

/// The permissions named in a stored scope; unknown names (from a newer version) are
/// dropped, which can only narrow the key.
pub fn parse_scopes(text: &str) -> PermissionSet {
    text.split_whitespace()
        .filter_map(|name| name.parse::<Permission>().ok())
        .collect()
}

/// The stored form of a scope.
pub fn format_scopes(scope: PermissionSet) -> String {
    scope.names().join(" ")
}

/// `tenant`'s key `id`, if it exists.
pub async fn find(
    tx: &mut Tx,
    tenant: TenantId,
    id: &str,
) -> Result<Option<ApiKeyRow>, sqlx::Error> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND id = $2");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.to_string())
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// What a key lookup reads.
#[derive(FromRow)]
struct KeyGrant {
    id: String,
    tenant: String,
    holder: String,
    scopes: String,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    plan: String,
}

/// Verifies presented keys against the `api_keys` table.
pub struct KeyVerifier {
    db: Db,
    clock: Arc<dyn Clock>,
    rbac: Arc<Rbac>,
}

impl KeyVerifier {
    /// A verifier reading `db`, judging expiry by `clock`, and giving the context the
    /// holder's current roles from `rbac`.
    pub fn new(db: Db, clock: Arc<dyn Clock>, rbac: Arc<Rbac>) -> Self {
        Self { db, clock, rbac }
    }

    async fn lookup(&self, credential: &str) -> Result<Option<TenantContext>, sqlx::Error> {
        let digest = token_digest(credential);
        let now = self.clock.now_secs();
        let mut tx = self.db.system_reader().await?;
        let row: Option<KeyGrant> = sqlx::query_as(
            "SELECT k.id, k.tenant_id AS tenant, k.user_id AS holder, k.scopes, k.expires_at, \
                 k.last_used_at, t.plan \
                 FROM api_keys k \
                 JOIN users u ON u.id = k.user_id AND u.tenant_id = k.tenant_id \
                 JOIN tenants t ON t.id = k.tenant_id \
                 WHERE k.key_digest = $1 AND k.revoked_at IS NULL AND u.status = 'active'",
        )
        .bind(&digest)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;

        let Some(KeyGrant {
            id,
            tenant,
            holder,
            scopes,
            expires_at,
            last_used_at,
            plan,
        }) = row
        else {
            return Ok(None);
        };
        if expires_at.is_some_and(|at| at <= now) {
            return Ok(None);
        }
        let (Ok(key), Ok(tenant), Ok(user)) = (
            id.parse::<ApiKeyId>(),
            tenant.parse::<TenantId>(),
            holder.parse::<UserId>(),
        ) else {
            tracing::error!(key_id = %id, "stored API key has a malformed id");
            return Ok(None);
        };
        if last_used_at.is_none_or(|at| now - at >= LAST_USE_GRANULARITY_SECS) {
            self.touch(key, now);
        }

        let scope: ScopeMask = parse_scopes(&scopes).into();
        let context = TenantContext::new(
            tenant,
            Principal::ApiKey(key),
            plan.parse().unwrap_or_default(),
        )
        .with_acting_user(user)
        .with_roles(self.rbac.roles_of(tenant, user))
        .with_scope(scope)
        .with_token_id(id);
        Ok(Some(context))
    }

    /// Records the use in the background; a lost update only makes `last_used_at` older.
    fn touch(&self, key: ApiKeyId, now: i64) {
        let db = self.db.clone();
        tokio::spawn(async move {
            let result = async {
                let mut tx = db.system().await?;
                sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(key.to_string())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }
            .await;
            if let Err(err) = result {
                tracing::debug!(error = %err, "could not record an API key's last use");
            }
        });
    }
}

impl ApiKeyVerifier for KeyVerifier {
    fn verify<'a>(&'a self, credential: &'a str) -> VerifyFuture<'a> {
        Box::pin(async move {
            self.lookup(credential)
                .await
                .map_err(|err| KeyLookupError(err.to_string()))
        })
    }
}
