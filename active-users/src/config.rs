//! [`Config`]: how long a visitor stays active, what is not recorded, where keys live.

use crate::client_ip::{ClientIpHeader, IpAnonymization, IpNetwork, TrustedProxies};
use crate::error::ConfigError;
use crate::secret::SecretKey;
use regex::{Regex, RegexSet};
use std::time::Duration;

/// The settings of a [`Tracker`](crate::Tracker).
///
/// Build one with [`Config::builder`], or read the Python package's settings from the
/// environment with [`Config::from_env`]. Every setting has a default; see the builder's methods.
///
/// # Examples
///
/// ```
/// use active_users::Config;
/// use std::time::Duration;
///
/// let config = Config::builder()
///     .key_expire(Duration::from_secs(60))
///     .exclude_url_patterns(["^/static/", "^/health$"])
///     .namespace("shop")
///     .build()?;
/// assert!(config.is_excluded("/static/app.js"));
/// assert!(!config.is_excluded("/cart"));
/// # Ok::<(), active_users::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) window: Duration,
    pub(crate) refresh_interval: Duration,
    pub(crate) history: Duration,
    pub(crate) flush_interval: Duration,
    pub(crate) exclude: RegexSet,
    pub(crate) exclude_agents: RegexSet,
    pub(crate) anonymization: IpAnonymization,
    pub(crate) key_prefix: String,
    pub(crate) namespace: String,
    pub(crate) buffer_capacity: usize,
    pub(crate) batch_size: usize,
    pub(crate) trusted_proxies: TrustedProxies,
    pub(crate) client_ip_header: Option<ClientIpHeader>,
    pub(crate) query_timeout: Duration,
    pub(crate) shards: usize,
    pub(crate) secret_key: Option<SecretKey>,
    pub(crate) max_entries_per_user: usize,
    pub(crate) max_entry_len: usize,
    pub(crate) max_active_entries: u64,
    pub(crate) presence: bool,
}

impl Default for Config {
    fn default() -> Self {
        ConfigBuilder::default().unchecked()
    }
}

/// Builds a [`Config`]; [`build`](ConfigBuilder::build) checks every setting.
#[derive(Debug, Clone)]
#[must_use]
pub struct ConfigBuilder {
    window: Duration,
    refresh_interval: Option<Duration>,
    history: Duration,
    flush_interval: Duration,
    exclude: Vec<String>,
    exclude_agents: Vec<String>,
    anonymization: IpAnonymization,
    key_prefix: String,
    namespace: String,
    buffer_capacity: usize,
    batch_size: usize,
    trusted_proxies: TrustedProxies,
    client_ip_header: Option<ClientIpHeader>,
    query_timeout: Duration,
    shards: usize,
    /// The key derived from the configured secret, and the secret's length.
    secret_key: Option<(SecretKey, usize)>,
    max_entries_per_user: usize,
    max_entry_len: usize,
    max_active_entries: u64,
    presence: bool,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        ConfigBuilder {
            window: Duration::from_secs(20),
            refresh_interval: None,
            history: DEFAULT_HISTORY,
            flush_interval: Duration::from_millis(200),
            exclude: Vec::new(),
            exclude_agents: Vec::new(),
            anonymization: IpAnonymization::None,
            key_prefix: "au".to_owned(),
            namespace: "default".to_owned(),
            buffer_capacity: 100_000,
            batch_size: 1000,
            trusted_proxies: TrustedProxies::None,
            client_ip_header: None,
            query_timeout: Duration::from_secs(3),
            shards: 1,
            secret_key: None,
            max_entries_per_user: DEFAULT_MAX_ENTRIES_PER_USER,
            max_entry_len: DEFAULT_MAX_ENTRY_LEN,
            max_active_entries: DEFAULT_MAX_ACTIVE_ENTRIES,
            presence: false,
        }
    }
}

/// How many entries one user may have at once by default
/// ([`ConfigBuilder::max_entries_per_user`]).
pub const DEFAULT_MAX_ENTRIES_PER_USER: usize = 64;

/// The most bytes one entry may take by default, all fields together
/// ([`ConfigBuilder::max_entry_len`]).
pub const DEFAULT_MAX_ENTRY_LEN: usize = 2048;

/// How many entries a namespace holds at most by default
/// ([`ConfigBuilder::max_active_entries`]).
pub const DEFAULT_MAX_ACTIVE_ENTRIES: u64 = 1_000_000;

