//! Servers other than axum: the README claims hyper 1 (through `Tracker::record` on its
//! `http::Request`), so a real hyper server over TCP records its visitors here.

mod support;

use active_users::{Config, DefaultEntry, MemoryStore, PeerAddr, Tracker, User};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use support::client::get;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_hyper_1_server_records_through_tracker_record() {
    let tracker: Tracker<DefaultEntry> =
        Tracker::new(Config::default(), MemoryStore::new()).expect("tracker");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let server_tracker = tracker.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                return;
            };
            let tracker = server_tracker.clone();
            let service = hyper::service::service_fn(move |mut request: http::Request<_>| {
                // What an application's auth step and connection handling do.
                if let Some(id) = request
                    .headers()
                    .get("x-user")
                    .and_then(|v| v.to_str().ok())
                {
                    let user = User::new(id);
                    request.extensions_mut().insert(user);
                }
                request.extensions_mut().insert(PeerAddr(peer));
                let outcome = tracker.record(&request);
                let body = format!("{outcome:?}\n");
                async move { Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(body)))) }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    for user in ["1", "2", "2"] {
        let reply = get(addr, "/", &[("x-user", user)]).await;
        assert_eq!(reply.status, 200);
    }
    assert_eq!(get(addr, "/", &[]).await.body, "NoEntry\n");
    tracker.flush().await.expect("flush");
    assert_eq!(tracker.count().await.expect("count"), 2);
    let page = tracker.list(10, None).await.expect("list");
    assert!(
        page.entries
            .iter()
            .all(|a| a.entry.ip == Some("127.0.0.1".parse().expect("ip")))
    );
}

/// One blocking HTTP/1.0 request over a plain TCP socket; the status and the body.
fn blocking_get(addr: std::net::SocketAddr, path: &str, user: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let user = user.map_or(String::new(), |u| format!("x-user-id: {u}\r\n"));
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{user}\r\n").expect("write");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read");
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = reply
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    (status, body)
}

/// A server on a blocking stack (tiny_http, no async runtime of the application's) records
/// its visitors through a `BlockingTracker` and answers from its blocking queries, over real
/// TCP, with the peer address as the client IP. A plain `#[test]`: no runtime around it.
#[test]
fn a_blocking_tiny_http_server_records_and_queries_without_a_runtime_of_its_own() {
    use active_users::BlockingTracker;
    use std::sync::Arc;
    let tracker = Arc::new(
        BlockingTracker::<DefaultEntry>::new(Config::default(), || Ok(MemoryStore::new()))
            .expect("tracker"),
    );
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
    let addr = server.server_addr().to_ip().expect("an IP address");
    let serving = {
        let (server, tracker) = (Arc::clone(&server), Arc::clone(&tracker));
        std::thread::spawn(move || {
            active_users_examples::blocking::serve_blocking(&server, &tracker)
        })
    };
    for user in ["ann", "bob", "ann"] {
        assert_eq!(blocking_get(addr, "/", Some(user)).0, 200);
    }
    assert_eq!(
        blocking_get(addr, "/", None).0,
        200,
        "anonymous, not recorded"
    );
    tracker.flush().expect("flush");
    let (status, body) = blocking_get(addr, "/count", None);
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"count": 2, "users": 2}"#);
    let page = tracker.list(10, None).expect("list");
    assert!(
        page.entries
            .iter()
            .all(|a| a.entry.ip == Some("127.0.0.1".parse().expect("ip")))
    );
    assert_eq!(
        tracker.stats().no_entry,
        2,
        "the anonymous request and /count"
    );
    server.unblock();
    serving.join().expect("the server thread");
    tracker.shutdown().expect("shutdown");
}

