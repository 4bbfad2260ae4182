//! actix-web 4 (feature `actix`): [`RecordActiveUsers`], the middleware that records requests,
//! and [`api_scope`], the JSON API and dashboard as an actix scope.
//!
//! The middleware does what the tower [`ActiveUsersLayer`](crate::ActiveUsersLayer) does:
//! the entry is extracted when the request arrives, from a view over actix's own request and
//! extensions (no header is copied), and recorded after the response when [`RecordOn`] says
//! so. The client IP comes from the connection's peer address under the tracker's proxy
//! settings; the user from a [`User`](crate::User) that your authentication middleware put
//! into the request's extensions (`req.extensions_mut().insert(user)`).
//!
//! **Order.** In actix the middleware registered *last* runs *first*, so call
//! `.wrap(your_auth)` *after* `.wrap(RecordActiveUsers::new(..))`: the user is then in place
//! when the entry is extracted. Registered the other way round, nothing has a user yet and
//! an entry type that requires one records nothing.
//!
//! **Where.** Register [`api_scope`] *before* a catch-all `web::scope("")`, which would
//! otherwise take every path; wrapping only the app's scope with the middleware keeps reading
//! the API from counting as a visit. Make the tracker once, outside `HttpServer::new`, and
//! clone it into each worker's app: a tracker per worker would split a `MemoryStore`'s counts.
//!
//! An error that reaches the middleware (`Err(actix_web::Error)` from a middleware inside it;
//! a handler's error is already a response there) is judged by the status of the response
//! actix makes of it, so `RecordOn::SuccessfulResponse` does not record it.
//!
//! # Examples
//!
//! ```
//! use active_users::actix::{RecordActiveUsers, api_scope};
//! use active_users::{ActiveUsersApi, Config, DefaultEntry, MemoryStore, Tracker};
//! use actix_web::{App, web};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tracker: Tracker<DefaultEntry> = Tracker::new(Config::default(), MemoryStore::new())?;
//! let api = ActiveUsersApi::new(tracker.clone()).bearer_token("s3cret-token");
//! let app = App::new()
//!     // First: the app's scope below matches every path.
//!     .service(api_scope("/active-users", api))
//!     .service(
//!         web::scope("")
//!             .wrap(RecordActiveUsers::new(tracker))
//!             // .wrap(your_auth_middleware) here: registered after, it runs before
//!             .route("/", web::get().to(|| async { "hello" })),
//!     );
//! # let _ = app; Ok(()) }
//! ```

use crate::tracker::HeldMember;
use crate::{ActiveUserEntry, RecordOn, RequestHead, Tracker};
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The actix-web middleware factory that records requests through a [`Tracker`]: pass it to
/// `App::wrap`.
pub struct RecordActiveUsers<E> {
    tracker: Tracker<E>,
    record_on: RecordOn,
}

impl<E> Clone for RecordActiveUsers<E> {
    fn clone(&self) -> Self {
        RecordActiveUsers {
            tracker: self.tracker.clone(),
            record_on: self.record_on,
        }
    }
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

    /// Chooses when requests are recorded.
    #[must_use]
    pub fn record_on(mut self, record_on: RecordOn) -> Self {
        self.record_on = record_on;
        self
    }
}

impl<S, B, E> Transform<S, ServiceRequest> for RecordActiveUsers<E>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
    E: ActiveUserEntry,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = RecordActiveUsersService<S, E>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RecordActiveUsersService {
            service,
            tracker: self.tracker.clone(),
            record_on: self.record_on,
        }))
    }
}

/// The service [`RecordActiveUsers`] wraps each actix service in.
pub struct RecordActiveUsersService<S, E> {
    service: S,
    tracker: Tracker<E>,
    record_on: RecordOn,
}

impl<S, E> fmt::Debug for RecordActiveUsersService<S, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordActiveUsersService")
            .field("tracker", &self.tracker)
            .field("record_on", &self.record_on)
            .finish_non_exhaustive()
    }
}

