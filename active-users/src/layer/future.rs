use crate::{ActiveUserEntry, RecordOn, Tracker};
use http::Response;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

pin_project! {
    /// The response future of [`ActiveUsers`](super::ActiveUsers): the inner future, and the
    /// entry to record when its response arrives.
    pub struct ResponseFuture<F, E> {
        #[pin]
        inner: F,
        pending: Option<(Tracker<E>, E, RecordOn)>,
    }
}

impl<F, E> ResponseFuture<F, E> {
    pub(crate) fn new(inner: F, pending: Option<(Tracker<E>, E, RecordOn)>) -> Self {
        ResponseFuture { inner, pending }
    }
}

impl<F, E, B, Err> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<Response<B>, Err>>,
    E: ActiveUserEntry,
{
    type Output = Result<Response<B>, Err>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let (Ok(response), Some((tracker, entry, record_on))) = (&result, this.pending.take())
            && record_on.records(response.status())
        {
            tracker.record_entry(&entry);
        }
        Poll::Ready(result)
    }
}
