//! [`MemoryStore`]: the embedded store, for one process, tests and demos.

use super::hll::Hll;
use super::{
    Changes, FUTURE_SLACK, Joined, LogEntry, LogId, Member, Position, Sample, Scored, SetKind,
    Snapshot, Store, StoreFuture, Touch, WritePolicy, Written, ms, unix_ms,
};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An in-process store: the same semantics as Redis, kept in this process's memory.
///
/// Cloning it gives another handle to the same data, so two trackers built on clones share
/// entries as two app servers sharing one Redis would. Its clock is the process clock, or a
/// [`ManualClock`] that tests move by hand ([`MemoryStore::with_clock`]).
///
/// It holds at most [`capacity`](MemoryStore::with_capacity) members in its sets (entries and
/// index values; [`DEFAULT_MEMORY_CAPACITY`] unless set): past it, a new member is refused
/// and counted ([`refused`](MemoryStore::refused)) while known ones are still refreshed.
/// What expires is dropped in O(log N) per key, and a set that shrinks gives its spare room
/// back.
///
/// # Examples
///
/// ```
/// use active_users::{Config, DefaultEntry, MemoryStore, Tracker};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let tracker = Tracker::<DefaultEntry>::new(Config::default(), MemoryStore::new())?;
/// assert_eq!(tracker.count().await?, 0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    clock: Option<ManualClock>,
    refused: Arc<AtomicU64>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_MEMORY_CAPACITY)
    }
}

/// How many set members a [`MemoryStore`] holds at most unless told otherwise: a million
/// (a few hundred MB with `DefaultEntry`s).
pub const DEFAULT_MEMORY_CAPACITY: usize = 1_000_000;

/// Everything a memory store holds; each kind of structure has its own key space.
#[derive(Debug, Default)]
struct State {
    sets: Space<ZSet>,
    sketches: Space<Hll>,
    series: Space<BTreeMap<u64, u64>>,
    values: Space<Vec<u8>>,
    logs: Space<Log>,
    /// Members in all sets, against `capacity`.
    members: usize,
    capacity: usize,
}

impl State {
    /// Drops every key that expired at `now`.
    fn expire(&mut self, now: u64) {
        let mut freed = 0;
        self.sets.expire(now, |set| freed += set.scores.len());
        self.members = self.members.saturating_sub(freed);
        self.sketches.expire(now, drop);
        self.series.expire(now, drop);
        self.values.expire(now, drop);
        self.logs.expire(now, drop);
    }
}

/// One key space: each key's value with the time it expires, and those times in order, so
/// that what expired is found without a sweep over every key.
#[derive(Debug)]
struct Space<T> {
    map: HashMap<String, (u64, T)>,
    deadlines: BTreeSet<(u64, String)>,
}

impl<T> Default for Space<T> {
    fn default() -> Self {
        Space {
            map: HashMap::new(),
            deadlines: BTreeSet::new(),
        }
    }
}

impl<T> Space<T> {
    /// Removes the keys that expired at `now`, handing each value to `dropped`: O(log N)
    /// per expired key.
    fn expire(&mut self, now: u64, mut dropped: impl FnMut(T)) {
        while self.deadlines.first().is_some_and(|(at, _)| *at <= now) {
            let Some((at, key)) = self.deadlines.pop_first() else {
                break;
            };
            if self
                .map
                .get(&key)
                .is_some_and(|(expires, _)| *expires == at)
                && let Some((_, value)) = self.map.remove(&key)
            {
                dropped(value);
            }
        }
        if self.map.capacity() > 4 * self.map.len() + 64 {
            self.map.shrink_to_fit();
        }
    }

