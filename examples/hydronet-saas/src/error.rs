//! The one error type of the HTTP handlers.

use axum::response::{IntoResponse, Response};
use hydronet_core::Problem;

/// What a handler can fail with: a problem meant for the client, or a fault of ours,
/// which is logged once and answered with a generic 500 or 503.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A 4xx (or deliberate 5xx) answer.
    #[error("{0}")]
    Problem(#[from] Problem),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Something else went wrong inside the server.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Handler results.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An internal fault with a description for the log (never shown to the client).
    pub fn internal(what: impl std::fmt::Display) -> Self {
        Self::Internal(what.to_string())
    }
}

impl From<hydronet_tenancy::password::PasswordError> for ApiError {
    fn from(err: hydronet_tenancy::password::PasswordError) -> Self {
        Self::internal(err)
    }
}

impl From<hydronet_tenancy::token::TokenError> for ApiError {
    fn from(err: hydronet_tenancy::token::TokenError) -> Self {
        Self::internal(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = match self {
            ApiError::Problem(problem) => problem,
            ApiError::Database(err) => database_problem(&err),
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                Problem::internal()
            }
        };
        problem.into_response()
    }
}

/// Maps constraint violations to client errors in one place; everything else is ours.
fn database_problem(err: &sqlx::Error) -> Problem {
    if let sqlx::Error::Database(db) = err {
        let constraint = db.constraint().unwrap_or_default();
        let message = db.message();
        if constraint == "users_email_key" || message.contains("users.email") {
            return Problem::conflict("email_taken", "An account with this email already exists.");
        }
    }
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            tracing::error!(cause = %err, "database unavailable");
            Problem::unavailable("The service is temporarily unavailable; retry shortly.")
        }
        _ => {
            tracing::error!(cause = %err, "database query failed");
            Problem::internal()
        }
    }
}

/// Whether `err` is a unique-constraint violation of `constraint` (named as in the
/// migrations; SQLite reports the column instead, given as `sqlite_column`).
pub fn is_unique_violation(err: &sqlx::Error, constraint: &str, sqlite_column: &str) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    db.is_unique_violation()
        && (db.constraint() == Some(constraint) || db.message().contains(sqlite_column))
}
