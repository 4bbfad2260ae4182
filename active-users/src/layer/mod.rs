//! [`ActiveUsersLayer`]: a tower middleware that records every request through a tracker.
//!
//! It never waits for the store and never fails or slows a request: recording is a buffer
//! insert. By default it records after the response, and only when the response is not an
//! error (a 404 or a 500 is not a visit); see [`RecordOn`](crate::RecordOn).
//!
//! Put it *inside* your authentication layer, so that the user the auth layer inserts into the
//! request extensions is there when the entry is extracted. In axum, layers added later wrap
//! the earlier ones, so add this one first:
//!
//! # Examples
//!
//! ```
//! use active_users::{ActiveUsersLayer, Config, DefaultEntry, MemoryStore, Tracker};
//! use axum::{Router, routing::get};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tracker: Tracker<DefaultEntry> = Tracker::new(Config::default(), MemoryStore::new())?;
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(ActiveUsersLayer::new(tracker.clone()));
//!     // .layer(your_auth_layer) goes here, outside
//! # Ok(()) }
//! ```

mod body;
mod future;
#[allow(
    clippy::module_inception,
    reason = "tower-http's layout: layer.rs, service.rs, future.rs"
)]
mod layer;
mod service;

pub use self::body::RecordBody;
pub use self::future::ResponseFuture;
pub use self::layer::ActiveUsersLayer;
pub use self::service::ActiveUsers;
