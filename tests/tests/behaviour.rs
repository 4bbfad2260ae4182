//! The tracker's behaviour, run unchanged on the in-memory store and on a real `redis-server`
//! that each test starts for itself.

#[macro_use]
mod support;

use active_users::store::{Member, Touch};
use active_users::{
    ActiveUserEntry, Config, ConfigBuilder, DefaultEntry, MemoryStore, Outcome, PeerAddr,
    QueryError, Tracker, User,
};
use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;
use support::Backend;

/// The Python package's custom entry (the default dimensions plus a service id header), as
/// the demo app defines it.
use active_users_examples::DemoEntry as ServiceEntry;

fn config(backend: &Backend) -> ConfigBuilder {
    Config::builder()
        .namespace(backend.namespace.clone())
        .shards(backend.shards)
}

fn tracker<E: ActiveUserEntry>(backend: &Backend, builder: ConfigBuilder) -> Tracker<E> {
    Tracker::with_store(builder.build().expect("valid config"), backend.store())
        .expect("tracker builds inside the runtime")
}

fn request(path: &str, user: Option<(&str, &str)>, session: &str, peer: &str) -> http::Request<()> {
    let mut request = http::Request::get(path)
        .header("cookie", format!("sessionid={session}"))
        .body(())
        .expect("request");
    if let Some((id, name)) = user {
        request
            .extensions_mut()
            .insert(User::new(id).with_name(name));
    }
    request
        .extensions_mut()
        .insert(PeerAddr(peer.parse().expect("peer address")));
    request
}

async fn record_then_count_and_list(backend: Backend) {
    let tracker: Tracker<DefaultEntry> = tracker(&backend, config(&backend));
    assert_eq!(tracker.count().await.expect("count"), 0);
    let r1 = request("/", Some(("1", "ann")), "s1", "10.0.0.1:1000");
    let r2 = request("/x", Some(("2", "bob")), "s2", "[2001:db8::2]:1000");
    assert_eq!(tracker.record(&r1), Outcome::Queued);
    assert_eq!(tracker.record(&r2), Outcome::Queued);
    let anonymous = request("/", None, "s3", "10.0.0.3:1000");
    assert_eq!(tracker.record(&anonymous), Outcome::NoEntry);
    tracker.flush().await.expect("flush");

    assert_eq!(tracker.count().await.expect("count"), 2);
    let page = tracker.list(10, None).await.expect("list");
    assert!(page.next.is_none());
    let mut users: Vec<_> = page
        .entries
        .iter()
        .map(|a| {
            (
                a.entry.user_id.clone(),
                a.entry.username.clone(),
                a.entry.ip,
            )
        })
        .collect();
    users.sort();
    assert_eq!(
        users,
        vec![
            (
                "1".into(),
                Some("ann".into()),
                Some("10.0.0.1".parse().expect("ip"))
            ),
            (
                "2".into(),
                Some("bob".into()),
                Some("2001:db8::2".parse().expect("ip"))
            ),
        ]
    );
    let stats = tracker.stats();
    assert_eq!((stats.queued, stats.written, stats.no_entry), (2, 2, 1));
}

async fn entries_expire_after_the_window(backend: Backend) {
    let window = Duration::from_millis(400);
    let tracker: Tracker<DefaultEntry> = tracker(&backend, config(&backend).key_expire(window));
    tracker.record(&request("/", Some(("1", "ann")), "s1", "10.0.0.1:1"));
    tracker.flush().await.expect("flush");
    assert_eq!(tracker.count().await.expect("count"), 1);
    assert_eq!(
        tracker.count_distinct("user_id").await.expect("distinct"),
        1
    );
    tokio::time::sleep(window + Duration::from_millis(150)).await;
    assert_eq!(tracker.count().await.expect("count"), 0);
    assert_eq!(
        tracker.count_distinct("user_id").await.expect("distinct"),
        0
    );
    assert!(
        tracker
            .list(10, None)
            .await
            .expect("list")
            .entries
            .is_empty()
    );
    assert!(tracker.count_by("service").await.is_err(), "no such field");
}

