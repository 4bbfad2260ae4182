//! What only a real Redis shows: no KEYS or SCAN, keys that expire, bounded trimming, one
//! clock, and a tracker that survives a Redis that is not there yet.

mod support;

use active_users::store::{Member, Store, Touch, WritePolicy};
use active_users::{ActiveUserEntry, Config, DefaultEntry, Outcome, RedisStore, Tracker, User};
use std::time::{Duration, Instant, UNIX_EPOCH};
use support::{RedisServer, unique_namespace};

fn user_request(id: &str) -> http::Request<()> {
    let mut request = http::Request::get("/")
        .header("cookie", format!("sessionid=s{id}"))
        .body(())
        .expect("request");
    request
        .extensions_mut()
        .insert(User::new(id).with_name(format!("user {id}")));
    request
}

fn integer_reply(reply: &str) -> i64 {
    reply
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap_or_else(|_| panic!("not an integer reply: {reply:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_query_or_write_uses_keys_or_scan() {
    let server = RedisServer::start();
    if std::env::var(support::REDIS_URL_VAR).is_err() {
        server.command("CONFIG RESETSTAT");
    }
    let ns = unique_namespace("nokeys");
    let config = Config::builder().namespace(ns).build().expect("config");
    let tracker = Tracker::<DefaultEntry>::new(config, server.store()).expect("tracker");
    for i in 0..20 {
        tracker.record(&user_request(&i.to_string()));
    }
    tracker.flush().await.expect("flush");
    assert_eq!(tracker.count().await.expect("count"), 20);
    assert_eq!(
        tracker.count_distinct("user_id").await.expect("distinct"),
        20
    );
    let page = tracker.list(5, None).await.expect("list");
    tracker.list(5, page.next).await.expect("list");
    tracker
        .last_seen(&page.entries[0].entry)
        .await
        .expect("last seen");

    let stats = server.command("INFO commandstats");
    assert!(
        stats.contains("cmdstat_evalsha"),
        "the scripts ran: {stats}"
    );
    for forbidden in ["cmdstat_keys:", "cmdstat_scan:", "cmdstat_zscan:"] {
        assert!(!stats.contains(forbidden), "{forbidden} was used:\n{stats}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_application_leaves_nothing_behind() {
    let server = RedisServer::start();
    let ns = unique_namespace("gone");
    let window = Duration::from_millis(300);
    let config = Config::builder()
        .namespace(ns.clone())
        .key_expire(window)
        .build()
        .expect("config");
    let tracker = Tracker::<DefaultEntry>::new(config, server.store()).expect("tracker");
    tracker.record(&user_request("7"));
    tracker.shutdown().await.expect("flush");
    let keys = [
        format!("au:{{{ns}}}:active"),
        format!("au:{{{ns}}}:values:user_id"),
    ];
    for key in &keys {
        assert_eq!(
            integer_reply(&server.command(&format!("EXISTS {key}"))),
            1,
            "{key}"
        );
        let ttl = integer_reply(&server.command(&format!("PTTL {key}")));
        assert!(
            ttl > 0 && ttl <= 1000,
            "{key} expires within the key TTL, got {ttl}"
        );
    }
    drop(tracker);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for key in &keys {
        assert_eq!(
            integer_reply(&server.command(&format!("EXISTS {key}"))),
            0,
            "{key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_write_trims_a_bounded_number_of_stale_members() {
    let server = RedisServer::start();
    let store = server.store();
    let key = format!("au:{{{}}}:active", unique_namespace("trim"));
    let window = Duration::from_millis(200);
    let policy = WritePolicy::new(window);
    let members: Vec<Member> = (0..2500u32)
        .map(|i| Member::from(&i.to_be_bytes()[..]))
        .collect();
    store
        .touch(&[Touch::seen(key.clone(), members)], policy)
        .await
        .expect("write");
    assert_eq!(
        integer_reply(&server.command(&format!("ZCARD {key}"))),
        2500
    );
    tokio::time::sleep(window + Duration::from_millis(50)).await;

    let fresh = Touch::seen(key.clone(), vec![Member::from(&b"fresh"[..])]);
    store
        .touch(std::slice::from_ref(&fresh), policy)
        .await
        .expect("write");
    // 1000 stale members trimmed (the limit), one fresh member added.
    assert_eq!(
        integer_reply(&server.command(&format!("ZCARD {key}"))),
        1501
    );
    store
        .touch(std::slice::from_ref(&fresh), policy)
        .await
        .expect("write");
    store
        .touch(std::slice::from_ref(&fresh), policy)
        .await
        .expect("write");
    assert_eq!(integer_reply(&server.command(&format!("ZCARD {key}"))), 1);
    assert_eq!(store.count(&key, window).await.expect("count"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_come_from_the_redis_clock() {
    let server = RedisServer::start();
    let config = Config::builder()
        .namespace(unique_namespace("clock"))
        .build()
        .expect("config");
    let tracker = Tracker::<DefaultEntry>::new(config, server.store()).expect("tracker");
    tracker.record(&user_request("1"));
    tracker.flush().await.expect("flush");
    let page = tracker.list(1, None).await.expect("list");
    let seen = page.entries[0]
        .last_seen
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch");
    let time = server.command("TIME");
    let secs: u64 = time
        .lines()
        .nth(2)
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("TIME reply {time:?}"));
    let diff = secs.abs_diff(seen.as_secs());
    assert!(diff <= 2, "score {seen:?} vs server time {secs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_is_down_at_start_up_is_retried() {
    if std::env::var(support::REDIS_URL_VAR).is_ok() {
        // This test owns the server's lifetime; with a shared server there is nothing to start.
        return;
    }
    let port = support::free_port();
    let store = RedisStore::open(&format!("redis://127.0.0.1:{port}/")).expect("store");
    let config = Config::builder()
        .namespace(unique_namespace("late"))
        .query_timeout(Duration::from_millis(500))
        .flush_interval(Duration::from_millis(50))
        .build()
        .expect("config");
    // Builds although nothing listens yet.
    let tracker = Tracker::<DefaultEntry>::new(config, store).expect("tracker");

    let started = Instant::now();
    assert_eq!(tracker.record(&user_request("1")), Outcome::Queued);
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "record never waits for Redis"
    );
    let started = Instant::now();
    assert!(tracker.flush().await.is_err(), "nothing to write to");
    // At most one write in flight (the background writer's) plus ours, each bounded.
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    assert!(
        tracker.count().await.is_err(),
        "a query fails rather than hangs"
    );
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert_eq!(tracker.stats().pending, 1, "the entry waits in the buffer");

    let _server = RedisServer::start_on(port);
    let up = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut count = 0;
    while Instant::now() < deadline {
        if let Ok(n) = tracker.count().await {
            count = n;
            if n == 1 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("recovered {:?} after Redis came up", up.elapsed());
    assert_eq!(
        count, 1,
        "the buffered entry was written once Redis came up"
    );
    assert!(tracker.stats().write_errors >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_keeps_the_newest_visitors() {
    if std::env::var(support::REDIS_URL_VAR).is_ok() {
        return; // needs a port with no server behind it, then a server of its own
    }
    let port = support::free_port();
    let store = RedisStore::open(&format!("redis://127.0.0.1:{port}/")).expect("store");
    let config = Config::builder()
        .namespace(unique_namespace("full"))
        .buffer_capacity(10)
        .flush_interval(Duration::from_secs(3600))
        .query_timeout(Duration::from_millis(500))
        .build()
        .expect("config");
    let tracker = Tracker::<DefaultEntry>::new(config, store).expect("tracker");
    for user in 1..=50 {
        assert_eq!(
            tracker.record(&user_request(&user.to_string())),
            Outcome::Queued
        );
    }
    let stats = tracker.stats();
    assert_eq!(
        (stats.pending, stats.dropped),
        (10, 40),
        "bounded, drops counted"
    );

    let _server = RedisServer::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(15);
    while tracker.flush().await.is_err() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut users: Vec<u32> = tracker
        .list(100, None)
        .await
        .expect("list")
        .entries
        .iter()
        .filter_map(|a| a.entry.user_id.parse().ok())
        .collect();
    users.sort_unstable();
    assert_eq!(
        users,
        (41..=50).collect::<Vec<u32>>(),
        "the newest ten were kept"
    );
}

/// Junk in Redis (another program, another version, anyone with write access) is skipped and
/// bounded: a member scored years ahead or at `inf`, history points that are not samples or lie
/// in the future, a sampling claim that never expires, a description that lies about its spans.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_in_redis_is_skipped_and_bounded() {
    use active_users::redis::AsyncCommands;
    let server = RedisServer::start();
    let ns = unique_namespace("junk");
    let config = Config::builder()
        .namespace(ns.clone())
        .build()
        .expect("config");
    let tracker = Tracker::<DefaultEntry>::new(config.clone(), server.store()).expect("tracker");
    for i in 0..3 {
        tracker.record(&user_request(&i.to_string()));
    }
    tracker.flush().await.expect("flush");

    let client = active_users::redis::Client::open(server.url.as_str()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let now_ms = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as f64;
    let ten_years = 10.0 * 365.0 * 86_400_000.0;
    let active = format!("au:{{{ns}}}:active");
    let ghost = DefaultEntry {
        user_id: "ghost".into(),
        session_id: None,
        ip: None,
        username: None,
    }
    .encode()
    .expect("encode");
    let _: () = conn
        .zadd(&active, ghost.as_slice(), now_ms + ten_years)
        .await
        .expect("a member ten years ahead");
    redis_cmd(&mut conn, &["ZADD", &active, "inf", "junk-at-infinity"]).await;
    let _: () = conn
        .zadd(&active, &b"\xff\xfenot a member"[..], now_ms)
        .await
        .expect("bytes that are not a member");
    let history = format!("au:{{{ns}}}:history");
    let _: () = conn
        .zadd(&history, "not-a-sample", now_ms)
        .await
        .expect("junk point");
    let far = (now_ms + ten_years) as u64;
    let _: () = conn
        .zadd(&history, format!("{far}:999999"), far as f64)
        .await
        .expect("a point ten years ahead");
    redis_cmd(&mut conn, &["SET", &format!("au:{{{ns}}}:sampled"), "9e18"]).await;

    // Queries skip all of it.
    assert_eq!(
        tracker.count().await.expect("count"),
        4,
        "three users and the undecodable"
    );
    let counts = tracker.counts().await.expect("counts");
    assert_eq!(counts.distinct("user_id"), Some(3));
    let page = tracker.list(100, None).await.expect("list");
    assert_eq!(page.entries.len(), 3, "no ghost, no junk");
    assert_eq!(page.undecodable, 1);
    let points = tracker
        .history(Duration::from_secs(3600))
        .await
        .expect("history answers");
    assert!(points.iter().all(|p| p.active < 1000), "{points:?}");

    // Sampling is not stopped by a claim that never expires.
    let since_epoch = std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock");
    let next_slot = 10_000 - (since_epoch.as_millis() % 10_000) as u64;
    tokio::time::sleep(Duration::from_millis(next_slot + 200)).await;
    tracker.record(&user_request("3"));
    tracker.flush().await.expect("flush");
    let claimed: String = conn
        .get(format!("au:{{{ns}}}:sampled"))
        .await
        .expect("the claim");
    assert_ne!(claimed, "9e18", "a tracker claimed the slot again");
    // And the write trimmed the members from the future.
    let ghost_score: Option<f64> = conn
        .zscore(&active, ghost.as_slice())
        .await
        .expect("zscore");
    assert_eq!(ghost_score, None, "trimmed");
    let far_point: Option<f64> = conn
        .zscore(&history, format!("{far}:999999"))
        .await
        .expect("zscore");
    assert_eq!(
        far_point, None,
        "the future point is gone after the next sample"
    );

    // A description that lies about its spans is refused, not believed.
    let schema = format!("au:{{{ns}}}:schema");
    let forged = r#"{"version":1,"shards":1024,"window_ms":20000,"history_ms":18446744073709551615,"fields":[{"name":"user_id","kind":"text","optional":false,"indexed":true,"grouped":false,"hidden":false}]}"#;
    let _: () = conn.set(&schema, forged).await.expect("forged schema");
    let err = active_users::Reader::open(config, server.store())
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("history_ms"), "{err}");
}

async fn redis_cmd(conn: &mut active_users::redis::aio::MultiplexedConnection, args: &[&str]) {
    let mut cmd = active_users::redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    let _: active_users::redis::Value = cmd.query_async(conn).await.expect("command");
}

/// A Redis that is out of memory (`maxmemory`, `noeviction`) refuses writes: a shard's write
/// is all or nothing, so the indexes never claim more than the active set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_redis_never_leaves_indexes_ahead_of_the_active_set() {
    let server = RedisServer::start();
    if std::env::var(support::REDIS_URL_VAR).is_ok() {
        return; // CONFIG SET maxmemory would fill a shared server for everybody
    }
    let ns = unique_namespace("full");
    let config = Config::builder()
        .namespace(ns)
        .batch_size(50)
        .history(Duration::ZERO)
        .build()
        .expect("config");
    let tracker = Tracker::<DefaultEntry>::new(config, server.store()).expect("tracker");
    tracker.record(&user_request("warm-up"));
    tracker.flush().await.expect("flush");
    let info = server.command("INFO memory");
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory");
    server.command(&format!("CONFIG SET maxmemory {}", used + 300_000));
    server.command("CONFIG SET maxmemory-policy noeviction");
    let mut refused = 0;
    for round in 0..60 {
        for i in 0..100 {
            tracker.record(&user_request(&format!("{round}-{i}-{}", "x".repeat(40))));
        }
        if tracker.flush().await.is_err() {
            refused += 1;
        }
        let counts = tracker.counts().await.expect("reads still work");
        let users = counts.distinct("user_id").expect("indexed");
        assert!(users <= counts.entries, "round {round}: {counts:?}");
    }
    assert!(refused > 0, "Redis filled up and refused writes");
    server.command("CONFIG SET maxmemory 0");
}

/// A namespace at `max_active_entries` writes no new entries (counted in
/// `Stats::over_capacity`) but keeps refreshing the ones it has; several batches written at
/// once do not overshoot it; a known user's new session is refused with its index value, so
/// the distinct count never exceeds the count; once visitors leave, new ones get in again.
/// On a real Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_at_its_cap_refreshes_known_entries_and_refuses_new_ones() {
    let server = RedisServer::start();
    let window = Duration::from_secs(4);
    let namespace = unique_namespace("cap");
    let config = Config::builder()
        .namespace(namespace.as_str())
        .key_expire(window)
        .max_active_entries(100)
        .max_entries_per_user(0)
        .batch_size(50)
        .build()
        .expect("config");
    let tracker = Tracker::<DefaultEntry>::new(config, server.store()).expect("tracker");
    let entry = |user: u32, session: &str| DefaultEntry {
        user_id: format!("u{user}"),
        session_id: Some(session.to_owned()),
        ip: None,
        username: None,
    };
    // 300 visitors in one flush: six batches of 50, several in flight at once.
    for i in 0..300 {
        assert!(tracker.record_entry(&entry(i, "s")).is_recorded());
    }
    tracker.flush().await.expect("flush");
    let active_key = format!("au:{{{namespace}}}:active");
    let zcard: u64 = server
        .command(&format!("ZCARD {active_key}"))
        .trim()
        .trim_start_matches(':')
        .parse()
        .expect("ZCARD");
    assert_eq!(zcard, 100, "no overshoot");
    assert_eq!(tracker.count().await.expect("count"), 100);
    assert_eq!(tracker.stats().over_capacity, 200);
    // A known visitor is refreshed while the namespace is full; a known user's new session
    // is not written, and neither is its value in the user index.
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = tracker
        .last_seen(&entry(7, "s"))
        .await
        .expect("lookup")
        .expect("u7");
    // Past the refresh interval, and late enough that u7 outlives the others by a second.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    tracker.record_entry(&entry(7, "s"));
    tracker.record_entry(&entry(8, "another"));
    tracker.flush().await.expect("flush");
    let after = tracker
        .last_seen(&entry(7, "s"))
        .await
        .expect("lookup")
        .expect("u7");
    assert!(after > before, "{before:?} -> {after:?}");
    assert_eq!(tracker.stats().over_capacity, 201, "u8's second session");
    // When the others have left, u7 is the only entry and the only user: u8's refused
    // session did not keep u8 in the index.
    tokio::time::sleep(
        (started + window + Duration::from_millis(500)).saturating_duration_since(Instant::now()),
    )
    .await;
    let counts = tracker.counts().await.expect("counts");
    assert_eq!(counts.entries, 1);
    assert_eq!(counts.distinct("user_id"), Some(1));
    // New visitors get in again at once: the first write after the others left finds room.
    for i in 1000..1010 {
        tracker.record_entry(&entry(i, "s"));
    }
    tracker.flush().await.expect("flush");
    assert_eq!(tracker.count().await.expect("count"), 11, "u7 and the ten");
    assert_eq!(tracker.stats().over_capacity, 201);
    tracker.shutdown().await.expect("shutdown");
}
