//! The benchmark program: active-users against the Python package's design, every row measured
//! in the same run on the same `redis-server`, which the program starts itself on a free port.
//!
//! ```sh
//! cargo run --release -p active-users-bench            # the full run (a few minutes)
//! cargo run --release -p active-users-bench -- --quick # smaller sizes (under a minute)
//! cargo run -p active-users-bench -- --smoke           # every path once, tiny sizes (CI)
//! cargo run --release -p active-users-bench -- --quick --e2e # only the end-to-end part
//! cargo run --release -p active-users-bench -- --memory       # only Redis memory by kind of key
//! cargo run --release -p active-users-bench -- --cluster-fill # 10,000,000 entries, 3-master cluster
//! ```
//!
//! The Python design is emulated honestly: `SETEX au:{user_id}:{session_id}:{ip}:{username}`
//! on every request, one round trip each, from several workers at once (as several Django
//! workers would), and `KEYS au:*` for the count, the distinct count and the list.

use active_users::{
    ActiveUserEntry, Config, DefaultEntry, ExtractContext, MemoryStore, RedisStore, Tracker,
};
use active_users_bench::{entry, python_key, realistic_request};
use redis::aio::MultiplexedConnection;
use std::collections::HashSet;
use std::error::Error;
use std::hint::black_box;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod discard;
mod e2e;
mod memory;
mod presence;

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// How much work each part does.
struct Plan {
    quick: bool,
    /// The name of the mode, for the table's footer.
    mode: &'static str,
    /// Thousands of visitors in each sketch of the history part.
    sketch_thousands: u64,
    /// Runs of the in-process measurements; the median is reported.
    runs: usize,
    record_iters: u64,
    zadd_entries: u64,
    users: u64,
    requests_per_user: u64,
    python_workers: usize,
    query_sizes: Vec<u64>,
    /// Distinct values of one indexed field in the cardinality part.
    flood_values: u64,
    /// How long each end-to-end configuration is loaded.
    e2e_time: Duration,
    /// How many rounds of every end-to-end configuration run.
    e2e_rounds: usize,
    /// Only the end-to-end part (`--e2e`).
    e2e_only: bool,
    /// Active entries in the memory breakdown.
    memory_entries: u64,
    /// Only the memory breakdown (`--memory`).
    memory_only: bool,
    /// Only the cluster run (`--cluster-fill`).
    cluster_only: bool,
    /// New visitors whose joins and leaves the presence part follows.
    presence_visitors: u64,
    /// Only the presence part (`--presence`).
    presence_only: bool,
    /// Active entries of the 3-master cluster run: `--cluster-fill [N]` runs only that part;
    /// the smoke run does it at a tiny size.
    cluster_fill: Option<u64>,
}

impl Plan {
    fn new(mode: &str) -> Self {
        if mode == "smoke" {
            return Plan {
                quick: true,
                mode: "smoke",
                sketch_thousands: 2,
                runs: 1,
                record_iters: 2_000,
                zadd_entries: 2_000,
                users: 200,
                requests_per_user: 2,
                python_workers: 4,
                query_sizes: vec![1_000],
                flood_values: 1_500,
                e2e_time: Duration::from_millis(300),
                e2e_rounds: 1,
                e2e_only: false,
                memory_entries: 1_000,
                memory_only: false,
                cluster_only: false,
                cluster_fill: Some(3_000),
                presence_visitors: 100,
                presence_only: false,
            };
        }
        let quick = mode == "quick";
        if quick {
            Plan {
                quick,
                mode: "quick",
                sketch_thousands: 20,
                runs: 5,
                record_iters: 100_000,
                zadd_entries: 50_000,
                users: 10_000,
                requests_per_user: 10,
                python_workers: 4,
                query_sizes: vec![1_000, 10_000, 50_000],
                flood_values: 20_000,
                e2e_time: Duration::from_secs(3),
                e2e_rounds: 3,
                e2e_only: false,
                memory_entries: 100_000,
                memory_only: false,
                cluster_only: false,
                cluster_fill: None,
                presence_visitors: 2_000,
                presence_only: false,
            }
        } else {
            Plan {
                quick,
                mode: "full",
                sketch_thousands: 20,
                runs: 7,
                record_iters: 500_000,
                zadd_entries: 300_000,
                users: 100_000,
                requests_per_user: 10,
                python_workers: 4,
                query_sizes: vec![1_000, 100_000, 1_000_000],
                flood_values: 20_000,
                e2e_time: Duration::from_secs(5),
                e2e_rounds: 5,
                e2e_only: false,
                memory_entries: 1_000_000,
                memory_only: false,
                cluster_only: false,
                cluster_fill: None,
                presence_visitors: 10_000,
                presence_only: false,
            }
        }
    }
}

/// A `redis-server` of our own on a free port of 127.0.0.1, stopped on drop.
struct Server {
    child: Child,
    dir: std::path::PathBuf,
    url: String,
}

