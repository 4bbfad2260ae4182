//! [`Tracker`]: records requests into a buffer, writes it to a store in the background, and
//! answers who is active.

use crate::EncodeError;
use crate::buffer::{Buffers, Member, Offer, Taken};
use crate::client_ip::ExtractContext;
use crate::config::Config;
use crate::core::{
    Core, CoreView, Counts, FieldInfo, HistoryPoint, UniqueVisitors, ValueCounts, ValuePage,
    to_system_time,
};
use crate::entry::ActiveUserEntry;
use crate::error::{BuildError, CursorError, QueryError, StoreError};
use crate::owners::Owners;
use crate::presence::{Kind, RawEvent, Subscription};
use crate::request::RequestHead;
use crate::secret::{SecretKey, hash_secrets_into};
use crate::store::{Position, Store, Touch, WritePolicy};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Notify;

/// What the middlewares that record after the response hold across it.
#[cfg(any(feature = "layer", feature = "actix"))]
mod held;
#[cfg(any(feature = "layer", feature = "actix"))]
pub(crate) use held::HeldMember;

/// The longest member text a cursor may carry: 64 KiB in base64url.
const MAX_CURSOR_MEMBER_TEXT: usize = 65_536 / 3 * 4 + 4;

/// The largest page [`View::list`] returns, whatever limit is asked for.
pub const MAX_PAGE: usize = 1000;

/// A taken member as the store holds it (secret values replaced by their keyed hash), with
/// the text of its fields when indexes need them, and its shard.
struct Stored {
    member: Member,
    texts: Option<Vec<Option<String>>>,
    shard: usize,
}

/// The most sweep calls per shard in one presence sweep (each removes at most the trim limit
/// per key): 16,000 leaves of one set per flush interval are told in time.
const SWEEP_CALLS: usize = 16;

/// What each watched touch of a write is, in order: `None` for the active set, a field's name
/// for its values.
type Watched = Vec<Option<&'static str>>;

/// The store writes of one batch.
struct Prepared {
    /// The touches of each shard that has any, with what each watched touch is (`None`: the
    /// entries; a field's name: its values), in order.
    per_shard: Vec<(usize, Vec<Touch>, Watched)>,
    /// Members too old to be active (they went to the sketches only).
    stale: u64,
    /// Members written to each shard's active set.
    sent: Vec<u64>,
    /// New members not written because their shard was at its part of the cap.
    over_capacity: u64,
}

/// A batch and the result of writing it.
struct BatchWrite {
    members: Vec<Member>,
    /// When each member was recorded, to put it back with its time if the write failed.
    seen: Vec<Instant>,
    /// How many members came from each of the buffer's shards.
    per_shard: Vec<usize>,
    /// How many members were too old to be active, so went to the sketches only.
    stale: u64,
    written: Result<(), StoreError>,
}

/// How many batch writes a flush keeps in flight at once.
const MAX_BATCHES_IN_FLIGHT: usize = 4;

/// How often at most a failing store is reported in the log.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What [`Tracker::record`] did with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The entry will be written at the next flush.
    Queued,
    /// The entry is already waiting or was written less than a refresh interval ago: it
    /// counts as active and costs no write.
    Coalesced,
    /// The path or the user agent matches an exclusion pattern.
    Excluded,
    /// The request lacks a required field (usually: no logged-in user).
    NoEntry,
    /// A required field's value is longer than its limit and is not text that could be cut
    /// (only possible with a [`FieldValue`](crate::FieldValue) of your own that writes a
    /// binary form), or all fields together are longer than
    /// [`max_entry_len`](crate::ConfigBuilder::max_entry_len).
    Invalid(EncodeError),
    /// The entry's user (or client IP) already has
    /// [`max_entries_per_user`](crate::ConfigBuilder::max_entries_per_user) other entries
    /// recorded by this tracker within the window: one visitor cannot fill the active set.
    Refused,
}

impl Outcome {
    /// Whether the visitor counts as active after this call (queued or coalesced).
    pub fn is_recorded(&self) -> bool {
        matches!(self, Outcome::Queued | Outcome::Coalesced)
    }
}

/// Counters of what a tracker did since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Entries queued for writing.
    pub queued: u64,
    /// Records that cost no write (repeats within the refresh interval).
    pub coalesced: u64,
    /// Requests to excluded paths.
    pub excluded: u64,
    /// Requests without an entry.
    pub no_entry: u64,
    /// Entries not recorded because a required value was over its limit and could not be
    /// cut, or all fields together were over
    /// [`max_entry_len`](crate::ConfigBuilder::max_entry_len) (see [`Outcome::Invalid`]).
    pub invalid: u64,
    /// Values cut to their field's limit (text longer than
    /// [`Field::max_len`](crate::Field::max_len)); the visitors were recorded.
    pub truncated: u64,
    /// Waiting entries dropped because the buffer was full (the store down or slow for
    /// long): the oldest waiting entry gives way to the newest.
    pub dropped: u64,
    /// New entries refused because their user (or client IP) already had
    /// [`max_entries_per_user`](crate::ConfigBuilder::max_entries_per_user) entries within
    /// the window (see [`Outcome::Refused`]).
    pub refused: u64,
    /// New entries not written because the namespace was at
    /// [`max_active_entries`](crate::ConfigBuilder::max_active_entries) (its entries already
    /// there are still refreshed); they still count as unique visitors.
    pub over_capacity: u64,
    /// Entries written to the store.
    pub written: u64,
    /// Entries that waited in the buffer longer than the window (the store was down or slow),
    /// so were no longer active when they could be written: they went to the unique-visitor
    /// counts of the minute they were seen in, not to the active set, the counts or history.
    pub stale: u64,
    /// Store writes that failed (their entries went back into the buffer).
    pub write_errors: u64,
    /// Stored members that did not decode as this entry type and were skipped.
    pub undecodable: u64,
    /// Entries not in the store yet: waiting for a flush or being written.
    pub pending: u64,
}

#[derive(Debug, Default)]
struct Counters {
    excluded: AtomicU64,
    no_entry: AtomicU64,
    invalid: AtomicU64,
    truncated: AtomicU64,
    /// Members dropped by the writer; the buffer counts those its offers pushed out.
    dropped: AtomicU64,
    written: AtomicU64,
    stale: AtomicU64,
    write_errors: AtomicU64,
    undecodable: AtomicU64,
}

fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// An entry and when it was last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActiveEntry<E> {
    /// The entry.
    pub entry: E,
    /// When it was last seen, by the store's clock (to within the refresh interval).
    pub last_seen: SystemTime,
}

/// One page of active entries, least recently seen first.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Page<E> {
    /// The entries of this page.
    pub entries: Vec<ActiveEntry<E>>,
    /// Where the next page starts; `None` after the last page.
    pub next: Option<Cursor>,
    /// Stored members on this page that did not decode as `E` and were skipped.
    pub undecodable: usize,
}

/// Where a page starts: pass [`Page::next`] back to get the following page.
///
/// Its text form (`Display` / `FromStr`) is what an HTTP API hands to clients: the last
/// member's score and the member in base64url (`1764388800000-AQIx...`), then `@shard` with
/// several shards, through which pages go in turn. It holds a stored member, hidden fields
/// included, so it is as private as the entries themselves: the JSON API hands out cursors
/// sealed (the member encrypted under the namespace's key, with a nonce), never this text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub(crate) shard: usize,
    pub(crate) position: Position,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.position.score,
            crate::secret::base64url(&self.position.member)
        )?;
        if self.shard > 0 {
            write!(f, "@{}", self.shard)?;
        }
        Ok(())
    }
}

