use super::body::{RecordBody, grpc_outcome, is_grpc, is_grpc_web};
use crate::tracker::HeldMember;
use crate::{ActiveUserEntry, RecordOn, Tracker};
use http::{Response, StatusCode};
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
        pending: Option<(Tracker<E>, HeldMember, RecordOn)>,
    }
}

impl<F, E> ResponseFuture<F, E> {
    pub(crate) fn new(inner: F, pending: Option<(Tracker<E>, HeldMember, RecordOn)>) -> Self {
        ResponseFuture { inner, pending }
    }
}

impl<F, E, B, Err> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<Response<B>, Err>>,
    E: ActiveUserEntry,
{
    type Output = Result<Response<RecordBody<B, E>>, Err>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let mut for_body = None;
        if let Some((tracker, entry, record_on)) = this.pending.take() {
            let status = response.status();
            let judged = if matches!(record_on, RecordOn::AnyResponse) {
                Some(status)
            } else if status == StatusCode::OK && is_grpc(response.headers()) {
                // A gRPC call that failed at once says so in its headers (trailers-only);
                // otherwise its status comes in the trailers, after the messages.
                if response.headers().contains_key("grpc-status") {
                    Some(grpc_outcome(response.headers()))
                } else {
                    None
                }
            } else if status == StatusCode::OK
                && is_grpc_web(response.headers())
                && response.headers().contains_key("grpc-status")
            {
                Some(grpc_outcome(response.headers()))
            } else {
                Some(status)
            };
            match judged {
                Some(status) if record_on.records(status) => {
                    tracker.record_prepared(&entry);
                }
                Some(_) => {}
                None => for_body = Some((tracker, entry, record_on)),
            }
        }
        Poll::Ready(Ok(response.map(|body| RecordBody::new(body, for_body))))
    }
}
