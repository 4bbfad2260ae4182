//! The public API as a dependent crate sees it. Only `active-users` (and tokio) are
//! dependencies: the derive must compile without `http` in this crate's manifest, and every
//! configuration method must work with the features a user gets.

use active_users::http::{self, Request};
use active_users::{
    ActiveUserEntry, ClientIpHeader, Config, DefaultEntry, ExtractContext, IpAnonymization,
    MemoryStore, Outcome, PeerAddr, Reader, RequestHead, TrustedProxies, User,
};
use std::net::IpAddr;
use std::time::Duration;

fn plan(head: &RequestHead<'_>) -> Option<String> {
    head.path().strip_prefix("/plan/").map(str::to_owned)
}

/// Every source and option of the derive.
#[derive(Debug, Clone, PartialEq, ActiveUserEntry)]
struct Visitor {
    #[active_users(flatten)]
    base: DefaultEntry,
    #[from_header("X-Service-Id")]
    #[active_users(index)]
    service_id: Option<String>,
    #[from_cookie("theme")]
    #[active_users(rename = "colour")]
    theme: Option<String>,
    #[from_query("ref")]
    referrer: Option<String>,
    #[from_extension]
    tenant: Option<Tenant>,
    #[from_client_ip]
    #[active_users(hidden)]
    raw_ip: Option<IpAddr>,
    #[from_fn(plan)]
    plan: Option<String>,
    #[from_header("X-Build")]
    build: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
struct Tenant(String);

impl active_users::FieldValue for Tenant {
    fn parse(text: &str) -> Option<Self> {
        Some(Tenant(text.to_owned()))
    }
    fn write_text(&self, out: &mut String) {
        out.push_str(&self.0);
    }
}

fn request(user: &str, path: &str) -> Request<()> {
    let mut request = Request::get(path)
        .header("x-service-id", "billing")
        .header("x-build", "17")
        .header("cookie", "sessionid=s-1; theme=dark")
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        )
        .body(())
        .expect("request");
    request
        .extensions_mut()
        .insert(User::new(user).with_name(format!("name of {user}")));
    request.extensions_mut().insert(Tenant("acme".into()));
    request
        .extensions_mut()
        .insert(PeerAddr("203.0.113.7:5000".parse().expect("addr")));
    request
}

