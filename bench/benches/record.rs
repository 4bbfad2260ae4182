//! The record path, piece by piece: extraction, encoding, and the whole `record` call into the
//! buffer, from one thread and from 1, 2 and 4 at once. Requests are realistic: 10 headers, 3 cookies.
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

    group.finish();
}

/// The CPU time this thread has used (`CLOCK_THREAD_CPUTIME_ID`): time waiting for a core or
/// asleep on a lock is not in it, spinning and the kernel's work for it are.
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// What a bench thread's work returns: the CPU time it timed itself, or nothing.
trait Timed {
    fn or(self, all: Duration) -> Duration;
}

impl Timed for () {
    fn or(self, all: Duration) -> Duration {
        all
    }
}

impl Timed for Duration {
    fn or(self, _: Duration) -> Duration {
        self
    }
}

/// Runs `work(thread)` on `threads` threads that start together, and returns the CPU time
/// they used in all: what `work` returns, or when it returns nothing, all of its CPU time.
fn cpu_time_of<T: Timed>(threads: usize, work: impl Fn(usize) -> T + Sync) -> Duration {
    let start = std::sync::Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let (start, work) = (&start, &work);
                s.spawn(move || {
                    start.wait();
                    let before = thread_cpu_time();
                    let timed = work(thread);
                    timed.or(thread_cpu_time() - before)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a bench thread panicked"))
            .sum()
    })
}

/// Records from 1, 2 and 4 threads at once. Each figure is core time per record: the CPU time
/// the recording threads used (each thread's own clock), over the records they made, so that
/// 4 threads on 2 cores are not charged for waiting their turn; contention on the buffer (its
/// lock, its cache lines) is what makes it grow with the threads. Issue 15's target: 4
/// threads ≤ 1.5x one thread.
fn record_threads(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _guard = runtime.enter();
    let mut group = c.benchmark_group("record, threads");
    group.throughput(Throughput::Elements(1));
    for threads in [1usize, 2, 4] {
        // Each thread its own repeat visitor: coalesced in the buffer every time.
        group.bench_with_input(
            BenchmarkId::new("repeat visitors", threads),
            &threads,
            |b, &threads| {
                let tracker = new_tracker();
                let per_thread: Vec<_> = (0..threads as u64).map(realistic_request).collect();
                for r in &per_thread {
                    tracker.record(r);
                }
                b.iter_custom(|iters| {
                    let each = iters.div_ceil(threads as u64);
                    let cpu = cpu_time_of(threads, |thread| {
                        for _ in 0..each {
                            black_box(tracker.record(&per_thread[thread]));
                        }
                    });
                    cpu.mul_f64(iters as f64 / (each * threads as u64) as f64)
                })
            },
        );

        // New visitors: a fresh tracker per `CHUNK` records, shared out among the threads, so
        // that every thread count fills the buffer to the same size. Each thread builds its
        // requests `BATCH` at a time, untimed, and records them while they are in its cache,
        // as a server records the request it has just parsed.
        const CHUNK: u64 = 16_000;
        const BATCH: u64 = 64;
        let mut next_user = 0u64;
        group.bench_with_input(
            BenchmarkId::new("new visitors", threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iters| {
                    let mut cpu = Duration::ZERO;
                    let mut recorded = 0;
                    while recorded < iters {
                        let each = CHUNK / threads as u64;
                        let tracker = new_tracker();
                        let first = next_user;
                        cpu += cpu_time_of(threads, |thread| {
                            let mut user = first + thread as u64 * each;
                            let end = user + each;
                            let mut timed = Duration::ZERO;
                            while user < end {
                                let n = BATCH.min(end - user);
                                let batch: Vec<_> =
                                    (user..user + n).map(realistic_request).collect();
                                user += n;
                                let before = thread_cpu_time();
                                for request in &batch {
                                    black_box(tracker.record(request));
                                }
                                timed += thread_cpu_time() - before;
                            }
                            timed
                        });
                        next_user += each * threads as u64;
                        recorded += each * threads as u64;
                    }
                    cpu.mul_f64(iters as f64 / recorded as f64)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, extraction, record, record_threads);
criterion_main!(benches);
