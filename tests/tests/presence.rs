//! Presence: joins and leaves, told to subscribers of every app server of a namespace, on the
//! in-memory store, a real `redis-server` and a 3-master cluster that each test starts itself.

#[macro_use]
mod support;

use active_users::store::ManualClock;
use active_users::{
    Change, Config, DefaultEntry, MemoryStore, PeerAddr, PresenceEvent, QueryError, Subscription,
    SubscriptionError, Tracker, User,
};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::Backend;

const FLUSH: Duration = Duration::from_millis(100);

fn tracker(backend: &Backend, window: Duration) -> Tracker<DefaultEntry> {
    let config = Config::builder()
        .namespace(backend.namespace.clone())
        .shards(backend.shards)
        .key_expire(window)
        .flush_interval(FLUSH)
        .presence(true)
        .build()
        .expect("config");
    Tracker::with_store(config, backend.store()).expect("tracker")
}

fn request(user: &str, session: &str) -> http::Request<()> {
    let mut request = http::Request::get("/")
        .header("cookie", format!("sessionid={session}"))
        .body(())
        .expect("request");
    request.extensions_mut().insert(User::new(user));
    request
        .extensions_mut()
        .insert(PeerAddr(([10, 0, 0, 1], 1000).into()));
    request
}

/// Events until `want` came or `within` passed.
async fn collect<T>(
    sub: &mut Subscription<T>,
    want: usize,
    within: Duration,
) -> Vec<PresenceEvent<T>> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, sub.recv()).await {
            Ok(Ok(event)) => out.push(event),
            Ok(Err(err)) => panic!("subscription failed: {err}"),
            Err(_) => break,
        }
    }
    out
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

async fn two_app_servers_see_each_join_once(backend: Backend) {
    let window = Duration::from_secs(30);
    let (a, b) = (tracker(&backend, window), tracker(&backend, window));
    let mut on_a = a.subscribe().await.expect("subscribe on a");
    let mut on_b = b.subscribe().await.expect("subscribe on b");
    a.record(&request("1", "s1"));
    b.record(&request("2", "s2"));
    a.flush().await.expect("flush a");
    b.flush().await.expect("flush b");
    // The same entry again, from the other server: already active, not a join.
    b.record(&request("1", "s1"));
    b.flush().await.expect("flush b");
    for (name, sub) in [("a", &mut on_a), ("b", &mut on_b)] {
        // Two joins, and nothing more within a second.
        let events = collect(sub, 3, Duration::from_secs(2)).await;
        let mut users: Vec<_> = events
            .iter()
            .map(|e| (e.change, e.item.user_id.clone()))
            .collect();
        users.sort_by(|x, y| x.1.cmp(&y.1));
        assert_eq!(
            users,
            [(Change::Joined, "1".into()), (Change::Joined, "2".into())],
            "subscriber on {name}"
        );
        for event in &events {
            let now = ms(SystemTime::now());
            let at = ms(event.at);
            assert!(
                at <= now && now - at < 10_000,
                "a join's time is its request's"
            );
        }
    }
}

async fn a_visitor_who_leaves_is_told_once_with_the_time_its_window_passed(backend: Backend) {
    let window = Duration::from_millis(1500);
    let (a, b) = (tracker(&backend, window), tracker(&backend, window));
    let mut sub = a.subscribe().await.expect("subscribe");
    a.record(&request("7", "s7"));
    a.flush().await.expect("flush");
    let joined = collect(&mut sub, 1, Duration::from_secs(3)).await;
    assert_eq!(joined.len(), 1, "the join");
    let seen = joined[0].at;
    // Both servers sweep (their background writers, every flush interval); one tells.
    let left = collect(&mut sub, 2, window + Duration::from_secs(4)).await;
    assert_eq!(left.len(), 1, "one leave, told once: {left:?}");
    assert_eq!(left[0].change, Change::Left);
    assert_eq!(left[0].item.user_id, "7");
    assert_eq!(
        left[0].at,
        seen + window,
        "left a window after it was last seen"
    );
    assert!(left[0].id > joined[0].id, "ids increase");
    assert_eq!(a.count().await.expect("count"), 0);
    drop(b);
}

