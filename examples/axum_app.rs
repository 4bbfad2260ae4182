//! An axum server that records its visitors and serves the active-users API.
//!
//! ```sh
//! cargo run --example axum-app -- --simulate 50 --public
//! curl http://127.0.0.1:3000/active-users/
//! # the dashboard: http://127.0.0.1:3000/active-users/dashboard
//! curl -H 'x-user-id: 7' -H 'x-service-id: billing' http://127.0.0.1:3000/
//! ```
//!
//! Flags: `--port N` (default 3000), `--simulate N` (N synthetic visitors coming and going),
//! `--public` (no token on the API; otherwise `ACTIVE_USERS_API_TOKEN`, default `demo-token`).
//! The store is in memory unless `REDIS_URL` (one server) or `REDIS_CLUSTER_NODES` (node URLs
//! separated by commas; the namespace is then split into 8 shards) is set. The `ACTIVE_USERS_*`
//! variables override the demo's settings (namespace `axum-demo`, static files excluded).
//!
//! It stops on Ctrl-C or SIGTERM (what Docker and Kubernetes send): the server finishes the
//! requests it has, then the tracker writes what is still buffered.

use active_users_examples::{
    DemoArgs, app, demo_tracker, print_addresses, shutdown_signal, simulate,
};
use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = DemoArgs::from_env()?;
    // The demo's settings in code, the operator's ACTIVE_USERS_* variables over them.
    let tracker = demo_tracker("axum-demo")?;
    let access = args.access();
    let router = app(tracker.clone(), access.clone());
    if args.simulate > 0 {
        tokio::spawn(simulate(
            router.clone(),
            args.simulate,
            Duration::from_millis(500),
            None,
        ));
    }

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    print_addresses(listener.local_addr()?, &access);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    // Writes what is still buffered before the process ends.
    tracker.shutdown().await?;
    println!("stopped; buffered entries written");
    Ok(())
}
