//! The names of the attributes and options the derive understands, in one place.

pub(crate) const FROM_HEADER: &str = "from_header";
pub(crate) const FROM_COOKIE: &str = "from_cookie";
pub(crate) const FROM_QUERY: &str = "from_query";
pub(crate) const FROM_EXTENSION: &str = "from_extension";
pub(crate) const FROM_CLIENT_IP: &str = "from_client_ip";
pub(crate) const FROM_FN: &str = "from_fn";
pub(crate) const ACTIVE_USERS: &str = "active_users";

pub(crate) const FLATTEN: &str = "flatten";
pub(crate) const RENAME: &str = "rename";
pub(crate) const INDEX: &str = "index";
pub(crate) const DISTINCT: &str = "distinct";
pub(crate) const HIDDEN: &str = "hidden";
pub(crate) const SECRET: &str = "secret";
pub(crate) const MAX_LEN: &str = "max_len";

/// The bounds of `max_len`: the runtime's `codec::MIN_MAX_LEN` and `codec::MAX_VALUE_LEN`
/// (the pass case `max_len.rs` stores values of both lengths).
pub(crate) const MAX_LEN_RANGE: std::ops::RangeInclusive<u64> = 32..=4096;

/// The options of `#[active_users(...)]`, for "expected one of" messages.
pub(crate) const OPTIONS_HINT: &str =
    "`flatten`, `rename = \"...\"`, `index`, `distinct`, `hidden`, `secret`, `max_len = N`";

/// Every source attribute, for "expected one of" messages.
pub(crate) const SOURCES: &[&str] = &[
    FROM_HEADER,
    FROM_COOKIE,
    FROM_QUERY,
    FROM_EXTENSION,
    FROM_CLIENT_IP,
    FROM_FN,
];