    fn get(&self, key: &str) -> Option<&T> {
        self.map.get(key).map(|(_, value)| value)
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut T> {
        self.map.get_mut(key).map(|(_, value)| value)
    }

    /// The value at `key` (made by `make` if there is none), expiring at `at` from now on.
    fn upsert(&mut self, key: &str, at: u64, make: impl FnOnce() -> T) -> &mut T {
        match self.map.entry(key.to_owned()) {
            Entry::Occupied(slot) => {
                let slot = slot.into_mut();
                if slot.0 != at {
                    self.deadlines.remove(&(slot.0, key.to_owned()));
                    self.deadlines.insert((at, key.to_owned()));
                    slot.0 = at;
                }
                &mut slot.1
            }
            Entry::Vacant(slot) => {
                self.deadlines.insert((at, key.to_owned()));
                &mut slot.insert((at, make())).1
            }
        }
    }

    /// Stores `value` at `key`, expiring at `at`.
    fn insert(&mut self, key: &str, at: u64, value: T) {
        if let Some((old, _)) = self.map.insert(key.to_owned(), (at, value))
            && old != at
        {
            self.deadlines.remove(&(old, key.to_owned()));
        }
        self.deadlines.insert((at, key.to_owned()));
    }
}

/// A clock for tests: it stands still until moved. Clones share the time.
///
/// # Examples
///
/// ```
/// use active_users::store::ManualClock;
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(1_800_000_060));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    ms: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock showing `start` (whole milliseconds).
    pub fn new(start: SystemTime) -> Self {
        ManualClock {
            ms: Arc::new(AtomicU64::new(unix_ms(start))),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.ms.fetch_add(ms(by), Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, to: SystemTime) {
        self.ms.store(unix_ms(to), Ordering::SeqCst);
    }

    /// The time it shows.
    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.ms.load(Ordering::SeqCst))
    }

    fn now_ms(&self) -> u64 {
        self.ms.load(Ordering::SeqCst)
    }
}

/// A sorted set. Each member's bytes are held once, shared by its two places.
#[derive(Debug, Default)]
struct ZSet {
    scores: HashMap<Member, u64>,
    order: BTreeSet<Ordered>,
}

/// A member's place in its set's order: its score, then its bytes (Redis's order, which
/// [`Position`] promises).
type Ordered = (u64, Member);

fn ordered(score: u64, member: &Member) -> Ordered {
    (score, Arc::clone(member))
}

/// What [`ZSet::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Added {
    /// The member is new.
    New,
    /// The member was there with the earlier score `old`, and has the new one now.
    Moved { old: u64 },
    /// The member was there with a score as late or later, which it keeps.
    Kept,
    /// The member is new and there was no room.
    Refused,
}

/// An event log: its last entries, and the id of the last one ever appended.
#[derive(Debug, Default)]
struct Log {
    entries: std::collections::VecDeque<LogEntry>,
    last: LogId,
}

/// The lowest place with this score: where a range from `score` starts.
fn from_score(score: u64) -> Ordered {
    static EMPTY: LazyLock<Member> = LazyLock::new(|| Member::from(&[][..]));
    (score, Arc::clone(&EMPTY))
}

impl ZSet {
    /// Adds a member, or moves it to `score` if that is later (Redis's `ZADD GT`); a new one
    /// only if `room`.
    fn add(&mut self, member: &Member, score: u64, room: bool) -> Added {
        match self.scores.get_key_value(member.as_ref()) {
            Some((_, &old)) if old >= score => Added::Kept,
            Some((held, &old)) => {
                let held = Arc::clone(held);
                let mut place = ordered(old, &held);
                self.order.remove(&place);
                place.0 = score;
                self.order.insert(place);
                self.scores.insert(held, score);
                Added::Moved { old }
            }
            None if !room => Added::Refused,
            None => {
                self.scores.insert(Arc::clone(member), score);
                self.order.insert(ordered(score, member));
                Added::New
            }
        }
    }

