//! [`RequestHead`]: the borrowed view of a request that entries are extracted from.

use http::{Extensions, HeaderMap, Method, Uri, request::Parts};

/// The method, URI, headers and extensions of a request, borrowed.
///
/// `http::Request<B>` does not lend out its `Parts`, so extraction works on this view, which
/// both `&Request<B>` (any body type) and `&Parts` convert into at no cost. `#[from_fn]`
/// functions receive it.
///
/// # Examples
///
/// ```
/// use active_users::RequestHead;
///
/// let request = http::Request::get("/x?ref=mail").body(()).unwrap();
/// let head = RequestHead::from(&request);
/// assert_eq!(head.uri().query(), Some("ref=mail"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> RequestHead<'a> {
    /// A view over the given parts of a request.
    pub fn new(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        extensions: &'a Extensions,
    ) -> Self {
        RequestHead {
            method,
            uri,
            headers,
            extensions,
        }
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request URI.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The request headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The request extensions (where auth layers and servers put typed values).
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
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
