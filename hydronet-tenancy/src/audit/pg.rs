//! Set-based appends for PostgreSQL: a whole batch in four statements, whatever its size
//! and however many tenants it spans.
//!
//! Through sqlx's database-neutral driver a statement cannot take an array parameter, and
//! `COPY` is out of reach; each column therefore travels as one text parameter holding a
//! PostgreSQL array literal, which the statement casts (`$1::text[]`) and `unnest`s into
//! rows. The server parses one statement per batch instead of one per tenant and chunk,
//! and the round trips no longer grow with the number of tenants.
//!
//! The locking is the per-tenant path's: heads are created, then locked with
//! `SELECT … FOR UPDATE` in one order, so concurrent batches and instances cannot
//! deadlock on each other and every tenant's chain stays one line.

use std::collections::HashMap;
use std::fmt::Write as _;

use sqlx::AnyConnection;

use super::AuditError;
use super::chain::GENESIS;
use super::sql::{COLUMNS, Head, StoredRow, read_head, store_error};

/// Rows per `INSERT`, so a large recovery does not build one enormous statement.
const INSERT_CHUNK: usize = 2_000;

/// Creates the heads of `tenants` that do not exist yet, then locks and reads them all.
pub(super) async fn lock_heads(
    conn: &mut AnyConnection,
    tenants: &[String],
) -> Result<HashMap<String, Head>, AuditError> {
    let names = text_array(tenants.iter().map(|t| Some(t.as_str())));
    sqlx::query(
        "INSERT INTO audit_heads (tenant_id, seq, hash, anchor_seq, anchor_hash) \
         SELECT t, 0, $2, 0, $2 FROM unnest($1::text[]) AS t \
         ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind(names.as_str())
    .bind(GENESIS)
    .execute(&mut *conn)
    .await
    .map_err(store_error("creating audit heads"))?;

    let rows = sqlx::query(
        "SELECT tenant_id, seq, hash, anchor_seq, anchor_hash FROM audit_heads \
         WHERE tenant_id = ANY($1::text[]) ORDER BY tenant_id FOR UPDATE",
    )
    .bind(names.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error("locking audit heads"))?;

    let mut heads = HashMap::with_capacity(rows.len());
    for row in &rows {
        let tenant: String =
            sqlx::Row::try_get(row, "tenant_id").map_err(store_error("reading an audit head"))?;
        let head = read_head(row).map_err(store_error("reading an audit head"))?;
        heads.insert(tenant, head);
    }
    Ok(heads)
}

/// Inserts `rows`, a few thousand per statement.
pub(super) async fn insert_rows(
    conn: &mut AnyConnection,
    rows: &[StoredRow],
) -> Result<(), AuditError> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        insert_chunk(conn, chunk).await?;
    }
    Ok(())
}

async fn insert_chunk(conn: &mut AnyConnection, rows: &[StoredRow]) -> Result<(), AuditError> {
    let text = |pick: fn(&StoredRow) -> Option<&str>| text_array(rows.iter().map(pick));
    let ints = |pick: fn(&StoredRow) -> i64| int_array(rows.iter().map(pick));

    let sql = format!(
        "INSERT INTO audit_events ({COLUMNS}) SELECT * FROM unnest(\
         $1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::text[], \
         $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
         $13::text[], $14::text[], $15::text[], $16::text[])"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(text(|r| Some(&r.record.tenant_id)))
        .bind(ints(|r| r.seq))
        .bind(text(|r| Some(&r.record.id)))
        .bind(ints(|r| r.record.time_ms))
        .bind(text(|r| Some(&r.record.actor_type)))
        .bind(text(|r| r.record.actor_id.as_deref()))
        .bind(text(|r| r.record.token_id.as_deref()))
        .bind(text(|r| Some(&r.record.action)))
        .bind(text(|r| r.record.target.as_deref()))
        .bind(text(|r| Some(&r.record.outcome)))
        .bind(text(|r| r.record.request_id.as_deref()))
        .bind(text(|r| r.record.client_addr.as_deref()))
        .bind(text(|r| r.record.user_agent.as_deref()))
        .bind(text(|r| Some(&r.record.details)))
        .bind(text(|r| Some(&r.prev_hash)))
        .bind(text(|r| Some(&r.hash)))
        .execute(&mut *conn)
        .await
        .map_err(store_error("inserting audit records"))
        .map(drop)
}

/// Moves each tenant's head to its new last record: `(tenant, seq, hash)`.
pub(super) async fn set_heads(
    conn: &mut AnyConnection,
    heads: &[(String, i64, String)],
) -> Result<(), AuditError> {
    sqlx::query(
        "UPDATE audit_heads AS h SET seq = v.seq, hash = v.hash \
         FROM unnest($1::text[], $2::bigint[], $3::text[]) AS v(tenant_id, seq, hash) \
         WHERE h.tenant_id = v.tenant_id",
    )
    .bind(text_array(heads.iter().map(|(t, _, _)| Some(t.as_str()))))
    .bind(int_array(heads.iter().map(|(_, seq, _)| *seq)))
    .bind(text_array(
        heads.iter().map(|(_, _, hash)| Some(hash.as_str())),
    ))
    .execute(&mut *conn)
    .await
    .map_err(store_error("moving audit heads"))
    .map(drop)
}

/// A PostgreSQL array literal of text values: each element double-quoted with `"` and
/// `\` escaped, `None` as an unquoted `NULL`.
fn text_array<'a>(values: impl Iterator<Item = Option<&'a str>>) -> String {
    let mut out = String::from("{");
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let Some(value) = value else {
            out.push_str("NULL");
            continue;
        };
        out.push('"');
        // `"` and `\` are ASCII: the slices between them fall on character boundaries.
        let mut plain = 0;
        for (at, byte) in value.bytes().enumerate() {
            if byte == b'"' || byte == b'\\' {
                out.push_str(&value[plain..at]);
                out.push('\\');
                plain = at;
            }
        }
        out.push_str(&value[plain..]);
        out.push('"');
    }
    out.push('}');
    out
}

/// A PostgreSQL array literal of integers.
fn int_array(values: impl Iterator<Item = i64>) -> String {
    let mut out = String::from("{");
    for (i, value) in values.enumerate() {
        let sep = if i > 0 { "," } else { "" };
        let _ = write!(out, "{sep}{value}");
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_arrays_quote_every_element_and_keep_nulls_apart() {
        let values = [
            Some("plain"),
            None,
            Some("NULL"),
            Some(""),
            Some("a \"quoted\" \\ back,slash {brace}\n"),
        ];
        assert_eq!(
            text_array(values.into_iter()),
            r#"{"plain",NULL,"NULL","","a \"quoted\" \\ back,slash {brace}"#.to_owned() + "\n\"}"
        );
        assert_eq!(text_array(std::iter::empty()), "{}");
    }

    #[test]
    fn int_arrays_are_plain_lists() {
        assert_eq!(
            int_array([1, -2, i64::MAX].into_iter()),
            format!("{{1,-2,{}}}", i64::MAX)
        );
    }
}
