//! Limits: running out of descriptors, select's FD_SETSIZE ceiling, signals
//! arriving in the middle of waits, and a port that is already taken.

use std::io::Read;
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use muxbench::backend::Backend;
use muxbench::sys;

mod common;
use common::{check_echo, payload, round_trip, Plan, Server, DEADLINE};

/// EMFILE on accept: no busy loop, existing connections keep being served,
/// and accepting resumes when descriptors free up.
fn descriptor_exhaustion_pauses_accepting(backend: Backend) {
    let server = Server::start(backend, &["--nofile-limit", "32"]);
    let mut clients: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    let snap = server.wait_until("accept to hit EMFILE", |s| s.counters.accept_pauses >= 1);
    let served = snap.counters.conns as usize;
    assert!(served > 10 && served < 40, "{served} connections accepted");

    // Out of descriptors with clients waiting in the backlog: the server must
    // sleep, not spin. Measure a 500 ms window.
    let before = server.snapshot();
    std::thread::sleep(Duration::from_millis(500));
    let after = server.snapshot();
    let waits = after.mux.wait_calls - before.mux.wait_calls;
    let cpu_us = (after.rusage.user_us + after.rusage.sys_us)
        - (before.rusage.user_us + before.rusage.sys_us);
    assert!(
        waits < 40,
        "{waits} wait calls in 500 ms while out of descriptors"
    );
    assert!(
        cpu_us < 100_000,
        "{cpu_us} µs CPU in 500 ms while out of descriptors"
    );

    // Accepted connections are still served.
    round_trip(&mut clients[0], b"served while exhausted").unwrap();

    // Free descriptors: close 20 accepted connections, which leaves 20 clients,
    // fewer than the server accepted: every waiting client is then accepted
    // and served.
    for c in clients.drain(1..21) {
        drop(c);
    }
    for (i, c) in clients.iter_mut().enumerate() {
        round_trip(c, format!("client {i}").as_bytes()).unwrap();
    }
    let c = server.stop().counters;
    assert_eq!(c.accepts, 40, "{c:?}");
}
per_backend!(descriptor_exhaustion_pauses_accepting);

/// ~1,100 connections: select refuses those whose fd is >= FD_SETSIZE (closes
/// them at once, counts them, warns once) and serves the rest; the other
/// backends serve all of them.
fn beyond_fd_setsize(backend: Backend) {
    common::raise_fd_limit();
    let (soft, _) = sys::nofile_limit().unwrap();
    if soft < 2300 {
        eprintln!("skipped: descriptor limit {soft} too low for 1,100 connections");
        return;
    }
    let server = Server::start(backend, &[]);
    let mut clients: Vec<TcpStream> = (0..1100)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    let snap = server.wait_until("all connections handled", |s| s.counters.accepts == 1100);
    let (served, refused) = (snap.counters.conns, snap.counters.refused);
    assert_eq!(served + refused, 1100, "{snap:?}");

    let mut ok = 0;
    for (i, c) in clients.iter_mut().enumerate() {
        c.set_read_timeout(Some(DEADLINE)).unwrap();
        match round_trip(c, format!("hello {i}").as_bytes()) {
            Ok(()) => ok += 1,
            Err(_) => {
                // A refused connection was closed by the server: EOF or reset.
                let mut b = [0u8; 1];
                assert!(matches!(c.read(&mut b), Ok(0) | Err(_)), "client {i}");
            }
        }
    }
    assert_eq!(ok, served, "every accepted connection is served");

    let warnings = server.stderr().matches("FD_SETSIZE").count();
    if backend == Backend::Select {
        // fds 0-2 and the listener are taken before any connection.
        assert!(served <= sys::FD_SETSIZE as u64 - 4, "{served}");
        assert!(refused > 1100 - sys::FD_SETSIZE as u64, "{refused}");
        assert_eq!(warnings, 1, "one warning line: {}", server.stderr());
    } else {
        assert_eq!(refused, 0);
        assert_eq!(warnings, 0);
    }
    drop(clients);
    server.stop();
}
per_backend!(beyond_fd_setsize);

/// A storm of signals (each one interrupts a wait with EINTR) during traffic:
/// the loop neither ends nor loses data.
fn signals_interrupt_waits_harmlessly(backend: Backend) {
    let mut server = Server::start(backend, &[]);
    let pid = server.pid();
    let storm = std::thread::spawn(move || {
        for _ in 0..200 {
            sys::kill(pid, libc::SIGUSR1).unwrap();
            std::thread::sleep(Duration::from_micros(500));
        }
    });
    let plans = (0..50).map(|i| Plan::new(payload(i, 200_000))).collect();
    check_echo(server.addr, plans).unwrap();
    storm.join().unwrap();
    assert!(server.is_alive());
    let c = server.stop().counters;
    assert_eq!(c.bytes_out, 50 * 200_000);
}
per_backend!(signals_interrupt_waits_harmlessly);

#[test]
fn bind_failure_is_a_one_line_error_and_exit_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_muxserver"))
        .args(["--backend", "poll", "--addr", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot listen on") && err.contains(&addr),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

#[test]
fn unknown_backend_lists_valid_ones() {
    let out = Command::new(env!("CARGO_BIN_EXE_muxserver"))
        .args(["--backend", "kqueue"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for b in Backend::ALL {
        assert!(err.contains(b.name()), "{err}");
    }
}

/// `--max-conns 5`: the sixth to eighth connections are accepted and closed
/// at once (counted as refused); the five are served; when one leaves, the
/// next newcomer is served.
fn max_conns_refuses_beyond(backend: Backend) {
    let server = Server::start(backend, &["--max-conns", "5"]);
    let mut served: Vec<TcpStream> = (0..5)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    server.wait_until("five accepted", |s| s.counters.conns == 5);
    let mut extra: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    let snap = server.wait_until("all eight handled", |s| s.counters.accepts == 8);
    assert_eq!(
        (snap.counters.conns, snap.counters.refused),
        (5, 3),
        "{snap:?}"
    );
    for (i, c) in served.iter_mut().enumerate() {
        round_trip(c, format!("kept {i}").as_bytes()).unwrap();
    }
    for c in &mut extra {
        c.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut b = [0u8; 1];
        assert!(
            matches!(c.read(&mut b), Ok(0) | Err(_)),
            "refused, so closed"
        );
    }
    drop(served.pop());
    server.wait_until("one left", |s| s.counters.conns == 4);
    let mut late = TcpStream::connect(server.addr).unwrap();
    round_trip(&mut late, b"room again").unwrap();
    let c = server.stop().counters;
    assert_eq!(c.refused, 3, "{c:?}");
}
per_backend!(max_conns_refuses_beyond);
