//! Who may read the API.

use crate::RequestHead;
use std::fmt;
use std::sync::Arc;

/// The access rule of an API.
#[derive(Clone, Default)]
pub(crate) enum Access {
    /// Nobody: the API was not told who may read it.
    #[default]
    Closed,
    /// Everybody.
    Public,
    /// Requests with `Authorization: Bearer <token>`.
    Bearer(Arc<[u8]>),
    /// Requests the application's rule accepts.
    Rule(Arc<dyn Fn(&RequestHead<'_>) -> bool + Send + Sync>),
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Closed => "Closed",
            Access::Public => "Public",
            Access::Bearer(_) => "Bearer(..)",
            Access::Rule(_) => "Rule(..)",
        })
    }
}

/// The cookie the dashboard's sign-in page stores the bearer token in (scoped to the API's
/// path, `SameSite=Strict`).
pub(crate) const TOKEN_COOKIE: &str = "active_users_token";

impl Access {
    /// Whether a browser can sign in by typing the token (a bearer-token API).
    pub(crate) fn takes_token(&self) -> bool {
        matches!(self, Access::Bearer(_))
    }

    pub(crate) fn allows(&self, head: &RequestHead<'_>) -> bool {
        match self {
            Access::Closed => false,
            Access::Public => true,
            Access::Bearer(expected) => {
                // The header, or the cookie the dashboard's sign-in page sets.
                let from_cookie: Option<String> =
                    crate::extract::cookie::<String>(head, TOKEN_COOKIE)
                        .and_then(|v| crate::extract::form_decode(&v));
                let presented = head
                    .header_named(&http::header::AUTHORIZATION)
                    .and_then(bearer_token)
                    .or(from_cookie.as_deref().map(str::as_bytes));
                // Compare even when there is no token, so that both paths cost the same.
                let matches = constant_time_eq(expected, presented.unwrap_or(b""));
                matches && presented.is_some_and(|p| !p.is_empty())
            }
            Access::Rule(rule) => rule(head),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header value.
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let token = rest.strip_prefix(b" ")?.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Whether `presented` equals `expected`, in a time that depends on the length of `expected`
/// only, never on where the first difference is.
pub(crate) fn constant_time_eq(expected: &[u8], presented: &[u8]) -> bool {
    let mut diff = expected.len() ^ presented.len();
    for (i, byte) in expected.iter().enumerate() {
        let other = presented.get(i).copied().unwrap_or(0);
        diff |= usize::from(byte ^ other);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
        // A length difference that is a multiple of 256 still counts.
        assert!(!constant_time_eq(&[0; 256], &[]));
    }

    #[test]
    fn bearer_tokens_are_parsed_strictly() {
        assert_eq!(bearer_token(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"bearer   abc "), Some(&b"abc"[..]));
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bearer"), None);
        assert_eq!(bearer_token(b"Bearer "), None);
        assert_eq!(bearer_token(b"Bearerabc"), None);
    }
}
