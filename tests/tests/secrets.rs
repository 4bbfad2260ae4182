//! Credentials never reach the store: a session cookie recorded over real HTTP is kept in
//! Redis only as a keyed hash, which every app server of the namespace computes alike.

#[macro_use]
mod support;

use active_users::redis::{self, AsyncCommands};
use active_users::{
    ActiveUserEntry, BuildError, Config, ConfigError, DefaultEntry, MemoryStore, Reader, Tracker,
};
use active_users_examples::{ApiAccess, DemoEntry, app, config};
use support::client::{get, serve};
use support::{RedisServer, unique_namespace};

/// A session id as Django makes them: 32 characters of `[a-z0-9]`.
const SESSION: &str = "k3v9x0q2m7w1z8c4b6n5t0y2u9i3o7pa";

/// A connection of the test's own to the server.
async fn connect(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url.as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

/// Every key name, string value and sorted-set member in the server, as bytes.
async fn everything_stored(server: &RedisServer) -> Vec<Vec<u8>> {
    let mut conn = connect(server).await;
    let keys: Vec<String> = conn.keys("*").await.expect("KEYS");
    let mut out = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("TYPE");
        match kind.as_str() {
            "zset" => {
                let members: Vec<Vec<u8>> = conn.zrange(&key, 0, -1).await.expect("ZRANGE");
                out.extend(members);
            }
            // Strings: the description, the sampling claim, the key, and the sketches (a
            // HyperLogLog holds register counts, not members; it is scanned as bytes too).
            "string" => {
                let value: Vec<u8> = conn.get(&key).await.expect("GET");
                out.push(value);
            }
            other => panic!("unexpected key type {other} at {key}"),
        }
        out.push(key.into_bytes());
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The demo app (DefaultEntry + an indexed service id) recorded over real HTTP by two app
/// servers on one Redis: the cookie is nowhere in Redis, the two servers hash it alike (one
/// session is one entry), lookups by the clear entry still find it, and what is read back is
/// the hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookies_are_stored_as_a_keyed_hash_shared_by_every_app_server() {
    let server = RedisServer::start();
    let namespace = unique_namespace("secret");
    let mut trackers = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..2 {
        let tracker = Tracker::<DemoEntry>::with_store(
            config(&namespace, 1).expect("config"),
            std::sync::Arc::new(server.store()),
        )
        .expect("tracker");
        addrs.push(serve(app(tracker.clone(), ApiAccess::Public)).await);
        trackers.push(tracker);
    }
    let cookie = format!("sessionid={SESSION}");
    for addr in &addrs {
        let headers = [("x-user-id", "42"), ("cookie", cookie.as_str())];
        assert_eq!(get(*addr, "/", &headers).await.status, 200);
    }
    for tracker in &trackers {
        tracker.flush().await.expect("flush");
    }

    let stored = everything_stored(&server).await;
    assert!(
        stored.len() > 3,
        "the test reads what was written: {stored:?}"
    );
    for bytes in &stored {
        assert!(
            !contains(bytes, SESSION.as_bytes()) && !contains(bytes, &SESSION.as_bytes()[..12]),
            "the session id is in Redis: {:?}",
            String::from_utf8_lossy(bytes)
        );
    }

    // Two app servers, one session: one entry, because both used the namespace's key.
    assert_eq!(trackers[0].count().await.expect("count"), 1);
    let page = trackers[1].list(10, None).await.expect("list");
    let entry = &page.entries[0].entry;
    let hashed = entry.base.session_id.clone().expect("a session");
    assert_eq!(hashed.len(), 11, "{hashed}");
    assert_ne!(hashed, SESSION);
    assert!(
        hashed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );

    // The application still looks a visitor up by what it knows: the clear cookie.
    let clear = DemoEntry {
        base: DefaultEntry {
            user_id: "42".into(),
            session_id: Some(SESSION.into()),
            ip: Some("127.0.0.1".parse().expect("ip")),
            username: None,
        },
        service_id: None,
    };
    assert!(
        trackers[0]
            .last_seen(&clear)
            .await
            .expect("lookup")
            .is_some()
    );

    // What a reader (the CLI's `list --json`) sees is the hash too.
    let reader = Reader::open(
        Config::builder()
            .namespace(namespace.as_str())
            .build()
            .expect("config"),
        server.store(),
    )
    .await
    .expect("reader");
    let raw = reader.list(10, None).await.expect("list");
    assert_eq!(raw.entries[0].value("session_id"), Some(hashed.as_str()));
    assert!(
        reader
            .fields()
            .iter()
            .any(|f| f.name == "session_id" && f.secret && f.hidden)
    );
    for tracker in &trackers {
        tracker.shutdown().await.expect("shutdown");
    }
}

/// A configured secret key is used as it is: nothing is kept in the store, trackers with the
/// same secret agree, and one with another secret hashes differently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_secret_key_is_not_stored_and_keys_the_hash() {
    let server = RedisServer::start();
    let namespace = unique_namespace("configured");
    let tracker = |secret: &str| {
        let config = Config::builder()
            .namespace(namespace.as_str())
            .secret_key(secret)
            .build()
            .expect("config");
        Tracker::<DefaultEntry>::new(config, server.store()).expect("tracker")
    };
    let entry = DefaultEntry {
        user_id: "7".into(),
        session_id: Some(SESSION.into()),
        ip: None,
        username: None,
    };
    let same_a = tracker("correct horse battery staple");
    let same_b = tracker("correct horse battery staple");
    let other = tracker("another secret of the operator");
    for t in [&same_a, &same_b, &other] {
        assert!(t.record_entry(&entry).is_recorded());
        t.flush().await.expect("flush");
    }
    assert_eq!(
        same_a.count().await.expect("count"),
        2,
        "one entry per key: the two trackers that share the secret wrote one"
    );
    let mut conn = connect(&server).await;
    let keys: Vec<String> = conn
        .keys(format!("au:{{{namespace}}}:*"))
        .await
        .expect("KEYS");
    assert!(keys.iter().any(|k| k.ends_with(":active")), "{keys:?}");
    assert!(!keys.iter().any(|k| k.ends_with(":secret")), "{keys:?}");

    let err = Config::builder().secret_key("short").build().unwrap_err();
    assert!(matches!(err, ConfigError::SecretKeyTooShort(5)), "{err}");
    assert!(err.to_string().contains("ACTIVE_USERS_SECRET_KEY"));
    for t in [same_a, same_b, other] {
        t.shutdown().await.expect("shutdown");
    }
}

