//! The echo server's event loop, generic over the multiplexer.
//!
//! (Over 400 lines: accepting, the drain rule, back-pressure, interest
//! changes and closing are one state machine per connection, and their
//! rules are written down here, next to each other. What echo and chat
//! decide is behind the protocol seam, `protocol.rs` and `chat.rs`.)
//!
//! One thread, one multiplexer, one shared read buffer. Per connection the
//! loop keeps a socket, an output buffer that exists only while output is
//! pending, and a few flags (see [`Conn`]), so an idle connection costs no heap
//! buffer.
//!
//! # Reading: the drain rule
//!
//! - **Level trigger, `--read-policy once`** (the textbook's form): one `read`
//!   per readiness event; the kernel reports the descriptor again on the next
//!   wait while data remains. With a 4-byte buffer that is one wait per 4 bytes.
//! - **Edge trigger** (and level with `--read-policy drain`): read until the
//!   receive queue is empty, because an edge is reported once per arrival and
//!   will not come again for bytes already queued. "Empty" is `EAGAIN` *or a
//!   read shorter than asked*: on a stream socket a short read means the queue
//!   held fewer bytes than we asked for, i.e. it is now empty, and any byte that
//!   arrives later raises a new edge. That saves the third syscall per message
//!   that a literal read-until-EAGAIN pays. The exception is a peer that has
//!   already sent FIN (`read_closed` on the event): no further edge will come
//!   for the EOF, so the loop reads on until `read` returns 0 or `EAGAIN`.
//! - A per-wake-up **budget** (`--read-budget` bytes) stops one fire-hose client
//!   from starving the others. Under edge trigger a connection cut off by the
//!   budget, or resumed after back-pressure, is put on a revisit list and read
//!   again after the current batch (with a zero wait timeout), since no new
//!   edge is due for data already queued.
//!
//! # Writing and back-pressure
//!
//! Bytes read are written straight back from the read buffer. Whatever the
//! socket does not take (partial write or `EAGAIN`) goes to the connection's
//! output buffer and writable interest is armed; it is disarmed as soon as the
//! buffer is flushed, or a level-triggered backend would report the socket
//! writable on every wait. A connection reads at most `max_pending − pending`
//! bytes, so its pending output never exceeds `--max-pending`; at the cap,
//! readable interest is dropped until the client reads.
//!
//! # Spurious events
//!
//! A token in an event batch may refer to a connection closed earlier in the
//! same batch, or to a new connection that reused its slot. Such an event leads
//! at worst to a read or write that returns `EAGAIN`, which is harmless.

use std::fs::File;
use std::io::{self, Read};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use slab::Slab;

use super::config::Config;
use super::config::ReadPolicy;
use super::conn::Conn;
use super::control;
use super::counters::{Counters, Snapshot};
use super::protocol::{Echo, Handler, Loop, Parts};
use super::rules::{classify, Step, ACCEPT_PAUSE};
use super::stats_page::StatsPage;
use super::trace::{self, Tracer};
use crate::mux::{Event, Events, Interest, Multiplexer, Token, Trigger};
use crate::sys;

/// Token of the listening socket.
const LISTENER: Token = Token(usize::MAX);
/// Token of the control pipe (signals and in-process commands).
const CONTROL: Token = Token(usize::MAX - 1);
/// Accepts per wake-up before giving other events a turn.
const ACCEPT_BATCH: usize = 256;
/// Watch the listener: one of several reactors' exclusively
/// (`--accept exclusive`), or plainly.
fn register_listener<M: Multiplexer>(
    mux: &mut M,
    listener: &TcpListener,
    exclusive: bool,
) -> io::Result<()> {
    if exclusive {
        mux.register_exclusive(listener.as_raw_fd(), LISTENER)
    } else {
        mux.register(listener.as_raw_fd(), LISTENER, Interest::READABLE)
    }
}