/// The default span of history: one day.
pub const DEFAULT_HISTORY: Duration = Duration::from_secs(24 * 3600);

/// The longest span of history.
pub(crate) const MAX_HISTORY: Duration = Duration::from_secs(400 * 24 * 3600);

/// The longest window (`key_expire`): a week.
pub(crate) const MAX_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// The user agents [`ConfigBuilder::exclude_bots`] excludes (regexes, matched anywhere, case
/// ignored): search engine and social crawlers, command-line and library HTTP clients, load
/// balancer and orchestrator health checks, uptime monitors.
pub const BOT_USER_AGENTS: &[&str] = &[
    "bot\\b",
    "crawl",
    "spider",
    "slurp",
    "facebookexternalhit",
    "^curl/",
    "^wget/",
    "python-requests",
    "go-http-client",
    "kube-probe",
    "elb-healthchecker",
    "googlehc",
    "pingdom",
    "uptimerobot",
    "health.?check",
];

/// The names of the environment variables [`Config::from_env`] reads.
pub mod env {
    /// Seconds a visitor stays active after the last request (Python: `ACTIVE_USERS_KEY_EXPIRE`).
    pub const KEY_EXPIRE: &str = "ACTIVE_USERS_KEY_EXPIRE";
    /// Regexes of paths not to record (Python: `ACTIVE_USERS_EXCLUDE_URL_PATTERNS`): a JSON
    /// array of strings, or patterns separated by whitespace.
    pub const EXCLUDE_URL_PATTERNS: &str = "ACTIVE_USERS_EXCLUDE_URL_PATTERNS";
    /// The key prefix (default `au`).
    pub const KEY_PREFIX: &str = "ACTIVE_USERS_KEY_PREFIX";
    /// The namespace (default `default`).
    pub const NAMESPACE: &str = "ACTIVE_USERS_NAMESPACE";
    /// Trusted proxies: a number of hops, or networks separated by commas.
    pub const TRUSTED_PROXIES: &str = "ACTIVE_USERS_TRUSTED_PROXIES";
    /// The one header the trusted proxies write the client into: `X-Forwarded-For`,
    /// `Forwarded`, `X-Real-IP`, `CF-Connecting-IP`, `True-Client-IP`, or another header name
    /// holding one address.
    pub const CLIENT_IP_HEADER: &str = "ACTIVE_USERS_CLIENT_IP_HEADER";
    /// The number of shards of the namespace (default 1).
    pub const SHARDS: &str = "ACTIVE_USERS_SHARDS";
    /// Seconds of history kept: the per-minute active counts and the hourly unique-visitor
    /// sketches (default 86400, one day; 0 turns history off).
    pub const HISTORY: &str = "ACTIVE_USERS_HISTORY";
    /// The secret the keyed hash of `#[active_users(secret)]` fields is derived from (at
    /// least 16 bytes; unset: a key generated once per namespace and kept in the store).
    pub const SECRET_KEY: &str = "ACTIVE_USERS_SECRET_KEY";
    /// The most active entries of the namespace (default 1,000,000; 0: no cap).
    pub const MAX_ACTIVE_ENTRIES: &str = "ACTIVE_USERS_MAX_ACTIVE_ENTRIES";
    /// The most entries (sessions) one user may have at once (default 64; 0: no cap).
    pub const MAX_ENTRIES_PER_USER: &str = "ACTIVE_USERS_MAX_ENTRIES_PER_USER";
    /// `1` turns presence on, `0` off (see [`ConfigBuilder::presence`](crate::ConfigBuilder::presence)).
    pub const PRESENCE: &str = "ACTIVE_USERS_PRESENCE";
}

