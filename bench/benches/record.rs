//! The record path, piece by piece: extraction, encoding, and the whole `record` call into the
//! buffer, from one thread and from two. Requests are realistic: 10 headers, 3 cookies.
#![allow(missing_docs)]

use active_users::{ActiveUserEntry, Config, DefaultEntry, ExtractContext, MemoryStore, Tracker};
use active_users_bench::realistic_request;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A custom entry with six fields from four kinds of source.
#[derive(Debug, ActiveUserEntry)]
struct SixFields {
    #[from_header("x-user-id")]
    #[active_users(index)]
    user_id: u64,
    #[from_cookie("sessionid")]
    session_id: Option<String>,
    #[from_client_ip]
    ip: Option<IpAddr>,
    #[from_header("x-service-id")]
    service_id: Option<String>,
    #[from_query("ref")]
    referrer: Option<String>,
    #[from_header("accept-language")]
    language: Option<String>,
}

/// A tracker whose writer stays idle during the measurement, so only `record` is timed.
fn new_tracker() -> Tracker<DefaultEntry> {
    let config = Config::builder()
        .buffer_capacity(10_000_000)
        .batch_size(10_000_000)
        .flush_interval(Duration::from_secs(3600))
        .build()
        .expect("config");
    Tracker::new(config, MemoryStore::new()).expect("tracker")
}

fn extraction(c: &mut Criterion) {
    let request = realistic_request(12_345);
    let cx = ExtractContext::default();
    let mut group = c.benchmark_group("extract");
    group.bench_function("default entry", |b| {
        b.iter(|| DefaultEntry::from_request(black_box(&request), &cx))
    });
    group.bench_function("6-field entry", |b| {
        b.iter(|| SixFields::from_request(black_box(&request), &cx))
    });
    group.bench_function("default entry + encode", |b| {
        b.iter(|| DefaultEntry::from_request(black_box(&request), &cx).map(|e| e.encode()))
    });
    group.finish();

    let entry = DefaultEntry::from_request(&request, &cx).expect("entry");
    let six = SixFields::from_request(&request, &cx).expect("entry");
    let member = entry.encode().expect("member");
    let mut group = c.benchmark_group("codec");
    group.bench_function("encode default entry", |b| {
        b.iter(|| black_box(&entry).encode())
    });
    group.bench_function("encode 6-field entry", |b| {
        b.iter(|| black_box(&six).encode())
    });
    group.bench_function("decode default entry", |b| {
        b.iter(|| DefaultEntry::decode(black_box(&member)))
    });
    group.finish();
}

fn record(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _guard = runtime.enter();
    let mut group = c.benchmark_group("record");
    group.throughput(Throughput::Elements(1));

    // The common case: a visitor seen again within the refresh interval (coalesced).
    let tracker = new_tracker();
    let request = realistic_request(1);
    tracker.record(&request);
    group.bench_function("repeat visitor, 1 thread", |b| {
        b.iter(|| tracker.record(black_box(&request)))
    });

    // A new visitor each time: the entry is queued in the buffer. Requests are built a
    // thousand at a time, untimed, and recorded while they are in cache.
    let mut next_user = 0u64;
    group.bench_function("new visitor, 1 thread", |b| {
        let tracker = new_tracker();
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(1000);
                let chunk: Vec<_> = (next_user..next_user + n).map(realistic_request).collect();
                next_user += n;
                let started = Instant::now();
                for request in &chunk {
                    black_box(tracker.record(request));
                }
                elapsed += started.elapsed();
                left -= n;
            }
            elapsed
        })
    });

    let threads = 2usize;
    group.bench_with_input(
        BenchmarkId::new("repeat visitors, threads", threads),
        &threads,
        |b, &threads| {
            let tracker = new_tracker();
            let per_thread: Vec<_> = (0..threads as u64).map(realistic_request).collect();
            for r in &per_thread {
                tracker.record(r);
            }
            b.iter_custom(|iters| {
                let started = Instant::now();
                std::thread::scope(|s| {
                    for request in &per_thread {
                        let tracker = &tracker;
                        s.spawn(move || {
                            for _ in 0..iters {
                                black_box(tracker.record(request));
                            }
                        });
                    }
                });
                // Wall time per record per thread: what each request pays.
                started.elapsed()
            })
        },
    );
    group.finish();
}

criterion_group!(benches, extraction, record);
criterion_main!(benches);
