//! The completion-based server: io_uring as its experts write one.
//!
//! (Over 400 lines because it is one idea — one loop and the life cycle of a
//! connection under it — that a split would scatter.)
//!
//! Where the readiness loop asks "which sockets can I read?" and then reads,
//! this loop asks the kernel to do the I/O and learns when it is done:
//!
//! - **Accept**: one multishot accept on the listener; each completion is a
//!   new connection. Out of descriptors (EMFILE/ENFILE) the multishot ends and
//!   is re-armed only when a connection closes or 100 ms pass — no spin.
//! - **Receive** into a registered *provided-buffer ring*: the kernel picks a
//!   buffer when data arrives, so idle connections hold no buffer. Chat uses a
//!   multishot receive (one request, one completion per arrival, re-armed when
//!   a completion comes without `F_MORE`, e.g. after `ENOBUFS`). Echo uses a
//!   one-shot receive re-armed after each completion and sized to the room
//!   left under `--max-pending`: a multishot receive may post up to 32
//!   completions per wake-up before a cancel lands (the kernel's multishot
//!   retry limit), which would break the per-connection output cap that every
//!   backend honours. Re-arming costs an SQE, not a system call.
//! - **Send**: at most one `writev` in flight per connection, so output stays
//!   in order; a partial send resubmits the rest. Echo sends straight from the
//!   provided buffer the data arrived in (no copy) when nothing is queued, and
//!   that buffer returns to the ring only when its send has completed; data
//!   that arrives while a send is in flight is copied into the connection's
//!   queue and its buffer recycled at once, so one connection holds at most
//!   one ring buffer.
//! - **One `io_uring_enter` per loop turn** submits everything queued while
//!   handling the last batch of completions and waits for the next.
//!
//! `user_data` is (operation, connection slot). A connection's slot is freed
//! only when none of its requests is in the kernel, so a completion always
//! finds the connection it belongs to. Counters mean what they mean for the
//! readiness loop where they can: `reads` = receive completions, `writes` =
//! sends submitted; the backend's `wait_calls` are `io_uring_enter` calls,
//! `events` the completions reaped, plus `sqes` submitted.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use slab::Slab;

use super::config::Config;
use super::config::Protocol;
use super::control;
use super::counters::{Counters, Snapshot};
use super::rules::ACCEPT_PAUSE;
use super::rules::LINE_TOO_LONG;
use super::rules::{next_line, note_slow_consumer, TooLong};
use super::rules::{IOV_MAX, LINGER_DISCARD_MAX};
use super::stats_page::StatsPage;
use super::trace::Tracer;
use crate::mux::MuxStats;
use crate::sys;
use crate::sys::uring::{BufRing, Completion, Ring};

const OP_ACCEPT: u64 = 1;
const OP_CONTROL: u64 = 2;
const OP_RECV: u64 = 3;
const OP_SEND: u64 = 4;
const OP_CANCEL: u64 = 5;
const OP_SHIFT: u32 = 56;

fn user_data(op: u64, key: usize) -> u64 {
    (op << OP_SHIFT) | key as u64
}

/// Submission slots (completions: four times as many).
const RING_ENTRIES: u32 = 4096;
/// Provided buffers, shared by every connection; a connection holds at most
/// one beyond the receive being filled.
const BUFFERS_MAX: usize = 4096;
/// Memory the provided buffers may take in all. The ring hands buffers out in
/// turn, so under load every one of them is touched and resident.
const BUFFER_BYTES_MAX: usize = 8 << 20;
/// Fewest provided buffers, whatever their size.
const BUFFERS_MIN: usize = 16;
/// Largest provided buffer: with a larger `--read-buf`, one receive
/// completion still carries at most this much.
const BUFFER_SIZE_MAX: usize = 1 << 20;
const BUFFER_GROUP: u16 = 1;
/// How long stopping waits for the kernel to give back buffers still in use.
const STOP_DRAIN: Duration = Duration::from_secs(1);

/// A piece of pending output.
enum Chunk {
    /// Received data still in provided buffer `bid` (echo, sent without a copy).
    Provided { bid: u16, len: usize },
    /// Bytes only this connection sends.
    Owned(Vec<u8>),
    /// A chat line shared by every recipient.
    Shared(Rc<[u8]>),
}

