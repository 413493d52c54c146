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

use std::io;
use std::net::{Shutdown, TcpStream};

use super::conn::Conn;
use super::counters::Counters;
use super::event_loop::{EventLoop, Step};
use super::protocol::Handler;
use super::Config;
use crate::mux::Multiplexer;

/// Sent to a client whose line exceeds `--max-line`, before it is closed.
pub const LINE_TOO_LONG: &[u8] = b"ERR line too long\n";
/// Bytes a rejected client may still send after its error line before it
/// is closed regardless.
pub(super) const LINGER_DISCARD_MAX: usize = 1 << 20;

/// A line over `--max-line` arrived (complete or not).
pub(super) struct TooLong;

/// The next complete line of `data[*start..]`, joined to `partial` (the
/// unterminated rest of earlier reads), newline included; `*start` moves past
/// it. With no newline left the rest goes to `partial` and `None` comes back.
/// Shared by both loops: the readiness loop reads into its buffer, the
/// io_uring loop receives into a provided one.
pub(super) fn next_line<L>(
    partial: &mut Vec<u8>,
    data: &[u8],
    start: &mut usize,
    max_line: usize,
) -> Option<Result<L, TooLong>>
where
    L: for<'a> From<&'a [u8]> + From<Vec<u8>> + std::ops::Deref<Target = [u8]>,
{
    let rest = &data[*start..];
    let Some(pos) = rest.iter().position(|&b| b == b'\n') else {
        *start = data.len();
        partial.extend_from_slice(rest);
        return (partial.len() > max_line).then_some(Err(TooLong));
    };
    *start += pos + 1;
    let line = if partial.is_empty() {
        L::from(&rest[..=pos])
    } else {
        partial.extend_from_slice(&rest[..=pos]);
        L::from(std::mem::take(partial))
    };
    Some(if line.len() - 1 > max_line {
        Err(TooLong)
    } else {
        Ok(line)
    })
}

/// Count a recipient dropped as a slow consumer; the first one is also said.
pub(super) fn note_slow_consumer(counters: &mut Counters, cap: usize) {
    if counters.slow_consumer_drops == 0 {
        eprintln!(
            "muxserver: warning: disconnecting a client whose output queue would exceed \
             {cap} bytes (slow consumer; further ones are only counted)"
        );
    }
    counters.slow_consumer_drops += 1;
}

/// The chat protocol's state for the whole loop.
#[derive(Default)]
pub struct Chat {
    /// Connections with new output, flushed after the current batch.
    to_flush: Vec<usize>,
}

/// A chat connection's state.
#[derive(Default)]
pub struct ChatConn {
    /// Bytes of a line not yet terminated by `\n`.
    line: Vec<u8>,
    /// Rejected (line too long): its input is discarded; after the error
    /// line is out it gets FIN, and it is closed when the client closes.
    closing: bool,
    /// `shutdown(SHUT_WR)` done (lingering close of a rejected client).
    write_shut: bool,
    /// Bytes discarded from a rejected client.
    discarded: usize,
    /// On the list of connections to flush after this batch.
    dirty: bool,
}

impl Handler for Chat {
    type Conn = ChatConn;
    // Slow *receivers* are dropped instead (see `broadcast`).
    const READ_CAPPED: bool = false;

    fn read_room(_cfg: &Config, conn: &Conn<ChatConn>, buf_len: usize) -> usize {
        // Rejected: once the error line is out, read (and discard) until the
        // client closes, so unread input does not turn our close into a
        // reset that destroys the error line in flight.
        match &conn.proto {
            c if c.closing && !c.write_shut => 0,
            _ => buf_len,
        }
    }

    fn input<M: Multiplexer>(lp: &mut EventLoop<M, Self>, key: usize, n: usize) -> Step {
        let conn = &mut lp.conns[key].proto;
        if conn.closing {
            conn.discarded += n;
            return if conn.discarded > LINGER_DISCARD_MAX {
                Step::Close { reset: false }
            } else {
                Step::Continue
            };
        }
        lp.chat_input(key, n)
    }

    fn eof(counters: &mut Counters, conn: &mut ChatConn) {
        if !conn.line.is_empty() {
            // An unterminated line is dropped with its sender.
            conn.line = Vec::new();
            counters.partial_lines_dropped += 1;
        }
    }