async fn excluded_paths_are_not_recorded(backend: Backend) {
    let builder = config(&backend).exclude_url_patterns([r"/static/", r"/health$"]);
    let tracker: Tracker<DefaultEntry> = tracker(&backend, builder);
    let user = Some(("1", "ann"));
    assert_eq!(
        tracker.record(&request("/static/app.js", user, "s", "10.0.0.1:1")),
        Outcome::Excluded
    );
    assert_eq!(
        tracker.record(&request("/health", user, "s", "10.0.0.1:1")),
        Outcome::Excluded
    );
    assert_eq!(
        tracker.record(&request("/healthy", user, "s", "10.0.0.1:1")),
        Outcome::Queued
    );
    tracker.flush().await.expect("flush");
    assert_eq!(tracker.count().await.expect("count"), 1);
    assert_eq!(tracker.stats().excluded, 2);
}

async fn custom_entry_with_a_header_dimension(backend: Backend) {
    let tracker: Tracker<ServiceEntry> = tracker(&backend, config(&backend));
    for (user, service) in [("1", "billing"), ("2", "billing"), ("3", "search")] {
        let mut r = request("/", Some((user, user)), &format!("s{user}"), "10.0.0.1:1");
        r.headers_mut()
            .insert("x-service-id", service.parse().expect("header"));
        assert_eq!(tracker.record(&r), Outcome::Queued);
    }
    tracker.record(&request("/", Some(("4", "d")), "s4", "10.0.0.1:1"));
    tracker.flush().await.expect("flush");
    assert_eq!(tracker.count().await.expect("count"), 4);
    assert_eq!(
        tracker
            .count_by("service_id")
            .await
            .expect("by service")
            .top,
        vec![("billing".to_owned(), 2), ("search".to_owned(), 1)]
    );
    assert_eq!(
        tracker
            .count_distinct("service_id")
            .await
            .expect("distinct"),
        2
    );
    let page = tracker.list(10, None).await.expect("list");
    let services: HashSet<_> = page
        .entries
        .iter()
        .map(|a| a.entry.service_id.clone())
        .collect();
    assert_eq!(
        services,
        HashSet::from([Some("billing".into()), Some("search".into()), None])
    );
}

async fn distinct_users_are_not_sessions(backend: Backend) {
    let tracker: Tracker<DefaultEntry> = tracker(&backend, config(&backend));
    // One user on three devices, another on one: four entries, two users.
    for (session, peer) in [("a", "10.0.0.1:1"), ("b", "10.0.0.2:1"), ("c", "[::1]:1")] {
        tracker.record(&request("/", Some(("1", "ann")), session, peer));
    }
    tracker.record(&request("/", Some(("2", "bob")), "d", "10.0.0.9:1"));
    tracker.flush().await.expect("flush");
    assert_eq!(tracker.count().await.expect("count"), 4);
    assert_eq!(
        tracker.count_distinct("user_id").await.expect("distinct"),
        2
    );
    // user_id keeps distinct values only: no per-user sets are written.
    assert!(matches!(
        tracker.count_by("user_id").await,
        Err(QueryError::NotGrouped(f)) if f == "user_id"
    ));
    assert!(matches!(
        tracker.count_distinct("username").await,
        Err(QueryError::NotIndexed(f)) if f == "username"
    ));
    assert!(matches!(
        tracker.count_by("nope").await,
        Err(QueryError::UnknownField(f)) if f == "nope"
    ));
}

