//! [`ActiveUsersApi`]: the JSON API over a tracker, as a tower / `http` service.
//!
//! Mount it under any path (axum's `nest_service`, or [`base_path`](ActiveUsersApi::base_path)
//! for stacks that do not strip the prefix). It answers `GET` only:
//!
//! | path | answer |
//! |---|---|
//! | `/` | `{"count": N, "data": [{field: value, ...}], "next": cursor}`: the Python package's shape plus a cursor; `?limit=` (1 to 1000, default 100) and `?cursor=` page through the entries |
//! | `/count` | `{"count": N, "distinct": {field: M}}`: distinct counts of every indexed field |
//! | `/by/<field>` | `{"field": f, "counts": [{"value": v, "count": n}]}` for an indexed field |
//! | `/values/<field>` | `{"field": f, "values": [{"value": v, "entries": n, "last_seen": ms}], "next": cursor}`: each active value of an indexed field once (each user, not each session; [`Tracker::values`](crate::Tracker::values)); `entries` is `null` for a `distinct` field; `?limit=` and `?cursor=` as for `/` |
//! | `/history?span=1h` | `{"span": s, "points": [{"at": ms, "active": n}], "peak": point}`: the active count per minute ([`Tracker::history`](crate::Tracker::history)); `span` in seconds or with `m`, `h`, `d` (default 1h) |
//! | `/unique?span=24h` | `{"span": s, "visitors": n, "since": ms, "standard_error": 0.0081}` ([`Tracker::unique`](crate::Tracker::unique)) |
//! | `/events` | with [`presence`](crate::ConfigBuilder::presence) on: who joins and leaves, as Server-Sent Events (`event: joined` or `left`, an `id`, `data: {"at": ms, "entry": {...}}` or `{"at": ms, "field": f, "value": v}`); `Last-Event-ID` (or `?last_event_id=`) resumes after that event within what the event log holds, and `event: lagged` says when events were missed. The tower service streams it; the actix and rocket adapters answer 501 |
//! | `/dashboard` | an HTML page that shows all of the above live: one file in this crate, no external resources; it follows `/events` with presence on, else it refreshes every 3 s |
//!
//! Values are JSON strings, absent fields `null`; fields marked `#[active_users(hidden)]` (the
//! session id of [`DefaultEntry`](crate::DefaultEntry)) or hidden with
//! [`hide_field`](ActiveUsersApi::hide_field) are never shown.
//!
//! **Closed by default.** A new API answers 401 to everything until you choose who may read it:
//! [`bearer_token`](ActiveUsersApi::bearer_token) (compared in constant time),
//! [`authorize`](ActiveUsersApi::authorize) (your own rule over the request), or
//! [`public`](ActiveUsersApi::public). Errors are JSON `{"error": code, "message": text}`:
//! 400 for bad parameters, 401 without authorization, 404 for unknown paths and fields, 405 for
//! other methods, 503 when the store fails.
//!
//! **The dashboard** has the same authorization as the API. A browser cannot send an
//! `Authorization` header on its own, so with a bearer token `/dashboard` answers 401 with a
//! sign-in page that stores the token in a cookie scoped to the API's path (`SameSite=Strict`),
//! which the API accepts like the header; a link to `<base>/dashboard#token=...` fills the
//! token in (the fragment never reaches a server) and the operator presses the button, so a
//! link from another site cannot sign a browser in with a token of its choosing. With
//! [`authorize`](ActiveUsersApi::authorize), the browser's own cookies go to your rule as they
//! do for any request. The pages run only the scripts `dashboard.js` and `login.js` that the
//! API serves (to anybody: they hold no data); their policy allows no inline script.
//!
//! **Hosts.** [`allowed_hosts`](ActiveUsersApi::allowed_hosts) limits the `Host` values the
//! API answers (others get 421): use it for a [`public`](ActiveUsersApi::public) API that
//! browsers can reach, against DNS rebinding.
//!
//! # Examples
//!
//! ```
//! use active_users::{ActiveUsersApi, Config, DefaultEntry, MemoryStore, Tracker};
//! use axum::Router;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tracker: Tracker<DefaultEntry> = Tracker::new(Config::default(), MemoryStore::new())?;
//! let api = ActiveUsersApi::new(tracker).bearer_token("s3cret-token");
//! let app: Router = Router::new().nest_service("/active-users", api);
//! # Ok(()) }
//! ```

mod auth;
mod events;
mod service;

pub use self::service::{ActiveUsersApi, ApiBody, ResponseFuture};
