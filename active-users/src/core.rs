//! What a [`Tracker`](crate::Tracker) and a [`Reader`](crate::Reader) share: the key names of a
//! namespace, its field list, and every query that needs no entry type.
//!
//! **History.** Every [`SAMPLE_EVERY`] (10 s), the first tracker of a namespace to flush in
//! that slot claims it (one atomic `claim` on the store), counts the active entries and folds
//! the count into the current minute of the namespace's series, which keeps the highest count
//! of each minute: many app servers do six samples a minute between them, and each minute's
//! point is its peak.
//! Unique visitors are counted in HyperLogLog sketches, one per shard per minute (kept 61
//! minutes) and one per shard per hour (kept for the history span); a member always goes to
//! the same shard, so the shards' sets are disjoint and their estimates add up.

use crate::config::{Config, valid_name};
use crate::entry::Field;
use crate::error::{CursorError, QueryError, StoreError};
use crate::secret::SecretKey;
use crate::store::{Member, Position, Sample, Scored, Store, StoreFuture, Touch, ms};
use crate::tracker::{Cursor, MAX_PAGE};
use crate::value::ValueKind;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The standard error of a unique-visitor count: 1.04 / √16384, about 0.81%, for the 2^14
/// registers of Redis's HyperLogLog (and of [`MemoryStore`](crate::MemoryStore)'s).
pub const UNIQUE_STANDARD_ERROR: f64 = 0.0081;

const MINUTE_MS: u64 = 60_000;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// The buckets of unique-visitor sketches: minutes for spans up to an hour, hours beyond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grain {
    Minute,
    Hour,
}

impl Grain {
    /// The grain a span is counted in.
    fn of(span: Duration) -> Self {
        if span <= HOUR {
            Grain::Minute
        } else {
            Grain::Hour
        }
    }
    /// A bucket's length in milliseconds.
    fn ms(self) -> u64 {
        match self {
            Grain::Minute => MINUTE_MS,
            Grain::Hour => HOUR_MS,
        }
    }
    /// How many buckets before the current one a union holds: the last hour, the last day.
    fn union_len(self) -> u64 {
        match self {
            Grain::Minute => 60,
            Grain::Hour => 24,
        }
    }
    /// The span a union answers: `union_len` buckets.
    fn union_span(self) -> Duration {
        match self {
            Grain::Minute => HOUR,
            Grain::Hour => DAY,
        }
    }
    /// A union lives three buckets, so it outlasts the bucket it serves.
    fn union_ttl(self) -> Duration {
        Duration::from_millis(3 * self.ms())
    }
    /// The name of its union in the `merging:` and `merged:` keys.
    fn union_name(self) -> &'static str {
        match self {
            Grain::Minute => "m",
            Grain::Hour => "d",
        }
    }
}

/// How often the active count of a namespace is sampled (by one tracker, whichever flushes
/// first in each slot). A minute's point is the highest of its samples.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const HOUR_MS: u64 = 3_600_000;

/// Minute sketches cover the last hour; they live a little longer than that.
const MINUTE_SKETCH_TTL: Duration = Duration::from_secs(62 * 60);

/// The version of the stored namespace description.
const SCHEMA_VERSION: u64 = 1;

/// One field of a namespace as stored in its description, for programs that do not have the
/// entry type ([`Reader::fields`](crate::Reader::fields)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldInfo {
    /// The stored name.
    pub name: String,
    /// How its values read.
    pub kind: ValueKind,
    /// Whether it may be absent.
    pub optional: bool,
    /// Whether distinct counts are kept.
    pub indexed: bool,
    /// Whether per-value counts are kept.
    pub grouped: bool,
    /// Whether the JSON API hides it.
    pub hidden: bool,
    /// Whether the store holds a keyed hash of its values (`#[active_users(secret)]`).
    pub secret: bool,
}

impl From<&Field> for FieldInfo {
    fn from(f: &Field) -> Self {
        FieldInfo {
            name: f.name.to_owned(),
            kind: f.kind,
            optional: f.optional,
            indexed: f.indexed,
            grouped: f.grouped,
            hidden: f.hidden,
            secret: f.secret,
        }
    }
}

/// The active count at one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct HistoryPoint {
    /// The start of the minute.
    pub at: SystemTime,
    /// The highest active count (as [`Tracker::count`](crate::Tracker::count)) of the samples
    /// taken during the minute, one every [`SAMPLE_EVERY`].
    pub active: u64,
}

impl HistoryPoint {
    /// The point with the highest count (the earliest of equal ones), as
    /// [`Tracker::peak`](crate::Tracker::peak) picks it, for points already read.
    pub fn peak(points: &[HistoryPoint]) -> Option<HistoryPoint> {
        points
            .iter()
            .copied()
            .reduce(|best, p| if p.active > best.active { p } else { best })
    }
}

/// The active entries and the distinct active values of each indexed field, read together:
/// each shard answers all of them at one moment with one cutoff, so the numbers agree with
/// each other (a field never has more distinct values than there are entries).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Counts {
    /// The active entries, as [`Tracker::count`](crate::Tracker::count).
    pub entries: u64,
    /// The distinct active values of each indexed field, in field order, as
    /// [`Tracker::count_distinct`](crate::Tracker::count_distinct).
    pub distinct: Vec<(String, u64)>,
}

impl Counts {
    /// The distinct count of `field`, if it is indexed.
    pub fn distinct(&self, field: &str) -> Option<u64> {
        self.distinct
            .iter()
            .find(|(name, _)| name == field)
            .map(|(_, n)| *n)
    }
}

/// Unique visitors over a span, estimated with HyperLogLog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct UniqueVisitors {
    /// Distinct entries seen since `since`, within [`UNIQUE_STANDARD_ERROR`] (one standard
    /// error) of the exact number.
    pub visitors: u64,
    /// The start of the first bucket counted: the span asked for, rounded down to the minute
    /// (spans up to an hour) or to the hour (longer spans).
    pub since: SystemTime,
}

