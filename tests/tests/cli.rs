//! The `active-users` command against a real `redis-server` (and a cluster) that the demo
//! app's tracker writes to.

#[macro_use]
mod support;

use active_users::{DefaultEntry, Tracker};
use active_users_examples::{DemoEntry, config};
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::Backend;
use support::browser::cli_binary;

/// Runs the command with `args` after `--redis URL --namespace NS` (or `--cluster`).
fn run(backend: &Backend, args: &[&str]) -> Output {
    let mut command = Command::new(cli_binary());
    command
        .env_remove("REDIS_URL")
        .env_remove("REDIS_CLUSTER_NODES")
        .env_remove("ACTIVE_USERS_NAMESPACE")
        .args(target(backend))
        .args(args);
    command.output().expect("the command runs")
}

fn target(backend: &Backend) -> Vec<String> {
    let mut args = match (&backend.redis, &backend.cluster) {
        (Some(server), _) => vec!["--redis".to_owned(), server.url.clone()],
        (_, Some(cluster)) => vec!["--cluster".to_owned(), cluster.urls().join(",")],
        _ => panic!("the command reads Redis"),
    };
    args.extend(["--namespace".to_owned(), backend.namespace.clone()]);
    args
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

/// The history key of the namespace, where the tests plant samples with gaps.
fn history_key(backend: &Backend) -> String {
    format!("au:{{{}}}:history", backend.namespace)
}

async fn answers_every_command(backend: Backend) {
    // Build (or check) the binary before recording, so the entries are fresh when it reads.
    let _ = cli_binary();
    let config = config(&backend.namespace, backend.shards).expect("config");
    let tracker: Tracker<DemoEntry> =
        Tracker::with_store(config, backend.store()).expect("tracker");
    for (id, service) in [(1, "billing"), (2, "billing"), (3, "search")] {
        let entry = DemoEntry {
            base: DefaultEntry {
                user_id: id.to_string(),
                session_id: Some(format!("s{id}")),
                ip: Some(format!("10.1.0.{id}").parse().expect("ip")),
                username: Some(format!("user{id}")),
            },
            service_id: Some(service.to_owned()),
        };
        assert!(tracker.record_entry(&entry).is_recorded());
    }
    tracker.flush().await.expect("flush");

    let count = stdout(&run(&backend, &["count"]));
    assert!(count.contains("3 active"), "{count}");
    assert!(count.contains("3 distinct user_id"), "{count}");
    assert!(count.contains("2 distinct service_id"), "{count}");

    let table = stdout(&run(&backend, &["list"]));
    let header = table.lines().next().expect("header");
    assert!(header.starts_with("user_id"), "{table}");
    assert!(header.ends_with("last seen (UTC)"), "{table}");
    assert!(
        table.contains("user2") && table.contains("10.1.0.3"),
        "{table}"
    );
    assert!(!table.contains("s1"), "the session id is hidden: {table}");
    assert!(table.contains("(3 shown)"), "{table}");

    let cut = stdout(&run(&backend, &["list", "--limit", "2"]));
    assert!(
        cut.contains("(2 shown of 3 active entries"),
        "a cut list says so: {cut}"
    );

    let users = stdout(&run(&backend, &["users"]));
    assert!(users.starts_with("user_id"), "{users}");
    assert!(users.contains("(3 shown)"), "{users}");

    let top = stdout(&run(&backend, &["top", "service_id"]));
    let lines: Vec<&str> = top.lines().collect();
    assert!(
        lines[1].starts_with("billing") && lines[1].ends_with('2'),
        "{top}"
    );
    assert!(
        lines[2].starts_with("search") && lines[2].ends_with('1'),
        "{top}"
    );

    let one = stdout(&run(&backend, &["top", "service_id", "--limit", "1"]));
    assert!(one.contains("(1 more values"), "a cut top says so: {one}");

    let unique = stdout(&run(&backend, &["unique", "--span", "24h"]));
    assert!(unique.starts_with("3 unique visitors since"), "{unique}");
    assert!(is_dated(&unique), "the day is said: {unique}");

    // Every command answers --json, wherever the flag is written.
    for args in [
        &["count", "--json"][..],
        &["--json", "list", "--limit", "2"],
        &["users", "--json"],
        &["top", "service_id", "--json"],
        &["history", "--json"],
        &["unique", "--json"],
    ] {
        let text = stdout(&run(&backend, args));
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"));
        match args.iter().find(|a| !a.starts_with('-')).copied() {
            Some("count") => assert_eq!(json["count"], 3, "{json}"),
            Some("list") => {
                let rows = json.as_array().expect("an array");
                assert_eq!(rows.len(), 2);
                assert!(rows[0]["last_seen"].as_u64().is_some());
                assert!(rows[0].get("session_id").is_none());
            }
            Some("users") => assert_eq!(json["values"].as_array().map(Vec::len), Some(3)),
            Some("top") => assert_eq!(json["counts"][0]["count"], 2, "{json}"),
            Some("history") => assert!(json["points"].is_array(), "{json}"),
            Some("unique") => assert_eq!(json["visitors"], 3, "{json}"),
            other => panic!("{other:?}"),
        }
    }

    // An unindexed field and a bad span are explained.
    let bad = run(&backend, &["top", "username"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not indexed"));
    let bad = run(&backend, &["history", "--span", "soon"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--span"));

    // `watch` draws a frame, then another, until stopped; into a pipe, with no escape codes.
    let mut child = Command::new(cli_binary())
        .args(target(&backend))
        .args(["watch", "--interval", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("watch starts");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let (mut frames, mut line) = (0, String::new());
    let deadline = Instant::now() + Duration::from_secs(20);
    while frames < 2 && Instant::now() < deadline {
        line.clear();
        if reader.read_line(&mut line).expect("read") == 0 {
            break;
        }
        assert!(
            !line.contains('\u{1b}'),
            "no escape codes into a pipe: {line:?}"
        );
        if line.contains("3 active") {
            frames += 1;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(frames, 2, "watch refreshes its view");
}

/// Whether the text names a day (`2026-11-28`).
fn is_dated(text: &str) -> bool {
    text.as_bytes().windows(10).any(|w| {
        w.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
    })
}

/// What a visitor can put into a field must not drive the operator's terminal, and wide
/// characters must not break the table.
async fn hostile_and_wide_values_are_shown_safely(backend: Backend) {
    let _ = cli_binary();
    let config = config(&backend.namespace, backend.shards).expect("config");
    let tracker: Tracker<DemoEntry> =
        Tracker::with_store(config, backend.store()).expect("tracker");
    let names = [
        "\u{1b}[2J\u{1b}[31mred",
        "\u{1b}]52;c;aGFja2Vk\u{7}",
        "invoice\u{202e}fdp.exe",
        "日本語のユーザー",
        "plain",
    ];
    for (i, name) in names.iter().enumerate() {
        let entry = DemoEntry {
            base: DefaultEntry {
                user_id: format!("u{i}"),
                session_id: None,
                ip: None,
                username: Some((*name).to_owned()),
            },
            service_id: Some(if i == 3 { "検索" } else { "web" }.to_owned()),
        };
        assert!(tracker.record_entry(&entry).is_recorded());
    }
    tracker.flush().await.expect("flush");
    for args in [&["list"][..], &["top", "service_id"], &["list", "--json"]] {
        let text = stdout(&run(&backend, args));
        for raw in ['\u{1b}', '\u{7}', '\u{202e}'] {
            assert!(!text.contains(raw), "{args:?} prints {raw:?} raw: {text:?}");
        }
        if args == ["list"] {
            assert!(text.contains("\\u{1b}[2J"), "escaped, not hidden: {text}");
            assert!(text.contains("invoice\\u{202e}fdp.exe"), "{text}");
            // Every row's last column starts at the same display column.
            let starts: Vec<usize> = text
                .lines()
                .filter(|l| !l.starts_with('('))
                .map(|l| {
                    let last = l.rfind("  ").expect("columns") + 2;
                    unicode_width::UnicodeWidthStr::width(&l[..last])
                })
                .collect();
            assert!(
                starts.windows(2).all(|w| w[0] == w[1]),
                "{starts:?}\n{text}"
            );
        }
        if args == ["list", "--json"] {
            let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            let shown: Vec<&str> = json
                .as_array()
                .expect("rows")
                .iter()
                .filter_map(|r| r["username"].as_str())
                .collect();
            for name in names {
                assert!(shown.contains(&name), "the JSON carries {name:?} exactly");
            }
        }
    }
}

/// `history` shows the minutes without a sample and says which day each minute is.
async fn history_shows_gaps_and_days(backend: Backend) {
    use active_users::store::Sample;
    let _ = cli_binary();
    let config = config(&backend.namespace, backend.shards).expect("config");
    let tracker: Tracker<DemoEntry> =
        Tracker::with_store(config, backend.store()).expect("tracker");
    tracker.flush().await.expect("flush writes the description");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let minute = now / 60_000 * 60_000;
    let store = backend.store();
    for (ago, active) in [(30, 4), (29, 6), (5, 2)] {
        let sample = Sample {
            at: minute - ago * 60_000,
            value: active,
        };
        store
            .add_sample(&history_key(&backend), sample, Duration::from_secs(86_400))
            .await
            .expect("plant a sample");
    }
    let text = stdout(&run(&backend, &["history", "--span", "1h"]));
    assert!(text.contains("… 23 minutes without a sample"), "{text}");
    let rows: Vec<&str> = text.lines().filter(|l| l.ends_with(" 6")).collect();
    assert!(rows.iter().all(|r| is_dated(r)), "{text}");
    let spark = text.lines().next().expect("sparkline");
    assert_eq!(spark.chars().count(), 60, "a column per minute: {spark:?}");
    assert!(spark.contains("   "), "the gap is blank: {spark:?}");
    assert!(text.contains("peak: 6 at"), "{text}");
}

store_suite!(redis, Backend::redis();
    answers_every_command,
    hostile_and_wide_values_are_shown_safely,
    history_shows_gaps_and_days,
);
store_suite!(cluster_8_shards, Backend::cluster().sharded(8); answers_every_command);

/// In a real terminal (a pseudo-terminal made by `script`), `watch` redraws in place.
#[test]
fn watch_clears_the_screen_only_on_a_terminal() {
    let server = support::RedisServer::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let namespace = support::unique_namespace("tty");
    runtime.block_on(async {
        let config = config(&namespace, 1).expect("config");
        let tracker: Tracker<DemoEntry> = Tracker::new(config, server.store()).expect("tracker");
        tracker.flush().await.expect("flush writes the description");
    });
    let command = format!(
        "{} --redis {} --namespace {namespace} watch --interval 1",
        cli_binary().display(),
        server.url
    );
    let output = Command::new("timeout")
        .args(["3", "script", "-qfec", &command, "/dev/null"])
        .output()
        .expect("script (util-linux) runs the command in a pseudo-terminal");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("\u{1b}[2J\u{1b}[H"),
        "redrawn in place: {text:?}"
    );
    assert!(text.contains("0 active"), "{text:?}");
}

#[test]
fn unreachable_redis_and_unknown_namespace_are_explained() {
    let port = support::free_port();
    let output = Command::new(cli_binary())
        .args(["--redis", &format!("redis://127.0.0.1:{port}/"), "count"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains(&format!(
            "cannot reach Redis at redis://127.0.0.1:{port}/: the connection was refused"
        )),
        "{err}"
    );

    let server = support::RedisServer::start();
    let output = Command::new(cli_binary())
        .args(["--redis", &server.url, "--namespace", "nobody", "count"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("no tracker has written namespace `nobody`"),
        "{err}"
    );

    let output = Command::new(cli_binary()).output().expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage: active-users"));
}

/// With presence on in the namespace, `watch` shows who arrives and leaves as it happens: a
/// line per change into a pipe (a JSON document with `--json`), and under the frame in a real
/// terminal (a pseudo-terminal made by `script`).
#[test]
fn watch_shows_joins_and_leaves_as_they_happen() {
    use active_users::{Config, PeerAddr, User};
    let server = support::RedisServer::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let namespace = support::unique_namespace("live");
    let window = Duration::from_secs(2);
    let tracker: Tracker<DefaultEntry> = runtime.block_on(async {
        let config = Config::builder()
            .namespace(namespace.clone())
            .key_expire(window)
            .presence(true)
            .build()
            .expect("config");
        let tracker = Tracker::new(config, server.store()).expect("tracker");
        tracker.flush().await.expect("flush writes the description");
        tracker
    });
    let visit = |user: &str| {
        let mut request = http::Request::get("/").body(()).expect("request");
        request.extensions_mut().insert(User::new(user));
        request
            .extensions_mut()
            .insert(PeerAddr(([10, 1, 2, 3], 1000).into()));
        tracker.record(&request);
        runtime.block_on(tracker.flush()).expect("flush");
    };
    let spawn = |json: bool| {
        let mut command = Command::new(cli_binary());
        command.args(["--redis", &server.url, "--namespace", &namespace]);
        if json {
            command.arg("--json");
        }
        let mut child = command
            .args(["watch", "--interval", "60"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("watch starts");
        let lines = BufReader::new(child.stdout.take().expect("stdout"));
        (child, lines)
    };
    // Reads lines until one satisfies `found`, within 15 s.
    let wait_for = |lines: &mut BufReader<std::process::ChildStdout>,
                    found: &dyn Fn(&str) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut line = String::new();
        while Instant::now() < deadline {
            line.clear();
            if lines.read_line(&mut line).expect("read") == 0 {
                break;
            }
            if found(&line) {
                return line;
            }
        }
        panic!("no such line within 15 s");
    };

    let (mut text, mut text_lines) = spawn(false);
    let (mut json, mut json_lines) = spawn(true);
    wait_for(&mut text_lines, &|l| l.contains("active"));
    wait_for(&mut json_lines, &|l| l.contains("\"count\""));
    visit("pipe-1");
    let joined = wait_for(&mut text_lines, &|l| l.contains("user_id pipe-1"));
    assert!(joined.contains("+ user_id pipe-1"), "{joined:?}");
    assert!(!joined.contains('\u{1b}'), "no escape codes into a pipe");
    let doc = wait_for(&mut json_lines, &|l| l.contains("pipe-1"));
    let doc: serde_json::Value = serde_json::from_str(&doc).expect("one JSON document per line");
    assert_eq!(doc["event"], "joined");
    let left = wait_for(&mut text_lines, &|l| l.contains("- user_id pipe-1"));
    assert!(left.contains("- user_id pipe-1"));
    for child in [&mut text, &mut json] {
        let _ = child.kill();
        let _ = child.wait();
    }

    // In a terminal: redrawn in place, the change under the frame.
    let command = format!(
        "{} --redis {} --namespace {namespace} watch --interval 60",
        cli_binary().display(),
        server.url
    );
    let terminal = Command::new("timeout")
        .args(["6", "script", "-qfec", &command, "/dev/null"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs the command in a pseudo-terminal");
    std::thread::sleep(Duration::from_secs(2));
    visit("tty-1");
    let output = terminal.wait_with_output().expect("script ends");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("arriving and leaving"), "{text:?}");
    assert!(text.contains("+ user_id tty-1"), "{text:?}");
}
