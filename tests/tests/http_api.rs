//! The layer and the API over real HTTP: the demo app served on 127.0.0.1:0, requests from a
//! real client, on the in-memory store and on a redis-server each test starts.

#[macro_use]
mod support;

use active_users::{ActiveUsersApi, ActiveUsersLayer, Config, DefaultEntry, RedisStore, Tracker};
use active_users_examples::{ApiAccess, DemoEntry, app, config};
use axum::Router;
use std::net::SocketAddr;
use std::time::Duration;
use support::Backend;
use support::client::{ActixServer, get, send, serve, visit_demo};

const TOKEN: &str = "test-token-4f2a";
const AUTH: (&str, &str) = ("authorization", "Bearer test-token-4f2a");

/// The server framework the demo app runs on: the same routes, login and API on each.
#[derive(Debug, Clone, Copy)]
enum Framework {
    Axum,
    Actix,
}

/// The demo app on `backend` and `framework`, its tracker, and the actix server to stop.
async fn demo(
    backend: &Backend,
    framework: Framework,
) -> (SocketAddr, Tracker<DemoEntry>, Option<ActixServer>) {
    let config = config(&backend.namespace, backend.shards).expect("config");
    let tracker = Tracker::with_store(config, backend.store()).expect("tracker");
    let access = ApiAccess::Token(TOKEN.to_owned());
    match framework {
        Framework::Axum => (serve(app(tracker.clone(), access)).await, tracker, None),
        Framework::Actix => {
            let server = ActixServer::start(tracker.clone(), access);
            (server.addr, tracker, Some(server))
        }
    }
}

async fn visit(addr: SocketAddr, path: &str, user: &str, extra: &[(&str, &str)]) -> u16 {
    let cookie = format!("sessionid=s-{user}");
    let mut headers = vec![("x-user-id", user), ("cookie", cookie.as_str())];
    headers.extend_from_slice(extra);
    get(addr, path, &headers).await.status.as_u16()
}

