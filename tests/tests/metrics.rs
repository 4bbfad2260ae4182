//! The metrics an operator's Prometheus scrapes: the demo app with `/metrics` over real HTTP,
//! its gauges checked against the tracker's own queries. (Its own test binary: it installs
//! the process's global metrics recorder.)

mod support;

use active_users::{MemoryStore, Tracker};
use active_users_examples::{ApiAccess, app, config, with_metrics};
use metrics_exporter_prometheus::PrometheusBuilder;
use support::client::{get, serve};

/// The value of the sample `name{labels}` in Prometheus' text format.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|line| {
            line.starts_with(&format!("{name}{{"))
                && labels
                    .iter()
                    .all(|(k, v)| line.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_active_users_and_the_stats() {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder");
    let namespace = "metrics-test";
    let tracker =
        Tracker::new(config(namespace, 1).expect("config"), MemoryStore::new()).expect("tracker");
    let addr = serve(with_metrics(
        app(tracker.clone(), ApiAccess::Public),
        handle,
    ))
    .await;
    // Two users, three sessions; one anonymous request.
    for (user, session) in [("1", "a"), ("1", "b"), ("2", "c")] {
        let cookie = format!("sessionid={session}");
        let headers = [("x-user-id", user), ("cookie", cookie.as_str())];
        assert_eq!(get(addr, "/", &headers).await.status, 200);
    }
    assert_eq!(get(addr, "/", &[]).await.status, 200);
    // The first flush takes the namespace's first history sample, which sets the gauges.
    tracker.flush().await.expect("flush");

    let reply = get(addr, "/metrics", &[]).await;
    assert_eq!(reply.status, 200);
    let text = reply.body;
    let ns = [("namespace", namespace)];
    let count = tracker.count().await.expect("count") as f64;
    let users = tracker.count_distinct("user_id").await.expect("distinct") as f64;
    assert_eq!((count, users), (3.0, 2.0));
    assert_eq!(
        sample(&text, "active_users_active_entries", &ns),
        Some(count),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "active_users_distinct",
            &[("namespace", namespace), ("field", "user_id")]
        ),
        Some(users),
        "{text}"
    );
    let unique = tracker
        .unique(std::time::Duration::from_secs(3600))
        .await
        .expect("unique")
        .visitors as f64;
    assert_eq!(
        sample(&text, "active_users_unique_visitors_last_hour", &ns),
        Some(unique)
    );
    let queued = [("namespace", namespace), ("outcome", "queued")];
    assert_eq!(
        sample(&text, "active_users_recorded_total", &queued),
        Some(3.0)
    );
    let no_entry = [("namespace", namespace), ("outcome", "no_entry")];
    assert_eq!(
        sample(&text, "active_users_recorded_total", &no_entry),
        Some(1.0)
    );
    assert_eq!(sample(&text, "active_users_written_total", &ns), Some(3.0));
    tracker.shutdown().await.expect("shutdown");
}
