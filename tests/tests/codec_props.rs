//! Properties of the member codec over arbitrary values: round trip, injectivity, bounds,
//! and no panic on arbitrary bytes or hostile request input.

use active_users::codec::DEFAULT_MAX_LEN;
use active_users::{ActiveUserEntry, DefaultEntry, ExtractContext};
use proptest::prelude::*;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, ActiveUserEntry)]
struct Wide {
    #[from_header("x-user")]
    #[active_users(index)]
    user: String,
    #[from_header("x-name")]
    name: Option<String>,
    #[from_client_ip]
    ip: Option<IpAddr>,
    #[from_header("x-n")]
    n: Option<i64>,
    #[from_header("x-u")]
    u: u32,
    #[from_header("x-flag")]
    flag: Option<bool>,
    #[from_header("x-id")]
    id: Option<uuid::Uuid>,
}

/// Strings that stress a separator-based format: separators, escapes, NUL, newlines, non-ASCII.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(":".to_owned()),
        Just("a:b".to_owned()),
        Just("\\:".to_owned()),
        Just("\0".to_owned()),
        Just("\n\r".to_owned()),
        Just("2001:db8::1".to_owned()),
        "[:\\\\\0\n ,;=%é日]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(60).collect()),
    ]
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
}

fn wide() -> impl Strategy<Value = Wide> {
    (
        nasty_string(),
        proptest::option::of(nasty_string()),
        proptest::option::of(ip()),
        proptest::option::of(any::<i64>()),
        any::<u32>(),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<u128>().prop_map(uuid::Uuid::from_u128)),
    )
        .prop_map(|(user, name, ip, n, u, flag, id)| Wide {
            user,
            name,
            ip,
            n,
            u,
            flag,
            id,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_inverts_encode(entry in wide()) {
        let member = entry.encode().expect("values are within the limit");
        prop_assert_eq!(Wide::decode(&member).expect("decodes"), entry);
    }

    #[test]
    fn different_entries_never_share_a_member(a in wide(), b in wide()) {
        let (ma, mb) = (a.encode().expect("encode"), b.encode().expect("encode"));
        prop_assert_eq!(ma == mb, a == b);
    }

    #[test]
    fn absent_and_empty_are_different(user in nasty_string()) {
        let base = DefaultEntry { user_id: user, session_id: None, ip: None, username: None };
        let empty = DefaultEntry { username: Some(String::new()), ..base.clone() };
        prop_assert_ne!(base.encode().expect("encode"), empty.encode().expect("encode"));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        // Whatever is in the store, decoding answers Ok or a typed error.
        let _ = Wide::decode(&bytes);
        let _ = DefaultEntry::decode(&bytes);
    }

    #[test]
    fn a_decoded_member_re_encodes_to_the_same_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let mut member = vec![active_users::codec::VERSION];
        member.extend(bytes);
        if let Ok(entry) = Wide::decode(&member) {
            prop_assert_eq!(entry.encode().expect("encode"), member);
        }
    }

    #[test]
    fn long_values_are_cut_never_refused(
        user in "[a-zж日😀]{0,400}",
        name in "[a-zж日😀]{0,400}",
    ) {
        let entry = DefaultEntry {
            user_id: user.clone(),
            session_id: None,
            ip: None,
            username: Some(name.clone()),
        };
        let member = entry.encode().expect("text is cut, never refused");
        prop_assert!(member.len() <= 1 + 2 * (2 + DEFAULT_MAX_LEN) + 2);
        let back = DefaultEntry::decode(&member).expect("decodes");
        let back_name = back.username.expect("the name is kept");
        if name.len() <= DEFAULT_MAX_LEN {
            prop_assert_eq!(&back_name, &name);
        } else {
            // Cut at a character boundary, as long as it fits.
            prop_assert!(name.starts_with(&back_name));
            prop_assert!(back_name.len() > DEFAULT_MAX_LEN - 4);
        }
        if user.len() <= DEFAULT_MAX_LEN {
            prop_assert_eq!(back.user_id, user);
        } else {
            // An identity keeps a prefix and a hash of the whole value.
            let (prefix, hash) = back.user_id.rsplit_once('~').expect("hash mark");
            prop_assert!(user.starts_with(prefix));
            prop_assert_eq!(hash.len(), 16);
            prop_assert!(back.user_id.len() <= DEFAULT_MAX_LEN);
        }
    }

    #[test]
    fn long_identities_that_share_a_prefix_stay_different(
        prefix in "[a-zж]{300,320}",
        a in "[a-z]{1,8}",
        b in "[a-z]{1,8}",
    ) {
        let member = |id: String| {
            DefaultEntry { user_id: id, session_id: None, ip: None, username: None }
                .encode()
                .expect("encode")
        };
        let (ma, mb) = (member(format!("{prefix}{a}")), member(format!("{prefix}{b}")));
        prop_assert_eq!(ma == mb, a == b);
    }

    #[test]
    fn hostile_request_bytes_never_panic(
        user in proptest::collection::vec(any::<u8>(), 0..400),
        cookie in proptest::collection::vec(any::<u8>(), 0..100),
        query in "[ -~]{0,80}",
        xff in "[0-9a-f.:, \\[\\]]{0,60}",
    ) {
        let mut builder = http::Request::get("/");
        if let Ok(uri) = format!("/p?{}", query.replace(['#', ' '], "")).parse::<http::Uri>() {
            builder = http::Request::get(uri);
        }
        for (name, value) in [("x-user", &user), ("cookie", &cookie), ("x-forwarded-for", &xff.as_bytes().to_vec())] {
            if let Ok(value) = http::HeaderValue::from_bytes(value) {
                builder = builder.header(name, value);
            }
        }
        let request = builder.body(()).expect("request");
        let cx = ExtractContext::new(active_users::TrustedProxies::Hops(1))
            .with_header(active_users::ClientIpHeader::XForwardedFor);
        if let Some(entry) = Wide::from_request(&request, &cx) {
            // Whatever was extracted encodes, within the field's limit.
            let member = entry.encode().expect("encodes");
            let back = Wide::decode(&member).expect("decodes");
            prop_assert!(back.user.len() <= DEFAULT_MAX_LEN);
        }
    }
}

