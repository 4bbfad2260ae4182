use super::body::RecordBody;
use super::future::ResponseFuture;
use super::layer::ActiveUsersLayer;
use crate::{ActiveUserEntry, RecordOn, RequestHead, Tracker};
use http::{Request, Response};
use std::fmt;
use std::task::{Context, Poll};
use tower_service::Service;

/// A service that records the requests it passes to `S`; made by [`ActiveUsersLayer`].
pub struct ActiveUsers<S, E> {
    inner: S,
    tracker: Tracker<E>,
    record_on: RecordOn,
}

impl<S: Clone, E> Clone for ActiveUsers<S, E> {
    fn clone(&self) -> Self {
        ActiveUsers {
            inner: self.inner.clone(),
            tracker: self.tracker.clone(),
            record_on: self.record_on,
        }
    }
}

impl<S: fmt::Debug, E> fmt::Debug for ActiveUsers<S, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActiveUsers")
            .field("inner", &self.inner)
            .field("tracker", &self.tracker)
            .field("record_on", &self.record_on)
            .finish()
    }
}

impl<S, E: ActiveUserEntry> ActiveUsers<S, E> {
    /// Wraps `inner`, recording through `tracker` after successful responses.
    pub fn new(inner: S, tracker: Tracker<E>) -> Self {
        ActiveUsers {
            inner,
            tracker,
            record_on: RecordOn::default(),
        }
    }

    /// The layer that makes this service.
    pub fn layer(tracker: Tracker<E>) -> ActiveUsersLayer<E> {
        ActiveUsersLayer::new(tracker)
    }

    /// Chooses when requests are recorded.
    #[must_use]
    pub fn record_on(mut self, record_on: RecordOn) -> Self {
        self.record_on = record_on;
        self
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, E, ReqBody, ResBody> Service<Request<ReqBody>> for ActiveUsers<S, E>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    E: ActiveUserEntry,
{
    type Response = Response<RecordBody<ResBody, E>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, E>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The entry is extracted now, while the request (and what the auth layer put into its
        // extensions) is still here; whether it is recorded depends on the response.
        let pending = match self.record_on {
            RecordOn::Request => {
                self.tracker.record(&request);
                None
            }
            record_on => self
                .tracker
                .prepare(&RequestHead::from(&request))
                .ok()
                .map(|entry| (self.tracker.clone(), entry, record_on)),
        };
        ResponseFuture::new(self.inner.call(request), pending)
    }
}
