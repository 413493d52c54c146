//! A connection's life cycle under the ring: admitted at accept, settled after
//! each I/O, closed, and released only when the kernel holds none of its
//! requests, so a completion always finds the connection it belongs to.

use std::net::{Shutdown, TcpStream};

use super::conn::{Chunk, UConn};
use super::ops::{user_data, OP_CANCEL, OP_RECV, OP_SEND};
use super::ring_loop::UringServer;
use crate::sys::uring::Target;

impl UringServer {
    /// Admit a connection: a descriptor and its owner, or a fixed-file-table
    /// slot (no owner: closed by a ring request).
    pub(super) fn add_conn(&mut self, target: Target, stream: Option<TcpStream>) {
        if self.live >= self.cfg.max_conns {
            self.counters.refused += 1;
            self.close_target(target); // dropping `stream` closes a descriptor
            return;
        }
        // As in the readiness loop: small echoes must not wait for Nagle (a
        // slot of the fixed table inherits it from the listener instead).
        if let Some(stream) = &stream {
            if stream.set_nodelay(true).is_err() {
                self.counters.errors += 1;
            }
        }
        let key = self.conns.insert(UConn::new(target, stream));
        self.live += 1;
        self.counters.peak_conns = self.counters.peak_conns.max(self.live as u64);
        self.arm_recv(key);
    }

    /// After I/O: close a finished connection, shut down a rejected one whose
    /// error line is out, and keep a receive armed while there is room.
    pub(super) fn settle(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key).filter(|c| !c.closed) else {
            return;
        };
        let idle_out = conn.pending == 0 && !conn.sending;
        if conn.read_eof {
            if idle_out {
                self.close(key, false); // everything owed is sent: the client sees EOF
            }
            return;
        }
        if conn.rejected && idle_out && !conn.write_shut {
            // The error line is out: FIN, then read (and discard) until the client closes.
            conn.write_shut = true;
            let shut = match (&conn.stream, conn.target) {
                (Some(stream), _) => stream.shutdown(Shutdown::Write),
                (None, target) => {
                    let skip = self.cfg.uring.skip_cqe;
                    self.ring
                        .shutdown_write(target, skip, user_data(OP_CANCEL, key))
                }
            };
            if shut.is_err() {
                self.close(key, false);
                return;
            }
        }
        if !self.conns[key].recv_armed {
            self.arm_recv(key);
        }
    }

    pub(super) fn close(&mut self, key: usize, reset: bool) {
        let conn = &mut self.conns[key];
        if conn.closed {
            return;
        }
        conn.closed = true;
        if self.trace.all() {
            self.trace.close_named(&conn.number(), reset, conn.read_eof);
        }
        self.live -= 1;
        self.counters.closes += 1;
        if reset {
            self.counters.resets += 1;
        }
        let skip = self.cfg.uring.skip_cqe;
        if conn.recv_armed && !conn.recv_cancelling {
            conn.recv_cancelling = true;
            let _ = self
                .ring
                .cancel_skip(user_data(OP_RECV, key), skip, user_data(OP_CANCEL, key));
        }
        if conn.sending {
            let _ = self
                .ring
                .cancel_skip(user_data(OP_SEND, key), skip, user_data(OP_CANCEL, key));
        }
        self.maybe_release(key);
    }

    /// Close a fixed-file-table slot (a descriptor closes with its owner).
    fn close_target(&mut self, target: Target) {
        if let Target::Fixed(slot) = target {
            if let Some(slots) = &mut self.slots {
                // Free once the close is queued: it runs before any later accept.
                slots.used = slots.used.saturating_sub(1);
            }
            let skip = self.cfg.uring.skip_cqe;
            if let Err(e) = self.ring.close_fixed(slot, skip, user_data(OP_CANCEL, 0)) {
                self.counters.errors += 1;
                eprintln!("muxserver: closing table slot {slot}: {e}");
            }
        }
    }

    /// Free a closed connection's slot (closing its socket) once the kernel
    /// holds none of its requests.
    pub(super) fn maybe_release(&mut self, key: usize) {
        if self.conns[key].in_kernel() {
            return;
        }
        let conn = self.conns.remove(key);
        self.close_target(conn.target);
        for chunk in conn.out {
            if let Chunk::Provided(p) = chunk {
                self.bufs.release(p.bid);
            }
        }
        // A descriptor was freed: if accepting was paused for lack of them, resume.
        self.resume_accepting();
    }
}
