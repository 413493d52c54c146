//! One load-generator worker: a shard of the connections driven by its own
//! non-blocking event loop on this crate's epoll backend (level-triggered).
//! Never a thread per connection.
//!
//! Closed loop: each connection keeps `pipeline` messages in flight and sends
//! the next one when an echo completes. Open loop: each connection has a
//! schedule (`conns / rate` seconds apart, phases spread evenly over the
//! connections); a message is sent when due, and its latency is measured from
//! the *intended* send time, so a server that stalls is charged for every
//! message that should have been sent meanwhile (coordinated-omission
//! correction, as wrk2 does). The uncorrected latency (from the actual send)
//! is kept beside it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::message::{encode, Verdict, Verifier};
use crate::mux::{Epoll, Events, Interest, Multiplexer, Token, Trigger};

/// Open loop: messages a connection may have in flight before due messages
/// wait for a free slot (their latency still counts from the intended time).
pub const OPEN_LOOP_MAX_IN_FLIGHT: usize = 64;

/// Largest latency recorded, µs (one hour); larger values are clamped.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A latency histogram in µs.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// The phases of a run, published by the coordinator once every worker has connected.
#[derive(Debug, Clone, Copy)]
pub struct Timeline {
    /// Start of the measured window (end of warm-up).
    pub measure_start: Instant,
    /// End of the measured window: no new messages after it.
    pub measure_end: Instant,
    /// Replies still in flight at this instant count as missing.
    pub drain_end: Instant,
}

/// State shared between the coordinator and the workers.
pub struct Shared {
    /// Workers that finished connecting.
    pub connected: AtomicUsize,
    /// Connections established so far (active and idle).
    pub established: AtomicUsize,
    /// Active connections open now (after connecting; falls as errors close them).
    pub open_conns: AtomicUsize,
    /// Set once by the coordinator: the run's phases.
    pub timeline: OnceLock<Timeline>,
    /// Stop now (server died, deadline passed, interrupted).
    pub abort: AtomicBool,
    /// Echoes (chat: deliveries) completed so far, all phases (for progress and liveness).
    pub completed: AtomicU64,
    /// Chat: the clock that lines' send timestamps count from.
    pub epoch: Instant,
    /// Chat: lines sent so far by each sender, all phases.
    pub sent_total: Vec<AtomicU64>,
}

