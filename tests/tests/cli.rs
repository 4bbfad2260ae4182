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
    assert!(
        table.lines().next().expect("header").starts_with("user_id"),
        "{table}"
    );
    assert!(
        table.contains("user2") && table.contains("10.1.0.3"),
        "{table}"
    );
    assert!(!table.contains("s1"), "the session id is hidden: {table}");
    assert!(table.contains("(3 shown)"), "{table}");

    let json: serde_json::Value =
        serde_json::from_str(&stdout(&run(&backend, &["list", "--json", "--limit", "2"])))
            .expect("JSON");
    let rows = json.as_array().expect("an array");
    assert_eq!(rows.len(), 2);
    assert!(rows[0]["last_seen"].as_u64().is_some());
    assert!(rows[0].get("session_id").is_none());

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

    let history = stdout(&run(&backend, &["history", "--span", "1h"]));
    assert!(history.contains("peak: 3 at"), "{history}");

    let unique = stdout(&run(&backend, &["unique", "--span", "24h"]));
    assert!(unique.starts_with("3 unique visitors since"), "{unique}");

    // An unindexed field and a bad span are explained.
    let bad = run(&backend, &["top", "username"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not indexed"));
    let bad = run(&backend, &["history", "--span", "soon"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--span"));

    // `watch` draws a frame, then another, until stopped.
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
        if line.contains("3 active") {
            frames += 1;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(frames, 2, "watch refreshes its view");
}

store_suite!(redis, Backend::redis(); answers_every_command);
store_suite!(cluster_8_shards, Backend::cluster().sharded(8); answers_every_command);

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
        err.contains(&format!("cannot reach Redis at redis://127.0.0.1:{port}/"))
            || err.contains("did not answer"),
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
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage: active-users"));
}
