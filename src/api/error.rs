//! The API's error type: each variant knows its HTTP status, and every error reaches the client as
//! `{"error": "<message>"}` with that status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request: bad JSON, unknown state, bad query parameter.
    #[error("{0}")]
    BadRequest(String),
    /// No such agent, call or route.
    #[error("{0}")]
    NotFound(String),
    /// The request is valid but not allowed now, e.g. `ready` while on a call.
    #[error("{0}")]
    Conflict(String),
    /// The switch cannot serve the request right now (shutting down, overloaded).
    #[error("{0}")]
    Unavailable(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status code of this error.
    pub fn status_code(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::NotFound(_) => 404,
            ApiError::Conflict(_) => 409,
            ApiError::Unavailable(_) => 503,
            ApiError::Store(error) => error.status_code(),
            ApiError::Internal(_) => 500,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %self, "api request failed");
        }
        (status, Json(serde_json::json!({ "error": self.to_string() }))).into_response()
    }
}

impl From<crate::call::CallError> for ApiError {
    fn from(e: crate::call::CallError) -> ApiError {
        use crate::call::CallError;
        match e {
            CallError::NotFound(m) => ApiError::NotFound(m),
            CallError::NotAllowed(m) => ApiError::Conflict(m),
            CallError::Invalid(m) => ApiError::BadRequest(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(ApiError::BadRequest("x".into()).status_code(), 400);
        assert_eq!(ApiError::NotFound("x".into()).status_code(), 404);
        assert_eq!(ApiError::Conflict("x".into()).status_code(), 409);
        assert_eq!(ApiError::Unavailable("x".into()).status_code(), 503);
        assert_eq!(ApiError::Store(StoreError::WriterStopped).status_code(), 503);
        assert_eq!(ApiError::Internal("x".into()).status_code(), 500);
    }
}
