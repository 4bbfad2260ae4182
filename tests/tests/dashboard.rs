//! The history and unique-visitor routes and the dashboard: over real HTTP on the in-memory
//! store and on a redis-server, and the page itself in a real headless Chromium against the
//! demo server running as its own process.

#[macro_use]
mod support;

use active_users::Tracker;
use active_users_examples::{ApiAccess, DemoEntry, app, config};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::Backend;
use support::browser::{Browser, DemoServer};
use support::client::{get, visit_demo};

const TOKEN: &str = "dash-token-81c";
const AUTH: (&str, &str) = ("authorization", "Bearer dash-token-81c");

async fn demo(backend: &Backend) -> (SocketAddr, Tracker<DemoEntry>) {
    let config = config(&backend.namespace, backend.shards).expect("config");
    let tracker = Tracker::with_store(config, backend.store()).expect("tracker");
    let addr =
        support::client::serve(app(tracker.clone(), ApiAccess::Token(TOKEN.to_owned()))).await;
    (addr, tracker)
}

async fn history_unique_and_dashboard_over_http(backend: Backend) {
    let (addr, tracker) = demo(&backend).await;
    for user in ["1", "2", "3"] {
        let session = format!("s{user}");
        assert_eq!(visit_demo(addr, user, &session, "billing").await, 200);
    }
    tracker.flush().await.expect("flush");

    let history = get(addr, "/active-users/history?span=1h", &[AUTH]).await;
    assert_eq!(history.status, 200, "{}", history.body);
    let body = history.json();
    let points = body["points"].as_array().expect("points");
    assert!(!points.is_empty(), "the flush sampled its minute: {body}");
    assert_eq!(points.last().expect("a point")["active"], 3);
    assert_eq!(body["peak"]["active"], 3);
    assert_eq!(body["span"], 3600);

    let unique = get(addr, "/active-users/unique?span=24h", &[AUTH])
        .await
        .json();
    assert_eq!(unique["visitors"], 3);
    assert_eq!(unique["standard_error"], 0.0081);
    assert!(unique["since"].as_u64().is_some());
    let default_span = get(addr, "/active-users/unique", &[AUTH]).await.json();
    assert_eq!(default_span["span"], 3600);

    for bad in [
        "span=0",
        "span=1w",
        "span=h",
        "span=-5",
        "span=99999999999",
        "span=2d",
    ] {
        let reply = get(addr, &format!("/active-users/history?{bad}"), &[AUTH]).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
        assert_eq!(reply.json()["error"], "bad_request");
    }

    // Without the token: a sign-in page, not data.
    let page = get(addr, "/active-users/dashboard", &[]).await;
    assert_eq!(page.status, 401);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    assert!(page.body.contains("API token"), "{}", page.body);
    assert!(!page.body.contains("billing"));
    assert_eq!(
        get(addr, "/active-users/count", &[]).await.status,
        401,
        "data routes stay JSON 401"
    );

    // With the header, or with the cookie the sign-in page sets.
    let cookie = format!("active_users_token={TOKEN}");
    for auth in [AUTH, ("cookie", cookie.as_str())] {
        let page = get(addr, "/active-users/dashboard", &[auth]).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
        let csp = page.headers["content-security-policy"]
            .to_str()
            .expect("csp");
        assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
        assert!(
            csp.contains("script-src 'self';") && !csp.contains("script-src 'unsafe-inline'"),
            "no inline script may run: {csp}"
        );
        assert!(
            !page.body.contains("<script>"),
            "no inline script in the page"
        );
        assert!(
            page.body.contains(r#""grouped":["service_id"]"#),
            "settings"
        );
        assert!(page.body.contains(r#""history":86400"#), "the kept history");
        assert!(
            !page.body.contains("session_id"),
            "hidden fields are not offered"
        );
        // No external resources: nothing is fetched from another origin.
        for external in ["http://", "https://", "//cdn"] {
            let outside = page
                .body
                .match_indices(external)
                .any(|(i, _)| !page.body[i..].starts_with("http://www.w3.org/2000/svg"));
            assert!(!outside, "the page refers to {external}");
        }
        assert_eq!(get(addr, "/active-users/count", &[auth]).await.status, 200);
    }
    let wrong = get(
        addr,
        "/active-users/count",
        &[("cookie", "active_users_token=nope")],
    )
    .await;
    assert_eq!(wrong.status, 401);

    // The pages' scripts hold no data and are served to anybody, as scripts.
    for script in ["dashboard.js", "login.js", "dashboard/login.js"] {
        let reply = get(addr, &format!("/active-users/{script}"), &[]).await;
        assert_eq!(reply.status, 200, "{script}");
        assert_eq!(
            reply.headers["content-type"],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(reply.headers["x-content-type-options"], "nosniff");
    }
    // JSON answers, errors included, are never sniffed as something else.
    for (path, auth) in [
        ("/active-users/count", Some(AUTH)),
        ("/active-users/count", None),
    ] {
        let headers: Vec<(&str, &str)> = auth.into_iter().collect();
        let reply = get(addr, path, &headers).await;
        assert_eq!(reply.headers["x-content-type-options"], "nosniff", "{path}");
    }
}

/// Opens the dashboard through a link carrying the token: the sign-in page fills the field
/// (the fragment never reaches the server) and the operator presses the button.
async fn sign_in(browser: &Browser, base: &str, token: &str) {
    browser
        .open(&format!("{base}/dashboard#token={token}"))
        .await;
    let filled = browser
        .eval(
            r##"const input = document.getElementById("token");
            return {
                value: input ? input.value : null,
                link: !document.getElementById("from-link").hidden,
                url: location.href,
            };"##,
        )
        .await;
    assert_eq!(filled["value"], token, "the link fills the field: {filled}");
    assert_eq!(filled["link"], true, "and says so: {filled}");
    assert!(
        !filled["url"].as_str().unwrap_or("").contains("token="),
        "the token leaves the address bar: {filled}"
    );
    browser
        .eval(r##"document.querySelector("#login button").click(); return null;"##)
        .await;
}

store_suite!(memory, Backend::memory(); history_unique_and_dashboard_over_http);
store_suite!(redis, Backend::redis(); history_unique_and_dashboard_over_http);

/// The demo server with simulated visitors, its dashboard in headless Chromium: the count the
/// page shows is the API's, the chart has points, and a screenshot is saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_a_real_browser_shows_the_api_count() {
    dashboard_in_a_real_browser("axum-app").await;
}

/// The same page served by the actix-web demo (`api_scope`), in the same browser checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_of_the_actix_demo_in_a_real_browser_shows_the_api_count() {
    dashboard_in_a_real_browser("actix-app").await;
}

/// With presence on, the actix adapter cannot stream `/events` (it answers 501): the page
/// falls back to reading the count every 3 s, and the same checks hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_of_the_actix_demo_with_presence_falls_back_to_polling() {
    dashboard_in_a_real_browser_with("actix-app", &[("ACTIVE_USERS_PRESENCE", "1")]).await;
}

async fn dashboard_in_a_real_browser(example: &str) {
    dashboard_in_a_real_browser_with(example, &[]).await;
}

async fn dashboard_in_a_real_browser_with(example: &str, env: &[(&str, &str)]) {
    let mut env = env.to_vec();
    env.push(("ACTIVE_USERS_API_TOKEN", "browser-token"));
    let server = DemoServer::start_example(example, &["--simulate", "80"], &env);
    let base = format!("http://{}/active-users", server.addr);
    let auth = ("authorization", "Bearer browser-token");
    let api_count = || async {
        let reply = get(server.addr, "/active-users/count", &[auth]).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        // The page's headline is users: the distinct user ids.
        reply.json()["distinct"]["user_id"]
            .as_u64()
            .expect("distinct users")
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while api_count().await == 0 {
        assert!(Instant::now() < deadline, "the simulation records nobody");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let browser = Browser::start().await;
    sign_in(&browser, &base, "browser-token").await;
    let read = r##"
        const count = document.getElementById("live-count");
        return {
            count: count ? count.dataset.count || null : null,
            shown: count ? count.textContent : null,
            points: Number(document.getElementById("chart-hour")?.dataset.points || 0),
            bars: document.querySelectorAll("#chart-hour rect.bar").length,
            rows: document.querySelectorAll("#entries tr").length,
            breakdown: document.querySelectorAll("#breakdown tr").length,
            unique: document.getElementById("unique-hour")?.textContent,
            status: document.getElementById("status")?.textContent,
            title: document.title,
        };
    "##;
    let deadline = Instant::now() + Duration::from_secs(45);
    let matched = loop {
        let before = api_count().await;
        let page = browser.eval(read).await;
        let after = api_count().await;
        let shown: Option<u64> = page["count"].as_str().and_then(|c| c.parse().ok());
        println!("page {page}; API {before} then {after}");
        // A whole refresh has finished (every card read), and it shows the API's count.
        let refreshed = page["status"]
            .as_str()
            .is_some_and(|s| s.starts_with("updated"));
        if let Some(shown) = shown
            && refreshed
            && page["points"].as_u64().unwrap_or(0) > 0
            && (shown == before || shown == after)
            && before == after
        {
            break page;
        }
        assert!(
            Instant::now() < deadline,
            "the dashboard never showed the API's count with a chart: {page}"
        );
        tokio::time::sleep(Duration::from_millis(700)).await;
    };
    assert_eq!(matched["title"], "Active users");
    assert_eq!(matched["bars"], matched["points"], "a bar per point");
    assert!(
        matched["rows"].as_u64().unwrap_or(0) > 0,
        "the table lists entries"
    );
    assert!(matched["breakdown"].as_u64().unwrap_or(0) > 0, "by service");
    assert_ne!(matched["unique"], "–", "unique visitors shown");

    // Users, not sessions, by default: every row is a different user (the simulation signs
    // every fourth visitor in twice); the Sessions button lists the entries.
    let table = r##"return {
        title: document.getElementById("entries-title").textContent,
        values: [...document.querySelectorAll("#entries tr")].map((tr) => tr.dataset.value || null),
        head: [...document.querySelectorAll("#entries-head th")].map((th) => th.textContent),
    };"##;
    let users = browser.eval(table).await;
    assert_eq!(users["title"], "Active users", "{users}");
    assert_eq!(users["head"][0], "user_id", "{users}");
    let values: Vec<&str> = users["values"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|v| v.as_str().expect("each row is a user"))
        .collect();
    let distinct: std::collections::HashSet<&&str> = values.iter().collect();
    assert!(
        !values.is_empty() && distinct.len() == values.len(),
        "{users}"
    );
    browser
        .eval(r##"document.getElementById("view-sessions").click(); return null;"##)
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sessions = browser.eval(table).await;
        let head = sessions["head"].as_array().cloned().unwrap_or_default();
        if sessions["title"] == "Active sessions" && head.iter().any(|h| h == "username") {
            break;
        }
        assert!(Instant::now() < deadline, "no sessions view: {sessions}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser
        .eval(r##"document.getElementById("view-users").click(); return null;"##)
        .await;

    // Paging: more than a page (20) is active, so "Next page" leads to the second page.
    let next_enabled = browser
        .eval(r##"return !document.getElementById("next").disabled;"##)
        .await;
    assert_eq!(next_enabled, true, "{matched}");
    browser
        .eval(r##"document.getElementById("next").click(); return null;"##)
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let second = browser
            .eval(
                r##"return {
                    first: !document.getElementById("first").disabled,
                    rows: document.querySelectorAll("#entries tr").length,
                };"##,
            )
            .await;
        if second["first"] == true && second["rows"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no second page: {second}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser
        .eval(r##"document.getElementById("first").click(); return null;"##)
        .await;

    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG screenshot");
    let out =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("dashboard-{example}.png"));
    std::fs::write(&out, &png).expect("write the screenshot");
    println!("screenshot: {} ({} bytes)", out.display(), png.len());
    if example == "axum-app" && std::env::var_os("ACTIVE_USERS_UPDATE_SCREENSHOT").is_some() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/dashboard.png");
        std::fs::write(&docs, &png).expect("write docs/dashboard.png");
    }
}

/// A link from another site cannot sign an operator in with its own token, and does not show a
/// signed-in operator "not accepted": the page asks for the operator's action, and a
/// `SameSite=Strict` cookie withheld on a cross-site arrival is retried once from the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_from_another_site_cannot_replace_the_operators_token() {
    let server = DemoServer::start(
        &["--simulate", "10"],
        &[("ACTIVE_USERS_API_TOKEN", "operator-token")],
    );
    let base = format!("http://{}/active-users", server.addr);
    // Another site: `localhost` is not the same site as `127.0.0.1` (both served here on
    // 127.0.0.1).
    let attacker = support::client::serve(axum::Router::new().route(
        "/",
        axum::routing::get({
            let target = format!("{base}/dashboard#token=attacker-token");
            move || async move {
                axum::response::Html(format!("<a id=\"go\" href=\"{target}\">dashboard</a>"))
            }
        }),
    ))
    .await;

    let browser = Browser::start().await;
    // An attacker's link to a browser that is not signed in: nothing is signed in by itself.
    browser
        .open(&format!("http://localhost:{}/", attacker.port()))
        .await;
    browser
        .eval(r##"document.getElementById("go").click(); return null;"##)
        .await;
    let state = r##"return {
        title: document.title,
        cookie: document.cookie,
        field: document.getElementById("token") ? document.getElementById("token").value : null,
        rejected: document.getElementById("rejected") ? !document.getElementById("rejected").hidden : null,
        status: document.getElementById("status") ? document.getElementById("status").textContent : null,
        url: location.href,
    };"##;
    let deadline = Instant::now() + Duration::from_secs(10);
    let landed = loop {
        let page = browser.eval(state).await;
        if page["title"] == "Active users: sign in" && page["field"] == "attacker-token" {
            break page;
        }
        assert!(Instant::now() < deadline, "no sign-in page: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        !landed["cookie"]
            .as_str()
            .unwrap_or("")
            .contains("attacker-token"),
        "not signed in by the link alone: {landed}"
    );

    // The operator types their own token and presses the button.
    browser
        .eval(
            r##"document.getElementById("token").value = "operator-token";
            document.querySelector("#login button").click();
            return null;"##,
        )
        .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !browser.eval(state).await["status"]
        .as_str()
        .is_some_and(|s| s.starts_with("updated"))
    {
        assert!(Instant::now() < deadline, "the dashboard did not load");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The attacker's link again, now to a signed-in operator: the dashboard, with the
    // operator's token kept and no "not accepted".
    browser
        .open(&format!("http://localhost:{}/", attacker.port()))
        .await;
    browser
        .eval(r##"document.getElementById("go").click(); return null;"##)
        .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let page = loop {
        let page = browser.eval(state).await;
        if page["title"] == "Active users"
            && page["status"]
                .as_str()
                .is_some_and(|s| s.starts_with("updated"))
        {
            break page;
        }
        assert_ne!(
            page["rejected"], true,
            "a signed-in operator is not refused: {page}"
        );
        assert!(
            Instant::now() < deadline,
            "the dashboard did not come back: {page}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let cookie = page["cookie"].as_str().unwrap_or("");
    assert!(cookie.contains("operator-token"), "{page}");
    assert!(!cookie.contains("attacker-token"), "{page}");
    assert!(
        !page["url"].as_str().unwrap_or("").contains("token="),
        "{page}"
    );
}

/// With presence on, the dashboard in headless Chromium shows a user who arrives (and the new
/// count) from the API's `/events` stream, without a timed poll of the count, and the user
/// leaving a window later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_join_pushed_by_the_event_stream_without_a_poll() {
    use active_users::{ActiveUsersApi, Config, DefaultEntry, MemoryStore, PeerAddr, User};
    let window = Duration::from_secs(3);
    let config = Config::builder()
        .key_expire(window)
        .presence(true)
        .build()
        .expect("config");
    let tracker: Tracker<DefaultEntry> = Tracker::new(config, MemoryStore::new()).expect("tracker");
    let api = ActiveUsersApi::new(tracker.clone()).bearer_token(TOKEN);
    let addr = support::client::serve(axum::Router::new().nest_service("/active-users", api)).await;
    let base = format!("http://{addr}/active-users");

    let browser = Browser::start().await;
    sign_in(&browser, &base, TOKEN).await;
    let state = r##"
        const count = document.getElementById("live-count");
        return {
            live: document.body.dataset.live || null,
            polls: document.body.dataset.polls || null,
            pushes: document.body.dataset.pushes || null,
            count: count ? count.dataset.count || null : null,
            status: document.getElementById("status")?.textContent,
            feed: Array.from(document.querySelectorAll("#feed li")).map((li) => li.textContent),
            feedShown: !document.getElementById("feed-card").hidden,
        };
    "##;
    let wait_for = |what: &'static str, ok: fn(&serde_json::Value) -> bool, within: Duration| {
        let browser = &browser;
        async move {
            let deadline = Instant::now() + within;
            loop {
                let page = browser.eval(state).await;
                if ok(&page) {
                    return page;
                }
                assert!(Instant::now() < deadline, "{what}: {page}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let page = wait_for(
        "the page loads and opens the stream",
        |p| p["live"] == "open" && p["count"] == "0",
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(page["feedShown"], true);

    let mut request = http::Request::get("/").body(()).expect("request");
    request.extensions_mut().insert(User::new("live-42"));
    request
        .extensions_mut()
        .insert(PeerAddr(([10, 9, 8, 7], 1000).into()));
    tracker.record(&request);
    tracker.flush().await.expect("flush");
    let page = wait_for(
        "the join is shown",
        |p| {
            p["count"] == "1"
                && p["feed"].as_array().is_some_and(|f| {
                    f.iter().any(|t| {
                        t.as_str()
                            .is_some_and(|t| t.contains("user_id live-42 joined"))
                    })
                })
        },
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(page["polls"], "0", "no timed poll of the count: {page}");
    assert_ne!(
        page["pushes"], "0",
        "the count was read because of the event: {page}"
    );

    let page = wait_for(
        "the leave is shown",
        |p| {
            p["count"] == "0"
                && p["feed"].as_array().is_some_and(|f| {
                    f.iter().any(|t| {
                        t.as_str()
                            .is_some_and(|t| t.contains("user_id live-42 left"))
                    })
                })
        },
        window + Duration::from_secs(5),
    )
    .await;
    assert_eq!(page["polls"], "0", "{page}");
    std::fs::create_dir_all(env!("CARGO_TARGET_TMPDIR")).ok();
    let shot = browser.screenshot().await;
    std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-live.png"),
        shot,
    )
    .expect("save the screenshot");
}