async fn two_trackers_share_a_namespace(backend: Backend) {
    let a: Tracker<DefaultEntry> = tracker(&backend, config(&backend));
    let b: Tracker<DefaultEntry> = tracker(&backend, config(&backend));
    a.record(&request("/", Some(("1", "ann")), "s1", "10.0.0.1:1"));
    b.record(&request("/", Some(("2", "bob")), "s2", "10.0.0.2:1"));
    // The same visitor seen by both servers is one entry.
    b.record(&request("/", Some(("1", "ann")), "s1", "10.0.0.1:1"));
    a.flush().await.expect("flush a");
    b.flush().await.expect("flush b");
    for t in [&a, &b] {
        assert_eq!(t.count().await.expect("count"), 2);
        assert_eq!(t.count_distinct("user_id").await.expect("distinct"), 2);
    }
}

async fn two_namespaces_are_separate(backend: Backend) {
    let a: Tracker<DefaultEntry> = tracker(&backend, config(&backend).namespace("shop"));
    let b: Tracker<DefaultEntry> = tracker(&backend, config(&backend).namespace("blog"));
    a.record(&request("/", Some(("1", "ann")), "s1", "10.0.0.1:1"));
    a.record(&request("/", Some(("2", "bob")), "s2", "10.0.0.2:1"));
    b.record(&request("/", Some(("3", "cy")), "s3", "10.0.0.3:1"));
    a.flush().await.expect("flush");
    b.flush().await.expect("flush");
    assert_eq!(a.count().await.expect("count"), 2);
    assert_eq!(b.count().await.expect("count"), 1);
    assert_eq!(b.count_distinct("user_id").await.expect("distinct"), 1);
}

fn nasty_entries() -> Vec<DefaultEntry> {
    let ip = |s: &str| Some(s.parse::<IpAddr>().expect("ip"));
    vec![
        DefaultEntry {
            user_id: "1:2:3".into(),
            session_id: Some("a:b".into()),
            ip: ip("2001:db8::ff00:42:8329"),
            username: Some("eve:admin".into()),
        },
        DefaultEntry {
            user_id: "\0\n\r\\".into(),
            session_id: Some(String::new()),
            ip: ip("::ffff:10.0.0.1"),
            username: Some("日本語 ünïcödé".into()),
        },
        DefaultEntry {
            user_id: String::new(),
            session_id: None,
            ip: None,
            username: None,
        },
        DefaultEntry {
            user_id: "x".repeat(256),
            session_id: Some("}{au:*".into()),
            ip: ip("0.0.0.0"),
            username: Some(" ".into()),
        },
    ]
}

async fn nasty_values_round_trip_through_the_store(backend: Backend) {
    let tracker: Tracker<DefaultEntry> = tracker(&backend, config(&backend));
    let entries = nasty_entries();
    for entry in &entries {
        assert_eq!(tracker.record_entry(entry), Outcome::Queued);
    }
    tracker.flush().await.expect("flush");
    let page = tracker.list(100, None).await.expect("list");
    let mut got: Vec<_> = page.entries.into_iter().map(|a| a.entry).collect();
    let mut want = entries.clone();
    got.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    want.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    // The session id is a secret: it comes back as its keyed hash, present where it was.
    for (got, want) in got.iter_mut().zip(&mut want) {
        let hashed = got.session_id.take();
        match (want.session_id.take(), hashed) {
            (None, None) => {}
            (Some(clear), Some(hashed)) => {
                assert_eq!(hashed.len(), 11, "{hashed:?}");
                assert_ne!(hashed, clear);
            }
            (want, got) => panic!("session {want:?} came back as {got:?}"),
        }
    }
    assert_eq!(got, want);
    assert_eq!(
        tracker.count_distinct("user_id").await.expect("distinct"),
        4
    );
    for entry in &entries {
        assert!(tracker.last_seen(entry).await.expect("last seen").is_some());
    }
}

