//! `active-users`: who is using your application right now, asked from a terminal.
//!
//! ```text
//! active-users [OPTIONS] <COMMAND>
//!
//! Commands:
//!   count                 active entries and the distinct values of each indexed field
//!   list [--limit N] [--json]
//!                         the active entries, least recently seen first
//!   top <FIELD> [--limit N]
//!                         active entries per value of an indexed field
//!   history [--span 1h]   the active count per minute, and the peak
//!   unique [--span 24h]   unique visitors (HyperLogLog, ±0.81%)
//!   watch [--interval 2]  all of it, refreshed in place until Ctrl-C
//!
//! Options:
//!   --redis URL           one Redis server (default: $REDIS_URL or redis://127.0.0.1:6379/)
//!   --cluster URL,URL     Redis Cluster nodes (default: $REDIS_CLUSTER_NODES)
//!   --namespace NS        (default: $ACTIVE_USERS_NAMESPACE or "default")
//!   --prefix P            key prefix (default: $ACTIVE_USERS_KEY_PREFIX or "au")
//! ```
//!
//! It reads the description every tracker stores beside its data, so it needs no entry type
//! and no shard count: only where the data is and which namespace.

use active_users::{Config, HistoryPoint, QueryError, Reader, RedisStore, StoreError, env};
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const USAGE: &str = "usage: active-users [--redis URL | --cluster URL,URL...] [--namespace NS] [--prefix P] \
<count | list [--limit N] [--json] | top FIELD [--limit N] | history [--span 1h] | unique [--span 24h] | watch [--interval SECONDS]>";

/// What went wrong, said for a person at a terminal.
struct Failure(String);

impl From<QueryError> for Failure {
    fn from(err: QueryError) -> Self {
        Failure(err.to_string())
    }
}

enum Command {
    Count,
    List { limit: usize, json: bool },
    Top { field: String, limit: usize },
    History { span: Duration },
    Unique { span: Duration },
    Watch { interval: Duration },
}

struct Args {
    redis: Option<String>,
    cluster: Option<String>,
    namespace: Option<String>,
    prefix: Option<String>,
    command: Command,
}

fn parse_span(text: &str) -> Result<Duration, Failure> {
    let (digits, per) = match text.char_indices().last() {
        Some((i, 'm')) => (&text[..i], 60),
        Some((i, 'h')) => (&text[..i], 3600),
        Some((i, 'd')) => (&text[..i], 86_400),
        Some((i, 's')) => (&text[..i], 1),
        _ => (text, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && *n < 1_000_000_000)
        .map(|n| Duration::from_secs(n * per))
        .ok_or_else(|| {
            Failure(format!(
                "--span must look like 90, 30m, 1h or 7d, got {text:?}"
            ))
        })
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, Failure> {
    let mut it = args.into_iter();
    let (mut redis, mut cluster, mut namespace, mut prefix) = (None, None, None, None);
    let mut positional = Vec::new();
    let (mut limit, mut json, mut span, mut interval) = (None, false, None, 2u64);
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .ok_or_else(|| Failure(format!("{flag} needs a value\n{USAGE}")))
        };
        match arg.as_str() {
            "--redis" => redis = Some(value("--redis")?),
            "--cluster" => cluster = Some(value("--cluster")?),
            "--namespace" => namespace = Some(value("--namespace")?),
            "--prefix" => prefix = Some(value("--prefix")?),
            "--json" => json = true,
            "--limit" => {
                let text = value("--limit")?;
                limit = Some(
                    text.parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            Failure(format!("--limit must be a positive number, got {text:?}"))
                        })?,
                );
            }
            "--span" => span = Some(parse_span(&value("--span")?)?),
            "--interval" => {
                let text = value("--interval")?;
                interval = text.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Failure(format!("--interval must be whole seconds, got {text:?}"))
                })?;
            }
            "-h" | "--help" => return Err(Failure(USAGE.to_owned())),
            flag if flag.starts_with("--") => {
                return Err(Failure(format!("unknown option {flag}\n{USAGE}")));
            }
            _ => positional.push(arg),
        }
    }
    let command = match positional
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["count"] => Command::Count,
        ["list"] => Command::List {
            limit: limit.unwrap_or(50),
            json,
        },
        ["top", field] => Command::Top {
            field: (*field).to_owned(),
            limit: limit.unwrap_or(10),
        },
        ["history"] => Command::History {
            span: span.unwrap_or(Duration::from_secs(3600)),
        },
        ["unique"] => Command::Unique {
            span: span.unwrap_or(Duration::from_secs(86_400)),
        },
        ["watch"] => Command::Watch {
            interval: Duration::from_secs(interval),
        },
        [] => return Err(Failure(format!("no command given\n{USAGE}"))),
        other => return Err(Failure(format!("unknown command {other:?}\n{USAGE}"))),
    };
    Ok(Args {
        redis,
        cluster,
        namespace,
        prefix,
        command,
    })
}

