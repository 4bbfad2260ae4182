//! A server on a blocking stack (`tiny_http`, a thread per request, no async runtime of its
//! own) that records its visitors with a [`BlockingTracker`] and answers `GET /count`.

use active_users::{BlockingTracker, DefaultEntry, PeerAddr, User};
use std::sync::Arc;

/// Serves `server` until it is unblocked: every request of a logged-in user (the `x-user-id`
/// header) is recorded; `GET /count` answers `{"count": n, "users": n}` from blocking queries.
pub fn serve_blocking(server: &tiny_http::Server, tracker: &Arc<BlockingTracker<DefaultEntry>>) {
    for request in server.incoming_requests() {
        // The request head as the `http` crate has it, with the user and the peer address
        // in its extensions, as an authentication layer and the server would put them.
        let mut head = http::Request::builder()
            .method(request.method().as_str())
            .uri(request.url());
        for header in request.headers() {
            head = head.header(header.field.as_str().as_str(), header.value.as_str());
        }
        let Ok(mut head) = head.body(()) else {
            let _ = request.respond(tiny_http::Response::empty(400));
            continue;
        };
        if let Some(peer) = request.remote_addr() {
            head.extensions_mut().insert(PeerAddr(*peer));
        }
        let user = head
            .headers()
            .get("x-user-id")
            .and_then(|v| v.to_str().ok())
            .map(User::new);
        if let Some(user) = user {
            head.extensions_mut().insert(user);
        }
        tracker.record(&head);
        let response = if head.uri().path() == "/count" {
            match (tracker.count(), tracker.count_distinct("user_id")) {
                (Ok(count), Ok(users)) => tiny_http::Response::from_string(format!(
                    "{{\"count\": {count}, \"users\": {users}}}"
                ))
                .with_status_code(200),
                _ => tiny_http::Response::from_string("store unavailable").with_status_code(503),
            }
        } else {
            tiny_http::Response::from_string("hello").with_status_code(200)
        };
        let _ = request.respond(response);
    }
}
