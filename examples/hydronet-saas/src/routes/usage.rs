//! `GET /api/tenant/usage`: the caller's tenant's requests and tokens per day, its token
//! budget, and its limits.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Query, State};
use http::Method;
use hydronet_core::{Problem, TenantContext, TenantId};
use hydronet_tenancy::quota::{TokenBudget, periods};
use hydronet_tenancy::rbac::Permission;
use serde_json::{Value, json};
use time::{Date, Duration, Month};

use super::{Access, Endpoint, endpoint};
use crate::counts::{self, Resource};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::usage::{self, DayUsage};

/// The usage endpoint.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(
            Method::GET,
            "/api/tenant/usage",
            Access::Requires(Permission::UsageRead),
            report,
        ),
        endpoint(
            Method::GET,
            "/api/admin/overview",
            Access::Requires(Permission::AdminManage),
            overview,
        ),
    ]
}

/// The longest range one request may ask for.
const MAX_DAYS: i64 = 366;

fn date_of(day: u32) -> Option<Date> {
    let month = Month::try_from(u8::try_from(day / 100 % 100).ok()?).ok()?;
    Date::from_calendar_date(
        i32::try_from(day / 10_000).ok()?,
        month,
        u8::try_from(day % 100).ok()?,
    )
    .ok()
}

fn day_of(date: Date) -> u32 {
    u32::try_from(date.year()).unwrap_or(0) * 10_000
        + u32::from(u8::from(date.month())) * 100
        + u32::from(date.day())
}

fn parse_date(field: &str, text: &str) -> Result<Date, Problem> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format)
        .map_err(|_| Problem::invalid_field(field, "must be a date as YYYY-MM-DD"))
}

/// The requested range: `from` and `to` (inclusive, `YYYY-MM-DD`), by default the last 30
/// days up to today.
fn range(query: &HashMap<String, String>, today: Date) -> Result<(Date, Date), Problem> {
    let to = match query.get("to") {
        Some(text) => parse_date("to", text)?,
        None => today,
    };
    let from = match query.get("from") {
        Some(text) => parse_date("from", text)?,
        None => to - Duration::days(29),
    };
    if from > to {
        return Err(Problem::invalid_field("from", "must not be after `to`"));
    }
    if (to - from).whole_days() >= MAX_DAYS {
        return Err(Problem::invalid_field(
            "from",
            "the range must not exceed 366 days",
        ));
    }
    Ok((from, to))
}

/// How many users, conversations and MCP servers the tenant holds against its limits.
async fn in_use(state: &AppState, tenant: TenantId) -> ApiResult<Value> {
    let mut tx = state.db.tenant_reader(tenant).await?;
    let mut counts = serde_json::Map::new();
    for resource in [
        Resource::Users,
        Resource::Conversations,
        Resource::McpServers,
    ] {
        let n = counts::count(&mut tx, tenant, resource).await?;
        counts.insert(resource.as_str().to_owned(), json!(n));
    }
    tx.commit().await?;
    Ok(Value::Object(counts))
}

async fn report(
    State(state): State<AppState>,
    ctx: TenantContext,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let tenant = ctx.tenant_id();
    let today =
        date_of(periods(state.now()).0).ok_or_else(|| ApiError::internal("clock out of range"))?;
    let (from, to) = range(&query, today)?;

    let mut days: BTreeMap<u32, DayUsage> = BTreeMap::new();
    for (day, counts) in usage::stored(&state.db, tenant, day_of(from), day_of(to)).await? {
        days.insert(day, counts);
    }
    for (day, counts) in state.usage.pending(tenant) {
        if (day_of(from)..=day_of(to)).contains(&day) {
            let entry = days.entry(day).or_default();
            entry.requests += counts.requests;
            entry.prompt_tokens += counts.prompt_tokens;
            entry.completion_tokens += counts.completion_tokens;
            entry.tool_calls += counts.tool_calls;
        }
    }

    let mut series = Vec::new();
    let mut date = from;
    while date <= to {
        let counts = days.get(&day_of(date)).copied().unwrap_or_default();
        series.push(json!({
            "date": date.to_string(),
            "requests": counts.requests,
            "prompt_tokens": counts.prompt_tokens,
            "completion_tokens": counts.completion_tokens,
            "tool_calls": counts.tool_calls,
        }));
        date = date.next_day().unwrap_or(Date::MAX);
    }

    let limits = state.limits.effective(tenant, ctx.plan());
    let used = state.budget.usage(tenant).await.map_err(|err| {
        tracing::error!(error = %err, "token budget unavailable");
        Problem::unavailable("Usage is temporarily unavailable; retry shortly.")
    })?;
    let remaining = |limit: u64, used: u64| limit.saturating_sub(used);
    let in_use = in_use(&state, tenant).await?;
    Ok(Json(json!({
        "success": true,
        "from": from.to_string(),
        "to": to.to_string(),
        "days": series,
        "budget": {
            "day": { "used": used.day, "limit": limits.tokens_per_day, "remaining": remaining(limits.tokens_per_day, used.day) },
            "month": { "used": used.month, "limit": limits.tokens_per_month, "remaining": remaining(limits.tokens_per_month, used.month) },
        },
        "plan": ctx.plan(),
        "limits": limits,
        "in_use": in_use,
    })))
}