struct UConn {
    stream: TcpStream,
    out: VecDeque<Chunk>,
    /// Bytes of the front chunk already sent.
    front_off: usize,
    /// Bytes pending, the in-flight send included.
    pending: usize,
    /// The in-flight `writev`'s vector: the kernel reads it until the send completes.
    iov: Vec<libc::iovec>,
    /// Chunks (from the front) covered by the in-flight send; they must not change.
    sending_chunks: usize,
    sending: bool,
    recv_armed: bool,
    recv_multishot: bool,
    recv_cancelling: bool,
    read_eof: bool,
    /// Closed: waiting for its requests to leave the kernel before the slot is freed.
    closed: bool,
    /// Chat: unterminated line.
    line: Vec<u8>,
    /// Chat: rejected (line too long): input discarded, closed after the error line.
    rejected: bool,
    write_shut: bool,
    discarded: usize,
    /// Waiting for a provided buffer (`ENOBUFS`).
    starved: bool,
    /// Not receiving because its output reached the cap (counted once per pause).
    paused: bool,
    /// Chat: has new output to send after this batch.
    dirty: bool,
}

impl UConn {
    fn new(stream: TcpStream) -> UConn {
        UConn {
            stream,
            out: VecDeque::new(),
            front_off: 0,
            pending: 0,
            iov: Vec::new(),
            sending_chunks: 0,
            sending: false,
            recv_armed: false,
            recv_multishot: false,
            recv_cancelling: false,
            read_eof: false,
            closed: false,
            line: Vec::new(),
            rejected: false,
            write_shut: false,
            discarded: 0,
            starved: false,
            paused: false,
            dirty: false,
        }
    }

    /// Requests of this connection in the kernel.
    fn in_kernel(&self) -> bool {
        self.recv_armed || self.sending
    }

    /// Queue a copy of `data`, coalescing into the back chunk unless that one
    /// is part of the send in flight (the kernel may be reading it).
    fn push_copy(&mut self, data: &[u8]) {
        self.pending += data.len();
        let back = self.out.len();
        if back > self.sending_chunks {
            if let Some(Chunk::Owned(v)) = self.out.back_mut() {
                if v.len() + data.len() <= 64 * 1024 {
                    v.extend_from_slice(data);
                    return;
                }
            }
        }
        self.out.push_back(Chunk::Owned(data.to_vec()));
    }
}

/// Serve with io_uring until a stop command arrives on `control`.
pub fn serve(
    listener: TcpListener,
    control: File,
    cfg: Config,
    on_ready: impl FnOnce(),
    on_snapshot: impl FnMut(&Snapshot),
) -> io::Result<Snapshot> {
    let mut server = UringServer::new(listener, control, cfg)?;
    on_ready();
    let res = server.run(on_snapshot);
    server.drain_on_stop();
    res
}

struct UringServer {
    // Field order is drop order: the ring must close before the buffers it
    // may write into are freed.
    ring: Ring,
    bufs: BufRing,
    listener: TcpListener,
    control: File,
    conns: Slab<UConn>,
    live: usize,
    cfg: Config,
    counters: Counters,
    completions: Vec<Completion>,
    to_flush: Vec<usize>,
    starved: Vec<usize>,
    scratch: Vec<u8>,
    accept_armed: bool,
    control_armed: bool,
    accept_paused_until: Option<Instant>,
    stop: bool,
    /// Draining after a stop: nothing is re-armed.
    stopping: bool,
    /// `--trace` output; one predictable branch per event when off.
    trace: Tracer,
    /// `--stats-page`: where the counters are published each turn.
    page: Option<StatsPage>,
}

