//! The benchmark program runs end to end: every part once, at tiny sizes (`--smoke`), on its
//! own `redis-server` and cluster. Its figures are not judged here; they mean something only in
//! a release build at full size.

use std::process::Command;

#[test]
fn the_benchmark_program_runs_every_part() {
    let output = Command::new(env!("CARGO_BIN_EXE_active-users-bench"))
        .arg("--smoke")
        .output()
        .expect("the benchmark program starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "failed:\n{stderr}\n{stdout}");
    for part in [
        "| measurement | active-users | Python design | ratio | target |",
        "`record`, new visitor",
        "flush throughput on a 3-master Redis Cluster",
        "count at 1,000 active entries",
        "`unique(1 h)`",
        "`history(24 h)`: 1440 points",
        "end to end, 100,000 visitors: app CPU added by the layer, RedisStore",
        "end to end, 100,000 visitors: with presence on, app CPU added by the layer / Redis CPU per request (RedisStore)",
        "the distinct-user index `values:user_id`",
        "what Redis charges per sorted-set member of 6 bytes",
        "3-master cluster, 3,000 entries in 16 shards",
        "presence: a join heard by another app server's subscriber",
        "presence: visitors whose join and whose leave were each told exactly once (of 100) | 100 / 100 |",
        "… count (3,000 active)",
        "smoke mode",
    ] {
        assert!(stdout.contains(part), "no {part:?} in:\n{stdout}");
    }
}
