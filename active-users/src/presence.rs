//! Presence: who became active and who stopped being, told as it happens.
//!
//! With [`presence`](crate::ConfigBuilder::presence) on, every write of a tracker learns from
//! the store which entries were not active before it (absent from the active set, or last seen
//! before the window), and every flush interval a sweep removes the entries whose window
//! passed and learns which they were. The same holds for the values of each `index` and
//! `distinct` field: a user id joins with its first active session and leaves with its last.
//! These changes are appended to the namespace's event log in the store (a Redis stream, about
//! [`LOG_MAX_LEN`] entries long), so that every application server's subscribers see the
//! changes of all of them.
//!
//! **What is exact.** The store decides each change atomically: of several servers writing
//! or sweeping at once, exactly one sees a member join or leave, so each join and each leave
//! is logged once. An entry that comes back after its window passed but before a sweep removed
//! it is logged as a leave (a window after it was last seen) and then a join. A leave is logged
//! when a sweep removes the entry: within a flush interval after its window passed, later when
//! more than [`WritePolicy::trim_limit`](crate::store::WritePolicy) entries of one set leave
//! in one interval. What a crash loses: the changes of a write whose server stopped between
//! the write and the append.
//!
//! **Bounded.** A subscriber reads from an in-process channel of [`CHANNEL_CAPACITY`] events
//! per kind, filled by one task per tracker that reads the log every [`POLL_INTERVAL`] (at
//! once again while there is more). The task waits for room in a full channel, up to 100 ms
//! a round, so a burst larger than the channel reaches subscribers that keep reading; one that
//! reads slower than the changes come misses the oldest events and is told how many
//! ([`SubscriptionError::Lagged`]). A reader that fell behind the log itself is told that
//! events were lost ([`SubscriptionError::Gap`]). Recording never waits for presence: the
//! changes come back with the writes, which run in the background.
//!
//! **Order.** Events of one visitor told by different application servers may arrive out of
//! order, and a request written late (after a sweep removed its visitor) is told as a join
//! with its request's time, which can be before that leave's. To keep a set of who is online,
//! keep each visitor's latest join time and take a leave as final only when its time is at
//! least a window after it.

use crate::codec::DecodeError;
use crate::core::to_system_time;
use crate::error::StoreError;
use crate::store::{Changes, LogEntry, LogId, Store};
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::broadcast;

/// About how many entries the event log keeps (each holds the changes of one batch, at most
/// [`EVENTS_PER_ENTRY`]).
pub const LOG_MAX_LEN: usize = 1024;

/// The most changes one log entry holds; a larger batch appends several.
pub const EVENTS_PER_ENTRY: usize = 256;

/// How often a tracker with subscribers reads the event log.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How many events a subscriber may fall behind before it misses the oldest.
pub const CHANNEL_CAPACITY: usize = 4096;

/// The longest change value read from the log: an entry's largest `max_entry_len` and the
/// time before it.
const MAX_EVENT_LEN: usize = 65_536 + 32;

/// The most log entries read per call (each holds at most [`EVENTS_PER_ENTRY`] events).
const READ_LIMIT: usize = 4;

/// How long a round of the log's reader waits for room in full channels at most.
const STALL: Duration = Duration::from_millis(100);

/// Whether something joined or left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// It became active.
    Joined,
    /// It stopped being active: its window passed.
    Left,
}

impl Change {
    /// `joined` or `left`.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Joined => "joined",
            Change::Left => "left",
        }
    }
}

/// Where an event is in the namespace's event log: the log entry's id and the event's place in
/// it. Its text, `<ms>-<seq>.<index>`, is what a client gives back to resume after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    /// The log entry.
    pub entry: LogId,
    /// The event's place within the entry.
    pub index: u32,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.entry, self.index)
    }
}

impl std::str::FromStr for EventId {
    type Err = StoreError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || StoreError::UnexpectedReply("an event id that is not <ms>-<seq>.<index>");
        let (entry, index) = text.rsplit_once('.').ok_or_else(bad)?;
        Ok(EventId {
            entry: entry.parse()?,
            index: index.parse().map_err(|_| bad())?,
        })
    }
}

/// One change: an entry (or a field's value) joined or left, when, and where it is in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PresenceEvent<T> {
    /// Where it is in the namespace's event log.
    pub id: EventId,
    /// When it happened, by the store's clock: when the request that made it active was
    /// seen, or when its window passed.
    pub at: SystemTime,
    /// Joined or left.
    pub change: Change,
    /// What joined or left: an entry, or a field's value as text.
    pub item: T,
}

