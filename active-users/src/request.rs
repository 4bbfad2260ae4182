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
        extensions: &'a actix_web::dev::Extensions,
    },
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
}

impl<'a> Iterator for HeaderValues<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match &mut self.inner {
            ValuesInner::Http(values) => values.next().map(http::HeaderValue::as_bytes),
            #[cfg(feature = "actix")]
            ValuesInner::Actix(values) => values.next().map(|v| v.as_bytes()),
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

    /// A view over actix-web's request head and the request's extensions (borrow them with
    /// `HttpRequest::extensions()` for as long as the view lives).
    #[cfg(feature = "actix")]
    pub fn from_actix(
        head: &'a actix_web::dev::RequestHead,
        extensions: &'a actix_web::dev::Extensions,
    ) -> Self {
        RequestHead {
            source: Source::Actix { head, extensions },
        }
    }

    /// The request method, as sent (`"GET"`).
    pub fn method(&self) -> &'a str {
        match self.source {
            Source::Http { method, .. } => method.as_str(),
            #[cfg(feature = "actix")]
            Source::Actix { head, .. } => head.method.as_str(),
        }
    }

    /// Whether the method is `GET` or `HEAD`.
    #[cfg(feature = "api")]
    pub(crate) fn is_read(&self) -> bool {
        matches!(self.method(), "GET" | "HEAD")
    }

    /// The request path (`"/a/b"`), without the query.
    pub fn path(&self) -> &'a str {
        match self.source {
            Source::Http { uri, .. } => uri.path(),
            #[cfg(feature = "actix")]
            Source::Actix { head, .. } => head.uri.path(),
        }
    }

    /// The query string, without the `?`, if there is one.
    pub fn query(&self) -> Option<&'a str> {
        match self.source {
            Source::Http { uri, .. } => uri.query(),
            #[cfg(feature = "actix")]
            Source::Actix { head, .. } => head.uri.query(),
        }
    }

    /// The authority of the request URI (HTTP/2, or an absolute-form request), if it has one.
    #[cfg(feature = "api")]
    pub(crate) fn authority(&self) -> Option<&'a str> {
        match self.source {
            Source::Http { uri, .. } => uri.authority().map(|a| a.as_str()),
            #[cfg(feature = "actix")]
            Source::Actix { head, .. } => head.uri.authority().map(|a| a.as_str()),
        }
    }

    /// The first value of the header `name` (any case), as bytes.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        match self.source {
            Source::Http { headers, .. } => headers.get(name).map(http::HeaderValue::as_bytes),
            #[cfg(feature = "actix")]
            Source::Actix { head, .. } => head.headers.get(name).map(|v| v.as_bytes()),
        }
    }

    /// The first value of the header `name`, looked up by its parsed name (what the derive's
    /// code holds).
    pub(crate) fn header_named(&self, name: &HeaderName) -> Option<&'a [u8]> {
        match self.source {
            Source::Http { headers, .. } => headers.get(name).map(http::HeaderValue::as_bytes),
            #[cfg(feature = "actix")]
            Source::Actix { .. } => self.header(name.as_str()),
        }
    }

    /// Every value of the header `name` (any case), in the order they came.
    pub fn header_values(&self, name: &str) -> HeaderValues<'a> {
        let inner = match self.source {
            Source::Http { headers, .. } => ValuesInner::Http(headers.get_all(name).into_iter()),
            #[cfg(feature = "actix")]
            Source::Actix { head, .. } => ValuesInner::Actix(head.headers.get_all(name)),
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
        }
    }

    /// A value of type `T` that the server or an earlier middleware put into the request's
    /// extensions (the user an authentication layer found, for one).
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<&'a T> {
        match self.source {
            Source::Http { extensions, .. } => extensions.get::<T>(),
            #[cfg(feature = "actix")]
            Source::Actix { extensions, .. } => extensions.get::<T>(),
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