async fn pages_cover_every_entry_once(backend: Backend) {
    let tracker: Tracker<DefaultEntry> = tracker(&backend, config(&backend).batch_size(7));
    let n = 53;
    for i in 0..n {
        tracker.record(&request(
            "/",
            Some((&i.to_string(), "u")),
            "s",
            "10.0.0.1:1",
        ));
    }
    tracker.flush().await.expect("flush");
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = tracker.list(10, cursor).await.expect("page");
        pages += 1;
        assert!(page.entries.len() <= 10);
        seen.extend(page.entries.into_iter().map(|a| a.entry.user_id));
        match page.next {
            Some(next) => {
                // The cursor survives a round trip through text, as an HTTP API hands it out.
                cursor = Some(next.to_string().parse().expect("cursor"));
            }
            None => break,
        }
        assert!(pages < 20, "pagination does not end");
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), n, "no entry twice");
    assert_eq!(unique.len(), n, "every entry");
}

async fn repeats_are_coalesced(backend: Backend) {
    let tracker: Tracker<DefaultEntry> = tracker(&backend, config(&backend));
    let r = request("/", Some(("1", "ann")), "s1", "10.0.0.1:1");
    assert_eq!(tracker.record(&r), Outcome::Queued);
    for _ in 0..49 {
        assert_eq!(tracker.record(&r), Outcome::Coalesced);
    }
    tracker.flush().await.expect("flush");
    for _ in 0..50 {
        assert_eq!(tracker.record(&r), Outcome::Coalesced);
    }
    tracker.flush().await.expect("flush");
    let stats = tracker.stats();
    assert_eq!((stats.written, stats.coalesced), (1, 99));
    assert_eq!(tracker.count().await.expect("count"), 1);
}

async fn last_seen_and_shorter_windows(backend: Backend) {
    let tracker: Tracker<DefaultEntry> = tracker(
        &backend,
        config(&backend)
            .key_expire(Duration::from_secs(5))
            .refresh_interval(Duration::from_millis(10)),
    );
    let old = request("/", Some(("1", "ann")), "s1", "10.0.0.1:1");
    tracker.record(&old);
    tracker.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(400)).await;
    tracker.record(&request("/", Some(("2", "bob")), "s2", "10.0.0.2:1"));
    tracker.flush().await.expect("flush");

    assert_eq!(tracker.count().await.expect("count"), 2);
    let recent = tracker.within(Duration::from_millis(300));
    assert_eq!(recent.count().await.expect("count"), 1);
    assert_eq!(recent.count_distinct("user_id").await.expect("distinct"), 1);
    assert_eq!(recent.list(10, None).await.expect("list").entries.len(), 1);
    assert!(matches!(
        tracker.within(Duration::from_secs(60)).count().await,
        Err(QueryError::WindowTooLong { .. })
    ));

    let entry = DefaultEntry::from_request(&old, tracker.extract_context()).expect("entry");
    let seen = tracker
        .last_seen(&entry)
        .await
        .expect("query")
        .expect("active");
    let age = seen.elapsed().unwrap_or_default();
    assert!(
        age >= Duration::from_millis(300) && age < Duration::from_secs(5),
        "{age:?}"
    );
    assert!(recent.last_seen(&entry).await.expect("query").is_none());
    let stranger = DefaultEntry {
        user_id: "nobody".into(),
        session_id: None,
        ip: None,
        username: None,
    };
    assert!(tracker.last_seen(&stranger).await.expect("query").is_none());
}

async fn undecodable_members_are_skipped_and_counted(backend: Backend) {
    let tracker: Tracker<DefaultEntry> = tracker(&backend, config(&backend));
    tracker.record(&request("/", Some(("1", "ann")), "s1", "10.0.0.1:1"));
    tracker.flush().await.expect("flush");
    // Another version or corruption put members here that are not DefaultEntry members.
    let key = tracker.shard_keys()[0].clone();
    let junk = Touch::seen(
        key,
        vec![
            Member::from(&b"\xff\x00junk"[..]),
            Member::from(&b""[..]),
            Member::from(&b"\x01\x05ab"[..]),
        ],
    );
    backend
        .store()
        .touch(
            &[junk],
            active_users::store::WritePolicy::new(Duration::from_secs(20)),
        )
        .await
        .expect("write junk");
    let page = tracker.list(100, None).await.expect("list");
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.undecodable, 3);
    assert_eq!(tracker.stats().undecodable, 3);
}