impl Shared {
    /// Shared state for a run with `senders` chat senders (0 for echo).
    pub fn new(senders: usize) -> Shared {
        Shared {
            connected: AtomicUsize::new(0),
            established: AtomicUsize::new(0),
            open_conns: AtomicUsize::new(0),
            timeline: OnceLock::new(),
            abort: AtomicBool::new(false),
            completed: AtomicU64::new(0),
            epoch: Instant::now(),
            sent_total: (0..senders).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// What one worker does.
#[derive(Debug, Clone)]
pub struct WorkerPlan {
    /// Server address.
    pub addr: SocketAddr,
    /// Global ids of this worker's active connections.
    pub conn_ids: Vec<u32>,
    /// Idle connections to open.
    pub idle: usize,
    /// Total active connections of the run (to spread open-loop phases).
    pub total_conns: usize,
    /// Pause between two connects of this worker.
    pub connect_interval: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Message size.
    pub msg_size: usize,
    /// Closed loop: messages in flight per connection.
    pub pipeline: usize,
    /// Open loop: messages per second per connection.
    pub rate_per_conn: Option<f64>,
    /// Replies slower than this are late.
    pub timeout: Duration,
    /// Chat: clients with ids below this send lines; 0 for echo.
    pub senders: usize,
}

/// Errors counted by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// Echoed bytes that differ from what was sent.
    pub corrupt: u64,
    /// Replies that arrived later than `--timeout`.
    pub late: u64,
    /// Replies that never arrived (connection closed, or still missing at the end).
    pub missing: u64,
    /// Connections the server closed or reset during the run.
    pub closed_by_server: u64,
    /// Connections that could not be established.
    pub connect_failed: u64,
    /// Chat: a line received twice by one client.
    pub duplicated: u64,
    /// Chat: a line received after a later one from the same sender.
    pub reordered: u64,
}

impl ErrorCounts {
    /// All errors.
    pub fn total(&self) -> u64 {
        self.corrupt
            + self.late
            + self.missing
            + self.closed_by_server
            + self.connect_failed
            + self.duplicated
            + self.reordered
    }
    fn add(&mut self, o: &ErrorCounts) {
        self.corrupt += o.corrupt;
        self.late += o.late;
        self.missing += o.missing;
        self.closed_by_server += o.closed_by_server;
        self.connect_failed += o.connect_failed;
        self.duplicated += o.duplicated;
        self.reordered += o.reordered;
    }
}

/// What a worker measured; merged across workers with [`WorkerResult::merge`].
#[derive(Debug, Clone)]
pub struct WorkerResult {
    /// Latency, µs; in open loop from the intended send time (corrected).
    pub latency: Histogram<u64>,
    /// Open loop: latency from the actual send time (uncorrected).
    pub latency_uncorrected: Histogram<u64>,
    /// Latency per second of the measured window.
    pub intervals: Vec<Histogram<u64>>,
    /// Echoes completed inside the measured window.
    pub requests: u64,
    /// Messages sent inside the measured window (by intended send time).
    pub sent: u64,
    /// Open loop: messages due inside the window that were never sent (the
    /// connection's in-flight cap was reached and stayed reached).
    pub unsent: u64,
    /// Errors by kind.
    pub errors: ErrorCounts,
    /// Connect failures by cause.
    pub connect_failures: BTreeMap<String, u64>,
    /// Active connections established.
    pub connected_active: usize,
    /// Idle connections established.
    pub connected_idle: usize,
    /// Chat: lines from other programs (hostile clients) seen and ignored.
    pub foreign_lines: u64,
}

impl Default for WorkerResult {
    fn default() -> Self {
        WorkerResult {
            latency: new_histogram(),
            latency_uncorrected: new_histogram(),
            intervals: Vec::new(),
            requests: 0,
            sent: 0,
            unsent: 0,
            errors: ErrorCounts::default(),
            connect_failures: BTreeMap::new(),
            connected_active: 0,
            connected_idle: 0,
            foreign_lines: 0,
        }
    }
}

impl WorkerResult {
    /// Combine two workers' results (histograms merged with `add`).
    pub fn merge(mut self, other: WorkerResult) -> WorkerResult {
        self.latency.add(&other.latency).expect("same bounds");
        self.latency_uncorrected
            .add(&other.latency_uncorrected)
            .expect("same bounds");
        if self.intervals.len() < other.intervals.len() {
            self.intervals
                .resize_with(other.intervals.len(), new_histogram);
        }
        for (a, b) in self.intervals.iter_mut().zip(&other.intervals) {
            a.add(b).expect("same bounds");
        }
        self.requests += other.requests;
        self.sent += other.sent;
        self.unsent += other.unsent;
        self.errors.add(&other.errors);
        for (k, v) in other.connect_failures {
            *self.connect_failures.entry(k).or_default() += v;
        }
        self.connected_active += other.connected_active;
        self.connected_idle += other.connected_idle;
        self.foreign_lines += other.foreign_lines;
        self
    }
}

struct Conn {
    stream: TcpStream,
    id: u32,
    next_seq: u64,
    verifier: Verifier,
    /// (intended, actual) send time of each message in flight, oldest first.
    in_flight: VecDeque<(Instant, Instant)>,
    out: SendBuf,
    open: bool,
}

/// Open loop: when each connection's next message is due. Connections are
/// spread evenly over one interval; a message whose connection has no free
/// slot waits, keeping its intended time, without holding up the others.
pub(super) struct Schedule {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    interval: Duration,
}

/// What the caller says about a connection whose message is due.
pub(super) enum Slot {
    /// Send now.
    Free,
    /// Full: the message waits.
    Busy,
    /// Closed: forget it.
    Gone,
}

impl Schedule {
    /// A schedule at `rate` messages per second per connection.
    pub fn new(rate: f64) -> Schedule {
        Schedule {
            heap: BinaryHeap::new(),
            interval: Duration::from_secs_f64(1.0 / rate),
        }
    }

    /// Add connection `i`, the `rank`-th of `of`, starting at `start`.
    pub fn add(&mut self, i: usize, start: Instant, rank: u32, of: usize) {
        let phase = self.interval.as_secs_f64() * rank as f64 / of.max(1) as f64;
        self.heap
            .push(Reverse((start + Duration::from_secs_f64(phase), i)));
    }

    /// Collect into `out` the `(connection, intended time)` of every message
    /// due by `now` whose connection is free; returns when to look again.
    pub fn take_due(
        &mut self,
        now: Instant,
        slot: impl Fn(usize) -> Slot,
        out: &mut Vec<(usize, Instant)>,
    ) -> Option<Instant> {
        out.clear();
        let mut blocked = Vec::new();
        let mut next = None;
        while let Some(&Reverse((due, i))) = self.heap.peek() {
            if due > now {
                next = Some(due);
                break;
            }
            self.heap.pop();
            match slot(i) {
                Slot::Gone => {}
                Slot::Busy => blocked.push(Reverse((due, i))),
                Slot::Free => {
                    out.push((i, due));
                    self.heap.push(Reverse((due + self.interval, i)));
                }
            }
        }
        if !blocked.is_empty() {
            // Look again soon: a reply may free a slot.
            let soon = now + Duration::from_millis(1);
            next = Some(next.map_or(soon, |d: Instant| d.min(soon)));
            self.heap.extend(blocked);
        }
        next
    }

    /// Messages due before `end` that were never sent, on connections for
    /// which `open` holds.
    pub fn unsent_before(&self, end: Instant, open: impl Fn(usize) -> bool) -> u64 {
        self.heap
            .iter()
            .filter(|Reverse((due, i))| *due < end && open(*i))
            .map(|Reverse((due, _))| {
                ((end - *due).as_secs_f64() / self.interval.as_secs_f64()).ceil() as u64
            })
            .sum()
    }
}

/// A client connection's outgoing bytes and its registered interest: write
/// what the socket takes, keep the rest, watch for writability only while
/// something is left. Shared by the echo and chat workers.
#[derive(Default)]
pub(super) struct SendBuf {
    buf: Vec<u8>,
    pos: usize,
    writable_armed: bool,
}

impl SendBuf {
    /// Bytes not yet written.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The buffer to append a message to.
    pub fn queue(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Write what the socket takes and (re)arm writable interest accordingly.
    /// `Err` means the connection is broken and must be closed.
    pub fn flush(
        &mut self,
        stream: &mut TcpStream,
        mux: &mut Epoll,
        token: Token,
    ) -> Result<(), ()> {
        while self.pos < self.buf.len() {
            match stream.write(&self.buf[self.pos..]) {
                Ok(n) => self.pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let want_writable = !self.buf.is_empty();
        if want_writable != self.writable_armed {
            self.writable_armed = want_writable;
            let interest = if want_writable {
                Interest::BOTH
            } else {
                Interest::READABLE
            };
            mux.reregister(stream.as_raw_fd(), token, interest)
                .map_err(drop)?;
        }
        Ok(())
    }
}

/// How long a worker may wait: 20 ms at most (to notice aborts), and not past
/// the window's end (while sending) or the next due open-loop message.
pub(super) fn wait_timeout(
    now: Instant,
    sending: bool,
    timeline: Timeline,
    next_due: Option<Instant>,
) -> Duration {
    let mut timeout = Duration::from_millis(20);
    if sending {
        timeout = timeout.min(timeline.measure_end.saturating_duration_since(now));
    }
    if let Some(due) = next_due {
        timeout = timeout.min(due.saturating_duration_since(now));
    }
    timeout
}

/// Name an I/O error's cause for the connect-failure table.
pub(super) fn cause(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => "ECONNREFUSED".into(),
        Some(libc::ETIMEDOUT) => "ETIMEDOUT".into(),
        Some(libc::EMFILE) => "EMFILE".into(),
        Some(libc::ENFILE) => "ENFILE".into(),
        Some(libc::EADDRNOTAVAIL) => "EADDRNOTAVAIL".into(),
        Some(libc::ECONNRESET) => "ECONNRESET".into(),
        Some(n) => format!("errno {n}"),
        None if e.kind() == io::ErrorKind::TimedOut => "timeout".into(),
        None => e.kind().to_string(),
    }
}

pub(super) fn us_between(from: Instant, to: Instant) -> u64 {
    (to.saturating_duration_since(from).as_micros() as u64).clamp(1, MAX_LATENCY_US)
}

/// The connections a worker opened: active ones (with their global ids) and idle ones.
pub(super) struct Connected {
    pub active: Vec<(u32, TcpStream)>,
    pub idle: Vec<TcpStream>,
}

/// Open the worker's connections, paced at the plan's interval; failures are
/// counted by cause in `res`. Then wait for the coordinator's timeline
/// (`None`: the run was aborted meanwhile).
pub(super) fn connect_phase(
    plan: &WorkerPlan,
    shared: &Shared,
    res: &mut WorkerResult,
) -> Option<(Connected, Timeline)> {
    let mut conns = Connected {
        active: Vec::with_capacity(plan.conn_ids.len()),
        idle: Vec::with_capacity(plan.idle),
    };
    let start = Instant::now();
    let mut k = 0u32;
    let mut connect = |res: &mut WorkerResult| -> Option<TcpStream> {
        let due = start + plan.connect_interval * k;
        k += 1;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let attempt = TcpStream::connect_timeout(&plan.addr, plan.connect_timeout).and_then(|s| {
            s.set_nodelay(true)?;
            s.set_nonblocking(true)?;
            Ok(s)
        });
        match attempt {
            Ok(s) => {
                shared.established.fetch_add(1, Ordering::Relaxed);
                Some(s)
            }
            Err(e) => {
                res.errors.connect_failed += 1;
                *res.connect_failures.entry(cause(&e)).or_default() += 1;
                None
            }
        }
    };
    for &id in &plan.conn_ids {
        if shared.abort.load(Ordering::Relaxed) {
            break;
        }
        if let Some(stream) = connect(res) {
            shared.open_conns.fetch_add(1, Ordering::SeqCst);
            conns.active.push((id, stream));
        }
    }
    for _ in 0..plan.idle {
        if shared.abort.load(Ordering::Relaxed) {
            break;
        }
        if let Some(stream) = connect(res) {
            conns.idle.push(stream);
        }
    }
    res.connected_active = conns.active.len();
    res.connected_idle = conns.idle.len();
    shared.connected.fetch_add(1, Ordering::SeqCst);
    loop {
        if let Some(t) = shared.timeline.get() {
            return Some((conns, *t));
        }
        if shared.abort.load(Ordering::Relaxed) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Run one echo worker to the end of the run; never panics on I/O errors (they are counted).
pub fn run(plan: &WorkerPlan, shared: &Shared) -> WorkerResult {
    let mut res = WorkerResult::default();
    let Some((connected, timeline)) = connect_phase(plan, shared, &mut res) else {
        return res;
    };
    let conns = connected
        .active
        .into_iter()
        .map(|(id, stream)| Conn {
            stream,
            id,
            next_seq: 0,
            verifier: Verifier::new(id, plan.msg_size),
            in_flight: VecDeque::new(),
            out: SendBuf::default(),
            open: true,
        })
        .collect::<Vec<_>>();
    let mux = match Epoll::new(Trigger::Level) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("loadgen: worker: epoll_create: {e}");
            shared.abort.store(true, Ordering::SeqCst);
            return res;
        }
    };
    let mut driver = Driver {
        plan,
        shared,
        timeline,
        mux,
        open_conns: conns.len(),
        conns,
        res,
        buf: vec![0u8; 64 * 1024],
    };
    driver.run();
    drop(connected.idle);
    driver.res
}

struct Driver<'a> {
    plan: &'a WorkerPlan,
    shared: &'a Shared,
    timeline: Timeline,
    mux: Epoll,
    conns: Vec<Conn>,
    res: WorkerResult,
    buf: Vec<u8>,
    open_conns: usize,
}

impl Driver<'_> {
    fn run(&mut self) {
        let now = Instant::now();
        let mut schedule = self.plan.rate_per_conn.map(Schedule::new);
        for i in 0..self.conns.len() {
            let fd = self.conns[i].stream.as_raw_fd();
            if let Err(e) = self.mux.register(fd, Token(i), Interest::READABLE) {
                self.res.errors.connect_failed += 1;
                *self
                    .res
                    .connect_failures
                    .entry(format!("register: {e}"))
                    .or_default() += 1;
                self.close(i, false);
                continue;
            }
            match &mut schedule {
                None => {
                    for _ in 0..self.plan.pipeline {
                        self.send(i, now, now);
                    }
                }
                Some(s) => s.add(i, now, self.conns[i].id, self.plan.total_conns),
            }
        }
        let mut events = Events::with_capacity(1024);
        let mut due = Vec::new();
        loop {
            if self.shared.abort.load(Ordering::Relaxed) {
                break;
            }
            let now = Instant::now();
            if self.shared.open_conns.load(Ordering::Relaxed) == 0 {
                break; // every connection of the run is gone: the coordinator ends it
            }
            let sending = now < self.timeline.measure_end;
            if !sending {
                let in_flight: usize = self.conns.iter().map(|c| c.in_flight.len()).sum();
                if in_flight == 0 || now >= self.timeline.drain_end || self.open_conns == 0 {
                    break;
                }
            }
            // Open loop: send everything that is due (and has a free slot).
            let mut next_due = None;
            if let (Some(s), true) = (&mut schedule, sending) {
                let conns = &self.conns;
                next_due = s.take_due(
                    now,
                    |i| match &conns[i] {
                        c if !c.open => Slot::Gone,
                        c if c.in_flight.len() >= OPEN_LOOP_MAX_IN_FLIGHT => Slot::Busy,
                        _ => Slot::Free,
                    },
                    &mut due,
                );
                for &(i, intended) in &due {
                    self.send(i, intended, now);
                }
            }
            if !self.wait_and_dispatch(&mut events, now, sending, next_due) {
                break;
            }
        }
        // Open loop: what was due in the window but never sent.
        if let Some(s) = &schedule {
            let conns = &self.conns;
            self.res.unsent += s.unsent_before(self.timeline.measure_end, |i| conns[i].open);
        }
        // Whatever is still in flight now never came back.
        for c in &self.conns {
            self.res.errors.missing += c.in_flight.len() as u64;
        }
        self.res.intervals.truncate(
            self.timeline
                .measure_end
                .saturating_duration_since(self.timeline.measure_start)
                .as_secs_f64()
                .ceil() as usize,
        );
    }

    /// Wait for events (at most 20 ms, and not past the window's end or the
    /// next due message) and handle them. `false`: stop (the wait failed).
    fn wait_and_dispatch(
        &mut self,
        events: &mut Events,
        now: Instant,
        sending: bool,
        next_due: Option<Instant>,
    ) -> bool {
        let timeout = wait_timeout(now, sending, self.timeline, next_due);
        if let Err(e) = self.mux.wait_precise(events, Some(timeout)) {
            eprintln!("loadgen: worker: epoll_pwait2: {e}");
            self.shared.abort.store(true, Ordering::SeqCst);
            return false;
        }
        for ev in events.iter() {
            let i = ev.token.0;
            if !self.conns[i].open {
                continue;
            }
            if ev.writable {
                self.flush(i);
            }
            if ev.readable || ev.read_closed || ev.error {
                self.read(i);
            }
        }
        true
    }

    /// Queue message `next_seq` on connection `i` and write what the socket takes.
    fn send(&mut self, i: usize, intended: Instant, now: Instant) {
        let c = &mut self.conns[i];
        if !c.open {
            return;
        }
        encode(c.out.queue(), c.id, c.next_seq, self.plan.msg_size);
        c.next_seq += 1;
        c.in_flight.push_back((intended, now));
        if intended >= self.timeline.measure_start && intended < self.timeline.measure_end {
            self.res.sent += 1;
        }
        if c.out.pending() == self.plan.msg_size {
            self.flush(i); // nothing was pending before: write now
        }
    }

    fn flush(&mut self, i: usize) {
        let c = &mut self.conns[i];
        if c.out.flush(&mut c.stream, &mut self.mux, Token(i)).is_err() {
            self.close(i, true);
        }
    }

    fn read(&mut self, i: usize) {
        loop {
            let c = &mut self.conns[i];
            match c.stream.read(&mut self.buf) {
                Ok(0) => {
                    self.close(i, true);
                    return;
                }
                Ok(n) => {
                    let now = Instant::now();
                    let completed = match c.verifier.feed(&self.buf[..n]) {
                        Verdict::Ok(k) => k,
                        Verdict::Corrupt { completed } => {
                            self.complete(i, completed, now);
                            self.res.errors.corrupt += 1;
                            // The corrupt message is accounted for; the rest in
                            // flight are lost with the connection (missing).
                            self.conns[i].in_flight.pop_front();
                            self.close(i, false);
                            return;
                        }
                    };
                    self.complete(i, completed, now);
                    if !self.conns[i].open || n < self.buf.len() {
                        return; // the receive queue is empty
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.close(i, true);
                    return;
                }
            }
        }
    }

    /// `k` echoes completed on connection `i` at `now`.
    fn complete(&mut self, i: usize, k: usize, now: Instant) {
        if k == 0 {
            return;
        }
        self.shared.completed.fetch_add(k as u64, Ordering::Relaxed);
        for _ in 0..k {
            if !self.conns[i].open {
                return; // closed by a failed send below; the rest were counted missing
            }
            let Some((intended, actual)) = self.conns[i].in_flight.pop_front() else {
                // An echo of something never sent: the server made bytes up.
                self.res.errors.corrupt += 1;
                continue;
            };
            if now.saturating_duration_since(actual) > self.plan.timeout {
                self.res.errors.late += 1;
            }
            // A message belongs to the window its (intended) send time falls in,
            // whenever its echo arrives: the slowest echoes of the window, which
            // complete during the drain, are counted too.
            let t = self.timeline;
            if intended >= t.measure_start && intended < t.measure_end {
                let lat = us_between(intended, now);
                self.res.requests += 1;
                self.res.latency.saturating_record(lat);
                if self.plan.rate_per_conn.is_some() {
                    self.res
                        .latency_uncorrected
                        .saturating_record(us_between(actual, now));
                }
                let sec = intended.duration_since(t.measure_start).as_secs() as usize;
                if self.res.intervals.len() <= sec {
                    self.res.intervals.resize_with(sec + 1, new_histogram);
                }
                self.res.intervals[sec].saturating_record(lat);
            }
            if self.plan.rate_per_conn.is_none() && now < t.measure_end {
                self.send(i, now, now);
            }
        }
    }

    fn close(&mut self, i: usize, by_server: bool) {
        let c = &mut self.conns[i];
        if !c.open {
            return;
        }
        c.open = false;
        self.open_conns = self.open_conns.saturating_sub(1);
        self.shared.open_conns.fetch_sub(1, Ordering::SeqCst);
        let _ = self.mux.deregister(c.stream.as_raw_fd());
        self.res.errors.missing += c.in_flight.len() as u64;
        c.in_flight.clear();
        if by_server {
            self.res.errors.closed_by_server += 1;
        }
    }
}
