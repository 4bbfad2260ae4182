//! The layer's contract with tower: readiness is the inner service's, and `RecordOn` decides
//! which responses are visits.

use active_users::{ActiveUsersLayer, Config, DefaultEntry, MemoryStore, RecordOn, Tracker, User};
use http::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use tower::{Layer, Service, ServiceExt};

/// Answers with the status in the `x-status` header; ready only when `open` is set.
#[derive(Clone)]
struct Gate {
    open: Arc<AtomicBool>,
}

impl Service<Request<()>> for Gate {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.open.load(Ordering::SeqCst) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        let status = request
            .headers()
            .get("x-status")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(200);
        let mut response = Response::new(());
        *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        ready(Ok(response))
    }
}

fn request(user: &str, status: u16) -> Request<()> {
    let mut request = Request::get("/")
        .header("x-status", status.to_string())
        .body(())
        .expect("request");
    request.extensions_mut().insert(User::new(user));
    request
}

fn tracker() -> Tracker<DefaultEntry> {
    Tracker::new(Config::default(), MemoryStore::new()).expect("tracker")
}

#[tokio::test]
async fn readiness_is_the_inner_services() {
    let open = Arc::new(AtomicBool::new(false));
    let mut service = ActiveUsersLayer::new(tracker()).layer(Gate { open: open.clone() });
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    assert!(service.poll_ready(&mut cx).is_pending());
    open.store(true, Ordering::SeqCst);
    assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
}

async fn recorded_users(record_on: Option<RecordOn>, statuses: &[u16]) -> Vec<String> {
    let tracker = tracker();
    let mut layer = ActiveUsersLayer::new(tracker.clone());
    if let Some(record_on) = record_on {
        layer = layer.record_on(record_on);
    }
    let service = layer.layer(Gate {
        open: Arc::new(AtomicBool::new(true)),
    });
    for status in statuses {
        let response = service
            .clone()
            .oneshot(request(&status.to_string(), *status))
            .await
            .expect("response");
        assert_eq!(response.status().as_u16(), *status);
    }
    tracker.flush().await.expect("flush");
    let mut users: Vec<String> = tracker
        .list(100, None)
        .await
        .expect("list")
        .entries
        .into_iter()
        .map(|a| a.entry.user_id)
        .collect();
    users.sort();
    users
}

#[tokio::test]
async fn record_on_decides_which_responses_are_visits() {
    let statuses = [200, 204, 302, 401, 404, 500];
    assert_eq!(recorded_users(None, &statuses).await, ["200", "204", "302"]);
    assert_eq!(
        recorded_users(Some(RecordOn::AnyResponse), &statuses).await,
        ["200", "204", "302", "401", "404", "500"]
    );
    assert_eq!(
        recorded_users(Some(RecordOn::Request), &statuses).await,
        ["200", "204", "302", "401", "404", "500"]
    );
    assert_eq!(
        recorded_users(Some(RecordOn::Status(|s| s == StatusCode::OK)), &statuses).await,
        ["200"]
    );
}

/// gRPC-web carries its trailers inside the body, where the layer does not look: it is judged
/// by a `grpc-status` header (a call that failed at once), else by the HTTP status, so a
/// successful gRPC-web call is a visit and is never left waiting for trailers.
#[tokio::test]
async fn grpc_web_is_judged_by_its_status_header_or_the_http_status() {
    let tracker = tracker();
    let grpc_web = tower::service_fn(|request: Request<()>| async move {
        let mut response = Response::builder()
            .status(200)
            .header("content-type", "application/grpc-web+proto");
        if let Some(code) = request.headers().get("x-grpc-status") {
            response = response.header("grpc-status", code.clone());
        }
        Ok::<_, Infallible>(
            response
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .expect("response"),
        )
    });
    let service = ActiveUsersLayer::new(tracker.clone()).layer(grpc_web);
    for (user, code) in [("ok", None), ("denied", Some("7")), ("fine", Some("0"))] {
        let mut request = request(user, 200);
        if let Some(code) = code {
            request
                .headers_mut()
                .insert("x-grpc-status", http::HeaderValue::from_static(code));
        }
        let response = service.clone().oneshot(request).await.expect("response");
        // The body is read to its end, as a server would.
        http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("body");
    }
    tracker.flush().await.expect("flush");
    let mut users: Vec<String> = tracker
        .list(10, None)
        .await
        .expect("list")
        .entries
        .into_iter()
        .map(|a| a.entry.user_id)
        .collect();
    users.sort();
    assert_eq!(users, ["fine", "ok"]);
}
