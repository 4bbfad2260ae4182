//! Servers other than axum: the README claims hyper 1 (through `Tracker::record` on its
//! `http::Request`), so a real hyper server over TCP records its visitors here.

mod support;

use active_users::{Config, DefaultEntry, MemoryStore, PeerAddr, Tracker, User};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use support::client::get;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_hyper_1_server_records_through_tracker_record() {
    let tracker: Tracker<DefaultEntry> =
        Tracker::new(Config::default(), MemoryStore::new()).expect("tracker");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let server_tracker = tracker.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                return;
            };
            let tracker = server_tracker.clone();
            let service = hyper::service::service_fn(move |mut request: http::Request<_>| {
                // What an application's auth step and connection handling do.
                if let Some(id) = request
                    .headers()
                    .get("x-user")
                    .and_then(|v| v.to_str().ok())
                {
                    let user = User::new(id);
                    request.extensions_mut().insert(user);
                }
                request.extensions_mut().insert(PeerAddr(peer));
                let outcome = tracker.record(&request);
                let body = format!("{outcome:?}\n");
                async move { Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(body)))) }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    for user in ["1", "2", "2"] {
        let reply = get(addr, "/", &[("x-user", user)]).await;
        assert_eq!(reply.status, 200);
    }
    assert_eq!(get(addr, "/", &[]).await.body, "NoEntry\n");
    tracker.flush().await.expect("flush");
    assert_eq!(tracker.count().await.expect("count"), 2);
    let page = tracker.list(10, None).await.expect("list");
    assert!(
        page.entries
            .iter()
            .all(|a| a.entry.ip == Some("127.0.0.1".parse().expect("ip")))
    );
}
