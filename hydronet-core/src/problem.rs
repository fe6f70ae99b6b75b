//! The error model: RFC 9457 problem details with a stable `code`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

/// The media type of a problem body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Field name → the reasons that field was refused.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// An error as the client sees it: an HTTP status, a stable machine-readable `code`, and a
/// human-readable `detail`.
///
/// The body follows RFC 9457 (`type`, `title`, `status`, `detail`) and adds `code`, an
/// optional per-field `errors` map, and `success: false`, which clients of the original
/// HydroNet API test for.
///
/// ```
/// use hydronet_core::Problem;
///
/// let problem = Problem::conflict("email_taken", "An account with this email exists.");
/// assert_eq!(problem.status().as_u16(), 409);
/// let body: serde_json::Value = serde_json::from_slice(&problem.to_json()).unwrap();
/// assert_eq!(body["code"], "email_taken");
/// assert_eq!(body["success"], false);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Problem {
    status: StatusCode,
    code: Cow<'static, str>,
    detail: Cow<'static, str>,
    errors: Option<FieldErrors>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a FieldErrors>,
}

impl Problem {
    /// A problem with any status and code.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            detail: detail.into(),
            errors: None,
        }
    }

    /// 400: the request could not be understood.
    pub fn bad_request(
        code: impl Into<Cow<'static, str>>,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 401 `unauthenticated`: no credential, or one that failed verification. The detail is
    /// the same whatever the reason, so a forger learns nothing.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "A valid access token is required.",
        )
    }

    /// 403 `forbidden`: authenticated, but not allowed to do this.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "You do not have permission to perform this action.",
        )
    }

    /// 403 `tenant_suspended`: the credential is valid, but its tenant is suspended.
    pub fn tenant_suspended() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "tenant_suspended",
            "This tenant is suspended.",
        )
    }

    /// 404 `not_found`.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "The requested resource does not exist.",
        )
    }

    /// 409: the request conflicts with existing data.
    pub fn conflict(
        code: impl Into<Cow<'static, str>>,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// 422 `validation_failed` with the reasons per field.
    pub fn validation(errors: FieldErrors) -> Self {
        let mut problem = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "One or more fields are invalid.",
        );
        problem.errors = Some(errors);
        problem
    }

    /// 422 `validation_failed` for a single field.
    pub fn invalid_field(field: &str, reason: impl Into<String>) -> Self {
        Self::validation(FieldErrors::from([(field.to_owned(), vec![reason.into()])]))
    }

    /// 429 `rate_limited`.
    pub fn too_many_requests() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests; retry later.",
        )
    }

    /// 500 `internal_error`. The detail never carries the cause: log it instead.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "An internal error occurred.",
        )
    }

    /// 503 `service_unavailable`.
    pub fn unavailable(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            detail,
        )
    }

    /// Adds per-field reasons.
    pub fn with_errors(mut self, errors: FieldErrors) -> Self {
        self.errors = Some(errors);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The human-readable explanation.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The per-field reasons, if any.
    pub fn errors(&self) -> Option<&FieldErrors> {
        self.errors.as_ref()
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        self.to_json_string().into_bytes()
    }

    /// The JSON body as text.
    pub fn to_json_string(&self) -> String {
        let body = Body {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            code: &self.code,
            success: false,
            errors: self.errors.as_ref(),
        };
        serde_json::to_string(&body).expect("a problem always serializes")
    }

    /// The problem as an HTTP response with any body type that can be built from bytes.
    /// Tower layers use this to answer without calling their inner service.
    pub fn to_response<B: From<String>>(&self) -> http::Response<B> {
        let mut response = http::Response::new(B::from(self.to_json_string()));
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

impl fmt::Debug for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Problem")
            .field("status", &self.status.as_u16())
            .field("code", &self.code)
            .field("detail", &self.detail)
            .finish()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl std::error::Error for Problem {}

#[cfg(feature = "axum")]
impl axum_core::response::IntoResponse for Problem {
    fn into_response(self) -> axum_core::response::Response {
        let mut response = axum_core::response::Response::new(axum_core::body::Body::from(
            bytes::Bytes::from(self.to_json()),
        ));
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(problem: &Problem) -> serde_json::Value {
        serde_json::from_slice(&problem.to_json()).unwrap()
    }

    #[test]
    fn body_follows_rfc_9457_and_keeps_success_false() {
        let json = body(&Problem::unauthenticated());
        assert_eq!(json["type"], "about:blank");
        assert_eq!(json["title"], "Unauthorized");
        assert_eq!(json["status"], 401);
        assert_eq!(json["code"], "unauthenticated");
        assert_eq!(json["success"], false);
        assert!(json.get("errors").is_none());
    }

    #[test]
    fn validation_lists_fields() {
        let json = body(&Problem::invalid_field("email", "is not an email address"));
        assert_eq!(json["status"], 422);
        assert_eq!(json["errors"]["email"][0], "is not an email address");
    }

    #[test]
    fn response_has_problem_media_type() {
        let response: http::Response<String> = Problem::forbidden().to_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }
}