async fn records_logged_in_visitors_and_lists_them(backend: Backend, framework: Framework) {
    let (addr, tracker, _server) = demo(&backend, framework).await;
    assert_eq!(
        visit(addr, "/", "7", &[("x-user-name", "ann:admin")]).await,
        200
    );
    assert_eq!(visit(addr, "/", "8", &[]).await, 200);
    assert_eq!(get(addr, "/", &[]).await.status, 200, "anonymous");
    tracker.flush().await.expect("flush");

    let reply = get(addr, "/active-users/", &[AUTH]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "application/json");
    let body = reply.json();
    assert_eq!(body["count"], 2);
    let data = body["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    let ann = data
        .iter()
        .find(|d| d["user_id"] == "7")
        .expect("user 7 listed");
    assert_eq!(ann["username"], "ann:admin");
    assert_eq!(
        ann["ip"], "127.0.0.1",
        "the socket peer, from axum's ConnectInfo"
    );
    assert!(ann["service_id"].is_null(), "absent fields are null");
    assert!(ann.get("session_id").is_none(), "session ids are hidden");
    assert!(body["next"].is_null());

    let count = get(addr, "/active-users/count", &[AUTH]).await.json();
    assert_eq!(count["count"], 2);
    assert_eq!(count["distinct"]["user_id"], 2);
}

async fn excluded_paths_and_error_responses_are_not_visits(backend: Backend, framework: Framework) {
    let (addr, tracker, _server) = demo(&backend, framework).await;
    assert_eq!(visit(addr, "/static/app.js", "1", &[]).await, 200);
    assert_eq!(visit(addr, "/boom", "2", &[]).await, 500);
    assert_eq!(visit(addr, "/no-such-page", "3", &[]).await, 404);
    assert_eq!(visit(addr, "/", "4", &[]).await, 200);
    tracker.flush().await.expect("flush");
    let body = get(addr, "/active-users/", &[AUTH]).await.json();
    assert_eq!(body["count"], 1);
    assert_eq!(body["data"][0]["user_id"], "4");
    assert_eq!(tracker.stats().excluded, 1);
}

async fn a_custom_header_dimension_is_counted_per_value(backend: Backend, framework: Framework) {
    let (addr, tracker, _server) = demo(&backend, framework).await;
    for (user, service) in [("1", "billing"), ("2", "billing"), ("3", "search")] {
        assert_eq!(
            visit(addr, "/", user, &[("x-service-id", service)]).await,
            200
        );
    }
    tracker.flush().await.expect("flush");
    let by = get(addr, "/active-users/by/service_id", &[AUTH]).await;
    assert_eq!(by.status, 200);
    assert_eq!(
        by.json(),
        serde_json::json!({
            "field": "service_id",
            "counts": [{"value": "billing", "count": 2}, {"value": "search", "count": 1}],
            "other_values": 0,
            "other_entries": 0,
            "complete": true,
        })
    );
}

async fn the_api_is_closed_without_the_token(backend: Backend, framework: Framework) {
    let (addr, tracker, _server) = demo(&backend, framework).await;
    visit(addr, "/", "1", &[]).await;
    tracker.flush().await.expect("flush");
    for path in [
        "/active-users/",
        "/active-users/count",
        "/active-users/by/service_id",
    ] {
        let none = get(addr, path, &[]).await;
        assert_eq!(none.status, 401, "{path}");
        assert_eq!(
            none.headers["www-authenticate"],
            "Bearer realm=\"active-users\""
        );
        assert_eq!(none.json()["error"], "unauthorized");
        assert!(
            !none.body.contains("\"data\""),
            "no data leaks: {}",
            none.body
        );
        for wrong in [
            "Bearer test-token-4f2b",
            "Bearer test-token-4f2",
            "Basic dGVzdA==",
            "Bearer",
        ] {
            let reply = get(addr, path, &[("authorization", wrong)]).await;
            assert_eq!(reply.status, 401, "{path} with {wrong:?}");
        }
        assert_eq!(get(addr, path, &[AUTH]).await.status, 200, "{path}");
    }
}

/// The member bytes of a cursor's text (`score-base64url[@shard]`).
fn cursor_member(cursor: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let text = cursor.split('@').next().unwrap_or("");
    let (_, member) = text.split_once('-').expect("score-member");
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in member.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64url") as u32;
        bits = (bits << 6) | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

async fn pages_follow_the_cursor(backend: Backend, framework: Framework) {
    let (addr, tracker, _server) = demo(&backend, framework).await;
    for user in 1..=7 {
        visit(addr, "/", &user.to_string(), &[]).await;
    }
    tracker.flush().await.expect("flush");
    let mut seen = Vec::new();
    let mut path = "/active-users/?limit=3".to_owned();
    for _ in 0..10 {
        let body = get(addr, &path, &[AUTH]).await.json();
        assert_eq!(body["count"], 7);
        let data = body["data"].as_array().expect("data");
        assert!(data.len() <= 3);
        seen.extend(
            data.iter()
                .map(|d| d["user_id"].as_str().unwrap_or("").to_owned()),
        );
        match body["next"].as_str() {
            Some(next) => {
                // A cursor holds a stored member, hidden fields too: the API seals it, so
                // it carries none of the member's bytes (here, the session's hash), where the
                // library's own cursor for the same page does.
                let plain = tracker.list(3, None).await.expect("list");
                let own = plain.next.expect("a next page").to_string();
                let hashes: Vec<String> = plain
                    .entries
                    .iter()
                    .map(|a| a.entry.base.session_id.clone().expect("a session"))
                    .collect();
                let carries = |cursor: &str| {
                    let bytes = cursor_member(cursor);
                    hashes
                        .iter()
                        .any(|h| bytes.windows(h.len()).any(|w| w == h.as_bytes()))
                };
                assert!(carries(&own), "the test can see a hash in a plain cursor");
                assert!(!carries(next), "{next} carries a session hash");
                path = format!("/active-users/?limit=3&cursor={next}");
            }
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, ["1", "2", "3", "4", "5", "6", "7"]);
}

async fn bad_requests_get_clear_errors(backend: Backend, framework: Framework) {
    let (addr, _tracker, _server) = demo(&backend, framework).await;
    for query in [
        "limit=abc",
        "limit=0",
        "limit=1001",
        "limit=99999999999999999999",
        "cursor=zzz",
        "cursor=1-2-3",
        "cursor=1-2@9",
        "limit=%ff",
        // Forged cursors: a member that is not base64url, or too short to be sealed.
        "cursor=1-AQI",
        "cursor=4000000000000-100000000000000000",
        "cursor=1-1000000000000",
        "cursor=1-AQ%2BI",
        "cursor=1-AQI%3D",
    ] {
        for route in ["/active-users/", "/active-users/values/user_id"] {
            let reply = get(addr, &format!("{route}?{query}"), &[AUTH]).await;
            assert_eq!(reply.status, 400, "{route}?{query}: {}", reply.body);
            let body = reply.json();
            assert_eq!(body["error"], "bad_request");
            assert!(!body["message"].as_str().unwrap_or("").is_empty());
        }
    }
    // A well-formed position that no member has (inside the window, or far beyond any
    // plausible score) is a page: empty, or what follows it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    for route in ["/active-users/", "/active-users/values/user_id"] {
        for cursor in [
            format!("{now}-999999999999"),
            "18446744073709551615-18446744073709551615".to_owned(),
        ] {
            let reply = get(addr, &format!("{route}?cursor={cursor}"), &[AUTH]).await;
            assert_eq!(reply.status, 200, "{route}?cursor={cursor}: {}", reply.body);
            assert!(reply.json()["next"].is_null(), "{}", reply.body);
        }
    }
    assert!(
        get(addr, "/active-users/?limit=1001", &[AUTH]).await.json()["message"]
            .as_str()
            .unwrap_or("")
            .contains("1 to 1000")
    );
    for path in [
        "/active-users/nope",
        "/active-users/by/nope",
        "/active-users/by/username",
        "/active-users/by/session_id",
        "/active-users/by/service_id%2F..",
        "/active-users/count/extra",
    ] {
        let reply = get(addr, path, &[AUTH]).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(reply.json()["error"], "not_found");
    }
    let post = send(addr, http::Method::POST, "/active-users/", &[AUTH]).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.headers["allow"], "GET");
}

async fn a_spoofed_forwarded_header_does_not_choose_the_ip(backend: Backend, framework: Framework) {
    let (addr, tracker, _server) = demo(&backend, framework).await;
    visit(addr, "/", "1", &[("x-forwarded-for", "6.6.6.6")]).await;
    tracker.flush().await.expect("flush");
    let body = get(addr, "/active-users/", &[AUTH]).await.json();
    assert_eq!(body["data"][0]["ip"], "127.0.0.1");
}

/// One user with three sessions is three entries but one user: `/values/user_id` lists each
/// user once, pages through them, and refuses hidden and unindexed fields.
async fn users_are_listed_once_however_many_sessions(backend: Backend, framework: Framework) {
    let (addr, tracker, _server) = demo(&backend, framework).await;
    for (user, session) in [("1", "a"), ("1", "b"), ("1", "c"), ("2", "d")] {
        assert_eq!(visit_demo(addr, user, session, "billing").await, 200);
    }
    // A user id in another script is a user like any other (the demo's login reads UTF-8).
    assert_eq!(visit_demo(addr, "ユーザー", "e", "search").await, 200);
    tracker.flush().await.expect("flush");
    let entries = get(addr, "/active-users/", &[AUTH]).await.json();
    assert_eq!(entries["count"], 5, "five sessions");

    let users = get(addr, "/active-users/values/user_id", &[AUTH]).await;
    assert_eq!(users.status, 200, "{}", users.body);
    let body = users.json();
    assert_eq!(body["field"], "user_id");
    let values = body["values"].as_array().expect("values");
    let mut ids: Vec<&str> = values.iter().filter_map(|v| v["value"].as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["1", "2", "ユーザー"], "each user once: {body}");
    for v in values {
        assert!(v["entries"].is_null(), "user_id is `distinct`: {v}");
        assert!(
            v["last_seen"]
                .as_u64()
                .is_some_and(|ms| ms > 1_600_000_000_000)
        );
    }
    assert!(body["next"].is_null());

    // An `index` field knows its entries per value.
    let services = get(addr, "/active-users/values/service_id", &[AUTH])
        .await
        .json();
    let billing = services["values"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["value"] == "billing"))
        .expect("billing listed");
    assert_eq!(billing["entries"], 4);

    // Pages of one: every user, once each, then the end.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..4 {
        let path = match &cursor {
            Some(c) => format!("/active-users/values/user_id?limit=1&cursor={c}"),
            None => "/active-users/values/user_id?limit=1".to_owned(),
        };
        let page = get(addr, &path, &[AUTH]).await.json();
        paged.extend(page["values"].as_array().expect("values").iter().cloned());
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut paged: Vec<_> = paged.iter().map(|v| v["value"].clone()).collect();
    paged.sort_by_key(|v| v.to_string());
    assert_eq!(
        paged,
        [
            serde_json::json!("1"),
            serde_json::json!("2"),
            serde_json::json!("ユーザー")
        ]
    );

    for (path, status) in [
        ("/active-users/values/session_id", 404),
        ("/active-users/values/ip", 404),
        ("/active-users/values/nope", 404),
        ("/active-users/values/user_id?limit=0", 400),
        ("/active-users/values/user_id?cursor=1-0@99", 400),
    ] {
        let reply = get(addr, path, &[AUTH]).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.body);
    }
    assert_eq!(
        get(addr, "/active-users/values/user_id", &[]).await.status,
        401
    );
}

