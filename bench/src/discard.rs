//! A store that keeps no entry: the end-to-end part's way to measure what the layer costs
//! before the store (extraction, the buffer, the writer's batches), apart from what writing
//! them costs. Everything but [`Store::touch`] is a [`MemoryStore`]'s (the secret key, the
//! clock, history), so a tracker on it starts and runs as on any store.

use active_users::MemoryStore;
use active_users::store::{
    Member, Position, Sample, Scored, Snapshot, Store, StoreFuture, Touch, WritePolicy, Written,
};
use std::time::Duration;

/// Takes every write and keeps nothing of it.
#[derive(Debug, Default)]
pub(crate) struct DiscardStore(MemoryStore);

impl Store for DiscardStore {
    fn touch<'a>(&'a self, _: &'a [Touch], _: WritePolicy) -> StoreFuture<'a, Written> {
        Box::pin(async { Ok(Written::default()) })
    }
    fn count<'a>(&'a self, key: &'a str, window: Duration) -> StoreFuture<'a, u64> {
        self.0.count(key, window)
    }
    fn count_each<'a>(&'a self, keys: &'a [String], window: Duration) -> StoreFuture<'a, Vec<u64>> {
        self.0.count_each(keys, window)
    }
    fn snapshot<'a>(
        &'a self,
        count: &'a [String],
        list: &'a [String],
        window: Duration,
        limit: usize,
    ) -> StoreFuture<'a, Snapshot> {
        self.0.snapshot(count, list, window, limit)
    }
    fn range<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
        from: Option<&'a Position>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Scored>> {
        self.0.range(key, window, from, limit)
    }
    fn score<'a>(
        &'a self,
        key: &'a str,
        member: &'a [u8],
        window: Duration,
    ) -> StoreFuture<'a, Option<u64>> {
        self.0.score(key, member, window)
    }
    fn now<'a>(&'a self, key: &'a str) -> StoreFuture<'a, u64> {
        self.0.now(key)
    }
    fn claim<'a>(&'a self, key: &'a str, slot: u64, ttl: Duration) -> StoreFuture<'a, bool> {
        self.0.claim(key, slot, ttl)
    }
    fn add_sample<'a>(
        &'a self,
        key: &'a str,
        sample: Sample,
        keep: Duration,
    ) -> StoreFuture<'a, ()> {
        self.0.add_sample(key, sample, keep)
    }
    fn samples<'a>(&'a self, key: &'a str, since: u64, until: u64) -> StoreFuture<'a, Vec<Sample>> {
        self.0.samples(key, since, until)
    }
    fn sketch_count<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, u64> {
        self.0.sketch_count(keys)
    }
    fn sketch_merge<'a>(
        &'a self,
        dest: &'a str,
        sources: &'a [String],
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        self.0.sketch_merge(dest, sources, ttl)
    }
    fn put<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        self.0.put(key, value, ttl)
    }
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        self.0.get(key)
    }
    fn exists<'a>(&'a self, key: &'a str, members: &'a [Member]) -> StoreFuture<'a, Vec<bool>> {
        self.0.exists(key, members)
    }
}
