//! The end-to-end part: what the layer costs inside a real server, over real TCP.
//!
//! The server is a child process (this program with `--serve`): axum on a tokio runtime with
//! a worker per core it may use (one when pinned), a minimal auth middleware that turns
//! `x-user-id` into a [`User`], one route, and `ActiveUsersLayer` on the in-memory store, on
//! Redis, or not at all; two more configurations split the layer's cost (the layer recording
//! no response, so that it only extracts and encodes each entry; the layer on a store that
//! keeps nothing). A load generator in this
//! process keeps 32 HTTP/1.1 keep-alive connections busy with visitors chosen at random, each
//! with its own session cookie, as fast as the server answers. The server's CPU time (utime +
//! stime from `/proc/<pid>/stat`) and Redis's (`INFO cpu`) are read before and after each run.
//! Every configuration runs in a fresh server, in rounds (each round runs every configuration
//! once, in alternating order); a figure is the median of its runs, and a difference between
//! two configurations the median of their differences within each round. With `taskset` on a
//! machine of two cores or more, the server runs on the second core and the load generator
//! and Redis on the first.

use super::{Result, Row, fmt_int, verdict};
use active_users::{
    ActiveUsersLayer, Config, DefaultEntry, MemoryStore, RecordOn, RedisStore, Tracker, User,
};
use active_users_bench::session_id;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Connections the load generator keeps busy (as `wrk -c32`).
const CONNECTIONS: usize = 32;

/// The server side: `--serve none|memory|redis [url]`. Prints its port, then serves until
/// killed.
pub(crate) fn serve(args: &[String]) -> Result<()> {
    let mode = args.first().map_or("none", String::as_str).to_owned();
    let url = args.get(1).cloned();
    // A worker per core the server may use, as a deployment sizes it: one when pinned.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        use axum::routing::get;
        let app = axum::Router::new().route("/", get(|| async { "hello" }));
        let tracker: Option<Tracker<DefaultEntry>> = match (mode.as_str(), url) {
            ("none", _) => None,
            ("memory", _) => Some(Tracker::new(Config::default(), MemoryStore::new())?),
            ("redis", Some(url)) => Some(Tracker::new(
                Config::builder().namespace("e2e").build()?,
                RedisStore::open(&url)?,
            )?),
            ("presence", Some(url)) => Some(Tracker::new(
                Config::builder().namespace("e2e").presence(true).build()?,
                RedisStore::open(&url)?,
            )?),
            ("discard" | "extract", _) => Some(Tracker::new(
                Config::default(),
                crate::discard::DiscardStore::default(),
            )?),
            (other, _) => {
                return Err(format!(
                    "--serve {other}: none, extract, discard, memory, redis URL or presence URL"
                )
                .into());
            }
        };
        let app = match tracker {
            // Only what the layer does before the buffer: the layer itself, extracting and
            // encoding each request's entry and holding it across the response, with a
            // `RecordOn` that records no response.
            Some(tracker) if mode == "extract" => {
                app.layer(ActiveUsersLayer::new(tracker).record_on(RecordOn::Status(|_| false)))
            }
            Some(tracker) => app.layer(ActiveUsersLayer::new(tracker)),
            None => app,
        };
        let app = app.layer(axum::middleware::from_fn(auth));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("{}", listener.local_addr()?.port());
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await?;
        Ok(())
    })
}

/// The minimal auth step of the measured app: the user id header becomes a [`User`].
async fn auth(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let user = request
        .headers()
        .get("x-user-id")
        .and_then(|v| v.to_str().ok())
        .map(User::new);
    if let Some(user) = user {
        request.extensions_mut().insert(user);
    }
    next.run(request).await
}

/// A server child process, killed on drop.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
}

/// jemalloc as a shared library, where the system has one (Debian: `libjemalloc2`): a
/// server started with it in `LD_PRELOAD` allocates with jemalloc instead of glibc's malloc,
/// as an application that picks it does.
fn jemalloc() -> Option<&'static str> {
    [
        "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
        "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
        "/usr/lib64/libjemalloc.so.2",
    ]
    .into_iter()
    .find(|path| std::path::Path::new(path).exists())
}

