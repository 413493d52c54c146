//! How connections end: half-close, reset mid-transfer, writes to a reset peer.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use muxbench::backend::Backend;
use muxbench::sys;

mod common;
use common::{check_echo, payload, round_trip, Plan, Server, DEADLINE};

/// Write, `shutdown(SHUT_WR)`, read everything back, then EOF; including the
/// empty stream and data that arrives together with the FIN in one segment.
fn half_close_gets_all_bytes_then_eof(backend: Backend) {
    for read_buf in ["16384", "4"] {
        let server = Server::start(backend, &["--read-buf", read_buf]);
        for len in [0usize, 1, 100, 70_000] {
            let data = payload(len as u64, len);
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.set_read_timeout(Some(DEADLINE)).unwrap();
            // One write then shutdown: small payloads travel with the FIN, so an
            // edge-triggered reader with a 4-byte buffer must read on to EOF.
            s.write_all(&data).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            let mut back = Vec::new();
            s.read_to_end(&mut back)
                .unwrap_or_else(|e| panic!("len {len}, read-buf {read_buf}: {e}"));
            assert_eq!(back.len(), len, "read-buf {read_buf}");
            assert!(back == data, "len {len}: echo differs");
        }
        let c = server.stop().counters;
        assert_eq!(c.closes, 4);
        assert_eq!(c.resets + c.errors, 0);
    }
}
per_backend!(half_close_gets_all_bytes_then_eof);

/// RST (SO_LINGER 0) in the middle of a transfer closes only that connection.
fn reset_mid_transfer_closes_only_that_connection(backend: Backend) {
    let server = Server::start(backend, &[]);
    let mut keeper = TcpStream::connect(server.addr).unwrap();
    round_trip(&mut keeper, b"before").unwrap();

    for i in 0..10 {
        let mut victim = common::connect(server.addr, Some(8192)).unwrap();
        // Push a lot without reading, so the server holds pending output and is
        // mid-write when the reset arrives.
        common::push_unread(
            &mut victim,
            &payload(i, 2 << 20),
            Duration::from_millis(100),
        );
        let mut some = [0u8; 1000];
        let _ = victim.read(&mut some);
        sys::set_linger_zero(&victim).unwrap();
        drop(victim); // RST
    }
    let snap = server.wait_until("the reset connections to close", |s| {
        s.counters.closes >= 10
    });
    assert_eq!(snap.counters.conns, 1, "only the keeper remains: {snap:?}");
    // The server survived writing to reset peers (no SIGPIPE death) and still
    // serves the connection that was open all along, and new ones.
    round_trip(&mut keeper, b"after").unwrap();
    check_echo(
        server.addr,
        (0..5).map(|i| Plan::new(payload(i, 5000))).collect(),
    )
    .unwrap();
    let c = server.stop().counters;
    assert!(c.resets >= 1, "resets were not counted: {c:?}");
}
per_backend!(reset_mid_transfer_closes_only_that_connection);

/// A client that resets while the server has pending output makes the
/// server's next write fail with EPIPE/ECONNRESET: that must close the
/// connection, never raise SIGPIPE (which would kill the process).
fn write_to_reset_peer_does_not_kill_server(backend: Backend) {
    let mut server = Server::start(backend, &["--max-pending", "1m"]);
    for _ in 0..20 {
        let mut s = common::connect(server.addr, Some(4096)).unwrap();
        common::push_unread(&mut s, &payload(1, 512 * 1024), Duration::from_millis(100));
        sys::set_linger_zero(&s).unwrap();
    }
    server.wait_until("all to close", |s| s.counters.conns == 0);
    assert!(server.is_alive());
    let mut s = TcpStream::connect(server.addr).unwrap();
    round_trip(&mut s, b"still here").unwrap();
    server.stop();
}
per_backend!(write_to_reset_peer_does_not_kill_server);
