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

use super::config::Config;
use super::conn::Conn;
use super::counters::Counters;
use super::protocol::{Handler, Loop};
use super::rules::{
    next_line, note_slow_consumer, Step, TooLong, LINE_TOO_LONG, LINGER_DISCARD_MAX,
};

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

    fn input<L: Loop<Self>>(lp: &mut L, key: usize, n: usize) -> Step {
        let conn = &mut lp.parts().conns[key].proto;
        if conn.closing {
            conn.discarded += n;
            return if conn.discarded > LINGER_DISCARD_MAX {
                Step::Close { reset: false }
            } else {
                Step::Continue
            };
        }
        chat_input(lp, key, n)
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

    fn after_batch<L: Loop<Self>>(lp: &mut L) {
        flush_dirty(lp);
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

/// Split `read_buf[..n]` from connection `key` into lines and broadcast the
/// complete ones; keep the unterminated rest on the connection.
fn chat_input<L: Loop<Chat>>(lp: &mut L, key: usize, n: usize) -> Step {
    // Borrow the buffer out of `self` while lines are broadcast (a pointer swap).
    let buf = std::mem::take(lp.parts().read_buf);
    let step = split_lines(lp, key, &buf[..n]);
    *lp.parts().read_buf = buf;
    step
}

fn split_lines<L: Loop<Chat>>(lp: &mut L, key: usize, data: &[u8]) -> Step {
    let max_line = lp.parts().cfg.max_line;
    let mut start = 0;
    // The connection may go mid-way: dropped as a slow consumer of its own line.
    while let Some(conn) = lp.parts().conns.get_mut(key) {
        match next_line(&mut conn.proto.line, data, &mut start, max_line) {
            None => break,
            Some(Ok(line)) => broadcast(lp, line),
            Some(Err(TooLong)) => {
                reject(lp, key);
                break;
            }
        }
    }
    Step::Continue
}

/// Queue `line` for every connected client (one shared allocation).
fn broadcast<L: Loop<Chat>>(lp: &mut L, line: Rc<[u8]>) {
    let p = lp.parts();
    p.counters.lines_in += 1;
    p.counters.broadcast_allocs += 1;
    let cap = p.cfg.max_pending;
    let mut slow = Vec::new();
    for (k, c) in p.conns.iter_mut() {
        if c.proto.closing {
            continue;
        }
        if c.pending() + line.len() > cap {
            slow.push(k);
            continue;
        }
        c.out.push_shared(line.clone());
        p.counters.deliveries += 1;
        if !c.proto.dirty {
            c.proto.dirty = true;
            p.proto.to_flush.push(k);
        }
        let pending = c.pending() as u64;
        p.counters.peak_pending_bytes = p.counters.peak_pending_bytes.max(pending);
    }
    for k in slow {
        note_slow_consumer(lp.parts().counters, cap);
        lp.close(k, false);
    }
}

/// A line longer than `--max-line`: tell the client once, stop reading it,
/// close it when the message is out. Others are unaffected.
fn reject<L: Loop<Chat>>(lp: &mut L, key: usize) {
    let p = lp.parts();
    p.counters.lines_too_long += 1;
    let conn = &mut p.conns[key];
    conn.proto.line = Vec::new();
    conn.proto.closing = true;
    // Past the cap or not, this one line is owed.
    conn.out.push_copy(LINE_TOO_LONG);
    if !conn.proto.dirty {
        conn.proto.dirty = true;
        p.proto.to_flush.push(key);
    }
}

/// Chat: flush the connections that received lines in this batch (one
/// `writev` each, however many lines), then settle their interest.
fn flush_dirty<L: Loop<Chat>>(lp: &mut L) {
    if lp.parts().proto.to_flush.is_empty() {
        return;
    }
    let batch = std::mem::take(&mut lp.parts().proto.to_flush);
    for key in &batch {
        let Some(conn) = lp.parts().conns.get_mut(*key) else {
            continue;
        };
        if !std::mem::take(&mut conn.proto.dirty) {
            continue;
        }
        let step = if conn.pending() > 0 {
            lp.flush(*key)
        } else {
            Step::Continue
        };
        lp.settle(*key, step);
    }
    // Reuse the allocation.
    let mut batch = batch;
    batch.clear();
    let to_flush = &mut lp.parts().proto.to_flush;
    if to_flush.is_empty() {
        *to_flush = batch;
    }
}
