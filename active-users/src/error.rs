//! The typed errors of configuration, building, stores and queries.

use std::time::Duration;

/// A configuration that cannot be used, with what is wrong in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An exclusion pattern is not a valid regular expression.
    #[error("invalid exclusion pattern {pattern:?}: {source}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// What the regex parser said.
        #[source]
        source: Box<regex::Error>,
    },
    /// A duration setting is zero or out of range.
    #[error("{setting} must be {expected}, got {got:?}")]
    InvalidDuration {
        /// The setting's name.
        setting: &'static str,
        /// The rule it breaks.
        expected: &'static str,
        /// The value given.
        got: Duration,
    },
    /// A count setting (buffer capacity, batch size) is zero.
    #[error("{setting} must be at least 1")]
    ZeroCount {
        /// The setting's name.
        setting: &'static str,
    },
    /// The number of shards is outside 1 to 1024.
    #[error("shards must be from 1 to 1024, got {0}")]
    InvalidShards(usize),
    /// The key prefix or namespace contains characters that would break key names.
    #[error("invalid {setting} {value:?}: use 1 to 64 of A-Z a-z 0-9 _ - . (no braces or colons)")]
    InvalidName {
        /// `key prefix` or `namespace`.
        setting: &'static str,
        /// The value given.
        value: String,
    },
    /// Proxies are trusted, but the header they write the client into is not named.
    #[error(
        "trusted_proxies is set but client_ip_header is not: name the one header your proxies write the client into (X-Forwarded-For, Forwarded, X-Real-IP, CF-Connecting-IP, ...; env ACTIVE_USERS_CLIENT_IP_HEADER)"
    )]
    NoClientIpHeader,
    /// The configured secret key is shorter than 16 bytes.
    #[error(
        "secret_key must be at least 16 bytes (32 random hex digits will do), got {0}; env ACTIVE_USERS_SECRET_KEY"
    )]
    SecretKeyTooShort(usize),
    /// `max_entries_per_user` is over 1,000.
    #[error("max_entries_per_user must be from 0 (no cap) to 1000, got {0}")]
    InvalidEntriesPerUser(usize),
    /// `max_entry_len` is outside 64 bytes to 64 KiB.
    #[error("max_entry_len must be from 64 to 65536 bytes, got {0}")]
    InvalidEntryLen(usize),
    /// An environment variable holds a value that cannot be read.
    #[error("environment variable {var}={value:?} is invalid: {reason}")]
    InvalidEnv {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        reason: String,
    },
}

/// Why a tracker could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The tracker's background writer needs a Tokio runtime.
    #[error("a Tracker must be built inside a Tokio runtime (its writer runs as a task)")]
    NoRuntime,
    /// Two fields of the entry type have the same name (through `flatten`).
    #[error(
        "the entry type has two fields named `{0}`; rename one with #[active_users(rename = \"...\")]"
    )]
    DuplicateField(&'static str),
    /// A field marked `#[active_users(secret)]` has a type whose stored form is not text, so
    /// its keyed hash (text) could not be read back as its type.
    #[error(
        "field `{0}` is #[active_users(secret)] but its type is not stored as text; make it a String"
    )]
    SecretNotText(&'static str),
    /// The runtime of a [`BlockingTracker`](crate::BlockingTracker) could not start.
    #[error("cannot start the tracker's runtime: {0}")]
    Runtime(String),
    /// The store of a [`BlockingTracker`](crate::BlockingTracker) could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[source] StoreError),
}

/// A store operation that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The Redis client reported an error (connection refused, timeout, server error).
    #[cfg(feature = "redis")]
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The store answered something this version does not understand.
    #[error("unexpected reply from the store: {0}")]
    UnexpectedReply(&'static str),
    /// The store must be created inside a Tokio runtime.
    #[error("the store must be created inside a Tokio runtime")]
    NoRuntime,
    /// A write did not finish within the timeout (the tracker's query timeout).
    #[error("the store did not finish a write within {0:?}")]
    Timeout(Duration),
    /// The store does not implement this operation (a custom [`Store`](crate::store::Store)
    /// that leaves a default method as it is).
    #[error("this store does not implement {0}")]
    Unsupported(&'static str),
}

/// A query that could not be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store did not answer within the configured query timeout.
    #[error("the store did not answer within {0:?}")]
    Timeout(Duration),
    /// The entry type has no field of that name.
    #[error("the entry has no field named `{0}`")]
    UnknownField(String),
    /// The field is not marked `#[active_users(index)]`, so its values are not indexed.
    #[error("field `{0}` is not indexed; mark it #[active_users(index)] to count its values")]
    NotIndexed(String),
    /// The field is indexed with `distinct`, which keeps distinct values but not the entries
    /// per value.
    #[error(
        "field `{0}` keeps distinct values only; mark it #[active_users(index)] to count per value"
    )]
    NotGrouped(String),
    /// Presence was asked for, but it is off in this tracker's configuration.
    #[error(
        "presence is off; turn it on with Config::builder().presence(true) (or ACTIVE_USERS_PRESENCE=1) in every application server of the namespace"
    )]
    PresenceOff,
    /// A window longer than the configured one was asked for; older data is not kept.
    #[error("a window of {asked:?} was asked for, but entries are kept for {kept:?} only")]
    WindowTooLong {
        /// The window asked for.
        asked: Duration,
        /// The configured window.
        kept: Duration,
    },
    /// The entry could not be encoded (a value is too long), so it cannot be looked up.
    #[error(transparent)]
    Encode(#[from] crate::EncodeError),
    /// The cursor belongs to another shard layout.
    #[error(transparent)]
    Cursor(#[from] CursorError),
    /// History is turned off ([`ConfigBuilder::history`](crate::ConfigBuilder::history) is zero).
    #[error(
        "history is turned off; set ConfigBuilder::history (or ACTIVE_USERS_HISTORY) to keep it"
    )]
    HistoryOff,
    /// A span longer than the kept history was asked for.
    #[error("a span of {asked:?} was asked for, but history is kept for {kept:?} only")]
    SpanTooLong {
        /// The span asked for.
        asked: Duration,
        /// The configured history.
        kept: Duration,
    },
    /// No tracker has written this namespace to this store (or not within its history span):
    /// a [`Reader`](crate::Reader) has nothing to read.
    #[error(
        "no tracker has written namespace `{namespace}` here (key `{key}` is missing): check the namespace and key prefix (ACTIVE_USERS_NAMESPACE, ACTIVE_USERS_KEY_PREFIX) and that the application runs against this Redis"
    )]
    UnknownNamespace {
        /// The namespace asked for.
        namespace: String,
        /// The key that was looked for.
        key: String,
    },
    /// The namespace's stored description does not read (written by an incompatible version).
    #[error("the stored description of namespace `{namespace}` does not read: {reason}")]
    Schema {
        /// The namespace.
        namespace: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A page cursor that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor {0:?}: pass back the `next` cursor of a previous page")]
pub struct CursorError(pub(crate) String);
