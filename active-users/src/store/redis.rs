//! [`RedisStore`]: the shared store, on a standalone Redis server (Redis 6.2 or later).

#[cfg(test)]
use super::FUTURE_SLACK;
use super::{
    Changes, Joined, LogEntry, LogId, Member, Position, Sample, Scored, SetKind, Snapshot, Store,
    StoreFuture, Touch, WritePolicy, Written, ms,
};
use crate::error::StoreError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// Removes at most a bounded number of stale members from each key, oldest first, and as
/// many members scored more than [`FUTURE_SLACK`](super::FUTURE_SLACK) ahead of the server's clock (junk: no visit
/// is in the future), newest first.
///
/// KEYS: the sets. ARGV: window ms, limit per key, and a flag per key (`1` or `0`): whether
/// to return the stale members it removes. Returns, per key, those members and their scores
/// (member, score, ...; empty for an unflagged key). The cutoff comes from the server's
/// `TIME`. Members are written with plain `ZADD`s; only this bounded trim needs a script,
/// because `ZREMRANGEBYSCORE` has no limit and one call removing a million members blocks
/// Redis for most of a second.
const TRIM: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local high = now + 60000 -- later scores are junk, not visits (FUTURE_SLACK)
local cutoff = now - tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local watched = ARGV[3] or ''
local out = {}
for i, key in ipairs(KEYS) do
  local left = {}
  local stale = redis.call('ZCOUNT', key, '-inf', '(' .. cutoff)
  if stale > 0 then
    local n = math.min(stale, limit)
    if string.sub(watched, i, i) == '1' then
      left = redis.call('ZRANGE', key, 0, n - 1, 'WITHSCORES')
    end
    redis.call('ZREMRANGEBYRANK', key, 0, n - 1)
  end
  local junk = redis.call('ZCOUNT', key, '(' .. high, '+inf')
  if junk > 0 then
    redis.call('ZREMRANGEBYRANK', key, -math.min(junk, limit), -1)
  end
  out[i] = left
end
return out
";
static TRIM_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(TRIM));

/// How often the store re-reads the server's clock.
const CLOCK_RESYNC: Duration = Duration::from_secs(5);

/// Members per `ZADD` command.
const ZADD_CHUNK: usize = 1000;

/// Counts the members of each key seen within the window. ARGV: window ms.
const COUNT_SRC: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local high = now + 60000 -- later scores are junk, not visits (FUTURE_SLACK)
local cutoff = now - tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('ZCOUNT', key, cutoff, high)
end
return out
";
static COUNT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(COUNT_SRC));

/// Counts the members of the first ARGV[2] keys seen within the window and lists up to
/// ARGV[3] of them in the other keys, with one cutoff, atomically. ARGV: window ms, number of
/// counted keys, list limit.
const SNAPSHOT_SRC: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local high = now + 60000 -- later scores are junk, not visits (FUTURE_SLACK)
local cutoff = now - tonumber(ARGV[1])
local counted = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local out = {}
for i, key in ipairs(KEYS) do
  if i <= counted then
    out[i] = redis.call('ZCOUNT', key, cutoff, high)
  else
    out[i] = redis.call('ZRANGE', key, cutoff, high, 'BYSCORE', 'LIMIT', 0, limit)
  end
end
return out
";
static SNAPSHOT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(SNAPSHOT_SRC));

/// A page of members, least recent first, after a position. ARGV: window ms, the position's
/// score ('' for none) and member, limit. Returns member, score, member, score, ...
///
/// The page is read by rank from just after the position: the member's own rank when it is
/// still there with that score, else a binary search among the members of that score (kept
/// in byte order) for the first one after it. O(log N) calls of O(log N) each, whatever the
/// position says; `ZRANGE BYSCORE LIMIT offset` would walk every skipped member.
const RANGE_SRC: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local high = now + 60000 -- later scores are junk, not visits (FUTURE_SLACK)
local from = now - tonumber(ARGV[1])
local limit = tonumber(ARGV[4])
local after = nil
if ARGV[2] ~= '' and tonumber(ARGV[2]) >= from then
  from = tonumber(ARGV[2])
  after = ARGV[3]
