//! Where entries live: the [`Store`] trait, [`MemoryStore`] and (feature `redis`) `RedisStore`.
//!
//! A store is a set of *windowed sorted sets*: each member carries the time it was last seen,
//! in milliseconds of the store's clock, and every query only looks at members seen within a
//! window. The tracker decides the key names and what goes into which set; a store only
//! implements these few operations, each at a cost that does not depend on the number of keys
//! and is at most logarithmic in the size of the set, except [`Store::range`], which is linear
//! in what it returns.
//!
//! **The clock.** Scores come from the store's own clock: the Redis server's for
//! [`RedisStore`], the process clock for [`MemoryStore`]. `RedisStore` reads the server's
//! `TIME` at most every 5 s and carries it forward with the monotonic clock of the process,
//! so a score is off by at most half a round trip; queries compute their cutoff from `TIME`
//! on the server. With several application servers writing to one Redis, their wall clocks
//! never enter into it, so a skewed app server cannot make its users look older or newer
//! than the others.

mod hll;
mod memory;
#[cfg(feature = "redis")]
mod redis;

pub use self::memory::{DEFAULT_MEMORY_CAPACITY, ManualClock, MemoryStore};
#[cfg(feature = "redis")]
pub use self::redis::RedisStore;

use crate::error::StoreError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Whole milliseconds of a duration, saturating.
pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds since the Unix epoch (0 for earlier times), saturating.
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, ms)
}

/// How far ahead of the store's clock a score may be and still count. Members are scored with
/// the store's own time (minus how long they waited), so only junk written by something else
/// lies beyond: every query reads up to `now + FUTURE_SLACK`, and writes trim what is later.
pub(crate) const FUTURE_SLACK: Duration = Duration::from_secs(60);

/// A stored sample `at:value`, if that is what the bytes are.
#[cfg(feature = "redis")]
pub(crate) fn parse_sample(member: &[u8]) -> Option<Sample> {
    let text = std::str::from_utf8(member).ok()?;
    let (at, value) = text.split_once(':')?;
    Some(Sample {
        at: at.parse().ok()?,
        value: value.parse().ok()?,
    })
}

/// Samples in order, the highest value of each time, those outside `since..=until` left out.
#[cfg(feature = "redis")]
pub(crate) fn fold_samples(
    samples: impl Iterator<Item = Sample>,
    since: u64,
    until: u64,
) -> Vec<Sample> {
    let mut out: Vec<Sample> = Vec::new();
    for sample in samples.filter(|s| (since..=until).contains(&s.at)) {
        match out.last_mut() {
            Some(last) if last.at == sample.at => last.value = last.value.max(sample.value),
            _ => out.push(sample),
        }
    }
    out
}

/// The future a store operation returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A stored member: shared, so that the buffer and a write hold one copy.
pub type Member = std::sync::Arc<[u8]>;

/// Members to mark as seen in one set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Touch {
    /// The set's key.
    pub key: String,
    /// The members seen.
    pub members: Vec<Member>,
    /// How long before the write each member was seen, in milliseconds, in the order of
    /// `members` (a member without an age was seen now). The store scores a member with its
    /// own clock's time minus the age, so that a member written late (the store was down or
    /// slow) keeps the time of its request.
    pub ages: Vec<u64>,
    /// What kind of set the key holds.
    pub kind: SetKind,
    /// Whether the store reports the set's size after the write ([`Written::sizes`]).
    pub measured: bool,
    /// Whether the store reports which members became active with this write and which its
    /// trim removed ([`Written::changes`]): what presence events are made of.
    pub watched: bool,
}

/// What a [`Store::touch`] reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Written {
    /// The members within the window of each [`measured`](Touch::measured) set after the
    /// write, in the order of the touches; empty when the store cannot tell.
    pub sizes: Vec<u64>,
    /// What changed in each [`watched`](Touch::watched) set, in the order of the touches;
    /// empty when the store cannot tell.
    pub changes: Vec<Changes>,
}

impl Written {
    /// A report of these sizes.
    pub fn new(sizes: Vec<u64>) -> Self {
        Written {
            sizes,
            changes: Vec::new(),
        }
    }

    /// The same report with what changed in the watched sets.
    pub fn with_changes(mut self, changes: Vec<Changes>) -> Self {
        self.changes = changes;
        self
    }
}

