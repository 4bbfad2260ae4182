//! The demo application of `cargo run --example axum-app`, as a library so that the tests
//! serve exactly the app the demo runs.
//!
//! It is an axum server with:
//! - a tiny login: a middleware that reads the user id from the `x-user-id` header or the
//!   `user_id` cookie (and a name from `x-user-name`) and inserts an [`active_users::User`];
//! - [`ActiveUsersLayer`] inside it, recording every successful request;
//! - the JSON API at `/active-users/`, behind a bearer token (or public, for the demo);
//! - pages: `/` (hello), `/static/app.js` (excluded from recording), `/boom` (a 500).

#[cfg(feature = "frameworks")]
pub mod actix;
pub mod blocking;
#[cfg(feature = "frameworks")]
pub mod grpc;
#[cfg(feature = "frameworks")]
pub mod rocket;

use active_users::{
    ActiveUserEntry, ActiveUsersApi, ActiveUsersLayer, Config, ConfigBuilder, DefaultEntry,
    PeerAddr, RequestHead, Tracker, User,
};
use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tower::ServiceExt;

/// What the demo records: the default dimensions plus the calling service, as in the Python
/// package's custom-entry example.
#[derive(Debug, Clone, PartialEq, ActiveUserEntry)]
pub struct DemoEntry {
    /// `user_id`, `session_id`, `ip`, `username`.
    #[active_users(flatten)]
    pub base: DefaultEntry,
    /// The `X-Service-Id` header.
    #[from_header("X-Service-Id")]
    #[active_users(index)]
    pub service_id: Option<String>,
}

/// The demo's settings: 20 s window, static files excluded, the namespace in `shards` shards.
pub fn settings(namespace: &str, shards: usize) -> ConfigBuilder {
    Config::builder()
        .exclude_url_patterns(["/static/", "/favicon.ico$"])
        .namespace(namespace)
        .shards(shards)
}

/// The demo's configuration, without the environment (for tests).
///
/// # Errors
/// [`active_users::ConfigError`] for a namespace or shard count out of range.
pub fn config(namespace: &str, shards: usize) -> Result<Config, active_users::ConfigError> {
    settings(namespace, shards).build()
}

/// Resolves when the process is asked to stop: Ctrl-C, or SIGTERM (what Docker, Kubernetes
/// and systemd send). Serve with it as the graceful-shutdown signal, then shut the tracker
/// down, so that what is buffered is written.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// `router` with the metrics of the process (the tracker's among them, feature `metrics`) in
/// Prometheus' text format at `GET /metrics`.
pub fn with_metrics(
    router: Router,
    handle: metrics_exporter_prometheus::PrometheusHandle,
) -> Router {
    router.route("/metrics", get(move || std::future::ready(handle.render())))
}

/// The command line of the demo servers (`axum-app`, `actix-app`): `--port N` (default
/// 3000), `--simulate N`, `--public`.
#[derive(Debug, Clone, Copy)]
pub struct DemoArgs {
    /// The port on 127.0.0.1 (0: any free one).
    pub port: u16,
    /// Synthetic visitors coming and going.
    pub simulate: u32,
    /// No token on the API.
    pub public: bool,
}

impl DemoArgs {
    /// Reads the process's arguments.
    ///
    /// # Errors
    /// A message for an unknown flag or a missing or bad number.
    pub fn from_env() -> Result<Self, String> {
        let mut args = DemoArgs {
            port: 3000,
            simulate: 0,
            public: false,
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let mut number = |flag: &str| -> Result<u32, String> {
                it.next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("{flag} needs a number"))
            };
            match arg.as_str() {
                "--port" => {
                    args.port =
                        u16::try_from(number("--port")?).map_err(|_| "--port is too large")?;
                }
                "--simulate" => args.simulate = number("--simulate")?,
                "--public" => args.public = true,
                other => return Err(format!("unknown argument {other:?}; see the file's docs")),
            }
        }
        Ok(args)
    }

    /// Who may read the API: anybody with `--public`, else `ACTIVE_USERS_API_TOKEN` (default
    /// `demo-token`).
    pub fn access(&self) -> ApiAccess {
        if self.public {
            ApiAccess::Public
        } else {
            ApiAccess::Token(
                std::env::var("ACTIVE_USERS_API_TOKEN").unwrap_or_else(|_| "demo-token".to_owned()),
            )
        }
    }
}