end
-- Nothing is listed after a position beyond the plausible (or for no room at all).
if from > high or limit < 1 then return {} end
local score = string.format('%d', from)
local start = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. score)
if after then
  local rank = redis.call('ZRANK', KEYS[1], after)
  local at = rank and redis.call('ZSCORE', KEYS[1], after)
  if rank and tonumber(at) == from then
    start = rank + 1
  else
    -- Byte order, as Redis orders members of one score (Lua's own comparison follows the
    -- locale).
    local function before_or_at(a, b)
      local n = math.min(#a, #b)
      for i = 1, n do
        local x, y = string.byte(a, i), string.byte(b, i)
        if x ~= y then return x < y end
      end
      return #a <= #b
    end
    local lo, hi = start, start + redis.call('ZCOUNT', KEYS[1], score, score)
    while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      if before_or_at(redis.call('ZRANGE', KEYS[1], mid, mid)[1], after) then
        lo = mid + 1
      else
        hi = mid
      end
    end
    start = lo
  end
end
local page = redis.call('ZRANGE', KEYS[1], start, start + limit - 1, 'WITHSCORES')
local out = {}
for i = 1, #page, 2 do
  if tonumber(page[i + 1]) > high then break end
  out[#out + 1] = page[i]
  out[#out + 1] = page[i + 1]
end
return out
";
static RANGE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(RANGE_SRC));

/// The score of one member if seen within the window. ARGV: window ms, member.
const SCORE_SRC: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local high = now + 60000 -- later scores are junk, not visits (FUTURE_SLACK)
local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
if score and tonumber(score) >= now - tonumber(ARGV[1]) and tonumber(score) <= high then
  return tostring(score)
end
return false
";
static SCORE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(SCORE_SRC));

/// Sets KEYS[1] to ARGV[1] (for ARGV[2] ms) if it holds a smaller number or nothing; 1 if it
/// did. Atomic, so of many app servers claiming one minute exactly one wins.
const CLAIM_SRC: &str = r"
local slot = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '-1') or -1
-- A claim further ahead than a few slots, or one that never expires, was not written by a
-- tracker (they claim the current slot, with a TTL): overwrite it rather than stop for good.
if current > slot + 6 or redis.call('PTTL', KEYS[1]) == -1 then current = -1 end
if current < slot then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";
static CLAIM: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(CLAIM_SRC));

/// Keeps KEYS[1], storing ARGV[1] first if it holds no key (nothing, another type, or not 32
/// hex digits), for ARGV[2] ms; returns what it holds. Atomic, so trackers starting together
/// agree on one value whatever was there.
const KEEP_SRC: &str = r"
local value = false
if redis.call('TYPE', KEYS[1]).ok == 'string' then
  value = redis.call('GET', KEYS[1])
end
if not value or #value ~= 32 or not string.match(value, '^%x+$') then
  value = ARGV[1]
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[1], value)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return value
";
static KEEP: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(KEEP_SRC));

/// Folds a sample into a series: one member `at:value` per time, keeping the highest value.
/// KEYS: the series. ARGV: at, value, oldest time kept, ttl ms.
const ADD_SAMPLE_SRC: &str = r"
local best = tonumber(ARGV[2])
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[1], 'BYSCORE')) do
  local value = tonumber(string.match(member, ':(%d+)$'))
  if value and value > best then best = value end
  redis.call('ZREM', KEYS[1], member)
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1] .. ':' .. best)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
-- Points more than a minute after this one are junk (a series only grows at its end).
local junk = redis.call('ZCOUNT', KEYS[1], '(' .. (tonumber(ARGV[1]) + 60000), '+inf')
if junk > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], -math.min(junk, 1000), -1) end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return best
";
static ADD_SAMPLE: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(ADD_SAMPLE_SRC));

/// A store on a standalone Redis server, through a connection that reconnects by itself.
///
/// The `redis` crate is re-exported as [`active_users::redis`](crate::redis) so that you build
/// clients with the same version.
///
/// # Examples
///
/// ```no_run
/// use active_users::{Config, DefaultEntry, RedisStore, Tracker};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::open("redis://127.0.0.1:6379/")?;
/// let tracker = Tracker::<DefaultEntry>::new(Config::default(), store)?;
/// println!("{} active", tracker.count().await?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    /// The server's clock as last read: (local instant at the middle of the `TIME` round trip,
    /// server milliseconds then).
    clock: Arc<Mutex<Option<(Instant, u64)>>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

