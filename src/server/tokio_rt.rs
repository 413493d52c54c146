//! `tokio`: what a Rust programmer writes. One task per connection on the
//! current-thread runtime (`--threads N`: the multi-thread runtime with N
//! workers); tokio's reactor (epoll, edge-triggered, behind mio) does the
//! multiplexing, out of the server's sight.
//!
//! - Echo: `read_buf` into a buffer that is never zeroed, then `try_write`;
//!   if the socket takes less, the rest goes out with `write_all().await`
//!   while the task reads nothing (back-pressure, counted as `read_pauses`).
//! - Chat: the same room as `threads` (`room.rs`); each task selects between
//!   reading its client and a `Notify` that lines are queued for it. One task
//!   both reads and writes, so while a write to its client waits, that client
//!   is not read (tokio's back-pressure, as the issue asks): a client that
//!   floods lines and never reads stops being read once its socket is full,
//!   where the event loop reads on and drops it when its queue overflows;
//!   others' lines still overflow its queue and drop it.
//! - What the server cannot count: tokio's system calls (a read that found
//!   nothing, the reactor's `epoll_wait`s, its wake-ups) happen inside the
//!   runtime. `reads` and `writes` here are completed reads and writes at
//!   tokio's API; the reports show syscalls, waits and events as unknown
//!   unless `loadgen --count-syscalls` counts them from the kernel.
//! - The calling thread keeps the control pipe (snapshots, stop, stats
//!   page); the runtime runs on a thread of its own.

use std::fs::File;
use std::io::{self, IoSlice};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::config::Config;
use super::config::Protocol;
use super::control::{self, PUBLISH_EVERY};
use super::counters::Snapshot;
use super::counters::{note_accept_pause, Counters};
use super::room::{Batch, Fed, Member, Room, Wake};
use super::rules::ACCEPT_PAUSE;
use super::rules::IOV_MAX;
use super::rules::LINGER_DISCARD_MAX;
use super::shards::{Shards, Tally};
use super::stats_page::StatsPage;
use crate::backend::Backend;
use crate::mux::MuxStats;

struct NotifyWake(Notify);

impl Wake for NotifyWake {
    fn wake(&self) {
        self.0.notify_one();
    }
}

struct Shared {
    cfg: Config,
    shards: Arc<Shards>,
    room: Room<NotifyWake>,
    peak_conns: AtomicU64,
    stop: Notify,
}

impl Shared {
    fn totals(&self) -> Counters {
        let mut t = self.shards.total();
        t.peak_conns = self.peak_conns.load(Ordering::Relaxed);
        t
    }
}

/// Serve on `listener` with tokio until a stop command arrives on `control`.
pub fn serve(
    listener: std::net::TcpListener,
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
    let rt = match cfg.runtime_threads {
        0 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    }
    .enable_all()
    .build()?;
    let shards = Arc::new(Shards::default());
    let shared = Arc::new(Shared {
        room: Room::new(cfg.max_pending, shards.handle()),
        cfg,
        shards,
        peak_conns: AtomicU64::new(0),
        stop: Notify::new(),
    });
    let listener = {
        let _guard = rt.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    let sh = Arc::clone(&shared);
    let runner = std::thread::Builder::new()
        .name("tokio-runtime".into())
        .spawn(move || {
            rt.block_on(accept_loop(listener, Arc::clone(&sh)));
            // Dropping the runtime drops every connection task: their sockets
            // close and their counts join the totals.
            rt.shutdown_timeout(Duration::from_secs(5));
        })?;
    on_ready();
    loop {
        let cmds = control::wait(&mut control, page.as_ref().map(|_| PUBLISH_EVERY))?;
        for _ in 0..cmds.snapshots {
            let counters = shared.totals();
            on_snapshot(&Snapshot::now(
                "snapshot",
                Backend::Tokio.name(),
                counters,
                MuxStats::default(),
            ));
        }
        if cmds.stop {
            break;
        }
        if let Some(p) = &page {
            p.publish(&shared.totals(), &MuxStats::default());
        }
    }
    shared.stop.notify_one();
    runner
        .join()
        .map_err(|_| io::Error::other("the tokio runtime thread panicked"))?;
    Ok(Snapshot::now(
        "final",
        Backend::Tokio.name(),
        shared.totals(),
        MuxStats::default(),
    ))
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let mut acc = shared.shards.handle();
    loop {
        let accepted = tokio::select! {
            _ = shared.stop.notified() => break,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, _)) => {
                acc.c.accepts += 1;
                if shared.shards.open() >= shared.cfg.max_conns as u64 {
                    acc.c.refused += 1;
                } else {
                    if stream.set_nodelay(true).is_err() {
                        acc.c.errors += 1;
                    }
                    // A chat member joins the room at accept, as in the event
                    // loop: lines sent after it is counted reach it.
                    let membership = (shared.cfg.protocol == Protocol::Chat).then(|| {
                        let m = Member::new(NotifyWake(Notify::new()));
                        (shared.room.join(&m), m)
                    });
                    let open = shared.shards.opened();
                    shared.peak_conns.fetch_max(open, Ordering::Relaxed);
                    let ct = ConnTally {
                        t: shared.shards.handle(),
                        reset: false,
                        shared: Arc::clone(&shared),
                        membership,
                    };
                    tokio::spawn(connection(stream, ct));
                }
            }
            Err(e) => match e.raw_os_error() {
                Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS)
                | Some(libc::ENOMEM) => {
                    note_accept_pause(&mut acc.c, &e);
                    acc.publish();
                    tokio::select! {
                        _ = shared.stop.notified() => break,
                        _ = tokio::time::sleep(ACCEPT_PAUSE) => {}
                    }
                }
                Some(libc::EINTR) | Some(libc::ECONNABORTED) => {}
                _ => {
                    if acc.c.errors == 0 {
                        eprintln!("muxserver: accept: {e} (counted as errors)");
                    }
                    acc.c.errors += 1;
                }
            },
        }
        acc.publish();
    }
    acc.publish();
}