/// `GET /api/admin/overview?from=&to=`: the whole service — tenants and users now, and per
/// day new tenants, new users, active tenants, requests and tokens — from the daily
/// counters, never from scanning messages.
async fn overview(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let today =
        date_of(periods(state.now()).0).ok_or_else(|| ApiError::internal("clock out of range"))?;
    let (from, to) = range(&query, today)?;
    // This instance's latest counts first; other instances flush within seconds.
    if let Err(err) = state.usage.flush(&state.db).await {
        tracing::warn!(error = %err, "usage counters not written before the overview");
    }
    let since = from.midnight().assume_utc().unix_timestamp();
    let until = (to.midnight() + Duration::days(1))
        .assume_utc()
        .unix_timestamp();

    let mut tx = state.db.system_reader().await?;
    let statuses: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM tenants GROUP BY status")
            .fetch_all(&mut *tx)
            .await?;
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *tx)
        .await?;
    let usage: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
        // PostgreSQL sums BIGINT into NUMERIC, which the Any driver cannot read.
        "SELECT day, COUNT(*), CAST(SUM(requests) AS BIGINT), \
         CAST(SUM(prompt_tokens) AS BIGINT), CAST(SUM(completion_tokens) AS BIGINT) \
         FROM usage_daily WHERE day >= $1 AND day <= $2 GROUP BY day",
    )
    .bind(i64::from(day_of(from)))
    .bind(i64::from(day_of(to)))
    .fetch_all(&mut *tx)
    .await?;
    let created = |table: &'static str| {
        let sql =
            format!("SELECT created_at FROM {table} WHERE created_at >= $1 AND created_at < $2");
        sqlx::query_as::<_, (i64,)>(sqlx::AssertSqlSafe(sql))
            .bind(since)
            .bind(until)
    };
    let new_tenants = created("tenants").fetch_all(&mut *tx).await?;
    let new_users = created("users").fetch_all(&mut *tx).await?;
    tx.commit().await?;

    let per_day = |stamps: Vec<(i64,)>| {
        let mut counts: BTreeMap<u32, i64> = BTreeMap::new();
        for (secs,) in stamps {
            *counts.entry(periods(secs).0).or_default() += 1;
        }
        counts
    };
    let (new_tenants, new_users) = (per_day(new_tenants), per_day(new_users));
    let usage: BTreeMap<u32, (i64, i64, i64, i64)> = usage
        .into_iter()
        .filter_map(|(day, active, requests, prompt, completion)| {
            Some((
                u32::try_from(day).ok()?,
                (active, requests, prompt, completion),
            ))
        })
        .collect();

    let mut days = Vec::new();
    let mut date = from;
    while date <= to {
        let day = day_of(date);
        let (active, requests, prompt, completion) = usage.get(&day).copied().unwrap_or_default();
        days.push(json!({
            "date": date.to_string(),
            "new_tenants": new_tenants.get(&day).copied().unwrap_or(0),
            "new_users": new_users.get(&day).copied().unwrap_or(0),
            "active_tenants": active,
            "requests": requests,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }));
        date = date.next_day().unwrap_or(Date::MAX);
    }
    let by_status: serde_json::Map<String, Value> =
        statuses.into_iter().map(|(s, n)| (s, json!(n))).collect();
    let tenants: i64 = by_status
        .iter()
        .filter(|(status, _)| status.as_str() != "deleted")
        .filter_map(|(_, n)| n.as_i64())
        .sum();
    Ok(Json(json!({
        "success": true,
        "from": from.to_string(),
        "to": to.to_string(),
        "totals": { "tenants": tenants, "tenants_by_status": by_status, "users": users },
        "days": days,
    })))
}
