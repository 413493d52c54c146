//! What interval sampling costs the server, per sample: publishing its
//! counters into the shared page (what `--stats-page` adds to every loop
//! turn) against answering one SIGUSR1 snapshot (getrusage, /proc/self/statm
//! and a JSON line — before the wake-up and the pipe write a signal costs
//! besides). The reader's side (one seqlock read) is measured too.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use muxbench::mux::MuxStats;
use muxbench::server::stats_page::{StatsPage, StatsReader};
use muxbench::server::{Counters, Snapshot};

fn sampling(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("page");
    let page = StatsPage::create(&path).unwrap();
    let reader = StatsReader::open(&path).unwrap();
    let mut counters = Counters::default();
    let mux = MuxStats::default();
    let mut group = c.benchmark_group("sampling");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("page_publish", |b| {
        b.iter(|| {
            counters.reads += 1;
            page.publish(black_box(&counters), black_box(&mux));
        })
    });
    group.bench_function("page_read", |b| b.iter(|| black_box(reader.read())));
    group.bench_function("sigusr1_snapshot_line", |b| {
        b.iter(|| {
            let snap = Snapshot::now("snapshot", "epoll-et", counters, mux);
            black_box(snap.to_json_line())
        })
    });
    group.finish();
}

criterion_group!(benches, sampling);
criterion_main!(benches);
