//! History (the active count per minute, sampled once per namespace), unique visitors
//! (HyperLogLog) and the `Reader`, on the in-memory store with a clock the tests move, and on
//! real `redis-server`s.

#[macro_use]
mod support;

use active_users::store::{ManualClock, Sample, Store};
use active_users::{
    ActiveUserEntry, Config, ConfigBuilder, DefaultEntry, MemoryStore, QueryError, Reader, Tracker,
    UNIQUE_STANDARD_ERROR,
};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::Backend;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// 2027-01-15 08:00:00 UTC: a whole hour, so minute and hour buckets are easy to reason about.
fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn user(id: u64) -> DefaultEntry {
    DefaultEntry {
        user_id: id.to_string(),
        session_id: Some(format!("s{id}")),
        ip: None,
        username: None,
    }
}

fn tracker_on(store: Arc<dyn Store>, config: ConfigBuilder) -> Tracker<DefaultEntry> {
    Tracker::with_store(config.build().expect("config"), store).expect("tracker")
}

fn record_users(tracker: &Tracker<DefaultEntry>, ids: impl IntoIterator<Item = u64>) {
    for id in ids {
        assert!(tracker.record_entry(&user(id)).is_recorded());
    }
}

fn minutes_after_start(points: &[active_users::HistoryPoint]) -> Vec<(u64, u64)> {
    points
        .iter()
        .map(|p| {
            let offset = p.at.duration_since(start()).expect("after start").as_secs();
            assert_eq!(offset % 60, 0, "points are at whole minutes");
            (offset / 60, p.active)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_keeps_each_minutes_peak_sampled_once_per_slot_across_trackers() {
    let clock = ManualClock::new(start());
    let store: Arc<dyn Store> = Arc::new(MemoryStore::with_clock(clock.clone()));
    let config = || Config::builder().key_expire(5 * MINUTE);
    // Three app servers sharing one store.
    let trackers: Vec<_> = (0..3)
        .map(|_| tracker_on(store.clone(), config()))
        .collect();
    let ten_seconds = active_users::SAMPLE_EVERY;
    assert_eq!(ten_seconds, Duration::from_secs(10));

    // 0:00: 3 users; every tracker flushes, the first one samples.
    record_users(&trackers[0], 0..3);
    for t in &trackers {
        t.flush().await.expect("flush");
    }
    // 1:00: 2 more users on another server, which flushes first, twice.
    clock.advance(MINUTE);
    record_users(&trackers[1], 3..5);
    for t in [&trackers[1], &trackers[1], &trackers[2], &trackers[0]] {
        t.flush().await.expect("flush");
    }
    // 2:00: 10 more on the third server, but the first flushes before it: this slot's sample
    // is the count when the first tracker got there (5), and nobody samples it again.
    clock.advance(MINUTE);
    record_users(&trackers[2], 5..15);
    for t in [&trackers[0], &trackers[2], &trackers[1]] {
        t.flush().await.expect("flush");
    }
    let so_far = trackers[0].history(HOUR).await.expect("history");
    assert_eq!(minutes_after_start(&so_far).last(), Some(&(2, 5)));
    // 2:10: the next slot sees all 15, which becomes the minute's peak.
    clock.advance(ten_seconds);
    trackers[1].flush().await.expect("flush");
    // 3:00: one flush.
    clock.advance(MINUTE - ten_seconds);
    trackers[2].flush().await.expect("flush");
    // 5:00 still counts everyone; at 5:10 the users of 0:00 are older than the window, but the
    // minute keeps its peak.
    clock.advance(2 * MINUTE);
    trackers[0].flush().await.expect("flush");
    clock.advance(ten_seconds);
    trackers[0].flush().await.expect("flush");
    assert_eq!(trackers[0].count().await.expect("count"), 12);
    // 9:00: everyone is older than the 5-minute window.
    clock.advance(4 * MINUTE - ten_seconds);
    for t in &trackers {
        t.flush().await.expect("flush");
    }

    let points = trackers[0].history(HOUR).await.expect("history");
    assert_eq!(
        minutes_after_start(&points),
        [(0, 3), (1, 5), (2, 15), (3, 15), (5, 15), (9, 0)],
        "one point per minute that saw a flush: the highest of its samples"
    );
    let peak = trackers[1].peak(HOUR).await.expect("peak").expect("a peak");
    assert_eq!(peak.active, 15);
    assert_eq!(peak.at, start() + 2 * MINUTE, "the earliest of equal peaks");
    // A shorter span sees only its minutes.
    let recent = trackers[2].history(7 * MINUTE).await.expect("history");
    assert_eq!(
        minutes_after_start(&recent),
        [(2, 15), (3, 15), (5, 15), (9, 0)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_keeps_its_span_and_says_what_it_cannot_answer() {
    let clock = ManualClock::new(start());
    let store: Arc<dyn Store> = Arc::new(MemoryStore::with_clock(clock.clone()));
    let tracker = tracker_on(store.clone(), Config::builder().history(HOUR));
    for minute in 0..90u64 {
        record_users(&tracker, [minute]);
        tracker.flush().await.expect("flush");
        clock.advance(MINUTE);
    }
    clock.set(start() + 89 * MINUTE);
    let points = tracker.history(HOUR).await.expect("history");
    // Minutes 29 to 89 are within the last hour; older ones were dropped when written.
    assert_eq!(points.len(), 61);
    assert_eq!(points[0].at, start() + 29 * MINUTE);
    assert!(matches!(
        tracker.history(2 * HOUR).await,
        Err(QueryError::SpanTooLong { asked, kept }) if asked == 2 * HOUR && kept == HOUR
    ));

    let off = tracker_on(store, Config::builder().history(Duration::ZERO));
    assert!(matches!(
        off.history(MINUTE).await,
        Err(QueryError::HistoryOff)
    ));
    assert!(matches!(
        off.unique(MINUTE).await,
        Err(QueryError::HistoryOff)
    ));
    assert!(
        Config::builder()
            .history(Duration::from_secs(5))
            .build()
            .is_err(),
        "a history shorter than a minute is refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_visitors_by_minute_for_the_last_hour_and_by_hour_beyond() {
    let clock = ManualClock::new(start());
    let store: Arc<dyn Store> = Arc::new(MemoryStore::with_clock(clock.clone()));
    let tracker = tracker_on(store.clone(), Config::builder());

    // 08:00: users 0..1000. 08:30: users 750..1250 (250 return). 10:10: users 5000..5100.
    record_users(&tracker, 0..1000);
    tracker.flush().await.expect("flush");
    clock.advance(30 * MINUTE);
    // Another app server: the first one would coalesce its returning users by its own
    // (real-time) refresh interval, which this test does not wait for.
    let tracker = tracker_on(store.clone(), Config::builder());
    record_users(&tracker, 750..1250);
    tracker.flush().await.expect("flush");

    let within = |got: u64, exact: u64| {
        let error = (got as f64 - exact as f64).abs() / exact as f64;
        assert!(
            error <= 3.0 * UNIQUE_STANDARD_ERROR,
            "{got} against {exact}: error {error:.4}"
        );
    };
    let last_hour = tracker.unique(HOUR).await.expect("unique").visitors;
    within(last_hour, 1250);
    // The last hour is read from the union the sampling tracker built for this minute (two
    // sketches), and agrees exactly with counting the 61 minute sketches (another span with
    // the same buckets).
    let merged = store.get("au:{default}:merged:m").await.expect("get");
    let minute = (1_800_000_000 + 30 * 60) / 60;
    assert_eq!(merged, Some(minute.to_string().into_bytes()));
    let counted = tracker
        .unique(HOUR - Duration::from_secs(30))
        .await
        .expect("unique");
    assert_eq!(counted.visitors, last_hour);
    let last_ten = tracker.unique(10 * MINUTE).await.expect("unique");
    within(last_ten.visitors, 500);
    assert_eq!(last_ten.since, start() + 20 * MINUTE);

    clock.advance(100 * MINUTE); // 10:10
    record_users(&tracker, 5000..5100);
    tracker.flush().await.expect("flush");
    within(tracker.unique(HOUR).await.expect("unique").visitors, 100);
    // Three hours back reaches 07:10, so the 07:00 to 10:00 buckets count.
    let day = tracker.unique(3 * HOUR).await.expect("unique");
    within(day.visitors, 1350);
    assert_eq!(day.since, start() - HOUR);
    // A whole day reads the union of the 24 hours before this one, built by the sampler.
    let whole_day = tracker.unique(24 * HOUR).await.expect("unique");
    let merged = store.get("au:{default}:merged:d").await.expect("get");
    assert_eq!(
        merged,
        Some(((1_800_000_000 + 2 * 3600) / 3600).to_string().into_bytes())
    );
    let counted = tracker
        .unique(24 * HOUR - 30 * MINUTE)
        .await
        .expect("unique");
    assert_eq!(whole_day.visitors, counted.visitors);
    within(whole_day.visitors, 1350);
}

/// Records `total` synthetic users and checks the unique-visitor estimate at several sizes.
/// The session ids are hashed under the namespace's key, which is random unless configured:
/// a fixed key makes the members, and so the estimates, the same on every run.
async fn unique_error_is_within_the_bound(backend: Backend) {
    let config = Config::builder()
        .namespace(backend.namespace.clone())
        .shards(backend.shards)
        .secret_key("a fixed key for reproducible sketches");
    let tracker = tracker_on(backend.store(), config);
    let checkpoints = [1_000u64, 10_000, 50_000, 100_000, 200_000, 300_000];
    let mut recorded = 0;
    let mut squares = 0.0;
    for &target in &checkpoints {
        while recorded < target {
            let next = (recorded + 20_000).min(target);
            record_users(&tracker, recorded..next);
            tracker.flush().await.expect("flush");
            recorded = next;
        }
        let got = tracker.unique(HOUR).await.expect("unique").visitors;
        let error = (got as f64 - target as f64) / target as f64;
        println!(
            "unique visitors: {target} recorded, {got} estimated, error {:+.3}%",
            error * 100.0
        );
        assert!(
            error.abs() <= 3.0 * UNIQUE_STANDARD_ERROR,
            "{target} users estimated as {got}: error {error:.4} beyond three standard errors"
        );
        squares += error * error;
    }
    let rms = (squares / checkpoints.len() as f64).sqrt();
    println!(
        "unique visitors: RMS error {:.3}% over {} sizes (standard error {:.2}%)",
        rms * 100.0,
        checkpoints.len(),
        UNIQUE_STANDARD_ERROR * 100.0
    );
    // The sizes are nested (each set holds the previous), so their errors move together:
    // their RMS is about one estimate's error, beyond 2 standard errors 5% of the time.
    assert!(
        rms <= 2.0 * UNIQUE_STANDARD_ERROR,
        "RMS error {rms:.4} is well beyond the standard error"
    );
    // The exact count of the same users, for comparison: every one is still active.
    assert_eq!(tracker.count().await.expect("count"), 300_000);
}

store_suite!(memory, Backend::memory(); unique_error_is_within_the_bound);
store_suite!(redis, Backend::redis(); unique_error_is_within_the_bound);
store_suite!(cluster_8_shards, Backend::cluster().sharded(8); unique_error_is_within_the_bound);

/// Two trackers on one Redis: each minute has one sample, and the reader sees what the
/// trackers wrote.
async fn reader_reads_a_namespace_without_the_entry_type(backend: Backend) {
    let config = || {
        Config::builder()
            .namespace(backend.namespace.clone())
            .shards(backend.shards)
    };
    let unknown = Reader::with_store(
        Config::builder()
            .namespace("nobody-here")
            .build()
            .expect("config"),
        backend.store(),
    )
    .await;
    match unknown {
        Err(QueryError::UnknownNamespace { namespace, key }) => {
            assert_eq!(namespace, "nobody-here");
            assert!(key.contains("nobody-here"), "{key}");
        }
        other => panic!("expected UnknownNamespace, got {other:?}"),
    }

    let a = tracker_on(backend.store(), config());
    let b = tracker_on(backend.store(), config());
    let mut request = http::Request::get("/").body(()).expect("request");
    request
        .extensions_mut()
        .insert(active_users::User::new("7").with_name("grace"));
    request.extensions_mut().insert(active_users::PeerAddr(
        "[2001:db8::7]:4000".parse().expect("addr"),
    ));
    assert!(a.record(&request).is_recorded());
    record_users(&b, 100..104);
    a.flush().await.expect("flush");
    b.flush().await.expect("flush");

    // The reader is told only the namespace: shards and fields come from the description.
    let reader = Reader::with_store(
        Config::builder()
            .namespace(backend.namespace.clone())
            .build()
            .expect("config"),
        backend.store(),
    )
    .await
    .expect("reader");
    assert_eq!(reader.shards(), backend.shards);
    let names: Vec<&str> = reader.fields().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        DefaultEntry::fields()
            .iter()
            .map(|f| f.name)
            .collect::<Vec<_>>()
    );
    assert_eq!(reader.count().await.expect("count"), 5);
    assert_eq!(reader.count_distinct("user_id").await.expect("distinct"), 5);
    let page = reader.list(100, None).await.expect("list");
    assert_eq!(page.entries.len(), 5);
    let grace = page
        .entries
        .iter()
        .find(|e| e.value("user_id") == Some("7"))
        .expect("grace is listed");
    assert_eq!(grace.value("username"), Some("grace"));
    assert_eq!(grace.value("ip"), Some("2001:db8::7"));
    assert_eq!(grace.value("session_id"), None);
    let history = reader.history(HOUR).await.expect("history");
    assert!(!history.is_empty(), "the first flush samples its minute");
    let mut minutes: Vec<SystemTime> = history.iter().map(|p| p.at).collect();
    minutes.dedup();
    assert_eq!(minutes.len(), history.len(), "one point per minute");
    let unique = reader.unique(HOUR).await.expect("unique");
    assert_eq!(unique.visitors, 5);
}

/// The store operations history rests on: a claim is won once per slot, a series keeps the
/// highest value per time and drops what is older than it keeps.
async fn claims_and_series_on_the_store(backend: Backend) {
    let store = backend.store();
    let claim = format!("au:{{{}}}:claim-test", backend.namespace);
    let ttl = Duration::from_secs(60);
    for (slot, won) in [(5, true), (5, false), (4, false), (6, true), (6, false)] {
        assert_eq!(
            store.claim(&claim, slot, ttl).await.expect("claim"),
            won,
            "slot {slot}"
        );
    }
    let key = format!("au:{{{}}}:series-test", backend.namespace);
    let keep = HOUR;
    let sample = |at: u64, value: u64| Sample { at, value };
    for value in [3, 7, 5] {
        store
            .add_sample(&key, sample(60_000, value), keep)
            .await
            .expect("add");
    }
    store
        .add_sample(&key, sample(120_000, 1), keep)
        .await
        .expect("add");
    assert_eq!(
        store.samples(&key, 0, u64::MAX).await.expect("samples"),
        [sample(60_000, 7), sample(120_000, 1)]
    );
    assert_eq!(
        store
            .samples(&key, 61_000, u64::MAX)
            .await
            .expect("samples"),
        [sample(120_000, 1)]
    );
    // A sample an hour and a minute later drops the first one.
    store
        .add_sample(&key, sample(3_720_000, 2), keep)
        .await
        .expect("add");
    assert_eq!(
        store.samples(&key, 0, u64::MAX).await.expect("samples"),
        [sample(120_000, 1), sample(3_720_000, 2)]
    );
    let stored = store.get(&claim).await.expect("get");
    assert_eq!(stored.as_deref(), Some(&b"6"[..]));
}

store_suite!(store_memory, Backend::memory(); claims_and_series_on_the_store);
store_suite!(store_redis, Backend::redis(); claims_and_series_on_the_store);

store_suite!(reader_memory, Backend::memory(); reader_reads_a_namespace_without_the_entry_type);
store_suite!(reader_redis, Backend::redis(); reader_reads_a_namespace_without_the_entry_type);
store_suite!(reader_cluster_8_shards, Backend::cluster().sharded(8); reader_reads_a_namespace_without_the_entry_type);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_trackers_keep_one_point_per_minute() {
    let backend = Backend::redis();
    let server = backend.redis.as_ref().expect("redis");
    let config = || Config::builder().namespace(backend.namespace.clone());
    let trackers: Vec<_> = (0..4)
        .map(|_| tracker_on(backend.store(), config()))
        .collect();
    for (i, t) in trackers.iter().enumerate() {
        record_users(t, [i as u64]);
    }
    for _ in 0..3 {
        for t in &trackers {
            t.flush().await.expect("flush");
        }
    }
    let key = format!("au:{{{}}}:history", backend.namespace);
    let raw = server.command(&format!("ZRANGE {key} 0 -1"));
    let samples: Vec<&str> = raw.lines().filter(|l| l.contains(':')).collect();
    let mut minutes: Vec<&str> = samples.iter().filter_map(|s| s.split(':').next()).collect();
    let before = minutes.len();
    minutes.dedup();
    assert!(!samples.is_empty(), "no sample written: {raw}");
    assert_eq!(before, minutes.len(), "a minute sampled twice: {raw}");
    let ttl: i64 = server
        .command(&format!("PTTL {key}"))
        .trim()
        .trim_start_matches(':')
        .parse()
        .expect("pttl");
    assert!(ttl > 0 && ttl <= 24 * 3600 * 1000, "history expires: {ttl}");
}

/// Under steady traffic a member is rewritten every refresh interval, but the sketches need it
/// once a minute: a rewrite within the same minute sends no `PFADD`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrites_within_a_minute_skip_the_sketches() {
    let backend = Backend::redis();
    let server = backend.redis.as_ref().expect("redis");
    let pfadd_calls = || {
        let stats = server.command("INFO commandstats");
        stats
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_pfadd:calls="))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let minute = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            / 60
    };
    let config = Config::builder()
        .namespace(backend.namespace.clone())
        .key_expire(Duration::from_secs(2))
        .refresh_interval(Duration::from_millis(50));
    let tracker = tracker_on(backend.store(), config);
    for attempt in 0..3 {
        let started = minute();
        record_users(&tracker, [attempt]);
        tracker.flush().await.expect("flush");
        let first = pfadd_calls();
        tokio::time::sleep(Duration::from_millis(80)).await;
        // Written again (the refresh interval passed), in the same minute.
        assert_eq!(
            tracker.record_entry(&user(attempt)),
            active_users::Outcome::Queued
        );
        tracker.flush().await.expect("flush");
        let second = pfadd_calls();
        if minute() != started {
            continue; // a minute boundary fell in between: the rewrite was due for the sketches
        }
        assert!(
            first >= 2,
            "the first write adds to a minute and an hour sketch"
        );
        assert_eq!(second, first, "the rewrite sent no PFADD");
        assert_eq!(tracker.stats().written, 2 * (attempt + 1));
        return;
    }
    panic!("three minute boundaries in a row");
}

/// An entry that waited in the buffer longer than the window is not active when written, and
/// does not raise the history; it still counts as a unique visitor of the minute it was seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_entry_counts_as_a_visitor_but_not_as_active() {
    let clock = ManualClock::new(start());
    let store: Arc<dyn Store> = Arc::new(MemoryStore::with_clock(clock.clone()));
    let window = Duration::from_millis(50);
    let tracker = tracker_on(
        store,
        Config::builder()
            .key_expire(window)
            .refresh_interval(Duration::from_millis(10))
            .flush_interval(Duration::from_secs(3600)),
    );
    record_users(&tracker, 0..10);
    // Longer than the window in the buffer (the store "was down").
    tokio::time::sleep(window * 3).await;
    tracker.flush().await.expect("flush");
    assert_eq!(tracker.count().await.expect("count"), 0, "not active");
    assert_eq!(tracker.stats().stale, 10);
    assert_eq!(tracker.stats().written, 0);
    let peak = tracker.peak(HOUR).await.expect("peak");
    assert!(peak.is_none_or(|p| p.active == 0), "{peak:?}");
    let unique = tracker.unique(HOUR).await.expect("unique");
    assert_eq!(unique.visitors, 10, "still visitors of their minute");
}

/// A page starts right after its position (score and member), wherever that member went:
/// still there, rescored since, or never there (a forged cursor); members of one score come in
/// byte order, as on Redis.
async fn a_page_starts_right_after_its_position(backend: Backend) {
    use active_users::store::{Member, Position, Touch, WritePolicy};
    let store = backend.store();
    let key = format!("au:{{{}}}:position-test", backend.namespace);
    let member = |i: u32| Member::from(format!("m{i:03}").into_bytes());
    // 30 members five seconds ago (one score), then 20 members now.
    let earlier: Vec<Member> = (0..30).map(member).collect();
    let later: Vec<Member> = (30..50).map(member).collect();
    let policy = WritePolicy::new(Duration::from_secs(60));
    store
        .touch(
            &[
                Touch::seen_ago(key.clone(), earlier.clone(), vec![5_000; 30]),
                Touch::seen_ago(key.clone(), later.clone(), vec![0; 20]),
            ],
            policy,
        )
        .await
        .expect("touch");
    let window = Duration::from_secs(60);
    let first = store.range(&key, window, None, 10).await.expect("range");
    let score = first[0].score;
    assert!(
        first.iter().all(|s| s.score == score),
        "one score: {first:?}"
    );
    let names = |page: &[active_users::store::Scored]| -> Vec<String> {
        page.iter()
            .map(|s| String::from_utf8_lossy(&s.member).into_owned())
            .collect()
    };
    let after = |member: &str| Position {
        score,
        member: member.as_bytes().to_vec(),
    };
    let want =
        |from: u32| -> Vec<String> { (from..from + 10).map(|i| format!("m{i:03}")).collect() };
    for (position, first) in [
        (after("m009"), 10),  // still there
        (after("m009x"), 10), // never there: between m009 and m010
        (after(""), 0),       // before every member of the score
        (after("m025"), 26),  // the page runs on into the later score
        (after("m029"), 30),
        (after("zzz"), 30), // after every member of the score
    ] {
        let page = store
            .range(&key, window, Some(&position), 10)
            .await
            .expect("range");
        assert_eq!(names(&page), want(first), "after {:?}", position.member);
    }
    // m015 is seen again: it moves to the end, and a page after its old place still starts
    // at m016.
    store
        .touch(&[Touch::seen(key.clone(), vec![member(15)])], policy)
        .await
        .expect("touch");
    let page = store
        .range(&key, window, Some(&after("m015")), 3)
        .await
        .expect("range");
    assert_eq!(names(&page), ["m016", "m017", "m018"]);
    // A position beyond any plausible score lists nothing.
    for far in [u64::MAX, 1 << 60, score + 3_600_000] {
        let from = Position {
            score: far,
            member: b"m000".to_vec(),
        };
        let page = store
            .range(&key, window, Some(&from), 10)
            .await
            .expect("range");
        assert!(page.is_empty(), "{far}: {page:?}");
    }
}

store_suite!(position_memory, Backend::memory(); a_page_starts_right_after_its_position);
store_suite!(position_redis, Backend::redis(); a_page_starts_right_after_its_position);
