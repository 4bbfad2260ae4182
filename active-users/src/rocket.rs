//! rocket 0.5 (feature `rocket`): [`RecordActiveUsers`], the fairing that records requests,
//! and [`api_routes`], the JSON API and dashboard as rocket routes.
//!
//! The fairing records when the response is ready, from a view over rocket's request (no
//! header is copied), when [`RecordOn`] passes the response's status. The client IP is the
//! connection's peer address under the tracker's proxy settings (not rocket's own
//! `ip_header`), and exclusions see the path as rocket routes on it (its decoded segments,
//! without empty ones). Rocket has no typed extensions: [`RequestHead::extension`] reads rocket's
//! request-local cache instead, so the request guard that finds your user caches it as an
//! `Option<active_users::User>`:
//!
//! ```text
//! request.local_cache(|| Some(active_users::User::new(id)))
//! ```
//!
//! The cached value must be exactly an `Option<active_users::User>` (another type is not
//! seen), and it is read when the response is ready: a guard that caches a user and then
//! forwards leaves that user to the route that answers. The API's routes run no guards, so
//! an [`authorize`](crate::ActiveUsersApi::authorize) rule reads headers or cookies itself.
//!
//! **Mount the API at a path of its own** (`"/active-users"`), not at `"/"`: its routes take
//! every path and method below their mount point (unknown paths get its JSON 404, other
//! methods its 405), so at `"/"` they collide with the app's own `GET /` and shadow the rest.
//!
//! With rocket's `Shield` fairing (on by default), a debug build logs a warning per API
//! response: the API sets `X-Content-Type-Options` itself, which Shield declines to replace.
//!
//! What rocket's design changes:
//! - **`RecordOn::Request` records at the response too.** A request fairing runs before
//!   routing and the guards that know the user, and reading the cache then would fill it
//!   before your guard does; so the fairing records every request when its response is
//!   ready, whatever the status, which is what `Request` means apart from timing.
//! - **Only requests that reach a guard that caches the user have one.** A route without
//!   that guard records an entry without a user (or none, for an entry type that requires
//!   one).
//!
//! # Examples
//!
//! ```
//! use active_users::rocket::{RecordActiveUsers, api_routes};
//! use active_users::{ActiveUsersApi, Config, DefaultEntry, MemoryStore, Tracker};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tracker: Tracker<DefaultEntry> = Tracker::new(Config::default(), MemoryStore::new())?;
//! let api = ActiveUsersApi::new(tracker.clone()).bearer_token("s3cret-token");
//! let app = rocket::build()
//!     .attach(RecordActiveUsers::new(tracker))
//!     .mount("/active-users", api_routes(api));
//! # let _ = app; Ok(()) }
//! ```

use crate::{ActiveUserEntry, RecordOn, RequestHead, Tracker};
use rocket::fairing::{Fairing, Info, Kind};
use rocket::{Request, Response};
use std::fmt;

/// The rocket fairing that records requests through a [`Tracker`]: pass it to
/// `Rocket::attach`.
pub struct RecordActiveUsers<E> {
    tracker: Tracker<E>,
    record_on: RecordOn,
}

impl<E> fmt::Debug for RecordActiveUsers<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordActiveUsers")
            .field("tracker", &self.tracker)
            .field("record_on", &self.record_on)
            .finish()
    }
}

impl<E: ActiveUserEntry> RecordActiveUsers<E> {
    /// Records through `tracker`, after responses that are not errors.
    pub fn new(tracker: Tracker<E>) -> Self {
        RecordActiveUsers {
            tracker,
            record_on: RecordOn::default(),
        }
    }

    /// Chooses which responses are recorded (see the [module documentation](self) for
    /// `RecordOn::Request`).
    #[must_use]
    pub fn record_on(mut self, record_on: RecordOn) -> Self {
        self.record_on = record_on;
        self
    }
}

#[rocket::async_trait]
impl<E: ActiveUserEntry> Fairing for RecordActiveUsers<E> {
    fn info(&self) -> Info {
        Info {
            name: "active-users",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let status = http::StatusCode::from_u16(response.status().code);
        if status.is_ok_and(|status| self.record_on.records(status)) {
            self.tracker.record_head(&RequestHead::from_rocket(request));
        }
    }
}

/// The API's routes for every method (the API answers 405 itself), to mount where the API
/// lives: `rocket.mount("/active-users", api_routes(api))`. The same routes, authorization,
/// answers and errors as the tower service.
#[cfg(feature = "api")]
pub fn api_routes<E: ActiveUserEntry>(api: crate::ActiveUsersApi<E>) -> Vec<rocket::Route> {
    use rocket::http::Method;
    let handler = ApiHandler(api);
    [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Patch,
        Method::Options,
    ]
    .into_iter()
    .flat_map(|method| {
        [
            rocket::Route::new(method, "/", handler.clone()),
            rocket::Route::new(method, "/<path..>", handler.clone()),
        ]
    })
    .collect()
}

/// The rocket handler of [`api_routes`].
#[cfg(feature = "api")]
struct ApiHandler<E>(crate::ActiveUsersApi<E>);

#[cfg(feature = "api")]
impl<E> Clone for ApiHandler<E> {
    fn clone(&self) -> Self {
        ApiHandler(self.0.clone())
    }
}

#[cfg(feature = "api")]
#[rocket::async_trait]
impl<E: ActiveUserEntry> rocket::route::Handler for ApiHandler<E> {
    async fn handle<'r>(
        &self,
        request: &'r Request<'_>,
        _data: rocket::Data<'r>,
    ) -> rocket::route::Outcome<'r> {
        // The path below the mount point, wherever the app mounted the routes, both as
        // rocket routes on them (decoded segments).
        let answer = {
            let head = RequestHead::from_rocket(request);
            let path = head.path();
            let base = request.route().map_or("", |route| route.uri.base());
            let below = path
                .strip_prefix(base.trim_end_matches('/'))
                .unwrap_or(path);
            self.0.respond(&head, below)
        };
        let (parts, body) = answer.await.into_parts();
        let mut response = Response::build();
        response.status(rocket::http::Status::new(parts.status.as_u16()));
        for (name, value) in &parts.headers {
            if let Ok(value) = value.to_str() {
                response.raw_header(name.as_str().to_owned(), value.to_owned());
            }
        }
        response.sized_body(body.len(), std::io::Cursor::new(body));
        rocket::route::Outcome::Success(response.finalize())
    }
}
