//! `active-users`: who is using your application right now, asked from a terminal.
//!
//! `active-users --help` lists the commands and the environment variables; every command has
//! its own `--help` and answers `--json`. It reads the description every tracker stores beside
//! its data, so it needs no entry type and no shard count: only where the data is and which
//! namespace.

mod render;

use active_users::redis;
use active_users::{
    Change, Config, HistoryPoint, PresenceEvent, QueryError, RawChange, Reader, RedisStore,
    SubscriptionError, env,
};
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use render::clean;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long the command waits to connect before it says Redis cannot be reached.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Ask Redis who is using your application right now.
///
/// Reads what active-users trackers write: the active entries, distinct users, history and
/// unique visitors of one namespace. It needs neither the entry type nor the shard count.
#[derive(Debug, Parser)]
#[command(name = "active-users", version, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    target: Target,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// Where the data is.
#[derive(Debug, Args)]
struct Target {
    /// One Redis server.
    #[arg(
        long,
        value_name = "URL",
        env = "REDIS_URL",
        global = true,
        default_value = "redis://127.0.0.1:6379/"
    )]
    redis: String,
    /// The nodes of a Redis Cluster, separated by commas (the others are discovered); used
    /// instead of --redis.
    #[arg(
        long,
        value_name = "URL,URL",
        env = "REDIS_CLUSTER_NODES",
        global = true,
        value_delimiter = ','
    )]
    cluster: Option<Vec<String>>,
    /// The namespace the trackers write.
    #[arg(long, value_name = "NS", env = env::NAMESPACE, global = true, default_value = "default")]
    namespace: String,
    /// The key prefix the trackers use.
    #[arg(long, value_name = "PREFIX", env = env::KEY_PREFIX, global = true, default_value = "au")]
    prefix: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Active entries, and the distinct values of each indexed field (one snapshot).
    Count,
    /// The active entries (sessions), least recently seen first.
    List {
        /// How many to show.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=100_000))]
        limit: u64,
    },
    /// Each active user once, with when they were last seen (the values of an indexed field).
    Users {
        /// The field whose values are listed (default: the first indexed field, the one that
        /// names the user).
        #[arg(long)]
        field: Option<String>,
        /// How many to show.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=100_000))]
        limit: u64,
    },
    /// Active entries per value of a field marked #[active_users(index)], largest first.
    Top {
        /// The field.
        field: String,
        /// How many values to show.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        limit: u64,
    },
    /// The active count of each minute (its peak), a sparkline with gaps, and the peak.
    History {
        /// How far back: seconds, or a number with m, h or d.
        #[arg(long, default_value = "1h", value_parser = parse_span)]
        span: Duration,
    },
    /// Unique visitors (HyperLogLog, within ±0.81%).
    Unique {
        /// How far back: seconds, or a number with m, h or d.
        #[arg(long, default_value = "24h", value_parser = parse_span)]
        span: Duration,
    },
    /// The count, the last hour and the top values, refreshed until Ctrl-C (redrawn in place
    /// on a terminal; one frame after another otherwise, or one JSON document per line).
    Watch {
        /// Seconds between refreshes.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=3600))]
        interval: u64,
    },
}

fn parse_span(text: &str) -> Result<Duration, String> {
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
        .ok_or_else(|| "expected a span like 90, 30m, 1h or 7d".to_owned())
}

/// What went wrong, said for a person at a terminal.
#[derive(Debug)]
struct Failure(String);

impl From<QueryError> for Failure {
    fn from(err: QueryError) -> Self {
        Failure(err.to_string())
    }
}

/// What a command prints: text, or a JSON document.
enum Answer {
    Text(String),
    Json(Value),
}

impl Answer {
    fn print(self) {
        let text = match self {
            Answer::Text(text) => text,
            Answer::Json(value) => render::json(&value) + "\n",
        };
        let mut out = std::io::stdout().lock();
        // A closed pipe (`| head`) is not an error worth a message.
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }
}

