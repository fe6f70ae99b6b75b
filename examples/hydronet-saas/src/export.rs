//! A tenant's data as JSON Lines: one object per line, `{"table": …, "row": {…}}`, every
//! table that holds tenant data, in a stable order.
//!
//! Secrets stay behind: password hashes, API-key digests, sealed third-party secrets
//! (every `*_sealed` column), refresh tokens, set-password tokens and sessions are not
//! exported. Rows are read generically (every column the table has, so a later
//! migration's columns are exported without a change here).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hydronet_core::TenantId;
use serde_json::{Map, Value, json};
use sqlx::any::AnyRow;
use sqlx::{Column, Row};

use crate::db::Tx;

/// Tables exported, each with the column that names the tenant.
const TABLES: &[(&str, &str)] = &[
    ("tenants", "id"),
    ("users", "tenant_id"),
    ("casbin_rules", "tenant_id"),
    ("api_keys", "tenant_id"),
    ("mcp_servers", "tenant_id"),
    ("resource_counts", "tenant_id"),
    ("usage_daily", "tenant_id"),
    ("conversations", "tenant_id"),
    ("messages", "tenant_id"),
    ("audit_heads", "tenant_id"),
    ("audit_events", "tenant_id"),
    ("wechat_accounts", "tenant_id"),
    ("wechat_conversations", "tenant_id"),
];

/// Columns never exported, beside every `*_sealed` one.
const SECRET_COLUMNS: &[&str] = &["password_hash", "key_digest"];

/// Appends `tenant`'s rows to `out` as JSON Lines; returns rows per table.
pub async fn tenant_jsonl(
    tx: &mut Tx,
    tenant: TenantId,
    out: &mut String,
) -> Result<Map<String, Value>, sqlx::Error> {
    let mut counts = Map::new();
    for (table, column) in TABLES {
        let sql = format!("SELECT * FROM {table} WHERE {column} = $1 ORDER BY 1");
        let rows: Vec<AnyRow> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .fetch_all(&mut **tx)
            .await?;
        for row in &rows {
            let line = json!({ "table": table, "row": row_json(row) });
            out.push_str(&line.to_string());
            out.push('\n');
        }
        counts.insert((*table).to_owned(), json!(rows.len()));
    }
    Ok(counts)
}

/// Every column of `row` but the secret ones, by name.
fn row_json(row: &AnyRow) -> Value {
    let mut object = Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        let name = column.name();
        if SECRET_COLUMNS.contains(&name) || name.ends_with("_sealed") {
            continue;
        }
        object.insert(name.to_owned(), cell(row, i));
    }
    Value::Object(object)
}

/// One cell, whatever its type: the `Any` driver carries integers, floats, text, blobs
/// and booleans.
fn cell(row: &AnyRow, i: usize) -> Value {
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return json!(v);
    }
    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        return json!(v);
    }
    if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
        return json!(v);
    }
    if let Ok(v) = row.try_get::<Option<bool>, _>(i) {
        return json!(v);
    }
    match row.try_get::<Option<Vec<u8>>, _>(i) {
        Ok(v) => json!(v.map(|bytes| STANDARD.encode(bytes))),
        Err(_) => Value::Null,
    }
}