impl UringServer {
    fn new(listener: TcpListener, control: File, cfg: Config) -> io::Result<UringServer> {
        let ring = Ring::new(RING_ENTRIES)?;
        let size = cfg.read_buf.clamp(1, BUFFER_SIZE_MAX);
        let count = (BUFFER_BYTES_MAX / size).clamp(BUFFERS_MIN, BUFFERS_MAX);
        // Round down to a power of two (the ring's index mask).
        let count = 1u16 << (usize::BITS - 1 - count.leading_zeros());
        let bufs = BufRing::register(&ring, BUFFER_GROUP, count, size)?;
        let cfg = Config {
            max_pending: cfg.max_pending.max(1),
            ..cfg
        };
        let trace = Tracer::new(cfg.trace)?;
        let page = cfg
            .stats_page
            .as_deref()
            .map(StatsPage::create)
            .transpose()?;
        let mut server = UringServer {
            ring,
            bufs,
            listener,
            control,
            conns: Slab::new(),
            live: 0,
            cfg,
            counters: Counters::default(),
            completions: Vec::with_capacity(1024),
            to_flush: Vec::new(),
            starved: Vec::new(),
            scratch: Vec::new(),
            accept_armed: false,
            control_armed: false,
            accept_paused_until: None,
            stop: false,
            stopping: false,
            trace,
            page,
        };
        server.arm_accept()?;
        server.arm_control()?;
        // Submit now, so a client that connects right after `on_ready` is accepted.
        server.ring.submit_and_wait(0, Some(Duration::ZERO))?;
        Ok(server)
    }

    /// The loop's counters, with the gauges filled in.
    fn counters_now(&self) -> Counters {
        Counters {
            conns: self.live as u64,
            trace_lines_dropped: self.trace.dropped(),
            ..self.counters
        }
    }

    /// The ring's counters in the multiplexers' terms.
    fn mux_stats(&self) -> MuxStats {
        MuxStats {
            wait_calls: self.ring.enters,
            events: self.ring.cqes,
            slots_scanned: self.ring.cqes,
            ctl_calls: 0,
            enters: self.ring.enters,
            sqes: self.ring.sqes,
        }
    }

    fn snapshot(&self, kind: &str) -> Snapshot {
        Snapshot::now(
            kind,
            crate::backend::Backend::Uring.name(),
            self.counters_now(),
            self.mux_stats(),
        )
    }

    fn run(&mut self, mut on_snapshot: impl FnMut(&Snapshot)) -> io::Result<Snapshot> {
        while !self.stop {
            let timeout = self
                .accept_paused_until
                .map(|until| until.saturating_duration_since(Instant::now()));
            self.ring.submit_and_wait(1, timeout)?;
            let mut batch = std::mem::take(&mut self.completions);
            batch.clear();
            self.ring.reap(&mut batch, usize::MAX);
            if self.trace.waits() {
                self.trace_enter(&batch);
            }
            for c in &batch {
                let key = (c.user_data & ((1 << OP_SHIFT) - 1)) as usize;
                match c.user_data >> OP_SHIFT {
                    OP_ACCEPT => self.accepted(c),
                    OP_CONTROL => self.control_ready(c, &mut on_snapshot),
                    OP_RECV => self.received(key, c),
                    OP_SEND => self.sent(key, c),
                    _ => {} // cancellations: their targets report themselves
                }
            }
            self.completions = batch;
            self.flush_dirty();
            self.feed_starved();
            self.maybe_resume_accepting();
            self.trace.end_turn();
            if let Some(page) = &self.page {
                page.publish(&self.counters_now(), &self.mux_stats());
            }
        }
        self.trace.finish();
        Ok(self.snapshot("final"))
    }

    /// `--trace=waits`: `enter #N -> K cqes [recv fd 7: 4 B, send fd 7: 4 B]`;
    /// `--trace=all`: `enter #N -> K cqes`, then one `cqe ...` line each.
    #[cold]
    #[inline(never)]
    fn trace_enter(&mut self, batch: &[Completion]) {
        let items: Vec<String> = batch.iter().map(|c| self.describe_cqe(c)).collect();
        let n = batch.len();
        let plural = if n == 1 { "" } else { "s" };
        let enter = self.ring.enters;
        if self.trace.all() {
            self.trace
                .line(format_args!("enter #{enter} -> {n} cqe{plural}"));
            for item in items {
                self.trace.line(format_args!("cqe {item}"));
            }
        } else {
            let list = items.join(", ");
            self.trace
                .line(format_args!("enter #{enter} -> {n} cqe{plural} [{list}]"));
        }
    }

