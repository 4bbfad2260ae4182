//! A blocking server (tiny_http) that records visitors: no async runtime of its own.
//!
//! ```sh
//! cargo run -p active-users-examples --example blocking-server   # on 127.0.0.1:3001
//! curl -H 'x-user-id: 42' http://127.0.0.1:3001/ && curl http://127.0.0.1:3001/count
//! ```
//! With `REDIS_URL` set it records in Redis, otherwise in memory.

use active_users::{BlockingTracker, Config, DefaultEntry, MemoryStore, RedisStore};
use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let config = Config::builder().with_env()?.build()?;
    let tracker = Arc::new(match std::env::var("REDIS_URL") {
        Ok(url) => BlockingTracker::<DefaultEntry>::new(config, || RedisStore::open(&url))?,
        Err(_) => BlockingTracker::<DefaultEntry>::new(config, || Ok(MemoryStore::new()))?,
    });
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3001".to_owned());
    let server = tiny_http::Server::http(&addr)?;
    println!("listening on http://{addr}");
    active_users_examples::blocking::serve_blocking(&server, &tracker);
    tracker.shutdown()?;
    Ok(())
}