/// The key names of one namespace. Each shard's hash tag is the namespace (one shard) or the
/// namespace, the shard number and a suffix chosen so that shard `i` of `n` hashes into the
/// `i`-th of `n` equal slices of the 16,384 cluster slots: a cluster that spreads its slots
/// evenly over its masters (as `redis-cli --cluster create` does) then spreads the shards
/// evenly too. All of it is computed, so every app server names the same keys. Keys of the
/// whole namespace (its description and history) use the namespace itself as their tag,
/// whatever the number of shards, so a reader finds them before it knows that number.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    bases: Vec<String>,
    namespace_base: String,
}

impl Keys {
    pub(crate) fn new(config: &Config) -> Self {
        Self::with_shards(config, config.shards)
    }

    pub(crate) fn with_shards(config: &Config, n: usize) -> Self {
        let (prefix, ns) = (&config.key_prefix, &config.namespace);
        let bases = (0..n)
            .map(|i| {
                if n == 1 {
                    format!("{prefix}:{{{ns}}}:")
                } else {
                    format!("{prefix}:{{{}}}:", spread_tag(ns, i, n))
                }
            })
            .collect();
        Keys {
            bases,
            namespace_base: format!("{prefix}:{{{ns}}}:"),
        }
    }
    pub(crate) fn shards(&self) -> usize {
        self.bases.len()
    }
    pub(crate) fn active(&self, shard: usize) -> String {
        format!("{}active", self.bases[shard])
    }
    pub(crate) fn values(&self, shard: usize, field: &str) -> String {
        format!("{}values:{field}", self.bases[shard])
    }
    pub(crate) fn by_value(&self, shard: usize, field: &str, value: &str) -> String {
        format!("{}by:{field}:{value}", self.bases[shard])
    }
    /// The sketch of bucket `index` (minutes or hours since the epoch): `unique:m:` or
    /// `unique:h:`.
    pub(crate) fn sketch(&self, shard: usize, grain: Grain, index: u64) -> String {
        let letter = match grain {
            Grain::Minute => "m",
            Grain::Hour => "h",
        };
        format!("{}unique:{letter}:{index}", self.bases[shard])
    }
    /// The union of the `union_len` sketches before bucket `index`: `unique:u:` (the last
    /// hour's minutes) or `unique:d:` (the last day's hours).
    pub(crate) fn union(&self, shard: usize, grain: Grain, index: u64) -> String {
        let letter = match grain {
            Grain::Minute => "u",
            Grain::Hour => "d",
        };
        format!("{}unique:{letter}:{index}", self.bases[shard])
    }
    pub(crate) fn schema(&self) -> String {
        format!("{}schema", self.namespace_base)
    }
    pub(crate) fn history(&self) -> String {
        format!("{}history", self.namespace_base)
    }
    /// The namespace's event log of presence changes.
    pub(crate) fn presence(&self) -> String {
        format!("{}presence", self.namespace_base)
    }
    /// Claimed by the tracker that builds a grain's unions, once per bucket.
    pub(crate) fn merging(&self, grain: Grain) -> String {
        format!("{}merging:{}", self.namespace_base, grain.union_name())
    }
    /// The bucket whose unions are complete on every shard.
    pub(crate) fn merged(&self, grain: Grain) -> String {
        format!("{}merged:{}", self.namespace_base, grain.union_name())
    }
    pub(crate) fn sampled(&self) -> String {
        format!("{}sampled", self.namespace_base)
    }
    pub(crate) fn secret(&self) -> String {
        format!("{}secret", self.namespace_base)
    }
}

/// The hash tag of shard `shard` of `shards`: `{ns}#{shard}.{k}` with the smallest `k` whose
/// slot lies in the shard's slice of the slot space.
pub(crate) fn spread_tag(namespace: &str, shard: usize, shards: usize) -> String {
    let low = shard * CLUSTER_SLOTS / shards;
    let high = (shard + 1) * CLUSTER_SLOTS / shards;
    // Each try lands in the slice with probability 1/shards; 64 times that many tries fail
    // with a probability below e^-64.
    (0..shards * 64)
        .map(|k| format!("{namespace}#{shard}.{k}"))
        .find(|tag| (low..high).contains(&(crc16(tag.as_bytes()) as usize % CLUSTER_SLOTS)))
        .unwrap_or_else(|| format!("{namespace}#{shard}"))
}

/// The number of Redis Cluster hash slots.
pub(crate) const CLUSTER_SLOTS: usize = 16_384;

/// CRC-16/XMODEM, the hash Redis Cluster maps keys to slots with.
pub(crate) fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |mut crc, byte| {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
        crc
    })
}

/// 64-bit FNV-1a: a hash every app server computes the same, so an entry always goes to the
/// same shard (std's hasher is seeded per process).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub(crate) fn to_system_time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// A namespace on a store: its configuration, keys and fields.
pub(crate) struct Core {
    pub(crate) config: Config,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) keys: Keys,
    /// The active set of each shard.
    pub(crate) active_keys: Vec<String>,
    pub(crate) fields: Vec<FieldInfo>,
    /// The position of the field whose value picks the shard: the first indexed field, so that
    /// its distinct count is an exact sum over shards. `None`: the whole member picks it.
    pub(crate) shard_field: Option<usize>,
    /// Which fields are `secret`; empty when none is.
    pub(crate) secret_fields: Vec<bool>,
    /// The key of the secret fields' hash once known: the configured one, or the one kept in
    /// the store.
    secret_key: std::sync::Mutex<Option<SecretKey>>,
}

impl Core {
    pub(crate) fn new(config: Config, store: Arc<dyn Store>, fields: Vec<FieldInfo>) -> Self {
        let keys = Keys::new(&config);
        let secret_fields = if fields.iter().any(|f| f.secret) {
            fields.iter().map(|f| f.secret).collect()
        } else {
            Vec::new()
        };
        Core {
            active_keys: (0..keys.shards()).map(|i| keys.active(i)).collect(),
            shard_field: fields.iter().position(|f| f.indexed),
            secret_key: std::sync::Mutex::new(config.secret_key),
            secret_fields,
            keys,
            store,
            fields,
            config,
        }
    }