impl Server {
    fn start() -> Result<Self> {
        Self::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir =
            std::env::temp_dir().join(format!("active-users-bench-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("cannot start redis-server ({e}); install it: apt-get install redis-server")
            })?;
        Ok(Server {
            child,
            dir,
            url: format!("redis://127.0.0.1:{port}/"),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A connection without a response timeout: `KEYS` over a million keys takes longer than the
/// client's default of 500 ms, and that slowness is what is being measured.
/// A Redis Cluster of `masters` masters (no replicas) on free ports, stopped on drop.
struct Cluster {
    nodes: Vec<Server>,
}

impl Cluster {
    fn start(masters: usize) -> Result<Self> {
        let nodes = (0..masters)
            .map(|_| {
                Server::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                ])
            })
            .collect::<Result<Vec<_>>>()?;
        std::thread::sleep(Duration::from_millis(300));
        let mut create = Command::new("redis-cli");
        create.args(["--cluster", "create"]);
        for node in &nodes {
            create.arg(
                node.url
                    .trim_start_matches("redis://")
                    .trim_end_matches('/'),
            );
        }
        let status = create
            .args(["--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run redis-cli ({e}); install redis-tools"))?;
        if !status.success() {
            return Err(format!("redis-cli --cluster create failed: {status}").into());
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        for node in &nodes {
            loop {
                let info = Command::new("redis-cli")
                    .args(["-u", &node.url, "CLUSTER", "INFO"])
                    .output()?;
                if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                    break;
                }
                if Instant::now() > deadline {
                    return Err("the benchmark cluster did not become ok".into());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(Cluster { nodes })
    }

    fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url.clone()).collect()
    }
}

async fn connect(url: &str) -> Result<MultiplexedConnection> {
    let client = redis::Client::open(url)?;
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(conn) => return Ok(conn),
            Err(e) if Instant::now() > deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

async fn used_memory(conn: &mut MultiplexedConnection) -> Result<i64> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "no used_memory in INFO".into())
}

async fn flushall(conn: &mut MultiplexedConnection) -> Result<()> {
    redis::cmd("FLUSHALL")
        .arg("SYNC")
        .query_async::<()>(conn)
        .await?;
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Median seconds of `runs` runs of an async measurement.
async fn median_secs<F, Fut>(runs: usize, mut f: F) -> Result<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        f().await?;
        times.push(started.elapsed().as_secs_f64());
    }
    Ok(median(times))
}

fn fmt_secs(s: f64) -> String {
    if s < 1e-6 {
        format!("{:.0} ns", s * 1e9)
    } else if s < 1e-3 {
        format!("{:.1} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

fn fmt_int(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One row of the table.
struct Row {
    what: String,
    ours: String,
    python: String,
    ratio: String,
    target: String,
}

fn verdict(met: bool, rule: &str) -> String {
    format!("{rule}: {}", if met { "met" } else { "MISSED" })
}

/// A tracker on Redis for filling the store: default batches, room for every entry.
fn redis_tracker(url: &str, namespace: &str, window: Duration) -> Result<Tracker<DefaultEntry>> {
    let config = Config::builder()
        .namespace(namespace)
        .key_expire(window)
        .buffer_capacity(5_000_000)
        .query_timeout(Duration::from_secs(60))
        .max_active_entries(0)
        .build()?;
    Ok(Tracker::new(config, RedisStore::open(url)?)?)
}

fn record_path(plan: &Plan, rows: &mut Vec<Row>) -> Result<()> {
    let cx = ExtractContext::default();
    let request = realistic_request(12_345);
    let iters = plan.record_iters;
    let per_op = |f: &mut dyn FnMut()| {
        let started = Instant::now();
        f();
        started.elapsed().as_secs_f64() / iters as f64
    };

    let extract: Vec<f64> = (0..plan.runs)
        .map(|_| {
            per_op(&mut || {
                for _ in 0..iters {
                    black_box(
                        DefaultEntry::from_request(black_box(&request), &cx).map(|e| e.encode()),
                    );
                }
            })
        })
        .collect();
    let extract = median(extract);
    rows.push(Row {
        what: "extract + encode `DefaultEntry` (10 headers, 3 cookies)".into(),
        ours: fmt_secs(extract),
        python: String::new(),
        ratio: String::new(),
        target: verdict(extract <= 400e-9, "≤ 400 ns"),
    });

    // New visitors: requests are built a thousand at a time, untimed, and recorded while they
    // are in cache, as a request the server has just parsed would be.
    let visitors = iters.min(200_000);
    let mut new_visitor = Vec::new();
    let mut repeat = Vec::new();
    for _ in 0..plan.runs {
        let tracker = Tracker::<DefaultEntry>::new(
            Config::builder()
                .buffer_capacity(10_000_000)
                .batch_size(10_000_000)
                .flush_interval(Duration::from_secs(3600))
                .build()?,
            MemoryStore::new(),
        )?;
        let mut timed = Duration::ZERO;
        for start in (0..visitors).step_by(1000) {
            let chunk: Vec<_> = (start..(start + 1000).min(visitors))
                .map(realistic_request)
                .collect();
            let started = Instant::now();
            for r in &chunk {
                black_box(tracker.record(r));
            }
            timed += started.elapsed();
        }
        new_visitor.push(timed.as_secs_f64() / visitors as f64);
        repeat.push(per_op(&mut || {
            for _ in 0..iters {
                black_box(tracker.record(black_box(&request)));
            }
        }));
    }
    let (new_visitor, repeat) = (median(new_visitor), median(repeat));
    rows.push(Row {
        what: "`record`, new visitor (into the buffer)".into(),
        ours: fmt_secs(new_visitor),
        python: "one Redis round trip".into(),
        ratio: String::new(),
        target: verdict(new_visitor <= 1e-6, "≤ 1 µs"),
    });
    rows.push(Row {
        what: "`record`, repeat visitor (coalesced)".into(),
        ours: fmt_secs(repeat),
        python: "one Redis round trip".into(),
        ratio: String::new(),
        target: verdict(repeat <= 1e-6, "≤ 1 µs"),
    });
    Ok(())
}

/// Pipelined single-member ZADDs, 16 per pipeline, 32 pipelines in flight: the rate at which
/// this server takes sorted-set writes.
async fn zadd_limit(url: &str, members: Arc<Vec<Vec<u8>>>) -> Result<f64> {
    let conn = connect(url).await?;
    let lanes = 32;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for lane in 0..lanes {
        let mut conn = conn.clone();
        let members = Arc::clone(&members);
        tasks.push(tokio::spawn(async move {
            let mine: Vec<&Vec<u8>> = members.iter().skip(lane).step_by(lanes).collect();
            for chunk in mine.chunks(16) {
                let mut pipe = redis::pipe();
                for member in chunk {
                    pipe.cmd("ZADD")
                        .arg("bench:zadd-limit")
                        .arg(1_700_000_000_000u64)
                        .arg(member.as_slice())
                        .ignore();
                }
                pipe.query_async::<()>(&mut conn).await?;
            }
            Ok::<(), redis::RedisError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(members.len() as f64 / started.elapsed().as_secs_f64())
}

/// Distinct entries written per second: default batches, the writer starting as soon as a
/// batch is full, timed from the first record to the last entry in Redis.
async fn flush_throughput(store: RedisStore, shards: usize, n: u64, history: bool) -> Result<f64> {
    let config = Config::builder()
        .namespace("bench-flush")
        .key_expire(Duration::from_secs(600))
        .buffer_capacity(5_000_000)
        .shards(shards)
        .history(if history {
            active_users::DEFAULT_HISTORY
        } else {
            Duration::ZERO
        })
        .build()?;
    let tracker: Tracker<DefaultEntry> = Tracker::new(config, store)?;
    let entries: Vec<DefaultEntry> = (0..n).map(entry).collect();
    let started = Instant::now();
    for e in &entries {
        tracker.record_entry(e);
    }
    tracker.flush().await?;
    let rate = n as f64 / started.elapsed().as_secs_f64();
    if tracker.count().await? != n {
        return Err("the flush did not write every entry".into());
    }
    tracker.shutdown().await?;
    Ok(rate)
}

/// Where a flush's time goes, per entry written: the wall time, this process's CPU (recording
/// included) and Redis's, and Redis's own time by command (`INFO commandstats`).
#[derive(Debug, Clone, Copy, Default)]
struct FlushProfile {
    wall: f64,
    app_cpu: f64,
    redis_cpu: f64,
    zadd: f64,
    pfadd: f64,
    trim: f64,
    rest: f64,
}

impl FlushProfile {
    /// The median of each figure over `runs`.
    fn median_of(runs: &[FlushProfile]) -> FlushProfile {
        let m = |f: fn(&FlushProfile) -> f64| median(runs.iter().map(f).collect());
        FlushProfile {
            wall: m(|p| p.wall),
            app_cpu: m(|p| p.app_cpu),
            redis_cpu: m(|p| p.redis_cpu),
            zadd: m(|p| p.zadd),
            pfadd: m(|p| p.pfadd),
            trim: m(|p| p.trim),
            rest: m(|p| p.rest),
        }
    }
}

/// Microseconds Redis spent in each command since the last `CONFIG RESETSTAT`.
async fn usec_by_command(conn: &mut MultiplexedConnection) -> Result<Vec<(String, f64)>> {
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await?;
    Ok(stats
        .lines()
        .filter_map(|l| {
            let (name, fields) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let usec = fields.split(',').find_map(|f| f.strip_prefix("usec="))?;
            Some((name.to_owned(), usec.parse().ok()?))
        })
        .collect())
}

/// [`flush_throughput`] on one server, with where its time went.
async fn profiled_flush(
    url: &str,
    conn: &mut MultiplexedConnection,
    n: u64,
) -> Result<(f64, FlushProfile)> {
    reset_stats(conn).await?;
    let (app, redis) = (
        e2e::process_cpu(std::process::id())?,
        e2e::redis_cpu(url).await?,
    );
    let rate = flush_throughput(RedisStore::open(url)?, 1, n, true).await?;
    let app = e2e::process_cpu(std::process::id())? - app;
    let redis = e2e::redis_cpu(url).await? - redis;
    let per = |d: Duration| d.as_secs_f64() / n as f64;
    let mut profile = FlushProfile {
        wall: 1.0 / rate,
        app_cpu: per(app),
        redis_cpu: per(redis),
        ..FlushProfile::default()
    };
    // A script's time includes the commands it calls, and `EXEC`'s the commands it runs,
    // which are counted on their own too: the rest is Redis's CPU outside the three.
    for (command, usec) in usec_by_command(conn).await? {
        let share = usec / 1e6 / n as f64;
        match command.as_str() {
            "zadd" => profile.zadd += share,
            "pfadd" => profile.pfadd += share,
            "eval" | "evalsha" => profile.trim += share,
            _ => {}
        }
    }
    profile.rest = profile.redis_cpu - profile.zadd - profile.pfadd - profile.trim;
    Ok((rate, profile))
}

/// Requests per second of the Python design: one SETEX per request, `workers` at a time.
async fn python_requests(url: &str, plan: &Plan) -> Result<f64> {
    let keys: Arc<Vec<String>> = Arc::new((0..plan.users).map(python_key).collect());
    let total = plan.users * plan.requests_per_user;
    let workers = plan.python_workers as u64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let mut conn = connect(url).await?;
        let keys = Arc::clone(&keys);
        let users = plan.users;
        tasks.push(tokio::spawn(async move {
            let mut n = w;
            while n < total {
                let key = &keys[(n % users) as usize];
                redis::cmd("SETEX")
                    .arg(key)
                    .arg(20)
                    .arg(0)
                    .query_async::<()>(&mut conn)
                    .await?;
                n += workers;
            }
            Ok::<(), redis::RedisError>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// Requests per second of ours: every request through `record` (extraction included), with the
/// default settings and the background writer, until the last entry is in Redis.
async fn our_requests(url: &str, plan: &Plan) -> Result<(f64, u64)> {
    let config = Config::builder().namespace("bench-requests").build()?;
    let tracker: Tracker<DefaultEntry> = Tracker::new(config, RedisStore::open(url)?)?;
    let requests: Vec<_> = (0..plan.users).map(realistic_request).collect();
    let started = Instant::now();
    for _ in 0..plan.requests_per_user {
        for request in &requests {
            tracker.record(request);
        }
    }
    tracker.flush().await?;
    let elapsed = started.elapsed().as_secs_f64();
    let count = tracker.count().await?;
    let rate = (plan.users * plan.requests_per_user) as f64 / elapsed;
    tracker.shutdown().await?;
    Ok((rate, count))
}

/// Latency of PINGs sent while `work` runs: (max, p99). The pinger has its own thread, runtime
/// and connection, so what it sees is the server's delay, not this process's scheduling.
async fn ping_during<F, Fut>(url: &str, work: F) -> Result<(f64, f64)>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let url = url.to_owned();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let pinger = std::thread::spawn(move || -> Result<Vec<f64>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let mut conn = connect(&url).await?;
            let _ = ready_tx.send(());
            let mut latencies = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let started = Instant::now();
                redis::cmd("PING").query_async::<String>(&mut conn).await?;
                latencies.push(started.elapsed().as_secs_f64());
            }
            Ok(latencies)
        })
    });
    let _ = ready_rx.recv_timeout(Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let worked = work().await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = pinger.join().map_err(|_| "the pinger thread panicked")??;
    worked?;
    latencies.sort_by(f64::total_cmp);
    let max = latencies.last().copied().unwrap_or(f64::NAN);
    let p99 = latencies
        .get(latencies.len() * 99 / 100)
        .copied()
        .unwrap_or(f64::NAN);
    Ok((max, p99))
}

/// Everything measured at one number of active entries.
struct AtSize {
    size: u64,
    ours: [f64; 3],
    python: [f64; 3],
    ours_memory: f64,
    ours_active_set_memory: f64,
    python_memory: f64,
    ping: Option<((f64, f64), (f64, f64))>,
    /// Redis's own time per call (INFO commandstats): (ours per count, KEYS per call).
    server_time: Option<(f64, f64)>,
}

/// Microseconds per call of `command` since the last CONFIG RESETSTAT.
async fn usec_per_call(conn: &mut MultiplexedConnection, command: &str) -> Result<f64> {
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await?;
    let prefix = format!("cmdstat_{command}:");
    stats
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|l| l.split(',').find_map(|f| f.strip_prefix("usec_per_call=")))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no {command} in commandstats").into())
}

async fn reset_stats(conn: &mut MultiplexedConnection) -> Result<()> {
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async::<()>(conn)
        .await?;
    Ok(())
}

async fn python_keys(conn: &mut MultiplexedConnection) -> Result<Vec<String>> {
    Ok(redis::cmd("KEYS").arg("au:*").query_async(conn).await?)
}

async fn queries_at(url: &str, size: u64, with_ping: bool, quick: bool) -> Result<AtSize> {
    let mut conn = connect(url).await?;
    let runs_keys = if size >= 1_000_000 { 3 } else { 5 };
    let runs_ours = 21;

    // The Python design alone in the server.
    flushall(&mut conn).await?;
    let before = used_memory(&mut conn).await?;
    for start in (0..size).step_by(1000) {
        let mut pipe = redis::pipe();
        for i in start..(start + 1000).min(size) {
            pipe.cmd("SETEX")
                .arg(python_key(i))
                .arg(600)
                .arg(0)
                .ignore();
        }
        pipe.query_async::<()>(&mut conn).await?;
    }
    let python_memory = (used_memory(&mut conn).await? - before) as f64 / size as f64;
    let count = median_secs(runs_keys, || {
        let mut conn = conn.clone();
        async move {
            black_box(python_keys(&mut conn).await?.len());
            Ok(())
        }
    })
    .await?;
    let distinct = median_secs(runs_keys, || {
        let mut conn = conn.clone();
        async move {
            let keys = python_keys(&mut conn).await?;
            let users: HashSet<&str> = keys.iter().filter_map(|k| k.split(':').nth(1)).collect();
            black_box(users.len());
            Ok(())
        }
    })
    .await?;
    let page = median_secs(runs_keys, || {
        let mut conn = conn.clone();
        async move {
            let keys = python_keys(&mut conn).await?;
            let page: Vec<Vec<&str>> = keys
                .iter()
                .take(100)
                .map(|k| k.split(':').collect())
                .collect();
            black_box(page.len());
            Ok(())
        }
    })
    .await?;
    let python_server_time = if with_ping {
        reset_stats(&mut conn).await?;
        black_box(python_keys(&mut conn).await?.len());
        Some(usec_per_call(&mut conn, "keys").await? * 1e-6)
    } else {
        None
    };
    let python_ping = if with_ping {
        let conn = conn.clone();
        Some(
            ping_during(url, || async move {
                let mut conn = conn;
                for _ in 0..runs_keys {
                    black_box(python_keys(&mut conn).await?.len());
                }
                Ok(())
            })
            .await?,
        )
    } else {
        None
    };

    // Ours alone in the server.
    flushall(&mut conn).await?;
    let before = used_memory(&mut conn).await?;
    let tracker = redis_tracker(url, "bench", Duration::from_secs(600))?;
    for i in 0..size {
        tracker.record_entry(&entry(i));
    }
    tracker.flush().await?;
    let ours_memory = (used_memory(&mut conn).await? - before) as f64 / size as f64;
    let active_bytes: i64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg("au:{bench}:active")
        .arg("SAMPLES")
        .arg(0)
        .query_async(&mut conn)
        .await?;
    let ours_active_set_memory = active_bytes as f64 / size as f64;
    let ours_count = median_secs(runs_ours, || async {
        black_box(tracker.count().await?);
        Ok(())
    })
    .await?;
    let ours_distinct = median_secs(runs_ours, || async {
        black_box(tracker.count_distinct("user_id").await?);
        Ok(())
    })
    .await?;
    let ours_page = median_secs(runs_ours, || async {
        black_box(tracker.list(100, None).await?.entries.len());
        Ok(())
    })
    .await?;
    assert_eq!(tracker.count().await?, size, "every entry is active");
    let server_time = match python_server_time {
        Some(keys) => {
            reset_stats(&mut conn).await?;
            for _ in 0..100 {
                black_box(tracker.count().await?);
            }
            Some((usec_per_call(&mut conn, "evalsha").await? * 1e-6, keys))
        }
        None => None,
    };
    let ping = match python_ping {
        Some(python_ping) => {
            let ours_ping = ping_during(url, || async {
                for _ in 0..if quick { 50 } else { 200 } {
                    black_box(tracker.count().await?);
                    black_box(tracker.count_distinct("user_id").await?);
                }
                Ok(())
            })
            .await?;
            Some((ours_ping, python_ping))
        }
        None => None,
    };
    tracker.shutdown().await?;
    Ok(AtSize {
        size,
        ours: [ours_count, ours_distinct, ours_page],
        python: [count, distinct, page],
        ours_memory,
        ours_active_set_memory,
        python_memory,
        ping,
        server_time,
    })
}

async fn run(plan: Plan) -> Result<()> {
    let server = Server::start()?;
    let mut conn = connect(&server.url).await?;
    let version: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await?;
    let version = version
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("?")
        .trim()
        .to_owned();
    eprintln!(
        "redis-server {version} at {}, {} mode",
        server.url, plan.mode
    );
    let mut rows = Vec::new();
    if plan.cluster_only {
        let size = plan.cluster_fill.unwrap_or(10_000_000);
        eprintln!(
            "a 3-master cluster filled with {} active entries ...",
            fmt_int(size as f64)
        );
        memory::cluster_fill(size, &mut rows).await?;
        print_rows(&rows);
        println!(
            "\nredis-server {version}, 3 masters on this machine ({} cores); query latencies are medians of 21 runs",
            cores(),
        );
        return Ok(());
    }
    if plan.presence_only {
        eprintln!("presence: joins and leaves heard by another app server ...");
        presence::rows(&server.url, plan.presence_visitors, &mut rows).await?;
        print_table(&rows, &version, &plan);
        return Ok(());
    }
    if plan.memory_only {
        eprintln!("Redis memory by kind of key ...");
        memory::rows(&server.url, plan.memory_entries, &mut rows).await?;
        print_rows(&rows);
        println!("\nredis-server {version}, {} mode", plan.mode);
        return Ok(());
    }

    // First, while the machine is quiet: the server's CPU per request over real TCP.
    eprintln!("end to end: an axum server with and without the layer, over real TCP ...");
    e2e::rows(
        &server.url,
        server.child.id(),
        plan.e2e_time,
        plan.e2e_rounds,
        &mut rows,
    )
    .await?;
    // The rest runs on every core again.
    e2e::pin(std::process::id(), "0-1023");
    e2e::pin(server.child.id(), "0-1023");
    if plan.e2e_only {
        print_table(&rows, &version, &plan);
        return Ok(());
    }

    eprintln!("record path ...");
    tokio::task::block_in_place(|| record_path(&plan, &mut rows))?;

    eprintln!("ZADD limit and flush throughput ...");
    let members: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..plan.zadd_entries)
            .map(|i| entry(i).encode())
            .collect::<std::result::Result<_, _>>()?,
    );
    let mut limits = Vec::new();
    let mut flushes = Vec::new();
    let mut flushes_without_history = Vec::new();
    let mut flush_profiles = Vec::new();
    for _ in 0..3 {
        limits.push(zadd_limit(&server.url, Arc::clone(&members)).await?);
        flushall(&mut conn).await?;
        let (rate, profile) = profiled_flush(&server.url, &mut conn, plan.zadd_entries).await?;
        flushes.push(rate);
        flush_profiles.push(profile);
        flushall(&mut conn).await?;
        let store = RedisStore::open(&server.url)?;
        flushes_without_history.push(flush_throughput(store, 1, plan.zadd_entries, false).await?);
        flushall(&mut conn).await?;
    }
    let (limit, flush) = (median(limits), median(flushes));
    let flush_without_history = median(flushes_without_history);
    rows.push(Row {
        what: "pipelined `ZADD` limit (16 per pipeline, single member each)".into(),
        ours: format!("{}/s", fmt_int(limit)),
        python: String::new(),
        ratio: String::new(),
        target: String::new(),
    });
    rows.push(Row {
        what: "flush throughput (distinct `DefaultEntry`s written, with the user index and the unique-visitor sketches)".into(),
        ours: format!("{}/s", fmt_int(flush)),
        python: String::new(),
        ratio: format!("{:.2}x the limit", flush / limit),
        target: verdict(flush >= 0.7 * limit, "≥ 0.7x limit"),
    });
    let profile = FlushProfile::median_of(&flush_profiles);
    let us = |s: f64| format!("{:.2} µs", s * 1e6);
    rows.push(Row {
        what: "… per entry written: wall time / this process's CPU (recording included) / Redis's CPU; of Redis's, by command (`INFO commandstats`): `ZADD` / `PFADD` (sketches) / the trim script / the rest of its CPU (reading, parsing and answering the commands, `MULTI`/`EXEC`, `PEXPIRE`, `ZCOUNT`)".into(),
        ours: format!(
            "{} / {} / {}; {} / {} / {} / {}",
            us(profile.wall),
            us(profile.app_cpu),
            us(profile.redis_cpu),
            us(profile.zadd),
            us(profile.pfadd),
            us(profile.trim),
            us(profile.rest)
        ),
        python: String::new(),
        ratio: String::new(),
        target: String::new(),
    });
    rows.push(Row {
        what: "flush throughput, history off (no sketches)".into(),
        ours: format!("{}/s", fmt_int(flush_without_history)),
        python: String::new(),
        ratio: format!("{:.2}x the limit", flush_without_history / limit),
        target: String::new(),
    });

    eprintln!("Redis Cluster: 3 masters, 8 shards ...");
    let cluster = Cluster::start(3)?;
    let mut cluster_flushes = Vec::new();
    for _ in 0..3 {
        let store = RedisStore::open_cluster(cluster.urls())?;
        cluster_flushes.push(flush_throughput(store, 8, plan.zadd_entries, true).await?);
        for url in cluster.urls() {
            flushall(&mut connect(&url).await?).await?;
        }
    }
    drop(cluster);
    let cluster_flush = median(cluster_flushes);
    rows.push(Row {
        what: "flush throughput on a 3-master Redis Cluster, namespace in 8 shards".into(),
        ours: format!("{}/s", fmt_int(cluster_flush)),
        python: String::new(),
        ratio: format!("{:.2}x one node", cluster_flush / flush),
        target: String::new(),
    });

    eprintln!(
        "{} users x {} requests, both designs ...",
        plan.users, plan.requests_per_user
    );
    let python_rate = python_requests(&server.url, &plan).await?;
    flushall(&mut conn).await?;
    let (our_rate, active) = our_requests(&server.url, &plan).await?;
    flushall(&mut conn).await?;
    if active != plan.users {
        return Err(format!("expected {} active entries, counted {active}", plan.users).into());
    }
    rows.push(Row {
        what: format!(
            "{} users x {} requests: requests recorded per second (Python: {} workers)",
            fmt_int(plan.users as f64),
            plan.requests_per_user,
            plan.python_workers
        ),
        ours: format!("{}/s", fmt_int(our_rate)),
        python: format!("{}/s", fmt_int(python_rate)),
        ratio: format!("{:.0}x", our_rate / python_rate),
        target: verdict(our_rate >= 20.0 * python_rate, "≥ 20x"),
    });

    let largest = plan.query_sizes.iter().copied().max().unwrap_or(0);
    let mut results = Vec::new();
    for &size in &plan.query_sizes {
        eprintln!("queries at {size} active entries ...");
        results.push(queries_at(&server.url, size, size == largest, plan.quick).await?);
    }
    for (i, name) in ["count", "distinct-user count", "100-entry page"]
        .iter()
        .enumerate()
    {
        for at in &results {
            let (ours, python) = (at.ours[i], at.python[i]);
            let target = if at.size >= 1_000_000 {
                if i < 2 {
                    verdict(
                        ours <= 1e-3 && python / ours >= 1000.0,
                        "≤ 1 ms and ≥ 1000x",
                    )
                } else {
                    verdict(ours <= 2e-3, "≤ 2 ms")
                }
            } else {
                String::new()
            };
            rows.push(Row {
                what: format!("{name} at {} active entries", fmt_int(at.size as f64)),
                ours: fmt_secs(ours),
                python: fmt_secs(python),
                ratio: format!("{}x", fmt_int(python / ours)),
                target,
            });
        }
    }
    if let Some(at) = results.iter().find(|a| a.size == largest) {
        rows.push(Row {
            what: format!(
                "Redis memory per active entry at {} (ours: all keys; active set alone: {:.0} B)",
                fmt_int(at.size as f64),
                at.ours_active_set_memory
            ),
            ours: format!("{:.0} B", at.ours_memory),
            python: format!("{:.0} B", at.python_memory),
            ratio: format!("{:.2}x", at.ours_memory / at.python_memory),
            target: verdict(at.ours_memory <= at.python_memory, "≤ Python"),
        });
        if let Some((ours, keys)) = at.server_time {
            rows.push(Row {
                what: format!(
                    "Redis busy per count at {} (`INFO commandstats`): every other client waits this long",
                    fmt_int(at.size as f64)
                ),
                ours: fmt_secs(ours),
                python: fmt_secs(keys),
                ratio: format!("{}x", fmt_int(keys / ours)),
                target: String::new(),
            });
        }
        if let Some(((ours_max, ours_p99), (python_max, python_p99))) = at.ping {
            rows.push(Row {
                what: format!(
                    "concurrent `PING` during counts at {}: max (p99 ours {}, Python {})",
                    fmt_int(at.size as f64),
                    fmt_secs(ours_p99),
                    fmt_secs(python_p99)
                ),
                ours: fmt_secs(ours_max),
                python: fmt_secs(python_max),
                ratio: String::new(),
                target: verdict(ours_max < 1e-3, "< 1 ms"),
            });
        }
    }
    eprintln!("count_by over a flood of distinct values ...");
    flushall(&mut conn).await?;
    cardinality_queries(&server.url, plan.flood_values, &mut rows).await?;

    eprintln!("history and unique visitors over a full day of sketches ...");
    flushall(&mut conn).await?;
    history_queries(&server.url, plan.sketch_thousands, &mut rows).await?;

    eprintln!("presence: joins and leaves heard by another app server ...");
    flushall(&mut conn).await?;
    presence::rows(&server.url, plan.presence_visitors, &mut rows).await?;

    eprintln!("Redis memory by kind of key ...");
    flushall(&mut conn).await?;
    memory::rows(&server.url, plan.memory_entries, &mut rows).await?;
    if let Some(size) = plan.cluster_fill {
        eprintln!("a 3-master cluster filled with {size} active entries ...");
        memory::cluster_fill(size, &mut rows).await?;
    }

    let (idle_max, idle_p99) = ping_during(&server.url, || async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok(())
    })
    .await?;
    rows.push(Row {
        what: format!(
            "`PING` with nothing else running, 1 s: max (p99 {}): this machine's floor",
            fmt_secs(idle_p99)
        ),
        ours: fmt_secs(idle_max),
        python: String::new(),
        ratio: String::new(),
        target: String::new(),
    });

    print_table(&rows, &version, &plan);
    Ok(())
}

fn print_rows(rows: &[Row]) {
    println!("| measurement | active-users | Python design | ratio | target |");
    println!("|---|---|---|---|---|");
    for row in rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            row.what, row.ours, row.python, row.ratio, row.target
        );
    }
}

fn print_table(rows: &[Row], version: &str, plan: &Plan) {
    print_rows(rows);
    println!(
        "\nredis-server {version}, {} cores, {} mode; medians of {} runs (in-process), 21 / 5 / 3 runs (queries), {} rounds of {:?} per configuration (end to end: medians, and of differences the median of each round's)",
        cores(),
        plan.mode,
        plan.runs,
        plan.e2e_rounds,
        plan.e2e_time
    );
}

/// An entry with an indexed dimension that one client floods with distinct values.
#[derive(Debug, ActiveUserEntry)]
struct Flooded {
    #[from_header("x-user")]
    #[active_users(distinct)]
    user: String,
    #[from_header("x-session")]
    session: Option<String>,
    #[from_header("x-service")]
    #[active_users(index)]
    service: Option<String>,
}

/// The longest single Redis call of what `work` does, from `SLOWLOG` (every command logged),
/// and how many calls it made.
async fn slowest_call<F, Fut>(
    conn: &mut MultiplexedConnection,
    work: F,
) -> Result<(f64, usize, String)>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(0)
        .query_async::<()>(conn)
        .await?;
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-max-len")
        .arg(100_000)
        .query_async::<()>(conn)
        .await?;
    redis::cmd("SLOWLOG")
        .arg("RESET")
        .query_async::<()>(conn)
        .await?;
    work().await?;
    let log: Vec<redis::Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(-1)
        .query_async(conn)
        .await?;
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(10_000)
        .query_async::<()>(conn)
        .await?;
    // Each entry: [id, timestamp, microseconds, [command, args...], ...]; ours are EVALSHA,
    // ZRANGE and the like, not the SLOWLOG and CONFIG calls around them.
    let mut slowest = 0u64;
    let mut slowest_name = String::new();
    let mut calls = 0;
    for entry in log {
        let redis::Value::Array(fields) = entry else {
            continue;
        };
        let (Some(redis::Value::Int(us)), Some(redis::Value::Array(args))) =
            (fields.get(2), fields.get(3))
        else {
            continue;
        };
        let name = match args.first() {
            Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).to_lowercase(),
            _ => String::new(),
        };
        if matches!(name.as_str(), "slowlog" | "config") {
            continue;
        }
        // Redis 7 also logs the commands a script calls; the script's own entry holds them.
        if name.starts_with("eval") {
            calls += 1;
        }
        let us = u64::try_from(*us).unwrap_or(0);
        if us > slowest {
            slowest = us;
            slowest_name = name;
        }
    }
    Ok((slowest as f64 * 1e-6, calls, slowest_name))
}

/// A tracker of `Flooded` entries on `shards` shards holding `values` distinct service values,
/// written: all from one user (`spread` false) or from a user each. The cap on entries per
/// user would refuse all but 64 of one user's values; it is off to measure the worst case
/// (many accounts, or many app servers).
async fn flooded(
    url: &str,
    namespace: &str,
    shards: usize,
    values: u64,
    spread: bool,
) -> Result<Tracker<Flooded>> {
    let config = Config::builder()
        .namespace(namespace)
        .key_expire(Duration::from_secs(300))
        .history(Duration::ZERO)
        .shards(shards)
        .max_entries_per_user(0)
        .build()?;
    let tracker: Tracker<Flooded> = Tracker::new(config, RedisStore::open(url)?)?;
    for i in 0..values {
        tracker.record_entry(&Flooded {
            user: if spread {
                format!("u{i}")
            } else {
                "attacker".into()
            },
            session: (!spread).then(|| format!("s{i}")),
            service: Some(format!("junk-{i:06}")),
        });
    }
    tracker.flush().await?;
    Ok(tracker)
}

/// A row whose figure is the longest single Redis call of a query, against the 1 ms target.
fn per_call_row(what: String, slowest: f64) -> Row {
    Row {
        what,
        ours: fmt_secs(slowest),
        python: "not available".into(),
        ratio: String::new(),
        target: verdict(slowest <= 1e-3, "≤ 1 ms per call"),
    }
}

/// Queries when one client has sent `values` distinct values of an indexed field, and a page
/// behind a deep cursor: the longest single Redis call of each (what every other client may
/// wait behind) and the whole query.
async fn cardinality_queries(url: &str, values: u64, rows: &mut Vec<Row>) -> Result<()> {
    let mut conn = connect(url).await?;
    let tracker = flooded(url, "bench-flood", 1, values, false).await?;
    let started = Instant::now();
    let (slowest, calls, name) = slowest_call(&mut conn, || async {
        let by = tracker.count_by("service").await?;
        black_box(by);
        Ok(())
    })
    .await?;
    let whole = started.elapsed().as_secs_f64();
    rows.push(per_call_row(
        format!(
            "`count_by` over {} distinct values sent by one client: the longest of its {calls} script calls (`SLOWLOG`, a `{}`); the whole query took {}",
            fmt_int(values as f64),
            name.to_uppercase(),
            fmt_secs(whole)
        ),
        slowest,
    ));

    // The same flood on 4 shards, users spread over them: `counts()` (the API's `/count`, which
    // the dashboard polls) unites the service values of the shards in bounded calls.
    let sharded = flooded(url, "bench-flood-sharded", 4, values, true).await?;
    let started = Instant::now();
    let mut services = 0;
    let (slowest, calls, name) = slowest_call(&mut conn, || async {
        let counts = sharded.counts().await?;
        services = counts.distinct("service").unwrap_or(0);
        Ok(())
    })
    .await?;
    let whole = started.elapsed().as_secs_f64();
    rows.push(per_call_row(
        format!(
            "`counts()` on 4 shards with {} distinct values of an indexed field that does not pick the shard: the longest of its {calls} script calls (`SLOWLOG`, a `{}`); the whole query took {} and counted {}",
            fmt_int(values as f64),
            name.to_uppercase(),
            fmt_secs(whole),
            fmt_int(services as f64)
        ),
        slowest,
    ));

    // A cursor deep inside one score: `values` members written in one call share it, and a
    // page starts after all but 100 of them, from a member that is no longer there (so the
    // script searches the score's members for the place; a member still there is one
    // `ZRANK`).
    use active_users::Store;
    use active_users::store::{Member, Position, Touch, WritePolicy};
    let store = RedisStore::open(url)?;
    let key = "au:{bench-cursor}:active".to_owned();
    let window = Duration::from_secs(300);
    let members: Vec<Member> = (0..values)
        .map(|i| Member::from(format!("member-{i:08}").into_bytes()))
        .collect();
    store
        .touch(
            &[Touch::seen(key.clone(), members)],
            WritePolicy::new(window),
        )
        .await?;
    let first = store.range(&key, window, None, 1).await?;
    let score = first.first().map_or(0, |s| s.score);
    let skip = values.saturating_sub(100);
    // Sorts after member skip - 1 and before member skip.
    let gone = Position {
        score,
        member: format!("member-{:08}~", skip.saturating_sub(1)).into_bytes(),
    };
    let mut listed = 0;
    let (slowest, _, name) = slowest_call(&mut conn, || async {
        let page = store.range(&key, window, Some(&gone), 100).await?;
        listed = page.len();
        Ok(())
    })
    .await?;
    rows.push(per_call_row(
        format!(
            "a page of {listed} after a cursor whose member left, {} members deep in one score (`SLOWLOG`, a `{}`)",
            fmt_int(skip as f64),
            name.to_uppercase()
        ),
        slowest,
    ));
    Ok(())
}

/// The worst case of the history queries: every minute sketch of the last hour and every hour
/// sketch of the last day dense (20,000 visitors each, except in smoke mode), and a point for
/// every minute of the day.
async fn history_queries(url: &str, thousands: u64, rows: &mut Vec<Row>) -> Result<()> {
    const NS: &str = "bench-history";
    let mut conn = connect(url).await?;
    let (secs, _micros): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await?;
    let now_ms = secs * 1000;
    let (minute, hour) = (now_ms / 60_000, now_ms / 3_600_000);
    let sketches: Vec<String> = (0..=61)
        .map(|i| format!("au:{{{NS}}}:unique:m:{}", minute - i))
        .chain((0..=25).map(|i| format!("au:{{{NS}}}:unique:h:{}", hour - i)))
        .collect();
    for (k, key) in sketches.iter().enumerate() {
        for chunk in 0..thousands {
            let mut pfadd = redis::cmd("PFADD");
            pfadd.arg(key);
            for i in 0..1000u64 {
                pfadd.arg(format!("visitor-{k}-{chunk}-{i}"));
            }
            pfadd.query_async::<()>(&mut conn).await?;
        }
    }
    let mut pipe = redis::pipe();
    for i in 0..1440u64 {
        let at = (minute - i) * 60_000;
        pipe.cmd("ZADD")
            .arg(format!("au:{{{NS}}}:history"))
            .arg(at)
            .arg(format!("{at}:{}", 1000 + i))
            .ignore();
    }
    pipe.query_async::<()>(&mut conn).await?;

    let tracker = redis_tracker(url, NS, Duration::from_secs(300))?;
    // The first flush samples the minute and builds this minute's and this hour's unions.
    tracker.flush().await?;
    let hour_span = Duration::from_secs(3600);
    let day = Duration::from_secs(86_400);
    let mut timed = Vec::new();
    for (what, span, command) in [
        (
            "`unique(1 h)`: `PFCOUNT` of the hour's union and this minute",
            hour_span,
            "pfcount",
        ),
        (
            "`unique(24 h)`: `PFCOUNT` of the day's union and this hour",
            day,
            "pfcount",
        ),
        (
            "`unique(59 min)` (no union): `PFCOUNT` of 60 dense minute sketches",
            Duration::from_secs(59 * 60),
            "pfcount",
        ),
        (
            "`unique(23 h)` (no union): `PFCOUNT` of 24 dense hour sketches",
            Duration::from_secs(23 * 3600),
            "pfcount",
        ),
    ] {
        reset_stats(&mut conn).await?;
        let latency = median_secs(21, || async {
            black_box(tracker.unique(span).await?);
            Ok(())
        })
        .await?;
        let busy = usec_per_call(&mut conn, command).await? * 1e-6;
        timed.push((what.to_owned(), latency, busy));
    }
    reset_stats(&mut conn).await?;
    let points = tracker.history(day).await?.len();
    let latency = median_secs(21, || async {
        black_box(tracker.history(day).await?);
        Ok(())
    })
    .await?;
    let busy = usec_per_call(&mut conn, "zrange").await? * 1e-6;
    timed.push((
        format!("`history(24 h)`: {points} points, one `ZRANGE`"),
        latency,
        busy,
    ));
    // What building the unions costs, once a minute (hour) per shard, for one tracker.
    reset_stats(&mut conn).await?;
    let mut pfmerge = redis::cmd("PFMERGE");
    pfmerge.arg(format!("au:{{{NS}}}:bench-union"));
    for key in sketches.iter().skip(1).take(60) {
        pfmerge.arg(key);
    }
    pfmerge.query_async::<()>(&mut conn).await?;
    let merge = usec_per_call(&mut conn, "pfmerge").await? * 1e-6;
    timed.push((
        "building the hour's union: `PFMERGE` of 60 dense sketches, once a minute per shard".into(),
        merge,
        merge,
    ));
    for (what, latency, busy) in timed {
        rows.push(Row {
            what: format!("{what} (Redis busy {})", fmt_secs(busy)),
            ours: fmt_secs(latency),
            python: "not available".into(),
            ratio: String::new(),
            target: String::new(),
        });
    }
    Ok(())
}

/// The cores this program may use, as it started (before the end-to-end part pins it).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(0, |n| n.get()))
}