/// Why [`Subscription::recv`] gave no event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscriptionError {
    /// The subscriber fell behind by more than [`CHANNEL_CAPACITY`] events: this many of its
    /// events were missed. The next call goes on with the oldest event still held.
    #[error("the subscriber fell behind and missed {0} presence events")]
    Lagged(u64),
    /// Events were lost before this subscription's tracker read them: it fell behind the
    /// store's event log, which keeps about [`LOG_MAX_LEN`] entries, or the log was deleted
    /// and made again. How many is unknown; read the current state again.
    #[error("presence events were lost from the store's event log before they were read")]
    Gap,
    /// The tracker was dropped.
    #[error("the tracker was dropped; no more presence events")]
    Closed,
}

/// What joined or left, as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawEvent {
    pub(crate) id: EventId,
    pub(crate) at: u64,
    pub(crate) change: Change,
    /// `None` for an entry; the field's name for a value.
    pub(crate) field: Option<String>,
    /// The stored member, or the value's text.
    pub(crate) bytes: Vec<u8>,
    /// Not an event: the reader fell behind the log, which dropped events it had not read (or
    /// the log was made again); how many is unknown.
    pub(crate) gap: bool,
}

/// How a subscription reads the item of an event of its kind (or why it cannot).
pub(crate) type Pick<T> = Box<dyn Fn(&RawEvent) -> Result<T, DecodeError> + Send + Sync>;

/// What a [`Reader`](crate::Reader)'s subscription tells joined or left: an entry, or a
/// field's value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RawChange {
    /// An entry, as (field name, value) in field order, as
    /// [`Reader::list`](crate::Reader::list) shows entries.
    Entry(Vec<(String, Option<String>)>),
    /// A value of an `index` or `distinct` field.
    Value {
        /// The field.
        field: String,
        /// The value, as text.
        value: String,
    },
}

/// A stream of presence events of one namespace; see [`Tracker::subscribe`](crate::Tracker::subscribe).
pub struct Subscription<T> {
    rx: broadcast::Receiver<Arc<RawEvent>>,
    pick: Pick<T>,
    field: Option<String>,
    undecodable: u64,
    _item: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("field", &self.field)
            .field("undecodable", &self.undecodable)
            .finish_non_exhaustive()
    }
}

impl<T> Subscription<T> {
    pub(crate) fn new(
        rx: broadcast::Receiver<Arc<RawEvent>>,
        field: Option<String>,
        pick: Pick<T>,
    ) -> Self {
        Subscription {
            rx,
            pick,
            field,
            undecodable: 0,
            _item: PhantomData,
        }
    }

    /// The next event.
    ///
    /// # Errors
    /// [`SubscriptionError::Lagged`] once after events were missed (the next call goes on),
    /// [`SubscriptionError::Closed`] when the tracker is gone.
    pub async fn recv(&mut self) -> Result<PresenceEvent<T>, SubscriptionError> {
        loop {
            let raw = match self.rx.recv().await {
                Ok(raw) if raw.gap => return Err(SubscriptionError::Gap),
                Ok(raw) => raw,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    return Err(SubscriptionError::Lagged(n));
                }
                Err(broadcast::error::RecvError::Closed) => return Err(SubscriptionError::Closed),
            };
            match (self.pick)(&raw) {
                Err(_) => self.undecodable += 1,
                Ok(item) => {
                    return Ok(PresenceEvent {
                        id: raw.id,
                        at: to_system_time(raw.at),
                        change: raw.change,
                        item,
                    });
                }
            }
        }
    }

    /// Entry events skipped because the member did not decode as the entry type (another
    /// application's entries in the same namespace).
    pub fn undecodable(&self) -> u64 {
        self.undecodable
    }
}

/// The tag of a change in the log: `+` or `-`, then the field's name for a value.
fn tag(change: Change, field: Option<&str>) -> Vec<u8> {
    let mut tag = vec![match change {
        Change::Joined => b'+',
        Change::Left => b'-',
    }];
    if let Some(field) = field {
        tag.extend_from_slice(field.as_bytes());
    }
    tag
}

