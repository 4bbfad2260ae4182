//! Reading field values out of a request: used by the code `#[derive(ActiveUserEntry)]` writes.

use crate::client_ip::ExtractContext;
use crate::codec::{Encoder, bound_input};
use crate::request::RequestHead;
use crate::value::FieldValue;
use http::HeaderName;
use std::borrow::Cow;
use std::net::IpAddr;

/// Parses request text into a value, reading at most [`MAX_INPUT_LEN`](crate::codec::MAX_INPUT_LEN) bytes of it. The
/// field's own limit applies when the entry is encoded, where long text is cut, not dropped.
fn parse_bounded<T: FieldValue>(text: &str) -> Option<T> {
    T::parse(bound_input(text))
}

/// The first value of a header, if it is UTF-8 and parses.
pub fn header<T: FieldValue>(head: &RequestHead<'_>, name: &HeaderName) -> Option<T> {
    parse_bounded(header_text(head, name)?)
}

/// The text of the first value of a header, if it is UTF-8.
pub fn header_text<'a>(head: &RequestHead<'a>, name: &HeaderName) -> Option<&'a str> {
    std::str::from_utf8(head.header_named(name)?).ok()
}

/// The first cookie called `name` in the `Cookie` headers.
pub fn cookie<T: FieldValue>(head: &RequestHead<'_>, name: &str) -> Option<T> {
    parse_bounded(cookie_text(head, name)?)
}

/// The text of the first cookie called `name` in the `Cookie` headers, without its quotes.
pub fn cookie_text<'a>(head: &RequestHead<'a>, name: &str) -> Option<&'a str> {
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
            return Some(
                value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value),
            );
        }
    }
    None
}

/// The first query parameter called `name`, form-decoded (`%XX` and `+`).
pub fn query<T: FieldValue>(head: &RequestHead<'_>, name: &str) -> Option<T> {
    parse_bounded(&query_text(head, name)?)
}

/// The text of the first query parameter called `name`, form-decoded (`%XX` and `+`) from at
/// most [`MAX_INPUT_LEN`](crate::codec::MAX_INPUT_LEN) bytes; `None` when it is absent or
/// decodes to something that is not UTF-8. Borrowed when there is nothing to decode.
pub fn query_text<'a>(head: &RequestHead<'a>, name: &str) -> Option<Cow<'a, str>> {
    let query = head.query()?;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        // A parameter name is short; a longer one is not the one asked for.
        if key.len() > 3 * name.len() || form_decode(key).as_deref() != Some(name) {
            continue;
        }
        let value = bound_input(value);
        if !value.contains(['%', '+']) {
            return Some(Cow::Borrowed(value));
        }
        return form_decode(value).map(Cow::Owned);
    }
    None
}

/// Writes a text source's value (`None`: absent) for a field of type `T`: what the derive's
/// [`encode_request`](crate::ActiveUserEntry::encode_request) does with a header, cookie or
/// query value. `None` when a required field has no value that parses.
pub fn put_text<T: FieldValue>(
    enc: &mut Encoder<'_>,
    text: Option<&str>,
    optional: bool,
) -> Option<()> {
    match text {
        // An optional field whose text does not parse is written absent by `put_parsed`.
        Some(text) => (enc.put_parsed::<T>(bound_input(text), optional) || optional).then_some(()),
        None if optional => {
            enc.put_absent();
            Some(())
        }
        None => None,
    }
}

