//! Any header, cookie and query bytes: extraction never panics, and what it extracts is
//! bounded and encodes.
#![no_main]

use active_users::{ActiveUserEntry, DefaultEntry, ExtractContext, TrustedProxies, User};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0);
    let cookie = parts.next().unwrap_or_default();
    let forwarded = parts.next().unwrap_or_default();
    let query = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let user = parts.next().unwrap_or_default();
    let uri = format!("/p?{}", query.replace(['#', ' '], ""));
    let mut builder = http::Request::get("/");
    if let Ok(parsed) = uri.parse::<http::Uri>() {
        builder = http::Request::get(parsed);
    }
    for (name, value) in [
        ("cookie", cookie),
        ("forwarded", forwarded),
        ("x-forwarded-for", forwarded),
    ] {
        if let Ok(value) = http::HeaderValue::from_bytes(value) {
            builder = builder.header(name, value);
        }
    }
    let Ok(mut request) = builder.body(()) else {
        return;
    };
    request
        .extensions_mut()
        .insert(User::new(String::from_utf8_lossy(user).into_owned()));
    for cx in [
        ExtractContext::default(),
        ExtractContext::new(TrustedProxies::Hops(2))
            .with_header(active_users::ClientIpHeader::Forwarded),
    ] {
        if let Some(entry) = DefaultEntry::from_request(&request, &cx) {
            let _ = entry.encode();
        }
    }
});