impl ServerProcess {
    /// A server of `mode` (`none`, `memory`, `redis`, `presence`); with `+jemalloc` after it,
    /// allocating with jemalloc.
    fn start(mode: &str, url: &str) -> Result<Self> {
        // The server on the second core, when `taskset` can put it there: the load generator
        // and Redis share the first, so that the server's CPU time is not its neighbours'
        // scheduling noise.
        let exe = std::env::current_exe()?;
        let mut command = if pinning() {
            let mut c = Command::new("taskset");
            c.args(["-c", "1"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        let mode = match mode.strip_suffix("+jemalloc") {
            Some(base) => {
                command.env("LD_PRELOAD", jemalloc().ok_or("no libjemalloc.so.2 here")?);
                base
            }
            None => mode,
        };
        let mut child = command
            .args(["--serve", mode, url])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout of the server")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let port: u16 = line
            .trim()
            .parse()
            .map_err(|_| format!("the server printed {line:?}, not its port"))?;
        Ok(ServerProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        })
    }

    /// The process's CPU time so far (user + system), from `/proc/<pid>/stat`.
    fn cpu(&self) -> Result<Duration> {
        process_cpu(self.child.id())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the machine has two cores or more and `taskset` to pin processes to them. Decided
/// once, before anything is pinned: once this process is pinned to one core, it would see one
/// core, and never unpin itself (which left every later part of a full run on one core).
fn pinning() -> bool {
    static PINNING: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PINNING.get_or_init(|| {
        std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
            && Command::new("taskset")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success())
    })
}

/// Pins a process (all its threads) to `cpus` (`"0"`), if `taskset` is there.
pub(crate) fn pin(pid: u32, cpus: &str) {
    if pinning() {
        let _ = Command::new("taskset")
            .args(["-a", "-c", "-p", cpus, &pid.to_string()])
            .output();
    }
}

/// Clock ticks per second of `/proc` times (`getconf CLK_TCK`; 100 on Linux when unknown).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process.
pub(crate) fn process_cpu(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name is in parentheses and may hold spaces: count fields after it.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or("unreadable /proc stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of the line are the 12th and 13th after the name.
    let ticks =
        |i: usize| -> Result<f64> { Ok(fields.get(i).ok_or("short /proc stat")?.parse::<f64>()?) };
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_secs_f64(total / clock_ticks()))
}

/// Redis's own CPU time so far (`used_cpu_user` + `used_cpu_sys` of `INFO cpu`).
pub(crate) async fn redis_cpu(url: &str) -> Result<Duration> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO").arg("cpu").query_async(&mut conn).await?;
    let mut total = 0.0;
    for line in info.lines() {
        for key in ["used_cpu_user:", "used_cpu_sys:"] {
            if let Some(v) = line.strip_prefix(key) {
                total += v.trim().parse::<f64>()?;
            }
        }
    }
    Ok(Duration::from_secs_f64(total))
}

/// Keeps [`CONNECTIONS`] connections busy for `time`, each request from one of `visitors`
/// chosen at random; returns how many requests were answered (all must be 200s).
async fn load(addr: SocketAddr, visitors: u64, time: Duration, seed: u64) -> Result<u64> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS as u64 {
        let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let mut rng = (seed ^ (c + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1;
            let mut buf = vec![0_u8; 4096];
            let mut request = Vec::with_capacity(256);
            while !stop.load(Ordering::Relaxed) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let visitor = rng % visitors;
                request.clear();
                request.extend_from_slice(
                    format!(
                        "GET / HTTP/1.1\r\nhost: bench\r\nx-user-id: {visitor}\r\ncookie: sessionid={}\r\n\r\n",
                        session_id(visitor)
                    )
                    .as_bytes(),
                );
                stream.write_all(&request).await?;
                read_response(&mut stream, &mut buf).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        }));
    }
    tokio::time::sleep(time).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await??;
    }
    Ok(done.load(Ordering::Relaxed))
}

/// Reads one response (status 200, a `content-length` body) off a keep-alive connection.
async fn read_response(stream: &mut tokio::net::TcpStream, buf: &mut [u8]) -> Result<()> {
    let mut filled = 0;
    loop {
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        filled += n;
        let text = &buf[..filled];
        let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") else {
            if filled == buf.len() {
                return Err("response head too long".into());
            }
            continue;
        };
        let head = std::str::from_utf8(&text[..end])?;
        if !head.starts_with("HTTP/1.1 200") {
            return Err(format!("the server answered {head:?}").into());
        }
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .ok_or("no content-length")?;
        if filled >= end + 4 + length {
            return Ok(());
        }
    }
}

