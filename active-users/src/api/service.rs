use super::auth::Access;
use crate::extract::form_decode;
use crate::{
    ActiveUserEntry, Cursor, Field, HistoryPoint, MAX_PAGE, QueryError, RequestHead, Tracker,
    UNIQUE_STANDARD_ERROR,
};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower_service::Service;

pub use super::events::ApiBody;

/// The future of an API call.
pub type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<Response<ApiBody>, Infallible>> + Send + 'static>>;

/// The page size when the request gives no `limit`.
const DEFAULT_LIMIT: usize = 100;

/// The JSON API over a tracker; see the [module documentation](crate::api).
pub struct ActiveUsersApi<E> {
    tracker: Tracker<E>,
    access: Access,
    hidden: Arc<HashSet<String>>,
    base_path: Arc<str>,
    /// The `Host` values it answers for; empty: any.
    allowed_hosts: Arc<[String]>,
}

impl<E> Clone for ActiveUsersApi<E> {
    fn clone(&self) -> Self {
        ActiveUsersApi {
            tracker: self.tracker.clone(),
            access: self.access.clone(),
            hidden: Arc::clone(&self.hidden),
            base_path: Arc::clone(&self.base_path),
            allowed_hosts: Arc::clone(&self.allowed_hosts),
        }
    }
}

impl<E> fmt::Debug for ActiveUsersApi<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActiveUsersApi")
            .field("access", &self.access)
            .field("hidden", &self.hidden)
            .field("base_path", &self.base_path)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish_non_exhaustive()
    }
}

/// A request the API will answer, decided before any store call.
enum Route {
    List {
        limit: usize,
        cursor: Option<Cursor>,
    },
    Count,
    By(&'static str),
    Values {
        field: &'static str,
        limit: usize,
        cursor: Option<Cursor>,
    },
    History(Duration),
    Unique(Duration),
    Dashboard,
    /// A script of the dashboard's pages.
    Script(&'static str),
    /// Presence as Server-Sent Events, after this event if given.
    Events(Option<crate::presence::EventId>),
}

/// The dashboard page; its script reads the API it is served by.
const DASHBOARD: &str = include_str!("dashboard.html");

/// The dashboard's script, served from this origin (the page's policy allows no inline
/// script).
const DASHBOARD_JS: &str = include_str!("dashboard.js");

/// The page a browser gets from `/dashboard` without the token of a bearer-token API.
const LOGIN: &str = include_str!("login.html");

/// The sign-in page's script.
const LOGIN_JS: &str = include_str!("login.js");

/// The page a browser gets from `/dashboard` when the API's rule refuses it.
const DENIED: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Active users</title></head><body><p>This dashboard is not open to this request: the application's authorization rule refused it.</p></body></html>";

/// The longest span `/history` and `/unique` accept.
const MAX_SPAN: Duration = Duration::from_secs(400 * 24 * 3600);

/// An error response.
struct Failure {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// An HTML page to answer with instead of the JSON error (for the dashboard).
    page: Option<&'static str>,
}

impl Failure {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            status,
            code,
            message: message.into(),
            page: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Failure::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    fn into_response(self) -> Response<Bytes> {
        let mut response = match self.page {
            Some(page) => html_response(self.status, Bytes::from_static(page.as_bytes())),
            None => json_response(
                self.status,
                to_body(&json!({ "error": self.code, "message": self.message })),
            ),
        };
        match self.status {
            StatusCode::UNAUTHORIZED => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"active-users\""),
                );
            }
            StatusCode::METHOD_NOT_ALLOWED => {
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET"));
            }
            _ => {}
        }
        response
    }
}

impl From<QueryError> for Failure {
    fn from(err: QueryError) -> Self {
        match err {
            QueryError::UnknownField(_) | QueryError::NotIndexed(_) | QueryError::NotGrouped(_) => {
                Failure::not_found(err.to_string())
            }
            QueryError::WindowTooLong { .. }
            | QueryError::SpanTooLong { .. }
            | QueryError::Cursor(_) => Failure::bad_request(err.to_string()),
            QueryError::HistoryOff => Failure::not_found(err.to_string()),
            QueryError::Timeout(t) => Failure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!("the active-users store did not answer within {t:?}"),
            ),
            other => {
                // The store's own words (script hashes, server messages) go to the log, not
                // to whoever asked.
                tracing::warn!(error = %other, "active-users API: the store failed a query");
                Failure::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the active-users store cannot answer now; the application's log says why",
                )
            }
        }
    }
}

