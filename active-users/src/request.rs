//! [`RequestHead`]: the borrowed view of a request that entries are extracted from.

use http::{Extensions, HeaderMap, HeaderName, Method, Uri, request::Parts};
use std::net::SocketAddr;

/// The method, path, query, headers, typed extensions and peer address of a request, borrowed
/// from whatever server holds it.
///
/// `#[derive(ActiveUserEntry)]` extracts entries from this view and `#[from_fn]` functions
/// receive it. `&http::Request<B>` (any body) and `&http::request::Parts` convert into it at
/// no cost; with the `actix` feature, the actix-web middleware lends actix's own request head
/// and extensions the same way, so no header is copied for either.
///
/// # Examples
///
/// ```
/// use active_users::RequestHead;
///
/// let request = http::Request::get("/x?ref=mail").header("X-Plan", "pro").body(()).unwrap();
/// let head = RequestHead::from(&request);
/// assert_eq!(head.path(), "/x");
/// assert_eq!(head.query(), Some("ref=mail"));
/// assert_eq!(head.header("x-plan"), Some(&b"pro"[..]));
/// ```
#[derive(Clone, Copy)]
pub struct RequestHead<'a> {
    source: Source<'a>,
}

/// Where the view's parts live.
#[derive(Clone, Copy)]
enum Source<'a> {
    /// The `http` crate's types (axum, hyper, tonic, warp, tower).
    Http {
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        extensions: &'a Extensions,
    },
    /// actix-web's request head (its `http` 0.2 types) and its extensions.
    #[cfg(feature = "actix")]
    Actix {
        head: &'a actix_web::dev::RequestHead,
        /// The path as actix routes it (percent-encoded unreserved characters decoded).
        path: &'a str,
        extensions: &'a actix_web::dev::Extensions,
    },
    /// A rocket request (behind a trait: its lifetime parameter is invariant, so a
    /// `&'a Request<'r>` cannot be held as a `&'a Request<'a>`).
    #[cfg(feature = "rocket")]
    Rocket(&'a (dyn RocketRequest + 'a)),
}

/// What the view reads of a rocket request.
#[cfg(feature = "rocket")]
trait RocketRequest: Sync {
    fn method(&self) -> &str;
    fn path(&self) -> &str;
    fn query(&self) -> Option<&str>;
    fn header(&self, name: &str) -> Option<&str>;
    fn header_values(&self, name: &str) -> Vec<&str>;
    fn remote(&self) -> Option<SocketAddr>;
    /// The `Option<User>` a request guard cached.
    fn user(&self) -> Option<&crate::User>;
}

#[cfg(feature = "rocket")]
impl RocketRequest for rocket::Request<'_> {
    fn method(&self) -> &str {
        rocket::Request::method(self).as_str()
    }
    fn path(&self) -> &str {
        /// The path as rocket routes on it, made once per request.
        struct RoutedPath(String);
        let routed = self.local_cache(|| {
            let mut path = String::new();
            for segment in self.uri().path().segments() {
                path.push('/');
                path.push_str(segment);
            }
            if path.is_empty() {
                path.push('/');
            }
            RoutedPath(path)
        });
        &routed.0
    }
    fn query(&self) -> Option<&str> {
        self.uri().query().map(|q| q.as_str())
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers().get_one(name)
    }
    fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers().get(name).collect()
    }
    fn remote(&self) -> Option<SocketAddr> {
        rocket::Request::remote(self)
    }
    fn user(&self) -> Option<&crate::User> {
        self.local_cache(|| None::<crate::User>).as_ref()
    }
}

impl std::fmt::Debug for RequestHead<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestHead")
            .field("method", &self.method())
            .field("path", &self.path())
            .field("query", &self.query())
            .finish_non_exhaustive()
    }
}

/// The values of one header, in order; made by [`RequestHead::header_values`].
pub struct HeaderValues<'a> {
    inner: ValuesInner<'a>,
}

