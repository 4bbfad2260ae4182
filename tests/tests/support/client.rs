//! A minimal HTTP/1.1 client over a real TCP connection, for tests against served apps.

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    /// The body as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// An HTTP/1.1 connection to `addr`, driven in a task of its own.
async fn connect(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the test server");
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP handshake");
    tokio::spawn(connection);
    sender
}

/// Sends one request with `headers` and returns the response.
pub async fn send(
    addr: SocketAddr,
    method: http::Method,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut sender = connect(addr).await;
    let mut builder = http::Request::builder().method(method).uri(path);
    // The address as the Host, unless the test names another.
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        builder = builder.header(http::header::HOST, addr.to_string());
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(Empty::<Bytes>::new()).expect("request");
    let response = sender.send_request(request).await.expect("response");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Serves `router` (with connect info, so the peer address is known) on a free port of
/// 127.0.0.1 and returns its address.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    addr
}

/// The demo app on actix-web, served on 127.0.0.1:0 by one worker in a thread of its own (an
/// actix system); stopped on drop.
pub struct ActixServer {
    pub addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
}

impl ActixServer {
    /// The demo app on actix-web with one worker.
    pub fn start(
        tracker: active_users::Tracker<active_users_examples::DemoEntry>,
        access: active_users_examples::ApiAccess,
    ) -> Self {
        Self::run(move |listener| {
            active_users_examples::actix::server(listener, tracker, access, 1)
        })
    }

    /// The server `serve` makes on a listener of 127.0.0.1:0, run in an actix system of its
    /// own thread (`HttpServer::new(..).workers(1).disable_signals().listen(l)?.run()`).
    pub fn run<F>(serve: F) -> Self
    where
        F: FnOnce(std::net::TcpListener) -> std::io::Result<actix_web::dev::Server>
            + Send
            + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("address");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = serve(listener).expect("actix takes the listener");
                tx.send(server.handle())
                    .expect("the test waits for the handle");
                let _ = server.await;
            });
        });
        let handle = rx.recv().expect("the actix server started");
        ActixServer { addr, handle }
    }
}

impl Drop for ActixServer {
    fn drop(&mut self) {
        // The stop command is sent when `stop` is called; its future only waits for it.
        drop(self.handle.stop(false));
    }
}

/// `GET path` with headers.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    send(addr, http::Method::GET, path, headers).await
}

/// `GET /` on the demo app as `user` (its login reads `x-user-id`), in `session`, calling
/// from `service`; returns the status.
pub async fn visit_demo(addr: SocketAddr, user: &str, session: &str, service: &str) -> u16 {
    let cookie = format!("sessionid={session}");
    let headers = [
        ("x-user-id", user),
        ("cookie", cookie.as_str()),
        ("x-service-id", service),
    ];
    get(addr, "/", &headers).await.status.as_u16()
}

/// An open Server-Sent Events stream over a real TCP connection.
pub struct EventStream {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    body: hyper::body::Incoming,
    pending: String,
}

/// One Server-Sent Event: its `id`, `event` and `data` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sse {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl EventStream {
    /// Opens `path` with `headers`.
    pub async fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Self {
        let mut sender = connect(addr).await;
        let mut builder = http::Request::get(path).header(http::header::HOST, addr.to_string());
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(Empty::<Bytes>::new()).expect("request");
        let response = sender.send_request(request).await.expect("response");
        let (parts, body) = response.into_parts();
        EventStream {
            status: parts.status,
            headers: parts.headers,
            body,
            pending: String::new(),
        }
    }

    /// The next event (comments and `retry` lines skipped), or `None` when the stream ends or
    /// nothing comes within `within`.
    pub async fn next(&mut self, within: std::time::Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..end + 2).collect();
                let mut sse = Sse {
                    id: None,
                    event: None,
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        sse.id = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        sse.event = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        sse.data.push_str(v);
                    }
                }
                if sse.event.is_some() || !sse.data.is_empty() {
                    return Some(sse);
                }
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame()).await;
            match frame {
                Ok(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        self.pending.push_str(&String::from_utf8_lossy(data));
                    }
                }
                _ => return None,
            }
        }
    }
}