/// A key in the store that is not one (junk, or written by something else) is replaced, and
/// writes go on: a string that is not 32 hex digits, or another type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_junk_stored_key_is_replaced_and_writes_go_on() {
    let server = RedisServer::start();
    let namespace = unique_namespace("junkkey");
    let secret_key = format!("au:{{{namespace}}}:secret");
    let mut conn = connect(&server).await;
    let () = conn.set(&secret_key, "not-a-key").await.expect("SET");
    let config = Config::builder()
        .namespace(namespace.as_str())
        .build()
        .expect("config");
    let tracker = Tracker::<DefaultEntry>::new(config, server.store()).expect("tracker");
    let entry = DefaultEntry {
        user_id: "1".into(),
        session_id: Some(SESSION.into()),
        ip: None,
        username: None,
    };
    tracker.record_entry(&entry);
    tracker.flush().await.expect("flush");
    assert_eq!(tracker.count().await.expect("count"), 1);
    let stored: String = conn.get(&secret_key).await.expect("GET");
    assert_eq!(stored.len(), 32, "a new key: {stored}");
    assert!(stored.bytes().all(|b| b.is_ascii_hexdigit()));
    let ttl: i64 = conn.pttl(&secret_key).await.expect("PTTL");
    assert!(ttl > 0, "the key expires with the namespace: {ttl}");
    tracker.shutdown().await.expect("shutdown");

    // Another type at the key, and two trackers that start at once: they replace it and agree.
    let namespace = unique_namespace("junktype");
    let secret_key = format!("au:{{{namespace}}}:secret");
    let () = conn.hset(&secret_key, "x", "y").await.expect("HSET");
    let config = || {
        Config::builder()
            .namespace(namespace.as_str())
            .build()
            .expect("config")
    };
    let a = Tracker::<DefaultEntry>::new(config(), server.store()).expect("tracker");
    let b = Tracker::<DefaultEntry>::new(config(), server.store()).expect("tracker");
    a.record_entry(&entry);
    b.record_entry(&entry);
    let (wa, wb) = tokio::join!(a.flush(), b.flush());
    wa.expect("flush");
    wb.expect("flush");
    assert_eq!(a.count().await.expect("count"), 1, "one key, one entry");
    let stored: String = conn.get(&secret_key).await.expect("GET");
    assert_eq!(stored.len(), 32);
    a.shutdown().await.expect("shutdown");
    b.shutdown().await.expect("shutdown");
}