async fn a_user_with_two_sessions_joins_with_the_first_and_leaves_with_the_last(backend: Backend) {
    let window = Duration::from_secs(2);
    let a = tracker(&backend, window);
    let mut users = a.subscribe_field("user_id").await.expect("subscribe");
    let mut entries = a.subscribe().await.expect("subscribe");
    a.record(&request("42", "first"));
    a.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    a.record(&request("42", "second"));
    a.flush().await.expect("flush");

    let joined = collect(&mut users, 1, Duration::from_secs(2)).await;
    assert_eq!(joined.len(), 1);
    assert_eq!(
        (joined[0].change, joined[0].item.as_str()),
        (Change::Joined, "42")
    );
    // The first session leaves; the user stays.
    let first_left = loop {
        let event = collect(&mut entries, 1, Duration::from_secs(5)).await;
        let event = event.into_iter().next().expect("the first session leaves");
        if event.change == Change::Left {
            break event;
        }
    };
    assert_eq!(first_left.item.user_id, "42");
    let early = collect(&mut users, 1, Duration::from_millis(300)).await;
    assert!(early.is_empty(), "the user is still here: {early:?}");
    // Then the second, and the user with it, a window after the second was seen.
    let user_left = collect(&mut users, 1, Duration::from_secs(5)).await;
    assert_eq!(user_left.len(), 1, "the user leaves with the last session");
    assert_eq!(user_left[0].change, Change::Left);
    assert!(user_left[0].at > first_left.at);
    let second_left = loop {
        let event = collect(&mut entries, 1, Duration::from_secs(5)).await;
        let event = event.into_iter().next().expect("the second session leaves");
        if event.change == Change::Left {
            break event;
        }
    };
    assert_eq!(
        user_left[0].at, second_left.at,
        "with the last session's window"
    );
}

async fn a_slow_subscriber_is_told_how_many_events_it_missed(backend: Backend) {
    let window = Duration::from_secs(30);
    let a = tracker(&backend, window);
    let mut slow = a.subscribe().await.expect("subscribe");
    let n = active_users::presence::CHANNEL_CAPACITY + 1000;
    let started = Instant::now();
    for i in 0..n {
        assert!(
            a.record(&request(&format!("u{i}"), &format!("s{i}")))
                .is_recorded()
        );
    }
    let recording = started.elapsed();
    a.flush().await.expect("flush");
    // It reads nothing until the poller has passed every event on.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Then it is told what it missed, reads what the channel holds, and the two add up to
    // every new visitor's entry.
    let (mut received, mut missed, mut lags) = (0u64, 0u64, 0);
    loop {
        match tokio::time::timeout(Duration::from_secs(1), slow.recv()).await {
            Err(_) => break,
            Ok(Ok(_)) => received += 1,
            Ok(Err(SubscriptionError::Lagged(n))) => {
                missed += n;
                lags += 1;
            }
            Ok(Err(err)) => panic!("{err}"),
        }
    }
    assert!(lags >= 1 && missed > 0, "told it missed events");
    assert_eq!(
        received + missed,
        n as u64,
        "received {received}, missed {missed}"
    );
    assert!(received <= active_users::presence::CHANNEL_CAPACITY as u64 + 64);
    assert!(
        recording < Duration::from_secs(5),
        "recording is never held up by presence ({recording:?})"
    );
}

/// An entry written again after its window passed, before a sweep removed it: the write
/// itself tells that it left (a window after it was last seen) and joined again.
async fn an_entry_written_again_after_its_window_leaves_then_joins(backend: Backend) {
    let window = Duration::from_millis(1000);
    let config = Config::builder()
        .namespace(backend.namespace.clone())
        .shards(backend.shards)
        .key_expire(window)
        .refresh_interval(Duration::from_millis(1))
        // No background sweep: only the write can tell.
        .flush_interval(Duration::from_secs(3600))
        .presence(true)
        .build()
        .expect("config");
    let a: Tracker<DefaultEntry> = Tracker::with_store(config, backend.store()).expect("tracker");
    let mut sub = a.subscribe().await.expect("subscribe");
    a.record(&request("9", "s9"));
    a.flush().await.expect("flush");
    tokio::time::sleep(window + Duration::from_millis(300)).await;
    a.record(&request("9", "s9"));
    a.flush().await.expect("flush");
    let events = collect(&mut sub, 3, Duration::from_secs(3)).await;
    let changes: Vec<_> = events.iter().map(|e| e.change).collect();
    assert_eq!(changes, [Change::Joined, Change::Left, Change::Joined]);
    assert_eq!(events[1].at, events[0].at + window);
    assert!(events[2].at > events[1].at);
}

store_suite!(memory, Backend::memory();
    two_app_servers_see_each_join_once,
    a_visitor_who_leaves_is_told_once_with_the_time_its_window_passed,
    a_user_with_two_sessions_joins_with_the_first_and_leaves_with_the_last,
    a_slow_subscriber_is_told_how_many_events_it_missed,
    an_entry_written_again_after_its_window_leaves_then_joins,
);
store_suite!(redis, Backend::redis();
    two_app_servers_see_each_join_once,
    a_visitor_who_leaves_is_told_once_with_the_time_its_window_passed,
    a_user_with_two_sessions_joins_with_the_first_and_leaves_with_the_last,
    a_slow_subscriber_is_told_how_many_events_it_missed,
    an_entry_written_again_after_its_window_leaves_then_joins,
);
store_suite!(cluster, Backend::cluster().sharded(4);
    two_app_servers_see_each_join_once,
    a_visitor_who_leaves_is_told_once_with_the_time_its_window_passed,
    a_user_with_two_sessions_joins_with_the_first_and_leaves_with_the_last,
);