/// An actix-web 4 app served over real TCP, with `RecordActiveUsers` under each `RecordOn`:
/// handler errors become error responses and a middleware's `Err` is judged by the status
/// actix answers with (403 here), the
/// user comes from actix's extensions, the IP from the connection, and a handler that borrows
/// the extensions mutably after the middleware read them does not panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_middleware_records_by_the_status_actix_answers_with() {
    use active_users::RecordOn;
    use active_users::actix::RecordActiveUsers;
    use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, HttpServer, web};

    async fn ok(request: HttpRequest) -> HttpResponse {
        // Mutably borrowed by the handler: the middleware must not hold a borrow.
        request.extensions_mut().insert(42_u32);
        HttpResponse::Ok().body("ok")
    }
    async fn missing() -> Result<HttpResponse, actix_web::Error> {
        Err(actix_web::error::ErrorNotFound("no such thing"))
    }
    async fn failing() -> Result<HttpResponse, actix_web::Error> {
        Err(actix_web::error::ErrorInternalServerError("broken"))
    }

    let cases = [
        (RecordOn::SuccessfulResponse, vec!["ok"]),
        (
            RecordOn::AnyResponse,
            vec!["ok", "missing", "failing", "denied"],
        ),
        (
            RecordOn::Request,
            vec!["ok", "missing", "failing", "denied"],
        ),
        (RecordOn::Status(|s| s.as_u16() == 404), vec!["missing"]),
    ];
    for (record_on, expected) in cases {
        let tracker: Tracker<DefaultEntry> =
            Tracker::new(Config::default(), MemoryStore::new()).expect("tracker");
        let app_tracker = tracker.clone();
        let server = support::client::ActixServer::run(move |listener| {
            Ok(HttpServer::new(move || {
                App::new()
                    // Inside the recorder: a middleware that fails with an `Err`, which
                    // reaches the recorder as an error, not a response.
                    .wrap(actix_web::middleware::from_fn(
                        |request: actix_web::dev::ServiceRequest,
                         next: actix_web::middleware::Next<_>| async move {
                            if request.path() == "/denied" {
                                return Err(actix_web::error::ErrorForbidden("denied"));
                            }
                            next.call(request).await
                        },
                    ))
                    .wrap(RecordActiveUsers::new(app_tracker.clone()).record_on(record_on))
                    // Registered last, runs first: the user is in place for extraction.
                    .wrap(actix_web::middleware::from_fn(
                        |request: actix_web::dev::ServiceRequest,
                         next: actix_web::middleware::Next<_>| async move {
                            let user = request
                                .headers()
                                .get("x-user")
                                .and_then(|v| v.to_str().ok())
                                .map(User::new);
                            if let Some(user) = user {
                                request.extensions_mut().insert(user);
                            }
                            next.call(request).await
                        },
                    ))
                    .route("/ok", web::get().to(ok))
                    .route("/missing", web::get().to(missing))
                    .route("/failing", web::get().to(failing))
            })
            .workers(1)
            .disable_signals()
            .listen(listener)?
            .run())
        });
        let addr = server.addr;
        for (path, status) in [
            ("/ok", 200),
            ("/missing", 404),
            ("/failing", 500),
            ("/denied", 403),
        ] {
            let user = &path[1..];
            let reply = get(addr, path, &[("x-user", user)]).await;
            assert_eq!(reply.status, status, "{path}");
        }
        tracker.flush().await.expect("flush");
        let page = tracker.list(10, None).await.expect("list");
        let mut users: Vec<&str> = page
            .entries
            .iter()
            .map(|a| a.entry.user_id.as_str())
            .collect();
        users.sort_unstable();
        let mut want = expected.clone();
        want.sort_unstable();
        assert_eq!(users, want, "{record_on:?}");
        assert!(
            page.entries
                .iter()
                .all(|a| a.entry.ip == Some("127.0.0.1".parse().expect("ip"))),
            "the peer address of the connection is the IP"
        );
        drop(server);
    }
}