/// One configuration's run.
#[derive(Debug, Clone, Copy)]
struct Measured {
    per_second: f64,
    /// Server CPU per request.
    app_cpu: f64,
    /// Redis CPU per request.
    redis_cpu: f64,
    /// The server's CPU time over the run's wall time: 1.0 is a core kept busy.
    busy: f64,
}

async fn measure(mode: &str, url: &str, visitors: u64, time: Duration) -> Result<Measured> {
    let server = ServerProcess::start(mode, url)?;
    // Warm up: connections, the buffer, the first flushes.
    load(server.addr, visitors, Duration::from_secs(1), 1).await?;
    let (cpu0, redis0) = (server.cpu()?, redis_cpu(url).await?);
    let started = Instant::now();
    let n = load(server.addr, visitors, time, 2).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu1, redis1) = (server.cpu()?, redis_cpu(url).await?);
    let n_f = n.max(1) as f64;
    Ok(Measured {
        per_second: n as f64 / elapsed,
        app_cpu: (cpu1 - cpu0).as_secs_f64() / n_f,
        redis_cpu: redis1.saturating_sub(redis0).as_secs_f64() / n_f,
        busy: (cpu1 - cpu0).as_secs_f64() / elapsed,
    })
}

/// The median of `x` (the upper one of an even count); `None` if empty.
fn median_of(mut x: Vec<f64>) -> Option<f64> {
    x.sort_by(f64::total_cmp);
    x.get(x.len() / 2).copied()
}

/// The median over rounds of `f(a, b)` for the runs of two configurations in the same round.
fn paired_median(
    a: &[Measured],
    b: &[Measured],
    f: fn(&Measured, &Measured) -> f64,
) -> Result<f64> {
    median_of(a.iter().zip(b).map(|(a, b)| f(a, b)).collect())
        .ok_or_else(|| "an end-to-end run is missing".into())
}

/// A difference in CPU time, with its sign.
fn signed(seconds: f64) -> String {
    let sign = if seconds < 0.0 { '−' } else { '+' };
    format!("{sign}{:.1} µs", seconds.abs() * 1e6)
}

