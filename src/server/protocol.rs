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

use super::conn::Conn;
use super::counters::Counters;
use super::event_loop::{classify, EventLoop, Step};
use super::Config;
use crate::mux::Multiplexer;

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
    fn input<M: Multiplexer>(lp: &mut EventLoop<M, Self>, key: usize, n: usize) -> Step;
    /// The peer will send nothing more.
    fn eof(_counters: &mut Counters, _conn: &mut Self::Conn) {}
    /// The connection's output goes out after the batch (`after_batch`), which
    /// then settles it.
    fn deferred(_conn: &Self::Conn) -> bool {
        false
    }
    /// After every batch of events.
    fn after_batch<M: Multiplexer>(_lp: &mut EventLoop<M, Self>) {}
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
    fn input<M: Multiplexer>(lp: &mut EventLoop<M, Self>, key: usize, n: usize) -> Step {
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
