//! The protocol seam of the readiness loop: what echo and chat decide, so
//! `event_loop.rs` stays about multiplexing. The loop is generic over the
//! protocol as over the multiplexer (`EventLoop<M, P>`), so both are
//! monomorphised and neither costs a dynamic call per read.
//!
//! A protocol says how much a connection may read, what the bytes read mean,
//! what it does at EOF and once a connection's output has drained, and
//! whether it writes after the batch instead of at once (chat's broadcast).
//! Its per-connection state lives in the connection (`Conn<P::Conn>`), so an
//! echo connection carries no chat fields.

use std::io::{self, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;

use slab::Slab;

use super::config::Config;
use super::conn::Conn;
use super::counters::Counters;
use super::rules::{classify, Step};
use super::trace::Tracer;

/// The loop a [`Handler`] runs in, as the handler sees it: the loop's state,
/// borrowed in parts, and the three moves a protocol may make on a
/// connection. The readiness loop implements it; a protocol never names the
/// loop's type, so the seam runs one way (loop → protocol).
pub trait Loop<P: Handler> {
    /// The loop's state, split so that several parts can be borrowed at once.
    fn parts(&mut self) -> Parts<'_, P>;
    /// Write what is pending on connection `key`.
    fn flush(&mut self, key: usize) -> Step;
    /// Apply `step` to connection `key`: close it, or set its interest from
    /// what it has pending.
    fn settle(&mut self, key: usize, step: Step);
    /// Close connection `key` (`reset`: the peer reset it).
    fn close(&mut self, key: usize, reset: bool);
}

/// The loop's state a protocol reads and changes.
pub struct Parts<'a, P: Handler> {
    /// Every open connection, by key.
    pub conns: &'a mut Slab<Conn<P::Conn>>,
    /// The buffer the last read went into.
    pub read_buf: &'a mut Box<[u8]>,
    /// The server's configuration.
    pub cfg: &'a Config,
    /// The loop's counters.
    pub counters: &'a mut Counters,
    /// The protocol's own state for the whole loop.
    pub proto: &'a mut P,
    /// `--trace`.
    pub trace: &'a mut Tracer,
}

/// What the readiness loop asks of a protocol's handler.
pub trait Handler: Sized + Default {
    /// Per-connection state.
    type Conn: Default;
    /// Reading stops at `--max-pending` of queued output and resumes when it
    /// drains (echo's back-pressure); the loop then revisits the connection.
    const READ_CAPPED: bool;
    /// Bytes `conn` may read now; 0 stops reading it.
    fn read_room(cfg: &Config, conn: &Conn<Self::Conn>, buf_len: usize) -> usize;
    /// `n` bytes from connection `key` are in the loop's read buffer.
    fn input<L: Loop<Self>>(lp: &mut L, key: usize, n: usize) -> Step;
    /// The peer will send nothing more.
    fn eof(_counters: &mut Counters, _conn: &mut Self::Conn) {}
    /// The connection's output goes out after the batch (`after_batch`), which
    /// then settles it.
    fn deferred(_conn: &Self::Conn) -> bool {
        false
    }
    /// After every batch of events.
    fn after_batch<L: Loop<Self>>(_lp: &mut L) {}
    /// The protocol is closing the connection (not reading it is not a pause).
    fn closing(_conn: &Self::Conn) -> bool {
        false
    }
    /// Everything owed to the connection has been written. `Err`: close it.
    fn drained(_stream: &TcpStream, _conn: &mut Self::Conn) -> io::Result<()> {
        Ok(())
    }
}

/// RFC 862: every byte received is sent back on the same connection.
#[derive(Default)]
pub struct Echo;

impl Handler for Echo {
    type Conn = ();
    const READ_CAPPED: bool = true;

    /// At most what keeps the connection's pending output within the cap.
    fn read_room(cfg: &Config, conn: &Conn<()>, _buf_len: usize) -> usize {
        cfg.max_pending.saturating_sub(conn.pending())
    }

    /// Echo `read_buf[..n]`: straight from the read buffer when nothing is
    /// pending (the common case: one write, no copy), else behind what is pending.
    fn input<L: Loop<Self>>(lp: &mut L, key: usize, n: usize) -> Step {
        let lp = lp.parts();
        let conn = &mut lp.conns[key];
        let data = &lp.read_buf[..n];
        if conn.pending() > 0 {
            conn.out.push_copy(data);
        } else {
            lp.counters.writes += 1;
            let res = conn.stream.write(data);
            if lp.trace.all() {
                let fd = conn.stream.as_raw_fd();
                lp.trace.io("write", fd, res.as_ref().copied(), Some(n));
            }
            match res {
                Ok(m) => {
                    lp.counters.bytes_out += m as u64;
                    if m < n {
                        lp.counters.partial_writes += 1;
                        conn.out.push_copy(&data[m..]);
                    }
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::Interrupted =>
                {
                    lp.counters.writes_eagain += 1;
                    conn.out.push_copy(data);
                }
                Err(e) => return classify(&e),
            }
        }
        let pending = conn.pending() as u64;
        lp.counters.peak_pending_bytes = lp.counters.peak_pending_bytes.max(pending);
        Step::Continue
    }
}
