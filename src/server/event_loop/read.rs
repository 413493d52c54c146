//! Reading, and how much to read per readiness event: that depends on the
//! trigger, and the wrong amount either stalls a connection (an edge that
//! never comes again) or costs a wait per buffer.
//!
//! # The drain rule
//!
//! - **Level trigger, `--read-policy once`** (the textbook's form): one `read`
//!   per readiness event; the kernel reports the descriptor again on the next
//!   wait while data remains. With a 4-byte buffer that is one wait per 4 bytes.
//! - **Edge trigger** (and level with `--read-policy drain`): read until the
//!   receive queue is empty, because an edge is reported once per arrival and
//!   will not come again for bytes already queued. "Empty" is `EAGAIN` *or a
//!   read shorter than asked*: on a stream socket a short read means the queue
//!   held fewer bytes than we asked for, i.e. it is now empty, and any byte that
//!   arrives later raises a new edge. That saves the third syscall per message
//!   that a literal read-until-EAGAIN pays. The exception is a peer that has
//!   already sent FIN (`read_closed` on the event): no further edge will come
//!   for the EOF, so the loop reads on until `read` returns 0 or `EAGAIN`.
//! - A per-wake-up **budget** (`--read-budget` bytes) stops one fire-hose client
//!   from starving the others. Under edge trigger a connection cut off by the
//!   budget, or resumed after back-pressure, is put on a revisit list and read
//!   again after the current batch (with a zero wait timeout), since no new
//!   edge is due for data already queued.

use std::io::{self, Read};
use std::os::fd::AsRawFd;

use super::wait_loop::EventLoop;
use crate::mux::{Multiplexer, Trigger};
use crate::server::config::ReadPolicy;
use crate::server::conn::Conn;
use crate::server::protocol::Handler;
use crate::server::rules::{classify, Step};

impl<M: Multiplexer, P: Handler> EventLoop<M, P> {
    pub(super) fn run_revisits(&mut self) {
        if std::mem::take(&mut self.revisit_listener) {
            self.accept_ready();
        }
        if self.revisit.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.revisit);
        for key in batch {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if !std::mem::take(&mut conn.revisit) {
                continue; // slot reused by a new connection
            }
            let step = self.read_ready(key);
            self.settle(key, step);
        }
    }

    pub(super) fn schedule_revisit(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        if !conn.revisit {
            conn.revisit = true;
            self.revisit.push(key);
        }
    }

    /// Bytes the connection may read now (the protocol decides).
    pub(super) fn read_room(&self, conn: &Conn<P::Conn>) -> usize {
        P::read_room(&self.cfg, conn, self.read_buf.len())
    }

    /// Read (once, or draining; see the module docs) and hand what was read to
    /// the protocol.
    pub(super) fn read_ready(&mut self, key: usize) -> Step {
        let edge = self.mux.trigger() == Trigger::Edge;
        let drain = edge || self.cfg.read_policy == ReadPolicy::Drain;
        let mut budget = self.cfg.read_budget;
        loop {
            // The connection may have been closed by the protocol (a chat
            // sender dropped as a slow consumer of its own line).
            let Some(conn) = self.conns.get(key) else {
                return Step::Continue;
            };
            if conn.read_eof {
                return Step::Continue;
            }
            let room = self.read_room(conn);
            if room == 0 {
                // Back-pressure: stop reading; `settle` drops readable interest
                // and `flush` resumes (with a revisit under edge trigger).
                return Step::Continue;
            }
            let want = room.min(self.read_buf.len());
            self.counters.reads += 1;
            let conn = &mut self.conns[key];
            let res = conn.stream.read(&mut self.read_buf[..want]);
            if self.trace.all() {
                let fd = conn.stream.as_raw_fd();
                self.trace.io("read", fd, res.as_ref().copied(), None);
            }
            match res {
                Ok(0) => {
                    conn.read_eof = true;
                    P::eof(&mut self.counters, &mut conn.proto);
                    return Step::Continue;
                }
                Ok(n) => {
                    self.counters.bytes_in += n as u64;
                    let step = P::input(self, key, n);
                    if let Step::Close { reset } = step {
                        return Step::Close { reset };
                    }
                    if !drain {
                        return Step::Continue;
                    }
                    // Short read: the receive queue is empty now (see module docs),
                    // unless FIN is queued behind the data.
                    if n < want && !self.conns.get(key).is_some_and(|c| c.fin_seen) {
                        return Step::Continue;
                    }
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        if edge && self.conns.contains(key) {
                            self.schedule_revisit(key);
                        }
                        return Step::Continue;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.counters.reads_eagain += 1;
                    return Step::Continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return classify(&e),
            }
        }
    }
}
