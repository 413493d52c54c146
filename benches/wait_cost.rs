//! The cost of one monitoring call with one ready descriptor among N watched,
//! per backend (Kerrisk, TLPI ch. 63; libevent's test/bench.c). One iteration:
//! make one randomly chosen descriptor readable (send one datagram), wait,
//! read the byte back. select and poll pay O(N) per call; epoll O(ready).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use muxbench::backend::Backend;
use muxbench::mux::{Events, Interest, Token};

mod common;
use common::{feasible, make, Picker, Targets, SIZES};

fn wait_cost(c: &mut Criterion) {
    for backend in Backend::multiplexers() {
        let mut group = c.benchmark_group(format!("wait_cost_{backend}"));
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));
        for n in SIZES {
            if !feasible(backend, n) {
                continue;
            }
            let targets = Targets::new(n);
            let mut mux = make(backend);
            for i in 0..n {
                mux.register(targets.fd(i), Token(i), Interest::READABLE)
                    .unwrap();
            }
            let mut events = Events::with_capacity(64);
            let mut picker = Picker::new();
            let mut byte = [0u8; 1];
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
                b.iter(|| {
                    let i = picker.next(n);
                    targets.sender.send_to(&[1], targets.addrs[i]).unwrap();
                    let got = mux.wait(&mut events, Some(Duration::from_secs(1))).unwrap();
                    assert_eq!(got, 1, "exactly the one descriptor is ready");
                    black_box(targets.sockets[i].recv(&mut byte).unwrap());
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, wait_cost);
criterion_main!(benches);
