//! `GET /api/tenant/usage`: the caller's tenant's requests and tokens per day, its token
//! budget, and its limits.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Query, State};
use http::Method;
use hydronet_core::{Problem, TenantContext};
use hydronet_tenancy::quota::{TokenBudget, periods};
use hydronet_tenancy::rbac::Permission;
use serde_json::{Value, json};
use time::{Date, Duration, Month};

use super::{Access, Endpoint, endpoint};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::usage::{self, DayUsage};

/// The usage endpoint.
pub fn endpoints() -> Vec<Endpoint> {
    vec![endpoint(
        Method::GET,
        "/api/tenant/usage",
        Access::Requires(Permission::UsageRead),
        report,
    )]
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
        }));
        date = date.next_day().unwrap_or(Date::MAX);
    }

    let limits = state.limits.effective(tenant, ctx.plan());
    let used = state.budget.usage(tenant).await.map_err(|err| {
        tracing::error!(error = %err, "token budget unavailable");
        Problem::unavailable("Usage is temporarily unavailable; retry shortly.")
    })?;
    let remaining = |limit: u64, used: u64| limit.saturating_sub(used);
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
    })))
}
