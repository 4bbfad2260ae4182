//! Where Redis memory goes: the bytes per entry of each kind of key a filled namespace holds,
//! what Redis itself charges for one sorted-set member of a given length, and the run that
//! fills a 3-master cluster with millions of active entries (`--cluster-fill`).

use super::{
    Cluster, Result, Row, connect, fmt_int, fmt_secs, median_secs, redis_tracker, used_memory,
};
use active_users::{Config, DefaultEntry, RedisStore, Tracker};
use active_users_bench::entry;
use redis::aio::MultiplexedConnection;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The kind of a key: the part after the namespace's hash tag, with every run of digits
/// replaced by `*` (`au:{bench}:unique:m:29547123` is `unique:m:*`).
fn key_kind(key: &str) -> String {
    let rest = key.split_once("}:").map_or(key, |(_, rest)| rest);
    let mut kind = String::with_capacity(rest.len());
    let mut in_digits = false;
    for c in rest.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                kind.push('*');
            }
            in_digits = true;
        } else {
            kind.push(c);
            in_digits = false;
        }
    }
    kind
}

/// Every key, grouped by kind.
async fn keys_by_kind(conn: &mut MultiplexedConnection) -> Result<BTreeMap<String, Vec<String>>> {
    let mut by_kind: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cursor = 0_u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        for key in keys {
            by_kind.entry(key_kind(&key)).or_default().push(key);
        }
        if next == 0 {
            return Ok(by_kind);
        }
        cursor = next;
    }
}

/// Fills a namespace with `size` entries of [`DefaultEntry`] (history on, the default) and
/// reports the bytes per entry of each kind of key, then what Redis charges per sorted-set
/// member by member length: the floor under any layout of one member per entry.
pub(crate) async fn rows(url: &str, size: u64, rows: &mut Vec<Row>) -> Result<()> {
    let mut conn = connect(url).await?;
    let before = used_memory(&mut conn).await?;
    let tracker = redis_tracker(url, "bench", Duration::from_secs(600))?;
    for i in 0..size {
        tracker.record_entry(&entry(i));
    }
    tracker.flush().await?;
    let total = (used_memory(&mut conn).await? - before) as f64 / size as f64;
    let sample: Vec<Vec<u8>> = redis::cmd("ZRANDMEMBER")
        .arg("au:{bench}:active")
        .arg(1000)
        .query_async(&mut conn)
        .await?;
    let member_len = sample.iter().map(Vec::len).sum::<usize>() as f64 / sample.len().max(1) as f64;
    // Each kind's share is what deleting its keys gives back (`INFO memory`, so the
    // allocator's rounding is counted, which `MEMORY USAGE` leaves out).
    let mut shares = Vec::new();
    for (kind, keys) in keys_by_kind(&mut conn).await? {
        let before = used_memory(&mut conn).await?;
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<()>(&mut conn)
            .await?;
        let freed = before - used_memory(&mut conn).await?;
        shares.push((kind, keys.len(), freed as f64 / size as f64));
    }
    tracker.shutdown().await?;
    let size_text = fmt_int(size as f64);
    let mut row = |what: String, bytes: f64| {
        rows.push(Row {
            what,
            ours: format!("{bytes:.1} B"),
            python: String::new(),
            ratio: String::new(),
            target: String::new(),
        })
    };
    row(
        format!("Redis memory per active `DefaultEntry` at {size_text}, every key (`INFO memory`)"),
        total,
    );
    let mut others = (Vec::new(), 0, 0.0);
    for (kind, keys, bytes) in shares {
        match kind.as_str() {
            "active" => row(
                format!("… the active set `active` (members of {member_len:.1} bytes on average)"),
                bytes,
            ),
            "values:user_id" => row("… the distinct-user index `values:user_id`".into(), bytes),
            _ => {
                others.0.push(format!("`{kind}`"));
                others.1 += keys;
                others.2 += bytes;
            }
        }
    }
    row(
        format!(
            "… history, sketches and bookkeeping ({} keys: {})",
            others.1,
            others.0.join(", ")
        ),
        others.2,
    );

    // The floor: what one sorted-set member costs in Redis, whatever holds it. The lengths are
    // the longest that fit each of the allocator's size classes for the member's string.
    for len in [6_usize, 14, 30, 44, 60] {
        redis::cmd("FLUSHALL").query_async::<()>(&mut conn).await?;
        let before = used_memory(&mut conn).await?;
        let mut pipe = redis::pipe();
        for start in (0..size).step_by(1000) {
            let mut zadd = redis::cmd("ZADD");
            zadd.arg("floor");
            for i in start..(start + 1000).min(size) {
                let mut member = format!("{i:0width$x}", width = len.min(8));
                member.extend(std::iter::repeat_n('x', len - member.len()));
                zadd.arg(i).arg(member);
            }
            pipe.add_command(zadd).ignore();
            if pipe.cmd_iter().count() == 16 {
                pipe.query_async::<()>(&mut conn).await?;
                pipe = redis::pipe();
            }
        }
        pipe.query_async::<()>(&mut conn).await?;
        let per_member = (used_memory(&mut conn).await? - before) as f64 / size as f64;
        row(
            format!(
                "what Redis charges per sorted-set member of {len} bytes, at {size_text} members"
            ),
            per_member,
        );
    }
    redis::cmd("FLUSHALL").query_async::<()>(&mut conn).await?;
    Ok(())
}

