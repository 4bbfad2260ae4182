//! Any path and query string: the API answers 200, 400 or 404 with JSON, never panics.
#![no_main]

use active_users::{ActiveUsersApi, Config, DefaultEntry, MemoryStore, Tracker, User};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tower_service::Service;

/// One runtime and one API over a tracker with a few entries, as an application has.
fn setup() -> &'static (tokio::runtime::Runtime, ActiveUsersApi<DefaultEntry>) {
    static SETUP: OnceLock<(tokio::runtime::Runtime, ActiveUsersApi<DefaultEntry>)> =
        OnceLock::new();
    SETUP.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let api = rt.block_on(async {
            let tracker: Tracker<DefaultEntry> =
                Tracker::new(Config::default(), MemoryStore::new()).expect("tracker");
            for user in 0..30 {
                let mut request = http::Request::get("/").body(()).expect("request");
                request.extensions_mut().insert(User::new(user.to_string()));
                tracker.record(&request);
            }
            tracker.flush().await.expect("flush");
            ActiveUsersApi::new(tracker).public()
        });
        (rt, api)
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(request) = http::Request::get(text.as_ref()).body(()) else {
        return;
    };
    let (rt, api) = setup();
    let mut api = api.clone();
    let response = rt.block_on(api.call(request)).expect("infallible");
    assert!([200, 400, 404].contains(&response.status().as_u16()));
});
