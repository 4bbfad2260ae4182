//! The quick start: simulated users come and go, and the tracker says who is active.
//!
//! Runs on the in-memory store, no Redis needed:
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! With `REDIS_URL=redis://127.0.0.1:6379/` it uses that Redis instead.

use active_users::{Config, DefaultEntry, MemoryStore, PeerAddr, RedisStore, Tracker, User};
use std::error::Error;
use std::time::Duration;

/// A visitor of the simulated site.
struct Visitor {
    id: u32,
    name: &'static str,
    session: &'static str,
    peer: &'static str,
    /// The ticks (seconds) during which this visitor makes requests.
    active: std::ops::Range<u32>,
}

const VISITORS: &[Visitor] = &[
    Visitor {
        id: 1,
        name: "alice",
        session: "k3j4",
        peer: "10.0.0.5:51000",
        active: 0..6,
    },
    Visitor {
        id: 2,
        name: "bob:admin",
        session: "p9q8",
        peer: "[2001:db8::7]:443",
        active: 0..2,
    },
    Visitor {
        id: 1,
        name: "alice",
        session: "m2n1",
        peer: "192.0.2.44:6000",
        active: 1..4,
    },
    Visitor {
        id: 3,
        name: "carol",
        session: "z7y6",
        peer: "10.0.0.9:52000",
        active: 2..6,
    },
    Visitor {
        id: 4,
        name: "dave",
        session: "w5v4",
        peer: "10.0.0.12:53000",
        active: 4..6,
    },
];

/// What a server and an auth layer put into a request.
fn request_of(visitor: &Visitor, path: &str) -> Result<http::Request<()>, Box<dyn Error>> {
    let mut request = http::Request::get(path)
        .header("cookie", format!("sessionid={}", visitor.session))
        .body(())?;
    request
        .extensions_mut()
        .insert(User::new(visitor.id.to_string()).with_name(visitor.name));
    request
        .extensions_mut()
        .insert(PeerAddr(visitor.peer.parse()?));
    Ok(request)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // A visitor stays active 2 s after its last request; static files are not visits.
    let config = Config::builder()
        .key_expire(Duration::from_secs(2))
        .exclude_url_patterns(["^/static/"])
        .namespace("quickstart")
        .build()?;
    let tracker: Tracker<DefaultEntry> = match std::env::var("REDIS_URL") {
        Ok(url) => {
            println!("store: Redis at {url}");
            Tracker::new(config, RedisStore::open(&url)?)?
        }
        Err(_) => {
            println!("store: in memory (set REDIS_URL to use Redis)");
            Tracker::new(config, MemoryStore::new())?
        }
    };

    for tick in 0..8 {
        for visitor in VISITORS.iter().filter(|v| v.active.contains(&tick)) {
            // A page and its stylesheet: only the page counts.
            tracker.record(&request_of(visitor, "/dashboard")?);
            tracker.record(&request_of(visitor, "/static/site.css")?);
        }
        tracker.flush().await?;

        let count = tracker.count().await?;
        let users = tracker.count_distinct("user_id").await?;
        println!("\nsecond {tick}: {count} active sessions, {users} distinct users");
        for active in tracker.list(20, None).await?.entries {
            let e = &active.entry;
            let ip = e.ip.map(|ip| ip.to_string()).unwrap_or_default();
            let name = e.username.as_deref().unwrap_or("");
            println!("  user {:<3} {:<10} from {ip}", e.user_id, name);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let stats = tracker.stats();
    println!(
        "\n{} requests recorded, {} static files excluded, {} store writes",
        stats.queued + stats.coalesced,
        stats.excluded,
        stats.written
    );
    tracker.shutdown().await?;
    Ok(())
}