impl FromStr for Cursor {
    type Err = CursorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CursorError(s.chars().take(64).collect());
        let (position, shard) = match s.split_once('@') {
            Some((position, shard)) => (position, Some(shard)),
            None => (s, None),
        };
        let (score, member) = position.split_once('-').ok_or_else(err)?;
        let digits =
            |t: &str| !t.is_empty() && t.len() <= 20 && t.bytes().all(|b| b.is_ascii_digit());
        // A member is at most one entry's bytes (max_entry_len's ceiling, 64 KiB).
        if !digits(score)
            || member.len() > MAX_CURSOR_MEMBER_TEXT
            || shard.is_some_and(|t| !digits(t) || t.len() > 4)
        {
            return Err(err());
        }
        Ok(Cursor {
            shard: shard.map_or(Ok(0), str::parse).map_err(|_| err())?,
            position: Position {
                score: score.parse().map_err(|_| err())?,
                member: crate::secret::from_base64url(member).ok_or_else(err)?,
            },
        })
    }
}

struct Inner<E> {
    core: Core,
    cx: ExtractContext,
    /// (position in the field list, name, grouped) of each indexed field.
    indexed: Vec<(usize, &'static str, bool)>,
    buffer: Buffers,
    /// Serialises flushes: the background writer's and explicit ones.
    flush_lock: tokio::sync::Mutex<()>,
    wake: Arc<Notify>,
    closed: AtomicBool,
    counters: Counters,
    error_log: Mutex<(Option<Instant>, u64)>,
    /// The last sampling slot (of the store's clock) this tracker tried, plus one; 0 before
    /// the first.
    sampled_minute: AtomicU64,
    /// Whether this tracker has written the namespace description yet.
    schema_written: AtomicBool,
    /// Per shard: the active entries its last write reported (with a cap).
    sizes: Arc<Vec<AtomicU64>>,
    /// New entries not written because the namespace was at its cap.
    over_capacity: AtomicU64,
    /// Presence: the subscribers' side of the event log.
    hub: crate::presence::Hub,
    /// When the background writer last swept for presence.
    swept: Mutex<Option<Instant>>,
    /// Where the writer and presence's reader run.
    runtime: tokio::runtime::Handle,
    _entry: PhantomData<fn() -> E>,
}

/// Records visitors and answers who is active.
///
/// `record` returns at once: it extracts the entry, and hands its member to a bounded buffer
/// that a background task writes to the store every flush interval, one store round trip per
/// batch. Repeats within the refresh interval are coalesced. When the store is down the
/// application is not slowed: entries wait in the buffer (up to its capacity) and are written
/// when the store is back.
///
/// Cloning a tracker is cheap and shares everything. Call [`shutdown`](Tracker::shutdown)
/// before the application exits to write what is still buffered.
///
/// # Examples
///
/// ```
/// use active_users::{Config, DefaultEntry, MemoryStore, Tracker, User};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let tracker = Tracker::<DefaultEntry>::new(Config::default(), MemoryStore::new())?;
///
/// let mut request = http::Request::get("/home").body(())?;
/// request.extensions_mut().insert(User::new("42").with_name("alice"));
/// assert!(tracker.record(&request).is_recorded());
///
/// tracker.flush().await?;
/// assert_eq!(tracker.count().await?, 1);
/// assert_eq!(tracker.count_distinct("user_id").await?, 1);
/// let page = tracker.list(100, None).await?;
/// assert_eq!(page.entries[0].entry.username.as_deref(), Some("alice"));
/// # Ok(()) }
/// ```
pub struct Tracker<E> {
    inner: Arc<Inner<E>>,
}

impl<E> Clone for Tracker<E> {
    fn clone(&self) -> Self {
        Tracker {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<E> fmt::Debug for Tracker<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracker")
            .field("namespace", &self.inner.core.config.namespace)
            .field("store", &self.inner.core.store)
            .finish_non_exhaustive()
    }
}

impl<E: ActiveUserEntry> Tracker<E> {
    /// A tracker over `store`, with its background writer started.
    ///
    /// # Errors
    /// [`BuildError::NoRuntime`] outside a Tokio runtime; [`BuildError::DuplicateField`] when
    /// the entry type has two fields of one name.
    pub fn new(config: Config, store: impl Store) -> Result<Self, BuildError> {
        Self::with_store(config, Arc::new(store))
    }

    /// Like [`new`](Tracker::new), with a store shared with other trackers.
    ///
    /// # Errors
    /// As [`new`](Tracker::new).
    pub fn with_store(config: Config, store: Arc<dyn Store>) -> Result<Self, BuildError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        Self::on_runtime(config, store, &runtime)
    }

    /// Like [`with_store`](Tracker::with_store), with the background writer spawned on
    /// `runtime` (a Tokio runtime the application, or [`BlockingTracker`](crate::BlockingTracker),
    /// owns), from any thread: an application without an async runtime of its own can record.
    ///
    /// # Errors
    /// [`BuildError::DuplicateField`] and [`BuildError::SecretNotText`] as for
    /// [`new`](Tracker::new).
    pub fn on_runtime(
        config: Config,
        store: Arc<dyn Store>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Self, BuildError> {
        let mut names = HashSet::new();
        for field in E::fields() {
            if !names.insert(field.name) {
                return Err(BuildError::DuplicateField(field.name));
            }
            if field.secret && field.kind != crate::ValueKind::Text {
                return Err(BuildError::SecretNotText(field.name));
            }
        }
        let indexed = E::fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| f.indexed)
            .map(|(i, f)| (i, f.name, f.grouped))
            .collect();
        let fields = E::fields().iter().map(FieldInfo::from).collect();
        // The owner of an entry: its first identity field, else (when the type has none, or
        // the entry leaves it out) its first IP field.
        let owner = E::fields().iter().position(|f| f.indexed);
        let ip = E::fields()
            .iter()
            .position(|f| f.kind == crate::ValueKind::Ip);
        let owners = || Owners::new(owner, ip, config.max_entries_per_user, config.window);
        let capped = (owner.is_some() || ip.is_some()) && config.max_entries_per_user > 0;
        let buffer = Buffers::new(
            config.buffer_capacity,
            config.refresh_interval,
            config.window,
            (owner, ip),
            capped.then_some(&owners as &dyn Fn() -> Owners),
        );
        let inner = Arc::new(Inner {
            buffer,
            cx: {
                let cx = ExtractContext::new(config.trusted_proxies.clone())
                    .with_anonymization(config.anonymization);
                match &config.client_ip_header {
                    Some(header) => cx.with_header(header.clone()),
                    None => cx,
                }
            },
            indexed,
            flush_lock: tokio::sync::Mutex::new(()),
            wake: Arc::new(Notify::new()),
            closed: AtomicBool::new(false),
            counters: Counters::default(),
            error_log: Mutex::new((None, 0)),
            sampled_minute: AtomicU64::new(0),
            schema_written: AtomicBool::new(false),
            sizes: Arc::new((0..config.shards).map(|_| AtomicU64::new(0)).collect()),
            over_capacity: AtomicU64::new(0),
            hub: crate::presence::Hub::new(
                crate::core::Keys::new(&config).presence(),
                Arc::clone(&store),
            ),
            swept: Mutex::new(None),
            runtime: runtime.clone(),
            core: Core::new(config, store, fields),
            _entry: PhantomData,
        });
        runtime.spawn(background_writer(
            Arc::downgrade(&inner),
            Arc::clone(&inner.wake),
            inner.core.config.flush_interval,
        ));
        Ok(Tracker { inner })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.core.config
    }

