//! A failing store is logged at a bounded rate: one warning per interval with the number of
//! failures not logged, not one line per failed write. (Its own test binary: it installs a
//! global `tracing` subscriber, which sees the background writer's threads too.)

use active_users::{Config, DefaultEntry, RedisStore, Tracker, User};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tracing::{Event, Metadata, Subscriber, span};

/// Counts the warnings of the `active_users` crate.
struct CountWarnings;

static WARNINGS: AtomicU64 = AtomicU64::new(0);

impl Subscriber for CountWarnings {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("active_users")
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &Event<'_>) {
        if *event.metadata().level() == tracing::Level::WARN {
            WARNINGS.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_failures_are_logged_at_a_bounded_rate() {
    tracing::subscriber::set_global_default(CountWarnings).expect("the only subscriber");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    // Nothing listens there: every write fails at once.
    let store = RedisStore::open(&format!("redis://127.0.0.1:{port}/")).expect("store");
    let config = Config::builder()
        .flush_interval(Duration::from_millis(10))
        .query_timeout(Duration::from_millis(200))
        .build()
        .expect("config");
    let tracker = Tracker::<DefaultEntry>::new(config, store).expect("tracker");
    let until = Instant::now() + Duration::from_secs(2);
    let mut user = 0u32;
    while Instant::now() < until {
        let mut request = http::Request::get("/").body(()).expect("request");
        request.extensions_mut().insert(User::new(user.to_string()));
        tracker.record(&request);
        user += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let failures = tracker.stats().write_errors;
    let warnings = WARNINGS.load(Ordering::SeqCst);
    assert!(failures >= 5, "writes kept failing: {failures}");
    assert_eq!(
        warnings, 1,
        "{failures} failures, {warnings} warnings in 2 s"
    );
}