/// Connects first, so that a refused connection is said at once and as what it is.
async fn open(target: &Target) -> Result<Reader, Failure> {
    let config = Config::builder()
        .namespace(target.namespace.clone())
        .key_prefix(target.prefix.clone())
        .build()
        .map_err(|e| Failure(format!("invalid setting: {e}")))?;
    let (store, place) = match &target.cluster {
        Some(nodes) => {
            let nodes: Vec<String> = nodes.iter().map(|n| n.trim().to_owned()).collect();
            let place = format!("the Redis Cluster at {}", nodes.join(","));
            let client = redis::cluster::ClusterClient::builder(nodes.clone())
                .connection_timeout(CONNECT_TIMEOUT)
                .build()
                .map_err(|e| Failure(format!("invalid cluster node list {nodes:?}: {e}")))?;
            reachable(&place, client.get_async_connection()).await?;
            let store = RedisStore::from_cluster_client(&client)
                .map_err(|e| Failure(format!("cannot open {place}: {e}")))?;
            (store, place)
        }
        None => {
            let url = &target.redis;
            let place = format!("Redis at {url}");
            let client = redis::Client::open(url.as_str())
                .map_err(|e| Failure(format!("invalid Redis URL {url:?}: {e}")))?;
            reachable(&place, client.get_multiplexed_async_connection()).await?;
            let store = RedisStore::from_client(client)
                .map_err(|e| Failure(format!("cannot open {place}: {e}")))?;
            (store, place)
        }
    };
    Reader::open(config, store).await.map_err(|err| match err {
        QueryError::Timeout(t) => Failure(format!(
            "{place} did not answer within {t:?} (is it overloaded or paused?)"
        )),
        other => Failure(other.to_string()),
    })
}

/// Waits for a first connection, and names the cause when there is none.
async fn reachable<T>(
    place: &str,
    connect: impl Future<Output = redis::RedisResult<T>>,
) -> Result<(), Failure> {
    let hint = "is it running? give --redis URL or --cluster URLS, or set REDIS_URL";
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.is_connection_refusal() => Err(Failure(format!(
            "cannot reach {place}: the connection was refused ({hint})"
        ))),
        Ok(Err(e)) if e.is_io_error() || e.is_timeout() => {
            let why = e.to_string();
            let why = why.lines().next().unwrap_or_default();
            Err(Failure(format!("cannot reach {place}: {why} ({hint})")))
        }
        // Something answered, but not as Redis does (an HTTP server on that port, a TLS
        // port without rediss://, a password that is refused).
        Ok(Err(e)) => {
            let why = e.to_string();
            let why = why.lines().next().unwrap_or_default();
            Err(Failure(format!(
                "{place} answered, but not as a Redis server does: {why} (is this the right address, scheme and password?)"
            )))
        }
        Err(_) => Err(Failure(format!(
            "cannot reach {place}: no answer within {CONNECT_TIMEOUT:?} ({hint})"
        ))),
    }
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn count(reader: &Reader, json: bool) -> Result<Answer, Failure> {
    // One snapshot, so that the distinct counts agree with the count.
    let counts = reader.counts().await?;
    if json {
        let distinct: serde_json::Map<String, Value> = counts
            .distinct
            .iter()
            .map(|(name, n)| (name.clone(), json!(n)))
            .collect();
        return Ok(Answer::Json(
            json!({ "count": counts.entries, "distinct": distinct }),
        ));
    }
    let mut out = format!("{} active\n", counts.entries);
    for (name, n) in &counts.distinct {
        let _ = writeln!(out, "{n} distinct {}", clean(name));
    }
    Ok(Answer::Text(out))
}

async fn list(reader: &Reader, limit: u64, json: bool) -> Result<Answer, Failure> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
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
        let data: Vec<Value> = entries
            .iter()
            .map(|e| {
                let mut map = serde_json::Map::new();
                for f in &shown {
                    map.insert(f.name.clone(), e.value(&f.name).into());
                }
                map.insert("last_seen".into(), json!(ms(e.last_seen)));
                Value::Object(map)
            })
            .collect();
        return Ok(Answer::Json(Value::Array(data)));
    }
    let total = reader.count().await?;
    let now = SystemTime::now();
    let mut header: Vec<String> = shown.iter().map(|f| clean(&f.name).into_owned()).collect();
    header.push("last seen (UTC)".into());
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let mut row: Vec<String> = shown
                .iter()
                .map(|f| {
                    e.value(&f.name)
                        .map_or("-".into(), |v| clean(v).into_owned())
                })
                .collect();
            row.push(render::moment(e.last_seen, now));
            row
        })
        .collect();
    Ok(Answer::Text(
        render::table(&header, &rows) + &shown_of(rows.len(), total, "active entries"),
    ))
}

/// The last line of a listing: how many were shown, and of how many (least recently seen
/// first, so a limit leaves out the newest).
fn shown_of(shown: usize, total: u64, what: &str) -> String {
    if (shown as u64) < total {
        format!(
            "({shown} shown of {total} {what}, least recently seen first; --limit shows more)\n"
        )
    } else {
        format!("({shown} shown)\n")
    }
}