#[test]
fn every_config_builder_method_builds() {
    let config = Config::builder()
        .key_expire(Duration::from_secs(30))
        .exclude_url_patterns(["^/static/", "\\.js$", "health"])
        .exclude_user_agents(["MyMonitor"])
        .exclude_bots()
        .anonymize_ips(IpAnonymization::TRUNCATE)
        .key_prefix("app")
        .namespace("shop")
        .refresh_interval(Duration::from_secs(1))
        .flush_interval(Duration::from_millis(50))
        .buffer_capacity(10_000)
        .batch_size(500)
        .trusted_proxies(TrustedProxies::Networks(vec![
            "10.0.0.0/8".parse().expect("network"),
        ]))
        .client_ip_header(ClientIpHeader::XForwardedFor)
        .shards(4)
        .history(Duration::from_secs(3600))
        .query_timeout(Duration::from_secs(1))
        .secret_key("0123456789abcdef-operator-secret")
        .max_entries_per_user(16)
        .max_entry_len(4096)
        .max_active_entries(500_000)
        .build()
        .expect("every method with valid values builds");
    assert_eq!(config.window(), Duration::from_secs(30));
    assert_eq!(config.namespace(), "shop");
    assert_eq!(config.key_prefix(), "app");
    assert_eq!(config.shards(), 4);
    assert!(config.is_excluded("/static/app.css"));
    assert!(config.is_excluded("/assets/app.js"), "matched anywhere");
    assert!(config.is_excluded("/internal/health"), "matched anywhere");
    assert!(!config.is_excluded("/cart"));
    // Case-insensitive agent patterns need regex's Unicode case tables: a dependent crate
    // must get them from our manifest, not from its own dependencies.
    assert!(config.is_excluded_agent("Googlebot/2.1 (+http://www.google.com/bot.html)"));
    assert!(config.is_excluded_agent("mymonitor/1.0"));
    assert!(config.is_excluded_agent("CURL/8.5.0") || config.is_excluded_agent("curl/8.5.0"));
    assert!(!config.is_excluded_agent("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"));

    let from_env = Config::from_lookup(|name| match name {
        "ACTIVE_USERS_KEY_EXPIRE" => Some("60".into()),
        "ACTIVE_USERS_EXCLUDE_URL_PATTERNS" => Some(r#"["excluded"]"#.into()),
        "ACTIVE_USERS_TRUSTED_PROXIES" => Some("1".into()),
        "ACTIVE_USERS_CLIENT_IP_HEADER" => Some("CF-Connecting-IP".into()),
        _ => None,
    })
    .expect("valid environment");
    assert!(from_env.is_excluded("/a/excluded/b"));
    let layered = Config::builder()
        .namespace("shop")
        .with_lookup(|name| (name == "ACTIVE_USERS_SHARDS").then(|| "2".to_owned()))
        .expect("valid environment")
        .with_env()
        .expect("the real environment is valid")
        .build()
        .expect("valid");
    assert_eq!(layered.shards(), 2);
    assert_eq!(from_env.trusted_proxies(), &TrustedProxies::Hops(1));
    assert_eq!(
        from_env.client_ip_header(),
        Some(&ClientIpHeader::CfConnectingIp)
    );
    // Trusting proxies without naming their header is refused.
    assert!(
        Config::builder()
            .trusted_proxies(TrustedProxies::Hops(1))
            .build()
            .is_err()
    );
}

#[test]
fn the_derive_reads_every_source() {
    let request = request("42", "/plan/pro?ref=mail");
    let visitor = Visitor::from_request(&request, &ExtractContext::default()).expect("entry");
    assert_eq!(visitor.base.user_id, "42");
    assert_eq!(visitor.base.session_id.as_deref(), Some("s-1"));
    assert_eq!(visitor.service_id.as_deref(), Some("billing"));
    assert_eq!(visitor.theme.as_deref(), Some("dark"));
    assert_eq!(visitor.referrer.as_deref(), Some("mail"));
    assert_eq!(visitor.tenant, Some(Tenant("acme".into())));
    assert_eq!(visitor.raw_ip, Some("203.0.113.7".parse().expect("ip")));
    assert_eq!(visitor.plan.as_deref(), Some("pro"));
    assert_eq!(visitor.build, Some(17));
    let names: Vec<&str> = Visitor::fields().iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        [
            "user_id",
            "session_id",
            "ip",
            "username",
            "service_id",
            "colour",
            "referrer",
            "tenant",
            "raw_ip",
            "plan",
            "build"
        ]
    );
    let member = visitor.encode().expect("encodes");
    assert_eq!(Visitor::decode(&member).expect("decodes"), visitor);
}

