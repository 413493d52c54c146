//! A connection thread from accept to close, and echo: a blocking read, then
//! a send of what was read, with the thread's own counters published after
//! every request.

use std::io::{self, Write};
use std::net::TcpStream;

use super::chat::chat;
use super::shared::{lock, Membership, Shared};
use crate::server::config::Config;
use crate::server::shards::Tally;
use crate::sys;

/// A connection thread, from accept to close.
pub(super) fn connection(
    shared: &Shared,
    key: usize,
    stream: TcpStream,
    membership: Option<Membership>,
) {
    let mut t = shared.shards.handle();
    let reset = match membership {
        None => echo(&stream, &shared.cfg, &mut t),
        Some((room_key, member)) => chat(&stream, shared, room_key, &member, &mut t),
    };
    t.closed(reset);
    t.publish();
    let mut reg = lock(&shared.registry);
    reg.try_remove(key);
    drop(stream); // closed under the lock (see `Shared::registry`)
}

/// Echo until EOF or an error; returns whether the peer reset.
fn echo(stream: &TcpStream, cfg: &Config, t: &mut Tally) -> bool {
    let room = cfg.read_buf.min(cfg.max_pending);
    let mut buf = Vec::with_capacity(room);
    loop {
        buf.clear();
        t.c.reads += 1;
        let n = match sys::read_into_spare(stream, &mut buf) {
            Ok(0) => return false, // all echoed already: closing sends FIN
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return t.failed(&e),
        };
        t.c.bytes_in += n as u64;
        t.c.writes += 1;
        let mut done = match sys::send_nowait(stream, &buf) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                t.c.writes_eagain += 1;
                0
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return t.failed(&e),
        };
        t.c.bytes_out += done as u64;
        if done < n {
            // The send buffer is full: stop reading until the rest is out.
            if done > 0 {
                t.c.partial_writes += 1;
            }
            t.c.read_pauses += 1;
            t.c.peak_pending_bytes = t.c.peak_pending_bytes.max((n - done) as u64);
            // Visible while the thread waits (possibly for ever) for the peer to read.
            t.publish();
            while done < n {
                t.c.writes += 1;
                match (&*stream).write(&buf[done..]) {
                    Ok(m) => {
                        done += m;
                        t.c.bytes_out += m as u64;
                        if done < n {
                            t.c.partial_writes += 1;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return t.failed(&e),
                }
            }
        }
        t.publish();
    }
}