    /// The key of each shard's active set, in shard order (for operators: `MEMORY USAGE`,
    /// `CLUSTER KEYSLOT`, monitoring).
    pub fn shard_keys(&self) -> &[String] {
        &self.inner.core.active_keys
    }

    /// The extraction context (the trusted-proxy policy) entries are extracted with.
    pub fn extract_context(&self) -> &ExtractContext {
        &self.inner.cx
    }

    /// Records a request with any body type. Never waits for the store.
    pub fn record<B>(&self, request: &http::Request<B>) -> Outcome {
        self.record_head(&RequestHead::from(request))
    }

    /// Records a request from its parts.
    pub fn record_parts(&self, parts: &http::request::Parts) -> Outcome {
        self.record_head(&RequestHead::from(parts))
    }

    /// Records a request from its borrowed head.
    pub fn record_head(&self, head: &RequestHead<'_>) -> Outcome {
        if let Err(outcome) = self.check(head) {
            return outcome;
        }
        // Extracted and encoded in one pass into this thread's scratch buffer: a repeat
        // visitor costs no allocation.
        crate::codec::with_scratch(|scratch| match self.encode_request(head, scratch) {
            Some(cut) => self.offer_member(cut.map(|cut| (&scratch[..], cut))),
            None => Outcome::NoEntry,
        })
    }

    /// The exclusion check, counted.
    fn check(&self, head: &RequestHead<'_>) -> Result<(), Outcome> {
        let config = &self.inner.core.config;
        // Without agent patterns (the default) the header is not even looked up.
        let agent_excluded = || {
            config.excludes_agents()
                && head
                    .header_named(&http::header::USER_AGENT)
                    .and_then(|v| std::str::from_utf8(v).ok())
                    .is_some_and(|agent| config.is_excluded_agent(agent))
        };
        if config.is_excluded(head.path()) || agent_excluded() {
            bump(&self.inner.counters.excluded, 1);
            return Err(Outcome::Excluded);
        }
        Ok(())
    }

    /// The request's member, encoded into `out`, with how many values were cut (or the
    /// encoding's error); `None`, counted, when the request has no entry.
    fn encode_request(
        &self,
        head: &RequestHead<'_>,
        out: &mut Vec<u8>,
    ) -> Option<Result<usize, EncodeError>> {
        let mut enc = crate::codec::Encoder::new(out, E::fields());
        if E::encode_request(head, &self.inner.cx, &mut enc).is_none() {
            bump(&self.inner.counters.no_entry, 1);
            return None;
        }
        Some(enc.finish())
    }

    /// Records an entry built by the application.
    pub fn record_entry(&self, entry: &E) -> Outcome {
        // Encode into this thread's scratch buffer: a repeat visitor costs no allocation.
        crate::codec::with_scratch(|scratch| {
            let cut = crate::entry::encode_counting_cuts(entry, scratch);
            self.offer_member(cut.map(|cut| (&scratch[..], cut)))
        })
    }

    /// Offers an encoded member (with how many of its values were cut) to the buffer, or
    /// counts why it cannot be.
    fn offer_member(&self, member: Result<(&[u8], usize), EncodeError>) -> Outcome {
        let counters = &self.inner.counters;
        let config = &self.inner.core.config;
        let member = member.and_then(|(member, cut)| {
            if cut > 0 {
                bump(&counters.truncated, cut as u64);
            }
            if member.len() > config.max_entry_len {
                return Err(EncodeError::EntryTooLong {
                    len: member.len(),
                    limit: config.max_entry_len,
                });
            }
            Ok(member)
        });
        let (offer, batch_waiting) = match member {
            Ok(member) => self
                .inner
                .buffer
                .offer(member, Instant::now(), config.batch_size),
            Err(err) => {
                bump(&counters.invalid, 1);
                return Outcome::Invalid(err);
            }
        };
        // The buffer counted the offer.
        match offer {
            Offer::Queued => {
                if batch_waiting {
                    self.inner.wake.notify_one();
                }
                Outcome::Queued
            }
            Offer::Coalesced => Outcome::Coalesced,
            Offer::QueuedDroppingOldest => Outcome::Queued,
            Offer::Refused => Outcome::Refused,
        }
    }

    /// Writes everything recorded so far to the store and waits for it.
    ///
    /// # Errors
    /// The store's error; the entries stay buffered and are retried by the background writer.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush_pending().await?;
        if self.inner.core.config.presence {
            self.inner.sweep().await?;
        }
        Ok(())
    }