async fn shutdown_writes_what_is_buffered(backend: Backend) {
    let builder = config(&backend).flush_interval(Duration::from_secs(3600));
    let tracker: Tracker<DefaultEntry> = tracker(&backend, builder.clone());
    tracker.record(&request("/", Some(("1", "ann")), "s1", "10.0.0.1:1"));
    assert_eq!(tracker.stats().pending, 1);
    tracker.shutdown().await.expect("shutdown");
    let reader: Tracker<DefaultEntry> = tracker_for_reading(&backend, builder);
    assert_eq!(reader.count().await.expect("count"), 1);
}

fn tracker_for_reading(backend: &Backend, builder: ConfigBuilder) -> Tracker<DefaultEntry> {
    tracker(backend, builder)
}

async fn the_background_writer_flushes_by_itself(backend: Backend) {
    let builder = config(&backend).flush_interval(Duration::from_millis(20));
    let tracker: Tracker<DefaultEntry> = tracker(&backend, builder);
    tracker.record(&request("/", Some(("1", "ann")), "s1", "10.0.0.1:1"));
    let mut count = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        count = tracker.count().await.expect("count");
        if count == 1 {
            break;
        }
    }
    assert_eq!(count, 1, "the entry was written without an explicit flush");
}

async fn bots_are_excluded_and_ips_anonymized(backend: Backend) {
    let builder = config(&backend)
        .exclude_bots()
        .anonymize_ips(active_users::IpAnonymization::TRUNCATE);
    let tracker: Tracker<DefaultEntry> = tracker(&backend, builder);
    let mut bot = request("/", Some(("1", "crawler")), "s1", "66.249.66.1:1");
    bot.headers_mut().insert(
        "user-agent",
        "Mozilla/5.0 (compatible; Googlebot/2.1)"
            .parse()
            .expect("header"),
    );
    assert_eq!(tracker.record(&bot), Outcome::Excluded);
    let mut person = request("/", Some(("2", "ann")), "s2", "[2001:db8:abcd:12::9]:1");
    person.headers_mut().insert(
        "user-agent",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0"
            .parse()
            .expect("header"),
    );
    assert_eq!(tracker.record(&person), Outcome::Queued);
    tracker.flush().await.expect("flush");
    let page = tracker.list(10, None).await.expect("list");
    assert_eq!(page.entries.len(), 1);
    assert_eq!(
        page.entries[0].entry.ip,
        Some("2001:db8:abcd::".parse().expect("ip")),
        "stored as its /48"
    );
}