/// The log fields of the changes of one watched set: `(tag, "<ms>:<bytes>")` per change. A
/// member that came back after its window passed leaves first (a window after it was last
/// seen), then joins.
pub(crate) fn log_fields(
    changes: &Changes,
    field: Option<&str>,
    window_ms: u64,
    out: &mut Vec<(Vec<u8>, Vec<u8>)>,
) {
    let mut push = |change: Change, at: u64, bytes: &[u8]| {
        let mut value = at.to_string().into_bytes();
        value.push(b':');
        value.extend_from_slice(bytes);
        out.push((tag(change, field), value));
    };
    for left in &changes.left {
        push(
            Change::Left,
            left.score.saturating_add(window_ms),
            &left.member,
        );
    }
    for joined in &changes.joined {
        if let Some(was) = joined.was {
            push(Change::Left, was.saturating_add(window_ms), &joined.member);
        }
        push(Change::Joined, joined.score, &joined.member);
    }
}

/// How long the log lives after its last append at least: a log that expired and was made
/// again looks to a reader like one that dropped events, so it lives long after the keys it
/// tells of (its size is bounded by [`LOG_MAX_LEN`] anyway).
const LOG_TTL: Duration = Duration::from_secs(3600);

/// Appends the changes to the log, [`EVENTS_PER_ENTRY`] per entry; the log lives `ttl` (at
/// least an hour) after it.
pub(crate) async fn append(
    store: &dyn Store,
    key: &str,
    fields: &[(Vec<u8>, Vec<u8>)],
    ttl: Duration,
) -> Result<(), StoreError> {
    for chunk in fields.chunks(EVENTS_PER_ENTRY) {
        store
            .append(key, chunk, LOG_MAX_LEN, ttl.max(LOG_TTL))
            .await?;
    }
    Ok(())
}

/// The events of one log entry; fields that do not read as a change are skipped.
pub(crate) fn parse_entry(entry: &LogEntry) -> impl Iterator<Item = RawEvent> + '_ {
    entry
        .fields
        .iter()
        .enumerate()
        .filter_map(move |(index, (tag, value))| {
            let (&sign, field) = tag.split_first()?;
            let change = match sign {
                b'+' => Change::Joined,
                b'-' => Change::Left,
                _ => return None,
            };
            let field = if field.is_empty() {
                None
            } else {
                Some(String::from_utf8(field.to_vec()).ok()?)
            };
            // Nothing a tracker appends is longer (an entry is at most 64 KiB); a forged
            // field is not handed on.
            if value.len() > MAX_EVENT_LEN {
                return None;
            }
            let colon = value.iter().position(|&b| b == b':')?;
            let at = std::str::from_utf8(&value[..colon]).ok()?.parse().ok()?;
            Some(RawEvent {
                id: EventId {
                    entry: entry.id,
                    index: u32::try_from(index).ok()?,
                },
                at,
                change,
                field,
                bytes: value[colon + 1..].to_vec(),
                gap: false,
            })
        })
}

/// What a channel of a hub carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// Entry events.
    Entries,
    /// The events of one field's values.
    Field(String),
    /// Every event (the JSON API's event stream).
    All,
}

impl Kind {
    /// The kind of an event's own channel.
    fn of(event: &RawEvent) -> Kind {
        match &event.field {
            None => Kind::Entries,
            Some(field) => Kind::Field(field.clone()),
        }
    }
}

/// The channels of a hub's subscribers, one per kind, while its task runs; `None` when no
/// task runs.
type Slot = tokio::sync::Mutex<Option<HashMap<Kind, broadcast::Sender<Arc<RawEvent>>>>>;

/// The in-process side of one namespace's event log: a channel per kind of event, filled by
/// one polling task while anybody listens and the hub's tracker lives.
#[derive(Debug)]
pub(crate) struct Hub {
    key: String,
    store: Arc<dyn Store>,
    slot: Arc<Slot>,
}

impl Hub {
    pub(crate) fn new(key: String, store: Arc<dyn Store>) -> Self {
        Hub {
            key,
            store,
            slot: Arc::default(),
        }
    }

    /// A receiver of every event of one kind appended from now on; starts the polling task on
    /// `runtime` if none runs, from the log's end as the store says it is now.
    pub(crate) async fn subscribe(
        &self,
        kind: Kind,
        runtime: &tokio::runtime::Handle,
    ) -> Result<broadcast::Receiver<Arc<RawEvent>>, StoreError> {
        let mut slot = self.slot.lock().await;
        let channels = match slot.as_mut() {
            Some(channels) => channels,
            None => {
                let (end, _) = self.store.read_log(&self.key, None, 0).await?;
                runtime.spawn(poll(
                    self.key.clone(),
                    Arc::clone(&self.store),
                    Arc::downgrade(&self.slot),
                    end,
                ));
                slot.insert(HashMap::new())
            }
        };
        Ok(channels
            .entry(kind)
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe())
    }
}

