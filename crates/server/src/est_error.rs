use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use inkan_authority::AuthorityError;

/// An EST failure, answered with the status code RFC 7030 expects and a one-line,
/// human-readable `text/plain` reason (RFC 7030 §4.2.3: the body is informative).
#[derive(Debug)]
pub(crate) enum EstError {
    /// 400: the request is malformed or was refused by a CSR check.
    BadRequest(String),
    /// 401: no acceptable credentials; asks for HTTP Basic.
    Unauthorized(String),
    /// 403: the credentials are good but do not allow this.
    Forbidden(String),
    /// 404: unknown label.
    NotFound(String),
    /// 415: wrong request content type.
    UnsupportedMediaType(String),
    /// 503: shutting down; try again later.
    Unavailable,
    /// 500: something broke on our side (details logged, not sent).
    Internal(String),
    /// An error of the authority, with the status the error table gives it.
    Authority(StatusCode, String),
}

/// The error table's status (see [`crate::error_table`]).
impl From<AuthorityError> for EstError {
    fn from(e: AuthorityError) -> Self {
        let answer = crate::error_table::answer(&e);
        match answer.status {
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable,
            _ if !answer.is_public => Self::Internal(e.to_string()),
            status => Self::Authority(status, e.to_string()),
        }
    }
}

impl IntoResponse for EstError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            Self::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m),
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            Self::NotFound(m) => (StatusCode::NOT_FOUND, m),
            Self::Authority(status, m) => (status, m),
            Self::UnsupportedMediaType(m) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, m),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the authority is shutting down; retry shortly".to_string(),
            ),
            Self::Internal(detail) => {
                tracing::error!(%detail, "EST request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error; the authority's log has details".to_string(),
                )
            }
        };
        let mut response = (status, format!("{message}\n")).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"inkan EST\", charset=\"UTF-8\""),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}