/// The echo server loop. Create it with [`EventLoop::new`], then [`EventLoop::run`].
pub struct EventLoop<M: Multiplexer, P: Handler = Echo> {
    mux: M,
    listener: TcpListener,
    control: File,
    pub(super) conns: Slab<Conn<P::Conn>>,
    pub(super) read_buf: Box<[u8]>,
    pub(super) cfg: Config,
    pub(super) counters: Counters,
    /// The protocol's state for the whole loop (chat: who has output to flush).
    pub(super) proto: P,
    /// Connections to read again without waiting for an edge.
    revisit: Vec<usize>,
    /// The listener hit the accept batch limit under edge trigger.
    revisit_listener: bool,
    /// Accepting is paused (descriptors ran out) until this instant or until a
    /// connection closes, whichever comes first.
    accept_paused_until: Option<Instant>,
    warned_refusal: bool,
    stop: bool,
    /// `--trace` output; one predictable branch per event when off.
    pub(super) trace: Tracer,
    /// The backend's `slots_scanned` at the last traced wait.
    traced_scanned: u64,
    /// `--stats-page`: where the counters are published each turn.
    page: Option<StatsPage>,
    /// `--reactors`: this reactor's slot, published each turn.
    slot: Option<std::sync::Arc<super::slot::Slot>>,
}

