//! Chat under the ring: lines split from what arrived are shared by every
//! recipient's queue, and the sends go out once per batch.

use std::rc::Rc;

use super::conn::Chunk;
use super::ops::{user_data, OP_CANCEL, OP_RECV};
use super::ring_loop::UringServer;
use crate::server::rules::{next_line, note_slow_consumer, TooLong};
use crate::server::rules::{LINE_TOO_LONG, LINGER_DISCARD_MAX};
use crate::sys::uring::Piece;

impl UringServer {
    /// Take in what a receive put into provided buffers; every piece is
    /// released here.
    pub(super) fn chat_input(&mut self, key: usize, pieces: &[Piece]) {
        let n: usize = pieces.iter().map(|p| p.len).sum();
        // Copy out of the ring buffers (lines are shared allocations anyway).
        let mut data = std::mem::take(&mut self.scratch);
        data.clear();
        for p in pieces {
            data.extend_from_slice(self.bufs.data(*p));
            self.bufs.release(p.bid);
        }
        if self.conns[key].rejected {
            let conn = &mut self.conns[key];
            conn.discarded += n;
            if conn.discarded > LINGER_DISCARD_MAX {
                self.close(key, false);
            }
            self.scratch = data;
            return;
        }
        self.split_lines(key, &data);
        self.scratch = data;
    }

    fn split_lines(&mut self, key: usize, data: &[u8]) {
        let max_line = self.cfg.max_line;
        let mut start = 0;
        // The connection may go mid-way: dropped as a slow consumer of its own line.
        while let Some(conn) = self.conns.get_mut(key).filter(|c| !c.closed) {
            match next_line(&mut conn.line, data, &mut start, max_line) {
                None => break,
                Some(Ok(line)) => self.broadcast(line),
                Some(Err(TooLong)) => {
                    self.reject(key);
                    break;
                }
            }
        }
    }

    fn broadcast(&mut self, line: Rc<[u8]>) {
        self.counters.lines_in += 1;
        self.counters.broadcast_allocs += 1;
        let cap = self.cfg.max_pending;
        let mut slow = Vec::new();
        for (k, c) in self.conns.iter_mut() {
            if c.closed || c.rejected {
                continue;
            }
            if c.pending + line.len() > cap {
                slow.push(k);
                continue;
            }
            c.pending += line.len();
            c.out.push_back(Chunk::Shared(line.clone()));
            self.counters.deliveries += 1;
            if !c.dirty {
                c.dirty = true;
                self.to_flush.push(k);
            }
            self.counters.peak_pending_bytes =
                self.counters.peak_pending_bytes.max(c.pending as u64);
        }
        for k in slow {
            note_slow_consumer(&mut self.counters, cap);
            self.close(k, false);
        }
    }

    fn reject(&mut self, key: usize) {
        self.counters.lines_too_long += 1;
        let conn = &mut self.conns[key];
        conn.line = Vec::new();
        conn.rejected = true;
        conn.push_copy(LINE_TOO_LONG);
        if conn.recv_armed && conn.recv_multishot && !conn.recv_cancelling {
            conn.recv_cancelling = true;
            let _ = self
                .ring
                .cancel(user_data(OP_RECV, key), user_data(OP_CANCEL, key));
        }
        if !conn.dirty {
            conn.dirty = true;
            self.to_flush.push(key);
        }
    }

    pub(super) fn flush_dirty(&mut self) {
        if self.to_flush.is_empty() {
            return;
        }
        let mut batch = std::mem::take(&mut self.to_flush);
        for &key in &batch {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if !std::mem::take(&mut conn.dirty) || conn.closed {
                continue;
            }
            self.start_send(key);
        }
        batch.clear();
        if self.to_flush.is_empty() {
            self.to_flush = batch;
        }
    }
}
