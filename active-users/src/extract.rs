//! Reading field values out of a request: used by the code `#[derive(ActiveUserEntry)]` writes.

use crate::client_ip::ExtractContext;
use crate::codec::bound_input;
use crate::request::RequestHead;
use crate::value::FieldValue;
use http::HeaderName;
use std::net::IpAddr;

/// Parses request text into a value, reading at most [`MAX_INPUT_LEN`](crate::codec::MAX_INPUT_LEN) bytes of it. The
/// field's own limit applies when the entry is encoded, where long text is cut, not dropped.
fn parse_bounded<T: FieldValue>(text: &str) -> Option<T> {
    T::parse(bound_input(text))
}

/// The first value of a header, if it is UTF-8 and parses.
pub fn header<T: FieldValue>(head: &RequestHead<'_>, name: &HeaderName) -> Option<T> {
    let value = head.header_named(name)?;
    let text = std::str::from_utf8(value).ok()?;
    parse_bounded(text)
}

/// The first cookie called `name` in the `Cookie` headers.
pub fn cookie<T: FieldValue>(head: &RequestHead<'_>, name: &str) -> Option<T> {
    for value in head.values_named(&http::header::COOKIE) {
        let Ok(text) = std::str::from_utf8(value) else {
            continue;
        };
        for pair in text.split(';') {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            if key.trim() != name {
                continue;
            }
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            return parse_bounded(value);
        }
    }
    None
}

/// The first query parameter called `name`, form-decoded (`%XX` and `+`).
pub fn query<T: FieldValue>(head: &RequestHead<'_>, name: &str) -> Option<T> {
    let query = head.query()?;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        // A parameter name is short; a longer one is not the one asked for.
        if key.len() > 3 * name.len() || form_decode(key).as_deref() != Some(name) {
            continue;
        }
        return parse_bounded(&form_decode(bound_input(value))?);
    }
    None
}

/// Decodes `application/x-www-form-urlencoded` text; `None` when the result is not UTF-8.
pub(crate) fn form_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| {
                    let h = std::str::from_utf8(h).ok()?;
                    u8::from_str_radix(h, 16).ok()
                });
                if let Some(decoded) = hex {
                    out.push(decoded);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A value of type `T` from the request extensions.
pub fn extension<T: Clone + Send + Sync + 'static>(head: &RequestHead<'_>) -> Option<T> {
    head.extension::<T>().cloned()
}

/// The types a `#[from_client_ip]` field may have.
#[diagnostic::on_unimplemented(
    message = "#[from_client_ip] fills a field of type `IpAddr` or `Option<IpAddr>`, not `{Self}`",
    label = "use `std::net::IpAddr` here"
)]
pub trait ClientIpValue {
    /// Converts the resolved address.
    fn from_ip(ip: IpAddr) -> Self;
}

impl ClientIpValue for IpAddr {
    fn from_ip(ip: IpAddr) -> Self {
        ip
    }
}

/// The client IP under the context's proxy policy.
pub fn client_ip<T: ClientIpValue>(head: &RequestHead<'_>, cx: &ExtractContext) -> Option<T> {
    cx.client_ip(head).map(T::from_ip)
}

/// Calls a `#[from_fn]` function; the signature is spelled out so a wrong one fails here.
pub fn call_fn<T>(f: fn(&RequestHead<'_>) -> Option<T>, head: &RequestHead<'_>) -> Option<T> {
    f(head)
}

/// The text form of a value.
pub fn text<T: FieldValue>(value: &T) -> String {
    let mut out = String::new();
    value.write_text(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::MAX_INPUT_LEN;

    fn req(uri: &str, headers: &[(&str, &[u8])]) -> http::Request<()> {
        let mut b = http::Request::get(uri);
        for (k, v) in headers {
            b = b.header(*k, http::HeaderValue::from_bytes(v).expect("header value"));
        }
        b.body(()).expect("request")
    }

    #[test]
    fn cookies_are_found_across_headers_and_quotes() {
        let r = req(
            "/",
            &[("cookie", b"a=1; b=2"), ("cookie", b"sessionid=\"abc\"")],
        );
        let head = RequestHead::from(&r);
        assert_eq!(cookie::<String>(&head, "sessionid").as_deref(), Some("abc"));
        assert_eq!(cookie::<u32>(&head, "b"), Some(2));
        assert_eq!(cookie::<String>(&head, "missing"), None);
    }

    #[test]
    fn query_values_are_form_decoded() {
        let r = req("/p?x=1&ref=a%3Ab+c&bad=%ff", &[]);
        let head = RequestHead::from(&r);
        assert_eq!(query::<String>(&head, "ref").as_deref(), Some("a:b c"));
        assert_eq!(query::<String>(&head, "bad"), None, "not UTF-8");
        assert_eq!(query::<u8>(&head, "x"), Some(1));
        assert_eq!(form_decode("%4"), Some("%4".to_owned()));
    }

    #[test]
    fn non_utf8_values_are_absent_and_long_ones_are_read_up_to_the_input_bound() {
        let long = vec![b'a'; MAX_INPUT_LEN + 10];
        let r = req("/", &[("x-a", b"\xff\xfe"), ("x-b", &long), ("x-c", b"ok")]);
        let head = RequestHead::from(&r);
        let name = |n: &'static str| HeaderName::from_static(n);
        assert_eq!(header::<String>(&head, &name("x-a")), None);
        assert_eq!(
            header::<String>(&head, &name("x-b")).map(|v| v.len()),
            Some(MAX_INPUT_LEN)
        );
        assert_eq!(header::<String>(&head, &name("x-c")).as_deref(), Some("ok"));
    }
}