#[tokio::test]
async fn record_and_every_query_on_the_memory_store() {
    let config = Config::builder()
        .exclude_url_patterns(["excluded"])
        .exclude_bots()
        .build()
        .expect("config");
    let store = MemoryStore::new();
    let tracker =
        active_users::Tracker::<Visitor>::new(config.clone(), store.clone()).expect("tracker");

    for user in ["1", "2", "3"] {
        assert_eq!(tracker.record(&request(user, "/")), Outcome::Queued);
    }
    assert_eq!(tracker.record(&request("1", "/")), Outcome::Coalesced);
    assert_eq!(
        tracker.record(&request("1", "/a/excluded/b")),
        Outcome::Excluded
    );
    let mut bot = request("4", "/");
    bot.headers_mut().insert(
        "user-agent",
        http::HeaderValue::from_static("Mozilla/5.0 (compatible; Googlebot/2.1)"),
    );
    assert_eq!(tracker.record(&bot), Outcome::Excluded);
    let anonymous = Request::get("/").body(()).expect("request");
    assert_eq!(tracker.record(&anonymous), Outcome::NoEntry);
    let (parts, ()) = request("5", "/").into_parts();
    assert!(tracker.record_parts(&parts).is_recorded());
    assert!(
        tracker
            .record_head(&RequestHead::from(&request("6", "/")))
            .is_recorded()
    );
    let built =
        Visitor::from_request(&request("7", "/"), tracker.extract_context()).expect("entry");
    assert!(tracker.record_entry(&built).is_recorded());

    tracker.flush().await.expect("flush");
    assert_eq!(tracker.count().await.expect("count"), 6);
    assert_eq!(
        tracker.count_distinct("user_id").await.expect("distinct"),
        6
    );
    let counts = tracker.counts().await.expect("counts");
    assert_eq!(counts.entries, 6);
    assert_eq!(counts.distinct("user_id"), Some(6));
    assert_eq!(counts.distinct("service_id"), Some(1));
    assert_eq!(
        tracker.count_by("service_id").await.expect("by").top,
        [("billing".to_owned(), 6)]
    );
    assert_eq!(
        tracker
            .within(Duration::from_secs(5))
            .count()
            .await
            .expect("within"),
        6
    );
    let users = tracker.values("user_id", 100, None).await.expect("values");
    assert_eq!(users.values.len(), 6);
    assert!(users.values.iter().all(|v| v.entries.is_none()), "distinct");
    let services = tracker
        .values("service_id", 100, None)
        .await
        .expect("values");
    assert_eq!(services.values[0].value, "billing");
    assert_eq!(services.values[0].entries, Some(6));
    let first = tracker.list(4, None).await.expect("page");
    assert_eq!(first.entries.len(), 4);
    let cursor: active_users::Cursor = first
        .next
        .expect("a next page")
        .to_string()
        .parse()
        .expect("cursor text");
    let second = tracker.list(4, Some(cursor)).await.expect("page");
    assert_eq!(second.entries.len(), 2);
    assert!(second.next.is_none());
    assert!(
        tracker
            .last_seen(&built)
            .await
            .expect("last seen")
            .is_some()
    );
    let history = tracker
        .history(Duration::from_secs(3600))
        .await
        .expect("history");
    assert_eq!(history.last().map(|p| p.active), Some(6));
    assert_eq!(
        tracker
            .peak(Duration::from_secs(3600))
            .await
            .expect("peak")
            .map(|p| p.active),
        Some(6)
    );
    let unique = tracker
        .unique(Duration::from_secs(3600))
        .await
        .expect("unique");
    assert_eq!(unique.visitors, 6);
    let stats = tracker.stats();
    assert_eq!(stats.queued, 6);
    assert_eq!(stats.excluded, 2);
    assert_eq!(stats.no_entry, 1);
    assert_eq!(stats.written, 6);

    let reader = Reader::open(config, store).await.expect("reader");
    assert_eq!(reader.count().await.expect("count"), 6);
    assert_eq!(reader.count_distinct("user_id").await.expect("distinct"), 6);
    assert_eq!(reader.counts().await.expect("counts"), counts);
    assert_eq!(
        reader
            .values("user_id", 100, None)
            .await
            .expect("values")
            .values
            .len(),
        6
    );
    let page = reader.list(10, None).await.expect("page");
    assert_eq!(page.entries.len(), 6);
    assert_eq!(page.entries[0].value("colour"), Some("dark"));
    // The session cookie is a secret: stored and read back as its keyed hash.
    let session = page.entries[0].value("session_id").expect("a session");
    assert_ne!(session, "s-1");
    assert_eq!(session.len(), 11, "{session}");
    tracker.shutdown().await.expect("shutdown");
}

#[cfg(feature = "readme")]
mod with_default_features {
    use super::*;
    use active_users::{ActiveUsersApi, ActiveUsersLayer, RedisStore};
    use tower::{Layer, ServiceExt, service_fn};

    /// A blocking server's tracker: no runtime around this test.
    #[test]
    fn a_blocking_tracker_records_and_answers_without_a_runtime() {
        let tracker = active_users::BlockingTracker::<DefaultEntry>::new(Config::default(), || {
            Ok(MemoryStore::new())
        })
        .expect("tracker");
        let mut request = Request::get("/").body(()).expect("request");
        request.extensions_mut().insert(User::new("7"));
        assert!(tracker.record(&request).is_recorded());
        tracker.flush().expect("flush");
        assert_eq!(tracker.count().expect("count"), 1);
        assert_eq!(tracker.count_distinct("user_id").expect("distinct"), 1);
        assert_eq!(tracker.list(10, None).expect("list").entries.len(), 1);
        tracker.shutdown().expect("shutdown");
    }