    pub(crate) fn view(&self, window: Duration) -> CoreView<'_> {
        CoreView { core: self, window }
    }

    /// The shard of a member: by the value of the shard field when it has one, else by the
    /// whole member.
    pub(crate) fn shard_of(&self, member: &[u8], values: Option<&[Option<String>]>) -> usize {
        let shards = self.keys.shards();
        if shards == 1 {
            return 0;
        }
        let key = match (self.shard_field, values) {
            (Some(i), Some(values)) => match values.get(i) {
                Some(Some(text)) => text.as_bytes(),
                _ => member,
            },
            _ => member,
        };
        (fnv1a(key) % shards as u64) as usize
    }

    /// The sketch writes of one shard's members, each seen at its own time (milliseconds of
    /// the store's clock): every member goes to the minute and the hour it was seen in. A
    /// member that waited in the buffer (the store was down) counts in its own minute, not
    /// in the minute it is written; buckets no query can reach any more are skipped.
    pub(crate) fn sketch_touches(
        &self,
        shard: usize,
        members: Vec<(Member, u64)>,
        now: u64,
    ) -> Vec<Touch> {
        let mut out = Vec::with_capacity(2);
        for (grain, ttl, reach) in [
            (Grain::Minute, MINUTE_SKETCH_TTL, HOUR),
            (
                Grain::Hour,
                self.config.history.saturating_add(HOUR),
                self.config.history,
            ),
        ] {
            let oldest = now.saturating_sub(ms(reach)) / grain.ms();
            let mut buckets: BTreeMap<u64, Vec<Member>> = BTreeMap::new();
            for (member, at) in &members {
                let bucket = at / grain.ms();
                if bucket >= oldest {
                    buckets.entry(bucket).or_default().push(Arc::clone(member));
                }
            }
            out.extend(buckets.into_iter().map(|(bucket, members)| {
                Touch::sketch(self.keys.sketch(shard, grain, bucket), members, ttl)
            }));
        }
        out
    }

    /// How long the namespace's description and secret key live after their last refresh:
    /// as long as anything of the namespace can.
    fn description_ttl(&self) -> Duration {
        self.config
            .history
            .max(self.config.window.saturating_mul(2))
            .max(Duration::from_secs(120))
    }

    /// The key of the secret fields' hash: the configured one, or the namespace's key kept in
    /// the store (this tracker's proposal if there was none). With `refresh`, the stored key
    /// is read again and its life extended even when one is known here: after the store lost
    /// it, the first tracker to refresh puts its own back, and the others adopt it.
    pub(crate) async fn secret_key(&self, refresh: bool) -> Result<SecretKey, QueryError> {
        let known = *self.secret_key.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(key) = self.config.secret_key {
            return Ok(key);
        }
        if let (Some(key), false) = (known, refresh) {
            return Ok(key);
        }
        let proposal = known.unwrap_or_else(SecretKey::generate);
        let name = self.keys.secret();
        let ttl = self.description_ttl();
        let stored = self
            .timed(
                self.store
                    .put_if_absent(&name, proposal.to_hex().as_bytes(), ttl),
            )
            .await?;
        // The store replaces anything that is not a key, atomically.
        let key = SecretKey::from_hex(&stored).ok_or(StoreError::UnexpectedReply(
            "the namespace's secret key is not 32 hex digits",
        ))?;
        *self.secret_key.lock().unwrap_or_else(|e| e.into_inner()) = Some(key);
        Ok(key)
    }

    /// `cursor` with its member encrypted under a key derived from the namespace's, for
    /// handing out: a member holds every field, hidden ones too. The nonce goes first.
    #[cfg_attr(not(feature = "api"), allow(dead_code))] // the JSON API seals its cursors
    pub(crate) async fn seal_cursor(&self, mut cursor: Cursor) -> Result<Cursor, QueryError> {
        let key = self.secret_key(false).await?.for_use(b"cursor");
        let nonce = crate::secret::random_u64();
        key.stream_xor(nonce, &mut cursor.position.member);
        let mut sealed = nonce.to_le_bytes().to_vec();
        sealed.append(&mut cursor.position.member);
        cursor.position.member = sealed;
        Ok(cursor)
    }

    /// A cursor [sealed](Core::seal_cursor) by a tracker of this namespace, opened.
    #[cfg_attr(not(feature = "api"), allow(dead_code))] // the JSON API seals its cursors
    pub(crate) async fn open_cursor(&self, mut cursor: Cursor) -> Result<Cursor, QueryError> {
        if cursor.position.member.len() < 8 {
            // Too short to hold a nonce: not a cursor this API handed out.
            let text: String = cursor.to_string().chars().take(64).collect();
            return Err(QueryError::Cursor(CursorError(text)));
        }
        let key = self.secret_key(false).await?.for_use(b"cursor");
        let mut member = cursor.position.member.split_off(8);
        let mut nonce = [0; 8];
        nonce.copy_from_slice(&cursor.position.member);
        key.stream_xor(u64::from_le_bytes(nonce), &mut member);
        cursor.position.member = member;
        Ok(cursor)
    }

    /// A member as the store holds it: with the value of every secret field replaced by its
    /// keyed hash.
    pub(crate) async fn stored_member(&self, member: Vec<u8>) -> Result<Vec<u8>, QueryError> {
        if self.secret_fields.is_empty() {
            return Ok(member);
        }
        let key = self.secret_key(false).await?;
        // It decodes: it was just encoded with these fields. Were it not to, it would be
        // looked up as it is and match nothing, since nothing is stored unhashed.
        Ok(crate::secret::hash_secrets(&member, &self.secret_fields, &key).unwrap_or(member))
    }

    /// A store call, failing with [`QueryError::Timeout`] past the query timeout.
    pub(crate) async fn timed<T>(&self, future: StoreFuture<'_, T>) -> Result<T, QueryError> {
        let timeout = self.config.query_timeout;
        match tokio::time::timeout(timeout, future).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(QueryError::Timeout(timeout)),
        }
    }

    /// The store's clock.
    pub(crate) async fn now(&self) -> Result<u64, QueryError> {
        let key = self.keys.history();
        self.timed(self.store.now(&key)).await
    }

    fn history_span(&self, span: Duration) -> Result<(), QueryError> {
        let kept = self.config.history;
        if kept.is_zero() {
            Err(QueryError::HistoryOff)
        } else if span > kept {
            Err(QueryError::SpanTooLong { asked: span, kept })
        } else {
            Ok(())
        }
    }

    /// The active count of every sampled minute within `span`, oldest first.
    pub(crate) async fn history(&self, span: Duration) -> Result<Vec<HistoryPoint>, QueryError> {
        self.history_span(span)?;
        let now = self.now().await?;
        let since = now.saturating_sub(ms(span));
        let key = self.keys.history();
        // Up to a minute after now: a later point is junk (the series grows at its end).
        let until = now.saturating_add(ms(crate::store::FUTURE_SLACK));
        let samples = self.timed(self.store.samples(&key, since, until)).await?;
        Ok(samples
            .into_iter()
            .map(|s| HistoryPoint {
                at: to_system_time(s.at),
                active: s.value,
            })
            .collect())
    }

    /// The sampled minute with the highest active count within `span` (the earliest of equal
    /// ones), if any minute was sampled.
    pub(crate) async fn peak(&self, span: Duration) -> Result<Option<HistoryPoint>, QueryError> {
        Ok(HistoryPoint::peak(&self.history(span).await?))
    }

    /// Unique visitors within `span`.
    ///
    /// The two spans dashboards ask for every few seconds, one hour and one day, read a union
    /// built once per minute (hour) by one tracker ([`Core::merge_if_due`]) plus the current
    /// bucket: two sketches per shard. Other spans, or the moments before a union is built,
    /// count all their buckets (at most 61 or 25 per shard).
    pub(crate) async fn unique(&self, span: Duration) -> Result<UniqueVisitors, QueryError> {
        self.history_span(span)?;
        let now = self.now().await?;
        let from = now.saturating_sub(ms(span));
        let grain = Grain::of(span);
        let (first, current) = (from / grain.ms(), now / grain.ms());
        let merged =
            span == grain.union_span() && self.merged_through(grain).await? == Some(current);
        let keys = self.keys.clone();
        let counts = self
            .view(self.config.window)
            .on_every_shard(move |store, shard, _| {
                let names: Vec<String> = if merged {
                    vec![
                        keys.union(shard, grain, current),
                        keys.sketch(shard, grain, current),
                    ]
                } else {
                    (first..=current)
                        .map(|b| keys.sketch(shard, grain, b))
                        .collect()
                };
                async move { store.sketch_count(&names).await }
            })
            .await?;
        Ok(UniqueVisitors {
            visitors: counts.iter().sum(),
            since: to_system_time(first * grain.ms()),
        })
    }

    /// The bucket whose unions are built on every shard, if any.
    async fn merged_through(&self, grain: Grain) -> Result<Option<u64>, QueryError> {
        let key = self.keys.merged(grain);
        let value = self.timed(self.store.get(&key)).await?;
        Ok(value
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse().ok()))
    }

    /// Builds the unions of the last hour's minute sketches and the last day's hour sketches
    /// once per minute and once per hour for the namespace (whichever tracker claims it), so
    /// that `unique(1 h)` and `unique(24 h)` read two sketches per shard instead of 61 or 25.
    /// A union is only used once all shards have it; none is built for a span longer than the
    /// kept history, which no query may ask for.
    pub(crate) async fn merge_if_due(&self, now: u64) -> Result<(), QueryError> {
        for grain in [Grain::Minute, Grain::Hour] {
            if self.config.history < grain.union_span() {
                continue;
            }
            let current = now / grain.ms();
            let ttl = grain.union_ttl();
            let claimed = self
                .timed(self.store.claim(&self.keys.merging(grain), current, ttl))
                .await?;
            if !claimed {
                continue;
            }
            let keys = self.keys.clone();
            let first = current.saturating_sub(grain.union_len());
            self.view(self.config.window)
                .on_every_shard(move |store, shard, _| {
                    let dest = keys.union(shard, grain, current);
                    let sources: Vec<String> = (first..current)
                        .map(|b| keys.sketch(shard, grain, b))
                        .collect();
                    async move { store.sketch_merge(&dest, &sources, ttl).await }
                })
                .await?;
            let marker = current.to_string();
            self.timed(
                self.store
                    .put(&self.keys.merged(grain), marker.as_bytes(), ttl),
            )
            .await?;
        }
        Ok(())
    }

    /// The sampling slot of a time.
    pub(crate) fn slot(now: u64) -> u64 {
        now / ms(SAMPLE_EVERY)
    }

    /// Samples the active count for the slot of `now` if this tracker is the first of the
    /// namespace to get there, folding it into the minute's peak; returns whether it did.
    pub(crate) async fn sample(&self, now: u64) -> Result<bool, QueryError> {
        let history = self.config.history;
        let won = self
            .timed(self.store.claim(
                &self.keys.sampled(),
                Self::slot(now),
                Duration::from_secs(120),
            ))
            .await?;
        if !won {
            return Ok(false);
        }
        let active = self.view(self.config.window).count().await?;
        let sample = Sample {
            at: now / MINUTE_MS * MINUTE_MS,
            value: active,
        };
        let key = self.keys.history();
        self.timed(self.store.add_sample(&key, sample, history))
            .await?;
        self.write_schema().await?;
        self.merge_if_due(now).await?;
        Ok(true)
    }

    /// The namespace's description, which lets a [`Reader`](crate::Reader) read it without the
    /// entry type.
    pub(crate) fn schema_json(&self) -> String {
        let fields: Vec<serde_json::Value> = self
            .fields
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.name,
                    "kind": f.kind.as_str(),
                    "optional": f.optional,
                    "indexed": f.indexed,
                    "grouped": f.grouped,
                    "hidden": f.hidden,
                    "secret": f.secret,
                })
            })
            .collect();
        serde_json::json!({
            "version": SCHEMA_VERSION,
            "shards": self.keys.shards(),
            "window_ms": ms(self.config.window),
            "history_ms": ms(self.config.history),
            "presence": self.config.presence,
            "fields": fields,
        })
        .to_string()
    }

    /// Stores the description for as long as anything of the namespace lives.
    pub(crate) async fn write_schema(&self) -> Result<(), QueryError> {
        let ttl = self.description_ttl();
        let json = self.schema_json();
        let key = self.keys.schema();
        self.timed(self.store.put(&key, json.as_bytes(), ttl)).await
    }
}

