//! Accepting: each connection gets a thread (and, in chat, joins the room)
//! before the next is accepted, and one that cannot get a thread is closed
//! at once rather than left waiting.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Condvar};

use super::connection::connection;
use super::shared::{lock, CondWake, Entry, Shared};
use crate::server::config::Protocol;
use crate::server::room::Member;
use crate::server::shards::Tally;

/// Smallest `--stack-size`: the thread's own frames, the read path's, and
/// the C library's thread-local storage.
pub const MIN_STACK: usize = 32 * 1024;
/// Connections accepted per turn before the control pipe is looked at again.
const ACCEPT_BATCH: usize = 256;

/// Accept until the backlog is empty; `Some(error)` if descriptors ran out.
pub(super) fn accept_all(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    acc: &mut Tally,
    warned_spawn: &mut bool,
) -> Option<io::Error> {
    for _ in 0..ACCEPT_BATCH {
        // std's accept: accept4(SOCK_CLOEXEC); the new socket is blocking.
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) => match e.raw_os_error() {
                Some(libc::EAGAIN) => return None,
                Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS)
                | Some(libc::ENOMEM) => return Some(e),
                Some(libc::EINTR) | Some(libc::ECONNABORTED) => continue,
                _ => {
                    if acc.c.errors == 0 {
                        eprintln!("muxserver: accept: {e} (counted as errors)");
                    }
                    acc.c.errors += 1;
                    continue;
                }
            },
        };
        acc.c.accepts += 1;
        if shared.shards.open() >= shared.cfg.max_conns as u64 {
            acc.c.refused += 1;
            continue; // dropping the stream closes it
        }
        // As in the event loop: echoes go out at once, not after a delayed ACK.
        if stream.set_nodelay(true).is_err() {
            acc.c.errors += 1;
        }
        let mut reg = lock(&shared.registry);
        let entry = reg.vacant_entry();
        let key = entry.key();
        let fd = stream.as_raw_fd();
        // A chat member joins the room now, as the event loop registers a
        // connection at accept: lines sent after it is counted reach it.
        let membership = (shared.cfg.protocol == Protocol::Chat).then(|| {
            let m = Member::new(CondWake(Condvar::new(), stream.as_raw_fd()));
            (shared.room.join(&m), m)
        });
        let joined = membership.as_ref().map(|(k, m)| (*k, Arc::clone(m)));
        let open = shared.shards.opened();
        let sh = Arc::clone(shared);
        // The socket goes to the thread once it exists: if it cannot start,
        // the member leaves the room before the socket closes (the room may
        // shut a member's socket down, and must never meet a closed one).
        let (hand_over, take) = std::sync::mpsc::sync_channel::<TcpStream>(1);
        let spawned = std::thread::Builder::new()
            .stack_size(shared.cfg.stack_size)
            .spawn(move || {
                if let Ok(stream) = take.recv() {
                    connection(&sh, key, stream, membership);
                }
            });
        match spawned {
            Ok(handle) => {
                let _ = hand_over.send(stream);
                entry.insert(Entry { fd, handle });
                acc.c.peak_conns = acc.c.peak_conns.max(open);
            }
            Err(e) => {
                if let Some((k, m)) = joined {
                    shared.room.leave(k, &m);
                }
                drop(stream);
                shared.shards.unopened();
                acc.c.refused += 1;
                if !std::mem::replace(warned_spawn, true) {
                    eprintln!(
                        "muxserver: warning: cannot start a thread for a connection: {e}; \
                         closing such connections at once (counted as refused)"
                    );
                }
            }
        }
    }
    // The batch is done: let the control pipe have a turn (stop, snapshots);
    // the listener is still readable and is served on the next turn.
    None
}