    #[tokio::test]
    async fn layer_and_api_record_and_answer() {
        let tracker =
            active_users::Tracker::<DefaultEntry>::new(Config::default(), MemoryStore::new())
                .expect("tracker");
        let app =
            ActiveUsersLayer::new(tracker.clone()).layer(service_fn(|_: Request<()>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(()))
            }));
        let mut request = Request::get("/").body(()).expect("request");
        request.extensions_mut().insert(User::new("42"));
        app.oneshot(request).await.expect("response");
        tracker.flush().await.expect("flush");

        let api = ActiveUsersApi::new(tracker.clone()).bearer_token("secret");
        let denied = api
            .clone()
            .oneshot(Request::get("/count").body(()).expect("request"))
            .await
            .expect("response");
        assert_eq!(denied.status(), http::StatusCode::UNAUTHORIZED);
        let allowed = api
            .oneshot(
                Request::get("/count")
                    .header("authorization", "Bearer secret")
                    .body(())
                    .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(allowed.status(), http::StatusCode::OK);
    }

    /// `/events` answers a stream of Server-Sent Events, behind the same authorization.
    #[tokio::test]
    async fn the_api_serves_presence_as_an_event_stream() {
        let config = Config::builder().presence(true).build().expect("config");
        let tracker = active_users::Tracker::<DefaultEntry>::new(config, MemoryStore::new())
            .expect("tracker");
        let api = ActiveUsersApi::new(tracker).bearer_token("secret");
        let denied = api
            .clone()
            .oneshot(Request::get("/events").body(()).expect("request"))
            .await
            .expect("response");
        assert_eq!(denied.status(), http::StatusCode::UNAUTHORIZED);
        let stream = api
            .oneshot(
                Request::get("/events")
                    .header("authorization", "Bearer secret")
                    .body(())
                    .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(stream.status(), http::StatusCode::OK);
        assert_eq!(stream.headers()["content-type"], "text/event-stream");
    }

    #[tokio::test]
    async fn redis_store_opens_without_connecting() {
        let store = RedisStore::open("redis://127.0.0.1:1/").expect("a valid URL");
        let tracker = active_users::Tracker::<DefaultEntry>::new(Config::default(), store);
        assert!(tracker.is_ok());
        assert!(RedisStore::open("not a url").is_err());
    }
}

/// Presence from a dependent crate, with or without default features: joins per entry and
/// per user, on a tracker and on a reader that does not know the entry type.
#[tokio::test]
async fn presence_tells_who_joins_on_tracker_and_reader() {
    use active_users::{Change, RawChange};
    let config = Config::builder()
        .namespace("downstream-presence")
        .presence(true)
        .build()
        .expect("config");
    let store = MemoryStore::new();
    let tracker =
        active_users::Tracker::<DefaultEntry>::new(config.clone(), store.clone()).expect("tracker");
    tracker.flush().await.expect("flush writes the description");
    let reader = Reader::open(config, store).await.expect("reader");
    assert!(reader.presence());
    let mut entries = tracker.subscribe().await.expect("subscribe");
    let mut users = tracker.subscribe_field("user_id").await.expect("subscribe");
    let mut raw = reader.subscribe().await.expect("reader subscribes");
    tracker.record(&request("77", "/"));
    tracker.flush().await.expect("flush");
    let within = Duration::from_secs(5);
    let entry = tokio::time::timeout(within, entries.recv())
        .await
        .expect("in time")
        .expect("event");
    assert_eq!(
        (entry.change, entry.item.user_id.as_str()),
        (Change::Joined, "77")
    );
    let user = tokio::time::timeout(within, users.recv())
        .await
        .expect("in time")
        .expect("event");
    assert_eq!((user.change, user.item.as_str()), (Change::Joined, "77"));
    let mut seen = Vec::new();
    for _ in 0..2 {
        let event = tokio::time::timeout(within, raw.recv())
            .await
            .expect("in time")
            .expect("event");
        seen.push(event.item);
    }
    assert!(seen.iter().any(
        |c| matches!(c, RawChange::Value { field, value } if field == "user_id" && value == "77")
    ));
    assert!(seen.iter().any(|c| matches!(c, RawChange::Entry(values) if values.iter().any(|(k, v)| k == "user_id" && v.as_deref() == Some("77")))));
}

/// A derive with its own limit on a header field.
#[derive(Debug, ActiveUserEntry)]
struct Short {
    #[from_header("X-User")]
    #[active_users(distinct)]
    user: String,
    #[from_header("X-Note")]
    #[active_users(max_len = 64)]
    note: Option<String>,
}

#[tokio::test]
async fn a_long_value_never_makes_the_visitor_disappear() {
    let tracker = active_users::Tracker::<DefaultEntry>::new(Config::default(), MemoryStore::new())
        .expect("tracker");
    // 150 Cyrillic characters: 300 bytes, a valid Django username.
    let django_max: String = "ж".repeat(150);
    // Longer than any limit: cut, still recorded.
    let huge: String = "ё".repeat(1000);
    for (id, name) in [("1", &django_max), ("2", &huge)] {
        let mut request = Request::get("/").body(()).expect("request");
        request
            .extensions_mut()
            .insert(User::new(id).with_name(name.as_str()));
        assert_eq!(tracker.record(&request), Outcome::Queued, "user {id}");
    }
    tracker.flush().await.expect("flush");
    assert_eq!(
        tracker.count_distinct("user_id").await.expect("distinct"),
        2
    );
    let page = tracker.list(10, None).await.expect("list");
    let name_of = |id: &str| {
        page.entries
            .iter()
            .find(|a| a.entry.user_id == id)
            .and_then(|a| a.entry.username.clone())
            .expect("listed with a name")
    };
    assert_eq!(name_of("1"), django_max, "stored whole");
    let cut = name_of("2");
    assert!(huge.starts_with(&cut) && cut.len() <= active_users::codec::DEFAULT_MAX_LEN);
    assert_eq!(tracker.stats().truncated, 1);

    let short = active_users::Tracker::<Short>::new(Config::default(), MemoryStore::new())
        .expect("tracker");
    let request = Request::get("/")
        .header("x-user", "u".repeat(5000))
        .header("x-note", "n".repeat(100))
        .body(())
        .expect("request");
    assert_eq!(short.record(&request), Outcome::Queued);
    short.flush().await.expect("flush");
    let page = short.list(10, None).await.expect("list");
    let entry = &page.entries[0].entry;
    assert_eq!(entry.note.as_deref(), Some("n".repeat(64).as_str()));
    assert!(
        entry.user.len() <= 600 && entry.user.contains('~'),
        "an identity keeps a hash"
    );
    assert_eq!(short.stats().truncated, 2);
}