    /// Removes up to `limit` members scored before `cutoff`, handing each to `out` if given;
    /// returns how many.
    fn trim(&mut self, cutoff: u64, limit: usize, mut out: Option<&mut Vec<Scored>>) -> usize {
        let mut removed = 0;
        while removed < limit
            && self
                .order
                .first()
                .is_some_and(|(score, ..)| *score < cutoff)
        {
            if let Some((score, member)) = self.order.pop_first() {
                self.scores.remove(&member);
                removed += 1;
                if let Some(out) = out.as_deref_mut() {
                    out.push(Scored {
                        member: member.to_vec(),
                        score,
                    });
                }
            }
        }
        if removed > 0 && self.scores.capacity() > 4 * self.scores.len() + 64 {
            self.scores.shrink_to_fit();
        }
        removed
    }

    /// The members scored from `low` to `high`.
    fn members_between(&self, low: u64, high: u64) -> impl Iterator<Item = &Ordered> {
        self.order
            .range(from_score(low)..)
            .take_while(move |(score, ..)| *score <= high)
    }

    /// How many members are scored from `low` to `high`. Nearly every member of a trimmed
    /// set is inside the window, so the members outside it are counted when they are the
    /// fewer (a few steps, not one per active entry at every write and count); when they
    /// are not (a query with a shorter window), the members inside.
    fn count_between(&self, low: u64, high: u64) -> u64 {
        let total = self.order.len();
        let half = total / 2 + 1;
        let below = self.order.range(..from_score(low)).take(half).count();
        if below < half {
            let above = self
                .order
                .range(from_score(high.saturating_add(1))..)
                .take(half)
                .count();
            if high == u64::MAX || above < half {
                let above = if high == u64::MAX { 0 } else { above };
                return total.saturating_sub(below + above) as u64;
            }
        }
        self.members_between(low, high).count() as u64
    }
}

fn cutoff(now: u64, window: Duration) -> u64 {
    now.saturating_sub(ms(window))
}

/// The latest score a query counts (later ones are junk; see [`FUTURE_SLACK`]).
fn high(now: u64) -> u64 {
    now.saturating_add(ms(FUTURE_SLACK))
}

impl MemoryStore {
    /// An empty store holding up to [`DEFAULT_MEMORY_CAPACITY`] set members.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store holding up to `members` set members (entries and index values, all
    /// namespaces together); past it, new members are refused and counted.
    pub fn with_capacity(members: usize) -> Self {
        MemoryStore {
            state: Arc::new(Mutex::new(State {
                capacity: members,
                ..State::default()
            })),
            clock: None,
            refused: Arc::default(),
        }
    }

    /// An empty store whose clock is `clock`: expiry, windows and history follow it, not the
    /// process clock.
    pub fn with_clock(clock: ManualClock) -> Self {
        MemoryStore {
            clock: Some(clock),
            ..Self::default()
        }
    }

    /// How many new set members were refused because the store was at its capacity.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// How many set members the store holds now (entries and index values).
    pub fn members(&self) -> usize {
        let (mut state, now) = self.lock_at_now();
        state.expire(now);
        state.members
    }