#[tokio::test]
async fn presence_must_be_turned_on_and_fields_must_be_indexed() {
    let off = Tracker::<DefaultEntry>::new(Config::default(), MemoryStore::new()).expect("tracker");
    let err = off.subscribe().await.expect_err("presence is off");
    assert!(matches!(err, QueryError::PresenceOff));
    assert!(err.to_string().contains("presence(true)"), "{err}");
    let on = Tracker::<DefaultEntry>::new(
        Config::builder().presence(true).build().expect("config"),
        MemoryStore::new(),
    )
    .expect("tracker");
    assert!(matches!(
        on.subscribe_field("nope").await,
        Err(QueryError::UnknownField(_))
    ));
    assert!(matches!(
        on.subscribe_field("username").await,
        Err(QueryError::NotIndexed(_))
    ));
    assert!(on.subscribe_field("user_id").await.is_ok());
}

/// An entry that comes back after its window passed, before any sweep removed it: it left a
/// window after it was last seen, then joined again. Exact on a clock that stands still.
#[tokio::test]
async fn an_entry_back_after_its_window_leaves_then_joins() {
    let start = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    let clock = ManualClock::new(start);
    let window = Duration::from_secs(10);
    let config = Config::builder()
        .key_expire(window)
        .refresh_interval(Duration::from_millis(1))
        .flush_interval(Duration::from_secs(3600))
        .presence(true)
        .build()
        .expect("config");
    let tracker: Tracker<DefaultEntry> =
        Tracker::new(config, MemoryStore::with_clock(clock.clone())).expect("tracker");
    let mut sub = tracker.subscribe().await.expect("subscribe");
    tracker.record(&request("5", "s5"));
    tracker.flush().await.expect("flush");
    clock.advance(Duration::from_secs(15));
    // Past the refresh interval (process time), so the repeat is written.
    tokio::time::sleep(Duration::from_millis(20)).await;
    tracker.record(&request("5", "s5"));
    tracker.flush().await.expect("flush");
    let events = collect(&mut sub, 3, Duration::from_secs(3)).await;
    let seen: Vec<_> = events
        .iter()
        .map(|e| (e.change, e.at.duration_since(start).expect("after start")))
        .collect();
    assert_eq!(
        seen,
        [
            (Change::Joined, Duration::ZERO),
            (Change::Left, window),
            (Change::Joined, Duration::from_secs(15)),
        ]
    );
}

/// `GET /events` over real HTTP: the API's authorization, joins and leaves as Server-Sent
/// Events, and a reconnect with `Last-Event-ID` that resumes after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_streams_presence_as_server_sent_events_and_resumes_after_the_last_id() {
    use active_users::ActiveUsersApi;
    use support::client::{EventStream, get, serve};
    const AUTH: (&str, &str) = ("authorization", "Bearer s3cret-token-for-events");
    let window = Duration::from_millis(1500);
    let config = Config::builder()
        .key_expire(window)
        .flush_interval(FLUSH)
        .presence(true)
        .build()
        .expect("config");
    let tracker: Tracker<DefaultEntry> = Tracker::new(config, MemoryStore::new()).expect("tracker");
    let api = ActiveUsersApi::new(tracker.clone()).bearer_token("s3cret-token-for-events");
    let addr = serve(axum::Router::new().nest_service("/active-users", api)).await;

    let refused = get(addr, "/active-users/events", &[]).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    let bad = get(
        addr,
        "/active-users/events",
        &[AUTH, ("last-event-id", "not-an-id")],
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);

    let mut stream = EventStream::open(addr, "/active-users/events", &[AUTH]).await;
    assert_eq!(stream.status, 200);
    assert_eq!(stream.headers["content-type"], "text/event-stream");
    tracker.record(&request("1", "a"));
    tracker.flush().await.expect("flush");
    tracker.record(&request("2", "b"));
    tracker.flush().await.expect("flush");
    // Each join twice: the entry's, and the user id's.
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let event = stream
            .next(Duration::from_secs(5))
            .await
            .expect("an event within 5 s");
        seen.push(event);
    }
    let data: Vec<serde_json::Value> = seen
        .iter()
        .map(|e| serde_json::from_str(&e.data).expect("JSON data"))
        .collect();
    assert!(seen.iter().all(|e| e.event.as_deref() == Some("joined")));
    let users: Vec<_> = data
        .iter()
        .filter_map(|d| d["entry"]["user_id"].as_str())
        .collect();
    assert_eq!(users, ["1", "2"]);
    assert!(
        data.iter().all(|d| d["entry"].get("session_id").is_none()),
        "a hidden field is never shown: {data:?}"
    );
    let values: Vec<_> = data
        .iter()
        .filter(|d| d["field"] == "user_id")
        .filter_map(|d| d["value"].as_str())
        .collect();
    assert_eq!(values, ["1", "2"]);

    // Reconnect after the first event: the three after it come again, from the log.
    let first = seen[0].id.clone().expect("an id");
    let mut resumed = EventStream::open(
        addr,
        "/active-users/events",
        &[AUTH, ("last-event-id", &first)],
    )
    .await;
    let mut again = Vec::new();
    while again.len() < 3 {
        let event = resumed
            .next(Duration::from_secs(5))
            .await
            .expect("a replayed event");
        again.push(event.id.expect("an id"));
    }
    let after_first: Vec<_> = seen[1..].iter().filter_map(|e| e.id.clone()).collect();
    assert_eq!(again, after_first);

    // Then the leaves, live, on both streams.
    let left = stream
        .next(window + Duration::from_secs(5))
        .await
        .expect("a leave");
    assert_eq!(left.event.as_deref(), Some("left"));
}