/// What one write or sweep changed in a watched set: who became active, who stopped being.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Changes {
    /// Members that were not active before the write: absent, or last seen before the window
    /// (then `was` is that score), with the score the write gave them.
    pub joined: Vec<Joined>,
    /// Members the trim removed, with their last score: each stopped being active a window
    /// after it.
    pub left: Vec<Scored>,
}

/// A member that became active: see [`Changes::joined`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Joined {
    /// The member.
    pub member: Member,
    /// Its score after the write.
    pub score: u64,
    /// Its score before, when it was still in the set but older than the window.
    pub was: Option<u64>,
}

impl Joined {
    /// A member that became active at `score`, having been last seen at `was` if it was
    /// still there.
    pub fn new(member: Member, score: u64, was: Option<u64>) -> Self {
        Joined { member, score, was }
    }
}

/// One entry of an event log ([`Store::append`]): its id, and its fields in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogEntry {
    /// The id the store gave it: `<milliseconds>-<sequence>`, increasing.
    pub id: LogId,
    /// Its fields (name, value), in the order they were appended.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl LogEntry {
    /// An entry with this id and these fields.
    pub fn new(id: LogId, fields: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        LogEntry { id, fields }
    }
}

/// The id of a [`LogEntry`]: the store's milliseconds when it was appended and a sequence
/// number among the entries of that millisecond (Redis stream ids).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogId {
    /// Milliseconds since the Unix epoch, by the store's clock.
    pub ms: u64,
    /// The sequence number within that millisecond.
    pub seq: u64,
}

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl std::str::FromStr for LogId {
    type Err = StoreError;
    fn from_str(text: &str) -> Result<Self, StoreError> {
        let bad = || StoreError::UnexpectedReply("a log id that is not <ms>-<seq>");
        let (ms, seq) = text.split_once('-').ok_or_else(bad)?;
        Ok(LogId {
            ms: ms.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

impl Touch {
    /// Members seen now in a windowed sorted set.
    pub fn seen(key: String, members: Vec<Member>) -> Self {
        Self::seen_ago(key, members, Vec::new())
    }

    /// Members of a windowed sorted set seen `ages` milliseconds before the write.
    pub fn seen_ago(key: String, members: Vec<Member>, ages: Vec<u64>) -> Self {
        Touch {
            key,
            members,
            ages,
            kind: SetKind::Windowed,
            measured: false,
            watched: false,
        }
    }

    /// The same touch, with the set's size reported after the write.
    pub fn measured(mut self) -> Self {
        self.measured = true;
        self
    }

    /// The same touch, with who joined the set and who its trim removed reported after the
    /// write ([`Written::changes`]).
    pub fn watched(mut self) -> Self {
        self.watched = true;
        self
    }

    /// Members added to a HyperLogLog sketch that expires `ttl` after its last write.
    pub fn sketch(key: String, members: Vec<Member>, ttl: Duration) -> Self {
        Touch {
            key,
            members,
            ages: Vec::new(),
            kind: SetKind::Sketch { ttl },
            measured: false,
            watched: false,
        }
    }

    /// The score of member `i` for a write at `now`: `now` minus its age.
    pub fn score(&self, i: usize, now: u64) -> u64 {
        now.saturating_sub(self.ages.get(i).copied().unwrap_or(0))
    }
}

/// The kind of set a [`Touch`] writes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetKind {
    /// A sorted set of members scored with the time they were last seen, trimmed and expired
    /// by the write's [`WritePolicy`].
    #[default]
    Windowed,
    /// A HyperLogLog (Redis `PFADD`): counts distinct members approximately, in at most 12 KiB
    /// (16 KiB in memory) whatever their number.
    Sketch {
        /// The sketch expires this long after its last write.
        ttl: Duration,
    },
}

/// The policy of a write: how long members count, how long keys live, how much to trim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WritePolicy {
    /// Members older than this are stale and trimmed.
    pub window: Duration,
    /// Each touched key expires this long after its last write, so a stopped application
    /// leaves nothing behind.
    pub key_ttl: Duration,
    /// At most this many stale members are removed from one key per write, which bounds the
    /// time one write can hold the store.
    pub trim_limit: usize,
}

impl WritePolicy {
    /// A policy for the given window, with keys living twice the window.
    pub fn new(window: Duration) -> Self {
        WritePolicy {
            window,
            key_ttl: window.saturating_mul(2).max(Duration::from_secs(1)),
            trim_limit: 1000,
        }
    }
}

/// Where to start a page, as returned with the previous page.
///
/// Pages go from the least recently seen member to the most recent, members of one score in
/// byte order (Redis's order). The position is the last member of the previous page with its
/// score, and a page starts right after it, wherever that member has gone since: a member
/// seen again moves to the end and may appear twice, but no member active for the whole
/// iteration is missed or repeated because others came or went.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Position {
    /// The score (last-seen milliseconds) of the last member of the previous page.
    pub score: u64,
    /// That member.
    pub member: Vec<u8>,
}

/// One member of a set and when it was last seen (milliseconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scored {
    /// The member.
    pub member: Vec<u8>,
    /// When it was last seen.
    pub score: u64,
}

