//! Chat with blocking threads: a reader blocked in `read` cannot also wait
//! for lines to send, so each member has a second thread that writes its
//! outbox of the shared room.

use std::io::{self, IoSlice, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, PoisonError};

use super::shared::{CondWake, Shared};
use crate::server::room::{Batch, Fed, Member};
use crate::server::rules::{IOV_MAX, LINGER_DISCARD_MAX};
use crate::server::shards::Tally;
use crate::sys;

/// A chat member: this thread reads and broadcasts, a second one writes.
pub(super) fn chat(
    stream: &TcpStream,
    shared: &Shared,
    key: usize,
    member: &Arc<Member<CondWake>>,
    t: &mut Tally,
) -> bool {
    std::thread::scope(|s| {
        let writer = std::thread::Builder::new()
            .stack_size(shared.cfg.stack_size)
            .spawn_scoped(s, || {
                let mut wt = shared.shards.handle();
                let reset = chat_writer(stream, member, &mut wt);
                wt.publish();
                reset
            });
        let writer = match writer {
            Ok(w) => w,
            Err(e) => {
                eprintln!("muxserver: cannot start a chat writer thread: {e}");
                t.c.errors += 1;
                shared.room.leave(key, member);
                return false;
            }
        };
        let reset = chat_reader(stream, shared, key, member, t);
        shared.room.leave(key, member);
        member.update(|o| o.finished = true);
        let wreset = writer.join().unwrap_or(false);
        reset || wreset
    })
}

fn chat_reader(
    stream: &TcpStream,
    shared: &Shared,
    key: usize,
    member: &Arc<Member<CondWake>>,
    t: &mut Tally,
) -> bool {
    let cfg = &shared.cfg;
    let mut buf = Vec::with_capacity(cfg.read_buf);
    let mut partial = Vec::new();
    let mut rejected = false;
    let mut discarded = 0;
    loop {
        buf.clear();
        t.c.reads += 1;
        let n = match sys::read_into_spare(stream, &mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return t.failed(&e),
        };
        t.c.bytes_in += n as u64;
        if rejected {
            // Read (and discard) until the client closes, so unread input
            // does not turn our close into a reset that destroys the error line.
            discarded += n;
            if discarded > LINGER_DISCARD_MAX {
                break;
            }
            continue;
        }
        match shared
            .room
            .feed(key, member, &mut partial, &buf, cfg.max_line, &mut t.c)
        {
            Fed::More => {}
            Fed::Dropped => {
                t.publish();
                return false;
            }
            Fed::Rejected => rejected = true,
        }
        t.publish();
    }
    if !partial.is_empty() {
        // An unterminated line is dropped with its sender.
        t.c.partial_lines_dropped += 1;
    }
    false
}

/// Write the member's outbox until the reader is done, the member is
/// dropped as a slow consumer, or the socket fails; returns whether it reset.
fn chat_writer(stream: &TcpStream, member: &Member<CondWake>, t: &mut Tally) -> bool {
    let mut batch = Batch::default();
    let mut write_shut = false;
    loop {
        {
            let mut out = member.outbox();
            loop {
                if out.dropped {
                    drop(out);
                    // Wakes the reader too: its read returns 0.
                    let _ = stream.shutdown(Shutdown::Both);
                    return false;
                }
                if !out.lines.is_empty() {
                    batch.take(&mut out);
                    break;
                }
                if out.reject && !write_shut {
                    // The error line is out: FIN, then the reader waits for the client's.
                    write_shut = true;
                    let _ = stream.shutdown(Shutdown::Write);
                    continue;
                }
                if out.finished {
                    return false;
                }
                out = member
                    .waker
                    .0
                    .wait(out)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
        while !batch.is_empty() {
            let mut slices = [IoSlice::new(&[]); IOV_MAX];
            let k = batch.slices(&mut slices);
            let offered: usize = slices[..k].iter().map(|s| s.len()).sum();
            t.c.writes += 1;
            match (&*stream).write_vectored(&slices[..k]) {
                Ok(w) => {
                    if w < offered {
                        t.c.partial_writes += 1;
                    }
                    t.c.bytes_out += w as u64;
                    batch.advance(w);
                    member.outbox().bytes -= w;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let reset = t.failed(&e);
                    let _ = stream.shutdown(Shutdown::Both);
                    return reset;
                }
            }
        }
        t.publish();
    }
}