/// `counts()` reads the count and every distinct count from one snapshot per shard: while two
/// app servers write new users and old ones expire, a field never has more distinct values
/// than there are entries (separate queries at different moments could say so).
async fn counts_agree_under_concurrent_writes(backend: Backend) {
    let builder = || {
        config(&backend)
            .key_expire(Duration::from_millis(800))
            .refresh_interval(Duration::from_millis(50))
            .flush_interval(Duration::from_millis(20))
    };
    let writers: Vec<Tracker<ServiceEntry>> =
        (0..2).map(|_| tracker(&backend, builder())).collect();
    let reader_tracker: Tracker<ServiceEntry> = tracker(&backend, builder());
    reader_tracker
        .flush()
        .await
        .expect("flush writes the description");
    let reader =
        active_users::Reader::with_store(builder().build().expect("config"), backend.store())
            .await
            .expect("reader");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (w, writer) in writers.into_iter().enumerate() {
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // One session per user, as most visitors have: users and entries are nearly
                // equal, so counts taken at two moments would disagree.
                let user = format!("{w}-{i}");
                let mut r = request("/", Some((&user, "n")), "a", "10.0.0.1:1");
                let service = ["billing", "search", "cart"][(i % 3) as usize];
                r.headers_mut()
                    .insert("x-service-id", service.parse().expect("header"));
                writer.record(&r);
                i += 1;
                if i.is_multiple_of(10) {
                    let _ = writer.flush().await;
                    tokio::task::yield_now().await;
                }
            }
            writer.flush().await.expect("final flush");
        }));
    }
    let started = std::time::Instant::now();
    let mut checks = 0;
    let mut max_entries = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        let counts = reader_tracker.counts().await.expect("counts");
        let raw = reader.counts().await.expect("reader counts");
        for c in [&counts, &raw] {
            let users = c.distinct("user_id").expect("user_id is indexed");
            let services = c.distinct("service_id").expect("service_id is indexed");
            assert!(users <= c.entries, "{c:?}");
            assert!(services <= c.entries, "{c:?}");
            assert!(services <= 3, "{c:?}");
        }
        max_entries = max_entries.max(counts.entries);
        checks += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in tasks {
        task.await.expect("writer");
    }
    assert!(
        checks >= 10 && max_entries > 0,
        "{checks} checks, up to {max_entries} entries"
    );
}

