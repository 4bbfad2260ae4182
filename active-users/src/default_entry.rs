//! [`DefaultEntry`], the Python package's four dimensions, and [`User`], how an auth layer
//! names the user.

use crate::request::RequestHead;
use std::net::IpAddr;

/// The name of the session cookie [`DefaultEntry`] reads: Django's default, `sessionid`.
pub const SESSION_COOKIE: &str = "sessionid";

/// The logged-in user of a request, as an authentication layer inserts it into the request
/// extensions for [`DefaultEntry`] to find.
///
/// # Examples
///
/// In an auth middleware, once the user is known:
///
/// ```
/// use active_users::User;
///
/// let mut request = http::Request::get("/").body(()).unwrap();
/// request.extensions_mut().insert(User::new("42").with_name("alice"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    id: String,
    name: Option<String>,
}

impl User {
    /// A user known by its id (a primary key, a UUID, a subject claim).
    pub fn new(id: impl Into<String>) -> Self {
        User {
            id: id.into(),
            name: None,
        }
    }

    /// Adds a display name (stored as `username`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The user id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The display name, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// The Python package's entry: `user_id`, `session_id`, `ip`, `username`.
///
/// - `user_id` (required, `distinct`): the id of the [`User`] in the request extensions. A request
///   without a `User` is not recorded: only logged-in users are counted.
/// - `session_id` (`secret`): the [`SESSION_COOKIE`] cookie. A session cookie is a
///   credential, so the store keeps a keyed hash of it, never the value, and the JSON API
///   never shows it; an entry read back holds the hash (11 characters).
/// - `ip`: the client IP (`#[from_client_ip]`: the peer address unless proxies are trusted).
/// - `username`: the [`User`]'s name.
///
/// Because `user_id` is indexed, [`Tracker::count_distinct`](crate::Tracker::count_distinct)
/// gives distinct users, where the Python package counted user x session x IP combinations.
#[derive(Debug, Clone, PartialEq, Eq, Hash, crate::ActiveUserEntry)]
pub struct DefaultEntry {
    /// The user id.
    #[from_fn(user_id)]
    #[active_users(distinct)]
    pub user_id: String,
    /// The session cookie.
    #[from_cookie("sessionid")]
    #[active_users(secret)]
    pub session_id: Option<String>,
    /// The client IP.
    #[from_client_ip]
    pub ip: Option<IpAddr>,
    /// The user's display name.
    #[from_fn(username)]
    pub username: Option<String>,
}

// Borrowed from the request: recording copies them into the member without a `String`.
fn user_id<'a>(head: &RequestHead<'a>) -> Option<&'a str> {
    head.extension::<User>().map(|u| u.id.as_str())
}

fn username<'a>(head: &RequestHead<'a>) -> Option<&'a str> {
    head.extension::<User>()?.name.as_deref()
}

// The derive spells the cookie name literally; keep the constant in step with it.
const _: () = assert!(matches!(SESSION_COOKIE.as_bytes(), b"sessionid"));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ActiveUserEntry, ExtractContext, PeerAddr};

    #[test]
    fn python_failing_case_round_trips() {
        // django-active-users stores "au:{user_id}:{session_id}:{ip}:{username}"; with an IPv6
        // address and a ':' in the username, splitting on ':' gives the wrong fields.
        let entry = DefaultEntry {
            user_id: "7".into(),
            session_id: Some("s:1".into()),
            ip: Some("2001:db8::ff00:42:8329".parse().expect("ip")),
            username: Some("bob:admin".into()),
        };
        let member = entry.encode().expect("encode");
        assert_eq!(DefaultEntry::decode(&member).expect("decode"), entry);
    }

    #[test]
    fn requests_without_a_user_yield_no_entry() {
        let request = http::Request::get("/").body(()).expect("request");
        assert_eq!(
            DefaultEntry::from_request(&request, &ExtractContext::default()),
            None
        );
    }

    #[test]
    fn extracts_all_four_dimensions() {
        let mut request = http::Request::get("/")
            .header("cookie", "csrftoken=x; sessionid=abc123")
            .body(())
            .expect("request");
        request
            .extensions_mut()
            .insert(User::new("42").with_name("alice"));
        request
            .extensions_mut()
            .insert(PeerAddr("[::1]:4000".parse().expect("addr")));
        let entry =
            DefaultEntry::from_request(&request, &ExtractContext::default()).expect("entry");
        assert_eq!(
            entry,
            DefaultEntry {
                user_id: "42".into(),
                session_id: Some("abc123".into()),
                ip: Some("::1".parse().expect("ip")),
                username: Some("alice".into()),
            }
        );
        let fields = DefaultEntry::fields();
        assert!(fields[0].indexed && !fields[0].grouped && !fields[0].optional);
        assert!(fields[1].hidden);
    }
}
