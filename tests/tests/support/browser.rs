//! A headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`), and
//! the demo server run as its own process.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Set to a `chromedriver` binary that is not on the PATH.
pub const CHROMEDRIVER_VAR: &str = "ACTIVE_USERS_CHROMEDRIVER";
/// Set to a Chromium or Chrome binary that is not `/usr/bin/chromium`.
pub const CHROMIUM_VAR: &str = "ACTIVE_USERS_CHROMIUM";

const INSTALL_HINT: &str = "the browser test needs Chromium and ChromeDriver: install them \
(Debian/Ubuntu: `apt-get install chromium chromium-driver`), or point ACTIVE_USERS_CHROMIUM and \
ACTIVE_USERS_CHROMEDRIVER at the binaries";

fn find(var: &str, names: &[&str]) -> PathBuf {
    if let Ok(path) = std::env::var(var) {
        return PathBuf::from(path);
    }
    let paths = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&paths)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{} not found: {INSTALL_HINT}", names[0]))
}

/// A child process killed on drop.
pub struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A WebDriver session on a chromedriver of its own.
pub struct Browser {
    driver: SocketAddr,
    session: String,
    _process: Process,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless session.
    pub async fn start() -> Self {
        let chromedriver = find(CHROMEDRIVER_VAR, &["chromedriver"]);
        let chromium = find(
            CHROMIUM_VAR,
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let port = super::free_port();
        let process = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let process = Process(process);
        let driver: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(driver).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-dev-shm-usage",
                    "--window-size=1280,1100",
                ],
            },
        }}});
        let reply = call(driver, "POST", "/session", Some(capabilities)).await;
        let session = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {reply}"))
            .to_owned();
        Browser {
            driver,
            session,
            _process: process,
        }
    }

    /// Opens `url` and waits for it to load.
    pub async fn open(&self, url: &str) {
        let path = format!("/session/{}/url", self.session);
        call(self.driver, "POST", &path, Some(json!({ "url": url }))).await;
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        let path = format!("/session/{}/execute/sync", self.session);
        let body = json!({ "script": script, "args": [] });
        call(self.driver, "POST", &path, Some(body)).await["value"].take()
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        let path = format!("/session/{}/screenshot", self.session);
        let reply = call(self.driver, "GET", &path, None).await;
        base64_decode(reply["value"].as_str().expect("a base64 screenshot"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends the session so chromedriver stops its Chromium; the driver is killed after.
        let (driver, path) = (self.driver, format!("/session/{}", self.session));
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(5),
                        call(driver, "DELETE", &path, None),
                    )
                    .await;
                });
            }
        })
        .join();
    }
}

/// One WebDriver command; panics with the driver's answer when it is an error.
async fn call(driver: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Value {
    let stream = tokio::net::TcpStream::connect(driver)
        .await
        .expect("connect to chromedriver");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, driver.to_string())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .expect("request");
    let response = sender.send_request(request).await.expect("WebDriver reply");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert!(
        status.is_success(),
        "WebDriver {method} {path}: {status} {value}"
    );
    value
}

fn base64_decode(text: &str) -> Vec<u8> {
    let digit = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let sextets: Vec<u8> = text.bytes().filter_map(digit).collect();
    sextets
        .chunks(4)
        .flat_map(|c| {
            let n = c
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &d)| acc | (u32::from(d) << (18 - 6 * i)));
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            bytes.into_iter().take(c.len().saturating_sub(1))
        })
        .collect()
}

/// The demo server (`axum-app` example) as its own process, on a free port.
pub struct DemoServer {
    pub addr: SocketAddr,
    _process: Process,
}

impl DemoServer {
    /// Sends SIGTERM (as Docker and Kubernetes do) and waits up to 10 s for the process to
    /// end; returns how it ended.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let child = &mut self._process.0;
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the demo did not stop within 10 s of SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Starts `target/<profile>/examples/axum-app` with `args` and `env`, building it first if
    /// `cargo test` has not (it builds the workspace's examples).
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_example("axum-app", args, env)
    }

    /// Starts the demo example `name` (`axum-app`, `actix-app`), as [`start`](Self::start).
    pub fn start_example(name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let binary = example_binary(name);
        let mut command = Command::new(&binary);
        command
            .args(["--port", "0"])
            .args(args)
            .env_remove("REDIS_URL")
            .env_remove("REDIS_CLUSTER_NODES")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stdout = child.stdout.take().expect("stdout");
        let process = Process(child);
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the demo prints its address");
        // Keep reading what it prints, so that it never writes to a closed pipe.
        std::thread::spawn(move || {
            let mut rest = String::new();
            while stdout.read_line(&mut rest).is_ok_and(|n| n > 0) {
                rest.clear();
            }
        });
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|rest| rest.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the demo: {line:?}"));
        DemoServer {
            addr,
            _process: process,
        }
    }
}

/// The demo server's binary.
fn example_binary(name: &str) -> PathBuf {
    built(&["examples", name])
}

/// The `active-users` command's binary.
pub fn cli_binary() -> PathBuf {
    built(&["active-users"])
}

/// A binary of the workspace, built as the README's test command builds it: that command
/// builds every example and the command (for `cli/tests`), so after it this is a no-op check
/// that they are fresh; run alone (`cargo test --test dashboard`), it builds them first.
fn built(path: &[&str]) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args([
                "test",
                "--workspace",
                "--all-features",
                "--no-run",
                "--quiet",
            ])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .stdout(Stdio::null())
            .status()
            .expect("cargo test --no-run");
        assert!(status.success(), "building the workspace failed");
    });
    // The test binary is target/<profile>/deps/<name>-<hash>; binaries are beside deps.
    let exe = std::env::current_exe().expect("test binary path");
    let mut binary = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf();
    binary.extend(path);
    assert!(binary.is_file(), "{} was not built", binary.display());
    binary
}
