//! `GET /events`: presence as Server-Sent Events, and the body that streams them.

use super::service::ActiveUsersApi;
use crate::presence::{EventId, Kind, RawEvent};
use crate::{ActiveUserEntry, QueryError};
use bytes::Bytes;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// How many events after a `Last-Event-ID` a stream replays at most.
const BACKLOG_LIMIT: usize = 10_000;

/// A comment line this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Chunks a stream holds for a slow client before its events wait in the (bounded) presence
/// channel, where it lags.
const CHUNKS: usize = 64;

/// The body of every API response: one document, or the event stream of `/events`.
#[derive(Debug)]
pub struct ApiBody {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl ApiBody {
    /// A body of these bytes.
    pub fn new(bytes: Bytes) -> Self {
        ApiBody {
            inner: Inner::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    fn stream(chunks: mpsc::Receiver<Bytes>) -> Self {
        ApiBody {
            inner: Inner::Stream(chunks),
        }
    }
}

impl http_body::Body for ApiBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().inner {
            Inner::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(http_body::Frame::data(b)))),
            Inner::Stream(chunks) => chunks
                .poll_recv(cx)
                .map(|chunk| chunk.map(|b| Ok(http_body::Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.inner, Inner::Full(None))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match &self.inner {
            Inner::Full(bytes) => {
                http_body::SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Inner::Stream(_) => http_body::SizeHint::default(),
        }
    }
}

/// The event stream's body: the events after `last` the log still holds, then every event as
/// it comes, until the client goes away.
pub(crate) fn stream<E: ActiveUserEntry>(api: ActiveUsersApi<E>, last: Option<EventId>) -> ApiBody {
    let (tx, rx) = mpsc::channel(CHUNKS);
    tokio::spawn(produce(api, last, tx));
    ApiBody::stream(rx)
}

async fn produce<E: ActiveUserEntry>(
    api: ActiveUsersApi<E>,
    last: Option<EventId>,
    tx: mpsc::Sender<Bytes>,
) {
    let tracker = api.tracker();
    // Live first, then the backlog: nothing falls between them; what both hold is sent once.
    let mut live = match tracker.presence_receiver(Kind::All).await {
        Ok(live) => live,
        Err(err) => return drop(tx.send(error_event(&err)).await),
    };
    if tx
        .send(Bytes::from_static(b"retry: 2000\n\n"))
        .await
        .is_err()
    {
        return;
    }
    let mut sent = last.unwrap_or_default();
    if let Some(last) = last {
        match tracker.presence_backlog(last, BACKLOG_LIMIT).await {
            Ok((events, lost)) => {
                if lost && tx.send(lagged(None)).await.is_err() {
                    return;
                }
                for event in events {
                    sent = sent.max(event.id);
                    if let Some(chunk) = api.event_chunk(&event)
                        && tx.send(chunk).await.is_err()
                    {
                        return;
                    }
                }
            }
            Err(err) => {
                if tx.send(error_event(&err)).await.is_err() {
                    return;
                }
            }
        }
    }
    loop {
        let chunk = tokio::select! {
            () = tx.closed() => return,
            received = live.recv() => match received {
                Ok(event) if event.gap => lagged(None),
                Ok(event) if event.id <= sent => continue,
                Ok(event) => {
                    sent = event.id;
                    match api.event_chunk(&event) {
                        Some(chunk) => chunk,
                        None => continue,
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => lagged(Some(n)),
                Err(broadcast::error::RecvError::Closed) => return,
            },
            () = tokio::time::sleep(KEEP_ALIVE) => Bytes::from_static(b": keep-alive\n\n"),
        };
        if tx.send(chunk).await.is_err() {
            return;
        }
    }
}

/// `event: lagged`: events were missed (how many, when known).
fn lagged(missed: Option<u64>) -> Bytes {
    let data = serde_json::json!({ "missed": missed });
    Bytes::from(format!("event: lagged\ndata: {data}\n\n"))
}

fn error_event(err: &QueryError) -> Bytes {
    let data = serde_json::json!({ "error": err.to_string() });
    Bytes::from(format!("event: error\ndata: {data}\n\n"))
}

impl<E: ActiveUserEntry> ActiveUsersApi<E> {
    /// One event as SSE: `id`, `event: joined|left`, and its data; `None` for an event the API
    /// does not show (a hidden field's values, an entry of another type).
    fn event_chunk(&self, event: &RawEvent) -> Option<Bytes> {
        let at = event.at.min(u64::try_from(i64::MAX).unwrap_or(u64::MAX));
        let data = match &event.field {
            None => {
                let entry = E::decode(&event.bytes).ok()?;
                let mut shown = serde_json::Map::new();
                for (name, value) in entry.named_values() {
                    if !self.is_hidden(name) {
                        shown.insert(name.to_owned(), value.into());
                    }
                }
                serde_json::json!({ "at": at, "entry": shown })
            }
            Some(field) => {
                if !self.shows_field(field) {
                    return None;
                }
                let value = String::from_utf8_lossy(&event.bytes);
                serde_json::json!({ "at": at, "field": field, "value": value })
            }
        };
        Some(Bytes::from(format!(
            "id: {}\nevent: {}\ndata: {data}\n\n",
            event.id,
            event.change.as_str()
        )))
    }
}
