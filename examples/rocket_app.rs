//! A rocket 0.5 server that records its visitors with the `RecordActiveUsers` fairing and
//! serves the active-users API and dashboard as rocket routes.
//!
//! ```sh
//! cargo run --example rocket-app --features frameworks -- --port 8000
//! curl -H 'x-user-id: 7' http://127.0.0.1:8000/
//! curl -H 'Authorization: Bearer demo-token' http://127.0.0.1:8000/active-users/
//! ```
//!
//! The store is in memory, the API token `ACTIVE_USERS_API_TOKEN` (default `demo-token`).

use active_users::{MemoryStore, Tracker};
use active_users_examples::{ApiAccess, DemoEntry, settings, shutdown_signal};
use std::error::Error;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let port = match (args.next().as_deref(), args.next()) {
        (Some("--port"), Some(port)) => port.parse()?,
        (None, _) => 8000,
        _ => return Err("usage: rocket-app [--port N]".into()),
    };
    let tracker: Tracker<DemoEntry> = Tracker::new(
        settings("rocket-demo", 1).with_env()?.build()?,
        MemoryStore::new(),
    )?;
    let token = std::env::var("ACTIVE_USERS_API_TOKEN").unwrap_or_else(|_| "demo-token".into());
    let rocket = active_users_examples::rocket::app(tracker.clone(), ApiAccess::Token(token), port)
        .ignite()
        .await?;
    println!("listening on http://127.0.0.1:{port}/");
    let shutdown = rocket.shutdown();
    tokio::spawn(async move {
        shutdown_signal().await;
        shutdown.notify();
    });
    let _ = rocket.launch().await?;
    tracker.shutdown().await?;
    println!("stopped; buffered entries written");
    Ok(())
}