impl Config {
    /// A builder with every default.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// Reads the settings from the environment (names in [`env`](mod@crate::env)), with defaults for the
    /// variables that are not set.
    ///
    /// # Errors
    /// [`ConfigError::InvalidEnv`] for a value that cannot be read, and the errors of
    /// [`ConfigBuilder::build`].
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Config::from_env), reading variables through `lookup`.
    ///
    /// # Errors
    /// As [`from_env`](Config::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Config::builder().with_lookup(lookup)?.build()
    }

    /// How much history is kept (`Duration::ZERO`: none).
    pub fn history(&self) -> Duration {
        self.history
    }

    /// How long a visitor stays active after its last request.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// How long a recorded entry is not written again (coalescing).
    pub fn refresh_interval(&self) -> Duration {
        self.refresh_interval
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The number of shards of the namespace.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Whether presence is on ([`ConfigBuilder::presence`]).
    pub fn presence(&self) -> bool {
        self.presence
    }

    /// The trusted-proxy policy.
    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.trusted_proxies
    }

    /// The header the trusted proxies write the client into, if proxies are trusted.
    pub fn client_ip_header(&self) -> Option<&ClientIpHeader> {
        self.client_ip_header.as_ref()
    }

    /// Whether requests to `path` are not recorded: a pattern that matches anywhere in the
    /// path excludes it, as Python's `re.search` does in the Python package (write `^` to
    /// anchor a pattern at the start).
    pub fn is_excluded(&self, path: &str) -> bool {
        // An empty set matches nothing, but asking it still takes a matcher from the set's
        // shared pool, which threads contend for.
        !self.exclude.is_empty() && self.exclude.is_match(path)
    }

    /// Whether requests with this `User-Agent` are not recorded.
    pub fn is_excluded_agent(&self, user_agent: &str) -> bool {
        self.exclude_agents.is_match(user_agent)
    }

    /// Whether any user-agent pattern is set.
    pub(crate) fn excludes_agents(&self) -> bool {
        !self.exclude_agents.is_empty()
    }

    /// How client IPs are stored.
    pub fn ip_anonymization(&self) -> IpAnonymization {
        self.anonymization
    }
}

