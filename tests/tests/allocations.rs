//! How many heap allocations the tracker makes per recorded request and per written entry, on
//! the in-memory store, counted by `dhat`'s allocator (this test binary only).
//! Allocations are most of what the layer adds to a server's CPU at 100,000 visitors, so these
//! counts are bounded here: a change that adds one per request fails.

use active_users::{
    Config, ConfigBuilder, DefaultEntry, MemoryStore, Outcome, PeerAddr, Tracker, User,
};
#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// One test at a time: `dhat` runs one profiler per process, and its counts are the
/// process's.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Heap blocks allocated so far in this process.
fn allocations() -> u64 {
    dhat::HeapStats::get().total_blocks
}

/// The request a server hands the layer: a signed-in user with a name, a session cookie, a
/// peer address.
fn request(i: usize) -> http::Request<()> {
    let mut request = http::Request::get("/")
        .header("cookie", format!("sessionid=s{i}"))
        .body(())
        .expect("request");
    request
        .extensions_mut()
        .insert(User::new(format!("user-{i}")).with_name(format!("name {i}")));
    request
        .extensions_mut()
        .insert(PeerAddr(([10, 0, (i >> 8) as u8, i as u8], 1000).into()));
    request
}

/// Runs `test` on a current-thread runtime with `dhat` counting, one test at a time.
fn profiled(test: impl std::future::Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let _profiler = dhat::Profiler::builder().testing().build();
    runtime.block_on(test);
}

/// A tracker on the in-memory store whose background writer stays idle: only the explicit
/// flushes write.
fn idle_tracker(config: ConfigBuilder) -> Tracker<DefaultEntry> {
    let config = config
        .flush_interval(std::time::Duration::from_secs(3600))
        .build()
        .expect("config");
    Tracker::new(config, MemoryStore::new()).expect("tracker")
}

#[test]
fn recording_and_writing_a_new_visitor_allocate_a_bounded_number_of_times() {
    const N: usize = 4_000;
    profiled(async {
        let tracker =
            idle_tracker(Config::builder().refresh_interval(std::time::Duration::from_millis(50)));
        // Warm up: the maps and the store's first keys.
        for i in 0..N {
            assert_eq!(tracker.record(&request(N + i)), Outcome::Queued);
        }
        tracker.flush().await.expect("flush");

        let requests: Vec<_> = (0..N).map(request).collect();
        let before = allocations();
        for request in &requests {
            assert_eq!(tracker.record(request), Outcome::Queued);
        }
        let recorded = allocations() - before;
        let before = allocations();
        tracker.flush().await.expect("flush");
        let written = allocations() - before;
        let per_record = recorded as f64 / N as f64;
        let per_write = written as f64 / N as f64;
        println!("allocations per new visitor: recorded {per_record:.2}, written {per_write:.2}");
        assert_eq!(tracker.count().await.expect("count"), 2 * N as u64);
        // The member's copy in the buffer, and nothing else: the user id, the session cookie
        // and the name are copied from the request into the member, without a `String` each.
        assert!(
            per_record <= 1.5,
            "recording allocates {per_record:.2} times per request"
        );
        assert!(
            per_write <= 6.0,
            "writing allocates {per_write:.2} times per entry"
        );

        // The same visitors back after the refresh interval, within the window: each is
        // queued for a write again, with the member the buffer still holds: no allocation,
        // though a flush since has pruned what the buffer remembers.
        tokio::time::sleep(std::time::Duration::from_millis(120)).await;
        assert_eq!(tracker.record(&request(3 * N)), Outcome::Queued);
        tracker.flush().await.expect("flush");
        let before = allocations();
        for request in &requests {
            assert_eq!(tracker.record(request), Outcome::Queued);
        }
        let per_return = (allocations() - before) as f64 / N as f64;
        println!("allocations per returning visitor: recorded {per_return:.2}");
        assert!(
            per_return <= 0.05,
            "a returning visitor allocates {per_return:.2} times, a new one {per_record:.2}"
        );
    });
}

/// What the tower layer adds to an axum app per request, in heap allocations, for returning
/// visitors (the common case): the app is called in process (`oneshot`) without a layer,
/// with a layer that only wraps the response body (what any such layer costs in axum: its
/// boxed route and future, and the body's box), and with `ActiveUsersLayer`. The layer's own
/// code must allocate nothing more.
#[test]
fn the_layer_adds_no_allocation_of_its_own_to_an_axum_request() {
    use active_users::ActiveUsersLayer;
    use axum::{Router, routing::get};
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    const N: usize = 2_000;
    profiled(async {
        let tracker = idle_tracker(Config::builder());
        let route = || Router::new().route("/", get(|| async { "hello" }));
        let plain: Router = route().with_state(());
        let wrapping: Router = route()
            .layer(tower::util::MapResponseLayer::new(
                |r: axum::response::Response| r.map(|body| body.map_err(|e| e)),
            ))
            .with_state(());
        let layered: Router = route()
            .layer(ActiveUsersLayer::new(tracker.clone()))
            .with_state(());
        let per_request = |app: Router| async move {
            // Each visitor once unmeasured, so that the measured requests are returning ones.
            for i in 0..N {
                let request = request(i).map(|()| axum::body::Body::empty());
                let response = app.clone().oneshot(request).await.expect("response");
                response.into_body().collect().await.expect("body");
            }
            let requests: Vec<_> = (0..N)
                .map(|i| request(i).map(|()| axum::body::Body::empty()))
                .collect();
            let before = allocations();
            for request in requests {
                let response = app.clone().oneshot(request).await.expect("response");
                response.into_body().collect().await.expect("body");
            }
            (allocations() - before) as f64 / N as f64
        };
        let without = per_request(plain).await;
        let wrapped = per_request(wrapping).await;
        let with = per_request(layered).await;
        println!(
            "allocations per request in axum: no layer {without:.2}, a layer wrapping the body \
             {wrapped:.2}, ActiveUsersLayer {with:.2}"
        );
        assert_eq!(tracker.stats().coalesced, N as u64, "returning visitors");
        assert!(
            with - wrapped <= 0.05,
            "ActiveUsersLayer allocates {:.2} times per request more than a layer that only \
             wraps the body",
            with - wrapped
        );
    });
}