    /// `recv fd 7: 4 B`, `send fd 7: EAGAIN`, `accept fd 9`, `control`, `cancel`.
    fn describe_cqe(&self, c: &Completion) -> String {
        let key = (c.user_data & ((1 << OP_SHIFT) - 1)) as usize;
        let fd = || {
            self.conns.get(key).map_or(format!("slot {key}"), |conn| {
                format!("fd {}", conn.stream.as_raw_fd())
            })
        };
        let outcome = |eof: bool| match c.result {
            0 if eof => "EOF".to_string(),
            n if n >= 0 => format!("{n} B"),
            e => errno_name(-e),
        };
        match c.user_data >> OP_SHIFT {
            OP_ACCEPT if c.result >= 0 => format!("accept fd {}", c.result),
            OP_ACCEPT => format!("accept {}", errno_name(-c.result)),
            OP_CONTROL => "control".to_string(),
            OP_RECV => format!("recv {}: {}", fd(), outcome(true)),
            OP_SEND => format!("send {}: {}", fd(), outcome(false)),
            _ => "cancel".to_string(),
        }
    }

    // ---- accepting and control -------------------------------------------

    fn arm_accept(&mut self) -> io::Result<()> {
        self.accept_armed = true;
        self.ring
            .accept_multi(self.listener.as_raw_fd(), user_data(OP_ACCEPT, 0))
    }

    fn arm_control(&mut self) -> io::Result<()> {
        self.control_armed = true;
        let mask = libc::POLLIN as u32;
        self.ring.poll_add(
            self.control.as_raw_fd(),
            mask,
            true,
            user_data(OP_CONTROL, 0),
        )
    }

    fn accepted(&mut self, c: &Completion) {
        if !c.more() {
            self.accept_armed = false;
        }
        if c.result >= 0 {
            self.counters.accepts += 1;
            // SAFETY: a successful accept completion's result is a new
            // descriptor that only this completion hands out.
            let stream = unsafe { sys::uring::accepted_stream(c.result) };
            self.add_conn(stream);
        } else {
            let e = io::Error::from_raw_os_error(-c.result);
            match -c.result {
                libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM => {
                    self.pause_accepting(&e);
                    return;
                }
                libc::EINTR | libc::ECONNABORTED | libc::ECANCELED => {}
                _ => {
                    if self.counters.errors == 0 {
                        eprintln!("muxserver: accept: {e} (counted as errors)");
                    }
                    self.counters.errors += 1;
                    if !c.more() {
                        // Re-arming at once could fail the same way forever
                        // (a broken listener): wait as after EMFILE.
                        self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                        return;
                    }
                }
            }
        }
        if !self.accept_armed && self.accept_paused_until.is_none() && !self.stop {
            self.rearm_accept();
        }
    }

    fn rearm_accept(&mut self) {
        if let Err(e) = self.arm_accept() {
            self.counters.errors += 1;
            eprintln!("muxserver: re-arming accept: {e}");
        }
    }

    /// Out of descriptors: the multishot accept has ended; it is re-armed when
    /// a connection closes or after `ACCEPT_PAUSE`, so a full backlog cannot
    /// turn into a loop of failing accepts.
    fn pause_accepting(&mut self, e: &io::Error) {
        super::counters::note_accept_pause(&mut self.counters, e);
        self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
        if self.accept_armed {
            // A multishot accept that failed with F_MORE set would still be armed.
            let _ = self
                .ring
                .cancel(user_data(OP_ACCEPT, 0), user_data(OP_CANCEL, 0));
        }
    }

    fn maybe_resume_accepting(&mut self) {
        if let Some(until) = self.accept_paused_until {
            if Instant::now() >= until {
                self.resume_accepting();
            }
        }
    }

    fn resume_accepting(&mut self) {
        if self.stopping {
            return;
        }
        if self.accept_paused_until.take().is_some() && !self.accept_armed {
            self.rearm_accept();
        }
    }

    fn control_ready(&mut self, c: &Completion, on_snapshot: &mut impl FnMut(&Snapshot)) {
        if !c.more() {
            self.control_armed = false;
        }
        let cmds = control::drain(&mut self.control);
        for _ in 0..cmds.snapshots {
            on_snapshot(&self.snapshot("snapshot"));
        }
        self.stop |= cmds.stop;
        if !self.control_armed && !self.stop {
            if let Err(e) = self.arm_control() {
                self.counters.errors += 1;
                eprintln!("muxserver: re-arming the control pipe: {e}");
            }
        }
    }