enum ValuesInner<'a> {
    Http(http::header::ValueIter<'a, http::HeaderValue>),
    #[cfg(feature = "actix")]
    Actix(std::slice::Iter<'a, actix_web::http::header::HeaderValue>),
    #[cfg(feature = "rocket")]
    Rocket(std::vec::IntoIter<&'a str>),
}

impl<'a> Iterator for HeaderValues<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match &mut self.inner {
            ValuesInner::Http(values) => values.next().map(http::HeaderValue::as_bytes),
            #[cfg(feature = "actix")]
            ValuesInner::Actix(values) => values.next().map(|v| v.as_bytes()),
            #[cfg(feature = "rocket")]
            ValuesInner::Rocket(values) => values.next().map(str::as_bytes),
        }
    }
}

impl std::fmt::Debug for HeaderValues<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeaderValues(..)")
    }
}

impl<'a> RequestHead<'a> {
    /// A view over the given parts of an `http` request.
    pub fn new(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        extensions: &'a Extensions,
    ) -> Self {
        RequestHead {
            source: Source::Http {
                method,
                uri,
                headers,
                extensions,
            },
        }
    }

    /// A view over an actix-web request and its extensions (borrowed with
    /// `request.extensions()` for as long as the view lives; drop the view before anything
    /// borrows them mutably). Its [`path`](Self::path) is the one actix routes on.
    #[cfg(feature = "actix")]
    pub fn from_actix(
        request: &'a actix_web::HttpRequest,
        extensions: &'a actix_web::dev::Extensions,
    ) -> Self {
        RequestHead {
            source: Source::Actix {
                head: request.head(),
                path: request.match_info().as_str(),
                extensions,
            },
        }
    }

    /// A view over a rocket request. Rocket has no typed extensions: the view's one
    /// extension is the [`User`](crate::User) a request guard cached as an
    /// `Option<active_users::User>` (`request.local_cache(|| Some(user))`).
    #[cfg(feature = "rocket")]
    pub fn from_rocket<'r: 'a>(request: &'a rocket::Request<'r>) -> Self {
        RequestHead {
            source: Source::Rocket(request),
        }
    }

