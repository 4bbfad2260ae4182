//! Redis faults during traffic: the application keeps answering, `record` never waits, queries
//! fail with a typed error instead of hanging, and the tracker catches up by itself.

mod support;

use active_users::{Config, QueryError, RedisStore, Tracker};
use active_users_examples::{ApiAccess, DemoEntry, app};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::client::{get, serve};
use support::{RedisServer, unique_namespace};

/// One round of traffic: every user visits once; returns the slowest response time.
async fn traffic(addr: SocketAddr, users: std::ops::Range<u32>) -> Duration {
    let mut slowest = Duration::ZERO;
    for user in users {
        let id = user.to_string();
        let started = Instant::now();
        let reply = get(addr, "/", &[("x-user-id", id.as_str())]).await;
        assert_eq!(
            reply.status, 200,
            "the application answers whatever Redis does"
        );
        slowest = slowest.max(started.elapsed());
    }
    slowest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_and_restarted_during_traffic() {
    if std::env::var(support::REDIS_URL_VAR).is_ok() {
        return; // this test stops and restarts the server it owns
    }
    let mut server = RedisServer::start();
    let port = server.port;
    let window = Duration::from_secs(2);
    let config = Config::builder()
        .namespace(unique_namespace("faults"))
        .key_expire(window)
        .refresh_interval(Duration::from_millis(100))
        .flush_interval(Duration::from_millis(50))
        .query_timeout(Duration::from_millis(500))
        .buffer_capacity(1000)
        .build()
        .expect("config");
    let store = RedisStore::open(&server.url).expect("store");
    let tracker: Tracker<DemoEntry> = Tracker::new(config, store).expect("tracker");
    let addr = serve(app(tracker.clone(), ApiAccess::Public)).await;

    let healthy = traffic(addr, 0..50).await;
    tracker.flush().await.expect("flush while up");
    assert_eq!(tracker.count().await.expect("count"), 50);

    server.stop();
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut slowest_down = Duration::ZERO;
    while Instant::now() < deadline {
        slowest_down = slowest_down.max(traffic(addr, 0..50).await);
    }
    let started = Instant::now();
    assert!(matches!(
        tracker.count().await,
        Err(QueryError::Store(_) | QueryError::Timeout(_))
    ));
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "queries do not hang"
    );
    let stats = tracker.stats();
    assert!(stats.write_errors >= 1, "failed writes are counted");
    assert!(stats.pending <= 1000, "the buffer stays within its bound");
    eprintln!("slowest request: {healthy:?} with Redis up, {slowest_down:?} with Redis down");

    // Back up: only users 50..80 are active from now on.
    let _server = RedisServer::start_on(port);
    let back = Instant::now();
    while back.elapsed() < window + Duration::from_secs(2) {
        traffic(addr, 50..80).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracker.flush().await.expect("flush after the restart");
    assert_eq!(
        tracker.count().await.expect("count"),
        30,
        "caught up without a restart, and the count is right after one window"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_redis_delays_nothing_but_the_queries() {
    let server = RedisServer::start();
    if std::env::var(support::REDIS_URL_VAR).is_ok() {
        return; // CLIENT PAUSE would stop a shared server for everybody
    }
    let config = Config::builder()
        .namespace(unique_namespace("paused"))
        .query_timeout(Duration::from_millis(300))
        .build()
        .expect("config");
    let store = RedisStore::open(&server.url).expect("store");
    let tracker: Tracker<DemoEntry> = Tracker::new(config, store).expect("tracker");
    let addr = serve(app(tracker.clone(), ApiAccess::Public)).await;
    traffic(addr, 0..10).await;
    tracker.flush().await.expect("flush");

    server.command("CLIENT PAUSE 1500 ALL");
    let slowest = traffic(addr, 10..40).await;
    assert!(
        slowest < Duration::from_millis(500),
        "requests wait for nothing: {slowest:?}"
    );
    let started = Instant::now();
    assert!(matches!(tracker.count().await, Err(QueryError::Timeout(_))));
    assert!(started.elapsed() < Duration::from_millis(800));

    tokio::time::sleep(Duration::from_millis(1500)).await;
    tracker.flush().await.expect("flush after the pause");
    assert_eq!(tracker.count().await.expect("count"), 40);
}

/// Visitors recorded while Redis is paused keep the time of their request: those whose
/// window has passed by the time they can be written are not shown as active and do not
/// raise the history, and those still within it are shown with their request time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitors_buffered_during_a_pause_keep_their_request_time() {
    let server = RedisServer::start();
    if std::env::var(support::REDIS_URL_VAR).is_ok() {
        return; // CLIENT PAUSE would stop a shared server for everybody
    }
    let window = Duration::from_secs(3);
    let config = Config::builder()
        .namespace(unique_namespace("pause-time"))
        .key_expire(window)
        .refresh_interval(Duration::from_millis(200))
        .flush_interval(Duration::from_millis(100))
        .query_timeout(Duration::from_millis(500))
        .build()
        .expect("config");
    let store = RedisStore::open(&server.url).expect("store");
    let tracker: Tracker<DemoEntry> = Tracker::new(config, store).expect("tracker");
    let addr = serve(app(tracker.clone(), ApiAccess::Public)).await;
    tracker.flush().await.expect("flush: the store works");

    let pause = Duration::from_secs(7);
    server.command(&format!("CLIENT PAUSE {} ALL", pause.as_millis()));
    let paused_at = Instant::now();
    // 50 visitors right at the start of the pause: by its end, 7 s later, they are 4 s past
    // a 3 s window.
    traffic(addr, 0..50).await;
    // One visitor a second before the end: still active when the pause ends.
    tokio::time::sleep(pause.saturating_sub(Duration::from_secs(1) + paused_at.elapsed())).await;
    let late_visit = std::time::SystemTime::now();
    traffic(addr, 100..101).await;
    tokio::time::sleep(pause.saturating_sub(paused_at.elapsed())).await;

    // Once Redis answers again, everything buffered is written.
    let resumed = Instant::now();
    while tracker.flush().await.is_err() {
        assert!(resumed.elapsed() < Duration::from_secs(10), "Redis is back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = tracker.list(100, None).await.expect("list");
    let users: Vec<&str> = page
        .entries
        .iter()
        .map(|a| a.entry.base.user_id.as_str())
        .collect();
    assert_eq!(
        users,
        ["100"],
        "only the visitor within the window is active"
    );
    let last_seen = page.entries[0].last_seen;
    let delta = last_seen
        .duration_since(late_visit)
        .unwrap_or_else(|e| e.duration());
    assert!(
        delta < Duration::from_millis(700),
        "shown with the time of its request ({delta:?} from it), not of the write"
    );
    assert_eq!(tracker.count().await.expect("count"), 1);
    let stats = tracker.stats();
    assert!(
        stats.stale >= 50,
        "the 50 stale visitors are counted: {stats:?}"
    );

    // The history sample taken after the pause counts the one active visitor only.
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    let next_slot = 10_000 - (since_epoch.as_millis() % 10_000) as u64;
    tokio::time::sleep(Duration::from_millis(next_slot + 300)).await;
    tracker.flush().await.expect("flush");
    let peak = tracker
        .peak(Duration::from_secs(3600))
        .await
        .expect("peak")
        .expect("a sample was taken");
    assert!(peak.active <= 1, "history is not inflated: {peak:?}");
}

/// With Redis refusing every write at once (full: `maxmemory`, `noeviction`), records that
/// wake the writer (a batch waiting) do not make it retry at once: at most one attempt per
/// flush interval, not one per wake-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_refuses_writes_is_retried_once_per_interval_however_busy_the_traffic() {
    if std::env::var(support::REDIS_URL_VAR).is_ok() {
        return; // CONFIG SET maxmemory would fill a shared server for everybody
    }
    let server = RedisServer::start();
    let interval = Duration::from_millis(100);
    let config = Config::builder()
        .namespace(unique_namespace("refused"))
        .flush_interval(interval)
        .batch_size(100)
        .history(Duration::ZERO)
        .build()
        .expect("config");
    let store = RedisStore::open(&server.url).expect("store");
    let tracker: Tracker<active_users::DefaultEntry> =
        Tracker::new(config, store).expect("tracker");
    server.command("CONFIG SET maxmemory-policy noeviction");
    server.command("CONFIG SET maxmemory 1");
    let started = Instant::now();
    let mut user = 0u32;
    while started.elapsed() < Duration::from_secs(1) {
        for _ in 0..200 {
            let mut request = http::Request::get("/").body(()).expect("request");
            request
                .extensions_mut()
                .insert(active_users::User::new(user.to_string()));
            tracker.record(&request);
            user += 1;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    let stats = tracker.stats();
    // Each attempt sends up to 4 batches at once, and each refused batch is an error.
    let bound = 4 * ((elapsed.as_millis() / interval.as_millis()) as u64 + 2);
    assert!(
        stats.queued > 10_000,
        "records kept coming: {}",
        stats.queued
    );
    assert!(
        stats.write_errors >= 2,
        "writes were refused: {}",
        stats.write_errors
    );
    assert!(
        stats.write_errors <= bound,
        "{} refused batches in {elapsed:?}: more than one attempt per {interval:?} (bound {bound})",
        stats.write_errors
    );
}
