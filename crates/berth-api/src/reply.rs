//! Responses as Docker's engine sends them: JSON bodies, and errors as `{"message": "..."}`
//! with Docker's status codes.

use crate::body::Body;
use hyper::{Response, StatusCode};
use serde::Serialize;

/// What every handler returns.
pub type Reply = Result<Response<Body>, ApiError>;

/// A request that failed: the status and Docker's message.
#[derive(Debug)]
pub struct ApiError {
    /// 400, 404, 409, 500, ...
    pub status: StatusCode,
    /// What failed, as Docker words it where it has words for it.
    pub message: String,
}

impl ApiError {
    /// 400: a parameter the engine cannot use.
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::with(StatusCode::BAD_REQUEST, message)
    }

    /// 404: no such object.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::with(StatusCode::NOT_FOUND, message)
    }

    /// 409: the object is in a state that refuses the request.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::with(StatusCode::CONFLICT, message)
    }

    /// 500: the engine failed.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::with(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// An error with `status`.
    pub fn with(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// The response that carries it.
    pub fn response(&self) -> Response<Body> {
        let body = serde_json::json!({ "message": self.message }).to_string();
        with_type(self.status, "application/json", Body::full(body))
    }
}

/// A response of `status` whose body is `value` as JSON.
pub fn json(status: StatusCode, value: &impl Serialize) -> Reply {
    let bytes = serde_json::to_vec(value).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(with_type(status, "application/json", Body::full(bytes)))
}

/// 200 with `value` as JSON.
pub fn ok(value: &impl Serialize) -> Reply {
    json(StatusCode::OK, value)
}

/// 204 No Content.
pub fn no_content() -> Reply {
    empty(StatusCode::NO_CONTENT)
}

/// A response of `status` without a body.
pub fn empty(status: StatusCode) -> Reply {
    Ok(with_type(status, "text/plain", Body::empty()))
}

/// A response of `status` with a `Content-Type`.
pub fn with_type(status: StatusCode, content_type: &str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}
