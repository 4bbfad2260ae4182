//! [`Reader`]: the queries of a namespace, for programs that do not have its entry type.

use crate::codec::{DecodeError, Decoder};
use crate::config::Config;
use crate::core::{
    Core, Counts, FieldInfo, HistoryPoint, Keys, Schema, UniqueVisitors, ValueCounts, ValuePage,
    to_system_time,
};
use crate::error::QueryError;
use crate::presence::{Hub, Kind, RawChange, RawEvent, Subscription};
use crate::store::Store;
use crate::tracker::Cursor;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Reads a namespace that trackers write, without their entry type: the `active-users`
/// command, dashboards and scripts use it.
///
/// Every tracker stores a description of its namespace (shards, window, fields and how their
/// values read) next to its data; [`Reader::open`] reads it, so only the namespace and key
/// prefix of the [`Config`] matter. It writes nothing.
///
/// # Examples
///
/// ```
/// use active_users::{Config, DefaultEntry, MemoryStore, Reader, Tracker, User};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryStore::new();
/// let tracker = Tracker::<DefaultEntry>::new(Config::default(), store.clone())?;
/// let mut request = http::Request::get("/").body(())?;
/// request.extensions_mut().insert(User::new("42").with_name("alice"));
/// tracker.record(&request);
/// tracker.flush().await?;
///
/// let reader = Reader::open(Config::default(), store).await?;
/// assert_eq!(reader.count().await?, 1);
/// let page = reader.list(10, None).await?;
/// assert_eq!(page.entries[0].value("username"), Some("alice"));
/// # Ok(()) }
/// ```
pub struct Reader {
    core: Core,
    /// Presence: the subscribers' side of the event log.
    hub: Hub,
    /// Where presence's reader runs.
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("namespace", &self.core.config.namespace)
            .field("shards", &self.core.keys.shards())
            .finish_non_exhaustive()
    }
}

/// An active entry read without its type: each field's name and value as text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RawEntry {
    /// (field name, value) in field order; `None` for an absent value.
    pub values: Vec<(String, Option<String>)>,
    /// When it was last seen.
    pub last_seen: SystemTime,
}

impl RawEntry {
    /// The value of a field, if present.
    pub fn value(&self, field: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(name, _)| name == field)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// A page of [`RawEntry`]s, least recently seen first.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RawPage {
    /// The entries.
    pub entries: Vec<RawEntry>,
    /// Where the next page starts; `None` after the last page.
    pub next: Option<Cursor>,
    /// Stored members that did not match the description and were skipped.
    pub undecodable: usize,
}

impl Reader {
    /// Opens the namespace `config` names on `store`.
    ///
    /// # Errors
    /// [`QueryError::UnknownNamespace`] when no tracker has written it there (a wrong
    /// namespace, key prefix or server), [`QueryError::Schema`] when its description is from
    /// an incompatible version, or the store's failure.
    pub async fn open(config: Config, store: impl Store) -> Result<Self, QueryError> {
        Self::with_store(config, Arc::new(store)).await
    }

    /// Like [`open`](Reader::open), with a shared store.
    ///
    /// # Errors
    /// As [`open`](Reader::open).
    pub async fn with_store(config: Config, store: Arc<dyn Store>) -> Result<Self, QueryError> {
        let key = Keys::new(&config).schema();
        let timeout = config.query_timeout;
        let stored = tokio::time::timeout(timeout, store.get(&key))
            .await
            .map_err(|_| QueryError::Timeout(timeout))??;
        let namespace = config.namespace.clone();
        let Some(json) = stored else {
            return Err(QueryError::UnknownNamespace { namespace, key });
        };
        let schema = Schema::parse(&json).map_err(|reason| QueryError::Schema {
            namespace: namespace.clone(),
            reason,
        })?;
        let mut config = config;
        config.shards = schema.shards;
        config.window = schema.window;
        config.history = schema.history;
        config.presence = schema.presence;
        Ok(Reader {
            hub: Hub::new(Keys::new(&config).presence(), Arc::clone(&store)),
            runtime: tokio::runtime::Handle::current(),
            core: Core::new(config, store, schema.fields),
        })
    }

    /// The namespace's fields.
    pub fn fields(&self) -> &[FieldInfo] {
        &self.core.fields
    }

    /// The number of shards the namespace is split into.
    pub fn shards(&self) -> usize {
        self.core.keys.shards()
    }

    /// How long a visitor stays active (the trackers' window).
    pub fn window(&self) -> Duration {
        self.core.config.window
    }

    /// How much history the trackers keep.
    pub fn history_span(&self) -> Duration {
        self.core.config.history
    }

    /// The number of active entries, as [`Tracker::count`](crate::Tracker::count).
    ///
    /// # Errors
    /// The store's failure or timeout.
    pub async fn count(&self) -> Result<u64, QueryError> {
        self.core
            .traced("count", self.core.view(self.window()).count())
            .await
    }

    /// The active entries and every distinct count read together, as
    /// [`Tracker::counts`](crate::Tracker::counts).
    ///
    /// # Errors
    /// The store's failure or timeout.
    pub async fn counts(&self) -> Result<Counts, QueryError> {
        self.core
            .traced("counts", self.core.view(self.window()).counts())
            .await
    }

