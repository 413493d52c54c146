//! Receiving into the provided-buffer ring: arming a receive sized to the room
//! the connection has, waiting when the ring is empty, and handing what
//! arrived to echo or chat.

use super::conn::UConn;
use super::ops::{user_data, OP_CANCEL, OP_RECV};
use super::ring_loop::UringServer;
use crate::server::config::Protocol;
use crate::sys::uring::{Completion, Piece, RecvMode};

/// Completions a multishot receive may post per wake-up before the kernel
/// makes it wait its turn (`MULTISHOT_MAX_RETRY` in io_uring/net.c).
const MULTISHOT_BURST: usize = 32;

impl UringServer {
    /// Bytes the connection may receive now (see the readiness loop's `read_room`).
    fn read_room(&self, conn: &UConn) -> usize {
        match self.cfg.protocol {
            Protocol::Echo => self.cfg.max_pending.saturating_sub(conn.pending),
            Protocol::Chat if conn.rejected => {
                if conn.write_shut {
                    self.bufs.buf_size()
                } else {
                    0
                }
            }
            Protocol::Chat => self.bufs.buf_size(),
        }
    }

    pub(super) fn arm_recv(&mut self, key: usize) {
        let conn = &self.conns[key];
        if conn.recv_armed || conn.closed || conn.read_eof || conn.starved {
            return;
        }
        let room = self.read_room(conn);
        if room == 0 {
            // Counted once per pause, and not for a rejected chat client
            // (it is being closed, not throttled), as in the readiness loop.
            if !conn.paused && !conn.rejected {
                self.counters.read_pauses += 1;
                self.conns[key].paused = true;
            }
            return;
        }
        if self.bufs.free() == 0 {
            self.starve(key);
            return;
        }
        let bundle = self.cfg.uring.recv_bundle;
        let (multishot, limit) = match self.cfg.protocol {
            Protocol::Chat => (true, 0),
            // Echo's bundles are multishot, ended by the kernel once the
            // room left has arrived (a one-shot bundle's length is no cap).
            Protocol::Echo if bundle => (true, room.min(i32::MAX as usize) as u32),
            Protocol::Echo => (
                self.cfg.uring.multishot_recv && room >= self.multishot_room(),
                0,
            ),
        };
        let len = room.min(self.bufs.buf_size()) as u32;
        let mode = RecvMode {
            multishot,
            bundle,
            limit,
        };
        match self.ring.recv_provided(
            conn.target,
            self.bufs.group(),
            len,
            mode,
            user_data(OP_RECV, key),
        ) {
            Ok(()) => {
                let conn = &mut self.conns[key];
                conn.recv_armed = true;
                conn.recv_multishot = multishot;
                conn.recv_limited = limit > 0;
                conn.paused = false;
            }
            Err(e) => {
                self.counters.errors += 1;
                eprintln!("muxserver: arming a receive: {e}");
                self.close(key, false);
            }
        }
    }

    /// Echo with `multishot-recv`: the room a connection needs for its
    /// receive to be multishot. The kernel posts at most
    /// [`MULTISHOT_BURST`] completions (one buffer each) per wake-up of a
    /// multishot receive; the loop cancels the receive as soon as the room
    /// left falls below this bound, and at most one more burst can land
    /// before the cancel does — so twice a burst of whole buffers keeps the
    /// output queue within `--max-pending`. With less room, a one-shot
    /// receive sized to the room is armed instead, as without the feature.
    pub(super) fn multishot_room(&self) -> usize {
        2 * MULTISHOT_BURST * self.bufs.buf_size()
    }

    /// Echo: cancel a multishot receive once the room left is below
    /// [`UringServer::multishot_room`] (it is re-armed one-shot, or multishot
    /// again when the queue drains).
    pub(super) fn bound_multishot(&mut self, key: usize) {
        let Some(conn) = self.conns.get(key) else {
            return;
        };
        if !conn.recv_armed
            || !conn.recv_multishot
            || conn.recv_limited
            || conn.recv_cancelling
            || conn.closed
        {
            return;
        }
        if self.read_room(conn) >= self.multishot_room() {
            return;
        }
        self.conns[key].recv_cancelling = true;
        let skip = self.cfg.uring.skip_cqe;
        let _ = self
            .ring
            .cancel_skip(user_data(OP_RECV, key), skip, user_data(OP_CANCEL, key));
    }

