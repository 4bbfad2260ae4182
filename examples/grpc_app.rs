//! A tonic gRPC server recorded by `ActiveUsersLayer`, and a client that calls it: one call
//! that succeeds, one that fails at once, one that fails after a message. Only the call that
//! succeeded is an active user, although all three answered HTTP 200.
//!
//! ```sh
//! cargo run --example grpc-app --features frameworks
//! ```

use active_users::{Config, MemoryStore, RecordOn, Tracker};
use active_users_examples::grpc::{CallerEntry, call, serve};
use std::error::Error;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let tracker: Tracker<CallerEntry> = Tracker::new(Config::default(), MemoryStore::new())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener, tracker.clone(), RecordOn::default()));
    println!("gRPC server on {addr}");

    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    for (method, user) in [("Ok", "ann"), ("Denied", "bob"), ("BreaksMidway", "cy")] {
        let code = call(channel.clone(), method, user).await;
        println!("{user} called demo.Calls/{method}: {code:?}");
    }
    tracker.flush().await?;
    let page = tracker.list(10, None).await?;
    println!("active users: {}", tracker.count().await?);
    for active in page.entries {
        println!("  {} from {:?}", active.entry.user_id, active.entry.ip);
    }
    tracker.shutdown().await?;
    Ok(())
}