/// Serializes a response body. Our bodies are maps of strings and numbers, which always
/// serialize; should one ever fail, the client gets an empty object rather than a panic.
fn to_body<T: serde::Serialize>(body: &T) -> Bytes {
    serde_json::to_vec(body).map_or_else(|_| Bytes::from_static(b"{}"), Bytes::from)
}

fn json_response(status: StatusCode, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A script of the dashboard's pages.
fn script_response(script: &'static str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from_static(script.as_bytes()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// An HTML page: no caching, no framing, scripts from this origin only (no inline script),
/// styles from the page, requests to this origin only.
/// The response of `/events`: a stream of Server-Sent Events, never cached or buffered.
fn events_response(body: ApiBody) -> Response<ApiBody> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Proxies such as nginx would otherwise hold the events back.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Where an event stream resumes: the `Last-Event-ID` header a reconnecting `EventSource`
/// sends, or the `last_event_id` query parameter (a page reloaded).
fn last_event_id(head: &RequestHead<'_>) -> Result<Option<crate::presence::EventId>, Failure> {
    let from_query = head.query().and_then(|query| {
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| *name == "last_event_id")
            .map(|(_, value)| value.to_owned())
    });
    let text = match head.header("last-event-id") {
        Some(value) => Some(
            std::str::from_utf8(value)
                .map_err(|_| Failure::bad_request("Last-Event-ID is not text"))?
                .to_owned(),
        ),
        None => from_query,
    };
    match text.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            let shown: String = text.chars().take(64).collect();
            Failure::bad_request(format!(
                "Last-Event-ID {shown:?} is not an event id (<ms>-<seq>.<index>)"
            ))
        }),
    }
}

fn html_response(status: StatusCode, body: Bytes) -> Response<Bytes> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

impl<E: ActiveUserEntry> ActiveUsersApi<E> {
    /// A closed API over `tracker`: it answers 401 until [`bearer_token`](Self::bearer_token),
    /// [`authorize`](Self::authorize) or [`public`](Self::public) says who may read it.
    pub fn new(tracker: Tracker<E>) -> Self {
        ActiveUsersApi {
            tracker,
            access: Access::Closed,
            hidden: Arc::new(HashSet::new()),
            base_path: Arc::from(""),
            allowed_hosts: Arc::from([]),
        }
    }

