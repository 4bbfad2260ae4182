// Generated code must use absolute paths only: none of these local items may be picked up.
#![allow(dead_code, non_camel_case_types)]

mod active_users {}
mod core {}
mod std {}
mod http {}
struct Option;
struct Some;
struct None;
struct Result;
struct Ok;
struct Err;
struct String;
struct Vec;
type OnceLock = ();

fn header_user(_: &::active_users::RequestHead<'_>) -> ::core::option::Option<u64> {
    ::core::option::Option::Some(1)
}

#[derive(::active_users::ActiveUserEntry)]
struct Entry {
    #[from_fn(header_user)]
    user: u64,
    #[from_header("x-a")]
    a: ::core::option::Option<::std::string::String>,
    #[from_client_ip]
    ip: ::core::option::Option<::std::net::IpAddr>,
    #[active_users(flatten)]
    base: ::active_users::DefaultEntry,
}

fn main() {}
