//! [`MemoryStore`]: the embedded store, for one process, tests and demos.

use super::hll::Hll;
use super::{
    FUTURE_SLACK, Position, Sample, Scored, SetKind, Snapshot, Store, StoreFuture, Touch,
    WritePolicy, ms, unix_ms,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An in-process store: the same semantics as Redis, kept in this process's memory.
///
/// Cloning it gives another handle to the same data, so two trackers built on clones share
/// entries as two app servers sharing one Redis would. Its clock is the process clock, or a
/// [`ManualClock`] that tests move by hand ([`MemoryStore::with_clock`]).
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
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    clock: Option<ManualClock>,
}

/// Everything a memory store holds; each kind of structure has its own key space.
#[derive(Debug, Default)]
struct State {
    sets: HashMap<String, ZSet>,
    sketches: HashMap<String, Expiring<Hll>>,
    series: HashMap<String, Expiring<BTreeMap<u64, u64>>>,
    values: HashMap<String, Expiring<Vec<u8>>>,
}

#[derive(Debug, Default)]
struct Expiring<T> {
    value: T,
    expires_at: u64,
}

/// Removes the expired entries of `map`: a sweep over the map, as every write does.
fn sweep<T>(map: &mut HashMap<String, Expiring<T>>, now: u64) {
    map.retain(|_, e| e.expires_at > now);
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

#[derive(Debug, Default)]
struct ZSet {
    scores: HashMap<Vec<u8>, u64>,
    order: BTreeSet<(u64, Vec<u8>)>,
    expires_at: u64,
}

impl ZSet {
    /// Adds a member, or moves it to `score` if that is later (Redis's `ZADD GT`).
    fn add(&mut self, member: &[u8], score: u64) {
        match self.scores.get_mut(member) {
            Some(old) if *old >= score => {}
            Some(old) => {
                self.order.remove(&(*old, member.to_vec()));
                *old = score;
                self.order.insert((score, member.to_vec()));
            }
            None => {
                self.scores.insert(member.to_vec(), score);
                self.order.insert((score, member.to_vec()));
            }
        }
    }

    fn trim(&mut self, cutoff: u64, limit: usize) {
        for _ in 0..limit {
            match self.order.first() {
                Some((score, _)) if *score < cutoff => {
                    if let Some((_, member)) = self.order.pop_first() {
                        self.scores.remove(&member);
                    }
                }
                _ => break,
            }
        }
    }

    /// The members scored from `low` to `high`.
    fn members_between(&self, low: u64, high: u64) -> impl Iterator<Item = &(u64, Vec<u8>)> {
        self.order
            .range((low, Vec::new())..)
            .take_while(move |(score, _)| *score <= high)
    }

    fn count_between(&self, low: u64, high: u64) -> u64 {
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
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose clock is `clock`: expiry, windows and history follow it, not the
    /// process clock.
    pub fn with_clock(clock: ManualClock) -> Self {
        MemoryStore {
            state: Arc::default(),
            clock: Some(clock),
        }
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

    fn lock_at_now(&self) -> (MutexGuard<'_, State>, u64) {
        (self.lock(), self.now_ms())
    }

    /// The live set at `key`, dropping it first if it has expired.
    fn live<'a>(sets: &'a mut HashMap<String, ZSet>, key: &str, now: u64) -> Option<&'a ZSet> {
        if sets.get(key).is_some_and(|set| set.expires_at <= now) {
            sets.remove(key);
        }
        sets.get(key)
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> StoreFuture<'a, T> {
    Box::pin(std::future::ready(Ok(value)))
}

impl Store for MemoryStore {
    fn touch<'a>(&'a self, touches: &'a [Touch], policy: WritePolicy) -> StoreFuture<'a, ()> {
        let (mut state, now) = self.lock_at_now();
        let ttl = ms(policy.key_ttl);
        state.sets.retain(|_, set| set.expires_at > now);
        sweep(&mut state.sketches, now);
        for touch in touches {
            match touch.kind {
                SetKind::Windowed => {
                    let set = state.sets.entry(touch.key.clone()).or_default();
                    for (i, member) in touch.members.iter().enumerate() {
                        set.add(member.as_ref(), touch.score(i, now));
                    }
                    set.trim(cutoff(now, policy.window), policy.trim_limit);
                    set.expires_at = now.saturating_add(ttl);
                }
                SetKind::Sketch { ttl } => {
                    let sketch = state.sketches.entry(touch.key.clone()).or_default();
                    for member in &touch.members {
                        sketch.value.add(member);
                    }
                    sketch.expires_at = now.saturating_add(ms(ttl));
                }
            }
        }
        ready(())
    }

    fn count<'a>(&'a self, key: &'a str, window: Duration) -> StoreFuture<'a, u64> {
        let (mut state, now) = self.lock_at_now();
        let sets = &mut state.sets;
        let n = Self::live(sets, key, now)
            .map_or(0, |s| s.count_between(cutoff(now, window), high(now)));
        ready(n)
    }

    fn count_each<'a>(&'a self, keys: &'a [String], window: Duration) -> StoreFuture<'a, Vec<u64>> {
        let (mut state, now) = self.lock_at_now();
        let sets = &mut state.sets;
        let counts = keys
            .iter()
            .map(|key| {
                Self::live(sets, key, now)
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
        let (mut state, now) = self.lock_at_now();
        let sets = &mut state.sets;
        let low = cutoff(now, window);
        let counts = count
            .iter()
            .map(|key| Self::live(sets, key, now).map_or(0, |s| s.count_between(low, high(now))))
            .collect();
        let lists = list
            .iter()
            .map(|key| {
                Self::live(sets, key, now).map_or_else(Vec::new, |set| {
                    set.members_between(low, high(now))
                        .take(limit)
                        .map(|(_, member)| member.clone())
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
        from: Option<Position>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Scored>> {
        let (mut state, now) = self.lock_at_now();
        let sets = &mut state.sets;
        let low = cutoff(now, window);
        let (start, skip) = match from {
            Some(p) if p.score >= low => (p.score, p.skip),
            _ => (low, 0),
        };
        let page = Self::live(sets, key, now).map_or_else(Vec::new, |set| {
            // No more can be skipped than there are members at the position's score.
            let same = set.members_between(start, start).count();
            let skip = usize::try_from(skip).unwrap_or(usize::MAX).min(same);
            set.members_between(start, high(now))
                .skip(skip)
                .take(limit)
                .map(|(score, member)| Scored {
                    member: member.clone(),
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
        let (mut state, now) = self.lock_at_now();
        let sets = &mut state.sets;
        let score = Self::live(sets, key, now)
            .and_then(|set| set.scores.get(member).copied())
            .filter(|score| (cutoff(now, window)..=high(now)).contains(score));
        ready(score)
    }

    fn now<'a>(&'a self, _key: &'a str) -> StoreFuture<'a, u64> {
        ready(self.now_ms())
    }

    fn claim<'a>(&'a self, key: &'a str, slot: u64, ttl: Duration) -> StoreFuture<'a, bool> {
        let (mut state, now) = self.lock_at_now();
        sweep(&mut state.values, now);
        let current = state.values.get(key).and_then(|e| {
            std::str::from_utf8(&e.value)
                .ok()
                .and_then(|t| t.parse::<u64>().ok())
        });
        let won = current.is_none_or(|c| c < slot);
        if won {
            state.values.insert(
                key.to_owned(),
                Expiring {
                    value: slot.to_string().into_bytes(),
                    expires_at: now.saturating_add(ms(ttl)),
                },
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
        sweep(&mut state.series, now);
        let series = state.series.entry(key.to_owned()).or_default();
        let value = series.value.entry(sample.at).or_default();
        *value = (*value).max(sample.value);
        let oldest = sample.at.saturating_sub(ms(keep));
        series.value = series.value.split_off(&oldest);
        series.expires_at = now.saturating_add(ms(keep));
        ready(())
    }

    fn samples<'a>(&'a self, key: &'a str, since: u64, until: u64) -> StoreFuture<'a, Vec<Sample>> {
        let (mut state, now) = self.lock_at_now();
        sweep(&mut state.series, now);
        let samples = state.series.get(key).map_or_else(Vec::new, |series| {
            series
                .value
                .range(since..=until.max(since))
                .map(|(&at, &value)| Sample { at, value })
                .collect()
        });
        ready(samples)
    }

    fn sketch_count<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, u64> {
        let (mut state, now) = self.lock_at_now();
        sweep(&mut state.sketches, now);
        let mut union = Hll::default();
        for key in keys {
            if let Some(sketch) = state.sketches.get(key) {
                union.merge(&sketch.value);
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
        sweep(&mut state.sketches, now);
        let mut union = Hll::default();
        for key in sources {
            if let Some(sketch) = state.sketches.get(key) {
                union.merge(&sketch.value);
            }
        }
        state.sketches.insert(
            dest.to_owned(),
            Expiring {
                value: union,
                expires_at: now.saturating_add(ms(ttl)),
            },
        );
        ready(())
    }

    fn put<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        let (mut state, now) = self.lock_at_now();
        sweep(&mut state.values, now);
        state.values.insert(
            key.to_owned(),
            Expiring {
                value: value.to_vec(),
                expires_at: now.saturating_add(ms(ttl)),
            },
        );
        ready(())
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        let (mut state, now) = self.lock_at_now();
        sweep(&mut state.values, now);
        ready(state.values.get(key).map(|e| e.value.clone()))
    }

    fn put_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> StoreFuture<'a, Vec<u8>> {
        let (mut state, now) = self.lock_at_now();
        sweep(&mut state.values, now);
        let kept = state
            .values
            .entry(key.to_owned())
            .or_insert_with(|| Expiring {
                value: value.to_vec(),
                expires_at: 0,
            });
        if kept.value.len() != 32 || !kept.value.iter().all(u8::is_ascii_hexdigit) {
            kept.value = value.to_vec();
        }
        kept.expires_at = now.saturating_add(ms(ttl));
        ready(kept.value.clone())
    }
}