fn main() -> Result<()> {
    cores();
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The end-to-end part's server, as a child process of this program.
    if args.first().map(String::as_str) == Some("--serve") {
        return e2e::serve(&args[1..]);
    }
    let mut mode = "full";
    let mut e2e_only = false;
    let mut memory_only = false;
    let mut presence_only = false;
    let mut cluster_fill = None;
    let mut args = args.iter().peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => mode = "quick",
            "--smoke" => mode = "smoke",
            "--e2e" => e2e_only = true,
            "--memory" => memory_only = true,
            "--presence" => presence_only = true,
            "--cluster-fill" => {
                let size = match args.next_if(|a| !a.starts_with("--")) {
                    Some(n) => n.replace('_', "").parse::<u64>().map_err(|e| {
                        format!("--cluster-fill takes a number of entries, not {n:?}: {e}")
                    })?,
                    None => 10_000_000,
                };
                cluster_fill = Some(size);
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?}; use --quick, --smoke, --e2e, --memory, --presence, --cluster-fill [N] or nothing"
                )
                .into());
            }
        }
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "note: this build has no optimizations; its figures say nothing about speed (use --release)"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut plan = Plan::new(mode);
    plan.e2e_only = e2e_only;
    plan.memory_only = memory_only;
    plan.presence_only = presence_only;
    if cluster_fill.is_some() {
        plan.cluster_only = true;
        plan.cluster_fill = cluster_fill;
    }
    runtime.block_on(run(plan))
}