async fn users(
    reader: &Reader,
    field: Option<String>,
    limit: u64,
    json: bool,
) -> Result<Answer, Failure> {
    let field = match field {
        Some(field) => field,
        None => reader
            .fields()
            .iter()
            .find(|f| f.indexed && !f.hidden)
            .map(|f| f.name.clone())
            .ok_or_else(|| {
                Failure(
                    "this namespace has no indexed field to list users by; mark the user field #[active_users(distinct)]"
                        .to_owned(),
                )
            })?,
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut values = Vec::new();
    let mut cursor = None;
    while values.len() < limit {
        let page = reader.values(&field, limit - values.len(), cursor).await?;
        values.extend(page.values);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if json {
        let shown: Vec<Value> = values
            .iter()
            .map(
                |v| json!({ "value": v.value, "entries": v.entries, "last_seen": ms(v.last_seen) }),
            )
            .collect();
        return Ok(Answer::Json(json!({ "field": field, "values": shown })));
    }
    let total = reader
        .counts()
        .await?
        .distinct(&field)
        .unwrap_or(values.len() as u64);
    let now = SystemTime::now();
    let counted = values.iter().any(|v| v.entries.is_some());
    let mut header = vec![clean(&field).into_owned()];
    if counted {
        header.push("sessions".into());
    }
    header.push("last seen (UTC)".into());
    let rows: Vec<Vec<String>> = values
        .iter()
        .map(|v| {
            let mut row = vec![clean(&v.value).into_owned()];
            if counted {
                row.push(v.entries.map_or("-".into(), |n| n.to_string()));
            }
            row.push(render::moment(v.last_seen, now));
            row
        })
        .collect();
    Ok(Answer::Text(
        render::table(&header, &rows) + &shown_of(rows.len(), total, "active values"),
    ))
}

async fn top(reader: &Reader, field: &str, limit: u64, json: bool) -> Result<Answer, Failure> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let by = reader.count_by(field).await?;
    let counts = &by.top;
    let others = counts.len().saturating_sub(limit) as u64 + by.other_values;
    if json {
        let shown: Vec<Value> = counts
            .iter()
            .take(limit)
            .map(|(value, n)| json!({ "value": value, "count": n }))
            .collect();
        return Ok(Answer::Json(
            json!({ "field": field, "counts": shown, "other_values": others }),
        ));
    }
    let rows: Vec<Vec<String>> = counts
        .iter()
        .take(limit)
        .map(|(value, n)| vec![clean(value).into_owned(), n.to_string()])
        .collect();
    let mut out = render::table(&[clean(field).into_owned(), "active".into()], &rows);
    if others > 0 {
        let _ = writeln!(out, "({others} more values; --limit shows more)");
    }
    Ok(Answer::Text(out))
}

async fn history(reader: &Reader, span: Duration, json: bool) -> Result<Answer, Failure> {
    let points = reader.history(span).await?;
    let peak = HistoryPoint::peak(&points);
    if json {
        let point = |p: &HistoryPoint| json!({ "at": ms(p.at), "active": p.active });
        return Ok(Answer::Json(json!({
            "span": span.as_secs(),
            "points": points.iter().map(point).collect::<Vec<_>>(),
            "peak": peak.as_ref().map(point),
        })));
    }
    if points.is_empty() {
        return Ok(Answer::Text(format!(
            "no minute sampled in the last {}\n",
            render::span(span)
        )));
    }
    let now = SystemTime::now();
    let to = ms(now) / 60_000 * 60_000 + 60_000;
    let from = to.saturating_sub(span.as_secs().div_ceil(60) * 60_000);
    let pairs: Vec<(u64, u64)> = points.iter().map(|p| (ms(p.at), p.active)).collect();
    let (line, per_column) = render::sparkline(&pairs, from, to);
    let mut out = format!(
        "{line}\n{} to now, {} per column; a blank column had no sample\n\n",
        render::minute(UNIX_EPOCH + Duration::from_millis(from)),
        if per_column == 1 {
            "one minute".to_owned()
        } else {
            format!("{per_column} minutes (their peak)")
        },
    );
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut previous: Option<u64> = None;
    for p in &points {
        let at = ms(p.at);
        if let Some(before) = previous {
            let missing = (at.saturating_sub(before) / 60_000).saturating_sub(1);
            if missing > 0 {
                let plural = if missing == 1 { "" } else { "s" };
                rows.push(vec![
                    format!("… {missing} minute{plural} without a sample"),
                    String::new(),
                ]);
            }
        }
        rows.push(vec![render::minute(p.at), p.active.to_string()]);
        previous = Some(at);
    }
    out += &render::table(&["minute".into(), "active".into()], &rows);
    if let Some(peak) = peak {
        let _ = writeln!(out, "peak: {} at {}", peak.active, render::minute(peak.at));
    }
    Ok(Answer::Text(out))
}

async fn unique(reader: &Reader, span: Duration, json: bool) -> Result<Answer, Failure> {
    let u = reader.unique(span).await?;
    if json {
        return Ok(Answer::Json(json!({
            "span": span.as_secs(),
            "visitors": u.visitors,
            "since": ms(u.since),
            "standard_error": active_users::UNIQUE_STANDARD_ERROR,
        })));
    }
    Ok(Answer::Text(format!(
        "{} unique visitors since {} (±{:.2}%)\n",
        u.visitors,
        render::minute(u.since),
        active_users::UNIQUE_STANDARD_ERROR * 100.0
    )))
}

/// One frame of `watch`, as text or as one JSON document.
async fn frame(reader: &Reader, namespace: &str, json: bool) -> Result<Answer, Failure> {
    let hour = Duration::from_secs(3600);
    let with_history = reader.history_span() >= hour;
    let grouped = reader
        .fields()
        .iter()
        .find(|f| f.grouped && !f.hidden)
        .map(|f| f.name.clone());
    let parts = [
        Some(count(reader, json).await?),
        if with_history {
            Some(history(reader, hour, true).await?)
        } else {
            None
        },
        if with_history {
            Some(unique(reader, hour, json).await?)
        } else {
            None
        },
        match &grouped {
            Some(field) => Some(top(reader, field, 5, json).await?),
            None => None,
        },
    ];
    let [count, history, unique, top] = parts;
    if json {
        let value = |a: Option<Answer>| match a {
            Some(Answer::Json(v)) => v,
            _ => Value::Null,
        };
        return Ok(Answer::Json(json!({
            "at": ms(SystemTime::now()),
            "count": value(count),
            "history": value(history),
            "unique": value(unique),
            "top": value(top),
        })));
    }
    let text = |a: Option<Answer>| match a {
        Some(Answer::Text(t)) => t,
        _ => String::new(),
    };
    let mut out = format!(
        "active-users · {} · {}\n\n",
        clean(namespace),
        render::minute(SystemTime::now())
    );
    out += &text(count);
    if let Some(Answer::Json(h)) = history {
        let pairs: Vec<(u64, u64)> = h["points"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| Some((p["at"].as_u64()?, p["active"].as_u64()?)))
                    .collect()
            })
            .unwrap_or_default();
        let to = ms(SystemTime::now()) / 60_000 * 60_000 + 60_000;
        let (line, _) = render::sparkline(&pairs, to - 3_600_000, to);
        let _ = writeln!(out, "\nlast hour  {line}");
    }
    out += &text(unique);
    if let Some(top) = top {
        out += "\n";
        out += &text(Some(top));
    }
    Ok(Answer::Text(out))
}