/// A stored description, read back.
pub(crate) struct Schema {
    pub(crate) shards: usize,
    pub(crate) window: Duration,
    pub(crate) history: Duration,
    /// Whether the trackers report presence (descriptions written before it: no).
    pub(crate) presence: bool,
    pub(crate) fields: Vec<FieldInfo>,
}

impl Schema {
    pub(crate) fn parse(json: &[u8]) -> Result<Schema, String> {
        let value: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| format!("not JSON: {e}"))?;
        let number = |name: &str| {
            value
                .get(name)
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| format!("no `{name}` number"))
        };
        let version = number("version")?;
        if version != SCHEMA_VERSION {
            return Err(format!(
                "version {version}, this program reads version {SCHEMA_VERSION}"
            ));
        }
        let shards = usize::try_from(number("shards")?)
            .ok()
            .filter(|n| (1..=1024).contains(n))
            .ok_or("shards out of range")?;
        // Spans no tracker can be configured with are not believed (a forged description
        // must not make a reader walk years of buckets).
        let window_ms = number("window_ms")?;
        let history_ms = number("history_ms")?;
        if window_ms == 0 || window_ms > ms(crate::config::MAX_WINDOW) {
            return Err("window_ms out of range".to_owned());
        }
        if history_ms > ms(crate::config::MAX_HISTORY) {
            return Err("history_ms out of range".to_owned());
        }
        let fields = value
            .get("fields")
            .and_then(serde_json::Value::as_array)
            .ok_or("no `fields` list")?
            .iter()
            .map(|f| {
                let flag = |name: &str| f.get(name).and_then(serde_json::Value::as_bool);
                Some(FieldInfo {
                    name: f.get("name")?.as_str()?.to_owned(),
                    kind: ValueKind::from_name(f.get("kind")?.as_str()?),
                    optional: flag("optional")?,
                    indexed: flag("indexed")?,
                    grouped: flag("grouped")?,
                    hidden: flag("hidden")?,
                    // Descriptions written before secrets existed have no such flag.
                    secret: flag("secret").unwrap_or(false),
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or("a field without name, kind or flags")?;
        if fields.is_empty() || fields.len() > 256 || fields.iter().any(|f| !valid_name(&f.name)) {
            return Err(
                "fields: 1 to 256, each named with 1 to 64 of A-Z a-z 0-9 _ - .".to_owned(),
            );
        }
        Ok(Schema {
            shards,
            window: Duration::from_millis(window_ms),
            history: Duration::from_millis(history_ms),
            presence: value
                .get("presence")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            fields,
        })
    }
}

/// Queries over one window.
pub(crate) struct CoreView<'a> {
    pub(crate) core: &'a Core,
    pub(crate) window: Duration,
}

impl CoreView<'_> {
    pub(crate) async fn timed<T>(&self, future: StoreFuture<'_, T>) -> Result<T, QueryError> {
        if self.window > self.core.config.window {
            return Err(QueryError::WindowTooLong {
                asked: self.window,
                kept: self.core.config.window,
            });
        }
        self.core.timed(future).await
    }

    pub(crate) fn indexed_field(&self, field: &str) -> Result<&FieldInfo, QueryError> {
        let def = self
            .core
            .fields
            .iter()
            .find(|f| f.name == field)
            .ok_or_else(|| QueryError::UnknownField(field.to_owned()))?;
        if def.indexed {
            Ok(def)
        } else {
            Err(QueryError::NotIndexed(field.to_owned()))
        }
    }

    /// Runs `query` on every shard at once and returns the answers in shard order.
    pub(crate) async fn on_every_shard<T, F, Fut>(&self, query: F) -> Result<Vec<T>, QueryError>
    where
        T: Send + 'static,
        F: Fn(Arc<dyn Store>, usize, Duration) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let shards = self.core.keys.shards();
        if shards == 1 {
            let one = query(Arc::clone(&self.core.store), 0, self.window);
            return self.timed(Box::pin(one)).await.map(|t| vec![t]);
        }
        let mut set = tokio::task::JoinSet::new();
        for shard in 0..shards {
            let answer = query(Arc::clone(&self.core.store), shard, self.window);
            set.spawn(async move { (shard, answer.await) });
        }
        let all = async move {
            let mut out: Vec<Option<T>> = (0..shards).map(|_| None).collect();
            while let Some(done) = set.join_next().await {
                let (shard, answer) =
                    done.map_err(|_| StoreError::UnexpectedReply("a shard query was cancelled"))?;
                out[shard] = Some(answer?);
            }
            Ok(out.into_iter().flatten().collect())
        };
        self.timed(Box::pin(all)).await
    }

    pub(crate) async fn count(&self) -> Result<u64, QueryError> {
        self.sum_of_counts(self.core.active_keys.clone()).await
    }

    /// The members within the window of `keys[shard]` on every shard at once, summed.
    async fn sum_of_counts(&self, keys: Vec<String>) -> Result<u64, QueryError> {
        let counts = self
            .on_every_shard(move |store, shard, window| {
                let key = keys[shard].clone();
                async move { store.count(&key, window).await }
            })
            .await?;
        Ok(counts.iter().sum())
    }

    /// The active entries and every distinct count that is a sum over shards, from one
    /// snapshot per shard; the distinct count of a field whose values spread over shards is
    /// read after it, in bounded calls.
    pub(crate) async fn counts(&self) -> Result<Counts, QueryError> {
        let keys = self.core.keys.clone();
        let shards = keys.shards();
        let indexed: Vec<&FieldInfo> = self.core.fields.iter().filter(|f| f.indexed).collect();
        // Fields whose distinct count is a sum over shards (one shard, or the field that picks
        // the shard), read in the snapshot; the others' shards' values must be united.
        let summed_names: Arc<[String]> = indexed
            .iter()
            .filter(|f| shards == 1 || self.picks_shard(&f.name))
            .map(|f| f.name.clone())
            .collect();
        let snapshots = self
            .on_every_shard({
                let summed_names = Arc::clone(&summed_names);
                let keys = keys.clone();
                move |store, shard, window| {
                    let count: Vec<String> = std::iter::once(keys.active(shard))
                        .chain(summed_names.iter().map(|f| keys.values(shard, f)))
                        .collect();
                    async move { store.snapshot(&count, &[], window, 0).await }
                }
            })
            .await?;
        let mut entries = 0;
        let mut sums = vec![0u64; summed_names.len()];
        for snapshot in snapshots {
            let mut counts = snapshot.counts.into_iter();
            entries += counts.next().unwrap_or(0);
            for (sum, n) in sums.iter_mut().zip(counts) {
                *sum += n;
            }
        }
        let mut distinct = Vec::with_capacity(indexed.len());
        for field in &indexed {
            let n = match summed_names.iter().position(|n| *n == field.name) {
                Some(i) => sums[i],
                // A field whose values spread over the shards: their union, read after the
                // snapshot in bounded calls (a snapshot listing them all was one long script
                // per shard), and never more than the entries (an entry written since the
                // snapshot must not make the distinct count exceed the count).
                None => self.count_distinct(&field.name).await?.min(entries),
            };
            distinct.push((field.name.clone(), n));
        }
        Ok(Counts { entries, distinct })
    }

    /// Whether `field` is the one whose value picks an entry's shard.
    fn picks_shard(&self, field: &str) -> bool {
        self.core.fields.iter().position(|f| f.name == field) == self.core.shard_field
    }

    pub(crate) async fn count_distinct(&self, field: &str) -> Result<u64, QueryError> {
        let def = self.indexed_field(field)?;
        let name = def.name.clone();
        let keys: Vec<String> = (0..self.core.keys.shards())
            .map(|i| self.core.keys.values(i, &name))
            .collect();
        if self.picks_shard(&name) || keys.len() == 1 {
            return self.sum_of_counts(keys).await;
        }
        let values = self
            .on_every_shard(move |store, shard, window| {
                shard_values(store, keys[shard].clone(), window)
            })
            .await?;
        let union: HashSet<String> = values.into_iter().flatten().collect();
        Ok(union.len() as u64)
    }

    /// The values of a grouped field with the most active entries, most first (at most
    /// [`MAX_TOP`]), and how many others there are. Every store call is bounded: values are
    /// read a page at a time and their entries counted [`COUNT_CHUNK`] keys at a time, so no
    /// call keeps the store busy long however many values an attacker sent.
    pub(crate) async fn count_by(&self, field: &str) -> Result<ValueCounts, QueryError> {
        let def = self.indexed_field(field)?;
        if !def.grouped {
            return Err(QueryError::NotGrouped(field.to_owned()));
        }
        let name: Arc<str> = Arc::from(def.name.as_str());
        let keys = self.core.keys.clone();
        let per_shard = self
            .on_every_shard(move |store, shard, window| {
                let keys = keys.clone();
                let name = Arc::clone(&name);
                async move {
                    let (values, complete) =
                        shard_scored_values(Arc::clone(&store), keys.values(shard, &name), window)
                            .await?;
                    let values: Vec<String> = values
                        .into_iter()
                        .filter_map(|s| String::from_utf8(s.member).ok())
                        .collect();
                    let by: Vec<String> = values
                        .iter()
                        .map(|v| keys.by_value(shard, &name, v))
                        .collect();
                    let counts = count_in_chunks(&*store, &by, window).await?;
                    Ok((values.into_iter().zip(counts).collect::<Vec<_>>(), complete))
                }
            })
            .await?;
        let mut sums: HashMap<String, u64> = HashMap::new();
        let mut complete = true;
        for (pairs, shard_complete) in per_shard {
            complete &= shard_complete;
            for (value, n) in pairs {
                *sums.entry(value).or_default() += n;
            }
        }
        let mut all: Vec<(String, u64)> = sums.into_iter().filter(|(_, n)| *n > 0).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let others = all.split_off(all.len().min(MAX_TOP));
        Ok(ValueCounts {
            top: all,
            other_values: others.len() as u64,
            other_entries: others.iter().map(|(_, n)| n).sum(),
            complete,
        })
    }

    /// A page of stored members: up to `limit` (capped at [`MAX_PAGE`]), from `cursor`.
    pub(crate) async fn range(
        &self,
        limit: usize,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<Scored>, Option<Cursor>), QueryError> {
        let keys = &self.core.active_keys;
        let (page, next) = self
            .range_of(|shard| keys[shard].clone(), limit, cursor)
            .await?;
        Ok((page.into_iter().map(|(_, scored)| scored).collect(), next))
    }

    /// A page of the members of the sets `key_of(shard)`, least recently seen first, going
    /// through the shards in turn; each member comes with its shard.
    async fn range_of(
        &self,
        key_of: impl Fn(usize) -> String,
        limit: usize,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<(usize, Scored)>, Option<Cursor>), QueryError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let shards = self.core.keys.shards();
        let (mut shard, mut from) = match cursor {
            Some(c) if c.shard < shards => (c.shard, Some(c.position)),
            Some(c) => {
                return Err(QueryError::Cursor(CursorError(format!(
                    "{c} names shard {} of {shards}",
                    c.shard
                ))));
            }
            None => (0, None),
        };
        let store = &self.core.store;
        let mut raw = Vec::new();
        let mut next = None;
        // Fill the page from this shard, then the next ones, until it is full.
        while shard < shards {
            let want = limit - raw.len();
            let key = key_of(shard);
            let page = self
                .timed(store.range(&key, self.window, from.as_ref(), want))
                .await?;
            let full = page.len() == want;
            if full {
                next = next_position(&page).map(|position| Cursor { shard, position });
            }
            raw.extend(page.into_iter().map(|scored| (shard, scored)));
            if full {
                break;
            }
            shard += 1;
            from = None;
        }
        Ok((raw, next))
    }

    /// A page of the active values of an indexed field, least recently seen first, with when
    /// each was last seen and, for an `index` field, its number of active entries.
    pub(crate) async fn values(
        &self,
        field: &str,
        limit: usize,
        cursor: Option<Cursor>,
    ) -> Result<ValuePage, QueryError> {
        let def = self.indexed_field(field)?;
        let (name, grouped) = (def.name.clone(), def.grouped);
        if self.core.keys.shards() > 1 && !self.picks_shard(&name) {
            return self.merged_values(name, grouped, limit, cursor).await;
        }
        let keys = &self.core.keys;
        let (page, next) = self
            .range_of(|shard| keys.values(shard, &name), limit, cursor)
            .await?;
        let mut values: Vec<ActiveValue> = page
            .iter()
            .map(|(_, scored)| ActiveValue {
                value: String::from_utf8_lossy(&scored.member).into_owned(),
                entries: None,
                last_seen: to_system_time(scored.score),
            })
            .collect();
        if grouped {
            // The entries of each value, one call per shard the page touches.
            let mut from = 0;
            while from < page.len() {
                let shard = page[from].0;
                let to = from + page[from..].iter().take_while(|(s, _)| *s == shard).count();
                let by: Vec<String> = values[from..to]
                    .iter()
                    .map(|v| keys.by_value(shard, &name, &v.value))
                    .collect();
                let counts = self
                    .timed(Box::pin(count_in_chunks(
                        &*self.core.store,
                        &by,
                        self.window,
                    )))
                    .await?;
                for (value, n) in values[from..to].iter_mut().zip(counts) {
                    value.entries = Some(n);
                }
                from = to;
            }
            // A value whose entries all left between the two reads is no longer active.
            values.retain(|v| v.entries != Some(0));
        }
        Ok(ValuePage { values, next })
    }
}

