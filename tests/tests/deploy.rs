//! The demo app as it is deployed: its settings from the `ACTIVE_USERS_*` environment, and a
//! SIGTERM (what Docker and Kubernetes send to stop it) that writes what is buffered.

mod support;

use active_users::{Config, Reader};
use std::time::Duration;
use support::browser::DemoServer;
use support::client::get;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_reads_the_environment_and_stops_cleanly_on_sigterm() {
    let server = support::RedisServer::start();
    let namespace = support::unique_namespace("deployed");
    let demo = DemoServer::start(
        &["--public"],
        &[
            ("REDIS_URL", server.url.as_str()),
            ("ACTIVE_USERS_NAMESPACE", namespace.as_str()),
            ("ACTIVE_USERS_KEY_EXPIRE", "90"),
        ],
    );
    for user in 1..=5 {
        let id = user.to_string();
        let reply = get(demo.addr, "/", &[("x-user-id", id.as_str())]).await;
        assert_eq!(reply.status, 200);
    }
    // At once, while the entries may still wait in the buffer (it flushes every 200 ms).
    let status = demo.terminate();
    assert!(
        status.success(),
        "SIGTERM is a graceful stop, not a kill: {status:?}"
    );

    let config = Config::builder()
        .namespace(namespace.clone())
        .build()
        .expect("config");
    let reader = Reader::open(config, server.store())
        .await
        .expect("the namespace named by ACTIVE_USERS_NAMESPACE was written");
    assert_eq!(
        reader.window(),
        Duration::from_secs(90),
        "ACTIVE_USERS_KEY_EXPIRE"
    );
    assert_eq!(
        reader.count().await.expect("count"),
        5,
        "nothing buffered was lost"
    );
}