/// One presence change as a line: the time, `+` or `-`, and who (the users field's value, or
/// the entry's shown fields when the namespace has no indexed field).
fn change_line(reader: &Reader, event: &PresenceEvent<RawChange>) -> Option<String> {
    let users = reader.fields().iter().find(|f| f.indexed && !f.hidden);
    let who = match (&event.item, users) {
        (RawChange::Value { field, value }, Some(users)) if *field == users.name => {
            format!("{field} {}", clean(value))
        }
        (RawChange::Entry(values), None) => values
            .iter()
            .filter(|(name, _)| reader.fields().iter().any(|f| f.name == *name && !f.hidden))
            .filter_map(|(name, value)| Some(format!("{name} {}", clean(value.as_deref()?))))
            .collect::<Vec<_>>()
            .join(", "),
        _ => return None,
    };
    let sign = match event.change {
        Change::Joined => "+",
        Change::Left => "-",
    };
    Some(format!(
        "{}  {sign} {who}",
        render::moment(event.at, SystemTime::now())
    ))
}

/// One presence change as a JSON document (`--json`).
fn change_json(event: &PresenceEvent<RawChange>) -> Value {
    let mut doc = json!({
        "id": event.id.to_string(),
        "event": event.change.as_str(),
        "at": ms(event.at),
    });
    match &event.item {
        RawChange::Entry(values) => {
            doc["entry"] = values.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        }
        RawChange::Value { field, value } => {
            doc["field"] = json!(field);
            doc["value"] = json!(value);
        }
        _ => {}
    }
    doc
}