/// Closes the books of a connection however its task ends — also when the
/// runtime drops it at stop, polled or not: counted closed, out of the room.
struct ConnTally {
    t: Tally,
    reset: bool,
    shared: Arc<Shared>,
    membership: Option<Membership>,
}

impl Drop for ConnTally {
    fn drop(&mut self) {
        if let Some((key, member)) = &self.membership {
            self.shared.room.leave(*key, member);
        }
        self.t.closed(self.reset);
        self.t.publish();
    }
}

/// A chat member's key in the room, and the member.
type Membership = (usize, Arc<Member<NotifyWake>>);

async fn connection(mut stream: TcpStream, mut ct: ConnTally) {
    let shared = Arc::clone(&ct.shared);
    ct.reset = match ct.membership.clone() {
        None => echo(stream, &shared.cfg, &mut ct.t).await,
        Some((key, member)) => chat_member(&mut stream, &shared, key, &member, &mut ct.t).await,
    };
}

async fn echo(mut stream: TcpStream, cfg: &Config, t: &mut Tally) -> bool {
    let room = cfg.read_buf.min(cfg.max_pending);
    let mut buf = Vec::with_capacity(room);
    loop {
        buf.clear();
        t.c.reads += 1;
        let n = match stream.read_buf(&mut buf).await {
            Ok(0) => return false,
            Ok(n) => n,
            Err(e) => return t.failed(&e),
        };
        t.c.bytes_in += n as u64;
        t.c.writes += 1;
        let done = match stream.try_write(&buf) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                t.c.writes_eagain += 1;
                0
            }
            Err(e) => return t.failed(&e),
        };
        if done < n {
            // The send buffer is full: read nothing until the rest is out.
            t.c.read_pauses += 1;
            if done > 0 {
                t.c.partial_writes += 1;
            }
            t.c.peak_pending_bytes = t.c.peak_pending_bytes.max((n - done) as u64);
            t.c.writes += 1;
            // Visible while the task waits (possibly for ever) for the peer to read.
            t.publish();
            if let Err(e) = stream.write_all(&buf[done..]).await {
                t.c.bytes_out += done as u64;
                return t.failed(&e);
            }
        }
        t.c.bytes_out += n as u64;
        t.publish();
    }
}

async fn chat_member(
    stream: &mut TcpStream,
    shared: &Shared,
    key: usize,
    member: &Arc<Member<NotifyWake>>,
    t: &mut Tally,
) -> bool {
    let cfg = &shared.cfg;
    let mut buf = Vec::with_capacity(cfg.read_buf);
    let mut partial = Vec::new();
    let mut batch = Batch::default();
    let mut rejected = false;
    let mut write_shut = false;
    let mut discarded = 0;
    let mut eof = false;
    loop {
        // Write whatever is queued first.
        {
            let mut out = member.outbox();
            if out.dropped {
                return false; // dropping the stream closes it
            }
            batch.take(&mut out);
        }
        while !batch.is_empty() {
            let mut slices = [IoSlice::new(&[]); IOV_MAX];
            let k = batch.slices(&mut slices);
            let offered: usize = slices[..k].iter().map(|s| s.len()).sum();
            // A write to a stalled client may wait for ever: being dropped
            // as a slow consumer meanwhile ends it (the write is cancel-safe:
            // nothing was written if it did not complete).
            let written = tokio::select! {
                r = stream.write_vectored(&slices[..k]) => r,
                _ = member.waker.0.notified() => {
                    if member.outbox().dropped {
                        return false;
                    }
                    continue;
                }
            };
            t.c.writes += 1;
            match written {
                Ok(w) => {
                    if w < offered {
                        t.c.partial_writes += 1;
                    }
                    t.c.bytes_out += w as u64;
                    batch.advance(w);
                    member.outbox().bytes -= w;
                }
                Err(e) => return t.failed(&e),
            }
        }
        if rejected && !write_shut {
            write_shut = true;
            let _ = stream.shutdown().await;
        }
        if eof {
            // The peer is done and everything owed is out.
            if !partial.is_empty() {
                t.c.partial_lines_dropped += 1;
            }
            return false;
        }
        t.publish();
        buf.clear();
        let n = tokio::select! {
            // Cancel-safe: if the other branch wins, nothing was read.
            r = stream.read_buf(&mut buf) => {
                t.c.reads += 1;
                match r {
                    Ok(n) => n,
                    Err(e) => return t.failed(&e),
                }
            }
            _ = member.waker.0.notified() => continue,
        };
        if n == 0 {
            eof = true;
            shared.room.leave(key, member);
            continue;
        }
        t.c.bytes_in += n as u64;
        if rejected {
            discarded += n;
            if discarded > LINGER_DISCARD_MAX {
                return false;
            }
            continue;
        }
        match shared
            .room
            .feed(key, member, &mut partial, &buf, cfg.max_line, &mut t.c)
        {
            Fed::More => {}
            Fed::Dropped => return false,
            Fed::Rejected => rejected = true,
        }
    }
}