macro_rules! http_suite {
    ($module:ident, $backend:expr, $framework:expr) => {
        http_suite!(@tests $module, $backend, $framework;
            records_logged_in_visitors_and_lists_them,
            excluded_paths_and_error_responses_are_not_visits,
            a_custom_header_dimension_is_counted_per_value,
            the_api_is_closed_without_the_token,
            pages_follow_the_cursor,
            bad_requests_get_clear_errors,
            a_spoofed_forwarded_header_does_not_choose_the_ip,
            users_are_listed_once_however_many_sessions,
        );
    };
    (@tests $module:ident, $backend:expr, $framework:expr; $($name:ident),* $(,)?) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($backend, $framework).await;
                }
            )*
        }
    };
}

http_suite!(memory, Backend::memory(), Framework::Axum);
http_suite!(redis, Backend::redis(), Framework::Axum);
http_suite!(
    cluster_8_shards,
    Backend::cluster().sharded(8),
    Framework::Axum
);
http_suite!(actix_memory, Backend::memory(), Framework::Actix);
http_suite!(actix_redis, Backend::redis(), Framework::Actix);

/// The README's axum snippet: the layer and the API in a handful of lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_setup_works() {
    use axum::routing::get as route_get;
    let backend = Backend::memory();
    // --- as in the README ---
    let tracker: Tracker<DefaultEntry> =
        Tracker::with_store(Config::default(), backend.store()).expect("tracker");
    let app = Router::new()
        .route("/", route_get(|| async { "hello" }))
        .layer(ActiveUsersLayer::new(tracker.clone()))
        .layer(axum::middleware::from_fn(support_auth))
        .nest_service(
            "/active-users",
            ActiveUsersApi::new(tracker.clone()).bearer_token(TOKEN),
        );
    // ---
    let addr = serve(app).await;
    assert_eq!(get(addr, "/", &[("x-user", "42")]).await.status, 200);
    tracker.flush().await.expect("flush");
    let body = get(addr, "/active-users/", &[AUTH]).await.json();
    assert_eq!(body["data"][0]["user_id"], "42");
}