    fn add_conn(&mut self, stream: TcpStream) {
        if self.live >= self.cfg.max_conns {
            self.counters.refused += 1;
            return; // dropping the stream closes it
        }
        // As in the readiness loop: small echoes must not wait for Nagle.
        if stream.set_nodelay(true).is_err() {
            self.counters.errors += 1;
        }
        let key = self.conns.insert(UConn::new(stream));
        self.live += 1;
        self.counters.peak_conns = self.counters.peak_conns.max(self.live as u64);
        self.arm_recv(key);
    }

    // ---- receiving ---------------------------------------------------------

    /// Bytes the connection may receive now (see the readiness loop's `read_room`).
    fn read_room(&self, conn: &UConn) -> usize {
        match self.cfg.protocol {
            Protocol::Echo => self.cfg.max_pending.saturating_sub(conn.pending),
            Protocol::Chat if conn.rejected => {
                if conn.write_shut {
                    self.bufs.buf_size()
                } else {
                    0
                }
            }
            Protocol::Chat => self.bufs.buf_size(),
        }
    }

    fn arm_recv(&mut self, key: usize) {
        let conn = &self.conns[key];
        if conn.recv_armed || conn.closed || conn.read_eof || conn.starved {
            return;
        }
        let room = self.read_room(conn);
        if room == 0 {
            // Counted once per pause, and not for a rejected chat client
            // (it is being closed, not throttled), as in the readiness loop.
            if !conn.paused && !conn.rejected {
                self.counters.read_pauses += 1;
                self.conns[key].paused = true;
            }
            return;
        }
        if self.bufs.free() == 0 {
            self.starve(key);
            return;
        }
        let multishot = self.cfg.protocol == Protocol::Chat;
        let len = room.min(self.bufs.buf_size()) as u32;
        let fd = conn.stream.as_raw_fd();
        match self.ring.recv_provided(
            fd,
            self.bufs.group(),
            len,
            multishot,
            user_data(OP_RECV, key),
        ) {
            Ok(()) => {
                let conn = &mut self.conns[key];
                conn.recv_armed = true;
                conn.recv_multishot = multishot;
                conn.paused = false;
            }
            Err(e) => {
                self.counters.errors += 1;
                eprintln!("muxserver: arming a receive: {e}");
                self.close(key, false);
            }
        }
    }

    fn starve(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        if !conn.starved {
            conn.starved = true;
            self.starved.push(key);
        }
    }

    /// Re-arm receives that found the buffer ring empty, now that buffers are back.
    fn feed_starved(&mut self) {
        while self.bufs.free() > 0 {
            let Some(key) = self.starved.pop() else {
                return;
            };
            if let Some(conn) = self.conns.get_mut(key) {
                conn.starved = false;
                self.arm_recv(key);
            }
        }
    }

    fn received(&mut self, key: usize, c: &Completion) {
        let bid = c.buffer_id();
        if bid.is_some() {
            self.bufs.taken();
        }
        let conn = &mut self.conns[key];
        if !c.more() {
            conn.recv_armed = false;
            conn.recv_cancelling = false;
        }
        if conn.closed {
            if let Some(bid) = bid {
                self.bufs.recycle(bid);
            }
            self.maybe_release(key);
            return;
        }
        // `reads` counts receives that returned something (data, EOF, an
        // error), like read(2) calls; a receive that found no buffer or was
        // cancelled returned nothing.
        if !matches!(-c.result, libc::ENOBUFS | libc::ECANCELED | libc::EINTR) {
            self.counters.reads += 1;
        }
        match c.result {
            n if n > 0 => {
                let n = n as usize;
                self.counters.bytes_in += n as u64;
                let Some(bid) = bid else {
                    // Cannot happen with buffer selection; treat as a broken connection.
                    self.counters.errors += 1;
                    self.close(key, false);
                    return;
                };
                match self.cfg.protocol {
                    Protocol::Echo => self.echo(key, bid, n),
                    Protocol::Chat => {
                        self.chat_input(key, bid, n);
                        self.bufs.recycle(bid);
                    }
                }
            }
            0 => {
                if let Some(bid) = bid {
                    self.bufs.recycle(bid);
                }
                conn.read_eof = true;
                if !conn.line.is_empty() {
                    conn.line = Vec::new();
                    self.counters.partial_lines_dropped += 1;
                }
                if conn.recv_armed {
                    // A multishot receive ends itself after EOF; nothing to cancel.
                }
            }
            e => {
                if let Some(bid) = bid {
                    self.bufs.recycle(bid);
                }
                match -e {
                    libc::ENOBUFS => self.starve(key),
                    libc::ECANCELED | libc::EINTR => {}
                    libc::ECONNRESET | libc::EPIPE | libc::ETIMEDOUT => {
                        self.close(key, true);
                        return;
                    }
                    _ => {
                        self.counters.errors += 1;
                        self.close(key, false);
                        return;
                    }
                }
            }
        }
        self.settle(key);
    }

