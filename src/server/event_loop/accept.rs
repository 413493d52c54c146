//! Accepting: a batch per wake-up, and a pause when descriptors run out, so
//! that a full backlog cannot turn a level-triggered listener into a spin.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Instant;

use super::wait_loop::{register_listener, EventLoop, LISTENER};
use crate::mux::{Interest, Multiplexer, Token, Trigger};
use crate::server::conn::Conn;
use crate::server::counters::note_accept_pause;
use crate::server::protocol::Handler;
use crate::server::rules::ACCEPT_PAUSE;
use crate::sys;

/// Accepts per wake-up before giving other events a turn.
const ACCEPT_BATCH: usize = 256;

impl<M: Multiplexer, P: Handler> EventLoop<M, P> {
    pub(super) fn accept_ready(&mut self) {
        if self.accept_paused_until.is_some() {
            return; // stale event from before the pause
        }
        self.counters.accept_wakeups += 1;
        for _ in 0..ACCEPT_BATCH {
            match sys::accept_nonblocking(&self.listener) {
                Ok(stream) => {
                    self.counters.accepts += 1;
                    self.add_conn(stream);
                }
                Err(e) => match e.raw_os_error() {
                    Some(libc::EAGAIN) => return,
                    Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS)
                    | Some(libc::ENOMEM) => {
                        self.pause_accepting(&e);
                        return;
                    }
                    Some(libc::EINTR) | Some(libc::ECONNABORTED) => {}
                    // accept(2) also passes on network errors of the new
                    // connection (EPROTO, ENETDOWN, EPERM from a firewall, ...):
                    // that connection is gone, the next one may be fine.
                    _ => {
                        if self.counters.errors == 0 {
                            eprintln!("muxserver: accept: {e} (counted as errors)");
                        }
                        self.counters.errors += 1;
                    }
                },
            }
        }
        // Batch limit reached with connections possibly still queued: under edge
        // trigger no new edge is due for them, so come back after this batch.
        self.revisit_listener = self.mux.trigger() == Trigger::Edge;
    }

    /// Out of descriptors. A level-triggered listener would be reported ready
    /// on every wait while the backlog is non-empty, and every accept would fail
    /// again: a busy loop. So stop watching the listener until a connection
    /// closes (freeing a descriptor) or `ACCEPT_PAUSE` passes; the pending
    /// clients wait in the kernel's backlog meanwhile.
    fn pause_accepting(&mut self, e: &io::Error) {
        note_accept_pause(&mut self.counters, e);
        // Paused even if deregistering fails: `accept_ready` ignores the listener
        // while paused, so a level-triggered report cannot turn into a spin.
        self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
        if let Err(e) = self.mux.deregister(self.listener.as_raw_fd()) {
            self.counters.errors += 1;
            eprintln!("muxserver: deregister listener: {e}");
        }
    }

    pub(super) fn maybe_resume_accepting(&mut self) {
        if let Some(until) = self.accept_paused_until {
            if Instant::now() >= until {
                self.resume_accepting();
            }
        }
    }

    pub(super) fn resume_accepting(&mut self) {
        if self.accept_paused_until.take().is_some() {
            let fd = self.listener.as_raw_fd();
            let res =
                match register_listener(&mut self.mux, &self.listener, self.cfg.accept_exclusive) {
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        self.mux.reregister(fd, LISTENER, Interest::READABLE)
                    }
                    other => other,
                };
            if let Err(e) = res {
                self.counters.errors += 1;
                eprintln!("muxserver: re-register listener: {e}");
            }
        }
    }

    fn add_conn(&mut self, stream: std::net::TcpStream) {
        if self.conns.len() >= self.cfg.max_conns {
            self.counters.refused += 1;
            if self.trace.all() {
                let fd = stream.as_raw_fd();
                self.trace
                    .line(format_args!("accept fd {fd}: refused (--max-conns)"));
            }
            return; // dropping the stream closes it
        }
        // Echoes go out as soon as they are written. With Nagle's algorithm on,
        // a small read buffer (the 4-byte experiment) turns one message into
        // several small writes, and the second waits for the client's delayed
        // ACK (~40 ms): that would measure TCP, not the multiplexer.
        if stream.set_nodelay(true).is_err() {
            self.counters.errors += 1;
        }
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        // select refuses fd >= FD_SETSIZE here, before FD_SET is ever reached.
        if let Err(e) = self
            .mux
            .register(stream.as_raw_fd(), Token(key), Interest::READABLE)
        {
            self.counters.refused += 1;
            if self.trace.all() {
                let fd = stream.as_raw_fd();
                self.trace
                    .line(format_args!("accept fd {fd}: refused ({e})"));
            }
            if !self.warned_refusal {
                self.warned_refusal = true;
                eprintln!(
                    "muxserver: warning: {}: {e}; closing such connections at once \
                     (counted as refused)",
                    self.mux.name()
                );
            }
            return;
        }
        if self.trace.all() {
            let fd = stream.as_raw_fd();
            self.trace.line(format_args!("accept fd {fd}"));
        }
        entry.insert(Conn::new(stream));
        self.counters.peak_conns = self.counters.peak_conns.max(self.conns.len() as u64);
    }
}