    fn deferred(conn: &ChatConn) -> bool {
        conn.dirty
    }

    fn after_batch<M: Multiplexer>(lp: &mut EventLoop<M, Self>) {
        lp.flush_dirty();
    }

    fn closing(conn: &ChatConn) -> bool {
        conn.closing
    }

    /// The error line of a rejected client is out: send FIN, then read until
    /// the client closes.
    fn drained(stream: &TcpStream, conn: &mut ChatConn) -> io::Result<()> {
        if conn.closing && !conn.write_shut {
            conn.write_shut = true;
            stream.shutdown(Shutdown::Write)?;
        }
        Ok(())
    }
}

impl<M: Multiplexer> EventLoop<M, Chat> {
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
        // The connection may go mid-way: dropped as a slow consumer of its own line.
        while let Some(conn) = self.conns.get_mut(key) {
            match next_line(&mut conn.proto.line, data, &mut start, max_line) {
                None => break,
                Some(Ok(line)) => self.broadcast(line),
                Some(Err(TooLong)) => {
                    self.reject(key);
                    break;
                }
            }
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
            if c.proto.closing {
                continue;
            }
            if c.pending() + line.len() > cap {
                slow.push(k);
                continue;
            }
            c.out.push_shared(line.clone());
            self.counters.deliveries += 1;
            if !c.proto.dirty {
                c.proto.dirty = true;
                self.proto.to_flush.push(k);
            }
            let pending = c.pending() as u64;
            self.counters.peak_pending_bytes = self.counters.peak_pending_bytes.max(pending);
        }
        for k in slow {
            note_slow_consumer(&mut self.counters, cap);
            self.close(k, false);
        }
    }

    /// A line longer than `--max-line`: tell the client once, stop reading it,
    /// close it when the message is out. Others are unaffected.
    fn reject(&mut self, key: usize) {
        self.counters.lines_too_long += 1;
        let conn = &mut self.conns[key];
        conn.proto.line = Vec::new();
        conn.proto.closing = true;
        // Past the cap or not, this one line is owed.
        conn.out.push_copy(LINE_TOO_LONG);
        if !conn.proto.dirty {
            conn.proto.dirty = true;
            self.proto.to_flush.push(key);
        }
    }

    /// Chat: flush the connections that received lines in this batch (one
    /// `writev` each, however many lines), then settle their interest.
    fn flush_dirty(&mut self) {
        if self.proto.to_flush.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.proto.to_flush);
        for key in &batch {
            let Some(conn) = self.conns.get_mut(*key) else {
                continue;
            };
            if !std::mem::take(&mut conn.proto.dirty) {
                continue;
            }
            let step = if conn.pending() > 0 {
                self.flush(*key)
            } else {
                Step::Continue
            };
            self.settle(*key, step);
        }
        // Reuse the allocation.
        let mut batch = batch;
        batch.clear();
        if self.proto.to_flush.is_empty() {
            self.proto.to_flush = batch;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(partial: &mut Vec<u8>, data: &[u8], max: usize) -> Vec<Result<String, ()>> {
        let mut start = 0;
        let mut out = Vec::new();
        while let Some(r) = next_line::<Rc<[u8]>>(partial, data, &mut start, max) {
            let stop = r.is_err();
            out.push(
                r.map(|l| String::from_utf8_lossy(&l).into_owned())
                    .map_err(drop),
            );
            if stop {
                break;
            }
        }
        out
    }

    #[test]
    fn lines_are_split_joined_across_reads_and_bounded() {
        let mut partial = Vec::new();
        assert_eq!(lines(&mut partial, b"ab\ncd", 10), vec![Ok("ab\n".into())]);
        assert_eq!(partial, b"cd");
        assert_eq!(
            lines(&mut partial, b"e\nf\n", 10),
            vec![Ok("cde\n".into()), Ok("f\n".into())]
        );
        assert!(partial.is_empty(), "taken whole, no allocation left");
        // Complete but too long, and unterminated past the limit.
        assert_eq!(lines(&mut partial, b"0123456789x\n", 10), vec![Err(())]);
        assert_eq!(lines(&mut Vec::new(), b"0123456789x", 10), vec![Err(())]);
        assert_eq!(
            lines(&mut Vec::new(), b"0123456789\n", 10),
            vec![Ok("0123456789\n".into())]
        );
    }
}