/// The end-to-end rows: for 1,000 and 100,000 visitors, the app without the layer, with it on
/// `MemoryStore` and on Redis (the `redis-server` at `url`, shared with nothing else).
pub(crate) async fn rows(
    url: &str,
    redis_pid: u32,
    time: Duration,
    rounds: usize,
    rows: &mut Vec<Row>,
) -> Result<()> {
    pin(std::process::id(), "0");
    pin(redis_pid, "0");
    let us = |s: f64| format!("{:.1} µs", s * 1e6);
    for visitors in [1_000_u64, 100_000] {
        // `extract` and `discard` split the layer's cost: the layer extracting and encoding
        // only, then the whole layer on a store that keeps nothing.
        let modes = ["none", "memory", "redis", "presence", "extract", "discard"];
        let mut runs: Vec<Vec<Measured>> = vec![Vec::new(); modes.len()];
        for round in 0..rounds {
            // Alternate the order, so that no configuration always runs first.
            let mut order: Vec<usize> = (0..modes.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for i in order {
                let m = measure(modes[i], url, visitors, time).await?;
                eprintln!(
                    "  e2e {} visitors, {}: {:.0} req/s, app {:.2} µs/req ({:.0}% of a core), redis {:.2} µs/req",
                    visitors,
                    modes[i],
                    m.per_second,
                    m.app_cpu * 1e6,
                    m.busy * 100.0,
                    m.redis_cpu * 1e6
                );
                runs[i].push(m);
            }
        }
        // Each figure's median over the configuration's runs.
        let median = |v: &[Measured]| -> Option<Measured> {
            let of = |f: fn(&Measured) -> f64| median_of(v.iter().map(f).collect());
            Some(Measured {
                per_second: of(|m| m.per_second)?,
                app_cpu: of(|m| m.app_cpu)?,
                redis_cpu: of(|m| m.redis_cpu)?,
                busy: of(|m| m.busy)?,
            })
        };
        // A difference between two configurations: the median of their differences within
        // each round (runs a few seconds apart), which the machine's drift over minutes does
        // not move as it moves each configuration's own median.
        let paired = |a: usize, b: usize, f| paired_median(&runs[a], &runs[b], f);
        let cpu = |a: &Measured, b: &Measured| a.app_cpu - b.app_cpu;
        let speed = |a: &Measured, b: &Measured| a.per_second / b.per_second;
        let [none, memory, redis, presence] =
            [0, 1, 2, 3].map(|i| median(&runs[i]).ok_or("an end-to-end run is missing"));
        let (none, memory, redis, presence) = (none?, memory?, redis?, presence?);
        let repeat = visitors <= 1_000;
        let added_limit = if repeat { 1.5e-6 } else { 3e-6 };
        let who = if repeat {
            "1,000 repeat visitors"
        } else {
            "100,000 visitors"
        };
        rows.push(Row {
            what: format!(
                "end to end, {who}: app CPU per request without the layer ({} req/s)",
                fmt_int(none.per_second)
            ),
            ours: us(none.app_cpu),
            python: String::new(),
            ratio: String::new(),
            target: String::new(),
        });
        for (name, i) in [("MemoryStore", 1), ("RedisStore", 2)] {
            let added = paired(i, 0, cpu)?;
            let ratio = paired(i, 0, speed)?;
            let ratio_limit = if name == "MemoryStore" { 0.85 } else { 0.75 };
            rows.push(Row {
                what: format!("end to end, {who}: app CPU added by the layer, {name}"),
                ours: signed(added),
                python: String::new(),
                ratio: format!("{ratio:.2}x req/s"),
                target: format!(
                    "{}; {}",
                    verdict(added <= added_limit, &format!("≤ {}", us(added_limit))),
                    verdict(ratio >= ratio_limit, &format!("≥ {ratio_limit}x req/s"))
                ),
            });
        }
        // Where the added CPU goes: each step less the one before it, paired by round.
        rows.push(Row {
            what: format!(
                "end to end, {who}: the layer's added CPU in steps: the layer extracting and encoding each entry, recording none / the buffer and the writer's batches (a store that keeps nothing) / writing to MemoryStore / writing to RedisStore"
            ),
            ours: format!(
                "{} / {} / {} / {}",
                signed(paired(4, 0, cpu)?),
                signed(paired(5, 4, cpu)?),
                signed(paired(1, 5, cpu)?),
                signed(paired(2, 5, cpu)?)
            ),
            python: String::new(),
            ratio: String::new(),
            target: String::new(),
        });
        // Requests per second follow the server's CPU only while it keeps its core busy.
        rows.push(Row {
            what: format!(
                "end to end, {who}: the server's core in use, without the layer / MemoryStore / RedisStore"
            ),
            ours: format!(
                "{:.0}% / {:.0}% / {:.0}%",
                none.busy * 100.0,
                memory.busy * 100.0,
                redis.busy * 100.0
            ),
            python: String::new(),
            ratio: String::new(),
            target: String::new(),
        });
        rows.push(Row {
            what: format!("end to end, {who}: Redis CPU per request"),
            ours: us(redis.redis_cpu),
            python: String::new(),
            ratio: String::new(),
            target: if repeat {
                String::new()
            } else {
                verdict(redis.redis_cpu <= 3e-6, "≤ 3.0 µs")
            },
        });
        // The allocator: the same servers allocating with jemalloc, where the system has it.
        if !repeat && jemalloc().is_some() {
            let mut pairs: [Vec<Measured>; 2] = [Vec::new(), Vec::new()];
            for round in 0..rounds {
                let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
                for i in order {
                    let mode = ["none+jemalloc", "redis+jemalloc"][i];
                    pairs[i].push(measure(mode, url, visitors, time).await?);
                }
            }
            let none_je = median(&pairs[0]).ok_or("an end-to-end run is missing")?;
            let within = |f| paired_median(&pairs[1], &pairs[0], f);
            let added = within(cpu)?;
            rows.push(Row {
                what: format!(
                    "end to end, {who}: with jemalloc (`LD_PRELOAD`), app CPU per request without the layer / added by the layer, RedisStore"
                ),
                ours: format!("{} / {}", us(none_je.app_cpu), signed(added)),
                python: String::new(),
                ratio: format!("{:.2}x req/s", within(speed)?),
                target: verdict(added <= added_limit, &format!("≤ {}", us(added_limit))),
            });
        }
        // Presence: what its score reads, sweeps and log appends cost the app and Redis.
        rows.push(Row {
            what: format!(
                "end to end, {who}: with presence on, app CPU added by the layer / Redis CPU per request (RedisStore)"
            ),
            ours: format!(
                "{} / {}",
                signed(paired(3, 0, cpu)?),
                us(presence.redis_cpu)
            ),
            python: String::new(),
            ratio: format!("{:.2}x req/s", paired(3, 0, speed)?),
            target: String::new(),
        });
    }
    Ok(())
}
