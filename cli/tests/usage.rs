//! The command line as people use command lines: help and version on stdout with exit 0,
//! usage errors with exit 2 before anything connects, `--flag=value` and `--`, and a refused
//! connection said as what it is. None of this needs a Redis server.

use std::process::Command;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_active-users"))
        .args(args)
        .env_remove("REDIS_URL")
        .env_remove("REDIS_CLUSTER_NODES")
        .env_remove("ACTIVE_USERS_NAMESPACE")
        .env_remove("ACTIVE_USERS_KEY_PREFIX")
        .output()
        .expect("the command runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

#[test]
fn help_and_version_go_to_stdout_and_exit_0() {
    for args in [&["--help"][..], &["-h"], &["help"]] {
        let r = run(args);
        assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
        assert!(
            r.stdout.contains("Usage: active-users"),
            "{args:?}: {}",
            r.stdout
        );
        for command in [
            "count", "list", "users", "top", "history", "unique", "watch",
        ] {
            assert!(r.stdout.contains(command), "{args:?} lists {command}");
        }
    }
    let r = run(&["--version"]);
    assert_eq!(r.code, Some(0));
    assert_eq!(
        r.stdout.trim(),
        format!("active-users {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn every_command_has_help_that_names_the_environment_variables() {
    for command in [
        "count", "list", "users", "top", "history", "unique", "watch",
    ] {
        for args in [vec![command, "--help"], vec!["help", command]] {
            let r = run(&args);
            assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
            for var in [
                "REDIS_URL",
                "REDIS_CLUSTER_NODES",
                "ACTIVE_USERS_NAMESPACE",
                "ACTIVE_USERS_KEY_PREFIX",
            ] {
                assert!(r.stdout.contains(var), "{args:?} names {var}: {}", r.stdout);
            }
            assert!(r.stdout.contains("--json"), "{args:?}: {}", r.stdout);
        }
    }
}

#[test]
fn usage_errors_exit_2_and_say_what_is_expected() {
    for (args, says) in [
        (&[][..], "Usage: active-users"),
        (&["frobnicate"][..], "unrecognized subcommand 'frobnicate'"),
        (&["--nope", "count"][..], "unexpected argument '--nope'"),
        (
            &["count", "--limit", "5"][..],
            "unexpected argument '--limit'",
        ),
        (
            &["history", "--limit", "5"][..],
            "unexpected argument '--limit'",
        ),
        (
            &["list", "--span", "1h"][..],
            "unexpected argument '--span'",
        ),
        (&["history", "--span", "soon"][..], "expected a span like"),
        (&["list", "--limit", "0"][..], "0 is not in 1..="),
        (&["list", "--limit=x"][..], "invalid value 'x' for '--limit"),
        (
            &["watch", "--interval", "x"][..],
            "invalid value 'x' for '--interval",
        ),
        (
            &["count", "--redis"][..],
            "a value is required for '--redis",
        ),
        (&["top"][..], "<FIELD>"),
        (
            &["--redis", "redis://a/", "--cluster", "redis://b/", "count"][..],
            "--redis and --cluster",
        ),
    ] {
        let r = run(args);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: errors go to stderr");
    }
}

#[test]
fn equals_and_double_dash_are_understood() {
    // Parsed fine, then refused by the missing server (exit 1, not a usage error).
    let url = format!("redis://127.0.0.1:{}/", closed_port());
    for args in [
        vec!["list", "--limit=5"],
        vec!["--json", "count"],
        vec!["count", "--json"],
        vec!["top", "--limit=3", "--", "--field-with-dashes"],
    ] {
        let mut all = vec!["--redis", url.as_str()];
        all.extend(args.iter().copied());
        let r = run(&all);
        assert_eq!(r.code, Some(1), "{all:?}: {}", r.stderr);
        assert!(r.stderr.contains("refused"), "{all:?}: {}", r.stderr);
    }
}

#[test]
fn a_refused_connection_is_said_as_refused() {
    let port = closed_port();
    let url = format!("redis://127.0.0.1:{port}/");
    let r = run(&["--redis", &url, "count"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains(&format!(
            "cannot reach Redis at {url}: the connection was refused"
        )),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("did not answer"),
        "not a timeout: {}",
        r.stderr
    );

    let r = run(&["--cluster", &url, "count"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("cannot reach the Redis Cluster"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_invalid_redis_url_or_namespace_is_named() {
    let r = run(&["--redis", "http://x", "count"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("invalid Redis URL \"http://x\""),
        "{}",
        r.stderr
    );
    let r = run(&["--namespace", "a:b", "count"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("invalid setting"), "{}", r.stderr);
}

#[test]
fn a_server_that_is_not_redis_is_said_in_one_line() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 512];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n<html>no</html>\n");
        }
    });
    let r = run(&["--redis", &format!("redis://127.0.0.1:{port}/"), "count"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr
            .contains("answered, but not as a Redis server does"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim_end().lines().count(), 1, "{}", r.stderr);
}
