//! A gRPC service on tonic 0.14 recorded by [`ActiveUsersLayer`]: the layer judges each call
//! by its `grpc-status` (in the response headers when the call fails at once, in the trailers
//! after the messages otherwise), not by the HTTP status, which is 200 for every gRPC call.
//!
//! The service `demo.Calls` is written by hand over tonic's generic server (no `.proto`, so
//! no code generation and no `protoc`), with `google.protobuf.Empty` messages (`()` in prost):
//! `Ok` succeeds, `Denied` fails with `PERMISSION_DENIED` before any message, and
//! `BreaksMidway` streams one message, then fails with `INTERNAL` in its trailers.

use active_users::{ActiveUserEntry, ActiveUsersLayer, RecordOn, Tracker};
use http::uri::PathAndQuery;
use std::convert::Infallible;
use std::future::{Future, ready};
use std::net::IpAddr;
use std::pin::Pin;
use tonic::server::NamedService;
use tonic::{Code, Status};

/// What the gRPC demo records: the caller's `x-user-id` metadata and its address.
#[derive(Debug, Clone, PartialEq, ActiveUserEntry)]
pub struct CallerEntry {
    /// The `x-user-id` metadata (gRPC metadata are HTTP/2 headers).
    #[from_header("x-user-id")]
    #[active_users(distinct)]
    pub user_id: String,
    /// The peer address, from tonic's `TcpConnectInfo` (feature `tonic`).
    #[from_client_ip]
    pub ip: Option<IpAddr>,
}

/// The hand-written service `demo.Calls`.
#[derive(Debug, Clone, Default)]
pub struct Calls;

impl NamedService for Calls {
    const NAME: &'static str = "demo.Calls";
}

type Codec = tonic_prost::ProstCodec<(), ()>;

impl<B> tower::Service<http::Request<B>> for Calls
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(Codec::default());
            let response = match request.uri().path() {
                "/demo.Calls/Ok" => {
                    let ok = tower::service_fn(|_: tonic::Request<()>| {
                        ready(Ok::<_, Status>(tonic::Response::new(())))
                    });
                    grpc.unary(ok, request).await
                }
                "/demo.Calls/Denied" => {
                    let denied = tower::service_fn(|_: tonic::Request<()>| {
                        ready(Err::<tonic::Response<()>, _>(Status::permission_denied(
                            "not for you",
                        )))
                    });
                    grpc.unary(denied, request).await
                }
                "/demo.Calls/BreaksMidway" => {
                    let breaks = tower::service_fn(|_: tonic::Request<()>| {
                        let messages =
                            vec![Ok(()), Err(Status::internal("broke after one message"))];
                        ready(Ok::<_, Status>(tonic::Response::new(tokio_stream::iter(
                            messages,
                        ))))
                    });
                    grpc.server_streaming(breaks, request).await
                }
                _ => {
                    Status::unimplemented("demo.Calls has Ok, Denied and BreaksMidway").into_http()
                }
            };
            Ok(response)
        })
    }
}

/// Serves `demo.Calls` and the standard health service on `listener`, every call through
/// [`ActiveUsersLayer`] with `record_on`, until the task is dropped.
///
/// # Errors
/// When tonic's server fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tracker: Tracker<CallerEntry>,
    record_on: RecordOn,
) -> Result<(), tonic::transport::Error> {
    let (_reporter, health) = tonic_health::server::health_reporter();
    tonic::transport::Server::builder()
        .layer(ActiveUsersLayer::new(tracker).record_on(record_on))
        .add_service(Calls)
        .add_service(health)
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
}

/// Calls `demo.Calls/<method>` on `channel` as `user`, reading every message of the answer;
/// the call's status.
pub async fn call(channel: tonic::transport::Channel, method: &str, user: &str) -> Code {
    let mut grpc = tonic::client::Grpc::new(channel);
    let Ok(path) = PathAndQuery::try_from(format!("/demo.Calls/{method}")) else {
        return Code::InvalidArgument;
    };
    let mut request = tonic::Request::new(());
    if let Ok(value) = user.parse() {
        request.metadata_mut().insert("x-user-id", value);
    }
    if let Err(status) = grpc.ready().await {
        return Status::from_error(Box::new(status)).code();
    }
    let answer = if method == "BreaksMidway" {
        match grpc.server_streaming(request, path, Codec::default()).await {
            Ok(response) => {
                let mut stream = response.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(())) => {}
                        Ok(None) => break Ok(()),
                        Err(status) => break Err(status),
                    }
                }
            }
            Err(status) => Err(status),
        }
    } else {
        grpc.unary(request, path, Codec::default())
            .await
            .map(|_| ())
    };
    answer.err().map_or(Code::Ok, |status| status.code())
}