    fn now_ms(&self) -> u64 {
        match &self.clock {
            Some(clock) => clock.now_ms(),
            None => unix_ms(SystemTime::now()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a set half-updated in a way that
        // matters more than losing the whole store would, so keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state with what expired at the current time dropped, and that time.
    fn lock_at_now(&self) -> (MutexGuard<'_, State>, u64) {
        let now = self.now_ms();
        let mut state = self.lock();
        state.expire(now);
        (state, now)
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(Ok(value)))
}

impl Store for MemoryStore {
    fn touch<'a>(&'a self, touches: &'a [Touch], policy: WritePolicy) -> StoreFuture<'a, Written> {
        let (mut state, now) = self.lock_at_now();
        let state = &mut *state;
        let expires = now.saturating_add(ms(policy.key_ttl));
        // Trims first, then adds: once a member is refused for want of room, every later new
        // one of this write is too, so an index never gets a value whose entry was refused
        // (the active set comes first).
        let low = cutoff(now, policy.window);
        let mut changes: Vec<Changes> = Vec::new();
        for touch in touches.iter().filter(|t| t.kind == SetKind::Windowed) {
            let set = state.sets.upsert(&touch.key, expires, ZSet::default);
            let mut left = Vec::new();
            let removed = set.trim(low, policy.trim_limit, touch.watched.then_some(&mut left));
            state.members = state.members.saturating_sub(removed);
            if touch.watched {
                changes.push(Changes {
                    joined: Vec::new(),
                    left,
                });
            }
        }
        let mut refused = 0;
        let mut written = Written::default();
        let mut watched = changes.iter_mut();
        for touch in touches {
            match touch.kind {
                SetKind::Windowed => {
                    let set = state.sets.upsert(&touch.key, expires, ZSet::default);
                    let mut report = if touch.watched { watched.next() } else { None };
                    for (i, member) in touch.members.iter().enumerate() {
                        let room = state.members < state.capacity;
                        let score = touch.score(i, now);
                        let added = set.add(member, score, room);
                        state.members += usize::from(added == Added::New);
                        refused += u64::from(added == Added::Refused);
                        let was = match added {
                            Added::New => None,
                            Added::Moved { old } if old < low => Some(old),
                            _ => continue,
                        };
                        if let Some(report) = report.as_deref_mut() {
                            report
                                .joined
                                .push(Joined::new(Arc::clone(member), score, was));
                        }
                    }
                    if touch.measured {
                        written.sizes.push(set.count_between(low, u64::MAX));
                    }
                }
                SetKind::Sketch { ttl } => {
                    let sketch = state.sketches.upsert(
                        &touch.key,
                        now.saturating_add(ms(ttl)),
                        Hll::default,
                    );
                    for member in &touch.members {
                        sketch.add(member);
                    }
                }
            }
        }
        written.changes = changes;
        if refused > 0 {
            self.refused.fetch_add(refused, Ordering::Relaxed);
        }
        ready(written)
    }

    fn count<'a>(&'a self, key: &'a str, window: Duration) -> StoreFuture<'a, u64> {
        let (state, now) = self.lock_at_now();
        let n = state
            .sets
            .get(key)
            .map_or(0, |s| s.count_between(cutoff(now, window), high(now)));
        ready(n)
    }

    fn count_each<'a>(&'a self, keys: &'a [String], window: Duration) -> StoreFuture<'a, Vec<u64>> {
        let (state, now) = self.lock_at_now();
        let counts = keys
            .iter()
            .map(|key| {
                state
                    .sets
                    .get(key)
                    .map_or(0, |s| s.count_between(cutoff(now, window), high(now)))
            })
            .collect();
        ready(counts)
    }

    fn snapshot<'a>(
        &'a self,
        count: &'a [String],
        list: &'a [String],
        window: Duration,
        limit: usize,
    ) -> StoreFuture<'a, Snapshot> {
        // One lock: nothing is written between the reads.
        let (state, now) = self.lock_at_now();
        let low = cutoff(now, window);
        let counts = count
            .iter()
            .map(|key| {
                state
                    .sets
                    .get(key)
                    .map_or(0, |s| s.count_between(low, high(now)))
            })
            .collect();
        let lists = list
            .iter()
            .map(|key| {
                state.sets.get(key).map_or_else(Vec::new, |set| {
                    set.members_between(low, high(now))
                        .take(limit)
                        .map(|(.., member)| member.to_vec())
                        .collect()
                })
            })
            .collect();
        ready(Snapshot::new(counts, lists))
    }

    fn range<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
        from: Option<&'a Position>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Scored>> {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let (state, now) = self.lock_at_now();
        let low = cutoff(now, window);
        let start = match from {
            Some(p) if p.score >= low => Excluded(ordered(p.score, &Member::from(&p.member[..]))),
            _ => Included(from_score(low)),
        };
        let page = state.sets.get(key).map_or_else(Vec::new, |set| {
            set.order
                .range((start, Unbounded))
                .take_while(|(score, ..)| *score <= high(now))
                .take(limit)
                .map(|(score, member)| Scored {
                    member: member.to_vec(),
                    score: *score,
                })
                .collect()
        });
        ready(page)
    }