/// A stand-in for the application's auth layer.
async fn support_auth(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Some(id) = request
        .headers()
        .get("x-user")
        .and_then(|v| v.to_str().ok())
    {
        let user = active_users::User::new(id);
        request.extensions_mut().insert(user);
    }
    next.run(request).await
}

/// With Redis down, the application answers as usual; only the API says it cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_does_not_fail_the_application() {
    let mut server = support::RedisServer::start();
    if std::env::var(support::REDIS_URL_VAR).is_ok() {
        return; // the server is not ours to stop
    }
    let config = Config::builder()
        .namespace(support::unique_namespace("down"))
        .exclude_url_patterns(["/static/"])
        .query_timeout(Duration::from_millis(500))
        .build()
        .expect("config");
    let store = RedisStore::open(&server.url).expect("store");
    let tracker: Tracker<DemoEntry> = Tracker::new(config, store).expect("tracker");
    let addr = serve(app(tracker.clone(), ApiAccess::Token(TOKEN.to_owned()))).await;
    assert_eq!(visit(addr, "/", "1", &[]).await, 200);
    tracker.flush().await.expect("flush while up");
    assert_eq!(get(addr, "/active-users/count", &[AUTH]).await.status, 200);

    server.stop();
    for user in 2..40 {
        let started = std::time::Instant::now();
        assert_eq!(visit(addr, "/", &user.to_string(), &[]).await, 200);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "requests are not slowed"
        );
    }
    let reply = get(addr, "/active-users/count", &[AUTH]).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["error"], "store_unavailable");
    assert!(tracker.stats().pending >= 38, "entries wait in the buffer");
}