/// A tonic 0.14 server over real TCP (HTTP/2), with `ActiveUsersLayer`: every gRPC call
/// answers HTTP 200, and the layer judges each by its `grpc-status`, whether it comes in the
/// headers (a call that fails at once), or in the trailers after the messages (success, or a
/// stream that fails midway). The IP is the peer from tonic's `TcpConnectInfo`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tonic_service_is_recorded_by_grpc_status_not_http_status() {
    use active_users::RecordOn;
    use active_users_examples::grpc::{CallerEntry, call, serve};
    use tonic::Code;

    let cases = [
        (RecordOn::SuccessfulResponse, vec!["ok"]),
        (RecordOn::AnyResponse, vec!["denied", "midway", "ok"]),
        (RecordOn::Request, vec!["denied", "midway", "ok"]),
        // PERMISSION_DENIED is judged as 403, INTERNAL as 500.
        (RecordOn::Status(|s| s.as_u16() == 403), vec!["denied"]),
        (RecordOn::Status(|s| s.as_u16() == 500), vec!["midway"]),
    ];
    for (record_on, expected) in cases {
        let tracker: Tracker<CallerEntry> =
            Tracker::new(Config::default(), MemoryStore::new()).expect("tracker");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = tokio::spawn(serve(listener, tracker.clone(), record_on));
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        for (method, user, code) in [
            ("Ok", "ok", Code::Ok),
            ("Denied", "denied", Code::PermissionDenied),
            ("BreaksMidway", "midway", Code::Internal),
        ] {
            assert_eq!(call(channel.clone(), method, user).await, code, "{method}");
        }
        tracker.flush().await.expect("flush");
        let page = tracker.list(10, None).await.expect("list");
        let mut users: Vec<&str> = page
            .entries
            .iter()
            .map(|a| a.entry.user_id.as_str())
            .collect();
        users.sort_unstable();
        assert_eq!(users, expected, "{record_on:?}");
        assert!(
            page.entries
                .iter()
                .all(|a| a.entry.ip == Some("127.0.0.1".parse().expect("ip"))),
            "the peer of tonic's connection is the IP"
        );
        server.abort();
    }
}