/// The demo's tracker in `namespace`: on the Redis Cluster of `REDIS_CLUSTER_NODES` (node URLs
/// separated by commas; 8 shards), on the Redis of `REDIS_URL`, or in memory; the
/// `ACTIVE_USERS_*` variables over the demo's settings. Call it inside a tokio runtime.
///
/// # Errors
/// A bad setting or Redis URL.
pub fn demo_tracker(namespace: &str) -> Result<Tracker<DemoEntry>, Box<dyn std::error::Error>> {
    let config = |shards| -> Result<Config, active_users::ConfigError> {
        settings(namespace, shards).with_env()?.build()
    };
    Ok(
        match (
            std::env::var("REDIS_CLUSTER_NODES"),
            std::env::var("REDIS_URL"),
        ) {
            (Ok(nodes), _) => Tracker::new(
                config(8)?,
                active_users::RedisStore::open_cluster(nodes.split(','))?,
            )?,
            (_, Ok(url)) => Tracker::new(config(1)?, active_users::RedisStore::open(&url)?)?,
            _ => Tracker::new(config(1)?, active_users::MemoryStore::new())?,
        },
    )
}

/// Prints where the demo listens, its API and its dashboard.
pub fn print_addresses(addr: SocketAddr, access: &ApiAccess) {
    println!("listening on http://{addr}/");
    match access {
        ApiAccess::Public => {
            println!("API: http://{addr}/active-users/ (public)");
            println!("dashboard: http://{addr}/active-users/dashboard");
        }
        ApiAccess::Token(token) => {
            println!("API: curl -H 'Authorization: Bearer {token}' http://{addr}/active-users/");
            println!("dashboard: http://{addr}/active-users/dashboard#token={token}");
        }
    }
}

/// Who may read the API.
#[derive(Debug, Clone)]
pub enum ApiAccess {
    /// `Authorization: Bearer <token>`.
    Token(String),
    /// Anybody (demo only).
    Public,
}

/// The demo's login: the user id from the `x-user-id` header or the `user_id` cookie, a name
/// from `x-user-name`. Any UTF-8, not only the visible ASCII `to_str` accepts: user ids and
/// names in any script. One function for the axum and the actix app, over the borrowed view.
pub fn demo_user(head: &RequestHead<'_>) -> Option<User> {
    let text = |bytes: &[u8]| std::str::from_utf8(bytes).ok().map(str::to_owned);
    let from_cookie = head
        .header_values("cookie")
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix("user_id=").map(str::to_owned));
    let id = head
        .header("x-user-id")
        .and_then(text)
        .or(from_cookie)
        .filter(|id| !id.is_empty())?;
    let user = User::new(id);
    Some(match head.header("x-user-name").and_then(text) {
        Some(name) => user.with_name(name),
        None => user,
    })
}

/// Reads the logged-in user ([`demo_user`]) into the request's extensions.
async fn login(mut request: Request, next: Next) -> Response {
    if let Some(user) = demo_user(&RequestHead::from(&request)) {
        request.extensions_mut().insert(user);
    }
    next.run(request).await
}

async fn hello(request: Request) -> String {
    match request.extensions().get::<User>() {
        Some(user) => format!("hello {}\n", user.name().unwrap_or(user.id())),
        None => "hello, anonymous visitor\n".to_owned(),
    }
}

async fn boom() -> (StatusCode, &'static str) {
    (StatusCode::INTERNAL_SERVER_ERROR, "something broke\n")
}