    /// The request method, as sent (`"GET"`).
    pub fn method(&self) -> &'a str {
        match self.source {
            Source::Http { method, .. } => method.as_str(),
            #[cfg(feature = "actix")]
            Source::Actix { head, .. } => head.method.as_str(),
            #[cfg(feature = "rocket")]
            Source::Rocket(request) => request.method(),
        }
    }

    /// Whether the method is `GET` or `HEAD`.
    #[cfg(feature = "api")]
    pub(crate) fn is_read(&self) -> bool {
        matches!(self.method(), "GET" | "HEAD")
    }

    /// The request path (`"/a/b"`), without the query, as the server routes on it: as sent
    /// for the `http` types; for actix-web, with the percent-encoded characters that need no
    /// encoding decoded (`/%73tatic` is `/static`); for rocket, its decoded segments without
    /// empty ones (`//%70age/x/` is `/page/x`).
    pub fn path(&self) -> &'a str {
        match self.source {
            Source::Http { uri, .. } => uri.path(),
            #[cfg(feature = "actix")]
            Source::Actix { path, .. } => path,
            #[cfg(feature = "rocket")]
            Source::Rocket(request) => request.path(),
        }
    }

    /// The query string, without the `?`, if there is one.
    pub fn query(&self) -> Option<&'a str> {
        match self.source {
            Source::Http { uri, .. } => uri.query(),
            #[cfg(feature = "actix")]
            Source::Actix { head, .. } => head.uri.query(),
            #[cfg(feature = "rocket")]
            Source::Rocket(request) => request.query(),
        }
    }

    /// The authority of the request URI (HTTP/2, or an absolute-form request), if it has one.
    #[cfg(feature = "api")]
    pub(crate) fn authority(&self) -> Option<&'a str> {
        match self.source {
            Source::Http { uri, .. } => uri.authority().map(|a| a.as_str()),
            #[cfg(feature = "actix")]
            Source::Actix { head, .. } => head.uri.authority().map(|a| a.as_str()),
            // A rocket request is in origin form: its authority is the `Host` header.
            #[cfg(feature = "rocket")]
            Source::Rocket(_) => None,
        }
    }

    /// The first value of the header `name` (any case), as bytes.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        match self.source {
            Source::Http { headers, .. } => headers.get(name).map(http::HeaderValue::as_bytes),
            #[cfg(feature = "actix")]
            Source::Actix { head, .. } => head.headers.get(name).map(|v| v.as_bytes()),
            #[cfg(feature = "rocket")]
            Source::Rocket(request) => request.header(name).map(str::as_bytes),
        }
    }

    /// The first value of the header `name`, looked up by its parsed name (what the derive's
    /// code holds).
    pub(crate) fn header_named(&self, name: &HeaderName) -> Option<&'a [u8]> {
        match self.source {
            Source::Http { headers, .. } => headers.get(name).map(http::HeaderValue::as_bytes),
            #[cfg(feature = "actix")]
            Source::Actix { .. } => self.header(name.as_str()),
            #[cfg(feature = "rocket")]
            Source::Rocket(_) => self.header(name.as_str()),
        }
    }

    /// Every value of the header `name` (any case), in the order they came.
    pub fn header_values(&self, name: &str) -> HeaderValues<'a> {
        let inner = match self.source {
            Source::Http { headers, .. } => ValuesInner::Http(headers.get_all(name).into_iter()),
            #[cfg(feature = "actix")]
            Source::Actix { head, .. } => ValuesInner::Actix(head.headers.get_all(name)),
            #[cfg(feature = "rocket")]
            Source::Rocket(request) => ValuesInner::Rocket(request.header_values(name).into_iter()),
        };
        HeaderValues { inner }
    }

    /// Every value of the header `name`, looked up by its parsed name.
    pub(crate) fn values_named(&self, name: &HeaderName) -> HeaderValues<'a> {
        match self.source {
            Source::Http { headers, .. } => HeaderValues {
                inner: ValuesInner::Http(headers.get_all(name).into_iter()),
            },
            #[cfg(feature = "actix")]
            Source::Actix { .. } => self.header_values(name.as_str()),
            #[cfg(feature = "rocket")]
            Source::Rocket(_) => self.header_values(name.as_str()),
        }
    }

    /// A value of type `T` that the server or an earlier middleware put into the request's
    /// extensions (the user an authentication layer found, for one).
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<&'a T> {
        match self.source {
            Source::Http { extensions, .. } => extensions.get::<T>(),
            #[cfg(feature = "actix")]
            Source::Actix { extensions, .. } => extensions.get::<T>(),
            #[cfg(feature = "rocket")]
            Source::Rocket(request) => (request.user()? as &dyn std::any::Any).downcast_ref::<T>(),
        }
    }

    /// The address of the peer that connected, as the server reports it: actix-web's
    /// connection address, or in the extensions a [`PeerAddr`](crate::PeerAddr), a
    /// `SocketAddr`, (feature `axum`) axum's `ConnectInfo<SocketAddr>` or (feature `tonic`)
    /// tonic's `TcpConnectInfo`.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        #[cfg(feature = "actix")]
        if let Source::Actix { head, .. } = self.source
            && let Some(addr) = head.peer_addr
        {
            return Some(addr);
        }
        #[cfg(feature = "rocket")]
        if let Source::Rocket(request) = self.source
            && let Some(addr) = request.remote()
        {
            return Some(addr);
        }
        if let Some(crate::PeerAddr(addr)) = self.extension::<crate::PeerAddr>() {
            return Some(*addr);
        }
        if let Some(addr) = self.extension::<SocketAddr>() {
            return Some(*addr);
        }
        #[cfg(feature = "axum")]
        if let Some(info) = self.extension::<axum::extract::ConnectInfo<SocketAddr>>() {
            return Some(info.0);
        }
        #[cfg(feature = "tonic")]
        if let Some(info) = self.extension::<tonic::transport::server::TcpConnectInfo>()
            && let Some(addr) = info.remote_addr
        {
            return Some(addr);
        }
        None
    }
}

impl<'a> From<&'a Parts> for RequestHead<'a> {
    fn from(parts: &'a Parts) -> Self {
        RequestHead::new(&parts.method, &parts.uri, &parts.headers, &parts.extensions)
    }
}

impl<'a, B> From<&'a http::Request<B>> for RequestHead<'a> {
    fn from(request: &'a http::Request<B>) -> Self {
        RequestHead::new(
            request.method(),
            request.uri(),
            request.headers(),
            request.extensions(),
        )
    }
}