/// A standalone server through a reconnecting manager, or a cluster.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Conn {
    /// Sends the transaction `pipe` to the cluster node `node`, whatever the client's slot
    /// map says. A standalone server has no other node: it is sent as usual.
    async fn exec_at(
        &mut self,
        pipe: &redis::Pipeline,
        node: (String, u16),
    ) -> Result<(), redis::RedisError> {
        match self {
            Conn::Single(_) => {
                let _ = node;
                pipe.query_async::<()>(self).await
            }
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => {
                let (host, port) = node;
                let route = redis::cluster_routing::SingleNodeRoutingInfo::ByAddress { host, port };
                // A transaction's one reply is EXEC's, after MULTI and a QUEUED per command.
                let replies = c
                    .route_pipeline(pipe.clone(), pipe.len() + 1, 1, route)
                    .await?;
                for reply in replies {
                    reply.extract_error()?;
                }
                Ok(())
            }
        }
    }
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

impl RedisStore {
    /// A store for the server at `url` (`redis://[user:password@]host:port/db`).
    ///
    /// It does not connect yet: the first operation does, and a server that is down at start-up
    /// is retried in the background, so an application can start before its Redis. Operations
    /// time out after 2 s and reconnects back off up to 2 s.
    ///
    /// # Errors
    /// [`StoreError::Redis`] when the URL is invalid, [`StoreError::NoRuntime`] outside a Tokio
    /// runtime.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::from_client(redis::Client::open(url)?)
    }

    /// A store over an existing client (for TLS, credentials providers and other settings).
    ///
    /// # Errors
    /// [`StoreError::NoRuntime`] outside a Tokio runtime.
    pub fn from_client(client: redis::Client) -> Result<Self, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_max_delay(Duration::from_secs(2));
        Self::from_client_with_config(client, config)
    }

    /// A store over an existing client with your own reconnection settings.
    ///
    /// # Errors
    /// [`StoreError::NoRuntime`] outside a Tokio runtime, [`StoreError::Redis`] when the
    /// configuration is rejected.
    pub fn from_client_with_config(
        client: redis::Client,
        config: ConnectionManagerConfig,
    ) -> Result<Self, StoreError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(StoreError::NoRuntime);
        }
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self::from_connection_manager(conn))
    }

    /// A store over a connection manager you built.
    pub fn from_connection_manager(conn: ConnectionManager) -> Self {
        Self::from_conn(Conn::Single(conn))
    }

    fn from_conn(conn: Conn) -> Self {
        RedisStore {
            conn,
            clock: Arc::new(Mutex::new(None)),
        }
    }

    /// A store on a Redis Cluster, given the URLs of one or more of its nodes
    /// (`redis://127.0.0.1:7000/`); the client discovers the others and follows failovers and
    /// slot moves by itself. It does not connect yet: the first operation does, and a cluster
    /// that is down at start-up is retried.
    ///
    /// Every key of a shard carries the shard's hash tag, so each write and each query of one
    /// shard goes to one node; split the namespace into several shards
    /// ([`ConfigBuilder::shards`](crate::ConfigBuilder::shards)) to spread it over the nodes.
    ///
    /// # Errors
    /// [`StoreError::Redis`] when a URL is invalid, [`StoreError::NoRuntime`] outside a Tokio
    /// runtime.
    #[cfg(feature = "cluster")]
    pub fn open_cluster<I, S>(nodes: I) -> Result<Self, StoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nodes: Vec<String> = nodes.into_iter().map(|n| n.as_ref().to_owned()).collect();
        let client = redis::cluster::ClusterClient::builder(nodes)
            .connection_timeout(Duration::from_secs(1))
            .response_timeout(Duration::from_secs(2))
            .build()?;
        Self::from_cluster_client(&client)
    }

    /// A store on a cluster client you built (for TLS, credentials, retry settings).
    ///
    /// # Errors
    /// [`StoreError::NoRuntime`] outside a Tokio runtime.
    #[cfg(feature = "cluster")]
    pub fn from_cluster_client(client: &redis::cluster::ClusterClient) -> Result<Self, StoreError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(StoreError::NoRuntime);
        }
        let config = redis::cluster::ClusterConfig::new()
            .set_connection_timeout(Duration::from_secs(1))
            .set_response_timeout(Duration::from_secs(2));
        let conn = client.get_pending_async_connection_with_config(config);
        Ok(Self::from_conn(Conn::Cluster(conn)))
    }

    /// The server's time in milliseconds: read with `TIME` at most [`CLOCK_RESYNC`] ago and
    /// carried forward with this process's monotonic clock, so its error is at most half a
    /// round trip (plus the drift of two clocks over 5 s), whatever this machine's wall
    /// clock says.
    async fn server_now(&self, key: &str) -> Result<u64, StoreError> {
        let cached = *self.clock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, server_ms)) = cached
            && at.elapsed() < CLOCK_RESYNC
        {
            return Ok(server_ms + ms(at.elapsed()));
        }
        let sent = Instant::now();
        let mut conn = self.conn.clone();
        // Asked through a script on `key`, so that on a cluster it is the clock of the node
        // that owns the key's slot.
        let (secs, micros): (u64, u64) = redis::cmd("EVAL")
            .arg("local t = redis.call('TIME') return {tonumber(t[1]), tonumber(t[2])}")
            .arg(1)
            .arg(key)
            .query_async(&mut conn)
            .await?;
        let middle = sent + sent.elapsed() / 2;
        let server_ms = secs * 1000 + micros / 1000;
        *self.clock.lock().unwrap_or_else(|e| e.into_inner()) = Some((middle, server_ms));
        Ok(server_ms + ms(middle.elapsed()))
    }
}

