//! The Multiplexer contract, checked for every backend on Unix socket pairs.

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use muxbench::backend::Backend;
use muxbench::backend::Model;
use muxbench::mux::{Event, Events, Interest, Multiplexer, Token, Trigger};
use muxbench::sys;

mod common;

/// The backend's multiplexer. The completion backend (`uring`) has none: its
/// test arm checks that it says so, and the server suites cover it.
fn make(backend: Backend) -> Option<Box<dyn Multiplexer>> {
    let mux = muxbench::mux::make(backend).expect("creating the multiplexer");
    assert_eq!(
        mux.is_some(),
        backend.model() == Model::Readiness,
        "{backend}"
    );
    mux
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

fn wait(mux: &mut dyn Multiplexer, ms: u64) -> Vec<Event> {
    let mut events = Events::with_capacity(256);
    mux.wait(&mut events, Some(Duration::from_millis(ms)))
        .unwrap();
    events.iter().copied().collect()
}

fn readable_after_write(backend: Backend) {
    let Some(mut mux) = make(backend) else {
        return;
    };
    let (a, mut b) = pair();
    mux.register(a.as_raw_fd(), Token(7), Interest::READABLE)
        .unwrap();
    assert!(wait(&mut *mux, 0).is_empty(), "nothing to read yet");
    b.write_all(b"x").unwrap();
    let evs = wait(&mut *mux, 1000);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].token, Token(7));
    assert!(evs[0].readable && !evs[0].writable);
    assert_eq!(mux.stats().events, 1);
    assert_eq!(mux.stats().wait_calls, 2);
}
per_backend!(readable_after_write);

fn writable_when_buffer_has_room(backend: Backend) {
    let Some(mut mux) = make(backend) else {
        return;
    };
    let (a, _b) = pair();
    mux.register(a.as_raw_fd(), Token(3), Interest::WRITABLE)
        .unwrap();
    let evs = wait(&mut *mux, 1000);
    assert_eq!(evs.len(), 1);
    assert!(evs[0].writable && !evs[0].readable, "{evs:?}");
}
per_backend!(writable_when_buffer_has_room);

fn reregister_changes_interest_and_token(backend: Backend) {
    let Some(mut mux) = make(backend) else {
        return;
    };
    let (a, _b) = pair();
    let fd = a.as_raw_fd();
    mux.register(fd, Token(1), Interest::READABLE).unwrap();
    assert!(wait(&mut *mux, 0).is_empty());
    mux.reregister(fd, Token(2), Interest::WRITABLE).unwrap();
    let evs = wait(&mut *mux, 1000);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].token, Token(2));
    assert!(evs[0].writable);
    mux.reregister(fd, Token(2), Interest::READABLE).unwrap();
    assert!(
        wait(&mut *mux, 20).is_empty(),
        "writable interest was dropped"
    );
}
per_backend!(reregister_changes_interest_and_token);

fn deregistered_fd_reports_nothing(backend: Backend) {
    let Some(mut mux) = make(backend) else {
        return;
    };
    let (a, mut b) = pair();
    mux.register(a.as_raw_fd(), Token(1), Interest::BOTH)
        .unwrap();
    b.write_all(b"data").unwrap();
    mux.deregister(a.as_raw_fd()).unwrap();
    assert!(wait(&mut *mux, 20).is_empty());
}
per_backend!(deregistered_fd_reports_nothing);