    /// Echo `n` bytes received into provided buffer `bid`: sent from the buffer
    /// itself when nothing is queued, else copied behind what is. A send to a
    /// client that stopped reading may wait in the kernel indefinitely and
    /// hold its buffer meanwhile, so the zero-copy path is taken only while
    /// more than half of the ring is free: stalled clients can pin at most
    /// half of it, and everyone else keeps receiving.
    fn echo(&mut self, key: usize, bid: u16, n: usize) {
        let conn = &mut self.conns[key];
        if conn.pending == 0 && self.bufs.free() > self.bufs.count() / 2 {
            conn.pending = n;
            conn.out.push_back(Chunk::Provided { bid, len: n });
        } else {
            conn.push_copy(self.bufs.data(bid, n));
            self.bufs.recycle(bid);
        }
        let pending = conn.pending as u64;
        self.counters.peak_pending_bytes = self.counters.peak_pending_bytes.max(pending);
        self.start_send(key);
    }

    // ---- chat --------------------------------------------------------------

    fn chat_input(&mut self, key: usize, bid: u16, n: usize) {
        if self.conns[key].rejected {
            let conn = &mut self.conns[key];
            conn.discarded += n;
            if conn.discarded > LINGER_DISCARD_MAX {
                self.close(key, false);
            }
            return;
        }
        // Copy out of the ring buffer (lines are shared allocations anyway).
        let mut data = std::mem::take(&mut self.scratch);
        data.clear();
        data.extend_from_slice(self.bufs.data(bid, n));
        self.split_lines(key, &data);
        self.scratch = data;
    }

    fn split_lines(&mut self, key: usize, data: &[u8]) {
        let max_line = self.cfg.max_line;
        let mut start = 0;
        // The connection may go mid-way: dropped as a slow consumer of its own line.
        while let Some(conn) = self.conns.get_mut(key).filter(|c| !c.closed) {
            match next_line(&mut conn.line, data, &mut start, max_line) {
                None => break,
                Some(Ok(line)) => self.broadcast(line),
                Some(Err(TooLong)) => {
                    self.reject(key);
                    break;
                }
            }
        }
    }

    fn broadcast(&mut self, line: Rc<[u8]>) {
        self.counters.lines_in += 1;
        self.counters.broadcast_allocs += 1;
        let cap = self.cfg.max_pending;
        let mut slow = Vec::new();
        for (k, c) in self.conns.iter_mut() {
            if c.closed || c.rejected {
                continue;
            }
            if c.pending + line.len() > cap {
                slow.push(k);
                continue;
            }
            c.pending += line.len();
            c.out.push_back(Chunk::Shared(line.clone()));
            self.counters.deliveries += 1;
            if !c.dirty {
                c.dirty = true;
                self.to_flush.push(k);
            }
            self.counters.peak_pending_bytes =
                self.counters.peak_pending_bytes.max(c.pending as u64);
        }
        for k in slow {
            note_slow_consumer(&mut self.counters, cap);
            self.close(k, false);
        }
    }

    fn reject(&mut self, key: usize) {
        self.counters.lines_too_long += 1;
        let conn = &mut self.conns[key];
        conn.line = Vec::new();
        conn.rejected = true;
        conn.push_copy(LINE_TOO_LONG);
        if conn.recv_armed && conn.recv_multishot && !conn.recv_cancelling {
            conn.recv_cancelling = true;
            let _ = self
                .ring
                .cancel(user_data(OP_RECV, key), user_data(OP_CANCEL, key));
        }
        if !conn.dirty {
            conn.dirty = true;
            self.to_flush.push(key);
        }
    }