/// A dual-stack listener sees an IPv4 client as `::ffff:127.0.0.1`; the stored address is
/// the IPv4 one, and anonymization truncates it as IPv4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv4_clients_of_a_dual_stack_socket_are_stored_as_ipv4() {
    // An IPv6 socket bound to the IPv4-mapped loopback: only 127.0.0.1 can reach it.
    let listener = tokio::net::TcpListener::bind("[::ffff:127.0.0.1]:0")
        .await
        .expect("bind [::ffff:127.0.0.1]:0");
    let port = listener.local_addr().expect("address").port();
    let config = config(&support::unique_namespace("dual"), 1).expect("config");
    let tracker: Tracker<DemoEntry> =
        Tracker::new(config, active_users::MemoryStore::new()).expect("tracker");
    let router = app(tracker.clone(), ApiAccess::Token(TOKEN.to_owned()));
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    assert_eq!(visit(addr, "/", "7", &[]).await, 200);
    tracker.flush().await.expect("flush");
    let body = get(addr, "/active-users/", &[AUTH]).await.json();
    assert_eq!(body["data"][0]["ip"], "127.0.0.1", "{body}");
}

/// `/count` answers from one snapshot: under traffic of new users whose entries expire, the
/// distinct users never outnumber the entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_and_distinct_agree_under_traffic() {
    let config = Config::builder()
        .namespace(support::unique_namespace("agree"))
        .key_expire(Duration::from_millis(600))
        .refresh_interval(Duration::from_millis(50))
        .flush_interval(Duration::from_millis(20))
        .build()
        .expect("config");
    let tracker: Tracker<DemoEntry> =
        Tracker::new(config, active_users::MemoryStore::new()).expect("tracker");
    let addr = serve(app(tracker.clone(), ApiAccess::Token(TOKEN.to_owned()))).await;
    let traffic = tokio::spawn(async move {
        for user in 0..600 {
            visit(addr, "/", &user.to_string(), &[]).await;
        }
    });
    let mut checks = 0;
    while !traffic.is_finished() {
        let body = get(addr, "/active-users/count", &[AUTH]).await.json();
        let (count, users) = (&body["count"], &body["distinct"]["user_id"]);
        assert!(users.as_u64() <= count.as_u64(), "{body}");
        checks += 1;
    }
    traffic.await.expect("traffic");
    assert!(checks >= 5, "{checks} checks");
}

