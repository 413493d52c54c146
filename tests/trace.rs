//! `--trace`: the textbook's level-versus-edge experiment, counted from the
//! server's own trace. One client sends a 20-byte message in one write
//! (`TCP_NODELAY`, so it arrives as one segment) to a server reading 4 bytes
//! at a time and waits for the whole echo before the trace is read:
//!
//! - level trigger (select, poll, epoll-lt, uring-poll): one wait reporting
//!   the connection per 4-byte read while data remains — 5;
//! - edge trigger (epoll-et): one wait, drained by 5 reads and an `EAGAIN`;
//! - uring (no readiness waits): `--trace=waits` shows each `io_uring_enter`
//!   and the completions it reaped — 5 receives of 4 B.
//!
//! Lines reach stderr through the tracer's writer thread, so each count is
//! polled until it is reached, then checked again after a pause (no extra
//! line may follow).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{connect, Server, DEADLINE};
use muxbench::backend::Backend;
use muxbench::mux::Trigger;

const MESSAGE: &[u8; 20] = b"level versus edge!!\n";
/// How long a count must stay put once reached.
const SETTLE: Duration = Duration::from_millis(300);

/// Send the message in one write and read the whole echo back.
fn exchange(server: &Server) -> TcpStream {
    let mut stream = connect(server.addr, None).expect("connect");
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.write_all(MESSAGE).unwrap();
    let mut back = [0u8; 20];
    stream.read_exact(&mut back).expect("the echo");
    assert_eq!(&back, MESSAGE);
    stream
}

/// Poll the server's stderr until `count` reaches `want` (or the deadline),
/// then let it settle and return the final stderr.
fn settled(server: &Server, want: usize, count: impl Fn(&str) -> usize) -> String {
    let end = Instant::now() + DEADLINE;
    while count(&server.stderr()) < want && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(SETTLE);
    server.stderr()
}

/// The entries of a `wait #N -> K events [..]` line that are connections
/// (not the listener or the control pipe).
fn connection_entries(line: &str) -> Vec<&str> {
    let Some(list) = line
        .split_once('[')
        .and_then(|(_, rest)| rest.rsplit_once(']'))
        .map(|(list, _)| list)
    else {
        return Vec::new();
    };
    list.split(", ")
        .filter(|e| !e.is_empty() && !e.ends_with(')'))
        .collect()
}

/// Wait lines that report the connection.
fn connection_waits(stderr: &str) -> usize {
    stderr
        .lines()
        .filter(|l| l.starts_with("wait #") && !connection_entries(l).is_empty())
        .count()
}

/// `recv fd N: 4 B` completions listed by `enter` lines.
fn recv_completions(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.starts_with("enter #"))
        .flat_map(connection_entries)
        .filter(|e| e.starts_with("recv "))
        .map(str::to_string)
        .collect()
}

