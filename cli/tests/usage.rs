//! Usage errors need no server: they are reported before anything connects.

use std::process::Command;

fn run(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_active-users"))
        .args(args)
        .env_remove("REDIS_URL")
        .output()
        .expect("the command runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn usage_errors_exit_2_and_say_what_is_expected() {
    for (args, says) in [
        (&[][..], "no command given"),
        (&["--help"][..], "usage: active-users"),
        (&["frobnicate"][..], "unknown command"),
        (&["--nope", "count"][..], "unknown option --nope"),
        (&["history", "--span", "soon"][..], "--span must look like"),
        (
            &["list", "--limit", "0"][..],
            "--limit must be a positive number",
        ),
        (
            &["watch", "--interval", "x"][..],
            "--interval must be whole seconds",
        ),
        (&["count", "--redis"][..], "--redis needs a value"),
    ] {
        let (code, stderr) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn an_invalid_redis_url_or_namespace_is_named() {
    let (code, stderr) = run(&["--redis", "http://x", "count"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("invalid Redis URL \"http://x\""),
        "{stderr}"
    );
    let (code, stderr) = run(&["--namespace", "a:b", "count"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("invalid setting"), "{stderr}");
}
