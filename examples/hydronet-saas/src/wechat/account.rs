//! A tenant's WeChat account: its own stored settings, or the environment's default.

use hydronet_core::TenantId;
use secrecy::{ExposeSecret, SecretString};
use sqlx::FromRow;

use super::crypto::AesKey;
use crate::db::Tx;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::TenantRow;

/// Where an account's settings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The tenant saved them (`PUT /api/tenant/wechat`).
    Tenant,
    /// The `WECHAT_*` environment variables, for the tenant `HYDRONET_WECHAT_TENANT` names.
    Environment,
}

impl Source {
    /// The name the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Tenant => "tenant",
            Source::Environment => "environment",
        }
    }
}

/// An account with its secrets opened, ready to check and answer callbacks.
#[derive(Debug, Clone)]
pub struct Account {
    /// The official account's app id.
    pub app_id: String,
    /// Signs the callbacks.
    pub token: SecretString,
    /// Obtains access tokens for the customer-service API.
    pub app_secret: SecretString,
    /// The key of the encrypted mode, when configured.
    pub aes_key: Option<AesKey>,
    /// Whether the tenant switched the channel on.
    pub enabled: bool,
    /// Where the settings come from.
    pub source: Source,
}

/// The stored settings, secrets sealed.
#[derive(Debug, Clone, FromRow)]
pub struct AccountRow {
    /// The app id.
    pub app_id: String,
    /// The sealed token.
    pub token_sealed: String,
    /// The sealed app secret.
    pub app_secret_sealed: String,
    /// The sealed `EncodingAESKey`, if any.
    pub aes_key_sealed: Option<String>,
    /// 1 or 0.
    pub enabled: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// The sealing context of `field` of `tenant`'s account, so a sealed value opens nowhere
/// else.
pub fn context(field: &str, tenant: TenantId) -> String {
    format!("wechat.{field}:{tenant}")
}

/// The tenant's stored settings.
pub async fn row(tx: &mut Tx, tenant: TenantId) -> Result<Option<AccountRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT app_id, token_sealed, app_secret_sealed, aes_key_sealed, enabled, updated_at \
         FROM wechat_accounts WHERE tenant_id = $1",
    )
    .bind(tenant.to_string())
    .fetch_optional(&mut **tx)
    .await
}

/// Stores the tenant's settings, replacing earlier ones.
pub async fn save(tx: &mut Tx, tenant: TenantId, row: &AccountRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO wechat_accounts \
         (tenant_id, app_id, token_sealed, app_secret_sealed, aes_key_sealed, enabled, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (tenant_id) DO UPDATE SET app_id = excluded.app_id, \
         token_sealed = excluded.token_sealed, app_secret_sealed = excluded.app_secret_sealed, \
         aes_key_sealed = excluded.aes_key_sealed, enabled = excluded.enabled, \
         updated_at = excluded.updated_at",
    )
    .bind(tenant.to_string())
    .bind(&row.app_id)
    .bind(&row.token_sealed)
    .bind(&row.app_secret_sealed)
    .bind(row.aes_key_sealed.as_deref())
    .bind(row.enabled)
    .bind(row.updated_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Opens a stored row's secrets.
pub fn open(state: &AppState, tenant: TenantId, row: &AccountRow) -> Result<Account, ApiError> {
    let open = |field: &str, sealed: &str| {
        state
            .sealer
            .open(&context(field, tenant), sealed)
            .map_err(ApiError::internal)
    };
    let aes_key = match &row.aes_key_sealed {
        Some(sealed) => {
            let key = open("encoding_aes_key", sealed)?;
            Some(AesKey::parse(key.expose_secret()).map_err(ApiError::internal)?)
        }
        None => None,
    };
    Ok(Account {
        app_id: row.app_id.clone(),
        token: open("token", &row.token_sealed)?,
        app_secret: open("app_secret", &row.app_secret_sealed)?,
        aes_key,
        enabled: row.enabled != 0,
        source: Source::Tenant,
    })
}

/// The account of `tenant`: its own settings, else the environment's default when it is
/// the tenant named for it, else none.
pub async fn load(state: &AppState, tenant: &TenantRow) -> Result<Option<Account>, ApiError> {
    let tenant_id: TenantId = tenant.id.parse().map_err(ApiError::internal)?;
    let mut tx = state.db.tenant(tenant_id).await?;
    let stored = row(&mut tx, tenant_id).await?;
    tx.commit().await?;
    match stored {
        Some(stored) => open(state, tenant_id, &stored).map(Some),
        None => Ok(environment(state, tenant)),
    }
}

/// The environment's account, if it belongs to `tenant`.
pub fn environment(state: &AppState, tenant: &TenantRow) -> Option<Account> {
    let default = state.settings.wechat_default.as_ref()?;
    if default.tenant != tenant.slug && default.tenant != tenant.id {
        return None;
    }
    let aes_key = match &default.encoding_aes_key {
        Some(key) => match AesKey::parse(key.expose_secret()) {
            Ok(key) => Some(key),
            Err(err) => {
                tracing::error!(error = %err, "WECHAT_ENCODING_AES_KEY is unusable");
                return None;
            }
        },
        None => None,
    };
    Some(Account {
        app_id: default.app_id.clone(),
        token: default.token.clone(),
        app_secret: default.app_secret.clone(),
        aes_key,
        enabled: true,
        source: Source::Environment,
    })
}