/// The bytes a `recv slot 0: 20 B` entry reports (0 for EOF or an error).
fn bytes_of(entry: &str) -> usize {
    entry
        .rsplit_once(": ")
        .and_then(|(_, n)| n.strip_suffix(" B"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The uring server receives bundles (`MUXBENCH_URING_FEATURES`).
fn bundles() -> bool {
    muxbench::server::uring_features::from_env()
        .unwrap()
        .recv_bundle
}

fn waits_per_message(backend: Backend) {
    let server = Server::start(backend, &["--read-buf", "4", "--trace=waits"]);
    let _client = exchange(&server);
    if backend == Backend::Uring {
        let bytes = |e: &str| recv_completions(e).iter().map(|r| bytes_of(r)).sum();
        let err = settled(&server, 20, bytes);
        let recvs = recv_completions(&err);
        if bundles() {
            // One completion may carry several 4-byte buffers.
            assert_eq!(bytes(&err), 20, "20 bytes received:\n{err}");
            assert!(recvs.len() < 5, "bundled:\n{err}");
        } else {
            assert_eq!(recvs.len(), 5, "5 receives of 4 B expected:\n{err}");
            assert!(
                recvs.iter().all(|r| r.ends_with(": 4 B")),
                "every receive 4 B:\n{err}"
            );
        }
        assert!(
            err.lines().all(|l| l.starts_with("enter #")),
            "--trace=waits shows only the enter lines:\n{err}"
        );
        return;
    }
    let want = match backend.trigger() {
        Trigger::Level => 5,
        Trigger::Edge => 1,
    };
    let err = settled(&server, want, connection_waits);
    assert_eq!(
        connection_waits(&err),
        want,
        "{backend}: waits reporting the connection for 20 bytes read 4 at a time:\n{err}"
    );
    assert!(
        err.lines().all(|l| l.starts_with("wait #")),
        "--trace=waits shows only the wait lines:\n{err}"
    );
    if matches!(backend, Backend::Select | Backend::Poll) {
        assert!(
            err.lines().all(|l| l.contains("] scanned ")),
            "{backend} says how many slots each wait scanned:\n{err}"
        );
    }
}
per_loop_backend!(waits_per_message);

/// `--trace=all`: the reads behind those waits, the accept and the close, all
/// naming the connection's descriptor (or, for uring with fixed files, its
/// slot of the fixed file table).
fn every_event(backend: Backend) {
    let server = Server::start(backend, &["--read-buf", "4", "--trace"]);
    let client = exchange(&server);
    // `fd 7` or `slot 0`.
    let accepted = |e: &str| {
        e.lines().find_map(|l| {
            l.strip_prefix("accept ")
                .or_else(|| l.strip_prefix("cqe accept "))
                .filter(|n| n.starts_with("fd ") || n.starts_with("slot "))
                .map(str::to_string)
        })
    };
    let reads_of_4 = |e: &str| {
        let fd = accepted(e).unwrap_or_default();
        let read = format!("read {fd}: 4 B");
        let recv = format!("cqe recv {fd}: 4 B");
        e.lines().filter(|&l| l == read || l == recv).count()
    };
    // With receive bundles one completion carries several 4-byte buffers.
    let bytes_read = |e: &str| {
        let fd = accepted(e).unwrap_or_default();
        let recv = format!("cqe recv {fd}: ");
        e.lines()
            .filter(|l| l.starts_with(&recv))
            .map(bytes_of)
            .sum()
    };
    let bundled = backend == Backend::Uring && bundles();
    let err = if bundled {
        settled(&server, 20, bytes_read)
    } else {
        settled(&server, 5, reads_of_4)
    };
    let fd = accepted(&err).unwrap_or_else(|| panic!("no accept line:\n{err}"));
    if bundled {
        assert_eq!(bytes_read(&err), 20, "20 bytes received:\n{err}");
    } else {
        assert_eq!(reads_of_4(&err), 5, "5 reads of 4 B:\n{err}");
    }
    if backend != Backend::Uring {
        let eagain = err
            .lines()
            .filter(|&l| l == format!("read {fd}: EAGAIN"))
            .count();
        let want = usize::from(backend.trigger() == Trigger::Edge);
        assert_eq!(
            eagain, want,
            "{backend}: the drain's EAGAIN read (edge only):\n{err}"
        );
    }
    drop(client);
    let closed = format!("close {fd} (EOF)");
    let err = settled(&server, 1, |e| e.lines().filter(|&l| l == closed).count());
    assert!(err.lines().any(|l| l == closed), "no {closed:?}:\n{err}");
}
per_loop_backend!(every_event);

/// Without `--trace` the server writes nothing on stderr.
fn off_prints_nothing(backend: Backend) {
    let server = Server::start(backend, &["--read-buf", "4"]);
    drop(exchange(&server));
    server.wait_until("the connection closed", |s| s.counters.closes == 1);
    let err = server.stderr();
    let snap = server.stop();
    assert_eq!(snap.counters.trace_lines_dropped, 0);
    assert_eq!(err, "", "stderr without --trace");
}
per_loop_backend!(off_prints_nothing);

/// Kills and reaps the child on drop.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A stderr nobody reads (a full pipe) must not stall the server: it keeps
/// echoing, drops trace lines, and counts them in its final snapshot.
#[test]
fn a_stalled_stderr_drops_lines_instead_of_blocking() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Reaped(
        Command::new(env!("CARGO_BIN_EXE_muxserver"))
            .args(["--backend", "epoll-lt", "--addr", "127.0.0.1:0"])
            .args(["--read-buf", "4", "--trace=all"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()) // never read: fills after 64 KiB
            .spawn()
            .expect("start muxserver"),
    );
    let mut stdout = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .strip_prefix("listening on ")
        .and_then(|r| r.split_once(" backend="))
        .map(|(a, _)| a.parse().unwrap())
        .unwrap_or_else(|| panic!("readiness line: {line:?}"));
    // 256 KiB read 4 bytes at a time: ~65,000 reads and writes, ~3 MB of
    // trace against a 64 KiB pipe and a ~1 MiB queue.
    let plan = common::Plan::new(common::payload(7, 256 * 1024));
    common::check_echo(addr, vec![plan]).expect("echo while stderr is stalled");
    muxbench::sys::kill(child.0.id(), libc::SIGTERM).unwrap();
    let mut last = String::new();
    for l in stdout.lines() {
        last = l.unwrap();
    }
    let snap: muxbench::server::Snapshot = serde_json::from_str(&last).expect("final snapshot");
    assert_eq!(snap.kind, "final");
    assert!(
        snap.counters.trace_lines_dropped > 0,
        "no line dropped: {:?}",
        snap.counters
    );
    let status = child.0.wait().unwrap();
    assert!(status.success(), "exit {status}");
}
