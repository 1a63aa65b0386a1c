//! HTTP errors in Neutron's body: `{"NeutronError": {"type", "message", "detail"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {kind}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub kind: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, kind: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind: kind.into(),
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "HTTPNotFound", message)
    }
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "HTTPMethodNotAllowed",
            "The method is not allowed for this resource.",
        )
    }
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(
            500,
            "HTTPInternalServerError",
            format!("Request Failed: internal server error: {message}"),
        )
    }
}

impl From<model::ModelError> for ApiError {
    fn from(e: model::ModelError) -> Self {
        ApiError {
            status: e.status,
            kind: e.kind,
            message: e.message,
        }
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        match e {
            // A concurrent writer changed the resource between our read
            // and our commit: the client's view is stale.
            store::StoreError::Conflict { .. } => {
                ApiError::new(412, "RevisionNumberConstraintFailed", e.to_string())
            }
            e => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body =
            json!({"NeutronError": {"type": self.kind, "message": self.message, "detail": ""}});
        (status, axum::Json(body)).into_response()
    }
}