impl<S, B, E> Service<ServiceRequest> for RecordActiveUsersService<S, E>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
    E: ActiveUserEntry,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = ResponseFuture<S::Future, E>;

    fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.service.poll_ready(cx)
    }

    fn call(&self, request: ServiceRequest) -> Self::Future {
        // The extensions are borrowed only while the entry is extracted: the services inside
        // borrow them mutably.
        let pending = {
            let http_request = request.request();
            let extensions = http_request.extensions();
            let head = RequestHead::from_actix(http_request, &extensions);
            match self.record_on {
                RecordOn::Request => {
                    self.tracker.record_head(&head);
                    None
                }
                record_on => self
                    .tracker
                    .prepare(&head)
                    .ok()
                    .map(|entry| (self.tracker.clone(), entry, record_on)),
            }
        };
        ResponseFuture {
            inner: self.service.call(request),
            pending,
        }
    }
}

pin_project! {
    /// The response future of [`RecordActiveUsersService`]: the inner future, and the entry
    /// to record when its response arrives.
    pub struct ResponseFuture<F, E> {
        #[pin]
        inner: F,
        pending: Option<(Tracker<E>, HeldMember, RecordOn)>,
    }
}

impl<F, E> fmt::Debug for ResponseFuture<F, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
    E: ActiveUserEntry,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Some((tracker, entry, record_on)) = this.pending.take() {
            // actix's status type is `http` 0.2's; the code is the same number.
            let code = match &result {
                Ok(response) => response.status().as_u16(),
                Err(err) => err.as_response_error().status_code().as_u16(),
            };
            if http::StatusCode::from_u16(code).is_ok_and(|status| record_on.records(status)) {
                tracker.record_prepared(&entry);
            }
        }
        Poll::Ready(result)
    }
}

/// The JSON API and the dashboard of [`ActiveUsersApi`](crate::ActiveUsersApi) as an actix
/// scope mounted at `path` (`"/active-users"`): the same routes, authorization, answers and
/// errors as the tower service. Register it with `App::service`.
///
/// Register it before a catch-all `web::scope("")`. Requests to it are recorded by
/// [`RecordActiveUsers`] like any other when the middleware wraps the whole app; reading the
/// API is then a visit. To keep them apart, wrap only the app's own routes (a
/// `web::scope("")` with the middleware) and register the API beside it, as the
/// [module example](self) does. A trailing slash in `path` is ignored.
#[cfg(feature = "api")]
pub fn api_scope<E: ActiveUserEntry>(
    path: &str,
    api: crate::ActiveUsersApi<E>,
) -> actix_web::Scope {
    let handler = move |request: actix_web::HttpRequest| {
        let answer = {
            let extensions = request.extensions();
            let head = RequestHead::from_actix(&request, &extensions);
            // The path below the scope, wherever the app mounted it.
            api.respond(&head, request.match_info().unprocessed())
        };
        async move { into_actix(answer.await) }
    };
    // `"/x/"` would match only `/x//...`: the scope is the path without its last slash.
    actix_web::web::scope(path.trim_end_matches('/')).default_service(actix_web::web::to(handler))
}

/// An API answer (`http` 1 types) as an actix response (`http` 0.2 types).
#[cfg(feature = "api")]
fn into_actix(response: http::Response<bytes::Bytes>) -> actix_web::HttpResponse {
    let (parts, body) = response.into_parts();
    let status = actix_web::http::StatusCode::from_u16(parts.status.as_u16())
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = actix_web::HttpResponse::build(status);
    for (name, value) in &parts.headers {
        // Every header the API sets is a valid name and value in both versions of `http`.
        if let (Ok(name), Ok(value)) = (
            actix_web::http::header::HeaderName::from_bytes(name.as_str().as_bytes()),
            actix_web::http::header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            builder.append_header((name, value));
        }
    }
    builder.body(body)
}