#[test]
fn python_layout_fails_where_ours_round_trips() {
    // The Python package joins the dimensions with ':' and splits them back.
    let entry = DefaultEntry {
        user_id: "7".into(),
        session_id: Some("abc".into()),
        ip: Some("2001:db8::1".parse().expect("ip")),
        username: Some("eve:admin".into()),
    };
    let joined = format!(
        "au:{}:{}:{}:{}",
        entry.user_id,
        entry.session_id.as_deref().unwrap_or(""),
        entry.ip.map(|ip| ip.to_string()).unwrap_or_default(),
        entry.username.as_deref().unwrap_or("")
    );
    let parts: Vec<&str> = joined.split(':').collect();
    assert_ne!(parts.len(), 5, "the Python layout cannot split this back");
    let member = entry.encode().expect("encode");
    assert_eq!(DefaultEntry::decode(&member).expect("decode"), entry);
}

/// The longest username Django accepts, 150 characters, in scripts of 2, 3 and 4 bytes per
/// character: stored whole under the default limit.
#[test]
fn every_django_valid_username_is_stored_whole() {
    for ch in ['ж', '日', '𠀀'] {
        let name: String = std::iter::repeat_n(ch, 150).collect();
        let entry = DefaultEntry {
            user_id: name.clone(),
            session_id: Some("a".repeat(32)),
            ip: None,
            username: Some(name.clone()),
        };
        let back = DefaultEntry::decode(&entry.encode().expect("encode")).expect("decode");
        assert_eq!(back, entry, "{} bytes", name.len());
    }
}

#[test]
fn a_member_of_another_entry_type_does_not_decode() {
    let entry = DefaultEntry {
        user_id: "1".into(),
        session_id: None,
        ip: None,
        username: None,
    };
    let member = entry.encode().expect("encode");
    assert!(Wide::decode(&member).is_err());
}