/// Writes a value (`None`: absent) for a field of type `T`; `None` when a required field
/// has none.
pub fn put_value<T: FieldValue>(
    enc: &mut Encoder<'_>,
    value: Option<&T>,
    optional: bool,
) -> Option<()> {
    match value {
        Some(value) => enc.put_value(value, optional),
        None if optional => enc.put_absent(),
        None => return None,
    }
    Some(())
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

/// A value of type `T` in the request extensions, borrowed.
pub fn extension_ref<'a, T: Send + Sync + 'static>(head: &RequestHead<'a>) -> Option<&'a T> {
    head.extension::<T>()
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

/// What a `#[from_fn]` function may return (in an `Option`) for a field whose value type is
/// `T`: a `T`, or, for a `String` field, a `&str` borrowed from the request, which recording
/// copies straight into the member (no `String` is made unless the entry itself is built).
#[diagnostic::on_unimplemented(
    message = "a #[from_fn] function for a `{T}` field returns `Option<{T}>`, not `Option<{Self}>`",
    label = "the function's return type",
    note = "a function for a `String` field may also return `Option<&str>` borrowed from the request"
)]
pub trait FnValue<T> {
    /// The field's value.
    fn into_value(self) -> T;
    /// Writes the value with `enc`.
    fn put(&self, enc: &mut Encoder<'_>, optional: bool);
}

impl<T: FieldValue> FnValue<T> for T {
    fn into_value(self) -> T {
        self
    }
    fn put(&self, enc: &mut Encoder<'_>, optional: bool) {
        enc.put_value(self, optional);
    }
}

impl FnValue<String> for &str {
    fn into_value(self) -> String {
        self.to_owned()
    }
    fn put(&self, enc: &mut Encoder<'_>, optional: bool) {
        // `String` reads any text: this writes what `put` of the `String` would.
        let parsed = enc.put_parsed::<String>(self, optional);
        debug_assert!(parsed, "a String parses from any text");
    }
}

/// Calls a `#[from_fn]` function; the signature is spelled out so a wrong one fails here.
pub fn call_fn<'a, T, R: FnValue<T>>(
    f: fn(&RequestHead<'a>) -> Option<R>,
    head: &RequestHead<'a>,
) -> Option<R> {
    f(head)
}

/// Calls a `#[from_fn]` function for the field's value.
pub fn call_fn_value<'a, T, R: FnValue<T>>(
    f: fn(&RequestHead<'a>) -> Option<R>,
    head: &RequestHead<'a>,
) -> Option<T> {
    f(head).map(FnValue::into_value)
}

/// Writes what a `#[from_fn]` function returned (`None`: absent); `None` when a required
/// field has no value.
pub fn put_fn<T, R: FnValue<T>>(
    enc: &mut Encoder<'_>,
    value: Option<R>,
    optional: bool,
) -> Option<()> {
    match value {
        Some(value) => value.put(enc, optional),
        None if optional => enc.put_absent(),
        None => return None,
    }
    Some(())
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
    use proptest::prelude::*;

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

    /// An entry with every kind of source, required and optional fields, several types, a
    /// short limit (so values are cut), a secret and an identity, and an embedded entry.
    #[derive(Debug, crate::ActiveUserEntry)]
    struct EverySource {
        #[active_users(flatten)]
        base: crate::DefaultEntry,
        #[from_header("X-Tenant")]
        #[active_users(index, max_len = 32)]
        tenant: String,
        #[from_header("x-n")]
        n: Option<u64>,
        #[from_header("x-flag")]
        flag: Option<bool>,
        #[from_header("x-addr")]
        addr: Option<IpAddr>,
        #[from_cookie("pref")]
        #[active_users(max_len = 32)]
        pref: Option<String>,
        #[from_cookie("token")]
        #[active_users(secret)]
        token: Option<String>,
        #[from_query("ref")]
        #[active_users(max_len = 40)]
        referrer: Option<String>,
        #[from_query("page")]
        page: Option<u32>,
        #[from_extension]
        plan: Option<String>,
        #[from_fn(path_len)]
        path_len: Option<u64>,
    }

    fn path_len(head: &RequestHead<'_>) -> Option<u64> {
        Some(head.path().len() as u64)
    }

    /// Header, cookie and query text as a visitor may send it: empty, quoted, percent
    /// escapes (valid, invalid, not UTF-8), `+`, separators, non-ASCII, long, not UTF-8.
    fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(
                prop::sample::select(&b"ab1 %+=;\"\xff\xd0\x96,&2fFE"[..]),
                0..12
            ),
            Just(b"\"quoted\"".to_vec()),
            Just("\u{416}".repeat(40).into_bytes()),
            Just(b"42".to_vec()),
            Just(b"true".to_vec()),
            Just(b"2001:db8::1".to_vec()),
            (0..3000usize).prop_map(|n| vec![b'x'; n]),
        ]
    }

    proptest::proptest! {
        /// Recording a request writes the member that extracting its entry and encoding it
        /// gives, byte for byte, with the same values cut; and finds no entry exactly when
        /// extraction does not.
        #[test]
        fn encode_request_is_extract_then_encode(
            user in proptest::option::of("[a-z0-9]{0,20}"),
            name in proptest::option::of("\\PC{0,80}"),
            tenant in proptest::option::of(hostile_bytes()),
            n in hostile_bytes(),
            flag in hostile_bytes(),
            addr in hostile_bytes(),
            cookies in proptest::collection::vec(hostile_bytes(), 0..3),
            names in proptest::collection::vec(
                prop::sample::select(&["pref", "token", "sessionid", " pref", "x"][..]), 3),
            query in proptest::option::of(hostile_bytes()),
            plan in proptest::option::of("\\PC{0,50}"),
        ) {
            use crate::ActiveUserEntry;
            let uri = match &query {
                // Query text as it may come, made valid for a URI by escaping what is not.
                Some(q) => {
                    let q: String = q.iter().map(|&b| match b {
                        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'%' | b'+' | b'=' | b'&' => {
                            (b as char).to_string()
                        }
                        b => format!("%{b:02X}"),
                    }).collect();
                    format!("/p?page=7&ref={q}&ref=second")
                }
                None => "/p".to_owned(),
            };
            let Ok(mut builder) = http::Request::get(&uri).body(()).map(|r| r.into_parts().0) else {
                return Ok(());
            };
            let mut put = |name: &'static str, value: &[u8]| {
                if let Ok(v) = http::HeaderValue::from_bytes(value) {
                    builder.headers.append(name, v);
                }
            };
            if let Some(t) = &tenant {
                put("x-tenant", t);
            }
            put("x-n", &n);
            put("x-flag", &flag);
            put("x-addr", &addr);
            for (value, name) in cookies.iter().zip(&names) {
                let mut c = name.as_bytes().to_vec();
                c.push(b'=');
                c.extend_from_slice(value);
                put("cookie", &c);
            }
            if let Some(user) = &user {
                let mut u = crate::User::new(user.clone());
                if let Some(name) = &name {
                    u = u.with_name(name.clone());
                }
                builder.extensions.insert(u);
            }
            if let Some(plan) = plan {
                builder.extensions.insert(plan);
            }
            builder.extensions.insert(crate::PeerAddr("10.1.2.3:4".parse().unwrap()));
            let head = RequestHead::from(&builder);
            let cx = ExtractContext::default();

            let mut direct = Vec::new();
            let mut enc = Encoder::new(&mut direct, EverySource::fields());
            let direct_cut = EverySource::encode_request(&head, &cx, &mut enc).map(|()| enc.finish());
            let built = EverySource::extract(&head, &cx).map(|entry| {
                let mut member = Vec::new();
                let cut = crate::entry::encode_counting_cuts(&entry, &mut member);
                (cut, member)
            });
            match (direct_cut, built) {
                (None, None) => {}
                (Some(cut), Some((built_cut, member))) => {
                    prop_assert_eq!(cut, built_cut);
                    prop_assert_eq!(direct, member);
                }
                (direct, built) => {
                    prop_assert!(false, "direct {:?}, built {:?}", direct, built.map(|b| b.0));
                }
            }
        }
    }
}