/// The actix-web and rocket adapters as a dependent crate wires them, with only the features
/// the README's framework table names.
#[cfg(feature = "readme")]
mod frameworks {
    use super::*;
    use active_users::ActiveUsersApi;

    /// The user is a header here: no auth middleware needed for the adapters' check.
    #[derive(Debug, Clone, PartialEq, ActiveUserEntry)]
    struct Caller {
        #[from_header("x-user")]
        #[active_users(distinct)]
        user: String,
    }

    #[test]
    fn actix_middleware_and_api_scope() {
        use active_users::actix::{RecordActiveUsers, api_scope};
        use actix_web::{App, test, web};

        actix_web::rt::System::new().block_on(async {
            let tracker = active_users::Tracker::<Caller>::new(
                Config::builder()
                    .exclude_url_patterns(["^/static/"])
                    .build()
                    .expect("config"),
                MemoryStore::new(),
            )
            .expect("tracker");
            let app = test::init_service(
                App::new()
                    .service(api_scope(
                        "/active-users",
                        ActiveUsersApi::new(tracker.clone()).bearer_token("secret"),
                    ))
                    .service(
                        web::scope("")
                            .wrap(RecordActiveUsers::new(tracker.clone()))
                            .route("/", web::get().to(|| async { "hello" }))
                            .route("/static/x", web::get().to(|| async { "x" })),
                    ),
            )
            .await;
            for path in ["/", "/static/x", "/missing"] {
                let request = test::TestRequest::get()
                    .uri(path)
                    .insert_header(("x-user", path))
                    .to_request();
                test::call_service(&app, request).await;
            }
            tracker.flush().await.expect("flush");
            assert_eq!(tracker.count().await.expect("count"), 1);
            let request = test::TestRequest::get()
                .uri("/active-users/count")
                .insert_header(("authorization", "Bearer secret"))
                .to_request();
            let body: serde_json::Value = test::call_and_read_body_json(&app, request).await;
            assert_eq!(body["count"], 1);
            assert_eq!(body["distinct"]["user"], 1);
            let request = test::TestRequest::get()
                .uri("/active-users/count")
                .to_request();
            assert_eq!(test::call_service(&app, request).await.status(), 401);
        });
    }

    #[tokio::test]
    async fn rocket_fairing_and_api_routes() {
        use active_users::rocket::{RecordActiveUsers, api_routes};
        use rocket::local::asynchronous::Client;

        #[rocket::get("/")]
        fn hello() -> &'static str {
            "hello"
        }

        let tracker = active_users::Tracker::<Caller>::new(Config::default(), MemoryStore::new())
            .expect("tracker");
        let rocket = rocket::build()
            .attach(RecordActiveUsers::new(tracker.clone()))
            .mount("/", rocket::routes![hello])
            .mount(
                "/active-users",
                api_routes(ActiveUsersApi::new(tracker.clone()).public()),
            );
        let client = Client::untracked(rocket).await.expect("rocket");
        let response = client
            .get("/")
            .header(rocket::http::Header::new("x-user", "9"))
            .dispatch()
            .await;
        assert_eq!(response.status(), rocket::http::Status::Ok);
        let missing = client
            .get("/missing")
            .header(rocket::http::Header::new("x-user", "10"))
            .dispatch()
            .await;
        assert_eq!(missing.status(), rocket::http::Status::NotFound);
        tracker.flush().await.expect("flush");
        let body = client
            .get("/active-users/count")
            .dispatch()
            .await
            .into_string()
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body["count"], 1, "only the 200 is a visit");
    }
}