    fn flush_dirty(&mut self) {
        if self.to_flush.is_empty() {
            return;
        }
        let mut batch = std::mem::take(&mut self.to_flush);
        for &key in &batch {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if !std::mem::take(&mut conn.dirty) || conn.closed {
                continue;
            }
            self.start_send(key);
        }
        batch.clear();
        if self.to_flush.is_empty() {
            self.to_flush = batch;
        }
    }

    // ---- sending -----------------------------------------------------------

    /// Submit one `writev` of the queued chunks if none is in flight.
    fn start_send(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        if conn.sending || conn.closed || conn.pending == 0 {
            return;
        }
        conn.iov.clear();
        for (i, chunk) in conn.out.iter().take(IOV_MAX).enumerate() {
            let bytes: &[u8] = match chunk {
                Chunk::Provided { bid, len } => self.bufs.data(*bid, *len),
                Chunk::Owned(v) => v,
                Chunk::Shared(r) => r,
            };
            let bytes = if i == 0 {
                &bytes[conn.front_off..]
            } else {
                bytes
            };
            conn.iov.push(libc::iovec {
                iov_base: bytes.as_ptr() as *mut libc::c_void,
                iov_len: bytes.len(),
            });
        }
        conn.sending_chunks = conn.iov.len();
        let fd = conn.stream.as_raw_fd();
        // SAFETY: the vector lives in `conn.iov` and the chunks it points to in
        // `conn.out` (heap data that does not move with the deque); neither is
        // changed or freed while `sending` is set — `push_copy` never appends
        // into an in-flight chunk, provided buffers are recycled only after
        // their send completed, and a closed connection keeps its slot until
        // the send's completion arrives (or, on stop, the buffers are leaked
        // if the kernel does not give them back).
        let res = unsafe { self.ring.writev(fd, &conn.iov, user_data(OP_SEND, key)) };
        self.counters.writes += 1;
        match res {
            Ok(()) => conn.sending = true,
            Err(e) => {
                conn.sending_chunks = 0;
                self.counters.errors += 1;
                eprintln!("muxserver: submitting a send: {e}");
                self.close(key, false);
            }
        }
    }

    fn sent(&mut self, key: usize, c: &Completion) {
        let conn = &mut self.conns[key];
        conn.sending = false;
        let offered: usize = conn.iov.iter().map(|v| v.iov_len).sum();
        conn.sending_chunks = 0;
        if conn.closed {
            // Bytes a send delivered before its connection was closed reached the client.
            if c.result > 0 {
                self.counters.bytes_out += c.result as u64;
            }
            self.maybe_release(key);
            return;
        }
        if c.result < 0 {
            match -c.result {
                libc::ECONNRESET | libc::EPIPE | libc::ETIMEDOUT => self.close(key, true),
                libc::ECANCELED => self.close(key, false),
                _ => {
                    self.counters.errors += 1;
                    self.close(key, false);
                }
            }
            return;
        }
        let n = c.result as usize;
        self.counters.bytes_out += n as u64;
        if n < offered {
            self.counters.partial_writes += 1;
        }
        self.advance(key, n);
        self.start_send(key);
        self.settle(key);
    }

    /// Drop `n` sent bytes from the front of the queue, recycling provided buffers.
    fn advance(&mut self, key: usize, mut n: usize) {
        let conn = &mut self.conns[key];
        conn.pending -= n;
        while n > 0 {
            let len = match &conn.out[0] {
                Chunk::Provided { len, .. } => *len,
                Chunk::Owned(v) => v.len(),
                Chunk::Shared(r) => r.len(),
            };
            let left = len - conn.front_off;
            if n >= left {
                n -= left;
                conn.front_off = 0;
                if let Some(Chunk::Provided { bid, .. }) = conn.out.pop_front() {
                    self.bufs.recycle(bid);
                }
            } else {
                conn.front_off += n;
                n = 0;
                if let Chunk::Provided { bid, len } = conn.out[0] {
                    // The socket is full: the rest may wait long. Move it out
                    // of the ring so the buffer is not pinned meanwhile.
                    let rest = self.bufs.data(bid, len)[conn.front_off..].to_vec();
                    conn.out[0] = Chunk::Owned(rest);
                    conn.front_off = 0;
                    self.bufs.recycle(bid);
                }
            }
        }
        if conn.out.is_empty() {
            conn.out = VecDeque::new(); // an idle connection holds no allocation
            conn.iov = Vec::new();
        }
    }