impl CoreView<'_> {
    /// [`values`](CoreView::values) of a field whose values may be in every shard: each
    /// shard's values (at most [`MAX_VALUES_PER_SHARD`]) merged, each value once with its
    /// latest time and the sum of its entries, paged by position in the merged order.
    async fn merged_values(
        &self,
        name: String,
        grouped: bool,
        limit: usize,
        cursor: Option<Cursor>,
    ) -> Result<ValuePage, QueryError> {
        let from = match cursor {
            Some(c) if c.shard == 0 => Some(c.position),
            Some(c) => {
                return Err(QueryError::Cursor(CursorError(format!(
                    "{c} names a shard, but values of {name:?} are merged over all shards"
                ))));
            }
            None => None,
        };
        let name: Arc<str> = Arc::from(name.as_str());
        let keys = self.core.keys.clone();
        let per_shard = self
            .on_every_shard({
                let (keys, name) = (keys.clone(), Arc::clone(&name));
                move |store, shard, window| {
                    let values = shard_scored_values(store, keys.values(shard, &name), window);
                    async move { Ok(values.await?.0) }
                }
            })
            .await?;
        let mut latest: HashMap<Vec<u8>, u64> = HashMap::new();
        for scored in per_shard.into_iter().flatten() {
            let score = latest.entry(scored.member).or_insert(scored.score);
            *score = (*score).max(scored.score);
        }
        let mut merged: Vec<Scored> = latest
            .into_iter()
            .map(|(member, score)| Scored { member, score })
            .collect();
        merged.sort_unstable_by(|a, b| a.score.cmp(&b.score).then_with(|| a.member.cmp(&b.member)));
        // Right after the position in (score, member) order, wherever it is now.
        let start = match &from {
            Some(p) => merged.partition_point(|s| (s.score, &s.member) <= (p.score, &p.member)),
            None => 0,
        };
        let limit = limit.clamp(1, MAX_PAGE);
        let page: Vec<Scored> = merged.iter().skip(start).take(limit).cloned().collect();
        let next = (start + page.len() < merged.len())
            .then(|| next_position(&page))
            .flatten()
            .map(|position| Cursor { shard: 0, position });
        let mut values: Vec<ActiveValue> = page
            .iter()
            .map(|scored| ActiveValue {
                value: String::from_utf8_lossy(&scored.member).into_owned(),
                entries: None,
                last_seen: to_system_time(scored.score),
            })
            .collect();
        if grouped && !values.is_empty() {
            let shown: Arc<[String]> = values.iter().map(|v| v.value.clone()).collect();
            let counts = self
                .on_every_shard(move |store, shard, window| {
                    let by: Vec<String> = shown
                        .iter()
                        .map(|v| keys.by_value(shard, &name, v))
                        .collect();
                    async move { count_in_chunks(&*store, &by, window).await }
                })
                .await?;
            for (i, value) in values.iter_mut().enumerate() {
                value.entries = Some(counts.iter().filter_map(|c| c.get(i)).sum());
            }
            values.retain(|v| v.entries != Some(0));
        }
        Ok(ValuePage { values, next })
    }
}

