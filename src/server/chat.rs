//! The chat protocol (the textbook's closing exercise, done correctly):
//! newline-terminated lines; every complete line a client sends goes to every
//! connected client, the sender included, in the order the server received
//! it, never interleaved with another line.
//!
//! Unlike the textbook's sample, nothing here writes to a client from inside
//! the broadcast: each line is one shared allocation ([`Rc<[u8]>`]) pushed onto
//! every recipient's output queue, and the queues are flushed after the event
//! batch with one `writev` per recipient. A recipient whose queue would exceed
//! `--max-pending` is disconnected (a slow consumer), so one stalled reader can
//! neither stall the room nor grow the server's memory.

use std::rc::Rc;

use super::event_loop::{EventLoop, Step};
use crate::mux::Multiplexer;

/// Sent to a client whose line exceeds `--max-line`, before it is closed.
pub const LINE_TOO_LONG: &[u8] = b"ERR line too long\n";

impl<M: Multiplexer> EventLoop<M> {
    /// Split `read_buf[..n]` from connection `key` into lines and broadcast the
    /// complete ones; keep the unterminated rest on the connection.
    pub(super) fn chat_input(&mut self, key: usize, n: usize) -> Step {
        // Borrow the buffer out of `self` while lines are broadcast (a pointer swap).
        let buf = std::mem::take(&mut self.read_buf);
        let step = self.split_lines(key, &buf[..n]);
        self.read_buf = buf;
        step
    }

    fn split_lines(&mut self, key: usize, data: &[u8]) -> Step {
        let max_line = self.cfg.max_line;
        let mut start = 0;
        while let Some(pos) = data[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos + 1;
            let Some(conn) = self.conns.get_mut(key) else {
                return Step::Continue; // dropped as a slow consumer of its own line
            };
            let line: Rc<[u8]> = if conn.line.is_empty() {
                Rc::from(&data[start..end])
            } else {
                conn.line.extend_from_slice(&data[start..end]);
                Rc::from(std::mem::take(&mut conn.line))
            };
            start = end;
            if line.len() - 1 > max_line {
                self.reject(key);
                return Step::Continue;
            }
            self.broadcast(line);
        }
        let Some(conn) = self.conns.get_mut(key) else {
            return Step::Continue;
        };
        conn.line.extend_from_slice(&data[start..]);
        if conn.line.len() > max_line {
            self.reject(key);
        }
        Step::Continue
    }

    /// Queue `line` for every connected client (one shared allocation).
    fn broadcast(&mut self, line: Rc<[u8]>) {
        self.counters.lines_in += 1;
        self.counters.broadcast_allocs += 1;
        let cap = self.cfg.max_pending;
        let mut slow = Vec::new();
        for (k, c) in self.conns.iter_mut() {
            if c.closing {
                continue;
            }
            if c.pending() + line.len() > cap {
                slow.push(k);
                continue;
            }
            c.out.push_shared(line.clone());
            self.counters.deliveries += 1;
            if !c.dirty {
                c.dirty = true;
                self.to_flush.push(k);
            }
            let pending = c.pending() as u64;
            self.counters.peak_pending_bytes = self.counters.peak_pending_bytes.max(pending);
        }
        for k in slow {
            if self.counters.slow_consumer_drops == 0 {
                eprintln!(
                    "muxserver: warning: disconnecting a client whose output queue would exceed \
                     {cap} bytes (slow consumer; further ones are only counted)"
                );
            }
            self.counters.slow_consumer_drops += 1;
            self.close(k, false);
        }
    }

    /// A line longer than `--max-line`: tell the client once, stop reading it,
    /// close it when the message is out. Others are unaffected.
    fn reject(&mut self, key: usize) {
        self.counters.lines_too_long += 1;
        let conn = &mut self.conns[key];
        conn.line = Vec::new();
        conn.closing = true;
        // Past the cap or not, this one line is owed.
        conn.out.push_copy(LINE_TOO_LONG);
        if !conn.dirty {
            conn.dirty = true;
            self.to_flush.push(key);
        }
    }
}