    /// After I/O: close a finished connection, shut down a rejected one whose
    /// error line is out, and keep a receive armed while there is room.
    fn settle(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key).filter(|c| !c.closed) else {
            return;
        };
        let idle_out = conn.pending == 0 && !conn.sending;
        if conn.read_eof {
            if idle_out {
                self.close(key, false); // everything owed is sent: the client sees EOF
            }
            return;
        }
        if conn.rejected && idle_out && !conn.write_shut {
            // The error line is out: FIN, then read (and discard) until the client closes.
            conn.write_shut = true;
            if conn.stream.shutdown(Shutdown::Write).is_err() {
                self.close(key, false);
                return;
            }
        }
        if !self.conns[key].recv_armed {
            self.arm_recv(key);
        }
    }

    // ---- closing -----------------------------------------------------------

    fn close(&mut self, key: usize, reset: bool) {
        let conn = &mut self.conns[key];
        if conn.closed {
            return;
        }
        conn.closed = true;
        if self.trace.all() {
            self.trace
                .close(conn.stream.as_raw_fd(), reset, conn.read_eof);
        }
        self.live -= 1;
        self.counters.closes += 1;
        if reset {
            self.counters.resets += 1;
        }
        if conn.recv_armed && !conn.recv_cancelling {
            conn.recv_cancelling = true;
            let _ = self
                .ring
                .cancel(user_data(OP_RECV, key), user_data(OP_CANCEL, key));
        }
        if conn.sending {
            let _ = self
                .ring
                .cancel(user_data(OP_SEND, key), user_data(OP_CANCEL, key));
        }
        self.maybe_release(key);
    }

    /// Free a closed connection's slot (closing its socket) once the kernel
    /// holds none of its requests.
    fn maybe_release(&mut self, key: usize) {
        if self.conns[key].in_kernel() {
            return;
        }
        let conn = self.conns.remove(key);
        for chunk in conn.out {
            if let Chunk::Provided { bid, .. } = chunk {
                self.bufs.recycle(bid);
            }
        }
        // A descriptor was freed: if accepting was paused for lack of them, resume.
        self.resume_accepting();
    }

    /// On stop, cancel every request and wait (briefly) for the kernel to
    /// return the buffers it may still write into or read from. If it does not,
    /// leak them rather than free memory the kernel might touch.
    fn drain_on_stop(mut self) {
        self.stopping = true;
        self.accept_paused_until = None;
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.close(key, false);
        }
        if self.accept_armed {
            let _ = self
                .ring
                .cancel(user_data(OP_ACCEPT, 0), user_data(OP_CANCEL, 0));
        }
        let deadline = Instant::now() + STOP_DRAIN;
        while !self.conns.is_empty() && Instant::now() < deadline {
            if self
                .ring
                .submit_and_wait(1, Some(Duration::from_millis(50)))
                .is_err()
            {
                break;
            }
            let mut batch = std::mem::take(&mut self.completions);
            batch.clear();
            self.ring.reap(&mut batch, usize::MAX);
            for c in &batch {
                let key = (c.user_data & ((1 << OP_SHIFT) - 1)) as usize;
                match c.user_data >> OP_SHIFT {
                    OP_RECV => self.received(key, c),
                    OP_SEND => self.sent(key, c),
                    OP_ACCEPT if c.result >= 0 => {
                        // SAFETY: as in `accepted`; dropped at once (closed).
                        drop(unsafe { sys::uring::accepted_stream(c.result) });
                    }
                    _ => {}
                }
            }
        }
        if !self.conns.is_empty() {
            // The kernel still holds requests that name our memory.
            std::mem::forget(self);
        }
    }
}

/// The name of an errno a completion may carry, for trace lines.
fn errno_name(errno: i32) -> String {
    match errno {
        libc::EAGAIN => "EAGAIN".to_string(),
        libc::ENOBUFS => "ENOBUFS".to_string(),
        libc::ECANCELED => "ECANCELED".to_string(),
        libc::ECONNRESET => "ECONNRESET".to_string(),
        libc::EPIPE => "EPIPE".to_string(),
        libc::EMFILE => "EMFILE".to_string(),
        libc::EINTR => "EINTR".to_string(),
        e => format!("errno {e}"),
    }
}
