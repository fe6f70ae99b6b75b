//! Reading JSON request bodies into per-field validated values.
//!
//! Bodies are read as a JSON object first: anything that is not one is a 400
//! (`malformed_json`). Fields are then taken one by one, each parser recording its
//! complaint, so a client learns about every invalid field at once in a 422's `errors`
//! map instead of one per round trip.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use http::StatusCode;
use hydronet_core::{FieldErrors, Problem};
use serde_json::{Map, Value};

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A request body that is a JSON object.
#[derive(Debug)]
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_problem)?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(Problem::bad_request(
                "malformed_json",
                "The request body must be a JSON object.",
            )),
            Err(_) => Err(Problem::bad_request(
                "malformed_json",
                "The request body is not valid JSON.",
            )),
        }
    }
}

fn body_problem(rejection: BytesRejection) -> Problem {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The request body is larger than 1 MiB.",
        );
    }
    Problem::bad_request("unreadable_body", "The request body could not be read.")
}

/// Collects per-field complaints while fields are parsed.
#[derive(Debug, Default)]
pub struct Fields {
    object: Map<String, Value>,
    errors: FieldErrors,
}

impl Fields {
    /// Starts validating `object`.
    pub fn new(JsonObject(object): JsonObject) -> Self {
        Self {
            object,
            errors: FieldErrors::new(),
        }
    }

    /// Records a complaint about `field`.
    pub fn reject(&mut self, field: &str, reason: impl Into<String>) {
        self.errors
            .entry(field.to_owned())
            .or_default()
            .push(reason.into());
    }

    /// A required string field, parsed by `parse`.
    pub fn required<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        match self.object.get(field) {
            None | Some(Value::Null) => {
                self.reject(field, "is required");
                None
            }
            Some(Value::String(text)) => match parse(text) {
                Ok(value) => Some(value),
                Err(reason) => {
                    self.reject(field, reason.to_string());
                    None
                }
            },
            Some(_) => {
                self.reject(field, "must be a string");
                None
            }
        }
    }

    /// A required string field taken as it is.
    pub fn required_str(&mut self, field: &str) -> Option<String> {
        self.required(field, |s| Ok::<_, std::convert::Infallible>(s.to_owned()))
    }

    /// A required array of strings.
    pub fn required_strings(&mut self, field: &str) -> Option<Vec<String>> {
        let items = match self.object.get(field) {
            None | Some(Value::Null) => {
                self.reject(field, "is required");
                return None;
            }
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.reject(field, "must be an array of strings");
                return None;
            }
        };
        let strings: Option<Vec<String>> = items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect();
        if strings.is_none() {
            self.reject(field, "must be an array of strings");
        }
        strings
    }

    /// An optional string field.
    pub fn optional_str(&mut self, field: &str) -> Option<String> {
        match self.object.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => {
                self.reject(field, "must be a string");
                None
            }
        }
    }

    /// An optional integer field between `min` and `max`.
    pub fn optional_int(&mut self, field: &str, min: i64, max: i64) -> Option<i64> {
        match self.object.get(field) {
            None | Some(Value::Null) => None,
            Some(value) => match value.as_i64().filter(|n| (min..=max).contains(n)) {
                Some(n) => Some(n),
                None => {
                    self.reject(field, format!("must be an integer from {min} to {max}"));
                    None
                }
            },
        }
    }

    /// `Ok(())` when no field was rejected, otherwise the 422 listing them all.
    pub fn finish(self) -> Result<(), Problem> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Problem::validation(self.errors))
        }
    }
}
