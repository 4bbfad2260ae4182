//! The Python package's custom-entry example, in Rust: all the default dimensions plus the id
//! of the calling service, read from the `X-Service-Id` header.
//!
//! In Python this is a subclass of `ActiveUserEntry` that extends `fields` and overrides
//! `create_from_request`. Here it is a struct that embeds [`DefaultEntry`] and adds one field.
//!
//! Run it with `cargo run --example custom_entry`.

use active_users::{ActiveUserEntry, DefaultEntry, ExtractContext, PeerAddr, User};

/// What we record per visitor: the four default dimensions and the calling service.
#[derive(Debug, ActiveUserEntry)]
struct ServiceEntry {
    #[active_users(flatten)]
    base: DefaultEntry,
    #[from_header("X-Service-Id")]
    #[active_users(index)]
    service_id: Option<String>,
}

fn main() {
    let cx = ExtractContext::default();
    let requests = [
        ("42", Some("alice"), Some("billing"), "10.0.0.1:5000"),
        ("43", Some("bob:admin"), None, "[2001:db8::7]:443"),
        ("44", None, Some("search"), "192.0.2.9:1234"),
    ];
    for (id, name, service, peer) in requests {
        // What the server and the auth layer would have put into the request.
        let mut builder = active_users::http::Request::get("/dashboard")
            .header("cookie", format!("sessionid=s-{id}"));
        if let Some(service) = service {
            builder = builder.header("x-service-id", service);
        }
        let Ok(mut request) = builder.body(()) else {
            continue;
        };
        let mut user = User::new(id);
        if let Some(name) = name {
            user = user.with_name(name);
        }
        request.extensions_mut().insert(user);
        if let Ok(addr) = peer.parse() {
            request.extensions_mut().insert(PeerAddr(addr));
        }

        let Some(entry) = ServiceEntry::from_request(&request, &cx) else {
            continue;
        };
        let member = match entry.encode() {
            Ok(member) => member,
            Err(err) => {
                eprintln!("not recorded: {err}");
                continue;
            }
        };
        let shown: Vec<String> = entry
            .named_values()
            .into_iter()
            .map(|(name, value)| format!("{name}={}", value.as_deref().unwrap_or("-")))
            .collect();
        println!("{}  ({} bytes stored)", shown.join(" "), member.len());
        match ServiceEntry::decode(&member) {
            Ok(back) => assert_eq!(back.values(), entry.values()),
            Err(err) => eprintln!("could not read the member back: {err}"),
        }
    }

    // No logged-in user, no entry: anonymous requests are not recorded.
    if let Ok(anonymous) = active_users::http::Request::get("/").body(()) {
        let recorded = ServiceEntry::from_request(&anonymous, &cx).is_some();
        println!("anonymous request recorded: {recorded}");
    }
}