/// What [`Store::snapshot`] read: counts and lists of several keys taken at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The number of members within the window of each counted key, in order.
    pub counts: Vec<u64>,
    /// The members within the window of each listed key (at most the limit each), in order.
    pub lists: Vec<Vec<Vec<u8>>>,
}

impl Snapshot {
    /// A snapshot of these counts and lists.
    pub fn new(counts: Vec<u64>, lists: Vec<Vec<Vec<u8>>>) -> Self {
        Snapshot { counts, lists }
    }
}

/// One point of a time series: a value at a time (milliseconds since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sample {
    /// When, by the store's clock.
    pub at: u64,
    /// The value.
    pub value: u64,
}

/// A store of windowed sorted sets, plus the few small structures history needs: sketches,
/// series, claims and values. Implemented by [`MemoryStore`] and `RedisStore`; implement it to
/// keep entries elsewhere.
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Marks the members as seen at their [`score`](Touch::score) (the store's time minus
    /// their age), never moving a member's score back; trims stale members of the touched
    /// windowed keys (at most `policy.trim_limit` per key) and refreshes their expiry; adds the
    /// members of sketch touches to their sketches. Within one shard's touches, the active
    /// set comes before the sets of indexed values, so a reader never sees a value whose entry
    /// is not written yet. A touch marked [`measured`](Touch::measured) has its size within
    /// the window reported.
    fn touch<'a>(&'a self, touches: &'a [Touch], policy: WritePolicy) -> StoreFuture<'a, Written>;

    /// The number of members of `key` seen within `window`.
    fn count<'a>(&'a self, key: &'a str, window: Duration) -> StoreFuture<'a, u64>;

    /// The number of members seen within `window` in each of `keys`, in the same order.
    fn count_each<'a>(&'a self, keys: &'a [String], window: Duration) -> StoreFuture<'a, Vec<u64>>;

    /// Counts the members seen within `window` in each key of `count`, and lists up to
    /// `limit` of them in each key of `list`, all at one moment with one cutoff (the keys share
    /// one cluster slot). Nothing is written in between, so counts read together agree: the
    /// active values of a field never outnumber the active entries.
    fn snapshot<'a>(
        &'a self,
        count: &'a [String],
        list: &'a [String],
        window: Duration,
        limit: usize,
    ) -> StoreFuture<'a, Snapshot>;

    /// Up to `limit` members of `key` seen within `window`, least recent first, starting after
    /// `from`.
    fn range<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
        from: Option<&'a Position>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Scored>>;

    /// When `member` was last seen, if within `window`.
    fn score<'a>(
        &'a self,
        key: &'a str,
        member: &'a [u8],
        window: Duration,
    ) -> StoreFuture<'a, Option<u64>>;

    /// The store's clock, in milliseconds since the Unix epoch. `key` names where to ask (on a
    /// cluster, the node that owns its slot).
    fn now<'a>(&'a self, key: &'a str) -> StoreFuture<'a, u64>;

    /// Sets `key` to `slot` if it holds a smaller number or nothing, and says whether it did:
    /// of many app servers claiming the same slot, exactly one gets `true`. The key expires
    /// after `ttl`.
    fn claim<'a>(&'a self, key: &'a str, slot: u64, ttl: Duration) -> StoreFuture<'a, bool>;

    /// Folds a sample into the series at `key`: a series holds one value per time, the highest
    /// sample given for it. Drops the values older than `keep` before the sample, and makes
    /// the series expire `keep` after this write.
    fn add_sample<'a>(
        &'a self,
        key: &'a str,
        sample: Sample,
        keep: Duration,
    ) -> StoreFuture<'a, ()>;

    /// The values of the series at `key` from `since` to `until`, oldest first. What does not
    /// read as a sample is skipped.
    fn samples<'a>(&'a self, key: &'a str, since: u64, until: u64) -> StoreFuture<'a, Vec<Sample>>;

    /// The estimated number of distinct members of the union of the sketches at `keys` (which
    /// share one cluster slot). Missing keys count as empty.
    fn sketch_count<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, u64>;

    /// Replaces the sketch at `dest` by the union of the sketches at `sources` (which share
    /// its cluster slot; missing ones count as empty) and makes it expire after `ttl`.
    fn sketch_merge<'a>(
        &'a self,
        dest: &'a str,
        sources: &'a [String],
        ttl: Duration,
    ) -> StoreFuture<'a, ()>;

    /// Stores `value` at `key` for `ttl`.
    fn put<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()>;

    /// The value at `key`, if any.
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>>;

    /// Whether each of `members` is in the set at `key` (stale or not). A namespace at its
    /// cap writes only the members already there. This default asks
    /// [`score`](Store::score) for each, over a week (the longest window).
    fn exists<'a>(&'a self, key: &'a str, members: &'a [Member]) -> StoreFuture<'a, Vec<bool>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(members.len());
            for member in members {
                let week = Duration::from_secs(7 * 24 * 3600);
                out.push(self.score(key, member, week).await?.is_some());
            }
            Ok(out)
        })
    }

    /// Removes the members of each of `keys` (windowed sets sharing one cluster slot) last
    /// seen before `policy.window`, at most `policy.trim_limit` per key, oldest first, and
    /// returns them with their scores, per key in order. What presence calls between writes,
    /// so that a visitor who left is reported even when nobody else comes. Of several
    /// processes sweeping at once, each removed member is returned to exactly one.
    ///
    /// This default reports that the store cannot do it.
    fn sweep<'a>(
        &'a self,
        keys: &'a [String],
        policy: WritePolicy,
    ) -> StoreFuture<'a, Vec<Vec<Scored>>> {
        let _ = (keys, policy);
        Box::pin(async { Err(StoreError::Unsupported("sweep (presence)")) })
    }

    /// Appends an entry with `fields` to the event log at `key`, which keeps about its last
    /// `max_len` entries and expires `ttl` after this append; returns the entry's id, which is
    /// higher than every earlier one's.
    ///
    /// This default reports that the store cannot do it.
    fn append<'a>(
        &'a self,
        key: &'a str,
        fields: &'a [(Vec<u8>, Vec<u8>)],
        max_len: usize,
        ttl: Duration,
    ) -> StoreFuture<'a, LogId> {
        let _ = (key, fields, max_len, ttl);
        Box::pin(async { Err(StoreError::Unsupported("append (presence)")) })
    }

    /// Up to `limit` entries of the event log at `key` after `after`, oldest first; with
    /// `after` `None`, none, only the id of the last entry (the place to read from next).
    /// Returns that id (or `after`, or the zero id for an empty log) with the entries.
    ///
    /// This default reports that the store cannot do it.
    fn read_log<'a>(
        &'a self,
        key: &'a str,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreFuture<'a, (LogId, Vec<LogEntry>)> {
        let _ = (key, after, limit);
        Box::pin(async { Err(StoreError::Unsupported("read_log (presence)")) })
    }

    /// The namespace's secret key at `key` (32 hex digits), after storing `value` there if it
    /// held none (or anything else), and makes it expire after `ttl`. Trackers of one
    /// namespace agree on the key through it, so a store shared by several processes must do
    /// it atomically; this default (a `get`, then a `put`) is atomic only within one process.
    fn put_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> StoreFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let kept = match self.get(key).await? {
                Some(kept) if crate::secret::SecretKey::is_stored_form(&kept) => kept,
                _ => value.to_vec(),
            };
            self.put(key, &kept, ttl).await?;
            Ok(kept)
        })
    }
}
