//! Any path and query string: the API answers 200, 400 or 404 with JSON, never panics.
#![no_main]

use active_users::{ActiveUsersApi, Config, DefaultEntry, MemoryStore, Tracker};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tower_service::Service;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(request) = http::Request::get(text.as_ref()).body(()) else {
        return;
    };
    let rt = runtime();
    let _guard = rt.enter();
    let tracker: Tracker<DefaultEntry> =
        Tracker::new(Config::default(), MemoryStore::new()).expect("tracker");
    let mut api = ActiveUsersApi::new(tracker).public();
    let response = rt.block_on(api.call(request)).expect("infallible");
    assert!([200, 400, 404].contains(&response.status().as_u16()));
});
