//! Shared set-up for the multiplexer benches.
#![allow(dead_code)] // each bench uses a subset

use std::net::UdpSocket;
use std::os::fd::AsRawFd;

use muxbench::backend::Backend;
use muxbench::mux::Multiplexer;
use muxbench::sys;

/// A fresh multiplexer of `backend` (one of `Backend::multiplexers()`), boxed
/// so one bench body serves them all. (The dynamic dispatch costs a few ns per
/// call, the same for every backend.)
pub fn make(backend: Backend) -> Box<dyn Multiplexer> {
    muxbench::mux::make(backend)
        .expect("creating the multiplexer")
        .expect("a readiness backend")
}

/// Watched descriptor counts. select stops below FD_SETSIZE; 10,000 needs the
/// descriptor limit to allow it.
pub const SIZES: [usize; 5] = [1, 10, 100, 1000, 10_000];

/// Descriptors a set-up of `n` watched sockets needs besides them.
const SPARE: usize = 64;

/// Whether `backend` can watch `n` descriptors here; prints why not.
pub fn feasible(backend: Backend, n: usize) -> bool {
    let soft = sys::raise_nofile_limit().unwrap_or(1024) as usize;
    // select: the watched sockets are created first and take the lowest free
    // numbers after stdio and criterion's few files, so N=1000 fits below 1024.
    if backend == Backend::Select && n + 16 > sys::FD_SETSIZE {
        eprintln!(
            "skip {backend} N={n}: select cannot watch descriptors >= FD_SETSIZE ({})",
            sys::FD_SETSIZE
        );
        return false;
    }
    if n + SPARE > soft {
        eprintln!(
            "skip {backend} N={n}: needs {} descriptors, RLIMIT_NOFILE is {soft}",
            n + SPARE
        );
        return false;
    }
    true
}

/// `n` UDP sockets on 127.0.0.1 to watch, plus one sender: n + 1 descriptors
/// (a socket pair per watched descriptor would need 2n, and 10,000 pairs do
/// not fit under a 20,000 limit). Sending one datagram to socket i makes
/// exactly that one readable.
pub struct Targets {
    pub sockets: Vec<UdpSocket>,
    pub addrs: Vec<std::net::SocketAddr>,
    pub sender: UdpSocket,
}

impl Targets {
    pub fn new(n: usize) -> Targets {
        let sockets: Vec<UdpSocket> = (0..n)
            .map(|_| {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.set_nonblocking(true).unwrap();
                s
            })
            .collect();
        let addrs = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        Targets {
            sockets,
            addrs,
            sender,
        }
    }

    pub fn fd(&self, i: usize) -> i32 {
        self.sockets[i].as_raw_fd()
    }
}

/// A cheap deterministic sequence of indices (xorshift), so the choice of
/// descriptor costs nothing measurable and is the same for every backend.
pub struct Picker(u64);

impl Picker {
    pub fn new() -> Picker {
        Picker(0x2545_F491_4F6C_DD1D)
    }
    pub fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}