/// Fills a fresh 3-master cluster with `size` active entries (namespace in 16 shards) and
/// reports the write throughput, the memory per master and per entry, and the latency of
/// `count`, `count_distinct("user_id")` and a 100-entry page.
pub(crate) async fn cluster_fill(size: u64, rows: &mut Vec<Row>) -> Result<()> {
    const SHARDS: usize = 16;
    let cluster = Cluster::start(3)?;
    let mut conns = Vec::new();
    let mut before = Vec::new();
    for url in cluster.urls() {
        let mut conn = connect(&url).await?;
        before.push(used_memory(&mut conn).await?);
        conns.push(conn);
    }
    let config = Config::builder()
        .namespace("big")
        .key_expire(Duration::from_secs(3600))
        .buffer_capacity(1_000_000)
        .shards(SHARDS)
        .max_active_entries(0)
        .query_timeout(Duration::from_secs(60))
        .build()?;
    let tracker: Tracker<DefaultEntry> =
        Tracker::new(config, RedisStore::open_cluster(cluster.urls())?)?;
    let chunk = 500_000_u64;
    let started = Instant::now();
    let mut next = 0;
    while next < size {
        let end = (next + chunk).min(size);
        for i in next..end {
            tracker.record_entry(&entry(i));
        }
        tracker.flush().await?;
        next = end;
        eprintln!("  {} entries written", fmt_int(next as f64));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let count = tracker.count().await?;
    if count != size {
        return Err(format!("the cluster holds {count} active entries, not {size}").into());
    }
    let mut per_master = Vec::new();
    for (conn, before) in conns.iter_mut().zip(before) {
        per_master.push(used_memory(conn).await? - before);
    }
    let total: i64 = per_master.iter().sum();
    let runs = 21;
    let count_time = median_secs(runs, || async {
        black_box(tracker.count().await?);
        Ok(())
    })
    .await?;
    let distinct_time = median_secs(runs, || async {
        black_box(tracker.count_distinct("user_id").await?);
        Ok(())
    })
    .await?;
    let page_time = median_secs(runs, || async {
        black_box(tracker.list(100, None).await?.entries.len());
        Ok(())
    })
    .await?;
    tracker.shutdown().await?;
    let size_text = fmt_int(size as f64);
    let masters = per_master
        .iter()
        .map(|b| format!("{:.0} MB", *b as f64 / 1e6))
        .collect::<Vec<_>>()
        .join(" / ");
    let cluster_rows = [
        (
            format!(
                "3-master cluster, {size_text} entries in {SHARDS} shards: recorded and written per second"
            ),
            format!("{}/s", fmt_int(size as f64 / elapsed)),
        ),
        (
            format!("… memory per entry (masters: {masters})"),
            format!("{:.0} B", total as f64 / size as f64),
        ),
        (
            format!("… count ({} active)", fmt_int(count as f64)),
            fmt_secs(count_time),
        ),
        ("… distinct-user count".to_owned(), fmt_secs(distinct_time)),
        ("… 100-entry page".to_owned(), fmt_secs(page_time)),
    ];
    for (what, ours) in cluster_rows {
        rows.push(Row {
            what,
            ours,
            python: String::new(),
            ratio: String::new(),
            target: String::new(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::key_kind;

    #[test]
    fn key_kinds_hide_the_namespace_and_the_numbers() {
        assert_eq!(key_kind("au:{bench}:active"), "active");
        assert_eq!(key_kind("au:{bench:3}:unique:m:29547123"), "unique:m:*");
        assert_eq!(key_kind("au:{bench}:values:user_id"), "values:user_id");
    }
}
