//! Errors as HTTP answers: the engine's typed errors become 404, 409 or 422, bad
//! requests found here 422, everything else 500. The body is `{"error": message}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use reelmap_core::error::{Error, kind_of};

#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

pub type ApiResult<T> = std::result::Result<T, ApiError>;

impl ApiError {
    pub fn not_found(what: &str) -> ApiError {
        ApiError(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    /// The request is well-formed but asks for something impossible (422).
    pub fn invalid(msg: impl Into<String>) -> ApiError {
        ApiError(StatusCode::UNPROCESSABLE_ENTITY, msg.into())
    }

    pub fn internal(msg: impl Into<String>) -> ApiError {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, msg.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({"error": self.1}))).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        let status = match kind_of(&e) {
            Some(Error::NotFound(_)) => StatusCode::NOT_FOUND,
            Some(Error::Conflict(_)) => StatusCode::CONFLICT,
            Some(Error::Invalid(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            None => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, format!("{e:#}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_get_their_status() {
        let status = |e: anyhow::Error| ApiError::from(e).0;
        assert_eq!(
            status(Error::not_found("no video 3")),
            StatusCode::NOT_FOUND
        );
        assert_eq!(status(Error::conflict("taken")), StatusCode::CONFLICT);
        assert_eq!(
            status(Error::invalid("empty")),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let io = anyhow::Error::from(std::io::Error::other("disk")).context("reading");
        assert_eq!(status(io), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
