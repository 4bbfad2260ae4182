//! [`RecordOn`]: when a middleware records a request.

use http::StatusCode;
use std::fmt;

/// When a middleware (the tower layer, the actix-web middleware) records a request.
#[derive(Clone, Copy, Default)]
#[non_exhaustive]
pub enum RecordOn {
    /// After a response that is not an error (status below 400). The default: a 404 or a 500
    /// is not a visit.
    #[default]
    SuccessfulResponse,
    /// After any response. With tower, not when the inner service fails (no response); with
    /// actix-web, a handler's error counts as the error response actix makes of it.
    AnyResponse,
    /// When the request arrives, before the inner service runs.
    Request,
    /// After a response whose status passes this test.
    Status(fn(StatusCode) -> bool),
}

impl fmt::Debug for RecordOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordOn::SuccessfulResponse => f.write_str("SuccessfulResponse"),
            RecordOn::AnyResponse => f.write_str("AnyResponse"),
            RecordOn::Request => f.write_str("Request"),
            RecordOn::Status(_) => f.write_str("Status(..)"),
        }
    }
}

impl RecordOn {
    /// Whether a response with this status is recorded.
    #[cfg(any(feature = "layer", feature = "actix", feature = "rocket"))]
    pub(crate) fn records(self, status: StatusCode) -> bool {
        match self {
            RecordOn::SuccessfulResponse => !status.is_client_error() && !status.is_server_error(),
            RecordOn::AnyResponse | RecordOn::Request => true,
            RecordOn::Status(test) => test(status),
        }
    }
}
