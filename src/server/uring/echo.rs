//! Echo under the ring: data is sent back from the buffer it arrived in when
//! that costs the ring little, copied otherwise.

use super::conn::Chunk;
use super::ring_loop::UringServer;
use crate::sys::uring::Piece;

impl UringServer {
    /// Echo what a receive put into provided buffers (one piece, or several
    /// with `recv-bundle`): sent from the buffers themselves when nothing is
    /// queued, else copied behind what is. A send to a
    /// client that stopped reading may wait in the kernel indefinitely and
    /// hold its buffer meanwhile, so the zero-copy path is taken only while
    /// more than half of the ring is free: stalled clients can pin at most
    /// half of it, and everyone else keeps receiving.
    pub(super) fn echo(&mut self, key: usize, pieces: &[Piece]) {
        let conn = &mut self.conns[key];
        if conn.pending == 0 && self.bufs.free() > self.bufs.count() / 2 {
            for p in pieces {
                conn.pending += p.len;
                conn.out.push_back(Chunk::Provided(*p));
            }
        } else {
            for p in pieces {
                conn.push_copy(self.bufs.data(*p));
                self.bufs.release(p.bid);
            }
        }
        let pending = conn.pending as u64;
        self.counters.peak_pending_bytes = self.counters.peak_pending_bytes.max(pending);
        self.start_send(key);
    }
}