fn invalid_env(var: &'static str, value: &str, reason: &str) -> ConfigError {
    ConfigError::InvalidEnv {
        var,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

fn parse_patterns(value: &str) -> Result<Vec<String>, ConfigError> {
    let trimmed = value.trim();
    if trimmed.starts_with('[') {
        serde_json::from_str::<Vec<String>>(trimmed).map_err(|e| {
            invalid_env(
                env::EXCLUDE_URL_PATTERNS,
                value,
                &format!("not a JSON array of strings ({e})"),
            )
        })
    } else {
        Ok(trimmed.split_whitespace().map(str::to_owned).collect())
    }
}

fn parse_trusted(value: &str) -> Result<TrustedProxies, ConfigError> {
    let value_t = value.trim();
    if value_t.is_empty() || value_t == "0" {
        return Ok(TrustedProxies::None);
    }
    if let Ok(hops) = value_t.parse::<u8>() {
        return Ok(TrustedProxies::Hops(hops));
    }
    let nets = value_t
        .split(',')
        .map(|n| n.trim().parse::<IpNetwork>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid_env(env::TRUSTED_PROXIES, value, &e.to_string()))?;
    Ok(TrustedProxies::Networks(nets))
}

pub(crate) fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl ConfigBuilder {
    /// Applies the environment variables that are set (names in [`env`](mod@crate::env)) over
    /// the settings made so far: the application's defaults in code, the operator's overrides
    /// in the environment.
    ///
    /// ```
    /// use active_users::Config;
    ///
    /// let config = Config::builder()
    ///     .namespace("shop")                 // unless ACTIVE_USERS_NAMESPACE says otherwise
    ///     .exclude_url_patterns(["^/static/"])
    ///     .with_env()?
    ///     .build()?;
    /// # Ok::<(), active_users::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError::InvalidEnv`] naming the variable whose value cannot be read.
    pub fn with_env(self) -> Result<Self, ConfigError> {
        self.with_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`with_env`](ConfigBuilder::with_env), reading variables through `lookup`.
    ///
    /// # Errors
    /// As [`with_env`](ConfigBuilder::with_env).
    pub fn with_lookup(
        mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        // A whole number from a variable, or the error that names it.
        let number = |var: &'static str, expected: &str| -> Result<Option<u64>, ConfigError> {
            lookup(var)
                .map(|value| {
                    value
                        .trim()
                        .parse()
                        .map_err(|_| invalid_env(var, &value, expected))
                })
                .transpose()
        };
        let seconds = "a whole number of seconds";
        if let Some(secs) = number(env::KEY_EXPIRE, seconds)? {
            self = self.key_expire(Duration::from_secs(secs));
        }
        if let Some(value) = lookup(env::EXCLUDE_URL_PATTERNS) {
            self = self.exclude_url_patterns(parse_patterns(&value)?);
        }
        if let Some(value) = lookup(env::KEY_PREFIX) {
            self = self.key_prefix(value);
        }
        if let Some(value) = lookup(env::NAMESPACE) {
            self = self.namespace(value);
        }
        if let Some(value) = lookup(env::TRUSTED_PROXIES) {
            self = self.trusted_proxies(parse_trusted(&value)?);
        }
        if let Some(value) = lookup(env::CLIENT_IP_HEADER) {
            let header = value
                .parse()
                .map_err(|_| invalid_env(env::CLIENT_IP_HEADER, &value, "a header name"))?;
            self = self.client_ip_header(header);
        }
        if let Some(n) = number(env::MAX_ACTIVE_ENTRIES, "a whole number (0: no cap)")? {
            self = self.max_active_entries(n);
        }
        if let Some(n) = number(env::MAX_ENTRIES_PER_USER, "a whole number (0: no cap)")? {
            self = self.max_entries_per_user(usize::try_from(n).unwrap_or(usize::MAX));
        }
        if let Some(value) = lookup(env::SECRET_KEY) {
            self = self.secret_key(value);
        }
        if let Some(secs) = number(env::HISTORY, seconds)? {
            self = self.history(Duration::from_secs(secs));
        }
        if let Some(value) = lookup(env::PRESENCE) {
            self = self.presence(match value.trim() {
                "1" | "true" | "on" | "yes" => true,
                "0" | "false" | "off" | "no" | "" => false,
                _ => return Err(invalid_env(env::PRESENCE, &value, "1 or 0")),
            });
        }
        if let Some(shards) = number(env::SHARDS, "a whole number from 1 to 1024")? {
            // Beyond usize it is out of range anyway; `build` says so.
            self = self.shards(usize::try_from(shards).unwrap_or(usize::MAX));
        }
        Ok(self)
    }

    /// Seconds a visitor stays active after its last request. Default 20 s, as in the Python
    /// package. From 1 ms to 7 days.
    pub fn key_expire(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Regexes of request paths that are not recorded (static files, health checks). A
    /// pattern excludes a path when it matches anywhere in it, as Python's `re.search` does
    /// in the Python package: `"excluded"` excludes `/a/excluded/b`, `"\\.js$"` every
    /// script; write `"^/static/"` to anchor a pattern at the start. Replaces earlier
    /// patterns.
    pub fn exclude_url_patterns<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exclude = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Regexes of `User-Agent` values that are not recorded (bots, health checks, monitors),
    /// matched anywhere in the value and ignoring case. Adds to earlier patterns.
    pub fn exclude_user_agents<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exclude_agents
            .extend(patterns.into_iter().map(Into::into));
        self
    }

    /// Excludes the user agents of [`BOT_USER_AGENTS`]: crawlers, HTTP libraries, load
    /// balancer health checks and uptime monitors. Off unless called.
    pub fn exclude_bots(self) -> Self {
        self.exclude_user_agents(BOT_USER_AGENTS.iter().copied())
    }

    /// Stores client IPs truncated (see [`IpAnonymization`]); `IpAnonymization::TRUNCATE` keeps
    /// /24 of IPv4 and /48 of IPv6. Default: stored as they are.
    pub fn anonymize_ips(mut self, rule: IpAnonymization) -> Self {
        self.anonymization = rule;
        self
    }

    /// The first part of every key name (default `au`, as in the Python package).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// The namespace: applications with different namespaces share a Redis without seeing each
    /// other's users (default `default`). It is the key's hash tag on Redis Cluster.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// How long after writing an entry the same entry is not written again. Default: a tenth
    /// of the window. Last-seen times and counts are exact to within this interval plus the
    /// flush interval.
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = Some(interval);
        self
    }

    /// How often the background writer flushes the buffer (default 200 ms).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// How many entries wait to be written at most (default 100,000). When Redis is down and
    /// the buffer is full, the oldest waiting entry gives way to each new one, and the drop is
    /// counted in [`Stats::dropped`](crate::Stats::dropped).
    ///
    /// A buffer of 8,192 entries or more is split into 8 shards by user, each with its own
    /// lock, so that threads recording different users rarely wait for each other. The
    /// capacity is the whole buffer's, however unevenly the users hash (the shards count
    /// together); the entry that gives way is the oldest of the new entry's shard. Recent
    /// writes that the buffer remembers (to coalesce repeats) never push out an entry waiting
    /// to be written: a shard may hold more for a refresh interval, while other shards still
    /// remember theirs. While it has room, the buffer remembers a written entry for the
    /// window, so that a visitor who returns is queued again without a new copy of its entry;
    /// once full, for a refresh interval.
    pub fn buffer_capacity(mut self, capacity: usize) -> Self {
        self.buffer_capacity = capacity;
        self
    }

    /// How many entries go into one store write (default 1,000).
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size;
        self
    }

    /// Which proxies may say who the client is (default: none). Name the header they write
    /// with [`client_ip_header`](ConfigBuilder::client_ip_header); `build` refuses trusted
    /// proxies without one.
    pub fn trusted_proxies(mut self, trusted: TrustedProxies) -> Self {
        self.trusted_proxies = trusted;
        self
    }

    /// The one header the trusted proxies write the client's address into; no other header
    /// is read (a proxy that appends to `X-Forwarded-For` passes a client's own `Forwarded`
    /// through, so reading both would let the client choose).
    pub fn client_ip_header(mut self, header: ClientIpHeader) -> Self {
        self.client_ip_header = Some(header);
        self
    }

    /// The secret that keys the hash of `#[active_users(secret)]` fields (a session cookie):
    /// at least 16 bytes, such as 32 random hex digits, the same for every application of
    /// the namespace. Without one, the first tracker of a namespace generates a key and keeps
    /// it in the store, where the others read it; set one when whoever can read the store
    /// must not be able to link a stored hash to a session id they hold.
    pub fn secret_key(mut self, secret: impl AsRef<[u8]>) -> Self {
        let secret = secret.as_ref();
        self.secret_key = Some((SecretKey::derive(secret), secret.len()));
        self
    }

    /// The most entries one user may have at once (default
    /// [`DEFAULT_MAX_ENTRIES_PER_USER`], 64; at most 1,000; 0 turns the cap off). The user is
    /// the value of the entry type's first `distinct`/`index` field (`DefaultEntry`'s
    /// `user_id`), or, for a type without one or an entry that leaves it out, its first IP
    /// field: one client sending thousands of session cookies cannot fill the count. A new entry past the cap is refused ([`Outcome::Refused`](crate::Outcome::Refused),
    /// counted in [`Stats::refused`](crate::Stats::refused)); the user's known entries go on
    /// being recorded. Each tracker (app server) counts what it records, so with N app servers
    /// a user can have up to N times the cap.
    pub fn max_entries_per_user(mut self, n: usize) -> Self {
        self.max_entries_per_user = n;
        self
    }

    /// The most bytes one entry may take, all fields together (default
    /// [`DEFAULT_MAX_ENTRY_LEN`], 2 KiB; from 64 bytes to 64 KiB). Each field is already cut to
    /// its own `max_len`; this bounds an entry type with many fields, so that visitors who send
    /// the longest value for each cannot make every entry large. An entry over it is not
    /// recorded: [`Outcome::Invalid`](crate::Outcome::Invalid), counted in
    /// [`Stats::invalid`](crate::Stats::invalid). A `DefaultEntry` takes at most 1.9 KB.
    pub fn max_entry_len(mut self, bytes: usize) -> Self {
        self.max_entry_len = bytes;
        self
    }

    /// The most active entries the namespace holds (default [`DEFAULT_MAX_ACTIVE_ENTRIES`], a
    /// million; 0 turns the cap off), which bounds its memory in Redis whatever the traffic.
    /// Each write reports its shard's active count, and a flush adds what it sends; once a
    /// shard holds its part (the cap divided by the shards), the tracker reads its count and
    /// which members it already holds, and writes the known ones and as many new ones as
    /// there is room for. The others are counted in
    /// [`Stats::over_capacity`](crate::Stats::over_capacity) and still count as unique
    /// visitors. Two app servers writing at the same moment can each add a batch (up to
    /// [`batch_size`](ConfigBuilder::batch_size) entries per shard) past the cap.
    pub fn max_active_entries(mut self, n: u64) -> Self {
        self.max_active_entries = n;
        self
    }

    /// Splits the namespace into `n` shards (default 1, at most 1024), each with its own hash
    /// tag, so that on Redis Cluster its keys and its write load spread over the nodes. An
    /// entry always goes to the same shard: the one of the value of its first indexed field
    /// (the user id of `DefaultEntry`), so distinct counts of that field stay exact sums.
    /// Every application sharing a namespace must use the same number.
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = n;
        self
    }

    /// How much history to keep (default one day; `Duration::ZERO` turns it off): the active
    /// count sampled once a minute per namespace, and the sketches that count unique visitors
    /// (one per minute for the last hour, one per hour for the whole span). See
    /// [`Tracker::history`](crate::Tracker::history) and [`Tracker::unique`](crate::Tracker::unique).
    pub fn history(mut self, span: Duration) -> Self {
        self.history = span;
        self
    }

    /// Whether this tracker reports presence (default off, `ACTIVE_USERS_PRESENCE=1`): each
    /// write tells which entries, and which values of `index` and `distinct` fields, became
    /// active, and every flush interval a sweep removes those whose window passed and tells
    /// who left; the changes go to the namespace's event log in the store, which
    /// [`Tracker::subscribe`](crate::Tracker::subscribe) reads. Turn it on in every
    /// application server of the namespace: one without it trims what left without telling.
    /// It costs the store one score lookup per written member and one append per batch.
    pub fn presence(mut self, on: bool) -> Self {
        self.presence = on;
        self
    }

    /// How long a query or a write waits for the store before failing with a timeout
    /// (default 3 s). A write that times out is retried at the next flush.
    pub fn query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// The config with derived defaults filled in and no checks (only for the known-good
    /// defaults).
    fn unchecked(self) -> Config {
        Config {
            refresh_interval: self.refresh_interval.unwrap_or(self.window / 10),
            history: self.history,
            window: self.window,
            flush_interval: self.flush_interval,
            exclude: RegexSet::empty(),
            exclude_agents: RegexSet::empty(),
            anonymization: self.anonymization,
            key_prefix: self.key_prefix,
            namespace: self.namespace,
            buffer_capacity: self.buffer_capacity,
            batch_size: self.batch_size,
            trusted_proxies: self.trusted_proxies,
            client_ip_header: self.client_ip_header,
            query_timeout: self.query_timeout,
            shards: self.shards,
            secret_key: self.secret_key.map(|(key, _)| key),
            max_entries_per_user: self.max_entries_per_user,
            max_entry_len: self.max_entry_len,
            max_active_entries: self.max_active_entries,
            presence: self.presence,
        }
    }

    /// Checks every setting and compiles the patterns.
    ///
    /// # Errors
    /// [`ConfigError::InvalidPattern`] naming the first pattern that does not compile, and the
    /// other [`ConfigError`]s for out-of-range settings.
    pub fn build(self) -> Result<Config, ConfigError> {
        let positive = |setting, got: Duration| {
            if got.is_zero() {
                Err(ConfigError::InvalidDuration {
                    setting,
                    expected: "greater than zero",
                    got,
                })
            } else {
                Ok(())
            }
        };
        if !(Duration::from_millis(1)..=MAX_WINDOW).contains(&self.window) {
            return Err(ConfigError::InvalidDuration {
                setting: "key_expire",
                expected: "from 1 ms to 7 days",
                got: self.window,
            });
        }
        positive("flush_interval", self.flush_interval)?;
        positive("query_timeout", self.query_timeout)?;
        if let Some(refresh) = self.refresh_interval
            && refresh >= self.window
        {
            return Err(ConfigError::InvalidDuration {
                setting: "refresh_interval",
                expected: "shorter than key_expire",
                got: refresh,
            });
        }
        if !self.history.is_zero()
            && !(Duration::from_secs(60)..=MAX_HISTORY).contains(&self.history)
        {
            return Err(ConfigError::InvalidDuration {
                setting: "history",
                expected: "zero (off) or from 1 minute to 400 days",
                got: self.history,
            });
        }
        let trusts = match &self.trusted_proxies {
            TrustedProxies::None => false,
            TrustedProxies::Hops(n) => *n > 0,
            TrustedProxies::Networks(nets) => !nets.is_empty(),
        };
        if trusts && self.client_ip_header.is_none() {
            return Err(ConfigError::NoClientIpHeader);
        }
        if let Some((_, len)) = self.secret_key
            && len < 16
        {
            return Err(ConfigError::SecretKeyTooShort(len));
        }
        if self.max_entries_per_user > 1000 {
            return Err(ConfigError::InvalidEntriesPerUser(
                self.max_entries_per_user,
            ));
        }
        if !(64..=65_536).contains(&self.max_entry_len) {
            return Err(ConfigError::InvalidEntryLen(self.max_entry_len));
        }
        if self.buffer_capacity == 0 {
            return Err(ConfigError::ZeroCount {
                setting: "buffer_capacity",
            });
        }
        if !(1..=1024).contains(&self.shards) {
            return Err(ConfigError::InvalidShards(self.shards));
        }
        if self.batch_size == 0 {
            return Err(ConfigError::ZeroCount {
                setting: "batch_size",
            });
        }
        for (setting, value) in [
            ("key prefix", &self.key_prefix),
            ("namespace", &self.namespace),
        ] {
            if !valid_name(value) {
                return Err(ConfigError::InvalidName {
                    setting,
                    value: value.clone(),
                });
            }
        }
        let mut wrapped_all = Vec::with_capacity(self.exclude.len());
        for pattern in &self.exclude {
            // Compile each alone first so the error names the pattern at fault. Unanchored:
            // a match anywhere in the path counts, as with Python's `re.search`.
            let wrapped = format!("(?:{pattern})");
            if let Err(source) = Regex::new(&wrapped) {
                return Err(ConfigError::InvalidPattern {
                    pattern: pattern.clone(),
                    source: Box::new(source),
                });
            }
            wrapped_all.push(wrapped);
        }
        let exclude =
            RegexSet::new(&wrapped_all).map_err(|source| ConfigError::InvalidPattern {
                pattern: self.exclude.join(" "),
                source: Box::new(source),
            })?;
        for pattern in &self.exclude_agents {
            if let Err(source) = Regex::new(&format!("(?i:{pattern})")) {
                return Err(ConfigError::InvalidPattern {
                    pattern: pattern.clone(),
                    source: Box::new(source),
                });
            }
        }
        let agents: Vec<String> = self
            .exclude_agents
            .iter()
            .map(|p| format!("(?i:{p})"))
            .collect();
        let exclude_agents =
            RegexSet::new(&agents).map_err(|source| ConfigError::InvalidPattern {
                pattern: self.exclude_agents.join(" "),
                source: Box::new(source),
            })?;
        let mut config = self.unchecked();
        config.exclude = exclude;
        config.exclude_agents = exclude_agents;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults_match_the_python_package() {
        let config = Config::default();
        assert_eq!(config.window(), Duration::from_secs(20));
        assert_eq!(config.refresh_interval(), Duration::from_secs(2));
        assert_eq!(config.key_prefix(), "au");
        assert!(!config.is_excluded("/anything"));
    }

    #[test]
    fn reads_the_python_settings_from_the_environment() {
        let config = Config::from_lookup(lookup(&[
            (env::KEY_EXPIRE, "60"),
            (env::EXCLUDE_URL_PATTERNS, r#"["^/static/", "/admin/.*"]"#),
            (env::NAMESPACE, "shop"),
            (env::TRUSTED_PROXIES, "10.0.0.0/8, ::1"),
            (env::CLIENT_IP_HEADER, "X-Forwarded-For"),
        ]))
        .expect("valid");
        assert_eq!(config.window(), Duration::from_secs(60));
        assert!(config.is_excluded("/static/x.css"));
        assert!(config.is_excluded("/admin/users"));
        assert!(
            config.is_excluded("/shop/admin/users"),
            "patterns match anywhere, like re.search"
        );
        assert!(
            !config.is_excluded("/shop/static/x.css"),
            "a ^ anchors at the start"
        );
        assert_eq!(config.namespace(), "shop");
        assert!(matches!(config.trusted_proxies(), TrustedProxies::Networks(n) if n.len() == 2));

        let config =
            Config::from_lookup(lookup(&[(env::EXCLUDE_URL_PATTERNS, "^/a ^/b")])).expect("valid");
        assert!(config.is_excluded("/b"));
    }

    #[test]
    fn the_environment_overrides_the_defaults_set_in_code() {
        let builder = Config::builder()
            .namespace("shop")
            .exclude_url_patterns(["^/static/"]);
        let config = builder
            .clone()
            .with_lookup(lookup(&[(env::NAMESPACE, "shop-eu")]))
            .expect("valid")
            .build()
            .expect("valid");
        assert_eq!(config.namespace(), "shop-eu");
        assert!(config.is_excluded("/static/x"), "kept from code");
        let config = builder
            .with_lookup(lookup(&[]))
            .expect("valid")
            .build()
            .expect("valid");
        assert_eq!(config.namespace(), "shop");
    }

    #[test]
    fn the_bounds_and_the_secret_come_from_the_environment_too() {
        let config = Config::from_lookup(lookup(&[
            (env::MAX_ACTIVE_ENTRIES, "5000"),
            (env::MAX_ENTRIES_PER_USER, "0"),
            (env::SECRET_KEY, "a secret of the operator"),
        ]))
        .expect("valid");
        assert_eq!(config.max_active_entries, 5000);
        assert_eq!(config.max_entries_per_user, 0);
        assert_eq!(
            config.secret_key,
            Some(SecretKey::derive(b"a secret of the operator"))
        );
        let defaults = Config::default();
        assert_eq!(defaults.max_active_entries, DEFAULT_MAX_ACTIVE_ENTRIES);
        assert_eq!(defaults.max_entries_per_user, DEFAULT_MAX_ENTRIES_PER_USER);
        assert_eq!(defaults.max_entry_len, DEFAULT_MAX_ENTRY_LEN);
        assert_eq!(defaults.secret_key, None);
        let err = Config::from_lookup(lookup(&[(env::MAX_ACTIVE_ENTRIES, "lots")])).unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidEnv { var, .. } if var == env::MAX_ACTIVE_ENTRIES)
        );
        let err = Config::from_lookup(lookup(&[(env::SECRET_KEY, "short")])).unwrap_err();
        assert!(matches!(err, ConfigError::SecretKeyTooShort(5)));
        // The secret never shows in a debug print.
        let shown = format!("{config:?}");
        assert!(!shown.contains("operator"), "{shown}");
    }

    #[test]
    fn url_patterns_match_as_python_re_search_does() {
        // The Python middleware calls re.search(pattern, request.path) for each pattern.
        let config = Config::builder()
            .exclude_url_patterns(["excluded", "\\.js$"])
            .build()
            .expect("valid");
        for path in ["/excluded/", "/a/excluded/b", "/static/app.js", "/excluded"] {
            assert!(config.is_excluded(path), "{path}");
        }
        for path in ["/", "/exclude", "/app.json", "/static/app.css"] {
            assert!(!config.is_excluded(path), "{path}");
        }
    }

    #[test]
    fn bots_are_excluded_only_when_asked() {
        let googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert!(!Config::default().is_excluded_agent(googlebot));
        let config = Config::builder().exclude_bots().build().expect("valid");
        for agent in [
            googlebot,
            "curl/8.5.0",
            "kube-probe/1.29",
            "ELB-HealthChecker/2.0",
        ] {
            assert!(config.is_excluded_agent(agent), "{agent}");
        }
        assert!(!config.is_excluded_agent(firefox));
        let config = Config::builder()
            .exclude_user_agents(["MyMonitor"])
            .build()
            .expect("valid");
        assert!(config.is_excluded_agent("mymonitor/1.0"), "case is ignored");
    }

    #[test]
    fn invalid_settings_are_typed_errors_that_name_the_culprit() {
        let err = Config::builder()
            .exclude_url_patterns(["^/ok", "(unclosed"])
            .build()
            .expect_err("invalid pattern");
        assert!(
            matches!(&err, ConfigError::InvalidPattern { pattern, .. } if pattern == "(unclosed")
        );
        assert!(err.to_string().contains("(unclosed"));

        let err = Config::from_lookup(lookup(&[(env::KEY_EXPIRE, "soon")])).expect_err("bad");
        assert!(matches!(err, ConfigError::InvalidEnv { var, .. } if var == env::KEY_EXPIRE));

        let err = Config::builder()
            .namespace("a{b}")
            .build()
            .expect_err("bad");
        assert!(matches!(err, ConfigError::InvalidName { .. }));

        let err = Config::builder()
            .key_expire(Duration::ZERO)
            .build()
            .expect_err("bad");
        assert!(matches!(err, ConfigError::InvalidDuration { .. }));

        let err = Config::builder()
            .refresh_interval(Duration::from_secs(30))
            .build()
            .expect_err("bad");
        assert!(matches!(
            err,
            ConfigError::InvalidDuration {
                setting: "refresh_interval",
                ..
            }
        ));
    }
}
