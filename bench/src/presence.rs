//! Presence, measured: how soon another app server's subscriber hears of a join and of a leave,
//! and whether each is told exactly once.
//!
//! Two trackers on the same Redis namespace stand for two app servers, both with presence on
//! (both sweep). One records `visitors` new visitors in one burst; the other subscribes. A
//! join's latency is from its `record` call to its event reaching the subscriber; a leave's is
//! from the moment its window passed (the event's time) to the event reaching the subscriber.

use super::{Result, Row, fmt_int, fmt_secs};
use active_users::{Change, Config, DefaultEntry, RedisStore, Tracker};
use active_users_bench::{realistic_request, user_id};
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

/// The rows of the presence part, on the `redis-server` at `url`.
pub(crate) async fn rows(url: &str, visitors: u64, rows: &mut Vec<Row>) -> Result<()> {
    let window = Duration::from_secs(2);
    let config = Config::builder()
        .namespace("bench-presence")
        .key_expire(window)
        .presence(true)
        .build()?;
    let writer: Tracker<DefaultEntry> = Tracker::new(config.clone(), RedisStore::open(url)?)?;
    let watcher: Tracker<DefaultEntry> = Tracker::new(config, RedisStore::open(url)?)?;
    let mut events = watcher.subscribe().await?;

    let requests: Vec<_> = (0..visitors).map(realistic_request).collect();
    let mut recorded_at = HashMap::with_capacity(requests.len());
    for (i, request) in (0..visitors).zip(&requests) {
        recorded_at.insert(user_id(i), Instant::now());
        writer.record(request);
    }

    let mut joins: HashMap<String, u32> = HashMap::new();
    let mut leaves: HashMap<String, u32> = HashMap::new();
    let (mut join_latency, mut leave_latency) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + window + Duration::from_secs(20);
    while (joins.len() as u64) < visitors || (leaves.len() as u64) < visitors {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = match tokio::time::timeout(left, events.recv()).await {
            Ok(event) => event?,
            Err(_) => break,
        };
        let user = event.item.user_id.clone();
        match event.change {
            Change::Joined => {
                if let Some(at) = recorded_at.get(&user) {
                    join_latency.push(at.elapsed().as_secs_f64());
                }
                *joins.entry(user).or_default() += 1;
            }
            Change::Left => {
                let late = SystemTime::now()
                    .duration_since(event.at)
                    .unwrap_or_default();
                leave_latency.push(late.as_secs_f64());
                *leaves.entry(user).or_default() += 1;
            }
        }
    }
    // Anything told twice comes soon after; wait a little for it.
    let quiet = Instant::now() + Duration::from_millis(500);
    while let Ok(Ok(event)) = tokio::time::timeout(
        quiet.saturating_duration_since(Instant::now()),
        events.recv(),
    )
    .await
    {
        let counts = match event.change {
            Change::Joined => &mut joins,
            Change::Left => &mut leaves,
        };
        *counts.entry(event.item.user_id.clone()).or_default() += 1;
    }
    writer.shutdown().await?;
    watcher.shutdown().await?;

    let once = |told: &HashMap<String, u32>| told.values().filter(|&&n| n == 1).count() as u64;
    // The bound: each leave heard within a flush interval (the sweep) plus a read of
    // the log after its window passed.
    let bound = Duration::from_millis(300).as_secs_f64();
    let leave_met = leave_latency.iter().all(|&s| s <= bound) && !leave_latency.is_empty();
    let quantiles = |mut v: Vec<f64>| -> String {
        if v.is_empty() {
            return "none".into();
        }
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        format!(
            "{} / {} / {}",
            fmt_secs(at(0.5)),
            fmt_secs(at(0.99)),
            fmt_secs(at(1.0))
        )
    };
    let n = fmt_int(visitors as f64);
    rows.push(Row {
        what: format!(
            "presence: a join heard by another app server's subscriber, from `record` (median / p99 / max of {n})"
        ),
        ours: quantiles(join_latency),
        python: "not available".into(),
        ratio: String::new(),
        target: String::new(),
    });
    rows.push(Row {
        what: format!(
            "presence: a leave heard, from the moment its window passed (median / p99 / max of {n}; flush interval 200 ms, log read every 100 ms)"
        ),
        ours: quantiles(leave_latency.clone()),
        python: "not available".into(),
        ratio: String::new(),
        target: super::verdict(leave_met, "max ≤ flush + read interval (300 ms)"),
    });
    rows.push(Row {
        what: format!(
            "presence: visitors whose join and whose leave were each told exactly once (of {n})"
        ),
        ours: format!(
            "{} / {}",
            fmt_int(once(&joins) as f64),
            fmt_int(once(&leaves) as f64)
        ),
        python: "not available".into(),
        ratio: String::new(),
        target: if once(&joins) == visitors && once(&leaves) == visitors {
            "all: met".into()
        } else {
            "all: MISSED".into()
        },
    });
    Ok(())
}