/// The demo's API over `tracker`, open to whom `access` says.
pub fn demo_api(tracker: Tracker<DemoEntry>, access: ApiAccess) -> ActiveUsersApi<DemoEntry> {
    let api = ActiveUsersApi::new(tracker);
    match access {
        ApiAccess::Token(token) => api.bearer_token(token),
        ApiAccess::Public => api.public(),
    }
}

/// The whole application. The API is mounted after the layers, so reading it is not a visit.
pub fn app(tracker: Tracker<DemoEntry>, access: ApiAccess) -> Router {
    let api = demo_api(tracker.clone(), access);
    Router::new()
        .route("/", get(hello))
        .route("/static/app.js", get(|| async { "console.log('hi');\n" }))
        .route("/boom", get(boom))
        .layer(ActiveUsersLayer::new(tracker))
        .layer(middleware::from_fn(login))
        .nest_service("/active-users", api)
}

/// A small deterministic random generator, so the simulation needs no extra crate.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        XorShift(seed | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

const SERVICES: &[&str] = &["web", "billing", "search", "mobile"];
const NAMES: &[&str] = &[
    "ann", "bob", "cy", "dee", "eve", "fay", "gus", "hal", "ivy", "jo",
];

/// One simulated request: its path, its headers and the address it comes from.
#[derive(Debug, Clone)]
pub struct Visit {
    /// `/` or `/static/app.js`.
    pub path: &'static str,
    /// The login, name, service and session cookie headers.
    pub headers: Vec<(&'static str, String)>,
    /// The visitor's address (`10.x.y.z`, one per visitor).
    pub peer: SocketAddr,
}

/// Simulates `users` visitors coming and going, every `tick`, for `rounds` rounds (or forever
/// with `None`); `send` delivers each request to the app (in process, through its
/// middleware, as real requests would go).
pub async fn simulate_visits<F, Fut>(users: u32, tick: Duration, rounds: Option<u64>, mut send: F)
where
    F: FnMut(Visit) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut rng = XorShift::new(0x5eed_1234);
    let mut online: Vec<bool> = (0..users).map(|_| rng.below(2) == 0).collect();
    let mut round = 0;
    while rounds.is_none_or(|r| round < r) {
        for (i, state) in online.iter_mut().enumerate() {
            // Each round a tenth of the visitors leave or arrive.
            if rng.below(10) == 0 {
                *state = !*state;
            }
            if !*state || rng.below(3) == 0 {
                continue;
            }
            let id = i as u32 + 1;
            let name = NAMES[i % NAMES.len()];
            let service = SERVICES[(id as usize * 7) % SERVICES.len()];
            let path = if rng.below(5) == 0 {
                "/static/app.js"
            } else {
                "/"
            };
            // Every fourth visitor is signed in on two devices: two sessions, one user.
            let sessions: &[&str] = if id.is_multiple_of(4) {
                &["a", "b"]
            } else {
                &["a"]
            };
            let octets = id.to_be_bytes();
            let ip = IpAddr::V4(Ipv4Addr::new(10, octets[1], octets[2], octets[3]));
            for session in sessions {
                send(Visit {
                    path,
                    headers: vec![
                        ("x-user-id", id.to_string()),
                        ("x-user-name", format!("{name}{id}")),
                        ("x-service-id", service.to_owned()),
                        ("cookie", format!("sessionid=sim{id}{session}")),
                    ],
                    peer: SocketAddr::new(ip, 40_000),
                })
                .await;
            }
        }
        round += 1;
        tokio::time::sleep(tick).await;
    }
}

/// [`simulate_visits`] through the axum `app`.
pub async fn simulate(app: Router, users: u32, tick: Duration, rounds: Option<u64>) {
    simulate_visits(users, tick, rounds, |visit| {
        let app = app.clone();
        async move {
            let mut request = axum::http::Request::get(visit.path);
            for (name, value) in visit.headers {
                request = request.header(name, value);
            }
            let Ok(mut request) = request.body(axum::body::Body::empty()) else {
                return;
            };
            request.extensions_mut().insert(PeerAddr(visit.peer));
            let _ = app.oneshot(request).await;
        }
    })
    .await;
}
