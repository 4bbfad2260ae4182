//! The derive's output names only absolute paths: local items called `active_users`, `core`,
//! `Option` and friends next to it change nothing.
#![allow(dead_code, non_camel_case_types, missing_docs)]

mod active_users {}
mod core {}
mod http {}
struct Option;
struct Some;
struct None;
struct Result;
struct Ok;
struct Err;
struct String;
struct Vec;

#[derive(Debug, ::active_users::ActiveUserEntry)]
struct Entry {
    #[from_header("X-User")]
    user: u64,
    #[from_cookie("s")]
    session: ::core::option::Option<::std::string::String>,
    #[from_query("ref")]
    referrer: ::core::option::Option<::std::string::String>,
    #[from_extension]
    tenant: ::core::option::Option<u32>,
    #[from_client_ip]
    ip: ::core::option::Option<::std::net::IpAddr>,
}

#[test]
fn derive_uses_absolute_paths() {
    use ::active_users::ActiveUserEntry as _;
    let request = ::active_users::http::Request::get("/?ref=x")
        .header("x-user", "5")
        .body(())
        .expect("request");
    let entry =
        Entry::from_request(&request, &::active_users::ExtractContext::default()).expect("entry");
    assert_eq!(entry.user, 5);
    assert_eq!(entry.referrer.as_deref(), ::core::option::Option::Some("x"));
}