/// Behind a proxy that appends to `X-Forwarded-For` and passes the client's other headers
/// through (nginx's default): only the named header is read, and an unreadable client item
/// gives no IP rather than the proxy's. The test client plays the proxy on 127.0.0.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_named_forwarded_header_chooses_the_client_ip() {
    use active_users::{ClientIpHeader, TrustedProxies};
    use axum::routing::get as route_get;
    let serve_with = |header: ClientIpHeader| async move {
        let config = Config::builder()
            .namespace(support::unique_namespace("proxy"))
            .trusted_proxies(TrustedProxies::Networks(vec![
                "127.0.0.0/8".parse().expect("network"),
            ]))
            .client_ip_header(header)
            .build()
            .expect("config");
        let tracker: Tracker<DefaultEntry> =
            Tracker::new(config, active_users::MemoryStore::new()).expect("tracker");
        let app = Router::new()
            .route("/", route_get(|| async { "hello" }))
            .layer(ActiveUsersLayer::new(tracker.clone()))
            .layer(axum::middleware::from_fn(support_auth));
        (serve(app).await, tracker)
    };
    let recorded_ip = |tracker: Tracker<DefaultEntry>| async move {
        tracker.flush().await.expect("flush");
        let page = tracker.list(10, None).await.expect("list");
        assert_eq!(page.entries.len(), 1, "the visitor is recorded");
        page.entries[0].entry.ip
    };

    // The client forged Forwarded, X-Real-IP and CF-Connecting-IP; the proxy appended the
    // address it saw to X-Forwarded-For.
    let forged = [
        ("x-user", "1"),
        ("forwarded", "for=6.6.6.6"),
        ("x-real-ip", "6.6.6.7"),
        ("cf-connecting-ip", "6.6.6.8"),
        ("x-forwarded-for", "6.6.6.9, 203.0.113.9"),
    ];
    let (addr, tracker) = serve_with(ClientIpHeader::XForwardedFor).await;
    assert_eq!(get(addr, "/", &forged).await.status, 200);
    assert_eq!(
        recorded_ip(tracker).await,
        Some("203.0.113.9".parse().expect("ip"))
    );

    // An item that is not an address where the client should be: no IP, not the proxy's.
    for xff in ["unknown", "203.0.113.9, _hidden", ""] {
        let (addr, tracker) = serve_with(ClientIpHeader::XForwardedFor).await;
        let headers = [("x-user", "1"), ("x-forwarded-for", xff)];
        assert_eq!(get(addr, "/", &headers).await.status, 200);
        assert_eq!(recorded_ip(tracker).await, None, "{xff:?}");
    }

    // Behind Cloudflare: its header only, whatever X-Forwarded-For says.
    let (addr, tracker) = serve_with(ClientIpHeader::CfConnectingIp).await;
    let headers = [
        ("x-user", "1"),
        ("x-forwarded-for", "6.6.6.9"),
        ("cf-connecting-ip", "198.51.100.4"),
    ];
    assert_eq!(get(addr, "/", &headers).await.status, 200);
    assert_eq!(
        recorded_ip(tracker).await,
        Some("198.51.100.4".parse().expect("ip"))
    );
}

/// DNS rebinding: a page on another domain that resolves to 127.0.0.1 reaches a public API
/// with its own `Host`; `allowed_hosts` answers only the hosts it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_hosts_refuse_other_host_names() {
    let tracker: Tracker<DefaultEntry> =
        Tracker::new(Config::default(), active_users::MemoryStore::new()).expect("tracker");
    let api = ActiveUsersApi::new(tracker.clone())
        .public()
        .allowed_hosts(["127.0.0.1", "localhost:8080"]);
    let addr = serve(Router::new().nest_service("/active-users", api)).await;
    let port = addr.port().to_string();
    let ok = get(addr, "/active-users/count", &[]).await;
    assert_eq!(ok.status, 200, "127.0.0.1 with any port: {}", ok.body);
    for host in ["localhost:8080", "LOCALHOST:8080"] {
        let reply = get(addr, "/active-users/count", &[("host", host)]).await;
        assert_eq!(reply.status, 200, "{host}");
    }
    for host in [
        "rebind.attacker.example".to_owned(),
        format!("rebind.attacker.example:{port}"),
        "localhost:9999".to_owned(),
        "127.0.0.1.attacker.example".to_owned(),
    ] {
        let reply = get(addr, "/active-users/count", &[("host", host.as_str())]).await;
        assert_eq!(reply.status, 421, "{host}: {}", reply.body);
        assert_eq!(reply.json()["error"], "misdirected_request");
        let page = get(addr, "/active-users/dashboard", &[("host", host.as_str())]).await;
        assert_eq!(page.status, 421, "the dashboard too: {host}");
    }
}