/// The actix demo over real TCP: a path actix routes to an excluded route is excluded however
/// it is percent-encoded; HEAD on the API gives GET's length without the body; the scripts
/// answer only GET; a trailing slash on the scope's path still mounts it at the path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_sees_paths_as_actix_routes_them() {
    use active_users::ActiveUsersApi;
    use active_users::actix::api_scope;
    use active_users_examples::{ApiAccess, DemoEntry, config};
    use support::client::{ActixServer, send};

    let tracker: Tracker<DemoEntry> = Tracker::new(
        config("actix-paths", 1).expect("config"),
        MemoryStore::new(),
    )
    .expect("tracker");
    let server = ActixServer::start(tracker.clone(), ApiAccess::Token("t0ken".to_owned()));
    let auth = ("authorization", "Bearer t0ken");
    // `%73` is `s`: actix serves /static/app.js, which the demo excludes.
    let encoded = get(server.addr, "/%73tatic/app.js", &[("x-user-id", "encoded")]).await;
    assert_eq!(encoded.status, 200, "actix routes it to the static file");
    assert_eq!(
        get(server.addr, "/", &[("x-user-id", "plain")])
            .await
            .status,
        200
    );
    tracker.flush().await.expect("flush");
    let page = tracker.list(10, None).await.expect("list");
    let users: Vec<&str> = page
        .entries
        .iter()
        .map(|a| a.entry.base.user_id.as_str())
        .collect();
    assert_eq!(users, ["plain"], "the encoded static path is excluded");
    assert_eq!(tracker.stats().excluded, 1);

    let full = send(
        server.addr,
        http::Method::GET,
        "/active-users/count",
        &[auth],
    )
    .await;
    let head = send(
        server.addr,
        http::Method::HEAD,
        "/active-users/count",
        &[auth],
    )
    .await;
    assert_eq!(head.status, 200);
    assert_eq!(head.body, "");
    assert_eq!(
        head.headers
            .get("content-length")
            .map(|v| v.as_bytes().to_vec()),
        Some(full.body.len().to_string().into_bytes()),
        "HEAD tells GET's length"
    );
    let post = send(
        server.addr,
        http::Method::POST,
        "/active-users/dashboard.js",
        &[auth],
    )
    .await;
    assert_eq!(post.status, 405, "{}", post.body);

    // A scope path with a trailing slash.
    let api = ActiveUsersApi::new(tracker.clone()).public();
    let slash = ActixServer::run(move |listener| {
        Ok(actix_web::HttpServer::new(move || {
            actix_web::App::new().service(api_scope("/slash/", api.clone()))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run())
    });
    let count = get(slash.addr, "/slash/count", &[]).await;
    assert_eq!(count.status, 200, "{}", count.body);
    assert_eq!(count.json()["count"], 1);
    drop(slash);
}

/// The rocket demo over real TCP: the fairing records the visitor its request guard found,
/// with the peer address as the IP, not a 500 or an unknown path; the API mounted as rocket
/// routes answers as the tower service does (401, 200, 404, 405, HEAD).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocket_fairing_records_and_the_mounted_api_answers() {
    use active_users_examples::{ApiAccess, DemoEntry, config};
    use support::client::send;

    let tracker: Tracker<DemoEntry> =
        Tracker::new(config("rocket", 1).expect("config"), MemoryStore::new()).expect("tracker");
    let port = support::free_port();
    let rocket = active_users_examples::rocket::app(
        tracker.clone(),
        ApiAccess::Token("t0ken".to_owned()),
        port,
    )
    .ignite()
    .await
    .expect("ignite");
    let shutdown = rocket.shutdown();
    tokio::spawn(rocket.launch());
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "rocket did not start");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let auth = ("authorization", "Bearer t0ken");
    let forged = ("x-forwarded-for", "6.6.6.6");
    let hello = get(
        addr,
        "/",
        &[("x-user-id", "7"), ("x-user-name", "Ann"), forged],
    )
    .await;
    assert_eq!(hello.body, "hello Ann\n");
    assert_eq!(get(addr, "/boom", &[("x-user-id", "8")]).await.status, 500);
    assert_eq!(
        get(addr, "/nowhere", &[("x-user-id", "9")]).await.status,
        404
    );
    // Rocket routes these to the excluded /static/app.js: they are excluded.
    for path in ["/static/app.js", "/%73tatic/app.js", "//static//app.js"] {
        let reply = get(addr, path, &[("x-user-id", "10")]).await;
        assert_eq!(reply.status, 200, "{path}");
    }
    tracker.flush().await.expect("flush");
    assert_eq!(tracker.stats().excluded, 3);

    assert_eq!(get(addr, "/active-users/count", &[]).await.status, 401);
    let list = get(addr, "/active-users/", &[auth]).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let body = list.json();
    assert_eq!(body["count"], 1, "{body}");
    assert_eq!(body["data"][0]["user_id"], "7");
    assert_eq!(body["data"][0]["username"], "Ann");
    assert_eq!(
        body["data"][0]["ip"], "127.0.0.1",
        "the peer, not the header"
    );
    let count = get(addr, "/active-users/count", &[auth]).await;
    assert_eq!(count.json()["distinct"]["user_id"], 1);
    assert_eq!(get(addr, "/active-users/nope", &[auth]).await.status, 404);
    // The API's path as rocket routes it.
    for path in ["/%61ctive-users/count", "/active-users//count"] {
        let reply = get(addr, path, &[auth]).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    }
    assert_eq!(
        get(addr, "/active-users/?limit=abc", &[auth]).await.status,
        400
    );
    let post = send(addr, http::Method::POST, "/active-users/count", &[auth]).await;
    assert_eq!(post.status, 405);
    let head = send(addr, http::Method::HEAD, "/active-users/count", &[auth]).await;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.headers
            .get("content-length")
            .map(|v| v.as_bytes().to_vec()),
        Some(count.body.len().to_string().into_bytes()),
        "HEAD tells GET's length"
    );
    let dashboard = get(addr, "/active-users/dashboard", &[auth]).await;
    assert_eq!(dashboard.status, 200);
    assert!(dashboard.body.contains("Active users"));
    shutdown.notify();
}
