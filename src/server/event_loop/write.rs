//! Writing, settling and closing: after any I/O the connection's registered
//! interest is made to match its state, and that is where back-pressure is
//! applied and lifted.
//!
//! # Writing and back-pressure
//!
//! Bytes read are written straight back from the read buffer. Whatever the
//! socket does not take (partial write or `EAGAIN`) goes to the connection's
//! output buffer and writable interest is armed; it is disarmed as soon as the
//! buffer is flushed, or a level-triggered backend would report the socket
//! writable on every wait. A connection reads at most `max_pending − pending`
//! bytes, so its pending output never exceeds `--max-pending`; at the cap,
//! readable interest is dropped until the client reads.

use std::io;
use std::os::fd::AsRawFd;

use super::wait_loop::EventLoop;
use crate::mux::{Interest, Multiplexer, Token, Trigger};
use crate::server::protocol::Handler;
use crate::server::rules::{classify, Step};

impl<M: Multiplexer, P: Handler> EventLoop<M, P> {
    /// Write pending output: `writev` until the queue is empty or the socket
    /// takes less than offered. A short write means the send buffer is full, so
    /// another call would only return `EAGAIN`; a complete one with output
    /// left (more than 64 chunks queued) must go on, because the socket is
    /// still writable and an edge-triggered backend will not say so again.
    pub(super) fn flush(&mut self, key: usize) -> Step {
        let conn = &mut self.conns[key];
        let was_capped = conn.pending() >= self.cfg.max_pending;
        while conn.pending() > 0 {
            self.counters.writes += 1;
            let res = conn.out.write_to(&mut conn.stream);
            if self.trace.all() {
                let fd = conn.stream.as_raw_fd();
                self.trace.io("writev", fd, res.as_ref().map(|r| r.0), None);
            }
            match res {
                Ok((m, took_all)) => {
                    self.counters.bytes_out += m as u64;
                    if !took_all {
                        self.counters.partial_writes += 1;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.counters.writes_eagain += 1;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return classify(&e),
            }
        }
        let conn = &self.conns[key];
        if P::READ_CAPPED && was_capped && conn.pending() < self.cfg.max_pending && !conn.read_eof {
            // Reading resumes. Data that queued up while paused raised its edge
            // back then, so under edge trigger nothing would report it again.
            if self.mux.trigger() == Trigger::Edge {
                self.schedule_revisit(key);
            }
        }
        Step::Continue
    }

    /// After I/O on a connection: close it if it is finished or failed, else make
    /// its registered interest match its state.
    pub(super) fn settle(&mut self, key: usize, step: Step) {
        if let Step::Close { reset } = step {
            self.close(key, reset);
            return;
        }
        let Some(conn) = self.conns.get(key) else {
            return;
        };
        let pending = conn.pending();
        if conn.read_eof && pending == 0 {
            // Everything owed has been sent; the client sees EOF.
            self.close(key, false);
            return;
        }
        if pending == 0 {
            let conn = &mut self.conns[key];
            if P::drained(&conn.stream, &mut conn.proto).is_err() {
                self.close(key, false);
                return;
            }
        }
        let conn = &self.conns[key];
        let reading = self.read_room(conn) > 0 && !conn.read_eof;
        let mut want = Interest::NONE;
        if reading {
            want = want.add(Interest::READABLE);
        }
        if pending > 0 {
            want = want.add(Interest::WRITABLE);
        }
        if want != conn.interest {
            if conn.interest.is_readable() && !reading && !conn.read_eof && !P::closing(&conn.proto)
            {
                self.counters.read_pauses += 1;
            }
            self.counters.interest_changes += 1;
            let fd = conn.stream.as_raw_fd();
            if self.trace.all() {
                self.trace.line(format_args!(
                    "interest fd {fd}: {}",
                    interest_diff(conn.interest, want)
                ));
            }
            match self.mux.reregister(fd, Token(key), want) {
                Ok(()) => self.conns[key].interest = want,
                Err(e) => {
                    self.counters.errors += 1;
                    eprintln!("muxserver: reregister: {e}");
                    self.close(key, false);
                }
            }
        }
    }

    pub(super) fn close(&mut self, key: usize, reset: bool) {
        let conn = self.conns.remove(key);
        if self.trace.all() {
            self.trace
                .close(conn.stream.as_raw_fd(), reset, conn.read_eof);
        }
        // Deregister before the descriptor is closed (select and poll would
        // otherwise keep watching a closed or reused number).
        if self.mux.deregister(conn.stream.as_raw_fd()).is_err() {
            self.counters.errors += 1;
        }
        self.counters.closes += 1;
        if reset {
            self.counters.resets += 1;
        }
        drop(conn);
        // A descriptor was freed: if accepting was paused for lack of them, resume.
        self.resume_accepting();
    }
}

/// `+W`, `-R +W`, ...: what an interest change adds and removes.
fn interest_diff(old: Interest, new: Interest) -> String {
    let mut parts = Vec::new();
    for (had, has, name) in [
        (old.is_readable(), new.is_readable(), "R"),
        (old.is_writable(), new.is_writable(), "W"),
    ] {
        match (had, has) {
            (false, true) => parts.push(format!("+{name}")),
            (true, false) => parts.push(format!("-{name}")),
            _ => {}
        }
    }
    parts.join(" ")
}