/// The frame and, when the namespace reports presence, the last changes under it: redrawn
/// when a change comes (at most every 200 ms) and every `interval`. Into a pipe, each change
/// is a line as it comes (with `--json`, a document).
async fn watch(reader: &Reader, namespace: &str, interval: u64, json: bool) -> Result<(), Failure> {
    let terminal = std::io::stdout().is_terminal();
    let mut changes = match reader.subscribe().await {
        Ok(changes) => Some(changes),
        Err(QueryError::PresenceOff) => None,
        Err(err) => {
            eprintln!("active-users: no live changes ({err}); refreshing every {interval} s");
            None
        }
    };
    let mut recent: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    let mut frame_text = String::new();
    let mut next_frame = tokio::time::Instant::now();
    let mut last_draw = tokio::time::Instant::now();
    let mut dirty = false;
    let redraw = |frame_text: &str, recent: &std::collections::VecDeque<String>| {
        let mut text = format!("\x1b[2J\x1b[H{frame_text}");
        if !recent.is_empty() {
            text += "\narriving and leaving\n";
            for line in recent {
                text += line;
                text += "\n";
            }
        }
        Answer::Text(text).print();
    };
    loop {
        let now = tokio::time::Instant::now();
        if now >= next_frame {
            let answer = match frame(reader, namespace, json).await {
                Ok(answer) => answer,
                Err(Failure(message)) if json => Answer::Json(json!({ "error": message })),
                Err(Failure(message)) => {
                    Answer::Text(format!("{}\n(retrying)\n", render::clean_lines(&message)))
                }
            };
            match answer {
                // On a terminal: clear the screen and home the cursor, then draw.
                Answer::Text(text) if terminal => {
                    frame_text = text;
                    redraw(&frame_text, &recent);
                    last_draw = tokio::time::Instant::now();
                    dirty = false;
                }
                // Into a file or a pipe: frames one after another, no escape codes.
                Answer::Text(text) => Answer::Text(format!("{text}\n")).print(),
                json => json.print(),
            }
            next_frame = tokio::time::Instant::now() + Duration::from_secs(interval);
        }
        let wake = if dirty {
            next_frame.min(last_draw + Duration::from_millis(200))
        } else {
            next_frame
        };
        let change = async {
            match changes.as_mut() {
                Some(changes) => changes.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {
                if dirty && terminal {
                    redraw(&frame_text, &recent);
                    last_draw = tokio::time::Instant::now();
                    dirty = false;
                }
            }
            received = change => match received {
                Ok(event) if json => Answer::Json(change_json(&event)).print(),
                Ok(event) => {
                    let Some(line) = change_line(reader, &event) else { continue };
                    if terminal {
                        recent.push_front(line);
                        recent.truncate(10);
                        dirty = true;
                    } else {
                        Answer::Text(format!("{line}\n")).print();
                    }
                }
                Err(err @ (SubscriptionError::Lagged(_) | SubscriptionError::Gap)) => {
                    let line = match err {
                        SubscriptionError::Lagged(missed) => format!("({missed} changes missed)"),
                        _ => "(changes missed)".to_owned(),
                    };
                    if terminal {
                        recent.push_front(line);
                        dirty = true;
                    } else if !json {
                        Answer::Text(format!("{line}\n")).print();
                    }
                }
                Err(_) => changes = None,
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let reader = open(&cli.target).await?;
    let json = cli.json;
    let answer = match cli.command {
        Command::Count => count(&reader, json).await?,
        Command::List { limit } => list(&reader, limit, json).await?,
        Command::Users { field, limit } => users(&reader, field, limit, json).await?,
        Command::Top { field, limit } => top(&reader, &field, limit, json).await?,
        Command::History { span } => history(&reader, span, json).await?,
        Command::Unique { span } => unique(&reader, span, json).await?,
        Command::Watch { interval } => {
            return watch(&reader, &cli.target.namespace, interval, json).await;
        }
    };
    answer.print();
    Ok(())
}

/// Parses the command line; `--redis` and `--cluster` given together is a usage error.
fn parse() -> Cli {
    let mut command = Cli::command();
    let matches = command.get_matches_mut();
    let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    if given("redis") && given("cluster") {
        command
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--redis and --cluster name two different stores; give one",
            )
            .exit();
    }
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn main() -> ExitCode {
    let cli = parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("active-users: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            eprintln!("active-users: {}", render::clean_lines(&message));
            ExitCode::FAILURE
        }
    }
}
