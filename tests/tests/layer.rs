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
