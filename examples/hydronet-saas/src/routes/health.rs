//! `GET /api/health`: is the service and each of its dependencies up?

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use serde_json::json;

use super::{Access, Endpoint, endpoint};
use crate::db::Backend;
use crate::state::AppState;

/// The health endpoint.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(Method::GET, "/api/health", Access::Public, health),
        endpoint(Method::GET, "/api/health/live", Access::Public, live),
        endpoint(Method::GET, "/api/health/ready", Access::Public, ready),
    ]
}

/// `GET /api/health/live`: the process answers. For restarting a stuck instance.
async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "alive" }))
}

/// `GET /api/health/ready`: 200 when this instance can serve — its database answers and
/// has every migration this build expects — else 503. For the load balancer.
async fn ready(State(state): State<AppState>) -> Response {
    let pending = state.db.pending_migrations().await;
    let (code, status, reason) = match pending {
        Ok(0) => (StatusCode::OK, "ready", None),
        Ok(n) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            Some(format!("{n} migrations pending")),
        ),
        Err(err) => {
            tracing::warn!(cause = %err, "readiness: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                Some("database unreachable".to_owned()),
            )
        }
    };
    (code, Json(json!({ "status": status, "reason": reason }))).into_response()
}

/// `healthy` when everything answers; `degraded` (still 200) when only Redis is down, since
/// each instance then works on its own; `unhealthy` (503) when the database is down.
async fn health(State(state): State<AppState>) -> Response {
    let database = state.db.ping().await;
    let backend = match state.db.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let redis = match &state.bus {
        None => None,
        Some(redis) => Some(redis.ping().await),
    };

    let limiter_degraded = state.limiter.is_degraded();
    let status = match (&database, &redis) {
        (Err(_), _) => "unhealthy",
        (Ok(()), Some(Err(_))) => "degraded",
        _ if limiter_degraded => "degraded",
        _ => "healthy",
    };
    if let Err(err) = &database {
        tracing::error!(cause = %err, "health check: database unreachable");
    }
    if let Some(Err(err)) = &redis {
        tracing::warn!(cause = %err, "health check: Redis unreachable");
    }

    let body = json!({
        "status": status,
        "version": env!("CARGO_PKG_VERSION"),
        "checks": {
            "database": { "status": up(database.is_ok()), "backend": backend },
            "redis": match &redis {
                None => json!({ "status": "not_configured" }),
                Some(result) => json!({ "status": up(result.is_ok()) }),
            },
            "audit": {
                "lost_events": state.audit_writer.lost(),
                "recovered_events": state.audit_writer.recovered(),
            },
            "rate_limiter": {
                "mode": if state.bus.is_none() { "local" } else if limiter_degraded { "local_fallback" } else { "shared" },
                "fallback_decisions": state.limiter.fallback_decisions(),
            },
        },
    });
    let code = if database.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

fn up(ok: bool) -> &'static str {
    if ok { "up" } else { "down" }
}