/// One client sends thousands of distinct `X-Service-Id` values: `/by/service_id` answers the
/// top 1,000 by entries, the real services first, and says how many others there are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_distinct_values_gets_the_top_values_and_a_count_of_the_rest() {
    let backend = Backend::redis();
    let (addr, tracker, _server) = demo(&backend, Framework::Axum).await;
    let entry = |user: &str, session: &str, service: String| active_users_examples::DemoEntry {
        base: DefaultEntry {
            user_id: user.to_owned(),
            session_id: Some(session.to_owned()),
            ip: None,
            username: None,
        },
        service_id: Some(service),
    };
    // Real traffic: 30 users of "billing", 20 of "search".
    for i in 0..50 {
        let service = if i < 30 { "billing" } else { "search" };
        tracker.record_entry(&entry(&format!("u{i}"), "s", service.to_owned()));
    }
    // The flood: 3,000 accounts (one account gets 64 entries at most), each with its own
    // service id.
    for i in 0..3000 {
        tracker.record_entry(&entry(
            &format!("attacker-{i}"),
            "s",
            format!("junk-{i:05}"),
        ));
    }
    tracker.flush().await.expect("flush");
    let reply = get(addr, "/active-users/by/service_id", &[AUTH]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    let counts = body["counts"].as_array().expect("counts");
    assert_eq!(counts.len(), 1000, "at most the top 1,000");
    assert_eq!(counts[0]["value"], "billing");
    assert_eq!(counts[0]["count"], 30);
    assert_eq!(counts[1]["value"], "search");
    assert_eq!(body["other_values"], 3000 + 2 - 1000);
    assert_eq!(body["other_entries"], 3000 + 2 - 1000, "one entry each");
    assert_eq!(body["complete"], true);
    assert!(reply.body.len() < 100_000, "{} bytes", reply.body.len());
}

/// One logged-in user sends a thousand requests, each with a session cookie of its own: the
/// count grows by 64 (the default cap per user), not by a thousand, the rest are counted as
/// refused, and other users are still recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_with_a_thousand_session_cookies_counts_as_64_entries() {
    let backend = Backend::redis();
    let (addr, tracker, _server) = demo(&backend, Framework::Axum).await;
    for i in 0..1000 {
        let cookie = format!("sessionid=forged-{i:04}");
        let reply = get(addr, "/", &[("x-user-id", "mallory"), ("cookie", &cookie)]).await;
        assert_eq!(reply.status, 200);
    }
    assert_eq!(visit(addr, "/", "alice", &[]).await, 200);
    tracker.flush().await.expect("flush");
    let count = get(addr, "/active-users/count", &[AUTH]).await.json();
    assert_eq!(
        count["count"],
        active_users::DEFAULT_MAX_ENTRIES_PER_USER as u64 + 1
    );
    assert_eq!(count["distinct"]["user_id"], 2);
    let stats = tracker.stats();
    assert_eq!(stats.refused, 1000 - 64);
    // Mallory's admitted sessions go on being recorded.
    let known = "sessionid=forged-0003";
    let reply = get(addr, "/", &[("x-user-id", "mallory"), ("cookie", known)]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        tracker.stats().refused,
        1000 - 64,
        "a known session is not refused"
    );
}

/// A visitor who sends the longest value every field allows cannot make a large entry: each
/// field is cut to its `max_len`, and an entry over `max_entry_len` (2 KiB) with all fields
/// together is not recorded; a long but ordinary visitor is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_of_maximum_size_values_is_refused_whole() {
    let backend = Backend::redis();
    let (addr, tracker, _server) = demo(&backend, Framework::Axum).await;
    let long = "ж".repeat(400); // 800 bytes: every text field is cut to 600
    let cookie = format!("sessionid={}", "s".repeat(700));
    let headers = [
        ("x-user-id", long.as_str()),
        ("x-user-name", long.as_str()),
        ("cookie", cookie.as_str()),
        ("x-service-id", long.as_str()),
    ];
    assert_eq!(get(addr, "/", &headers).await.status, 200);
    // A 150-character Cyrillic username and a long service id: well within the limit.
    let name = "ж".repeat(150);
    let service = "billing-".repeat(20);
    let ordinary = [
        ("x-user-id", "42"),
        ("x-user-name", name.as_str()),
        ("x-service-id", service.as_str()),
    ];
    assert_eq!(get(addr, "/", &ordinary).await.status, 200);
    tracker.flush().await.expect("flush");
    let body = get(addr, "/active-users/", &[AUTH]).await.json();
    assert_eq!(body["count"], 1, "{body}");
    assert_eq!(body["data"][0]["username"], name.as_str());
    let stats = tracker.stats();
    assert_eq!(stats.invalid, 1);
    assert!(stats.truncated >= 3, "{stats:?}");
    assert!(
        active_users::Config::builder()
            .max_entry_len(10)
            .build()
            .is_err()
    );
}
