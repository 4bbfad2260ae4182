use super::service::ActiveUsers;
use crate::{ActiveUserEntry, RecordOn, Tracker};
use std::fmt;
use tower_layer::Layer;

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
