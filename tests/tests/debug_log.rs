//! `RUST_LOG=active_users=debug` shows what the library does: a span per flush and per query,
//! and a debug event for each with its size and duration. (Its own test binary: it installs a
//! global `tracing` subscriber, which sees the background writer's tasks too.)

use active_users::{Config, DefaultEntry, MemoryStore, Tracker, User};
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber, span};

/// One debug event of the `active_users` crate: its span's name and its fields as text.
#[derive(Debug, Clone)]
struct Seen {
    span: String,
    fields: Vec<(String, String)>,
}

impl Seen {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name().to_owned(), value.to_string()));
    }
}

/// Keeps the debug events of `active_users` with the span they happened in.
struct Capture;

static EVENTS: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
static SPANS: Mutex<Vec<String>> = Mutex::new(Vec::new());

thread_local! {
    static CURRENT: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("active_users") && *metadata.level() <= Level::DEBUG
    }
    fn new_span(&self, attrs: &span::Attributes<'_>) -> span::Id {
        let mut spans = EVENTS_SPANS.lock().unwrap_or_else(|e| e.into_inner());
        spans.push(attrs.metadata().name().to_owned());
        span::Id::from_u64(spans.len() as u64)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        let span = CURRENT.with(|c| c.borrow().last().cloned().unwrap_or_default());
        EVENTS.lock().unwrap_or_else(|e| e.into_inner()).push(Seen {
            span,
            fields: fields.0,
        });
    }
    fn enter(&self, id: &span::Id) {
        let name = EVENTS_SPANS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id.into_u64() as usize - 1)
            .cloned()
            .unwrap_or_default();
        SPANS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(name.clone());
        CURRENT.with(|c| c.borrow_mut().push(name));
    }
    fn exit(&self, _: &span::Id) {
        CURRENT.with(|c| {
            c.borrow_mut().pop();
        });
    }
}

/// The names of the spans created, by id.
static EVENTS_SPANS: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushes_and_queries_are_logged_at_debug_with_sizes_and_durations() {
    tracing::subscriber::set_global_default(Capture).expect("the only subscriber");
    let config = Config::builder()
        .namespace("debug-log")
        .flush_interval(Duration::from_secs(3600))
        .build()
        .expect("config");
    let tracker = Tracker::<DefaultEntry>::new(config, MemoryStore::new()).expect("tracker");
    for user in 0..5 {
        let mut request = http::Request::get("/").body(()).expect("request");
        request.extensions_mut().insert(User::new(user.to_string()));
        tracker.record(&request);
    }
    tracker.flush().await.expect("flush");
    assert_eq!(tracker.count().await.expect("count"), 5);
    assert_eq!(tracker.list(3, None).await.expect("list").entries.len(), 3);
    assert!(tracker.count_by("user_id").await.is_err(), "distinct only");

    let events = EVENTS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let flush = events
        .iter()
        .find(|e| e.field("message") == Some("flush written"))
        .unwrap_or_else(|| panic!("no flush event in {events:?}"));
    assert_eq!(flush.span, "active_users.flush");
    assert_eq!(flush.field("pending"), Some("5"));
    assert_eq!(flush.field("written"), Some("5"));
    assert!(flush.field("elapsed_us").is_some());
    let query = |name: &str| {
        events
            .iter()
            .find(|e| e.field("query") == Some(name))
            .unwrap_or_else(|| panic!("no {name} event in {events:?}"))
            .clone()
    };
    let count = query("count");
    assert_eq!(count.span, "active_users.query");
    assert_eq!(count.field("message"), Some("query answered"));
    assert_eq!(count.field("size"), Some("5"));
    assert!(count.field("elapsed_us").is_some());
    assert_eq!(query("list").field("size"), Some("3"));
    let failed = query("count_by");
    assert_eq!(failed.field("message"), Some("query failed"));
    assert!(
        failed
            .field("error")
            .is_some_and(|e| e.contains("distinct")),
        "{failed:?}"
    );
    let spans = SPANS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(spans.iter().any(|s| s == "active_users.flush"), "{spans:?}");
    tracker.shutdown().await.expect("shutdown");
}