fn registration_errors(backend: Backend) {
    let Some(mut mux) = make(backend) else {
        return;
    };
    let (a, b) = pair();
    mux.register(a.as_raw_fd(), Token(1), Interest::READABLE)
        .unwrap();
    let dup = mux
        .register(a.as_raw_fd(), Token(1), Interest::READABLE)
        .unwrap_err();
    assert_eq!(dup.kind(), ErrorKind::AlreadyExists);
    let e = mux
        .reregister(b.as_raw_fd(), Token(2), Interest::READABLE)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = mux.deregister(b.as_raw_fd()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    mux.deregister(a.as_raw_fd()).unwrap();
    let e = mux.deregister(a.as_raw_fd()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}
per_backend!(registration_errors);

/// Level trigger repeats while data remains; edge trigger reports once per arrival.
fn level_repeats_edge_reports_once(backend: Backend) {
    let Some(mut mux) = make(backend) else {
        return;
    };
    let (mut a, mut b) = pair();
    mux.register(a.as_raw_fd(), Token(5), Interest::READABLE)
        .unwrap();
    b.write_all(b"0123456789").unwrap();
    assert_eq!(wait(&mut *mux, 1000).len(), 1);
    let mut four = [0u8; 4];
    a.read_exact(&mut four).unwrap(); // 6 bytes remain
    let again = wait(&mut *mux, 50);
    match mux.trigger() {
        Trigger::Level => assert_eq!(again.len(), 1, "level trigger must report remaining data"),
        Trigger::Edge => assert!(again.is_empty(), "edge trigger reported twice: {again:?}"),
    }
    b.write_all(b"more").unwrap();
    assert_eq!(
        wait(&mut *mux, 1000).len(),
        1,
        "a new arrival is a new edge"
    );
}
per_backend!(level_repeats_edge_reports_once);

/// More descriptors than a single 64-bit word of an fd_set, all reported.
fn many_fds_all_reported(backend: Backend) {
    let Some(mut mux) = make(backend) else {
        return;
    };
    let pairs: Vec<_> = (0..150).map(|_| pair()).collect();
    for (i, (a, _)) in pairs.iter().enumerate() {
        mux.register(a.as_raw_fd(), Token(i), Interest::READABLE)
            .unwrap();
    }
    for (_, b) in pairs.iter().step_by(3) {
        (&*b).write_all(b"!").unwrap();
    }
    let expect: Vec<usize> = (0..150).step_by(3).collect();
    let mut seen = std::collections::BTreeSet::new();
    let end = Instant::now() + common::DEADLINE;
    while seen.len() < expect.len() && Instant::now() < end {
        for ev in wait(&mut *mux, 100) {
            assert!(ev.readable);
            assert_eq!(ev.token.0 % 3, 0, "a silent fd was reported: {ev:?}");
            seen.insert(ev.token.0);
        }
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), expect);
}
per_backend!(many_fds_all_reported);

fn timeout_returns_zero_events(backend: Backend) {
    let Some(mut mux) = make(backend) else {
        return;
    };
    let (a, _b) = pair();
    mux.register(a.as_raw_fd(), Token(1), Interest::READABLE)
        .unwrap();
    let t = Instant::now();
    assert!(wait(&mut *mux, 30).is_empty());
    assert!(
        t.elapsed() >= Duration::from_millis(29),
        "{:?}",
        t.elapsed()
    );
    // A sub-millisecond timeout is rounded up (epoll and poll take whole ms),
    // not down to a busy-polling 0.
    let mut events = Events::with_capacity(8);
    let t = Instant::now();
    assert_eq!(
        mux.wait(&mut events, Some(Duration::from_micros(200)))
            .unwrap(),
        0
    );
    assert!(
        t.elapsed() >= Duration::from_micros(190),
        "{:?}",
        t.elapsed()
    );
}
per_backend!(timeout_returns_zero_events);

/// The peer's shutdown(SHUT_WR) is reported: as `read_closed` where the backend
/// can tell (epoll, poll), and as readable everywhere (read returns 0).
fn peer_shutdown_is_reported(backend: Backend) {
    let Some(mut mux) = make(backend) else {
        return;
    };
    let (a, b) = pair();
    mux.register(a.as_raw_fd(), Token(1), Interest::READABLE)
        .unwrap();
    b.shutdown(Shutdown::Write).unwrap();
    let evs = wait(&mut *mux, 1000);
    assert_eq!(evs.len(), 1);
    assert!(evs[0].readable || evs[0].read_closed);
    if backend != Backend::Select {
        assert!(evs[0].read_closed, "{evs:?}");
    }
}
per_backend!(peer_shutdown_is_reported);

/// A half-closed peer is not news to a registration that asked only for
/// writable: with the send buffer full, nothing is reported (io_uring's poll
/// adds POLLRDHUP to every request; reporting it would make a level-triggered
/// loop spin), and once the peer reads, writable is.
fn half_closed_peer_does_not_wake_a_writer(backend: Backend) {
    let Some(mut mux) = make(backend) else {
        return;
    };
    let (mut a, mut b) = pair();
    let chunk = [7u8; 4096];
    while a.write(&chunk).is_ok() {}
    mux.register(a.as_raw_fd(), Token(3), Interest::WRITABLE)
        .unwrap();
    b.shutdown(Shutdown::Write).unwrap();
    for _ in 0..3 {
        let evs = wait(&mut *mux, 50);
        assert!(evs.is_empty(), "nothing to report: {evs:?}");
    }
    let mut sink = vec![0u8; 1 << 16];
    while b.read(&mut sink).is_ok_and(|n| n > 0) {}
    let evs = wait(&mut *mux, 1000);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert!(evs[0].writable && evs[0].token == Token(3), "{evs:?}");
}
per_backend!(half_closed_peer_does_not_wake_a_writer);

/// select refuses descriptors >= FD_SETSIZE with an error instead of writing
/// past the fd_set; the others watch them like any descriptor.
fn high_fd_registration(backend: Backend) {
    common::raise_fd_limit();
    let (soft, _) = sys::nofile_limit().unwrap();
    if soft <= 1100 {
        eprintln!("skipped: descriptor limit {soft} is too low for fd 1100");
        return;
    }
    let Some(mut mux) = make(backend) else {
        return;
    };
    let (a, mut b) = pair();
    let high = sys::dup_at_least(&a, 1100).unwrap();
    let res = mux.register(high.as_raw_fd(), Token(1), Interest::READABLE);
    if backend == Backend::Select {
        let e = res.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("FD_SETSIZE"), "{e}");
        // Still usable for descriptors in range.
        mux.register(a.as_raw_fd(), Token(2), Interest::READABLE)
            .unwrap();
        b.write_all(b"x").unwrap();
        let evs = wait(&mut *mux, 1000);
        assert_eq!(evs.iter().map(|e| e.token).collect::<Vec<_>>(), [Token(2)]);
    } else {
        res.unwrap();
        b.write_all(b"x").unwrap();
        let evs = wait(&mut *mux, 1000);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].token, Token(1));
    }
}
per_backend!(high_fd_registration);

