//! What the criterion benches and the benchmark program share: the realistic request and the
//! synthetic visitors.

use active_users::{DefaultEntry, PeerAddr, User};
use std::net::{IpAddr, Ipv4Addr};

/// A browser-like request of a logged-in user: 10 headers (one of them the cookies), 3
/// cookies, the peer address and the [`User`] an auth layer would have inserted.
pub fn realistic_request(user: u64) -> http::Request<()> {
    let cookies = format!(
        "csrftoken=Yk3pX9vB2mQ8rT5wZ1aC4dF7gH0jK6lN; sessionid={}; theme=dark",
        session_id(user)
    );
    let request = http::Request::get("/shop/cart?ref=newsletter&page=2")
        .header("host", "shop.example.com")
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        )
        .header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
        .header("accept-language", "en-GB,en;q=0.5")
        .header("accept-encoding", "gzip, deflate, br")
        .header("referer", "https://shop.example.com/shop")
        .header("cookie", cookies)
        .header("x-user-id", user.to_string())
        .header("x-service-id", "checkout")
        .header("x-request-id", "67e55044-10b1-426f-9247-bb680e5fe0c8")
        .body(());
    // The builder only fails on invalid header values, and these are all valid.
    let mut request = request.unwrap_or_default();
    request
        .extensions_mut()
        .insert(User::new(user_id(user)).with_name(username(user)));
    request
        .extensions_mut()
        .insert(PeerAddr(std::net::SocketAddr::new(ip(user), 52_100)));
    request
}

/// The user id of visitor `i` (six digits, like a database key).
pub fn user_id(i: u64) -> String {
    (100_000 + i).to_string()
}

/// Django's session ids: 32 characters of `[a-z0-9]`.
pub fn session_id(i: u64) -> String {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..32)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[(x % 36) as usize])
        })
        .collect()
}

/// The IPv4 address of visitor `i`.
pub fn ip(i: u64) -> IpAddr {
    let b = (i as u32).to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(10, b[1], b[2], b[3]))
}

/// The display name of visitor `i`.
pub fn username(i: u64) -> String {
    format!("user{i}")
}

/// Visitor `i` as [`DefaultEntry`].
pub fn entry(i: u64) -> DefaultEntry {
    DefaultEntry {
        user_id: user_id(i),
        session_id: Some(session_id(i)),
        ip: Some(ip(i)),
        username: Some(username(i)),
    }
}

/// Visitor `i` as the Python package stores it: `au:{user_id}:{session_id}:{ip}:{username}`.
pub fn python_key(i: u64) -> String {
    format!(
        "au:{}:{}:{}:{}",
        user_id(i),
        session_id(i),
        ip(i),
        username(i)
    )
}
