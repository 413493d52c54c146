//! The cost of changing the interest set with N descriptors registered:
//! registering and deregistering one more (epoll_ctl ADD/DEL against select's
//! fd_set edits and maxfd walk, and poll's vector push / swap-remove), and
//! toggling writable interest on and off (what the echo server does around a
//! partial write: epoll_ctl MOD twice, or two bit flips).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use muxbench::backend::Backend;
use muxbench::mux::{Interest, Token};

mod common;
use common::{feasible, make, Targets};

const SIZES: [usize; 3] = [10, 100, 1000];

fn ctl_cost(c: &mut Criterion) {
    for (what, toggle) in [("register_deregister", false), ("toggle_writable", true)] {
        for backend in Backend::multiplexers() {
            let mut group = c.benchmark_group(format!("ctl_{what}_{backend}"));
            group.warm_up_time(Duration::from_millis(500));
            group.measurement_time(Duration::from_secs(2));
            for n in SIZES {
                if !feasible(backend, n + 1) {
                    continue;
                }
                // n registered, plus the one that comes and goes (the last
                // created, so the highest fd: select's maxfd walk is exercised).
                let targets = Targets::new(n + 1);
                let mut mux = make(backend);
                for i in 0..n {
                    mux.register(targets.fd(i), Token(i), Interest::READABLE)
                        .unwrap();
                }
                let fd = targets.fd(n);
                if toggle {
                    mux.register(fd, Token(n), Interest::READABLE).unwrap();
                }
                group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
                    b.iter(|| {
                        if toggle {
                            mux.reregister(fd, Token(n), Interest::BOTH).unwrap();
                            mux.reregister(fd, Token(n), Interest::READABLE).unwrap();
                        } else {
                            mux.register(fd, Token(n), Interest::READABLE).unwrap();
                            mux.deregister(fd).unwrap();
                        }
                    })
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, ctl_cost);
criterion_main!(benches);