    /// Answers only requests whose `Host` is one of these (`"localhost:3000"`, or a name
    /// without a port for any port); others get 421. Use it when the API is reachable by
    /// browsers and not closed by a token: a public API on `127.0.0.1` otherwise answers a
    /// page on any domain that a DNS-rebinding attacker points at 127.0.0.1.
    #[must_use]
    pub fn allowed_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.allowed_hosts = hosts
            .into_iter()
            .map(|h| h.as_ref().trim().to_ascii_lowercase())
            .collect();
        self
    }

    /// Whether the request's host is one the API answers for.
    fn host_allowed(&self, head: &RequestHead<'_>) -> bool {
        if self.allowed_hosts.is_empty() {
            return true;
        }
        let host = head
            .header_named(&header::HOST)
            .and_then(|v| std::str::from_utf8(v).ok())
            .or_else(|| head.authority())
            .map(|h| h.trim().to_ascii_lowercase());
        let Some(host) = host else {
            return false;
        };
        // `[::1]:3000` and `localhost:3000` split at the last colon after any bracket.
        let name = match host.rfind(':') {
            Some(i) if !host[i..].contains(']') => &host[..i],
            _ => host.as_str(),
        };
        self.allowed_hosts
            .iter()
            .any(|allowed| *allowed == host || *allowed == name)
    }

    /// Allows requests with `Authorization: Bearer <token>`, compared in constant time.
    /// An empty token allows nobody.
    #[must_use]
    pub fn bearer_token(mut self, token: impl AsRef<[u8]>) -> Self {
        let token = token.as_ref();
        self.access = if token.is_empty() {
            Access::Closed
        } else {
            Access::Bearer(Arc::from(token))
        };
        self
    }

    /// Allows the requests `rule` accepts (your session check, an IP allow-list, ...).
    #[must_use]
    pub fn authorize<F>(mut self, rule: F) -> Self
    where
        F: Fn(&RequestHead<'_>) -> bool + Send + Sync + 'static,
    {
        self.access = Access::Rule(Arc::new(rule));
        self
    }

    /// Allows everybody. Only for APIs that are not reachable from outside, or demos.
    #[must_use]
    pub fn public(mut self) -> Self {
        self.access = Access::Public;
        self
    }

    /// Never shows this field (in addition to the fields marked `#[active_users(hidden)]`).
    #[must_use]
    pub fn hide_field(mut self, name: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.hidden).insert(name.into());
        self
    }

    /// The path the API is mounted at, for stacks that pass the full path (axum's
    /// `nest_service` strips it, so leave this empty there).
    #[must_use]
    pub fn base_path(mut self, path: impl AsRef<str>) -> Self {
        self.base_path = Arc::from(path.as_ref().trim_end_matches('/'));
        self
    }

    /// The tracker it answers for.
    pub(crate) fn tracker(&self) -> &Tracker<E> {
        &self.tracker
    }

    pub(crate) fn is_hidden(&self, name: &str) -> bool {
        self.hidden.contains(name) || E::fields().iter().any(|f| f.name == name && f.hidden)
    }

    /// The field called `name`, unless it is hidden (a hidden field is not even named).
    /// Whether the API shows the field called `name`.
    pub(crate) fn shows_field(&self, name: &str) -> bool {
        E::fields()
            .iter()
            .any(|f| f.name == name && !self.is_hidden(f.name))
    }

    fn shown_field(&self, name: &str) -> Result<&'static Field, Failure> {
        E::fields()
            .iter()
            .find(|f| f.name == name && !self.is_hidden(f.name))
            .ok_or_else(|| {
                // Echo a bounded part of what was asked: the segment may be kilobytes.
                let shown: String = name.chars().take(64).collect();
                Failure::not_found(format!("no field named {shown:?}"))
            })
    }

    /// Decides what a request asks for, without touching the store.
    fn route(&self, head: &RequestHead<'_>, path: &str) -> Result<Route, Failure> {
        let path = path.trim_end_matches('/');
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if !self.host_allowed(head) {
            return Err(Failure::new(
                StatusCode::MISDIRECTED_REQUEST,
                "misdirected_request",
                "this API does not answer for that Host",
            ));
        }
        // The pages' scripts hold no data: served to anybody, so the sign-in page can run.
        if head.is_read() {
            if let ["dashboard.js"] | ["dashboard", "dashboard.js"] = segments.as_slice() {
                return Ok(Route::Script(DASHBOARD_JS));
            }
            if let ["login.js"] | ["dashboard", "login.js"] = segments.as_slice() {
                return Ok(Route::Script(LOGIN_JS));
            }
        }
        if !self.access.allows(head) {
            let mut failure = Failure::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this API needs authorization (Authorization: Bearer <token>)",
            );
            if segments == ["dashboard"] {
                failure.page = Some(if self.access.takes_token() {
                    LOGIN
                } else {
                    DENIED
                });
            }
            return Err(failure);
        }
        if !head.is_read() {
            return Err(Failure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{} is not supported; use GET", head.method()),
            ));
        }
        match segments.as_slice() {
            [] => {
                let (limit, cursor) = page_params(head.query())?;
                Ok(Route::List { limit, cursor })
            }
            ["count"] => Ok(Route::Count),
            ["by", field] => {
                let def = self.shown_field(field)?;
                if !def.grouped {
                    return Err(Failure::not_found(format!(
                        "field {:?} is not marked #[active_users(index)], so it cannot be counted per value",
                        def.name
                    )));
                }
                Ok(Route::By(def.name))
            }
            ["values", field] => {
                let def = self.shown_field(field)?;
                if !def.indexed {
                    return Err(Failure::not_found(format!(
                        "field {:?} is not marked #[active_users(distinct)] or #[active_users(index)], so its values are not kept",
                        def.name
                    )));
                }
                let (limit, cursor) = page_params(head.query())?;
                Ok(Route::Values {
                    field: def.name,
                    limit,
                    cursor,
                })
            }
            ["history"] => Ok(Route::History(span_param(head.query())?)),
            ["unique"] => Ok(Route::Unique(span_param(head.query())?)),
            ["dashboard"] => Ok(Route::Dashboard),
            ["events"] => {
                if !self.tracker.config().presence() {
                    return Err(Failure::not_found(
                        "presence is off; /events needs Config::builder().presence(true) (or ACTIVE_USERS_PRESENCE=1)",
                    ));
                }
                Ok(Route::Events(last_event_id(head)?))
            }
            _ => Err(Failure::not_found(
                "unknown path; the API answers /, /count, /by/<field>, /values/<field>, /history, /unique, /events and /dashboard",
            )),
        }
    }

    async fn answer(&self, route: Route) -> Result<Bytes, Failure> {
        let tracker = &self.tracker;
        match route {
            Route::List { limit, cursor } => {
                let count = tracker.count().await?;
                let cursor = match cursor {
                    Some(c) => Some(tracker.open_cursor(c).await?),
                    None => None,
                };
                let page = tracker.list(limit, cursor).await?;
                let data: Vec<Shown> = page
                    .entries
                    .iter()
                    .map(|active| {
                        let mut pairs = active.entry.named_values();
                        pairs.retain(|(name, _)| !self.is_hidden(name));
                        Shown(pairs)
                    })
                    .collect();
                // A cursor holds a stored member, hidden fields too: sealed before it leaves.
                let next = match page.next {
                    Some(c) => Some(tracker.seal_cursor(c).await?.to_string()),
                    None => None,
                };
                Ok(to_body(&ListBody { count, data, next }))
            }
            Route::Count => {
                // One snapshot: the distinct counts never exceed the count.
                let counts = tracker.counts().await?;
                let mut distinct = Map::new();
                for (name, n) in counts.distinct {
                    if !self.is_hidden(&name) {
                        distinct.insert(name, json!(n));
                    }
                }
                Ok(to_body(
                    &json!({ "count": counts.entries, "distinct": distinct }),
                ))
            }
            Route::By(field) => {
                let by = tracker.count_by(field).await?;
                let counts: Vec<Value> = by
                    .top
                    .into_iter()
                    .map(|(value, count)| json!({ "value": value, "count": count }))
                    .collect();
                Ok(to_body(&json!({
                    "field": field,
                    "counts": counts,
                    "other_values": by.other_values,
                    "other_entries": by.other_entries,
                    "complete": by.complete,
                })))
            }
            Route::Values {
                field,
                limit,
                cursor,
            } => {
                let cursor = match cursor {
                    Some(c) => Some(tracker.open_cursor(c).await?),
                    None => None,
                };
                let page = tracker.values(field, limit, cursor).await?;
                let values: Vec<Value> = page
                    .values
                    .into_iter()
                    .map(|v| {
                        json!({
                            "value": v.value,
                            "entries": v.entries,
                            "last_seen": crate::store::unix_ms(v.last_seen),
                        })
                    })
                    .collect();
                let next = match page.next {
                    Some(c) => Some(tracker.seal_cursor(c).await?.to_string()),
                    None => None,
                };
                Ok(to_body(
                    &json!({ "field": field, "values": values, "next": next }),
                ))
            }
            Route::History(span) => {
                let points = tracker.history(span).await?;
                let peak = HistoryPoint::peak(&points);
                let point = |p: HistoryPoint| json!({ "at": crate::store::unix_ms(p.at), "active": p.active });
                let shown: Vec<Value> = points.iter().copied().map(point).collect();
                Ok(to_body(&json!({
                    "span": span.as_secs(),
                    "points": shown,
                    "peak": peak.map(point),
                })))
            }
            Route::Unique(span) => {
                let unique = tracker.unique(span).await?;
                Ok(to_body(&json!({
                    "span": span.as_secs(),
                    "visitors": unique.visitors,
                    "since": crate::store::unix_ms(unique.since),
                    "standard_error": UNIQUE_STANDARD_ERROR,
                })))
            }
            Route::Dashboard => Ok(self.dashboard()),
            Route::Script(script) => Ok(Bytes::from_static(script.as_bytes())),
            // Answered before this, as a stream or a refusal.
            Route::Events(_) => Err(Failure::not_found("/events is a stream")),
        }
    }

    /// The dashboard page with its settings: the namespace, the fields it may show and the
    /// first field it can break the count down by.
    fn dashboard(&self) -> Bytes {
        let shown: Vec<&Field> = E::fields()
            .iter()
            .filter(|f| !self.is_hidden(f.name))
            .collect();
        let settings = json!({
            "namespace": self.tracker.config().namespace(),
            "columns": shown.iter().map(|f| f.name).collect::<Vec<_>>(),
            "grouped": shown.iter().filter(|f| f.grouped).map(|f| f.name).collect::<Vec<_>>(),
            // The field whose values are "the users": the first indexed one.
            "users": shown.iter().find(|f| f.indexed).map(|f| f.name),
            "history": self.tracker.config().history().as_secs(),
            // Whether `/events` pushes who arrives and leaves.
            "presence": self.tracker.config().presence(),
        });
        // Field names and namespaces are plain identifiers, but never let a `<` end the script.
        let settings = settings.to_string().replace('<', "\\u003c");
        Bytes::from(DASHBOARD.replacen("/*ACTIVE_USERS_CONFIG*/{}", &settings, 1))
    }
}