impl<M: Multiplexer, P: Handler> EventLoop<M, P> {
    /// Set up the loop: register the (non-blocking) listener and the control
    /// pipe's read end. Bytes written to the pipe are commands: `CONTROL_SNAPSHOT`
    /// or `CONTROL_STOP` (the signal numbers of SIGUSR1 / SIGTERM).
    pub fn new(mut mux: M, listener: TcpListener, control: File, cfg: Config) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        // A zero cap would leave every connection unread forever.
        let cfg = Config {
            max_pending: cfg.max_pending.max(1),
            ..cfg
        };
        register_listener(&mut mux, &listener, cfg.accept_exclusive)?;
        mux.register(control.as_raw_fd(), CONTROL, Interest::READABLE)?;
        let trace = Tracer::new(cfg.trace)?;
        let page = cfg
            .stats_page
            .as_deref()
            .map(StatsPage::create)
            .transpose()?;
        Ok(EventLoop {
            mux,
            listener,
            control,
            conns: Slab::new(),
            read_buf: vec![0; cfg.read_buf.max(1)].into_boxed_slice(),
            cfg,
            counters: Counters::default(),
            proto: P::default(),
            revisit: Vec::new(),
            revisit_listener: false,
            accept_paused_until: None,
            warned_refusal: false,
            stop: false,
            trace,
            traced_scanned: 0,
            page,
            slot: None,
        })
    }

    /// Publish the counters into `slot` every loop turn (one reactor of several).
    pub(super) fn publish_to(&mut self, slot: std::sync::Arc<super::slot::Slot>) {
        self.slot = Some(slot);
    }

    /// The loop's counters, with the gauges filled in.
    fn counters_now(&self) -> Counters {
        Counters {
            conns: self.conns.len() as u64,
            trace_lines_dropped: self.trace.dropped(),
            ..self.counters
        }
    }

    /// Current counters of the loop, the backend and the process.
    pub fn snapshot(&self, kind: &str) -> Snapshot {
        Snapshot::now(kind, self.mux.name(), self.counters_now(), self.mux.stats())
    }

    /// Serve until a stop command arrives. `on_snapshot` receives each snapshot
    /// requested through the control pipe; the final snapshot is returned.
    pub fn run(&mut self, mut on_snapshot: impl FnMut(&Snapshot)) -> io::Result<Snapshot> {
        let mut events = Events::with_capacity(self.cfg.events);
        while !self.stop {
            let timeout = self.wait_timeout();
            self.mux.wait(&mut events, timeout)?;
            if self.trace.waits() {
                self.trace_wait(&events);
            }
            let mut listener_ready = false;
            for ev in events.iter() {
                match ev.token {
                    // Accept after the batch: a connection accepted now could
                    // take the slab slot of one closed earlier in this batch,
                    // and that one's stale error event would then close it.
                    LISTENER => listener_ready = true,
                    CONTROL => self.control_ready(&mut on_snapshot),
                    Token(key) => self.conn_ready(key, ev),
                }
            }
            if listener_ready {
                self.accept_ready();
            }
            self.run_revisits();
            P::after_batch(self);
            self.maybe_resume_accepting();
            self.trace.end_turn();
            if let Some(page) = &self.page {
                page.publish(&self.counters_now(), &self.mux.stats());
            }
            if let Some(slot) = &self.slot {
                slot.publish(&self.counters_now(), &self.mux.stats());
            }
        }
        self.trace.finish();
        Ok(self.snapshot("final"))
    }

    /// `wait #N -> K events [fd 7 R, fd 9 R|RDHUP]`, plus the slots scanned
    /// for the backends that scan their whole set (select, poll).
    #[cold]
    #[inline(never)]
    fn trace_wait(&mut self, events: &Events) {
        use std::fmt::Write as _;
        let stats = self.mux.stats();
        let mut list = String::new();
        for ev in events.iter() {
            if !list.is_empty() {
                list.push_str(", ");
            }
            let flags = trace::event_flags(ev);
            let _ = match ev.token {
                LISTENER => write!(list, "fd {} {flags} (listener)", self.listener.as_raw_fd()),
                CONTROL => write!(list, "fd {} {flags} (control)", self.control.as_raw_fd()),
                Token(key) => match self.conns.get(key) {
                    Some(c) => write!(list, "fd {} {flags}", c.stream.as_raw_fd()),
                    None => write!(list, "slot {key} {flags} (closed)"),
                },
            };
        }
        let scanned = stats.slots_scanned - self.traced_scanned;
        self.traced_scanned = stats.slots_scanned;
        let scan = match self.mux.name() {
            "select" | "poll" => format!(" scanned {scanned}"),
            _ => String::new(),
        };
        let n = events.len();
        let plural = if n == 1 { "" } else { "s" };
        self.trace.line(format_args!(
            "wait #{} -> {n} event{plural} [{list}]{scan}",
            stats.wait_calls
        ));
    }

    fn wait_timeout(&self) -> Option<Duration> {
        if !self.revisit.is_empty() || self.revisit_listener {
            return Some(Duration::ZERO);
        }
        self.accept_paused_until
            .map(|until| until.saturating_duration_since(Instant::now()))
    }

    fn control_ready(&mut self, on_snapshot: &mut impl FnMut(&Snapshot)) {
        let cmds = control::drain(&mut self.control);
        for _ in 0..cmds.snapshots {
            on_snapshot(&self.snapshot("snapshot"));
        }
        self.stop |= cmds.stop;
    }

    // ---- accepting -------------------------------------------------------

    fn accept_ready(&mut self) {
        if self.accept_paused_until.is_some() {
            return; // stale event from before the pause
        }
        self.counters.accept_wakeups += 1;
        for _ in 0..ACCEPT_BATCH {
            match sys::accept_nonblocking(&self.listener) {
                Ok(stream) => {
                    self.counters.accepts += 1;
                    self.add_conn(stream);
                }
                Err(e) => match e.raw_os_error() {
                    Some(libc::EAGAIN) => return,
                    Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS)
                    | Some(libc::ENOMEM) => {
                        self.pause_accepting(&e);
                        return;
                    }
                    Some(libc::EINTR) | Some(libc::ECONNABORTED) => {}
                    // accept(2) also passes on network errors of the new
                    // connection (EPROTO, ENETDOWN, EPERM from a firewall, ...):
                    // that connection is gone, the next one may be fine.
                    _ => {
                        if self.counters.errors == 0 {
                            eprintln!("muxserver: accept: {e} (counted as errors)");
                        }
                        self.counters.errors += 1;
                    }
                },
            }
        }
        // Batch limit reached with connections possibly still queued: under edge
        // trigger no new edge is due for them, so come back after this batch.
        self.revisit_listener = self.mux.trigger() == Trigger::Edge;
    }

    /// Out of descriptors. A level-triggered listener would be reported ready
    /// on every wait while the backlog is non-empty, and every accept would fail
    /// again: a busy loop. So stop watching the listener until a connection
    /// closes (freeing a descriptor) or `ACCEPT_PAUSE` passes; the pending
    /// clients wait in the kernel's backlog meanwhile.
    fn pause_accepting(&mut self, e: &io::Error) {
        super::counters::note_accept_pause(&mut self.counters, e);
        // Paused even if deregistering fails: `accept_ready` ignores the listener
        // while paused, so a level-triggered report cannot turn into a spin.
        self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
        if let Err(e) = self.mux.deregister(self.listener.as_raw_fd()) {
            self.counters.errors += 1;
            eprintln!("muxserver: deregister listener: {e}");
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
        if self.accept_paused_until.take().is_some() {
            let fd = self.listener.as_raw_fd();
            let res =
                match register_listener(&mut self.mux, &self.listener, self.cfg.accept_exclusive) {
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        self.mux.reregister(fd, LISTENER, Interest::READABLE)
                    }
                    other => other,
                };
            if let Err(e) = res {
                self.counters.errors += 1;
                eprintln!("muxserver: re-register listener: {e}");
            }
        }
    }

    fn add_conn(&mut self, stream: std::net::TcpStream) {
        if self.conns.len() >= self.cfg.max_conns {
            self.counters.refused += 1;
            if self.trace.all() {
                let fd = stream.as_raw_fd();
                self.trace
                    .line(format_args!("accept fd {fd}: refused (--max-conns)"));
            }
            return; // dropping the stream closes it
        }
        // Echoes go out as soon as they are written. With Nagle's algorithm on,
        // a small read buffer (the 4-byte experiment) turns one message into
        // several small writes, and the second waits for the client's delayed
        // ACK (~40 ms): that would measure TCP, not the multiplexer.
        if stream.set_nodelay(true).is_err() {
            self.counters.errors += 1;
        }
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        // select refuses fd >= FD_SETSIZE here, before FD_SET is ever reached.
        if let Err(e) = self
            .mux
            .register(stream.as_raw_fd(), Token(key), Interest::READABLE)
        {
            self.counters.refused += 1;
            if self.trace.all() {
                let fd = stream.as_raw_fd();
                self.trace
                    .line(format_args!("accept fd {fd}: refused ({e})"));
            }
            if !self.warned_refusal {
                self.warned_refusal = true;
                eprintln!(
                    "muxserver: warning: {}: {e}; closing such connections at once \
                     (counted as refused)",
                    self.mux.name()
                );
            }
            return;
        }
        if self.trace.all() {
            let fd = stream.as_raw_fd();
            self.trace.line(format_args!("accept fd {fd}"));
        }
        entry.insert(Conn::new(stream));
        self.counters.peak_conns = self.counters.peak_conns.max(self.conns.len() as u64);
    }

    // ---- connections -----------------------------------------------------

    fn conn_ready(&mut self, key: usize, ev: &Event) {
        let Some(conn) = self.conns.get_mut(key) else {
            return; // closed earlier in this batch
        };
        if ev.error {
            // An error is pending (typically RST): nothing more can be delivered.
            self.close(key, true);
            return;
        }
        if ev.read_closed {
            conn.fin_seen = true;
        }
        let mut step = Step::Continue;
        if (ev.writable || ev.hangup) && conn.pending() > 0 {
            step = self.flush(key);
        }
        if matches!(step, Step::Continue) && (ev.readable || ev.read_closed) {
            step = self.read_ready(key);
        }
        if matches!(step, Step::Continue)
            && self.conns.get(key).is_some_and(|c| P::deferred(&c.proto))
        {
            return; // the protocol writes and settles it after the batch (chat)
        }
        self.settle(key, step);
    }

    fn run_revisits(&mut self) {
        if std::mem::take(&mut self.revisit_listener) {
            self.accept_ready();
        }
        if self.revisit.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.revisit);
        for key in batch {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if !std::mem::take(&mut conn.revisit) {
                continue; // slot reused by a new connection
            }
            let step = self.read_ready(key);
            self.settle(key, step);
        }
    }

    fn schedule_revisit(&mut self, key: usize) {
        let conn = &mut self.conns[key];
        if !conn.revisit {
            conn.revisit = true;
            self.revisit.push(key);
        }
    }

    /// Bytes the connection may read now (the protocol decides).
    fn read_room(&self, conn: &Conn<P::Conn>) -> usize {
        P::read_room(&self.cfg, conn, self.read_buf.len())
    }

    /// Read (once, or draining; see the module docs) and hand what was read to
    /// the protocol.
    fn read_ready(&mut self, key: usize) -> Step {
        let edge = self.mux.trigger() == Trigger::Edge;
        let drain = edge || self.cfg.read_policy == ReadPolicy::Drain;
        let mut budget = self.cfg.read_budget;
        loop {
            // The connection may have been closed by the protocol (a chat
            // sender dropped as a slow consumer of its own line).
            let Some(conn) = self.conns.get(key) else {
                return Step::Continue;
            };
            if conn.read_eof {
                return Step::Continue;
            }
            let room = self.read_room(conn);
            if room == 0 {
                // Back-pressure: stop reading; `settle` drops readable interest
                // and `flush` resumes (with a revisit under edge trigger).
                return Step::Continue;
            }
            let want = room.min(self.read_buf.len());
            self.counters.reads += 1;
            let conn = &mut self.conns[key];
            let res = conn.stream.read(&mut self.read_buf[..want]);
            if self.trace.all() {
                let fd = conn.stream.as_raw_fd();
                self.trace.io("read", fd, res.as_ref().copied(), None);
            }
            match res {
                Ok(0) => {
                    conn.read_eof = true;
                    P::eof(&mut self.counters, &mut conn.proto);
                    return Step::Continue;
                }
                Ok(n) => {
                    self.counters.bytes_in += n as u64;
                    let step = P::input(self, key, n);
                    if let Step::Close { reset } = step {
                        return Step::Close { reset };
                    }
                    if !drain {
                        return Step::Continue;
                    }
                    // Short read: the receive queue is empty now (see module docs),
                    // unless FIN is queued behind the data.
                    if n < want && !self.conns.get(key).is_some_and(|c| c.fin_seen) {
                        return Step::Continue;
                    }
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        if edge && self.conns.contains(key) {
                            self.schedule_revisit(key);
                        }
                        return Step::Continue;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.counters.reads_eagain += 1;
                    return Step::Continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return classify(&e),
            }
        }
    }

    /// Write pending output: `writev` until the queue is empty or the socket
    /// takes less than offered. A short write means the send buffer is full, so
    /// another call would only return `EAGAIN`; a complete one with output
    /// left (more than 64 chunks queued) must go on, because the socket is
    /// still writable and an edge-triggered backend will not say so again.
    pub(super) fn flush(&mut self, key: usize) -> Step {
        let conn = &mut self.conns[key];
        let was_capped = conn.pending() >= self.cfg.max_pending;
        while conn.pending() > 0 {
            self.counters.writes += 1;
            let res = conn.out.write_to(&mut conn.stream);
            if self.trace.all() {
                let fd = conn.stream.as_raw_fd();
                self.trace.io("writev", fd, res.as_ref().map(|r| r.0), None);
            }
            match res {
                Ok((m, took_all)) => {
                    self.counters.bytes_out += m as u64;
                    if !took_all {
                        self.counters.partial_writes += 1;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.counters.writes_eagain += 1;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return classify(&e),
            }
        }
        let conn = &self.conns[key];
        if P::READ_CAPPED && was_capped && conn.pending() < self.cfg.max_pending && !conn.read_eof {
            // Reading resumes. Data that queued up while paused raised its edge
            // back then, so under edge trigger nothing would report it again.
            if self.mux.trigger() == Trigger::Edge {
                self.schedule_revisit(key);
            }
        }
        Step::Continue
    }

    /// After I/O on a connection: close it if it is finished or failed, else make
    /// its registered interest match its state.
    pub(super) fn settle(&mut self, key: usize, step: Step) {
        if let Step::Close { reset } = step {
            self.close(key, reset);
            return;
        }
        let Some(conn) = self.conns.get(key) else {
            return;
        };
        let pending = conn.pending();
        if conn.read_eof && pending == 0 {
            // Everything owed has been sent; the client sees EOF.
            self.close(key, false);
            return;
        }
        if pending == 0 {
            let conn = &mut self.conns[key];
            if P::drained(&conn.stream, &mut conn.proto).is_err() {
                self.close(key, false);
                return;
            }
        }
        let conn = &self.conns[key];
        let reading = self.read_room(conn) > 0 && !conn.read_eof;
        let mut want = Interest::NONE;
        if reading {
            want = want.add(Interest::READABLE);
        }
        if pending > 0 {
            want = want.add(Interest::WRITABLE);
        }
        if want != conn.interest {
            if conn.interest.is_readable() && !reading && !conn.read_eof && !P::closing(&conn.proto)
            {
                self.counters.read_pauses += 1;
            }
            self.counters.interest_changes += 1;
            let fd = conn.stream.as_raw_fd();
            if self.trace.all() {
                self.trace.line(format_args!(
                    "interest fd {fd}: {}",
                    interest_diff(conn.interest, want)
                ));
            }
            match self.mux.reregister(fd, Token(key), want) {
                Ok(()) => self.conns[key].interest = want,
                Err(e) => {
                    self.counters.errors += 1;
                    eprintln!("muxserver: reregister: {e}");
                    self.close(key, false);
                }
            }
        }
    }

    pub(super) fn close(&mut self, key: usize, reset: bool) {
        let conn = self.conns.remove(key);
        if self.trace.all() {
            self.trace
                .close(conn.stream.as_raw_fd(), reset, conn.read_eof);
        }
        // Deregister before the descriptor is closed (select and poll would
        // otherwise keep watching a closed or reused number).
        if self.mux.deregister(conn.stream.as_raw_fd()).is_err() {
            self.counters.errors += 1;
        }
        self.counters.closes += 1;
        if reset {
            self.counters.resets += 1;
        }
        drop(conn);
        // A descriptor was freed: if accepting was paused for lack of them, resume.
        self.resume_accepting();
    }
}

/// `+W`, `-R +W`, ...: what an interest change adds and removes.
fn interest_diff(old: Interest, new: Interest) -> String {
    let mut parts = Vec::new();
    for (had, has, name) in [
        (old.is_readable(), new.is_readable(), "R"),
        (old.is_writable(), new.is_writable(), "W"),
    ] {
        match (had, has) {
            (false, true) => parts.push(format!("+{name}")),
            (true, false) => parts.push(format!("-{name}")),
            _ => {}
        }
    }
    parts.join(" ")
}

impl<M: Multiplexer, P: Handler> Loop<P> for EventLoop<M, P> {
    fn parts(&mut self) -> Parts<'_, P> {
        Parts {
            conns: &mut self.conns,
            read_buf: &mut self.read_buf,
            cfg: &self.cfg,
            counters: &mut self.counters,
            proto: &mut self.proto,
            trace: &mut self.trace,
        }
    }

    fn flush(&mut self, key: usize) -> Step {
        EventLoop::flush(self, key)
    }

    fn settle(&mut self, key: usize, step: Step) {
        EventLoop::settle(self, key, step);
    }

    fn close(&mut self, key: usize, reset: bool) {
        EventLoop::close(self, key, reset);
    }
}
