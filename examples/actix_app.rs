//! The axum demo on actix-web 4: a server that records its visitors with the
//! `RecordActiveUsers` middleware and serves the active-users API and dashboard as an actix
//! scope.
//!
//! ```sh
//! cargo run --example actix-app --features frameworks -- --simulate 50 --public
//! curl http://127.0.0.1:3000/active-users/
//! # the dashboard: http://127.0.0.1:3000/active-users/dashboard
//! curl -H 'x-user-id: 7' -H 'x-service-id: billing' http://127.0.0.1:3000/
//! ```
//!
//! Flags and variables as for `axum-app`: `--port N` (default 3000), `--simulate N`,
//! `--public` (otherwise the API token is `ACTIVE_USERS_API_TOKEN`, default `demo-token`),
//! `REDIS_URL` or `REDIS_CLUSTER_NODES` for the store (in memory otherwise), `ACTIVE_USERS_*`
//! over the demo's settings (namespace `actix-demo`). It stops on Ctrl-C or SIGTERM and then
//! writes what is still buffered.

use active_users::{Config, MemoryStore, RedisStore, Tracker};
use active_users_examples::{ApiAccess, DemoEntry, settings, shutdown_signal};
use std::error::Error;
use std::time::Duration;

fn parse_args() -> Result<(u16, u32, bool), String> {
    let (mut port, mut simulate, mut public) = (3000, 0, false);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |flag: &str| -> Result<u32, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{flag} needs a number"))
        };
        match arg.as_str() {
            "--port" => {
                port = u16::try_from(number("--port")?).map_err(|_| "--port is too large")?
            }
            "--simulate" => simulate = number("--simulate")?,
            "--public" => public = true,
            other => return Err(format!("unknown argument {other:?}; see the file's docs")),
        }
    }
    Ok((port, simulate, public))
}

fn main() -> Result<(), Box<dyn Error>> {
    let (port, users, public) = parse_args()?;
    // actix's own runtime (a tokio runtime per thread); the tracker's writer runs on this one.
    actix_web::rt::System::new().block_on(async move {
        let config = |shards| -> Result<Config, active_users::ConfigError> {
            settings("actix-demo", shards).with_env()?.build()
        };
        let tracker: Tracker<DemoEntry> = match (
            std::env::var("REDIS_CLUSTER_NODES"),
            std::env::var("REDIS_URL"),
        ) {
            (Ok(nodes), _) => {
                Tracker::new(config(8)?, RedisStore::open_cluster(nodes.split(','))?)?
            }
            (_, Ok(url)) => Tracker::new(config(1)?, RedisStore::open(&url)?)?,
            _ => Tracker::new(config(1)?, MemoryStore::new())?,
        };
        let access = if public {
            ApiAccess::Public
        } else {
            ApiAccess::Token(
                std::env::var("ACTIVE_USERS_API_TOKEN").unwrap_or_else(|_| "demo-token".to_owned()),
            )
        };
        if users > 0 {
            actix_web::rt::spawn(active_users_examples::actix::simulate(
                tracker.clone(),
                users,
                Duration::from_millis(500),
                None,
            ));
        }
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let server =
            active_users_examples::actix::server(listener, tracker.clone(), access.clone(), 2)?;
        println!("listening on http://{addr}/");
        match &access {
            ApiAccess::Public => {
                println!("API: http://{addr}/active-users/ (public)");
                println!("dashboard: http://{addr}/active-users/dashboard");
            }
            ApiAccess::Token(token) => {
                println!(
                    "API: curl -H 'Authorization: Bearer {token}' http://{addr}/active-users/"
                );
                println!("dashboard: http://{addr}/active-users/dashboard#token={token}");
            }
        }
        let handle = server.handle();
        actix_web::rt::spawn(async move {
            shutdown_signal().await;
            handle.stop(true).await;
        });
        server.await?;
        // Writes what is still buffered before the process ends.
        tracker.shutdown().await?;
        println!("stopped; buffered entries written");
        Ok(())
    })
}
