//! End-to-end echo through `muxserver` for every backend: many concurrent
//! connections, large streams, lazy readers, tiny read buffers. Every byte is
//! compared and every connection ends with the half-close / EOF handshake.

use std::time::Duration;

use muxbench::backend::Backend;
use rand::{Rng, SeedableRng};

mod common;
use common::{check_echo, check_echo_after, payload, Plan, Server};

/// 250 concurrent connections, random sizes from 1 B to 64 KiB. Concurrency
/// is made, not hoped for: no byte is sent before the server holds all 250.
fn concurrent_random_sizes(backend: Backend) {
    common::raise_fd_limit();
    let server = Server::start(backend, &[]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(862);
    let plans: Vec<Plan> = (0..250)
        .map(|i| Plan::new(payload(i, rng.gen_range(1..=64 * 1024))))
        .collect();
    let total: u64 = plans.iter().map(|p| p.payload.len() as u64).sum();
    check_echo_after(server.addr, plans, || {
        server.wait_until("all 250 connections to be accepted", |s| {
            s.counters.conns == 250
        });
    })
    .unwrap();
    let snap = server.stop();
    let c = snap.counters;
    assert_eq!(c.bytes_in, total);
    assert_eq!(c.bytes_out, total);
    assert_eq!(c.accepts, 250);
    assert_eq!(c.closes, 250);
    assert_eq!(c.conns, 0);
    assert_eq!(c.peak_conns, 250, "not concurrent");
    assert_eq!(c.errors + c.resets + c.refused, 0, "{c:?}");
}
per_backend!(concurrent_random_sizes);

/// 500 concurrent connections of 4 KiB each.
fn five_hundred_connections(backend: Backend) {
    common::raise_fd_limit();
    let server = Server::start(backend, &[]);
    let plans = (0..500).map(|i| Plan::new(payload(i, 4096))).collect();
    check_echo(server.addr, plans).unwrap();
    let c = server.stop().counters;
    assert_eq!(c.bytes_out, 500 * 4096);
    assert_eq!(c.closes, 500);
}
per_backend!(five_hundred_connections);

/// Large streams read lazily by clients with small receive buffers: the server
/// meets full send buffers (partial writes / EAGAIN), keeps the rest, and
/// still returns every byte in order. The send path is filled on purpose,
/// not by chance: half the clients read nothing until they have sent all
/// 6 MiB (more than any send buffer the kernel grows to behind a 4 KiB
/// receive window), and the cap is high enough for the server to queue it.
///
/// `threads` and `tokio` stop reading while one read's echo is pending
/// (their back-pressure, whatever the cap): a client that reads nothing
/// until it has sent everything deadlocks against them once the kernel's
/// buffers are full (~6 MB here), as against any echo server that does not
/// queue. Their send-first clients send 1 MiB, which the kernel's buffers
/// hold; their lazy readers still fill the send path.
fn lazy_readers_force_partial_writes(backend: Backend) {
    let server = Server::start(backend, &["--max-pending", "8MiB"]);
    let queues = !matches!(backend, Backend::Threads | Backend::Tokio);
    let plans = (0..6)
        .map(|i| Plan {
            payload: payload(
                100 + i,
                if queues || i % 2 == 1 {
                    6 << 20
                } else {
                    1 << 20
                },
            ),
            read_chunk: 1024,
            rcvbuf: Some(4096),
            read_after_send: i % 2 == 0,
        })
        .collect();
    check_echo(server.addr, plans).unwrap();
    let c = server.stop().counters;
    let sent = if queues {
        6 * (6 << 20)
    } else {
        3 * (6 << 20) + 3 * (1 << 20)
    };
    assert_eq!(c.bytes_out, sent);
    assert!(
        c.partial_writes + c.writes_eagain > 0,
        "lazy readers never filled the send path: {c:?}"
    );
    assert!(c.peak_pending_bytes > 0);
}
per_backend!(lazy_readers_force_partial_writes);

/// The textbook's 4-byte read buffer, with each read policy.
fn tiny_read_buffer(backend: Backend) {
    for policy in ["once", "drain"] {
        let server = Server::start(backend, &["--read-buf", "4", "--read-policy", policy]);
        let plans = (0..20)
            .map(|i| Plan::new(payload(i, 1 + 997 * i as usize)))
            .collect();
        check_echo(server.addr, plans).unwrap();
        let snap = server.stop();
        let c = snap.counters;
        let total: u64 = (0..20).map(|i| 1 + 997 * i).sum();
        assert_eq!(c.bytes_out, total);
        let bundles = backend == Backend::Uring
            && muxbench::server::uring_features::from_env()
                .unwrap()
                .recv_bundle;
        if bundles {
            // One completion fills many 4-byte buffers; each went back.
            assert!(snap.mux.bufs_returned >= total / 4, "{snap:?}");
        } else {
            assert!(c.reads >= total / 4, "reads of at most 4 bytes: {c:?}");
        }
    }
}
per_backend!(tiny_read_buffer);

/// Once output is flushed, writable interest must be dropped: an idle server
/// with open connections makes (almost) no wait calls. A level-triggered
/// backend that kept EPOLLOUT/POLLOUT armed would spin here.
fn idle_server_does_not_spin(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut conns: Vec<_> = (0..20)
        .map(|_| common::connect(server.addr, Some(4096)).unwrap())
        .collect();
    // Force pending output on every connection, then let it drain.
    for (i, c) in conns.iter_mut().enumerate() {
        common::round_trip(c, &payload(i as u64, 256 * 1024)).unwrap();
    }
    let before = server.snapshot();
    std::thread::sleep(Duration::from_millis(300));
    let after = server.snapshot();
    let waits = after.mux.wait_calls - before.mux.wait_calls;
    // The snapshot request itself costs a wait or two (signal, control pipe).
    assert!(waits <= 6, "{waits} wait calls in 300 ms of idleness");
    let cpu = (after.rusage.user_us + after.rusage.sys_us)
        - (before.rusage.user_us + before.rusage.sys_us);
    assert!(cpu < 50_000, "{cpu} µs of CPU while idle");
    drop(conns);
}
per_backend!(idle_server_does_not_spin);

/// The serving models' own knobs: tokio's multi-thread runtime and the
/// thread server's smallest and a large stack serve echo in full.
#[test]
fn tokio_multi_thread_and_thread_stacks() {
    for (backend, extra) in [
        (Backend::Tokio, &["--threads", "2"][..]),
        (Backend::Threads, &["--stack-size", "32KiB"][..]),
        (Backend::Threads, &["--stack-size", "8MiB"][..]),
    ] {
        let server = Server::start(backend, extra);
        let plans = (0..100)
            .map(|i| Plan::new(payload(i, 1 + 3_001 * (i as usize % 40))))
            .collect();
        check_echo(server.addr, plans).unwrap_or_else(|e| panic!("{backend} {extra:?}: {e}"));
        let c = server.stop().counters;
        let expect: u64 = (0..100u64).map(|i| 1 + 3_001 * (i % 40)).sum();
        assert_eq!(c.bytes_out, expect, "{backend} {extra:?}");
    }
}