/// An entry written by hand (the derive refuses `secret` on anything but a `String`) whose
/// secret field is a number.
#[derive(Debug)]
struct TokenEntry {
    token: Option<u64>,
}

impl ActiveUserEntry for TokenEntry {
    fn fields() -> &'static [active_users::Field] {
        static FIELDS: std::sync::OnceLock<[active_users::Field; 1]> = std::sync::OnceLock::new();
        FIELDS.get_or_init(|| {
            [active_users::__private::field(
                "token",
                true,
                false,
                false,
                true,
                true,
                active_users::ValueKind::Unsigned,
                active_users::codec::DEFAULT_MAX_LEN,
            )]
        })
    }
    fn extract(
        _: &active_users::RequestHead<'_>,
        _: &active_users::ExtractContext,
    ) -> Option<Self> {
        None
    }
    fn encode_fields(&self, enc: &mut active_users::codec::Encoder<'_>) {
        enc.put_opt(self.token.as_ref());
    }
    fn decode_fields(
        dec: &mut active_users::codec::Decoder<'_>,
    ) -> Result<Self, active_users::DecodeError> {
        Ok(TokenEntry {
            token: dec.take_opt()?,
        })
    }
    fn write_values(&self, out: &mut Vec<Option<String>>) {
        out.push(self.token.map(|t| t.to_string()));
    }
}

/// A secret field must be stored as text (its hash is text): a tracker says so at build time.
#[tokio::test]
async fn a_secret_field_that_is_not_text_is_refused_at_build_time() {
    let err = Tracker::<TokenEntry>::new(Config::default(), MemoryStore::new()).unwrap_err();
    assert!(matches!(err, BuildError::SecretNotText("token")), "{err}");
    assert!(err.to_string().contains("make it a String"), "{err}");
}

/// An entry whose secret session is also its first identity, on several shards: the writer
/// picks the shard from the hash, and so must a lookup by the clear entry. Long identities
/// (cut with a hash) are looked up the same way.
#[derive(Debug, Clone, ActiveUserEntry)]
struct SessionFirst {
    #[from_cookie("sessionid")]
    #[active_users(secret, distinct)]
    session: Option<String>,
    #[from_header("x-user")]
    user: String,
}

#[tokio::test]
async fn lookups_find_secret_and_long_identities_on_every_shard() {
    let store = MemoryStore::new();
    let config = |ns: &str| {
        Config::builder()
            .namespace(ns)
            .shards(16)
            .build()
            .expect("config")
    };
    let sessions = Tracker::<SessionFirst>::new(config("first"), store.clone()).expect("tracker");
    let users = Tracker::<DefaultEntry>::new(config("long"), store).expect("tracker");
    let mut entries = Vec::new();
    let mut long_users = Vec::new();
    for i in 0..20 {
        let entry = SessionFirst {
            session: Some(format!("clear-session-{i}")),
            user: "u".into(),
        };
        assert!(sessions.record_entry(&entry).is_recorded());
        entries.push(entry);
        let user = DefaultEntry {
            user_id: format!("{i}-{}", "x".repeat(700)),
            session_id: None,
            ip: None,
            username: None,
        };
        assert!(users.record_entry(&user).is_recorded());
        long_users.push(user);
    }
    sessions.flush().await.expect("flush");
    users.flush().await.expect("flush");
    assert_eq!(
        sessions.count_distinct("session").await.expect("distinct"),
        20
    );
    for entry in &entries {
        let seen = sessions.last_seen(entry).await.expect("lookup");
        assert!(seen.is_some(), "{entry:?} not found");
    }
    for user in &long_users {
        let seen = users.last_seen(user).await.expect("lookup");
        assert!(
            seen.is_some(),
            "a {}-byte user id not found",
            user.user_id.len()
        );
    }
}
