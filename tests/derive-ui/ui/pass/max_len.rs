//! `max_len` at both ends of its range: values up to the limit are stored whole, longer text
//! is cut to it, and the decoder accepts the longest limit.
use active_users::{ActiveUserEntry, ExtractContext};

#[derive(Debug, PartialEq, ActiveUserEntry)]
struct Entry {
    #[from_header("x-user")]
    #[active_users(distinct, max_len = 4096)]
    user: String,
    #[from_header("x-name")]
    #[active_users(max_len = 32)]
    name: Option<String>,
}

fn main() {
    let fields = Entry::fields();
    assert_eq!((fields[0].max_len, fields[1].max_len), (4096, 32));
    let user = "u".repeat(4096);
    let request = active_users::http::Request::get("/")
        .header("x-user", user.as_str())
        .header("x-name", "n".repeat(40))
        .body(())
        .unwrap();
    let entry = Entry::from_request(&request, &ExtractContext::default()).unwrap();
    let back = Entry::decode(&entry.encode().unwrap()).unwrap();
    assert_eq!(back.user, user);
    assert_eq!(back.name, Some("n".repeat(32)));
}