/// How many times a write refused with MOVED is sent to the node the refusal names.
const MOVED_RETRIES: usize = 3;

/// The node (host, port) a transaction refused with MOVED belongs to now; `None` for any
/// other outcome.
fn moved_to(err: &redis::RedisError) -> Option<(String, u16)> {
    use redis::ServerErrorKind::{ExecAbort, Moved};
    if err.kind() != redis::ErrorKind::Server(ExecAbort) {
        return None;
    }
    let errors = err.clone().into_server_errors()?;
    let (_, moved) = errors.iter().find(|(_, e)| e.kind() == Some(Moved))?;
    // "MOVED <slot> <host>:<port>": the details are "<slot> <host>:<port>".
    let address = moved.details()?.split_whitespace().nth(1)?;
    let (host, port) = address.rsplit_once(':')?;
    Some((host.to_owned(), port.parse().ok()?))
}

fn parse_score(text: &str) -> Result<u64, StoreError> {
    // Scores are whole milliseconds; Redis may print them as "1.7e12" or "1700000000000".
    let value: f64 = text
        .parse()
        .map_err(|_| StoreError::UnexpectedReply("a score that is not a number"))?;
    if value.is_finite() && value >= 0.0 {
        Ok(value as u64)
    } else {
        Err(StoreError::UnexpectedReply("a negative or infinite score"))
    }
}

/// The replies of a write with watched sets, in the order the write queued them: each
/// watched set's `ZMSCORE`s (one per chunk), the trim's removed members per key, then the
/// measured sizes.
fn watched_reply(
    touches: &[&Touch],
    replies: Vec<redis::Value>,
    now: u64,
    cutoff: u64,
) -> Result<Written, StoreError> {
    let mut replies = replies.into_iter();
    let mut changes = Vec::new();
    for touch in touches.iter().filter(|t| t.watched) {
        let mut joined = Vec::new();
        let mut i = 0;
        for _ in touch.members.chunks(ZADD_CHUNK) {
            let scores = replies
                .next()
                .ok_or(StoreError::UnexpectedReply("no scores of a watched set"))?;
            for was in scores_of(scores)? {
                let Some(member) = touch.members.get(i) else {
                    return Err(StoreError::UnexpectedReply("more scores than members"));
                };
                let score = touch.score(i, now);
                i += 1;
                match was {
                    None => joined.push(Joined::new(Arc::clone(member), score, None)),
                    Some(was) if was < cutoff && was < score => {
                        joined.push(Joined::new(Arc::clone(member), score, Some(was)));
                    }
                    Some(_) => {}
                }
            }
        }
        changes.push(Changes {
            joined,
            left: Vec::new(),
        });
    }
    // The trim's reply: one list per windowed key, watched or not.
    let trimmed = match replies.next() {
        Some(redis::Value::Array(per_key)) => per_key,
        _ => return Err(StoreError::UnexpectedReply("no trim of the watched sets")),
    };
    let windowed = touches.iter().filter(|t| t.kind == SetKind::Windowed);
    let mut watched_changes = changes.iter_mut();
    for (touch, removed) in windowed.zip(trimmed) {
        if touch.watched
            && let Some(change) = watched_changes.next()
        {
            change.left = scored_pairs(removed)?;
        }
    }
    let sizes = replies
        .map(|v| match v {
            redis::Value::Int(n) => {
                u64::try_from(n).map_err(|_| StoreError::UnexpectedReply("a negative count"))
            }
            _ => Err(StoreError::UnexpectedReply("a count that is not a number")),
        })
        .collect::<Result<Vec<u64>, _>>()?;
    Ok(Written::new(sizes).with_changes(changes))
}