    /// Writes what is buffered and stops the background writer. Records made afterwards stay
    /// in the buffer until [`flush`](Tracker::flush) is called.
    ///
    /// # Errors
    /// The store's error, as for [`flush`](Tracker::flush).
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.wake.notify_one();
        self.inner.flush_pending().await
    }

    /// Who joins and leaves the namespace from now on, across every application server
    /// writing to it: an event per entry that becomes active (joined) and per entry whose
    /// window passes (left), with the store's time. See [`presence`](crate::presence) for
    /// what is exact and how it is bounded.
    ///
    /// # Errors
    /// [`QueryError::PresenceOff`] unless [`presence`](crate::ConfigBuilder::presence) is on;
    /// the store's error or a timeout when the event log cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// use active_users::{Change, Config, DefaultEntry, MemoryStore, Tracker, User};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = Config::builder().presence(true).build()?;
    /// let tracker = Tracker::<DefaultEntry>::new(config, MemoryStore::new())?;
    /// let mut joins = tracker.subscribe().await?;
    ///
    /// let mut request = http::Request::get("/").body(())?;
    /// request.extensions_mut().insert(User::new("42"));
    /// tracker.record(&request);
    /// tracker.flush().await?;
    ///
    /// let event = joins.recv().await?;
    /// assert_eq!(event.change, Change::Joined);
    /// assert_eq!(event.item.user_id, "42");
    /// # Ok(()) }
    /// ```
    pub async fn subscribe(&self) -> Result<Subscription<E>, QueryError> {
        let rx = self.presence_receiver(Kind::Entries).await?;
        Ok(Subscription::new(rx, None, Box::new(pick_entry::<E>)))
    }

    /// Who joins and leaves by the values of an `index` or `distinct` field: the value of a
    /// user id joins with the first of its entries to become active and leaves with the last
    /// one's window. Exact for the field that picks the shard (the first indexed one) and for
    /// every field of a namespace of one shard; on several shards a value of another field is
    /// followed per shard, so it may join and leave once per shard it is in.
    ///
    /// # Errors
    /// As [`subscribe`](Tracker::subscribe), and [`QueryError::UnknownField`] or
    /// [`QueryError::NotIndexed`] for a field that is not an `index` or `distinct` one.
    pub async fn subscribe_field(&self, field: &str) -> Result<Subscription<String>, QueryError> {
        let core = &self.inner.core;
        let name = core
            .view(core.config.window)
            .indexed_field(field)?
            .name
            .clone();
        let rx = self.presence_receiver(Kind::Field(name.clone())).await?;
        Ok(Subscription::new(rx, Some(name), Box::new(pick_value)))
    }

    /// The presence events after `after` that the namespace's event log still holds (at most
    /// `limit`), and whether some after it may be gone from the log (it keeps its last
    /// [`LOG_MAX_LEN`](crate::presence::LOG_MAX_LEN) entries).
    #[cfg_attr(not(feature = "api"), allow(dead_code))] // the JSON API's `Last-Event-ID`
    pub(crate) async fn presence_backlog(
        &self,
        after: crate::presence::EventId,
        limit: usize,
    ) -> Result<(Vec<RawEvent>, bool), QueryError> {
        use crate::store::LogId;
        let core = &self.inner.core;
        if !core.config.presence {
            return Err(QueryError::PresenceOff);
        }
        let key = core.keys.presence();
        let (_, first) = core
            .timed(core.store.read_log(&key, Some(LogId::default()), 1))
            .await?;
        let lost = first.first().is_some_and(|e| e.id > after.entry);
        // From the entry holding `after` itself: the events after it in that entry count.
        let mut from = match after.entry {
            LogId { ms: 0, seq: 0 } => LogId::default(),
            LogId { ms, seq: 0 } => LogId {
                ms: ms - 1,
                seq: u64::MAX,
            },
            LogId { ms, seq } => LogId { ms, seq: seq - 1 },
        };
        let mut events = Vec::new();
        while events.len() < limit {
            let (end, entries) = core
                .timed(core.store.read_log(&key, Some(from), 16))
                .await?;
            for entry in &entries {
                events.extend(crate::presence::parse_entry(entry).filter(|e| e.id > after));
            }
            if entries.len() < 16 || end == from {
                break;
            }
            from = end;
        }
        events.truncate(limit);
        Ok((events, lost))
    }

    /// A receiver of presence events of one kind from now on.
    pub(crate) async fn presence_receiver(
        &self,
        kind: Kind,
    ) -> Result<tokio::sync::broadcast::Receiver<Arc<RawEvent>>, QueryError> {
        let inner = &self.inner;
        if !inner.core.config.presence {
            return Err(QueryError::PresenceOff);
        }
        let timeout = inner.core.config.query_timeout;
        match tokio::time::timeout(timeout, inner.hub.subscribe(kind, &inner.runtime)).await {
            Ok(rx) => Ok(rx?),
            Err(_) => Err(QueryError::Timeout(timeout)),
        }
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// `cursor` with its member encrypted under the namespace's key, for the JSON API.
    #[cfg_attr(not(feature = "api"), allow(dead_code))] // the JSON API seals its cursors
    pub(crate) async fn seal_cursor(&self, cursor: Cursor) -> Result<Cursor, QueryError> {
        self.inner.core.seal_cursor(cursor).await
    }

    /// A cursor of the JSON API, opened.
    #[cfg_attr(not(feature = "api"), allow(dead_code))] // the JSON API seals its cursors
    pub(crate) async fn open_cursor(&self, cursor: Cursor) -> Result<Cursor, QueryError> {
        self.inner.core.open_cursor(cursor).await
    }

    /// Queries over a window shorter than the configured one (a longer one is an error, as
    /// older entries are not kept).
    pub fn within(&self, window: Duration) -> View<'_, E> {
        View {
            inner: &self.inner,
            window,
        }
    }

    fn view(&self) -> View<'_, E> {
        self.within(self.inner.core.config.window)
    }

    /// The number of active entries (user x session x IP ... combinations, as in the Python
    /// package). Costs O(log N).
    ///
    /// # Errors
    /// [`QueryError`] when the store fails or times out.
    pub async fn count(&self) -> Result<u64, QueryError> {
        self.view().count().await
    }

    /// The active entries and the distinct count of every indexed field, read together in one
    /// store call per shard with one cutoff, so that they agree (`count_distinct` and `count`
    /// called one after the other may see different moments). Costs O(log N) per field; a
    /// field that does not pick the shard, on several shards, reads its values after the
    /// snapshot (at most 10,000 per shard, 128 per store call), and its count is never more
    /// than the entries'.
    ///
    /// # Errors
    /// [`QueryError`] when the store fails or times out.
    pub async fn counts(&self) -> Result<Counts, QueryError> {
        self.view().counts().await
    }

    /// The number of distinct active values of an indexed field: `count_distinct("user_id")`
    /// is the number of active users. Costs O(log N).
    ///
    /// # Errors
    /// [`QueryError::UnknownField`], [`QueryError::NotIndexed`], or the store's failure.
    pub async fn count_distinct(&self, field: &str) -> Result<u64, QueryError> {
        self.view().count_distinct(field).await
    }

    /// The values of a field marked `#[active_users(index)]` with the most active entries,
    /// most first: at most [`MAX_TOP`](crate::MAX_TOP) of them, with how many other values
    /// (and entries) there are. Each store call is bounded (128 values read, or 128 counted),
    /// so however many values visitors send, no call keeps Redis busy for long; a
    /// shard's values are read up to 10,000 ([`ValueCounts::complete`] says when there were
    /// more).
    ///
    /// # Errors
    /// As [`count_distinct`](Tracker::count_distinct), and [`QueryError::NotGrouped`] for a
    /// field marked `distinct`.
    pub async fn count_by(&self, field: &str) -> Result<ValueCounts, QueryError> {
        self.view().count_by(field).await
    }

    /// A page of at most `limit` (capped at [`MAX_PAGE`]) active values of an indexed field,
    /// least recently seen first, starting at `cursor`: each user once, with when they were
    /// last seen, where [`list`](Tracker::list) shows each session. For a field marked
    /// `index`, each value also carries its number of active entries. Costs O(log N + page)
    /// for the first indexed field (such as `user_id`), which picks the shard; with several
    /// shards, another field's values are read from every shard (at most 10,000 each) and
    /// merged, so that each still appears once.
    ///
    /// # Errors
    /// [`QueryError::UnknownField`], [`QueryError::NotIndexed`], [`QueryError::Cursor`] for a
    /// cursor naming a shard that does not exist, or the store's failure.
    pub async fn values(
        &self,
        field: &str,
        limit: usize,
        cursor: Option<Cursor>,
    ) -> Result<ValuePage, QueryError> {
        self.view().values(field, limit, cursor).await
    }

    /// A page of at most `limit` (capped at [`MAX_PAGE`]) active entries, least recently seen
    /// first, starting at `cursor`.
    ///
    /// # Errors
    /// [`QueryError`] when the store fails or times out.
    pub async fn list(&self, limit: usize, cursor: Option<Cursor>) -> Result<Page<E>, QueryError> {
        self.view().list(limit, cursor).await
    }

    /// When `entry` was last seen, if it is active.
    ///
    /// # Errors
    /// [`QueryError`] when the store fails or times out.
    pub async fn last_seen(&self, entry: &E) -> Result<Option<SystemTime>, QueryError> {
        self.view().last_seen(entry).await
    }

    /// The peak active count of each minute within `span`, oldest first: one point per minute
    /// in which some tracker of the namespace flushed (trackers flush every
    /// [`flush_interval`](crate::ConfigBuilder::flush_interval), so a running application
    /// has a point every minute). The count is sampled every
    /// [`SAMPLE_EVERY`](crate::SAMPLE_EVERY) (10 s) by whichever tracker of the namespace
    /// flushes first in that slot, and a minute's point is the highest of its samples. One
    /// store read, linear in the points (at most 1,440 for a day).
    ///
    /// # Errors
    /// [`QueryError::HistoryOff`], [`QueryError::SpanTooLong`] beyond the kept history, or the
    /// store's failure.
    pub async fn history(&self, span: Duration) -> Result<Vec<HistoryPoint>, QueryError> {
        self.inner
            .core
            .traced("history", self.inner.core.history(span))
            .await
    }

    /// The minute with the highest active count within `span`, if any was sampled.
    ///
    /// # Errors
    /// As [`history`](Tracker::history).
    pub async fn peak(&self, span: Duration) -> Result<Option<HistoryPoint>, QueryError> {
        self.inner
            .core
            .traced("peak", self.inner.core.peak(span))
            .await
    }

    /// Unique visitors (distinct entries) within `span`, from HyperLogLog sketches: within
    /// [`UNIQUE_STANDARD_ERROR`](crate::UNIQUE_STANDARD_ERROR) (0.81%) of the exact number as
    /// one standard error. Spans up to an hour are counted by the minute (at most 61 sketches
    /// per shard), longer ones by the hour (at most 25 for a day), so the span is rounded
    /// down to the start of its first minute or hour; see [`UniqueVisitors::since`].
    ///
    /// # Errors
    /// As [`history`](Tracker::history).
    pub async fn unique(&self, span: Duration) -> Result<UniqueVisitors, QueryError> {
        self.inner
            .core
            .traced("unique", self.inner.core.unique(span))
            .await
    }
}

