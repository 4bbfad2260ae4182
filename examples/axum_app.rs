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

use active_users::{Config, MemoryStore, RedisStore, Tracker};
use active_users_examples::{ApiAccess, DemoEntry, app, settings, shutdown_signal, simulate};
use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

struct Args {
    port: u16,
    simulate: u32,
    public: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 3000,
        simulate: 0,
        public: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |flag: &str| -> Result<u32, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{flag} needs a number"))
        };
        match arg.as_str() {
            "--port" => {
                args.port = u16::try_from(number("--port")?).map_err(|_| "--port is too large")?;
            }
            "--simulate" => args.simulate = number("--simulate")?,
            "--public" => args.public = true,
            other => return Err(format!("unknown argument {other:?}; see the file's docs")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    // The demo's settings in code, the operator's ACTIVE_USERS_* variables over them.
    let config = |shards| -> Result<Config, active_users::ConfigError> {
        settings("axum-demo", shards).with_env()?.build()
    };
    let tracker: Tracker<DemoEntry> = match (
        std::env::var("REDIS_CLUSTER_NODES"),
        std::env::var("REDIS_URL"),
    ) {
        (Ok(nodes), _) => Tracker::new(config(8)?, RedisStore::open_cluster(nodes.split(','))?)?,
        (_, Ok(url)) => Tracker::new(config(1)?, RedisStore::open(&url)?)?,
        _ => Tracker::new(config(1)?, MemoryStore::new())?,
    };
    let access = if args.public {
        ApiAccess::Public
    } else {
        ApiAccess::Token(
            std::env::var("ACTIVE_USERS_API_TOKEN").unwrap_or_else(|_| "demo-token".to_owned()),
        )
    };
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
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}/");
    match &access {
        ApiAccess::Public => {
            println!("API: http://{addr}/active-users/ (public)");
            println!("dashboard: http://{addr}/active-users/dashboard");
        }
        ApiAccess::Token(token) => {
            println!("API: curl -H 'Authorization: Bearer {token}' http://{addr}/active-users/");
            println!("dashboard: http://{addr}/active-users/dashboard#token={token}");
        }
    }
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