/// The scores of a `ZMSCORE` reply: `None` for a member not in the set.
fn scores_of(reply: redis::Value) -> Result<Vec<Option<u64>>, StoreError> {
    let redis::Value::Array(items) = reply else {
        return Err(StoreError::UnexpectedReply("scores that are not an array"));
    };
    items.into_iter().map(score_of).collect()
}

fn score_of(item: redis::Value) -> Result<Option<u64>, StoreError> {
    match item {
        redis::Value::Nil => Ok(None),
        redis::Value::BulkString(bytes) => std::str::from_utf8(&bytes)
            .map_err(|_| StoreError::UnexpectedReply("a score that is not text"))
            .and_then(parse_score)
            .map(Some),
        redis::Value::Double(value) if value.is_finite() && value >= 0.0 => Ok(Some(value as u64)),
        redis::Value::Int(n) => u64::try_from(n)
            .map(Some)
            .map_err(|_| StoreError::UnexpectedReply("a negative score")),
        _ => Err(StoreError::UnexpectedReply("a score that is not a number")),
    }
}

/// The entries of an `XRANGE` reply: `[[id, [name, value, ...]], ...]`.
fn log_entries(reply: redis::Value) -> Result<Vec<LogEntry>, StoreError> {
    let bad = || StoreError::UnexpectedReply("a log entry that is not [id, fields]");
    let redis::Value::Array(items) = reply else {
        return Err(bad());
    };
    items
        .into_iter()
        .map(|item| {
            let redis::Value::Array(parts) = item else {
                return Err(bad());
            };
            let mut parts = parts.into_iter();
            let id = match parts.next() {
                Some(redis::Value::BulkString(id)) => std::str::from_utf8(&id)
                    .map_err(|_| bad())?
                    .parse::<LogId>()?,
                Some(redis::Value::SimpleString(id)) => id.parse::<LogId>()?,
                _ => return Err(bad()),
            };
            let flat = match parts.next() {
                Some(redis::Value::Array(flat)) => flat,
                Some(redis::Value::Map(pairs)) => {
                    pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()
                }
                _ => return Err(bad()),
            };
            let mut fields = Vec::with_capacity(flat.len() / 2);
            let mut flat = flat.into_iter();
            while let (
                Some(redis::Value::BulkString(name)),
                Some(redis::Value::BulkString(value)),
            ) = (flat.next(), flat.next())
            {
                fields.push((name, value));
            }
            Ok(LogEntry::new(id, fields))
        })
        .collect()
}

/// Members and scores from a flat `member, score, ...` array.
fn scored_pairs(reply: redis::Value) -> Result<Vec<Scored>, StoreError> {
    let redis::Value::Array(items) = reply else {
        return Err(StoreError::UnexpectedReply(
            "removed members that are not an array",
        ));
    };
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let Some(member) = items.next() {
        let redis::Value::BulkString(member) = member else {
            return Err(StoreError::UnexpectedReply("a member that is not a string"));
        };
        let score = items
            .next()
            .map(score_of)
            .transpose()?
            .flatten()
            .ok_or(StoreError::UnexpectedReply("a member without its score"))?;
        out.push(Scored { member, score });
    }
    Ok(out)
}