/// The members within `window` of each key, counted [`COUNT_CHUNK`] keys per store call.
async fn count_in_chunks(
    store: &dyn Store,
    keys: &[String],
    window: Duration,
) -> Result<Vec<u64>, StoreError> {
    let mut counts = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(COUNT_CHUNK) {
        counts.extend(store.count_each(chunk, window).await?);
    }
    Ok(counts)
}

/// What a query answered, for the debug log: how big it is.
pub(crate) trait Answer {
    /// A number that says how much was answered (a count, or how many rows).
    fn size(&self) -> u64;
}

impl Answer for u64 {
    fn size(&self) -> u64 {
        *self
    }
}

impl Answer for Counts {
    fn size(&self) -> u64 {
        self.entries
    }
}

impl Answer for ValueCounts {
    fn size(&self) -> u64 {
        self.top.len() as u64
    }
}

impl Answer for ValuePage {
    fn size(&self) -> u64 {
        self.values.len() as u64
    }
}

impl<T> Answer for Vec<T> {
    fn size(&self) -> u64 {
        self.len() as u64
    }
}

impl<T> Answer for Option<T> {
    fn size(&self) -> u64 {
        u64::from(self.is_some())
    }
}

impl Answer for UniqueVisitors {
    fn size(&self) -> u64 {
        self.visitors
    }
}

