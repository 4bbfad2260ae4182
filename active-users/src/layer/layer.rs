use super::service::ActiveUsers;
use crate::{ActiveUserEntry, Tracker};
use http::StatusCode;
use std::fmt;
use tower_layer::Layer;

/// When the layer records a request.
#[derive(Clone, Copy, Default)]
#[non_exhaustive]
pub enum RecordOn {
    /// After a response that is not an error (status below 400). The default: a 404 or a 500
    /// is not a visit.
    #[default]
    SuccessfulResponse,
    /// After any response (not when the inner service fails).
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
    pub(crate) fn records(self, status: StatusCode) -> bool {
        match self {
            RecordOn::SuccessfulResponse => !status.is_client_error() && !status.is_server_error(),
            RecordOn::AnyResponse | RecordOn::Request => true,
            RecordOn::Status(test) => test(status),
        }
    }
}

/// Wraps services in [`ActiveUsers`], recording their requests through a [`Tracker`].
pub struct ActiveUsersLayer<E> {
    tracker: Tracker<E>,
    record_on: RecordOn,
}

impl<E> Clone for ActiveUsersLayer<E> {
    fn clone(&self) -> Self {
        ActiveUsersLayer {
            tracker: self.tracker.clone(),
            record_on: self.record_on,
        }
    }
}

impl<E> fmt::Debug for ActiveUsersLayer<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActiveUsersLayer")
            .field("tracker", &self.tracker)
            .field("record_on", &self.record_on)
            .finish()
    }
}

impl<E: ActiveUserEntry> ActiveUsersLayer<E> {
    /// A layer that records through `tracker`, after successful responses.
    pub fn new(tracker: Tracker<E>) -> Self {
        ActiveUsersLayer {
            tracker,
            record_on: RecordOn::default(),
        }
    }

    /// Chooses when requests are recorded.
    #[must_use]
    pub fn record_on(mut self, record_on: RecordOn) -> Self {
        self.record_on = record_on;
        self
    }
}

impl<S, E: ActiveUserEntry> Layer<S> for ActiveUsersLayer<E> {
    type Service = ActiveUsers<S, E>;

    fn layer(&self, inner: S) -> Self::Service {
        ActiveUsers::new(inner, self.tracker.clone()).record_on(self.record_on)
    }
}