/// Queries over a chosen window; see [`Tracker::within`]. The methods are those of
/// [`Tracker`].
#[derive(Debug)]
pub struct View<'a, E> {
    inner: &'a Inner<E>,
    window: Duration,
}

impl<E> Drop for Inner<E> {
    fn drop(&mut self) {
        // The background writer holds only a Weak: wake it so that it sees the tracker is gone
        // and ends now, not at its next tick.
        self.wake.notify_one();
    }
}

impl<E> fmt::Debug for Inner<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner").finish_non_exhaustive()
    }
}

impl<E: ActiveUserEntry> View<'_, E> {
    fn core(&self) -> CoreView<'_> {
        self.inner.core.view(self.window)
    }

    /// See [`Tracker::count`].
    ///
    /// # Errors
    /// As [`Tracker::count`].
    pub async fn count(&self) -> Result<u64, QueryError> {
        self.inner.core.traced("count", self.core().count()).await
    }

    /// See [`Tracker::values`].
    ///
    /// # Errors
    /// As [`Tracker::values`].
    pub async fn values(
        &self,
        field: &str,
        limit: usize,
        cursor: Option<Cursor>,
    ) -> Result<ValuePage, QueryError> {
        self.inner
            .core
            .traced("values", self.core().values(field, limit, cursor))
            .await
    }

    /// See [`Tracker::counts`].
    ///
    /// # Errors
    /// As [`Tracker::counts`].
    pub async fn counts(&self) -> Result<Counts, QueryError> {
        self.inner.core.traced("counts", self.core().counts()).await
    }

    /// See [`Tracker::count_distinct`]. For the field that picks the shard (the first indexed
    /// field) it is a sum of O(log N) counts; for other fields with several shards it is the
    /// size of the union of the shards' values, linear in them.
    ///
    /// # Errors
    /// As [`Tracker::count_distinct`].
    pub async fn count_distinct(&self, field: &str) -> Result<u64, QueryError> {
        self.inner
            .core
            .traced("count_distinct", self.core().count_distinct(field))
            .await
    }

    /// See [`Tracker::count_by`]. Reads the active values (up to 10,000 per shard) and counts
    /// each, every shard at once, in bounded store calls.
    ///
    /// # Errors
    /// As [`Tracker::count_by`].
    pub async fn count_by(&self, field: &str) -> Result<ValueCounts, QueryError> {
        self.inner
            .core
            .traced("count_by", self.core().count_by(field))
            .await
    }

    /// See [`Tracker::list`].
    ///
    /// # Errors
    /// As [`Tracker::list`].
    pub async fn list(&self, limit: usize, cursor: Option<Cursor>) -> Result<Page<E>, QueryError> {
        self.inner
            .core
            .traced("list", self.list_untraced(limit, cursor))
            .await
    }

    async fn list_untraced(
        &self,
        limit: usize,
        cursor: Option<Cursor>,
    ) -> Result<Page<E>, QueryError> {
        let (raw, next) = self.core().range(limit, cursor).await?;
        let mut undecodable = 0;
        let entries = raw
            .into_iter()
            .filter_map(|scored| match E::decode(&scored.member) {
                Ok(entry) => Some(ActiveEntry {
                    entry,
                    last_seen: to_system_time(scored.score),
                }),
                Err(_) => {
                    undecodable += 1;
                    None
                }
            })
            .collect();
        bump(&self.inner.counters.undecodable, undecodable as u64);
        Ok(Page {
            entries,
            next,
            undecodable,
        })
    }

    /// See [`Tracker::last_seen`].
    ///
    /// # Errors
    /// As [`Tracker::last_seen`].
    pub async fn last_seen(&self, entry: &E) -> Result<Option<SystemTime>, QueryError> {
        self.inner
            .core
            .traced("last_seen", self.last_seen_untraced(entry))
            .await
    }

    async fn last_seen_untraced(&self, entry: &E) -> Result<Option<SystemTime>, QueryError> {
        let core = &self.inner.core;
        let member = core.stored_member(entry.encode()?).await?;
        // The shard from the values as stored (a secret hashed, a long identity cut), as the
        // writer picks it.
        let stored = E::decode(&member).ok().map(|e| e.values());
        let shard = core.shard_of(&member, stored.as_deref());
        let score = self
            .core()
            .timed(
                core.store
                    .score(&core.active_keys[shard], &member, self.window),
            )
            .await?;
        Ok(score.map(to_system_time))
    }
}