/// The body of `GET /`: the Python package's `count` and `data`, and the next cursor.
#[derive(serde::Serialize)]
struct ListBody {
    count: u64,
    data: Vec<Shown>,
    next: Option<String>,
}

/// The shown fields of one entry, serialized as a JSON object in field order.
struct Shown(Vec<(&'static str, Option<String>)>);

impl serde::Serialize for Shown {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// Reads `span`: seconds, or a number with `s`, `m`, `h` or `d` (default one hour). Other
/// parameters are ignored.
fn span_param(query: Option<&str>) -> Result<Duration, Failure> {
    let mut span = Duration::from_secs(3600);
    for pair in query.unwrap_or("").split('&') {
        let Some(("span", value)) = pair.split_once('=') else {
            continue;
        };
        let invalid = || {
            Failure::bad_request(format!(
                "span must be a whole number of seconds, or of minutes, hours or days with m, h or d (up to 400d), got {:?}",
                value.chars().take(32).collect::<String>()
            ))
        };
        let (digits, unit) = match value.char_indices().last() {
            Some((i, c)) if c.is_ascii_alphabetic() => (&value[..i], c),
            _ => (value, 's'),
        };
        let per = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(invalid()),
        };
        if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let n: u64 = digits.parse().map_err(|_| invalid())?;
        span = Duration::from_secs(n * per);
        if span.is_zero() || span > MAX_SPAN {
            return Err(invalid());
        }
    }
    Ok(span)
}

/// Reads `limit` and `cursor`; other parameters are ignored.
fn page_params(query: Option<&str>) -> Result<(usize, Option<Cursor>), Failure> {
    let mut limit = DEFAULT_LIMIT;
    let mut cursor = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = form_decode(value)
            .ok_or_else(|| Failure::bad_request(format!("parameter {key:?} is not UTF-8")))?;
        match key {
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|l| (1..=MAX_PAGE).contains(l))
                    .ok_or_else(|| {
                        Failure::bad_request(format!(
                            "limit must be a whole number from 1 to {MAX_PAGE}, got {:?}",
                            value.chars().take(32).collect::<String>()
                        ))
                    })?;
            }
            "cursor" => {
                cursor = Some(
                    value
                        .parse::<Cursor>()
                        .map_err(|err| Failure::bad_request(err.to_string()))?,
                );
            }
            _ => {}
        }
    }
    Ok((limit, cursor))
}