/// A reader that falls behind the store's event log (which keeps about 1,024 entries) is told
/// that events were lost, then goes on with what the log still holds.
#[tokio::test]
async fn a_reader_behind_the_event_log_is_told_of_the_gap() {
    use active_users::ActiveUserEntry;
    use active_users::store::Store;
    let store = MemoryStore::new();
    let config = Config::builder()
        .flush_interval(Duration::from_secs(3600))
        .presence(true)
        .build()
        .expect("config");
    let tracker: Tracker<DefaultEntry> = Tracker::new(config, store.clone()).expect("tracker");
    tracker.record(&request("first", "s0"));
    tracker.flush().await.expect("flush");
    let mut sub = tracker.subscribe().await.expect("subscribe");
    // Three thousand log entries at once, before the reader's next round: the log drops the
    // oldest two thousand.
    let member = DefaultEntry {
        user_id: "burst".into(),
        session_id: None,
        ip: None,
        username: None,
    }
    .encode()
    .expect("encodes");
    for i in 0..3000u64 {
        let mut value = format!("{}:", 1_900_000_000_000u64 + i).into_bytes();
        value.extend_from_slice(&member);
        store
            .append(
                "au:{default}:presence",
                &[(b"+".to_vec(), value)],
                active_users::presence::LOG_MAX_LEN,
                Duration::from_secs(60),
            )
            .await
            .expect("append");
    }
    let first = tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("in time");
    assert_eq!(first.expect_err("told first"), SubscriptionError::Gap);
    let mut after = 0;
    while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_secs(1), sub.recv()).await {
        assert_eq!(event.item.user_id, "burst");
        after += 1;
    }
    assert!(
        (1000..=1100).contains(&after),
        "what the log still held: {after}"
    );
}

/// A log made again with lower ids (it expired, and the store's clock went back) is read from
/// its start: the reader does not wait for ids above its old place.
#[tokio::test]
async fn a_log_made_again_with_lower_ids_is_read_from_its_start() {
    let start = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    let clock = ManualClock::new(start + Duration::from_secs(10 * 3600));
    let config = Config::builder()
        .key_expire(Duration::from_secs(10))
        .refresh_interval(Duration::from_millis(1))
        .flush_interval(Duration::from_secs(3600))
        .presence(true)
        .build()
        .expect("config");
    let tracker: Tracker<DefaultEntry> =
        Tracker::new(config, MemoryStore::with_clock(clock.clone())).expect("tracker");
    let mut sub = tracker.subscribe().await.expect("subscribe");
    tracker.record(&request("before", "s1"));
    tracker.flush().await.expect("flush");
    let joined = collect(&mut sub, 1, Duration::from_secs(3)).await;
    assert_eq!(joined[0].item.user_id, "before");
    // Everything expires; then the clock is set hours back and a visitor comes.
    clock.advance(Duration::from_secs(3 * 3600));
    tracker.flush().await.expect("flush");
    let _ = collect(&mut sub, 1, Duration::from_millis(500)).await;
    clock.set(start);
    tokio::time::sleep(Duration::from_millis(20)).await;
    tracker.record(&request("after", "s2"));
    tracker.flush().await.expect("flush");
    let events = collect(&mut sub, 1, Duration::from_secs(3)).await;
    assert_eq!(events.len(), 1, "the new log is read");
    assert_eq!(
        (events[0].change, events[0].item.user_id.as_str()),
        (Change::Joined, "after")
    );
}