impl Store for RedisStore {
    fn touch<'a>(&'a self, touches: &'a [Touch], policy: WritePolicy) -> StoreFuture<'a, Written> {
        Box::pin(async move {
            let touches: Vec<&Touch> = touches.iter().filter(|t| !t.members.is_empty()).collect();
            if touches.is_empty() {
                return Ok(Written::default());
            }
            let now = self.server_now(&touches[0].key).await?;
            // One round trip: the ZADDs, the expiries, and one bounded trim of every key, in one
            // transaction: a Redis out of memory refuses all of it, never the active set and
            // not the indexes after it (the keys of one write share a cluster slot). A watched
            // set's scores are read first, in the same transaction, to tell who joined.
            let mut pipe = redis::pipe();
            pipe.atomic();
            let mut trim = redis::cmd("EVAL");
            let windowed = touches
                .iter()
                .filter(|t| t.kind == SetKind::Windowed)
                .count();
            let watched = touches.iter().filter(|t| t.watched).count();
            trim.arg(TRIM).arg(windowed);
            let mut flags = String::with_capacity(windowed);
            for touch in &touches {
                if let SetKind::Sketch { ttl } = touch.kind {
                    for chunk in touch.members.chunks(ZADD_CHUNK) {
                        let pfadd = pipe.cmd("PFADD").arg(&touch.key);
                        for member in chunk {
                            pfadd.arg(member.as_ref());
                        }
                        pfadd.ignore();
                    }
                    pipe.cmd("PEXPIRE")
                        .arg(&touch.key)
                        .arg(ms(ttl).max(1))
                        .ignore();
                    continue;
                }
                if touch.watched {
                    for chunk in touch.members.chunks(ZADD_CHUNK) {
                        let zmscore = pipe.cmd("ZMSCORE").arg(&touch.key);
                        for member in chunk {
                            zmscore.arg(member.as_ref());
                        }
                    }
                }
                // GT: a member written late (with the time of its request) never moves back a
                // score another app server wrote later.
                for (c, chunk) in touch.members.chunks(ZADD_CHUNK).enumerate() {
                    let zadd = pipe.cmd("ZADD").arg(&touch.key).arg("GT");
                    for (j, member) in chunk.iter().enumerate() {
                        zadd.arg(touch.score(c * ZADD_CHUNK + j, now))
                            .arg(member.as_ref());
                    }
                    zadd.ignore();
                }
                pipe.cmd("PEXPIRE")
                    .arg(&touch.key)
                    .arg(ms(policy.key_ttl).max(1))
                    .ignore();
                trim.arg(&touch.key);
                flags.push(if touch.watched { '1' } else { '0' });
            }
            trim.arg(ms(policy.window)).arg(policy.trim_limit.max(1));
            if watched > 0 {
                trim.arg(flags);
            }
            if windowed > 0 {
                pipe.add_command(trim);
                if watched == 0 {
                    pipe.ignore();
                }
            }
            // The sizes within the window, after the writes: the only replies read (with the
            // watched sets' scores and trims).
            let cutoff = now.saturating_sub(ms(policy.window));
            for touch in touches.iter().filter(|t| t.measured) {
                pipe.cmd("ZCOUNT").arg(&touch.key).arg(cutoff).arg("+inf");
            }
            let mut conn = self.conn.clone();
            let mut result = if watched == 0 {
                pipe.query_async::<Vec<u64>>(&mut conn)
                    .await
                    .map(Written::new)
                    .map_err(StoreError::from)
            } else {
                match pipe.query_async::<Vec<redis::Value>>(&mut conn).await {
                    Ok(replies) => watched_reply(&touches, replies, now, cutoff),
                    Err(err) => Err(err.into()),
                }
            };
            // The slot moved (a failover, a resharding). A transaction refused with MOVED
            // does not make the cluster client re-read its slot map, so the write is sent to
            // the node the refusal names; and a plain command on the key makes the client
            // learn the move for the next writes. A few times at most (a node may name
            // another while the cluster settles; the caller's timeout bounds it too).
            for _ in 0..MOVED_RETRIES {
                let Some(node) = result.as_ref().err().and_then(|err| match err {
                    StoreError::Redis(err) => moved_to(err),
                    _ => None,
                }) else {
                    break;
                };
                let _: Result<i64, _> = redis::cmd("EXISTS")
                    .arg(&touches[0].key)
                    .query_async(&mut conn)
                    .await;
                // Sent this way, the replies are not read back: no sizes, no refusals, no
                // changes (presence misses the joins of this write).
                result = conn
                    .exec_at(&pipe, node)
                    .await
                    .map(|()| Written::default())
                    .map_err(StoreError::from);
            }
            result
        })
    }