    /// Distinct active values of an indexed field, as
    /// [`Tracker::count_distinct`](crate::Tracker::count_distinct).
    ///
    /// # Errors
    /// As [`Tracker::count_distinct`](crate::Tracker::count_distinct).
    pub async fn count_distinct(&self, field: &str) -> Result<u64, QueryError> {
        self.core
            .traced(
                "count_distinct",
                self.core.view(self.window()).count_distinct(field),
            )
            .await
    }

    /// Active entries per value of an indexed field, largest first, as
    /// [`Tracker::count_by`](crate::Tracker::count_by).
    ///
    /// # Errors
    /// As [`Tracker::count_by`](crate::Tracker::count_by).
    pub async fn count_by(&self, field: &str) -> Result<ValueCounts, QueryError> {
        self.core
            .traced("count_by", self.core.view(self.window()).count_by(field))
            .await
    }

    /// A page of the active values of an indexed field, as
    /// [`Tracker::values`](crate::Tracker::values).
    ///
    /// # Errors
    /// As [`Tracker::values`](crate::Tracker::values).
    pub async fn values(
        &self,
        field: &str,
        limit: usize,
        cursor: Option<Cursor>,
    ) -> Result<ValuePage, QueryError> {
        self.core
            .traced(
                "values",
                self.core.view(self.window()).values(field, limit, cursor),
            )
            .await
    }

    /// A page of active entries, as [`Tracker::list`](crate::Tracker::list).
    ///
    /// # Errors
    /// As [`Tracker::list`](crate::Tracker::list).
    pub async fn list(&self, limit: usize, cursor: Option<Cursor>) -> Result<RawPage, QueryError> {
        self.core
            .traced("list", self.list_untraced(limit, cursor))
            .await
    }

    async fn list_untraced(
        &self,
        limit: usize,
        cursor: Option<Cursor>,
    ) -> Result<RawPage, QueryError> {
        let (raw, next) = self.core.view(self.window()).range(limit, cursor).await?;
        let mut undecodable = 0;
        let entries = raw
            .into_iter()
            .filter_map(|scored| match self.decode(&scored.member) {
                Ok(values) => Some(RawEntry {
                    values,
                    last_seen: to_system_time(scored.score),
                }),
                Err(_) => {
                    undecodable += 1;
                    None
                }
            })
            .collect();
        Ok(RawPage {
            entries,
            next,
            undecodable,
        })
    }

    /// The active count per minute, as [`Tracker::history`](crate::Tracker::history).
    ///
    /// # Errors
    /// As [`Tracker::history`](crate::Tracker::history).
    pub async fn history(&self, span: Duration) -> Result<Vec<HistoryPoint>, QueryError> {
        self.core.traced("history", self.core.history(span)).await
    }

    /// The busiest minute, as [`Tracker::peak`](crate::Tracker::peak).
    ///
    /// # Errors
    /// As [`Tracker::history`](crate::Tracker::history).
    pub async fn peak(&self, span: Duration) -> Result<Option<HistoryPoint>, QueryError> {
        self.core.traced("peak", self.core.peak(span)).await
    }

    /// Unique visitors, as [`Tracker::unique`](crate::Tracker::unique).
    ///
    /// # Errors
    /// As [`Tracker::history`](crate::Tracker::history).
    pub async fn unique(&self, span: Duration) -> Result<UniqueVisitors, QueryError> {
        self.core.traced("unique", self.core.unique(span)).await
    }

    fn decode(&self, member: &[u8]) -> Result<Vec<(String, Option<String>)>, DecodeError> {
        decode_with(&self.core.fields, member)
    }

    /// Who joins and leaves the namespace from now on: its entries and the values of its
    /// `index` and `distinct` fields, as [`Tracker::subscribe`](crate::Tracker::subscribe) and
    /// [`subscribe_field`](crate::Tracker::subscribe_field) tell them, in one stream.
    ///
    /// # Errors
    /// [`QueryError::PresenceOff`] when the namespace's trackers do not report presence;
    /// the store's error or a timeout when the event log cannot be read.
    pub async fn subscribe(&self) -> Result<Subscription<RawChange>, QueryError> {
        if !self.core.config.presence {
            return Err(QueryError::PresenceOff);
        }
        let timeout = self.core.config.query_timeout;
        let rx = match tokio::time::timeout(timeout, self.hub.subscribe(Kind::All, &self.runtime))
            .await
        {
            Ok(rx) => rx?,
            Err(_) => return Err(QueryError::Timeout(timeout)),
        };
        let fields = self.core.fields.clone();
        Ok(Subscription::new(
            rx,
            None,
            Box::new(move |raw: &RawEvent| match &raw.field {
                None => decode_with(&fields, &raw.bytes).map(RawChange::Entry),
                Some(field) => Ok(RawChange::Value {
                    field: field.clone(),
                    value: String::from_utf8_lossy(&raw.bytes).into_owned(),
                }),
            }),
        ))
    }

    /// Whether the namespace's trackers report presence.
    pub fn presence(&self) -> bool {
        self.core.config.presence
    }
}

/// A member's values as text, by the namespace's description of its fields.
fn decode_with(
    fields: &[FieldInfo],
    member: &[u8],
) -> Result<Vec<(String, Option<String>)>, DecodeError> {
    let mut decoder = Decoder::new(member)?;
    let mut out = Vec::with_capacity(fields.len());
    for field in fields {
        let value = decoder.next_raw()?.map(|bytes| field.kind.render(bytes));
        out.push((field.name.clone(), value));
    }
    decoder.finish()?;
    Ok(out)
}
