//! [`MemoryStore`]: the embedded store, for one process, tests and demos.

use super::{Position, Scored, Store, StoreFuture, Touch, WritePolicy};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An in-process store: the same semantics as Redis, kept in this process's memory.
///
/// Cloning it gives another handle to the same data, so two trackers built on clones share
/// entries as two app servers sharing one Redis would. Its clock is the process clock.
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
    sets: Arc<Mutex<HashMap<String, ZSet>>>,
}

#[derive(Debug, Default)]
struct ZSet {
    scores: HashMap<Vec<u8>, u64>,
    order: BTreeSet<(u64, Vec<u8>)>,
    expires_at: u64,
}

impl ZSet {
    fn add(&mut self, member: &[u8], score: u64) {
        if let Some(old) = self.scores.insert(member.to_vec(), score) {
            self.order.remove(&(old, member.to_vec()));
        }
        self.order.insert((score, member.to_vec()));
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

    fn count_since(&self, cutoff: u64) -> u64 {
        self.order.range((cutoff, Vec::new())..).count() as u64
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn cutoff(now: u64, window: Duration) -> u64 {
    now.saturating_sub(u64::try_from(window.as_millis()).unwrap_or(u64::MAX))
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, ZSet>> {
        // A panic while holding the lock cannot leave a set half-updated in a way that
        // matters more than losing the whole store would, so keep serving.
        self.sets.lock().unwrap_or_else(|e| e.into_inner())
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
        let now = now_ms();
        let ttl = u64::try_from(policy.key_ttl.as_millis()).unwrap_or(u64::MAX);
        let mut sets = self.lock();
        sets.retain(|_, set| set.expires_at > now);
        for touch in touches {
            let set = sets.entry(touch.key.clone()).or_default();
            for member in &touch.members {
                set.add(member.as_ref(), now);
            }
            set.trim(cutoff(now, policy.window), policy.trim_limit);
            set.expires_at = now.saturating_add(ttl);
        }
        ready(())
    }

    fn count<'a>(&'a self, key: &'a str, window: Duration) -> StoreFuture<'a, u64> {
        let now = now_ms();
        let mut sets = self.lock();
        let n = Self::live(&mut sets, key, now).map_or(0, |s| s.count_since(cutoff(now, window)));
        ready(n)
    }

    fn count_each<'a>(&'a self, keys: &'a [String], window: Duration) -> StoreFuture<'a, Vec<u64>> {
        let now = now_ms();
        let mut sets = self.lock();
        let counts = keys
            .iter()
            .map(|key| {
                Self::live(&mut sets, key, now).map_or(0, |s| s.count_since(cutoff(now, window)))
            })
            .collect();
        ready(counts)
    }

    fn range<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
        from: Option<Position>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Scored>> {
        let now = now_ms();
        let low = cutoff(now, window);
        let (start, skip) = match from {
            Some(p) if p.score >= low => (p.score, p.skip),
            _ => (low, 0),
        };
        let mut sets = self.lock();
        let page = Self::live(&mut sets, key, now).map_or_else(Vec::new, |set| {
            set.order
                .range((start, Vec::new())..)
                .skip(usize::try_from(skip).unwrap_or(usize::MAX))
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
        let now = now_ms();
        let mut sets = self.lock();
        let score = Self::live(&mut sets, key, now)
            .and_then(|set| set.scores.get(member).copied())
            .filter(|score| *score >= cutoff(now, window));
        ready(score)
    }
}
