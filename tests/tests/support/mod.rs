//! Test support: a private `redis-server` per test, and the two stores behind one interface.
#![allow(dead_code, unreachable_pub)]

pub mod client;

/// Runs each named `async fn(Backend)` of the calling file once per store:
/// `store_suite!(memory, Backend::memory(); test_a, test_b)` makes `memory::test_a`, ...
#[macro_export]
macro_rules! store_suite {
    ($store:ident, $backend:expr; $($name:ident),* $(,)?) => {
        mod $store {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($backend).await;
                }
            )*
        }
    };
}

use active_users::store::Store;
use active_users::{MemoryStore, RedisStore};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Set to a `redis://` URL to run the Redis tests against a server you run yourself.
pub const REDIS_URL_VAR: &str = "ACTIVE_USERS_REDIS_URL";
/// Set to the path of a `redis-server` binary that is not on the PATH.
pub const REDIS_SERVER_VAR: &str = "ACTIVE_USERS_REDIS_SERVER";

const INSTALL_HINT: &str = "the Redis tests need `redis-server`: install it (Debian/Ubuntu: \
`apt-get install redis-server`, macOS: `brew install redis`), point ACTIVE_USERS_REDIS_SERVER \
at the binary, or set ACTIVE_USERS_REDIS_URL to a server to use";

/// A `redis-server` started for one test on a free port of 127.0.0.1, with its own empty data
/// directory; stopped and removed on drop. Or, with `ACTIVE_USERS_REDIS_URL`, that server.
pub struct RedisServer {
    child: Option<Child>,
    dir: Option<PathBuf>,
    pub port: u16,
    pub url: String,
}

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port on 127.0.0.1");
    listener.local_addr().expect("local address").port()
}

fn unique_suffix() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{}-{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A namespace no other test uses (they may share a server given by ACTIVE_USERS_REDIS_URL).
pub fn unique_namespace(prefix: &str) -> String {
    format!("{prefix}-{}", unique_suffix())
}

/// Sends one inline command over RESP and returns the raw reply.
pub fn raw_command(port: u16, command: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(format!("{command}\r\n").as_bytes())?;
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

fn redis_server_binary() -> PathBuf {
    if let Ok(path) = std::env::var(REDIS_SERVER_VAR) {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|candidate| candidate.is_file())
    });
    match found {
        Some(path) => path,
        None => panic!("redis-server not found on PATH: {INSTALL_HINT}"),
    }
}

impl RedisServer {
    /// Starts a server (or uses ACTIVE_USERS_REDIS_URL). Panics with install instructions
    /// when there is no `redis-server`: these tests never pass silently without Redis.
    pub fn start() -> Self {
        if let Ok(url) = std::env::var(REDIS_URL_VAR) {
            let port = url
                .rsplit(':')
                .next()
                .and_then(|p| p.trim_end_matches('/').split('/').next())
                .and_then(|p| p.parse().ok())
                .unwrap_or(6379);
            return RedisServer {
                child: None,
                dir: None,
                port,
                url,
            };
        }
        Self::start_with(None)
    }

    /// Starts a server on `port` (one a test reserved earlier, to bring a server up late).
    pub fn start_on(port: u16) -> Self {
        Self::start_with(Some(port))
    }

    fn start_with(fixed_port: Option<u16>) -> Self {
        let binary = redis_server_binary();
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = fixed_port.unwrap_or_else(free_port);
            let dir = std::env::temp_dir().join(format!("active-users-redis-{}", unique_suffix()));
            std::fs::create_dir_all(&dir).expect("create the server's data directory");
            let child = Command::new(&binary)
                .args(["--port", &port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&dir)
                .args(["--protected-mode", "yes"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let mut child = match child {
                Ok(child) => child,
                Err(err) => panic!("cannot start {}: {err}; {INSTALL_HINT}", binary.display()),
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if raw_command(port, "PING").is_ok_and(|r| r.starts_with("+PONG")) {
                    return RedisServer {
                        child: Some(child),
                        dir: Some(dir),
                        port,
                        url: format!("redis://127.0.0.1:{port}/"),
                    };
                }
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!("redis-server exited with {status} (port {port} taken?)");
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&dir);
            if last_error.is_empty() {
                last_error = format!("redis-server did not answer PING on port {port}");
            }
        }
        panic!("could not start redis-server: {last_error}");
    }

    /// Stops the server (for outage tests); `start_again` brings it back on the same port.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A store connected to this server.
    pub fn store(&self) -> RedisStore {
        RedisStore::open(&self.url).expect("valid redis URL")
    }

    /// Sends one command to the server and returns its raw reply.
    pub fn command(&self, command: &str) -> String {
        raw_command(self.port, command).expect("redis-server answers")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// One backend for the behaviour suite: a store (and the server behind it, if any).
pub struct Backend {
    pub redis: Option<RedisServer>,
    memory: MemoryStore,
    pub namespace: String,
    /// The number of shards the suite's trackers use.
    pub shards: usize,
}

impl Backend {
    pub fn memory() -> Self {
        Backend {
            redis: None,
            memory: MemoryStore::new(),
            namespace: unique_namespace("mem"),
            shards: 1,
        }
    }

    /// The same backend with its namespace split into `shards` shards.
    pub fn sharded(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// The key of shard `shard`'s active set, as the tracker names it.
    pub fn active_key(&self, shard: usize) -> String {
        if self.shards == 1 {
            format!("au:{{{}}}:active", self.namespace)
        } else {
            format!("au:{{{}#{shard}}}:active", self.namespace)
        }
    }

    pub fn redis() -> Self {
        Backend {
            redis: Some(RedisServer::start()),
            memory: MemoryStore::new(),
            namespace: unique_namespace("redis"),
            shards: 1,
        }
    }

    /// A new handle to the backend's data, as another app server would open.
    pub fn store(&self) -> Arc<dyn Store> {
        match &self.redis {
            Some(server) => Arc::new(server.store()),
            None => Arc::new(self.memory.clone()),
        }
    }
}
