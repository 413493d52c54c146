//! The chat protocol on every backend: complete, ordered fan-out; slow
//! consumers dropped without hurting the room; over-long lines rejected;
//! a client leaving mid-line corrupts nobody.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use muxbench::backend::Backend;
use muxbench::mux::{Epoll, Events, Interest, Multiplexer, Token, Trigger};

mod common;
use common::{Server, DEADLINE};

fn chat_server(backend: Backend, extra: &[&str]) -> Server {
    let mut args = vec!["--protocol", "chat"];
    args.extend_from_slice(extra);
    Server::start(backend, &args)
}

/// Connect `n` more clients and wait until the server holds `n + already`.
fn connect_more(server: &Server, n: usize, already: usize) -> Vec<TcpStream> {
    let clients: Vec<TcpStream> = (0..n)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    // Lines go to the clients connected when they arrive: wait for all.
    let total = (n + already) as u64;
    server.wait_until("all clients to be registered", |s| {
        s.counters.conns == total
    });
    clients
}

fn connect_all(server: &Server, n: usize) -> Vec<TcpStream> {
    connect_more(server, n, 0)
}

/// 50 clients, 10 of them sending 300 lines each: every client receives all
/// 3,000 lines, each sender's in order, none torn.
fn every_client_gets_every_line_in_order(backend: Backend) {
    const CLIENTS: usize = 50;
    const SENDERS: usize = 10;
    const LINES: usize = 300;
    let server = chat_server(backend, &[]);
    let mut clients = connect_all(&server, CLIENTS);
    for c in &clients {
        c.set_nonblocking(true).unwrap();
    }
    let mut mux = Epoll::new(Trigger::Level).unwrap();
    for (i, c) in clients.iter().enumerate() {
        let interest = if i < SENDERS {
            Interest::BOTH
        } else {
            Interest::READABLE
        };
        mux.register(c.as_raw_fd(), Token(i), interest).unwrap();
    }
    let outgoing: Vec<Vec<u8>> = (0..SENDERS)
        .map(|s| {
            (0..LINES)
                .flat_map(|q| format!("sender {s} line {q} {}\n", "x".repeat(q % 50)).into_bytes())
                .collect()
        })
        .collect();
    let mut sent = [0usize; SENDERS];
    let mut partial: Vec<Vec<u8>> = vec![Vec::new(); CLIENTS];
    let mut next_seq = vec![vec![0usize; SENDERS]; CLIENTS];
    let mut received = 0usize;
    let want = CLIENTS * SENDERS * LINES;
    let mut events = Events::with_capacity(256);
    let mut buf = vec![0u8; 64 * 1024];
    let end = Instant::now() + DEADLINE;
    while received < want {
        assert!(
            Instant::now() < end,
            "{received} of {want} deliveries by the deadline"
        );
        mux.wait(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
        for ev in events.iter() {
            let i = ev.token.0;
            if ev.writable && i < SENDERS && sent[i] < outgoing[i].len() {
                // Write in odd-sized pieces so lines straddle writes.
                let end = (sent[i] + 777).min(outgoing[i].len());
                match clients[i].write(&outgoing[i][sent[i]..end]) {
                    Ok(n) => sent[i] += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => panic!("client {i} write: {e}"),
                }
                if sent[i] == outgoing[i].len() {
                    mux.reregister(clients[i].as_raw_fd(), Token(i), Interest::READABLE)
                        .unwrap();
                }
            }
            if ev.readable {
                match clients[i].read(&mut buf) {
                    Ok(0) => panic!("client {i} closed by the server"),
                    Ok(n) => {
                        partial[i].extend_from_slice(&buf[..n]);
                        while let Some(pos) = partial[i].iter().position(|&b| b == b'\n') {
                            let line: Vec<u8> = partial[i].drain(..=pos).collect();
                            let text = String::from_utf8(line).expect("utf-8 line");
                            let words: Vec<&str> = text.split_whitespace().collect();
                            assert!(
                                words.len() >= 4 && words[0] == "sender" && words[2] == "line",
                                "client {i}: torn line {text:?}"
                            );
                            let s: usize = words[1].parse().unwrap();
                            let q: usize = words[3].parse().unwrap();
                            assert_eq!(q, next_seq[i][s], "client {i}: sender {s} out of order");
                            let pad = words.get(4).map_or(0, |p| p.len());
                            assert_eq!(pad, q % 50, "client {i}: line {text:?} altered");
                            next_seq[i][s] += 1;
                            received += 1;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => panic!("client {i} read: {e}"),
                }
            }
        }
    }
    let c = server.stop().counters;
    assert_eq!(c.lines_in, (SENDERS * LINES) as u64);
    assert_eq!(c.deliveries, want as u64);
    // One buffer per broadcast line, shared by its 50 recipients.
    assert_eq!(c.broadcast_allocs, c.lines_in);
    assert_eq!(c.slow_consumer_drops, 0);
}
per_backend!(every_client_gets_every_line_in_order);

/// A client that never reads is disconnected once its queue would pass the
/// cap; the others keep receiving every line; the server's memory stays put.
fn slow_consumer_is_dropped_and_room_continues(backend: Backend) {
    let server = chat_server(backend, &["--max-pending", "512KiB"]);
    let before = server.snapshot().rss_kib;
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.addr.into()).unwrap();
    let stalled: TcpStream = socket.into();
    let mut readers = connect_more(&server, 4, 1);
    readers.insert(0, stalled);
    let line = format!("{}\n", "y".repeat(199));
    // 10 MB: past the stalled client's cap plus what the kernel buffers for it
    // (on loopback the server's send buffer grows to several MB).
    const LINES: usize = 50_000;
    let mut sender = readers[1].try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        for i in 0..LINES {
            sender.write_all(line.as_bytes()).unwrap();
            if i % 100 == 99 {
                // ~20 MB/s: the readers, threads on a busy 2-core machine, must
                // not fall 512 KiB behind and be dropped themselves.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    // Clients 1..5 read everything meanwhile.
    let handles: Vec<_> = readers
        .drain(1..)
        .map(|c| {
            std::thread::spawn(move || {
                c.set_read_timeout(Some(DEADLINE)).unwrap();
                let mut r = BufReader::new(c);
                let mut text = String::new();
                for _ in 0..LINES {
                    text.clear();
                    r.read_line(&mut text).unwrap();
                    assert_eq!(text.len(), 200, "{text:?}");
                }
            })
        })
        .collect();
    writer.join().unwrap();
    for h in handles {
        h.join().unwrap();
    }
    // Dropped means closed, before the stalled client reads anything (a
    // writer blocked on its full socket must not keep it open); the four
    // readers closed theirs as their threads ended.
    let snap = server.wait_until("the slow consumer to be closed", |s| s.counters.conns == 0);
    assert_eq!(snap.counters.slow_consumer_drops, 1, "{:?}", snap.counters);
    assert!(snap.counters.peak_pending_bytes <= 512 * 1024);
    let grown = snap.rss_kib.saturating_sub(before);
    assert!(grown < 4 * 1024, "server RSS grew by {grown} KiB");
    // The stalled client finds its connection closed after what was delivered.
    let mut stalled = readers.pop().unwrap();
    stalled.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut sink = Vec::new();
    // EOF or reset: either ends it — but not our read timeout: the server
    // must have cut it off, even with its writer blocked on the full socket.
    if let Err(e) = stalled.read_to_end(&mut sink) {
        assert!(
            !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "the stalled client was left open: {e}"
        );
    }
    assert!(
        sink.len() < LINES * 200,
        "the stalled client was not cut off"
    );
    server.stop();
}
per_backend!(slow_consumer_is_dropped_and_room_continues);

/// A line over --max-line gets one error line and a close; others carry on.
fn over_long_line_is_rejected(backend: Backend) {
    let server = chat_server(backend, &["--max-line", "100"]);
    let mut clients = connect_all(&server, 3);
    for c in &clients {
        c.set_read_timeout(Some(DEADLINE)).unwrap();
    }
    clients[0].write_all(&[b'z'; 150]).unwrap(); // no newline yet: already too long
    let mut reply = Vec::new();
    clients[0].read_to_end(&mut reply).unwrap();
    assert_eq!(reply, muxbench::server::LINE_TOO_LONG);
    clients[1].write_all(b"still here\n").unwrap();
    for c in &mut clients[1..] {
        let mut line = String::new();
        BufReader::new(&*c).read_line(&mut line).unwrap();
        assert_eq!(line, "still here\n");
    }
    // A client that floods a 1 MB non-line before reading still gets the error
    // line: the server reads and discards the rest after sending it (a close
    // with unread input would be a reset that destroys the error in flight).
    let mut flooder = TcpStream::connect(server.addr).unwrap();
    flooder.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut w = flooder.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&vec![b'q'; 1 << 20]);
    });
    writer.join().unwrap();
    let mut reply = Vec::new();
    flooder.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, muxbench::server::LINE_TOO_LONG);
    let c = server.stop().counters;
    assert_eq!(c.lines_too_long, 2);
}
per_backend!(over_long_line_is_rejected);