#[test]
fn backend_names_round_trip_and_unknown_lists_valid() {
    for b in Backend::ALL {
        assert_eq!(b.name().parse::<Backend>().unwrap(), b);
        if let Some(mux) = make(b) {
            assert_eq!(mux.name(), b.name());
            assert_eq!(mux.trigger(), b.trigger());
        }
    }
    let err = "kqueue".parse::<Backend>().unwrap_err().to_string();
    for b in Backend::ALL {
        assert!(err.contains(b.name()), "{err}");
    }
}

#[test]
fn select_scans_up_to_maxfd_and_epoll_only_ready() {
    // Claim 1, counted: with 100 watched and 1 ready, select examines every
    // slot up to maxfd, epoll only the ready one.
    let pairs: Vec<_> = (0..100).map(|_| pair()).collect();
    let mut sel = make(Backend::Select).unwrap();
    let mut ep = make(Backend::EpollLt).unwrap();
    for (i, (a, _)) in pairs.iter().enumerate() {
        sel.register(a.as_raw_fd(), Token(i), Interest::READABLE)
            .unwrap();
        ep.register(a.as_raw_fd(), Token(i), Interest::READABLE)
            .unwrap();
    }
    (&pairs[50].1).write_all(b"!").unwrap();
    assert_eq!(wait(&mut *sel, 1000).len(), 1);
    assert_eq!(wait(&mut *ep, 1000).len(), 1);
    let max_fd = pairs.iter().map(|(a, _)| a.as_raw_fd()).max().unwrap() as u64;
    assert_eq!(sel.stats().slots_scanned, max_fd + 1);
    assert_eq!(ep.stats().slots_scanned, 1);
}