    fn count<'a>(&'a self, key: &'a str, window: Duration) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let keys = [key.to_owned()];
            let counts = self.count_each(&keys, window).await?;
            counts
                .first()
                .copied()
                .ok_or(StoreError::UnexpectedReply("no count"))
        })
    }

    fn count_each<'a>(&'a self, keys: &'a [String], window: Duration) -> StoreFuture<'a, Vec<u64>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let mut invocation = COUNT.prepare_invoke();
            invocation.arg(ms(window));
            for key in keys {
                invocation.key(key);
            }
            let mut conn = self.conn.clone();
            let counts: Vec<u64> = invocation.invoke_async(&mut conn).await?;
            if counts.len() != keys.len() {
                return Err(StoreError::UnexpectedReply("a count per key"));
            }
            Ok(counts)
        })
    }

    fn snapshot<'a>(
        &'a self,
        count: &'a [String],
        list: &'a [String],
        window: Duration,
        limit: usize,
    ) -> StoreFuture<'a, Snapshot> {
        Box::pin(async move {
            if count.is_empty() && list.is_empty() {
                return Ok(Snapshot::default());
            }
            let mut invocation = SNAPSHOT.prepare_invoke();
            invocation
                .arg(ms(window))
                .arg(count.len())
                .arg(limit.max(1));
            for key in count.iter().chain(list) {
                invocation.key(key);
            }
            let mut conn = self.conn.clone();
            let reply: Vec<redis::Value> = invocation.invoke_async(&mut conn).await?;
            if reply.len() != count.len() + list.len() {
                return Err(StoreError::UnexpectedReply("a count or list per key"));
            }
            let mut reply = reply.into_iter();
            let counts = reply
                .by_ref()
                .take(count.len())
                .map(|v| match v {
                    redis::Value::Int(n) => u64::try_from(n)
                        .map_err(|_| StoreError::UnexpectedReply("a negative count")),
                    _ => Err(StoreError::UnexpectedReply("a count that is not a number")),
                })
                .collect::<Result<Vec<u64>, _>>()?;
            let lists = reply
                .map(|v| match v {
                    redis::Value::Array(items) => Ok(items
                        .into_iter()
                        .filter_map(|item| match item {
                            redis::Value::BulkString(bytes) => Some(bytes),
                            _ => None,
                        })
                        .collect()),
                    _ => Err(StoreError::UnexpectedReply("a list that is not an array")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Snapshot::new(counts, lists))
        })
    }

    fn range<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
        from: Option<&'a Position>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<Scored>> {
        Box::pin(async move {
            if limit == 0 {
                return Ok(Vec::new());
            }
            let mut invocation = RANGE.key(key);
            invocation.arg(ms(window));
            match from {
                Some(p) => invocation.arg(p.score).arg(p.member.as_slice()),
                None => invocation.arg("").arg(""),
            };
            invocation.arg(limit);
            let mut conn = self.conn.clone();
            let flat: Vec<(Vec<u8>, String)> = invocation.invoke_async(&mut conn).await?;
            flat.into_iter()
                .map(|(member, score)| {
                    Ok(Scored {
                        member,
                        score: parse_score(&score)?,
                    })
                })
                .collect()
        })
    }

    fn score<'a>(
        &'a self,
        key: &'a str,
        member: &'a [u8],
        window: Duration,
    ) -> StoreFuture<'a, Option<u64>> {
        Box::pin(async move {
            let mut invocation = SCORE.key(key);
            invocation.arg(ms(window)).arg(member);
            let mut conn = self.conn.clone();
            let score: Option<String> = invocation.invoke_async(&mut conn).await?;
            score.as_deref().map(parse_score).transpose()
        })
    }

    fn now<'a>(&'a self, key: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(self.server_now(key))
    }

    fn claim<'a>(&'a self, key: &'a str, slot: u64, ttl: Duration) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut invocation = CLAIM.key(key);
            invocation.arg(slot).arg(ms(ttl).max(1));
            let mut conn = self.conn.clone();
            let won: i64 = invocation.invoke_async(&mut conn).await?;
            Ok(won == 1)
        })
    }

    fn add_sample<'a>(
        &'a self,
        key: &'a str,
        sample: Sample,
        keep: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let oldest = sample.at.saturating_sub(ms(keep));
            let mut invocation = ADD_SAMPLE.key(key);
            invocation
                .arg(sample.at)
                .arg(sample.value)
                .arg(oldest)
                .arg(ms(keep).max(1));
            let mut conn = self.conn.clone();
            invocation.invoke_async::<u64>(&mut conn).await?;
            Ok(())
        })
    }

    fn samples<'a>(&'a self, key: &'a str, since: u64, until: u64) -> StoreFuture<'a, Vec<Sample>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            // One point a minute; room for twice that, so junk cannot make the read unbounded.
            let most = (until.saturating_sub(since) / 60_000 + 2).saturating_mul(2);
            let members: Vec<Vec<u8>> = redis::cmd("ZRANGE")
                .arg(key)
                .arg(since)
                .arg(until)
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(most)
                .query_async(&mut conn)
                .await?;
            Ok(super::fold_samples(
                members.iter().filter_map(|m| super::parse_sample(m)),
                since,
                until,
            ))
        })
    }

    fn sketch_count<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(0);
            }
            let mut conn = self.conn.clone();
            Ok(redis::cmd("PFCOUNT")
                .arg(keys)
                .query_async(&mut conn)
                .await?)
        })
    }

    fn sketch_merge<'a>(
        &'a self,
        dest: &'a str,
        sources: &'a [String],
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            // DEL first: PFMERGE folds an existing destination into the union.
            redis::pipe()
                .cmd("DEL")
                .arg(dest)
                .ignore()
                .cmd("PFMERGE")
                .arg(dest)
                .arg(sources)
                .ignore()
                .cmd("PEXPIRE")
                .arg(dest)
                .arg(ms(ttl).max(1))
                .ignore()
                .query_async::<()>(&mut conn)
                .await?;
            Ok(())
        })
    }

    fn put<'a>(&'a self, key: &'a str, value: &'a [u8], ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(ms(ttl).max(1))
                .query_async::<()>(&mut conn)
                .await?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            Ok(redis::cmd("GET").arg(key).query_async(&mut conn).await?)
        })
    }

    fn exists<'a>(&'a self, key: &'a str, members: &'a [Member]) -> StoreFuture<'a, Vec<bool>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(members.len());
            let mut conn = self.conn.clone();
            for chunk in members.chunks(ZADD_CHUNK) {
                let mut cmd = redis::cmd("ZMSCORE");
                cmd.arg(key);
                for member in chunk {
                    cmd.arg(member.as_ref());
                }
                let scores: Vec<Option<String>> = cmd.query_async(&mut conn).await?;
                out.extend(scores.into_iter().map(|s| s.is_some()));
            }
            Ok(out)
        })
    }

    fn sweep<'a>(
        &'a self,
        keys: &'a [String],
        policy: WritePolicy,
    ) -> StoreFuture<'a, Vec<Vec<Scored>>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let mut invocation = TRIM_SCRIPT.prepare_invoke();
            for key in keys {
                invocation.key(key);
            }
            invocation
                .arg(ms(policy.window))
                .arg(policy.trim_limit.max(1))
                .arg("1".repeat(keys.len()));
            let mut conn = self.conn.clone();
            let reply: Vec<redis::Value> = invocation.invoke_async(&mut conn).await?;
            if reply.len() != keys.len() {
                return Err(StoreError::UnexpectedReply(
                    "a list of removed members per key",
                ));
            }
            reply.into_iter().map(scored_pairs).collect()
        })
    }

    fn append<'a>(
        &'a self,
        key: &'a str,
        fields: &'a [(Vec<u8>, Vec<u8>)],
        max_len: usize,
        ttl: Duration,
    ) -> StoreFuture<'a, LogId> {
        Box::pin(async move {
            if fields.is_empty() {
                return Err(StoreError::UnexpectedReply("an empty log entry"));
            }
            let mut pipe = redis::pipe();
            let xadd = pipe
                .cmd("XADD")
                .arg(key)
                .arg("MAXLEN")
                .arg("~")
                .arg(max_len.max(1))
                .arg("*");
            for (name, value) in fields {
                xadd.arg(name.as_slice()).arg(value.as_slice());
            }
            pipe.cmd("PEXPIRE").arg(key).arg(ms(ttl).max(1)).ignore();
            let mut conn = self.conn.clone();
            let (id,): (String,) = pipe.query_async(&mut conn).await?;
            id.parse()
        })
    }

    fn read_log<'a>(
        &'a self,
        key: &'a str,
        after: Option<LogId>,
        limit: usize,
    ) -> StoreFuture<'a, (LogId, Vec<LogEntry>)> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let Some(after) = after else {
                // Where the log ends now: its last entry's id.
                let last: redis::Value = redis::cmd("XREVRANGE")
                    .arg(key)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(&mut conn)
                    .await?;
                let last = log_entries(last)?.pop().map_or(LogId::default(), |e| e.id);
                return Ok((last, Vec::new()));
            };
            let reply: redis::Value = redis::cmd("XRANGE")
                .arg(key)
                .arg(format!("({after}"))
                .arg("+")
                .arg("COUNT")
                .arg(limit.max(1))
                .query_async(&mut conn)
                .await?;
            let entries = log_entries(reply)?;
            let last = entries.last().map_or(after, |e| e.id);
            Ok((last, entries))
        })
    }

    fn put_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> StoreFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let mut invocation = KEEP.key(key);
            invocation.arg(value).arg(ms(ttl).max(1));
            let mut conn = self.conn.clone();
            Ok(invocation.invoke_async(&mut conn).await?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_bounds_scores_by_the_future_slack() {
        let bound = format!("local high = now + {}", ms(FUTURE_SLACK));
        assert!(TRIM.contains(&bound));
        for source in [COUNT_SRC, SNAPSHOT_SRC, RANGE_SRC, SCORE_SRC] {
            assert!(source.contains(&bound), "{source}");
        }
    }
}
