//! The drain rule: edge trigger reads until the queue is empty, with a
//! per-wake-up budget and revisits, and stops at a short read.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use muxbench::backend::Backend;

mod common;
use common::{check_echo, payload, round_trip, Plan, Server, DEADLINE};

/// With a budget far below one read, every wake-up of a busy connection is
/// cut short; the revisit list must carry it on (under edge trigger no new
/// edge comes for queued data), or these streams hang.
fn budget_cut_connections_are_revisited(backend: Backend) {
    let server = Server::start(
        backend,
        &[
            "--read-budget",
            "1",
            "--read-policy",
            "drain",
            "--max-pending",
            "32k",
        ],
    );
    let plans = (0..6).map(|i| Plan::new(payload(i, 3 << 20))).collect();
    check_echo(server.addr, plans).unwrap();
    let c = server.stop().counters;
    assert_eq!(c.bytes_out, 6 * (3 << 20));
}
per_loop_backend!(budget_cut_connections_are_revisited);

/// A fire-hose client (sending and reading as fast as it can) must not starve
/// an interactive one.
fn fire_hose_does_not_starve_others(backend: Backend) {
    let server = Server::start(backend, &["--read-policy", "drain"]);
    let mut hose = TcpStream::connect(server.addr).unwrap();
    let mut hose_reader = hose.try_clone().unwrap();
    hose_reader.set_read_timeout(Some(DEADLINE)).unwrap();
    let total: usize = 64 << 20;
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0;
        while got < total {
            match hose_reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        got
    });
    let writer = std::thread::spawn(move || {
        let chunk = vec![0x5a_u8; 256 * 1024];
        for _ in 0..total / chunk.len() {
            hose.write_all(&chunk).unwrap();
        }
        hose.shutdown(Shutdown::Write).unwrap();
    });

    let mut interactive = TcpStream::connect(server.addr).unwrap();
    interactive.set_nodelay(true).unwrap();
    let mut worst = Duration::ZERO;
    for i in 0..50u32 {
        let t = Instant::now();
        round_trip(&mut interactive, &i.to_le_bytes()).unwrap();
        worst = worst.max(t.elapsed());
    }
    writer.join().unwrap();
    assert_eq!(reader.join().unwrap(), total);
    assert!(
        worst < Duration::from_secs(2),
        "worst round trip {worst:?} under a fire hose"
    );
    server.stop();
}
per_loop_backend!(fire_hose_does_not_starve_others);

/// Draining stops at a read shorter than the buffer (the receive queue is
/// empty then), so a request/response client costs one read per message, not
/// a read plus an EAGAIN read.
fn short_read_ends_the_drain(backend: Backend) {
    let server = Server::start(backend, &["--read-policy", "drain"]);
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_nodelay(true).unwrap();
    for i in 0..200u64 {
        round_trip(&mut s, &payload(i, 64)).unwrap();
    }
    let snap = server.snapshot();
    let c = snap.counters;
    assert_eq!(c.bytes_in, 200 * 64);
    assert!(c.reads_eagain < 20, "drain read until EAGAIN: {c:?}");
    assert!(c.reads < 220, "{} reads for 200 messages", c.reads);
    drop(s);
    server.stop();
}
per_loop_backend!(short_read_ends_the_drain);

/// Level-triggered `once` with the textbook's 4-byte buffer: one read per
/// wake-up, so wait calls grow with the message size; edge trigger drains all
/// 64 bytes in one wake-up (the comparison of textbook claim 4).
fn tiny_buffer_wakeups(backend: Backend) {
    let server = Server::start(backend, &["--read-buf", "4"]);
    let plans = (0..10).map(|i| Plan::new(payload(i, 64))).collect();
    check_echo(server.addr, plans).unwrap();
    let snap = server.stop();
    // uring with multishot receives or bundles (MUXBENCH_URING_FEATURES)
    // takes every 4-byte piece of an arrival in one wake-up too; a bundle
    // takes them in one completion (one "read").
    let features = muxbench::server::uring_features::from_env().unwrap();
    let uring = backend == Backend::Uring;
    if uring && features.recv_bundle {
        assert!(snap.counters.reads < 10 * 16, "{:?}", snap.counters);
    } else {
        assert!(snap.counters.reads >= 10 * 16, "{:?}", snap.counters);
    }
    let multishot = uring && (features.multishot_recv || features.recv_bundle);
    if backend == Backend::EpollEt || multishot {
        // Each client's 64 bytes usually arrive in one segment: ~1 wake-up for
        // them and ~1 for the FIN, plus accept and control.
        assert!(snap.mux.wait_calls < 10 * 8, "{:?}", snap.mux);
    } else {
        assert!(snap.mux.wait_calls >= 16, "{:?}", snap.mux);
    }
}
per_loop_backend!(tiny_buffer_wakeups);