    fn starve(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        if !conn.starved {
            conn.starved = true;
            self.starved.push(key);
        }
    }

    /// Re-arm receives that found the buffer ring empty, now that buffers are back.
    pub(super) fn feed_starved(&mut self) {
        while self.bufs.free() > 0 {
            let Some(key) = self.starved.pop() else {
                return;
            };
            if let Some(conn) = self.conns.get_mut(key) {
                conn.starved = false;
                self.arm_recv(key);
            }
        }
    }

    pub(super) fn received(&mut self, key: usize, c: &Completion) {
        let mut pieces = std::mem::take(&mut self.pieces);
        pieces.clear();
        if let Some(bid) = c.buffer_id() {
            // A buffer named with no data (the kernel hands such buffers
            // back itself, naming none) is refused: the ring would be out
            // of step.
            let n = c.result.max(0) as usize;
            if let Err(e) = self.bufs.consume(bid, n, c.buf_more(), &mut pieces) {
                // The ring's account of its buffers no longer matches the
                // kernel's: stop rather than echo bytes from the wrong place.
                self.counters.errors += 1;
                self.broken = Some(format!("provided-buffer ring out of step: {e}"));
                self.stop = true;
                pieces.clear();
            }
        }
        self.take_received(key, c, &pieces);
        self.pieces = pieces;
    }

    /// What `received` does with the pieces a completion filled (every one
    /// is released or queued here).
    fn take_received(&mut self, key: usize, c: &Completion, pieces: &[Piece]) {
        let release = |bufs: &mut crate::sys::uring::BufRing| {
            for p in pieces {
                bufs.release(p.bid);
            }
        };
        let conn = &mut self.conns[key];
        if !c.more() {
            conn.recv_armed = false;
            conn.recv_cancelling = false;
        }
        if conn.closed {
            release(&mut self.bufs);
            self.maybe_release(key);
            return;
        }
        // `reads` counts receives that returned something (data, EOF, an
        // error), like read(2) calls; a receive that found no buffer or was
        // cancelled returned nothing.
        if !matches!(-c.result, libc::ENOBUFS | libc::ECANCELED | libc::EINTR) {
            self.counters.reads += 1;
        }
        match c.result {
            n if n > 0 => {
                let n = n as usize;
                self.counters.bytes_in += n as u64;
                if pieces.iter().map(|p| p.len).sum::<usize>() != n {
                    // Cannot happen with buffer selection; treat as a broken connection.
                    release(&mut self.bufs);
                    self.counters.errors += 1;
                    self.close(key, false);
                    return;
                }
                match self.cfg.protocol {
                    Protocol::Echo => {
                        self.echo(key, pieces);
                        self.bound_multishot(key);
                    }
                    Protocol::Chat => self.chat_input(key, pieces),
                }
            }
            0 => {
                release(&mut self.bufs);
                conn.read_eof = true;
                if !conn.line.is_empty() {
                    conn.line = Vec::new();
                    self.counters.partial_lines_dropped += 1;
                }
                if conn.recv_armed {
                    // A multishot receive ends itself after EOF; nothing to cancel.
                }
            }
            e => {
                release(&mut self.bufs);
                match -e {
                    libc::ENOBUFS => self.starve(key),
                    libc::ECANCELED | libc::EINTR => {}
                    libc::ECONNRESET | libc::EPIPE | libc::ETIMEDOUT => {
                        self.close(key, true);
                        return;
                    }
                    _ => {
                        self.counters.errors += 1;
                        self.close(key, false);
                        return;
                    }
                }
            }
        }
        self.settle(key);
    }
}
