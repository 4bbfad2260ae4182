//! Who is using your web application right now.
//!
//! `active-users` records the visitors of a server built on the [`http`] 1.x crate (axum 0.8
//! through the tower layer and the JSON API, hyper 1 and others through [`Tracker::record`])
//! and answers "how many are active, and who?" from Redis (shared by every instance of the
//! application) or from memory (one process, tests, demos). It is a Rust
//! port of the Python package django-active-users that fixes what that package gets wrong: no
//! `KEYS` scans, an injective member encoding, no trust in `X-Forwarded-For` by default, and
//! distinct users counted as users.
//!
//! The pieces:
//! - an entry type, usually `#[derive(ActiveUserEntry)]` on a struct whose field attributes say
//!   where each value comes from (see [`ActiveUserEntry`] for the attributes), or the
//!   ready-made [`DefaultEntry`];
//! - the [`codec`] that turns an entry into one store member and back;
//! - [`FieldValue`], the trait a field's type implements.
//!
//! # Examples
//!
//! ```
//! use active_users::{ActiveUserEntry, ExtractContext};
//!
//! #[derive(Debug, ActiveUserEntry)]
//! struct Visitor {
//!     #[from_header("X-User-Id")]
//!     #[active_users(index)]
//!     user_id: u64,
//!     #[from_header("X-Service-Id")]
//!     service_id: Option<String>,
//! }
//!
//! let request = http::Request::get("/").header("x-user-id", "42").body(()).unwrap();
//! let visitor = Visitor::from_request(&request, &ExtractContext::default()).unwrap();
//! assert_eq!(visitor.user_id, 42);
//!
//! // No user id, no entry: only logged-in users are recorded.
//! let anonymous = http::Request::get("/").body(()).unwrap();
//! assert!(Visitor::from_request(&anonymous, &ExtractContext::default()).is_none());
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::panic, clippy::print_stdout)
)]

// Lets the derive's `::active_users::...` paths resolve inside this crate too.
extern crate self as active_users;

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(feature = "api")]
pub mod api;
#[cfg(feature = "blocking")]
mod blocking;
mod buffer;
mod client_ip;
pub mod codec;
mod config;
mod core;
mod default_entry;
mod entry;
mod error;
mod extract;
#[cfg(feature = "layer")]
pub mod layer;
#[cfg(feature = "metrics")]
mod metrics;
mod owners;
pub mod presence;
mod reader;
mod record_on;
mod request;
#[cfg(feature = "rocket")]
pub mod rocket;
mod secret;
pub mod store;
mod tracker;
mod value;

pub use active_users_derive::ActiveUserEntry;
#[cfg(feature = "api")]
pub use api::ActiveUsersApi;
#[cfg(feature = "blocking")]
pub use blocking::BlockingTracker;
pub use client_ip::{
    ClientIpHeader, ExtractContext, IpAnonymization, IpNetwork, IpNetworkError, PeerAddr,
    TrustedProxies,
};
pub use codec::{DecodeError, EncodeError};
pub use config::{
    BOT_USER_AGENTS, Config, ConfigBuilder, DEFAULT_HISTORY, DEFAULT_MAX_ACTIVE_ENTRIES,
    DEFAULT_MAX_ENTRIES_PER_USER, DEFAULT_MAX_ENTRY_LEN, env,
};
pub use core::{
    ActiveValue, Counts, FieldInfo, HistoryPoint, MAX_TOP, SAMPLE_EVERY, UNIQUE_STANDARD_ERROR,
    UniqueVisitors, ValueCounts, ValuePage,
};
pub use default_entry::{DefaultEntry, SESSION_COOKIE, User};
pub use entry::{ActiveUserEntry, Field};
pub use error::{BuildError, ConfigError, CursorError, QueryError, StoreError};
#[cfg(feature = "layer")]
pub use layer::ActiveUsersLayer;
pub use presence::{Change, EventId, PresenceEvent, RawChange, Subscription, SubscriptionError};
pub use reader::{RawEntry, RawPage, Reader};
pub use record_on::RecordOn;
pub use request::{HeaderValues, RequestHead};
#[cfg(feature = "redis")]
pub use store::RedisStore;
pub use store::{MemoryStore, Store};
pub use tracker::{ActiveEntry, Cursor, MAX_PAGE, Outcome, Page, Stats, Tracker, View};
pub use value::{FieldValue, ValueKind};

/// The `http` crate this library is built on, re-exported so versions always match.
pub use http;
/// The `redis` crate the Redis store is built on, re-exported so versions always match.
#[cfg(feature = "redis")]
pub use redis;

/// The crate README's examples, compiled as doctests so that they stay true (the workspace
/// README's are compiled by the unpublished `tests` crate).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Used by the code `#[derive(ActiveUserEntry)]` writes. Not public API: it may change in any
/// release.
#[doc(hidden)]
pub mod __private {
    pub use crate::extract::{
        ClientIpValue, FnValue, call_fn, call_fn_value, client_ip, cookie, cookie_text, extension,
        extension_ref, header, header_text, put_fn, put_text, put_value, query, query_text, text,
    };
    pub use http::HeaderName;
    pub use std::string::String;
    pub use std::sync::OnceLock;
    pub use std::vec::Vec;

    /// Describes one field; the `Field` struct is non-exhaustive so generated code calls this.
    /// One flag per argument keeps the generated call plain.
    #[allow(clippy::too_many_arguments)]
    pub const fn field(
        name: &'static str,
        optional: bool,
        indexed: bool,
        grouped: bool,
        hidden: bool,
        secret: bool,
        kind: crate::ValueKind,
        max_len: usize,
    ) -> crate::Field {
        crate::Field {
            name,
            optional,
            indexed,
            grouped,
            hidden,
            secret,
            kind,
            max_len,
        }
    }
}
