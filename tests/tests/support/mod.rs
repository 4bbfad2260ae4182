//! Test support: a private `redis-server` per test, and the two stores behind one interface.
#![allow(dead_code, unreachable_pub)]

pub mod browser;
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
    pub(crate) child: Option<Child>,
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

    /// A node for a cluster: cluster mode, a short node timeout so that failover is quick, and
    /// replication that starts at once (Redis 7 waits 5 s for diskless syncs by default; a
    /// replica that never synced refuses to fail over).
    fn start_cluster_node() -> Self {
        Self::launch(
            None,
            &[
                "--cluster-enabled",
                "yes",
                "--cluster-node-timeout",
                "1000",
                "--cluster-config-file",
                "nodes.conf",
                "--repl-diskless-sync-delay",
                "0",
            ],
        )
    }

    fn start_with(fixed_port: Option<u16>) -> Self {
        Self::launch(fixed_port, &[])
    }

    fn launch(fixed_port: Option<u16>, extra: &[&str]) -> Self {
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
                .args(extra)
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

    /// Stops the server (for outage tests); `RedisServer::start_on(port)` brings one back.
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

/// A Redis Cluster of our own: `masters` masters and `replicas` replicas per master, each a
/// `redis-server --cluster-enabled yes` on a free port of 127.0.0.1 with its own directory,
/// joined with `redis-cli --cluster create`; all stopped and removed on drop.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start(masters: usize, replicas: usize) -> Self {
        let cli = redis_cli_binary();
        let nodes: Vec<RedisServer> = (0..masters * (1 + replicas))
            .map(|_| RedisServer::start_cluster_node())
            .collect();
        let mut create = Command::new(&cli);
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port));
        }
        let status = create
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}; {INSTALL_HINT}", cli.display()));
        assert!(
            status.success(),
            "redis-cli --cluster create failed: {status}"
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_until_ok(Duration::from_secs(20));
        cluster
    }

    /// Waits until every running node says `cluster_state:ok` and knows all slots, and every
    /// running replica's link to its master is up.
    pub fn wait_until_ok(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let ok = self.nodes.iter().filter(|n| n.child.is_some()).all(|n| {
                let cluster_ok = raw_command(n.port, "CLUSTER INFO").is_ok_and(|info| {
                    info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
                });
                let replication = raw_command_full(n.port, "INFO replication");
                let synced = !replication.contains("role:slave")
                    || replication.contains("master_link_status:up");
                cluster_ok && synced
            });
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster did not become ok");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The URLs of all nodes.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url.clone()).collect()
    }

    /// The nodes (for commands and for stopping one).
    pub fn nodes(&mut self) -> &mut [RedisServer] {
        &mut self.nodes
    }

    /// The ports of the nodes that are masters now, asked of a running node.
    pub fn master_ports(&self) -> Vec<u16> {
        let node = self
            .nodes
            .iter()
            .find(|n| n.child.is_some())
            .expect("a running node");
        let listing = raw_command_full(node.port, "CLUSTER NODES");
        listing
            .lines()
            .filter(|l| l.contains("master") && !l.contains("fail"))
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter_map(|addr| addr.split('@').next()?.rsplit(':').next()?.parse().ok())
            .collect()
    }

    /// The port of the master that owns `slot`.
    pub fn owner_of_slot(&self, slot: u16) -> Option<u16> {
        let node = self.nodes.iter().find(|n| n.child.is_some())?;
        let listing = raw_command_full(node.port, "CLUSTER NODES");
        listing.lines().filter(|l| l.contains("master") && !l.contains("fail")).find_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            let port = fields.get(1)?.split('@').next()?.rsplit(':').next()?.parse().ok()?;
            let owns = fields.iter().skip(8).any(|range| {
                let (lo, hi) = range.split_once('-').unwrap_or((range, range));
                matches!((lo.parse::<u16>(), hi.parse::<u16>()), (Ok(lo), Ok(hi)) if lo <= slot && slot <= hi)
            });
            owns.then_some(port)
        })
    }

    /// The slot of `key`, asked of a running node.
    pub fn keyslot(&self, key: &str) -> u16 {
        let node = self
            .nodes
            .iter()
            .find(|n| n.child.is_some())
            .expect("a running node");
        raw_command(node.port, &format!("CLUSTER KEYSLOT {key}"))
            .ok()
            .and_then(|r| r.trim().trim_start_matches(':').parse().ok())
            .expect("CLUSTER KEYSLOT answers")
    }
}

/// Sends one command and reads until the reply is complete (for long bulk replies).
pub fn raw_command_full(port: u16, command: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    stream
        .write_all(format!("{command}\r\n").as_bytes())
        .expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        // A bulk reply "$len\r\n...\r\n": stop once it is all here.
        if let Some(text) = std::str::from_utf8(&out).ok()
            && let Some(rest) = text.strip_prefix('$')
            && let Some((len, body)) = rest.split_once("\r\n")
            && len.parse::<usize>().is_ok_and(|len| body.len() >= len + 2)
        {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn redis_cli_binary() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-cli"))
            .find(|candidate| candidate.is_file())
    });
    match found {
        Some(path) => path,
        None => panic!("redis-cli not found on PATH: {INSTALL_HINT}"),
    }
}

/// One backend for the behaviour suite: a store (and the server behind it, if any).
pub struct Backend {
    pub redis: Option<RedisServer>,
    pub cluster: Option<RedisCluster>,
    memory: MemoryStore,
    pub namespace: String,
    /// The number of shards the suite's trackers use.
    pub shards: usize,
}

impl Backend {
    pub fn memory() -> Self {
        Backend {
            redis: None,
            cluster: None,
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

    pub fn redis() -> Self {
        Backend {
            redis: Some(RedisServer::start()),
            cluster: None,
            memory: MemoryStore::new(),
            namespace: unique_namespace("redis"),
            shards: 1,
        }
    }

    /// A cluster of 3 masters of its own.
    pub fn cluster() -> Self {
        Backend {
            redis: None,
            cluster: Some(RedisCluster::start(3, 0)),
            memory: MemoryStore::new(),
            namespace: unique_namespace("cluster"),
            shards: 1,
        }
    }

    /// A new handle to the backend's data, as another app server would open.
    pub fn store(&self) -> Arc<dyn Store> {
        if let Some(cluster) = &self.cluster {
            return Arc::new(RedisStore::open_cluster(cluster.urls()).expect("cluster URLs"));
        }
        match &self.redis {
            Some(server) => Arc::new(server.store()),
            None => Arc::new(self.memory.clone()),
        }
    }
}
