//! Shared helpers: a `muxserver` child that is always reaped, and an echo
//! checker that drives many non-blocking connections and verifies every byte.
#![allow(dead_code)] // each test binary uses a different subset

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use muxbench::loadgen::ServerChild;
use muxbench::mux::{Epoll, Events, Interest, Multiplexer, Token, Trigger};
use muxbench::server::Snapshot;
use muxbench::sys;

/// Generate one `#[test]` per backend calling `$name(Backend)`: one per row
/// of the backend table (`muxbench::for_each_backend!`), so a backend that
/// joins the table runs every suite without being named here.
#[macro_export]
macro_rules! per_backend {
    ($name:ident) => {
        muxbench::for_each_backend!(backend_tests! { $name every });
    };
}

/// [`per_backend!`] for the suites about an event loop's own mechanics
/// (read budgets and revisits, `--trace`): the backends that have one — the
/// readiness and completion models; `threads` and `tokio` have no loop of
/// their own.
#[macro_export]
macro_rules! per_loop_backend {
    ($name:ident) => {
        muxbench::for_each_backend!(backend_tests! { $name with_loop });
    };
}

/// The expansion of the backend table for [`per_backend!`] and
/// [`per_loop_backend!`]: a module named after the suite, a test per row.
#[macro_export]
macro_rules! backend_tests {
    ({ $name:ident $which:ident }
     $( $(#[$doc:meta])* $variant:ident $test:ident $label:literal $model:ident $describe:literal; )*) => {
        mod $name {
            $( $crate::backend_test!($which $model $test $variant $name); )*
        }
    };
}

/// One row's test: every row for `every`, the models with a loop of their
/// own for `with_loop`.
#[macro_export]
macro_rules! backend_test {
    (every $model:ident $test:ident $variant:ident $name:ident) => {
        #[test]
        fn $test() {
            super::$name(muxbench::backend::Backend::$variant)
        }
    };
    (with_loop Readiness $test:ident $variant:ident $name:ident) => {
        $crate::backend_test!(every Readiness $test $variant $name);
    };
    (with_loop Completion $test:ident $variant:ident $name:ident) => {
        $crate::backend_test!(every Completion $test $variant $name);
    };
    (with_loop $model:ident $test:ident $variant:ident $name:ident) => {};
}

/// How long any single wait in a test may take before it is a failure.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Let the test process open many sockets.
pub fn raise_fd_limit() {
    sys::raise_nofile_limit().expect("raise RLIMIT_NOFILE");
}

/// A `muxserver` child process (the library's [`ServerChild`]: killed and
/// reaped on drop, also when the test fails), with panicking accessors.
pub struct Server {
    inner: RefCell<ServerChild>,
    pub addr: SocketAddr,
    /// `--control`: its address, from the readiness line.
    pub control: Option<String>,
}

impl Server {
    /// Start `muxserver --backend B --addr 127.0.0.1:0 EXTRA…` and wait for its readiness line.
    pub fn start(backend: muxbench::backend::Backend, extra: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_muxserver"));
        cmd.args(["--backend", backend.name(), "--addr", "127.0.0.1:0"])
            .args(extra);
        let inner = ServerChild::spawn(cmd, DEADLINE).expect("start muxserver");
        assert_eq!(inner.backend, backend.name());
        Server {
            addr: inner.addr,
            control: inner.control.clone(),
            inner: RefCell::new(inner),
        }
    }

    pub fn pid(&self) -> u32 {
        self.inner.borrow().pid()
    }

    /// What the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.inner.borrow().stderr()
    }

    /// Ask for a counters snapshot (SIGUSR1) and wait for it.
    pub fn snapshot(&self) -> Snapshot {
        let res = self.inner.borrow_mut().snapshot(DEADLINE);
        res.unwrap_or_else(|e| panic!("{e:#}; stderr: {}", self.stderr()))
    }

    /// Poll snapshots until `cond` holds, or panic after the deadline.
    pub fn wait_until(&self, what: &str, cond: impl Fn(&Snapshot) -> bool) -> Snapshot {
        let end = Instant::now() + DEADLINE;
        loop {
            let s = self.snapshot();
            if cond(&s) {
                return s;
            }
            assert!(Instant::now() < end, "timed out waiting for {what}: {s:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM: the server must print its final snapshot and exit 0.
    pub fn stop(self) -> Snapshot {
        let (snap, status) = self
            .inner
            .into_inner()
            .stop(DEADLINE)
            .expect("stop muxserver");
        assert!(status.success(), "server exited with {status}");
        snap
    }

    /// Still running?
    pub fn is_alive(&mut self) -> bool {
        self.inner.get_mut().exited().is_none()
    }
}

/// Deterministic pseudo-random bytes (xorshift), different per `seed`.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// One client of the echo checker.
#[derive(Clone)]
pub struct Plan {
    /// Bytes to send; all must come back in order.
    pub payload: Vec<u8>,
    /// Bytes read per readiness event: small values make a lazy reader, which
    /// forces the server into partial writes.
    pub read_chunk: usize,
    /// Client receive buffer (`SO_RCVBUF`), if set.
    pub rcvbuf: Option<usize>,
    /// Read nothing until the whole payload is sent: the server's output
    /// must then queue (its send buffer fills), whatever the scheduling.
    pub read_after_send: bool,
}

impl Plan {
    pub fn new(payload: Vec<u8>) -> Plan {
        Plan {
            payload,
            read_chunk: 64 * 1024,
            rcvbuf: None,
            read_after_send: false,
        }
    }
}

struct Client {
    stream: TcpStream,
    plan: Plan,
    sent: usize,
    received: usize,
    write_closed: bool,
    interest: Interest,
    done: bool,
}

/// Connect one client per plan, send every payload, `shutdown(SHUT_WR)`, and
/// verify that exactly the payload comes back followed by EOF. All clients run
/// concurrently on one epoll loop. `Err` says which client failed and how.
pub fn check_echo(addr: SocketAddr, plans: Vec<Plan>) -> Result<(), String> {
    check_echo_after(addr, plans, || {})
}

/// [`check_echo`], calling `connected` once every client has connected and
/// before any byte is sent (e.g. to wait until the server holds them all).
pub fn check_echo_after(
    addr: SocketAddr,
    plans: Vec<Plan>,
    connected: impl FnOnce(),
) -> Result<(), String> {
    let mut mux = Epoll::new(Trigger::Level).map_err(|e| e.to_string())?;
    let mut clients = connect_clients(addr, plans, &mut mux)?;
    connected();
    let mut left = clients.len();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let end = Instant::now() + DEADLINE;
    while left > 0 {
        if Instant::now() > end {
            return Err(unfinished(&clients, left));
        }
        mux.wait(&mut events, Some(Duration::from_millis(100)))
            .map_err(|e| e.to_string())?;
        for ev in events.iter() {
            let i = ev.token.0;
            let c = &mut clients[i];
            if c.done {
                continue;
            }
            if ev.writable && !c.write_closed {
                c.send(i)?;
            }
            if ev.readable
                && (c.write_closed || !c.plan.read_after_send)
                && c.receive(i, &mut buf)?
            {
                c.done = true;
                left -= 1;
                mux.deregister(c.stream.as_raw_fd()).unwrap();
                continue;
            }
            c.update_interest(i, &mut mux)?;
        }
    }
    Ok(())
}

/// One client per plan, connected and registered (token: its index) for
/// both directions.
fn connect_clients(
    addr: SocketAddr,
    plans: Vec<Plan>,
    mux: &mut Epoll,
) -> Result<Vec<Client>, String> {
    let mut clients = Vec::with_capacity(plans.len());
    for (i, plan) in plans.into_iter().enumerate() {
        let stream = connect(addr, plan.rcvbuf).map_err(|e| format!("client {i}: connect: {e}"))?;
        mux.register(stream.as_raw_fd(), Token(i), Interest::BOTH)
            .map_err(|e| e.to_string())?;
        clients.push(Client {
            stream,
            plan,
            sent: 0,
            received: 0,
            write_closed: false,
            interest: Interest::BOTH,
            done: false,
        });
    }
    Ok(clients)
}

/// The deadline's error: how many clients are unfinished, and where the
/// first five of them are.
fn unfinished(clients: &[Client], left: usize) -> String {
    let stuck: Vec<String> = clients
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.done)
        .take(5)
        .map(|(i, c)| {
            format!(
                "client {i}: sent {}/{} received {}",
                c.sent,
                c.plan.payload.len(),
                c.received
            )
        })
        .collect();
    format!("{left} clients unfinished at the deadline: {stuck:?}")
}

impl Client {
    /// Writes the next part of the payload (up to 64 KiB); once all of it is
    /// sent, shuts the write side. `i`: the client's number, for errors.
    fn send(&mut self, i: usize) -> Result<(), String> {
        let end = (self.sent + 64 * 1024).min(self.plan.payload.len());
        match self.stream.write(&self.plan.payload[self.sent..end]) {
            Ok(n) => self.sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("client {i}: write: {e}")),
        }
        if self.sent == self.plan.payload.len() {
            self.stream
                .shutdown(Shutdown::Write)
                .map_err(|e| e.to_string())?;
            self.write_closed = true;
        }
        Ok(())
    }

    /// Reads one chunk and checks it against the payload. `Ok(true)` at the
    /// EOF that ends a complete echo; an EOF before that is an error.
    fn receive(&mut self, i: usize, buf: &mut [u8]) -> Result<bool, String> {
        let chunk = self.plan.read_chunk.min(buf.len());
        match self.stream.read(&mut buf[..chunk]) {
            Ok(0) => {
                if self.received != self.plan.payload.len() || !self.write_closed {
                    return Err(format!(
                        "client {i}: EOF after {} of {} bytes (sent {})",
                        self.received,
                        self.plan.payload.len(),
                        self.sent
                    ));
                }
                return Ok(true);
            }
            Ok(n) => {
                let expect = self.plan.payload.get(self.received..self.received + n);
                if expect != Some(&buf[..n]) {
                    return Err(format!(
                        "client {i}: wrong bytes at offset {} ({} bytes read)",
                        self.received, n
                    ));
                }
                self.received += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("client {i}: read: {e}")),
        }
        Ok(false)
    }

    /// Readable only once the write side is shut; both until then.
    fn update_interest(&mut self, i: usize, mux: &mut Epoll) -> Result<(), String> {
        let want = if self.write_closed {
            Interest::READABLE
        } else {
            Interest::BOTH
        };
        if want != self.interest {
            mux.reregister(self.stream.as_raw_fd(), Token(i), want)
                .map_err(|e| e.to_string())?;
            self.interest = want;
        }
        Ok(())
    }
}

/// A blocking connect (with a deadline), then non-blocking.
pub fn connect(addr: SocketAddr, rcvbuf: Option<usize>) -> io::Result<TcpStream> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    if let Some(n) = rcvbuf {
        // Before connect, so the advertised window matches it from the start (a
        // window shrunk after connect can stall on the zero-window probe backoff).
        socket.set_recv_buffer_size(n)?;
    }
    socket.connect_timeout(&addr.into(), Duration::from_secs(10))?;
    let stream: TcpStream = socket.into();
    stream.set_nonblocking(true)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Send `msg` on a blocking stream and read exactly `msg.len()` bytes back,
/// within the deadline.
pub fn round_trip(stream: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(DEADLINE))?;
    stream.write_all(msg)?;
    let mut back = vec![0u8; msg.len()];
    stream.read_exact(&mut back)?;
    if back != msg {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "echo differs"));
    }
    Ok(())
}

/// Write `data` on a non-blocking stream without ever reading, until all of
/// it is sent or no byte was accepted for `stall` (the path to the server is
/// full). Returns the bytes sent.
pub fn push_unread(stream: &mut TcpStream, data: &[u8], stall: Duration) -> usize {
    let mut sent = 0;
    let mut last_progress = Instant::now();
    // The stall is judged on a refused write, never on the clock alone: a
    // test thread preempted for longer than `stall` tries again first.
    while sent < data.len() {
        match stream.write(&data[sent..(sent + 64 * 1024).min(data.len())]) {
            Ok(n) => {
                sent += n;
                last_progress = Instant::now();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if last_progress.elapsed() >= stall {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(e) => panic!("write: {e}"),
        }
    }
    sent
}