/// Bytes after the last newline of a client that leaves are dropped, not
/// glued to the next client's line.
fn leaving_mid_line_corrupts_nobody(backend: Backend) {
    let server = chat_server(backend, &[]);
    let mut clients = connect_all(&server, 3);
    clients[0].write_all(b"half a li").unwrap();
    server.wait_until("the half line to arrive", |s| s.counters.bytes_in >= 9);
    clients[0].shutdown(Shutdown::Both).unwrap();
    server.wait_until("the leaver to be closed", |s| s.counters.closes >= 1);
    clients[1].write_all(b"whole line\n").unwrap();
    for c in &mut clients[1..] {
        c.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut line = String::new();
        BufReader::new(&*c).read_line(&mut line).unwrap();
        assert_eq!(line, "whole line\n");
    }
    let c = server.stop().counters;
    assert_eq!(c.partial_lines_dropped, 1);
    assert_eq!(c.lines_in, 1);
}
per_backend!(leaving_mid_line_corrupts_nobody);

/// `muxclient` sends stdin's lines, prints what arrives, and on end of input
/// half-closes and waits for the rest: with an echo server, its input comes back.
#[test]
fn muxclient_round_trips_through_echo_and_chat() {
    use std::process::{Command, Stdio};
    for protocol in ["echo", "chat"] {
        let server = Server::start(Backend::EpollLt, &["--protocol", protocol]);
        let mut child = Command::new(env!("CARGO_BIN_EXE_muxclient"))
            .arg(server.addr.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"first line\nsecond\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{protocol}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "first line\nsecond\n",
            "{protocol}"
        );
        server.stop();
    }
}