/// Reads the log every [`POLL_INTERVAL`] after `last` (at once again while there is more) and
/// passes each event on to the channel of its kind, until nobody listens or the hub is gone
/// (its receivers then see their channels closed).
async fn poll(key: String, store: Arc<dyn Store>, slot: Weak<Slot>, mut last: LogId) {
    let mut failures = 0u64;
    // The kinds whose channel stayed full for a round's `STALL`: not waited for again until
    // it drains.
    let mut stalled: HashMap<Kind, bool> = HashMap::new();
    loop {
        let senders = {
            let Some(slot) = slot.upgrade() else {
                return;
            };
            // Under the lock a subscriber takes to join: nobody joins a channel that is
            // about to lose its task.
            let mut slot = slot.lock().await;
            let Some(channels) = slot.as_mut() else {
                return;
            };
            channels.retain(|_, sender| sender.receiver_count() > 0);
            if channels.is_empty() {
                *slot = None;
                return;
            }
            channels.clone()
        };
        let mut more = false;
        match read_round(&*store, &key, &mut last).await {
            Ok((events, gap, full)) => {
                failures = 0;
                more = full;
                if gap {
                    let marker = Arc::new(RawEvent {
                        id: EventId::default(),
                        at: 0,
                        change: Change::Left,
                        field: None,
                        bytes: Vec::new(),
                        gap: true,
                    });
                    for sender in senders.values() {
                        let _ = sender.send(Arc::clone(&marker));
                    }
                }
                // A slow subscriber holds the round up this long at most.
                let budget = Instant::now() + STALL;
                for event in events {
                    let event = Arc::new(event);
                    for kind in [Kind::of(&event), Kind::All] {
                        if let Some(sender) = senders.get(&kind) {
                            let stalled = stalled.entry(kind).or_default();
                            deliver(sender, Arc::clone(&event), stalled, budget).await;
                        }
                    }
                }
            }
            Err(err) => {
                failures += 1;
                if failures == 1 || failures.is_power_of_two() {
                    tracing::warn!(error = %err, failures, "active-users: cannot read presence events; retrying");
                }
            }
        }
        drop(senders);
        if !more {
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// Sends `event` once its channel has room, so that a burst of changes (a flush of thousands
/// of new visitors) reaches subscribers that keep reading. A round waits until `budget` at
/// most: a subscriber that reads slower than the changes come makes its channel `stalled`,
/// not waited for again until it has drained to half, and it misses the oldest events (told
/// with their count) rather than hold up the others until the log drops events for all.
async fn deliver(
    sender: &broadcast::Sender<Arc<RawEvent>>,
    event: Arc<RawEvent>,
    stalled: &mut bool,
    budget: Instant,
) {
    if *stalled && sender.len() <= CHANNEL_CAPACITY / 2 {
        *stalled = false;
    }
    if !*stalled {
        while sender.len() >= CHANNEL_CAPACITY {
            if Instant::now() >= budget {
                *stalled = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    // Nobody listening now is not an error: the next round drops the channel.
    let _ = sender.send(event);
}

/// One read of the log after `last`, which moves past what it read: the events, whether some
/// were lost, and whether to read again at once. When something came, the log may have dropped
/// entries this reader had not read: its first entry is then after `last` (a log that expired
/// after an hour without changes and was made again looks the same, and is told as a gap
/// too). When nothing came, the log's end below `last` means the log was made again (deleted,
/// or a Redis whose clock is behind): it is read from its start.
async fn read_round(
    store: &dyn Store,
    key: &str,
    last: &mut LogId,
) -> Result<(Vec<RawEvent>, bool, bool), StoreError> {
    let (end, entries) = store.read_log(key, Some(*last), READ_LIMIT).await?;
    let mut gap = false;
    if entries.is_empty() {
        let (tail, _) = store.read_log(key, None, 0).await?;
        if tail < *last {
            // Read from the start of the new log: nothing of it is lost.
            *last = LogId::default();
            return Ok((Vec::new(), false, true));
        }
    } else if *last != LogId::default() {
        let (_, first) = store.read_log(key, Some(LogId::default()), 1).await?;
        gap = first.first().is_some_and(|e| e.id > *last);
    }
    *last = end;
    let full = entries.len() >= READ_LIMIT;
    let events = entries.iter().flat_map(parse_entry).collect();
    Ok((events, gap, full))
}
