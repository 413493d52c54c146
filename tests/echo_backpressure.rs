//! Back-pressure: a client that sends but never reads cannot make the server
//! hold more than `--max-pending` of output for it, and does not stop the
//! server from serving others. When it finally reads, it gets every byte.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use muxbench::backend::Backend;

mod common;
use common::{check_echo, payload, Plan, Server, DEADLINE};

const CAP: u64 = 64 * 1024;

fn stalled_client_is_capped_and_others_served(backend: Backend) {
    let server = Server::start(backend, &["--max-pending", "64KiB"]);
    let data = payload(7, 16 << 20);
    let mut stalled = common::connect(server.addr, Some(16 * 1024)).unwrap();

    // Send without reading until the whole path is full: the client's send
    // buffer, the server's receive queue, the server's pending output (capped),
    // the server's send buffer and our receive buffer.
    let sent = common::push_unread(&mut stalled, &data, Duration::from_millis(500));
    assert!(
        sent < data.len(),
        "16 MiB fit in the path: back-pressure never engaged"
    );
    let snap = server.wait_until("the stalled connection to pause", |s| {
        s.counters.read_pauses >= 1
    });
    assert!(
        snap.counters.peak_pending_bytes <= CAP,
        "pending output {} exceeds the cap {CAP}",
        snap.counters.peak_pending_bytes
    );

    // Meanwhile other clients are served in full.
    let plans = (0..20).map(|i| Plan::new(payload(i, 100_000))).collect();
    check_echo(server.addr, plans).unwrap();

    // The stalled client now reads; the server resumes reading it, and every
    // byte comes back in order.
    stalled.set_nonblocking(false).unwrap();
    stalled.set_read_timeout(Some(DEADLINE)).unwrap();
    let reader = {
        let mut r = stalled.try_clone().unwrap();
        let expect = data.clone();
        std::thread::spawn(move || {
            let mut got = vec![0u8; expect.len()];
            r.read_exact(&mut got).map(|()| got == expect)
        })
    };
    stalled.write_all(&data[sent..]).unwrap();
    stalled.shutdown(Shutdown::Write).unwrap();
    assert!(reader.join().unwrap().expect("read back"), "echo differs");

    let c = server.stop().counters;
    assert!(c.peak_pending_bytes <= CAP, "{c:?}");
    assert_eq!(c.bytes_out, data.len() as u64 + 20 * 100_000);
    assert_eq!(c.errors + c.resets, 0, "{c:?}");
}
per_backend!(stalled_client_is_capped_and_others_served);

/// The server's memory does not grow with what a non-reading client pushes:
/// its RSS after 16 MiB offered stays within a few caps of its RSS before.
fn stalled_client_cannot_grow_server_memory(backend: Backend) {
    let server = Server::start(backend, &["--max-pending", "64KiB"]);
    let before = server.snapshot().rss_kib;
    let mut clients: Vec<_> = (0..10)
        .map(|_| common::connect(server.addr, Some(16 * 1024)).unwrap())
        .collect();
    let offered = payload(3, 16 << 20);
    for c in clients.iter_mut() {
        common::push_unread(c, &offered, Duration::from_millis(200));
    }
    let snap = server.wait_until("all ten connections to pause", |s| {
        s.counters.read_pauses >= 10
    });
    assert!(snap.counters.peak_pending_bytes <= CAP);
    // 10 connections × 64 KiB cap = 640 KiB of pending output at most; allow
    // for the allocator's rounding and stack/heap noise.
    let grown = snap.rss_kib.saturating_sub(before);
    assert!(grown < 4 * 1024, "server RSS grew by {grown} KiB");
}
per_backend!(stalled_client_cannot_grow_server_memory);

/// Clients that stop reading must not starve the others of receive buffers:
/// with a large read size (io_uring: few, large provided buffers, each
/// possibly pinned by a send to a stalled client), twenty stalled clients
/// leave the server serving everyone else in full.
fn many_stalled_clients_do_not_starve_others(backend: Backend) {
    let server = Server::start(backend, &["--read-buf", "1MiB", "--max-pending", "64KiB"]);
    let offered = payload(5, 8 << 20);
    let stalled: Vec<_> = (0..20)
        .map(|_| {
            let mut c = common::connect(server.addr, Some(16 * 1024)).unwrap();
            common::push_unread(&mut c, &offered, Duration::from_millis(100));
            c
        })
        .collect();
    let plans = (0..5).map(|i| Plan::new(payload(i, 300_000))).collect();
    check_echo(server.addr, plans).unwrap();
    drop(stalled);
    let c = server.stop().counters;
    assert!(c.peak_pending_bytes <= CAP, "{c:?}");
}
per_backend!(many_stalled_clients_do_not_starve_others);