impl<E: ActiveUserEntry, B> Service<Request<B>> for ActiveUsersApi<E> {
    type Response = Response<ApiBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let head = RequestHead::from(&request);
        let path = head.path();
        let route = self.route(&head, path.strip_prefix(&*self.base_path).unwrap_or(path));
        let head_only = head.method() == "HEAD";
        if let Ok(Route::Events(last)) = route {
            let api = self.clone();
            return Box::pin(async move {
                let body = if head_only {
                    ApiBody::new(Bytes::new())
                } else {
                    super::events::stream(api, last)
                };
                Ok(events_response(body))
            });
        }
        let answer = self.answer_route(route);
        Box::pin(async move {
            let mut response = answer.await;
            // actix-web and rocket drop the body of an answer to HEAD themselves (and keep
            // its length); here, the body is dropped and the length is not sent.
            if head_only {
                *response.body_mut() = Bytes::new();
            }
            Ok(response.map(ApiBody::new))
        })
    }
}

impl<E: ActiveUserEntry> ActiveUsersApi<E> {
    /// The answer to a request, whatever server it came through; `path` is the request's
    /// path below the API's mount point. The route is decided from the borrowed head now;
    /// the store is asked in the returned future, which holds no borrow of the request.
    #[cfg(any(feature = "actix", feature = "rocket"))]
    pub(crate) fn respond(
        &self,
        head: &RequestHead<'_>,
        path: &str,
    ) -> impl Future<Output = Response<Bytes>> + Send + use<E> {
        self.answer_route(self.route(head, path))
    }

    /// The answer to a route decided by [`route`](Self::route).
    fn answer_route(
        &self,
        route: Result<Route, Failure>,
    ) -> impl Future<Output = Response<Bytes>> + Send + use<E> {
        let api = self.clone();
        async move {
            match route {
                Err(failure) => failure.into_response(),
                // Streamed by the tower service only (`call`); the actix and rocket adapters
                // answer one document per request.
                Ok(Route::Events(_)) => Failure::new(
                    StatusCode::NOT_IMPLEMENTED,
                    "not_implemented",
                    "/events is served by the tower service (axum, hyper); this adapter does not stream it",
                )
                .into_response(),
                Ok(Route::Dashboard) => html_response(StatusCode::OK, api.dashboard()),
                Ok(Route::Script(script)) => script_response(script),
                Ok(route) => match api.answer(route).await {
                    Ok(body) => json_response(StatusCode::OK, body),
                    Err(failure) => failure.into_response(),
                },
            }
        }
    }
}