impl<E> Answer for crate::tracker::Page<E> {
    fn size(&self) -> u64 {
        self.entries.len() as u64
    }
}

impl Answer for crate::reader::RawPage {
    fn size(&self) -> u64 {
        self.entries.len() as u64
    }
}

impl Core {
    /// Runs one query in a debug span `active_users.query`, and logs at debug what it
    /// answered (`size`) or why it failed, and how long it took (`elapsed_us`):
    /// `RUST_LOG=active_users=debug` shows every query.
    pub(crate) async fn traced<T: Answer>(
        &self,
        query: &'static str,
        future: impl std::future::Future<Output = Result<T, QueryError>>,
    ) -> Result<T, QueryError> {
        use tracing::Instrument as _;
        let namespace = self.config.namespace.as_str();
        let span = tracing::debug_span!("active_users.query", query, namespace);
        let started = std::time::Instant::now();
        let result = future.instrument(span.clone()).await;
        let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        span.in_scope(|| match &result {
            Ok(answer) => {
                tracing::debug!(query, size = answer.size(), elapsed_us, "query answered")
            }
            Err(err) => tracing::debug!(query, error = %err, elapsed_us, "query failed"),
        });
        result
    }
}

/// The most rows [`Tracker::count_by`](crate::Tracker::count_by) answers.
pub const MAX_TOP: usize = 1000;

