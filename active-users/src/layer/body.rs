use crate::tracker::HeldMember;
use crate::{ActiveUserEntry, RecordOn, Tracker};
use http::{HeaderMap, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

pin_project! {
    /// The body of a response that passed through [`ActiveUsers`](super::ActiveUsers): the
    /// inner body, and, for a gRPC response whose status comes in its trailers, the entry to
    /// record once they say how the call ended.
    pub struct RecordBody<B, E> {
        #[pin]
        inner: B,
        pending: Option<(Tracker<E>, HeldMember, RecordOn)>,
    }
}

impl<B, E> RecordBody<B, E> {
    pub(crate) fn new(inner: B, pending: Option<(Tracker<E>, HeldMember, RecordOn)>) -> Self {
        RecordBody { inner, pending }
    }

    /// The wrapped body.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: fmt::Debug, E> fmt::Debug for RecordBody<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordBody")
            .field("inner", &self.inner)
            .field("waits_for_trailers", &self.pending.is_some())
            .finish()
    }
}

impl<B: Body, E: ActiveUserEntry> Body for RecordBody<B, E> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some((tracker, entry, record_on)) = this.pending.take()
                    && record_on.records(grpc_outcome(trailers))
                {
                    tracker.record_prepared(&entry);
                }
            }
            // The stream ended without trailers: a gRPC call without a status failed
            // (UNKNOWN). An error of the body itself records nothing.
            None => {
                if let Some((tracker, entry, record_on)) = this.pending.take()
                    && record_on.records(StatusCode::INTERNAL_SERVER_ERROR)
                {
                    tracker.record_prepared(&entry);
                }
            }
            Some(Err(_)) => {
                this.pending.take();
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        // With an entry waiting, the end is seen by polling, so that it is judged.
        self.pending.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether a response is gRPC over HTTP/2 (`content-type: application/grpc`, or with a
/// `+proto`-style suffix or parameters; any case), whose status comes in HTTP trailers.
/// gRPC-web (`application/grpc-web...`) carries its trailers inside the body, where they are
/// not read: it is judged by a `grpc-status` header, else by the HTTP status.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
        return false;
    };
    let value = value.as_bytes();
    let prefix = b"application/grpc";
    value.len() >= prefix.len()
        && value[..prefix.len()].eq_ignore_ascii_case(prefix)
        && matches!(value.get(prefix.len()), None | Some(b'+' | b';'))
}

/// Whether a response is gRPC-web, whose status is either a `grpc-status` header (a call
/// that failed at once) or inside the body.
pub(crate) fn is_grpc_web(headers: &HeaderMap) -> bool {
    headers.get(http::header::CONTENT_TYPE).is_some_and(|v| {
        let prefix = b"application/grpc-web";
        let value = v.as_bytes();
        value.len() >= prefix.len() && value[..prefix.len()].eq_ignore_ascii_case(prefix)
    })
}

/// The HTTP status a gRPC call's `grpc-status` corresponds to (the mapping of
/// `google.rpc.Code`), for [`RecordOn`] to judge: `OK` is 200, `NOT_FOUND` 404,
/// `UNAUTHENTICATED` 401, `INTERNAL` 500, ...; a missing or unknown code is 500.
pub(crate) fn grpc_outcome(headers: &HeaderMap) -> StatusCode {
    let code = headers
        .get("grpc-status")
        // 1*DIGIT, as the protocol says: not `+0`, not ` 0`.
        .filter(|v| !v.is_empty() && v.len() <= 5 && v.as_bytes().iter().all(u8::is_ascii_digit))
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
        .and_then(|v| v.parse::<u16>().ok());
    let http = match code {
        Some(0) => 200,
        Some(1) => 499,
        Some(3 | 9 | 11) => 400,
        Some(4) => 504,
        Some(5) => 404,
        Some(6 | 10) => 409,
        Some(7) => 403,
        Some(8) => 429,
        Some(12) => 501,
        Some(14) => 503,
        Some(16) => 401,
        _ => 500,
    };
    StatusCode::from_u16(http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, http::HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn grpc_codes_map_to_the_http_statuses_record_on_judges() {
        let status = |code| grpc_outcome(&headers(&[("grpc-status", code)])).as_u16();
        assert_eq!(status("0"), 200);
        assert_eq!(status("5"), 404);
        assert_eq!(status("16"), 401);
        assert_eq!(status("13"), 500);
        assert_eq!(status("14"), 503);
        assert_eq!(status("1"), 499);
        assert_eq!(status("99"), 500, "unknown code");
        assert_eq!(status("x"), 500, "not a number");
        assert_eq!(status("+0"), 500, "digits only");
        assert_eq!(status(" 0"), 500, "digits only");
        assert_eq!(status("99999999999"), 500, "too long");
        assert_eq!(grpc_outcome(&HeaderMap::new()).as_u16(), 500, "no status");
        assert!(!RecordOn::SuccessfulResponse.records(StatusCode::from_u16(499).unwrap()));
    }

    #[test]
    fn grpc_is_told_by_its_content_type() {
        assert!(is_grpc(&headers(&[("content-type", "application/grpc")])));
        assert!(is_grpc(&headers(&[(
            "content-type",
            "application/grpc+proto"
        )])));
        assert!(!is_grpc(&headers(&[("content-type", "application/json")])));
        assert!(is_grpc(&headers(&[("content-type", "Application/GRPC")])));
        assert!(is_grpc(&headers(&[(
            "content-type",
            "application/grpc;charset=x"
        )])));
        assert!(!is_grpc(&headers(&[(
            "content-type",
            "application/grpcfoo"
        )])));
        assert!(!is_grpc(&headers(&[(
            "content-type",
            "application/grpc-web+proto"
        )])));
        assert!(is_grpc_web(&headers(&[(
            "content-type",
            "application/grpc-web-text"
        )])));
        assert!(!is_grpc(&HeaderMap::new()));
    }
}