/// Opens the store and the namespace; says plainly when Redis cannot be reached.
async fn open(args: &Args) -> Result<Reader, Failure> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut builder = Config::builder();
    if let Some(ns) = args.namespace.clone().or_else(|| var(env::NAMESPACE)) {
        builder = builder.namespace(ns);
    }
    if let Some(prefix) = args.prefix.clone().or_else(|| var(env::KEY_PREFIX)) {
        builder = builder.key_prefix(prefix);
    }
    let config = builder
        .build()
        .map_err(|e| Failure(format!("invalid setting: {e}")))?;
    let cluster = args.cluster.clone().or_else(|| var("REDIS_CLUSTER_NODES"));
    let (store, target) = match cluster {
        Some(nodes) => {
            let store = RedisStore::open_cluster(nodes.split(',').map(str::trim))
                .map_err(|e| Failure(format!("invalid cluster node list {nodes:?}: {e}")))?;
            (store, format!("the Redis Cluster at {nodes}"))
        }
        None => {
            let url = args
                .redis
                .clone()
                .or_else(|| var("REDIS_URL"))
                .unwrap_or_else(|| "redis://127.0.0.1:6379/".to_owned());
            let store = RedisStore::open(&url)
                .map_err(|e| Failure(format!("invalid Redis URL {url:?}: {e}")))?;
            (store, format!("Redis at {url}"))
        }
    };
    Reader::open(config, store).await.map_err(|err| match err {
        QueryError::Store(StoreError::Redis(e)) => Failure(format!(
            "cannot reach {target}: {e}\n(is it running? give --redis URL, --cluster URLS, or set REDIS_URL)"
        )),
        QueryError::Timeout(t) => Failure(format!(
            "{target} did not answer within {t:?} (is it running and reachable?)"
        )),
        other => Failure(other.to_string()),
    })
}

fn clock(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

/// Columns padded to their widest cell.
fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

fn sparkline(values: &[u64]) -> String {
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    values
        .iter()
        .map(|&v| BARS[((v * 7).div_ceil(max)) as usize])
        .collect()
}

async fn count(reader: &Reader) -> Result<String, Failure> {
    // One snapshot, so that the distinct counts agree with the count.
    let counts = reader.counts().await?;
    let mut out = format!("{} active\n", counts.entries);
    for (name, n) in &counts.distinct {
        let _ = writeln!(out, "{n} distinct {name}");
    }
    Ok(out)
}

async fn list(reader: &Reader, limit: usize, json: bool) -> Result<String, Failure> {
    let mut entries = Vec::new();
    let mut cursor = None;
    while entries.len() < limit {
        let page = reader.list(limit - entries.len(), cursor).await?;
        entries.extend(page.entries);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let shown: Vec<&active_users::FieldInfo> =
        reader.fields().iter().filter(|f| !f.hidden).collect();
    if json {
        let data: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                let mut map = serde_json::Map::new();
                for f in &shown {
                    map.insert(f.name.clone(), e.value(&f.name).into());
                }
                let seen = e
                    .last_seen
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                map.insert("last_seen".into(), serde_json::json!(seen as u64));
                serde_json::Value::Object(map)
            })
            .collect();
        return Ok(serde_json::Value::Array(data).to_string() + "\n");
    }
    let mut header: Vec<String> = shown.iter().map(|f| f.name.clone()).collect();
    header.push("last seen".into());
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let mut row: Vec<String> = shown
                .iter()
                .map(|f| e.value(&f.name).unwrap_or("-").to_owned())
                .collect();
            row.push(clock(e.last_seen));
            row
        })
        .collect();
    Ok(table(&header, &rows) + &format!("({} shown)\n", rows.len()))
}

