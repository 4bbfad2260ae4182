//! The API under arbitrary query strings and paths: always 200, 400 or 404, never a panic,
//! never more than the maximum page; JSON everywhere but the dashboard page and its scripts.

use active_users::{ActiveUsersApi, Config, DefaultEntry, MAX_PAGE, MemoryStore, Tracker, User};
use http_body_util::BodyExt;
use proptest::prelude::*;
use tower::ServiceExt;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Query strings made of the characters that matter to the parser, plus valid-looking
/// parameters with hostile values.
fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z=&%0-9@+.\\-]{0,60}",
        (0u64..u64::MAX).prop_map(|n| format!("limit={n}")),
        "[0-9]{0,25}-[0-9]{0,25}(@[0-9]{0,6})?".prop_map(|c| format!("cursor={c}")),
        ("[0-9]{1,4}", "[0-9\\-@]{0,40}").prop_map(|(l, c)| format!("limit={l}&cursor={c}")),
        "[0-9a-z%\\-+.]{0,14}".prop_map(|s| format!("span={s}")),
    ]
}

/// Any path, and the named routes (which random paths almost never hit).
fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        "/[a-z/%.0-9]{0,20}",
        prop_oneof![
            Just("/"),
            Just("/count"),
            Just("/history"),
            Just("/unique"),
            Just("/dashboard"),
            Just("/dashboard.js"),
            Just("/login.js"),
            Just("/by/user_id"),
            Just("/values/user_id"),
        ]
        .prop_map(str::to_owned),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_query_gets_a_documented_answer(query in query(), path in path()) {
        let rt = runtime();
        rt.block_on(async {
            let tracker: Tracker<DefaultEntry> =
                Tracker::new(Config::default(), MemoryStore::new()).expect("tracker");
            for user in 0..30 {
                let mut r = http::Request::get("/").body(()).expect("request");
                r.extensions_mut().insert(User::new(user.to_string()));
                tracker.record(&r);
            }
            tracker.flush().await.expect("flush");
            let api = ActiveUsersApi::new(tracker).public();
            let uri = format!("{path}?{query}");
            let Ok(request) = http::Request::get(uri.as_str()).body(()) else {
                return Ok(()); // not a URI http accepts: never reaches a server
            };
            let response = api.oneshot(request).await.expect("infallible");
            let status = response.status().as_u16();
            prop_assert!([200, 400, 404].contains(&status), "{uri} -> {status}");
            let content_type = response.headers()[http::header::CONTENT_TYPE].clone();
            let html = content_type == "text/html; charset=utf-8";
            let body = response.into_body().collect().await.expect("body").to_bytes();
            if content_type == "text/javascript; charset=utf-8" {
                let last = path.split('/').rfind(|s| !s.is_empty());
                prop_assert!(matches!(last, Some("dashboard.js" | "login.js")), "{uri}");
                prop_assert_eq!(status, 200);
                return Ok(());
            }
            if html {
                let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
                prop_assert_eq!(segments, ["dashboard"]);
                prop_assert_eq!(status, 200);
                return Ok(());
            }
            let json: serde_json::Value = serde_json::from_slice(&body).expect("always JSON");
            if status == 200 && let Some(data) = json.get("data") {
                prop_assert!(data.as_array().is_some_and(|d| d.len() <= MAX_PAGE));
            }
            Ok(())
        })?;
    }
}