impl<E: ActiveUserEntry> Inner<E> {
    fn stats(&self) -> Stats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (offers, unwritten) = self.buffer.counts();
        let unwritten = unwritten as u64;
        Stats {
            queued: offers.queued,
            coalesced: offers.coalesced,
            excluded: get(&c.excluded),
            no_entry: get(&c.no_entry),
            invalid: get(&c.invalid),
            truncated: get(&c.truncated),
            dropped: get(&c.dropped) + offers.dropped,
            refused: offers.refused,
            over_capacity: get(&self.over_capacity),
            written: get(&c.written),
            stale: get(&c.stale),
            write_errors: get(&c.write_errors),
            undecodable: get(&c.undecodable),
            pending: unwritten,
        }
    }

    /// Sets the metrics gauges from the namespace's counts (by the tracker that took the
    /// sample); a failure is logged and waits for the next sample.
    #[cfg(feature = "metrics")]
    async fn publish_gauges(&self) {
        let core = &self.core;
        let counts = match core.view(core.config.window).counts().await {
            Ok(counts) => counts,
            Err(err) => return self.log_query_error(&err),
        };
        let unique = if core.config.history.is_zero() {
            None
        } else {
            core.unique(Duration::from_secs(3600))
                .await
                .ok()
                .map(|u| u.visitors)
        };
        crate::metrics::gauges(&core.config.namespace, &counts, unique);
    }

    /// The store writes for one batch at `now` (the store's clock), one list per shard that
    /// has members: the unique-visitor sketches, the active set, and for each indexed field the
    /// set of its values and the set of entries per value. `ages` says how long before `now`
    /// each member was recorded.
    ///
    /// A member recorded longer than the window ago (it waited while the store was down) is no
    /// longer active: it goes to the sketches of the minute and hour it was seen in, and
    /// nowhere else. An active member goes to the sketches of the current minute and hour. Only the members `taken.sketch` marks (new to this minute's sketches in
    /// this tracker) go to the sketches: a member rewritten every refresh interval is added
    /// once a minute. Members in `refused` (stored form) are new to a shard at its part of
    /// the namespace's cap: they go to the sketches only, counted as over capacity.
    fn touches(
        &self,
        taken: &Taken,
        stored: &[Option<Stored>],
        ages: &[u64],
        now: u64,
        refused: &HashSet<Member>,
    ) -> Prepared {
        /// Members of one set with their ages.
        #[derive(Default, Clone)]
        struct Aged {
            members: Vec<Member>,
            ages: Vec<u64>,
        }
        impl Aged {
            fn push(&mut self, member: &Member, age: u64) {
                self.members.push(Arc::clone(member));
                self.ages.push(age);
            }
        }
        let core = &self.core;
        let keys = &core.keys;
        let shards = keys.shards();
        let window = crate::store::ms(core.config.window);
        let mut active: Vec<Aged> = vec![Aged::default(); shards];
        let mut sketched: Vec<Vec<(Member, u64)>> = vec![Vec::new(); shards];
        // Per shard, per indexed field: each value with the age of its most recent entry.
        let mut values: Vec<BTreeMap<&str, HashMap<&str, u64>>> = vec![BTreeMap::new(); shards];
        let mut by_value: Vec<HashMap<String, Aged>> = vec![HashMap::new(); shards];
        let mut stale = 0;
        let mut over_capacity = 0;
        for ((stored, &new), &age) in stored.iter().zip(&taken.sketch).zip(ages) {
            let Some(Stored {
                member,
                texts,
                shard,
            }) = stored
            else {
                continue;
            };
            let shard = *shard;
            if new {
                // An active member counts in the minute it is written (its request was at most
                // a window ago); a stale one in the minute it was seen.
                let seen = if age >= window {
                    now.saturating_sub(age)
                } else {
                    now
                };
                sketched[shard].push((Arc::clone(member), seen));
            }
            if age >= window {
                stale += 1;
                continue;
            }
            if refused.contains(member) {
                over_capacity += 1;
                continue;
            }
            active[shard].push(member, age);
            let Some(texts) = texts else {
                continue;
            };
            for &(index, name, grouped) in &self.indexed {
                if let Some(Some(text)) = texts.get(index) {
                    if grouped {
                        by_value[shard]
                            .entry(keys.by_value(shard, name, text))
                            .or_default()
                            .push(member, age);
                    }
                    let youngest = values[shard]
                        .entry(name)
                        .or_default()
                        .entry(text.as_str())
                        .or_insert(age);
                    *youngest = (*youngest).min(age);
                }
            }
        }
        let history = !core.config.history.is_zero();
        let presence = core.config.presence;
        let mut out = Vec::new();
        let mut sent = vec![0; shards];
        for (shard, (((active, values), by_value), sketched)) in active
            .into_iter()
            .zip(values)
            .zip(by_value)
            .zip(sketched)
            .enumerate()
        {
            let mut touches = Vec::with_capacity(3 + values.len() + by_value.len());
            // Presence: what each watched touch is, in order (`None`: the entries).
            let mut watched = Vec::new();
            let watch = |touch: Touch| {
                if presence { touch.watched() } else { touch }
            };
            if history && !sketched.is_empty() {
                touches.extend(core.sketch_touches(shard, sketched, now));
            }
            if !active.members.is_empty() {
                sent[shard] = active.members.len() as u64;
                // The active set first: a value is never written before its entry.
                let active = watch(Touch::seen_ago(
                    core.active_keys[shard].clone(),
                    active.members,
                    active.ages,
                ));
                // With a cap, the write reports the shard's size.
                touches.push(if core.config.max_active_entries > 0 {
                    active.measured()
                } else {
                    active
                });
                watched.push(None);
                for (name, set) in values {
                    let (members, ages) = set
                        .into_iter()
                        .map(|(v, age)| (Member::from(v.as_bytes()), age))
                        .unzip();
                    touches.push(watch(Touch::seen_ago(
                        keys.values(shard, name),
                        members,
                        ages,
                    )));
                    watched.push(Some(name));
                }
                touches.extend(
                    by_value
                        .into_iter()
                        .map(|(key, set)| Touch::seen_ago(key, set.members, set.ages)),
                );
            }
            if !touches.is_empty() {
                if !presence {
                    watched.clear();
                }
                out.push((shard, touches, watched));
            }
        }
        Prepared {
            per_shard: out,
            stale,
            sent,
            over_capacity,
        }
    }

    /// Writes what is pending, in a debug span `active_users.flush`, and logs at debug how
    /// many entries it wrote, how long it took, and any failure (nothing when there was
    /// nothing to write).
    async fn flush_pending(&self) -> Result<(), StoreError> {
        use tracing::Instrument as _;
        let _serial = self.flush_lock.lock().await;
        let pending = self.buffer.pending() as u64;
        let span = tracing::debug_span!(
            "active_users.flush",
            namespace = %self.core.config.namespace,
            pending
        );
        let counters = &self.counters;
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let before = (
            read(&counters.written),
            read(&counters.stale),
            read(&self.over_capacity),
        );
        let started = Instant::now();
        let result = self.flush_serial().instrument(span.clone()).await;
        #[cfg(feature = "metrics")]
        crate::metrics::counters(&self.core.config.namespace, &self.stats());
        if pending > 0 {
            let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            let written = read(&counters.written) - before.0;
            let stale = read(&counters.stale) - before.1;
            let over_capacity = read(&self.over_capacity) - before.2;
            span.in_scope(|| match &result {
                Ok(()) => tracing::debug!(
                    pending,
                    written,
                    stale,
                    over_capacity,
                    elapsed_us,
                    "flush written"
                ),
                Err(err) => {
                    tracing::debug!(pending, written, error = %err, elapsed_us, "flush failed")
                }
            });
        }
        result
    }

    /// Presence: removes from every shard's watched sets what left since the last write or
    /// sweep, and appends the leaves to the event log.
    async fn sweep(&self) -> Result<(), StoreError> {
        let core = &self.core;
        let policy = WritePolicy::new(core.config.window);
        let window_ms = crate::store::ms(core.config.window);
        let timeout = core.config.query_timeout;
        let mut fields = Vec::new();
        for shard in 0..core.keys.shards() {
            let mut keys = vec![core.active_keys[shard].clone()];
            let mut labels = vec![None];
            for &(_, name, _) in &self.indexed {
                keys.push(core.keys.values(shard, name));
                labels.push(Some(name));
            }
            // Each call removes at most the trim limit per key, so that none holds the store
            // long; a crowd that left together takes several calls of one sweep.
            for _ in 0..SWEEP_CALLS {
                let removed = tokio::time::timeout(timeout, core.store.sweep(&keys, policy))
                    .await
                    .unwrap_or(Err(StoreError::Timeout(timeout)))?;
                let full = removed.iter().any(|left| left.len() >= policy.trim_limit);
                for (left, field) in removed.into_iter().zip(&labels) {
                    let changes = crate::store::Changes {
                        joined: Vec::new(),
                        left,
                    };
                    crate::presence::log_fields(&changes, *field, window_ms, &mut fields);
                }
                if !full {
                    break;
                }
            }
        }
        if !fields.is_empty() {
            let key = core.keys.presence();
            let append = crate::presence::append(&*core.store, &key, &fields, policy.key_ttl);
            tokio::time::timeout(timeout, append)
                .await
                .unwrap_or(Err(StoreError::Timeout(timeout)))?;
        }
        Ok(())
    }

    /// A sweep if presence is on and the last was a flush interval ago or more; failures are
    /// logged.
    async fn sweep_if_due(&self) {
        if !self.core.config.presence {
            return;
        }
        {
            let mut swept = self
                .swept
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if swept.is_some_and(|at| at.elapsed() < self.core.config.flush_interval) {
                return;
            }
            *swept = Some(Instant::now());
        }
        if let Err(err) = self.sweep().await {
            self.log_error(&err);
        }
    }

    /// The flush itself; the caller holds the flush lock.
    async fn flush_serial(&self) -> Result<(), StoreError> {
        // The store's clock (cached by `RedisStore`): it picks the minute and hour of the
        // unique-visitor sketches and the sampling slot.
        let timeout = self.core.config.query_timeout;
        let now = tokio::time::timeout(timeout, self.core.store.now(&self.core.keys.history()))
            .await
            .unwrap_or(Err(StoreError::Timeout(timeout)));
        let now = match now {
            Ok(now) => now,
            Err(err) => {
                self.log_error(&err);
                if self.buffer.pending() == 0 {
                    return Ok(()); // nothing to write; sampling waits for the store
                }
                bump(&self.counters.write_errors, 1);
                return Err(err);
            }
        };
        let result = self.write_pending(now).await;
        self.sample_if_due(now).await;
        result
    }

    /// Writes what is pending now; under steady traffic newer records wait for the next flush.
    async fn write_pending(&self, now: u64) -> Result<(), StoreError> {
        let core = &self.core;
        let policy = WritePolicy::new(core.config.window);
        let batch_size = core.config.batch_size;
        let timeout = core.config.query_timeout;
        // What waits now, per shard: the rounds write that much, and newer records wait for the
        // next flush whichever shard they land in.
        let mut budget = self.buffer.pending_by_shard();
        let rounds = budget.iter().sum::<usize>().div_ceil(batch_size);
        if rounds == 0 {
            return Ok(());
        }
        // Secret fields are hashed under the namespace's key, which may have to be read
        // from the store first; until it can be, the entries wait in the buffer.
        let key = if core.secret_fields.is_empty() {
            None
        } else {
            match core.secret_key(false).await {
                Ok(key) => Some(key),
                Err(err) => {
                    let err = match err {
                        QueryError::Store(err) => err,
                        _ => StoreError::Timeout(timeout),
                    };
                    self.log_error(&err);
                    bump(&self.counters.write_errors, 1);
                    return Err(err);
                }
            }
        };
        // The namespace's cap, per shard, against each shard's size as the last writes reported
        // it plus what this flush sends: a shard that reaches its part takes known members only.
        let cap = core.config.max_active_entries;
        let shard_cap = if cap == 0 {
            u64::MAX
        } else {
            cap.div_ceil(core.keys.shards() as u64)
        };
        let mut projected: Vec<u64> = self
            .sizes
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .collect();
        // What this flush sent each shard's active set so far.
        let mut sent = vec![0u64; projected.len()];
        // Several batches in flight, so preparing the next one overlaps the store's work on
        // the previous ones.
        let mut in_flight = tokio::task::JoinSet::new();
        let mut first_error = None;
        for _ in 0..rounds {
            let taken_at = Instant::now();
            let taken = self
                .buffer
                .take(batch_size, &mut budget, taken_at, now / 60_000);
            if taken.members.is_empty() {
                break;
            }
            // Each member is written with the time of its request: the store's time minus
            // how long it waited here.
            let ages: Vec<u64> = taken
                .seen
                .iter()
                .map(|seen| crate::store::ms(taken_at.saturating_duration_since(*seen)))
                .collect();
            let stored = self.stored_forms(&taken, key.as_ref());
            let refused = if projected.iter().any(|&p| p >= shard_cap) {
                match self
                    .unknown_members(&stored, &mut projected, &sent, shard_cap)
                    .await
                {
                    Ok(refused) => refused,
                    Err(err) => {
                        bump(&self.counters.write_errors, 1);
                        let dropped = self.buffer.restore(taken.members, taken.seen);
                        bump(&self.counters.dropped, dropped);
                        self.log_error(&err);
                        first_error.get_or_insert(err);
                        break;
                    }
                }
            } else {
                HashSet::new()
            };
            let prepared = self.touches(&taken, &stored, &ages, now, &refused);
            bump(&self.over_capacity, prepared.over_capacity);
            for ((projected, sent), now_sent) in
                projected.iter_mut().zip(&mut sent).zip(&prepared.sent)
            {
                *projected = projected.saturating_add(*now_sent);
                *sent = sent.saturating_add(*now_sent);
            }
            let (per_shard, stale) = (prepared.per_shard, prepared.stale);
            let store = Arc::clone(&core.store);
            let sizes = Arc::clone(&self.sizes);
            let log_key = core.keys.presence();
            let window_ms = crate::store::ms(core.config.window);
            in_flight.spawn(async move {
                // One store write per shard (each shard's keys share a cluster slot), all at
                // once; the batch counts as written when all are. A retry rewrites all, which
                // is harmless.
                let write_all = async {
                    let mut writes = tokio::task::JoinSet::new();
                    for (shard, touches, watched) in per_shard {
                        let store = Arc::clone(&store);
                        let log = log_key.clone();
                        writes.spawn(async move {
                            let written = store.touch(&touches, policy).await;
                            // Presence: the changes go to the log once the write is done; a
                            // failure to append loses them, never the write.
                            if let Ok(written) = &written {
                                let mut fields = Vec::new();
                                for (changes, field) in written.changes.iter().zip(&watched) {
                                    crate::presence::log_fields(changes, *field, window_ms, &mut fields);
                                }
                                if !fields.is_empty()
                                    && let Err(err) = crate::presence::append(
                                        &*store, &log, &fields, policy.key_ttl,
                                    )
                                    .await
                                {
                                    tracing::warn!(error = %err, "active-users: cannot append presence events");
                                }
                            }
                            (shard, written)
                        });
                    }
                    while let Some(done) = writes.join_next().await {
                        let (shard, written) = done.map_err(|_| {
                            StoreError::UnexpectedReply("a shard write was cancelled")
                        })?;
                        let written = written?;
                        // The active set's size after the write: where the next flush starts
                        // counting towards the cap. Writes of one flush finish in any order,
                        // so the largest report stands (an earlier one must not hide a later
                        // one); the count read at the cap brings it down again.
                        if let (Some(&size), Some(known)) =
                            (written.sizes.first(), sizes.get(shard))
                        {
                            known.fetch_max(size, Ordering::Relaxed);
                        }
                    }
                    Ok(())
                };
                let written = tokio::time::timeout(timeout, write_all)
                    .await
                    .unwrap_or(Err(StoreError::Timeout(timeout)));
                BatchWrite {
                    members: taken.members,
                    seen: taken.seen,
                    per_shard: taken.per_shard,
                    stale,
                    written,
                }
            });
            while in_flight.len() >= MAX_BATCHES_IN_FLIGHT {
                self.settle(in_flight.join_next().await, &mut first_error);
            }
            if first_error.is_some() {
                break; // the store is failing; do not queue more work for it
            }
        }
        while let Some(done) = in_flight.join_next().await {
            self.settle(Some(done), &mut first_error);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Once per sampling slot of the store's clock: claims the slot for this namespace and, if
    /// this tracker is the first there, samples the active count. Also writes the namespace
    /// description once at start. Failures are logged and retried at the next flush; they
    /// never fail a flush.
    async fn sample_if_due(&self, now: u64) {
        let core = &self.core;
        if !self.schema_written.load(Ordering::Acquire) {
            match core.write_schema().await {
                Ok(()) => self.schema_written.store(true, Ordering::Release),
                Err(err) => return self.log_query_error(&err),
            }
        }
        let due = Core::slot(now) + 1;
        let before = self.sampled_minute.load(Ordering::Acquire);
        if before >= due {
            return;
        }
        self.sampled_minute.store(due, Ordering::Release);
        // Once a minute, every tracker re-reads the namespace's secret key and extends its
        // life, so that all of them converge on one key even after the store lost it.
        if !core.secret_fields.is_empty()
            && let Err(err) = core.secret_key(true).await
        {
            self.log_query_error(&err);
        }
        match core.sample(now).await {
            #[cfg(feature = "metrics")]
            Ok(true) => self.publish_gauges().await,
            Ok(_) => {}
            Err(err) => {
                // Try again at the next flush.
                self.sampled_minute.store(before, Ordering::Release);
                self.log_query_error(&err);
            }
        }
    }

    fn log_query_error(&self, err: &QueryError) {
        match err {
            QueryError::Store(err) => self.log_error(err),
            QueryError::Timeout(t) => self.log_error(&StoreError::Timeout(*t)),
            other => tracing::warn!(error = %other, "active-users: cannot sample history"),
        }
    }

    /// Each taken member as the store holds it, with its indexed fields' texts and shard; `None` for one
    /// that does not hash (cannot happen: the tracker encoded it; a secret is never stored
    /// unhashed).
    fn stored_forms(&self, taken: &Taken, key: Option<&SecretKey>) -> Vec<Option<Stored>> {
        let core = &self.core;
        let needs_values = !self.indexed.is_empty();
        taken
            .members
            .iter()
            .map(|member| {
                let member = match key {
                    Some(key) => crate::codec::with_scratch(|buf| {
                        hash_secrets_into(member, &core.secret_fields, key, buf)
                            .ok()
                            .map(|()| Member::from(&buf[..]))
                    })?,
                    None => Arc::clone(member),
                };
                // The indexed fields' texts straight from the stored bytes; a type with an
                // opaque indexed field is decoded to ask it.
                let texts = if needs_values {
                    crate::codec::indexed_texts(&member, E::fields())
                        .or_else(|| E::decode(&member).ok().map(|entry| entry.values()))
                } else {
                    None
                };
                let shard = core.shard_of(&member, texts.as_deref());
                Some(Stored {
                    member,
                    texts,
                    shard,
                })
            })
            .collect()
    }

    /// For each shard `projected` says is at `shard_cap`: its active count now plus what this
    /// flush sent it (`sent`, maybe still in flight), which replaces the projection, and the
    /// members of `taken` (stored form) new to it past the room left, which are not written.
    /// Two calls per such shard (a count, and an existence check of its members).
    async fn unknown_members(
        &self,
        stored: &[Option<Stored>],
        projected: &mut [u64],
        sent: &[u64],
        shard_cap: u64,
    ) -> Result<HashSet<Member>, StoreError> {
        let full: Vec<bool> = projected.iter().map(|&p| p >= shard_cap).collect();
        let core = &self.core;
        let mut per_shard: Vec<Vec<Member>> = vec![Vec::new(); full.len()];
        for stored in stored.iter().flatten() {
            if full.get(stored.shard).copied().unwrap_or(false) {
                per_shard[stored.shard].push(Arc::clone(&stored.member));
            }
        }
        let timeout = core.config.query_timeout;
        async fn bounded<T>(
            timeout: Duration,
            future: crate::store::StoreFuture<'_, T>,
        ) -> Result<T, StoreError> {
            tokio::time::timeout(timeout, future)
                .await
                .unwrap_or(Err(StoreError::Timeout(timeout)))
        }
        let mut refused = HashSet::new();
        for (shard, members) in per_shard.into_iter().enumerate() {
            if members.is_empty() {
                continue;
            }
            let key = &core.active_keys[shard];
            let active = bounded(timeout, core.store.count(key, core.config.window)).await?;
            if let Some(known) = self.sizes.get(shard) {
                known.store(active, Ordering::Relaxed);
            }
            projected[shard] = active.saturating_add(sent[shard]);
            let mut room = shard_cap.saturating_sub(projected[shard]);
            let known = bounded(timeout, core.store.exists(key, &members)).await?;
            for (member, known) in members.into_iter().zip(known) {
                if known {
                    continue;
                }
                if room > 0 {
                    room -= 1;
                } else {
                    refused.insert(member);
                }
            }
        }
        Ok(refused)
    }

    /// Books the outcome of one batch write: written, or back into the buffer.
    fn settle(
        &self,
        done: Option<Result<BatchWrite, tokio::task::JoinError>>,
        first_error: &mut Option<StoreError>,
    ) {
        let Some(Ok(batch)) = done else {
            // A write task cannot panic in our code; if one was cancelled, its entries are
            // already counted as in flight and will be rewritten at their next record.
            return;
        };
        match batch.written {
            Ok(()) => {
                let n = batch.members.len() as u64;
                self.buffer.written(&batch.per_shard);
                bump(&self.counters.written, n - batch.stale);
                bump(&self.counters.stale, batch.stale);
            }
            Err(err) => {
                bump(&self.counters.write_errors, 1);
                let dropped = self.buffer.restore(batch.members, batch.seen);
                bump(&self.counters.dropped, dropped);
                self.log_error(&err);
                first_error.get_or_insert(err);
            }
        }
    }

    /// Logs a store failure at most once per [`ERROR_LOG_INTERVAL`], with the number of
    /// failures not logged since the last line.
    fn log_error(&self, err: &StoreError) {
        let mut log = self.error_log.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        match log.0 {
            Some(last) if now.saturating_duration_since(last) < ERROR_LOG_INTERVAL => log.1 += 1,
            _ => {
                tracing::warn!(
                    error = %err,
                    failures_not_logged = log.1,
                    pending = self.buffer.unwritten(),
                    "active-users: cannot write to the store; entries stay buffered and are retried"
                );
                *log = (Some(now), 0);
            }
        }
    }
}

/// An entry event's entry.
fn pick_entry<E: ActiveUserEntry>(raw: &RawEvent) -> Result<E, crate::codec::DecodeError> {
    E::decode(&raw.bytes)
}

/// A value event's value, as text.
fn pick_value(raw: &RawEvent) -> Result<String, crate::codec::DecodeError> {
    Ok(String::from_utf8_lossy(&raw.bytes).into_owned())
}

/// Flushes every `interval`, or sooner when woken, until the tracker is dropped or shut down;
/// after a failed flush it waits a whole interval, woken or not.
async fn background_writer<E: ActiveUserEntry>(
    inner: Weak<Inner<E>>,
    wake: Arc<Notify>,
    interval: Duration,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = wake.notified() => {}
        }
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if inner.closed.load(Ordering::Acquire) {
            return;
        }
        // Failures are counted and logged inside; the entries stay buffered for the next round.
        let failed = inner.flush_pending().await.is_err();
        inner.sweep_if_due().await;
        drop(inner);
        if failed {
            // A store that is down is not retried at once, however many records wake the
            // writer meanwhile: at most one attempt per interval.
            tokio::time::sleep(interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        for shard in [0, 7] {
            for member in [&b""[..], b"\x01\x03abc", &[0xff; 300], &[0, 1, 2, 254, 255]] {
                let cursor = Cursor {
                    shard,
                    position: Position {
                        score: 1_700_000_000_000,
                        member: member.to_vec(),
                    },
                };
                let text = cursor.to_string();
                assert!(
                    text.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_@".contains(&b)),
                    "{text}"
                );
                assert_eq!(text.parse::<Cursor>(), Ok(cursor));
            }
        }
        assert_eq!("5-AQI".parse::<Cursor>().map(|c| c.shard), Ok(0));
        assert_eq!(
            "5-".parse::<Cursor>().map(|c| c.position.member),
            Ok(Vec::new())
        );
        let huge = format!("1-{}", "A".repeat(MAX_CURSOR_MEMBER_TEXT + 4));
        for bad in [
            "1-AQI@",
            "1-AQI@x",
            "1-AQI@99999",
            "",
            "-",
            "-1",
            "a-1",
            "1-A",
            "1-AQI=",
            "1-AQ I",
            "1-AQ+I",
            "99999999999999999999999-1",
            "1 -2",
            huge.as_str(),
        ] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad:?}");
        }
    }
}
