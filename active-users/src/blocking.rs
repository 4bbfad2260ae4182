//! [`BlockingTracker`]: the tracker for a server without an async runtime of its own.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::core::{Counts, HistoryPoint, UniqueVisitors, ValueCounts, ValuePage};
use crate::error::{BuildError, QueryError, StoreError};
use crate::request::RequestHead;
use crate::store::Store;
use crate::tracker::{Cursor, Outcome, Page, Stats};
use crate::{ActiveUserEntry, Config, Tracker};

/// A [`Tracker`] that owns the Tokio runtime its background writer runs on (one worker thread,
/// named `active-users`), with blocking query methods: for servers built on a blocking stack
/// (`tiny_http`, `rouille`, a thread per connection).
///
/// Recording never blocks, as with [`Tracker`]. The query methods block the calling thread
/// until the store answers (at most the configured query timeout); call them from the
/// application's own threads, not from inside an async runtime (Tokio refuses to block one of
/// its workers). Dropping it writes nothing more: call [`shutdown`](BlockingTracker::shutdown)
/// first to write what is buffered.
///
/// # Examples
///
/// ```
/// use active_users::{BlockingTracker, Config, DefaultEntry, MemoryStore, User};
///
/// let tracker = BlockingTracker::<DefaultEntry>::new(Config::default(), || Ok(MemoryStore::new()))?;
/// let mut request = http::Request::get("/").body(())?;
/// request.extensions_mut().insert(User::new("42"));
/// tracker.record(&request);
/// tracker.flush()?;
/// assert_eq!(tracker.count()?, 1);
/// tracker.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BlockingTracker<E> {
    tracker: Tracker<E>,
    runtime: tokio::runtime::Runtime,
}

impl<E> std::fmt::Debug for BlockingTracker<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingTracker")
            .field("tracker", &self.tracker)
            .finish_non_exhaustive()
    }
}

impl<E: ActiveUserEntry> BlockingTracker<E> {
    /// A tracker on the store `make_store` opens, called inside the tracker's runtime (a
    /// [`RedisStore`](crate::RedisStore) must be opened inside one):
    /// `|| RedisStore::open(url)`, or `|| Ok(MemoryStore::new())`.
    ///
    /// # Errors
    /// [`BuildError::Runtime`] when the runtime cannot start, [`BuildError::Store`] with the
    /// store's error, and the errors of [`Tracker::new`].
    pub fn new<S: Store>(
        config: Config,
        make_store: impl FnOnce() -> Result<S, StoreError>,
    ) -> Result<Self, BuildError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("active-users")
            .enable_time()
            .enable_io()
            .build()
            .map_err(|err| BuildError::Runtime(err.to_string()))?;
        let store = {
            let _inside = runtime.enter();
            make_store().map_err(BuildError::Store)?
        };
        let tracker = Tracker::on_runtime(config, Arc::new(store), runtime.handle())?;
        Ok(BlockingTracker { tracker, runtime })
    }

    /// The tracker itself, for recording from request parts or heads, or to hand to an API.
    pub fn tracker(&self) -> &Tracker<E> {
        &self.tracker
    }

    /// Records a request; never blocks (see [`Tracker::record`]).
    pub fn record<B>(&self, request: &http::Request<B>) -> Outcome {
        self.tracker.record(request)
    }

    /// Records a request from its borrowed head (see [`Tracker::record_head`]).
    pub fn record_head(&self, head: &RequestHead<'_>) -> Outcome {
        self.tracker.record_head(head)
    }

    /// Records an entry built by the application (see [`Tracker::record_entry`]).
    pub fn record_entry(&self, entry: &E) -> Outcome {
        self.tracker.record_entry(entry)
    }

    /// What the tracker did so far (see [`Tracker::stats`]).
    pub fn stats(&self) -> Stats {
        self.tracker.stats()
    }

    /// Writes what is buffered and waits for it (see [`Tracker::flush`]).
    ///
    /// # Errors
    /// The store's error; the entries stay buffered.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.runtime.block_on(self.tracker.flush())
    }

    /// Writes what is buffered and stops the background writer (see [`Tracker::shutdown`]).
    ///
    /// # Errors
    /// As [`flush`](BlockingTracker::flush).
    pub fn shutdown(&self) -> Result<(), StoreError> {
        self.runtime.block_on(self.tracker.shutdown())
    }

    /// See [`Tracker::count`].
    ///
    /// # Errors
    /// As [`Tracker::count`].
    pub fn count(&self) -> Result<u64, QueryError> {
        self.runtime.block_on(self.tracker.count())
    }

    /// See [`Tracker::counts`].
    ///
    /// # Errors
    /// As [`Tracker::counts`].
    pub fn counts(&self) -> Result<Counts, QueryError> {
        self.runtime.block_on(self.tracker.counts())
    }

    /// See [`Tracker::count_distinct`].
    ///
    /// # Errors
    /// As [`Tracker::count_distinct`].
    pub fn count_distinct(&self, field: &str) -> Result<u64, QueryError> {
        self.runtime.block_on(self.tracker.count_distinct(field))
    }

    /// See [`Tracker::count_by`].
    ///
    /// # Errors
    /// As [`Tracker::count_by`].
    pub fn count_by(&self, field: &str) -> Result<ValueCounts, QueryError> {
        self.runtime.block_on(self.tracker.count_by(field))
    }

    /// See [`Tracker::values`].
    ///
    /// # Errors
    /// As [`Tracker::values`].
    pub fn values(
        &self,
        field: &str,
        limit: usize,
        cursor: Option<Cursor>,
    ) -> Result<ValuePage, QueryError> {
        self.runtime
            .block_on(self.tracker.values(field, limit, cursor))
    }

    /// See [`Tracker::list`].
    ///
    /// # Errors
    /// As [`Tracker::list`].
    pub fn list(&self, limit: usize, cursor: Option<Cursor>) -> Result<Page<E>, QueryError> {
        self.runtime.block_on(self.tracker.list(limit, cursor))
    }

    /// See [`Tracker::last_seen`].
    ///
    /// # Errors
    /// As [`Tracker::last_seen`].
    pub fn last_seen(&self, entry: &E) -> Result<Option<SystemTime>, QueryError> {
        self.runtime.block_on(self.tracker.last_seen(entry))
    }

    /// See [`Tracker::history`].
    ///
    /// # Errors
    /// As [`Tracker::history`].
    pub fn history(&self, span: Duration) -> Result<Vec<HistoryPoint>, QueryError> {
        self.runtime.block_on(self.tracker.history(span))
    }

    /// See [`Tracker::peak`].
    ///
    /// # Errors
    /// As [`Tracker::peak`].
    pub fn peak(&self, span: Duration) -> Result<Option<HistoryPoint>, QueryError> {
        self.runtime.block_on(self.tracker.peak(span))
    }

    /// See [`Tracker::unique`].
    ///
    /// # Errors
    /// As [`Tracker::unique`].
    pub fn unique(&self, span: Duration) -> Result<UniqueVisitors, QueryError> {
        self.runtime.block_on(self.tracker.unique(span))
    }
}
