//! The demo app with its active users as Prometheus metrics at `/metrics`.
//!
//! ```sh
//! cargo run -p active-users-examples --example metrics-app   # on 127.0.0.1:3002
//! curl -H 'x-user-id: 42' http://127.0.0.1:3002/ && sleep 1 && curl http://127.0.0.1:3002/metrics
//! ```
//! The gauges are set when this app server takes the namespace's history sample (every 10 s);
//! the `_total` counters at every flush.

use active_users::{MemoryStore, Tracker};
use active_users_examples::{ApiAccess, app, config, with_metrics};
use metrics_exporter_prometheus::PrometheusBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    let tracker = Tracker::new(config("metrics-demo", 1)?, MemoryStore::new())?;
    let router = with_metrics(app(tracker.clone(), ApiAccess::Public), handle);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3002").await?;
    println!("listening on http://127.0.0.1:3002 (metrics at /metrics)");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(active_users_examples::shutdown_signal())
    .await?;
    tracker.shutdown().await?;
    Ok(())
}