/// How many keys one store call counts, or values it reads, at most when a query walks all
/// the values of a field (a bound on how long one call keeps the store busy).
const COUNT_CHUNK: usize = 128;

/// Active entries per value of a grouped field; see
/// [`Tracker::count_by`](crate::Tracker::count_by).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ValueCounts {
    /// The values with the most active entries and their entries, most first (ties by
    /// value), at most [`MAX_TOP`].
    pub top: Vec<(String, u64)>,
    /// How many other values have active entries.
    pub other_values: u64,
    /// How many active entries those other values have.
    pub other_entries: u64,
    /// `false` when a shard held more values than one query reads (10,000): then more values
    /// exist than were counted.
    pub complete: bool,
}

/// One active value of an indexed field; see [`Tracker::values`](crate::Tracker::values).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ActiveValue {
    /// The value, as text.
    pub value: String,
    /// Its active entries (sessions of a user): known for a field marked
    /// `#[active_users(index)]`, which keeps the entries of each value; `None` for a field
    /// marked `distinct`, which keeps its values only.
    pub entries: Option<u64>,
    /// When it was last seen: the latest of its entries.
    pub last_seen: SystemTime,
}

/// One page of active values, least recently seen first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ValuePage {
    /// The values of this page.
    pub values: Vec<ActiveValue>,
    /// Where the next page starts; `None` after the last page.
    pub next: Option<Cursor>,
}

/// The most values of one field a query reads from one shard.
const MAX_VALUES_PER_SHARD: usize = 10_000;

/// The active values of an indexed field in one shard (at most [`MAX_VALUES_PER_SHARD`]).
async fn shard_values(
    store: Arc<dyn Store>,
    key: String,
    window: Duration,
) -> Result<Vec<String>, StoreError> {
    Ok(shard_scored_values(store, key, window)
        .await?
        .0
        .into_iter()
        .filter_map(|s| String::from_utf8(s.member).ok())
        .collect())
}

/// The active values of an indexed field in one shard with their last-seen times (at most
/// [`MAX_VALUES_PER_SHARD`], read [`COUNT_CHUNK`] per call), and whether that was all of
/// them.
async fn shard_scored_values(
    store: Arc<dyn Store>,
    key: String,
    window: Duration,
) -> Result<(Vec<Scored>, bool), StoreError> {
    let mut values = Vec::new();
    let mut from = None;
    while values.len() < MAX_VALUES_PER_SHARD {
        let page = store
            .range(&key, window, from.as_ref(), COUNT_CHUNK)
            .await?;
        let done = page.len() < COUNT_CHUNK;
        from = next_position(&page);
        values.extend(page);
        if done {
            return Ok((values, true));
        }
    }
    Ok((values, false))
}

/// The position after a page: its last member.
pub(crate) fn next_position(page: &[Scored]) -> Option<Position> {
    let last = page.last()?;
    Some(Position {
        score: last.score,
        member: last.member.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_redis_cluster() {
        // CLUSTER KEYSLOT values reported by Redis.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(crc16(b"foo") as usize % CLUSTER_SLOTS, 12182);
        assert_eq!(crc16(b"bar") as usize % CLUSTER_SLOTS, 5061);
    }

    #[test]
    fn shard_tags_spread_over_the_slot_space() {
        for shards in [2, 3, 8, 100] {
            for shard in 0..shards {
                let tag = spread_tag("shop", shard, shards);
                let slot = crc16(tag.as_bytes()) as usize % CLUSTER_SLOTS;
                assert!(
                    (shard * CLUSTER_SLOTS / shards..(shard + 1) * CLUSTER_SLOTS / shards)
                        .contains(&slot),
                    "{tag} -> {slot}"
                );
            }
        }
    }

    #[test]
    fn the_next_position_is_the_last_member_of_the_page() {
        let scored = |score, member: &[u8]| Scored {
            member: member.to_vec(),
            score,
        };
        let page = [scored(1, b"z"), scored(2, b"a"), scored(2, b"b")];
        assert_eq!(
            next_position(&page),
            Some(Position {
                score: 2,
                member: b"b".to_vec()
            })
        );
        assert_eq!(next_position(&[]), None);
    }

    #[test]
    fn schemas_round_trip_and_reject_garbage() {
        let config = Config::builder().shards(4).build().expect("config");
        let fields = <crate::DefaultEntry as crate::ActiveUserEntry>::fields()
            .iter()
            .map(FieldInfo::from)
            .collect::<Vec<_>>();
        let store: Arc<dyn Store> = Arc::new(crate::MemoryStore::new());
        let core = Core::new(config, store, fields.clone());
        let schema = Schema::parse(core.schema_json().as_bytes()).expect("parses");
        assert_eq!(schema.shards, 4);
        assert_eq!(schema.fields, fields);
        assert_eq!(schema.history, crate::config::DEFAULT_HISTORY);
        for bad in [
            &b"nope"[..],
            br#"{"version":2}"#,
            br#"{"version":1,"shards":0,"fields":[]}"#,
            br#"{"version":1,"shards":1,"window_ms":1,"history_ms":1,"fields":[{"name":1}]}"#,
        ] {
            assert!(
                Schema::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
