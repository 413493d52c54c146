//! `threads`: the textbook's first server. One blocking thread per
//! connection reads, then writes; the kernel's scheduler is the multiplexer.
//!
//! - The calling thread accepts and obeys the control pipe: it polls the
//!   listener and the pipe (not the connections), so stopping, snapshots and
//!   the stats page work as in the event loops.
//! - Each connection thread has a small stack (`--stack-size`, 64 KiB by
//!   default) and a read buffer of `--read-buf` bytes (at most
//!   `--max-pending`) that is never zeroed, so an idle connection costs its
//!   stack, a few pages and the kernel's task: `results/models` measures it.
//! - Echo: a blocking `read`, then a `send(MSG_DONTWAIT)` of what was read.
//!   If the socket takes less, the rest goes out in blocking writes while the
//!   thread reads nothing (back-pressure, counted as `read_pauses`), so at
//!   most one read's worth is pending for a connection.
//! - Chat: a second thread per connection writes the member's outbox of the
//!   shared room (`room.rs`): a reader blocked in `read` cannot also wait for
//!   lines to send.
//! - Counting: each thread counts into its own [`Tally`] and publishes it
//!   after every request; a snapshot sums them ([`Shards`]).
//! - Stopping: every connection is shut down (its blocked `read` returns),
//!   then every thread is joined.

use std::fs::File;
use std::io::{self, IoSlice, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use slab::Slab;

use super::config::Config;
use super::config::Protocol;
use super::control::{self, PUBLISH_EVERY};
use super::counters::note_accept_pause;
use super::counters::Snapshot;
use super::room::{Batch, Fed, Member, Room, Wake};
use super::rules::ACCEPT_PAUSE;
use super::rules::IOV_MAX;
use super::rules::LINGER_DISCARD_MAX;
use super::shards::{Shards, Tally};
use super::stats_page::StatsPage;
use crate::backend::Backend;
use crate::mux::MuxStats;
use crate::sys;

/// Smallest `--stack-size`: the thread's own frames, the read path's, and
/// the C library's thread-local storage.
pub const MIN_STACK: usize = 32 * 1024;
/// Connections accepted per turn before the control pipe is looked at again.
const ACCEPT_BATCH: usize = 256;

/// A connection's registration: its descriptor, to shut it down at stop.
struct Entry {
    fd: RawFd,
    handle: JoinHandle<()>,
}

/// A chat member's wake-up: its writer's condition variable, and its socket.
struct CondWake(Condvar, RawFd);

impl Wake for CondWake {
    fn wake(&self) {
        self.0.notify_one();
    }

    /// Dropped as a slow consumer: its writer may be blocked writing to the
    /// stalled socket, its reader in `read`; shutting the socket down ends
    /// both. The socket is open: the member is still in the room, and its
    /// thread leaves the room before it closes the socket.
    fn dropped(&self) {
        // SAFETY: open, and this member's socket (as said above).
        let _ = sys::shutdown(unsafe { BorrowedFd::borrow_raw(self.1) }, Shutdown::Both);
    }
}

/// What every connection thread shares.
struct Shared {
    cfg: Config,
    shards: Arc<Shards>,
    /// Open connections. A thread closes its socket only while holding this
    /// lock, after removing itself, so the stop path never shuts down a
    /// descriptor number that has been reused.
    registry: Mutex<Slab<Entry>>,
    room: Room<CondWake>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serve on `listener` with a thread per connection until a stop command
/// arrives on `control`.
pub fn serve(
    listener: TcpListener,
    mut control: File,
    cfg: Config,
    on_ready: impl FnOnce(),
    mut on_snapshot: impl FnMut(&Snapshot),
) -> io::Result<Snapshot> {
    let page = cfg
        .stats_page
        .as_deref()
        .map(StatsPage::create)
        .transpose()?;
    let shards = Arc::new(Shards::default());
    let shared = Arc::new(Shared {
        room: Room::new(cfg.max_pending, shards.handle()),
        cfg,
        shards,
        registry: Mutex::new(Slab::new()),
    });
    let mut acc = shared.shards.handle();
    let totals = |acc: &Tally| {
        let mut t = shared.shards.total();
        t.peak_conns = acc.c.peak_conns;
        t
    };
    let mut paused_until: Option<Instant> = None;
    let mut warned_spawn = false;
    on_ready();
    loop {
        let now = Instant::now();
        if paused_until.is_some_and(|u| now >= u) {
            paused_until = None;
        }
        let listen_events = if paused_until.is_some() {
            0
        } else {
            libc::POLLIN
        };
        let mut fds = [
            libc::pollfd {
                fd: listener.as_raw_fd(),
                events: listen_events,
                revents: 0,
            },
            libc::pollfd {
                fd: control.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let timeout = [
            paused_until.map(|u| u.saturating_duration_since(now)),
            page.as_ref().map(|_| PUBLISH_EVERY),
        ]
        .into_iter()
        .flatten()
        .min();
        match sys::poll(&mut fds, timeout) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => other?,
        };
        if fds[1].revents != 0 {
            let cmds = control::drain(&mut control);
            for _ in 0..cmds.snapshots {
                on_snapshot(&Snapshot::now(
                    "snapshot",
                    Backend::Threads.name(),
                    totals(&acc),
                    MuxStats::default(),
                ));
            }
            if cmds.stop {
                break;
            }
        }
        if fds[0].revents != 0 && paused_until.is_none() {
            if let Some(e) = accept_all(&listener, &shared, &mut acc, &mut warned_spawn) {
                note_accept_pause(&mut acc.c, &e);
                paused_until = Some(Instant::now() + ACCEPT_PAUSE);
            }
        }
        acc.publish();
        if let Some(p) = &page {
            p.publish(&totals(&acc), &MuxStats::default());
        }
    }
    // Shut every connection down (blocked reads return 0, blocked writes
    // fail), then wait for every thread.
    let entries: Vec<Entry> = {
        let mut reg = lock(&shared.registry);
        let entries: Vec<Entry> = reg.drain().collect();
        for e in &entries {
            // SAFETY: under the registry lock an entry's socket is open (`Shared::registry`).
            let _ = sys::shutdown(unsafe { BorrowedFd::borrow_raw(e.fd) }, Shutdown::Both);
        }
        entries
    };
    for e in entries {
        if e.handle.join().is_err() {
            acc.c.errors += 1;
        }
    }
    acc.publish();
    Ok(Snapshot::now(
        "final",
        Backend::Threads.name(),
        totals(&acc),
        MuxStats::default(),
    ))
}

/// Accept until the backlog is empty; `Some(error)` if descriptors ran out.
fn accept_all(
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

/// A chat member's key in the room, and the member.
type Membership = (usize, Arc<Member<CondWake>>);

/// A connection thread, from accept to close.
fn connection(shared: &Shared, key: usize, stream: TcpStream, membership: Option<Membership>) {
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

/// A chat member: this thread reads and broadcasts, a second one writes.
fn chat(
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