async fn top(reader: &Reader, field: &str, limit: usize) -> Result<String, Failure> {
    let counts = reader.count_by(field).await?;
    let rows: Vec<Vec<String>> = counts
        .iter()
        .take(limit)
        .map(|(value, n)| vec![value.clone(), n.to_string()])
        .collect();
    Ok(table(&[field.to_owned(), "active".into()], &rows))
}

async fn history(reader: &Reader, span: Duration) -> Result<String, Failure> {
    let points = reader.history(span).await?;
    if points.is_empty() {
        return Ok("no minute sampled in this span yet\n".into());
    }
    let values: Vec<u64> = points.iter().map(|p| p.active).collect();
    let mut out = format!("{}\n", sparkline(&values));
    let rows: Vec<Vec<String>> = points
        .iter()
        .map(|p| vec![clock(p.at), p.active.to_string()])
        .collect();
    out += &table(&["minute".into(), "active".into()], &rows);
    if let Some(peak) = HistoryPoint::peak(&points) {
        let _ = writeln!(out, "peak: {} at {}", peak.active, clock(peak.at));
    }
    Ok(out)
}

async fn unique(reader: &Reader, span: Duration) -> Result<String, Failure> {
    let u = reader.unique(span).await?;
    Ok(format!(
        "{} unique visitors since {} (±{:.2}%)\n",
        u.visitors,
        clock(u.since),
        active_users::UNIQUE_STANDARD_ERROR * 100.0
    ))
}

/// One screen of `watch`.
async fn frame(reader: &Reader) -> Result<String, Failure> {
    let mut out = format!("active-users · {}\n\n", clock(SystemTime::now()));
    out += &count(reader).await?;
    if reader.history_span() >= Duration::from_secs(3600) {
        let points = reader.history(Duration::from_secs(3600)).await?;
        let values: Vec<u64> = points.iter().map(|p| p.active).collect();
        let _ = writeln!(out, "\nlast hour  {}", sparkline(&values));
        out += &unique(reader, Duration::from_secs(3600)).await?;
    }
    if let Some(field) = reader.fields().iter().find(|f| f.grouped && !f.hidden) {
        out += "\n";
        out += &top(reader, &field.name.clone(), 5).await?;
    }
    Ok(out)
}

async fn run(args: Args) -> Result<(), Failure> {
    let reader = open(&args).await?;
    let text = match args.command {
        Command::Count => count(&reader).await?,
        Command::List { limit, json } => list(&reader, limit, json).await?,
        Command::Top { field, limit } => top(&reader, &field, limit).await?,
        Command::History { span } => history(&reader, span).await?,
        Command::Unique { span } => unique(&reader, span).await?,
        Command::Watch { interval } => loop {
            // Clear the screen and home the cursor, then draw the frame.
            let screen = match frame(&reader).await {
                Ok(text) => text,
                Err(Failure(message)) => format!("{message}\n(retrying)\n"),
            };
            print!("\x1b[2J\x1b[H{screen}");
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = tokio::signal::ctrl_c() => break String::new(),
            }
        },
    };
    print!("{text}");
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(Failure(message)) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("active-users: {message}");
            ExitCode::FAILURE
        }
    }
}
