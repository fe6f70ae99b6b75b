//! `GET /api/admin/audit-logs`: the audit log of the caller's tenant, filtered and paged,
//! as JSON or exported as JSON Lines or CSV.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, header};
use hydronet_core::{Problem, TenantContext, TenantId};
use hydronet_tenancy::audit::{AuditFilter, Outcome, StoredEvent};
use hydronet_tenancy::rbac::Permission;
use serde_json::{Value, json};

use super::{Access, Endpoint, endpoint};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The audit log endpoint.
pub fn endpoints() -> Vec<Endpoint> {
    vec![endpoint(
        Method::GET,
        "/api/admin/audit-logs",
        Access::Requires(Permission::AuditRead),
        list,
    )]
}

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;
/// Exports are read in pages of this size until exhausted or this many rows are out.
const EXPORT_PAGE: u32 = 1_000;
const EXPORT_MAX: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    JsonLines,
    Csv,
}

fn format_of(query: &HashMap<String, String>, headers: &HeaderMap) -> Result<Format, Problem> {
    match query.get("format").map(String::as_str) {
        Some("json") => return Ok(Format::Json),
        Some("jsonl") | Some("ndjson") => return Ok(Format::JsonLines),
        Some("csv") => return Ok(Format::Csv),
        Some(_) => {
            return Err(Problem::invalid_field(
                "format",
                "must be json, jsonl or csv",
            ));
        }
        None => {}
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Ok(
        if accept.contains("application/x-ndjson") || accept.contains("application/jsonl") {
            Format::JsonLines
        } else if accept.contains("text/csv") {
            Format::Csv
        } else {
            Format::Json
        },
    )
}

fn number(query: &HashMap<String, String>, field: &str) -> Result<Option<i64>, Problem> {
    query
        .get(field)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| Problem::invalid_field(field, "must be a whole number"))
        })
        .transpose()
}

/// A time as Unix milliseconds or RFC 3339.
fn time(query: &HashMap<String, String>, field: &str) -> Result<Option<i64>, Problem> {
    let Some(text) = query.get(field) else {
        return Ok(None);
    };
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(Some(ms));
    }
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            Problem::invalid_field(field, "must be Unix milliseconds or an RFC 3339 time")
        })?;
    Ok(Some(
        i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX),
    ))
}

/// Whose log: the caller's tenant, or with `tenant_id` any tenant for a system administrator.
fn tenant_of(
    state: &AppState,
    ctx: &TenantContext,
    query: &HashMap<String, String>,
) -> Result<TenantId, Problem> {
    let Some(requested) = query.get("tenant_id") else {
        return Ok(ctx.tenant_id());
    };
    let requested: TenantId = requested
        .parse()
        .map_err(|_| Problem::invalid_field("tenant_id", "must be a tenant id"))?;
    if requested == ctx.tenant_id() {
        return Ok(requested);
    }
    let operator = ctx.user_id().is_some_and(|user| {
        state
            .rbac
            .allows(ctx.tenant_id(), user, Permission::AdminManage)
    });
    if operator {
        Ok(requested)
    } else {
        Err(Problem::forbidden())
    }
}

fn filter(
    state: &AppState,
    ctx: &TenantContext,
    query: &HashMap<String, String>,
) -> Result<AuditFilter, Problem> {
    let outcome = match query.get("outcome").map(String::as_str) {
        None => None,
        Some("success") => Some(Outcome::Success),
        Some("denied") => Some(Outcome::Denied),
        Some("failed") => Some(Outcome::Failed),
        Some(_) => {
            return Err(Problem::invalid_field(
                "outcome",
                "must be success, denied or failed",
            ));
        }
    };
    let limit = number(query, "limit")?.unwrap_or(i64::from(DEFAULT_PAGE));
    if !(1..=i64::from(MAX_PAGE)).contains(&limit) {
        return Err(Problem::invalid_field("limit", "must be between 1 and 500"));
    }
    Ok(AuditFilter {
        tenant_id: tenant_of(state, ctx, query)?,
        action_prefix: query.get("action").cloned(),
        actor_id: query.get("actor").cloned(),
        outcome,
        from_ms: time(query, "from")?,
        to_ms: time(query, "to")?,
        before_seq: number(query, "cursor")?,
        limit: u32::try_from(limit).unwrap_or(DEFAULT_PAGE),
    })
}

async fn list(
    State(state): State<AppState>,
    ctx: TenantContext,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let format = format_of(&query, &headers)?;
    let mut filter = filter(&state, &ctx, &query)?;

    if format == Format::Json {
        let page = state
            .audit_store
            .query(&filter)
            .await
            .map_err(read_failed)?;
        let next = (page.len() == filter.limit as usize)
            .then(|| page.last().map(|e| e.seq))
            .flatten();
        let events: Vec<Value> = page.iter().map(event_json).collect();
        return Ok(
            Json(json!({ "success": true, "events": events, "next_cursor": next })).into_response(),
        );
    }

    filter.limit = EXPORT_PAGE;
    let mut rows = Vec::new();
    loop {
        let page = state
            .audit_store
            .query(&filter)
            .await
            .map_err(read_failed)?;
        let done = page.len() < EXPORT_PAGE as usize;
        filter.before_seq = page.last().map(|e| e.seq);
        rows.extend(page);
        if done || rows.len() >= EXPORT_MAX {
            break;
        }
    }
    Ok(export(format, &rows))
}

fn read_failed(err: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("audit log query failed: {err}"))
}

fn event_json(stored: &StoredEvent) -> Value {
    let mut value = serde_json::to_value(&stored.event).unwrap_or_default();
    value["seq"] = json!(stored.seq);
    value["hash"] = json!(stored.hash);
    value
}

const CSV_COLUMNS: [&str; 14] = [
    "seq",
    "id",
    "time_ms",
    "tenant_id",
    "actor_type",
    "actor_id",
    "token_id",
    "action",
    "target",
    "outcome",
    "request_id",
    "client_addr",
    "user_agent",
    "details",
];

fn csv_field(value: &Value) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn export(format: Format, rows: &[StoredEvent]) -> Response {
    let (content_type, body) = match format {
        Format::Csv => {
            let mut out = CSV_COLUMNS.join(",");
            out.push('\n');
            for row in rows {
                let json = event_json(row);
                let actor = &json["actor"];
                let fields = [
                    json["seq"].clone(),
                    json["id"].clone(),
                    json["time_ms"].clone(),
                    json["tenant_id"].clone(),
                    actor["type"].clone(),
                    actor["id"].clone(),
                    json["token_id"].clone(),
                    json["action"].clone(),
                    json["target"].clone(),
                    json["outcome"].clone(),
                    json["request_id"].clone(),
                    json["client_addr"].clone(),
                    json["user_agent"].clone(),
                    json["details"].clone(),
                ];
                out.push_str(&fields.iter().map(csv_field).collect::<Vec<_>>().join(","));
                out.push('\n');
            }
            ("text/csv; charset=utf-8", out)
        }
        _ => {
            let mut out = String::new();
            for row in rows {
                out.push_str(&event_json(row).to_string());
                out.push('\n');
            }
            ("application/x-ndjson", out)
        }
    };
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