/// `values` pages through each active value once, for the field that picks the shard and for
/// one whose values are in every shard, with their entries where the field keeps them.
async fn values_page_through_each_value_once(backend: Backend) {
    let tracker: Tracker<ServiceEntry> = tracker(&backend, config(&backend).batch_size(9));
    let services = ["a", "b", "c", "d", "e"];
    let mut entries = 0;
    for user in 0..30 {
        for session in 0..(1 + user % 3) {
            let id = user.to_string();
            let mut r = request("/", Some((&id, "n")), &format!("s{session}"), "10.0.0.1:1");
            r.headers_mut()
                .insert("x-service-id", services[user % 5].parse().expect("header"));
            assert!(tracker.record(&r).is_recorded());
            entries += 1;
        }
    }
    tracker.flush().await.expect("flush");
    for (field, limit, want) in [("user_id", 7, 30), ("service_id", 2, 5)] {
        let mut seen = Vec::new();
        let mut sum = 0;
        let mut cursor = None;
        loop {
            let page = tracker.values(field, limit, cursor).await.expect("values");
            assert!(page.values.len() <= limit);
            for v in &page.values {
                seen.push(v.value.clone());
                sum += v.entries.unwrap_or(0);
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let distinct: HashSet<&String> = seen.iter().collect();
        assert_eq!(
            distinct.len(),
            seen.len(),
            "{field}: each value once: {seen:?}"
        );
        assert_eq!(seen.len(), want, "{field}: every value");
        if field == "service_id" {
            assert_eq!(sum, entries, "the entries of each service add up");
        }
    }
    assert!(matches!(
        tracker.values("ip", 10, None).await,
        Err(QueryError::NotIndexed(_))
    ));
}

macro_rules! behaviour_suite {
    ($store:ident, $backend:expr) => {
        store_suite!($store, $backend;
            record_then_count_and_list,
            entries_expire_after_the_window,
            excluded_paths_are_not_recorded,
            custom_entry_with_a_header_dimension,
            distinct_users_are_not_sessions,
            two_trackers_share_a_namespace,
            two_namespaces_are_separate,
            nasty_values_round_trip_through_the_store,
            pages_cover_every_entry_once,
            repeats_are_coalesced,
            last_seen_and_shorter_windows,
            undecodable_members_are_skipped_and_counted,
            shutdown_writes_what_is_buffered,
            the_background_writer_flushes_by_itself,
            bots_are_excluded_and_ips_anonymized,
            counts_agree_under_concurrent_writes,
            values_page_through_each_value_once,
        );
    };
}

behaviour_suite!(memory, Backend::memory());
behaviour_suite!(redis, Backend::redis());
behaviour_suite!(memory_8_shards, Backend::memory().sharded(8));
behaviour_suite!(redis_8_shards, Backend::redis().sharded(8));
behaviour_suite!(cluster, Backend::cluster());
behaviour_suite!(cluster_8_shards, Backend::cluster().sharded(8));

/// An entry type without a user field: the cap applies per client IP.
#[derive(Debug, active_users::ActiveUserEntry)]
struct Anonymous {
    #[from_client_ip]
    ip: Option<IpAddr>,
    #[from_cookie("visitor")]
    visitor: Option<String>,
}

#[tokio::test]
async fn without_a_user_field_the_cap_is_per_client_ip() {
    let config = Config::builder()
        .max_entries_per_user(10)
        .build()
        .expect("config");
    let tracker = Tracker::<Anonymous>::new(config, MemoryStore::new()).expect("tracker");
    let ip = |s: &str| Some(s.parse::<IpAddr>().expect("ip"));
    let mut outcomes = Vec::new();
    for i in 0..25 {
        outcomes.push(tracker.record_entry(&Anonymous {
            ip: ip("203.0.113.9"),
            visitor: Some(format!("v{i}")),
        }));
    }
    assert_eq!(
        outcomes.iter().filter(|o| o.is_recorded()).count(),
        10,
        "{outcomes:?}"
    );
    assert_eq!(outcomes[24], Outcome::Refused);
    assert!(
        tracker
            .record_entry(&Anonymous {
                ip: ip("198.51.100.1"),
                visitor: Some("v0".into()),
            })
            .is_recorded(),
        "another address has its own cap"
    );
    tracker.flush().await.expect("flush");
    assert_eq!(tracker.count().await.expect("count"), 11);
    assert_eq!(tracker.stats().refused, 15);
    // 0 turns the cap off.
    let uncapped = Tracker::<Anonymous>::new(
        Config::builder()
            .max_entries_per_user(0)
            .build()
            .expect("config"),
        MemoryStore::new(),
    )
    .expect("tracker");
    for i in 0..25 {
        assert!(
            uncapped
                .record_entry(&Anonymous {
                    ip: ip("203.0.113.9"),
                    visitor: Some(format!("v{i}")),
                })
                .is_recorded()
        );
    }
}

/// An entry type whose user is optional: an entry without one is capped by its client IP
/// (else anonymous visitors with fresh cookies would not be capped at all).
#[derive(Debug, active_users::ActiveUserEntry)]
struct MaybeUser {
    #[from_header("x-user")]
    #[active_users(distinct)]
    user_id: Option<String>,
    #[from_cookie("sessionid")]
    #[active_users(secret)]
    session: Option<String>,
    #[from_client_ip]
    ip: Option<IpAddr>,
}

#[tokio::test]
async fn an_entry_without_its_user_is_capped_by_its_client_ip() {
    let config = Config::builder()
        .max_entries_per_user(5)
        .build()
        .expect("config");
    let tracker = Tracker::<MaybeUser>::new(config, MemoryStore::new()).expect("tracker");
    let anonymous = |ip: &str, i: u32| MaybeUser {
        user_id: None,
        session: Some(format!("s{i}")),
        ip: Some(ip.parse().expect("ip")),
    };
    let recorded = (0..100)
        .filter(|&i| {
            tracker
                .record_entry(&anonymous("203.0.113.9", i))
                .is_recorded()
        })
        .count();
    assert_eq!(recorded, 5);
    assert!(
        tracker
            .record_entry(&anonymous("203.0.113.10", 0))
            .is_recorded()
    );
    // A logged-in user from that address has a cap of its own.
    let user = MaybeUser {
        user_id: Some("42".into()),
        ..anonymous("203.0.113.9", 1000)
    };
    assert!(tracker.record_entry(&user).is_recorded());
    assert_eq!(tracker.stats().refused, 95);
    assert!(
        Config::builder()
            .max_entries_per_user(1001)
            .build()
            .is_err()
    );
}
