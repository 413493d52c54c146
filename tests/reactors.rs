//! `--reactors N`: several event loops in one server. Connections spread
//! over the reactors and every byte comes back; the thundering herd of a
//! plainly shared listener is counted, and the two remedies
//! (`SO_REUSEPORT`, `EPOLLEXCLUSIVE`) do not have it.

use std::net::TcpStream;
use std::time::Duration;

use muxbench::backend::Backend;
use muxbench::server::Snapshot;

mod common;
use common::{check_echo, payload, Plan, Server};

const REACTORS: usize = 4;

/// The herd is counted in wake-ups: a test serving 200 clients beside it
/// would wake the reactors too. These two take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn start(backend: Backend, accept: &str) -> Server {
    Server::start(
        backend,
        &["--reactors", &REACTORS.to_string(), "--accept", accept],
    )
}

/// Every accept mode serves 200 verified clients; with `reuseport` and
/// `shared` the connections land on more than one reactor, and the
/// per-reactor counts add up to the totals.
#[test]
fn connections_spread_and_every_byte_returns() {
    let _turn = one_at_a_time();
    common::raise_fd_limit();
    for (backend, accept) in [
        (Backend::EpollEt, "reuseport"),
        (Backend::EpollLt, "exclusive"),
        (Backend::Poll, "shared"),
        (Backend::Select, "reuseport"),
    ] {
        let server = start(backend, accept);
        let plans = (0..200)
            .map(|i| Plan::new(payload(i, 1 + 1_999 * (i as usize % 50))))
            .collect();
        check_echo(server.addr, plans).unwrap_or_else(|e| panic!("{backend} {accept}: {e}"));
        let snap = server.stop();
        let expect: u64 = (0..200u64).map(|i| 1 + 1_999 * (i % 50)).sum();
        assert_eq!(snap.counters.bytes_out, expect, "{backend} {accept}");
        assert_eq!(snap.reactors.len(), REACTORS, "{backend} {accept}");
        let per: Vec<u64> = snap.reactors.iter().map(|c| c.accepts).collect();
        assert_eq!(per.iter().sum::<u64>(), 200, "{backend} {accept}: {per:?}");
        let bytes: u64 = snap.reactors.iter().map(|c| c.bytes_out).sum();
        assert_eq!(bytes, expect);
        if accept != "exclusive" {
            // EPOLLEXCLUSIVE may hand every connection to one reactor (it
            // wakes the first waiter); the kernel's hash and the herd spread.
            let used = per.iter().filter(|&&n| n > 0).count();
            assert!(used >= 2, "{backend} {accept}: {per:?}");
        }
    }
}

fn wakeups(s: &Snapshot) -> u64 {
    s.rusage.voluntary_ctx_switches
}

/// Voluntary context switches of the server per connection accepted, with
/// connections arriving one at a time into idle reactors.
fn switches_per_accept(backend: Backend, accept: &str) -> f64 {
    let server = start(backend, accept);
    std::thread::sleep(Duration::from_millis(100));
    let before = server.snapshot();
    let clients: Vec<TcpStream> = (0..100)
        .map(|_| {
            let c = TcpStream::connect(server.addr).unwrap();
            // Let every woken reactor go back to sleep before the next one.
            std::thread::sleep(Duration::from_millis(3));
            c
        })
        .collect();
    let after = server.wait_until("all accepted", |s| s.counters.accepts >= 100);
    drop(clients);
    server.stop();
    // The snapshot itself wakes the main thread once.
    (wakeups(&after) - wakeups(&before)).saturating_sub(1) as f64 / 100.0
}

/// One arrival wakes every reactor watching a shared listener (all but one
/// find nothing: epoll re-checks readiness and puts them back to sleep
/// inside epoll_wait, so they show as context switches, not as events);
/// `reuseport` and `exclusive` wake one.
#[test]
fn shared_listener_wakes_the_herd() {
    let _turn = one_at_a_time();
    let shared = switches_per_accept(Backend::EpollLt, "shared");
    let exclusive = switches_per_accept(Backend::EpollLt, "exclusive");
    let reuseport = switches_per_accept(Backend::EpollLt, "reuseport");
    eprintln!("wake-ups per accept with {REACTORS} reactors: shared {shared:.2}, exclusive {exclusive:.2}, reuseport {reuseport:.2}");
    assert!(shared >= 2.5, "no herd: {shared:.2} wake-ups per accept");
    assert!(
        exclusive <= 1.6,
        "exclusive: {exclusive:.2} wake-ups per accept"
    );
    assert!(
        reuseport <= 1.6,
        "reuseport: {reuseport:.2} wake-ups per accept"
    );
}

/// What reactors cannot do is said at start, as one error line.
#[test]
fn unsupported_combinations_are_clear_errors() {
    for args in [
        &[
            "--backend",
            "poll",
            "--reactors",
            "2",
            "--accept",
            "exclusive",
        ][..],
        &["--backend", "uring", "--reactors", "2"][..],
        &["--backend", "threads", "--reactors", "2"][..],
        &[
            "--backend",
            "epoll-et",
            "--reactors",
            "2",
            "--protocol",
            "chat",
        ][..],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_muxserver"))
            .args(args)
            .args(["--addr", "127.0.0.1:0"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("error:"), "{err}");
    }
}