    fn score<'a>(
        &'a self,
        key: &'a str,
        member: &'a [u8],
        window: Duration,
    ) -> StoreFuture<'a, Option<u64>> {
        let (state, now) = self.lock_at_now();
        let score = state
            .sets
            .get(key)
            .and_then(|set| set.scores.get(member).copied())
            .filter(|score| (cutoff(now, window)..=high(now)).contains(score));
        ready(score)
    }

    fn now<'a>(&'a self, _key: &'a str) -> StoreFuture<'a, u64> {
        ready(self.now_ms())
    }

    fn claim<'a>(&'a self, key: &'a str, slot: u64, ttl: Duration) -> StoreFuture<'a, bool> {
        let (mut state, now) = self.lock_at_now();
        let current = state.values.get(key).and_then(|value| {
            std::str::from_utf8(value)
                .ok()
                .and_then(|t| t.parse::<u64>().ok())
        });
        let won = current.is_none_or(|c| c < slot);
        if won {
            state.values.insert(
                key,
                now.saturating_add(ms(ttl)),
                slot.to_string().into_bytes(),
            );
        }
        ready(won)
    }

    fn add_sample<'a>(
        &'a self,
        key: &'a str,
        sample: Sample,
        keep: Duration,
    ) -> StoreFuture<'a, ()> {
        let (mut state, now) = self.lock_at_now();
        let series = state
            .series
            .upsert(key, now.saturating_add(ms(keep)), BTreeMap::new);
        let value = series.entry(sample.at).or_default();
        *value = (*value).max(sample.value);
        let oldest = sample.at.saturating_sub(ms(keep));
        *series = series.split_off(&oldest);
        ready(())
    }

    fn samples<'a>(&'a self, key: &'a str, since: u64, until: u64) -> StoreFuture<'a, Vec<Sample>> {
        let (state, _) = self.lock_at_now();
        let samples = state.series.get(key).map_or_else(Vec::new, |series| {
            series
                .range(since..=until.max(since))
                .map(|(&at, &value)| Sample { at, value })
                .collect()
        });
        ready(samples)
    }

    fn sketch_count<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, u64> {
        let (state, _) = self.lock_at_now();
        let mut union = Hll::default();
        for key in keys {
            if let Some(sketch) = state.sketches.get(key) {
                union.merge(sketch);
            }
        }
        ready(union.estimate())
    }

    fn sketch_merge<'a>(
        &'a self,
        dest: &'a str,
        sources: &'a [String],
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        let (mut state, now) = self.lock_at_now();
        let mut union = Hll::default();
        for key in sources {
            if let Some(sketch) = state.sketches.get(key) {
                union.merge(sketch);
            }
        }
        state
            .sketches
            .insert(dest, now.saturating_add(ms(ttl)), union);
        ready(())
    }

    fn put<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        let (mut state, now) = self.lock_at_now();
        state
            .values
            .insert(key, now.saturating_add(ms(ttl)), value.to_vec());
        ready(())
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        let (state, _) = self.lock_at_now();
        ready(state.values.get(key).cloned())
    }

    fn sweep<'a>(
        &'a self,
        keys: &'a [String],
        policy: WritePolicy,
    ) -> StoreFuture<'a, Vec<Vec<Scored>>> {
        let (mut state, now) = self.lock_at_now();
        let state = &mut *state;
        let low = cutoff(now, policy.window);
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let mut left = Vec::new();
            if let Some(set) = state.sets.get_mut(key) {
                let removed = set.trim(low, policy.trim_limit, Some(&mut left));
                state.members = state.members.saturating_sub(removed);
            }
            out.push(left);
        }
        ready(out)
    }

    fn append<'a>(
        &'a self,
        key: &'a str,
        fields: &'a [(Vec<u8>, Vec<u8>)],
        max_len: usize,
        ttl: Duration,
    ) -> StoreFuture<'a, LogId> {
        let (mut state, now) = self.lock_at_now();
        let log = state
            .logs
            .upsert(key, now.saturating_add(ms(ttl)), Log::default);
        // Ids increase even if the clock stands still or goes back.
        let id = if now > log.last.ms {
            LogId { ms: now, seq: 0 }
        } else {
            LogId {
                ms: log.last.ms,
                seq: log.last.seq + 1,
            }
        };
        log.last = id;
        log.entries.push_back(LogEntry::new(id, fields.to_vec()));
        while log.entries.len() > max_len.max(1) {
            log.entries.pop_front();
        }
        ready(id)
    }

    fn read_log<'a>(
        &'a self,
        key: &'a str,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreFuture<'a, (LogId, Vec<LogEntry>)> {
        let (state, _) = self.lock_at_now();
        let log = state.logs.get(key);
        let Some(after) = after else {
            return ready((log.map_or(LogId::default(), |l| l.last), Vec::new()));
        };
        let entries: Vec<LogEntry> = log.map_or_else(Vec::new, |log| {
            let start = log.entries.partition_point(|e| e.id <= after);
            log.entries
                .iter()
                .skip(start)
                .take(limit)
                .cloned()
                .collect()
        });
        let last = entries.last().map_or(after, |e| e.id);
        ready((last, entries))
    }

    fn exists<'a>(&'a self, key: &'a str, members: &'a [Member]) -> StoreFuture<'a, Vec<bool>> {
        let (state, _) = self.lock_at_now();
        let set = state.sets.get(key);
        let out = members
            .iter()
            .map(|m| set.is_some_and(|set| set.scores.contains_key(m.as_ref())))
            .collect();
        ready(out)
    }

    fn put_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> StoreFuture<'a, Vec<u8>> {
        let (mut state, now) = self.lock_at_now();
        let kept = state
            .values
            .upsert(key, now.saturating_add(ms(ttl)), || value.to_vec());
        if !crate::secret::SecretKey::is_stored_form(kept) {
            *kept = value.to_vec();
        }
        ready(kept.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Member, Touch};

    fn members(names: &[&str]) -> Vec<Member> {
        names.iter().map(|n| Member::from(n.as_bytes())).collect()
    }

    fn store_at_epoch() -> (MemoryStore, ManualClock) {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        (MemoryStore::with_clock(clock.clone()), clock)
    }

    #[test]
    fn counting_what_lies_outside_gives_the_count_inside() {
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for size in [0_u64, 1, 2, 3, 10, 200] {
            let mut set = ZSet::default();
            for i in 0..size {
                set.add(
                    &Member::from(format!("m{i}").as_bytes()),
                    next() % 100,
                    true,
                );
            }
            for _ in 0..200 {
                let low = next() % 110;
                let high = match next() % 3 {
                    0 => u64::MAX,
                    1 => low + next() % 110,
                    _ => next() % 110,
                };
                let naive = set
                    .order
                    .iter()
                    .filter(|(score, ..)| (low..=high).contains(score))
                    .count() as u64;
                assert_eq!(set.count_between(low, high), naive, "{size} {low}..={high}");
            }
        }
    }

    #[tokio::test]
    async fn expired_keys_are_dropped_without_being_read_and_their_members_freed() {
        let (store, clock) = store_at_epoch();
        let policy = WritePolicy::new(Duration::from_secs(10));
        for i in 0..100 {
            let touch = Touch::seen(format!("key-{i}"), members(&["a", "b"]));
            store.touch(&[touch], policy).await.expect("touch");
        }
        assert_eq!(store.members(), 200);
        assert_eq!(store.lock().sets.map.len(), 100);
        // After the keys' life (twice the window), one unrelated call drops them all.
        clock.advance(policy.key_ttl + Duration::from_millis(1));
        store
            .put("other", b"x", Duration::from_secs(60))
            .await
            .expect("put");
        assert_eq!(store.members(), 0);
        let state = store.lock();
        assert!(state.sets.map.is_empty());
        assert!(state.sets.deadlines.is_empty());
        assert!(state.sets.map.capacity() < 100, "room given back");
    }

    #[tokio::test]
    async fn a_full_store_refuses_new_members_and_keeps_indexes_within_the_entries() {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        let store = MemoryStore {
            clock: Some(clock.clone()),
            ..MemoryStore::with_capacity(5)
        };
        let policy = WritePolicy::new(Duration::from_secs(10));
        // Entries first, then an index of their values: 3 + 3 would be 6.
        let write = [
            Touch::seen("active".into(), members(&["e1", "e2", "e3"])),
            Touch::seen("values".into(), members(&["u1", "u2", "u3"])),
        ];
        store.touch(&write, policy).await.expect("touch");
        assert_eq!(store.members(), 5);
        assert_eq!(store.refused(), 1);
        let window = Duration::from_secs(10);
        assert_eq!(store.count("active", window).await.expect("count"), 3);
        // Full: known members are refreshed, new ones refused.
        clock.advance(Duration::from_secs(1));
        let again = [Touch::seen("active".into(), members(&["e1", "e4"]))];
        store.touch(&again, policy).await.expect("touch");
        assert_eq!(store.refused(), 2);
        let e1 = store
            .score("active", b"e1", window)
            .await
            .expect("score")
            .expect("e1 is there");
        assert_eq!(e1, store.now_ms(), "e1 was refreshed");
        // Once the old entries leave the window, the next write trims them and makes room.
        clock.advance(Duration::from_secs(11));
        let later = [Touch::seen("active".into(), members(&["e5"]))];
        store.touch(&later, policy).await.expect("touch");
        assert_eq!(store.count("active", window).await.expect("count"), 1);
        assert_eq!(store.refused(), 2);
    }

    #[tokio::test]
    async fn measured_touches_report_the_active_size_and_exists_finds_known_members() {
        let (store, clock) = store_at_epoch();
        let policy = WritePolicy::new(Duration::from_secs(10));
        let first = [Touch::seen("active".into(), members(&["a", "b"])).measured()];
        let written = store.touch(&first, policy).await.expect("touch");
        assert_eq!(written, Written::new(vec![2]));
        // Eleven seconds on, a and b are stale (not counted) but still there until trimmed.
        clock.advance(Duration::from_secs(11));
        let known = store
            .exists("active", &members(&["a", "c"]))
            .await
            .expect("exists");
        assert_eq!(known, [true, false]);
        let policy_no_trim = WritePolicy {
            trim_limit: 0,
            ..policy
        };
        let next = [Touch::seen("active".into(), members(&["c"])).measured()];
        let written = store.touch(&next, policy_no_trim).await.expect("touch");
        assert_eq!(
            written,
            Written::new(vec![1]),
            "only c is within the window"
        );
        assert_eq!(
            store
                .exists("none", &members(&["a"]))
                .await
                .expect("exists"),
            [false]
        );
    }

    #[tokio::test]
    async fn a_refreshed_key_keeps_living_and_an_old_deadline_does_not_drop_it() {
        let (store, clock) = store_at_epoch();
        store
            .put("k", b"1", Duration::from_secs(10))
            .await
            .expect("put");
        clock.advance(Duration::from_secs(5));
        store
            .put("k", b"2", Duration::from_secs(10))
            .await
            .expect("put");
        clock.advance(Duration::from_secs(6));
        assert_eq!(store.get("k").await.expect("get"), Some(b"2".to_vec()));
        assert_eq!(store.lock().values.deadlines.len(), 1);
        clock.advance(Duration::from_secs(5));
        assert_eq!(store.get("k").await.expect("get"), None);
    }
}
